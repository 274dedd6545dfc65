"""The ladder-diff kernel: known cases, and properties on random ladders (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from amm500.core import api
from amm500.core.order_diff import (
    A_KIND,
    A_PX,
    A_ROW,
    A_SIDE,
    A_SZ,
    ACT_CANCEL,
    ACT_PLACE,
    diff_ladder,
    new_actions,
    new_work,
)


def _ladder(bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> np.ndarray:
    q = api.new_quotes()
    for k, (px, sz) in enumerate(bids):
        q[api.Q_BIDS, k] = (px, sz)
    for k, (px, sz) in enumerate(asks):
        q[api.Q_ASKS, k] = (px, sz)
    return q


def _orders(rows: list[tuple[int, float, float]]) -> np.ndarray:
    o = api.new_orders()
    for k, (side, px, sz) in enumerate(rows):
        o[3 * k + 1, api.O_SIDE] = side  # scattered rows: the kernel must not assume packing
        o[3 * k + 1, api.O_PX] = px
        o[3 * k + 1, api.O_SZ] = sz
    return o


def _diff(q: np.ndarray, nb: int, na: int, o: np.ndarray, tol: float = 0.0, size_tol: float = 0.25) -> np.ndarray:
    a = new_actions()
    n = diff_ladder(q, nb, na, o, tol, size_tol, a, new_work())
    return a[:n]


def test_unchanged_ladder_needs_no_action() -> None:
    q = _ladder([(99.0, 1.0), (98.0, 1.0)], [(101.0, 1.0)])
    o = _orders([(1, 98.0, 1.0), (-1, 101.0, 1.0), (1, 99.0, 1.0)])
    assert _diff(q, 2, 1, o).shape[0] == 0


def test_a_moved_level_is_cancelled_and_replaced_others_keep_their_queue() -> None:
    q = _ladder([(99.0, 1.0), (97.0, 1.0)], [])
    o = _orders([(1, 99.0, 1.0), (1, 98.0, 1.0)])
    a = _diff(q, 2, 0, o)
    assert [int(k) for k in a[:, A_KIND]] == [ACT_CANCEL, ACT_PLACE]  # cancels first
    assert a[0, A_ROW] == 4  # the order at 98
    assert (a[1, A_SIDE], a[1, A_PX], a[1, A_SZ]) == (1, 97.0, 1.0)


def test_tolerance_keeps_a_nearby_order_and_size_change_replaces() -> None:
    q = _ladder([], [(101.0, 1.0), (102.0, 2.0)])
    o = _orders([(-1, 101.004, 1.0), (-1, 102.0, 1.0)])
    a = _diff(q, 0, 2, o, tol=1.0)  # 1 bps of 101 = 0.0101: 101.004 is kept; 102 has the wrong size
    assert [int(k) for k in a[:, A_KIND]] == [ACT_CANCEL, ACT_PLACE]
    assert a[0, A_ROW] == 4 and a[1, A_PX] == 102.0 and a[1, A_SZ] == 2.0


def test_empty_ladder_cancels_everything() -> None:
    o = _orders([(1, 99.0, 1.0), (-1, 101.0, 1.0)])
    a = _diff(_ladder([], []), 0, 0, o)
    assert sorted(a[:, A_ROW].astype(int).tolist()) == [1, 4] and np.all(a[:, A_KIND] == ACT_CANCEL)


prices = st.lists(st.integers(90, 110), min_size=0, max_size=12, unique=True)


@settings(max_examples=150, deadline=None)
@given(want_b=prices, want_a=prices, live_b=prices, live_a=prices)
def test_applying_the_actions_yields_exactly_the_wanted_ladder(want_b: list[int], want_a: list[int],
                                                               live_b: list[int], live_a: list[int]) -> None:
    q = _ladder([(float(p), 1.0) for p in sorted(want_b, reverse=True)],
                [(float(p), 1.0) for p in sorted(want_a)])
    o = _orders([(1, float(p), 1.0) for p in live_b] + [(-1, float(p), 1.0) for p in live_a])
    a = _diff(q, len(want_b), len(want_a), o)
    kinds = a[:, A_KIND].astype(int).tolist()
    assert kinds == sorted(kinds)  # every cancel before every place
    cancelled = {int(r) for r in a[a[:, A_KIND] == ACT_CANCEL, A_ROW]}
    live_rows = [r for r in range(o.shape[0]) if o[r, api.O_SIDE] != 0]
    after = {(int(o[r, api.O_SIDE]), o[r, api.O_PX]) for r in live_rows if r not in cancelled}
    placed = [(int(x[A_SIDE]), x[A_PX]) for x in a if x[A_KIND] == ACT_PLACE]
    after_all = sorted([*after, *placed])
    assert after_all == sorted([(1, float(p)) for p in want_b] + [(-1, float(p)) for p in want_a])
    # minimal: an order already at a wanted price is never touched
    kept_prices = {(1, float(p)) for p in set(want_b) & set(live_b)}
    kept_prices |= {(-1, float(p)) for p in set(want_a) & set(live_a)}
    assert kept_prices <= after
    assert len(a) == len(live_rows) + len(want_b) + len(want_a) - 2 * len(kept_prices)


def test_sorted_rows_are_reused_only_under_the_same_orders_version() -> None:
    o = _orders([(1, 98.0, 1.0), (-1, 101.0, 1.0), (1, 99.0, 1.0)])
    work = new_work()
    first = _ladder([(99.0, 1.0), (97.0, 1.0)], [(101.0, 1.0)])
    other = _ladder([(99.5, 1.0)], [(102.0, 1.0)])
    for q, nb, na in ((first, 2, 1), (other, 1, 1)):  # a changed ladder on the same orders (version 7)
        a = new_actions()
        n = diff_ladder(q, nb, na, o, 0.0, 0.25, a, work, 7)
        assert np.array_equal(a[:n], _diff(q, nb, na, o))
    o[1, api.O_PX] = 97.0  # the orders change (the bid at 98 moves to 97), and so does their version: sorted again
    a = new_actions()
    n = diff_ladder(first, 2, 1, o, 0.0, 0.25, a, work, 8)
    assert np.array_equal(a[:n], _diff(first, 2, 1, o))
    assert n == 0
