"""``amm500 optimize grid|tune|report``: parameter search over backtests, locally or on Dask."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from amm500.cli.app import ConfigOption, SetOption, console, err_console, fail, optimize_app
from amm500.config import ConfigError
from amm500.data.schema import DataError

if TYPE_CHECKING:
    from amm500.optimize.analysis import Analysis
    from amm500.optimize.objective import Constraint, Objective
    from amm500.optimize.walkforward import Fold

DataOption = Annotated[Path, typer.Option("--data", "-d", help="Canonical data directory (amm500 data generate).")]
OutOption = Annotated[
    Path, typer.Option("--out", "-o", help="Results Parquet file; rerunning with the same file resumes.")
]
ReportOption = Annotated[Path | None, typer.Option("--report", help="Also write a self-contained HTML report.")]
JobsOption = Annotated[
    int | None, typer.Option("--jobs", "-j", help="Local worker processes (default: all cores; 1 = in process).")
]
EngineOption = Annotated[str, typer.Option("--engine", help="local (processes on this machine) or dask.")]
SchedulerOption = Annotated[
    str | None, typer.Option("--scheduler", help="Dask scheduler address, tcp://HOST:PORT (with --engine dask).")
]
ObjectiveOption = Annotated[str, typer.Option("--objective", help="Metric to optimize (sharpe, annual_roi, ...).")]
DirectionOption = Annotated[
    str | None, typer.Option("--direction", help="maximize or minimize (default: by metric).")
]
ConstraintOption = Annotated[
    list[str] | None,
    typer.Option("--constraint", help="metric<=value (or >=, <, >); a point must meet all (repeatable)."),
]
DaysOption = Annotated[int | None, typer.Option("--days", help="Use only the first N days of the data.")]
WalkOption = Annotated[
    str | None,
    typer.Option("--walk-forward", help="IS_DAYS:OOS_DAYS rolling folds: choose in sample, judge out of sample."),
]
TrainOption = Annotated[
    int | None, typer.Option("--train-days", help="Single split: choose on the first N days, test on the rest.")
]

PhasesOption = Annotated[
    int | None,
    typer.Option("--phases", min=1, max=64, help="Run each point at N timer phases (k/N of the quote interval "
                 "apart; backtest.phases) and rank it by its worst or median phase (--phase-rank)."),
]
PhaseRankOption = Annotated[
    str, typer.Option("--phase-rank", help="With --phases: rank by the worst phase (default) or the median one.")
]


def _common(
    objective: str, direction: str | None, constraints: list[str] | None, phase_rank: str = "worst"
) -> tuple[Objective, list[Constraint]]:
    from amm500.optimize.objective import Constraint, Objective

    return Objective.parse(objective, direction, phase_rank), [Constraint.parse(c) for c in constraints or []]


def _with_phases(set_: list[str] | None, phases: int | None) -> list[str]:
    """``--phases N`` is ``--set backtest.phases=N`` (part of each point's config, hence of its cache key)."""
    return [*(set_ or []), *([f"backtest.phases={phases}"] if phases is not None else [])]


def _folds(days: tuple[str, ...], walk_forward: str | None, train_days: int | None) -> list[Fold] | None:
    from amm500.optimize.walkforward import parse_walk_forward, rolling_folds, split_fold

    if walk_forward and train_days is not None:
        raise ConfigError("--walk-forward and --train-days are two ways to split the data; give one")
    if walk_forward:
        return rolling_folds(days, *parse_walk_forward(walk_forward))
    if train_days is not None:
        return split_fold(days, train_days)
    return None


def _check_out(out: Path, report: Path | None) -> None:
    if out.suffix != ".parquet":
        raise ConfigError(f"--out {out}: the results file must end in .parquet")
    if out.is_dir():
        raise ConfigError(f"--out {out}: is a directory")
    if report is not None and report.suffix not in (".html", ".htm"):
        raise ConfigError(f"--report {report}: must end in .html")


def _show(analysis: Analysis, top: int = 10) -> None:
    metric_cols = ["sharpe", "annual_roi", "max_drawdown", "net_pnl", "trades_per_day", "maker_ratio"]
    short = {"annual_roi": "roi", "max_drawdown": "max_dd", "trades_per_day": "trades/d", "maker_ratio": "maker"}
    axis_names = [a.split(".", 1)[1] for a in analysis.axes]  # full names are in the file and the report

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return "nan" if math.isnan(v) else f"{v:.4g}"
        return str(v)

    if analysis.walk_forward:
        table = Table(title="walk-forward: chosen in sample, judged out of sample", title_justify="left")
        for c in ["fold", "test", *axis_names, f"IS {analysis.objective.metric}", f"OOS {analysis.objective.metric}",
                  "OOS max_dd", "IS/OOS rank corr"]:
            table.add_column(c)
        for s in analysis.summary_rows():
            m = analysis.objective.metric
            table.add_row(str(s["fold"]), s["test"], *(fmt(s[a]) for a in analysis.axes), fmt(s.get(f"is_{m}")),
                          fmt(s.get(f"oos_{m}")), fmt(s.get("oos_max_drawdown")), fmt(s.get("is_oos_rank_corr")))
        console.print(table)
        return
    fold = analysis.folds[0]
    phased = analysis.objective.phase_key
    if any(phased in r for r in fold.ranked[:top]):  # run at several timer phases: show the ranked value too
        metric_cols = [phased, *metric_cols]
        short[phased] = f"{analysis.objective.metric} ({analysis.objective.phase} phase)"
    table = Table(title=f"top {min(top, len(fold.ranked))} of {len(fold.ranked)} ({analysis.objective})",
                  title_justify="left")
    for c in ["rank", *axis_names, *(short.get(m, m) for m in metric_cols), "ok"]:
        table.add_column(c)
    for r in fold.ranked[:top]:
        table.add_row(str(r["rank"]), *(fmt(r.get(a)) for a in analysis.axes), *(fmt(r.get(m)) for m in metric_cols),
                      "yes" if r["feasible"] else "no")
    console.print(table)
    if not fold.chosen:
        console.print("[yellow]no point meets every constraint with a finite objective[/]")


def _finish(analysis: Analysis | None, out: Path, report: Path | None, interrupted: bool) -> None:
    if analysis is not None:
        _show(analysis)
        if report is not None:
            from amm500.optimize.report import write_report

            write_report(report, analysis)
            console.print(f"report: {report}")
    console.print(f"results: {out}")
    if interrupted:
        err_console.print("[yellow]stopped before the end; finished points are saved. "
                          "Run the same command again to resume.[/]")
        raise typer.Exit(130)


@optimize_app.command("grid")
def grid(
    data: DataOption,
    out: OutOption,
    param: Annotated[
        list[str], typer.Option("--param", "-p", help="Axis: section.field=v1,v2,... (repeatable; any config field).")
    ],
    config: ConfigOption = None,
    set_: SetOption = None,
    jobs: JobsOption = None,
    engine: EngineOption = "local",
    scheduler: SchedulerOption = None,
    objective: ObjectiveOption = "sharpe",
    direction: DirectionOption = None,
    constraint: ConstraintOption = None,
    days: DaysOption = None,
    walk_forward: WalkOption = None,
    train_days: TrainOption = None,
    report: ReportOption = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Run at most N new points this time (resume later).")
    ] = None,
    flush_every: Annotated[
        float, typer.Option("--flush-every", min=0.0, help="Seconds between rewrites of --out (0: after every point).")
    ] = 1.0,
    phases: PhasesOption = None,
    phase_rank: PhaseRankOption = "worst",
) -> None:
    """Backtest every combination of the --param axes; results sorted by the objective."""
    from amm500.optimize.executors import make_executor
    from amm500.optimize.grid import plan_grid, run_grid
    from amm500.optimize.keys import Dataset
    from amm500.optimize.results import ResultStore
    from amm500.optimize.space import SearchSpace, parse_grid_axis, relevance_warnings

    try:
        _check_out(out, report)
        if limit is not None and limit < 1:
            raise ConfigError(f"--limit {limit}: must be >= 1")
        obj, cons = _common(objective, direction, constraint, phase_rank)
        space = SearchSpace.build([parse_grid_axis(p) for p in param], config, _with_phases(set_, phases))
        dataset = Dataset(data, days)
        folds = _folds(dataset.days, walk_forward, train_days)
        plan = plan_grid(space, dataset, obj, cons, folds)
        store = ResultStore(out, flush_interval=flush_every)
        for note in relevance_warnings(space):
            err_console.print(f"[yellow]note:[/] {note}")
        executor = make_executor(engine, jobs, scheduler)
    except (ConfigError, DataError) as exc:
        raise fail(str(exc)) from None
    done = sum(1 for t in plan.tasks if store.finished(t.key))
    console.print(f"grid: {plan.points} points x {len(plan.tasks) // max(plan.points, 1)} window(s) = "
                  f"{len(plan.tasks)} backtests, {done} already in {out}; running on {executor.description}")
    try:
        with executor:
            outcome, analysis = run_grid(plan, executor, store, obj, cons, limit=limit, console=err_console)
    except (ConfigError, DataError) as exc:
        raise fail(str(exc)) from None
    console.print(f"evaluated {outcome.evaluated} now, {outcome.reused} reused from earlier runs"
                  + (f", [red]{outcome.errors} failed[/] (see the error column)" if outcome.errors else ""))
    _finish(analysis, out, report, outcome.interrupted)


@optimize_app.command("tune")
def tune(
    data: DataOption,
    out: OutOption,
    param: Annotated[
        list[str],
        typer.Option("--param", "-p", help="section.field=low:high[:log|int], or =a,b,c for a choice (repeatable)."),
    ],
    trials: Annotated[int, typer.Option("--trials", "-n", help="Run until the study holds N finished trials.")],
    config: ConfigOption = None,
    set_: SetOption = None,
    storage: Annotated[
        str | None,
        typer.Option("--storage", help="Study database URL (default: sqlite next to --out, so runs resume)."),
    ] = None,
    study: Annotated[str, typer.Option("--study", help="Study name; share it (and --storage) across workers.")] = (
        "amm500"
    ),
    multi_objective: Annotated[
        bool, typer.Option("--multi-objective", help="Optimize the objective and max_drawdown together.")
    ] = False,
    sampler: Annotated[str, typer.Option("--sampler", help="tpe or nsga2.")] = "tpe",
    seed: Annotated[int, typer.Option("--seed", help="Sampler seed.")] = 0,
    jobs: JobsOption = None,
    engine: EngineOption = "local",
    scheduler: SchedulerOption = None,
    objective: ObjectiveOption = "sharpe",
    direction: DirectionOption = None,
    constraint: ConstraintOption = None,
    days: DaysOption = None,
    walk_forward: WalkOption = None,
    train_days: TrainOption = None,
    report: ReportOption = None,
    phases: PhasesOption = None,
    phase_rank: PhaseRankOption = "worst",
) -> None:
    """Optuna search (TPE, or NSGA-II / multi-objective) stored in a database so it resumes."""
    from amm500.optimize.executors import make_executor
    from amm500.optimize.keys import Dataset
    from amm500.optimize.results import ResultStore
    from amm500.optimize.space import SearchSpace, parse_tune_axis
    from amm500.optimize.tune import TuneSettings, tune_search

    try:
        _check_out(out, report)
        if trials < 1:
            raise ConfigError(f"--trials {trials}: must be >= 1")
        obj, cons = _common(objective, direction, constraint, phase_rank)
        space = SearchSpace.build([parse_tune_axis(p) for p in param], config, _with_phases(set_, phases))
        space.check_tune_bounds()
        dataset = Dataset(data, days)
        folds = _folds(dataset.days, walk_forward, train_days)
        url = storage or f"sqlite:///{out.with_suffix('.optuna.db').resolve()}"
        settings = TuneSettings(trials, url, study, multi_objective, sampler, seed)
        store = ResultStore(out)
        executor = make_executor(engine, jobs, scheduler)
    except (ConfigError, DataError) as exc:
        raise fail(str(exc)) from None
    console.print(f"tune: study {study!r} in {url}, {trials} trials per fold on {executor.description}")
    try:
        with executor:
            analysis, interrupted = tune_search(space, dataset, folds, executor, store, obj, cons, settings,
                                                console=err_console)
    except (ConfigError, DataError) as exc:
        raise fail(str(exc)) from None
    _finish(analysis, out, report, interrupted)


@optimize_app.command("report")
def report_cmd(
    results: Annotated[Path, typer.Argument(help="Results Parquet file written by grid or tune.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")],
) -> None:
    """Rebuild the HTML report (and print the summary) from a results file."""
    from amm500.optimize.analysis import analyze
    from amm500.optimize.report import write_report
    from amm500.optimize.results import read_rows

    try:
        _check_out(results, out)
        if not results.exists():
            raise ConfigError(f"{results}: no such results file")
        rows, description = read_rows(results)
        if "folds" not in description:
            raise DataError(f"{results}: the file holds no finished search description")
    except (ConfigError, DataError) as exc:
        raise fail(str(exc)) from None
    analysis = analyze(description, {r["key"]: r for r in rows})
    _show(analysis)
    write_report(out, analysis)
    console.print(f"report: {out}")
