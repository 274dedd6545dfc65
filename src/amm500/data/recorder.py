"""Record a Hyperliquid WebSocket feed (l2Book + trades) into canonical Parquet, safe to kill at any moment.

Messages are turned into canonical rows as they arrive (the streaming :class:`BookDiffer` for the
20-level snapshots, trades de-duplicated by ``(time, tid)``). Every ``flush_s`` seconds the rows are
written as a small *part* file under ``DIR/.parts/`` (temporary name, then rename: a part either
exists whole or not at all). Every ``compact_s`` seconds, at exit and at the start of the next run,
parts are folded into ``DIR/events/YYYY-MM-DD.parquet`` (read, merged, sorted, atomically replaced).
The day file records the name of the last part it contains, so a kill between the rename of the
day file and the removal of its parts never duplicates rows. A kill loses at most the rows of the
last ``flush_s`` seconds; whatever is on disk always reads.

After a disconnect the book differ is reset: the next snapshot starts with a book clear, because
the book may have changed while nobody was listening. The socket itself is the venue's data client
(:func:`amm500.runs.record.record`): this module holds no network code.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from amm500.core.api import B_ASK_PX, B_ASK_SZ, B_BID_PX, B_BID_SZ
from amm500.data.book_diff import BookDiffer
from amm500.data.loaders.common import decimals_needed, trade_side
from amm500.data.schema import NS_PER_DAY, NS_PER_MS, TRADE, DataError, Events, make_events
from amm500.data.store import (
    events_path,
    read_dataset_meta,
    read_events_file,
    write_dataset_meta,
    write_events_day,
    write_table_atomic,
)

PARTS_DIR = ".parts"
LAST_PART_KEY = "amm500.recorder.last_part"
DEPTH = 20
TID_MEMORY = 50_000


@dataclass
class RecorderStats:
    messages: int = 0
    snapshots: int = 0
    trades: int = 0  # prints handed to a part file (counted at flush: a print may wait for the first book)
    duplicate_trades: int = 0
    history_trades: int = 0
    before_first_book: int = 0  # prints older than the recording's first book: nothing to price them against
    bad_messages: int = 0
    out_of_order: int = 0
    parts: int = 0
    compactions: int = 0
    connects: int = 0
    last_error: str = ""


def _levels(raw: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(px, sz) arrays of shape (2, DEPTH) (bids, asks; best first) and the level counts of an l2Book message."""
    if not isinstance(raw, list) or len(raw) != 2 or not all(isinstance(side, list) for side in raw):
        raise ValueError("levels must be a list of two lists (bids, asks)")
    px, sz = np.zeros((2, DEPTH)), np.zeros((2, DEPTH))
    n = np.zeros(2, dtype=np.int64)
    for i, side in enumerate(raw):
        if len(side) > DEPTH:
            raise ValueError(f"{len(side)} levels on one side, at most {DEPTH}")
        for j, level in enumerate(side):
            if not isinstance(level, dict):
                raise ValueError(f"level {level!r} must be an object with px and sz")
            px[i, j], sz[i, j] = float(level["px"]), float(level["sz"])
        n[i] = len(side)
        k = n[i]
        if not (np.all(np.isfinite(px[i, :k])) and np.all(px[i, :k] > 0) and np.all(np.isfinite(sz[i, :k]))
                and np.all(sz[i, :k] > 0)):
            raise ValueError("every level needs a positive, finite px and sz")
        step = np.diff(px[i, :k])
        if np.any(step >= 0 if i == 0 else step <= 0):
            raise ValueError("levels must be strictly ordered best first (bids descending, asks ascending)")
    if n[0] and n[1] and px[0, 0] >= px[1, 0]:
        raise ValueError(f"crossed book: best bid {px[0, 0]} >= best ask {px[1, 0]}")
    return px, sz, n


def _day_name(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=dt.UTC).date().isoformat()


@dataclass
class Recorder:
    """Turns WebSocket messages into canonical part files under ``root`` (no network code here)."""

    root: Path
    coin: str = "BTC"
    stats: RecorderStats = field(default_factory=RecorderStats)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.session = f"{time.time_ns():020d}"
        self._seq = 0
        self._differ = BookDiffer(depth=DEPTH)
        self._last_snapshot_ts: int | None = None
        self._first_book_ts: int | None = None  # a recording starts with a book: earlier prints are dropped
        self._since: int = time.time_ns()  # trades older than the first connection are history replays
        self._rows: list[Events] = []
        self._snaps: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]] = []  # diffed in batches
        self._trade_rows: tuple[list[int], list[int], list[int], list[float], list[float]] = ([], [], [], [], [])
        self._seen: set[tuple[int, int]] = set()
        self._seen_order: deque[tuple[int, int]] = deque()

    # -- messages ---------------------------------------------------------------------------------
    def connected(self, first: bool) -> None:
        """A (re)connection: the next snapshot must start with a clear."""
        self.stats.connects += 1
        if first:
            self._since = time.time_ns()
        self._diff_pending()
        self._differ.reset()
        self._last_snapshot_ts = None

    def on_message(self, text: str, local_ns: int) -> None:
        self.stats.messages += 1
        try:
            msg = json.loads(text)
        except ValueError:
            return  # "Websocket connection established." and other plain text
        if not isinstance(msg, dict):
            return
        try:
            if msg.get("channel") == "l2Book":
                self._on_book(msg.get("data"), local_ns)
            elif msg.get("channel") == "trades":
                self._on_trades(msg.get("data"), local_ns)
        except (ValueError, KeyError, TypeError) as exc:
            self.stats.bad_messages += 1
            self.stats.last_error = f"{msg.get('channel')}: {exc}"

    def _on_book(self, data: Any, local_ns: int) -> None:
        if not isinstance(data, dict) or data.get("coin") != self.coin:
            return
        t = data.get("time")
        if not isinstance(t, int) or t <= 0:
            raise ValueError(f"time {t!r} must be a positive integer (ms)")
        px, sz, n = _levels(data.get("levels"))
        self._add_snapshot(t, local_ns, px, sz, n)

    def on_snapshot(self, time_ms: int, local_ns: int, book: np.ndarray) -> None:
        """One snapshot as the venue's data client parsed and checked it (``core.api`` book layout)."""
        px = np.stack([book[B_BID_PX, :DEPTH], book[B_ASK_PX, :DEPTH]])
        sz = np.stack([book[B_BID_SZ, :DEPTH], book[B_ASK_SZ, :DEPTH]])
        n = np.count_nonzero(px > 0, axis=1).astype(np.int64)
        self._add_snapshot(time_ms, local_ns, px, sz, n)

    def _add_snapshot(self, time_ms: int, local_ns: int, px: np.ndarray, sz: np.ndarray, n: np.ndarray) -> None:
        ts = time_ms * NS_PER_MS
        if self._last_snapshot_ts is not None and ts < self._last_snapshot_ts:
            self.stats.out_of_order += 1
            return
        self._last_snapshot_ts = ts
        if self._first_book_ts is None:
            self._first_book_ts = ts
        self._snaps.append((ts, local_ns, px, sz, n))
        self.stats.snapshots += 1

    def _diff_pending(self) -> None:
        """Run the buffered snapshots through the book differ in one call."""
        if not self._snaps:
            return
        ts = np.array([s[0] for s in self._snaps], dtype=np.int64)
        lts = np.array([s[1] for s in self._snaps], dtype=np.int64)
        px = np.stack([s[2] for s in self._snaps])
        sz = np.stack([s[3] for s in self._snaps])
        n = np.stack([s[4] for s in self._snaps])
        count = len(self._snaps)
        self._snaps = []
        try:
            self._rows.append(self._differ.update(ts, lts, px[:, 0], sz[:, 0], n[:, 0], px[:, 1], sz[:, 1], n[:, 1]))
        except ValueError as exc:  # every snapshot was checked on arrival: this is a bug, but never lose the run
            self.stats.bad_messages += count
            self.stats.last_error = f"book diff: {exc}"
            self._differ.reset()

    def _on_trades(self, data: Any, local_ns: int) -> None:
        if not isinstance(data, list):
            raise ValueError("trades data must be a list")
        parsed = []
        for t in data:
            if t.get("coin") != self.coin:
                continue
            ms, tid = t["time"], t.get("tid", -1)
            if not isinstance(ms, int) or not isinstance(tid, int):
                raise ValueError(f"trade time/tid {ms!r}/{tid!r} must be integers")
            px, sz = float(t["px"]), float(t["sz"])
            if not (np.isfinite(px) and px > 0 and np.isfinite(sz) and sz > 0):
                raise ValueError(f"trade px {px} / sz {sz} must be positive")
            parsed.append((ms, tid, trade_side(str(t["side"])), px, sz))
        self.on_trade_rows(parsed, local_ns)  # all or nothing per message

    def on_trade_rows(self, rows: list[tuple[int, int, int, float, float]], local_ns: int) -> None:
        """Checked trades as (time ms, trade id, aggressor side, px, sz): deduplicated, history dropped."""
        for ms, tid, side, px, sz in rows:
            ts = ms * NS_PER_MS
            key = (ts, tid)
            if key in self._seen:
                self.stats.duplicate_trades += 1
                continue
            self._remember(key)
            if ts < self._since - 1_000 * NS_PER_MS:  # replayed on subscribe, before we were listening
                self.stats.history_trades += 1
                continue
            for col, v in zip(self._trade_rows, (ts, local_ns, side, px, sz), strict=True):
                col.append(v)  # type: ignore[attr-defined]

    def _remember(self, key: tuple[int, int]) -> None:
        self._seen.add(key)
        self._seen_order.append(key)
        if len(self._seen_order) > TID_MEMORY:
            self._seen.discard(self._seen_order.popleft())

    # -- files ------------------------------------------------------------------------------------
    def pending(self) -> Events:
        """The rows to write now. Prints wait for the recording's first book (a trade message may arrive
        before it) and older ones are dropped, so a recording opens with the first book (after the prints of
        its own block, which ``Events.sorted`` puts first: the venue's book of time T already holds them)."""
        self._diff_pending()
        if self._first_book_ts is None:
            return Events.concat(self._rows).sorted()
        ts, lts, side, px, sz = (np.asarray(c) for c in self._trade_rows)
        self._trade_rows = ([], [], [], [], [])
        keep = ts.astype(np.int64) >= self._first_book_ts  # its own block's prints sort just before it
        kept = int(np.count_nonzero(keep))
        self.stats.trades += kept  # counted when they are sure to be written
        self.stats.before_first_book += int(ts.size) - kept
        trades = make_events(ts[keep].astype(np.int64), lts[keep].astype(np.int64), np.full(kept, TRADE),
                             side[keep].astype(np.int8), px[keep].astype(np.float64), sz[keep].astype(np.float64))
        return Events.concat([*self._rows, trades]).sorted()

    def flush(self) -> list[Path]:
        """Write what arrived since the last flush as part files (one per UTC day touched)."""
        ev = self.pending()
        self._rows = []
        if len(ev) == 0:
            return []
        written = []
        day_idx = ev.ts // NS_PER_DAY
        for d in np.unique(day_idx):
            part = ev.take(day_idx == d)
            self._seq += 1
            path = self.root / PARTS_DIR / _day_name(int(part.ts[0])) / f"{self.session}-{self._seq:09d}.parquet"
            write_table_atomic(path, part.to_table())
            written.append(path)
            self.stats.parts += 1
        return written


def _last_part(path: Path) -> str:
    if not path.exists():
        return ""
    meta = pq.read_schema(path).metadata or {}
    return meta.get(LAST_PART_KEY.encode(), b"").decode()


def compact(root: Path, coin: str = "BTC", source: str = "hyperliquid-ws-record") -> list[Path]:
    """Fold every part file under ``root/.parts`` into the day files; idempotent and kill-safe."""
    root = Path(root)
    parts_root = root / PARTS_DIR
    written: list[Path] = []
    if not parts_root.is_dir():
        return written
    prices: list[np.ndarray] = []
    sizes: list[np.ndarray] = []
    for day_dir in sorted(p for p in parts_root.iterdir() if p.is_dir()):
        try:
            day = dt.date.fromisoformat(day_dir.name)
        except ValueError:
            raise DataError(f"{day_dir}: not a recorder part folder (expected YYYY-MM-DD)") from None
        for tmp in day_dir.glob(".*.tmp"):  # a part interrupted mid-write: never renamed, never counted
            tmp.unlink(missing_ok=True)
        parts = sorted(day_dir.glob("*.parquet"))
        target = events_path(root, day)
        done = _last_part(target)
        stale = [p for p in parts if p.stem <= done]
        fresh = [p for p in parts if p.stem > done]
        if fresh:
            old = [read_events_file(target)] if target.exists() else []
            merged = Events.concat(old + [read_events_file(p) for p in fresh]).sorted()
            written.append(write_events_day(root, day, merged, {LAST_PART_KEY: fresh[-1].stem}))
            prices.append(merged.px[(merged.kind == 1) | (merged.kind == 2)])
            sizes.append(merged.sz[(merged.kind == 2)])
        for p in stale + fresh:
            p.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            day_dir.rmdir()
    if written:
        meta = read_dataset_meta(root)
        px = np.concatenate(prices)
        sz = np.concatenate(sizes)
        fields: dict[str, Any] = {"symbol": meta.get("symbol", coin), "source": meta.get("source", source)}
        if px.size and "tick_size" not in meta:
            fields["tick_size"] = 10.0 ** -decimals_needed(px)
        if sz.size and "sz_decimals" not in meta:
            fields["sz_decimals"] = decimals_needed(sz)
        write_dataset_meta(root, **fields)
    return written
