"""1-minute bars from a canonical data directory, and the supervised volatility dataset built on them.

Two sources, one result (:class:`MinuteBars`, a contiguous minute grid):

* ``events/``: the L2 book is replayed (Numba) and each bar's close is the mid at the end of the
  minute; high/low are the extreme mids, volume the traded size, spread and top-5 imbalance are
  read from the book at the minute's last instant.
* ``bars/`` (candles): OHLCV as given; spread and imbalance are unavailable (see
  :func:`amm500.signals.ml.features.feature_names`).

Minutes without data repeat the previous close (nothing traded, nothing moved). Gaps longer than
``MAX_FILL_MINUTES`` are *broken*: no sample's features or label may span one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit

from amm500.data import store
from amm500.data.schema import BOOK_CLEAR, BOOK_LEVEL, NS_PER_DAY, TRADE, DataError
from amm500.signals.ml.features import (
    HORIZON,
    MINUTE_NS,
    WARMUP,
    compute_features,
    feature_names,
    future_realized_vol,
)

MAX_FILL_MINUTES = 60
SPLIT_FRACTIONS = (0.70, 0.15, 0.15)  # train / validation / test, chronological
IMBALANCE_LEVELS = 5


@dataclass(frozen=True)
class MinuteBars:
    ts: np.ndarray  # int64 bar open time, ns, step exactly one minute
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    spread_bps: np.ndarray  # at the end of the minute (NaN without a book)
    imbalance: np.ndarray  # (bid - ask) / (bid + ask) size over the top 5 levels, end of minute
    broken: np.ndarray  # bool: inside a gap longer than MAX_FILL_MINUTES
    has_book: bool
    source: str  # "events" or "bars"

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @property
    def close_ts(self) -> np.ndarray:
        return self.ts + MINUTE_NS


# ---- events -> minutes ------------------------------------------------------------------------

@njit(cache=True)
def _top_size(sizes: np.ndarray, best: int, step: int, levels: int) -> float:
    """Total size of the ``levels`` best non-empty price levels, walking away from ``best``."""
    total = 0.0
    found = 0
    j = best
    while 0 <= j < sizes.shape[0] and found < levels:
        if sizes[j] > 0.0:
            total += sizes[j]
            found += 1
        j += step
    return total


@njit(cache=True)
def _replay_day(ts: np.ndarray, kind: np.ndarray, side: np.ndarray, level: np.ndarray, px: np.ndarray,
                sz: np.ndarray, prices: np.ndarray, bid_sz: np.ndarray, ask_sz: np.ndarray, state: np.ndarray,
                day_start: int, out: np.ndarray) -> None:
    """Fill ``out`` (1440 x 7: open high low close volume spread imbalance, NaN = no update) for one day.

    The book is two size arrays indexed by ``level`` (the row's price's position in the sorted
    ``prices``), so the best bid is the highest non-empty index and the best ask the lowest; a
    deleted best is found again by walking outward. ``state`` holds (best bid index, best ask
    index, last trade price), -1 for an empty side. Prices are sampled once all events of one
    timestamp are applied, so a clear + snapshot never shows a half-built book.
    """
    n = ts.shape[0]
    nl = prices.shape[0]
    bb = int(state[0])
    ba = int(state[1])
    for i in range(n):
        k = kind[i]
        if k == BOOK_CLEAR:
            if side[i] >= 0:
                bid_sz[:] = 0.0
                bb = -1
            if side[i] <= 0:
                ask_sz[:] = 0.0
                ba = -1
        elif k == BOOK_LEVEL:
            j = level[i]
            if side[i] > 0:
                bid_sz[j] = sz[i]
                if sz[i] > 0.0 and j > bb:
                    bb = j
                elif sz[i] == 0.0 and j == bb:
                    while bb >= 0 and bid_sz[bb] <= 0.0:
                        bb -= 1
            else:
                ask_sz[j] = sz[i]
                if sz[i] > 0.0 and (ba < 0 or j < ba):
                    ba = j
                elif sz[i] == 0.0 and j == ba:
                    while ba < nl and ask_sz[ba] <= 0.0:
                        ba += 1
                    if ba == nl:
                        ba = -1
        elif k == TRADE:
            state[2] = px[i]
            m = (ts[i] - day_start) // MINUTE_NS
            out[m, 4] = sz[i] if np.isnan(out[m, 4]) else out[m, 4] + sz[i]
        if i + 1 < n and ts[i + 1] == ts[i]:
            continue
        m = (ts[i] - day_start) // MINUTE_NS
        if bb >= 0 and ba >= 0 and bb < ba:
            price = 0.5 * (prices[bb] + prices[ba])
            out[m, 5] = (prices[ba] - prices[bb]) / price * 1e4
            if i + 1 == n or (ts[i + 1] - day_start) // MINUTE_NS != m:  # the minute's last instant
                b = _top_size(bid_sz, bb, -1, IMBALANCE_LEVELS)
                a = _top_size(ask_sz, ba, 1, IMBALANCE_LEVELS)
                out[m, 6] = (b - a) / (b + a) if b + a > 0 else 0.0
        elif bb < 0 and ba < 0 and not np.isnan(state[2]):
            price = state[2]  # no book in this source: trades are the price
        else:
            continue
        if np.isnan(out[m, 0]):
            out[m, 0] = price
            out[m, 1] = price
            out[m, 2] = price
        out[m, 1] = max(out[m, 1], price)
        out[m, 2] = min(out[m, 2], price)
        out[m, 3] = price
    state[0] = bb
    state[1] = ba


class _IndexedBook:
    """Book sizes on a sorted price grid that grows day by day (a day's new prices are merged in)."""

    def __init__(self) -> None:
        self.prices: np.ndarray = np.empty(0)
        self.bid: np.ndarray = np.empty(0)
        self.ask: np.ndarray = np.empty(0)
        self.state = np.array([-1.0, -1.0, np.nan])

    def regrid(self, day_prices: np.ndarray) -> None:
        live = (self.bid > 0) | (self.ask > 0)
        prices = np.union1d(self.prices[live], day_prices)
        bid = np.zeros(prices.size)
        ask = np.zeros(prices.size)
        where = np.searchsorted(prices, self.prices[live])
        bid[where] = self.bid[live]
        ask[where] = self.ask[live]
        for s, sizes in ((0, bid), (1, ask)):
            nz = np.flatnonzero(sizes > 0)
            self.state[s] = -1 if nz.size == 0 else (nz[-1] if s == 0 else nz[0])
        self.prices, self.bid, self.ask = prices, bid, ask


def _events_have_market(root: Path) -> bool:
    days = store.event_days(root)
    if not days:
        return False
    ev = store.read_events_file(days[0][1])
    return bool(np.any((ev.kind == BOOK_LEVEL) | (ev.kind == TRADE)))


def _minutes_from_events(root: Path) -> tuple[np.ndarray, np.ndarray, bool]:
    book = _IndexedBook()
    starts, parts = [], []
    has_book = False
    for day, ev in store.iter_event_days(root):
        start = store.day_start_ns(day)
        out = np.full((1440, 7), np.nan)
        is_level = ev.kind == BOOK_LEVEL
        book.regrid(np.unique(ev.px[is_level]))
        level = np.where(is_level, np.searchsorted(book.prices, ev.px), 0).astype(np.int64)
        _replay_day(ev.ts, ev.kind, ev.side, level, ev.px, ev.sz, book.prices, book.bid, book.ask, book.state, start,
                    out)
        has_book = has_book or bool(np.any(ev.kind == BOOK_LEVEL))
        starts.append(start)
        parts.append(out)
    if not parts:
        raise DataError(f"{root}: no events to build bars from")
    ts = np.concatenate([s + np.arange(1440, dtype=np.int64) * MINUTE_NS for s in starts])
    return ts, np.concatenate(parts), has_book


def _minutes_from_bars(root: Path) -> tuple[np.ndarray, np.ndarray]:
    bars = store.load_bars(root)
    if len(bars) < 2:
        raise DataError(f"{root}: need at least 2 bars, found {len(bars)}")
    step = int(np.median(np.diff(bars.ts)))
    if step != MINUTE_NS or np.any(bars.ts % MINUTE_NS):
        raise DataError(f"{root}/bars: volatility models need 1-minute bars aligned to the minute "
                        f"(got a median step of {step / 1e9:g} s)")
    ts = np.arange(bars.ts[0], bars.ts[-1] + 1, MINUTE_NS, dtype=np.int64)
    cols = np.full((ts.size, 7), np.nan)
    idx = (bars.ts - bars.ts[0]) // MINUTE_NS
    for c, col in enumerate((bars.open, bars.high, bars.low, bars.close, bars.volume)):
        cols[idx, c] = col
    return ts, cols


def _fill_grid(ts: np.ndarray, cols: np.ndarray, has_book: bool, source: str) -> MinuteBars:
    """Trim to the first and last minute with a price, carry prices forward, flag long gaps."""
    priced = np.flatnonzero(~np.isnan(cols[:, 3]))
    if priced.size < 2:
        raise DataError("fewer than 2 minutes with a price: not enough data for volatility features")
    ts, cols = ts[priced[0]:priced[-1] + 1], cols[priced[0]:priced[-1] + 1]
    has = ~np.isnan(cols[:, 3])
    last = np.maximum.accumulate(np.where(has, np.arange(has.size), 0))
    close = cols[last, 3]
    fill = ~has
    o, h, low = (np.where(fill, close, cols[:, c]) for c in (0, 1, 2))
    volume = np.nan_to_num(cols[:, 4], nan=0.0)
    spread, imb = cols[:, 5].copy(), cols[:, 6].copy()
    if has_book:  # book state persists through quiet minutes
        for a in (spread, imb):
            ok = ~np.isnan(a)
            idx = np.maximum.accumulate(np.where(ok, np.arange(a.size), 0))
            a[:] = np.where(ok | ok[idx], a[idx], np.nan)
    # Runs of filled minutes longer than MAX_FILL_MINUTES are broken.
    run_id = np.cumsum(has)
    run_len = np.bincount(run_id[fill], minlength=run_id[-1] + 1) if fill.any() else np.zeros(run_id[-1] + 1)
    broken = fill & (run_len[run_id] > MAX_FILL_MINUTES)
    return MinuteBars(ts=ts, open=o, high=h, low=low, close=close, volume=volume, spread_bps=spread, imbalance=imb,
                      broken=broken, has_book=has_book, source=source)


def load_minute_bars(root: Path) -> MinuteBars:
    """The data directory as a 1-minute grid (events when they hold a market, else the bars table)."""
    root = store.require_data_dir(Path(root))
    if _events_have_market(root):
        ts, cols, has_book = _minutes_from_events(root)
        bars = _fill_grid(ts, cols, has_book, "events")
        if has_book and np.isnan(bars.spread_bps[-1]):
            raise DataError(f"{root}: the events hold book rows but never a two-sided book")
        return bars
    if store.bar_days(root):
        ts, cols = _minutes_from_bars(root)
        return _fill_grid(ts, cols, False, "bars")
    raise DataError(f"{root}: the events hold no book or trade rows and there is no bars/ table")


# ---- supervised dataset -------------------------------------------------------------------------

@dataclass(frozen=True)
class VolDataset:
    """Feature rows and labels on the minute grid, plus the chronological split of sample rows.

    A sample ``i`` is the window of feature rows ``i - lookback + 1 .. i`` and the label of row ``i``;
    it is known at ``close_ts[i]``.
    """

    bars: MinuteBars
    features: np.ndarray  # float64 (n, F); NaN rows before WARMUP
    feature_names: tuple[str, ...]
    label: np.ndarray  # annualized realized vol of the next HORIZON minutes; NaN at the end
    window_ok: np.ndarray  # bool: a full window of defined, unbroken feature rows ends here
    lookback: int
    train: np.ndarray  # int64 sample indices, chronological
    val: np.ndarray
    test: np.ndarray

    @property
    def close_ts(self) -> np.ndarray:
        return self.bars.close_ts


def _any_in_window(flag: np.ndarray, before: int, after: int) -> np.ndarray:
    """out[i] = flag[i - before .. i + after].any() (windows clipped at the edges)."""
    c = np.concatenate([[0], np.cumsum(flag.astype(np.int64))])
    n = flag.size
    i = np.arange(n)
    lo = np.clip(i - before, 0, n)
    hi = np.clip(i + after + 1, 0, n)
    return (c[hi] - c[lo]) > 0


def chronological_split(valid: np.ndarray, fractions: tuple[float, float, float] = SPLIT_FRACTIONS,
                        embargo: int = HORIZON) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split valid sample rows by time; ``embargo`` rows before each cut are dropped so that no
    training label overlaps the validation period (and validation labels the test period)."""
    idx = np.flatnonzero(valid)
    if idx.size < 30:
        raise DataError(f"only {idx.size} usable samples; need at least 30 (more data or a shorter --lookback)")
    c1 = idx[int(idx.size * fractions[0])]
    c2 = idx[int(idx.size * (fractions[0] + fractions[1]))]
    train = idx[idx < c1 - embargo]
    val = idx[(idx >= c1) & (idx < c2 - embargo)]
    test = idx[idx >= c2]
    return train, val, test


def bar_features(bars: MinuteBars) -> np.ndarray:
    return compute_features(bars.close_ts, bars.close, bars.high, bars.low, bars.volume, bars.spread_bps,
                            bars.imbalance, bars.has_book, 0)


def window_mask(bars: MinuteBars, feats: np.ndarray, lookback: int) -> np.ndarray:
    """True where the ``lookback`` feature rows ending here are all defined and span no broken gap."""
    row_ok = np.isfinite(feats).all(axis=1)
    ok = ~_any_in_window(~row_ok, lookback - 1, 0) & ~_any_in_window(bars.broken, lookback - 1 + WARMUP, 0)
    return ok & (np.arange(len(bars)) >= lookback - 1)


def build_dataset(bars: MinuteBars, lookback: int) -> VolDataset:
    if lookback < 1:
        raise ValueError(f"lookback must be >= 1 (got {lookback})")
    feats = bar_features(bars)
    label = future_realized_vol(bars.close, HORIZON)
    window_ok = window_mask(bars, feats, lookback)
    label_ok = np.isfinite(label) & ~_any_in_window(bars.broken, 0, HORIZON)
    valid = window_ok & label_ok
    train, val, test = chronological_split(valid)
    return VolDataset(bars=bars, features=feats, feature_names=feature_names(bars.has_book), label=label,
                      window_ok=window_ok, lookback=lookback, train=train, val=val, test=test)


def load_dataset(root: Path, lookback: int) -> VolDataset:
    return build_dataset(load_minute_bars(root), lookback)


def fit_normalization(ds: VolDataset) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of each feature over the training period only (rows up to the last train sample)."""
    rows = np.arange(len(ds.bars))
    last = int(ds.train[-1]) if ds.train.size else -1
    use = (rows <= last) & np.isfinite(ds.features).all(axis=1)
    if not use.any():
        raise DataError("no training rows to fit the feature normalization on")
    mean = ds.features[use].mean(axis=0)
    std = ds.features[use].std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)  # constant features (unavailable book data) pass through as 0
    return mean, std


def span_text(ts: np.ndarray) -> str:
    import datetime as dt

    def iso(t: int) -> str:
        return dt.datetime.fromtimestamp(t / 1e9, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")

    return f"{iso(int(ts[0]))} → {iso(int(ts[-1]))} UTC ({(ts[-1] - ts[0]) / NS_PER_DAY:.1f} d)"
