"""Regenerate ``src/amm500/optimize/recommendation.json``: the default config's out-of-sample figures.

Runs the break-even map's walk-forward (days 1-2 in sample, days 3-4 out of sample) of the point the
default config quotes, at tier 0 and at the best fee schedule, on the generated market of docs/edge.md
(made here if missing), and writes the file ``amm500 demo`` reads. Four 2-day backtests, about two
CPU-minutes. Usage::

    PYTHONPATH=src .venv/bin/python scripts/recommendation.py --data runs/edge/gen4
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path


def main() -> int:
    from amm500.config import ConfigError, load_config
    from amm500.data.store import write_json_atomic
    from amm500.optimize.recommend import DATA_COMMAND, RECOMMENDATION_FILE, build, runs_defaults, summary_line

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("runs/edge/gen4"))
    ap.add_argument("--out", type=Path, default=RECOMMENDATION_FILE)
    args = ap.parse_args()
    if not (args.data / "dataset.json").exists():
        cmd = shlex.split(DATA_COMMAND)
        subprocess.run([sys.executable, "-m", "amm500", *cmd[1:-1], str(args.data)], check=True)
    try:
        cfg = load_config(None, [])
        if not runs_defaults(cfg):
            raise ConfigError("the environment (AMM500_CONFIG or AMM500_*) changes the default strategy settings; "
                              "the recommendation is of the defaults: unset it")
        rec = build(args.data, cfg)
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_json_atomic(args.out, rec, "--out")
    print(f"wrote {args.out}\n{summary_line(rec, cfg)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
