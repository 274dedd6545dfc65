"""Desired ladder vs live orders -> the few actions that turn one into the other.

Every venue (backtest, paper, live) calls :func:`diff_ladder` after the strategy's ``on_timer``. A
resting order is kept when it sits within ``tol_bps`` of a wanted level and its remaining size is
within ``size_tol`` (a fraction) of the wanted size: keeping it keeps its place in the queue, while
a replacement (cancel + new; Hyperliquid's modify is the same thing) goes to the back. Everything
else is cancelled, and wanted levels left without an order are placed.

Both sides are merged in price order (bids best-first, descending; asks ascending), so the cost is
linear in the number of orders. Cancels come first in ``actions`` so margin is freed before new
orders need it.

Arrays (float64): ``quotes`` and ``orders`` as in :mod:`amm500.core.api`; ``actions`` has shape
(n, A_SIZE) with n >= :data:`MAX_ACTIONS`; ``work`` is an int64 scratch vector of length
>= 2 * MAX_ORDERS (passed in so the hot path never allocates); :func:`new_work`'s has three cells more,
where a driver that numbers its orders' versions lets the sorted rows be reused.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from amm500.core import api
from amm500.core.jit import array_kernel
from amm500.core.order_rows import sort_side_rows

A_KIND = 0  # ACT_CANCEL or ACT_PLACE
A_ROW = 1  # cancel: row of ``orders``
A_SIDE = 2  # place: +1 bid / -1 ask
A_PX = 3
A_SZ = 4
A_SIZE = 5

ACT_CANCEL = 1
ACT_PLACE = 2

#: room for every cancel plus every place, with places staged at the far end before compaction
MAX_ACTIONS = 2 * (api.MAX_ORDERS + 2 * api.MAX_LEVELS)


def new_actions() -> np.ndarray:
    return np.zeros((MAX_ACTIONS, A_SIZE))


W_VER = 2 * api.MAX_ORDERS  # in ``work``: the orders version its sorted rows belong to (0: none)
W_NB = W_VER + 1  # how many bids and asks they are
W_NA = W_VER + 2


def new_work() -> np.ndarray:
    return np.zeros(W_NA + 1, dtype=np.int64)


@njit(cache=True, inline="always")
def _diff_side(quotes: np.ndarray, q: int, n_want: int, orders: np.ndarray, side: int, tol_bps: float,
               size_tol: float, actions: np.ndarray, n_cancel: int, n_place: int, work: np.ndarray,
               offset: int, n_live: int) -> tuple[int, int]:
    cap = actions.shape[0]
    i = 0
    j = 0
    wpx = wsz = lpx = 0.0
    r = 0
    while i < n_want or j < n_live:
        if i < n_want:
            wpx = quotes[q, i, api.Q_PX]
            wsz = quotes[q, i, api.Q_SZ]
            if not (wpx > 0.0 and wsz > 0.0):
                i += 1
                continue
        if j < n_live:
            r = work[offset + j]
            lpx = orders[r, api.O_PX]
        if i < n_want and j < n_live:
            tol = tol_bps * 1e-4 * wpx + 1e-9 * wpx
            if abs(lpx - wpx) <= tol:
                lsz = orders[r, api.O_SZ]
                if abs(lsz - wsz) > size_tol * wsz + 1e-12:
                    actions[n_cancel, A_KIND] = ACT_CANCEL
                    actions[n_cancel, A_ROW] = r
                    n_cancel += 1
                    n_place += 1
                    slot = cap - n_place
                    actions[slot, A_KIND] = ACT_PLACE
                    actions[slot, A_SIDE] = side
                    actions[slot, A_PX] = wpx
                    actions[slot, A_SZ] = wsz
                i += 1
                j += 1
                continue
            live_first = lpx > wpx if side > 0 else lpx < wpx
        else:
            live_first = j < n_live
        if live_first:
            actions[n_cancel, A_KIND] = ACT_CANCEL
            actions[n_cancel, A_ROW] = r
            n_cancel += 1
            j += 1
        else:
            n_place += 1
            slot = cap - n_place
            actions[slot, A_KIND] = ACT_PLACE
            actions[slot, A_SIDE] = side
            actions[slot, A_PX] = wpx
            actions[slot, A_SZ] = wsz
            i += 1
    return n_cancel, n_place


@array_kernel  # called on every quote timer of every backtest: no reference counting on its arrays
def diff_ladder(quotes: np.ndarray, n_bids: int, n_asks: int, orders: np.ndarray, tol_bps: float,
                size_tol: float, actions: np.ndarray, work: np.ndarray, orders_ver: int = 0) -> int:
    """Fill ``actions`` (cancels first, then places best-first per side); returns how many.

    ``orders_ver``: a number the caller changes whenever a row of ``orders`` changes (0: none). The
    orders' rows sorted by side and price stay in ``work`` under it, and a later call with the same
    number (a changed ladder on the same orders) skips the sort.
    """
    n_bids = min(max(n_bids, 0), quotes.shape[1])
    n_asks = min(max(n_asks, 0), quotes.shape[1])
    keeps = work.shape[0] > W_NA
    if keeps and orders_ver > 0 and work[W_VER] == orders_ver:
        live_b, live_a = work[W_NB], work[W_NA]
    else:
        live_b = sort_side_rows(orders, 1, work, 0)
        live_a = sort_side_rows(orders, -1, work, api.MAX_ORDERS)
        if keeps:
            work[W_VER] = orders_ver
            work[W_NB] = live_b
            work[W_NA] = live_a
    nc, npl = _diff_side(quotes, api.Q_BIDS, n_bids, orders, 1, tol_bps, size_tol, actions, 0, 0, work, 0, live_b)
    nc, npl = _diff_side(quotes, api.Q_ASKS, n_asks, orders, -1, tol_bps, size_tol, actions, nc, npl, work,
                         api.MAX_ORDERS, live_a)
    cap = actions.shape[0]
    # places were written from the end backwards; move them, in wanted order, right after the cancels
    for k in range(npl):
        src = cap - 1 - k
        dst = nc + k
        for f in range(A_SIZE):
            actions[dst, f] = actions[src, f]
    return nc + npl
