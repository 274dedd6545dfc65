"""Ablation of the market-making strategy: each mechanism off in turn, on one market.

Every row is the literal ``amm500 backtest`` command printed beside it (run here as a subprocess), so
each figure in docs/strategy.md can be reproduced one row at a time without this script.

    .venv/bin/python scripts/strategy_ablation.py --data runs/m30 --out runs/ablation [--jobs 2] [--days N]

Prints a Markdown table (and writes ``table.md`` plus one JSON per row under ``--out``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

KILL_OFF = "risk.kill_switch_enabled=false"
ROWS: list[tuple[str, list[str]]] = [
    ("all_on", []),
    ("kill_off", [KILL_OFF]),
    ("vol_adaptive_off", [KILL_OFF, "trading.vol_adaptive_enabled=false"]),
    ("inventory_skew_off", [KILL_OFF, "trading.inventory_skew_enabled=false"]),
    ("imbalance_skew_off", [KILL_OFF, "trading.imbalance_skew_enabled=false"]),
    ("funding_arb_off", [KILL_OFF, "risk.funding_arb_enabled=false"]),
    ("delta_rebalance_off", [KILL_OFF, "risk.delta_rebalance_enabled=false"]),
    ("position_timeout_off", [KILL_OFF, "risk.position_timeout_enabled=false"]),
    ("taker_check_off", [KILL_OFF, "risk.taker_check_enabled=false"]),
    ("adverse_selection_off", [KILL_OFF, "risk.adverse_selection_enabled=false"]),
    ("fixed_spread_reference", [KILL_OFF, "trading.strategy=fixed_spread"]),
]


def command(data: Path, out: Path, name: str, sets: list[str], days: int | None) -> list[str]:
    cmd = ["amm500", "backtest", "--data", str(data), "-q", "--json", str(out / f"{name}.json")]
    if days:
        cmd += ["--days", str(days)]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def run_row(data: Path, out: Path, name: str, sets: list[str], days: int | None) -> dict[str, Any]:
    cmd = command(data, out, name, sets, days)
    exe = Path(sys.executable).with_name("amm500")
    proc = subprocess.run([str(exe), *cmd[1:]], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{name}: {shlex.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    metrics: dict[str, Any] = json.loads((out / f"{name}.json").read_text())
    return metrics


def _f(v: Any, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def row_cells(name: str, m: dict[str, Any]) -> list[str]:
    mk = m.get("markouts", {})
    marks = " / ".join(_f(mk.get(h, {}).get("mean_bps"), "+.2f") for h in ("1s", "10s", "60s"))
    notional = m.get("notional_usd") or 0.0
    net_bps = m["net_pnl"] / notional * 1e4 if notional else None
    killed = m.get("kill_reason") if m.get("kill_reason") not in (None, "none") else "no"
    return [
        name, _f(m.get("sharpe"), ".2f"), _f(m.get("return", 0) * 100, ".2f") + "%",
        _f(m.get("annual_roi", 0) * 100, ".0f") + "%", _f(m.get("max_drawdown", 0) * 100, ".2f") + "%",
        _f(m.get("trades_per_day"), ".0f"), _f(m.get("maker_ratio"), ".3f"), _f(net_bps, ".2f"),
        f"{m['spread_capture']:.0f} / {m['inventory_pnl']:.0f} / {m['fees']:.0f}", marks,
        _f(m.get("avg_quoted_spread_bps"), ".2f"), str(killed),
    ]


HEADER = ["row", "Sharpe (daily)", "return", "annual ROI", "max DD", "trades/day", "maker ratio",
          "net PnL / notional (bps)", "spread capture / inventory / fees (USD)", "mark-out 1s / 10s / 60s (bps)",
          "avg quoted spread (bps)", "kill switch"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--days", type=int, default=None)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", nargs="*", help="row names to run (default: all)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = [r for r in ROWS if not args.only or r[0] in args.only]
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {name: pool.submit(run_row, args.data, args.out, name, sets, args.days) for name, sets in rows}
        results = {name: f.result() for name, f in futures.items()}
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row_cells(name, results[name])) + " |" for name, _ in rows]
    lines += ["", "| row | command |", "|---|---|"]
    for name, sets in rows:
        lines.append(f"| {name} | `{shlex.join(command(args.data, args.out, name, sets, args.days))}` |")
    table = "\n".join(lines)
    (args.out / "table.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
