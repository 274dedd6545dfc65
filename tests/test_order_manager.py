"""OrderManager against the local exchange's real state machine (signatures, matching, statuses), in process.

The venue below is the thinnest adapter possible: it signs with the production Signer and hands the
envelope to ``Exchange.action`` instead of an HTTP socket, so these tests run in milliseconds and
fail on any wire-format, diffing, lifecycle or limit mistake. Socket behaviour is covered in
test_hl_client_sim.py.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amm500.config import Config
from amm500.core import api
from amm500.exchange_sim.exchange import Exchange, SimConfig
from amm500.exchange_sim.market import RandomWalkFeed
from amm500.live.order_manager import OrderManager, OrderState
from amm500.venues.hyperliquid import messages as m
from amm500.venues.hyperliquid.execution import ActionVenue
from amm500.venues.hyperliquid.ratelimit import AddressBudget
from amm500.venues.hyperliquid.signing import OrderSpec, Signer, order_action

KEY = "0x" + "33" * 32
TAKER_KEY = "0x" + "44" * 32
ADDR = Account.from_key(KEY).address.lower()
TAKER = Account.from_key(TAKER_KEY).address.lower()


class SimVenue(ActionVenue):
    """OrderVenue over an in-process Exchange; pushes the exchange's outbox to the manager like the WS does."""

    def __init__(self, ex: Exchange, key: str) -> None:
        self.ex = ex
        self.signer = Signer(key, is_mainnet=False)
        self.asset = m.parse_meta(ex.info({"type": "meta"}))["BTC"]
        self.address_budget = AddressBudget()
        self.sent: list[dict[str, Any]] = []

    async def act(self, action: dict[str, Any], n_items: int = 1) -> list[m.OrderStatus]:
        self.sent.append(action)
        answer = self.ex.action(self.signer.envelope(action))
        self.address_budget.spend(n_items)
        return m.parse_action_response(answer, n_items)

    async def open_orders(self) -> list[m.OpenOrder]:
        return m.parse_open_orders(self.ex.info({"type": "openOrders", "user": self.signer.address}))

    async def position(self) -> m.Position:
        return m.parse_clearinghouse_state(
            self.ex.info({"type": "clearinghouseState", "user": self.signer.address}), "BTC"
        )

    async def refresh_rate_limit(self) -> m.RateLimitState:
        state = m.parse_user_rate_limit(self.ex.info({"type": "userRateLimit", "user": self.signer.address}))
        self.address_budget.sync(state.used, state.cap)
        return state


def deliver(ex: Exchange, om: OrderManager) -> None:
    """Route the exchange's pushed events for our account into the manager (what the WS client does)."""
    for channel, key, data in ex.outbox:
        if key != ADDR:
            continue
        if channel == "orderUpdates":
            om.on_order_updates(m.parse_order_updates(data))
        elif channel == "userFills":
            om.on_fills(m.parse_fills(data), False)
    ex.outbox.clear()


@pytest.fixture
def ex() -> Exchange:
    exchange = Exchange(SimConfig(accounts={ADDR: 1_000_000.0, TAKER: 1_000_000.0}))
    feed = RandomWalkFeed(mid=100_000.0, seed=1)
    exchange.apply_market(feed.advance(exchange.now_ms() * 1_000_000))
    exchange.outbox.clear()
    return exchange


def mid_of(ex: Exchange) -> float:
    book = m.parse_l2book(ex.info({"type": "l2Book", "coin": "BTC"})).book
    return float((book[api.B_BID_PX, 0] + book[api.B_ASK_PX, 0]) / 2)


def ladder(mid: float, n: int, size: float = 0.001, offset_bps: float = 5.0, step_bps: float = 2.0) -> tuple:
    quotes, ctrl = api.new_quotes(), api.new_ctrl()
    for i in range(n):
        d = (offset_bps + i * step_bps) * 1e-4 * mid
        quotes[api.Q_BIDS, i] = (mid - d, size)
        quotes[api.Q_ASKS, i] = (mid + d, size)
    ctrl[api.C_N_BIDS] = ctrl[api.C_N_ASKS] = n
    return quotes, ctrl


def exchange_open(ex: Exchange) -> list[tuple[int, float, float]]:
    return sorted(
        (o.side, o.limit_px, o.sz) for o in m.parse_open_orders(ex.info({"type": "openOrders", "user": ADDR}))
    )


async def test_place_keep_modify_cancel(ex: Exchange) -> None:
    venue = SimVenue(ex, KEY)
    om = OrderManager.from_config(venue, Config(), max_position=1.0, max_batch_size=8, tol_bps=0.0)
    mid = mid_of(ex)
    q, c = ladder(mid, 10)
    plan = await om.requote(q, c)
    assert len(plan.places) == 20 and not plan.cancels and not plan.modifies
    assert [a["type"] for a in venue.sent] == ["order"] * 3  # 20 orders in batches of <= 8
    assert max(len(a["orders"]) for a in venue.sent) == 8
    assert len(exchange_open(ex)) == 20
    assert all(o.state is OrderState.RESTING and o.oid is not None for o in om.live_orders())
    # bids rounded down, asks up, onto BTC's tick of 1
    assert {px for _, px, _ in exchange_open(ex)} == {px for _, px, _ in exchange_open(ex) if px == int(px)}

    venue.sent.clear()
    plan = await om.requote(q, c)
    assert plan.empty and plan.kept == 20 and venue.sent == []

    q2, c2 = ladder(mid, 10, offset_bps=9.0)  # every level moves: pure modifies
    plan = await om.requote(q2, c2)
    assert len(plan.modifies) > 0 and not plan.places
    assert {a["type"] for a in venue.sent} <= {"batchModify", "cancelByCloid"}
    want_prices = sorted(o.px for o in om.live_orders())
    assert sorted(px for _, px, _ in exchange_open(ex)) == want_prices and len(want_prices) == 20

    q3, c3 = ladder(mid, 3, offset_bps=9.0)
    plan = await om.requote(q3, c3)
    assert len(plan.cancels) == 14 and plan.kept == 6
    assert len(exchange_open(ex)) == 6
    cancelled = [o for o in om.orders.values() if o.state is OrderState.CANCELLED]
    assert len(cancelled) >= 14


async def test_cancel_all_and_kill(ex: Exchange) -> None:
    om = OrderManager.from_config(SimVenue(ex, KEY), Config(), max_position=1.0)
    q, c = ladder(mid_of(ex), 5)
    await om.requote(q, c)
    c[api.C_KILLED] = 1
    await om.requote(q, c)
    assert exchange_open(ex) == [] and om.live_orders() == []


async def test_reconcile_cancels_unknown_orders_and_reads_position(ex: Exchange) -> None:
    venue = SimVenue(ex, KEY)
    mid = mid_of(ex)
    # an order placed by "someone else" with our key (a previous run, a manual click)
    stray = OrderSpec(0, True, float(round(mid * 0.98)), 0.001, "Gtc", cloid="0x" + "ab" * 16)
    await venue.act(order_action([stray]), 1)
    om = OrderManager.from_config(venue, Config(), max_position=1.0)
    q, c = ladder(mid, 2)
    await om.requote(q, c)
    assert len(exchange_open(ex)) == 5
    assert await om.reconcile() == 1
    assert len(exchange_open(ex)) == 4 and all(px != stray.px for _, px, _ in exchange_open(ex))
    assert om.unknown_cancelled == 1 and len(om.live_orders()) == 4


async def test_fills_track_position_and_lifecycle() -> None:
    ex = Exchange(SimConfig(accounts={ADDR: 1_000_000.0, TAKER: 1_000_000.0}))  # no background book
    venue = SimVenue(ex, KEY)
    om = OrderManager.from_config(venue, Config(), max_position=1.0)
    q, c = ladder(100_000.0, 1, size=0.01, offset_bps=1.0)
    await om.requote(q, c)
    deliver(ex, om)
    bid = next(o for o in om.live_orders() if o.side == 1)
    taker = SimVenue(ex, TAKER_KEY)  # a real counterparty sells into our bid, half of it
    await taker.act(order_action([OrderSpec(0, False, bid.px, 0.005, "Ioc")]), 1)
    deliver(ex, om)
    assert bid.state is OrderState.PARTIAL and om.position == pytest.approx(0.005)
    await taker.act(order_action([OrderSpec(0, False, bid.px, 0.005, "Ioc")]), 1)
    deliver(ex, om)
    assert bid.state is OrderState.FILLED and om.position == pytest.approx(0.01)
    assert (await venue.position()).szi == pytest.approx(om.position)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 12), st.floats(0.001, 0.02), st.floats(0.0, 20.0), st.sampled_from([1, -1])),
        min_size=2,
        max_size=6,
    )
)
async def test_position_limit_is_never_exceeded(ex: Exchange, steps: list[tuple[int, float, float, int]]) -> None:
    """Random ladders and random aggressive counterparties: |position| + what may still fill <= limit."""
    limit = 0.03
    venue, taker = SimVenue(ex, KEY), SimVenue(ex, TAKER_KEY)
    om = OrderManager.from_config(venue, Config(), max_position=limit, tol_bps=0.0)
    await om.reconcile()
    for n, size, offset, side in steps:
        mid = mid_of(ex)
        q, c = ladder(mid, n, size=size, offset_bps=offset + 1.0)
        await om.requote(q, c)
        deliver(ex, om)
        for s in (1, -1):
            assert s * om.position + om.exposure(s) <= limit + 1e-9
        # sweep our side with a marketable IOC from the counterparty
        px = mid * (0.99 if side < 0 else 1.01)
        await taker.act(order_action([OrderSpec(0, side > 0, float(round(px)), 0.05, "Ioc")]), 1)
        deliver(ex, om)
        actual = (await venue.position()).szi
        assert actual == pytest.approx(om.position, abs=1e-9)
        assert abs(actual) <= limit + 1e-9


async def test_dead_man_switch_refused_then_armed(ex: Exchange, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    om = OrderManager.from_config(SimVenue(ex, KEY), Config(), max_position=1.0, dead_man_s=30)
    assert await om.arm_dead_man() is False
    assert await om.arm_dead_man() is False
    assert caplog.text.count("dead-man's switch unavailable") == 1
    assert "supervisor" in caplog.text

    ex.fund(TAKER, 0.0, volume=2_000_000.0)
    om2 = OrderManager.from_config(SimVenue(ex, TAKER_KEY), Config(), max_position=1.0, dead_man_s=30)
    assert await om2.arm_dead_man() is True
    assert ex.accounts[TAKER].schedule_cancel_ms == om2.dead_man_armed_until_ms


async def test_address_budget_spent_only_cancels(ex: Exchange) -> None:
    venue = SimVenue(ex, KEY)
    om = OrderManager.from_config(venue, Config(), max_position=1.0)
    q, c = ladder(mid_of(ex), 3)
    await om.requote(q, c)
    venue.address_budget.sync(used=10_000, cap=10_000)
    q2, c2 = ladder(mid_of(ex), 5, offset_bps=20)
    plan = om.plan(q2, c2)
    assert plan.places or plan.modifies
    await om.execute(plan)
    assert exchange_open(ex) == []  # nothing new placed; the moved orders were cancelled


def test_min_notional_and_lot_rounding(ex: Exchange) -> None:
    om = OrderManager.from_config(SimVenue(ex, KEY), Config(), max_position=1.0)
    q, c = ladder(100_000.0, 2, size=0.0000149)  # 0.00001 BTC = $1 < $10: dropped
    assert om.plan(q, c).empty
    q, c = ladder(100_000.0, 1, size=0.000123456)
    plan = om.plan(q, c)
    assert sorted(s.sz for s in plan.places) == [0.00012, 0.00012]
    assert np.all([s.px == int(s.px) for s in plan.places])


async def test_reduce_only_ioc_and_kill_switch_flatten() -> None:
    ex = Exchange(SimConfig(accounts={ADDR: 1_000_000.0, TAKER: 1_000_000.0}))  # only our and the taker's orders
    venue, taker = SimVenue(ex, KEY), SimVenue(ex, TAKER_KEY)
    om = OrderManager.from_config(venue, Config(), max_position=1.0)
    q, c = ladder(100_000.0, 1, size=0.02, offset_bps=1.0)
    await om.requote(q, c)
    bid = next(o for o in om.live_orders() if o.side == 1)
    await taker.act(order_action([OrderSpec(0, False, bid.px, 0.02, "Ioc")]), 1)  # we buy 0.02
    deliver(ex, om)
    assert om.position == pytest.approx(0.02)
    # liquidity on both sides from the counterparty
    liquidity = [OrderSpec(0, True, 99_000.0, 1.0, "Gtc"), OrderSpec(0, False, 101_000.0, 1.0, "Gtc")]
    await taker.act(order_action(liquidity), 2)
    book = m.parse_l2book(ex.info({"type": "l2Book", "coin": "BTC"})).book

    q, c = ladder(100_000.0, 0)
    c[api.C_TAKER_SIDE], c[api.C_TAKER_SZ] = -1, 0.005  # the strategy asks to sell 0.005 now
    plan = await om.requote(q, c, book)
    assert plan.taker is not None and plan.taker.reduce_only and plan.taker.tif == "Ioc" and not plan.taker.is_buy
    deliver(ex, om)
    assert om.position == pytest.approx(0.015)
    c[api.C_TAKER_SIDE] = 1  # a buy would grow the long: never sent
    assert om.plan(q, c, book).taker is None

    q, c = ladder(100_000.0, 2)
    await om.requote(q, c, book)
    c = api.new_ctrl()
    c[api.C_KILLED] = 1
    plan = await om.requote(q, c, book)
    deliver(ex, om)
    assert plan.taker is not None and plan.taker.sz == pytest.approx(0.015)
    assert om.position == pytest.approx(0.0) and (await venue.position()).szi == pytest.approx(0.0)
    assert exchange_open(ex) == []


def test_from_config(ex: Exchange) -> None:
    from amm500.config import load_config

    cfg = load_config(overrides={"risk": {"max_net_exposure": 2000.0}, "execution": {"max_batch_size": 7}})
    om = OrderManager.from_config(SimVenue(ex, KEY), cfg, mid=100_000.0)
    assert om.max_position == pytest.approx(0.02) and om.max_batch_size == 7 and om.tif == "Alo"


async def test_finished_orders_are_forgotten_oldest_first(ex: Exchange, monkeypatch: pytest.MonkeyPatch) -> None:
    """The order table stays bounded by the live orders plus the newest KEEP_FINISHED finished ones,
    and a finished order still inside that window is found by a late order update (by cloid or oid)."""
    import amm500.live.order_manager as om_mod

    monkeypatch.setattr(om_mod, "KEEP_FINISHED", 30)
    om = OrderManager.from_config(SimVenue(ex, KEY), Config(), max_position=1.0, tol_bps=0.0)
    mid = mid_of(ex)
    finished_in_order: list[str] = []
    for k in range(12):  # every requote moves all 10 orders: each one finishes the 10 before it
        q, c = ladder(mid, 5, offset_bps=5.0 + k)
        before = {o.cloid for o in om.live_orders()}
        await om.requote(q, c)
        deliver(ex, om)
        finished_in_order += sorted(before - {o.cloid for o in om.live_orders()}, key=lambda x: int(x, 16))
    live = om.live_orders()
    assert len(live) == 10
    finished = [o for o in om.orders.values() if not o.live]
    assert len(finished) == 30  # 110 finished, only the newest 30 kept
    assert {o.cloid for o in finished} == set(finished_in_order[-30:])
    assert len(om.by_oid) == len([o for o in om.orders.values() if o.oid is not None])
    newest = om.orders[finished_in_order[-1]]
    assert newest.oid is not None and om._find(newest.oid, None) is newest
    assert om._find(12345678, finished_in_order[0]) is None  # the oldest are gone
