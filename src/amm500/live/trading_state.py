"""Trading states, as the trusted engines have them: ACTIVE, REDUCING, HALTED. Cancels always pass.

Whatever the strategy asks for, the order manager sends only what the current state lets through
(:meth:`TradingGate.filter`, applied in :meth:`OrderManager.execute`, the last code before the
venue):

* ``ACTIVE``: everything.
* ``REDUCING``: only orders that shrink the position: a reduce-only IOC, and resting orders on the
  side that reduces it, in total no more than the position less what already rests there. A modify
  that no longer passes becomes a plain cancel of its old leg.
* ``HALTED``: nothing but cancels (the old legs of modifies included).

The state is the strictest of the *reasons* currently raised (a stale feed, unreconciled orders, the
kill switch, margin above its limit, a fatal venue error); each is raised and cleared by whoever
sees it, and every change of state is reported to ``on_transition`` (log, journal, metrics).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from amm500.live.order_manager import Plan

log = logging.getLogger(__name__)
_EPS = 1e-12


class TradingState(IntEnum):
    ACTIVE = 0
    REDUCING = 1
    HALTED = 2


@dataclass(frozen=True, slots=True)
class Transition:
    ts_ns: int
    old: TradingState
    new: TradingState
    reasons: tuple[str, ...]  # every reason raised after the change (empty: back to ACTIVE)


class TradingGate:
    """The reasons not to trade freely, and the plan filter they add up to."""

    def __init__(self, on_transition: Callable[[Transition], None] | None = None,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.on_transition = on_transition
        self.clock_ns = clock_ns
        self.reasons: dict[str, TradingState] = {}
        self.state = TradingState.ACTIVE
        self.transitions: list[Transition] = []

    def raise_reason(self, reason: str, level: TradingState) -> None:
        if self.reasons.get(reason) is not level:
            self.reasons[reason] = level
            self._update()

    def clear(self, reason: str) -> None:
        if self.reasons.pop(reason, None) is not None:
            self._update()

    def set(self, reason: str, level: TradingState, on: bool) -> None:
        """Raise ``reason`` at ``level`` while ``on``, clear it otherwise (for conditions polled every timer)."""
        if on:
            self.raise_reason(reason, level)
        else:
            self.clear(reason)

    def _update(self) -> None:
        new = max(self.reasons.values(), default=TradingState.ACTIVE)
        if new is self.state:
            return
        t = Transition(self.clock_ns(), self.state, new, tuple(sorted(self.reasons)))
        self.state = new
        self.transitions.append(t)
        log.warning("trading state %s -> %s (%s)", t.old.name, t.new.name, ", ".join(t.reasons) or "all clear")
        if self.on_transition is not None:
            self.on_transition(t)

    def filter(self, plan: Plan, position: float, resting: tuple[float, float]) -> Plan:
        """What of ``plan`` the state lets through. ``resting``: the size that could still fill on each
        side (bids, asks), counted against the position a REDUCING state may still take off."""
        from amm500.live.order_manager import Plan

        if self.state is TradingState.ACTIVE:
            return plan
        out = Plan(cancels=list(plan.cancels), kept=plan.kept, trimmed=plan.trimmed)
        if self.state is TradingState.HALTED:
            out.cancels += [old for old, _ in plan.modifies]
            return out
        if plan.taker is not None and plan.taker.reduce_only:
            out.taker = plan.taker
        reducing = 1 if position < 0 else -1  # the side whose fills shrink the position (none when flat)
        room = abs(position) - (resting[0] if reducing > 0 else resting[1])
        for old, spec in plan.modifies:
            side = 1 if spec.is_buy else -1
            if position != 0.0 and side == reducing and spec.sz <= room + _EPS:
                out.modifies.append((old, spec))
                room -= spec.sz
            else:
                out.cancels.append(old)
        for spec in plan.places:
            side = 1 if spec.is_buy else -1
            if position != 0.0 and side == reducing and spec.sz <= room + _EPS:
                out.places.append(spec)
                room -= spec.sz
        return out
