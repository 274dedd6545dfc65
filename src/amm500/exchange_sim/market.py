"""Background markets for the local exchange: a replay of canonical data, or a random-walk book.

A feed is asked for everything up to an exchange time and answers with canonical event rows
re-stamped onto that clock. Snapshots (a book clear followed by levels, as every day file starts)
are turned into level changes against the feed's current view, so a day boundary or a resent
snapshot does not reset users' queue positions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from amm500.data.schema import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, TRADE, DataError, Events, make_events
from amm500.data.store import iter_event_days, require_data_dir

SNAPSHOT_LEVELS = 20


class MarketFeed(Protocol):
    def advance(self, now_ns: int) -> Events:
        """Events with exchange time <= ``now_ns`` not yet delivered."""
        ...


class _Rows:
    """Accumulates event rows as Python lists, built into :class:`Events` once per advance."""

    def __init__(self) -> None:
        self.cols: tuple[list[int], list[int], list[int], list[float], list[float]] = ([], [], [], [], [])

    def add(self, ts: int, kind: int, side: int, px: float, sz: float) -> None:
        for col, v in zip(self.cols, (ts, kind, side, px, sz), strict=True):
            col.append(v)  # type: ignore[attr-defined]

    def build(self) -> Events:
        ts, kind, side, px, sz = (np.asarray(c) for c in self.cols)
        if ts.size == 0:
            return Events.empty()
        return make_events(ts, ts, kind, side, px, sz)


class BookView:
    """The feed's own picture of the background book, turning full snapshots into level changes."""

    def __init__(self) -> None:
        self.levels: dict[int, dict[float, float]] = {BID: {}, ASK: {}}

    def snapshot(self, rows: _Rows, ts: int, side: int, levels: dict[float, float]) -> None:
        current = self.levels[side]
        for px in [p for p in current if p not in levels]:
            rows.add(ts, BOOK_LEVEL, side, px, 0.0)
            del current[px]
        for px, sz in levels.items():
            if current.get(px) != sz:
                rows.add(ts, BOOK_LEVEL, side, px, sz)
                current[px] = sz

    def level(self, rows: _Rows, ts: int, side: int, px: float, sz: float) -> None:
        if sz <= 0:
            self.levels[side].pop(px, None)
        else:
            self.levels[side][px] = sz
        rows.add(ts, BOOK_LEVEL, side, px, sz)


class RandomWalkFeed:
    """A simple stand-in market: a Gaussian random-walk mid, a 20-level book every 0.5 s, Poisson trades."""

    def __init__(self, mid: float = 100_000.0, vol_bps_per_s: float = 2.0, tick: float = 1.0,
                 trades_per_s: float = 2.0, seed: int = 0, snapshot_s: float = 0.5) -> None:
        self.mid, self.vol, self.tick, self.rate = mid, vol_bps_per_s * 1e-4, tick, trades_per_s
        self.rng = np.random.default_rng(seed)
        self.view = BookView()
        self.step_ns = int(snapshot_s * 1e9)
        self.last_ns: int | None = None

    def advance(self, now_ns: int) -> Events:
        rows = _Rows()
        if self.last_ns is None:
            self.last_ns = now_ns - self.step_ns
        while self.last_ns + self.step_ns <= now_ns:
            self.last_ns += self.step_ns
            self._step(rows, self.last_ns)
        return rows.build()

    def _step(self, rows: _Rows, ts: int) -> None:
        dt_s = self.step_ns / 1e9
        self.mid *= float(np.exp(self.vol * np.sqrt(dt_s) * self.rng.standard_normal()))
        best_bid = np.floor(self.mid / self.tick) * self.tick
        best_ask = best_bid + self.tick
        for side, best in ((BID, best_bid), (ASK, best_ask)):
            pxs = best - side * self.tick * np.arange(SNAPSHOT_LEVELS)
            szs = np.round(self.rng.gamma(2.0, 0.5, SNAPSHOT_LEVELS), 5) + 0.001
            self.view.snapshot(rows, ts, side, dict(zip(pxs.tolist(), szs.tolist(), strict=True)))
        for _ in range(int(self.rng.poisson(self.rate * dt_s))):
            side = BID if self.rng.random() < 0.5 else ASK
            px = best_ask if side == BID else best_bid
            rows.add(ts, TRADE, side, float(px), float(np.round(self.rng.exponential(0.05), 5) + 0.0001))


class ReplayFeed:
    """Replays a canonical data directory at ``speed`` x real time, re-stamped to start at ``start_ns``."""

    def __init__(self, root: Path, start_ns: int, speed: float = 1.0, loop: bool = False,
                 check_dir: bool = True) -> None:
        if speed <= 0:
            raise DataError(f"--speed must be > 0 (got {speed})")
        self.root = require_data_dir(root) if check_dir else Path(root)
        self.start_ns, self.speed, self.loop = start_ns, speed, loop
        self.view = BookView()
        self._days: Iterator[Events] = self._iter_days()
        self._chunk: Events | None = None
        self._pos = 0
        self._first_ts: int | None = None
        self._offset_ns = 0  # data time added per loop
        self.finished = False

    def _iter_days(self) -> Iterator[Events]:
        for _, ev in iter_event_days(self.root):
            if len(ev):
                yield ev

    def _next_chunk(self) -> bool:
        """Load the next day; False when there is none (yet)."""
        for ev in self._days:
            if self._first_ts is None:
                self._first_ts = int(ev.ts[0])
            self._chunk, self._pos = ev, 0
            return True
        if self.loop and self._first_ts is not None and self._chunk is not None:
            self._offset_ns += int(self._chunk.ts[-1]) - self._first_ts + 1
            self._days = self._iter_days()
            return self._next_chunk()
        self.finished = True
        return False

    def to_exchange_ns(self, data_ts: int) -> int:
        assert self._first_ts is not None
        return self.start_ns + int((data_ts + self._offset_ns - self._first_ts) / self.speed)

    def advance(self, now_ns: int) -> Events:
        rows = _Rows()
        while not self.finished:
            if (self._chunk is None or self._pos >= len(self._chunk)) and not self._next_chunk():
                break
            ev = self._chunk
            assert ev is not None
            n = len(ev)
            i = self._pos
            while i < n:
                ts = self.to_exchange_ns(int(ev.ts[i]))
                if ts > now_ns:
                    self._pos = i
                    return rows.build()
                kind = int(ev.kind[i])
                if kind == BOOK_CLEAR:
                    i = self._snapshot(rows, ev, i, ts)
                    continue
                if kind == BOOK_LEVEL:
                    self.view.level(rows, ts, int(ev.side[i]), float(ev.px[i]), float(ev.sz[i]))
                else:
                    rows.add(ts, kind, int(ev.side[i]), float(ev.px[i]), float(ev.sz[i]))
                i += 1
            self._pos = n
        return rows.build()

    def _snapshot(self, rows: _Rows, ev: Events, i: int, ts: int) -> int:
        """A clear at row ``i`` and the levels after it at the same instant, applied as changes."""
        side0 = int(ev.side[i])
        data_ts = int(ev.ts[i])
        j = i + 1
        fresh: dict[int, dict[float, float]] = {BID: {}, ASK: {}}
        while j < len(ev) and int(ev.ts[j]) == data_ts and int(ev.kind[j]) == BOOK_LEVEL:
            if ev.sz[j] > 0:
                fresh[int(ev.side[j])][float(ev.px[j])] = float(ev.sz[j])
            j += 1
        for side in (BID, ASK):
            if side0 in (0, side):
                self.view.snapshot(rows, ts, side, fresh[side])
            else:
                for px, sz in fresh[side].items():
                    self.view.level(rows, ts, side, px, sz)
        return j


CHUNKS_DIR = "chunks"


def chunk_path(out_dir: Path, index: int) -> Path:
    return Path(out_dir) / CHUNKS_DIR / f"{index:06d}.parquet"


def _generate(out_dir: str, days: int, seed: int) -> None:
    """Child process: the generator's market as consecutive chunks, the first one hour long.

    The simulator's clock is continuous, so after a one-hour first chunk the next call covers the
    rest of that day and the whole next one: chunk files join up in time (each starts with a book
    snapshot, which the feed applies as changes). A short first chunk opens the exchange quickly.
    """
    from amm500.data.store import write_table_atomic
    from amm500.data.synthetic import MarketSimulator

    sim = MarketSimulator(seed)
    for i in range(days + 1):
        _, ev = sim.next_day(hours=1 if i == 0 else 24)
        write_table_atomic(chunk_path(Path(out_dir), i), ev.to_table())


class SyntheticFeed(ReplayFeed):
    """The synthetic BTC market (:mod:`amm500.data.synthetic`) generated chunk by chunk in a child process.

    The generator is CPU-bound Numba code that holds the GIL, so it runs in its own process and
    writes each chunk atomically (``generate(out_dir, days, seed)`` writes ``days + 1`` chunks,
    see :func:`chunk_path`); the feed replays chunks as they appear. If replay overtakes
    generation (high ``speed``), the background market pauses until the next chunk is written.
    """

    def __init__(self, start_ns: int, speed: float = 1.0, seed: int = 0, days: int = 30,
                 cache_dir: Path | None = None, ready_timeout_s: float = 900.0,
                 generate: Callable[[str, int, int], None] = _generate) -> None:
        import multiprocessing
        import tempfile
        import time

        self._own_dir = cache_dir is None
        self.cache_dir = Path(cache_dir) if cache_dir else Path(tempfile.mkdtemp(prefix="amm500-synthetic-"))
        self.n_days = days
        self.process = multiprocessing.get_context("spawn").Process(
            target=generate, args=(str(self.cache_dir), days, seed), daemon=True, name="amm500-synthetic")
        self.process.start()
        deadline = time.monotonic() + ready_timeout_s
        while not self._ready_days():  # the first day must exist before the exchange opens
            if not self.process.is_alive() and not self._ready_days():
                raise DataError(f"the synthetic generator stopped (exit code {self.process.exitcode}) before "
                                f"writing its first day to {self.cache_dir}")
            if time.monotonic() > deadline:
                self.close()
                raise DataError(f"the synthetic generator wrote nothing in {ready_timeout_s:.0f} s")
            time.sleep(0.2)
        super().__init__(self.cache_dir, start_ns, speed, loop=False, check_dir=False)
        self._done_days = 0

    def _ready_days(self) -> list[Path]:
        folder = self.cache_dir / CHUNKS_DIR
        return sorted(folder.glob("*.parquet")) if folder.is_dir() else []

    def _iter_days(self) -> Iterator[Events]:
        return iter(())  # days are picked up one by one in _next_chunk

    def _next_chunk(self) -> bool:
        ready = self._ready_days()
        if self._done_days >= len(ready):
            if self._done_days >= self.n_days + 1:
                self.finished = True
            return False  # not written yet: pause the market, try again next block
        from amm500.data.store import read_events_file

        ev = read_events_file(ready[self._done_days])
        self._done_days += 1
        if self._first_ts is None:
            self._first_ts = int(ev.ts[0])
        self._chunk, self._pos = ev, 0
        return True

    def close(self) -> None:
        import shutil

        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)
        if self._own_dir:
            shutil.rmtree(self.cache_dir, ignore_errors=True)
