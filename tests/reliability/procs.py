"""Real ``amm500 live`` processes against a local exchange in this process (a thread), each stopped by its pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from amm500.exchange_sim.server import RunningExchange
from amm500.obs.heartbeat import read_heartbeat
from amm500.store import state_dir as sd
from reliability.harness import ADDR, KEY, LEVELS
from supervisor_helpers import env

BOT_SETTINGS = ["--set", f"trading.order_levels={LEVELS}", "--set", "backtest.initial_equity=1000",
                "--set", "risk.kill_switch_enabled=false", "--metrics-port", "-1"]


def bot(url: str, folder: Path, seconds: float, *extra: str, preexec: Callable[[], Any] | None = None,
        out: Path | None = None) -> subprocess.Popen[str]:
    """``amm500 live`` on the local exchange at ``url`` (its stdout and stderr to ``out``, else discarded)."""
    args = [sys.executable, "-m", "amm500", "live", "--network", url, "--state-dir", str(folder), "--duration",
            str(seconds), *BOT_SETTINGS, *extra]
    sink = out.open("a") if out is not None else subprocess.DEVNULL
    try:
        return subprocess.Popen(args, env=env(AMM500_PRIVATE_KEY=KEY), stdout=sink, stderr=subprocess.STDOUT,
                                text=True, preexec_fn=preexec)
    finally:
        if out is not None:
            sink.close()  # type: ignore[union-attr]


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)


def wait_trading(folder: Path, pid: int | None = None, timeout: float = 180.0,
                 proc: subprocess.Popen[str] | None = None) -> None:
    """Until the bot's heartbeat (``pid``'s, when given) says it is past reconciliation."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hb = read_heartbeat(folder / sd.HEARTBEAT)
        if hb is not None and (pid is None or hb.pid == pid) and hb.state in ("ACTIVE", "REDUCING", "HALTED"):
            return
        assert proc is None or proc.poll() is None, f"the bot exited with {proc.returncode} before trading"
        time.sleep(0.05)
    raise AssertionError("the bot did not start trading in time")


def info(sim: RunningExchange, body: dict[str, Any]) -> Any:
    """An /info read over HTTP (the exchange runs in another thread: never touch its state directly)."""
    return requests.post(f"{sim.base_url}/info", json=body, timeout=10).json()


def open_orders(sim: RunningExchange) -> list[dict[str, Any]]:
    return list(info(sim, {"type": "openOrders", "user": ADDR}))


def position(sim: RunningExchange) -> float:
    state = info(sim, {"type": "clearinghouseState", "user": ADDR})
    return sum(float(p["position"]["szi"]) for p in state["assetPositions"])


def until(what: str, fn: Callable[[], Any], timeout: float = 60.0, step: float = 0.02, hold: float = 0.0) -> float:
    """Seconds until ``fn()`` is truthy and stays so for ``hold`` seconds (a ladder between two requotes can be
    empty for an instant); the time is when that streak began. The timeout only keeps a broken test from hanging."""
    t0 = time.monotonic()
    since: float | None = None
    while True:
        now = time.monotonic()
        if fn():
            since = now if since is None else since
            if now - since >= hold:
                return since - t0
        else:
            since = None
        if now - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(step)


def fill_tids(sim: RunningExchange) -> list[int]:
    return [int(f["tid"]) for f in info(sim, {"type": "userFills", "user": ADDR})]
