"""Volatility forecasts for the strategy: live and incremental, or causal over a whole dataset.

Both paths build the same 1-minute bars and the same feature rows (one compiled function), so a
backtest driven by :func:`forecast_series` sees exactly what :class:`VolatilityPredictor` would
have said live at each bar close. Until a full window of bars exists, and whenever there is no model
file or no torch, the forecast is realized volatility over the last ``fallback_window`` minutes
(``default_vol`` before two bars exist), with one log line saying why.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from amm500.signals.ml import ModelError
from amm500.signals.ml.dataset import MAX_FILL_MINUTES, bar_features, load_minute_bars, window_mask
from amm500.signals.ml.features import (
    MINUTE_NS,
    MINUTES_PER_YEAR,
    WARMUP,
    compute_features,
    feature_names,
    trailing_realized_vol,
)

if TYPE_CHECKING:
    from amm500.signals.ml.model import LoadedModel

log = logging.getLogger(__name__)

DEFAULT_MODEL_PATH = "models/vol_lstm.pt"
FALLBACK_WINDOW = 30  # minutes of realized volatility while the LSTM cannot answer
DEFAULT_VOL = 0.5  # the seed's estimate before any return exists


def _try_load(model_path: str | Path | None, features: tuple[str, ...]) -> LoadedModel | None:
    """The model, or None (logged once) when there is no file or no torch; other problems raise."""
    if model_path is None:
        log.info("volatility: no LSTM model configured; using %d-minute realized volatility", FALLBACK_WINDOW)
        return None
    if not Path(model_path).is_file():
        log.warning("volatility: no model file at %s; using %d-minute realized volatility", model_path,
                    FALLBACK_WINDOW)
        return None
    try:
        from amm500.signals.ml.model import configure_threads, load_model
    except ImportError:
        log.warning("volatility: torch is not installed (pip install 'amm500[ml]'); using %d-minute realized "
                    "volatility instead of %s", FALLBACK_WINDOW, model_path)
        return None
    configure_threads(1)  # one small forward per minute: a second thread only adds hand-off latency
    return load_model(Path(model_path), features)


class VolatilityPredictor:
    """Incremental forecaster: feed ticks with :meth:`update` (or whole bars with :meth:`update_bar`).

    The LSTM runs once per completed minute; between minutes :meth:`update` only aggregates the
    tick into the open bar and returns the latest forecast. Ticks older than the open bar count
    toward it (exchange feeds reorder slightly); a silence longer than ``MAX_FILL_MINUTES`` restarts
    the warm-up.
    """

    def __init__(self, model_path: str | Path | None = DEFAULT_MODEL_PATH, *, has_book: bool = True,
                 fallback_window: int = FALLBACK_WINDOW, default_vol: float = DEFAULT_VOL) -> None:
        if fallback_window < 1:
            raise ValueError(f"fallback_window must be >= 1 (got {fallback_window})")
        self.has_book = has_book
        self.fallback_window = fallback_window
        self.default_vol = default_vol
        self.model = _try_load(model_path, feature_names(has_book))
        self._fast = None
        if self.model is not None:
            from amm500.signals.ml.model import FastForward

            self._fast = FastForward(self.model.model, self.model.spec)
        self.lookback = self.model.spec.lookback if self.model else 0
        self._need = WARMUP + self.lookback  # bars behind one full window of feature rows
        self._cap = max(self._need, fallback_window + 1)
        self._buf = np.zeros((7, self._cap))  # rows: close_ts, high, low, close, volume, spread, imbalance
        self._n = 0
        self._bar: list[float] | None = None  # open bar: minute, high, low, close, volume, spread, imbalance
        self.vol = default_vol
        self.model_active = False  # whether the latest forecast came from the LSTM

    @property
    def bars_seen(self) -> int:
        return self._n

    def update(self, ts_ns: int, price: float, spread_bps: float = math.nan, imbalance: float = math.nan,
               volume: float = 0.0) -> float:
        """Add one tick (mid price, optional book state and traded size); return the current forecast."""
        minute = ts_ns // MINUTE_NS
        bar = self._bar
        if bar is not None and minute > bar[0]:
            self._finish_bar(int(minute))
            bar = None
        if bar is None:
            self._bar = [float(minute), price, price, price, volume, spread_bps, imbalance]
            return self.vol
        bar[1] = max(bar[1], price)
        bar[2] = min(bar[2], price)
        bar[3] = price
        bar[4] += volume
        if not math.isnan(spread_bps):
            bar[5] = spread_bps
        if not math.isnan(imbalance):
            bar[6] = imbalance
        return self.vol

    def predict_volatility(self, current_price: float) -> float:
        """The seed's call: one price at wall-clock time now."""
        return self.update(time.time_ns(), current_price)

    def _finish_bar(self, next_minute: int) -> None:
        b = self._bar
        assert b is not None
        self._bar = None
        open_ns = int(b[0]) * MINUTE_NS
        self.update_bar(open_ns, b[1], b[2], b[3], b[4], b[5], b[6])
        gap = next_minute - int(b[0]) - 1
        if gap > MAX_FILL_MINUTES:
            self._n = 0  # too long a silence: features would span a broken gap, warm up again
            return
        for k in range(1, gap + 1):
            self.update_bar(open_ns + k * MINUTE_NS, b[3], b[3], b[3], 0.0)

    def update_bar(self, ts_open_ns: int, high: float, low: float, close: float, volume: float = 0.0,
                   spread_bps: float = math.nan, imbalance: float = math.nan) -> float:
        """Add one completed 1-minute bar (for bar feeds); return the forecast made at its close."""
        buf = self._buf
        if self._n == self._cap:
            buf[:, :-1] = buf[:, 1:]
            self._n -= 1
        i = self._n
        prev_spread = buf[5, i - 1] if i else math.nan
        prev_imb = buf[6, i - 1] if i else math.nan
        buf[:, i] = (ts_open_ns + MINUTE_NS, high, low, close, volume,
                     prev_spread if math.isnan(spread_bps) else spread_bps,
                     prev_imb if math.isnan(imbalance) else imbalance)
        self._n += 1
        self.vol = self._forecast()
        return self.vol

    def _forecast(self) -> float:
        n = self._n
        if self.model is not None and n >= self._need:
            b = self._buf[:, n - self._need:n]
            rows = compute_features(b[0].astype(np.int64), b[3], b[1], b[2], b[4], b[5], b[6], self.has_book, WARMUP)
            if np.isfinite(rows).all() and self._fast is not None:
                self.model_active = True
                return self._fast.predict_vol(rows)
        self.model_active = False
        if n < 2:
            return self.default_vol
        close = self._buf[3, max(0, n - self.fallback_window - 1):n]
        r = np.diff(np.log(close))
        return float(np.sqrt(np.mean(r * r) * MINUTES_PER_YEAR))


def forecast_series(data_dir: str | Path, model_path: str | Path, *, fallback_window: int = FALLBACK_WINDOW,
                    default_vol: float = DEFAULT_VOL, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Causal forecasts for every minute of a dataset: ``(ts_ns, annualized_vol)``.

    ``ts_ns[i]`` is the close of minute bar i, and ``vol[i]`` uses only data before it: the backtester
    applies it from that instant on. Raises :class:`~amm500.signals.ml.ModelError` when the model
    file is missing, torch is not installed, or the model was trained on other features (an explicit
    request must not silently degrade); warm-up minutes use the realized fallback of the live predictor.
    """
    try:
        from amm500.signals.ml.model import configure_threads, load_model
    except ImportError:
        raise ModelError(f"{model_path}: torch is not installed; LSTM forecasts need the ml extra: "
                         "pip install 'amm500[ml]'") from None

    configure_threads(threads)
    loaded = load_model(Path(model_path))  # a bad model file fails before the data is read
    bars = load_minute_bars(Path(data_dir))
    loaded.spec.check_features(feature_names(bars.has_book), str(model_path))
    feats = bar_features(bars)
    lookback = loaded.spec.lookback
    ok = window_mask(bars, feats, lookback)
    vol = trailing_realized_vol(bars.close, fallback_window)
    vol[0] = default_vol
    idx = np.flatnonzero(ok)
    if idx.size:
        windows = np.lib.stride_tricks.sliding_window_view(feats, lookback, axis=0)  # (n-L+1, F, L)
        vol[idx] = loaded.predict_vol(windows[idx - lookback + 1].transpose(0, 2, 1))
    return bars.close_ts.astype(np.int64), vol.astype(np.float64)
