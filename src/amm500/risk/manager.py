"""RiskManager (seed section 4): taker ratio, adverse selection and pre-quote limits, jitted.

Checks that throttle quoting (taker ratio, adverse selection) set flags in the strategy state that
widen the spread or shrink sizes until they clear; limits (position notional, leverage, margin,
price band, stale data) decide which quotes may exist at all. :class:`RiskManager` exposes the same
numbers to Python for logs, metrics and the dashboard.
"""

from __future__ import annotations

import math

import numpy as np

from amm500.core.jit import array_kernel
from amm500.core.mm_state import (
    ADV_CAP,
    ADV_FIELDS,
    S_ADV_BPS,
    S_ADV_BUF,
    S_ADV_COUNT,
    S_ADV_HEAD,
    S_ADV_HIGH,
    S_MAKER_VOLUME,
    S_N_FILLS,
    S_N_TAKER_FILLS,
    S_TAKER_HIGH,
    S_TAKER_VOLUME,
)
from amm500.core.params import (
    P_ADV_ENABLED,
    P_ADV_MARKOUT_S,
    P_ADV_SIZE_MULT,
    P_ADV_THRESHOLD_BPS,
    P_ADV_WIDEN_BPS,
    P_ADV_WINDOW,
    P_LEVERAGE,
    P_MAX_LEVERAGE_USED,
    P_MAX_NET_EXPOSURE,
    P_MAX_TAKER_RATIO,
    P_TAKER_ENABLED,
    P_TAKER_MIN_TRADES,
    P_TAKER_WIDEN_BPS,
)


@array_kernel
def record_fill(t_s: float, side: int, px: float, sz: float, is_maker: bool, state: np.ndarray) -> None:
    """Count the fill for the taker ratio; queue maker fills for their adverse-selection mark-out."""
    state[S_N_FILLS] += 1.0
    if is_maker:
        state[S_MAKER_VOLUME] += sz
        head = int(state[S_ADV_HEAD])
        base = S_ADV_BUF + ADV_FIELDS * head
        state[base] = side
        state[base + 1] = px
        state[base + 2] = t_s
        state[base + 3] = math.nan
        state[S_ADV_HEAD] = (head + 1) % ADV_CAP
        state[S_ADV_COUNT] = min(state[S_ADV_COUNT] + 1.0, ADV_CAP)
    else:
        state[S_N_TAKER_FILLS] += 1.0
        state[S_TAKER_VOLUME] += sz


@array_kernel
def taker_ratio(state: np.ndarray) -> float:
    total = state[S_MAKER_VOLUME] + state[S_TAKER_VOLUME]
    return state[S_TAKER_VOLUME] / total if total > 0.0 else 0.0


@array_kernel
def update_adverse(t_s: float, mid: float, params: np.ndarray, state: np.ndarray) -> float:
    """Mark out due fills at ``mid`` and average the last ``window`` mark-outs (bps, + = adverse).

    A fill's mark-out is ``side * (fill px - mid P_ADV_MARKOUT_S later) / mid``: positive when we
    bought above (or sold below) where the market went. NaN until the window is full.
    """
    window = min(int(params[P_ADV_WINDOW]), ADV_CAP)
    horizon = params[P_ADV_MARKOUT_S]
    n = int(state[S_ADV_COUNT])
    idx = int(state[S_ADV_HEAD])
    total = 0.0
    got = 0
    for _ in range(n):
        idx = (idx - 1 + ADV_CAP) % ADV_CAP
        base = S_ADV_BUF + ADV_FIELDS * idx
        if math.isnan(state[base + 3]):
            if t_s - state[base + 2] < horizon:
                continue  # too young to mark out
            state[base + 3] = mid
        m = state[base + 3]
        total += state[base] * (state[base + 1] - m) / m * 1e4
        got += 1
        if got >= window:
            break
    avg = total / got if got >= window else math.nan
    state[S_ADV_BPS] = avg
    return avg


@array_kernel
def update_flags(t_s: float, mid: float, params: np.ndarray, state: np.ndarray) -> None:
    """Refresh the taker-ratio and adverse-selection flags (thresholds are strict: above, not at)."""
    armed = params[P_TAKER_ENABLED] > 0.0 and state[S_N_FILLS] >= params[P_TAKER_MIN_TRADES]
    state[S_TAKER_HIGH] = 1.0 if (armed and taker_ratio(state) > params[P_MAX_TAKER_RATIO]) else 0.0
    adv = update_adverse(t_s, mid, params, state) if mid > 0.0 else math.nan
    state[S_ADV_HIGH] = 1.0 if (params[P_ADV_ENABLED] > 0.0 and adv > params[P_ADV_THRESHOLD_BPS]) else 0.0


@array_kernel
def risk_widen_bps(params: np.ndarray, state: np.ndarray) -> float:
    """Extra full spread (bps) the active risk flags ask for."""
    extra = 0.0
    if state[S_TAKER_HIGH] > 0.0:
        extra += params[P_TAKER_WIDEN_BPS]
    if state[S_ADV_HIGH] > 0.0:
        extra += params[P_ADV_WIDEN_BPS]
    return extra


@array_kernel
def risk_size_mult(params: np.ndarray, state: np.ndarray) -> float:
    return params[P_ADV_SIZE_MULT] if state[S_ADV_HIGH] > 0.0 else 1.0


@array_kernel
def max_position(mid: float, equity: float, params: np.ndarray) -> float:
    """Largest |position| in base units allowed by net exposure, leverage used and margin."""
    if not (mid > 0.0 and equity > 0.0):
        return 0.0
    notional = min(
        params[P_MAX_NET_EXPOSURE], params[P_MAX_LEVERAGE_USED] * equity, params[P_LEVERAGE] * equity
    )
    return notional / mid


class RiskManager:
    """Read-only Python view of the risk numbers inside a strategy state (for logs and metrics)."""

    def __init__(self, params: np.ndarray, state: np.ndarray) -> None:
        self.params = params
        self.state = state

    @property
    def taker_ratio(self) -> float:
        return float(taker_ratio(self.state))

    @property
    def total_fills(self) -> int:
        return int(self.state[S_N_FILLS])

    def check_taker_ratio(self) -> bool:
        """True while the taker ratio is acceptable (the seed's contract)."""
        return not bool(self.state[S_TAKER_HIGH])

    def check_adverse_selection(self) -> float:
        """Average adverse move of the last window's mark-outs in bps (NaN until the window is full)."""
        return float(self.state[S_ADV_BPS])

    @property
    def adverse_high(self) -> bool:
        return bool(self.state[S_ADV_HIGH])

    def widen_bps(self) -> float:
        return float(risk_widen_bps(self.params, self.state))

    def max_position(self, mid: float, equity: float) -> float:
        return float(max_position(mid, equity, self.params))
