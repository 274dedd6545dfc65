"""Load: the local exchange replays real Hyperliquid data at 10x, the real bot quotes on it; does it keep up?

The only real tick-level Hyperliquid data in ../shared/data/real is the 9-minute WebSocket capture of
2025-09-03 (446 20-level books, 1,497 trades): it is the busiest stretch there is, replayed with ``--loop``.
Both the exchange and the bot run as their own processes (``amm500 exchange-sim``, ``amm500 live``), as in
production, and are stopped by their pids. Figures: the bot's own tick-to-order and book-age windows (its
``/state``), its resident memory at the start and the end, and its CPU share.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amm500.obs.heartbeat import read_heartbeat
from amm500.store import state_dir as sd
from reliability.harness import ADDR
from reliability.procs import bot, stop, wait_trading
from supervisor_helpers import env

CAPTURE = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "hl_ws_capture" / "20250903"


@dataclass
class LoadFigures:
    seconds: float
    speed: float
    tick_to_order_p50_ms: float
    tick_to_order_p99_ms: float
    requotes: int
    book_age_p50_ms: float  # feed lag: exchange time of the book -> the bot has it
    book_age_p99_ms: float
    rss_start_mb: float
    rss_end_mb: float
    cpu_share: float  # the bot's CPU seconds / wall seconds
    fills: int
    exit_code: int | None

    def line(self) -> str:
        return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.__dict__.items())


def import_capture(out: Path) -> Path:
    """The capture as canonical events, as ``amm500 data import`` writes them (its loader and writer, in this
    process: two CLI start-ups cost more than the import), once per folder."""
    from amm500.data.loaders import load
    from amm500.data.loaders.dataset import write_import

    if (out / "dataset.json").exists():
        return out
    for name, source in (("orderbooks_BTC.csv", "l2-csv"), ("trades_BTC.csv", "trades-csv")):
        write_import(out, load(source, [CAPTURE / name]), [CAPTURE / name])
    return out


def exchange_process(data: Path, speed: float, log: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "amm500", "exchange-sim", "--port", "0", "--data", str(data),
                             "--speed", str(speed), "--loop", "--account", f"{ADDR}=1000"],
                            env=env(), stdout=subprocess.PIPE, stderr=log.open("a"), text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", proc.stdout.readline())
        if found:
            return proc, found.group(1)
    stop(proc)
    raise AssertionError("the local exchange did not start")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _state(folder: Path) -> dict[str, Any]:
    hb = read_heartbeat(folder / sd.HEARTBEAT)
    assert hb is not None and hb.metrics_url
    with urllib.request.urlopen(f"{hb.metrics_url}/state", timeout=10) as r:
        return dict(json.loads(r.read()))


def run_load(work: Path, seconds: float, speed: float = 10.0) -> LoadFigures:
    data = import_capture(work / "capture")
    ex, url = exchange_process(data, speed, work / "exchange.log")
    folder = work / "bot"
    try:
        proc = bot(url, folder, seconds + 600, "--metrics-port", "0", out=work / "bot.out")
        try:
            wait_trading(folder, proc=proc)
            time.sleep(min(5.0, seconds / 4))  # past the first requotes
            rss0, cpu0, t0 = _rss_mb(proc.pid), _cpu_s(proc.pid), time.monotonic()
            time.sleep(seconds)
            rss1, cpu1, t1 = _rss_mb(proc.pid), _cpu_s(proc.pid), time.monotonic()
            state = _state(folder)
            os.kill(proc.pid, signal.SIGTERM)
            code = proc.wait(60)
        finally:
            stop(proc, signal.SIGKILL)
    finally:
        stop(ex)
    lat = state["latency_ms"]
    t2o = lat.get("tick_to_order", {})
    age = lat.get("age.l2Book", {})
    return LoadFigures(seconds, speed, t2o.get("p50", float("nan")), t2o.get("p99", float("nan")),
                       int(t2o.get("count", 0)), age.get("p50", float("nan")), age.get("p99", float("nan")),
                       rss0, rss1, (cpu1 - cpu0) / (t1 - t0), int(state["stats"]["fills"]), code)
