"""The generated market against the real Hyperliquid captures, as a fixed-spread ladder meets them.

For each data directory: trades per hour and the trade-size distribution (straight from the events),
then a one-level fixed-spread ladder (tier 0, kill switch off, request budget on) at each width:
fills per hour and the size-weighted mark-outs of its fills at 1/10/60 s (bps, + = in our favour).
Prints a Markdown table (docs/data.md, "The generated market against the real one").

    PYTHONPATH=src .venv/bin/python scripts/generator_vs_real.py runs/edge/real_ws runs/edge/real_hft runs/edge/gen4
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from amm500.backtest.market import load_market
from amm500.backtest.runner import run_backtest
from amm500.config import load_config
from amm500.data.schema import TRADE


def tape_stats(root: Path, days: int) -> dict[str, float]:
    market = load_market(root, days)
    sizes, hours, n = [], 0.0, 0
    for _, ev in market.iter_days(days):
        t = ev.kind == TRADE
        sizes.append(np.asarray(ev.sz[t]))
        n += int(t.sum())
        if len(ev):
            hours += (int(ev.ts[-1]) - int(ev.ts[0])) / 3.6e12
    s = np.concatenate(sizes) if sizes else np.zeros(0)
    return {"hours": hours, "trades_per_hour": n / hours if hours else float("nan"),
            "size_median": float(np.median(s)) if s.size else float("nan"),
            "size_mean": float(s.mean()) if s.size else float("nan"),
            "size_p90": float(np.quantile(s, 0.9)) if s.size else float("nan")}


def ladder(root: Path, days: int, width: float) -> dict[str, float]:
    cfg = load_config(None, ["trading.strategy=fixed_spread", "trading.order_levels=1",
                             f"trading.min_spread_bps={width:g}", f"trading.max_spread_bps={max(width, 10.0):g}",
                             "risk.kill_switch_enabled=false"])
    m = run_backtest(cfg, root, days=days).metrics
    hours = (m["span_days"] or 0.0) * 24.0
    mk = {k: v["size_weighted_bps"] for k, v in m["markouts"].items()}
    return {"fills_per_hour": m["fills"] / hours if hours else float("nan"), "mk1": mk.get("1s"),
            "mk10": mk.get("10s"), "mk60": mk.get("60s"), "maker_ratio": m["maker_ratio"]}


def _f(v: float | None, nd: int = 2) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{v:,.{nd}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="+", type=Path)
    ap.add_argument("--days", type=int, default=1, help="days of each dataset (default 1)")
    ap.add_argument("--width", type=float, action="append", help="full spread, bps (default 1 2 4 8)")
    args = ap.parse_args()
    widths = args.width or [1.0, 2.0, 4.0, 8.0]
    print("| data | hours | trades/h | size median | size mean | size p90 |")
    print("|---|---|---|---|---|---|")
    for root in args.data:
        t = tape_stats(root, args.days)
        print(f"| {root.name} | {_f(t['hours'])} | {_f(t['trades_per_hour'], 0)} | {_f(t['size_median'], 5)} |"
              f" {_f(t['size_mean'], 5)} | {_f(t['size_p90'], 5)} |")
    print()
    print("| data | width bps | fills/h | maker ratio | mark-out 1 s | 10 s | 60 s |")
    print("|---|---|---|---|---|---|---|")
    for root in args.data:
        for w in widths:
            r = ladder(root, args.days, w)
            print(f"| {root.name} | {w:g} | {_f(r['fills_per_hour'], 1)} | {_f(r['maker_ratio'])} | {_f(r['mk1'])} |"
                  f" {_f(r['mk10'])} | {_f(r['mk60'])} |")


if __name__ == "__main__":
    main()
