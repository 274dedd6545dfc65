"""GcPacer: no automatic collection inside the loop, the same collections at idle points, and the
collector's state restored afterwards."""

from __future__ import annotations

import gc
import weakref

from amm500.live.gc_pacer import GcPacer


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector can free it


def test_cycles_wait_for_idle_and_are_collected_there() -> None:
    was = gc.isenabled()
    with GcPacer() as pacer:
        assert not gc.isenabled()
        node = _Node()
        ref = weakref.ref(node)
        del node
        threshold0 = gc.get_threshold()[0]
        keep = [[] for _ in range(2 * threshold0)]  # allocations past the young threshold, no pass runs
        assert ref() is not None
        assert gc.get_count()[0] >= threshold0
        gen = pacer.idle()
        assert gen >= 0 and pacer.collections[gen] == 1
        assert ref() is None  # the cycle was collected at the idle point
        assert pacer.idle() == -1  # nothing is due right after a pass
        del keep
    assert gc.isenabled() == was


def test_collector_state_restored_when_it_was_off() -> None:
    gc.disable()
    try:
        with GcPacer():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
