"""``amm500 demo`` and the QuoteLoop it rehearses with, against the local exchange over real HTTP and WebSocket.

The loop tests start the exchange on 127.0.0.1 (port 0) with a random-walk market, fund one key, and
read what really rests on the exchange through ``/info``: the ladder must be the strategy's own
(rounded onto the venue grid), sized as the config says, and nothing may rest after the loop ends.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from amm500.cli.app import app
from amm500.core import api
from amm500.exchange_sim.market import RandomWalkFeed
from amm500.exchange_sim.server import run_exchange
from amm500.live.quote_loop import QuoteLoop
from amm500.optimize import recommend
from amm500.venues.hyperliquid import messages as m
from amm500.venues.hyperliquid.client import HyperliquidClient
from amm500.venues.hyperliquid.rounding import Rounding, round_ladder_side
from amm500.venues.hyperliquid.signing import OrderSpec, order_action
from loop_helpers import ADDR, EQUITY, LEVELS, config, exchange_position, open_orders, start_loop


async def quote_then_buy_at_the_ask(client: HyperliquidClient, loop: QuoteLoop, size: float = 0.003) -> None:
    """One round of timers (the ladder rests), then a loss-making taker buy of ``size`` from outside the
    loop, waited for until the loop's position has seen its fill over the WebSocket."""
    for timer in (api.TIMER_SPREAD, api.TIMER_REBALANCE, api.TIMER_QUOTE):
        await loop.on_timer(timer)
    assert len(await open_orders(client)) >= 2 * LEVELS - 2 and not loop.stats.killed
    ask = float(client.book[api.B_ASK_PX, 0])
    (st,) = await client.act(order_action([OrderSpec(0, True, ask, size, "Ioc")]))
    assert st.kind == "filled"
    for _ in range(50):  # the fill reaches the loop over the WebSocket
        if loop.om.position > 0:
            break
        await asyncio.sleep(0.02)
    assert loop.om.position == pytest.approx(size)


async def test_quotes_are_the_strategys_ladder_and_nothing_rests_after_the_run() -> None:
    cfg = config()
    feed = RandomWalkFeed(seed=3, vol_bps_per_s=0.2)  # calm: nothing fills between placing and reading
    async with (run_exchange({ADDR: EQUITY}, feed=feed, block_s=0.02, book_push_s=0.1) as sim,
                start_loop(sim, cfg) as (client, loop)):
        assert loop.stats.start_equity == pytest.approx(EQUITY)
        for timer in (api.TIMER_SPREAD, api.TIMER_REBALANCE, api.TIMER_QUOTE):
            await loop.on_timer(timer)
        resting = await open_orders(client)
        bids = round_ladder_side(loop.strategy.bids(), 5, Rounding.DOWN)
        asks = round_ladder_side(loop.strategy.asks(), 5, Rounding.UP)
        assert len(bids) == len(asks) == LEVELS
        wanted = {(1, px, sz) for px, sz in bids} | {(-1, px, sz) for px, sz in asks}
        got = {(o.side, o.limit_px, o.sz) for o in resting}
        assert got == wanted
        mid = sim.exchange.mid(0)
        assert mid is not None
        assert max(o.limit_px for o in resting if o.side > 0) < min(o.limit_px for o in resting if o.side < 0)
        for o in resting:
            assert abs(o.limit_px - mid) / mid * 1e4 <= cfg.risk.price_band_bps
            # equity x leverage x order_size_fraction of notional, on the 1e-5 BTC lot
            notional = EQUITY * cfg.trading.leverage * cfg.trading.order_size_fraction
            assert o.sz == pytest.approx(math.floor(notional / o.limit_px * 1e5) * 1e-5, abs=1.1e-5)

        stats = await loop.run(3.0)
        assert stats.stopped_by == "time" and not stats.killed
        assert stats.timers[api.TIMER_QUOTE] >= 5 and stats.quoting_timers == stats.timers[api.TIMER_QUOTE]
        assert stats.resting_at_end == 0 and await open_orders(client) == []
        pos = await exchange_position(client)
        assert loop.om.position == pytest.approx(pos.szi, abs=1e-9)
        assert abs(pos.szi) * mid <= cfg.risk.max_net_exposure


async def test_market_flow_fills_resting_quotes_and_each_fill_is_counted_once() -> None:
    """The background market trades through our quotes now and then (here often: the narrowest spread)."""
    cfg = config({"vol_adaptive_enabled": False})
    async with (run_exchange({ADDR: EQUITY}, feed=RandomWalkFeed(seed=5), block_s=0.02, book_push_s=0.1) as sim,
                start_loop(sim, cfg) as (client, loop)):
        stats = await loop.run(2.5)
        fills = m.parse_fills(await client.rest.user_fills(ADDR))
        assert stats.fills == len(fills) > 0 and stats.maker_fills == sum(not f.crossed for f in fills)
        assert stats.fees == pytest.approx(sum(f.fee for f in fills), abs=1e-6)
        pos = await exchange_position(client)
        assert stats.position == pytest.approx(pos.szi, abs=1e-9) and stats.resting_at_end == 0
        # the fill ledger agrees with the exchange's account value (both mark the position at the exchange's mid)
        mid = sim.exchange.mid(0)
        assert mid is not None
        assert loop.equity(mid) == pytest.approx(pos.account_value, abs=1e-4)
        assert stats.pnl == pytest.approx(pos.account_value - EQUITY, abs=1e-9)


async def test_kill_switch_cancels_flattens_and_stops_quoting() -> None:
    cfg = config(max_session_loss=0.01)  # one taker fee is a bigger loss than this
    feed = RandomWalkFeed(seed=4, vol_bps_per_s=0.2)  # a calm market: the fee, not the walk, decides the PnL
    async with (run_exchange({ADDR: EQUITY}, feed=feed, block_s=0.02, book_push_s=0.1) as sim,
                start_loop(sim, cfg) as (client, loop)):
        await quote_then_buy_at_the_ask(client, loop)

        stats = await loop.run(10.0)
        # it ends as soon as it is flat with nothing resting ("kill switch"), not at the time limit ("time")
        assert stats.killed and stats.kill_reason == 3 and stats.stopped_by == "kill switch"
        assert await open_orders(client) == []
        assert (await exchange_position(client)).szi == 0.0
        flatten = m.parse_fills(await client.rest.user_fills(ADDR))[0]  # newest first
        assert flatten.side == -1 and flatten.crossed and flatten.sz == pytest.approx(0.003)
        # latched: a further quote timer sends nothing and nothing rests
        plan = await loop.on_timer(api.TIMER_QUOTE)
        assert plan is not None and not plan.places and not plan.modifies and plan.taker is None
        assert await open_orders(client) == []


async def test_cancelled_run_leaves_nothing_resting() -> None:
    """Ctrl-C (the task cancelled mid-run) still cancels every order and reconciles before it propagates."""
    async with (run_exchange({ADDR: EQUITY}, feed=RandomWalkFeed(seed=6, vol_bps_per_s=0.2), block_s=0.02,
                             book_push_s=0.1) as sim,
                start_loop(sim, config()) as (client, loop)):
        task = asyncio.create_task(loop.run(30.0))
        for _ in range(100):
            await asyncio.sleep(0.02)
            if len(await open_orders(client)) >= 2 * LEVELS - 2:
                break
        assert len(await open_orders(client)) >= 2 * LEVELS - 2
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert loop.stats.stopped_by == "cancelled" and loop.stats.resting_at_end == 0
        assert await open_orders(client) == []


def test_demo_command_runs_every_stage(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--days", "1", "--rehearsal-seconds", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "4/4 rehearsal" in result.output and "orders resting after shutdown" in result.output
    assert "dashboard: http://127.0.0.1:" in result.output  # the page was served during the rehearsal
    assert "amm500 dashboard --journal" in result.output
    # one line says what the default (recommended) settings earn or lose per day, and where that comes from
    rec = recommend.load()
    assert rec is not None
    line = next(x for x in result.output.splitlines() if x.startswith("Recommended for tier 0"))
    assert "(this run's settings)" in line and "recommendation.json" in line and rec["regenerate"] in line
    for tier in (recommend.TIER0, recommend.BEST_TIER):
        assert f"${abs(rec['tiers'][tier]['out-of-sample']['net_usd_per_day']):,.2f}/day" in line
    metrics = json.loads((out / "backtest.json").read_text())
    assert metrics["days"] == 1 and metrics["events"] > 0
    assert (out / "report.html").read_text().lstrip().lower().startswith("<!doctype html")
    rehearsal = json.loads((out / "rehearsal.json").read_text())
    assert rehearsal["resting_at_end"] == 0 and rehearsal["placed"] > 0
    assert rehearsal["seconds"] >= 3.0 and rehearsal["stopped_by"] == "time"
    # the run's throwaway key is random: no 64-hex-digit secret appears anywhere in the output
    assert not any(len(w) >= 64 and all(c in "0123456789abcdefx" for c in w.lower()) for w in result.output.split())


def test_bad_rehearsal_seconds_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--rehearsal-seconds", "-1", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "--rehearsal-seconds" in result.output
    assert not (tmp_path / "x").exists()


async def test_position_timeout_between_quote_timers_sends_only_the_ioc() -> None:
    """A rebalance timer that asks for a reduce-only IOC sends that IOC and leaves the quotes alone, as the
    backtester does: only a quote timer's ladder is acted on (a rebalance timer writes none)."""
    cfg = config(max_position_seconds=1.0)
    feed = RandomWalkFeed(seed=4, vol_bps_per_s=0.2)
    async with (run_exchange({ADDR: EQUITY}, feed=feed, block_s=0.02, book_push_s=0.1) as sim,
                start_loop(sim, cfg) as (client, loop)):
        await quote_then_buy_at_the_ask(client, loop)
        resting = [o.cloid for o in loop.om.live_orders()]
        assert len(resting) >= 2 * LEVELS - 2
        loop.pos_open_ns -= 5 * 10**9  # the position is now older than max_position_seconds
        plan = await loop.on_timer(api.TIMER_REBALANCE)
        assert plan is not None and plan.taker is not None and not plan.taker.is_buy and plan.taker.reduce_only
        assert plan.taker.sz == pytest.approx(0.003)
        assert not plan.cancels and not plan.modifies and not plan.places
        assert not any(loop.om.orders[c].cancel_sent for c in resting)  # no quote was cancelled or replaced
