"""Queue-position models: how much of a price level stands ahead of one of our resting orders.

L2 data shows a level's total size, never who is in it, so the position of our order is an
estimate. Both models follow hftbacktest (``backtest/models/queue.rs``):

* ``risk_averse``: the size ahead shrinks only when trades print at our price; a shrinking level
  can never hold more ahead of us than its total size (``ahead = min(ahead, level)``), which is the
  only way a cancellation can move us forward.
* ``prob``: a decrease of the level not explained by trades is split between the front and the back
  of the queue, with the share taken from the back ``p = back^n / (back^n + front^n)`` (power n =
  ``queue_power``): ``front' = front - (1-p)·chg + min(back - p·chg, 0)``.

Growth of a level never moves us forward (new orders join behind us).
"""

from __future__ import annotations

import math

from amm500.core.jit import kernel

RISK_AVERSE = 0
PROB = 1


@kernel
def on_trade(ahead: float, cum_trade: float, qty: float) -> tuple[float, float]:
    """A trade of ``qty`` at our price: returns (ahead, trade volume not yet seen in a depth update).

    ``ahead`` going below zero by a lot or more (:func:`reached`) means the trade reached us; the
    caller fills ``-ahead`` (in whole lots).
    """
    return ahead - qty, cum_trade + qty


@kernel
def reached(ahead: float, lot: float) -> bool:
    """Whether prints have passed our place in the queue: decided in whole lots, not on a float's sign.

    ``ahead`` is sizes minus prints; when the prints exactly equal the queue ahead, rounding can leave
    -1e-17 and ``ahead < 0`` would fill an order nobody traded against. The overshoot must be at least
    one lot (to 1e-9 of a lot), as in hftbacktest, whose ``is_filled`` returns
    ``floor(-front / lot) * lot`` and fills nothing while that is zero; a partial fill can then
    always take at least one lot.
    """
    return math.floor(-ahead / lot + 1e-9) >= 1


@kernel
def on_depth(model: int, power: float, ahead: float, cum_trade: float, prev_qty: float,
             new_qty: float) -> tuple[float, float]:
    """The level at our price changed from ``prev_qty`` to ``new_qty``: returns (ahead, cum_trade)."""
    if model == RISK_AVERSE or new_qty >= prev_qty:
        return min(ahead, new_qty), 0.0
    chg = prev_qty - new_qty - cum_trade  # trades already advanced us: do not count them twice
    if chg <= 0.0:
        return min(ahead, new_qty), 0.0
    front = max(ahead, 0.0)
    back = max(prev_qty - front, 0.0)
    fb = back**power
    ff = front**power
    p = fb / (fb + ff) if fb + ff > 0.0 else 1.0
    est = front - (1.0 - p) * chg + min(back - p * chg, 0.0)
    return min(max(est, 0.0), new_qty), 0.0
