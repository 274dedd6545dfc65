"""The canonical market-data table: one row per event, sorted by exchange time.

Every source (the synthetic generator, Hyperliquid archive and WebSocket recordings, CSV captures,
candles) is turned into this table, and the backtester reads nothing else. See ``docs/data.md``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pyarrow as pa

# Event kinds (column ``kind``), sides and time units: one home, the kernel contract the backtester and
# the exchange simulation read (core.api).
from amm500.core.api import ASK as ASK
from amm500.core.api import BID as BID
from amm500.core.api import BOOK_CLEAR as BOOK_CLEAR
from amm500.core.api import BOOK_LEVEL as BOOK_LEVEL
from amm500.core.api import FUNDING as FUNDING
from amm500.core.api import NS_PER_MS as NS_PER_MS
from amm500.core.api import NS_PER_S as NS_PER_S
from amm500.core.api import TRADE as TRADE

KIND_NAMES = {BOOK_LEVEL: "book", TRADE: "trade", BOOK_CLEAR: "clear", FUNDING: "funding"}

EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ts", "int64"),
    ("local_ts", "int64"),
    ("kind", "uint8"),
    ("side", "int8"),
    ("px", "float64"),
    ("sz", "float64"),
)

EVENT_SCHEMA = pa.schema([pa.field(name, pa.from_numpy_dtype(np.dtype(t)), nullable=False) for name, t in
                          EVENT_COLUMNS])

#: One-minute (or any interval) OHLCV bars, for bar-mode backtests and volatility training.
BAR_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ts", "int64"),  # bar open time, ns
    ("open", "float64"),
    ("high", "float64"),
    ("low", "float64"),
    ("close", "float64"),
    ("volume", "float64"),  # base units (BTC)
    ("trades", "int64"),  # trade count, 0 when the source does not say
)

BAR_SCHEMA = pa.schema([pa.field(name, pa.from_numpy_dtype(np.dtype(t)), nullable=False) for name, t in
                        BAR_COLUMNS])

NS_PER_DAY = 86_400 * NS_PER_S
NS_PER_HOUR = 3_600 * NS_PER_S


class Events(NamedTuple):
    """Column arrays of the event table: contiguous, ready for Numba kernels."""

    ts: np.ndarray  # int64 ns
    local_ts: np.ndarray  # int64 ns
    kind: np.ndarray  # uint8
    side: np.ndarray  # int8
    px: np.ndarray  # float64
    sz: np.ndarray  # float64

    def __len__(self) -> int:
        """Rows, not fields. (So NamedTuple._replace does not work here: use with_columns.)"""
        return int(self.ts.shape[0])

    def with_columns(self, **columns: np.ndarray) -> Events:
        return Events(*(columns.get(name, getattr(self, name)) for name in self._fields))

    @staticmethod
    def empty() -> Events:
        return Events(*(np.empty(0, dtype=t) for _, t in EVENT_COLUMNS))

    @staticmethod
    def concat(parts: list[Events]) -> Events:
        if not parts:
            return Events.empty()
        return Events(*(np.ascontiguousarray(np.concatenate([getattr(p, n) for p in parts]))
                        for n, _ in EVENT_COLUMNS))

    def take(self, index: np.ndarray | slice) -> Events:
        return Events(*(np.ascontiguousarray(getattr(self, n)[index]) for n, _ in EVENT_COLUMNS))

    def to_table(self) -> pa.Table:
        return pa.Table.from_arrays([pa.array(getattr(self, n)) for n, _ in EVENT_COLUMNS], schema=EVENT_SCHEMA)

    def sorted(self) -> Events:
        """Sort by exchange time; at one instant prints (trades, funding) come before book rows.

        A venue's book message of time T already reflects the trades of T (Hyperliquid stamps both
        with the block time), so the prints must come first: after the book, a queue model would count
        them a second time against the queue. Otherwise stable: book rows keep their order (clear
        before levels), trades theirs. The rule is ``docs/data.md``'s; every importer sorts with this.
        """
        book = (self.kind == BOOK_LEVEL) | (self.kind == BOOK_CLEAR)
        order = np.lexsort((book, self.ts))
        return self.take(order)


class Bars(NamedTuple):
    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    trades: np.ndarray

    def __len__(self) -> int:
        """Rows, not fields. (So NamedTuple._replace does not work here: use with_columns.)"""
        return int(self.ts.shape[0])

    def with_columns(self, **columns: np.ndarray) -> Bars:
        return Bars(*(columns.get(name, getattr(self, name)) for name in self._fields))

    @staticmethod
    def empty() -> Bars:
        return Bars(*(np.empty(0, dtype=t) for _, t in BAR_COLUMNS))

    @staticmethod
    def concat(parts: list[Bars]) -> Bars:
        if not parts:
            return Bars.empty()
        return Bars(*(np.ascontiguousarray(np.concatenate([getattr(p, n) for p in parts])) for n, _ in BAR_COLUMNS))

    def take(self, index: np.ndarray | slice) -> Bars:
        return Bars(*(np.ascontiguousarray(getattr(self, n)[index]) for n, _ in BAR_COLUMNS))

    def to_table(self) -> pa.Table:
        return pa.Table.from_arrays([pa.array(getattr(self, n)) for n, _ in BAR_COLUMNS], schema=BAR_SCHEMA)


def make_events(
    ts: np.ndarray,
    local_ts: np.ndarray,
    kind: np.ndarray,
    side: np.ndarray,
    px: np.ndarray,
    sz: np.ndarray,
) -> Events:
    """Build :class:`Events` with the canonical dtypes (copies only when a dtype differs)."""
    cols = (ts, local_ts, kind, side, px, sz)
    return Events(*(np.ascontiguousarray(c, dtype=t) for c, (_, t) in zip(cols, EVENT_COLUMNS, strict=True)))


class DataError(ValueError):
    """A data file or directory that cannot be used, phrased for a person (file and reason)."""
