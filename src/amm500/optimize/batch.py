"""Evaluate a list of tasks through an executor: skip finished ones, save as they land, show progress.

This is the resume loop shared by the grid and the walk-forward: a task whose key already has an
``ok`` row in the results file is not run again. At most ``2 x workers`` tasks are in flight, so a
stop (Ctrl-C, or ``limit`` reached) wastes at most the running ones, and everything finished before
it is already in the file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from amm500.optimize.evaluate import Task
from amm500.optimize.executors import Executor
from amm500.optimize.objective import Constraint, Objective, total_violation
from amm500.optimize.results import ResultStore


@dataclass
class BatchOutcome:
    total: int  # distinct tasks asked for
    reused: int  # already finished in the results file
    evaluated: int  # run now (ok or error)
    errors: int
    interrupted: bool = False

    @property
    def remaining(self) -> int:
        return self.total - self.reused - self.evaluated + self.errors


def progress_bar(console: Console | None) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("elapsed"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[best]}"),
        console=console or Console(stderr=True),
        disable=console is None,
    )


def run_batch(
    tasks: Sequence[Task],
    executor: Executor,
    store: ResultStore,
    *,
    label: str = "backtests",
    objective: Objective | None = None,
    constraints: Sequence[Constraint] = (),
    limit: int | None = None,
    console: Console | None = None,
) -> BatchOutcome:
    """Run every unfinished task; on Ctrl-C stop the workers, save, and report ``interrupted``."""
    unique: dict[str, Task] = {}
    for t in tasks:
        unique.setdefault(t.key, t)
    todo = [t for t in unique.values() if store.finished(t.key) is None]
    outcome = BatchOutcome(total=len(unique), reused=len(unique) - len(todo), evaluated=0, errors=0)
    if limit is not None:
        todo = todo[:limit]
    best_value = math.nan

    def best_text() -> str:
        if objective is None or math.isnan(best_value):
            return ""
        return f"best {objective.metric} {best_value:.4g}"

    queue = list(reversed(todo))
    with progress_bar(console) as bar:
        desc = f"{label} ({outcome.reused} done before)" if outcome.reused else label
        bar_id = bar.add_task(desc, total=len(todo), best="")
        try:
            while queue or executor.in_flight():
                while queue and executor.in_flight() < 2 * executor.workers:
                    executor.submit(queue.pop())
                row = executor.next_done()
                store.add(row)
                outcome.evaluated += 1
                if row.get("status") != "ok":
                    outcome.errors += 1
                elif objective is not None and total_violation(constraints, row) == 0:
                    value = objective.value(row)
                    if not math.isnan(value) and (math.isnan(best_value) or objective.better(value, best_value)):
                        best_value = value
                bar.update(bar_id, advance=1, best=best_text())
        except KeyboardInterrupt:
            outcome.interrupted = True
            executor.close(kill=True)
        except BaseException:
            executor.close(kill=True)
            store.flush()
            raise
    store.flush()
    if limit is not None and outcome.remaining > 0:
        outcome.interrupted = True
    return outcome
