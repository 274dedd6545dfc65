"""Per-minute volatility features and labels, computed causally from 1-minute bars.

One compiled function computes every feature row from explicit window sums, so a row depends only
on the bars it looks at and is bit-identical whether it is computed over a whole dataset (training,
``forecast_series``) or over the live predictor's short buffer. Row ``i`` describes the market at
the *close* of bar ``i`` and uses bars ``i - WARMUP .. i`` only; the label of row ``i`` uses bars
``i + 1 .. i + HORIZON`` only.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from amm500.data.schema import NS_PER_DAY, NS_PER_S

MINUTE_NS = 60 * NS_PER_S
MINUTES_PER_YEAR = 365 * 24 * 60  # annualization of 1-minute variances (crypto trades every minute)
HORIZON = 5  # label: realized volatility over the next 5 one-minute returns
N_RET_LAGS = 10
RV_WINDOWS = (5, 15, 60, 240)  # minutes of realized volatility in the features (HAR uses 5, 60, 240)
WARMUP = max(RV_WINDOWS)  # a feature row needs this many earlier bars
VOL_FLOOR = 1e-4  # annualized vol floor before taking logs (flat minutes happen in thin data)

#: Constants standing in for book features a source cannot provide (candles have no book).
UNAVAILABLE_SPREAD_BPS = 0.0
UNAVAILABLE_IMBALANCE = 0.0


def feature_names(has_book: bool) -> tuple[str, ...]:
    """The feature list; a book feature the source lacks is named with its constant, so a model
    trained on candles refuses to run on book data (and the other way round)."""
    spread = "spread_bps" if has_book else f"spread_bps[unavailable={UNAVAILABLE_SPREAD_BPS:g}]"
    imbalance = "imbalance_top5" if has_book else f"imbalance_top5[unavailable={UNAVAILABLE_IMBALANCE:g}]"
    return (
        *(f"ret_lag{k}" for k in range(N_RET_LAGS)),
        *(f"log_rv_{w}m" for w in RV_WINDOWS),
        "log_parkinson_1m",
        "log1p_volume",
        spread,
        imbalance,
        "tod_sin",
        "tod_cos",
    )


N_FEATURES = len(feature_names(True))


@njit(cache=True)
def compute_features(
    close_ts: np.ndarray,
    close: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    volume: np.ndarray,
    spread_bps: np.ndarray,
    imbalance: np.ndarray,
    has_book: bool,
    start: int,
) -> np.ndarray:
    """Feature rows ``start .. n-1`` (rows before WARMUP are NaN); ``close_ts`` is each bar's close time."""
    n = close.shape[0]
    out = np.full((n - start, N_FEATURES), np.nan)
    ann = np.sqrt(MINUTES_PER_YEAR)
    first = max(start, WARMUP)
    r2 = np.zeros(n)  # squared log return of bar j; each window sum below adds them in the same order
    for j in range(max(first - WARMUP + 1, 1), n):
        r = np.log(close[j] / close[j - 1])
        r2[j] = r * r
    for i in range(first, n):
        row = out[i - start]
        for k in range(N_RET_LAGS):
            row[k] = np.log(close[i - k] / close[i - k - 1]) * ann
        c = N_RET_LAGS
        for w in RV_WINDOWS:
            acc = 0.0
            for j in range(i - w + 1, i + 1):
                acc += r2[j]
            row[c] = np.log(max(np.sqrt(acc / w * MINUTES_PER_YEAR), VOL_FLOOR))
            c += 1
        hl = np.log(high[i] / low[i])
        row[c] = np.log(max(np.sqrt(hl * hl / (4.0 * np.log(2.0)) * MINUTES_PER_YEAR), VOL_FLOOR))
        row[c + 1] = np.log1p(volume[i])
        row[c + 2] = spread_bps[i] if has_book else UNAVAILABLE_SPREAD_BPS
        row[c + 3] = imbalance[i] if has_book else UNAVAILABLE_IMBALANCE
        phase = 2.0 * np.pi * (close_ts[i] % NS_PER_DAY) / NS_PER_DAY
        row[c + 4] = np.sin(phase)
        row[c + 5] = np.cos(phase)
    return out


@njit(cache=True)
def future_realized_vol(close: np.ndarray, horizon: int) -> np.ndarray:
    """Label of row i: annualized RMS of the log returns of bars i+1..i+horizon (NaN at the end)."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    for i in range(n - horizon):
        acc = 0.0
        for j in range(i + 1, i + horizon + 1):
            r = np.log(close[j] / close[j - 1])
            acc += r * r
        out[i] = np.sqrt(acc / horizon * MINUTES_PER_YEAR)
    return out


@njit(cache=True)
def trailing_realized_vol(close: np.ndarray, window: int) -> np.ndarray:
    """Annualized RMS of the last ``window`` log returns ending at bar i (fewer near the start; NaN at 0)."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    for i in range(1, n):
        lo = max(1, i - window + 1)
        acc = 0.0
        for j in range(lo, i + 1):
            r = np.log(close[j] / close[j - 1])
            acc += r * r
        out[i] = np.sqrt(acc / (i + 1 - lo) * MINUTES_PER_YEAR)
    return out
