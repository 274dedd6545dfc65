"""1-minute candles from canonical trade events, so tick data can also run in bar mode.

Candles follow the exchange convention: OHLC of trade prices, volume in base units, the number of
trades, stamped with the minute's open time; a minute without trades has no candle (as in
Hyperliquid's ``candleSnapshot``). Used to run the seed's ``fill_rate`` grid on a generated market
and to compare bar mode against the queue-aware tick mode on the very same market.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from amm500.data import store
from amm500.data.schema import NS_PER_S, TRADE, Bars, DataError, Events

NS_PER_MIN = 60 * NS_PER_S


def minute_bars(events: Events) -> Bars:
    """Candles of the trades in ``events`` (sorted by ``ts``, as every canonical day is)."""
    trades = events.kind == TRADE
    ts, px, sz = np.asarray(events.ts[trades]), np.asarray(events.px[trades]), np.asarray(events.sz[trades])
    if ts.size == 0:
        return Bars.empty()
    minute = ts - ts % NS_PER_MIN
    starts = np.flatnonzero(np.r_[True, minute[1:] != minute[:-1]])
    ends = np.r_[starts[1:], ts.size] - 1
    return Bars(
        ts=minute[starts].astype(np.int64),
        open=px[starts].astype(np.float64),
        high=np.maximum.reduceat(px, starts).astype(np.float64),
        low=np.minimum.reduceat(px, starts).astype(np.float64),
        close=px[ends].astype(np.float64),
        volume=np.add.reduceat(sz, starts).astype(np.float64),
        trades=np.diff(np.r_[starts, ts.size]).astype(np.int64),
    )


def write_minute_bars(root: Path) -> Iterator[tuple[str, int]]:
    """Write ``bars/`` for every events day of ``root`` (each day atomically); yields (day, candles)."""
    days = store.event_days(Path(root))
    if not days:
        raise DataError(f"{root}: no events/ day files to build candles from")
    for day, ev in store.iter_event_days(Path(root)):
        bars = minute_bars(ev)
        if len(bars):
            store.write_bars_day(Path(root), day, bars)
        yield day.isoformat(), len(bars)
