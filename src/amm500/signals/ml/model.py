"""``VolatilityLSTM`` (seed section 3) and its model file.

This module imports torch; everything else in the package imports it lazily so the realized-vol
fallback runs without the ``ml`` extra. The model predicts the log of the next-5-minute variance
divided by ``var_scale`` (the mean training variance); :meth:`LoadedModel.predict_vol` turns that
back into annualized volatility.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numba import njit
from torch import nn

from amm500.signals.ml import ModelError

__all__ = ["LoadedModel", "ModelError", "ModelSpec", "VolatilityLSTM", "load_model", "save_model"]

FORMAT_NAME = "amm500-vol-lstm"
FORMAT_VERSION = 1


class VolatilityLSTM(nn.Module):
    """Lightweight LSTM for 1-5 minute volatility: the last hidden state through one linear layer."""

    def __init__(self, input_size: int = 10, hidden_size: int = 32, num_layers: int = 2) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lstm_out, _ = self.lstm(x)
        return self.fc(lstm_out[:, -1, :]).squeeze(-1)


@dataclass
class ModelSpec:
    """Everything besides the weights that inference needs to reproduce training's inputs."""

    features: list[str]
    lookback: int
    horizon: int
    hidden_size: int
    num_layers: int
    norm_mean: list[float]
    norm_std: list[float]
    var_scale: float  # mean training label variance; model output is log(var / var_scale)
    meta: dict[str, Any] = field(default_factory=dict)

    def check_features(self, features: tuple[str, ...] | list[str], where: str) -> None:
        if list(features) == self.features:
            return
        missing = [f for f in self.features if f not in features]
        extra = [f for f in features if f not in self.features]
        detail = "; ".join(p for p in (f"model needs {missing}" if missing else "",
                                       f"data has {extra}" if extra else "") if p) or "same names, other order"
        raise ModelError(f"{where}: the model was trained on other features than this data provides ({detail}). "
                         "Train a model on data of this kind (events with a book, or candles).")


@dataclass
class LoadedModel:
    model: VolatilityLSTM
    spec: ModelSpec
    device: torch.device

    def predict_vol(self, windows: np.ndarray, batch: int = 8192) -> np.ndarray:
        """Annualized volatility for raw (un-normalized) windows of shape (n, lookback, F)."""
        mean = np.asarray(self.spec.norm_mean)
        std = np.asarray(self.spec.norm_std)
        out = np.empty(windows.shape[0])
        with torch.inference_mode():
            for a in range(0, windows.shape[0], batch):
                x = torch.from_numpy(((windows[a:a + batch] - mean) / std).astype(np.float32)).to(self.device)
                out[a:a + batch] = self.model(x).double().cpu().numpy()
        return np.sqrt(self.spec.var_scale * np.exp(out))


@njit(cache=True, fastmath=True)
def lstm_forward(x: np.ndarray, w_ih0: np.ndarray, w_ih_up: np.ndarray, w_hh: np.ndarray, bias: np.ndarray,
                 fc_w: np.ndarray, fc_b: float) -> float:
    """One normalized window (L, F) through the stacked LSTM (PyTorch's gate order i, f, g, o) and the
    linear head, in float64: the live path's forward without torch's per-op dispatch cost."""
    n_layers, four_h, hidden = w_hh.shape
    steps = x.shape[0]
    seq = x
    h = np.zeros(hidden)
    for layer in range(n_layers):
        w_ih = w_ih0 if layer == 0 else w_ih_up[layer - 1]
        h = np.zeros(hidden)
        c = np.zeros(hidden)
        out = np.empty((steps, hidden))
        gates = np.empty(four_h)
        for t in range(steps):
            xt = seq[t]
            for r in range(four_h):
                acc = bias[layer, r]
                for k in range(xt.shape[0]):
                    acc += w_ih[r, k] * xt[k]
                for k in range(hidden):
                    acc += w_hh[layer, r, k] * h[k]
                gates[r] = acc
            for k in range(hidden):
                i = 1.0 / (1.0 + np.exp(-gates[k]))
                f = 1.0 / (1.0 + np.exp(-gates[hidden + k]))
                g = np.tanh(gates[2 * hidden + k])
                o = 1.0 / (1.0 + np.exp(-gates[3 * hidden + k]))
                c[k] = f * c[k] + i * g
                h[k] = o * np.tanh(c[k])
            out[t] = h
        seq = out
    acc = fc_b
    for k in range(hidden):
        acc += fc_w[k] * h[k]
    return acc


class FastForward:
    """The model's weights as float64 arrays for :func:`lstm_forward` (one window at a time)."""

    def __init__(self, model: VolatilityLSTM, spec: ModelSpec) -> None:
        sd = {k: v.detach().cpu().double().numpy() for k, v in model.state_dict().items()}
        layers = spec.num_layers
        self.w_ih0 = np.ascontiguousarray(sd["lstm.weight_ih_l0"])
        up = [sd[f"lstm.weight_ih_l{k}"] for k in range(1, layers)]
        h = spec.hidden_size
        self.w_ih_up = np.ascontiguousarray(np.stack(up) if up else np.zeros((0, 4 * h, h)))
        self.w_hh = np.ascontiguousarray(np.stack([sd[f"lstm.weight_hh_l{k}"] for k in range(layers)]))
        self.bias = np.ascontiguousarray(np.stack([sd[f"lstm.bias_ih_l{k}"] + sd[f"lstm.bias_hh_l{k}"]
                                                   for k in range(layers)]))
        self.fc_w = np.ascontiguousarray(sd["fc.weight"][0])
        self.fc_b = float(sd["fc.bias"][0])
        self.mean = np.asarray(spec.norm_mean, dtype=np.float64)
        self.std = np.asarray(spec.norm_std, dtype=np.float64)
        self.var_scale = spec.var_scale

    def predict_vol(self, window: np.ndarray) -> float:
        """Annualized volatility for one raw window (L, F)."""
        x = np.ascontiguousarray((window - self.mean) / self.std)
        out = lstm_forward(x, self.w_ih0, self.w_ih_up, self.w_hh, self.bias, self.fc_w, self.fc_b)
        return float(np.sqrt(self.var_scale * np.exp(out)))


def save_model(path: Path, model: VolatilityLSTM, spec: ModelSpec) -> None:
    """Write the model file atomically (a temporary file renamed into place)."""
    from amm500.core.files import write_atomic

    blob = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "spec": {**spec.__dict__},
    }
    write_atomic(path, lambda tmp: torch.save(blob, tmp))


def load_model(path: Path, features: tuple[str, ...] | list[str] | None = None,
               device: str | torch.device = "cpu") -> LoadedModel:
    """Load a model file; with ``features`` given, refuse a model trained on other features."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file (train one with `amm500 vol train`)")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"{path}: not a readable model file ({type(exc).__name__}: {exc})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT_NAME:
        raise ModelError(f"{path}: not an AMM-500 volatility model (expected format {FORMAT_NAME!r})")
    if blob.get("version") != FORMAT_VERSION:
        raise ModelError(f"{path}: model format version {blob.get('version')} is not supported "
                         f"(this build reads version {FORMAT_VERSION})")
    try:
        spec = ModelSpec(**blob["spec"])
        model = VolatilityLSTM(len(spec.features), spec.hidden_size, spec.num_layers)
        model.load_state_dict(blob["state_dict"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise ModelError(f"{path}: damaged model file ({exc})") from None
    if features is not None:
        spec.check_features(features, str(path))
    dev = torch.device(device)
    model.to(dev).eval()
    return LoadedModel(model, spec, dev)


def configure_threads(threads: int | None) -> None:
    """torch CPU threads; default 1. This model's matrices are tiny: on a shared 2-core machine a
    second thread bought nothing and spin-waiting made an epoch 8x slower (measured, docs/volatility.md)."""
    torch.set_num_threads(threads or 1)


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
