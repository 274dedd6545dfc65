"""Hyperliquid's request limits as rules a driver applies before sending (the backtester today).

Two budgets (``../shared/reference/hyperliquid-api.md`` section 6):

* **address** (actions only): ``10,000 + 1 per USDC of cumulative traded volume`` requests; every
  order, cancel and modify in a batch counts one. Once used up, one request per 10 s gets through.
  Cancels have more room: ``min(budget + 100,000, 2 x budget)``.
* **IP weight**: 1200 per minute; an ``/exchange`` action weighs ``1 + floor(batch length / 40)``.

A strategy that would be throttled live must be throttled in its backtest: these numbers live here
once (the live client's mirror, ``venues/hyperliquid/ratelimit.py``, predates this module and
repeats ``IP_WEIGHT_PER_MIN`` and the cancel rule; it should import them from here).
"""

from __future__ import annotations

from amm500.core.jit import array_kernel

ADDRESS_BASE_REQUESTS = 10_000
REQUESTS_PER_USDC = 1.0
THROTTLED_INTERVAL_S = 10.0
CANCEL_EXTRA_REQUESTS = 100_000
IP_WEIGHT_PER_MIN = 1200
ITEMS_PER_EXTRA_WEIGHT = 40


@array_kernel
def address_budget(traded_usd: float) -> float:
    """Requests an address may have used, given its cumulative traded volume (USD)."""
    return ADDRESS_BASE_REQUESTS + REQUESTS_PER_USDC * traded_usd


@array_kernel
def cancel_budget(budget: float) -> float:
    """The larger ceiling cancels may use: ``min(budget + 100,000, 2 x budget)``."""
    return min(budget + CANCEL_EXTRA_REQUESTS, 2.0 * budget)


@array_kernel
def exchange_weight(n_items: int) -> int:
    """IP weight of one ``/exchange`` action carrying ``n_items`` orders or cancels."""
    return 1 + n_items // ITEMS_PER_EXTRA_WEIGHT


@array_kernel
def address_allows(used: float, traded_usd: float, is_cancel: bool, now_ns: int,
                   last_slow_ns: int) -> tuple[bool, bool]:
    """(allowed, via the slow lane): under the budget every request passes; over it, one request per
    ``THROTTLED_INTERVAL_S`` since the last one that passed that way."""
    cap = address_budget(traded_usd)
    if is_cancel:
        cap = cancel_budget(cap)
    if used < cap:
        return True, False
    if last_slow_ns <= 0 or now_ns - last_slow_ns >= THROTTLED_INTERVAL_S * 1e9:
        return True, True
    return False, False
