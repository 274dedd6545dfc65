"""Hyperliquid's request limits (core/request_budget.py) at, below and above each threshold, and
the backtester applying them (a run that would be throttled live is throttled in its backtest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from amm500.core.request_budget import (
    address_allows,
    address_budget,
    cancel_budget,
    exchange_weight,
)

NS = 10**9


def test_address_budget_grows_one_request_per_usdc() -> None:
    assert address_budget(0.0) == 10_000
    assert address_budget(2_500.0) == 12_500


@pytest.mark.parametrize(("budget", "cancels"), [(10_000, 20_000), (100_000, 200_000), (100_001, 200_001),
                                                 (150_000, 250_000)])
def test_cancel_headroom_is_min_of_plus_100k_and_double(budget: float, cancels: float) -> None:
    assert cancel_budget(budget) == cancels


@pytest.mark.parametrize(("n", "weight"), [(1, 1), (39, 1), (40, 2), (41, 2), (79, 2), (80, 3)])
def test_exchange_weight_per_batch(n: int, weight: int) -> None:
    assert exchange_weight(n) == weight


def test_address_allows_below_at_and_above_the_budget() -> None:
    t = 1_000 * NS
    assert address_allows(9_999.0, 0.0, False, t, 0) == (True, False)  # below: passes
    assert address_allows(10_000.0, 0.0, False, t, 0) == (True, True)  # at: the slow lane's first slot
    assert address_allows(10_000.0, 0.0, False, t, t - 9 * NS) == (False, False)  # < 10 s since the last
    assert address_allows(10_000.0, 0.0, False, t, t - 10 * NS) == (True, True)  # exactly 10 s: one more
    assert address_allows(10_000.0, 1.0, False, t, t) == (True, False)  # one USDC traded: one more request
    assert address_allows(10_000.0, 0.0, True, t, t) == (True, False)  # cancels: room up to 20,000
    assert address_allows(20_000.0, 0.0, True, t, t) == (False, False)


def _run(tmp_path: Path, *sets: str) -> dict:
    from backtest_helpers import book, level, run

    rows = list(book(0.0))
    # a book that jumps $6 every 0.5 s for 60 s: the ladder chases it, every chase is a cancel and an order
    for k in range(1, 600):
        t = k * 100.0  # ms
        d = 3.0 if (k // 5) % 2 else -3.0
        rows.append(level(t, 1, 99_999.0 + d, 5.0))
        rows.append(level(t, -1, 100_001.0 + d, 5.0))
    return run(tmp_path, rows, "trading.strategy='fixed_spread'", "execution.quote_refresh_interval=0.1",
               "trading.min_spread_bps=4",  # quotes $20 out: the $3 jumps never fill them (no volume, no new budget)
               "risk.kill_switch_enabled=false", *sets).metrics


def test_backtest_throttles_an_address_out_of_budget(tmp_path: Path) -> None:
    # an established account: 50 requests left before the run
    used = ["backtest.account_requests_used=9950"]
    free = _run(tmp_path / "a", *used, "backtest.request_budget=false")["request_budget"]
    capped = _run(tmp_path / "b", *used)["request_budget"]
    assert free["requests_used_run"] > 200 and free["refused_orders"] == 0  # off: counted, nothing refused
    assert free["time_out_of_budget_s"] > 0  # ... and the report says it would have been out of budget
    assert capped["refused_orders"] > 0
    # once out: no more than one request per 10 s (cancels still have their headroom up to 20,000)
    assert capped["slow_lane_requests"] <= 7
    assert capped["requests_used_total"] < free["requests_used_total"]
    assert capped["time_out_of_budget_s"] > 30
    # a fresh account with the same run never runs out
    fresh = _run(tmp_path / "c")["request_budget"]
    assert fresh["refused_orders"] == 0 and fresh["time_out_of_budget_s"] == 0
    assert fresh["ip_weight_max_per_min"] > 0


def test_ip_weight_per_minute_at_below_and_above_the_limit() -> None:
    import numpy as np

    from amm500.backtest.loop import _budget
    from amm500.core.intent import new_commands
    from amm500.core.order_diff import A_KIND, ACT_PLACE
    from amm500.sim.layout import (
        A_SIZE,
        CF_BUDGET_ON,
        CF_IP_LIMIT,
        CF_SIZE,
        I_IP_WEIGHT,
        I_IP_WIN,
        I_SIZE,
        ST_IP_REFUSED,
        ST_SIZE,
    )

    acts, acct, st, cfg, ist = new_commands(), np.zeros(A_SIZE), np.zeros(ST_SIZE), np.zeros(CF_SIZE), np.zeros(
        I_SIZE, dtype=np.int64)
    cfg[CF_BUDGET_ON] = 1.0
    cfg[CF_IP_LIMIT] = 1200
    t0 = 5 * 60 * NS
    acts[:40, A_KIND] = ACT_PLACE  # 40 orders in one action weigh 2
    ist[I_IP_WIN] = t0
    ist[I_IP_WEIGHT] = 1198  # 2 left: exactly fits
    assert _budget(t0 + NS, 40, acts, acct, st, cfg, ist) == 40
    assert ist[I_IP_WEIGHT] == 1200
    assert _budget(t0 + 2 * NS, 1, acts, acct, st, cfg, ist) == 0  # over: the batch is not sent
    assert st[ST_IP_REFUSED] == 1
    ist[I_IP_WEIGHT] = 1199  # 1 left, the 40-order batch needs 2
    assert _budget(t0 + 3 * NS, 40, acts, acct, st, cfg, ist) == 0
    assert _budget(t0 + 60 * NS, 40, acts, acct, st, cfg, ist) == 40  # a new minute
