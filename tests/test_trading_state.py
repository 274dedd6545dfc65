"""Trading states: what each lets through (cancels always), and the live loop raising them for real."""

from __future__ import annotations

import asyncio
import time

import pytest

from amm500.core import api
from amm500.exchange_sim.market import RandomWalkFeed
from amm500.exchange_sim.server import run_exchange
from amm500.live.order_manager import Plan
from amm500.live.trading_state import TradingGate, TradingState, Transition
from amm500.venues.model import OrderSpec
from loop_helpers import ADDR, EQUITY, config, open_orders, start_loop


def _spec(is_buy: bool, sz: float, tif: str = "Alo", reduce_only: bool = False) -> OrderSpec:
    return OrderSpec(0, is_buy, 100_000.0, sz, tif, reduce_only, f"0x{abs(hash((is_buy, sz, tif))):032x}"[:34])


def _plan() -> Plan:
    return Plan(cancels=["c1"], modifies=[("m-bid", _spec(True, 0.002)), ("m-ask", _spec(False, 0.002))],
                places=[_spec(True, 0.001), _spec(False, 0.001), _spec(False, 0.004)],
                taker=_spec(False, 0.003, "Ioc", reduce_only=True))


def test_active_passes_everything_halted_only_cancels() -> None:
    gate = TradingGate()
    plan = _plan()
    assert gate.filter(plan, 0.003, (0.0, 0.0)) is plan
    gate.raise_reason("stale feed", TradingState.HALTED)
    out = gate.filter(plan, 0.003, (0.0, 0.0))
    assert out.cancels == ["c1", "m-bid", "m-ask"] and not (out.places or out.modifies or out.taker)


def test_reducing_lets_through_only_what_shrinks_the_position() -> None:
    gate = TradingGate()
    gate.raise_reason("kill switch", TradingState.REDUCING)
    # long 0.005, 0.001 already resting on the ask: 0.004 more may rest there; nothing on the bid
    out = gate.filter(_plan(), 0.005, (0.0, 0.001))
    assert out.taker is not None and out.taker.reduce_only
    assert [old for old, _ in out.modifies] == ["m-ask"]  # 0.002 of the 0.004 of room
    assert out.cancels == ["c1", "m-bid"]  # the bid's modify became a cancel of its old leg
    assert [(s.is_buy, s.sz) for s in out.places] == [(False, 0.001)]  # 0.001 fits; 0.004 no longer does
    # flat: nothing reduces, so nothing new goes out at all; a taker without reduce-only never passes
    flat = gate.filter(Plan(places=[_spec(False, 0.001)], taker=_spec(False, 0.001, "Ioc")), 0.0, (0.0, 0.0))
    assert flat.empty


def test_the_strictest_reason_wins_and_every_change_is_reported() -> None:
    seen: list[Transition] = []
    gate = TradingGate(on_transition=seen.append)
    gate.raise_reason("margin", TradingState.REDUCING)
    gate.raise_reason("stale feed", TradingState.HALTED)
    gate.raise_reason("stale feed", TradingState.HALTED)  # no change: not reported again
    gate.clear("stale feed")
    gate.clear("margin")
    assert [(t.old, t.new) for t in seen] == [
        (TradingState.ACTIVE, TradingState.REDUCING), (TradingState.REDUCING, TradingState.HALTED),
        (TradingState.HALTED, TradingState.REDUCING), (TradingState.REDUCING, TradingState.ACTIVE)]
    assert seen[1].reasons == ("margin", "stale feed") and seen[-1].reasons == ()


async def test_unreconciled_state_sends_nothing_new_though_the_strategy_quotes() -> None:
    feed = RandomWalkFeed(seed=3, vol_bps_per_s=0.2)
    async with (run_exchange({ADDR: EQUITY}, feed=feed, block_s=0.02, book_push_s=0.1) as sim,
                start_loop(sim, config()) as (client, loop)):
        loop.om.needs_reconcile = True  # e.g. a lost answer: the local picture cannot be trusted
        for timer in (api.TIMER_SPREAD, api.TIMER_REBALANCE, api.TIMER_QUOTE):
            plan = await loop.on_timer(timer)
        assert loop.strategy.ctrl[api.C_N_BIDS] > 0  # the strategy wanted a ladder ...
        assert plan.empty and await open_orders(client) == []  # ... and nothing was sent
        assert loop.om.gate.state is TradingState.HALTED and "unreconciled" in loop.om.gate.reasons
        await loop.om.reconcile()
        plan = await loop.on_timer(api.TIMER_QUOTE)
        assert plan.places and loop.om.gate.state is TradingState.ACTIVE
        assert len(await open_orders(client)) == len(plan.places)


@pytest.mark.slow
async def test_a_stalled_feed_pulls_every_quote_and_quoting_resumes_after_it() -> None:
    cfg = config(stale_data_ms=800.0)  # pushes every 0.1 s: a normal book is < 0.4 s old
    feed = RandomWalkFeed(seed=3, vol_bps_per_s=0.2)
    t_start = time.monotonic()  # at or before the exchange's own start: its stalls are [2.5, 4.0), [6.5, 8.0) s
    async with (run_exchange({ADDR: EQUITY}, feed=feed, block_s=0.02, book_push_s=0.1,
                             faults="stall_s=1.5,stall_every=2.5") as sim,
                start_loop(sim, cfg) as (client, loop)):
        resting_while_halted: list[int] = []

        async def watch() -> None:
            while True:
                await asyncio.sleep(0.1)
                if loop.om.gate.state is TradingState.HALTED and loop.om.gate.transitions[-1].ts_ns < (
                        loop.clock_ns() - 300_000_000):  # halted for a while: the cancels have been answered
                    resting_while_halted.append(len(await open_orders(client)))

        watcher = asyncio.create_task(watch())
        try:
            # to 5.5 s after the exchange started: through the first stall and 1.5 s of fresh data, not the next
            stats = await loop.run(5.5 - (time.monotonic() - t_start))
        finally:
            watcher.cancel()
        halts = [t for t in loop.om.gate.transitions if t.new is TradingState.HALTED]
        assert halts and all("stale feed" in t.reasons for t in halts)
        assert loop.om.gate.transitions[-1].new is TradingState.ACTIVE  # fresh data came back: quoting again
        assert resting_while_halted and max(resting_while_halted) == 0
        assert stats.resting_at_end == 0
