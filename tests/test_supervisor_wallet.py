"""WalletTracker on the local exchange (equity, margin ratio, positions, orders, within its weight budget),
the session's drawdown and PnL from its first reading, and the round-trip accounting over a real journal."""

from __future__ import annotations

import time
from pathlib import Path

from eth_account import Account

from amm500.config import load_config
from amm500.exchange_sim.server import run_exchange
from amm500.store.journal import Identity, Journal
from amm500.supervisor.wallet import JournalWallet, Session, WalletTracker, fill_stats, margin_ratio
from supervisor_helpers import open_position_and_orders

KEY = "0x" + "6f" * 32
ADDR = Account.from_key(KEY).address.lower()


async def test_wallet_reads_the_account_within_its_budget() -> None:
    async with run_exchange({ADDR: 10_000.0}) as sim:
        pos, _ = await open_position_and_orders(sim, KEY, size=0.005, resting=4)
        cfg = load_config(overrides={"network": {"network": "custom", "api_url": sim.base_url}})
        tracker = WalletTracker(ADDR, cfg)
        try:
            state = await tracker.poll()
            assert 9_000 < state.equity < 11_000
            assert 0 < state.margin_ratio <= 1 and state.margin_used > 0
            assert state.position("BTC") == pos and state.open_orders is not None and len(state.open_orders) == 4
            assert state.budget_left is not None and 0 < state.budget_left <= 1
            first = tracker.budget.used()
            assert first == 2 + 20 + 20  # clearinghouseState + openOrders + userRateLimit
            again = await tracker.poll()  # inside orders_poll_s / budget_poll_s: only clearinghouseState
            assert tracker.budget.used() - first == 2
            assert again.open_orders == state.open_orders and again.budget_left == state.budget_left
            assert tracker.budget.limit == cfg.supervisor.ip_weight_per_min
        finally:
            await tracker.aclose()


def test_margin_ratio_is_clipped() -> None:
    assert margin_ratio(50.0, 1000.0) == 0.05
    assert margin_ratio(2000.0, 1000.0) == 1.0
    assert margin_ratio(10.0, 0.0) == 1.0 and margin_ratio(10.0, -5.0) == 1.0


def test_session_measures_from_its_first_reading_and_survives_restarts(tmp_path: Path) -> None:
    s = Session()
    s.update(10_000.0)  # the account already held 10k: nothing made, nothing lost
    assert s.pnl(10_000.0) == 0.0 and s.drawdown(10_000.0) == 0.0
    s.update(10_500.0)
    assert s.drawdown(9_975.0) == 1.0 - 9_975.0 / 10_500.0 and s.pnl(9_975.0) == -25.0
    s.save(tmp_path)
    loaded = Session.load(tmp_path)
    assert loaded.first_equity == 10_000.0 and loaded.peak_equity == 10_500.0
    loaded.rebase(9_000.0)  # a reset: new session at the equity left, the all-time peak kept
    assert loaded.pnl(9_000.0) == 0.0 and loaded.drawdown(9_000.0) == 0.0
    assert loaded.terminal_drawdown(9_000.0) == 1.0 - 9_000.0 / 10_500.0
    loaded.rebase(9_000.0, keep_all_time=False)
    assert loaded.terminal_drawdown(9_000.0) == 0.0


def _journal(path: Path, fills: list[tuple[int, float, float, float, bool]]) -> None:
    j = Journal(path / "journal.sqlite", Identity("paper", "local", "paper")).open("{}", "test", 1)
    t = int(time.time() * 1000)
    pos = 0.0
    for i, (side, px, sz, fee, crossed) in enumerate(fills):
        j.record_fill(i + 1, t + i, i, None, side, px, sz, fee, crossed, pos, px)
        pos += side * sz
    j.record_equity(time.time_ns(), 987.5, pos, 100.0, 987.5, 12.5, None, None)
    j.close()


def test_round_trips_from_the_journal(tmp_path: Path) -> None:
    _journal(tmp_path, [
        (1, 100.0, 1.0, 0.01, False), (-1, 99.0, 1.0, 0.01, False),  # loss
        (-1, 100.0, 1.0, 0.01, False), (1, 101.0, 1.0, 0.01, True),  # loss (short)
        (1, 100.0, 2.0, 0.01, False), (-1, 100.0, 1.0, 0.01, False), (-1, 99.0, 1.0, 0.01, False),  # loss in 2 legs
        (1, 100.0, 1.0, 0.0, False), (-1, 100.0, 2.0, 0.0, False),  # flip through zero: 0 PnL, not a loss
        (1, 99.0, 1.0, 0.0, False),  # closes the flipped short at a gain
    ])
    stats = fill_stats(tmp_path, 0)
    assert stats.fills == 10 and stats.taker_fills == 1 and stats.round_trips == 5
    assert stats.consecutive_losses == 0
    assert fill_stats(tmp_path / "none", 0).fills == 0


def test_three_losses_in_a_row(tmp_path: Path) -> None:
    _journal(tmp_path, [(1, 100.0, 1.0, 0.0, False), (-1, 101.0, 1.0, 0.0, False)]
             + [(1, 100.0, 1.0, 0.01, False), (-1, 100.0, 1.0, 0.01, False)] * 3)  # fees make each a loss
    stats = fill_stats(tmp_path, 0)
    assert stats.round_trips == 4 and stats.consecutive_losses == 3


def test_paper_wallet_is_the_journal(tmp_path: Path) -> None:
    assert JournalWallet(tmp_path).read() is None
    _journal(tmp_path, [(1, 100.0, 0.5, 0.0, False)])
    state = JournalWallet(tmp_path).read()
    assert state is not None and state.source == "journal"
    assert state.equity == 987.5 and state.position("BTC") == 0.5 and state.margin_ratio == 12.5 / 987.5
