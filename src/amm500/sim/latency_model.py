"""Order and response latency: constant, or lognormal around the configured mean (seeded).

A lognormal draw ``base * exp(sigma*z - sigma^2/2)`` keeps the configured value as the mean while
giving the right-skewed tail real round trips have. Each message stream (orders out, responses back)
is one connection, so arrivals keep their send order: a draw never lets a later message overtake an
earlier one (``arrival = max(previous arrival, now + draw)``).
"""

from __future__ import annotations

import math

import numpy as np

from amm500.core.jit import inline_kernel, kernel

CONSTANT = 0
LOGNORMAL = 1


@kernel
def seed(value: int) -> None:
    """Seed Numba's generator (separate from NumPy's in Python)."""
    np.random.seed(value)


@inline_kernel
def draw(model: int, base_ns: float, sigma: float) -> int:
    if model == CONSTANT or base_ns <= 0.0 or sigma <= 0.0:
        return int(base_ns)
    z = np.random.standard_normal()
    return int(base_ns * math.exp(sigma * z - 0.5 * sigma * sigma))


@inline_kernel
def arrival(now_ns: int, last_arrival_ns: int, model: int, base_ns: float, sigma: float) -> int:
    t = now_ns + draw(model, base_ns, sigma)
    return t if t > last_arrival_ns else last_arrival_ns
