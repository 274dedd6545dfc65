"""Optuna search: TPE (or NSGA-II) proposes points, the executor backtests them, the study learns.

The study lives in a database (SQLite file by default, any SQLAlchemy URL otherwise), so a stopped
run resumes where it was, and several ``amm500 optimize tune`` processes on different machines can
share one study by pointing at the same URL and study name. Trials are run with ask-and-tell from
this process: the executor (local processes or Dask) only ever sees backtest tasks, and rows land in
the same results file as a grid's, keyed the same way — a point already evaluated is not run again.

``--trials N`` means "until the study holds N finished trials", so rerunning the same command after a
stop finishes the job instead of starting over. Trials that were running when a run was stopped are
marked failed (tagged ``interrupted``, not counted) and queued again for the next run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState
from rich.console import Console

from amm500.config import ConfigError
from amm500.optimize.analysis import Analysis, analyze, describe_folds, rank_by_window
from amm500.optimize.batch import progress_bar, run_batch
from amm500.optimize.evaluate import Task, make_task
from amm500.optimize.executors import Executor
from amm500.optimize.keys import Dataset
from amm500.optimize.objective import Constraint, Objective
from amm500.optimize.results import ResultStore
from amm500.optimize.space import ChoiceAxis, RangeAxis, SearchSpace
from amm500.optimize.walkforward import Fold

#: Give up when this many proposals in a row are not valid configs (e.g. min > max spread).
MAX_INVALID_IN_A_ROW = 50
SECOND_OBJECTIVE = "max_drawdown"  # the multi-objective pair: objective vs drawdown


@dataclass
class TuneSettings:
    trials: int
    storage: str | None
    study_name: str
    multi_objective: bool = False
    sampler: str = "tpe"
    seed: int | None = 0


@dataclass
class TuneOutcome:
    study: optuna.Study
    finished: int  # finished trials in the study (this run and earlier ones)
    evaluated: int  # backtests run by this process
    reused: int  # trials answered from the results file
    invalid: int
    interrupted: bool = False
    keys: list[str] = field(default_factory=list)  # result keys of the study's complete trials


def _constraint_values(constraints: Sequence[Constraint], row: dict[str, Any]) -> list[float]:
    """Optuna's convention: <= 0 means satisfied."""
    out = []
    for c in constraints:
        v = row.get(c.metric)
        if not isinstance(v, int | float) or not math.isfinite(float(v)):
            out.append(1e12)
        elif c.op in ("<=", "<"):
            out.append(float(v) - c.bound)
        else:
            out.append(c.bound - float(v))
    return out


def make_study(settings: TuneSettings, objective: Objective) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler: optuna.samplers.BaseSampler
    if settings.sampler == "tpe":
        sampler = optuna.samplers.TPESampler(seed=settings.seed)
    elif settings.sampler == "nsga2":
        sampler = optuna.samplers.NSGAIISampler(seed=settings.seed)
    else:
        raise ConfigError(f"--sampler {settings.sampler!r}: allowed: tpe, nsga2")
    directions = [objective.direction]
    if settings.multi_objective:
        if objective.metric == SECOND_OBJECTIVE:
            raise ConfigError(
                f"--multi-objective pairs the objective with {SECOND_OBJECTIVE}; pick another --objective"
            )
        directions.append("minimize")
    try:
        return optuna.create_study(
            storage=settings.storage,
            study_name=settings.study_name,
            sampler=sampler,
            directions=directions,
            load_if_exists=True,
        )
    except ValueError as exc:  # e.g. the stored study has other directions
        raise ConfigError(f"--study {settings.study_name}: {exc}; choose another --study name") from None
    except Exception as exc:  # SQLAlchemy: bad URL, unreachable database
        raise ConfigError(f"--storage {settings.storage}: cannot open the study database ({exc})") from None


def _suggest(trial: Trial, space: SearchSpace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    try:
        for axis in space.axes:
            if isinstance(axis, RangeAxis):
                if axis.integer:
                    params[axis.name] = trial.suggest_int(axis.name, int(axis.low), int(axis.high), log=axis.log)
                else:
                    params[axis.name] = trial.suggest_float(axis.name, axis.low, axis.high, log=axis.log)
            elif isinstance(axis, ChoiceAxis):
                params[axis.name] = trial.suggest_categorical(axis.name, list(axis.choices))
            else:
                raise ConfigError(f"--param {axis.name}: tune takes low:high ranges or a list of choices")
    except ValueError as exc:  # the stored study used another distribution for this name
        raise ConfigError(
            f"--study: the stored study was created with a different search space ({exc}); use a new --study name"
        ) from None
    return params


def counted(trial: FrozenTrial) -> bool:
    return trial.state.is_finished() and not trial.user_attrs.get("interrupted")


def _values(
    row: dict[str, Any], objective: Objective, multi: bool
) -> list[float] | None:
    first = objective.value(row)
    if row.get("status") != "ok" or math.isnan(first):
        return None
    if not multi:
        return [first]
    second = Objective(SECOND_OBJECTIVE, "minimize").value(row)
    return None if math.isnan(second) else [first, second]


def run_tune(
    space: SearchSpace,
    dataset: Dataset,
    window: tuple[str, ...],
    executor: Executor,
    store: ResultStore,
    objective: Objective,
    constraints: Sequence[Constraint],
    settings: TuneSettings,
    *,
    console: Console | None = None,
    label: str = "trials",
) -> TuneOutcome:
    study = make_study(settings, objective)
    outcome = TuneOutcome(study, 0, 0, 0, 0)
    pending: dict[str, list[Trial]] = {}  # result key -> trials waiting for it
    in_flight = 0

    def finished() -> int:
        return sum(1 for t in study.get_trials(deepcopy=False) if counted(t))

    def tell(trial: Trial, row: dict[str, Any]) -> None:
        trial.set_user_attr("key", row["key"])
        # Optuna's samplers read these (<= 0 feasible) and steer away from infeasible regions.
        for c, v in zip(constraints, _constraint_values(constraints, row), strict=True):
            trial.set_constraint(str(c), v)
        values = _values(row, objective, settings.multi_objective)
        if values is None:
            trial.set_user_attr("error", row.get("error") or f"{objective.metric} is not a finite number")
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, values)

    done_before = finished()
    invalid_row = 0
    with progress_bar(console) as bar:
        desc = f"{label} ({done_before} done before)" if done_before else label
        bar_id = bar.add_task(desc, total=max(settings.trials - done_before, 0), best="")
        try:
            while True:
                done = finished()
                while done + in_flight < settings.trials and in_flight < 2 * executor.workers:
                    trial = study.ask()
                    params = _suggest(trial, space)
                    try:
                        config = space.config_for(params)
                    except ConfigError as exc:
                        outcome.invalid += 1
                        invalid_row += 1
                        trial.set_user_attr("error", str(exc))
                        study.tell(trial, state=TrialState.FAIL)
                        bar.update(bar_id, advance=1)
                        if invalid_row >= MAX_INVALID_IN_A_ROW:
                            raise ConfigError(
                                f"{invalid_row} proposals in a row were not valid configs; last one:\n{exc}"
                            ) from None
                        done = finished()
                        continue
                    invalid_row = 0
                    task: Task = make_task(dataset, space.normalized(params, config), config, window)
                    cached = store.finished(task.key)
                    if cached is not None:
                        outcome.reused += 1
                        tell(trial, cached)
                        bar.update(bar_id, advance=1)
                        done = finished()
                        continue
                    if task.key not in pending:
                        executor.submit(task)
                        in_flight += 1
                        pending[task.key] = []
                    pending[task.key].append(trial)
                if in_flight == 0:
                    break
                row = executor.next_done()
                in_flight -= 1
                store.add(row)
                outcome.evaluated += 1
                for trial in pending.pop(row["key"], []):
                    tell(trial, row)
                    bar.update(bar_id, advance=1)
                best = _best_text(study, objective)
                bar.update(bar_id, best=best)
        except KeyboardInterrupt:
            outcome.interrupted = True
            executor.close(kill=True)
            for trials in pending.values():
                for trial in trials:
                    trial.set_user_attr("interrupted", True)
                    study.tell(trial, state=TrialState.FAIL)
                    study.enqueue_trial(trial.params, skip_if_exists=False)
        except BaseException:
            executor.close(kill=True)
            for trials in pending.values():
                for trial in trials:
                    trial.set_user_attr("interrupted", True)
                    study.tell(trial, state=TrialState.FAIL)
            store.flush()
            raise
    store.flush()
    outcome.finished = finished()
    outcome.keys = list(
        dict.fromkeys(
            t.user_attrs["key"]
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if "key" in t.user_attrs
        )
    )
    return outcome


def _best_text(study: optuna.Study, objective: Objective) -> str:
    try:
        if len(study.directions) == 1:
            return f"best {objective.metric} {study.best_value:.4g}"
        return f"pareto front {len(study.best_trials)}"
    except ValueError:  # no complete trial yet
        return ""


def top_keys(study: optuna.Study, objective: Objective, n: int) -> list[str]:
    """Result keys of the ``n`` best complete trials by the first objective (feasible first)."""
    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if "key" in t.user_attrs]

    def key(t: FrozenTrial) -> tuple[int, float]:
        feasible = all(v <= 0 for v in t.constraints.values())
        v = t.values[0]
        return (0 if feasible else 1, -v if objective.direction == "maximize" else v)

    return list(dict.fromkeys(t.user_attrs["key"] for t in sorted(trials, key=key)))[:n]


#: Walk-forward: how many of each fold's best in-sample trials are also run out of sample.
OOS_TOP = 5


def tune_search(
    space: SearchSpace,
    dataset: Dataset,
    folds: Sequence[Fold] | None,
    executor: Executor,
    store: ResultStore,
    objective: Objective,
    constraints: Sequence[Constraint],
    settings: TuneSettings,
    *,
    console: Console | None = None,
) -> tuple[Analysis | None, bool]:
    """A study per fold (``NAME-foldK`` under walk-forward); returns the analysis and ``interrupted``."""
    walk = bool(folds)
    fold_list = list(folds) if folds else [Fold(0, dataset.days, ())]
    fold_desc = describe_folds(fold_list)
    base = space.base_config()
    description: dict[str, Any] = {
        "kind": "tune",
        "axes": space.names,
        "objective": {"metric": objective.metric, "direction": objective.direction, "phase": objective.phase},
        "constraints": [str(c) for c in constraints],
        "data": str(dataset.root),
        "days": list(dataset.days),
        "folds": fold_desc,
        "fill_model": base.backtest.fill_model,
        "strategy": base.trading.strategy,
        "study": settings.study_name,
        "storage": settings.storage,
        "multi_objective": settings.multi_objective,
        "sampler": settings.sampler,
    }
    store.description = description
    decorate = rank_by_window(objective, constraints)
    for fold, fd in zip(fold_list, fold_desc, strict=True):
        fold_settings = settings
        if walk:
            fold_settings = replace(settings, study_name=f"{settings.study_name}-fold{fold.index}")
        label = f"fold {fold.index} trials" if walk else "trials"
        outcome = run_tune(
            space, dataset, fold.train, executor, store, objective, constraints, fold_settings,
            console=console, label=label,
        )
        fd["train_keys"] = outcome.keys
        fd["study"] = fold_settings.study_name
        if outcome.interrupted:
            store.flush(decorate)
            return None, True
        if not fold.test:
            continue
        test_tasks = []
        for key in top_keys(outcome.study, objective, OOS_TOP):
            row = store.finished(key)
            if row is None:
                continue
            params = {a: row[a] for a in space.names}
            test_tasks.append(make_task(dataset, params, space.config_for(params), fold.test))
            fd["test_keys"][key] = test_tasks[-1].key
        batch = run_batch(test_tasks, executor, store, label=f"fold {fold.index} out of sample", console=console)
        if batch.interrupted:
            store.flush(decorate)
            return None, True
    store.flush(decorate)
    rows = {r["key"]: r for r in store.rows()}
    return analyze(description, rows), False
