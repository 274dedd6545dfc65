"""The strategy entry points every driver calls.

Two ways in: :func:`on_timer` / :func:`on_fill` dispatch on ``params[P_STRATEGY_ID]`` (the bar
backtester calls them), and :func:`entry_points` hands the *configured* strategy's compiled functions
as typed function pointers (the tick backtester and the live loop). With the dispatch, every strategy
is compiled into the caller whichever is configured (~10 s of a cold compile for the two unused
ones); a pointer compiles only the one in use, and the backtest loop is compiled once for all of them
(a pointer's Numba type is its signature, so ``cache=True`` keeps working: a dispatcher passed as an
argument is typed by its identity and would miss the cache in every new process).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numba import types
from numba.core.errors import NumbaExperimentalFeatureWarning
from numba.core.types import WrapperAddressProtocol
from numba.core.typing.templates import Signature

from amm500.core.jit import array_kernel
from amm500.core.mm_state import GLFT_STATE_MIN_SIZE, STATE_MIN_SIZE
from amm500.core.params import P_STRATEGY_ID, STRATEGY_GLFT, STRATEGY_REFERENCE
from amm500.strategy.glft import glft_book_depth, glft_on_fill, glft_on_timer
from amm500.strategy.mm import mm_book_depth, mm_on_fill, mm_on_timer
from amm500.strategy.reference import reference_on_fill, reference_on_timer


@array_kernel
def on_timer(
    now_ns: int, timer: int, view: np.ndarray, book: np.ndarray, orders: np.ndarray,
    params: np.ndarray, state: np.ndarray, quotes: np.ndarray, ctrl: np.ndarray,
) -> None:
    if int(params[P_STRATEGY_ID]) == STRATEGY_REFERENCE:
        reference_on_timer(now_ns, timer, view, book, orders, params, state, quotes, ctrl)
    elif int(params[P_STRATEGY_ID]) == STRATEGY_GLFT:
        glft_on_timer(now_ns, timer, view, book, orders, params, state, quotes, ctrl)
    else:
        mm_on_timer(now_ns, timer, view, book, orders, params, state, quotes, ctrl)


@array_kernel
def on_fill(
    now_ns: int, side: int, px: float, sz: float, is_maker: bool, fee: float,
    view: np.ndarray, params: np.ndarray, state: np.ndarray,
) -> None:
    if int(params[P_STRATEGY_ID]) == STRATEGY_REFERENCE:
        reference_on_fill(now_ns, side, px, sz, is_maker, fee, view, params, state)
    elif int(params[P_STRATEGY_ID]) == STRATEGY_GLFT:
        glft_on_fill(now_ns, side, px, sz, is_maker, fee, view, params, state)
    else:
        mm_on_fill(now_ns, side, px, sz, is_maker, fee, view, params, state)


# Numba marks its function types experimental (since 0.49); the one use here is a call through a pointer of a
# fixed signature, covered by the backtest tests and the fingerprints (scripts/backtest_fingerprint.py).
warnings.filterwarnings("ignore", "First-class function type", NumbaExperimentalFeatureWarning)

_F1 = types.float64[::1]
_F2 = types.float64[:, ::1]
#: the strategy's two entry points and ``book_depth`` as the drivers call them (core.api's layout, C order)
ON_TIMER_SIG = types.void(types.int64, types.int64, _F1, _F2, _F2, _F1, _F1, types.float64[:, :, ::1], _F1)
ON_FILL_SIG = types.void(types.int64, types.int64, types.float64, types.float64, types.boolean, types.float64,
                         _F1, _F1, _F1)
BOOK_DEPTH_SIG = types.int64(_F1)


class Pointer(WrapperAddressProtocol):
    """A jitted function as a first-class Numba function of one signature (``types.FunctionType``).

    Compiled (or loaded from the cache) when first passed to a kernel. A kernel calls it at its native
    address, as it calls any compiled function (see :func:`_jit_address`)."""

    def __init__(self, dispatcher: Any, sig: Signature) -> None:
        self.dispatcher = dispatcher
        self.sig = sig

    def _address(self, name: str) -> int:
        cres = self.dispatcher.get_compile_result(self.sig)
        return int(cres.library.get_pointer_to_function(getattr(cres.fndesc, name)))

    def __wrapper_address__(self) -> int:
        return self._address("llvm_cfunc_wrapper_name")

    def jit_address(self) -> int:
        return self._address("llvm_func_name")

    def signature(self) -> Signature:
        return self.sig

    def __call__(self, *args: Any) -> Any:
        """A call from Python (and from the loop under ``NUMBA_DISABLE_JIT``): the function itself."""
        return self.dispatcher(*args)


def _patch_jit_address() -> None:
    """Let a kernel call a :class:`Pointer` with Numba's own calling convention.

    Numba unboxes a function-typed argument into two addresses: its C wrapper (a C-ABI call that copies
    every array argument's struct by value) and, only for a Numba dispatcher, the compiled function
    itself; the compiled code calls the second when it is set. Through the wrapper, the reference
    ladder's timer cost ~14% of the hftbacktest bench's events/s; this gives a :class:`Pointer` the
    direct address too. Numba looks the function up by name at every unboxing, so wrapping the module
    attribute is enough; without it (another Numba version) calls go through the wrapper, slower but
    the same results."""
    from numba.experimental import function_type

    original = getattr(function_type, "_get_jit_address", None)
    if original is None or getattr(original, "_amm500", False):
        return

    def _get_jit_address(func: Any, sig: Signature) -> int:
        if isinstance(func, Pointer):
            return func.jit_address()
        return int(original(func, sig))

    _get_jit_address._amm500 = True  # type: ignore[attr-defined]
    function_type._get_jit_address = _get_jit_address


_patch_jit_address()


@array_kernel
def _no_book(params: np.ndarray) -> int:
    return 0


@array_kernel
def _reference_on_timer(
    now_ns: int, timer: int, view: np.ndarray, book: np.ndarray, orders: np.ndarray,
    params: np.ndarray, state: np.ndarray, quotes: np.ndarray, ctrl: np.ndarray,
) -> None:
    """The reference ladder (inlined here) compiled without reference counting, as the other strategies."""
    reference_on_timer(now_ns, timer, view, book, orders, params, state, quotes, ctrl)


@array_kernel
def _reference_on_fill(
    now_ns: int, side: int, px: float, sz: float, is_maker: bool, fee: float,
    view: np.ndarray, params: np.ndarray, state: np.ndarray,
) -> None:
    reference_on_fill(now_ns, side, px, sz, is_maker, fee, view, params, state)


#: what :func:`entry_points` returns: (on_timer, on_fill, book_depth)
Strategy = tuple[Pointer, Pointer, Pointer]


def entry_functions(params: np.ndarray) -> tuple[Any, Any, Any]:
    """The jitted (on_timer, on_fill, book_depth) of the strategy ``params`` names, for a Python caller
    (the live loop): unlike :func:`on_timer`, they compile only that strategy. ``book_depth``: how many
    book levels per side the strategy reads (columns from that one on are never read), so a driver fills
    only those: the backtester's book copy per timer was ~14% of a replay."""
    sid = int(params[P_STRATEGY_ID])
    if sid == STRATEGY_REFERENCE:
        return _reference_on_timer, _reference_on_fill, _no_book
    if sid == STRATEGY_GLFT:
        return glft_on_timer, glft_on_fill, glft_book_depth
    return mm_on_timer, mm_on_fill, mm_book_depth


def entry_points(params: np.ndarray) -> Strategy:
    """:func:`entry_functions` as pointers a kernel can call (the backtest loop)."""
    timer, fill, depth = entry_functions(params)
    return Pointer(timer, ON_TIMER_SIG), Pointer(fill, ON_FILL_SIG), Pointer(depth, BOOK_DEPTH_SIG)


STATE_SIZE = 8192
assert STATE_SIZE >= GLFT_STATE_MIN_SIZE >= STATE_MIN_SIZE


def new_state() -> np.ndarray:
    return np.zeros(STATE_SIZE)
