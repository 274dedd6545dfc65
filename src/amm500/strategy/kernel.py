"""The strategy entry points every driver calls; dispatches on ``params[P_STRATEGY_ID]``.

Keeping one pair of module-level jitted functions (rather than passing functions around) lets the
backtester's Numba loop call the strategy directly and keeps ``cache=True`` working.
"""

from __future__ import annotations

import numpy as np

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


@array_kernel
def book_depth(params: np.ndarray) -> int:
    """How many book levels per side the strategy reads (``book`` columns from this one on are never
    read), so a driver fills only those: the backtester's book copy per timer was ~14% of a replay."""
    if int(params[P_STRATEGY_ID]) == STRATEGY_REFERENCE:
        return 0
    if int(params[P_STRATEGY_ID]) == STRATEGY_GLFT:
        return glft_book_depth(params)
    return mm_book_depth(params)


STATE_SIZE = 8192
assert STATE_SIZE >= GLFT_STATE_MIN_SIZE >= STATE_MIN_SIZE


def new_state() -> np.ndarray:
    return np.zeros(STATE_SIZE)
