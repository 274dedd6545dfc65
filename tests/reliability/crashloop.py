"""SIGKILL ``amm500 live`` at random moments, restart it, and compare its journal with the exchange's fills.

Shared by tests/reliability/test_crashes.py (a few kills) and bench/soak.py (50 in a row). The exchange
should delay every HTTP request (``latency_ms``), so that a kill often lands mid-batch or between an action
and its answer.
"""

from __future__ import annotations

import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from amm500.exchange_sim.server import RunningExchange
from amm500.obs.heartbeat import read_heartbeat
from amm500.store import state_dir as sd
from amm500.store.journal import reader
from reliability.procs import bot, fill_tids, open_orders, position, stop, wait_trading


@dataclass
class CrashFigures:
    kills: int = 0
    not_adopted: int = 0  # restarts whose first trading heartbeat showed another position than the exchange's
    missing_at_restart: int = 0  # fills made before a kill, not in the journal once the next bot trades
    lost_fills: int = 0  # on the exchange, not in the journal
    duplicated_fills: int = 0  # journal rows beyond the exchange's fills
    fills: int = 0
    resting_at_end: int = 0
    final_exit: int | None = None
    start_s: list[float] = field(default_factory=list)  # process start -> trading (reconciled)

    def line(self) -> str:
        s = sorted(self.start_s)
        p50 = s[len(s) // 2] if s else float("nan")
        return (f"kills={self.kills} fills={self.fills} lost_fills={self.lost_fills} "
                f"missing_at_restart={self.missing_at_restart} "
                f"duplicated_fills={self.duplicated_fills} not_adopted={self.not_adopted} "
                f"resting_at_end={self.resting_at_end} final_exit={self.final_exit} "
                f"restart_to_trading_p50={p50:.2f}s max={max(s) if s else float('nan'):.2f}s")


def crash_loop(sim: RunningExchange, folder: Path, kills: int, seed: int = 20261207,
               log: Path | None = None) -> CrashFigures:
    rng = random.Random(seed)
    figs = CrashFigures()
    before: set[int] = set()  # the exchange's fills when the last bot was killed
    for _ in range(kills):
        t0 = time.monotonic()
        proc = bot(sim.base_url, folder, 600, out=log)
        try:
            wait_trading(folder, pid=proc.pid, proc=proc)
            figs.start_s.append(time.monotonic() - t0)
            hb = read_heartbeat(folder / sd.HEARTBEAT)
            if hb is None or abs((hb.position or 0.0) - position(sim)) > 1e-9:
                figs.not_adopted += 1
            time.sleep(0.5)  # the journal's writer thread
            figs.missing_at_restart += len(before - _journal_tids(folder))
            time.sleep(rng.uniform(0.2, 4.0))
        finally:
            stop(proc, signal.SIGKILL)
        before = set(fill_tids(sim))
        figs.kills += 1
    last = bot(sim.base_url, folder, 3, out=log)
    try:
        figs.final_exit = last.wait(180)
    finally:
        stop(last, signal.SIGKILL)
    on_exchange = fill_tids(sim)
    with reader(folder / sd.JOURNAL) as conn:
        journal = [r[0] for r in conn.execute("SELECT tid FROM fills")]
    figs.missing_at_restart += len(before - set(journal))
    figs.fills = len(on_exchange)
    figs.lost_fills = len(set(on_exchange) - set(journal))
    figs.duplicated_fills = len(journal) - len(set(journal)) + len(set(journal) - set(on_exchange))
    figs.resting_at_end = len(open_orders(sim))
    return figs


def _journal_tids(folder: Path) -> set[int]:
    with reader(folder / sd.JOURNAL) as conn:
        return {r[0] for r in conn.execute("SELECT tid FROM fills")}
