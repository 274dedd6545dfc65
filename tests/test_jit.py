"""The project's kernel decorators compile a callee once, whatever literal values it is called with.

The kernels here are built with the same dispatcher as ``array_kernel`` / ``kernel`` but without Numba's
on-disk cache: a cached caller is loaded without compiling its callees, which would leave nothing to count.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from amm500.core.jit import plain

array_kernel = plain(njit(_nrt=False))  # type: ignore[call-overload]  # as amm500.core.jit.array_kernel, uncached
kernel = plain(njit())


@array_kernel
def _scale(side: int, x: np.ndarray) -> float:
    return side * x[0]


@array_kernel
def _both_sides(x: np.ndarray) -> float:
    return _scale(1, x) + _scale(-1, x) + 2.0 * _scale(1, x)


@kernel
def _allocates(n: int) -> float:
    return float(np.zeros(n).size)


@kernel
def _calls_with_constants() -> float:
    return _allocates(3) + _allocates(4)


def test_literal_arguments_share_one_specialization() -> None:
    # Numba's own dispatcher would compile _scale for Literal[int](1) and Literal[int](-1): two compiles
    assert _both_sides(np.array([2.0])) == 4.0
    assert len(_scale.signatures) == 1
    assert _calls_with_constants() == 7.0
    assert len(_allocates.signatures) == 1
