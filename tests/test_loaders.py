"""Loaders on every real file in ../shared/data/real and on hand-built fixtures (lz4, malformed, wrong format)."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
from pathlib import Path

import lz4.frame
import numpy as np
import pytest

from amm500.data.loaders import load
from amm500.data.loaders.common import FormatError
from amm500.data.loaders.dataset import write_import
from amm500.data.schema import BOOK_CLEAR, BOOK_LEVEL, FUNDING, NS_PER_HOUR, NS_PER_MS, TRADE, DataError, Events
from amm500.data.store import load_bars, load_events, read_dataset_meta

REAL = Path(__file__).parents[1].parent / "shared" / "data" / "real"
CAPTURE = REAL / "hl_ws_capture" / "20250903"
FIXTURES = Path(__file__).parent / "fixtures"


def replay_windows(ev: Events) -> dict[int, tuple[dict[float, float], dict[float, float]]]:
    """Apply level updates to a plain dict book; the book after the last row of each timestamp."""
    bids: dict[float, float] = {}
    asks: dict[float, float] = {}
    out = {}
    for i in range(len(ev)):
        k = ev.kind[i]
        if k == BOOK_CLEAR:
            bids.clear()
            asks.clear()
        elif k == BOOK_LEVEL:
            book = bids if ev.side[i] == 1 else asks
            if ev.sz[i] == 0:
                book.pop(float(ev.px[i]), None)
            else:
                book[float(ev.px[i])] = float(ev.sz[i])
        if k in (BOOK_CLEAR, BOOK_LEVEL) and (i + 1 == len(ev) or ev.ts[i + 1] != ev.ts[i]):
            out[int(ev.ts[i])] = (dict(bids), dict(asks))
    return out


def visible(book: dict[float, float], worst: float, full: bool, bid: bool) -> dict[float, float]:
    if not full:
        return book
    return {p: s for p, s in book.items() if (p >= worst if bid else p <= worst)}


def read_capture_snapshots() -> dict[int, tuple[dict[float, float], dict[float, float]]]:
    """The capture's snapshots read independently with the csv module (ms exchange time -> levels)."""
    snaps = {}
    with (CAPTURE / "orderbooks_BTC.csv").open() as f:
        for row in csv.DictReader(f):
            bids = {float(row[f"bid_price_{i}"]): float(row[f"bid_size_{i}"]) for i in range(20)}
            asks = {float(row[f"ask_price_{i}"]): float(row[f"ask_size_{i}"]) for i in range(20)}
            snaps[int(row["exchange_timestamp"]) * NS_PER_MS] = (bids, asks)
    return snaps


# ---- real data -------------------------------------------------------------------------------------------------


def test_capture_l2_csv_replays_every_snapshot() -> None:
    loaded = load("l2-csv", [CAPTURE / "orderbooks_BTC.csv"])
    ev = loaded.events
    assert loaded.reports[0].records == 446 and loaded.reports[0].bad == 0
    assert loaded.stats["duplicate_snapshots"] == 1  # two rows carry the same exchange time and levels
    assert ev.kind[0] == BOOK_CLEAR and ev.side[0] == 0
    assert np.count_nonzero(ev.kind == BOOK_CLEAR) == 1  # one UTC day
    assert loaded.symbol == "BTC" and loaded.tick_size == 1.0 and loaded.sz_decimals == 5
    books = replay_windows(ev)
    snaps = read_capture_snapshots()
    assert set(books) == set(snaps)
    for ts, (bids, asks) in snaps.items():
        rb, ra = books[ts]
        assert visible(rb, min(bids), True, True) == bids
        assert visible(ra, max(asks), True, False) == asks
    # Far fewer rows than re-sending 40 levels per snapshot: the diff is doing its job.
    assert np.count_nonzero(ev.kind == BOOK_LEVEL) < 0.7 * 40 * 445


def test_capture_trades_dedup_and_history() -> None:
    loaded = load("trades-csv", [CAPTURE / "trades_BTC.csv"])
    ev = loaded.events
    assert loaded.reports[0].records == 1497
    assert loaded.stats["duplicate_trades"] == 30  # the resubscription at 13:02:32
    assert loaded.stats["history_trades_dropped"] == 30  # first push replays trades before the capture
    assert len(ev) == 1497 - 30 - 30 == 1437
    assert np.all(ev.kind == TRADE)
    first = ev.take(slice(0, 1))
    # line 32 of the file: the first live trade, received 0.67 s after it printed.
    assert first.ts[0] == 1756904112363 * NS_PER_MS and first.local_ts[0] == 1756904113_029678000
    assert first.side[0] == -1 and first.px[0] == 111038.0 and first.sz[0] == 0.00093
    assert np.all(np.diff(ev.ts) >= 0)
    assert set(np.unique(ev.side)) == {-1, 1}


def test_capture_pair_into_one_dir(tmp_path: Path) -> None:
    out = tmp_path / "d"
    book = load("l2-csv", [CAPTURE / "orderbooks_BTC.csv"])
    write_import(out, book, [CAPTURE / "orderbooks_BTC.csv"])
    trades = load("trades-csv", [CAPTURE / "trades_BTC.csv"])
    write_import(out, trades, [CAPTURE / "trades_BTC.csv"])
    ev = load_events(out)
    assert np.count_nonzero(ev.kind == TRADE) == 1437
    assert np.count_nonzero(ev.kind == BOOK_LEVEL) == np.count_nonzero(book.events.kind == BOOK_LEVEL)
    assert ev.kind[0] == BOOK_CLEAR  # the first live trade comes after the first snapshot
    meta = read_dataset_meta(out)
    assert meta["symbol"] == "BTC" and meta["tick_size"] == 1.0 and meta["sz_decimals"] == 5
    assert meta["source"] == "l2-csv+trades-csv" and len(meta["imports"]) == 2
    # Importing the same file twice is refused and leaves the directory untouched.
    before = sorted((p.name, p.stat().st_mtime_ns) for p in out.rglob("*"))
    with pytest.raises(DataError, match="already imported"):
        write_import(out, trades, [CAPTURE / "trades_BTC.csv"])
    assert sorted((p.name, p.stat().st_mtime_ns) for p in out.rglob("*")) == before


def test_hftbacktest_ws_sample() -> None:
    loaded = load("hyperliquid-ws", [REAL / "hl_hftbacktest_sample" / "btcusd_20250126.gz"])
    ev = loaded.events
    assert loaded.reports[0].records == 55  # 46 l2Book + 9 trades messages
    assert loaded.stats["snapshots"] == 45 and loaded.stats["duplicate_snapshots"] == 1
    assert loaded.stats["history_trades_dropped"] == 30  # the first trades message: all before 19:14:03.89
    assert np.count_nonzero(ev.kind == TRADE) == 34  # 1+1+1+1+1+7+21+1 live trades
    assert ev.kind[0] == BOOK_CLEAR and ev.local_ts[0] == 1737918843893903000
    trade = ev.take(np.flatnonzero(ev.kind == TRADE)[:1])
    assert trade.ts[0] == 1737918847000 * NS_PER_MS and trade.local_ts[0] == 1737918847319919000
    assert trade.side[0] == 1 and trade.px[0] == 105056.0 and trade.sz[0] == 0.02222


def test_rest_l2book_response() -> None:
    loaded = load("hyperliquid-rest", [REAL / "format_fixtures" / "hyperliquid_http_l2_book_btc.json"])
    ev = loaded.events
    assert len(ev) == 11 and ev.kind[0] == BOOK_CLEAR
    assert np.all(ev.ts == 1761786491067 * NS_PER_MS)
    bids = ev.px[(ev.kind == BOOK_LEVEL) & (ev.side == 1)]
    asks = ev.px[(ev.kind == BOOK_LEVEL) & (ev.side == -1)]
    assert sorted(bids) == [110423.0, 110424.0, 110425.0, 110426.0, 110427.0]
    assert sorted(asks) == [110428.0, 110430.0, 110431.0, 110432.0, 110433.0]


def test_hl_candles(tmp_path: Path) -> None:
    path = REAL / "hl_candles" / "BTC_USDC_USDC-1m-futures.csv"
    loaded = load("candles", [path])
    bars = loaded.bars
    assert len(bars) == 6808 and len(loaded.events) == 0
    assert bars.ts[0] == dt.datetime(2025, 7, 21, 11, 28, tzinfo=dt.UTC).timestamp() * 1e9
    assert (bars.open[0], bars.high[0], bars.low[0], bars.close[0], bars.volume[0]) == (
        118712, 118727, 118654, 118675, 2.63688)
    assert np.all(np.diff(bars.ts) == 60 * 10**9)  # contiguous, per PROVENANCE
    assert loaded.tick_size == 1.0
    write_import(tmp_path, loaded, [path])
    assert len(load_bars(tmp_path)) == 6808
    assert len(list((tmp_path / "bars").glob("*.parquet"))) == 6  # 07-21 .. 07-26


def test_bybit_candles() -> None:
    loaded = load("candles", [REAL / "bybit_btcusdt_1m" / "BTCUSDT_linear_1m_20250530_20250629.csv"])
    bars = loaded.bars
    assert len(bars) == 43200 and np.all(np.diff(bars.ts) == 60 * 10**9)
    assert bars.ts[0] == dt.datetime(2025, 5, 30, 16, 39, tzinfo=dt.UTC).timestamp() * 1e9
    assert (bars.open[0], bars.close[0], bars.volume[0]) == (104217.5, 104337.8, 477.605)
    assert loaded.tick_size == pytest.approx(0.1)
    assert (bars.close.min(), bars.close.max()) == (98295.8, 110514.7)  # PROVENANCE: 98,296 - 110,515 (closes)


def test_hl_funding_to_hourly() -> None:
    loaded = load("funding", [REAL / "hl_candles" / "BTC_USDC_USDC-1h-funding_rate.csv"])
    ev = loaded.events
    assert loaded.reports[0].records == 18778
    assert np.all(ev.kind == FUNDING) and np.all(ev.sz == 0) and np.all(ev.side == 0)
    # 82 eight-hour rows (May-June 2023) become 8 hourly rows each; the 3 two-hour gaps stay gaps.
    assert loaded.stats["funding_rows_split_to_hourly"] == 82
    assert len(ev) == 18778 + 82 * 7
    first_hourly = 1686186000054 * NS_PER_MS  # 2023-06-08T01:00:00.054Z, the first hourly row
    i = int(np.searchsorted(ev.ts, first_hourly))
    assert ev.px[i] == 1.25e-5 and ev.px[i - 1] == pytest.approx(0.0001 / 8)
    assert ev.ts[i] - ev.ts[i - 1] == first_hourly - 1686182400254 * NS_PER_MS  # 00:00:00.254 row, its last hour
    assert np.all(np.diff(ev.ts) > 0)
    gaps = np.diff(ev.ts) / NS_PER_HOUR
    assert np.count_nonzero(gaps > 1.5) == 3


# ---- hand-built fixtures ---------------------------------------------------------------------------------------


def archive_line(local: str, ms: int, bids: list[tuple[str, str]], asks: list[tuple[str, str]], coin: str = "BTC"
                 ) -> str:
    levels = [[{"px": p, "sz": s, "n": 1} for p, s in bids], [{"px": p, "sz": s, "n": 1} for p, s in asks]]
    return json.dumps({"time": local, "ver_num": 1, "raw": {"channel": "l2Book",
                                                            "data": {"coin": coin, "time": ms, "levels": levels}}})


def test_archive_lz4_fixture_and_malformed_lines(tmp_path: Path) -> None:
    lines = [
        archive_line("2023-09-16T09:00:01.039593170", 1694854800000, [("100.0", "1.0"), ("99.0", "2.0")],
                     [("101.0", "1.5")]),
        "{not json",
        archive_line("2023-09-16T09:00:02.000000001", 1694854801000, [("100.0", "1.0")], [("101.0", "1.5")]),
        json.dumps({"time": "2023-09-16T09:00:03", "ver_num": 1, "raw": {"channel": "trades", "data": []}}),
        archive_line("2023-09-16T09:00:04", 1694854803000, [("100.0", "1.0")], [("99.5", "1.5")]),  # crossed
        archive_line("2023-09-16T09:00:05", 1694854804000, [("99.0", "1.0"), ("100.0", "2.0")], []),  # unsorted
        "",
        archive_line("2023-09-16T09:00:06.5", 1694854805000, [("100.0", "3.0")], [("101.0", "1.5")]),
    ]
    path = tmp_path / "BTC.lz4"
    path.write_bytes(lz4.frame.compress(("\n".join(lines) + "\n").encode()))
    loaded = load("hyperliquid-archive", [path])
    rep = loaded.reports[0]
    assert (rep.lines, rep.records, rep.bad) == (8, 3, 4)
    assert [n for n, _ in rep.examples] == [2, 4, 5, 6]
    assert "channel 'trades'" in rep.examples[1][1]
    assert "crossed" in rep.examples[2][1] and "descending" in rep.examples[3][1]
    ev = loaded.events
    rows = list(zip(ev.ts.tolist(), ev.kind.tolist(), ev.side.tolist(), ev.px.tolist(), ev.sz.tolist(), strict=True))
    ms = NS_PER_MS
    assert rows == [
        (1694854800000 * ms, BOOK_CLEAR, 0, 0.0, 0.0),
        (1694854800000 * ms, BOOK_LEVEL, 1, 100.0, 1.0),
        (1694854800000 * ms, BOOK_LEVEL, 1, 99.0, 2.0),
        (1694854800000 * ms, BOOK_LEVEL, -1, 101.0, 1.5),
        (1694854801000 * ms, BOOK_LEVEL, 1, 99.0, 0.0),  # side shows 1 < 20 levels: fully visible, 99 is gone
        (1694854805000 * ms, BOOK_LEVEL, 1, 100.0, 3.0),
    ]
    assert ev.local_ts[0] == 1694854801039593170  # ns-exact receive time
    assert ev.local_ts[-1] == 1694854806500000000


def test_ws_plain_without_prefix_and_other_channels(tmp_path: Path) -> None:
    book = {"coin": "BTC", "time": 1000, "levels": [[{"px": "10", "sz": "1", "n": 1}], [{"px": "11", "sz": "2",
                                                                                         "n": 1}]]}
    msgs = [
        {"channel": "subscriptionResponse", "data": {"method": "subscribe"}},
        {"channel": "l2Book", "data": book},
        {"channel": "trades", "data": [{"coin": "BTC", "side": "A", "px": "10", "sz": "0.5", "time": 1001, "tid": 7},
                                       {"coin": "ETH", "side": "B", "px": "3", "sz": "1", "time": 1001, "tid": 8}]},
        {"channel": "trades", "data": [{"coin": "BTC", "side": "X", "px": "10", "sz": "0.5", "time": 1002, "tid": 9}]},
        {"channel": "pong"},
    ]
    path = tmp_path / "rec.jsonl.gz"
    path.write_bytes(gzip.compress("\n".join(json.dumps(m) for m in msgs).encode()))
    loaded = load("hyperliquid-ws", [path])
    rep = loaded.reports[0]
    assert rep.records == 2 and rep.bad == 1 and rep.examples[0][0] == 4 and "side 'X'" in rep.examples[0][1]
    assert rep.ignored == {"channel subscriptionResponse": 1, "channel pong": 1, "other coin trades": 1}
    ev = loaded.events
    assert ev.kind.tolist() == [BOOK_CLEAR, BOOK_LEVEL, BOOK_LEVEL, TRADE]
    assert np.array_equal(ev.local_ts, ev.ts)  # no receive-time prefix: local time is exchange time
    assert (ev.side[-1], ev.px[-1], ev.sz[-1]) == (-1, 10.0, 0.5)


def test_l2_csv_short_sides_and_bad_rows(tmp_path: Path) -> None:
    header = (CAPTURE / "orderbooks_BTC.csv").open().readline().strip()
    empty = [""] * 80

    def row(local: str, ms: int, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> str:
        cells = list(empty)
        for i, (p, s) in enumerate(bids):
            cells[4 * i], cells[4 * i + 1] = str(p), str(s)
        for i, (p, s) in enumerate(asks):
            cells[4 * i + 2], cells[4 * i + 3] = str(p), str(s)
        return ",".join([local, str(ms), str(ms), *cells])

    text = "\n".join([
        header,
        row("1.5", 1000, [(10.0, 1.0), (9.0, 1.0)], [(11.0, 1.0)]),
        row("1.6", 1100, [(10.0, 2.0)], []) + ",extra",
        row("nan", 1200, [(10.0, 2.0)], []),
        row("1.7", 1300, [(10.0, 2.0)], []),
    ])
    path = tmp_path / "orderbooks_BTC.csv"
    path.write_text(text + "\n")
    loaded = load("l2-csv", [path])
    rep = loaded.reports[0]
    assert (rep.records, rep.bad) == (2, 2) and [n for n, _ in rep.examples] == [3, 4]
    ev = loaded.events
    assert ev.local_ts[0] == 1_500_000_000
    last = ev.take(ev.ts == 1300 * NS_PER_MS)
    assert sorted(zip(last.side.tolist(), last.px.tolist(), last.sz.tolist(), strict=True)) == [
        (-1, 11.0, 0.0), (1, 9.0, 0.0), (1, 10.0, 2.0)]


@pytest.mark.parametrize(("source", "path", "needle"), [
    ("l2-csv", CAPTURE / "trades_BTC.csv", "L2 snapshot CSV"),
    ("trades-csv", CAPTURE / "orderbooks_BTC.csv", "trades CSV"),
    ("hyperliquid-archive", REAL / "hl_hftbacktest_sample" / "btcusd_20250126.gz", "archive l2Book"),
    ("hyperliquid-ws", CAPTURE / "trades_BTC.csv", "WebSocket recording"),
    ("candles", REAL / "hl_candles" / "BTC_USDC_USDC-1h-funding_rate.csv", "candles"),
    ("funding", REAL / "hl_candles" / "BTC_USDC_USDC-1m-futures.csv", "funding history"),
    ("hyperliquid-rest", CAPTURE / "trades_BTC.csv", "l2Book REST response"),
])
def test_wrong_format_is_refused(source: str, path: Path, needle: str) -> None:
    with pytest.raises(FormatError) as err:
        load(source, [path])
    assert str(path) in str(err.value) and needle in str(err.value)


def test_json_that_is_not_l2book_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(json.dumps({"time": "2023-01-01T00:00:00", "raw": {"channel": "trades", "data": []}})
                              for _ in range(30)))
    with pytest.raises(FormatError, match="channel 'trades', expected 'l2Book'"):
        load("hyperliquid-archive", [path])


def test_several_files_merge_sorted(tmp_path: Path) -> None:
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    a.write_text("timestamp,price,size,side,trade_id,exchange_timestamp\n5.0,10,1,buy,1,3000\n5.0,10,1,buy,2,4000\n")
    b.write_text("timestamp,price,size,side,trade_id,exchange_timestamp\n6.0,11,1,sell,3,3500\n")
    loaded = load("trades-csv", [a, b], keep_history=True)
    assert loaded.events.ts.tolist() == [3000 * NS_PER_MS, 3500 * NS_PER_MS, 4000 * NS_PER_MS]
    assert loaded.events.side.tolist() == [1, -1, 1]


def test_corrupt_lz4_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "BTC.lz4"
    data = lz4.frame.compress(b"\n".join(archive_line("2023-09-16T09:00:01", 1694854800000 + i, [("1", "1")], [])
                                         .encode() for i in range(2000)))
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"BTC\.lz4: lz4 stream is corrupt"):
        load("hyperliquid-archive", [path])


def test_candle_snapshot_json_and_candle_lines(tmp_path: Path) -> None:
    candles = [{"t": 1790352000000 + 60_000 * i, "T": 1790352059999 + 60_000 * i, "s": "BTC", "i": "1m",
                "o": "83912.0", "c": "84010.0", "h": "84039.0", "l": "83133.0", "v": "3.94344", "n": 35 + i}
               for i in range(3)]
    snap = tmp_path / "candles.json"
    snap.write_text(json.dumps(candles[::-1]))  # order does not matter
    loaded = load("candles", [snap])
    bars = loaded.bars
    assert bars.ts.tolist() == [(1790352000000 + 60_000 * i) * NS_PER_MS for i in range(3)]
    assert (bars.open[0], bars.high[0], bars.low[0], bars.close[0], bars.volume[0]) == (
        83912.0, 84039.0, 83133.0, 84010.0, 3.94344)
    assert bars.trades.tolist() == [35, 36, 37] and loaded.symbol == "BTC"
    # The candle channel written one message per line; the still-forming last candle arrives twice: last one wins.
    lines = tmp_path / "candles.jsonl"
    later = {**candles[2], "c": "84020.0", "h": "84040.0"}
    lines.write_text("\n".join(json.dumps(c) for c in [*candles, later]) + "\n{broken\n")
    loaded = load("candles", [lines])
    assert len(loaded.bars) == 3 and loaded.bars.close[-1] == 84020.0 and loaded.stats["duplicate_bars"] == 1
    assert loaded.reports[0].bad == 1 and loaded.reports[0].examples[0][0] == 5


def test_funding_history_json(tmp_path: Path) -> None:
    hist = [{"coin": "BTC", "fundingRate": f"{r}", "premium": "-0.0001875303", "time": 1790352000015 + 3_600_000 * i}
            for i, r in enumerate([0.0000125, -0.00002, 0.00003])]
    hist.append({"coin": "BTC", "fundingRate": "abc", "premium": "0", "time": 1790352000015 + 3 * 3_600_000})
    path = tmp_path / "funding.json"
    path.write_text(json.dumps(hist))
    loaded = load("funding", [path])
    ev = loaded.events
    assert ev.px.tolist() == [0.0000125, -0.00002, 0.00003]
    assert ev.ts[0] == 1790352000015 * NS_PER_MS and np.all(np.diff(ev.ts) == NS_PER_HOUR)
    assert loaded.reports[0].bad == 1 and "item 4" in loaded.reports[0].examples[0][1]
    assert loaded.stats["funding_rows_split_to_hourly"] == 0


def test_overlapping_recordings_merge_to_the_single_file_result(tmp_path: Path) -> None:
    """Two recordings that overlap (lines 1-36 and 21-55 of the sample) give exactly the one-file import."""
    sample = REAL / "hl_hftbacktest_sample" / "btcusd_20250126.gz"
    lines = gzip.decompress(sample.read_bytes()).decode().splitlines()
    a, b = tmp_path / "a.gz", tmp_path / "b.lz4"
    a.write_bytes(gzip.compress("\n".join(lines[:36]).encode()))
    b.write_bytes(lz4.frame.compress("\n".join(lines[20:]).encode()))
    whole = load("hyperliquid-ws", [sample])
    merged = load("hyperliquid-ws", [b, a])
    for x, y in zip(whole.events, merged.events, strict=True):
        assert np.array_equal(x, y)
    assert merged.stats["duplicate_snapshots"] == 1 + 13 and merged.stats["duplicate_trades"] == 3


@pytest.mark.parametrize("compress", [None, gzip.compress, lz4.frame.compress])
def test_progress_reports_every_input_byte(tmp_path: Path, compress: object) -> None:
    text = (CAPTURE / "trades_BTC.csv").read_bytes()
    path = tmp_path / "trades_BTC.csv"
    path.write_bytes(compress(text) if callable(compress) else text)
    seen: list[int] = []
    load("trades-csv", [path], seen.append)
    assert sum(seen) == path.stat().st_size and len(seen) >= 1


def test_file_with_only_unusable_snapshots_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "BTC.jsonl"
    path.write_text(archive_line("2023-09-16T09:00:01", 1694854800000, [("100.0", "1.0")], [("99.0", "1.0")]) + "\n")
    with pytest.raises(DataError, match=r"no usable data in 1 file\(s\) \(.*BTC.jsonl: line 1: crossed book"):
        load("hyperliquid-archive", [path])
