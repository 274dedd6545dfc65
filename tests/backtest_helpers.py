"""Hand-built event sequences for the backtester tests (times in ms from a fixed UTC hour)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from amm500.backtest.runner import BacktestResult, run_backtest
from amm500.config import Config, load_config
from amm500.data import store
from amm500.data.schema import BOOK_CLEAR, BOOK_LEVEL, FUNDING, NS_PER_MS, TRADE, Events, make_events

T0 = 1_767_229_200 * 1_000_000_000  # 2026-01-01 01:00:00 UTC
BID, ASK, BUY, SELL = 1, -1, 1, -1

Row = tuple[float, float, int, int, float, float]


def clear(t: float, lt: float | None = None) -> Row:
    return (t, t if lt is None else lt, BOOK_CLEAR, 0, 0.0, 0.0)


def level(t: float, side: int, px: float, sz: float, lt: float | None = None) -> Row:
    return (t, t if lt is None else lt, BOOK_LEVEL, side, px, sz)


def trade(t: float, side: int, px: float, sz: float, lt: float | None = None) -> Row:
    return (t, t if lt is None else lt, TRADE, side, px, sz)


def funding(t: float, rate: float) -> Row:
    return (t, t, FUNDING, 0, rate, 0.0)


def book(t: float, lt: float | None = None) -> list[Row]:
    """A two-sided book: 99,999 / 100,001 (mid 100,000), 5 BTC each."""
    return [clear(t, lt), level(t, BID, 99_999, 5.0, lt), level(t, ASK, 100_001, 5.0, lt)]


def events(rows: list[Row]) -> Events:
    a = np.array(rows, dtype=float)
    ts = T0 + np.round(a[:, 0] * NS_PER_MS).astype(np.int64)
    lts = T0 + np.round(a[:, 1] * NS_PER_MS).astype(np.int64)
    return make_events(ts, lts, a[:, 2].astype(np.uint8), a[:, 3].astype(np.int8), a[:, 4], a[:, 5]).sorted()


#: one level per side at mid +- $5 (1 bps full spread), 0.002 BTC per order, 50 ms each way
BASE_SETS = [
    "trading.strategy=fixed_spread",
    "trading.order_levels=1",
    "trading.min_spread_bps=1",
    "trading.quote_tolerance_bps=0.1",
    "execution.quote_refresh_interval=0.5",
    "backtest.order_latency_ms=50",
    "backtest.cancel_latency_ms=50",
    "backtest.response_latency_ms=50",
    # the hand-computed times of these scenarios have the first quote 500 ms after the first event the
    # strategy sees (timers fire there, shifted by this offset: see backtest.timer_anchor)
    "backtest.timer_offset_ms=500",
]


def config(*sets: str) -> Config:
    return load_config(None, [*BASE_SETS, *sets])


def run(tmp_path: Path, rows: list[Row], *sets: str) -> BacktestResult:
    root = tmp_path / "data"
    store.write_events(root, events(rows))
    return run_backtest(config(*sets), root)


def ms(ts_ns: np.ndarray) -> list[float]:
    return [round((int(t) - T0) / NS_PER_MS, 3) for t in ts_ns]
