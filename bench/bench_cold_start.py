"""Cold start and the quoting month, before and after a change, in one run.

A newcomer's first ``amm500 demo`` compiles every Numba kernel it needs; this bench measures that
against an older checkout, alternating the two trees so that a neighbour's burst on a shared
machine slows one repetition rather than one side, and prints each side's best figure:

* cold compile: a child process with a fresh, empty ``NUMBA_CACHE_DIR`` loads what ``amm500 demo``
  and ``amm500 backtest`` compile (the market generator on one hour, the backtest kernel, the live
  loop's warm-up, the local exchange's warm-up for the demo's rehearsal), then the same child again
  on the now-filled cache (warm). Compile time is cold minus warm, per stage, in wall and CPU seconds
  (CPU including the processes a stage starts: the backtest kernel compiles on two); the warm run's
  total is the cache-load time;
* the 20-level ``market_making`` strategy quoting a whole data directory (a generated month;
  ``MONTH_SETS``: the seed's ladder on an account it cannot drain), by kernel CPU seconds
  (``kernel_cpu_s`` of ``amm500 backtest --json``) and the run's peak memory (max RSS), with its
  uptime, orders and fills so that both trees are seen doing the same work;
* the ratio against hftbacktest on the same work (``bench_against_baseline.hft_ratio``).

    git worktree add /tmp/base c91c607
    .venv/bin/python bench/bench_cold_start.py --baseline /tmp/base --month runs/m30 --hft-data runs/m30

The strategy and its settings are named explicitly (``configs/seed.toml`` + ``MONTH_SETS``), so the
figures do not move with the defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_against_baseline import HERE, hft_ratio  # the bench folder is no package

# The quoting month: the seed's 20-level ladder at the 0.5 s refresh (configs/seed.toml, the same file for both
# trees) with the kill switch off, quoting all 30 days. On the seed's $1,000 the account is drained within days
# (-$860 over the first 3) and then quotes nothing, so it runs on $100,000 with every equity-relative setting
# divided by 100: the same dollar sizes ($200 a level), inventory-skew and delta thresholds; the position and
# leverage limits are absolute ($5,000) either way. On data/m30 (seed 7): 99.9998% two-sided uptime, 21.8 M orders,
# 1.18 M fills, no request-budget refusal, equity $71.5 k at the end.
MONTH_CONFIG = HERE / "configs" / "seed.toml"
MONTH_SETS = ["risk.kill_switch_enabled=false", "backtest.initial_equity=100000", "trading.order_size_fraction=0.0002",
              "risk.inventory_skew_threshold=0.0001", "execution.max_delta_imbalance=0.00005"]

# What the demo and a backtest compile, stage by stage; prints one JSON line of wall and CPU seconds.
# It uses only what both trees have (the generator, the backtest runner, the live and local exchange warm-ups).
# CPU counts the processes a stage starts and waits for (a compile may run on two cores).
_CHILD = r"""
import json, resource, time
def cpu():
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime
w, c = time.perf_counter(), cpu()
out = {}
def stage(name):
    global w, c
    out[name] = (time.perf_counter() - w, cpu() - c)
    w, c = time.perf_counter(), cpu()
import amm500.backtest.runner, amm500.data.synthetic, amm500.live.quote_loop
stage("import")
from amm500.data.synthetic import MarketSimulator
MarketSimulator(7).next_day(hours=1)
stage("generator (1 h)")
from amm500.backtest.runner import compile_kernel
compile_kernel()
stage("backtest kernel")
from amm500.config import Config
from amm500.core.params import build_params
from amm500.live.quote_loop import warm_up
from amm500.venues.hyperliquid.rounding import HyperliquidGrid
from amm500.venues.model import AssetInfo
class Venue:  # what the order manager reads of a started venue (no network)
    asset = AssetInfo(0, "BTC", 5, 40)
    grid = HyperliquidGrid(5)
config = Config()
warm_up(Venue(), build_params(config), config)
stage("live warm-up")
from amm500.core.exchange_model import ExchangeModel
from amm500.core.instrument import Instrument
from amm500.sim import core
core.warm_up(ExchangeModel.from_config(config), Instrument.from_config(config))
stage("local exchange warm-up")
print(json.dumps(out))
"""


def _env(tree: Path, cache: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree / "src"), "NUMBA_CACHE_DIR": str(cache)}


def compile_stages(tree: Path) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """(cold, warm) stage -> [wall s, CPU s], from a fresh cache folder that is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="amm500-bench-numba-") as cache:
        runs = []
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", _CHILD], env=_env(tree, Path(cache)), capture_output=True,
                                 text=True, check=False)
            if out.returncode != 0:
                raise SystemExit(f"{tree}: the compile child failed:\n{out.stderr[-3000:]}")
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return runs[0], runs[1]


def month(tree: Path, data: Path) -> tuple[float, float, dict[str, float]]:
    """(kernel CPU s, peak RSS GiB, what it did) of the 20-level strategy over ``data`` (the tree's own
    Numba cache); what it did: uptime, orders, fills, so a reader can see it quoted all month."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "m.json"
        sets = [a for s in MONTH_SETS for a in ("--set", s)]
        env = {**os.environ, "PYTHONPATH": str(tree / "src")}
        env.pop("NUMBA_CACHE_DIR", None)
        err = Path(tmp) / "stderr"
        with err.open("wb") as sink:
            proc = subprocess.Popen([sys.executable, "-m", "amm500", "backtest", "--data", str(data), "--config",
                                     str(MONTH_CONFIG), *sets, "-q", "--json", str(out)], env=env,
                                    stdout=subprocess.DEVNULL, stderr=sink)
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: its peak memory
            proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"{tree}: the backtest failed:\n{err.read_text()[-2000:]}")
        res = json.loads(out.read_text())
        did = {k: float(res[k]) for k in ("quote_uptime", "orders_sent", "fills", "net_pnl")}
        return float(res["kernel_cpu_s"]), usage.ru_maxrss / 2**20, did


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", type=Path, required=True, help="a checkout of the older code (git worktree)")
    ap.add_argument("--month", type=Path, help="data directory for the 20-level strategy (a generated month)")
    ap.add_argument("--hft-data", type=Path, help="data directory for the hftbacktest comparison (its first day)")
    ap.add_argument("--repeat", type=int, default=2, help="alternating runs per tree; the best is shown")
    ap.add_argument("--no-compile", action="store_true", help="skip the cold/warm compile measurement")
    args = ap.parse_args()
    if not (args.baseline / "src" / "amm500").is_dir():
        raise SystemExit(f"--baseline {args.baseline}: not an AMM-500 checkout (no src/amm500)")
    if args.repeat < 1:
        raise SystemExit(f"--repeat {args.repeat}: must be >= 1")
    trees = {"baseline": args.baseline.resolve(), "current": HERE}
    print("trees: " + ", ".join(f"{k} {v}" for k, v in trees.items()), flush=True)
    rows: list[tuple[str, float, float, bool]] = []  # label, baseline, current, lower is better
    if not args.no_compile:
        cold: dict[str, dict[str, list[float]]] = {k: {} for k in trees}
        warm: dict[str, dict[str, list[float]]] = {k: {} for k in trees}
        for _ in range(args.repeat):
            for name, tree in trees.items():
                t0 = time.perf_counter()
                c, w = compile_stages(tree)
                for stage in c:
                    for best, run in ((cold[name], c), (warm[name], w)):
                        prev = best.get(stage, [float("inf")] * 2)
                        best[stage] = [min(prev[0], run[stage][0]), min(prev[1], run[stage][1])]
                print(f"  compile, {name}: cold {sum(v[0] for v in c.values()):.1f} s, warm "
                      f"{sum(v[0] for v in w.values()):.1f} s wall ({time.perf_counter() - t0:.0f} s)", flush=True)
        for stage in [s for s in cold["current"] if s != "import"]:  # importing compiles nothing
            for i, unit in ((0, "wall"), (1, "CPU")):
                b = cold["baseline"][stage][i] - warm["baseline"][stage][i]
                cu = cold["current"][stage][i] - warm["current"][stage][i]
                rows.append((f"cold compile: {stage}, {unit} s", b, cu, True))
        for i, unit in ((0, "wall"), (1, "CPU")):
            rows.append((f"cold compile, all stages, {unit} s",
                         *(sum(cold[k][s][i] - warm[k][s][i] for s in cold[k]) for k in trees), True))
            rows.append((f"cold start in all (import + compile + 1 h of market), {unit} s",
                         *(sum(cold[k][s][i] for s in cold[k]) for k in trees), True))
            rows.append((f"warm start (import + cache load + 1 h of market), {unit} s",
                         *(sum(warm[k][s][i] for s in warm[k]) for k in trees), True))
    if args.month is not None:
        for tree in trees.values():  # warm each tree's Numba cache; not counted
            month(tree, args.month)
        cpu = {k: float("inf") for k in trees}
        rss = {k: 0.0 for k in trees}
        for _ in range(args.repeat):
            for name, tree in trees.items():
                k_cpu, k_rss, did = month(tree, args.month)
                cpu[name] = min(cpu[name], k_cpu)
                rss[name] = max(rss[name], k_rss)
                print(f"  20-level month, {name}: {k_cpu:.2f} s kernel CPU, {k_rss:.2f} GiB peak; uptime "
                      f"{did['quote_uptime']:.4%}, {did['orders_sent']:,.0f} orders, {did['fills']:,.0f} fills, "
                      f"PnL {did['net_pnl']:,.2f}", flush=True)
        rows.append((f"20-level market_making over {args.month.name}, kernel CPU s", cpu["baseline"],
                     cpu["current"], True))
        rows.append(("  its peak memory (max RSS), GiB", rss["baseline"], rss["current"], True))
    if args.hft_data is not None:
        ratio = {k: 0.0 for k in trees}
        for _ in range(args.repeat):
            for name, tree in trees.items():
                ratio[name] = max(ratio[name], hft_ratio(tree, args.hft_data))
                print(f"  hftbacktest ratio, {name}: x{ratio[name]:.2f} so far", flush=True)
        rows.append(("events/s over hftbacktest's (CPU)", ratio["baseline"], ratio["current"], False))
    print(f"\nbest of {args.repeat} alternating runs per tree")
    print(f"{'':66}{'baseline':>10}{'current':>10}{'current vs baseline':>24}")
    for label, b, c, lower in rows:
        speedup = (b / c if lower else c / b) if b > 0 and c > 0 else float("nan")
        print(f"{label:66}{b:>10.2f}{c:>10.2f}{'x' + format(speedup, '.2f') + ' (>1: better)':>24}")


if __name__ == "__main__":
    main()
