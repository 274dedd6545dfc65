"""SIGKILL the live bot at random moments and restart it: no fill lost or doubled, true position adopted.

Real processes: the local exchange (``amm500 exchange-sim``) and the bot (``amm500 live``) each run as
their own process on 127.0.0.1, and every one is stopped by its own PID. Every HTTP request to the
exchange is delayed 150 ms, so a kill at a random moment often lands between an action and its answer.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from eth_account import Account

from amm500.obs.heartbeat import read_heartbeat
from amm500.store import state_dir as sd
from amm500.store.journal import reader
from reliability.procs import stop

KEY = "0x" + "7c" * 32
ADDR = Account.from_key(KEY).address.lower()


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[str]:
    log = (tmp_path / "exchange.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "amm500", "exchange-sim", "--port", "0", "--random-walk",
                             "--seed", "4", "--account", f"{ADDR}=1000", "--faults", "latency_ms=150"],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert proc.stdout is not None
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
            url = found.group(1) if found else None
        assert url, "the local exchange did not start"
        yield url
    finally:
        stop(proc)


def _info(url: str, body: dict[str, object]) -> object:
    return requests.post(f"{url}/info", json=body, timeout=10).json()


def _bot(url: str, folder: Path, seconds: float) -> subprocess.Popen[str]:
    env = {**os.environ, "AMM500_PRIVATE_KEY": KEY}
    args = [sys.executable, "-m", "amm500", "live", "--network", url, "--state-dir", str(folder), "--duration",
            str(seconds), "--set", "trading.order_levels=3", "--set", "backtest.initial_equity=1000",
            "--set", "risk.kill_switch_enabled=false", "--set", "execution.use_ws_post=false"]
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)


def _wait_trading(proc: subprocess.Popen[str], folder: Path, timeout: float = 120.0) -> None:
    """Until this bot's heartbeat says it is past reconciliation (its pid, a trading state)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hb = read_heartbeat(folder / sd.HEARTBEAT)
        if hb is not None and hb.pid == proc.pid and hb.state in ("ACTIVE", "REDUCING", "HALTED"):
            return
        assert proc.poll() is None, f"the bot exited with {proc.returncode} before trading"
        time.sleep(0.1)
    raise AssertionError("the bot did not start trading in time")


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_and_doubles_no_fill(exchange: str, tmp_path: Path) -> None:
    folder = tmp_path / "bot"
    rng = random.Random(20261207)
    for _ in range(4):
        bot = _bot(exchange, folder, 600)
        try:
            _wait_trading(bot, folder)
            hb = read_heartbeat(folder / sd.HEARTBEAT)
            state = _info(exchange, {"type": "clearinghouseState", "user": ADDR})
            szi = sum(float(p["position"]["szi"]) for p in state["assetPositions"])  # type: ignore[index]
            assert hb is not None and hb.position == pytest.approx(szi, abs=1e-9)  # adopted before quoting
            time.sleep(rng.uniform(1.0, 4.0))
        finally:
            stop(bot, signal.SIGKILL)
    last = _bot(exchange, folder, 3)
    try:
        assert last.wait(120) == 0
    finally:
        stop(last, signal.SIGKILL)
    fills = _info(exchange, {"type": "userFills", "user": ADDR})
    with reader(folder / sd.JOURNAL) as conn:
        tids = [r[0] for r in conn.execute("SELECT tid FROM fills")]
        runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    assert runs == 5
    assert fills, "the bot should have traded on the random walk"
    assert sorted(tids) == sorted(int(f["tid"]) for f in fills)  # type: ignore[index]  # none lost, none doubled
    assert _info(exchange, {"type": "openOrders", "user": ADDR}) == []  # the clean stop left nothing resting
