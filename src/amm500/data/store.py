"""Parquet storage of the canonical tables: one file per UTC day, written atomically.

Layout of a data directory::

    DIR/dataset.json            what the data is (symbol, tick, lot, source, generator parameters)
    DIR/events/YYYY-MM-DD.parquet   canonical events of that UTC day (see schema.py)
    DIR/bars/YYYY-MM-DD.parquet     OHLCV bars of that UTC day (bar-mode sources)

Every events file starts with a book clear and a full snapshot whenever the source has a book, so
any day can be replayed on its own. Readers validate each file (columns, dtypes, sorted time, known
kinds, finite numbers) and raise :class:`DataError` naming the file and the first bad row.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from amm500.core.files import write_atomic, write_text_atomic
from amm500.data.schema import (
    BAR_COLUMNS,
    BAR_SCHEMA,
    EVENT_COLUMNS,
    EVENT_SCHEMA,
    FUNDING,
    NS_PER_DAY,
    Bars,
    DataError,
    Events,
)

DATASET_FILE = "dataset.json"
EVENTS_DIR = "events"
BARS_DIR = "bars"
FORMAT_NAME = "amm500-canonical"
FORMAT_VERSION = 1


#: dataset.json fields the code reads, with the JSON types allowed (checked on every read, so a hand-edited
#: file fails in one sentence naming the field instead of deep inside a loader or the backtester).
META_FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "symbol": (str, "a coin name string such as \"BTC\""),
    "tick_size": ((int, float), "a number > 0"),
    "sz_decimals": (int, "an integer number of size decimals"),
    "source": (str, "a string"),
    "imports": (list, "a list of import records"),
    "fetched": (dict, "an object"),
    "days_written": (int, "an integer"),
}


def day_of(ts_ns: int) -> dt.date:
    return dt.datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=dt.UTC).date()


def day_start_ns(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) * 1_000_000_000


def _atomic_write(path: Path, write: Any) -> None:
    """Never a half file: ``core.files.write_atomic`` (symlinks followed, special files refused)."""
    write_atomic(path, write)


def write_table_atomic(path: Path, table: pa.Table, metadata: Mapping[str, str] | None = None) -> None:
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    # Dictionary pages buy nothing on high-cardinality prices and timestamps: without them the day
    # writes in about two thirds of the time and comes out slightly smaller.
    _atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd", compression_level=3,
                                                   use_dictionary=False))


def write_json_atomic(path: Path, data: Mapping[str, Any], flag: str | None = None) -> None:
    """Pretty JSON, written atomically; ``flag`` names the option in an error (``--json out.json: ...``)."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n", flag)


def read_dataset_meta(root: Path) -> dict[str, Any]:
    path = Path(root) / DATASET_FILE
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: unreadable dataset description ({exc})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{path}: expected a JSON object")
    for key, (types, allowed) in META_FIELDS.items():
        value = meta.get(key)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            raise DataError(f"{path}: field {key!r} is {json.dumps(value)}; expected {allowed}")
    if isinstance(meta.get("tick_size"), int | float) and not meta["tick_size"] > 0:
        raise DataError(f"{path}: field 'tick_size' is {meta['tick_size']}; expected a number > 0")
    return meta


def write_dataset_meta(root: Path, **fields: Any) -> None:
    """Merge ``fields`` into ``dataset.json`` (created when missing)."""
    root = Path(root)
    meta = read_dataset_meta(root)
    meta.update({"format": FORMAT_NAME, "version": FORMAT_VERSION})
    meta.update(fields)
    write_json_atomic(root / DATASET_FILE, meta)


def events_path(root: Path, day: dt.date) -> Path:
    return Path(root) / EVENTS_DIR / f"{day.isoformat()}.parquet"


def bars_path(root: Path, day: dt.date) -> Path:
    return Path(root) / BARS_DIR / f"{day.isoformat()}.parquet"


def _check_day_bounds(path: Path, ts: np.ndarray, day: dt.date) -> None:
    if ts.size == 0:
        return
    start = day_start_ns(day)
    if ts[0] < start or ts[-1] >= start + NS_PER_DAY:
        raise DataError(f"{path}: rows fall outside UTC day {day.isoformat()}")


def write_events_day(root: Path, day: dt.date, events: Events, metadata: Mapping[str, str] | None = None) -> Path:
    path = events_path(root, day)
    validate_events(events, str(path))
    _check_day_bounds(path, events.ts, day)
    write_table_atomic(path, events.to_table(), metadata)
    return path


def write_bars_day(root: Path, day: dt.date, bars: Bars) -> Path:
    path = bars_path(root, day)
    validate_bars(bars, str(path))
    _check_day_bounds(path, bars.ts, day)
    write_table_atomic(path, bars.to_table())
    return path


def split_by_day(ts: np.ndarray) -> list[tuple[dt.date, slice]]:
    """Slices of a time-sorted array, one per UTC day."""
    if ts.size == 0:
        return []
    day_idx = ts // NS_PER_DAY
    cuts = np.flatnonzero(np.diff(day_idx)) + 1
    bounds = [0, *cuts.tolist(), ts.size]
    return [(day_of(int(ts[a])), slice(a, b)) for a, b in itertools.pairwise(bounds)]


def write_events(root: Path, events: Events) -> list[Path]:
    """Write a sorted event table as per-day files (replacing those days)."""
    return [write_events_day(root, day, events.take(sl)) for day, sl in split_by_day(events.ts)]


def write_bars(root: Path, bars: Bars) -> list[Path]:
    return [write_bars_day(root, day, bars.take(sl)) for day, sl in split_by_day(bars.ts)]


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def validate_events(ev: Events, where: str) -> None:
    """Raise :class:`DataError` naming ``where`` and the first offending row."""
    n = len(ev)
    for (name, dtype), col in zip(EVENT_COLUMNS, ev, strict=True):
        if col.dtype != np.dtype(dtype) or col.shape != (n,):
            raise DataError(f"{where}: column {name} must be {dtype} of length {n} (got {col.dtype}{col.shape})")
    if n == 0:
        return
    if np.any(ev.ts[1:] < ev.ts[:-1]):
        i = _first_bad(ev.ts[1:] < ev.ts[:-1]) + 1
        raise DataError(f"{where}: timestamps not sorted at row {i} (ts {ev.ts[i]} < previous {ev.ts[i - 1]})")
    bad_kind = (ev.kind < 1) | (ev.kind > 4)
    if bad_kind.any():
        i = _first_bad(bad_kind)
        raise DataError(f"{where}: row {i}: kind {ev.kind[i]} is not 1 (book), 2 (trade), 3 (clear) or 4 (funding)")
    bad_side = (ev.side < -1) | (ev.side > 1)
    if bad_side.any():
        i = _first_bad(bad_side)
        raise DataError(f"{where}: row {i}: side {ev.side[i]} must be -1, 0 or +1")
    bad_num = ~np.isfinite(ev.px) | ~np.isfinite(ev.sz) | (ev.sz < 0)
    bad_num &= ev.kind != FUNDING  # funding rates may be negative; checked for finiteness below
    bad_num |= ~np.isfinite(ev.px)
    if bad_num.any():
        i = _first_bad(bad_num)
        raise DataError(f"{where}: row {i}: px {ev.px[i]} / sz {ev.sz[i]} must be finite and sz >= 0")


def validate_bars(bars: Bars, where: str) -> None:
    n = len(bars)
    for (name, dtype), col in zip(BAR_COLUMNS, bars, strict=True):
        if col.dtype != np.dtype(dtype) or col.shape != (n,):
            raise DataError(f"{where}: column {name} must be {dtype} of length {n}")
    if n == 0:
        return
    if np.any(bars.ts[1:] <= bars.ts[:-1]):
        i = _first_bad(bars.ts[1:] <= bars.ts[:-1]) + 1
        raise DataError(f"{where}: bar times not strictly increasing at row {i}")
    ohlc = np.stack([bars.open, bars.high, bars.low, bars.close])
    bad = ~np.isfinite(ohlc).all(axis=0) | (bars.high < np.maximum(bars.open, bars.close)) | (
        bars.low > np.minimum(bars.open, bars.close)) | (bars.low <= 0) | (bars.volume < 0)
    if bad.any():
        i = _first_bad(bad)
        raise DataError(f"{where}: row {i}: inconsistent bar (o {bars.open[i]} h {bars.high[i]} "
                        f"l {bars.low[i]} c {bars.close[i]} v {bars.volume[i]})")


def read_parquet(path: Path) -> pa.Table:
    """The whole file, or a one-line DataError (Arrow's own messages can span lines)."""
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({' '.join(str(exc).split())})") from None


def _read_table(path: Path, schema: pa.Schema) -> pa.Table:
    table = read_parquet(path)
    missing = [f.name for f in schema if f.name not in table.column_names]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(schema.names)}")
    table = table.select(schema.names)
    for field in schema:
        col = table.column(field.name)
        if col.type != field.type:
            raise DataError(f"{path}: column {field.name} is {col.type}, expected {field.type}")
        if col.null_count:
            raise DataError(f"{path}: column {field.name} has {col.null_count} null value(s)")
    return table


def read_events_file(path: Path) -> Events:
    table = _read_table(Path(path), EVENT_SCHEMA)
    ev = Events(*(np.ascontiguousarray(table.column(n).to_numpy()) for n, _ in EVENT_COLUMNS))
    validate_events(ev, str(path))
    return ev


def read_bars_file(path: Path) -> Bars:
    table = _read_table(Path(path), BAR_SCHEMA)
    bars = Bars(*(np.ascontiguousarray(table.column(n).to_numpy()) for n, _ in BAR_COLUMNS))
    validate_bars(bars, str(path))
    return bars


def _day_files(root: Path, sub: str) -> list[tuple[dt.date, Path]]:
    folder = Path(root) / sub
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.glob("*.parquet")):
        try:
            out.append((dt.date.fromisoformat(p.stem), p))
        except ValueError:
            raise DataError(f"{p}: file name must be YYYY-MM-DD.parquet") from None
    return out


def event_days(root: Path) -> list[tuple[dt.date, Path]]:
    """The (day, path) list of events files, oldest first."""
    return _day_files(root, EVENTS_DIR)


def bar_days(root: Path) -> list[tuple[dt.date, Path]]:
    return _day_files(root, BARS_DIR)


def require_data_dir(root: Path) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such data directory")
    if not event_days(root) and not bar_days(root):
        raise DataError(
            f"{root}: no canonical data found (expected {EVENTS_DIR}/YYYY-MM-DD.parquet or "
            f"{BARS_DIR}/YYYY-MM-DD.parquet; create it with `amm500 data generate` or `amm500 data import`)"
        )
    return root


def iter_event_days(root: Path, days: int | None = None) -> Iterator[tuple[dt.date, Events]]:
    """Stream the events table day by day; memory stays at one day whatever the span."""
    files = event_days(root)
    if days is not None:
        files = files[:days]
    last_ts: int | None = None
    for day, path in files:
        ev = read_events_file(path)
        if len(ev) and last_ts is not None and ev.ts[0] < last_ts:
            raise DataError(f"{path}: starts before the previous day's last event (files overlap)")
        if len(ev):
            last_ts = int(ev.ts[-1])
        yield day, ev


def iter_bar_days(root: Path, days: int | None = None) -> Iterator[tuple[dt.date, Bars]]:
    files = bar_days(root)
    if days is not None:
        files = files[:days]
    for day, path in files:
        yield day, read_bars_file(path)


def load_events(root: Path, days: int | None = None) -> Events:
    return Events.concat([ev for _, ev in iter_event_days(root, days)])


def load_bars(root: Path, days: int | None = None) -> Bars:
    return Bars.concat([b for _, b in iter_bar_days(root, days)])
