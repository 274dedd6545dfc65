"""Hash what a backtest produced (fills, 1-minute records, counters) for five configurations.

Each configuration is the seed's settings (``configs/seed.toml``) plus its ``--set`` overrides, so a
hash keeps meaning the same strategy when the defaults change.

A refactor of the backtest loop must leave these hashes unchanged; a fix that changes them must say
why. Usage::

    .venv/bin/python scripts/backtest_fingerprint.py --data runs/fp3   # generates 3 days there if missing

It prints one line per configuration: name, fills, events, and a short hash of each output.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np

#: every configuration starts from the seed's settings, not the (moving) defaults
SEED_TOML = Path(__file__).resolve().parents[1] / "configs" / "seed.toml"

CONFIGURATIONS: dict[str, list[str]] = {
    "mm-kill-on": [],
    "mm-kill-off": ["risk.kill_switch_enabled=false"],
    "mm4-feed150": ["risk.kill_switch_enabled=false", "trading.order_levels=4", "backtest.feed_latency_ms=150"],
    "mm5-prob": ["risk.kill_switch_enabled=false", "trading.order_levels=5", "backtest.queue_model=prob"],
    "ref5": ["trading.strategy=fixed_spread", "trading.order_levels=5", "risk.kill_switch_enabled=false"],
}


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:12]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("runs/fp3"))
    ap.add_argument("--days", type=int, default=3)
    args = ap.parse_args()
    if not (args.data / "dataset.json").exists():
        subprocess.run([sys.executable, "-m", "amm500", "data", "generate", "--days", str(args.days), "--seed", "7",
                        "--out", str(args.data)], check=True)

    from amm500.backtest.runner import run_backtest
    from amm500.config import load_config

    for name, sets in CONFIGURATIONS.items():
        config = load_config(SEED_TOML, sets)
        r = run_backtest(config, args.data, days=args.days)
        print(f"{name:12s} fills={len(r.fills_ts):7d} events={r.metrics.get('events')}"
              f" fills#{_digest(r.fills_ts, r.fills)} rec#{_digest(r.rec_ts, r.rec)}"
              f" stats#{_digest(r.stats)} acct#{_digest(np.round(r.acct, 6))}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
