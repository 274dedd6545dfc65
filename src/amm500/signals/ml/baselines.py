"""The forecasts an LSTM has to beat, each causal (row i uses bars up to i only).

* ``realized 5m``: the last 5 minutes' realized volatility, i.e. what the strategy uses today
  (``trading.volatility_window`` = 300 s) carried forward as the forecast.
* ``rolling std 30m``: the seed's ``np.std(returns) * sqrt(periods_per_year)`` over 30 minutes.
* ``EWMA``: RiskMetrics exponential smoothing of squared 1-minute returns, λ = 0.94.
* ``HAR-RV``: Corsi's heterogeneous autoregression on 5-, 60- and 240-minute realized variance,
  fitted on the training split by least squares.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from amm500.signals.ml.features import MINUTES_PER_YEAR, VOL_FLOOR, trailing_realized_vol

HAR_WINDOWS = (5, 60, 240)
EWMA_LAMBDA = 0.94
ROLLING_STD_WINDOW = 30


def realized(close: np.ndarray, window: int = 5) -> np.ndarray:
    return trailing_realized_vol(close, window)


@njit(cache=True)
def rolling_std(close: np.ndarray, window: int) -> np.ndarray:
    n = close.shape[0]
    out = np.full(n, np.nan)
    for i in range(window, n):
        s = 0.0
        s2 = 0.0
        for j in range(i - window + 1, i + 1):
            r = np.log(close[j] / close[j - 1])
            s += r
            s2 += r * r
        m = s / window
        out[i] = np.sqrt(max(s2 / window - m * m, 0.0) * MINUTES_PER_YEAR)
    return out


@njit(cache=True)
def ewma_vol(close: np.ndarray, lam: float) -> np.ndarray:
    n = close.shape[0]
    out = np.full(n, np.nan)
    var = -1.0
    for i in range(1, n):
        r = np.log(close[i] / close[i - 1])
        var = r * r if var < 0 else lam * var + (1.0 - lam) * r * r
        out[i] = np.sqrt(var * MINUTES_PER_YEAR)
    return out


def har_design(close: np.ndarray) -> np.ndarray:
    """Rows [1, RV5², RV60², RV240²] (annualized variances); NaN until 240 returns exist."""
    cols = [np.ones(close.shape[0])]
    for w in HAR_WINDOWS:
        v = trailing_realized_vol(close, w) ** 2
        v[: w] = np.nan
        cols.append(v)
    return np.column_stack(cols)


def fit_har(close: np.ndarray, label: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Least-squares HAR coefficients on the training samples (target: next-5-minute variance)."""
    x = har_design(close)[train]
    y = label[train] ** 2
    ok = np.isfinite(x).all(axis=1) & np.isfinite(y)
    coef, *_ = np.linalg.lstsq(x[ok], y[ok], rcond=None)
    return coef


def har_forecast(close: np.ndarray, coef: np.ndarray) -> np.ndarray:
    var = har_design(close) @ coef
    return np.sqrt(np.maximum(var, VOL_FLOOR**2))


def all_baselines(close: np.ndarray, label: np.ndarray, train: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "realized 5m": realized(close, 5),
        f"rolling std {ROLLING_STD_WINDOW}m": rolling_std(close, ROLLING_STD_WINDOW),
        f"EWMA λ={EWMA_LAMBDA:g}": ewma_vol(close, EWMA_LAMBDA),
        "HAR-RV (5m, 1h, 4h)": har_forecast(close, fit_har(close, label, train)),
    }
