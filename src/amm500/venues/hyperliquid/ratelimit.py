"""Hyperliquid's two request budgets: IP weight per minute and the per-address action budget.

The IP budget (1200 weight per rolling minute, shared by REST and WebSocket posts) is enforced
locally so the bot waits instead of collecting HTTP 429s. The address budget (10,000 + 1 request
per USDC traded, each order in a batch counting one) lives on the exchange; we mirror it from
``userRateLimit`` and count our own actions in between.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from amm500.venues.hyperliquid.errors import RateLimited

IP_WEIGHT_PER_MIN = 1200
_INFO_WEIGHT_2 = frozenset(
    {"l2Book", "allMids", "clearinghouseState", "orderStatus", "spotClearinghouseState", "exchangeStatus"}
)
_ITEM_PRICED = frozenset({"userFills", "userFillsByTime", "fundingHistory", "userFunding", "historicalOrders"})


def exchange_weight(n_items: int) -> int:
    """/exchange costs 1 + floor(batch length / 40)."""
    return 1 + n_items // 40


def info_weight(body: Mapping[str, Any]) -> int:
    """Base weight of an /info request (items returned add more: see :func:`info_extra_weight`)."""
    kind = body.get("type")
    if kind in _INFO_WEIGHT_2:
        return 2
    if kind == "userRole":
        return 60
    return 20


def info_extra_weight(body: Mapping[str, Any], answer: Any) -> int:
    """+1 per 20 items for fills/funding-style answers, +1 per 60 candles."""
    if not isinstance(answer, list):
        return 0
    kind = body.get("type")
    if kind in _ITEM_PRICED:
        return len(answer) // 20
    if kind == "candleSnapshot":
        return len(answer) // 60
    return 0


class WeightBudget:
    """A rolling-window limiter: at most ``limit`` weight in any ``window_s`` seconds."""

    def __init__(
        self, limit: int = IP_WEIGHT_PER_MIN, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._spent: deque[tuple[float, int]] = deque()
        self._total = 0
        self.waits = 0  # how often a caller had to wait (a metric: should stay near 0)

    def _expire(self, now: float) -> None:
        while self._spent and now - self._spent[0][0] >= self.window_s:
            self._total -= self._spent.popleft()[1]

    def used(self) -> int:
        self._expire(self._clock())
        return self._total

    def delay_for(self, weight: int) -> float:
        """Seconds until ``weight`` fits (0 if it fits now)."""
        now = self._clock()
        self._expire(now)
        if self._total + weight <= self.limit:
            return 0.0
        need = self._total + weight - self.limit
        freed = 0
        for t, w in self._spent:
            freed += w
            if freed >= need:
                return max(0.0, t + self.window_s - now)
        return self.window_s

    def spend(self, weight: int) -> None:
        """Record weight already used (e.g. the item-priced part of an answer)."""
        if weight > 0:
            self._spent.append((self._clock(), weight))
            self._total += weight

    def try_spend(self, weight: int) -> bool:
        if self.delay_for(weight) > 0:
            return False
        self.spend(weight)
        return True

    async def acquire(self, weight: int) -> None:
        while True:
            delay = self.delay_for(weight)
            if delay <= 0:
                self.spend(weight)
                return
            self.waits += 1
            await asyncio.sleep(delay)


#: how Hyperliquid words an action refused for the address budget
BUDGET_SPENT = "Too many cumulative requests"


class AddressBudget:
    """Mirror of the exchange's per-address action budget (refreshed from ``userRateLimit``)."""

    def __init__(self, cap: int = 10_000, used: int = 0) -> None:
        self.cap = cap
        self.used = used

    def sync(self, used: int, cap: int) -> None:
        self.used, self.cap = used, cap

    @property
    def remaining(self) -> int:
        return self.cap - self.used

    def cancel_remaining(self) -> int:
        """Cancels have more room: min(cap + 100000, 2 * cap)."""
        return min(self.cap + 100_000, 2 * self.cap) - self.used

    def spend(self, n_items: int) -> None:
        self.used += n_items

    def check_answer(self, answer: Any) -> None:
        """An action refused because the budget is spent: mark it spent (the engine halts new orders
        until it recovers) and raise :class:`RateLimited`, so the order manager undoes the request."""
        if isinstance(answer, dict) and answer.get("status") == "err" and BUDGET_SPENT in str(answer.get("response")):
            self.used = max(self.used, self.cap)
            raise RateLimited(f"address request budget spent: {str(answer.get('response'))[:200]}", 429)
