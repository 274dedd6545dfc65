"""`amm500 vol train` / `amm500 vol eval` end to end on tiny data, and their answers to bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from amm500.cli import app
from vol_helpers import write_bars_dir, write_events_dir

runner = CliRunner()


@pytest.fixture(scope="module")
def bars_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bars_dir(tmp_path_factory.mktemp("bars"), n=650)


@pytest.fixture(scope="module")
def model(bars_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("m") / "models" / "vol.pt"
    res = runner.invoke(app, ["vol", "train", "--data", str(bars_dir), "--out", str(out), "--epochs", "2",
                              "--lookback", "5", "--batch-size", "128", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "saved" in res.output and "best epoch" in res.output
    return out


def test_train_then_eval_json(model: Path, bars_dir: Path, tmp_path: Path) -> None:
    from amm500.signals.ml.model import load_model

    spec = load_model(model).spec
    assert spec.lookback == 5 and spec.meta["options"]["epochs"] == 2 and spec.meta["data_dir"] == str(bars_dir)
    out = tmp_path / "eval.json"
    res = runner.invoke(app, ["vol", "eval", "--data", str(bars_dir), "--model", str(model), "--json", str(out)])
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text())
    methods = [s["method"] for s in report["scores"]]
    assert methods == ["LSTM", "realized 5m", "rolling std 30m", "EWMA λ=0.94", "HAR-RV (5m, 1h, 4h)"]
    assert report["test_samples"] == spec.meta["samples"]["test"]
    assert all(s["n"] == report["test_samples"] for s in report["scores"])
    for name in methods:
        assert name in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["vol", "train", "--data", "/nonexistent/dir"], "no such data directory"),
        (["vol", "train", "--data", "{bars}", "--epochs", "0"], "--epochs"),
        (["vol", "train", "--data", "{bars}", "--lookback", "5000"], "--lookback"),
        (["vol", "train", "--data", "{bars}", "--device", "tpu"], "--device must be cpu or cuda"),
        (["vol", "train", "--data", "{bars}", "--out", "{tmp}"], "is a directory"),
        (["vol", "eval", "--data", "{bars}", "--model", "{tmp}/missing.pt"], "no such model file"),
        (["vol", "eval", "--data", "{events}", "--model", "{model}"], "other features"),
    ],
)
def test_bad_input(args: list[str], message: str, bars_dir: Path, model: Path, tmp_path: Path) -> None:
    events = write_events_dir(tmp_path / "ev", n=400) if "{events}" in args else None
    argv = [a.format(bars=bars_dir, tmp=tmp_path, model=model, events=events) for a in args]
    res = runner.invoke(app, argv)
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split())
    assert not any(p.suffix == ".tmp" for p in tmp_path.rglob("*"))


def test_without_torch(bars_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    res = runner.invoke(app, ["vol", "train", "--data", str(bars_dir), "--out", str(tmp_path / "m.pt")])
    assert res.exit_code == 2
    assert "pip install 'amm500[ml]'" in " ".join(res.output.split())
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--vol-model", "{tmp}/missing.pt"], "--vol-model: {tmp}/missing.pt: no such model file"),
        (["--vol-model", "{model}", "--set", "backtest.fill_model=bar"], "--vol-model needs a tick-mode backtest"),
        (["--vol-model", "{model}"], "--vol-model: {model}: the model was trained on other features"),
    ],
)
def test_backtest_vol_model_bad_input(extra: list[str], message: str, model: Path, tmp_path: Path) -> None:
    events = write_events_dir(tmp_path / "ev", n=300)
    fmt = {"tmp": tmp_path, "model": model}
    res = runner.invoke(app, ["backtest", "--data", str(events), "--quiet", *[a.format(**fmt) for a in extra]])
    assert res.exit_code == 2, res.output
    assert message.format(**fmt) in " ".join(res.output.split())


def test_backtest_vol_model_without_torch(model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = write_events_dir(tmp_path / "ev", n=300)
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delitem(sys.modules, "amm500.signals.ml.model", raising=False)
    res = runner.invoke(app, ["backtest", "--data", str(events), "--quiet", "--vol-model", str(model)])
    assert res.exit_code == 2
    expected = "torch is not installed; LSTM forecasts need the ml extra: pip install 'amm500[ml]'"
    assert expected in " ".join(res.output.split())
