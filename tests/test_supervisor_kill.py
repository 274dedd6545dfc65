"""The supervisor's kill switch: the seed thresholds (from risk config), the latch, and the kill itself on
the local exchange, in process and end to end with the bot SIGKILLed, measured from trigger to flat."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eth_account import Account

from amm500.config import load_config
from amm500.exchange_sim.server import exchange_thread, run_exchange
from amm500.store.state_dir import KILL_LATCH, SUPERVISOR_STATE
from amm500.supervisor.kill import KillSwitchManager, Latch, TerminalLatch, read_latch, reset_latch, write_latch
from supervisor_helpers import account, alive, env, open_position_and_orders, starts, supervisor, wait_for

KEY = "0x" + "5e" * 32
ADDR = Account.from_key(KEY).address.lower()


def test_thresholds_are_the_risk_configs() -> None:
    ks = KillSwitchManager()
    assert not ks.check_kill_conditions(5.0, -100.0, 10)  # at the thresholds: not past them
    assert ks.check_kill_conditions(5.01, 0.0, 0) and "drawdown" in ks.reasons[0]
    assert ks.check_kill_conditions(0.0, -100.01, 0) and "session loss" in ks.reasons[0]
    assert ks.check_kill_conditions(0.0, 0.0, 11) and "losing round trips" in ks.reasons[0]
    assert not ks.check_kill_conditions(0.0, +500.0, 0)  # a session gain is no loss
    tight = KillSwitchManager(load_config(overrides={"risk": {"max_drawdown": 0.02, "max_session_loss": 10.0}}))
    assert tight.check_kill_conditions(3.0, 0.0, 0) and tight.check_kill_conditions(0.0, -11.0, 0)
    off = KillSwitchManager(load_config(overrides={"risk": {"kill_switch_enabled": False}}))
    assert not off.check_kill_conditions(50.0, -1e6, 100) and off.reasons  # reasons still say what it saw


def test_latch_reset_and_terminal(tmp_path: Path) -> None:
    assert reset_latch(tmp_path) is None
    write_latch(tmp_path, Latch("drawdown 6%", time.time()))
    assert read_latch(tmp_path) is not None
    assert reset_latch(tmp_path) is not None and read_latch(tmp_path) is None
    write_latch(tmp_path, Latch("terminal drawdown", time.time(), terminal=True))
    with pytest.raises(TerminalLatch):
        reset_latch(tmp_path)
    assert read_latch(tmp_path) is not None
    assert reset_latch(tmp_path, terminal=True) is not None and read_latch(tmp_path) is None
    (tmp_path / KILL_LATCH).write_text("{torn")
    assert read_latch(tmp_path) is not None, "an unreadable latch must still count as latched"


async def test_cancel_and_flatten_with_its_own_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMM500_PRIVATE_KEY", KEY)
    async with run_exchange({ADDR: 10_000.0}) as sim:
        pos, orders = await open_position_and_orders(sim, KEY, size=0.004, resting=6)
        assert pos > 0 and orders == 6
        cfg = load_config(overrides={"network": {"network": "custom", "api_url": sim.base_url}})
        report = await KillSwitchManager(cfg).cancel_and_flatten("test")
        assert report.flat and report.cancelled == 6 and report.final_position == 0.0, report
        assert await account(sim, ADDR) == (0.0, 0)
        print(f"\nin-process cancel + flatten: {report.seconds:.3f} s")
        again = await KillSwitchManager(cfg).cancel_and_flatten("again")  # idempotent on a flat account
        assert again.flat and again.cancelled == 0 and again.iocs == 0


async def test_without_a_key_it_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMM500_PRIVATE_KEY", raising=False)
    report = await KillSwitchManager(load_config()).cancel_and_flatten("no key")
    assert not report.flat and report.error is not None and "key" in report.error


def _session(state: Path) -> dict | None:  # type: ignore[type-arg]
    try:
        return json.loads((state / SUPERVISOR_STATE).read_text())["session"]
    except (OSError, ValueError, KeyError):
        return None


def test_with_the_bot_sigkilled_a_drawdown_kill_leaves_the_account_flat(tmp_path: Path) -> None:
    """The bot is dead (SIGKILL, restart far off); equity drops past max_drawdown; the supervisor alone
    cancels and flattens on the exchange. Time is measured (goal < 10 s) and printed, not asserted."""
    state = tmp_path / "live"
    with exchange_thread({ADDR: 10_000.0}) as sim:
        asyncio.run(open_position_and_orders(sim, KEY))
        args = ["-s", "network.network=custom", "-s", f"network.api_url={sim.base_url}",
                "-s", "supervisor.wallet_poll_s=0.25", "-s", "supervisor.poll_interval_s=0.05",
                "-s", "supervisor.restart_backoff_s=600"]
        with supervisor(state, "live", args, {"AMM500_PRIVATE_KEY": KEY}) as proc:
            bot = wait_for("the bot", lambda: starts(state)[0] if starts(state) else None)
            first = wait_for("the session's first equity", lambda: (_session(state) or {}).get("first_equity"))
            os.kill(bot["pid"], signal.SIGKILL)
            wait_for("the bot to be gone", lambda: not alive(bot["pid"]))
            pos = wait_for("the dead bot's orders pulled", lambda: (p if (a := asyncio.run(account(sim, ADDR)))[1] == 0
                                                                    and (p := a[0]) else None))
            asyncio.run(open_position_and_orders(sim, KEY, size=0.0, resting=4))  # resting again: the kill's job
            assert asyncio.run(account(sim, ADDR)) == (pos, 4)
            t_trigger = time.monotonic()
            sim.exchange.fund(ADDR, -0.08 * first)  # an 8% loss of equity: past the 5% drawdown
            flat_seen = wait_for("a flat account", lambda: asyncio.run(account(sim, ADDR)) == (0.0, 0))
            t_flat = time.monotonic() - t_trigger
            latch = wait_for("the latch report", lambda: (la if (la := read_latch(state)) and la.report else None))
            assert flat_seen and "drawdown" in latch.reason and latch.report["flat"]
            assert latch.report["cancelled"] == 4 and latch.report["iocs"] >= 1
            assert len(starts(state)) == 1, "the dead bot must not have come back"
            assert proc.poll() is None
            print(f"\nbot SIGKILLed; equity -8%: supervisor trigger -> verified flat {latch.report['seconds']:.3f} s; "
                  f"equity drop -> test sees flat {t_flat:.3f} s (incl. the 0.25 s wallet poll); "
                  f"{latch.report['cancelled']} cancelled, {latch.report['iocs']} IOC")


def test_terminal_drawdown_needs_a_terminal_reset(tmp_path: Path) -> None:
    state = tmp_path / "live"
    with exchange_thread({ADDR: 10_000.0}) as sim:
        args = ["-s", "network.network=custom", "-s", f"network.api_url={sim.base_url}",
                "-s", "supervisor.wallet_poll_s=0.25", "-s", "supervisor.poll_interval_s=0.05"]
        with supervisor(state, "live", args, {"AMM500_PRIVATE_KEY": KEY}):
            first = wait_for("the session's first equity", lambda: (_session(state) or {}).get("first_equity"))
            sim.exchange.fund(ADDR, -0.2 * first)
            latch = wait_for("the latch", lambda: (la if (la := read_latch(state)) and la.report else None))
            assert latch.terminal and "terminal" in latch.reason
            base = [sys.executable, "-m", "amm500", "supervise", "--state-dir", str(state), "reset"]
            plain = subprocess.run(base, env=env(), capture_output=True, text=True, timeout=60)
            assert plain.returncode == 2 and "--terminal" in plain.stderr
            assert read_latch(state) is not None
            forced = subprocess.run([*base, "--terminal"], env=env(), capture_output=True, text=True, timeout=60)
            assert forced.returncode == 0, forced.stderr
            wait_for("a new bot", lambda: len(starts(state)) == 2)
            # the new session starts from the equity left, so the same loss does not fire again at once
            wait_for("the rebased session", lambda: (s := _session(state)) and s["first_equity"] < first * 0.9)
            assert read_latch(state) is None


def test_a_person_kills_from_the_shell_while_the_supervisor_runs(tmp_path: Path) -> None:
    state = tmp_path / "live"
    with exchange_thread({ADDR: 10_000.0}) as sim:
        asyncio.run(open_position_and_orders(sim, KEY))
        net = ["-s", "network.network=custom", "-s", f"network.api_url={sim.base_url}"]
        with supervisor(state, "live", [*net, "-s", "supervisor.poll_interval_s=0.05"],
                        {"AMM500_PRIVATE_KEY": KEY}) as proc:
            bot = wait_for("the bot", lambda: starts(state)[0] if starts(state) else None)
            out = subprocess.run([sys.executable, "-m", "amm500", "supervise", "--state-dir", str(state), "kill",
                                  "--reason", "going on holiday", "live", *net],
                                 env=env(AMM500_PRIVATE_KEY=KEY), capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, out.stderr
            assert "flat and no open order" in out.stdout
            assert not alive(bot["pid"]) and proc.poll() is None
            assert asyncio.run(account(sim, ADDR)) == (0.0, 0)
            latch = read_latch(state)
            assert latch is not None and latch.reason == "going on holiday" and latch.report["flat"]
            time.sleep(0.5)  # many supervisor passes: latched, no restart
            assert len(starts(state)) == 1


def test_reset_new_session_starts_from_the_next_reading(tmp_path: Path) -> None:
    from amm500.supervisor.wallet import Session

    s = Session()
    s.update(1000.0)
    s.update(1200.0)
    s.save(tmp_path)
    base = [sys.executable, "-m", "amm500", "supervise", "--state-dir", str(tmp_path), "reset"]
    out = subprocess.run(base, env=env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "nothing to reset" in out.stdout
    assert Session.load(tmp_path).first_equity == 1000.0
    out = subprocess.run([*base, "--new-session"], env=env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    loaded = Session.load(tmp_path)
    assert loaded.first_equity is None and loaded.peak_equity is None and loaded.all_time_peak == 1200.0


def test_status_shows_the_latch(tmp_path: Path) -> None:
    write_latch(tmp_path, Latch("drawdown 6.00% > 5%", 1.0e9, report={"flat": True, "seconds": 0.05}))
    out = subprocess.run([sys.executable, "-m", "amm500", "supervise", "--state-dir", str(tmp_path), "status"],
                         env=env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert status["kill_latch"]["reason"] == "drawdown 6.00% > 5%" and status["kill_latch"]["report"]["flat"]
    assert status["supervisor_pid"] is None and status["bot_pid"] is None
