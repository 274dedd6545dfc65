"""One search point = one backtest, run inside whichever worker process picks it up.

A :class:`Task` is small plain data (the config as JSON, the data directory, the days), so it
pickles cheaply to a local process or a Dask worker. The market itself never travels: each worker
process loads it from the data directory the first time it needs it and keeps it for the following
tasks (see :func:`market_for`). The only call into the backtester is :func:`run_point`.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import shutil
import socket
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amm500.config import Config
from amm500.data.store import BARS_DIR, DATASET_FILE, EVENTS_DIR
from amm500.optimize.keys import Dataset, config_payload, dataset_days

#: Markets (window -> loaded market) kept per worker process. Walk-forward alternates between a few
#: windows; tasks are submitted grouped by window, so two is enough to avoid reloading.
MARKET_CACHE_SIZE = 2


@dataclass(frozen=True)
class Task:
    """Everything a worker needs to evaluate one point on one window of days."""

    key: str
    config: dict[str, Any]
    data_dir: str
    window: tuple[str, ...]
    params: dict[str, Any]


def run_point(config: Config, market: Any) -> dict[str, Any]:
    """The one call into the backtester."""
    from amm500.backtest.runner import run_backtest

    return dict(run_backtest(config, market, progress=False).metrics)


def load_market(path: Path, days: int | None) -> Any:
    from amm500.backtest.runner import load_market as _load

    return _load(path, days=days)


_markets: OrderedDict[tuple[str, tuple[str, ...]], Any] = OrderedDict()
_view_root: Path | None = None


def _window_view(data_dir: Path, window: tuple[str, ...]) -> Path:
    """A data directory holding only ``window``'s days, as symlinks (no copy), for a non-prefix window."""
    global _view_root
    if _view_root is None:
        _view_root = Path(tempfile.mkdtemp(prefix="amm500-windows-"))
        atexit.register(shutil.rmtree, _view_root, True)
    view = _view_root / f"{window[0]}_{window[-1]}_{len(window)}"
    if view.exists():
        return view
    tmp = Path(tempfile.mkdtemp(dir=_view_root))
    meta = data_dir / DATASET_FILE
    if meta.exists():
        (tmp / DATASET_FILE).symlink_to(meta)
    for sub in (EVENTS_DIR, BARS_DIR):
        for day in window:
            src = data_dir / sub / f"{day}.parquet"
            if src.exists():
                (tmp / sub).mkdir(exist_ok=True)
                (tmp / sub / src.name).symlink_to(src)
    os.replace(tmp, view)
    return view


def market_for(data_dir: str, window: tuple[str, ...]) -> Any:
    """The market of ``window`` in this process, loaded on first use."""
    cache_key = (data_dir, window)
    if cache_key in _markets:
        _markets.move_to_end(cache_key)
        return _markets[cache_key]
    root = Path(data_dir)
    days = dataset_days(root)
    if list(window) == days[: len(window)]:
        market = load_market(root, len(window))
    else:
        missing = sorted(set(window) - set(days))
        if missing:
            from amm500.data.schema import DataError

            raise DataError(f"{data_dir}: no data for day(s) {', '.join(missing)}")
        market = load_market(_window_view(root, window), None)
    _markets[cache_key] = market
    while len(_markets) > MARKET_CACHE_SIZE:
        _markets.popitem(last=False)
    return market


def flatten_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """Scalars stay columns; anything nested becomes a JSON string so every row has one Arrow type."""
    out: dict[str, Any] = {}
    for k, v in metrics.items():
        if isinstance(v, float) and not math.isfinite(v):
            out[k] = None if math.isnan(v) else v
        elif v is None or isinstance(v, bool | int | float | str):
            out[k] = v
        else:
            out[k] = json.dumps(v, sort_keys=True, default=str)
    return out


def evaluate(task: Task) -> dict[str, Any]:
    """Run one task; a backtest that raises becomes an ``error`` row (retried on the next run)."""
    started = time.perf_counter()
    row: dict[str, Any] = {"key": task.key, **task.params}
    config = Config.model_validate(task.config)
    market = market_for(task.data_dir, task.window)  # a bad dataset is fatal for the search: not caught
    try:
        metrics = run_point(config, market)
    except Exception as exc:
        row.update(status="error", error=f"{type(exc).__name__}: {exc}"[:2000])
    else:
        row.update(flatten_metrics(metrics))
        row.update(status="ok", error=None, metrics_json=json.dumps(metrics, sort_keys=True, default=str))
    row.update(
        window_start=task.window[0],
        window_end=task.window[-1],
        window_days=len(task.window),
        elapsed_s=time.perf_counter() - started,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )
    return row


def make_task(dataset: Dataset, params: dict[str, Any], config: Config, window: tuple[str, ...]) -> Task:
    payload = config_payload(config)
    return Task(dataset.key(payload, window), payload, str(dataset.root), window, params)
