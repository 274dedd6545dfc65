"""The ladder's search for a resting order to keep (sorted rows, one forward pointer) picks exactly
what a full scan of every order would pick: the unused order nearest the target within the
tolerance, ties to the higher row."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from amm500.core import api
from amm500.strategy import kernel
from amm500.strategy.mm import _EPS, _keep_resting, clear_kept, collect_rows, mark_kept, side_rows


def _full_scan(side: int, target: float, tol: float, orders: np.ndarray, used: set[int]) -> int:
    best, best_d = -1, tol + _EPS
    for row in range(orders.shape[0]):
        if int(orders[row, api.O_SIDE]) != side or row in used:
            continue
        d = abs(orders[row, api.O_PX] - target)
        if d <= best_d:
            best, best_d = row, d
    return best


@settings(max_examples=300, deadline=None)
@given(
    side=st.sampled_from([1, -1]),
    resting=st.lists(st.tuples(st.sampled_from([1, -1]), st.integers(0, 60)), max_size=40),
    steps=st.lists(st.integers(0, 6), min_size=1, max_size=25),
    tol_ticks=st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.5]),
    start_ticks=st.integers(-5, 65),
)
def test_windowed_search_matches_full_scan(side: int, resting: list[tuple[int, int]], steps: list[int],
                                           tol_ticks: float, start_ticks: int) -> None:
    tick = 0.5
    orders = api.new_orders()
    for row, (s, k) in enumerate(resting):
        orders[row] = (s, 90_000.0 + k * tick, 0.001, 0.0)
    state = kernel.new_state()
    n_bids, n_asks = collect_rows(orders, state)
    n_rows = n_bids if side > 0 else n_asks
    assert (n_bids, n_asks) == (sum(1 for s, _ in resting if s > 0), sum(1 for s, _ in resting if s < 0))
    base = side_rows(side)
    px_rows = [orders[int(state[base + j]), api.O_PX] for j in range(n_rows)]
    assert px_rows == sorted(px_rows, reverse=side > 0)  # best first
    assert all(orders[int(state[base + j]), api.O_SIDE] == side for j in range(n_rows))
    tol = tol_ticks * tick
    used: set[int] = set()
    target = 90_000.0 + (start_ticks if side > 0 else 60 - start_ticks) * tick
    start = 0
    for step in steps:  # each level is at or beyond the previous one, as in build_side
        target -= side * step * tick
        j, start = _keep_resting(side, target, tol, start, n_rows, orders, state)
        got = int(state[base + j]) if j >= 0 else -1
        assert got == _full_scan(side, target, tol, orders, used)
        if j >= 0:
            mark_kept(base, j, state)
            used.add(got)
    # the next ladder on the same orders starts from the same rows, none kept
    clear_kept(n_bids, n_asks, state)
    fresh = kernel.new_state()
    collect_rows(orders, fresh)
    assert np.array_equal(state, fresh)
