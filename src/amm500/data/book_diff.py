"""Top-N L2 snapshots -> canonical level updates (kind 1 rows), exactly and in bounded memory.

Hyperliquid publishes its book as 20-level snapshots, while the backtester (and hftbacktest) replays
level updates. The diff keeps the set of levels *known* to the consumer's book (including levels
that scrolled out of view and are still remembered) and, for each new snapshot, emits only what a
consumer needs so that its book equals the snapshot inside the snapshot's visible window:

* the first snapshot (and the first of each UTC day, so every day file replays on its own) emits a
  BOOK_CLEAR (side 0) and every level;
* later snapshots emit a level whose size changed or that is new, and ``sz=0`` for every known level
  inside the visible window that the snapshot no longer shows;
* a level outside the window (the price moved away) is out of view, never deleted;
* the window of a side is everything at or better than its worst shown level when the side shows
  all ``depth`` levels, and the whole side when it shows fewer;
* at most ``max_levels`` levels per side are remembered; beyond that the farthest ones are deleted
  explicitly (``sz=0`` rows, never inside any window) so the consumer's book stays identical to the
  diff's memory.

State per side is one array of *keys* (``-px`` for bids, ``px`` for asks, so smaller is better)
sorted worst-first: the window is then always a tail of the array, and a snapshot costs time in
proportion to the window, not to everything remembered. See docs/data.md for the rules.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from amm500.core.jit import kernel
from amm500.data.schema import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, NS_PER_DAY, Events, make_events

DEFAULT_DEPTH = 20
DEFAULT_MAX_LEVELS = 2000

# Layout of the small int64 state vector shared by the batch and streaming entry points.
_N_BID, _N_ASK, _LAST_DAY, _STARTED = 0, 1, 2, 3


@kernel
def _emit(out_ts: np.ndarray, out_lts: np.ndarray, out_kind: np.ndarray, out_side: np.ndarray,
          out_px: np.ndarray, out_sz: np.ndarray, k: int, ts: int, lts: int, kind: int, side: int,
          px: float, sz: float) -> int:
    out_ts[k] = ts
    out_lts[k] = lts
    out_kind[k] = kind
    out_side[k] = side
    out_px[k] = px
    out_sz[k] = sz
    return k + 1


@kernel
def _diff_side(keys: np.ndarray, sizes: np.ndarray, n_known: int, new_px: np.ndarray, new_sz: np.ndarray,
               n_new: int, depth: int, side: int, ts: int, lts: int, out_ts: np.ndarray, out_lts: np.ndarray,
               out_kind: np.ndarray, out_side: np.ndarray, out_px: np.ndarray, out_sz: np.ndarray, k: int) -> tuple:
    """Diff one side; returns (rows written so far, new known count). ``keys`` is worst-first."""
    sign = -1.0 if side == BID else 1.0
    cap = keys.shape[0]
    # Start of the in-window tail: every known key <= key of the worst shown level (all if the side is short).
    t = 0
    if n_new == depth:
        wkey = sign * new_px[n_new - 1]
        t = n_known
        while t > 0 and keys[t - 1] <= wkey:
            t -= 1
    # Merge the tail (read backwards: best first) with the new levels (best first).
    i = n_known - 1
    j = 0
    while i >= t or j < n_new:
        if j >= n_new or (i >= t and keys[i] < sign * new_px[j]):
            k = _emit(out_ts, out_lts, out_kind, out_side, out_px, out_sz, k, ts, lts, BOOK_LEVEL, side,
                      sign * keys[i], 0.0)
            i -= 1
        elif i < t or sign * new_px[j] < keys[i]:
            k = _emit(out_ts, out_lts, out_kind, out_side, out_px, out_sz, k, ts, lts, BOOK_LEVEL, side,
                      new_px[j], new_sz[j])
            j += 1
        else:
            if sizes[i] != new_sz[j]:
                k = _emit(out_ts, out_lts, out_kind, out_side, out_px, out_sz, k, ts, lts, BOOK_LEVEL, side,
                          new_px[j], new_sz[j])
            i -= 1
            j += 1
    # Forget the farthest levels (explicitly) when memory is full; evict a quarter at once to amortise the shift.
    if t + n_new > cap:
        e = t + n_new - (cap - cap // 4)
        if e > t:
            e = t
        for q in range(e):
            k = _emit(out_ts, out_lts, out_kind, out_side, out_px, out_sz, k, ts, lts, BOOK_LEVEL, side,
                      sign * keys[q], 0.0)
        for q in range(e, t):
            keys[q - e] = keys[q]
            sizes[q - e] = sizes[q]
        t -= e
    for m in range(n_new):
        keys[t + m] = sign * new_px[n_new - 1 - m]
        sizes[t + m] = new_sz[n_new - 1 - m]
    return k, t + n_new


@kernel
def _grow(a: np.ndarray, n: int) -> np.ndarray:
    b = np.empty(max(2 * a.shape[0], n), dtype=a.dtype)
    for i in range(a.shape[0]):  # not ``b[:k] = a``: its shape check compiles Numba's message formatting (~2 s cold)
        b[i] = a[i]
    return b


@kernel
def _diff_kernel(ts: np.ndarray, local_ts: np.ndarray, bid_px: np.ndarray, bid_sz: np.ndarray, bid_n: np.ndarray,
                 ask_px: np.ndarray, ask_sz: np.ndarray, ask_n: np.ndarray, bid_keys: np.ndarray,
                 bid_sizes: np.ndarray, ask_keys: np.ndarray, ask_sizes: np.ndarray, state: np.ndarray,
                 clear_each_day: bool) -> tuple:
    n_snap = ts.shape[0]
    depth = bid_px.shape[1]
    cap = n_snap * 8 + 64
    out_ts = np.empty(cap, dtype=np.int64)
    out_lts = np.empty(cap, dtype=np.int64)
    out_kind = np.empty(cap, dtype=np.uint8)
    out_side = np.empty(cap, dtype=np.int8)
    out_px = np.empty(cap, dtype=np.float64)
    out_sz = np.empty(cap, dtype=np.float64)
    k = 0
    for s in range(n_snap):
        # Worst case for this snapshot: a clear, both full windows deleted and replaced, and evictions.
        need = k + 1 + 2 * (state[_N_BID] + state[_N_ASK]) + 4 * depth + 2
        if need > out_ts.shape[0]:
            out_ts = _grow(out_ts, need)
            out_lts = _grow(out_lts, need)
            out_kind = _grow(out_kind, need)
            out_side = _grow(out_side, need)
            out_px = _grow(out_px, need)
            out_sz = _grow(out_sz, need)
        day = ts[s] // NS_PER_DAY
        if state[_STARTED] == 0 or (clear_each_day and day != state[_LAST_DAY]):
            k = _emit(out_ts, out_lts, out_kind, out_side, out_px, out_sz, k, ts[s], local_ts[s], BOOK_CLEAR, 0,
                      0.0, 0.0)
            state[_N_BID] = 0
            state[_N_ASK] = 0
            state[_STARTED] = 1
        state[_LAST_DAY] = day
        k, state[_N_BID] = _diff_side(bid_keys, bid_sizes, state[_N_BID], bid_px[s], bid_sz[s], bid_n[s], depth, BID,
                                      ts[s], local_ts[s], out_ts, out_lts, out_kind, out_side, out_px, out_sz, k)
        k, state[_N_ASK] = _diff_side(ask_keys, ask_sizes, state[_N_ASK], ask_px[s], ask_sz[s], ask_n[s], depth, ASK,
                                      ts[s], local_ts[s], out_ts, out_lts, out_kind, out_side, out_px, out_sz, k)
    return out_ts[:k], out_lts[:k], out_kind[:k], out_side[:k], out_px[:k], out_sz[:k]


@kernel
def _problems(bid_px: np.ndarray, bid_sz: np.ndarray, bid_n: np.ndarray, ask_px: np.ndarray, ask_sz: np.ndarray,
              ask_n: np.ndarray) -> np.ndarray:
    """Per snapshot: 0 when the diff can take it, else the code of its first problem (see REASONS)."""
    depth = bid_px.shape[1]
    codes = np.zeros(bid_px.shape[0], dtype=np.int8)
    for s in range(bid_px.shape[0]):
        nb, na = bid_n[s], ask_n[s]
        if nb < 0 or nb > depth or na < 0 or na > depth:
            codes[s] = 1
            continue
        for j in range(nb):
            if not (0.0 < bid_px[s, j] < np.inf and 0.0 < bid_sz[s, j] < np.inf):
                codes[s] = 2
            elif j > 0 and not bid_px[s, j] < bid_px[s, j - 1]:
                codes[s] = 3
            if codes[s]:
                break
        if codes[s]:
            continue
        for j in range(na):
            if not (0.0 < ask_px[s, j] < np.inf and 0.0 < ask_sz[s, j] < np.inf):
                codes[s] = 2
            elif j > 0 and not ask_px[s, j] > ask_px[s, j - 1]:
                codes[s] = 3
            if codes[s]:
                break
        if codes[s] == 0 and nb > 0 and na > 0 and bid_px[s, 0] >= ask_px[s, 0]:
            codes[s] = 4
    return codes


#: Meaning of the codes returned by :func:`snapshot_problems`.
REASONS = {
    1: "level count outside 0..depth",
    2: "a shown level has a non-positive or non-finite price or size",
    3: "levels are not strictly ordered best first (bids descending, asks ascending)",
    4: "crossed book (best bid >= best ask)",
}


def snapshot_problems(bid_px: np.ndarray, bid_sz: np.ndarray, bid_n: np.ndarray, ask_px: np.ndarray,
                      ask_sz: np.ndarray, ask_n: np.ndarray) -> np.ndarray:
    """int8 code per snapshot (0: fine; else a key of :data:`REASONS`), vectorised for loaders."""
    a = _prepare(bid_px, bid_sz, bid_n, ask_px, ask_sz, ask_n)
    return np.asarray(_problems(a[0], a[1], a[2], a[3], a[4], a[5]))


def check_snapshots(bid_px: np.ndarray, bid_sz: np.ndarray, bid_n: np.ndarray, ask_px: np.ndarray,
                    ask_sz: np.ndarray, ask_n: np.ndarray) -> tuple[int, str]:
    """Index and reason of the first snapshot the diff would mis-handle, or ``(-1, "")``."""
    codes = snapshot_problems(bid_px, bid_sz, bid_n, ask_px, ask_sz, ask_n)
    bad = np.flatnonzero(codes)
    return (int(bad[0]), REASONS[int(codes[bad[0]])]) if bad.size else (-1, "")


def _prepare(bid_px: np.ndarray, bid_sz: np.ndarray, bid_n: np.ndarray, ask_px: np.ndarray, ask_sz: np.ndarray,
             ask_n: np.ndarray) -> tuple[np.ndarray, ...]:
    arrs = (np.ascontiguousarray(bid_px, dtype=np.float64), np.ascontiguousarray(bid_sz, dtype=np.float64),
            np.ascontiguousarray(bid_n, dtype=np.int64), np.ascontiguousarray(ask_px, dtype=np.float64),
            np.ascontiguousarray(ask_sz, dtype=np.float64), np.ascontiguousarray(ask_n, dtype=np.int64))
    t = arrs[2].shape[0]
    depth = arrs[0].shape[1] if arrs[0].ndim == 2 else -1
    for a in (arrs[0], arrs[1], arrs[3], arrs[4]):
        if a.ndim != 2 or a.shape != (t, depth):
            raise ValueError(f"snapshot price/size arrays must all have shape (T, depth) = ({t}, {depth}); "
                             f"got {a.shape}")
    if arrs[5].shape != (t,):
        raise ValueError(f"bid_n and ask_n must have shape ({t},)")
    return arrs


class BookDiffer:
    """Streaming form of :func:`snapshots_to_events`: feed snapshots in time order, batch by batch.

    The recorder of the local exchange keeps one per coin; a backfill feeds whole files. Both give
    the same rows as one call over the concatenated input.
    """

    def __init__(self, depth: int = DEFAULT_DEPTH, max_levels: int = DEFAULT_MAX_LEVELS, clear_each_day: bool = True):
        if depth < 1:
            raise ValueError(f"depth must be >= 1 (got {depth})")
        if max_levels < 2 * depth:
            raise ValueError(f"max_levels must be >= 2 * depth = {2 * depth} (got {max_levels})")
        self.depth = depth
        self.max_levels = max_levels
        self.clear_each_day = clear_each_day
        self._bid_keys = np.empty(max_levels, dtype=np.float64)
        self._bid_sizes = np.empty(max_levels, dtype=np.float64)
        self._ask_keys = np.empty(max_levels, dtype=np.float64)
        self._ask_sizes = np.empty(max_levels, dtype=np.float64)
        self._state = np.zeros(4, dtype=np.int64)
        self._last_ts: int | None = None

    def reset(self) -> None:
        """Forget everything: the next snapshot starts with a clear."""
        self._state[:] = 0
        self._last_ts = None

    def known_levels(self, side: int) -> tuple[np.ndarray, np.ndarray]:
        """(prices best first, sizes) of the levels the consumer's book holds on ``side`` (+1 bid, -1 ask)."""
        if side == BID:
            n = int(self._state[_N_BID])
            return -self._bid_keys[:n][::-1].copy(), self._bid_sizes[:n][::-1].copy()
        n = int(self._state[_N_ASK])
        return self._ask_keys[:n][::-1].copy(), self._ask_sizes[:n][::-1].copy()

    def update(self, ts: np.ndarray, local_ts: np.ndarray, bid_px: np.ndarray, bid_sz: np.ndarray,
               bid_n: np.ndarray, ask_px: np.ndarray, ask_sz: np.ndarray, ask_n: np.ndarray) -> Events:
        """Diff a batch of snapshots (time-sorted, also against earlier batches) into level updates."""
        arrs = _prepare(bid_px, bid_sz, bid_n, ask_px, ask_sz, ask_n)
        if arrs[0].shape[1] != self.depth:
            raise ValueError(f"snapshots have {arrs[0].shape[1]} levels per side; this differ was built for "
                             f"depth {self.depth}")
        ts = np.ascontiguousarray(ts, dtype=np.int64)
        local_ts = np.ascontiguousarray(local_ts, dtype=np.int64)
        if ts.shape != arrs[2].shape or local_ts.shape != ts.shape:
            raise ValueError("ts and local_ts must have one entry per snapshot")
        if ts.size == 0:
            return Events.empty()
        if np.any(ts[1:] < ts[:-1]) or (self._last_ts is not None and ts[0] < self._last_ts):
            raise ValueError("snapshots must be sorted by ts (also across update() calls)")
        codes = _problems(arrs[0], arrs[1], arrs[2], arrs[3], arrs[4], arrs[5])
        bad = np.flatnonzero(codes)
        if bad.size:
            raise ValueError(f"snapshot {bad[0]}: {REASONS[int(codes[bad[0]])]}")
        out = _diff_kernel(ts, local_ts, arrs[0], arrs[1], arrs[2], arrs[3], arrs[4], arrs[5], self._bid_keys,
                           self._bid_sizes, self._ask_keys, self._ask_sizes, self._state, self.clear_each_day)
        self._last_ts = int(ts[-1])
        return make_events(*out)


    def update_one(self, ts: int, local_ts: int, bid_px: Sequence[float], bid_sz: Sequence[float],
                   ask_px: Sequence[float], ask_sz: Sequence[float]) -> Events:
        """One snapshot from plain sequences (a recorder handling one ``l2Book`` message at a time)."""
        d = self.depth
        if len(bid_px) > d or len(ask_px) > d or len(bid_sz) != len(bid_px) or len(ask_sz) != len(ask_px):
            raise ValueError(f"a side has more than {d} levels, or prices and sizes differ in length")
        rows = np.zeros((4, 1, d))
        rows[0, 0, : len(bid_px)] = bid_px
        rows[1, 0, : len(bid_sz)] = bid_sz
        rows[2, 0, : len(ask_px)] = ask_px
        rows[3, 0, : len(ask_sz)] = ask_sz
        return self.update(np.array([ts]), np.array([local_ts]), rows[0], rows[1], np.array([len(bid_px)]), rows[2],
                           rows[3], np.array([len(ask_px)]))


def snapshots_to_events(ts: np.ndarray, local_ts: np.ndarray, bid_px: np.ndarray, bid_sz: np.ndarray,
                        bid_n: np.ndarray, ask_px: np.ndarray, ask_sz: np.ndarray, ask_n: np.ndarray, *,
                        max_levels: int = DEFAULT_MAX_LEVELS, clear_each_day: bool = True) -> Events:
    """Turn time-sorted snapshots (price/size arrays of shape (T, depth), best level first, the first
    ``*_n[t]`` entries of row t valid) into canonical BOOK_CLEAR / BOOK_LEVEL rows."""
    depth = np.asarray(bid_px).shape[1] if np.asarray(bid_px).ndim == 2 else DEFAULT_DEPTH
    differ = BookDiffer(depth=depth, max_levels=max(max_levels, 2 * depth), clear_each_day=clear_each_day)
    return differ.update(ts, local_ts, bid_px, bid_sz, bid_n, ask_px, ask_sz, ask_n)
