"""What "best" means: one objective metric, a direction, and hard constraints on other metrics.

Ranking puts every feasible point (all constraints met) before every infeasible one; feasible points
are ordered by the objective, infeasible ones by how far they miss. A point whose objective is not a
finite number (no trades: Sharpe undefined) ranks after every point that has one.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from amm500.config import ConfigError

#: Numeric metrics of amm500.backtest.runner's ``BacktestResult.metrics`` that can rank or constrain.
KNOWN_METRICS = (
    "sharpe",
    "sharpe_hourly",
    "annual_roi",
    "return",
    "net_pnl",
    "max_drawdown",
    "fills",
    "trades_per_day",
    "maker_ratio",
    "maker_ratio_volume",
    "volume_btc",
    "notional_usd",
    "spread_capture",
    "inventory_pnl",
    "fees",
    "funding",
    "quote_uptime",
    "avg_quoted_spread_bps",
    "orders_sent",
    "taker_orders",
    "liquidations",
    "liquidation_loss",
)

#: Metrics where smaller is better; everything else defaults to "maximize".
MINIMIZE_BY_DEFAULT = frozenset({"max_drawdown", "fees", "taker_orders", "liquidations", "liquidation_loss"})

Direction = Literal["maximize", "minimize"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(<=|>=|<|>)\s*(\S+)\s*$")


def check_metric_name(name: str, flag: str) -> str:
    if name not in KNOWN_METRICS:
        raise ConfigError(f"{flag} {name!r}: unknown metric; allowed: {', '.join(KNOWN_METRICS)}")
    return name


PhaseRank = Literal["worst", "median"]


@dataclass(frozen=True)
class Objective:
    """``phase``: with ``backtest.phases`` > 1, rank by the worst phase (the lowest value when
    maximizing, the highest when minimizing) or the median one (see :mod:`amm500.backtest.phases`)."""

    metric: str = "sharpe"
    direction: Direction = "maximize"
    phase: PhaseRank = "worst"

    @classmethod
    def parse(cls, metric: str, direction: str | None = None, phase: str = "worst") -> Objective:
        check_metric_name(metric, "--objective")
        if direction is None:
            direction = "minimize" if metric in MINIMIZE_BY_DEFAULT else "maximize"
        if direction not in ("maximize", "minimize"):
            raise ConfigError(f"--direction {direction!r}: allowed: maximize, minimize")
        if phase not in ("worst", "median"):
            raise ConfigError(f"--phase-rank {phase!r}: allowed: worst, median")
        return cls(metric, direction, phase)  # type: ignore[arg-type]

    @property
    def phase_key(self) -> str:
        """The column a phased result is ranked on (``<metric>.phase_min|median|max``)."""
        worst = "min" if self.direction == "maximize" else "max"
        stat = "median" if self.phase == "median" else worst
        return f"{self.metric}.phase_{stat}"

    def value(self, metrics: Mapping[str, Any]) -> float:
        """The objective of one result; NaN when missing or not a finite number. A result run at several
        timer phases is judged by its worst or median phase (``phase``)."""
        v = metrics.get(self.phase_key, metrics.get(self.metric))
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
            return math.nan
        return float(v)

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b

    def __str__(self) -> str:
        return f"{self.direction} {self.metric}"


@dataclass(frozen=True)
class Constraint:
    """``metric <op> bound``, e.g. ``max_drawdown<=0.05``."""

    metric: str
    op: str
    bound: float

    @classmethod
    def parse(cls, text: str) -> Constraint:
        m = _CONSTRAINT.match(text)
        if not m:
            raise ConfigError(f"--constraint {text!r}: expected metric<=value (operators <=, >=, <, >)")
        metric, op, raw = m.groups()
        check_metric_name(metric, "--constraint")
        try:
            bound = float(raw)
        except ValueError:
            raise ConfigError(f"--constraint {text!r}: {raw!r} is not a number") from None
        return cls(metric, op, bound)

    def violation(self, metrics: Mapping[str, Any]) -> float:
        """0 when met; otherwise how far off (inf when the metric is missing or not finite)."""
        v = metrics.get(self.metric)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
            return math.inf
        if _OPS[self.op](float(v), self.bound):
            return 0.0
        return abs(float(v) - self.bound) or 1e-12  # strict ops fail at equality by a hair

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"


def total_violation(constraints: Iterable[Constraint], metrics: Mapping[str, Any]) -> float:
    return sum(c.violation(metrics) for c in constraints)


def rank_key(objective: Objective, constraints: Sequence[Constraint]) -> Callable[[Mapping[str, Any]], tuple]:
    """Sort key over result rows (metrics flattened into the row): best first."""

    def key(row: Mapping[str, Any]) -> tuple:
        tie = str(row.get("key", ""))  # ties break by point key: the order never depends on arrival
        if row.get("status", "ok") != "ok":
            return (3, 0.0, 0.0, tie)
        viol = total_violation(constraints, row)
        value = objective.value(row)
        signed = -value if objective.direction == "maximize" else value
        if viol > 0:
            return (2, viol, 0.0 if math.isnan(signed) else signed, tie)
        if math.isnan(value):
            return (1, 0.0, 0.0, tie)
        return (0, 0.0, signed, tie)

    return key


def rank(
    rows: Iterable[Mapping[str, Any]], objective: Objective, constraints: Sequence[Constraint]
) -> list[dict[str, Any]]:
    """Rows sorted best first, each with ``rank`` (1 = best) and ``feasible`` columns added."""
    key = rank_key(objective, constraints)
    out = []
    for i, row in enumerate(sorted(rows, key=key), start=1):
        r = dict(row)
        r["rank"] = i
        r["feasible"] = bool(key(row)[0] == 0)
        out.append(r)
    return out


def best(
    rows: Iterable[Mapping[str, Any]], objective: Objective, constraints: Sequence[Constraint]
) -> dict[str, Any] | None:
    """The best feasible row with a finite objective, or None when there is none."""
    ranked = rank(rows, objective, constraints)
    return ranked[0] if ranked and ranked[0]["feasible"] else None
