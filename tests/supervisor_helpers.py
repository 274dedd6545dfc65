"""Running the real ``amm500 supervise`` process over tests/fake_bot.py, and stopping everything by pid."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from amm500.exchange_sim.server import RunningExchange
from amm500.venues.hyperliquid import messages as m
from amm500.venues.hyperliquid.client import HyperliquidClient
from amm500.venues.model import OrderSpec

ROOT = Path(__file__).resolve().parents[1]
FAKE_BOT = f"{sys.executable} {ROOT / 'tests' / 'fake_bot.py'}"
T = TypeVar("T")


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("AMM500_")}
    out["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + out.get("PYTHONPATH", "")
    out.update(extra)
    return out


def wait_for(what: str, fn: Callable[[], T | None], timeout_s: float = 60.0, step_s: float = 0.05) -> T:
    """Poll until ``fn`` returns something truthy; the timeout only keeps a broken test from hanging."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(step_s)


def starts(state_dir: Path) -> list[dict[str, Any]]:
    path = state_dir / "fake_bot.starts"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def stop_pid(pid: int, timeout_s: float = 15.0) -> None:
    """SIGTERM, then SIGKILL: one process, by its own pid."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def supervisor(state_dir: Path, mode: str, bot_args: list[str], extra_env: dict[str, str] | None = None,
               bot_cmd: str | None = FAKE_BOT) -> Iterator[subprocess.Popen[str]]:
    """``amm500 supervise`` as a real process; on exit it is stopped by its pid, and so is every bot it started."""
    cmd = [sys.executable, "-m", "amm500", "supervise", "--state-dir", str(state_dir)]
    if bot_cmd:
        cmd += ["--bot-cmd", bot_cmd]
    cmd += ["--", mode, *bot_args]
    log = open(state_dir.parent / f"{state_dir.name}.supervise.out", "a")  # noqa: SIM115
    proc = subprocess.Popen(cmd, env=env(**(extra_env or {})), stdout=log, stderr=subprocess.STDOUT, text=True,
                            cwd=ROOT)
    try:
        yield proc
    finally:
        stop_pid(proc.pid)
        proc.wait(10)
        log.close()
        for start in starts(state_dir):  # the supervisor stops its bot; make sure, by pid
            if alive(start["pid"]):
                stop_pid(start["pid"])


def supervise_output(state_dir: Path) -> str:
    path = state_dir.parent / f"{state_dir.name}.supervise.out"
    return path.read_text() if path.exists() else ""


# ---- the account on the local exchange --------------------------------------------------------------------


async def open_position_and_orders(sim: RunningExchange, key: str, size: float = 0.003,
                                   resting: int = 4) -> tuple[float, int]:
    """What a bot leaves behind: a long position (an IOC buy) and resting post-only orders both sides."""
    client = HyperliquidClient(sim.base_url, sim.ws_url, "BTC", private_key=key, use_ws_post=False, timeout_s=5.0)
    await client.rest.start()
    try:
        client.asset = m.parse_meta(await client.rest.meta())["BTC"]
        book = m.parse_l2book(await client.rest.l2_book("BTC")).book
        bid, ask = float(book[0, 0]), float(book[2, 0])
        grid = client.grid
        if size > 0:
            (st,) = await client.send("order", [OrderSpec(0, True, grid.price(ask * 1.01, True), size, "Ioc")])
            assert st.kind == "filled", st
        specs = []
        for i in range(resting // 2):
            specs.append(OrderSpec(0, True, grid.price(bid * (0.99 - 0.005 * i), False), 0.001, "Alo"))
            specs.append(OrderSpec(0, False, grid.price(ask * (1.01 + 0.005 * i), True), 0.001, "Alo"))
        for s in await client.send("order", specs):
            assert s.kind == "resting", s
        pos = await client.position()
        orders = await client.open_orders()
        return pos.szi, len(orders)
    finally:
        await client.close()


async def account(sim: RunningExchange, address: str) -> tuple[float, int]:
    """(position, open orders) as the exchange reports them over HTTP."""
    client = HyperliquidClient(sim.base_url, sim.ws_url, "BTC", account_address=address, timeout_s=5.0)
    await client.rest.start()
    try:
        pos = await client.position()
        return pos.szi, len(await client.open_orders())
    finally:
        await client.close()
