"""One search point = one backtest, run inside whichever worker process picks it up.

A :class:`Task` is small plain data (the config as JSON, the data directory, the days), so it
pickles cheaply to a local process or a Dask worker. The market itself never travels: each worker
process loads it from the data directory the first time it needs it and keeps it for the following
tasks (see :func:`market_for`). The only call into the backtester is :func:`run_point`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amm500.config import Config
from amm500.optimize.keys import Dataset, config_payload, dataset_days

#: Markets (window -> loaded market) kept per worker process. Walk-forward alternates between a few
#: windows; tasks are submitted grouped by window, so two is enough to avoid reloading. A market holds
#: only paths to memory-mapped day files (and the bars), so keeping one is cheap.
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
    """The one call into the backtester; with ``backtest.phases`` > 1 the run is repeated at that many
    timer phases and every numeric metric gains ``.phase_min`` / ``.phase_median`` / ``.phase_max``."""
    from amm500.backtest.runner import run_backtest

    if config.backtest.phases > 1:
        from amm500.backtest.phases import phase_metrics

        return phase_metrics(config, market, config.backtest.phases)
    return dict(run_backtest(config, market, progress=False).metrics)


def load_market(path: Path, days: int | None) -> Any:
    from amm500.backtest.runner import load_market as _load

    return _load(path, days=days)


_markets: OrderedDict[tuple[str, tuple[str, ...]], Any] = OrderedDict()


def _window(market: Any, window: tuple[str, ...]) -> Any:
    """The days of ``window`` out of a loaded market (its day caches are memory-mapped files)."""
    import numpy as np

    from amm500.backtest.market import Market
    from amm500.data.schema import NS_PER_DAY

    index = {d.isoformat(): i for i, d in enumerate(market.days)}
    missing = [d for d in window if d not in index]
    if missing:
        from amm500.data.schema import DataError

        raise DataError(f"{market.root}: no data for day(s) {', '.join(missing)}")
    picked = [index[d] for d in window]
    bars = market.bars
    if len(bars):
        first = dt.date.fromisoformat(window[0])
        start = (first - dt.date(1970, 1, 1)).days * NS_PER_DAY
        stop = start + len(window) * NS_PER_DAY
        bars = bars.take(np.flatnonzero((bars.ts >= start) & (bars.ts < stop)))
    return Market(
        root=market.root,
        meta=market.meta,
        days=[market.days[i] for i in picked],
        day_dirs=[market.day_dirs[i] for i in picked] if market.day_dirs else [],
        bars=bars,
    )


def market_for(data_dir: str, window: tuple[str, ...]) -> Any:
    """The market of ``window`` in this process, loaded on first use (days must be consecutive)."""
    cache_key = (data_dir, window)
    if cache_key in _markets:
        _markets.move_to_end(cache_key)
        return _markets[cache_key]
    root = Path(data_dir)
    days = dataset_days(root)
    if list(window) == days[: len(window)]:
        market = load_market(root, len(window))
    else:
        market = _window(load_market(root, None), window)
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
