"""The supervisor as a real process over a real child bot (tests/fake_bot.py, the docs/engine.md contract):
crash loops, hangs, exit codes, locks, systemd notify, and the kill procedure on the local exchange.

Every process is stopped by its own pid (supervisor_helpers.supervisor / stop_pid). Timeouts in
wait_for only keep a broken test from hanging; nothing here asserts on how fast something happened.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eth_account import Account

from amm500.exchange_sim.server import exchange_thread
from amm500.obs.heartbeat import read_heartbeat
from amm500.store.state_dir import BOT_LOCK, HEARTBEAT, KILL_LATCH, acquire_lock
from amm500.supervisor.kill import read_latch
from supervisor_helpers import (
    account,
    alive,
    env,
    open_position_and_orders,
    starts,
    supervise_output,
    supervisor,
    wait_for,
)

KEY = "0x" + "4d" * 32
ADDR = Account.from_key(KEY).address.lower()
FAST = ["-s", "supervisor.poll_interval_s=0.05", "-s", "supervisor.restart_backoff_s=0.05"]


def live_args(base_url: str) -> list[str]:
    return ["-s", "network.network=custom", "-s", f"network.api_url={base_url}", "-s", "supervisor.wallet_poll_s=0.5"]


def test_crash_loop_hits_the_restart_limit_and_the_kill_flattens_the_account(tmp_path: Path) -> None:
    state = tmp_path / "live"
    with exchange_thread({ADDR: 10_000.0}) as sim:
        pos, orders = asyncio.run(open_position_and_orders(sim, KEY))
        assert pos > 0 and orders == 4
        args = ["--crash-after", "0.2", "--times", "3", *FAST, "-s", "supervisor.max_restarts_per_hour=2",
                *live_args(sim.base_url)]
        with supervisor(state, "live", args, {"AMM500_PRIVATE_KEY": KEY}) as proc:
            latch = wait_for("the kill latch", lambda: (read_latch(state) if (state / KILL_LATCH).exists()
                                                        and read_latch(state).report else None))  # type: ignore[union-attr]
            assert "restart limit" in latch.reason
            runs = starts(state)
            assert len(runs) == 3, runs  # the first start and 2 restarts, then the limit
            assert {r["mode"] for r in runs} == {"live"}
            assert all(r["argv"] == runs[0]["argv"] for r in runs), "a restart must run the same arguments"
            report = latch.report
            assert report["flat"] and report["iocs"] >= 1, report
            # the first crash already cancelled what the bot left resting; the kill flattened the rest
            assert "cancelled 4 order(s) the stopped bot left resting" in supervise_output(state)
            assert asyncio.run(account(sim, ADDR)) == (0.0, 0), "the exchange still shows a position or orders"
            print(f"\nrestart limit -> kill: trigger to verified flat {report['seconds']:.3f} s "
                  f"({report['cancelled']} cancelled, {report['iocs']} IOC)")
            assert proc.poll() is None, "a latched supervisor keeps running (and pinging systemd)"
            assert not any(alive(r["pid"]) for r in runs)

            # latched: nothing restarts until a person resets; then the 4th (healthy) start runs
            out = subprocess.run([sys.executable, "-m", "amm500", "supervise", "--state-dir", str(state), "reset"],
                                 env=env(), capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            fourth = wait_for("the bot after the reset", lambda: starts(state)[3] if len(starts(state)) > 3 else None)
            beat = wait_for("its heartbeat", lambda: (b if (b := read_heartbeat(state / HEARTBEAT))
                                                      and b.pid == fourth["pid"] else None))
            assert beat.mode == "live" and fourth["argv"] == runs[0]["argv"]
            assert not (state / KILL_LATCH).exists()
    assert "kill" in supervise_output(state).lower()


def test_a_crashed_live_bots_orders_are_cancelled_before_the_restart(tmp_path: Path) -> None:
    """No dead-man's switch below $1M of volume: the supervisor pulls the dead bot's quotes itself at once,
    leaves the position to the restarted bot, and latches nothing."""
    state = tmp_path / "live"
    with exchange_thread({ADDR: 10_000.0}) as sim:
        pos, _ = asyncio.run(open_position_and_orders(sim, KEY))
        args = ["--crash-after", "0.2", "--times", "1", *FAST, "-s", "supervisor.restart_backoff_s=2",
                *live_args(sim.base_url)]
        with supervisor(state, "live", args, {"AMM500_PRIVATE_KEY": KEY}):
            wait_for("the orders cancelled", lambda: asyncio.run(account(sim, ADDR)) == (pos, 0))
            wait_for("the restart", lambda: len(starts(state)) == 2)
            assert read_latch(state) is None and asyncio.run(account(sim, ADDR)) == (pos, 0)


def test_a_hung_bot_is_killed_and_restarted(tmp_path: Path) -> None:
    state = tmp_path / "paper"
    args = ["--hang-after", "0.5", "--times", "1", *FAST, "-s", "supervisor.heartbeat_timeout_s=1.5"]
    with supervisor(state, "paper", args):
        second = wait_for("a restart", lambda: starts(state)[1] if len(starts(state)) > 1 else None)
        first = starts(state)[0]
        assert not alive(first["pid"]), "the hung bot must be killed"
        beat = wait_for("the new bot's heartbeat",
                        lambda: (b if (b := read_heartbeat(state / HEARTBEAT)) and b.pid == second["pid"] else None))
        assert beat.mode == "paper" and second["mode"] == "paper" and second["argv"] == first["argv"]
        assert alive(second["pid"])
    assert "hung" in supervise_output(state)


def test_exit_4_is_never_restarted_blindly(tmp_path: Path) -> None:
    state = tmp_path / "paper"
    with supervisor(state, "paper", ["--crash-after", "0.2", "--code", "4", *FAST]) as proc:
        latch = wait_for("the latch", lambda: read_latch(state))
        assert "exit 4" in latch.reason
        time.sleep(1.0)  # many poll intervals: still one start
        assert len(starts(state)) == 1
        assert proc.poll() is None


@pytest.mark.parametrize(("code", "expected"), [(0, 0), (2, 2)])
def test_stopped_as_asked_and_refused_to_start_end_the_supervisor(tmp_path: Path, code: int, expected: int) -> None:
    state = tmp_path / "paper"
    with supervisor(state, "paper", ["--crash-after", "0.2", "--code", str(code), *FAST]) as proc:
        assert proc.wait(60) == expected
        assert len(starts(state)) == 1


def test_one_supervisor_per_folder_and_none_over_a_running_bot(tmp_path: Path) -> None:
    state = tmp_path / "paper"
    with supervisor(state, "paper", FAST):
        wait_for("the bot", lambda: read_heartbeat(state / HEARTBEAT))
        with supervisor(state, "paper", FAST) as second:
            assert second.wait(60) == 2
    other = tmp_path / "other"
    fd = acquire_lock(other / BOT_LOCK)  # a bot started by hand holds the folder
    try:
        with supervisor(other, "paper", FAST) as proc:
            assert proc.wait(60) == 2
        assert starts(other) == []
    finally:
        os.close(fd)


def test_a_sigkilled_supervisor_takes_its_bot_down(tmp_path: Path) -> None:
    """PDEATHSIG: the bot gets SIGTERM (a clean stop) when its supervisor dies, never trades unwatched."""
    state = tmp_path / "paper"
    with supervisor(state, "paper", FAST) as proc:
        bot = wait_for("the bot", lambda: starts(state)[0] if starts(state) else None)
        os.kill(proc.pid, 9)
        proc.wait(10)
        wait_for("the orphan to stop", lambda: not alive(bot["pid"]))


def test_systemd_notify_ready_watchdog_stopping(tmp_path: Path) -> None:
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(30)
    state = tmp_path / "paper"
    got: list[str] = []
    try:
        with supervisor(state, "paper", FAST, {"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "200000"}):
            while not (any(g.startswith("READY=1") for g in got) and got.count("WATCHDOG=1") >= 3):
                got.append(sock.recv(4096).decode())
            bot = starts(state)[0]
            environ = Path(f"/proc/{bot['pid']}/environ").read_bytes().split(b"\0")
            assert not any(e.startswith(b"NOTIFY_SOCKET=") for e in environ), "the bot must not talk to systemd"
        sock.settimeout(0.5)
        while True:
            try:
                got.append(sock.recv(4096).decode())
            except TimeoutError:
                break
        assert "STOPPING=1" in got
    finally:
        sock.close()
    print("\nnotify messages:", json.dumps(got[:4]), "...")


def test_the_systemd_unit_matches_the_supervisor() -> None:
    """deploy/systemd/amm500-supervise.service: notify type, a watchdog the loop can feed, a stop timeout
    longer than the supervisor's own SIGTERM grace for the bot, no restart on exit 2."""
    from amm500.config import SupervisorConfig

    unit = Path(__file__).resolve().parents[1] / "deploy" / "systemd" / "amm500-supervise.service"
    keys: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            k, v = line.split("=", 1)
            keys.setdefault(k.strip(), []).append(v.strip())
    sup = SupervisorConfig()
    assert keys["Type"] == ["notify"] and keys["NotifyAccess"] == ["main"]
    assert float(keys["WatchdogSec"][0]) / 2 > 10 * sup.poll_interval_s
    assert float(keys["TimeoutStopSec"][0]) > sup.stop_grace_s
    assert keys["KillMode"] == ["mixed"] and keys["RestartPreventExitStatus"] == ["2"]
    assert " supervise -- paper " in keys["ExecStart"][0]
    assert "AMM500_HOME=/var/lib/amm500" in keys["Environment"]


def test_restart_limit_and_backoff_in_a_rolling_hour(tmp_path: Path) -> None:
    """ProcessManager's schedule alone, on a clock the test moves (no process is started)."""
    from amm500.config import SupervisorConfig
    from amm500.supervisor.process import ProcessManager

    now = [1000.0]
    cfg = SupervisorConfig(max_restarts_per_hour=3, restart_backoff_s=2.0, restart_backoff_max_s=5.0)
    pm = ProcessManager(["true"], tmp_path, cfg, clock=lambda: now[0])
    dues = []
    for _ in range(3):
        assert pm.restart_bot("crash")
        assert pm.start_due is not None
        dues.append(pm.start_due - now[0])
        now[0] += 60.0
    assert dues == [2.0, 4.0, 5.0]  # doubling, capped
    assert not pm.restart_bot("crash")  # the 4th within the hour
    now[0] = 1000.0 + 3600.0  # the first restart leaves the window
    assert pm.restart_bot("crash")
    assert not pm.restart_bot("crash")


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    """``systemd-analyze verify`` where systemd is installed: the only complaint allowed is the venv's
    absent executable (the unit names /opt/amm500, which does not exist here)."""
    import shutil

    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / "amm500-supervise.service"
    unit.write_text((Path(__file__).resolve().parents[1] / "deploy" / "systemd" / unit.name).read_text())
    out = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=120)
    problems = [line for line in (out.stdout + out.stderr).splitlines()
                if line.strip() and "/opt/amm500/.venv/bin/amm500 is not executable" not in line]
    assert problems == []
