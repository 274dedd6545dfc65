"""The decorator of AMM-500's hot Numba kernels.

They only read and write arrays their caller owns and never allocate, so Numba's reference counting
(``_nrt``) is pure overhead there: the atomic incref/decref around every array argument of every
helper call took about half of the backtest replay time (measured with perf). Without it, Numba
refuses to compile a kernel that allocates, which keeps the rule enforced.
"""

from __future__ import annotations

from numba import njit

array_kernel = njit(cache=True, _nrt=False)  # type: ignore[call-overload]  # private option, missing from the stubs
