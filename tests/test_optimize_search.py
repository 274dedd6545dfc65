"""Grid, walk-forward, tune and the executors, end to end on real backtests of a tiny hand-built market.

The market is a few minutes per day (thousands of events), so each backtest takes well under a second
once the kernel is compiled; what is checked is exact agreement, not speed.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from amm500.backtest.runner import run_backtest
from amm500.cli import app
from amm500.config import load_config
from amm500.data import store
from amm500.data.schema import ASK, BID, BOOK_CLEAR, BOOK_LEVEL, NS_PER_DAY, NS_PER_S, TRADE, Events, make_events
from amm500.optimize import evaluate as evaluate_mod
from amm500.optimize.executors import DaskExecutor, Executor, LocalExecutor, SerialExecutor
from amm500.optimize.grid import plan_grid, run_grid
from amm500.optimize.keys import Dataset
from amm500.optimize.objective import Constraint, Objective, rank
from amm500.optimize.results import ResultStore, read_rows
from amm500.optimize.space import SearchSpace, parse_grid_axis

BASE = ["trading.strategy=fixed_spread"]
AXES = ["trading.min_spread_bps=1,2", "trading.order_levels=1,3"]


def _is_timing(column: str) -> bool:
    """Columns that measure the machine, not the simulation: they differ between identical runs."""
    return column in ("worker", "metrics_json") or column.endswith("_s") or "per_sec" in column \
        or "per_cpu_sec" in column


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("AMM500_"):
            monkeypatch.delenv(name)


def _day_events(day: int, minutes: float, seed: int) -> Events:
    """A small random-walk market: a full 5-level book every 0.5 s and trades that sweep through it."""
    rng = np.random.default_rng(seed)
    t0 = (20454 + day) * NS_PER_DAY  # 2026-01-01 + day
    mid = 90_000.0
    ts, kind, side, px, sz = [], [], [], [], []
    for i in range(int(minutes * 120)):
        t = t0 + i * NS_PER_S // 2
        mid += float(rng.normal(0.0, 6.0))
        bid = math.floor(mid)
        ts.append(t), kind.append(BOOK_CLEAR), side.append(0), px.append(0.0), sz.append(0.0)
        for k in range(5):
            for s_, p_ in ((BID, bid - k), (ASK, bid + 1 + k)):
                ts.append(t), kind.append(BOOK_LEVEL), side.append(s_), px.append(float(p_))
                sz.append(float(rng.uniform(0.05, 1.5)))
        for _ in range(int(rng.poisson(1.5))):
            buy = rng.random() < 0.5
            through = int(rng.integers(0, 8))  # a sweep reaches this many ticks past the touch
            tp = bid + 1 + through if buy else bid - through
            ts.append(t + int(rng.integers(1, NS_PER_S // 2))), kind.append(TRADE), side.append(1 if buy else -1)
            px.append(float(tp)), sz.append(float(rng.lognormal(-3.0, 1.0)))
    ev = make_events(np.array(ts), np.array(ts) + 10_000_000, np.array(kind), np.array(side), np.array(px),
                     np.array(sz))
    return ev.sorted()


def _write_market(root: Path, days: int, minutes: float) -> Path:
    """``days`` UTC days of a few minutes each, every day drawn with its own seed."""
    for k in range(days):
        store.write_events(root, _day_events(k, minutes, seed=k + 1))
    store.write_dataset_meta(root, source="test", tick_size=1.0)
    return root


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_market(tmp_path_factory.mktemp("market"), days=3, minutes=4)


def _deterministic(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not _is_timing(k)}


def _grid(market: Path, executor: Executor, out: Path, days: int | None = 1) -> dict[str, dict[str, Any]]:
    space = SearchSpace.build([parse_grid_axis(a) for a in AXES], None, BASE)
    # One-day runs have a single daily return (no Sharpe): rank by PnL.
    obj, cons = Objective.parse("net_pnl"), [Constraint.parse("max_drawdown<=0.5")]
    plan = plan_grid(space, Dataset(market, days), obj, cons)
    with executor:
        outcome, analysis = run_grid(plan, executor, ResultStore(out), obj, cons)
    assert outcome.evaluated == 4 and outcome.errors == 0
    assert [r["rank"] for r in analysis.folds[0].ranked] == [1, 2, 3, 4]
    rows, _ = read_rows(out)
    return {r["key"]: r for r in rows}


@pytest.fixture
def dask_scheduler() -> Iterator[str]:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


def test_one_worker_local_pool_and_dask_cluster_agree(market: Path, tmp_path: Path, dask_scheduler: str) -> None:
    serial = _grid(market, SerialExecutor(), tmp_path / "serial.parquet")
    local = _grid(market, LocalExecutor(2), tmp_path / "local.parquet")
    dask = _grid(market, DaskExecutor(dask_scheduler), tmp_path / "dask.parquet")
    assert set(serial) == set(local) == set(dask)
    assert len({r["net_pnl"] for r in serial.values()}) == 4  # four different outcomes to compare
    for key, row in serial.items():
        assert row["status"] == "ok" and row["fills"] > 0
        assert _deterministic(local[key]) == _deterministic(row)
        assert _deterministic(dask[key]) == _deterministic(row)
    # The pool and the cluster really used other processes than this one.
    me = f":{os.getpid()}"
    assert all(r["worker"].endswith(me) for r in serial.values())
    assert not any(r["worker"].endswith(me) for r in [*local.values(), *dask.values()])


def test_rows_match_a_direct_backtest_and_rank_by_objective(market: Path, tmp_path: Path) -> None:
    rows = _grid(market, SerialExecutor(), tmp_path / "g.parquet", days=2)
    ranked = rank(rows.values(), Objective.parse("net_pnl"), [Constraint.parse("max_drawdown<=0.5")])
    top = ranked[0]
    cfg = load_config(None, [*BASE, f"trading.min_spread_bps={top['trading.min_spread_bps']}",
                             f"trading.order_levels={top['trading.order_levels']}"])
    direct = run_backtest(cfg, market, days=2).metrics
    for m in ("sharpe", "net_pnl", "fills", "max_drawdown", "fees", "events"):
        assert top[m] == direct[m]
    table = pq.read_table(tmp_path / "g.parquet")
    assert table.column("rank").to_pylist() == [1, 2, 3, 4]  # the file itself is sorted best first


def _count_backtests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each backtest run in this process (the real one still runs)."""
    calls: list[str] = []
    real = evaluate_mod.run_point

    def counting(config: Any, market: Any) -> dict[str, Any]:
        calls.append(f"{config.trading.min_spread_bps}/{config.trading.order_levels}")
        return real(config, market)

    monkeypatch.setattr(evaluate_mod, "run_point", counting)
    return calls


def _cli_grid(market: Path, out: Path, *extra: str) -> list[str]:
    args = ["optimize", "grid", "--data", str(market), "--out", str(out), "--jobs", "1", "--days", "1"]
    for a in ["trading.min_spread_bps=1,2,4", "trading.order_levels=1,3"]:
        args += ["--param", a]
    for s in BASE:
        args += ["--set", s]
    return args + list(extra)


def test_limited_run_resumes_without_recomputing(market: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_backtests(monkeypatch)
    out = tmp_path / "r.parquet"
    runner = CliRunner()
    first = runner.invoke(app, _cli_grid(market, out, "--limit", "2"))
    assert first.exit_code == 130, first.output
    assert len(calls) == 2
    before = {r["key"]: r for r in read_rows(out)[0]}
    assert len(before) == 2 and all(r["status"] == "ok" for r in before.values())

    second = runner.invoke(app, _cli_grid(market, out, "--report", str(tmp_path / "r.html")))
    assert second.exit_code == 0, second.output
    assert len(calls) == 6  # 4 new backtests, not 6
    assert "evaluated 4 now, 2 reused" in second.output
    after = {r["key"]: r for r in read_rows(out)[0]}
    assert len(after) == 6
    for key, row in before.items():  # the finished rows were kept as they were, not recomputed
        assert after[key]["elapsed_s"] == row["elapsed_s"] and after[key]["worker"] == row["worker"]

    third = runner.invoke(app, _cli_grid(market, out))
    assert third.exit_code == 0 and len(calls) == 6 and "evaluated 0 now, 6 reused" in third.output

    page = (tmp_path / "r.html").read_text()
    assert "Plotly.newPlot" in page and "<script src=" not in page  # self-contained, works offline
    assert page.count('class="plotly-graph-div"') == 1  # one heatmap: one pair of axes
    assert "fixed_spread" in page and "tick" in page  # says which strategy and fill model


def test_ctrl_c_keeps_finished_points(market: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C (KeyboardInterrupt, as Python raises it on SIGINT) after 3 finished points: they are
    saved, the exit code is 130, and the next run computes only the other 3.

    Raised in-process at a known point rather than sent as a signal from outside: a real SIGINT raced
    with the grid on fast machines (all points could finish before it arrived).
    """
    out = tmp_path / "i.parquet"
    real = evaluate_mod.run_point
    started: list[int] = []

    def interrupted_after_three(config: Any, market_: Any) -> dict[str, Any]:
        started.append(1)
        if len(started) == 4:
            raise KeyboardInterrupt
        return real(config, market_)

    monkeypatch.setattr(evaluate_mod, "run_point", interrupted_after_three)
    result = CliRunner().invoke(app, _cli_grid(market, out, "--flush-every", "0"))
    assert result.exit_code == 130, result.output
    assert "Run the same command again to resume" in " ".join(result.output.split())
    assert len(read_rows(out)[0]) == 3
    monkeypatch.setattr(evaluate_mod, "run_point", real)
    calls = _count_backtests(monkeypatch)
    result = CliRunner().invoke(app, _cli_grid(market, out))
    assert result.exit_code == 0, result.output
    assert len(calls) == 3
    assert len(read_rows(out)[0]) == 6


def test_walk_forward_reports_out_of_sample_of_the_in_sample_choice(market: Path, tmp_path: Path) -> None:
    out = tmp_path / "wf.parquet"
    args = ["optimize", "grid", "--data", str(market), "--out", str(out), "--jobs", "1", "--walk-forward", "1:1",
            "--objective", "net_pnl",
            "--param", "trading.min_spread_bps=1,4", "--report", str(tmp_path / "wf.html"), "--set", BASE[0]]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows, desc = read_rows(out)
    assert len(desc["folds"]) == 2  # days 1->2 and 2->3
    assert len(rows) == 2 * 3  # every point on each of the 3 distinct one-day windows (shared between folds)
    from amm500.optimize.analysis import analyze

    analysis = analyze(desc, {r["key"]: r for r in rows})
    for f in analysis.folds:
        train = [r for r in rows if r["window_start"] == f.fold.train[0]]
        best_is = max(train, key=lambda r: r["net_pnl"])
        assert f.chosen is not None and f.chosen["key"] == best_is["key"]
        assert f.chosen_test is not None and f.chosen_test["window_start"] == f.fold.test[0]
        assert f.chosen_test["trading.min_spread_bps"] == best_is["trading.min_spread_bps"]
        # The out-of-sample row is exactly a backtest of that day alone.
        solo = tmp_path / f"day{f.fold.index}"
        day = f.fold.test[0]
        (solo / "events").mkdir(parents=True)
        shutil.copy(market / "events" / f"{day}.parquet", solo / "events")
        shutil.copy(market / "dataset.json", solo)
        cfg = load_config(None, [*BASE, f"trading.min_spread_bps={best_is['trading.min_spread_bps']}"])
        direct = run_backtest(cfg, solo).metrics
        assert (f.chosen_test["sharpe"], f.chosen_test["net_pnl"]) == (direct["sharpe"], direct["net_pnl"])
    assert "out-of-sample" in (tmp_path / "wf.html").read_text()


def test_tune_resumes_its_sqlite_study(market: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import optuna

    calls = _count_backtests(monkeypatch)
    out, db = tmp_path / "t.parquet", tmp_path / "study.db"
    args = ["optimize", "tune", "--data", str(market), "--out", str(out), "--jobs", "1", "--days", "1",
            "--param", "trading.min_spread_bps=0.5:6:log", "--param", "trading.order_levels=1:4",
            "--storage", f"sqlite:///{db}", "--study", "s1",
            "--objective", "net_pnl", "--set", BASE[0], "--report", str(tmp_path / "t.html"),
            "--constraint", "max_drawdown<=0.5"]
    first = CliRunner().invoke(app, [*args, "--trials", "3"])
    assert first.exit_code == 0, first.output
    n_first = len(calls)
    assert 1 <= n_first <= 3  # identical proposals are answered from the results file
    second = CliRunner().invoke(app, [*args, "--trials", "5"])
    assert second.exit_code == 0, second.output
    study = optuna.load_study(study_name="s1", storage=f"sqlite:///{db}")
    trials = [t for t in study.trials if t.state.is_finished()]
    assert len(trials) == 5
    assert len(calls) - n_first <= 2  # only the 2 new trials could need a backtest
    rows = {r["key"]: r for r in read_rows(out)[0]}
    for t in trials:  # each trial's value is its backtest's Sharpe from the results file
        if t.state == optuna.trial.TrialState.COMPLETE:
            row = rows[t.user_attrs["key"]]
            assert t.values[0] == row["net_pnl"]
            assert t.params["trading.order_levels"] == row["trading.order_levels"]
            assert t.constraints == {"max_drawdown<=0.5": pytest.approx(row["max_drawdown"] - 0.5)}


def test_bad_axis_fails_before_any_work(market: Path, tmp_path: Path) -> None:
    out = tmp_path / "bad.parquet"
    runner = CliRunner()
    for param, needle in [
        ("trading.levrage=5,10", "did you mean 'leverage'"),
        ("trading.leverage=5,90", "must be <= 40"),
        ("backtest.fill_model=tick,candle", "backtest.fill_model"),
    ]:
        result = runner.invoke(app, ["optimize", "grid", "--data", str(market), "--out", str(out), "-p", param])
        assert result.exit_code == 2 and needle in result.output, result.output
    result = runner.invoke(app, ["optimize", "grid", "--data", str(market), "--out", str(out), "-p",
                                 "trading.leverage=5", "--constraint", "drawdown<0.1"])
    assert result.exit_code == 2 and "unknown metric" in result.output
    result = runner.invoke(app, ["optimize", "grid", "--data", str(market), "--out", str(out), "-p",
                                 "trading.leverage=5", "--engine", "dask"])
    assert result.exit_code == 2 and "--scheduler" in result.output
    result = runner.invoke(app, ["optimize", "grid", "--data", str(tmp_path / "none"), "--out", str(out), "-p",
                                 "trading.leverage=5"])
    assert result.exit_code == 2 and "no such data directory" in result.output
    assert not out.exists()
    foreign = tmp_path / "foreign.parquet"
    pq.write_table(pq.read_table(next((market / "events").iterdir())), foreign)
    result = runner.invoke(app, ["optimize", "grid", "--data", str(market), "--out", str(foreign), "-p",
                                 "trading.leverage=5"])
    assert result.exit_code == 2 and "not an amm500 optimize results file" in result.output


def test_grid_with_phases_ranks_by_the_worst_phase(market: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.parquet"
    result = CliRunner().invoke(app, _cli_grid(market, out, "--objective", "net_pnl", "--phases", "3"))
    assert result.exit_code == 0, result.output
    rows, _ = read_rows(out)
    assert len(rows) == 6 and all(r["status"] == "ok" and r["phases"] == 3 for r in rows)
    for r in rows:
        assert r["net_pnl.phase_min"] <= r["net_pnl.phase_median"] <= r["net_pnl.phase_max"]
    by_rank = sorted(rows, key=lambda r: r["rank"])
    worst = [r["net_pnl.phase_min"] for r in by_rank]
    assert worst == sorted(worst, reverse=True)  # ranked by the worst phase, not by the first phase's net_pnl
