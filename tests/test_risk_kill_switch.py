"""Kill switch: drawdown, consecutive losing round trips, session loss; latch, flatten and reset."""

from __future__ import annotations

import numpy as np
import pytest

from amm500.core import api
from amm500.core.mm_state import S_CONSEC_LOSSES, S_N_ROUND_TRIPS, S_POS, S_REALIZED_PNL
from amm500.core.params import P_MAX_CONSEC_LOSSES, P_MAX_DRAWDOWN, P_MAX_SESSION_LOSS
from amm500.risk.kill_switch import (
    KILL_CONSECUTIVE_LOSSES,
    KILL_DRAWDOWN,
    KILL_SESSION_LOSS,
    KillSwitchManager,
)
from mm_helpers import T0, make_strategy, mm_params

SEC = 10**9


def _drop_equity_to(params: np.ndarray, equity: float, peak: float = 1000.0, position: float = 0.0):  # type: ignore[no-untyped-def]
    s = make_strategy(params, equity=peak, position=position)
    s.on_timer(T0, api.TIMER_QUOTE)
    s.view[api.V_EQUITY] = equity
    s.on_timer(T0 + SEC, api.TIMER_QUOTE)
    return s


def test_drawdown_at_below_above() -> None:
    p = mm_params(risk__max_session_loss=1e9)
    dd = p[P_MAX_DRAWDOWN]
    at = 1000.0 * (1.0 - dd)
    # compute the drawdown exactly as the kernel does, then nudge the equity by one ulp each way
    assert (1000.0 - at) / 1000.0 <= dd
    for eq, fired in ((at, False), (np.nextafter(at, np.inf), False), (np.nextafter(at - 1e-9, 0.0), True)):
        s = _drop_equity_to(p, eq)
        assert s.killed is fired
        if fired:
            assert s.ctrl[api.C_KILL_REASON] == KILL_DRAWDOWN


def test_session_loss_at_below_above() -> None:
    p = mm_params(risk__max_drawdown=0.99)
    limit = p[P_MAX_SESSION_LOSS]
    for loss, fired in ((limit, False), (limit - 0.01, False), (limit + 0.01, True)):
        s = _drop_equity_to(p, 1000.0 - loss)
        assert s.killed is fired
        if fired:
            assert s.ctrl[api.C_KILL_REASON] == KILL_SESSION_LOSS


def _round_trips(s, pnls: list[float]) -> None:  # type: ignore[no-untyped-def]
    """One buy then one sell of 0.01 per trip; trip PnL = (sell - buy) * 0.01 - fees."""
    for pnl in pnls:
        s.on_fill(T0, 1, 90_000.0, 0.01, True, 0.0)
        s.on_fill(T0, -1, 90_000.0 + pnl / 0.01, 0.01, True, 0.0)


def test_consecutive_losses_at_below_above() -> None:
    p = mm_params()
    n = int(p[P_MAX_CONSEC_LOSSES])
    for losses, fired in ((n - 1, False), (n, True), (n + 1, True)):
        s = make_strategy(p)
        _round_trips(s, [-1.0] * losses)
        s.on_timer(T0, api.TIMER_QUOTE)
        assert s.killed is fired
        if fired:
            assert s.ctrl[api.C_KILL_REASON] == KILL_CONSECUTIVE_LOSSES
    s = make_strategy(p)
    _round_trips(s, [-1.0] * (n - 1) + [0.5] + [-1.0] * (n - 1))  # a win resets the streak
    s.on_timer(T0, api.TIMER_QUOTE)
    assert not s.killed and s.state[S_CONSEC_LOSSES] == n - 1


def test_round_trip_accounting_counts_fees_and_flips() -> None:
    s = make_strategy()
    s.on_fill(T0, 1, 100.0, 1.0, True, 0.0)
    s.on_fill(T0, 1, 102.0, 1.0, True, 0.0)  # long 2 @ 101
    s.on_fill(T0, -1, 101.5, 3.0, False, 0.2)  # closes 2 (+1.0) less 0.2 fee, flips short 1 @ 101.5
    assert s.state[S_N_ROUND_TRIPS] == 1 and s.state[S_CONSEC_LOSSES] == 0
    assert s.state[S_POS] == pytest.approx(-1.0)
    assert s.state[S_REALIZED_PNL] == pytest.approx(0.8)
    s.on_fill(T0, 1, 101.4, 1.0, True, 0.15)  # +0.1 price, -0.15 fee: a losing trip
    assert s.state[S_N_ROUND_TRIPS] == 2 and s.state[S_CONSEC_LOSSES] == 1
    assert s.state[S_POS] == 0.0


def test_killed_latches_cancels_flattens_and_resets_explicitly() -> None:
    p = mm_params()
    s = _drop_equity_to(p, 800.0, position=0.004)  # 20% drawdown
    c = s.ctrl
    assert c[api.C_KILLED] == 1 and c[api.C_CANCEL_ALL] == 1 and c[api.C_N_BIDS] == 0 and c[api.C_N_ASKS] == 0
    assert c[api.C_TAKER_SIDE] == -1 and c[api.C_TAKER_SZ] == pytest.approx(0.004)
    # equity recovers: still latched, still flattening on rebalance, never quoting
    s.view[api.V_EQUITY] = 1000.0
    s.view[api.V_OPEN_ORDERS] = 0
    s.on_timer(T0 + 2 * SEC, api.TIMER_QUOTE)
    assert s.killed and c[api.C_N_BIDS] == 0 and c[api.C_CANCEL_ALL] == 0 and c[api.C_TAKER_SIDE] == 0
    s.on_timer(T0 + 3 * SEC, api.TIMER_REBALANCE)
    assert c[api.C_TAKER_SIDE] == -1
    s.view[api.V_POSITION] = 0.0
    s.view[api.V_EQUITY] = 800.0
    ks = KillSwitchManager(s.state)
    assert ks.killed and ks.reason == "drawdown"
    ks.reset(800.0)  # a new session at the current equity
    s.on_timer(T0 + 4 * SEC, api.TIMER_QUOTE)
    assert not s.killed and c[api.C_KILLED] == 0 and c[api.C_N_BIDS] > 0


def test_reset_without_equity_rebases_on_next_call() -> None:
    s = _drop_equity_to(mm_params(), 800.0)
    assert s.killed
    s.reset_kill_switch()
    s.on_timer(T0 + 2 * SEC, api.TIMER_QUOTE)
    assert not s.killed and s.ctrl[api.C_N_BIDS] > 0


def test_kill_switch_disabled() -> None:
    s = _drop_equity_to(mm_params(risk__kill_switch_enabled=False), 500.0)
    assert not s.killed and s.ctrl[api.C_N_BIDS] > 0
