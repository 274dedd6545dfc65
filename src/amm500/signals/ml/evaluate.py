"""The LSTM against the baselines on the test split: MSE, QLIKE and correlation.

Metrics are on the annualized next-5-minute realized volatility σ (the label) and a forecast σ̂:

* MSE = mean((σ̂ − σ)²), in annualized-vol units squared;
* QLIKE = mean(σ²/σ̂² − log(σ²/σ̂²) − 1) on variances (0 for a perfect forecast; robust to noisy
  labels, Patton 2011), with σ floored at ``VOL_FLOOR`` so flat minutes stay finite;
* corr = Pearson correlation of σ̂ and σ.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amm500.signals.ml.baselines import all_baselines
from amm500.signals.ml.dataset import load_dataset, span_text
from amm500.signals.ml.features import VOL_FLOOR

LSTM_NAME = "LSTM"


@dataclass
class MethodScore:
    method: str
    mse: float
    qlike: float
    corr: float
    mean_forecast: float
    n: int


def score(name: str, forecast: np.ndarray, truth: np.ndarray) -> MethodScore:
    f = np.maximum(forecast, VOL_FLOOR)
    t = np.maximum(truth, VOL_FLOOR)
    ratio = (t / f) ** 2
    corr = float(np.corrcoef(f, t)[0, 1]) if f.size > 1 and f.std() > 0 and t.std() > 0 else float("nan")
    return MethodScore(name, float(np.mean((f - t) ** 2)), float(np.mean(ratio - np.log(ratio) - 1.0)), corr,
                       float(np.mean(f)), int(f.size))


def evaluate(data_dir: Path, model_path: Path, threads: int | None = None) -> dict[str, Any]:
    """Scores of every method on the test split of ``data_dir`` (split as at training time)."""
    from amm500.signals.ml.model import configure_threads, load_model

    configure_threads(threads)
    probe = load_model(Path(model_path))
    ds = load_dataset(Path(data_dir), probe.spec.lookback)
    probe.spec.check_features(ds.feature_names, str(model_path))
    test = ds.test
    truth = ds.label[test]
    windows = np.lib.stride_tricks.sliding_window_view(ds.features, ds.lookback, axis=0)
    lstm = probe.predict_vol(windows[test - ds.lookback + 1].transpose(0, 2, 1))
    scores = [score(LSTM_NAME, lstm, truth)]
    for name, series in all_baselines(ds.bars.close, ds.label, ds.train).items():
        scores.append(score(name, series[test], truth))
    return {
        "data_dir": str(data_dir),
        "model": str(model_path),
        "data_source": ds.bars.source,
        "test_span": span_text(ds.close_ts[test]),
        "test_samples": int(test.size),
        "mean_realized_vol": float(np.mean(truth)),
        "model_trained_on": probe.spec.meta.get("data_span"),
        "scores": [asdict(s) for s in scores],
    }
