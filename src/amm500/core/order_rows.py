"""Our resting orders of one side, best price first: the order in which both the ladder diff
(:mod:`amm500.core.order_diff`) and the strategy's keep-or-replace search walk them."""

from __future__ import annotations

import numpy as np
from numba import njit

from amm500.core import api


@njit(cache=True, inline="always")
def sort_side_rows(orders: np.ndarray, side: int, out: np.ndarray, offset: int) -> int:
    """Rows of ``orders`` (api layout) on ``side`` into ``out[offset:]``, best price first (ties: lower
    row first); returns how many. ``out`` may be an int or a float array (rows are small integers).

    Insertion sort: ladders are short and nearly in order already.
    """
    n = 0
    for r in range(orders.shape[0]):
        if orders[r, api.O_SIDE] == side:
            px = orders[r, api.O_PX]
            k = n
            while k > 0:
                prev = orders[int(out[offset + k - 1]), api.O_PX]
                if not (px > prev if side > 0 else px < prev):
                    break
                out[offset + k] = out[offset + k - 1]
                k -= 1
            out[offset + k] = r
            n += 1
    return n
