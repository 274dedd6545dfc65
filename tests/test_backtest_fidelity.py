"""Issue 16: the three mechanisms that kept AMM-500's fills from matching hftbacktest's on real data.

1. where the quote timers start (``backtest.timer_anchor``, ``backtest.timer_offset_ms``);
2. a trade-through fill decided in whole lots, never on the sign of a float left by rounding;
3. prints ordered before the book state that results from them, by every importer.

Scenarios use the helpers' book (99,999 / 100,001) and the reference ladder quoting one 0.002 BTC
level per side at 99,995 / 100,005 with 50 ms latencies.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from amm500.backtest.loop import first_fire
from amm500.data import store
from amm500.data.loaders import load
from amm500.data.loaders.dataset import write_import
from amm500.data.schema import BOOK_CLEAR, BOOK_LEVEL, NS_PER_MS, TRADE, make_events
from amm500.sim.layout import TIMER_ANCHORS
from backtest_helpers import ASK, BID, SELL, T0, book, level, ms, run, trade

# ---------------------------------------------------------------------------------------------------
# 1. timer anchor
# ---------------------------------------------------------------------------------------------------
MS = NS_PER_MS


@pytest.mark.parametrize(("anchor", "t_start", "first_xts", "offset", "expected"), [
    ("first_local", 300, 0, 0, 300),  # the live loop: every timer at its first moment
    ("first_local", 300, 0, 120, 420),
    ("first_exchange", 0, 0, 0, 500),  # hftbacktest: one step after the first row
    ("first_exchange", 300, 0, 0, 500),
    ("first_exchange", 1_234, 0, 0, 1_500),  # grid points before the strategy saw anything are skipped
    ("first_exchange", 1_234, 0, 100, 1_600),
    ("epoch", 1_234, 0, 0, 1_500),
    ("epoch", 1_234, 0, 300, 1_300),
])
def test_first_fire_per_anchor(anchor: str, t_start: int, first_xts: int, offset: int, expected: int) -> None:
    base = 1_767_229_200_000  # a whole hour, in ms: the epoch grid of 500 ms lands on it
    got = first_fire((base + t_start) * MS, 500 * MS, (base + first_xts) * MS, TIMER_ANCHORS[anchor], offset * MS)
    assert got == (base + expected) * MS


def test_default_anchor_quotes_at_the_first_event_like_the_live_loop(tmp_path: Path) -> None:
    # quote at 0 -> at the exchange at 50 ms; a sell through our bid at 60 ms fills it. Timers that
    # start one interval late (the old rule) would only quote at 500 ms and miss it.
    rows = [*book(0), trade(60, SELL, 99_990, 0.01), level(2000, BID, 99_998, 1.0)]
    r = run(tmp_path, rows, "backtest.timer_offset_ms=0")
    assert ms(r.fills_ts) == [60.0]


@pytest.mark.parametrize(("anchor", "offset", "fills"), [
    ("first_local", 0, [400.0]),  # quote at 300 (first local event), live at 350
    ("first_exchange", 0, [600.0]),  # quote at 500 (exchange grid), live at 550
    ("first_local", 200, [600.0]),  # the whole grid shifted 200 ms: quote at 500, live at 550
])
def test_anchor_and_offset_move_the_first_quote(tmp_path: Path, anchor: str, offset: float,
                                                fills: list[float]) -> None:
    # the book reaches us 300 ms after its exchange time; sells through our bid at 400 and 600 ms
    rows = [*book(0, lt=300), trade(400, SELL, 99_990, 0.01, lt=700), trade(600, SELL, 99_990, 0.01, lt=900),
            level(3000, BID, 99_998, 1.0, lt=3300)]
    r = run(tmp_path, rows, f"backtest.timer_anchor={anchor}", f"backtest.timer_offset_ms={offset}")
    assert ms(r.fills_ts)[:1] == fills


# ---------------------------------------------------------------------------------------------------
# 2. fills decided in lots
# ---------------------------------------------------------------------------------------------------
def test_prints_exactly_equal_to_the_queue_ahead_do_not_fill(tmp_path: Path) -> None:
    # 0.3 BTC ahead of our bid; 0.1 + 0.2 print at our price: in floats 0.3 - 0.1 - 0.2 = -2.8e-17,
    # which an ``ahead < 0`` test took for a fill. Exactly the queue traded: we are at the front, unfilled.
    assert 0.3 - 0.1 - 0.2 < 0.0
    rows = [*book(0), level(0, BID, 99_995, 0.3), trade(1000, SELL, 99_995, 0.1), trade(1100, SELL, 99_995, 0.2),
            level(2000, ASK, 100_002, 1.0)]
    for sets in ((), ("backtest.partial_fills=false",)):
        assert run(tmp_path / str(len(sets)), rows, *sets).metrics["fills"] == 0


def test_one_more_lot_after_the_tie_fills(tmp_path: Path) -> None:
    rows = [*book(0), level(0, BID, 99_995, 0.3), trade(1000, SELL, 99_995, 0.1), trade(1100, SELL, 99_995, 0.2),
            trade(1200, SELL, 99_995, 0.00001)]  # one lot past us
    r = run(tmp_path, rows, "backtest.partial_fills=false")
    assert ms(r.fills_ts) == [1200.0]


# ---------------------------------------------------------------------------------------------------
# 3. prints before the book state resulting from them
# ---------------------------------------------------------------------------------------------------
def test_sorted_puts_prints_before_book_rows_of_the_same_instant() -> None:
    ts = np.array([5, 5, 5, 5, 3], dtype=np.int64)
    kind = np.array([BOOK_CLEAR, BOOK_LEVEL, TRADE, BOOK_LEVEL, TRADE], dtype=np.uint8)
    px = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    ev = make_events(ts, ts, kind, np.zeros(5), px, np.ones(5)).sorted()
    assert ev.px.tolist() == [4.0, 2.0, 0.0, 1.0, 3.0]  # book rows keep their order (clear first)


def test_a_snapshot_after_its_trades_does_not_count_them_twice(tmp_path: Path) -> None:
    # our bid joins 5 BTC at 99,995. At 1,000 ms 3 BTC trade there and the book (same exchange time,
    # reflecting them) shows 2 left. Risk-averse: 2 ahead, not filled; a further 2.5 fills us.
    # Book first would give min(5, 2) = 2, then -1 after the prints: a fill nobody traded against.
    rows = [*book(0), level(0, BID, 99_995, 5.0), level(1000, BID, 99_995, 2.0), trade(1000, SELL, 99_995, 3.0),
            trade(1500, SELL, 99_995, 2.5)]
    r = run(tmp_path, rows, "backtest.partial_fills=false")
    assert ms(r.fills_ts) == [1500.0]


def _ws_file(tmp_path: Path) -> Path:
    t_ms = T0 // MS + 1000
    lines = [
        {"channel": "l2Book", "data": {"coin": "BTC", "time": t_ms, "levels": [
            [{"px": "99999", "sz": "1.0", "n": 1}], [{"px": "100001", "sz": "1.0", "n": 1}]]}},
        {"channel": "trades", "data": [{"coin": "BTC", "side": "A", "px": "99999", "sz": "0.5", "time": t_ms,
                                         "hash": "0x0", "tid": 7}]},
    ]
    path = tmp_path / "ws.txt"
    path.write_text("".join(f"{(t_ms + 5 + i) * MS} {json.dumps(m)}\n" for i, m in enumerate(lines)))
    return path


def test_ws_importer_orders_prints_before_the_book_of_the_same_time(tmp_path: Path) -> None:
    ev = load("hyperliquid-ws", [_ws_file(tmp_path)], keep_history=True).events
    assert ev.kind.tolist() == [TRADE, BOOK_CLEAR, BOOK_LEVEL, BOOK_LEVEL]
    # each message keeps its own receive time
    assert ev.local_ts[0] == T0 + 1006 * MS and ev.local_ts[1] == T0 + 1005 * MS


def test_book_and_trades_imported_into_one_dir_put_prints_first(tmp_path: Path) -> None:
    """l2-csv then trades-csv (two imports merged into one day): prints of an instant before its book."""
    t_ms = T0 // MS + 1000
    cols = ["timestamp", "sequence", "exchange_timestamp"]
    for k in range(20):
        cols += [f"bid_price_{k}", f"bid_size_{k}", f"ask_price_{k}", f"ask_size_{k}"]
    row = [f"{t_ms / 1000 + 0.005:.3f}", str(t_ms), str(t_ms), "99999", "1.0", "100001", "1.0"] + [""] * 76
    books = tmp_path / "orderbooks_BTC.csv"
    books.write_text(",".join(cols) + "\n" + ",".join(row) + "\n")
    trades = tmp_path / "trades_BTC.csv"
    trades.write_text("timestamp,price,size,side,trade_id,exchange_timestamp\n"
                      f"{t_ms / 1000 + 0.006:.3f},99999,0.5,sell,7,{t_ms}\n")
    out = tmp_path / "ds"
    write_import(out, load("l2-csv", [books]), [books])
    write_import(out, load("trades-csv", [trades], keep_history=True), [trades])
    (day,) = sorted((out / "events").glob("*.parquet"))
    ev = store.read_events_file(day)
    assert ev.kind.tolist() == [TRADE, BOOK_CLEAR, BOOK_LEVEL, BOOK_LEVEL]
    assert ev.side.tolist()[0] == SELL and ev.px[0] == 99_999



def test_recorder_puts_prints_before_the_book_of_the_same_block(tmp_path: Path) -> None:
    from amm500.data.recorder import Recorder, compact
    from amm500.data.store import load_events

    t_ms = T0 // MS
    rec = Recorder(tmp_path)
    rec.connected(first=True)
    rec._since = T0
    book_msg = {"channel": "l2Book", "data": {"coin": "BTC", "time": t_ms + 500, "levels": [
        [{"px": "99999", "sz": "1.0", "n": 1}], [{"px": "100001", "sz": "1.0", "n": 1}]]}}
    trades_msg = {"channel": "trades", "data": [{"coin": "BTC", "side": "A", "px": "99999", "sz": "0.5",
                                                 "time": t_ms + 500, "hash": "0x", "tid": 7, "users": []}]}
    rec.on_message(json.dumps(book_msg), T0 + 501 * MS)  # the book push arrives first, as on the wire
    rec.on_message(json.dumps(trades_msg), T0 + 502 * MS)
    rec.flush()
    compact(tmp_path)
    ev = load_events(tmp_path)
    assert ev.kind.tolist() == [TRADE, BOOK_CLEAR, BOOK_LEVEL, BOOK_LEVEL]
    assert ev.local_ts.tolist() == [T0 + 502 * MS, T0 + 501 * MS, T0 + 501 * MS, T0 + 501 * MS]
