"""A price-indexed L2 book for the backtester: O(1) level updates, best price kept incrementally.

With a fixed tick ($1 for BTC) a level lives at ``index = round(px / tick) - base``; one float array
per side holds sizes, so an update is a store plus (rarely) a short scan for the next best level.
Two books share one array: book 0 is the exchange's (matching, in exchange time) and book 1 is what
the strategy has seen (in local time), after hftbacktest's local/exchange split.

The per-event functions are inlined into the kernel (``inline="always"``): a Numba call with array
arguments costs more than the update itself.

Layout: ``lv[book, side, index]`` sizes (side 0 bids, 1 asks) and ``bi[book, field]`` int64 with
the best indices (-1 when the side is empty) and the touched index range of each side, which
bounds scans and lets a clear reset only what was written.
"""

from __future__ import annotations

import numpy as np

from amm500.core.jit import inline_kernel, kernel

N_LEVELS = 1 << 20  # index space: +-524k ticks around the first price ($1 tick: +-$524k)

EXCH = 0
LOCAL = 1
S_BID = 0
S_ASK = 1

BI_BEST_BID = 0
BI_BEST_ASK = 1
BI_LO_BID = 2
BI_HI_BID = 3
BI_LO_ASK = 4
BI_HI_ASK = 5
BI_SIZE = 6


def new_books() -> tuple[np.ndarray, np.ndarray]:
    """(lv, bi) for the exchange and the local book, both empty."""
    lv = np.zeros((2, 2, N_LEVELS))
    bi = np.empty((2, BI_SIZE), dtype=np.int64)
    for b in range(2):
        reset_index(bi, b)
    return lv, bi


@kernel
def reset_index(bi: np.ndarray, b: int) -> None:
    bi[b, BI_BEST_BID] = -1
    bi[b, BI_BEST_ASK] = -1
    bi[b, BI_LO_BID] = N_LEVELS
    bi[b, BI_HI_BID] = -1
    bi[b, BI_LO_ASK] = N_LEVELS
    bi[b, BI_HI_ASK] = -1


@inline_kernel
def _rescan_bid(lv: np.ndarray, bi: np.ndarray, b: int, start: int) -> None:
    lo = bi[b, BI_LO_BID]
    k = start
    while k >= lo:
        if lv[b, S_BID, k] > 0.0:
            bi[b, BI_BEST_BID] = k
            return
        k -= 1
    bi[b, BI_BEST_BID] = -1


@inline_kernel
def _rescan_ask(lv: np.ndarray, bi: np.ndarray, b: int, start: int) -> None:
    hi = bi[b, BI_HI_ASK]
    k = start
    while k <= hi:
        if lv[b, S_ASK, k] > 0.0:
            bi[b, BI_BEST_ASK] = k
            return
        k += 1
    bi[b, BI_BEST_ASK] = -1


@inline_kernel
def set_level(lv: np.ndarray, bi: np.ndarray, b: int, s: int, idx: int, sz: float) -> float:
    """Set one level's absolute size; returns the previous size.

    A level that crosses the other side's best removes the crossed levels there (the data says they
    traded or were pulled; a crossed book would otherwise freeze the best prices).
    """
    old = lv[b, s, idx]
    lv[b, s, idx] = sz
    if s == S_BID:
        if sz > 0.0:
            if idx < bi[b, BI_LO_BID]:
                bi[b, BI_LO_BID] = idx
            if idx > bi[b, BI_HI_BID]:
                bi[b, BI_HI_BID] = idx
            if idx > bi[b, BI_BEST_BID]:
                bi[b, BI_BEST_BID] = idx
            ba = bi[b, BI_BEST_ASK]
            if ba >= 0 and idx >= ba:
                for k in range(ba, idx + 1):
                    lv[b, S_ASK, k] = 0.0
                _rescan_ask(lv, bi, b, idx + 1)
        elif idx == bi[b, BI_BEST_BID]:
            _rescan_bid(lv, bi, b, idx - 1)
    else:
        if sz > 0.0:
            if idx < bi[b, BI_LO_ASK]:
                bi[b, BI_LO_ASK] = idx
            if idx > bi[b, BI_HI_ASK]:
                bi[b, BI_HI_ASK] = idx
            if bi[b, BI_BEST_ASK] < 0 or idx < bi[b, BI_BEST_ASK]:
                bi[b, BI_BEST_ASK] = idx
            bb = bi[b, BI_BEST_BID]
            if bb >= 0 and idx <= bb:
                for k in range(idx, bb + 1):
                    lv[b, S_BID, k] = 0.0
                _rescan_bid(lv, bi, b, idx - 1)
        elif idx == bi[b, BI_BEST_ASK]:
            _rescan_ask(lv, bi, b, idx + 1)
    return old


@kernel
def clear_side(lv: np.ndarray, bi: np.ndarray, b: int, s: int) -> None:
    """Empty one side (only the touched range is written)."""
    if s == S_BID:
        lo, hi = bi[b, BI_LO_BID], bi[b, BI_HI_BID]
        bi[b, BI_BEST_BID] = -1
        bi[b, BI_LO_BID] = N_LEVELS
        bi[b, BI_HI_BID] = -1
    else:
        lo, hi = bi[b, BI_LO_ASK], bi[b, BI_HI_ASK]
        bi[b, BI_BEST_ASK] = -1
        bi[b, BI_LO_ASK] = N_LEVELS
        bi[b, BI_HI_ASK] = -1
    for k in range(max(lo, 0), hi + 1):
        lv[b, s, k] = 0.0


@inline_kernel
def fill_top(lv: np.ndarray, bi: np.ndarray, b: int, base: int, tick: float, out: np.ndarray, depth: int,
             max_scan: int) -> None:
    """Write the best ``depth`` levels per side into the first columns of the strategy's (4, N) book
    array (0 = empty); columns from ``depth`` on are left alone, the strategy said it does not read them."""
    depth = min(depth, out.shape[1])
    if depth <= 0:
        return
    out[:, :depth] = 0.0
    k = bi[b, BI_BEST_BID]
    lo = bi[b, BI_LO_BID]
    n = 0
    scanned = 0
    while k >= lo and n < depth and scanned < max_scan:
        sz = lv[b, S_BID, k]
        if sz > 0.0:
            out[0, n] = (k + base) * tick
            out[1, n] = sz
            n += 1
        k -= 1
        scanned += 1
    k = bi[b, BI_BEST_ASK]
    hi = bi[b, BI_HI_ASK]
    n = 0
    scanned = 0
    if k < 0:
        return
    while k <= hi and n < depth and scanned < max_scan:
        sz = lv[b, S_ASK, k]
        if sz > 0.0:
            out[2, n] = (k + base) * tick
            out[3, n] = sz
            n += 1
        k += 1
        scanned += 1
