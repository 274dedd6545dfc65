"""Parquet store: per-day files, atomic writes, validation of what is read back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from amm500.data import store
from amm500.data.schema import BOOK_CLEAR, BOOK_LEVEL, FUNDING, NS_PER_DAY, TRADE, Bars, DataError, make_events

T0 = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()) * 1_000_000_000


def sample_events(n_days: int = 2) -> tuple:
    ts, kind, side, px, sz = [], [], [], [], []
    for d in range(n_days):
        base = T0 + d * NS_PER_DAY
        rows = [(0, BOOK_CLEAR, 0, 0.0, 0.0), (0, BOOK_LEVEL, 1, 90000.0, 1.5), (0, BOOK_LEVEL, -1, 90001.0, 2.0),
                (5, TRADE, -1, 90000.0, 0.1), (7, FUNDING, 0, -0.0000125, 0.0), (9, BOOK_LEVEL, 1, 90000.0, 0.0)]
        for off, k, s, p, q in rows:
            ts.append(base + off * 1_000_000_000)
            kind.append(k)
            side.append(s)
            px.append(p)
            sz.append(q)
    ts_a = np.array(ts)
    return make_events(ts_a, ts_a + 3_000_000, np.array(kind), np.array(side), np.array(px), np.array(sz))


def test_round_trip_by_day(tmp_path: Path) -> None:
    ev = sample_events(3)
    paths = store.write_events(tmp_path, ev)
    assert [p.name for p in paths] == ["2026-01-01.parquet", "2026-01-02.parquet", "2026-01-03.parquet"]
    days = list(store.iter_event_days(tmp_path))
    assert [d for d, _ in days] == [dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 3)]
    back = store.load_events(tmp_path)
    for a, b in zip(ev, back, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    assert len(store.load_events(tmp_path, days=1)) == len(ev) // 3
    # the negative funding rate survives validation; negative sizes do not
    assert back.px[back.kind == FUNDING][0] == -0.0000125


def test_write_is_deterministic(tmp_path: Path) -> None:
    ev = sample_events(1)
    a = store.write_events(tmp_path / "a", ev)[0].read_bytes()
    b = store.write_events(tmp_path / "b", ev)[0].read_bytes()
    assert a == b


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c["ts"].__setitem__(2, c["ts"][1] - 1), "not sorted at row 2"),
        (lambda c: c["kind"].__setitem__(1, 9), "row 1: kind 9"),
        (lambda c: c["side"].__setitem__(1, 3), "row 1: side 3"),
        (lambda c: c["sz"].__setitem__(1, -1.0), "row 1"),
        (lambda c: c["px"].__setitem__(1, np.nan), "row 1"),
    ],
)
def test_reader_rejects_bad_rows(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    ev = sample_events(1)
    cols = {name: getattr(ev, name).copy() for name in ev._fields}
    mutate(cols)
    path = tmp_path / "events" / "2026-01-01.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table(cols), path)
    with pytest.raises(DataError, match=message) as info:
        store.load_events(tmp_path)
    assert str(path) in str(info.value)


def test_reader_rejects_wrong_schema_and_garbage(tmp_path: Path) -> None:
    folder = tmp_path / "events"
    folder.mkdir()
    pq.write_table(pa.table({"ts": np.arange(3), "price": np.ones(3)}), folder / "2026-01-01.parquet")
    with pytest.raises(DataError, match="missing column"):
        store.load_events(tmp_path)
    (folder / "2026-01-01.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        store.load_events(tmp_path)
    ev = sample_events(1)
    cols = {name: getattr(ev, name) for name in ev._fields}
    cols["px"] = cols["px"].astype(np.float32)
    pq.write_table(pa.table(cols), folder / "2026-01-01.parquet")
    with pytest.raises(DataError, match="column px is float"):
        store.load_events(tmp_path)
    (folder / "junk.parquet").write_bytes(b"")
    with pytest.raises(DataError, match="YYYY-MM-DD"):
        store.event_days(tmp_path)


def test_require_data_dir(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such data directory"):
        store.require_data_dir(tmp_path / "nope")
    with pytest.raises(DataError, match="no canonical data"):
        store.require_data_dir(tmp_path)


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    ev = sample_events(1)
    bad = ev.with_columns(ts=ev.ts[::-1].copy())
    with pytest.raises(DataError):
        store.write_events_day(tmp_path, dt.date(2026, 1, 1), bad)
    assert not list(tmp_path.rglob("*.parquet")) and not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(DataError, match="outside UTC day"):
        store.write_events_day(tmp_path, dt.date(2026, 1, 2), ev)


def test_bars_round_trip_and_validation(tmp_path: Path) -> None:
    ts = T0 + np.arange(3) * 60_000_000_000
    bars = Bars(ts, np.array([1.0, 2, 3]), np.array([2.0, 3, 4]), np.array([0.5, 1, 2]), np.array([2.0, 3, 3]),
                np.array([1.0, 1, 1]), np.array([5, 6, 7]))
    store.write_bars(tmp_path, bars)
    back = store.load_bars(tmp_path)
    np.testing.assert_array_equal(back.close, bars.close)
    broken = bars.with_columns(high=np.array([0.1, 3, 4]))
    with pytest.raises(DataError, match="inconsistent bar"):
        store.write_bars(tmp_path / "x", broken)


def test_dataset_meta(tmp_path: Path) -> None:
    store.write_dataset_meta(tmp_path, symbol="BTC", tick_size=1.0)
    store.write_dataset_meta(tmp_path, source="test")
    meta = store.read_dataset_meta(tmp_path)
    assert meta["symbol"] == "BTC" and meta["source"] == "test" and meta["format"] == store.FORMAT_NAME
    (tmp_path / store.DATASET_FILE).write_text("{broken")
    with pytest.raises(DataError, match="unreadable dataset description"):
        store.read_dataset_meta(tmp_path)
