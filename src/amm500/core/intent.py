"""The strategy's answer -> the venue-neutral commands every driver sends: one rule book, one kernel.

After ``on_timer`` a driver holds ``ctrl`` (kill switch, cancel-all, a reduce-only IOC) and the
wanted ladder in ``quotes``. What to *do* with them (cancel everything on a kill, flatten only when
no IOC is already in flight, keep flattening once per rebalance timer after the kill, act on the
ladder only on a quote timer, and then queue-preservingly via :func:`~amm500.core.order_diff.diff_ladder`)
is decided here, once, for the backtester (inside its Numba loop) and for the paper and live engines
(from Python). Each driver only translates the commands to its venue: a row of ``orders`` to a
cancel, a place to a post-only order, a take to a reduce-only IOC priced at its own touch.

Commands use the :mod:`~amm500.core.order_diff` action layout (``A_KIND``, ``A_ROW``, ``A_SIDE``,
``A_PX``, ``A_SZ``), with one more kind, :data:`ACT_TAKE` (``A_SIDE`` and ``A_SZ`` set; the price is
the driver's: it alone knows its touch and slippage allowance). Order matters and is part of the
contract: cancels of a kill or cancel-all first, then the take, then the ladder diff (its own cancels
before its places, so margin is freed before it is needed).
"""

from __future__ import annotations

import numpy as np

from amm500.core import api
from amm500.core.jit import array_kernel
from amm500.core.order_diff import A_KIND, A_ROW, A_SIDE, A_SIZE, A_SZ, ACT_CANCEL, MAX_ACTIONS, diff_ladder

ACT_TAKE = 3  # a reduce-only IOC of A_SZ on A_SIDE

#: every row cancelled, one take, and a full ladder diff
MAX_COMMANDS = api.MAX_ORDERS + 1 + MAX_ACTIONS


def new_commands() -> np.ndarray:
    return np.zeros((MAX_COMMANDS, A_SIZE))


@array_kernel
def _cancel_rows(orders: np.ndarray, commands: np.ndarray, n: int) -> int:
    for r in range(orders.shape[0]):
        if orders[r, api.O_SIDE] != 0.0:
            commands[n, A_KIND] = ACT_CANCEL
            commands[n, A_ROW] = r
            n += 1
    return n


@array_kernel
def _take(side: int, size: float, position: float, commands: np.ndarray, n: int) -> int:
    """A reduce-only IOC: only against the position, never more than all of it."""
    if side == 0 or side * position >= 0.0 or not size > 0.0:
        return n
    commands[n, A_KIND] = ACT_TAKE
    commands[n, A_SIDE] = side
    commands[n, A_SZ] = min(size, abs(position))
    return n + 1


@array_kernel
def intent_commands(timer: int, kill_latched: bool, ioc_in_flight: bool, position: float, ctrl: np.ndarray,
                    quotes: np.ndarray, n_bids: int, n_asks: int, orders: np.ndarray, tol_bps: float,
                    size_tol: float, commands: np.ndarray, work: np.ndarray, diff_known_empty: bool = False,
                    orders_ver: int = 0) -> int:
    """Write the commands for one timer into ``commands``; returns how many.

    ``kill_latched``: the kill switch fired on an earlier timer (``ctrl`` is then not read: a driver
    may stop calling the strategy). ``ioc_in_flight``: a reduce-only IOC was sent and has not been
    answered; a second one could overshoot the position. ``position`` is the driver's signed
    position; ``quotes[:, :n_bids / n_asks]`` the ladder as the driver will send it (the strategy's
    ``C_N_BIDS`` / ``C_N_ASKS`` levels, after any venue rounding dropped some); ``orders`` its
    resting orders (api layout, rows with ``O_SIDE == 0`` unused, none of them already being
    cancelled); ``work`` the diff's scratch (see :mod:`~amm500.core.order_diff`).
    ``diff_known_empty``: the driver knows the ladder diff would find nothing to do (the same ladder and
    orders as a diff that found nothing: the backtester's memo), so it is not run. ``orders_ver``: see
    :func:`~amm500.core.order_diff.diff_ladder` (0: the driver keeps no version).
    """
    flatten_side = -1 if position > 0.0 else 1
    if kill_latched:
        # stopped: cancel whatever still rests, and keep flattening, once per rebalance timer
        n = _cancel_rows(orders, commands, 0)
        if timer == api.TIMER_REBALANCE and not ioc_in_flight:
            n = _take(flatten_side, abs(position), position, commands, n)
        return n
    if ctrl[api.C_KILLED] > 0.0:
        # it fires now: everything off the book, the whole position out
        n = _cancel_rows(orders, commands, 0)
        if not ioc_in_flight:
            n = _take(flatten_side, abs(position), position, commands, n)
        return n
    n = 0
    cancel_all = ctrl[api.C_CANCEL_ALL] > 0.0
    if cancel_all:
        n = _cancel_rows(orders, commands, 0)
    if not ioc_in_flight:
        n = _take(int(ctrl[api.C_TAKER_SIDE]), ctrl[api.C_TAKER_SZ], position, commands, n)
    if timer != api.TIMER_QUOTE or (diff_known_empty and not cancel_all):
        return n  # the ladder is a quote timer's; a diff known to be empty is not run
    # after a cancel-all nothing rests any more: the whole ladder is new
    if cancel_all:
        return n + diff_ladder(quotes, n_bids, n_asks, orders[:0], tol_bps, size_tol, commands[n:], work, 0)
    return n + diff_ladder(quotes, n_bids, n_asks, orders, tol_bps, size_tol, commands[n:], work, orders_ver)
