"""Both drivers act on the strategy's answer by the same rules: the backtester's order requests and the
live OrderManager's plan, for the same timer, ``ctrl``, ladder, resting orders and position, are the
same cancels, the same new orders and the same reduce-only IOC.

The backtest side runs its real dispatch (``loop._act``: the jitted rule book, then its request
ring); the live side runs ``OrderManager.plan`` on the local exchange's BTC meta. Only the
translation differs (a cancel + place pair is one modify live), so the comparison is of what would
rest and what would trade afterwards, as venue-neutral tuples.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amm500.backtest import loop
from amm500.backtest.runner import KernelState
from amm500.config import Config
from amm500.core import api
from amm500.core.instrument import Instrument
from amm500.exchange_sim.exchange import Exchange, SimConfig
from amm500.live.order_manager import OrderManager, OrderState
from amm500.sim.book import BI_BEST_ASK, BI_BEST_BID, LOCAL
from amm500.sim.layout import (
    A_L_POS,
    FLAG_IOC,
    FLAG_POST_ONLY,
    FLAG_REDUCE_ONLY,
    I_BASE,
    I_N_IOC,
    I_RQ_HEAD,
    I_RQ_TAIL,
    OD_FLAGS,
    OD_PX,
    OD_QTY,
    OD_SIDE,
    REQ_CANCEL,
    REQ_NEW,
    RING_MASK,
    RQ_SLOT,
    RQ_TYPE,
)
from amm500.venues.hyperliquid import messages as m
from amm500.venues.hyperliquid.execution import ActionVenue
from amm500.venues.model import OrderSpec

CONFIG = Config()
INSTRUMENT = Instrument.from_config(CONFIG)
LOT = INSTRUMENT.lot
MID = 100_000.0
BEST_BID, BEST_ASK = MID - 1.0, MID + 1.0

Commands = tuple[Counter[tuple[int, float, float]], Counter[tuple[int, float, float]], tuple[int, float, float] | None]


class MetaVenue(ActionVenue):
    """All ``OrderManager.plan`` needs of a venue: the asset's meta (here the local exchange's BTC) and its grid."""

    def __init__(self) -> None:
        self.asset = m.parse_meta(Exchange(SimConfig()).info({"type": "meta"}))["BTC"]


def _ladder_side(draw: Any, side: int) -> list[tuple[float, float]]:
    offsets = draw(st.lists(st.integers(0, 30), max_size=6, unique=True))
    best = BEST_BID if side > 0 else BEST_ASK
    # on the tick and the lot, each level worth more than the minimum order
    return [(best - side * k * INSTRUMENT.tick, draw(st.integers(15, 400)) * LOT) for k in sorted(offsets)]


@st.composite
def scenarios(draw: Any) -> dict[str, Any]:
    bids, asks = _ladder_side(draw, 1), _ladder_side(draw, -1)
    resting = []
    for side, wanted in ((1, bids), (-1, asks)):
        for px, sz in draw(st.lists(st.sampled_from(wanted), max_size=len(wanted), unique=True)) if wanted else []:
            resting.append((side, px, draw(st.sampled_from([sz, sz, round(sz * 1.5 / LOT) * LOT]))))  # kept or resized
        best = BEST_BID if side > 0 else BEST_ASK
        for k in draw(st.lists(st.integers(0, 40), max_size=3, unique=True)):  # anywhere on the book
            resting.append((side, best - side * k * INSTRUMENT.tick, draw(st.integers(15, 400)) * LOT))
    resting = draw(st.permutations(resting))
    return {
        "timer": draw(st.sampled_from([api.TIMER_QUOTE, api.TIMER_REBALANCE, api.TIMER_SPREAD])),
        "latched": draw(st.booleans()),
        "killed": draw(st.integers(0, 4)) == 0,
        "cancel_all": draw(st.integers(0, 3)) == 0,
        "taker_side": draw(st.sampled_from([0, 0, 1, -1])),
        "taker_sz": draw(st.integers(1, 600)) * LOT,
        "position": draw(st.integers(-500, 500)) * LOT,
        "ioc_in_flight": draw(st.integers(0, 4)) == 0,
        "bids": bids,
        "asks": asks,
        "resting": resting,
    }


def _answer(sc: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    quotes, ctrl = api.new_quotes(), api.new_ctrl()
    for q, levels in ((api.Q_BIDS, sc["bids"]), (api.Q_ASKS, sc["asks"])):
        for k, (px, sz) in enumerate(levels):
            quotes[q, k] = (px, sz)
    ctrl[api.C_N_BIDS], ctrl[api.C_N_ASKS] = len(sc["bids"]), len(sc["asks"])
    ctrl[api.C_KILLED] = 1.0 if sc["killed"] else 0.0
    ctrl[api.C_CANCEL_ALL] = 1.0 if sc["cancel_all"] else 0.0
    ctrl[api.C_TAKER_SIDE], ctrl[api.C_TAKER_SZ] = sc["taker_side"], sc["taker_sz"]
    return quotes, ctrl


def _key(side: float, px: float, sz: float) -> tuple[int, float, float]:
    return int(side), round(px, 6), round(sz, 8)


def backtest_commands(sc: dict[str, Any]) -> Commands:
    ks = KernelState(CONFIG, base=int(MID / INSTRUMENT.tick) - 1000, first_ts=0, vol_forecast=None)
    ist, cfg = ks.ist, ks.cfg
    for side, px, sz in sc["resting"]:
        loop._send_new(0, side, px, sz, FLAG_POST_ONLY, ks.od, ks.orders, ks.st, cfg, ist, ks.rq_ts, ks.rq)
    if sc["ioc_in_flight"]:
        ist[I_N_IOC] = 1
    ks.acct[A_L_POS] = sc["position"]
    ks.bi[LOCAL, BI_BEST_BID] = round(BEST_BID / INSTRUMENT.tick) - ist[I_BASE]
    ks.bi[LOCAL, BI_BEST_ASK] = round(BEST_ASK / INSTRUMENT.tick) - ist[I_BASE]
    ist[I_RQ_HEAD] = ist[I_RQ_TAIL]  # only this timer's requests are read back
    quotes, ctrl = _answer(sc)
    loop._act(1, sc["timer"], sc["latched"], quotes, ctrl, ks.od, ks.orders, ks.bi, ks.acct, ks.st, cfg, ist,
              ks.rq_ts, ks.rq, ks.actions, ks.work)
    cancels: Counter[tuple[int, float, float]] = Counter()
    places: Counter[tuple[int, float, float]] = Counter()
    take = None
    for k in range(ist[I_RQ_HEAD], ist[I_RQ_TAIL]):
        req = ks.rq[k & RING_MASK]
        row = ks.od[int(req[RQ_SLOT])]
        key = _key(row[OD_SIDE], row[OD_PX], row[OD_QTY])
        if req[RQ_TYPE] == REQ_CANCEL:
            cancels[key] += 1
        else:
            assert req[RQ_TYPE] == REQ_NEW
            if int(row[OD_FLAGS]) & FLAG_IOC:
                assert int(row[OD_FLAGS]) & FLAG_REDUCE_ONLY and take is None
                take = key
            else:
                places[key] += 1
    return cancels, places, take


def live_commands(sc: dict[str, Any]) -> Commands:
    om = OrderManager.from_config(MetaVenue(), CONFIG, max_position=1e9)  # no position-limit trimming here
    tif = om.tif
    by_cloid: dict[str, tuple[int, float, float]] = {}
    for side, px, sz in sc["resting"]:
        t = om._track(OrderSpec(0, side > 0, px, sz, tif, False, om.new_cloid()))
        t.state = OrderState.RESTING
        by_cloid[t.cloid] = _key(side, px, sz)
    if sc["ioc_in_flight"]:
        om._track(OrderSpec(0, sc["position"] < 0, BEST_ASK, LOT, "Ioc", True, om.new_cloid()))
    om.position = sc["position"]
    book = api.new_book()
    book[api.B_BID_PX, 0], book[api.B_BID_SZ, 0] = BEST_BID, 1.0
    book[api.B_ASK_PX, 0], book[api.B_ASK_SZ, 0] = BEST_ASK, 1.0
    quotes, ctrl = _answer(sc)
    plan = om.plan(quotes, ctrl, book, timer=sc["timer"], kill_latched=sc["latched"])
    assert plan.trimmed == 0.0
    cancels = Counter(by_cloid[c] for c in plan.cancels) + Counter(by_cloid[old] for old, _ in plan.modifies)
    specs = plan.places + [spec for _, spec in plan.modifies]
    assert all(s.tif == tif and not s.reduce_only for s in specs)
    places = Counter(_key(1 if s.is_buy else -1, s.px, s.sz) for s in specs)
    take = None
    if plan.taker is not None:
        assert plan.taker.tif == "Ioc" and plan.taker.reduce_only
        take = _key(1 if plan.taker.is_buy else -1, plan.taker.px, plan.taker.sz)
    return cancels, places, take


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_backtest_and_live_send_the_same_commands(sc: dict[str, Any]) -> None:
    assert backtest_commands(sc) == live_commands(sc)


def test_the_rules_themselves() -> None:
    """Spot checks of the shared rule book, so that the parity above cannot hold by both doing nothing."""
    base = {"timer": api.TIMER_QUOTE, "latched": False, "killed": False, "cancel_all": False, "taker_side": 0,
            "taker_sz": 0.0, "position": 0.0, "ioc_in_flight": False, "bids": [(BEST_BID, 0.001)],
            "asks": [(BEST_ASK, 0.001)], "resting": [(1, BEST_BID, 0.001), (-1, BEST_ASK + 50, 0.001)]}
    for run in (backtest_commands, live_commands):
        cancels, places, take = run(base)  # the bid is kept, the ask moved
        assert cancels == Counter([(-1, BEST_ASK + 50, 0.001)]) and places == Counter([(-1, BEST_ASK, 0.001)])
        assert take is None
        # the kill fires with a long: everything off, the whole long sold through the bid, no ladder
        cancels, places, take = run(base | {"killed": True, "position": 0.004})
        assert len(cancels) == 2 and not places and take is not None and take[0] == -1 and take[2] == 0.004
        assert take[1] < BEST_BID
        # latched: the IOC only on a rebalance timer, never a second one while one is unanswered
        assert run(base | {"latched": True, "position": 0.004})[2] is None
        assert run(base | {"latched": True, "position": 0.004, "timer": api.TIMER_REBALANCE})[2] is not None
        assert run(base | {"killed": True, "position": 0.004, "ioc_in_flight": True})[2] is None
        # an IOC that would grow the position is never sent; one bigger than the position is cut to it
        assert run(base | {"taker_side": 1, "taker_sz": 0.002, "position": 0.004})[2] is None
        assert run(base | {"taker_side": -1, "taker_sz": 0.01, "position": 0.004})[2][2] == 0.004  # type: ignore[index]
        # the ladder is a quote timer's
        assert run(base | {"timer": api.TIMER_REBALANCE}) == (Counter(), Counter(), None)
        # cancel-all: everything is cancelled and the whole ladder placed anew
        cancels, places, _ = run(base | {"cancel_all": True})
        assert sum(cancels.values()) == 2 and sum(places.values()) == 2
