"""Writing a loaded import into a data directory, merging with the days already there.

Merging is conservative: a day that already holds events is read, combined with the new rows,
sorted by time (at equal times prints before book rows, otherwise existing rows first) and rewritten
atomically. Two book streams may not interleave on one day (the level updates of one would corrupt
the other), and the same input file is never imported twice (``dataset.json`` keeps each file's
SHA-256). Every check runs before the first write, so a refused import leaves the directory as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from amm500.data.loaders import Loaded
from amm500.data.schema import BOOK_CLEAR, BOOK_LEVEL, Bars, DataError, Events
from amm500.data.store import (
    bars_path,
    events_path,
    read_bars_file,
    read_dataset_meta,
    read_events_file,
    split_by_day,
    write_bars_day,
    write_dataset_meta,
    write_events_day,
)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def imported_hashes(root: Path) -> set[str]:
    """SHA-256 of every file already imported into ``root``."""
    meta = read_dataset_meta(root)
    return {f.get("sha256") for imp in meta.get("imports", []) for f in imp.get("files", [])}


def _book_span(ev: Events) -> tuple[int, int] | None:
    book = ev.ts[(ev.kind == BOOK_LEVEL) | (ev.kind == BOOK_CLEAR)]
    return (int(book[0]), int(book[-1])) if book.size else None


def _merge_meta(root: Path, loaded: Loaded, tick_size: float | None, sz_decimals: int | None,
                symbol: str | None) -> dict[str, Any]:
    meta = read_dataset_meta(root)
    sym = symbol or loaded.symbol
    if meta.get("symbol") and sym and meta["symbol"] != sym:
        raise DataError(f"{root}: holds {meta['symbol']} data; the new data is {sym} (use another --out directory)")
    tick = tick_size if tick_size is not None else loaded.tick_size
    if tick is not None and meta.get("tick_size") is not None and tick_size is None and not np.isclose(
            float(meta["tick_size"]), tick, rtol=1e-9, atol=0.0):
        raise DataError(f"{root}: tick_size is {meta['tick_size']}, the new data looks like tick {tick} (another "
                        "venue?); pass --tick-size to override or use another --out directory")
    out: dict[str, Any] = {"symbol": meta.get("symbol") or sym or "BTC"}
    out["tick_size"] = tick if tick_size is not None else meta.get("tick_size", tick)
    if sz_decimals is not None:
        out["sz_decimals"] = sz_decimals
    else:
        out["sz_decimals"] = meta.get("sz_decimals", loaded.sz_decimals)
    sources = [s for s in str(meta.get("source", "")).split("+") if s]
    if loaded.source not in sources:
        sources.append(loaded.source)
    out["source"] = "+".join(sources)
    out["imports"] = list(meta.get("imports", []))
    return out


def write_import(root: Path, loaded: Loaded, files: list[Path], *, tick_size: float | None = None,
                 sz_decimals: int | None = None, symbol: str | None = None,
                 on_day: Callable[[dt.date], None] | None = None) -> list[Path]:
    """Merge ``loaded`` into ``root`` (created when missing); returns the files written."""
    root = Path(root)
    meta = _merge_meta(root, loaded, tick_size, sz_decimals, symbol)
    hashes = [(Path(f), file_sha256(Path(f))) for f in files]
    done = {f.get("sha256"): imp.get("at", "?") for imp in meta["imports"] for f in imp.get("files", [])}
    for path, digest in hashes:
        if digest in done:
            raise DataError(f"{path}: already imported into {root} (at {done[digest]}); nothing written")

    event_days: list[tuple[dt.date, Events]] = []
    for day, sl in split_by_day(loaded.events.ts):
        new = loaded.events.take(sl)
        path = events_path(root, day)
        if path.exists():
            old = read_events_file(path)
            a, b = _book_span(old), _book_span(new)
            if a and b and a[0] <= b[1] and b[0] <= a[1]:
                raise DataError(f"{path}: already holds book data overlapping the new book data in time; import all "
                                "book files of a day in one command (they are merged snapshot by snapshot)")
            new = Events.concat([old, new]).sorted()
        event_days.append((day, new))
    bar_days: list[tuple[dt.date, Bars]] = []
    for day, sl in split_by_day(loaded.bars.ts):
        bars = loaded.bars.take(sl)
        path = bars_path(root, day)
        if path.exists():
            old_bars = read_bars_file(path)
            keep_old = ~np.isin(old_bars.ts, bars.ts)  # the new import wins on repeated bar times
            merged = Bars.concat([old_bars.take(keep_old), bars])
            bars = merged.take(np.argsort(merged.ts, kind="stable"))
        bar_days.append((day, bars))

    written: list[Path] = []
    for day, ev in event_days:
        written.append(write_events_day(root, day, ev))
        if on_day:
            on_day(day)
    for day, bars in bar_days:
        written.append(write_bars_day(root, day, bars))
        if on_day:
            on_day(day)
    meta["imports"].append({
        "source": loaded.source,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "files": [{"name": p.name, "sha256": d, "bytes": p.stat().st_size} for p, d in hashes],
        "summary": {k: v for k, v in loaded.summary().items() if k != "files"},
    })
    write_dataset_meta(root, **meta)
    return written
