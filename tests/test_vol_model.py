"""VolatilityLSTM: seeded training, the model file round trip, refusing other features, baselines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from amm500.signals.ml.baselines import ewma_vol, fit_har, har_design, rolling_std
from amm500.signals.ml.dataset import build_dataset, load_minute_bars
from amm500.signals.ml.evaluate import score
from amm500.signals.ml.features import MINUTES_PER_YEAR, feature_names
from amm500.signals.ml.model import FastForward, ModelError, VolatilityLSTM, load_model, save_model
from amm500.signals.ml.train import TrainOptions, train_model
from vol_helpers import garch_closes, write_bars_dir


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = write_bars_dir(tmp_path_factory.mktemp("bars"), n=800)
    return build_dataset(load_minute_bars(root), lookback=8)


def test_seed_architecture() -> None:
    m = VolatilityLSTM(20)
    assert (m.lstm.input_size, m.lstm.hidden_size, m.lstm.num_layers) == (20, 32, 2)
    assert m(torch.zeros(3, 8, 20)).shape == (3,)


def test_training_is_seeded_and_round_trips(dataset, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    opts = TrainOptions(epochs=2, seed=7, batch_size=64, patience=5, device="cpu")
    a = train_model(dataset, opts, data_dir=tmp_path)
    b = train_model(dataset, opts, data_dir=tmp_path)
    for (ka, va), (kb, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    assert a.epochs_run == 2 and a.spec.meta["samples"]["train"] == dataset.train.size
    assert a.spec.meta["versions"]["torch"] == str(torch.__version__)
    assert a.spec.meta["data_span"].endswith("d)")
    c = train_model(dataset, TrainOptions(epochs=2, seed=8, batch_size=64, device="cpu"))
    assert not torch.equal(c.model.fc.weight, a.model.fc.weight)

    path = tmp_path / "sub" / "m.pt"
    save_model(path, a.model, a.spec)
    assert [p.name for p in path.parent.iterdir()] == ["m.pt"]  # no temporary left behind
    loaded = load_model(path, dataset.feature_names)
    assert loaded.spec == a.spec
    windows = np.stack([dataset.features[i - 7:i + 1] for i in dataset.test[:50]])
    x = torch.from_numpy(((windows - np.array(a.spec.norm_mean)) / np.array(a.spec.norm_std)).astype(np.float32))
    with torch.no_grad():
        direct = np.sqrt(a.spec.var_scale * np.exp(a.model(x).double().numpy()))
    np.testing.assert_allclose(loaded.predict_vol(windows), direct, rtol=1e-6)
    fast = FastForward(loaded.model, loaded.spec)  # the live path's float64 forward without torch
    np.testing.assert_allclose([fast.predict_vol(w) for w in windows], direct, rtol=1e-5)


def test_model_file_errors(dataset, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = train_model(dataset, TrainOptions(epochs=1, batch_size=128, device="cpu"))
    path = tmp_path / "m.pt"
    save_model(path, res.model, res.spec)
    with pytest.raises(ModelError, match=r"other features.*model needs \['spread_bps\[unavailable=0\]'"):
        load_model(path, feature_names(True))
    with pytest.raises(ModelError, match="no such model file"):
        load_model(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a readable model file"):
        load_model(tmp_path / "junk.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(ModelError, match="not an AMM-500 volatility model"):
        load_model(tmp_path / "other.pt")


def test_baselines_known_answers() -> None:
    close = 100 * np.exp(np.cumsum(np.r_[0.0, [0.001, -0.002, 0.003, 0.0, 0.001]]))
    r = np.diff(np.log(close))
    assert rolling_std(close, 3)[5] == pytest.approx(np.std(r[2:5]) * np.sqrt(MINUTES_PER_YEAR))
    var = r[0] ** 2
    for x in r[1:]:
        var = 0.94 * var + 0.06 * x**2
    assert ewma_vol(close, 0.94)[5] == pytest.approx(np.sqrt(var * MINUTES_PER_YEAR))


def test_har_recovers_known_coefficients() -> None:
    close = garch_closes(3000, seed=11)
    x = har_design(close)
    coef_true = np.array([0.01, 0.3, 0.2, 0.4])
    label = np.sqrt(np.maximum(x @ coef_true, 0))
    train = np.arange(300, 2500)
    np.testing.assert_allclose(fit_har(close, label, train), coef_true, rtol=1e-6, atol=1e-9)


def test_scores() -> None:
    t = np.array([0.2, 0.4, 0.3])
    perfect = score("p", t, t)
    assert perfect.mse == 0 and perfect.qlike == pytest.approx(0) and perfect.corr == pytest.approx(1)
    double = score("d", 2 * t, t)
    assert double.mse == pytest.approx(np.mean(t**2))
    assert double.qlike == pytest.approx(0.25 - np.log(0.25) - 1)
