"""Regenerate ``src/amm500/optimize/recommendation.json``: the default config's out-of-sample figures.

Runs the break-even map's walk-forward (days 1-2 in sample, days 3-4 out of sample) of the point the
default config quotes, at tier 0 and at the best fee schedule, on the two generated markets of
docs/edge.md (made here when missing), and writes the file ``amm500 demo`` reads. Eight 2-day
backtests, a minute or two of CPU. Usage, from the repository root::

    PYTHONPATH=src .venv/bin/python scripts/recommendation.py
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
    from amm500.optimize.recommend import MARKETS, RECOMMENDATION_FILE, build, runs_defaults, summary_line

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=RECOMMENDATION_FILE)
    args = ap.parse_args()
    for folder, command in MARKETS:
        if not (Path(folder) / "dataset.json").exists():
            subprocess.run([sys.executable, "-m", "amm500", *shlex.split(command)[1:]], check=True)
    try:
        cfg = load_config(None, [])
        if not runs_defaults(cfg):
            raise ConfigError("the environment (AMM500_CONFIG or AMM500_*) changes the default strategy settings; "
                              "the recommendation is of the defaults: unset it")
        rec = build([Path(folder) for folder, _ in MARKETS], cfg)
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_json_atomic(args.out, rec, "--out")
    print(f"wrote {args.out}\n{summary_line(rec, cfg)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
