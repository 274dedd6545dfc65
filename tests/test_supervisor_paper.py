"""The real ``amm500 paper`` under the real ``amm500 supervise``, on a local exchange's feed: SIGKILL the bot,
and the bot the supervisor brings back is a paper bot again, with the same arguments; meanwhile the
supervisor watches the paper account through the journal."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from amm500.exchange_sim.server import exchange_thread
from amm500.obs.heartbeat import read_heartbeat
from amm500.store.state_dir import HEARTBEAT, SUPERVISOR_STATE
from supervisor_helpers import alive, supervisor, wait_for


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
