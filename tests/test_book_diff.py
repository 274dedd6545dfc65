"""The snapshot diff: replaying its rows reproduces every snapshot's visible window, never deletes an
out-of-view level, emits nothing redundant, and streams exactly like a batch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amm500.data.book_diff import BookDiffer, check_snapshots, snapshots_to_events
from amm500.data.schema import BOOK_CLEAR, BOOK_LEVEL, NS_PER_DAY, Events

Level = tuple[float, float]
Snap = tuple[list[Level], list[Level]]


def to_arrays(snaps: list[Snap], depth: int) -> tuple[np.ndarray, ...]:
    t = len(snaps)
    bp, bs, ap, az = (np.zeros((t, depth)) for _ in range(4))
    bn = np.zeros(t, dtype=np.int64)
    an = np.zeros(t, dtype=np.int64)
    for i, (bids, asks) in enumerate(snaps):
        bn[i], an[i] = len(bids), len(asks)
        for j, (p, s) in enumerate(bids):
            bp[i, j], bs[i, j] = p, s
        for j, (p, s) in enumerate(asks):
            ap[i, j], az[i, j] = p, s
    return bp, bs, bn, ap, az, an


def in_window(px: float, levels: list[Level], depth: int, bid: bool) -> bool:
    if len(levels) < depth:
        return True
    worst = levels[-1][0]
    return px >= worst if bid else px <= worst


class Replay:
    """A consumer's book fed the emitted rows, checking each row is a real change."""

    def __init__(self) -> None:
        self.book: dict[int, dict[float, float]] = {1: {}, -1: {}}

    def apply(self, ev: Events, i: int) -> None:
        if ev.kind[i] == BOOK_CLEAR:
            self.book[1].clear()
            self.book[-1].clear()
            return
        assert ev.kind[i] == BOOK_LEVEL
        side = self.book[int(ev.side[i])]
        px, sz = float(ev.px[i]), float(ev.sz[i])
        assert side.get(px, 0.0) != sz, f"redundant row {px} {sz}"
        if sz == 0:
            del side[px]
        else:
            side[px] = sz


@st.composite
def snapshot_runs(draw: st.DrawFn) -> tuple[int, list[Snap]]:
    """Books on a small price grid, so levels scroll out of view and come back, sizes often repeat."""
    depth = draw(st.integers(1, 5))
    n = draw(st.integers(1, 40))
    mid = draw(st.integers(20, 40))
    snaps = []
    for _ in range(n):
        mid = min(60, max(15, mid + draw(st.integers(-3, 3))))
        nb = draw(st.integers(0, depth))
        na = draw(st.integers(0, depth))
        bid_px = sorted(draw(st.sets(st.integers(mid - 10, mid - 1), min_size=nb, max_size=nb)), reverse=True)
        ask_px = sorted(draw(st.sets(st.integers(mid, mid + 9), min_size=na, max_size=na)))
        sizes = st.sampled_from([0.5, 1.0, 2.0])
        snaps.append(([(float(p), draw(sizes)) for p in bid_px], [(float(p), draw(sizes)) for p in ask_px]))
    return depth, snaps


def run(depth: int, snaps: list[Snap], ts: np.ndarray | None = None, **kw: object) -> Events:
    ts = np.arange(1, len(snaps) + 1, dtype=np.int64) * 1000 if ts is None else ts
    return snapshots_to_events(ts, ts + 7, *to_arrays(snaps, depth), **kw)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(snapshot_runs())
def test_replay_reproduces_windows_and_keeps_out_of_view_levels(case: tuple[int, list[Snap]]) -> None:
    depth, snaps = case
    ev = run(depth, snaps)
    assert np.all(ev.local_ts == ev.ts + 7)
    replay = Replay()
    model: dict[int, dict[float, float]] = {1: {}, -1: {}}  # the rule itself: known = (known - window) + snapshot
    i = 0
    for s, (bids, asks) in enumerate(snaps):
        ts = (s + 1) * 1000
        rows = []
        while i < len(ev) and ev.ts[i] == ts:
            rows.append(i)
            replay.apply(ev, i)
            i += 1
        assert (ev.kind[rows[0]] == BOOK_CLEAR) == (s == 0) if rows else s > 0
        for side, levels in ((1, bids), (-1, asks)):
            for r in rows:
                if ev.kind[r] == BOOK_LEVEL and ev.side[r] == side and ev.sz[r] == 0:
                    # a delete only ever touches a level inside the new snapshot's window
                    assert in_window(float(ev.px[r]), levels, depth, side == 1)
            model[side] = {p: q for p, q in model[side].items() if not in_window(p, levels, depth, side == 1)}
            model[side].update(dict(levels))
            window = {p: q for p, q in replay.book[side].items() if in_window(p, levels, depth, side == 1)}
            assert window == dict(levels)
            assert replay.book[side] == model[side]
    assert i == len(ev)


@settings(max_examples=60, deadline=None)
@given(snapshot_runs(), st.data())
def test_streaming_equals_batch(case: tuple[int, list[Snap]], data: st.DataObject) -> None:
    depth, snaps = case
    ts = np.arange(1, len(snaps) + 1, dtype=np.int64) * 1000
    batch = run(depth, snaps, ts)
    differ = BookDiffer(depth=depth)
    arrays = to_arrays(snaps, depth)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(snaps) - 1)), max_size=4)))
    parts = []
    for a, b in zip([0, *cuts], [*cuts, len(snaps)], strict=True):
        parts.append(differ.update(ts[a:b], ts[a:b] + 7, *(x[a:b] for x in arrays)))
    streamed = Events.concat(parts)
    for x, y in zip(batch, streamed, strict=True):
        assert np.array_equal(x, y)


def test_known_answer_out_of_view_then_back() -> None:
    depth = 2
    snaps: list[Snap] = [
        ([(100.0, 1.0), (99.0, 1.0)], [(101.0, 1.0), (102.0, 1.0)]),
        ([(102.0, 1.0), (101.5, 1.0)], [(103.0, 1.0), (104.0, 1.0)]),  # price up: bids 100, 99 scroll out of view
        ([(100.0, 1.0), (98.0, 1.0)], [(101.0, 1.0), (102.0, 1.0)]),  # back down: 99 is in the window and gone
    ]
    ev = run(depth, snaps)
    rows = [(int(t) // 1000, int(s), float(p), float(z)) for t, k, s, p, z in
            zip(ev.ts, ev.kind, ev.side, ev.px, ev.sz, strict=True) if k == BOOK_LEVEL]
    assert rows == [
        (1, 1, 100.0, 1.0), (1, 1, 99.0, 1.0), (1, -1, 101.0, 1.0), (1, -1, 102.0, 1.0),
        # asks 101, 102 are better than the new best ask 103: inside the window, deleted
        (2, 1, 102.0, 1.0), (2, 1, 101.5, 1.0), (2, -1, 101.0, 0.0), (2, -1, 102.0, 0.0), (2, -1, 103.0, 1.0),
        (2, -1, 104.0, 1.0),
        # 102 and 101.5 deleted; 100 unchanged (remembered, no row); 99 deleted; 98 new; asks 103/104 out of view
        (3, 1, 102.0, 0.0), (3, 1, 101.5, 0.0), (3, 1, 99.0, 0.0), (3, 1, 98.0, 1.0), (3, -1, 101.0, 1.0),
        (3, -1, 102.0, 1.0),
    ]
    differ = BookDiffer(depth=depth)
    differ.update(np.array([1, 2, 3]), np.array([1, 2, 3]), *to_arrays(snaps, depth))
    assert differ.known_levels(1)[0].tolist() == [100.0, 98.0]
    assert differ.known_levels(-1)[0].tolist() == [101.0, 102.0, 103.0, 104.0]  # 103/104 remembered out of view


def test_new_utc_day_starts_with_clear_and_full_snapshot() -> None:
    depth = 2
    snap: Snap = ([(100.0, 1.0), (99.0, 1.0)], [(101.0, 1.0), (102.0, 1.0)])
    ts = np.array([NS_PER_DAY - 2, NS_PER_DAY - 1, NS_PER_DAY, NS_PER_DAY + 1], dtype=np.int64)
    ev = run(depth, [snap] * 4, ts)
    assert ev.kind.tolist() == [BOOK_CLEAR] + [BOOK_LEVEL] * 4 + [BOOK_CLEAR] + [BOOK_LEVEL] * 4
    assert ev.ts[5] == NS_PER_DAY
    no_day_clear = run(depth, [snap] * 4, ts, clear_each_day=False)
    assert no_day_clear.kind.tolist() == [BOOK_CLEAR] + [BOOK_LEVEL] * 4


def test_memory_is_bounded_and_eviction_is_explicit() -> None:
    """A steady uptrend leaves an ever longer tail of remembered bids; the farthest are deleted explicitly."""
    depth, max_levels = 3, 8
    snaps: list[Snap] = [([(100.0 + s - j, 1.0) for j in range(depth)], [(101.0 + s + j, 1.0) for j in range(depth)])
                         for s in range(0, 60, 2)]
    ts = np.arange(1, len(snaps) + 1, dtype=np.int64)
    differ = BookDiffer(depth=depth, max_levels=max_levels)
    ev = differ.update(ts, ts, *to_arrays(snaps, depth))
    replay = Replay()
    i = 0
    for s, (bids, asks) in enumerate(snaps):
        while i < len(ev) and ev.ts[i] == s + 1:
            replay.apply(ev, i)
            i += 1
        assert len(replay.book[1]) <= max_levels
        assert {p: q for p, q in replay.book[1].items() if p >= bids[-1][0]} == dict(bids)
        assert replay.book[-1] == dict(asks)  # asks move away upwards: old ones are inside the window, deleted
    assert sorted(replay.book[1], reverse=True) == differ.known_levels(1)[0].tolist()
    bid_deletes = ev.take((ev.side == 1) & (ev.sz == 0))
    assert len(bid_deletes) > 0  # only evictions here: bids never leave the window downwards
    worst_visible = np.array([bids[-1][0] for bids, _ in snaps])
    assert np.all(bid_deletes.px < worst_visible[bid_deletes.ts - 1] - 1)


def test_bad_snapshots_are_named() -> None:
    bp, bs, bn, ap, az, an = to_arrays([([(10.0, 1.0), (11.0, 1.0)], [(12.0, 1.0)])], 2)
    assert check_snapshots(bp, bs, bn, ap, az, an) == (0, "levels are not strictly ordered best first (bids "
                                                          "descending, asks ascending)")
    with pytest.raises(ValueError, match="snapshot 0: levels are not strictly ordered"):
        snapshots_to_events(np.array([1]), np.array([1]), bp, bs, bn, ap, az, an)
    with pytest.raises(ValueError, match="sorted by ts"):
        good = to_arrays([([(10.0, 1.0)], [])] * 2, 2)
        snapshots_to_events(np.array([2, 1]), np.array([2, 1]), *good)
    with pytest.raises(ValueError, match="max_levels"):
        BookDiffer(depth=20, max_levels=10)


def test_update_one_matches_batch() -> None:
    snaps: list[Snap] = [([(100.0, 1.0), (99.0, 2.0)], [(101.0, 1.0)]), ([(100.0, 1.5)], [(101.0, 1.0), (102.0, 3.0)])]
    batch = run(2, snaps)
    differ = BookDiffer(depth=2)
    parts = [differ.update_one((i + 1) * 1000, (i + 1) * 1000 + 7, [p for p, _ in b], [q for _, q in b],
                               [p for p, _ in a], [q for _, q in a]) for i, (b, a) in enumerate(snaps)]
    for x, y in zip(batch, Events.concat(parts), strict=True):
        assert np.array_equal(x, y)
    with pytest.raises(ValueError, match="more than 2 levels"):
        differ.update_one(5000, 5000, [3.0, 2.0, 1.0], [1.0, 1.0, 1.0], [], [])
