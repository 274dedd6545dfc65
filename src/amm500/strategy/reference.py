"""Fixed-spread N-level reference strategy: the yardstick that validates the backtester.

It quotes ``order_levels`` per side at mid +- (spread/2 + k * spacing), each of the configured size,
rounded away from the mid to the tick, and does nothing else (no skew, no risk, no taker orders).
Simple enough to run in hftbacktest too, which is how ``bench/`` checks the two engines agree.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from amm500.core import api
from amm500.core.params import (
    P_LEVELS,
    P_LEVERAGE,
    P_LOT,
    P_MIN_NOTIONAL,
    P_REF_SPREAD_BPS,
    P_SIZE_FRACTION,
    P_SPACING_BPS,
    P_TICK,
)


@njit(cache=True, inline="always")
def order_size(price: float, equity: float, params: np.ndarray) -> float:
    """Size of one order, on the lot, at least the minimum notional (0 when it cannot be met)."""
    lot = params[P_LOT]
    notional = equity * params[P_LEVERAGE] * params[P_SIZE_FRACTION]
    sz = math.floor(notional / price / lot + 1e-9) * lot
    if sz * price < params[P_MIN_NOTIONAL]:
        sz = math.ceil(params[P_MIN_NOTIONAL] / price / lot - 1e-9) * lot
    return sz


@njit(cache=True, inline="always")  # into the dispatcher: one array-passing call less per timer
def reference_on_timer(
    now_ns: int, timer: int, view: np.ndarray, book: np.ndarray, orders: np.ndarray,
    params: np.ndarray, state: np.ndarray, quotes: np.ndarray, ctrl: np.ndarray,
) -> None:
    ctrl[:] = 0.0
    if timer != api.TIMER_QUOTE:
        return
    bid, ask = view[api.V_BEST_BID], view[api.V_BEST_ASK]
    if not (bid > 0.0 and ask > bid):
        return
    mid = 0.5 * (bid + ask)
    tick = params[P_TICK]
    half = 0.5 * params[P_REF_SPREAD_BPS] * 1e-4 * mid
    step = params[P_SPACING_BPS] * 1e-4 * mid
    n = min(int(params[P_LEVELS]), api.MAX_LEVELS)
    sz = order_size(mid, view[api.V_EQUITY], params)
    for k in range(n):
        bpx = math.floor((mid - half - k * step) / tick + 1e-9) * tick
        apx = math.ceil((mid + half + k * step) / tick - 1e-9) * tick
        # post-only: never at or through the opposite best
        bpx = min(bpx, ask - tick)
        apx = max(apx, bid + tick)
        quotes[api.Q_BIDS, k, api.Q_PX] = bpx
        quotes[api.Q_BIDS, k, api.Q_SZ] = sz
        quotes[api.Q_ASKS, k, api.Q_PX] = apx
        quotes[api.Q_ASKS, k, api.Q_SZ] = sz
    ctrl[api.C_N_BIDS] = n
    ctrl[api.C_N_ASKS] = n
    ctrl[api.C_SPREAD_BPS] = params[P_REF_SPREAD_BPS]
    ctrl[api.C_QUOTING] = 1.0


@njit(cache=True, inline="always")
def reference_on_fill(
    now_ns: int, side: int, px: float, sz: float, is_maker: bool, fee: float,
    view: np.ndarray, params: np.ndarray, state: np.ndarray,
) -> None:
    return
