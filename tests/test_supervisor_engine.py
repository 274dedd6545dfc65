"""The real engine (``amm500 paper`` / ``amm500 live``) under the real ``amm500 supervise`` on a local exchange.

Paper: SIGKILL the bot, and the bot the supervisor brings back is a paper bot again, with the same
arguments; meanwhile the supervisor watches the paper account through the journal.
Live: SIGKILL the quoting bot (its orders stay on the exchange), leave it a position, drop the
equity: the supervisor alone cancels and flattens, measured from the trigger to flat."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

from eth_account import Account

from amm500.exchange_sim.server import exchange_thread
from amm500.obs.heartbeat import read_heartbeat
from amm500.store.state_dir import HEARTBEAT, SUPERVISOR_STATE
from amm500.supervisor.kill import read_latch
from supervisor_helpers import account, alive, open_position_and_orders, supervisor, wait_for

KEY = "0x" + "7a" * 32
ADDR = Account.from_key(KEY).address.lower()


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def test_a_paper_bot_restarted_by_the_supervisor_comes_back_in_paper_mode(tmp_path: Path) -> None:
    state = tmp_path / "paper"
    with exchange_thread() as sim:
        args = ["--network", sim.base_url, "--metrics-port", "-1", "-s", "supervisor.poll_interval_s=0.1",
                "-s", "supervisor.restart_backoff_s=0.1", "-s", "supervisor.wallet_poll_s=0.5"]
        with supervisor(state, "paper", args, bot_cmd=None):
            first = wait_for("the paper bot's heartbeat", lambda: read_heartbeat(state / HEARTBEAT), timeout_s=240)
            cmd = _cmdline(first.pid)
            assert first.mode == "paper" and "paper" in cmd and "live" not in cmd
            # the supervisor reads the paper account from the journal
            wait_for("the session's first equity from the journal", lambda: json.loads(
                (state / SUPERVISOR_STATE).read_text())["session"]["first_equity"]
                if (state / SUPERVISOR_STATE).exists() else None, timeout_s=120)
            os.kill(first.pid, signal.SIGKILL)
            second = wait_for("the restarted bot's heartbeat",
                              lambda: (b if (b := read_heartbeat(state / HEARTBEAT)) and b.pid != first.pid else None),
                              timeout_s=240)
            assert not alive(first.pid)
            assert second.mode == "paper" and second.account == "paper"
            assert _cmdline(second.pid) == cmd, "a restart must run exactly the same command"
        assert not alive(second.pid), "stopping the supervisor stops its bot"
    out = (state / "bot.out").read_text()
    assert out.count("start:") == 2


def test_the_real_live_bot_sigkilled_then_the_supervisor_flattens(tmp_path: Path) -> None:
    state = tmp_path / "live"
    with exchange_thread({ADDR: 10_000.0}) as sim:
        args = ["--network", sim.base_url, "--metrics-port", "-1", "-s", "supervisor.poll_interval_s=0.05",
                "-s", "supervisor.wallet_poll_s=0.25", "-s", "supervisor.restart_backoff_s=600"]
        with supervisor(state, "live", args, {"AMM500_PRIVATE_KEY": KEY}, bot_cmd=None) as proc:
            beat = wait_for("the live bot's heartbeat", lambda: read_heartbeat(state / HEARTBEAT), timeout_s=240)
            assert beat.mode == "live" and beat.account == ADDR
            resting = wait_for("the bot's quotes on the exchange", lambda: asyncio.run(account(sim, ADDR))[1],
                               timeout_s=120)
            first = wait_for("the session's first equity", lambda: json.loads(
                (state / SUPERVISOR_STATE).read_text())["session"]["first_equity"]
                if (state / SUPERVISOR_STATE).exists() else None)
            os.kill(beat.pid, signal.SIGKILL)
            wait_for("the bot to be gone", lambda: not alive(beat.pid))
            wait_for("its quotes pulled by the supervisor", lambda: asyncio.run(account(sim, ADDR))[1] == 0)
            asyncio.run(open_position_and_orders(sim, KEY, size=0.004, resting=2))  # inventory, orders
            pos, orders = asyncio.run(account(sim, ADDR))
            assert pos != 0 and orders == 2
            t0 = time.monotonic()
            sim.exchange.fund(ADDR, -0.08 * first)
            wait_for("a flat account", lambda: asyncio.run(account(sim, ADDR)) == (0.0, 0))
            seen = time.monotonic() - t0
            latch = wait_for("the latch report", lambda: (la if (la := read_latch(state)) and la.report else None))
            assert "drawdown" in latch.reason and latch.report["flat"] and proc.poll() is None
            assert latch.report["cancelled"] == 2 and latch.report["iocs"] >= 1
            print(f"\nreal live bot SIGKILLed with {resting} quotes (pulled at once), then {orders} orders and "
                  f"position {pos}: "
                  f"trigger -> verified flat {latch.report['seconds']:.3f} s; equity drop -> test sees flat "
                  f"{seen:.3f} s ({latch.report['cancelled']} cancelled, {latch.report['iocs']} IOC)")
