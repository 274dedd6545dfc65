"""Recorder (kill-safe, against the local exchange) and fetcher (candles/funding from the local exchange,
the L2 archive from a moto S3 server)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lz4.frame
import numpy as np
import pytest
from typer.testing import CliRunner

from amm500.cli import app
from amm500.data.fetch import FetchError, FetchResult, import_candles, import_funding, import_l2
from amm500.data.recorder import PARTS_DIR, Recorder, compact
from amm500.data.schema import BOOK_CLEAR, BOOK_LEVEL, FUNDING, TRADE
from amm500.data.store import event_days, iter_event_days, load_bars, load_events, read_dataset_meta
from amm500.exchange_sim.exchange import Exchange
from amm500.exchange_sim.market import RandomWalkFeed
from amm500.exchange_sim.server import exchange_thread, run_exchange
from amm500.runs.record import record

T0_MS = 1_790_000_000_000  # 2026-09-21T14:13:20Z


def book_msg(t_ms: int, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> str:
    side = lambda lv: [{"px": str(p), "sz": str(s), "n": 1} for p, s in lv]  # noqa: E731
    return json.dumps({"channel": "l2Book", "data": {"coin": "BTC", "time": t_ms,
                                                     "levels": [side(bids), side(asks)]}})


def trades_msg(*trades: tuple[int, int, str, float, float]) -> str:
    return json.dumps({"channel": "trades", "data": [
        {"coin": "BTC", "side": s, "px": str(px), "sz": str(sz), "time": t, "hash": "0x", "tid": tid, "users": []}
        for t, tid, s, px, sz in trades]})


def test_recorder_diffs_snapshots_dedupes_trades_and_compacts(tmp_path: Path) -> None:
    rec = Recorder(tmp_path)
    rec.connected(first=True)
    rec._since = T0_MS * 1_000_000  # the recording "started" at T0
    rec.on_message("Websocket connection established.", 0)
    rec.on_message(trades_msg((T0_MS - 60_000, 1, "B", 100.0, 1.0)), 0)  # history replayed on subscribe
    rec.on_message(book_msg(T0_MS, [(100.0, 1.0), (99.0, 2.0)], [(101.0, 1.5)]), 1)
    rec.on_message(trades_msg((T0_MS + 10, 7, "A", 100.0, 0.25)), 2)
    rec.on_message(trades_msg((T0_MS + 10, 7, "A", 100.0, 0.25)), 3)  # a resend
    parts = rec.flush()
    assert len(parts) == 1 and parts[0].parent.parent.name == PARTS_DIR
    rec.on_message(book_msg(T0_MS + 500, [(100.0, 0.75), (99.0, 2.0)], [(101.0, 1.5)]), 4)
    rec.on_message('{"channel": "l2Book", "data": {"coin": "BTC", "time": "x"}}', 5)
    rec.on_message(book_msg(T0_MS + 600, [(101.0, 1.0)], [(101.0, 1.5)]), 6)  # crossed
    rec.on_message(book_msg(T0_MS + 700, [(99.0, 1.0), (100.0, 1.0)], [(101.0, 1.5)]), 7)  # bids out of order
    rec.flush()
    assert (rec.stats.trades, rec.stats.duplicate_trades, rec.stats.history_trades, rec.stats.bad_messages) == (
        1, 1, 1, 3)
    written = compact(tmp_path)
    assert len(written) == 1 and not any((tmp_path / PARTS_DIR).rglob("*.parquet"))
    ev = load_events(tmp_path)
    rows = list(zip(ev.kind.tolist(), ev.side.tolist(), ev.px.tolist(), ev.sz.tolist(), strict=True))
    assert rows == [(BOOK_CLEAR, 0, 0.0, 0.0), (BOOK_LEVEL, 1, 100.0, 1.0), (BOOK_LEVEL, 1, 99.0, 2.0),
                    (BOOK_LEVEL, -1, 101.0, 1.5), (TRADE, -1, 100.0, 0.25), (BOOK_LEVEL, 1, 100.0, 0.75)]
    meta = read_dataset_meta(tmp_path)
    assert (meta["symbol"], meta["tick_size"], meta["sz_decimals"]) == ("BTC", 1.0, 2)


def test_prints_before_the_first_book_wait_for_it_and_older_ones_are_dropped(tmp_path: Path) -> None:
    """A trade message can beat the first book to the recorder: a recording still opens with the clear."""
    rec = Recorder(tmp_path)
    rec.connected(first=True)
    rec._since = T0_MS * 1_000_000
    rec.on_message(trades_msg((T0_MS + 5, 1, "B", 100.0, 1.0), (T0_MS + 20, 2, "A", 101.0, 0.5)), 0)
    assert rec.flush() == []  # no book yet: nothing to write, the prints wait
    rec.on_message(book_msg(T0_MS + 10, [(100.0, 1.0)], [(101.0, 1.0)]), 1)
    rec.on_message(trades_msg((T0_MS + 10, 3, "B", 101.0, 0.1)), 2)  # the book's own block: kept, sorted first
    rec.flush()
    compact(tmp_path)
    ev = load_events(tmp_path)
    assert ev.kind.tolist()[:2] == [TRADE, BOOK_CLEAR] and ev.ts[0] == ev.ts[1]
    assert ev.ts[ev.kind == TRADE].tolist() == [(T0_MS + 10) * 1_000_000, (T0_MS + 20) * 1_000_000]
    assert (rec.stats.trades, rec.stats.before_first_book) == (2, 1)


def test_compaction_is_idempotent_after_a_kill_between_rename_and_cleanup(tmp_path: Path) -> None:
    rec = Recorder(tmp_path)
    rec.connected(first=True)
    rec.on_message(book_msg(T0_MS, [(100.0, 1.0)], [(101.0, 1.0)]), 1)
    part = rec.flush()[0]
    saved = part.read_bytes()
    compact(tmp_path)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(saved)  # as if the process died before removing the folded part
    (part.parent / f".{part.name}.x.tmp").write_bytes(b"half a file")  # and a part cut off mid-write
    compact(tmp_path)
    assert len(load_events(tmp_path)) == 3  # clear + two levels, not twice
    assert not list((tmp_path / PARTS_DIR).rglob("*"))


def test_reconnect_starts_with_a_clear_and_day_roll_splits_files(tmp_path: Path) -> None:
    rec = Recorder(tmp_path)
    rec.connected(first=True)
    day_end = (T0_MS // 86_400_000 + 1) * 86_400_000
    rec.on_message(book_msg(day_end - 1000, [(100.0, 1.0)], [(101.0, 1.0)]), 1)
    rec.connected(first=False)
    rec.on_message(book_msg(day_end + 1000, [(100.0, 1.0)], [(101.0, 1.0)]), 2)
    rec.flush()
    compact(tmp_path)
    days = list(iter_event_days(tmp_path))
    assert len(days) == 2
    for _, ev in days:
        assert ev.kind[0] == BOOK_CLEAR and len(ev) == 3


async def test_record_a_session_from_the_local_exchange_and_backtest_it(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    feed = RandomWalkFeed(seed=3, trades_per_s=20.0, snapshot_s=0.1)
    async with run_exchange(feed=feed, book_push_s=0.1, block_s=0.02) as sim:
        stats = await record(sim.ws_url, out, duration_s=2.0, flush_s=0.3, compact_s=0.7)
    assert stats.snapshots >= 5 and stats.trades > 0 and stats.parts >= 2 and stats.compactions >= 2
    assert stats.bad_messages == 0, stats.last_error
    ev = load_events(out)
    assert ev.kind[0] == BOOK_CLEAR
    assert np.count_nonzero(ev.kind == TRADE) == stats.trades
    assert not list((out / PARTS_DIR).rglob("*.parquet"))
    result = CliRunner().invoke(app, ["backtest", "--data", str(out), "--quiet", "--json", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics  # the backtester read every recorded event without error


def test_recorder_survives_sigkill(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    with exchange_thread(synthetic=True, book_push_s=0.05, block_s=0.02) as sim:
        proc = subprocess.Popen([sys.executable, "-m", "amm500", "data", "record", "--url", sim.ws_url, "--out",
                                 str(out), "--flush-s", "0.1", "--compact-s", "0.4"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # until a day file exists and newer parts are pending
                if event_days(out) and list((out / PARTS_DIR).rglob("*.parquet")):
                    break
                time.sleep(0.05)
            time.sleep(0.37)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == -signal.SIGKILL
    before = load_events(out)  # whatever the kill left reads cleanly
    first_book = int(np.flatnonzero(before.kind == BOOK_CLEAR)[0])  # the recording opens with the first book,
    assert (before.kind[:first_book] == TRADE).all()  # after only the prints of its own block
    assert (before.ts[:first_book] == before.ts[first_book]).all()
    compact(out)  # what the next `data record` run does first
    after = load_events(out)
    assert len(after) >= len(before)
    trades = after.kind == TRADE
    keys = set(zip(after.ts[trades].tolist(), after.px[trades].tolist(), after.sz[trades].tolist(), strict=True))
    assert len(keys) == int(trades.sum())  # nothing folded in twice


def test_record_cli_rejects_a_bad_url(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["data", "record", "--url", "http://x", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "must start with ws://" in result.output


def test_record_against_an_address_that_refuses_connections_fails(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = CliRunner().invoke(app, ["data", "record", "--url", f"ws://127.0.0.1:{port}/ws", "--out",
                                      str(tmp_path / "rec"), "--duration", "2"])
    assert result.exit_code == 1 and "never connected" in result.output, result.output
    assert not list((tmp_path / "rec").rglob("*.parquet"))


# -- fetch ---------------------------------------------------------------------------------------------
def _seed_history(ex: Exchange, n_candles: int, n_funding: int, end_ms: int) -> None:
    """1m candles ending at end_ms and hourly funding ending there."""
    first_candle = end_ms - n_candles * 60_000
    t = first_candle + 60_000 * np.arange(n_candles)
    px = 100_000.0 + np.arange(n_candles) % 50
    ex.seed_candles(0, t, np.column_stack([px, px + 5, px - 5, px + 1, np.full(n_candles, 2.5),
                                           np.full(n_candles, 10)]))
    first_funding = end_ms - n_funding * 3_600_000
    ft = first_funding + 3_600_000 * np.arange(n_funding)
    ex.seed_funding(0, ft, np.where(np.arange(n_funding) % 2 == 0, 0.0000125, -0.00002))


def test_fetch_candles_and_funding_from_the_local_exchange(tmp_path: Path) -> None:
    today = dt.datetime.now(dt.UTC).date()
    end_ms = int(dt.datetime(today.year, today.month, today.day, tzinfo=dt.UTC).timestamp()) * 1000
    start_day = today - dt.timedelta(days=6)
    days = [start_day + dt.timedelta(days=i) for i in range(6)]  # the six complete days before today
    with exchange_thread(synthetic=False) as sim:
        _seed_history(sim.exchange, 7200, 1200, end_ms)  # 5 days of 1m; 50 days of funding
        result = FetchResult()
        import_candles(tmp_path, sim.base_url, "BTC", "1m", days, today, result)
        import_funding(tmp_path, sim.base_url, "BTC", days, today, result)
        bars = load_bars(tmp_path)
        # only the latest 5000 candles exist: the 2200 older ones are gone, and the result says so
        assert len(bars) == 5000 and bars.ts[0] == (end_ms - 5000 * 60_000) * 1_000_000
        assert result.empty["candles:1m"] == [start_day.isoformat(), (start_day + dt.timedelta(days=1)).isoformat()]
        assert any("latest 5000 candles" in n for n in result.notes)
        ev = load_events(tmp_path)
        funding = ev.kind == FUNDING
        assert int(funding.sum()) == 6 * 24  # paged by 500 on the server side
        assert set(np.round(ev.px[funding], 9).tolist()) == {0.0000125, -0.00002}
        assert float(np.diff(ev.ts[funding]).max()) == 3_600 * 1e9
        # a second run skips the complete days and writes nothing twice
        again = FetchResult()
        import_candles(tmp_path, sim.base_url, "BTC", "1m", days, today, again)
        import_funding(tmp_path, sim.base_url, "BTC", days, today, again)
        assert again.skipped["funding"] == [d.isoformat() for d in days]
        assert len(again.skipped["candles:1m"]) == 3  # the partial fourth-to-last day stays to-do
        assert int((load_events(tmp_path).kind == FUNDING).sum()) == 6 * 24
        assert len(load_bars(tmp_path)) == 5000


def test_fetch_cli_against_the_local_exchange(tmp_path: Path) -> None:
    today = dt.datetime.now(dt.UTC).date()
    end_ms = int(dt.datetime(today.year, today.month, today.day, tzinfo=dt.UTC).timestamp()) * 1000
    day = today - dt.timedelta(days=1)
    with exchange_thread(synthetic=False) as sim:
        _seed_history(sim.exchange, 1440, 24, end_ms)
        args = ["data", "fetch", "--from", day.isoformat(), "--to", day.isoformat(), "--out", str(tmp_path),
                "--api-url", sim.base_url]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "candles:1m: wrote 1 day(s)" in result.output and "funding: wrote 1 day(s)" in result.output
        result = CliRunner().invoke(app, args)
        assert "already present, skipped" in result.output
    assert len(load_bars(tmp_path)) == 1440
    bad = CliRunner().invoke(app, ["data", "fetch", "--from", "2024-13-01", "--to", "2024-01-02", "--out", "x"])
    assert bad.exit_code == 2 and "--from '2024-13-01' must be a date" in bad.output


# -- S3 archive ----------------------------------------------------------------------------------------
def _archive_file(day: dt.date, hour: int, n: int) -> bytes:
    lines = []
    base_ms = int(dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC).timestamp()) * 1000
    for i in range(n):
        t = base_ms + i * 1000
        bids = [{"px": str(100_000 - j - i % 3), "sz": "1.5", "n": 2} for j in range(20)]
        asks = [{"px": str(100_001 + j + i % 3), "sz": "0.7", "n": 1} for j in range(20)]
        when = dt.datetime.fromtimestamp(t / 1000 + 0.01, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000"
        lines.append(json.dumps({"time": when, "ver_num": 1, "raw": {"channel": "l2Book", "data": {
            "coin": "BTC", "time": t, "levels": [bids, asks]}}}))
    return lz4.frame.compress(("\n".join(lines) + "\n").encode())


@pytest.fixture
def moto_s3(monkeypatch: pytest.MonkeyPatch) -> object:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                 "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(k, v)
    yield f"http://{host}:{port}"
    server.stop()


def test_l2_archive_from_requester_pays_s3(tmp_path: Path, moto_s3: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1")
    s3.create_bucket(Bucket="hyperliquid-archive")
    s3.put_bucket_request_payment(Bucket="hyperliquid-archive", RequestPaymentConfiguration={"Payer": "Requester"})
    d1, d2, d3 = dt.date(2025, 3, 1), dt.date(2025, 3, 2), dt.date(2025, 3, 3)
    for day, hours in ((d1, (0, 1)), (d3, (5,))):
        for h in hours:
            s3.put_object(Bucket="hyperliquid-archive", Key=f"market_data/{day:%Y%m%d}/{h}/l2Book/BTC.lz4",
                          Body=_archive_file(day, h, 5))
    result = FetchResult()
    import_l2(tmp_path, "BTC", [d1, d2, d3], result, endpoint=moto_s3)
    assert result.days_written["l2"] == [d1.isoformat(), d3.isoformat()]
    assert result.empty["l2"] == [d2.isoformat()]
    assert any("2 of 24 hourly files" in n for n in result.notes)
    days = dict(iter_event_days(tmp_path))
    assert set(days) == {d1, d3}
    ev = days[d1]
    assert ev.kind[0] == BOOK_CLEAR and int((ev.kind == BOOK_CLEAR).sum()) == 1
    # replaying the level updates gives the last snapshot's book
    book: dict[tuple[int, float], float] = {}
    for k, s, p, z in zip(ev.kind, ev.side, ev.px, ev.sz, strict=True):
        if k == BOOK_LEVEL:
            if z == 0:
                book.pop((int(s), float(p)), None)
            else:
                book[(int(s), float(p))] = float(z)
    best_bid = max(p for s, p in book if s == 1)
    assert best_bid == 100_000 - 4 % 3  # the tenth snapshot (hour 1, i=4)
    # resumable: a second run skips the days that hold a book
    again = FetchResult()
    import_l2(tmp_path, "BTC", [d1, d2, d3], again, endpoint=moto_s3)
    assert again.skipped["l2"] == [d1.isoformat(), d3.isoformat()] and "l2" not in again.days_written


def test_l2_archive_without_credentials_says_so(tmp_path: Path, moto_s3: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(FetchError, match="requester-pays"):
        import_l2(tmp_path / "out", "BTC", [dt.date(2025, 3, 1)], FetchResult(), endpoint=moto_s3)
    assert not (tmp_path / "out").exists()
    assert os.environ.get("AWS_ACCESS_KEY_ID") is None
