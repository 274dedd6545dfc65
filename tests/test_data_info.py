"""``amm500 data info`` on known data, and the CLI's handling of bad input for ``data import`` / ``data info``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from amm500.cli import app
from amm500.data.info import dataset_info
from amm500.data.schema import (
    BOOK_CLEAR,
    BOOK_LEVEL,
    FUNDING,
    NS_PER_DAY,
    NS_PER_HOUR,
    NS_PER_S,
    TRADE,
    Bars,
    make_events,
)
from amm500.data.store import write_bars, write_dataset_meta, write_events

REAL = Path(__file__).parents[1].parent / "shared" / "data" / "real"
CAPTURE = REAL / "hl_ws_capture" / "20250903"
DAY0 = 20_000 * NS_PER_DAY  # 2024-10-04


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output  # click >= 8.2: output holds stdout and stderr


def hand_dir(root: Path) -> None:
    """Day 0: a book, trades with a 120 s and a 30 s pause, two funding rows; day 1 missing; day 2: one trade."""
    s = NS_PER_S
    rows = [
        (DAY0 + 10 * s, BOOK_CLEAR, 0, 0.0, 0.0),
        (DAY0 + 10 * s, BOOK_LEVEL, 1, 99.0, 1.0),
        (DAY0 + 10 * s, BOOK_LEVEL, -1, 101.0, 2.0),
        (DAY0 + 11 * s, BOOK_LEVEL, 1, 99.0, 0.0),  # a delete: its price does not count in the range
        (DAY0 + 11 * s, BOOK_LEVEL, 1, 98.0, 1.0),
        (DAY0 + 131 * s, TRADE, 1, 101.0, 0.5),
        (DAY0 + 161 * s, TRADE, -1, 97.5, 0.5),
        (DAY0 + 3600 * s, FUNDING, 0, 1e-5, 0.0),
        (DAY0 + 7200 * s, FUNDING, 0, 3e-5, 0.0),
        (DAY0 + 2 * NS_PER_DAY + 5 * s, TRADE, 1, 105.0, 0.1),
    ]
    ts, kind, side, px, sz = (np.array(c) for c in zip(*rows, strict=True))
    write_events(root, make_events(ts, ts + 1000, kind, side, px, sz))
    bar_ts = DAY0 + np.array([0, 60, 120, 240]) * s  # 180 s missing
    one = np.ones(4)
    write_bars(root, Bars(bar_ts, 100 * one, 102 * one, np.array([99.0, 98.0, 99.0, 99.0]), 101 * one, one,
                          np.zeros(4, dtype=np.int64)))
    write_dataset_meta(root, symbol="BTC", tick_size=0.5, sz_decimals=1, source="hand")


def test_info_on_hand_built_dir(tmp_path: Path) -> None:
    hand_dir(tmp_path)
    info = dataset_info(tmp_path, gap_s=60.0)
    ev = info["events"]
    assert ev["days"] == 2 and ev["missing_days"] == ["2024-10-05"]
    d0 = ev["per_day"][0]
    assert (d0["day"], d0["book"], d0["trade"], d0["clear"], d0["funding"]) == ("2024-10-04", 4, 2, 1, 2)
    assert (d0["px_min"], d0["px_max"]) == (97.5, 101.0)
    assert d0["first"] == "2024-10-04T00:00:10.000+00:00" and d0["last"] == "2024-10-04T00:02:41.000+00:00"
    # 11 s -> 131 s inside day 0, and day 0's last market event -> day 2's first; funding rows are not market data
    assert ev["gaps"]["count"] == 2
    assert ev["gaps"]["listed"][0] == {"start": "2024-10-04T00:00:11.000+00:00",
                                       "end": "2024-10-04T00:02:11.000+00:00", "seconds": 120.0}
    assert ev["gaps"]["listed"][1]["end"] == "2024-10-06T00:00:05.000+00:00"
    assert ev["price"] == {"min": 97.5, "max": 105.0}
    assert ev["totals"] == {"book": 4, "trade": 3, "clear": 1, "funding": 2}
    f = ev["funding"]
    assert f["rows"] == 2 and f["mean_hourly"] == pytest.approx(2e-5) and f["positive_share"] == 1.0
    assert f["mean_annualised"] == pytest.approx(2e-5 * 24 * 365)
    assert f["missing_hours"] == 0
    b = info["bars"]
    assert (b["bars"], b["interval_s"], b["missing_bars"], b["low"], b["high"]) == (4, 60.0, 1, 98.0, 102.0)
    assert info["dataset"]["symbol"] == "BTC"
    assert dataset_info(tmp_path, gap_s=20.0)["events"]["gaps"]["count"] == 3


def test_info_cli_json_and_text(tmp_path: Path) -> None:
    hand_dir(tmp_path)
    code, out = invoke("data", "info", str(tmp_path), "--json", "--gap", "60")
    assert code == 0, out
    assert json.loads(out)["events"]["gaps"]["count"] == 2
    code, out = invoke("data", "info", str(tmp_path))
    assert code == 0 and "missing days" in out and "2024-10-05" in out and "bars: 4" in out


def test_import_capture_pair_then_info(tmp_path: Path) -> None:
    out = tmp_path / "cap"
    code, text = invoke("data", "import", "--source", "l2-csv", str(CAPTURE / "orderbooks_BTC.csv"), "--out", str(out))
    assert code == 0, text
    code, text = invoke("data", "import", "--source", "trades-csv", str(CAPTURE / "trades_BTC.csv"), "--out", str(out),
                        "--json")
    assert code == 0, text
    assert json.loads(text)["events"]["trade"] == 1437
    code, text = invoke("data", "info", str(out), "--json")
    info = json.loads(text)
    day = info["events"]["per_day"][0]
    assert info["events"]["days"] == 1 and day["trade"] == 1437 and day["clear"] == 1
    assert day["first"] == "2025-09-03T12:55:12.212+00:00"  # the first snapshot's exchange time
    # Independent check of the longest pause: exchange times straight from the two CSVs.
    with (CAPTURE / "orderbooks_BTC.csv").open() as f:
        rows = list(csv.DictReader(f))
    times = {int(r["exchange_timestamp"]) for r in rows}
    prices = [float(r[f"{side}_price_{i}"]) for r in rows for side in ("bid", "ask") for i in range(20)]
    with (CAPTURE / "trades_BTC.csv").open() as f:
        times |= {int(r["exchange_timestamp"]) for r in csv.DictReader(f) if int(r["exchange_timestamp"]) >= min(times)}
    ms = np.array(sorted(times))
    assert info["events"]["gaps"]["count"] == np.count_nonzero(np.diff(ms) > 60_000) == 1
    assert info["events"]["gaps"]["listed"][0]["seconds"] == np.diff(ms).max() / 1000
    assert info["dataset"]["source"] == "l2-csv+trades-csv"
    with (CAPTURE / "trades_BTC.csv").open() as f:
        prices += [float(r["price"]) for r in csv.DictReader(f) if int(r["exchange_timestamp"]) >= min(times)]
    assert info["events"]["price"] == {"min": min(prices), "max": max(prices)}


def test_info_missing_and_corrupt(tmp_path: Path) -> None:
    code, out = invoke("data", "info", str(tmp_path / "nope"))
    assert code == 2 and "no such data directory" in out
    (tmp_path / "empty").mkdir()
    code, out = invoke("data", "info", str(tmp_path / "empty"))
    assert code == 2 and "no canonical data" in out
    bad = tmp_path / "bad"
    (bad / "events").mkdir(parents=True)
    (bad / "events" / "2024-01-01.parquet").write_bytes(b"not parquet")
    code, out = invoke("data", "info", str(bad))
    assert code == 2 and "2024-01-01.parquet" in out and "not a readable Parquet file" in out
    code, out = invoke("data", "info", str(bad), "--gap", "0")
    assert code == 2 and "--gap must be > 0" in out


def test_import_refuses_wrong_format_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "d"
    code, text = invoke("data", "import", "--source", "l2-csv", str(CAPTURE / "trades_BTC.csv"), "--out", str(out))
    assert code == 2 and "trades_BTC.csv" in text and "L2 snapshot CSV" in text
    assert not out.exists()
    # one good file and one wrong one: still nothing written
    code, text = invoke("data", "import", "--source", "trades-csv", str(CAPTURE / "trades_BTC.csv"),
                        str(CAPTURE / "orderbooks_BTC.csv"), "--out", str(out))
    assert code == 2 and "orderbooks_BTC.csv" in text and not out.exists()


def test_import_bad_flags(tmp_path: Path) -> None:
    trades = str(CAPTURE / "trades_BTC.csv")
    code, text = invoke("data", "import", "--source", "binance", trades, "--out", str(tmp_path))
    assert code == 2 and "--source 'binance' is not supported" in text and "l2-csv" in text
    code, text = invoke("data", "import", "--source", "l2-csv", str(tmp_path / "missing.csv"), "--out", str(tmp_path))
    assert code == 2 and "missing.csv: no such file" in text
    code, text = invoke("data", "import", "--source", "candles", str(CAPTURE / "trades_BTC.csv"), "--out",
                        str(tmp_path), "--tick-size", "-1")
    assert code == 2 and "--tick-size must be > 0" in text


def test_import_reports_bad_lines(tmp_path: Path) -> None:
    src = tmp_path / "trades_BTC.csv"
    src.write_text("timestamp,price,size,side,trade_id,exchange_timestamp\n"
                   "10.0,100,1,buy,1,9000\n"
                   "11.0,100,-1,buy,2,10000\n"
                   "12.0,100,1,hold,3,11000\n"
                   "13.0,101,1,sell,4,12000\n")
    code, text = invoke("data", "import", "--source", "trades-csv", str(src), "--out", str(tmp_path / "d"), "--json")
    assert code == 0, text
    report = json.loads(text)["files"][0]
    assert report["bad"] == 2 and [e["line"] for e in report["bad_examples"]] == [3, 4]
    assert "size '-1'" in report["bad_examples"][0]["reason"] and "side 'hold'" in report["bad_examples"][1]["reason"]
    assert report["records"] == 2
    code, text = invoke("data", "import", "--source", "trades-csv", str(src), "--out", str(tmp_path / "e"))
    assert code == 0 and "2 bad line(s) skipped" in text and "line 3" in text


def test_import_refuses_other_symbol_and_tick(tmp_path: Path) -> None:
    hand_dir(tmp_path)
    src = tmp_path / "trades_ETH.csv"
    src.write_text("timestamp,price,size,side,trade_id,exchange_timestamp\n10.0,100,1,buy,1,9000\n"
                   "11.0,100,1,buy,2,10500\n")
    code, text = invoke("data", "import", "--source", "trades-csv", str(src), "--out", str(tmp_path))
    assert code == 2 and "holds BTC data; the new data is ETH" in text
    code, text = invoke("data", "import", "--source", "candles", str(REAL / "bybit_btcusdt_1m" /
                        "BTCUSDT_linear_1m_20250530_20250629.csv"), "--out", str(tmp_path))
    assert code == 2 and "tick_size is 0.5" in text


def test_funding_summary_hourly(tmp_path: Path) -> None:
    src = tmp_path / "f.csv"
    src.write_text("time_ms,time_utc,funding_rate\n"
                   f"{DAY0 // 10**6},x,0.0008\n{(DAY0 + 8 * NS_PER_HOUR) // 10**6},x,0.0008\n"
                   f"{(DAY0 + 9 * NS_PER_HOUR) // 10**6},x,-0.00001\n{(DAY0 + 11 * NS_PER_HOUR) // 10**6},x,0.00002\n")
    code, text = invoke("data", "import", "--source", "funding", str(src), "--out", str(tmp_path / "d"))
    assert code == 0, text
    info = dataset_info(tmp_path / "d")
    f = info["events"]["funding"]
    assert f["rows"] == 18 and f["min_hourly"] == -1e-5 and f["max_hourly"] == pytest.approx(1e-4)
    assert f["missing_hours"] == 1  # 09:00 -> 11:00: the 10:00 rate is missing, not a 2-hour rate


def test_archive_import_day_by_day_and_resume(tmp_path: Path) -> None:
    """Archive-layout files are imported one day at a time; a snapshot stamped before midnight that
    arrived in the next day's hour-0 file goes to the earlier day; --skip-imported resumes."""
    import lz4.frame

    def line(local: str, ms: int, bid: str) -> str:
        levels = [[{"px": bid, "sz": "1.0", "n": 1}], [{"px": "101.0", "sz": "2.0", "n": 1}]]
        return json.dumps({"time": local, "ver_num": 1,
                           "raw": {"channel": "l2Book", "data": {"coin": "BTC", "time": ms, "levels": levels}}})

    midnight_ms = 1694908800000  # 2023-09-17T00:00:00Z
    files = {
        "20230916/23/l2Book/BTC.lz4": [line("2023-09-16T23:59:58.5", midnight_ms - 2000, "100.0")],
        "20230917/0/l2Book/BTC.lz4": [line("2023-09-17T00:00:00.2", midnight_ms - 500, "99.0"),
                                      line("2023-09-17T00:00:01.2", midnight_ms + 1000, "100.0")],
        "20230917/1/l2Book/BTC.lz4": [line("2023-09-17T01:00:00.1", midnight_ms + 3_600_000, "98.0")],
    }
    paths = []
    for rel, lines in files.items():
        p = tmp_path / "in" / rel
        p.parent.mkdir(parents=True)
        p.write_bytes(lz4.frame.compress("\n".join(lines).encode()))
        paths.append(str(p))
    out = tmp_path / "out"
    code, text = invoke("data", "import", "--source", "hyperliquid-archive", paths[2], paths[0], "--out", str(out),
                        "--json")
    assert code == 0, text
    code, text = invoke("data", "import", "--source", "hyperliquid-archive", *paths, "--out", str(out), "--json")
    assert code == 2 and "already imported" in text
    code, text = invoke("data", "import", "--source", "hyperliquid-archive", *paths, "--out", str(out), "--json",
                        "--skip-imported")
    assert code == 0, text
    from amm500.data.store import read_dataset_meta, read_events_file

    day16 = read_events_file(out / "events" / "2023-09-16.parquet")
    day17 = read_events_file(out / "events" / "2023-09-17.parquet")
    # day 16: its own snapshot, then the late one from the hour-0 file, each a clear plus levels
    assert day16.kind.tolist() == [BOOK_CLEAR, BOOK_LEVEL, BOOK_LEVEL, BOOK_CLEAR, BOOK_LEVEL, BOOK_LEVEL]
    assert day16.px[4] == 99.0 and day16.ts[3] == (midnight_ms - 500) * 10**6
    # day 17: hour 1 (first command) then hour 0 (resumed): two book streams on one day that do not overlap
    assert day17.kind[0] == BOOK_CLEAR and day17.ts[0] == (midnight_ms + 1000) * 10**6
    assert len(read_dataset_meta(out)["imports"]) == 3  # first command: 2 days; resume: 1 day group
