"""Grid-search scaling: the same grid on 1 and on N local worker processes, and the seed's grid time.

Prints the scaling efficiency ``T(1) / (N x T(N))`` (target >= 0.9 at N = 2), measured twice: "cold"
includes starting the workers (imports, loading the compiled kernel, opening the market), "warm" is a
second pass on the same pool, which is what a long search sees. Both passes backtest every point
(fresh results files), so they are equal work.

Default (small, about a minute on an idle 2-core machine): 16 points of the seed's grid (first two
values of each axis) on a 1-day, 20-minute synthetic market. ``--full``: the seed's 256-point grid
(leverage 5,10,15,20 x min_spread_bps 1,2,3,5 x fill_rate 0.7,0.8,0.9,0.95 x order_levels 5,10,15,20)
on a generated 30-day market — hours of CPU time.

    .venv/bin/python bench/bench_optimize_scaling.py [--full] [--jobs 2] [--fill-model tick|bar]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from amm500.data import store
from amm500.data.schema import NS_PER_S
from amm500.data.synthetic import generate_day, generate_market
from amm500.optimize.batch import run_batch
from amm500.optimize.executors import Executor, LocalExecutor
from amm500.optimize.grid import plan_grid
from amm500.optimize.keys import Dataset
from amm500.optimize.objective import Objective
from amm500.optimize.results import ResultStore
from amm500.optimize.space import SearchSpace, parse_grid_axis

SEED_GRID = {
    "trading.leverage": "5,10,15,20",
    "trading.min_spread_bps": "1,2,3,5",
    "backtest.fill_rate": "0.7,0.8,0.9,0.95",
    "trading.order_levels": "5,10,15,20",
}


def small_market(root: Path, minutes: float) -> Path:
    ev = generate_day(0, seed=7, hours=max(1, int(minutes // 60) + (minutes % 60 > 0)))
    store.write_events(root, ev.take(ev.ts < ev.ts[0] + int(minutes * 60 * NS_PER_S)))
    store.write_dataset_meta(root, source="bench", tick_size=1.0)
    return root


def timed_pass(plan_tasks: list, executor: Executor, out: Path) -> float:
    out.unlink(missing_ok=True)
    t0 = time.perf_counter()
    outcome = run_batch(plan_tasks, executor, ResultStore(out, flush_interval=5.0), label="bench", console=None)
    elapsed = time.perf_counter() - t0
    if outcome.errors or outcome.evaluated != len(plan_tasks):
        sys.exit(f"bench: {outcome.errors} of {outcome.evaluated} backtests failed")
    return elapsed


def measure(tasks: list, jobs: int, work: Path) -> tuple[float, float]:
    """(cold, warm) seconds for the grid on ``jobs`` worker processes."""
    with LocalExecutor(jobs) as ex:
        cold = timed_pass(tasks, ex, work / f"cold{jobs}.parquet")
        warm = timed_pass(tasks, ex, work / f"warm{jobs}.parquet")
    return cold, warm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="the seed's 256-point grid on a 30-day market")
    ap.add_argument("--jobs", type=int, default=2, help="workers to compare against 1 (default 2)")
    ap.add_argument("--minutes", type=float, default=20.0, help="small market length (default 20)")
    ap.add_argument("--fill-model", choices=("tick", "bar"), default="tick",
                    help="tick (queue-aware; fill_rate axis has no effect) or bar (fill_rate applies)")
    ap.add_argument("--data", type=Path, help="reuse an existing data directory instead of generating one")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="K=V",
                    help="extra fixed config values for every point (e.g. risk.kill_switch_enabled=false)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="amm500-bench-") as tmp:
        work = Path(tmp)
        if args.data:
            data = args.data
        elif args.full:
            print("generating a 30-day synthetic market (seed 7)...", flush=True)
            data = generate_market(work / "market", 30, seed=7, progress=True)
        else:
            data = small_market(work / "market", args.minutes)
        axes = SEED_GRID if args.full else {k: ",".join(v.split(",")[:2]) for k, v in SEED_GRID.items()}
        space = SearchSpace.build(
            [parse_grid_axis(f"{k}={v}") for k, v in axes.items()], None,
            [f"backtest.fill_model={args.fill_model}", *args.sets],
        )
        dataset = Dataset(data)
        plan = plan_grid(space, dataset, Objective.parse("sharpe"), [])
        print(f"grid: {plan.points} points, fill model {args.fill_model}, data {len(dataset.days)} day(s) "
              f"({'30-day generated' if args.full else f'{args.minutes:g} minutes'}), cpu_count {os.cpu_count()}, "
              f"load average before {os.getloadavg()[0]:.2f}", flush=True)
        c1, w1 = measure(plan.tasks, 1, work)
        print(f"1 worker : cold {c1:8.2f} s   warm {w1:8.2f} s", flush=True)
        cn, wn = measure(plan.tasks, args.jobs, work)
        print(f"{args.jobs} workers: cold {cn:8.2f} s   warm {wn:8.2f} s", flush=True)
        print(f"scaling efficiency 1 -> {args.jobs} workers: cold {c1 / (args.jobs * cn):.3f}   "
              f"warm {w1 / (args.jobs * wn):.3f}   (target >= 0.9)")
        print(f"grid of {plan.points} points: {wn:.2f} s on {args.jobs} workers "
              f"({wn / plan.points:.3f} s per point), {w1:.2f} s on 1")
        print(f"load average after {os.getloadavg()[0]:.2f} (other processes share these cores: "
              "a load above the core count makes the parallel figure pessimistic)")


if __name__ == "__main__":
    main()
