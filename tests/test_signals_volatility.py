"""Realized volatility from sampled mids and the five regime bands."""

from __future__ import annotations

import math

import numpy as np
import pytest

from amm500.core import api
from amm500.core.mm_state import S_REGIME
from amm500.core.params import P_BAND_EDGE_0
from amm500.signals.volatility import (
    DEFAULT_REGIME,
    MIN_RETURNS,
    SECONDS_PER_YEAR,
    realized_vol,
    realized_vol_series,
    regime_of,
    vol_push,
)
from amm500.strategy import kernel
from amm500.strategy.mm import regime_spread_bps
from mm_helpers import T0, make_strategy, mm_params


def _alternating(n: int, r: float, dt: float = 1.0, t0: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Mids whose log returns are +r, -r, +r, ...: realized vol is exactly r * sqrt(year / dt)."""
    logs = np.log(90_000.0) + r * (np.arange(n) % 2)
    return t0 + dt * np.arange(n), np.exp(logs)


def test_realized_vol_known_answer() -> None:
    state = kernel.new_state()
    r = 1e-4
    ts, mids = _alternating(101, r)
    for t, m in zip(ts, mids, strict=True):
        vol_push(state, t, m, 300.0)
    expected = r * math.sqrt(SECONDS_PER_YEAR)  # ~0.5616
    assert realized_vol(state, ts[-1], 300.0) == pytest.approx(expected, rel=1e-9)
    assert realized_vol_series(mids, 1.0) == pytest.approx(expected, rel=1e-9)


def test_window_drops_old_samples_and_irregular_spacing_is_normalized() -> None:
    state = kernel.new_state()
    ts, mids = _alternating(50, 5e-4)  # a violent first minute...
    for t, m in zip(ts, mids, strict=True):
        vol_push(state, t, m, 60.0)
    ts2, mids2 = _alternating(61, 1e-4, dt=2.0, t0=200.0)  # ...then two quiet minutes sampled every 2 s
    for t, m in zip(ts2, mids2, strict=True):
        vol_push(state, t, m, 60.0)
    got = realized_vol(state, ts2[-1], 60.0)
    assert got == pytest.approx(1e-4 * math.sqrt(SECONDS_PER_YEAR / 2.0), rel=1e-9)


def test_too_few_returns_is_nan_and_duplicate_timestamps_are_ignored() -> None:
    state = kernel.new_state()
    for i in range(MIN_RETURNS):  # MIN_RETURNS samples = one return short
        vol_push(state, float(i), 90_000.0 + i, 300.0)
        vol_push(state, float(i), 95_000.0, 300.0)  # same instant: ignored
    assert math.isnan(realized_vol(state, MIN_RETURNS - 1.0, 300.0))
    vol_push(state, float(MIN_RETURNS), 90_000.0, 300.0)
    assert math.isfinite(realized_vol(state, float(MIN_RETURNS), 300.0))


@pytest.mark.parametrize("band", [0, 1, 2, 3])
def test_regime_edges_at_below_above(band: int) -> None:
    p = mm_params()
    edge = p[P_BAND_EDGE_0 + band]
    assert regime_of(np.nextafter(edge, 0.0), p, P_BAND_EDGE_0) == band
    assert regime_of(edge, p, P_BAND_EDGE_0) == band + 1  # an edge belongs to the band above
    assert regime_of(np.nextafter(edge, np.inf), p, P_BAND_EDGE_0) == band + 1
    assert regime_of(math.nan, p, P_BAND_EDGE_0) == DEFAULT_REGIME


def test_band_spreads_follow_the_seed_and_clamp() -> None:
    p = mm_params()
    state = kernel.new_state()
    got = []
    for regime in range(5):
        state[S_REGIME] = regime
        got.append(regime_spread_bps(p, state))
    assert got == [1.0, 2.0, 3.0, 5.0, 10.0]
    narrow = mm_params(trading__min_spread_bps=2.5, trading__max_spread_bps=4.0)
    state[S_REGIME] = 0
    assert regime_spread_bps(narrow, state) == 2.5
    state[S_REGIME] = 4
    assert regime_spread_bps(narrow, state) == 4.0
    fixed = mm_params(trading__vol_adaptive_enabled=False, trading__min_spread_bps=1.5)
    assert regime_spread_bps(fixed, state) == 1.5


def _run_until_spread(params: np.ndarray, ext_vol: float, r: float) -> np.ndarray:
    s = make_strategy(params)
    s.view[api.V_EXT_VOL] = ext_vol
    for i in range(120):  # 60 s of quote calls every 0.5 s with alternating +-r mid moves
        bid = 89_999.0 + (90.0 * r * 1e4 if i % 2 else 0.0)
        s.view[api.V_BEST_BID], s.view[api.V_BEST_ASK] = bid, bid + 2.0
        s.on_timer(T0 + i * 500_000_000, api.TIMER_QUOTE)
    assert s.ctrl[api.C_REGIME] == 2 and np.isnan(s.ctrl[api.C_VOL])  # quote timers never recompute
    s.on_timer(T0 + 120 * 500_000_000, api.TIMER_SPREAD)
    return s.ctrl.copy()


def test_strategy_recomputes_regime_on_spread_timer_and_lstm_overrides() -> None:
    realized = _run_until_spread(mm_params(), math.nan, 1e-4)  # about 0.79 annualized at 0.5 s: extreme
    assert realized[api.C_REGIME] == 4 and realized[api.C_SPREAD_BPS] == 10.0
    lstm = _run_until_spread(mm_params(trading__volatility_source="lstm"), 0.15, 1e-4)
    assert lstm[api.C_VOL] == 0.15 and lstm[api.C_REGIME] == 1 and lstm[api.C_SPREAD_BPS] == 2.0
    fallback = _run_until_spread(mm_params(trading__volatility_source="lstm"), math.nan, 1e-4)
    assert fallback[api.C_REGIME] == 4
    ignored = _run_until_spread(mm_params(), 0.15, 1e-4)  # realized source ignores the forecast
    assert ignored[api.C_REGIME] == 4
