"""Cost of one VolatilityPredictor.update() call on CPU (target: < 1 ms per call, every call).

A tick stream (mid, spread, imbalance, size) is fed through three predictors built in the same run:

* ``lstm``: a VolatilityLSTM file (hidden 32, 2 layers, lookback 30, 20 features). Its weights are
  random: inference costs the same whatever the weights. Pass ``--model F`` to time a trained file.
* ``realized``: no model file, the realized-volatility fallback (the baseline).

Two kinds of call are timed separately: a tick inside the open minute (aggregation only) and the
first tick of a new minute, which closes the bar and runs the forecast (feature rows + LSTM). The
ratio lstm / realized of the minute-close p99 says what the model costs on top of the fallback.

    .venv/bin/python bench/bench_vol_predictor.py          # quick: 400 minutes x 20 ticks
    .venv/bin/python bench/bench_vol_predictor.py --full   # 3000 minutes x 60 ticks
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from amm500.signals.ml.features import MINUTE_NS, WARMUP, feature_names
from amm500.signals.ml.predictor import VolatilityPredictor

T0 = 1_767_225_600 * 10**9


def _random_model(path: Path, lookback: int) -> None:
    from amm500.signals.ml.model import ModelSpec, VolatilityLSTM, save_model

    names = list(feature_names(True))
    spec = ModelSpec(features=names, lookback=lookback, horizon=5, hidden_size=32, num_layers=2,
                     norm_mean=[0.0] * len(names), norm_std=[1.0] * len(names), var_scale=0.04, meta={"bench": True})
    save_model(path, VolatilityLSTM(len(names)), spec)


def _ticks(minutes: int, per_minute: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = minutes * per_minute
    ts = T0 + np.repeat(np.arange(minutes, dtype=np.int64) * MINUTE_NS, per_minute) + np.tile(
        np.arange(per_minute, dtype=np.int64) * (MINUTE_NS // per_minute), minutes)
    mid = 100_000 * np.exp(np.cumsum(rng.normal(0, 1e-4, n)))
    return np.column_stack([ts.astype(np.float64), mid, rng.uniform(0.1, 2, n), rng.uniform(-1, 1, n),
                            rng.exponential(0.05, n)])


def _time(pred: VolatilityPredictor, ticks: np.ndarray, per_minute: int) -> dict[str, np.ndarray]:
    """Wall and thread-CPU nanoseconds per call, split into minute-close calls and the others."""
    wall = np.empty(ticks.shape[0])
    cpu = np.empty(ticks.shape[0])
    for i in range(ticks.shape[0]):
        t, mid, spread, imb, vol = ticks[i]
        a = time.perf_counter_ns()
        b = time.thread_time_ns()
        pred.update(int(t), mid, spread, imb, vol)
        cpu[i] = time.thread_time_ns() - b
        wall[i] = time.perf_counter_ns() - a
    close = np.zeros(ticks.shape[0], dtype=bool)
    close[per_minute::per_minute] = True
    return {"close wall": wall[close], "close cpu": cpu[close], "tick wall": wall[~close], "tick cpu": cpu[~close]}


def _row(name: str, ns: np.ndarray) -> str:
    us = ns / 1e3
    return (f"{name:<30} n={us.size:>7,}  mean {us.mean():8.1f} µs  p50 {np.percentile(us, 50):8.1f}  "
            f"p99 {np.percentile(us, 99):8.1f}  max {us.max():8.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="3000 minutes x 60 ticks")
    ap.add_argument("--model", type=Path, help="a trained model file (events features) instead of random weights")
    ap.add_argument("--lookback", type=int, default=30)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    minutes, per_minute = (3000, 60) if args.full else (400, 20)
    ticks = _ticks(minutes, per_minute)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            model = Path(tmp) / "random.pt"
            _random_model(model, args.lookback)
        lstm = VolatilityPredictor(model, has_book=True)
        realized = VolatilityPredictor(None)
        warm = ticks[: (WARMUP + lstm.lookback + 5) * per_minute]  # compile kernels, fill the window
        _time(lstm, warm, per_minute)
        _time(realized, warm, per_minute)
        rest = ticks[warm.shape[0]:]
        lt = _time(lstm, rest, per_minute)
        rt = _time(realized, rest, per_minute)
    assert lstm.model_active, "the LSTM never produced a forecast"
    import torch

    print(f"VolatilityPredictor.update() on CPU, torch {torch.__version__}, {torch.get_num_threads()} thread(s); "
          f"{minutes} minutes x {per_minute} ticks; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for name, res in (("lstm", lt), ("realized", rt)):
        for key in ("close cpu", "close wall", "tick cpu", "tick wall"):
            print(_row(f"{name}: {key.replace('close', 'minute close').replace('tick', 'tick in minute')}", res[key]))
    p99 = {k: np.percentile(lt[f"close {k}"], 99) / np.percentile(rt[f"close {k}"], 99) for k in ("cpu", "wall")}
    over = [int((np.concatenate([lt[f"close {k}"], lt[f"tick {k}"]]) > 1e6).sum()) for k in ("cpu", "wall")]
    print(f"ratio lstm/realized minute-close p99: cpu {p99['cpu']:.1f}x, wall {p99['wall']:.1f}x; lstm calls over "
          f"1 ms: cpu {over[0]}, wall {over[1]} of {rest.shape[0]}")


if __name__ == "__main__":
    main()
