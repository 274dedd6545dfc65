"""Phase noise: the same backtest with its timer grid shifted across one quote interval.

Where the quote timers fall relative to the data is arbitrary (a live bot starts whenever it
starts), yet on a short span it moves fills and PnL as much as a parameter change does. Running the
backtest at ``N`` phases, offsets ``k / N`` of ``execution.quote_refresh_interval`` added to
``backtest.timer_offset_ms``, and reporting each metric's min / median / max tells how much of a
result is the phase rather than the strategy (``amm500 backtest --phases N``; the optimizer ranks by
the worst or median phase with ``optimize ... --phases N``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from amm500.backtest.runner import BacktestResult, run_backtest
from amm500.config import Config, ConfigError

#: metrics whose spread ``--phases`` prints (every numeric scalar metric is summarised in the JSON)
SHOWN = ("fills", "volume_btc", "net_pnl", "fees", "spread_capture", "inventory_pnl", "sharpe", "max_drawdown",
         "quote_uptime")
#: the statistics kept per metric
STATS = ("min", "median", "max")


def phase_offsets_ms(config: Config, n: int) -> list[float]:
    """``backtest.timer_offset_ms`` of each of ``n`` phases: the configured offset plus k/n of a quote step."""
    if n < 1:
        raise ValueError(f"phases: {n} must be >= 1")
    step_ms = config.execution.quote_refresh_interval * 1000.0
    return [config.backtest.timer_offset_ms + step_ms * k / n for k in range(n)]


def at_phase(config: Config, offset_ms: float) -> Config:
    """A copy of ``config`` whose timer grid is shifted to ``offset_ms``."""
    out = config.model_copy(deep=True)
    out.backtest.timer_offset_ms = offset_ms
    return out


def _numeric(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def spread(metrics: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per numeric scalar metric: min / median / max over the phases (a metric missing or not finite in
    some phase is summarised over the phases that have it)."""
    out: dict[str, dict[str, float]] = {}
    for name in metrics[0]:
        values = [x for x in (_numeric(m.get(name)) for m in metrics) if x is not None]
        if values:
            out[name] = {"min": min(values), "median": statistics.median(values), "max": max(values)}
    return out


@dataclass
class PhaseRun:
    """Every phase's result (``results[0]`` is the configured phase) and the spread of their metrics."""

    offsets_ms: list[float]
    results: list[BacktestResult]

    @property
    def spread(self) -> dict[str, dict[str, float]]:
        return spread([r.metrics for r in self.results])

    def to_json(self) -> dict[str, Any]:
        return {"n": len(self.offsets_ms), "offsets_ms": self.offsets_ms, "spread": self.spread,
                "values": {k: [r.metrics.get(k) for r in self.results] for k in SHOWN}}


def run_phases(config: Config, data: Any, n: int, *, days: int | None = None, vol_forecast: Any = None,
               on_phase: Callable[[int, int], None] | None = None) -> PhaseRun:
    """Backtest ``config`` at ``n`` timer phases over the same data (loaded once)."""
    from amm500.backtest.market import Market, load_market

    if config.backtest.fill_model == "bar" and n > 1:
        raise ConfigError("backtest.phases: bar mode has no timer grid to shift (use a tick-mode backtest)")
    market = data if isinstance(data, Market) else load_market(data, days)
    offsets = phase_offsets_ms(config, n)
    results = []
    for k, off in enumerate(offsets):
        results.append(run_backtest(at_phase(config, off), market, days=days, vol_forecast=vol_forecast))
        if on_phase is not None:
            on_phase(k + 1, n)
    return PhaseRun(offsets, results)


def phase_metrics(config: Config, market: Any, n: int) -> dict[str, Any]:
    """The optimizer's evaluation at ``n`` phases: the configured phase's metrics, plus
    ``<metric>.phase_min`` / ``.phase_median`` / ``.phase_max`` for every numeric metric."""
    run = run_phases(config, market, n)
    out = dict(run.results[0].metrics)
    for name, s in run.spread.items():
        for stat in STATS:
            out[f"{name}.phase_{stat}"] = s[stat]
    out["phases"] = n
    return out
