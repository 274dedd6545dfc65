"""The quote timer's "nothing moved" path: the strategy says when its ladder is the previous quote
timer's (``C_LADDER_SAME``), and a driver that knows the diff would be empty skips it
(``intent_commands(..., diff_known_empty=True)``); the backtester's hashes prove the skip changes no
result (scripts/backtest_fingerprint.py), these pin the rules it relies on."""

from __future__ import annotations

import numpy as np

from amm500.core import api
from amm500.core.intent import ACT_TAKE, intent_commands, new_commands
from amm500.core.order_diff import A_KIND, ACT_CANCEL, new_work
from mm_helpers import T0, make_strategy, mm_params, set_book

HALF_S = 500_000_000


def _same(strat: object, timer: int = api.TIMER_QUOTE, now: int = T0) -> bool:
    strat.on_timer(now, timer)  # type: ignore[attr-defined]
    return bool(strat.ctrl[api.C_LADDER_SAME] > 0.0)  # type: ignore[attr-defined]


def test_the_same_inputs_give_the_same_ladder_and_say_so() -> None:
    s = make_strategy(mm_params(trading__imbalance_skew_enabled=False))
    assert not _same(s)  # the first ladder has nothing to be the same as
    first = (s.bids(), s.asks())
    assert _same(s, now=T0 + HALF_S)
    assert all(np.array_equal(a, b) for a, b in zip(first, (s.bids(), s.asks()), strict=True))
    # other timers build nothing and do not break the chain
    assert not _same(s, api.TIMER_REBALANCE, T0 + 2 * HALF_S)
    assert _same(s, now=T0 + 3 * HALF_S)


def test_a_moved_market_or_a_quote_timer_without_a_ladder_breaks_it() -> None:
    s = make_strategy(mm_params(trading__imbalance_skew_enabled=False))
    _same(s)
    set_book(s, 89_899.0, 89_901.0)  # the market moved 100 USD: every level moves
    assert not _same(s, now=T0 + HALF_S)
    assert _same(s, now=T0 + 2 * HALF_S)
    s.view[api.V_BOOK_AGE_MS] = 1e9  # stale: this quote timer builds no ladder
    assert not _same(s, now=T0 + 3 * HALF_S) and s.ctrl[api.C_N_BIDS] == 0
    s.view[api.V_BOOK_AGE_MS] = 0.0
    assert not _same(s, now=T0 + 4 * HALF_S)  # the same ladder as two quote timers ago is not "the previous"
    assert _same(s, now=T0 + 5 * HALF_S)


def test_a_changed_resting_order_that_changes_the_ladder_breaks_it() -> None:
    s = make_strategy(mm_params(trading__imbalance_skew_enabled=False))
    _same(s)
    bids = s.bids()
    s.orders[0, api.O_SIDE] = 1  # an order resting within tolerance of level 1: kept at its own price
    s.orders[0, api.O_PX] = bids[1, 0] + 1.0
    s.orders[0, api.O_SZ] = bids[1, 1]
    assert not _same(s, now=T0 + HALF_S)
    assert s.bids()[1, 0] == bids[1, 0] + 1.0
    assert _same(s, now=T0 + 2 * HALF_S)


def _ladder_and_orders() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    quotes = api.new_quotes()
    quotes[api.Q_BIDS, 0] = (89_990.0, 0.001)
    quotes[api.Q_ASKS, 0] = (90_010.0, 0.001)
    orders = api.new_orders()
    orders[0] = (1, 89_980.0, 0.001, 0.0)  # moved: a diff would cancel it and place the new bid
    ctrl = api.new_ctrl()
    ctrl[api.C_N_BIDS] = ctrl[api.C_N_ASKS] = 1
    return quotes, orders, ctrl


def _commands(known_empty: bool, ctrl: np.ndarray, quotes: np.ndarray, orders: np.ndarray,
              position: float = 0.0) -> np.ndarray:
    cmds = new_commands()
    n = intent_commands(api.TIMER_QUOTE, False, False, position, ctrl, quotes, 1, 1, orders, 0.5, 0.25, cmds,
                        new_work(), known_empty)
    return cmds[:n]


def test_a_diff_known_empty_is_not_run_but_the_rest_of_the_rule_book_is() -> None:
    quotes, orders, ctrl = _ladder_and_orders()
    assert _commands(False, ctrl, quotes, orders).shape[0] == 3  # the diff: a cancel and two places
    assert _commands(True, ctrl, quotes, orders).shape[0] == 0
    ctrl[api.C_TAKER_SIDE], ctrl[api.C_TAKER_SZ] = -1, 0.002  # the take is not the diff's
    cmds = _commands(True, ctrl, quotes, orders, position=0.002)
    assert [int(k) for k in cmds[:, A_KIND]] == [ACT_TAKE]
    ctrl[api.C_TAKER_SIDE] = 0
    ctrl[api.C_CANCEL_ALL] = 1  # after a cancel-all the whole ladder is new: never skipped
    cmds = _commands(True, ctrl, quotes, orders)
    assert int(cmds[0, A_KIND]) == ACT_CANCEL and cmds.shape[0] == 3
