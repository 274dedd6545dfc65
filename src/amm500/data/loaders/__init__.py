"""Loaders: every supported source -> the canonical tables (``amm500 data import``).

Each source module parses its files into a :class:`~amm500.data.loaders.common.Parsed` buffer and
reports bad lines per file; :func:`load` then does what is common to all sources: sort and merge
several files, drop repeated snapshots and duplicated trades, drop the trade history Hyperliquid
replays on subscribe, diff snapshots into level updates, split funding into hourly rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from amm500.data.loaders import (
    candles,
    funding,
    hyperliquid_archive,
    hyperliquid_rest,
    hyperliquid_ws,
    l2_csv,
    trades_csv,
)
from amm500.data.loaders.common import FileReport, FormatError, Parsed, Progress, decimals_needed
from amm500.data.schema import FUNDING, TRADE, Bars, DataError, Events, make_events

SOURCES: dict[str, ModuleType] = {
    m.NAME: m for m in (hyperliquid_archive, hyperliquid_ws, hyperliquid_rest, l2_csv, trades_csv, candles, funding)
}

__all__ = ["SOURCES", "FileReport", "FormatError", "Loaded", "load"]


@dataclass
class Loaded:
    """The canonical result of one import, plus what was dropped and why."""

    source: str
    events: Events
    bars: Bars
    symbol: str | None
    tick_size: float | None
    sz_decimals: int | None
    reports: list[FileReport]
    stats: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        counts = {name: int(np.count_nonzero(self.events.kind == k)) for k, name in
                  ((1, "book"), (2, "trade"), (3, "clear"), (4, "funding"))}
        return {"source": self.source, "symbol": self.symbol, "events": counts, "bars": len(self.bars),
                **self.stats, "files": [r.to_dict() for r in self.reports]}


def _symbol_from_name(path: Path) -> str | None:
    """``orderbooks_BTC.csv`` -> ``BTC`` (the collector names its CSVs by coin)."""
    m = re.search(r"_([A-Z][A-Z0-9]{1,15})(?:\.[a-z0-9]+)+$", path.name)
    return m.group(1) if m else None


def _book_events(parsed: Parsed, stats: dict[str, int]) -> Events:
    from amm500.data.book_diff import snapshots_to_events

    if len(parsed.snapshots) == 0:
        return Events.empty()
    cols = parsed.snapshots.take_valid(parsed.reports)
    if cols[0].size == 0:
        return Events.empty()
    order = np.lexsort((cols[1], cols[0]))  # by exchange time, then receive time
    cols = [c[order] for c in cols]
    # The same snapshot seen twice (a resend, overlapping files) adds nothing: keep the first receipt.
    same = np.ones(len(order), dtype=bool)
    same[0] = False
    same[1:] &= cols[0][1:] == cols[0][:-1]
    for c in (cols[2], cols[3], cols[5], cols[6]):
        same[1:] &= np.all(c[1:] == c[:-1], axis=1)
    for c in (cols[4], cols[7]):
        same[1:] &= c[1:] == c[:-1]
    stats["duplicate_snapshots"] = int(same.sum())
    keep = ~same
    cols = [np.ascontiguousarray(c[keep]) for c in cols]
    stats["snapshots"] = int(keep.sum())
    return snapshots_to_events(*cols)


def _trade_events(parsed: Parsed, stats: dict[str, int], keep_history: bool) -> Events:
    t = parsed.trades
    ts, lts, side, px, sz, tid, first = (t.ts.array(), t.local_ts.array(), t.side.array(), t.px.array(),
                                         t.sz.array(), t.tid.array(), t.first_msg.array())
    n = ts.size
    if n == 0:
        return Events.empty()
    # Exact repeats (a resubscription replays recent trades): same time, id, side, price and size.
    order = np.lexsort((lts, sz, px, side, tid, ts))
    dup = np.zeros(n, dtype=bool)
    if n > 1:
        o = order
        dup[o[1:]] = ((ts[o[1:]] == ts[o[:-1]]) & (tid[o[1:]] == tid[o[:-1]]) & (side[o[1:]] == side[o[:-1]])
                      & (px[o[1:]] == px[o[:-1]]) & (sz[o[1:]] == sz[o[:-1]]))
    stats["duplicate_trades"] = int(dup.sum())
    keep = ~dup
    history = np.zeros(n, dtype=bool)
    if parsed.capture_start is not None and not keep_history:
        history = keep & first & (ts < parsed.capture_start)
    stats["history_trades_dropped"] = int(history.sum())
    keep &= ~history
    stats["trades"] = int(keep.sum())
    k = np.flatnonzero(keep)
    return make_events(ts[k], lts[k], np.full(k.size, TRADE), side[k], px[k], sz[k])


def _funding_events(parsed: Parsed, stats: dict[str, int]) -> Events:
    ts, rate = parsed.funding_ts.array(), parsed.funding_rate.array()
    order = np.argsort(ts, kind="stable")
    ts, rate = ts[order], rate[order]
    dup = np.zeros(ts.size, dtype=bool)
    dup[1:] = ts[1:] == ts[:-1]
    stats["duplicate_funding"] = int(dup.sum())
    ts, rate = ts[~dup], rate[~dup]
    hts, hrate, split = funding.to_hourly(ts, rate)
    stats["funding_rows_split_to_hourly"] = split
    zeros = np.zeros(hts.size)
    return make_events(hts, hts, np.full(hts.size, FUNDING), np.zeros(hts.size), hrate, zeros)


def _bars(parsed: Parsed, stats: dict[str, int]) -> Bars:
    ts, v, n = parsed.bar_ts.array(), parsed.bar_ohlcv.array(), parsed.bar_trades.array()
    order = np.argsort(ts, kind="stable")
    ts, v, n = ts[order], v[order], n[order]
    # A repeated bar (overlapping exports, a still-forming last candle fetched again): the later copy wins.
    last = np.ones(ts.size, dtype=bool)
    last[:-1] = ts[1:] != ts[:-1]
    stats["duplicate_bars"] = int((~last).sum())
    ts, v, n = ts[last], v[last], n[last]
    o, h, lo, c, vol = (np.ascontiguousarray(v[:, i]) for i in range(5))
    return Bars(np.ascontiguousarray(ts), o, h, lo, c, vol, np.ascontiguousarray(n, dtype=np.int64))


def load(source: str, paths: list[Path], progress: Progress | None = None, *, keep_history: bool = False,
         symbol: str | None = None) -> Loaded:
    """Parse ``paths`` as ``source`` and build the canonical tables (nothing is written).

    Raises :class:`FormatError` when a file is not of that source's format, :class:`DataError` when
    a file cannot be read; bad lines inside a usable file are only counted in the reports.
    """
    if source not in SOURCES:
        raise DataError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    module = SOURCES[source]
    parsed = Parsed(symbol=symbol)
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        parsed.reports.append(module.parse_file(path, parsed, progress))
    stats: dict[str, int] = {}
    parts = [_book_events(parsed, stats), _trade_events(parsed, stats, keep_history), _funding_events(parsed, stats)]
    parts = [p for p in parts if len(p)]
    events = Events.concat(parts).sorted() if parts else Events.empty()
    bars = _bars(parsed, stats)
    if len(events) == 0 and len(bars) == 0:
        first = next((f"{r.path}: line {r.examples[0][0]}: {r.examples[0][1]}" for r in parsed.reports if r.examples),
                     "every record was a duplicate or replayed history")
        raise DataError(f"no usable data in {len(paths)} file(s) ({first}); nothing was written")
    priced = np.concatenate([events.px[(events.kind == 1) | (events.kind == 2)], bars.open, bars.high, bars.low,
                             bars.close])
    sized = events.sz[events.kind == 2] if np.any(events.kind == 2) else events.sz[events.kind == 1]
    sized = sized[sized > 0]
    tick = 10.0 ** -decimals_needed(priced) if priced.size else None
    sz_dec = decimals_needed(sized) if sized.size else None
    sym = parsed.symbol or next((s for s in map(_symbol_from_name, paths) if s), None)
    return Loaded(source, events, bars, sym, tick, sz_dec, parsed.reports, stats)
