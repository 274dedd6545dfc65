"""MarketMakingStrategy quoting: invariants (hypothesis), skews, hysteresis, guards and thresholds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amm500.core import api
from amm500.core.mm_state import S_ADV_HIGH, S_KILLED, S_REGIME, S_TAKER_HIGH
from amm500.core.params import (
    P_ADV_WIDEN_BPS,
    P_FUND_THRESHOLD,
    P_LEVELS,
    P_LOT,
    P_MAX_DELTA,
    P_MAX_NET_EXPOSURE,
    P_MAX_POSITION_S,
    P_MAX_SPREAD_BPS,
    P_MIN_NOTIONAL,
    P_MIN_SPREAD_BPS,
    P_PRICE_BAND_BPS,
    P_STALE_MS,
    P_TAKER_WIDEN_BPS,
)
from amm500.strategy.mm import funding_shift_bps, inventory_shift_bps, level_size
from mm_helpers import T0, make_strategy, mm_params, quote, set_book

BASE = mm_params()


def _on_lot(sz: np.ndarray, lot: float) -> bool:
    return bool(np.all(np.abs(sz / lot - np.round(sz / lot)) < 1e-6))


# ---- invariants ------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mid=st.floats(1_000.0, 200_000.0),
    spread_ticks=st.integers(1, 40),
    position_frac=st.floats(-0.8, 0.8),
    equity=st.floats(100.0, 50_000.0),
    bid_sz=st.floats(0.01, 50.0),
    ask_sz=st.floats(0.01, 50.0),
    funding=st.floats(-0.001, 0.001),
    regime=st.integers(0, 4),
    taker_high=st.booleans(),
    adv_high=st.booleans(),
    n_orders=st.integers(0, 30),
    order_jitter=st.floats(-0.002, 0.002),
    killed=st.booleans(),
)
def test_ladder_invariants(
    mid: float, spread_ticks: int, position_frac: float, equity: float, bid_sz: float, ask_sz: float,
    funding: float, regime: int, taker_high: bool, adv_high: bool, n_orders: int, order_jitter: float,
    killed: bool,
) -> None:
    params = BASE.copy()
    tick, lot = 1.0, params[P_LOT]
    bid = math.floor(mid) - spread_ticks // 2
    ask = bid + spread_ticks
    position = round(position_frac * equity / mid / lot) * lot
    strat = make_strategy(params, bid, ask, equity, position)
    set_book(strat, bid, ask, tick, bid_sz, ask_sz)
    strat.view[api.V_FUNDING_RATE] = funding
    # resting orders near the market, to exercise hysteresis
    for i in range(n_orders):
        side = 1 if i % 2 == 0 else -1
        strat.orders[i, api.O_SIDE] = side
        strat.orders[i, api.O_PX] = round(mid * (1 - side * (0.0002 * (i // 2 + 1)) + order_jitter))
        strat.orders[i, api.O_SZ] = 0.001
    if taker_high:  # ten taker fills: taker ratio 100% > 10% after the minimum trade count
        for _ in range(10):
            strat.on_fill(T0, 1, ask, 0.001, False, 0.0)
    if adv_high:  # ten maker buys far above where the mid is 5 s later: adverse
        for _ in range(10):
            strat.on_fill(T0, 1, ask + 0.001 * mid, 0.001, True, 0.0)
    strat.on_timer(T0, api.TIMER_QUOTE)  # initialises the session
    strat.state[S_REGIME] = regime
    strat.state[S_KILLED] = 1.0 if killed else 0.0
    strat.on_timer(T0 + 6 * 10**9, api.TIMER_QUOTE)
    assert strat.state[S_TAKER_HIGH] == float(taker_high) and strat.state[S_ADV_HIGH] == float(adv_high)
    ctrl = strat.ctrl
    nb, na = int(ctrl[api.C_N_BIDS]), int(ctrl[api.C_N_ASKS])
    b = strat.quotes[api.Q_BIDS, :nb]
    a = strat.quotes[api.Q_ASKS, :na]

    if killed:
        assert nb == na == 0 and ctrl[api.C_KILLED] == 1.0 and ctrl[api.C_QUOTING] == 0.0
        return
    assert nb + na > 0
    # post-only: never at or through the opposite best; bids strictly below asks; monotone ladders
    assert np.all(b[:, 0] < ask) and np.all(a[:, 0] > bid)
    if nb and na:
        assert b[0, 0] < a[0, 0]
    assert np.all(np.diff(b[:, 0]) < 0) and np.all(np.diff(a[:, 0]) > 0)
    # on the tick, on the lot, >= the minimum order value
    assert np.all(b[:, 0] == np.round(b[:, 0])) and np.all(a[:, 0] == np.round(a[:, 0]))
    assert _on_lot(b[:, 1], lot) and _on_lot(a[:, 1], lot)
    assert np.all(b[:, 0] * b[:, 1] >= params[P_MIN_NOTIONAL] - 1e-9)
    assert np.all(a[:, 0] * a[:, 1] >= params[P_MIN_NOTIONAL] - 1e-9)
    # spread inside [min, max] plus the risk widening that is active
    widen = params[P_TAKER_WIDEN_BPS] * taker_high + params[P_ADV_WIDEN_BPS] * adv_high
    assert params[P_MIN_SPREAD_BPS] - 1e-12 <= ctrl[api.C_SPREAD_BPS] <= params[P_MAX_SPREAD_BPS] + widen + 1e-12
    # price band
    m = 0.5 * (bid + ask)
    band = params[P_PRICE_BAND_BPS] * 1e-4 * m
    assert np.all(np.abs(b[:, 0] - m) <= band + 1e-6) and np.all(np.abs(a[:, 0] - m) <= band + 1e-6)
    # position limits: filling the whole ladder never breaches max |position|
    cap = min(params[P_MAX_NET_EXPOSURE], 5.0 * equity, 10.0 * equity) / m
    assert nb == 0 or position + b[:, 1].sum() <= cap + 1e-9
    assert na == 0 or -position + a[:, 1].sum() <= cap + 1e-9


@settings(max_examples=80, deadline=None)
@given(position_frac=st.floats(0.0005, 0.5), sign=st.sampled_from([1.0, -1.0]))
def test_inventory_skew_leans_against_the_position(position_frac: float, sign: float) -> None:
    params = mm_params(trading__imbalance_skew_enabled=False, risk__funding_arb_enabled=False)
    mid, equity = 90_000.0, 1000.0
    position = sign * round(position_frac * equity / mid, 5)
    if position == 0.0:
        return
    flat_b, flat_a = quote(make_strategy(params, 89_990.0, 90_010.0, equity, 0.0))
    b, a = quote(make_strategy(params, 89_990.0, 90_010.0, equity, position))
    if sign > 0:  # long: lower both quotes (buy less eagerly, sell more eagerly)
        assert b[0, 0] <= flat_b[0, 0] and a[0, 0] <= flat_a[0, 0]
        assert b[0, 0] < flat_b[0, 0] or a[0, 0] < flat_a[0, 0]
    else:
        assert b[0, 0] >= flat_b[0, 0] and a[0, 0] >= flat_a[0, 0]
        assert b[0, 0] > flat_b[0, 0] or a[0, 0] > flat_a[0, 0]


def test_inventory_shift_known_values() -> None:
    p = BASE  # inventory_skew_bps 2, threshold 1% of equity, strong mult 2, max spread 10
    mid, eq = 100_000.0, 1000.0
    at = 0.01 * eq / mid
    assert inventory_shift_bps(at, mid, eq, p) == pytest.approx(-2.0)
    assert inventory_shift_bps(at / 2, mid, eq, p) == pytest.approx(-1.0)
    assert inventory_shift_bps(2 * at, mid, eq, p) == pytest.approx(-6.0)  # 2 * (1 + 2 * 1)
    assert inventory_shift_bps(-2 * at, mid, eq, p) == pytest.approx(6.0)
    assert inventory_shift_bps(100 * at, mid, eq, p) == pytest.approx(-10.0)  # capped at max spread
    off = mm_params(trading__inventory_skew_enabled=False)
    assert inventory_shift_bps(at, mid, eq, off) == 0.0


def test_imbalance_skew_moves_both_quotes_toward_the_heavy_side() -> None:
    params = mm_params(trading__inventory_skew_enabled=False, trading__imbalance_skew_bps=5.0)
    even = make_strategy(params, 89_900.0, 90_100.0)
    b0, a0 = quote(even)
    heavy = make_strategy(params, 89_900.0, 90_100.0)
    set_book(heavy, 89_900.0, 90_100.0, bid_sz=9.0, ask_sz=1.0)  # imbalance 0.8 -> +4 bps
    b1, a1 = quote(heavy)
    assert b1[0, 0] - b0[0, 0] == pytest.approx(36.0, abs=1.0)
    assert a1[0, 0] - a0[0, 0] == pytest.approx(36.0, abs=1.0)
    off = mm_params(trading__inventory_skew_enabled=False, trading__imbalance_skew_enabled=False)
    s = make_strategy(off, 89_900.0, 90_100.0)
    set_book(s, 89_900.0, 90_100.0, bid_sz=9.0, ask_sz=1.0)
    assert np.array_equal(quote(s)[0], b0)


def test_funding_skew_threshold_and_inventory_limit() -> None:
    p = BASE.copy()
    thr = p[P_FUND_THRESHOLD]
    mid, eq = 100_000.0, 1000.0
    assert funding_shift_bps(thr, 0.0, mid, eq, p) == pytest.approx(-0.5)  # at: longs pay -> lean short
    assert funding_shift_bps(np.nextafter(thr, 0.0), 0.0, mid, eq, p) == 0.0  # just below
    assert funding_shift_bps(-thr * 1.01, 0.0, mid, eq, p) == pytest.approx(0.5)  # shorts pay -> lean long
    # already short past the inventory threshold: no further lean short
    short_at = -0.01 * eq / mid
    assert funding_shift_bps(thr, short_at, mid, eq, p) == 0.0
    assert funding_shift_bps(thr, short_at * 0.99, mid, eq, p) == pytest.approx(-0.5)
    assert funding_shift_bps(thr, 0.0, mid, eq, mm_params(risk__funding_arb_enabled=False)) == 0.0


# ---- sizes ---------------------------------------------------------------------------------------


def test_level_sizes_on_lot_and_minimum_value() -> None:
    p = mm_params(trading__level_size_decay=0.5, trading__order_levels=6)
    sizes = [level_size(k, 90_000.0, 1000.0, 1.0, p) for k in range(6)]
    assert sizes[0] == pytest.approx(0.00222)  # floor(200 / 90000, 5 decimals)
    assert sizes[1] == pytest.approx(0.00111)
    assert all(s * 90_000.0 >= 10.0 for s in sizes)
    assert sizes[-1] == pytest.approx(0.00012)  # 200/32 = 6.25 USD < 10 -> raised to ceil(10/90000)


# ---- hysteresis ----------------------------------------------------------------------------------


def test_resting_order_within_tolerance_keeps_its_price() -> None:
    params = mm_params(trading__inventory_skew_enabled=False, trading__imbalance_skew_enabled=False,
                       trading__quote_tolerance_bps=0.3)
    target_b, _ = quote(make_strategy(params, 89_990.0, 90_010.0))
    tol = 0.3e-4 * 90_000.0  # 2.7 USD; levels are 9 USD apart
    for delta, kept in ((2.5, True), (-2.5, True), (3.0, False), (-3.0, False)):
        s = make_strategy(params, 89_990.0, 90_010.0)
        s.orders[0, api.O_SIDE] = 1
        s.orders[0, api.O_PX] = target_b[1, 0] + delta
        s.orders[0, api.O_SZ] = target_b[1, 1]
        b, _ = quote(s)
        assert bool(b[1, 0] == target_b[1, 0] + delta) is kept, (delta, tol)
        assert b[0, 0] == target_b[0, 0] and b[2, 0] == target_b[2, 0]


def test_kept_order_never_crosses_after_the_market_moves() -> None:
    params = mm_params(trading__inventory_skew_enabled=False, trading__imbalance_skew_enabled=False)
    s = make_strategy(params, 89_990.0, 90_010.0)
    s.orders[0, api.O_SIDE] = 1
    s.orders[0, api.O_PX] = 89_976.0
    s.orders[0, api.O_SZ] = 0.00222
    set_book(s, 89_960.0, 89_977.0)  # the ask came down to one tick above our resting bid
    b, _ = quote(s)
    assert b[0, 0] < 89_977.0


# ---- guards --------------------------------------------------------------------------------------


def test_stale_data_guard_at_below_above() -> None:
    stale = BASE[P_STALE_MS]
    for age, quoting in ((stale, True), (np.nextafter(stale, 0.0), True), (np.nextafter(stale, np.inf), False)):
        s = make_strategy(BASE.copy())
        s.view[api.V_BOOK_AGE_MS] = age
        b, a = quote(s)
        assert (len(b) > 0 and len(a) > 0) is quoting
        assert s.ctrl[api.C_QUOTING] == float(quoting)


def test_price_band_at_below_above() -> None:
    params = mm_params(trading__inventory_skew_enabled=False, trading__imbalance_skew_enabled=False)
    b, _ = quote(make_strategy(params.copy(), 89_990.0, 90_010.0))
    _, a = quote(make_strategy(params.copy(), 89_990.0, 90_010.0))
    mid = 90_000.0
    edge = max((mid - b[5, 0]) / mid * 1e4, (a[5, 0] - mid) / mid * 1e4)  # level 5 lies exactly on the band
    for band, n in ((edge, 6), (np.nextafter(edge, np.inf), 6), (edge * (1 - 1e-6), 5)):
        p = params.copy()
        p[P_PRICE_BAND_BPS] = band
        nb = len(quote(make_strategy(p, 89_990.0, 90_010.0))[0])
        assert nb >= n if n == 6 else nb == 5


def test_no_quotes_on_a_crossed_or_empty_book() -> None:
    s = make_strategy(BASE.copy(), 90_000.0, 90_000.0)
    assert quote(s) and s.ctrl[api.C_N_BIDS] == 0 and s.ctrl[api.C_QUOTING] == 0.0


def test_net_exposure_limit_cuts_the_growing_side() -> None:
    p = BASE.copy()
    p[P_MAX_NET_EXPOSURE] = 1000.0
    s = make_strategy(p, 89_999.0, 90_001.0, equity=1000.0, position=0.009)  # $810 long
    b, a = quote(s)
    assert 0.009 + b[:, 1].sum() <= 1000.0 / 90_000.0 + 1e-12
    assert len(b) == 1 and len(a) >= 5
    s2 = make_strategy(p, 89_999.0, 90_001.0, equity=1000.0, position=0.011)  # past the limit
    b2, _ = quote(s2)
    assert len(b2) == 0


# ---- delta rebalancing and position timeout ------------------------------------------------------


def _delta_case(threshold: float) -> tuple[np.ndarray, np.ndarray]:
    p = mm_params(trading__inventory_skew_enabled=False, trading__imbalance_skew_enabled=False,
                  risk__position_timeout_enabled=False)
    p[P_MAX_DELTA] = threshold
    s = make_strategy(p, 99_999.0, 100_001.0, equity=1000.0, position=0.004)
    s.on_timer(T0, api.TIMER_REBALANCE)
    return quote(s, now_ns=T0 + 1)


def test_delta_rebalance_at_below_above() -> None:
    d = 0.004 * 100_000.0 / 1000.0
    flat_b, flat_a = _delta_case(d)  # at the threshold: untouched
    for thr, hit in ((np.nextafter(d, np.inf), False), (np.nextafter(d, 0.0), True)):
        b, a = _delta_case(thr)
        if hit:  # too long: bids shrink to half and step back 1 bp; asks unchanged
            assert b[0, 1] == pytest.approx(flat_b[0, 1] / 2, abs=1e-5)
            assert b[0, 0] == pytest.approx(flat_b[0, 0] - 10.0, abs=1.0)
            assert np.array_equal(a, flat_a)
        else:
            assert np.array_equal(b, flat_b)


def test_position_timeout_ioc_at_below_above() -> None:
    limit = BASE[P_MAX_POSITION_S]
    for age, fires in ((limit, False), (np.nextafter(limit, np.inf), True), (np.nextafter(limit, 0.0), False)):
        s = make_strategy(BASE.copy(), position=0.003)
        s.view[api.V_POSITION_AGE_S] = age
        s.on_timer(T0, api.TIMER_REBALANCE)
        assert bool(s.ctrl[api.C_TAKER_SIDE] == -1.0) is fires
        if fires:
            assert s.ctrl[api.C_TAKER_SZ] == pytest.approx(0.003)
    short = make_strategy(BASE.copy(), position=-0.002)
    short.view[api.V_POSITION_AGE_S] = limit + 1
    short.on_timer(T0, api.TIMER_REBALANCE)
    assert short.ctrl[api.C_TAKER_SIDE] == 1.0 and short.ctrl[api.C_TAKER_SZ] == pytest.approx(0.002)
    off = make_strategy(mm_params(risk__position_timeout_enabled=False), position=0.003)
    off.view[api.V_POSITION_AGE_S] = limit + 1
    off.on_timer(T0, api.TIMER_REBALANCE)
    assert off.ctrl[api.C_TAKER_SIDE] == 0.0


def test_levels_param_bounds_ladder() -> None:
    p = BASE.copy()
    p[P_LEVELS] = 3
    b, a = quote(make_strategy(p))
    assert len(b) == len(a) == 3
