"""Market data for backtests: per-day event columns as memory-mapped ``.npy`` files.

Parquet is read (and validated) once per day file; the columns are then cached as ``.npy`` under
the user's cache directory (``$XDG_CACHE_HOME/amm500/npy``, never inside the data folder: the cache is
about five times the data's size) and memory-mapped on every later run; ``amm500 cache info|clear``
shows and removes it. Many backtests in one process, or parallel optimizer workers, therefore share the same
page cache instead of decoding Parquet again, and only the day being replayed is resident.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from amm500.core.files import OutputError, cache_home, write_atomic
from amm500.data.schema import EVENT_COLUMNS, Bars, DataError, Events
from amm500.data.store import (
    bar_days,
    event_days,
    load_bars,
    read_dataset_meta,
    read_events_file,
    require_data_dir,
)

CACHE_VERSION = "1"


@dataclass
class Market:
    """A data directory ready to replay: which days, where their cached columns are, the bars."""

    root: Path
    meta: dict[str, Any]
    days: list[dt.date]
    day_dirs: list[Path] = field(default_factory=list)
    bars: Bars = field(default_factory=Bars.empty)

    @property
    def has_events(self) -> bool:
        return bool(self.day_dirs)

    def n_events(self) -> int:
        return sum(int(np.load(d / "ts.npy", mmap_mode="r").shape[0]) for d in self.day_dirs)

    def iter_days(self, days: int | None = None) -> Iterator[tuple[dt.date, Events]]:
        """(day, Events) with memory-mapped columns; drop a day's arrays to release its pages."""
        last: int | None = None
        for day, d in list(zip(self.days, self.day_dirs, strict=True))[:days]:
            ev = Events(*(np.asarray(np.load(d / f"{name}.npy", mmap_mode="r")) for name, _ in EVENT_COLUMNS))
            if len(ev) and last is not None and int(ev.ts[0]) < last:
                raise DataError(f"{self.root}: day {day} starts before the previous day's last event")
            if len(ev):
                last = int(ev.ts[-1])
            yield day, ev


def _cache_root(root: Path) -> Path:
    """``<cache home>/npy/<hash of the data folder's real path>`` (created by the first day cached)."""
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]
    return cache_home() / "npy" / digest


def _save_atomic(path: Path, arr: np.ndarray) -> None:
    def _write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            np.save(fh, arr)

    write_atomic(path, _write)


def _cached_day(parquet: Path, cache: Path) -> Path:
    st = parquet.stat()
    stamp = f"{CACHE_VERSION}:{st.st_size}:{st.st_mtime_ns}"
    d = cache / parquet.stem
    stamp_file = d / "stamp"
    if stamp_file.exists() and stamp_file.read_text() == stamp and all(
            (d / f"{n}.npy").exists() for n, _ in EVENT_COLUMNS):
        return d
    ev = read_events_file(parquet)  # validates first: a bad file leaves no (empty) cache folder behind
    try:
        d.mkdir(parents=True, exist_ok=True)
        stamp_file.unlink(missing_ok=True)
        for (name, _), col in zip(EVENT_COLUMNS, ev, strict=True):
            _save_atomic(d / f"{name}.npy", np.ascontiguousarray(col))
        stamp_file.write_text(stamp)
    except (OSError, OutputError) as exc:
        raise DataError(f"cannot cache {parquet.name} under {cache} ({exc}); set XDG_CACHE_HOME to a writable "
                        "folder") from None
    return d


def load_market(path: Path | str, days: int | None = None) -> Market:
    """Validate a canonical data directory and prepare its first ``days`` days for replay."""
    root = require_data_dir(Path(path))
    if days is not None and days < 1:
        raise DataError(f"days must be >= 1 (got {days})")
    meta = read_dataset_meta(root)
    available = event_days(root) or bar_days(root)
    if days is not None and days > len(available):
        span = f" ({available[0][0]} to {available[-1][0]})" if available else ""
        raise DataError(f"--days {days}: {root} holds only {len(available)} day(s){span}")
    files = event_days(root)[:days] if days is not None else event_days(root)
    dirs: list[Path] = []
    if files:
        cache = _cache_root(root)
        dirs = [_cached_day(p, cache) for _, p in files]
    bars = load_bars(root, days) if bar_days(root) else Bars.empty()
    day_list = [d for d, _ in files] if files else [d for d, _ in bar_days(root)][:days]
    return Market(root=root, meta=meta, days=day_list, day_dirs=dirs, bars=bars)
