"""This code against an older checkout of itself, in the same run: backtest speed before and after a change.

A refactor must not cost speed, and "it was 6 s last week" is no measurement on a shared machine.
This bench runs the same work with two source trees, alternating so that a neighbour's burst slows
one repetition rather than one side, and prints each side's fastest run and the ratio:

* the hftbacktest comparison (``bench/bench_backtest_vs_hftbacktest.py`` of each tree, on the same
  data): AMM-500's events/s over hftbacktest's, measured in the same process as each tree runs;
* the reference ladder (the fixed-spread bench strategy) over a data directory — a generated month
  for the published figure — by kernel CPU seconds (``kernel_cpu_s`` of ``amm500 backtest --json``).

    git worktree add /tmp/base <commit>
    .venv/bin/python bench/bench_against_baseline.py --baseline /tmp/base --month runs/m30 --hft-data runs/m1

Each tree runs in its own interpreter with ``PYTHONPATH=<tree>/src`` (its own Numba cache, warmed by
a first run that is not counted).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
# the bench's reference ladder (bench_backtest_vs_hftbacktest.amm_sets, at its default refresh)
LADDER = ["trading.strategy=fixed_spread", "trading.order_levels=3", "trading.min_spread_bps=2",
          "trading.level_spacing_bps=1", "trading.quote_tolerance_bps=0", "trading.leverage=1",
          "trading.order_size_fraction=0.0002", "backtest.initial_equity=1000000", "backtest.partial_fills=false"]
_RATIO = re.compile(r"^events/s \(CPU\)\s+[\d,]+\s+[\d,]+\s+x([\d.]+)", re.M)


def _env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree / "src")}


def hft_ratio(tree: Path, data: Path) -> float:
    """AMM-500 events/s over hftbacktest's (CPU), by that tree's own bench, best of its 3 alternating runs."""
    out = subprocess.run([sys.executable, str(tree / "bench" / "bench_backtest_vs_hftbacktest.py"), "--data",
                          str(data), "--days", "1"], env=_env(tree), capture_output=True, text=True, check=True)
    m = _RATIO.search(out.stdout)
    if m is None:
        raise SystemExit(f"{tree}: no ratio line in its bench's output:\n{out.stdout[-2000:]}")
    return float(m.group(1))


def ladder_cpu_s(tree: Path, data: Path) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "m.json"
        sets = [a for s in LADDER for a in ("--set", s)]
        subprocess.run([sys.executable, "-m", "amm500", "backtest", "--data", str(data), *sets, "-q", "--json",
                        str(out)], env=_env(tree), capture_output=True, text=True, check=True)
        return float(json.loads(out.read_text())["kernel_cpu_s"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", type=Path, required=True, help="a checkout of the older code (git worktree)")
    ap.add_argument("--month", type=Path, help="data directory for the reference-ladder run (a generated month)")
    ap.add_argument("--hft-data", type=Path, help="data directory for the hftbacktest comparison (its first day)")
    ap.add_argument("--repeat", type=int, default=3, help="alternating runs per tree; the fastest is shown")
    args = ap.parse_args()
    if not (args.baseline / "src" / "amm500").is_dir():
        raise SystemExit(f"--baseline {args.baseline}: not an AMM-500 checkout (no src/amm500)")
    if args.month is None and args.hft_data is None:
        raise SystemExit("nothing to do: give --month and/or --hft-data")
    trees = {"baseline": args.baseline.resolve(), "current": HERE}
    print("trees: " + ", ".join(f"{k} {v}" for k, v in trees.items()), flush=True)
    rows = []
    if args.hft_data is not None:
        best = {k: 0.0 for k in trees}
        for _ in range(args.repeat):
            for name, tree in trees.items():
                best[name] = max(best[name], hft_ratio(tree, args.hft_data))
                print(f"  hftbacktest ratio, {name}: x{best[name]:.2f} so far", flush=True)
        rows.append(("events/s over hftbacktest's (CPU; higher is better)", best["baseline"], best["current"],
                     best["current"] / best["baseline"]))
    if args.month is not None:
        for tree in trees.values():  # warm each tree's Numba cache; not counted
            ladder_cpu_s(tree, args.month)
        low = {k: float("inf") for k in trees}
        for _ in range(args.repeat):
            for name, tree in trees.items():
                low[name] = min(low[name], ladder_cpu_s(tree, args.month))
                print(f"  reference ladder, {name}: {low[name]:.2f} s kernel CPU so far", flush=True)
        rows.append((f"reference ladder over {args.month.name}, kernel CPU s (lower is better)", low["baseline"],
                     low["current"], low["baseline"] / low["current"]))
    print(f"\nfastest of {args.repeat} alternating runs per tree")
    print(f"{'':58}{'baseline':>10}{'current':>10}{'current vs baseline':>22}")
    for label, b, c, speedup in rows:
        print(f"{label:58}{b:>10.2f}{c:>10.2f}{'x' + format(speedup, '.3f') + ' (>1: faster)':>22}")


if __name__ == "__main__":
    main()
