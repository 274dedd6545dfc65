"""A bounded "seen before?" set for message ids (fill trade ids) of a process that runs for weeks."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable


class RecentIds:
    """The newest ``capacity`` ids, oldest forgotten first.

    Fills are deduplicated by trade id because a reconnect replays a snapshot of recent fills; a
    plain set of every id ever seen grows for as long as the bot runs. The window only has to be
    longer than any replay (Hyperliquid's userFills snapshot holds at most 2000 fills).
    """

    __slots__ = ("_order", "_set", "capacity")

    def __init__(self, capacity: int = 20_000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._set: set[Hashable] = set()
        self._order: deque[Hashable] = deque()

    def __contains__(self, key: object) -> bool:
        return key in self._set

    def __len__(self) -> int:
        return len(self._set)

    def add(self, key: Hashable) -> bool:
        """Remember ``key``; False if it was already there (a duplicate)."""
        if key in self._set:
            return False
        self._set.add(key)
        self._order.append(key)
        if len(self._order) > self.capacity:
            self._set.discard(self._order.popleft())
        return True
