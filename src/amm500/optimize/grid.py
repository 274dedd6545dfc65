"""Grid search: every combination of the axes, on the whole dataset or on each walk-forward window.

With walk-forward, every point runs on every fold's in-sample and out-of-sample window, so the
report can show for all points (not just the chosen one) how in-sample rank carries out of sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from amm500.optimize.analysis import Analysis, analyze, describe_folds, rank_by_window
from amm500.optimize.batch import BatchOutcome, run_batch
from amm500.optimize.evaluate import Task, make_task
from amm500.optimize.executors import Executor
from amm500.optimize.keys import Dataset
from amm500.optimize.objective import Constraint, Objective
from amm500.optimize.results import ResultStore
from amm500.optimize.space import SearchSpace
from amm500.optimize.walkforward import Fold


@dataclass
class GridPlan:
    """The tasks of a grid and the description saved with its results."""

    tasks: list[Task]
    description: dict[str, Any]
    points: int


def plan_grid(
    space: SearchSpace,
    dataset: Dataset,
    objective: Objective,
    constraints: Sequence[Constraint],
    folds: Sequence[Fold] | None = None,
) -> GridPlan:
    """Validate every point and build its tasks (grouped by window, so workers reuse their market)."""
    points = space.grid_points()
    if not folds:
        folds = [Fold(0, dataset.days, ())]
    fold_desc = describe_folds(folds)
    tasks: list[Task] = []
    by_window: dict[tuple[str, ...], list[Task]] = {}
    for window in dict.fromkeys(w for f in folds for w in (f.train, f.test) if w):
        by_window[window] = [make_task(dataset, p, cfg, window) for p, cfg in points]
        tasks.extend(by_window[window])
    for fold, fd in zip(folds, fold_desc, strict=True):
        train = by_window[fold.train]
        fd["train_keys"] = [t.key for t in train]
        if fold.test:
            fd["test_keys"] = {a.key: b.key for a, b in zip(train, by_window[fold.test], strict=True)}
    base = space.base_config()
    description = {
        "kind": "grid",
        "axes": space.names,
        "objective": {"metric": objective.metric, "direction": objective.direction, "phase": objective.phase},
        "constraints": [str(c) for c in constraints],
        "data": str(dataset.root),
        "days": list(dataset.days),
        "folds": fold_desc,
        "fill_model": base.backtest.fill_model,
        "strategy": base.trading.strategy,
    }
    return GridPlan(tasks, description, len(points))


def run_grid(
    plan: GridPlan,
    executor: Executor,
    store: ResultStore,
    objective: Objective,
    constraints: Sequence[Constraint],
    *,
    limit: int | None = None,
    console: Console | None = None,
) -> tuple[BatchOutcome, Analysis]:
    store.description = plan.description
    outcome = run_batch(
        plan.tasks,
        executor,
        store,
        label="grid",
        objective=objective,
        constraints=constraints,
        limit=limit,
        console=console,
    )
    store.flush(rank_by_window(objective, constraints))
    rows = {r["key"]: r for r in store.rows()}
    return outcome, analyze(plan.description, rows)
