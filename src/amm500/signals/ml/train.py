"""Seeded training of :class:`VolatilityLSTM` with early stopping on the validation split.

The loss is QLIKE on variance (``y / ŷ + log ŷ`` up to constants), the standard loss for volatility
forecasts: it is minimized by the conditional mean of the variance, so forecasts are not biased low
the way a log-MSE fit is, and big spikes do not dominate the way a plain MSE fit lets them.
"""

from __future__ import annotations

import copy
import datetime as dt
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import amm500
from amm500.signals.ml.dataset import VolDataset, fit_normalization, span_text
from amm500.signals.ml.features import HORIZON
from amm500.signals.ml.model import ModelSpec, VolatilityLSTM, configure_threads, pick_device


@dataclass
class TrainOptions:
    epochs: int = 30
    seed: int = 0
    lookback: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    patience: int = 5
    hidden_size: int = 32
    num_layers: int = 2
    threads: int | None = None  # torch CPU threads; default 1 (see model.configure_threads)
    device: str | None = None  # "cpu" / "cuda"; default CUDA when available


@dataclass
class TrainResult:
    model: VolatilityLSTM
    spec: ModelSpec
    best_epoch: int
    epochs_run: int
    val_loss: float
    interrupted: bool
    seconds: float
    history: list[tuple[float, float]] = field(default_factory=list)


#: Callbacks for a progress display: (total batches) at start, () per batch, (epoch, train, val) per epoch.
Hooks = tuple[Callable[[int], None], Callable[[], None], Callable[[int, float, float], None]]


def qlike_loss(pred_log_var: torch.Tensor, target_var: torch.Tensor) -> torch.Tensor:
    return (target_var * torch.exp(-pred_log_var) + pred_log_var).mean()


class _Windows:
    """Sample windows as views into one normalized feature tensor (no copy per sample)."""

    def __init__(self, ds: VolDataset, mean: np.ndarray, std: np.ndarray, var_scale: float,
                 device: torch.device) -> None:
        x = np.nan_to_num((ds.features - mean) / std, nan=0.0).astype(np.float32)
        self.unfolded = torch.from_numpy(x).to(device).unfold(0, ds.lookback, 1)  # (n-L+1, F, L)
        self.target = torch.from_numpy((np.nan_to_num(ds.label) ** 2 / var_scale).astype(np.float32)).to(device)
        self.lookback = ds.lookback
        self.device = device

    def batch(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        i = torch.from_numpy(idx).to(self.device)
        return self.unfolded[i - self.lookback + 1].transpose(1, 2), self.target[i]


def _evaluate(model: VolatilityLSTM, win: _Windows, idx: np.ndarray, batch: int = 4096) -> float:
    model.eval()
    total = 0.0
    with torch.inference_mode():
        for a in range(0, idx.size, batch):
            x, y = win.batch(idx[a:a + batch])
            total += float(qlike_loss(model(x), y)) * x.shape[0]
    return total / max(idx.size, 1)


def train_model(ds: VolDataset, opts: TrainOptions, data_dir: Path | None = None, hooks: Hooks | None = None,
                ) -> TrainResult:
    """Train on ``ds.train``, stop early on ``ds.val``; Ctrl-C returns the best model so far."""
    if ds.train.size == 0 or ds.val.size == 0:
        raise ValueError("the dataset has no training or validation samples")
    started = time.perf_counter()
    torch.manual_seed(opts.seed)
    rng = np.random.default_rng(opts.seed)
    configure_threads(opts.threads)
    device = torch.device(opts.device) if opts.device else pick_device()

    mean, std = fit_normalization(ds)
    var_scale = float(np.mean(ds.label[ds.train] ** 2))
    win = _Windows(ds, mean, std, var_scale, device)
    model = VolatilityLSTM(len(ds.feature_names), opts.hidden_size, opts.num_layers).to(device)
    optim = torch.optim.Adam(model.parameters(), lr=opts.lr)

    n_batches = -(-ds.train.size // opts.batch_size)
    if hooks:
        hooks[0](n_batches * opts.epochs)
    best_state = copy.deepcopy(model.state_dict())
    best_val = _evaluate(model, win, ds.val)
    best_epoch, epochs_run, bad, interrupted = 0, 0, 0, False
    history: list[tuple[float, float]] = []
    try:
        for epoch in range(1, opts.epochs + 1):
            model.train()
            order = rng.permutation(ds.train)
            total = 0.0
            for a in range(0, order.size, opts.batch_size):
                x, y = win.batch(order[a:a + opts.batch_size])
                loss = qlike_loss(model(x), y)
                optim.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optim.step()
                total += float(loss.detach()) * x.shape[0]
                if hooks:
                    hooks[1]()
            val = _evaluate(model, win, ds.val)
            history.append((total / order.size, val))
            epochs_run = epoch
            if hooks:
                hooks[2](epoch, total / order.size, val)
            if val < best_val - 1e-6:
                best_val, best_epoch, bad = val, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad += 1
                if bad >= opts.patience:
                    break
    except KeyboardInterrupt:
        interrupted = True
    model.load_state_dict(best_state)
    model.eval()
    seconds = time.perf_counter() - started
    spec = ModelSpec(
        features=list(ds.feature_names), lookback=ds.lookback, horizon=HORIZON, hidden_size=opts.hidden_size,
        num_layers=opts.num_layers, norm_mean=mean.tolist(), norm_std=std.tolist(), var_scale=var_scale,
        meta=_metadata(ds, opts, data_dir, device, best_epoch, epochs_run, best_val, seconds, interrupted, history),
    )
    return TrainResult(model.cpu(), spec, best_epoch, epochs_run, best_val, interrupted, seconds, history)


def _metadata(ds: VolDataset, opts: TrainOptions, data_dir: Path | None, device: torch.device, best_epoch: int,
              epochs_run: int, val_loss: float, seconds: float, interrupted: bool,
              history: list[tuple[float, float]]) -> dict[str, Any]:
    ts = ds.close_ts
    return {
        "data_dir": str(data_dir) if data_dir else None,
        "data_source": ds.bars.source,
        "data_span": span_text(ds.bars.ts),
        "data_first_ts_ns": int(ds.bars.ts[0]),
        "data_last_ts_ns": int(ds.bars.ts[-1]),
        "samples": {"train": int(ds.train.size), "val": int(ds.val.size), "test": int(ds.test.size)},
        "train_span": span_text(ts[ds.train]),
        "val_span": span_text(ts[ds.val]),
        "test_span": span_text(ts[ds.test]),
        "epochs_requested": opts.epochs,
        "epochs_run": epochs_run,
        "best_epoch": best_epoch,
        "val_qlike_loss": val_loss,
        "history": [list(h) for h in history],
        "interrupted": interrupted,
        "train_seconds": round(seconds, 2),
        "device": str(device),
        "options": {k: v for k, v in opts.__dict__.items()},
        "versions": {"amm500": amm500.__version__ if hasattr(amm500, "__version__") else "unknown",
                     "torch": str(torch.__version__), "numpy": np.__version__, "python": platform.python_version()},
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
