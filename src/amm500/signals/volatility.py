"""Realized volatility of the mid price and the seed's five volatility bands (seed section 1).

Mids are sampled on the strategy's timer calls into a ring buffer inside the strategy state. The
estimate is time-normalized (sum of squared log returns over the elapsed seconds), so irregular or
missed timer calls do not bias it, and annualized with a 365-day year (crypto trades every day).
"""

from __future__ import annotations

import math

import numpy as np

from amm500.core.jit import array_kernel
from amm500.core.mm_state import (
    S_VOL_BUF,
    S_VOL_COUNT,
    S_VOL_HEAD,
    S_VOL_LAST_T,
    VOL_CAP,
)

SECONDS_PER_YEAR = 365.0 * 86400.0
MIN_RETURNS = 10  # fewer returns than this: no estimate (NaN), the strategy uses the normal band
DEFAULT_REGIME = 2  # "normal" until the first estimate exists


@array_kernel
def vol_sample_interval(window_s: float) -> float:
    """Spacing between stored samples so one window fits the ring with room to spare."""
    return window_s / (VOL_CAP - 24)


@array_kernel
def vol_push(state: np.ndarray, t_s: float, mid: float, window_s: float) -> None:
    """Store (t, log mid) if at least one sample interval has passed since the last sample."""
    if not mid > 0.0:
        return
    n = int(state[S_VOL_COUNT])
    if n > 0 and t_s - state[S_VOL_LAST_T] < vol_sample_interval(window_s):
        return
    head = int(state[S_VOL_HEAD])
    state[S_VOL_BUF + 2 * head] = t_s
    state[S_VOL_BUF + 2 * head + 1] = math.log(mid)
    state[S_VOL_HEAD] = (head + 1) % VOL_CAP
    state[S_VOL_COUNT] = min(n + 1, VOL_CAP)
    state[S_VOL_LAST_T] = t_s


@array_kernel
def realized_vol(state: np.ndarray, t_s: float, window_s: float) -> float:
    """Annualized realized vol of the samples within ``window_s`` of ``t_s``; NaN when too few."""
    n = int(state[S_VOL_COUNT])
    head = int(state[S_VOL_HEAD])
    ss = 0.0
    n_ret = 0
    t_first = 0.0
    t_last = 0.0
    # Walk from the newest sample backwards until one leaves the window.
    idx = (head - 1 + VOL_CAP) % VOL_CAP
    t_next = state[S_VOL_BUF + 2 * idx]
    x_next = state[S_VOL_BUF + 2 * idx + 1]
    t_last = t_next
    t_first = t_next
    for _ in range(n - 1):
        idx = (idx - 1 + VOL_CAP) % VOL_CAP
        t = state[S_VOL_BUF + 2 * idx]
        if t_s - t > window_s:
            break
        x = state[S_VOL_BUF + 2 * idx + 1]
        r = x_next - x
        ss += r * r
        n_ret += 1
        t_first = t
        t_next, x_next = t, x
    elapsed = t_last - t_first
    if n_ret < MIN_RETURNS or not elapsed > 0.0:
        return math.nan
    return math.sqrt(ss / elapsed * SECONDS_PER_YEAR)


@array_kernel
def regime_of(vol: float, params: np.ndarray, edge0: int) -> int:
    """Band index 0..4 of an annualized vol: the first band whose upper edge is above it."""
    if not math.isfinite(vol):
        return DEFAULT_REGIME
    for k in range(4):
        if vol < params[edge0 + k]:
            return k
    return 4


def realized_vol_series(mids: np.ndarray, dt_s: float) -> float:
    """Annualized realized vol of an evenly sampled mid series (reports and tests)."""
    m = np.asarray(mids, dtype=np.float64)
    if m.size < MIN_RETURNS + 1 or dt_s <= 0:
        return math.nan
    r = np.diff(np.log(m))
    return float(math.sqrt(float(np.sum(r * r)) / (dt_s * r.size) * SECONDS_PER_YEAR))
