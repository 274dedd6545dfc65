"""RecentIds: the fill dedupe window is bounded and forgets oldest first."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amm500.live.recent_ids import RecentIds


@given(st.lists(st.integers(0, 50), max_size=300), st.integers(1, 20))
def test_matches_a_window_of_the_newest_distinct_ids(ids: list[int], capacity: int) -> None:
    seen = RecentIds(capacity)
    window: list[int] = []  # the model: distinct ids in first-seen order, newest `capacity`
    for i in ids:
        fresh = i not in window
        assert seen.add(i) is fresh
        if fresh:
            window.append(i)
            window = window[-capacity:]
        assert len(seen) == len(window) <= capacity
        assert all(k in seen for k in window)
        assert not any(k in seen for k in set(ids) - set(window))


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        RecentIds(0)
