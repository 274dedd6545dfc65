"""The journal on a real SQLite file: dedupe by trade id, one file per mode, migrations, readers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from amm500.store import journal as j


def _open(path: Path, mode: str = "paper") -> j.Journal:
    return j.Journal(path, j.Identity(mode, "local", "paper")).open("{}", "test", 1)


def test_fills_land_once_and_the_summary_splits_pnl(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    jr = _open(path)
    jr.record_equity(1_000_000_000, 1000.0, 0.0, 100.0, 1000.0, 0.0, 2.0, 1)
    for _ in range(2):  # the same fill twice (socket and REST reconciliation): one row
        jr.record_fill(7, 500, 11, "0x" + "1" * 32, 1, 99.0, 2.0, 0.1, False, 0.0, 100.0)
    jr.record_equity(2_000_000_000, 1003.9, 2.0, 101.0, 801.9, 0.0, 2.0, 1)
    jr.record_funding(1_800, 0.0001, 0.02, 2.0)
    jr.close("time")
    assert j.last_fill_ms(path) == 500
    with j.reader(path) as conn:
        s = j.summary(conn)
        assert [f["tid"] for f in j.fills(conn)] == [7]
    assert s["fills"] == 1 and s["maker_ratio"] == 1.0
    assert s["spread_capture"] == pytest.approx(2.0)  # bought 2 at 99 with the mid at 100
    assert s["net_pnl"] == pytest.approx(3.9)
    assert s["spread_capture"] + s["inventory_pnl"] - s["fees"] - s["funding"] == pytest.approx(s["net_pnl"])
    assert s["markouts_bps"]["1s"] == pytest.approx((101.0 - 99.0) / 99.0 * 1e4)


def test_a_journal_refuses_another_mode_and_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    _open(path).close()
    with pytest.raises(j.JournalError, match="mode 'paper', not 'live'"):
        _open(path, mode="live")
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {j.SCHEMA_VERSION + 1}")
    with pytest.raises(j.JournalError, match="newer"):
        _open(path)


def test_garbage_is_refused_with_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    path.write_bytes(b"not a database, just bytes" * 100)
    with pytest.raises(j.JournalError, match="not a readable journal"):
        _open(path)
    with pytest.raises(j.JournalError, match="not a readable journal"):
        j.last_fill_ms(path)


def test_every_run_is_recorded_with_how_it_ended(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    _open(path).close("time")
    second = _open(path)
    assert second.run_id == 2
    second.record_transition(5, "ACTIVE", "HALTED", ["stale feed"])
    second.close("kill switch")
    with j.reader(path) as conn:
        runs = [tuple(r) for r in conn.execute("SELECT run_id, stopped_by FROM runs")]
        assert runs == [(1, "time"), (2, "kill switch")]
        assert j.summary(conn)["transitions"][0]["reasons"] == '["stale feed"]'
