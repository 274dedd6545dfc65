"""Small synthetic markets for the volatility tests: bar series with volatility clustering, and
canonical data directories (bars/ or events/ with a book) built from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from amm500.data import store
from amm500.data.schema import BOOK_CLEAR, BOOK_LEVEL, TRADE, Bars, make_events
from amm500.signals.ml.features import MINUTE_NS

T0 = 1_767_225_600 * 10**9  # 2026-01-01 00:00 UTC


def garch_closes(n: int, seed: int = 0, start: float = 100_000.0) -> np.ndarray:
    """Closes with GARCH(1,1)-like clustered 1-minute returns: there is something to forecast."""
    rng = np.random.default_rng(seed)
    var = np.empty(n)
    r = np.empty(n)
    var[0] = 1e-7
    r[0] = 0.0
    for i in range(1, n):
        var[i] = 2e-9 + 0.85 * var[i - 1] + 0.13 * r[i - 1] ** 2
        r[i] = np.sqrt(var[i]) * rng.standard_normal()
    return start * np.exp(np.cumsum(r))


def bars_from_closes(close: np.ndarray, seed: int = 1, t0: int = T0) -> Bars:
    rng = np.random.default_rng(seed)
    n = close.size
    open_ = np.concatenate([[close[0]], close[:-1]])
    wiggle = np.abs(rng.normal(0, 2e-4, n)) * close
    high = np.maximum(open_, close) + wiggle
    low = np.minimum(open_, close) - wiggle
    ts = t0 + np.arange(n, dtype=np.int64) * MINUTE_NS
    return Bars(ts, open_, high, low, close, rng.uniform(1, 20, n), np.zeros(n, dtype=np.int64))


def write_bars_dir(root: Path, n: int = 700, seed: int = 0) -> Path:
    store.write_bars(root, bars_from_closes(garch_closes(n, seed)))
    store.write_dataset_meta(root, source="test-bars")
    return root


def book_events(close: np.ndarray, t0: int = T0, per_minute: int = 3, half_spread: float = 0.5) -> tuple:
    """Events whose book mid walks through ``close`` (``per_minute`` book states a minute, the last one
    at the given close), with three levels a side and one trade a minute."""
    ts, kind, side, px, sz = [], [], [], [], []

    def add(t: int, k: int, s: int, p: float, q: float) -> None:
        ts.append(t)
        kind.append(k)
        side.append(s)
        px.append(p)
        sz.append(q)

    prev = close[0]
    for m, c in enumerate(close):
        for j in range(per_minute):
            mid = prev + (c - prev) * (j + 1) / per_minute
            t = t0 + m * MINUTE_NS + (j + 1) * (MINUTE_NS // (per_minute + 1))
            add(t, BOOK_CLEAR, 0, 0.0, 0.0)
            for lvl in range(3):
                add(t, BOOK_LEVEL, 1, mid - half_spread - lvl, 1.0 + lvl)
                add(t, BOOK_LEVEL, -1, mid + half_spread + lvl, 1.0)
        add(t0 + m * MINUTE_NS + 1, TRADE, 1, prev, 0.25)
        prev = c
    order = np.argsort(np.array(ts), kind="stable")
    cols = [np.array(a)[order] for a in (ts, ts, kind, side, px, sz)]
    return make_events(*cols)


def write_events_dir(root: Path, n: int = 700, seed: int = 0) -> Path:
    store.write_events(root, book_events(garch_closes(n, seed)))
    store.write_dataset_meta(root, source="test-events")
    return root
