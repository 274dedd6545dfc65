"""Parity: the backtester and the live engine on the same data, side by side.

For each data set — the first ``--minutes`` of a generated BTC day, and the real Hyperliquid WebSocket
capture in ``../shared/data/real/hl_ws_capture/20250903`` (9 minutes) — this runs:

1. the backtester (queue-aware tick engine) on exactly that data, with order/cancel/response latency
   and feed latency set to what the loopback engine measures (a few ms), and
2. the trading engine (``amm500`` live engine in ``rehearsal`` mode) against the local exchange
   replaying the same data at 1x over real HTTP and WebSocket on 127.0.0.1, for the data's span, and
3. (``--paper``) the engine in ``paper`` mode on the same replay: the exchange only publishes the
   market, fills are simulated in process,

then prints fills, maker ratio, volume, fees and PnL of each. Real time: about ``minutes`` per data set
and mode. The settings are the default strategy with the kill switch off (so both run the whole span):

    .venv/bin/python bench/parity.py --minutes 10 --paper

The rows are printed as a Markdown table for docs/parity.md.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parents[1]
CAPTURE = HERE.parent / "shared" / "data" / "real" / "hl_ws_capture" / "20250903"
SETS = ["risk.kill_switch_enabled=false", "backtest.order_latency_ms=3", "backtest.cancel_latency_ms=3",
        "backtest.response_latency_ms=3", "backtest.feed_latency_ms=5"]


def generated(root: Path, minutes: float, seed: int) -> Path:
    from amm500.data.schema import make_events
    from amm500.data.store import event_days, read_dataset_meta, read_events_file, write_dataset_meta, write_events
    from amm500.data.synthetic import generate_market

    day = root / "gen-day"
    generate_market(day, days=1, seed=seed, progress=False)
    (_, path), = event_days(day)
    ev = read_events_file(path)
    keep = ev.ts < ev.ts[0] + int(minutes * 60e9)
    cut = make_events(*(np.asarray(c)[keep] for c in ev))
    out = root / "generated"
    write_events(out, cut)
    meta = {k: v for k, v in read_dataset_meta(day).items() if k not in ("format", "version")}
    write_dataset_meta(out, **meta)
    return out


def captured(root: Path) -> Path:
    out = root / "hl-capture"
    for source, name in (("l2-csv", "orderbooks_BTC.csv"), ("trades-csv", "trades_BTC.csv")):
        subprocess.run([sys.executable, "-m", "amm500", "data", "import", "--source", source, str(CAPTURE / name),
                        "--out", str(out)], check=True, capture_output=True)
    return out


def span_s(data: Path) -> float:
    from amm500.data.store import event_days, read_events_file

    ts = np.concatenate([read_events_file(p).ts for _, p in event_days(data)])
    return float(ts[-1] - ts[0]) / 1e9


def backtest(data: Path, phases: int) -> dict[str, Any]:
    """The backtest at the live engine's timer convention, and its spread over ``phases`` timer phases
    (a live engine starts its timers at whatever instant it connects: any phase is as likely)."""
    from amm500.backtest.phases import run_phases
    from amm500.config import load_config

    run = run_phases(load_config(overrides=SETS), data, phases)
    m = run.results[0].metrics
    out = {"fills": m["fills"], "maker_ratio": m["maker_ratio"], "volume_usd": m["notional_usd"],
           "fees": m["fees"], "net_pnl": m["net_pnl"]}
    if phases > 1:
        out["phase_fills"] = [run.spread["fills"][k] for k in ("min", "median", "max")]
        out["phase_pnl"] = [run.spread["net_pnl"][k] for k in ("min", "median", "max")]
    return out


async def engine(data: Path, seconds: float, mode: str, folder: Path, book_push_s: float) -> dict[str, Any]:
    from eth_account import Account

    from amm500.config import load_config
    from amm500.exchange_sim.server import run_exchange
    from amm500.runs.session import trading_session

    cfg = load_config(overrides=SETS)
    if mode == "rehearsal":
        async with trading_session(cfg, "rehearsal", market=data, state_dir=folder) as s:
            st = (await s.engine.run(seconds)).stats
    else:
        nobody = Account.create().address.lower()
        async with (run_exchange({nobody: 1.0}, data=data, book_push_s=book_push_s) as sim,
                    trading_session(cfg, "paper", network=sim.base_url, state_dir=folder) as s):
            st = (await s.engine.run(seconds)).stats
    return {"fills": st.fills, "maker_ratio": st.maker_ratio if st.fills else float("nan"),
            "volume_usd": st.volume_usd, "fees": st.fees, "net_pnl": st.pnl}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="minutes of the generated day")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--paper", action="store_true", help="also run paper mode on each replay")
    ap.add_argument("--modes", default=None, help="engine modes to run, comma-separated (rehearsal,paper)")
    ap.add_argument("--book-push-s", type=float, default=0.5,
                    help="seconds between the local exchange's l2Book pushes in paper mode (Hyperliquid: 0.5)")
    ap.add_argument("--skip-real", action="store_true", help="only the generated data set")
    ap.add_argument("--phases", type=int, default=10, help="timer phases of the backtest (its spread is printed)")
    ap.add_argument("--backtest-only", action="store_true", help="skip the engine runs (minutes of real time)")
    args = ap.parse_args()
    rows: list[tuple[str, str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sets = [("generated", generated(root, args.minutes, args.seed))]
        if not args.skip_real:
            sets.append(("hl capture", captured(root)))
        for name, data in sets:
            secs = span_s(data)
            t0 = time.perf_counter()
            rows.append((name, "backtest", backtest(data, args.phases)))
            print(f"{name}: backtest done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
            modes = ("rehearsal", "paper") if args.paper else ("rehearsal",)
            if args.modes:
                modes = tuple(x.strip() for x in args.modes.split(",") if x.strip())
            for mode in () if args.backtest_only else modes:
                result = asyncio.run(engine(data, secs, mode, root / f"{name}-{mode}", args.book_push_s))
                rows.append((name, f"engine ({mode})", result))
                print(f"{name}: {mode} done ({secs:.0f} s of market)", file=sys.stderr)
                shutil.rmtree(root / f"{name}-{mode}", ignore_errors=True)
    print("| data | driver | fills | maker ratio | volume (USD) | fees (USD) | net PnL (USD) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, driver, r in rows:
        print(f"| {name} | {driver} | {r['fills']} | {r['maker_ratio']:.0%} | {r['volume_usd']:,.0f} | "
              f"{r['fees']:.2f} | {r['net_pnl']:+.2f} |")
    for name, driver, r in rows:
        if "phase_fills" in r:
            f, p = r["phase_fills"], r["phase_pnl"]
            print(f"{name}, {driver} over {args.phases} timer phases: fills {f[0]:.0f} / {f[1]:.0f} / {f[2]:.0f}, "
                  f"net PnL {p[0]:+.2f} / {p[1]:+.2f} / {p[2]:+.2f} (min / median / max)")


if __name__ == "__main__":
    main()
