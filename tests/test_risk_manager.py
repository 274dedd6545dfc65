"""RiskManager: taker-ratio check, adverse selection, position/leverage/margin limits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from amm500.core import api
from amm500.core.params import (
    P_ADV_THRESHOLD_BPS,
    P_LEVERAGE,
    P_MAX_LEVERAGE_USED,
    P_MAX_NET_EXPOSURE,
    P_MAX_TAKER_RATIO,
    P_TAKER_MIN_TRADES,
)
from amm500.risk.manager import max_position
from mm_helpers import T0, make_strategy, mm_params, quote

SEC = 10**9


def _fills(strat, n_maker: int, n_taker: int, t: int = T0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(n_maker):
        strat.on_fill(t, 1, 90_000.0, 0.001, True, 0.0)
    for _ in range(n_taker):
        strat.on_fill(t, -1, 90_000.0, 0.001, False, 0.0)


# ---- taker ratio ---------------------------------------------------------------------------------


def test_taker_ratio_threshold_at_below_above() -> None:
    probe = make_strategy()
    _fills(probe, 8, 2)  # 8 maker + 2 taker fills of equal size
    ratio = probe.risk.taker_ratio  # 0.2 up to float rounding: the threshold is set from it exactly
    for limit, high in ((ratio, False), (np.nextafter(ratio, 1.0), False), (np.nextafter(ratio, 0.0), True)):
        p = mm_params()
        p[P_MAX_TAKER_RATIO] = limit
        s = make_strategy(p)
        _fills(s, 8, 2)
        quote(s)
        assert s.risk.check_taker_ratio() is (not high)
        assert s.ctrl[api.C_SPREAD_BPS] == pytest.approx(3.0 + (2.0 if high else 0.0))
        assert s.risk.taker_ratio == pytest.approx(0.2)


def test_taker_check_needs_min_trades() -> None:
    for n_fills, armed in ((9, False), (10, True), (11, True)):  # default taker_ratio_min_trades = 10
        s = make_strategy()
        _fills(s, 0, n_fills)
        quote(s)
        assert s.risk.check_taker_ratio() is (not armed)
    p = mm_params(risk__taker_check_enabled=False)
    off = make_strategy(p)
    _fills(off, 0, 50)
    quote(off)
    assert off.risk.check_taker_ratio() and off.ctrl[api.C_SPREAD_BPS] == 3.0
    assert p[P_TAKER_MIN_TRADES] == 10


def test_taker_widening_recovers_when_ratio_falls() -> None:
    s = make_strategy()
    _fills(s, 0, 10)
    quote(s)
    assert not s.risk.check_taker_ratio()
    _fills(s, 100, 0)  # 10 / 110 = 9.1% < 10%
    quote(s, now_ns=T0 + SEC)
    assert s.risk.check_taker_ratio() and s.ctrl[api.C_SPREAD_BPS] == 3.0


# ---- adverse selection ---------------------------------------------------------------------------


def _adverse_case(threshold: float, fill_px: float, later_bid: float) -> object:
    p = mm_params(trading__inventory_skew_enabled=False, trading__imbalance_skew_enabled=False)
    p[P_ADV_THRESHOLD_BPS] = threshold
    s = make_strategy(p, 89_999.0, 90_001.0)
    quote(s)
    for _ in range(10):
        s.on_fill(T0, 1, fill_px, 0.001, True, 0.0)  # maker buys
    s.view[api.V_BEST_BID], s.view[api.V_BEST_ASK] = later_bid, later_bid + 2.0
    s.on_timer(T0 + 5 * SEC, api.TIMER_QUOTE)  # exactly the 5 s mark-out horizon later
    return s


def test_adverse_selection_markout_and_threshold() -> None:
    # bought at 90_009, mid 5 s later 90_000: adverse by exactly 1 bp
    adv = (90_009.0 - 90_000.0) / 90_000.0 * 1e4
    base = _adverse_case(math.inf, 90_009.0, 89_999.0)
    assert base.risk.check_adverse_selection() == pytest.approx(adv)  # type: ignore[attr-defined]
    for thr, high in ((adv, False), (np.nextafter(adv, np.inf), False), (np.nextafter(adv, 0.0), True)):
        s = _adverse_case(thr, 90_009.0, 89_999.0)
        assert s.risk.adverse_high is high  # type: ignore[attr-defined]
        expected_spread = 3.0 + (1.0 if high else 0.0)
        assert s.ctrl[api.C_SPREAD_BPS] == pytest.approx(expected_spread)  # type: ignore[attr-defined]
        b = s.bids()  # type: ignore[attr-defined]
        assert b[0, 1] == pytest.approx(0.00111 if high else 0.00222)  # size halves while adverse


def test_adverse_needs_full_window_and_horizon() -> None:
    p = mm_params()
    s = make_strategy(p)
    quote(s)
    for _ in range(9):  # one short of the 10-fill window
        s.on_fill(T0, 1, 90_100.0, 0.001, True, 0.0)
    s.on_timer(T0 + 10 * SEC, api.TIMER_QUOTE)
    assert math.isnan(s.risk.check_adverse_selection()) and not s.risk.adverse_high
    s.on_fill(T0 + 10 * SEC, 1, 90_100.0, 0.001, True, 0.0)
    s.on_timer(T0 + 14 * SEC, api.TIMER_QUOTE)  # newest fill only 4 s old: not marked yet
    assert not s.risk.adverse_high
    s.on_timer(T0 + 15 * SEC, api.TIMER_QUOTE)
    assert s.risk.adverse_high
    # taker fills never enter the adverse window; favourable fills are negative
    g = make_strategy(p)
    quote(g)
    for _ in range(10):
        g.on_fill(T0, 1, 89_900.0, 0.001, True, 0.0)
        g.on_fill(T0, 1, 95_000.0, 0.001, False, 0.0)
    g.on_timer(T0 + 6 * SEC, api.TIMER_QUOTE)
    assert g.risk.check_adverse_selection() < 0.0 and not g.risk.adverse_high


# ---- limits --------------------------------------------------------------------------------------


def test_max_position_takes_the_tightest_limit() -> None:
    p = mm_params()
    mid = 100_000.0
    assert max_position(mid, 1000.0, p) == pytest.approx(5000.0 / mid)  # max_net_exposure and 5x
    assert max_position(mid, 500.0, p) == pytest.approx(2500.0 / mid)  # leverage used 5 x 500
    p2 = p.copy()
    p2[P_MAX_LEVERAGE_USED] = 40.0
    p2[P_LEVERAGE] = 3.0
    p2[P_MAX_NET_EXPOSURE] = 1e9
    assert max_position(mid, 1000.0, p2) == pytest.approx(3000.0 / mid)  # margin: equity x leverage
    assert max_position(mid, 0.0, p) == 0.0 and max_position(mid, -5.0, p) == 0.0


@pytest.mark.parametrize("field", [P_MAX_NET_EXPOSURE, P_MAX_LEVERAGE_USED])
def test_no_quote_breaches_the_position_limit(field: int) -> None:
    p = mm_params()
    p[P_MAX_NET_EXPOSURE] = 1e9
    p[P_MAX_LEVERAGE_USED] = 40.0
    p[field] = 3000.0 if field == P_MAX_NET_EXPOSURE else 3.0  # both mean 3000 USD at 1000 equity
    s = make_strategy(p, 89_999.0, 90_001.0, equity=1000.0, position=0.02)  # 1800 USD long
    b, a = quote(s)
    cap = 3000.0 / 90_000.0
    assert 0.02 + b[:, 1].sum() <= cap + 1e-12
    assert cap - 0.02 - b[:, 1].sum() < 0.00222 + 1e-12  # ... and uses the room it has
    assert -0.02 + a[:, 1].sum() <= cap + 1e-12
