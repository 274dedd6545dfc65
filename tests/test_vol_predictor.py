"""VolatilityPredictor and forecast_series: causality, live == batch, fallbacks without a model or torch."""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from amm500.data import store
from amm500.signals.ml.dataset import build_dataset, load_minute_bars
from amm500.signals.ml.features import MINUTE_NS, MINUTES_PER_YEAR, WARMUP
from amm500.signals.ml.predictor import DEFAULT_VOL, VolatilityPredictor, forecast_series
from vol_helpers import T0, bars_from_closes, garch_closes, write_bars_dir

LOOKBACK = 6


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A bars data directory and a model trained on it for one epoch."""
    from amm500.signals.ml.model import save_model
    from amm500.signals.ml.train import TrainOptions, train_model

    root = write_bars_dir(tmp_path_factory.mktemp("data"), n=700)
    ds = build_dataset(load_minute_bars(root), lookback=LOOKBACK)
    res = train_model(ds, TrainOptions(epochs=1, lookback=LOOKBACK, batch_size=128, device="cpu"))
    path = tmp_path_factory.mktemp("model") / "vol.pt"
    save_model(path, res.model, res.spec)
    return root, path


def test_series_shape_warmup_and_fallback(trained: tuple[Path, Path]) -> None:
    root, model = trained
    ts, vol = forecast_series(root, model)
    bars = load_minute_bars(root)
    assert ts.dtype == np.int64 and vol.dtype == np.float64 and ts.shape == vol.shape == (len(bars),)
    np.testing.assert_array_equal(ts, bars.ts + MINUTE_NS)
    assert vol[0] == DEFAULT_VOL and np.isfinite(vol).all() and (vol > 0).all()
    r = np.diff(np.log(bars.close))
    assert vol[100] == pytest.approx(math.sqrt(np.mean(r[70:100] ** 2) * MINUTES_PER_YEAR))  # 30-minute fallback
    first_model = WARMUP + LOOKBACK - 1
    fallback_at = math.sqrt(np.mean(r[first_model - 30:first_model] ** 2) * MINUTES_PER_YEAR)
    assert vol[first_model] != pytest.approx(fallback_at)


def test_series_is_causal(trained: tuple[Path, Path], tmp_path: Path) -> None:
    root, model = trained
    bars = store.load_bars(root)
    k = 500
    close = bars.close.copy()
    close[k + 1:] *= np.exp(np.random.default_rng(3).normal(0, 0.01, close.size - k - 1))
    changed = bars_from_closes(close)
    changed = changed.with_columns(open=np.r_[bars.open[:k + 1], changed.open[k + 1:]],
                                   high=np.r_[bars.high[:k + 1], np.maximum(changed.high, bars.high)[k + 1:]],
                                   low=np.r_[bars.low[:k + 1], np.minimum(changed.low, bars.low)[k + 1:]],
                                   volume=np.r_[bars.volume[:k + 1], bars.volume[k + 1:] * 3])
    store.write_bars(tmp_path, changed)
    ts_a, vol_a = forecast_series(root, model)
    ts_b, vol_b = forecast_series(tmp_path, model)
    t = int(bars.ts[k]) + MINUTE_NS  # close of bar k: everything after it differs
    np.testing.assert_array_equal(ts_a, ts_b)
    np.testing.assert_array_equal(vol_a[ts_a <= t], vol_b[ts_b <= t])
    assert not np.array_equal(vol_a[ts_a > t][:5], vol_b[ts_b > t][:5])


def test_live_bars_match_batch_series(trained: tuple[Path, Path]) -> None:
    root, model = trained
    _, batch = forecast_series(root, model)
    bars = store.load_bars(root)
    pred = VolatilityPredictor(model, has_book=False)
    live = np.array([pred.update_bar(int(t), h, lo, c, v)
                     for t, h, lo, c, v in zip(bars.ts, bars.high, bars.low, bars.close, bars.volume, strict=True)])
    assert pred.model_active
    np.testing.assert_allclose(live, batch, rtol=2e-5)


def test_live_ticks_match_batch_and_are_causal(trained: tuple[Path, Path]) -> None:
    """Ticks through update(): each bar's close is its last tick, high/low its extremes; a forecast
    only changes when a new minute starts, and a different future leaves the past forecasts alone."""
    root, model = trained
    _, batch = forecast_series(root, model)
    bars = store.load_bars(root)

    def ticks(close_scale_after: int | None) -> list[tuple[int, float, float]]:
        out = []
        for i, (t, o, h, lo, c, v) in enumerate(zip(bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume,
                                                    strict=True)):
            s = 1.02 if close_scale_after is not None and i > close_scale_after else 1.0
            for j, p in enumerate((o, h, lo, c)):
                out.append((int(t) + (j + 1) * 10 * 10**9, p * s, v / 4))
        return out

    def run(stream: list[tuple[int, float, float]]) -> np.ndarray:
        pred = VolatilityPredictor(model, has_book=False)
        return np.array([pred.update(t, p, volume=v) for t, p, v in stream])

    base = ticks(None)
    out = run(base)
    # the forecast made at the close of bar i is returned from the first tick of bar i+1 on
    np.testing.assert_allclose(out[4::4], batch[:-1], rtol=2e-5)
    assert (out[4::4] == out[5::4]).all() and (out[4::4] == out[7::4]).all()
    k = 400
    alt = run(ticks(k))
    first_changed = 4 * (k + 2)  # the tick that closes bar k + 1, the first bar whose prices differ
    np.testing.assert_array_equal(out[:first_changed], alt[:first_changed])
    assert out[first_changed] != alt[first_changed]


def test_fallback_without_model_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="amm500.signals.ml.predictor"):
        pred = VolatilityPredictor(tmp_path / "missing.pt")
    assert [r.getMessage() for r in caplog.records] == [
        f"volatility: no model file at {tmp_path / 'missing.pt'}; using 30-minute realized volatility"]
    assert pred.model is None
    close = garch_closes(100, seed=6)
    assert pred.update(T0, close[0]) == DEFAULT_VOL
    out = [pred.update_bar(T0 + i * MINUTE_NS, c, c, c) for i, c in enumerate(close)]
    assert out[0] == DEFAULT_VOL
    r = np.diff(np.log(close))
    assert out[1] == pytest.approx(abs(r[0]) * math.sqrt(MINUTES_PER_YEAR))
    assert out[99] == pytest.approx(math.sqrt(np.mean(r[-30:] ** 2) * MINUTES_PER_YEAR))
    assert not pred.model_active


def test_fallback_with_torch_blocked(trained: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
                                     caplog: pytest.LogCaptureFixture) -> None:
    _, model = trained
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    monkeypatch.delitem(sys.modules, "amm500.signals.ml.model", raising=False)
    with caplog.at_level(logging.WARNING, logger="amm500.signals.ml.predictor"):
        pred = VolatilityPredictor(model, has_book=False)
    assert pred.model is None
    assert len(caplog.records) == 1 and "torch is not installed" in caplog.records[0].getMessage()
    close = garch_closes(400, seed=2)
    vols = [pred.update_bar(T0 + i * MINUTE_NS, c, c, c) for i, c in enumerate(close)]
    assert np.isfinite(vols).all() and not pred.model_active


def test_long_silence_restarts_warmup(trained: tuple[Path, Path]) -> None:
    _, model = trained
    pred = VolatilityPredictor(model, has_book=False)
    close = garch_closes(WARMUP + LOOKBACK + 5, seed=8)
    for i, c in enumerate(close):
        pred.update(T0 + i * MINUTE_NS, c)
    assert pred.model_active
    pred.update(T0 + (close.size + 200) * MINUTE_NS, close[-1])  # closes the last bar, then a 200-minute hole
    assert pred.bars_seen == 0
    pred.update(T0 + (close.size + 201) * MINUTE_NS, close[-1])
    assert pred.bars_seen == 1 and not pred.model_active


def test_feature_mismatch_is_an_error(trained: tuple[Path, Path]) -> None:
    from amm500.signals.ml.model import ModelError

    _, model = trained
    with pytest.raises(ModelError, match="other features"):
        VolatilityPredictor(model, has_book=True)


def test_series_requires_the_model(trained: tuple[Path, Path], tmp_path: Path) -> None:
    from amm500.signals.ml.model import ModelError

    root, _ = trained
    with pytest.raises(ModelError, match="no such model file"):
        forecast_series(root, tmp_path / "missing.pt")
