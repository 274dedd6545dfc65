"""The trading engine's own costs, measured through the engine in one run on this machine.

The engine trades (paper mode: the order path ends at the in-process matching, so the figures are the
engine's, not the network's; ``--live`` runs it signed against the local exchange over HTTP/WS on
127.0.0.1 instead) against the local exchange's random-walk market for ``--seconds`` and reports:

* tick-to-order: the quote timer firing -> the first order request handed to the venue (p50/p99);
* the risk check: the trading-state check plus the gate over each plan (p50/p99);
* the whole quote timer: view, strategy kernel, rule book, plan, send (p50/p99);
* quote-refresh jitter: how late each quote timer fired against its schedule (p50/p99);
* the journal: what a record call costs the hot path (an enqueue) against committing the same row
  directly to SQLite, so "a tick never waits on disk" is a measurement, not a claim.

Each figure is printed beside the same work's baseline in this run where one exists (a journal call
against a direct SQLite insert of the same row).

    .venv/bin/python bench/bench_engine_latency.py --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def q(samples: list[float]) -> str:
    if not samples:
        return "-"
    a = np.asarray(samples) * 1e3
    return f"p50 {np.percentile(a, 50):.3f} ms, p99 {np.percentile(a, 99):.3f} ms (n={a.size})"


async def run(seconds: float, live: bool, folder: Path) -> dict[str, list[float]]:
    import os

    from eth_account import Account

    from amm500.config import load_config
    from amm500.core import api
    from amm500.exchange_sim.market import RandomWalkFeed
    from amm500.exchange_sim.server import run_exchange
    from amm500.runs.session import trading_session

    key = "0x" + "42" * 32
    addr = Account.from_key(key).address.lower()
    if live:
        os.environ["AMM500_PRIVATE_KEY"] = key
    cfg = load_config(overrides={"risk": {"kill_switch_enabled": False}})
    out: dict[str, list[float]] = {k: [] for k in ("t2o", "risk", "timer", "jitter", "enqueue")}
    feed = RandomWalkFeed(seed=1, vol_bps_per_s=3.0, trades_per_s=5.0, snapshot_s=0.1)
    async with (run_exchange({addr: 1000.0}, feed=feed, block_s=0.02, book_push_s=0.1) as sim,
                trading_session(cfg, "live" if live else "paper", network=sim.base_url, state_dir=folder) as s):
        eng, loop = s.engine, s.loop
        om, journal = loop.om, eng.journal
        interval = cfg.execution.quote_refresh_interval

        orig_timer, orig_check, orig_filter = loop.on_timer, loop.check_state, om.gate.filter
        last_quote: list[float] = []

        async def on_timer(timer: int) -> Any:
            t0 = time.perf_counter()
            if timer == api.TIMER_QUOTE:
                if last_quote:
                    out["jitter"].append(max(0.0, t0 - last_quote[0] - interval))
                last_quote[:] = [t0]
            plan = await orig_timer(timer)
            if timer == api.TIMER_QUOTE:
                out["timer"].append(time.perf_counter() - t0)
            return plan

        def timed(name: str, fn: Any) -> Any:
            def wrapper(*a: Any, **k: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return fn(*a, **k)
                finally:
                    out[name].append(time.perf_counter() - t0)
            return wrapper

        loop.on_timer = on_timer  # type: ignore[method-assign]
        loop.check_state = timed("risk", orig_check)  # type: ignore[method-assign]
        om.gate.filter = timed("risk", orig_filter)  # type: ignore[method-assign]
        for name in ("record_order", "record_order_status", "record_fill", "record_equity"):
            setattr(journal, name, timed("enqueue", getattr(journal, name)))
        await eng.run(seconds)
        win = eng.venue.latency.windows.get("tick_to_order")
        if win is not None:
            out["t2o"] = list(np.asarray(win.quantiles((0.5, 0.99))))  # only quantiles are kept
    return out


def sqlite_insert_cost(folder: Path, n: int = 2000) -> list[float]:
    """The baseline: the same order row inserted and committed directly, as a tick would pay without the writer."""
    conn = sqlite3.connect(folder / "direct.sqlite")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE t (a TEXT, b INTEGER, c REAL, d REAL)")
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        with conn:
            conn.execute("INSERT INTO t VALUES (?,?,?,?)", (f"0x{i:032x}", i, 1.0, 2.0))
        out.append(time.perf_counter() - t0)
    conn.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--live", action="store_true", help="signed orders to the local exchange instead of paper")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        r = asyncio.run(run(args.seconds, args.live, Path(tmp) / "bot"))
        direct = sqlite_insert_cost(Path(tmp))
    mode = "live (local exchange, signed)" if args.live else "paper"
    print(f"engine latency, {mode}, {args.seconds:g} s of quoting")
    if r["t2o"]:
        print(f"tick-to-order (timer -> request at the venue): p50 {r['t2o'][0] * 1e3:.3f} ms, "
              f"p99 {r['t2o'][1] * 1e3:.3f} ms")
    print(f"whole quote timer:                 {q(r['timer'])}")
    print(f"risk check (state + gate):         {q(r['risk'])}")
    print(f"quote-refresh jitter (late by):    {q(r['jitter'])}")
    enq, dis = np.median(r["enqueue"]) if r["enqueue"] else float("nan"), np.median(direct)
    print(f"journal call on the hot path:      {q(r['enqueue'])}")
    print(f"same row committed directly:       {q(direct)}")
    print(f"hot path saved by the writer thread: x{dis / enq:.0f} at the median")


if __name__ == "__main__":
    main()
