"""Kill switch (seed 8C, KillSwitchManager semantics) as jitted checks over the strategy state.

Triggers: drawdown above ``max_drawdown`` of peak equity, ``max_consecutive_losses`` losing round
trips in a row (0 turns only this rule off), or a session loss above ``max_session_loss`` USD. Once
fired the switch stays latched (the strategy cancels everything, flattens with reduce-only IOCs and
quotes nothing) until :func:`kill_reset` is called explicitly by a person or the supervisor; a reset
starts a new session, re-basing peak and session equity on the current equity so the same loss does not re-fire at once.

A *round trip* runs from flat back to flat (or through zero on a flip); its PnL is realized price
PnL minus every fee paid inside it. The accounting is the strategy's own, from ``on_fill``, so it
does not depend on when a driver refreshes ``view``.
"""

from __future__ import annotations

import math

import numpy as np

from amm500.core.jit import array_kernel
from amm500.core.mm_state import (
    S_AVG_PX,
    S_CONSEC_LOSSES,
    S_INIT,
    S_KILL_COUNT,
    S_KILL_REASON,
    S_KILLED,
    S_N_LOSING_TRIPS,
    S_N_ROUND_TRIPS,
    S_PEAK_EQUITY,
    S_POS,
    S_REALIZED_PNL,
    S_REBASE,
    S_SESSION_START_EQUITY,
    S_TRIP_PNL,
)
from amm500.core.params import P_MAX_CONSEC_LOSSES, P_MAX_DRAWDOWN, P_MAX_SESSION_LOSS

KILL_NONE = 0
KILL_DRAWDOWN = 1
KILL_CONSECUTIVE_LOSSES = 2
KILL_SESSION_LOSS = 3
KILL_REASONS = {
    KILL_NONE: "none",
    KILL_DRAWDOWN: "drawdown",
    KILL_CONSECUTIVE_LOSSES: "consecutive losses",
    KILL_SESSION_LOSS: "session loss",
}
_FLAT_EPS = 1e-9  # base units; sizes live on a 1e-5 lot


@array_kernel
def _close_trip(state: np.ndarray) -> None:
    state[S_N_ROUND_TRIPS] += 1.0
    if state[S_TRIP_PNL] < 0.0:
        state[S_CONSEC_LOSSES] += 1.0
        state[S_N_LOSING_TRIPS] += 1.0
    else:
        state[S_CONSEC_LOSSES] = 0.0
    state[S_TRIP_PNL] = 0.0


@array_kernel
def record_round_trip_fill(side: int, px: float, sz: float, fee: float, state: np.ndarray) -> None:
    """Update own position, average entry and round-trip PnL with one fill (fee in USD, + paid)."""
    pos = state[S_POS]
    avg = state[S_AVG_PX]
    state[S_TRIP_PNL] -= fee
    state[S_REALIZED_PNL] -= fee
    if abs(pos) < _FLAT_EPS or (pos > 0.0) == (side > 0):
        new = abs(pos) + sz
        state[S_AVG_PX] = (avg * abs(pos) + px * sz) / new if new > 0.0 else 0.0
        state[S_POS] = pos + side * sz
        return
    closed = min(sz, abs(pos))
    pnl = (px - avg) * closed * (1.0 if pos > 0.0 else -1.0)
    state[S_TRIP_PNL] += pnl
    state[S_REALIZED_PNL] += pnl
    new_pos = pos + side * sz
    if abs(new_pos) < _FLAT_EPS:
        _close_trip(state)
        state[S_POS] = 0.0
        state[S_AVG_PX] = 0.0
    elif (new_pos > 0.0) != (pos > 0.0):  # flipped through zero: a trip ends, a new one opens at px
        _close_trip(state)
        state[S_POS] = new_pos
        state[S_AVG_PX] = px
    else:
        state[S_POS] = new_pos


@array_kernel
def kill_check(equity: float, params: np.ndarray, state: np.ndarray) -> int:
    """Update the equity peak and return the first trigger that fires (KILL_*), 0 when none."""
    if equity > state[S_PEAK_EQUITY]:
        state[S_PEAK_EQUITY] = equity
    peak = state[S_PEAK_EQUITY]
    if peak > 0.0 and (peak - equity) / peak > params[P_MAX_DRAWDOWN]:
        return KILL_DRAWDOWN
    if params[P_MAX_CONSEC_LOSSES] > 0 and state[S_CONSEC_LOSSES] >= params[P_MAX_CONSEC_LOSSES]:
        return KILL_CONSECUTIVE_LOSSES
    if state[S_SESSION_START_EQUITY] - equity > params[P_MAX_SESSION_LOSS]:
        return KILL_SESSION_LOSS
    return KILL_NONE


@array_kernel
def kill_fire(reason: int, state: np.ndarray) -> None:
    state[S_KILLED] = 1.0
    state[S_KILL_REASON] = reason
    state[S_KILL_COUNT] += 1.0


@array_kernel
def kill_reset(state: np.ndarray, equity: float) -> None:
    """Unlatch the switch and start a new session at ``equity`` (NaN: at the next call's equity)."""
    state[S_KILLED] = 0.0
    state[S_KILL_REASON] = 0.0
    state[S_CONSEC_LOSSES] = 0.0
    if math.isfinite(equity) and equity > 0.0:
        state[S_PEAK_EQUITY] = equity
        state[S_SESSION_START_EQUITY] = equity
    else:
        state[S_INIT] = 0.0
        state[S_REBASE] = 1.0


class KillSwitchManager:
    """The live engine's and supervisor's handle on the latched kill switch inside a strategy state."""

    def __init__(self, state: np.ndarray) -> None:
        self.state = state

    @property
    def killed(self) -> bool:
        return bool(self.state[S_KILLED])

    @property
    def reason(self) -> str:
        return KILL_REASONS.get(int(self.state[S_KILL_REASON]), "unknown")

    @property
    def consecutive_losses(self) -> int:
        return int(self.state[S_CONSEC_LOSSES])

    def reset(self, equity: float = math.nan) -> None:
        """Explicit, human-approved reset; re-bases the session on ``equity``."""
        kill_reset(self.state, equity)
