"""``amm500 backtest`` end to end on real files: JSON, HTML report, bar mode labels, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from amm500.cli import app
from amm500.data import store
from amm500.data.schema import Bars
from backtest_helpers import BASE_SETS, SELL, book, events, trade

REQUIRED = ("sharpe", "annual_roi", "max_drawdown", "trades_per_day", "maker_ratio", "net_pnl", "fees", "funding",
            "fills", "events", "events_per_sec", "fill_model", "config")


def _sets(*extra: str) -> list[str]:
    out = []
    for s in [*BASE_SETS, *extra]:
        out += ["--set", s]
    return out


def _tick_data(root: Path) -> Path:
    rows = [*book(0), *(trade(1000 + 500 * k, SELL, 99_990, 0.01) for k in range(6))]
    store.write_events(root, events(rows))
    return root


def test_tick_run_writes_json_and_a_self_contained_report(tmp_path: Path) -> None:
    data = _tick_data(tmp_path / "d")
    out, rep = tmp_path / "m.json", tmp_path / "r.html"
    res = CliRunner().invoke(app, ["backtest", "--data", str(data), "--json", str(out), "--report", str(rep),
                                   *_sets()])
    assert res.exit_code == 0, res.output
    m = json.loads(out.read_text())
    assert all(k in m for k in REQUIRED)
    assert m["fill_model"] == "tick" and m["fills"] >= 1
    assert m["config"]["trading"]["order_levels"] == 1
    page = rep.read_text()
    assert "<script src=" not in page and "Plotly" in page  # JS inlined: works offline
    assert "fill model" in page and "trading.order_levels" in page


def test_bar_mode_is_labelled_low_realism_everywhere(tmp_path: Path) -> None:
    n = 600
    ts = 1_767_229_200 * 10**9 + np.arange(n, dtype=np.int64) * 60 * 10**9
    close = 100_000 + np.cumsum(np.where(np.arange(n) % 2 == 0, 3.0, -3.0))
    bars = Bars(ts, close - 1, close + 20, close - 20, close, np.full(n, 5.0), np.zeros(n, dtype=np.int64))
    store.write_bars(tmp_path / "b", bars)
    out, rep = tmp_path / "m.json", tmp_path / "r.html"
    res = CliRunner().invoke(app, ["backtest", "--data", str(tmp_path / "b"), "--json", str(out), "--report",
                                   str(rep), *_sets("backtest.fill_model=bar", "backtest.fill_rate=0.5")])
    assert res.exit_code == 0, res.output
    assert "LOW REALISM" in res.output
    m = json.loads(out.read_text())
    assert m["fill_model"] == "bar" and m["realism"] == "LOW REALISM"
    assert "LOW REALISM" in rep.read_text()
    # every quote is inside every bar's +-20 range: fills ~ fill_rate of the 2 x 600 quotes (seeded)
    assert 500 <= m["fills"] <= 700


def test_missing_data_directory_fails_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    res = CliRunner().invoke(app, ["backtest", "--data", str(tmp_path / "nope"), "--json", str(out)])
    assert res.exit_code == 2
    assert "no such data directory" in res.output
    assert not out.exists()


def test_corrupt_and_unsorted_files_fail_without_output(tmp_path: Path) -> None:
    corrupt = tmp_path / "c" / "events" / "2026-01-01.parquet"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(b"PAR1 this is not parquet")
    out = tmp_path / "m.json"
    res = CliRunner().invoke(app, ["backtest", "--data", str(tmp_path / "c"), "--json", str(out)])
    assert res.exit_code == 2 and "not a readable Parquet file" in res.output and not out.exists()

    ev = events([*book(0), trade(1000, SELL, 99_990, 0.01)])
    table = ev.to_table()
    idx = np.r_[np.arange(len(ev))[::-1]]
    unsorted = tmp_path / "u" / "events" / "2026-01-01.parquet"
    unsorted.parent.mkdir(parents=True)
    pq.write_table(table.take(pa.array(idx)), unsorted)
    res = CliRunner().invoke(app, ["backtest", "--data", str(tmp_path / "u"), "--json", str(out)])
    assert res.exit_code == 2 and "not sorted" in res.output and not out.exists()


def test_a_config_that_cannot_trade_is_refused_with_the_numbers(tmp_path: Path) -> None:
    data = _tick_data(tmp_path / "d")
    out, rep = tmp_path / "m.json", tmp_path / "r.html"
    res = CliRunner().invoke(app, ["backtest", "--data", str(data), "--json", str(out), "--report", str(rep),
                                   *_sets("trading.order_size_fraction=0.0005")])
    assert res.exit_code == 2
    assert "order_size_fraction" in res.output and "minimum order value" in res.output
    assert not out.exists() and not rep.exists()


def test_a_stopped_run_says_when_and_counts_the_rest_as_down_time(tmp_path: Path) -> None:
    """Bar mode, a market falling $30 a minute: the session-loss kill switch stops the strategy early;
    the summary says when, and quote uptime is over all 600 bars, not just those before the stop."""
    n = 600
    ts = 1_767_229_200 * 10**9 + np.arange(n, dtype=np.int64) * 60 * 10**9
    close = 100_000 - 30.0 * np.arange(n)
    bars = Bars(ts, close + 30, close + 40, close - 40, close, np.full(n, 5.0), np.zeros(n, dtype=np.int64))
    store.write_bars(tmp_path / "b", bars)
    out = tmp_path / "m.json"
    res = CliRunner().invoke(app, ["backtest", "--data", str(tmp_path / "b"), "--json", str(out),
                                   *_sets("backtest.fill_model=bar", "backtest.fill_rate=1.0",
                                          "trading.strategy=market_making", "risk.max_session_loss=0.5",
                                          "risk.position_timeout_enabled=false")], terminal_width=120)
    assert res.exit_code == 0, res.output
    m = json.loads(out.read_text())
    assert m["killed"] == "kill_switch" and m["kill_reason"] == "session_loss"
    bars_alive = m["stopped_after_s"] / 60 + 1  # the bar that stopped it quoted too
    assert 1 <= bars_alive < 100
    assert m["quote_uptime"] <= bars_alive / n + 1e-9
    assert "kill switch (session_loss) at 00:" in res.output
