"""The decorators of AMM-500's Numba kernels.

``array_kernel``: the hot kernels. They only read and write arrays their caller owns and never
allocate, so Numba's reference counting (``_nrt``) is pure overhead there: the atomic incref/decref
around every array argument of every helper call took about half of the backtest replay time
(measured with perf). Without it, Numba refuses to compile a kernel that allocates, which keeps the
rule enforced. ``kernel``: the same for functions that allocate (reference counting on).

Both type a call from compiled code by its arguments' plain types. Numba's own dispatcher compiles
a callee once per *literal* value it is called with (``f(x, 1)`` and ``f(x, -1)`` are two
compilations, each a few tenths of a second); the kernels here never need a value at compile time,
so one specialization per callee serves every call site. That cut about a quarter of the cold
compile (docs/backtest.md, "Compile time").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numba import njit, typeof, types
from numba.core.registry import CPUDispatcher


class PlainDispatcher(CPUDispatcher):
    """A CPU dispatcher that compiles for ``unliteral`` argument types (see the module docstring)."""

    def get_call_template(self, args: Any, kws: Any) -> Any:
        return super().get_call_template(tuple(types.unliteral(a) for a in args),
                                         {k: types.unliteral(v) for k, v in kws.items()})


def compile_for(dispatcher: Any, args: tuple[Any, ...]) -> None:
    """Compile (or load from the cache) ``dispatcher`` for the types of ``args`` without calling it (a
    caller that compiles one kernel while another process compiles the next); nothing under
    ``NUMBA_DISABLE_JIT``."""
    if isinstance(dispatcher, CPUDispatcher):  # not under NUMBA_DISABLE_JIT
        dispatcher.compile(tuple(typeof(a) for a in args))


def plain(decorator: Callable[[Any], Any]) -> Callable[[Callable[..., Any]], Any]:
    """``decorator`` (an ``njit(...)``) whose dispatchers are :class:`PlainDispatcher`."""

    def wrap(func: Callable[..., Any]) -> Any:
        dispatcher = decorator(func)
        if isinstance(dispatcher, CPUDispatcher):  # not under NUMBA_DISABLE_JIT
            dispatcher.__class__ = PlainDispatcher  # same state, one method more: numba builds it as usual
        return dispatcher

    return wrap


array_kernel = plain(njit(cache=True, _nrt=False))  # type: ignore[call-overload]  # private option, missing from the stubs
kernel = plain(njit(cache=True))
# Inlined into its caller by Numba, before typing: only for the few small functions on the per-event path
# (the backtester's level update, book store, best rescans), where a call costs more than the work. Each
# call site is typed again, so a large function inlined this way costs seconds of compile time.
inline_kernel = njit(cache=True, inline="always")
# Compiled once per literal argument value (Numba's own dispatcher): for the ladder builders called with
# side = 1 and side = -1, where the side folds into the level loop. Two compilations each, but the
# 20-level strategy's month ran 13% slower with one shared specialization (docs/backtest.md).
side_kernel = njit(cache=True, _nrt=False)  # type: ignore[call-overload]  # private option, missing from the stubs
