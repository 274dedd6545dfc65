"""Bot dead, account still exposed (issue 20, item 3): who pulls the dead bot's quotes, and how fast.

Two guards, each measured alone on the local exchange with the real ``amm500 live`` SIGKILLed while quoting:
the supervisor (its own REST client cancels at once; the exchange's dead-man's switch is unavailable below
$1M of volume, as for most accounts), and the dead-man's switch alone (no supervisor; the account has the
volume; ``execution.dead_man_switch_s`` = 6 s, re-armed every third of it). Times are printed (-s), and
docs/reliability.md has them; what is asserted is the outcome: nothing left resting, the restarted bot
adopting the position the dead one left.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from amm500.exchange_sim.server import exchange_thread
from amm500.obs.heartbeat import read_heartbeat
from amm500.store import state_dir as sd
from reliability.harness import ADDR, KEY
from reliability.procs import BOT_SETTINGS, bot, open_orders, position, stop, until, wait_trading
from supervisor_helpers import alive, supervisor


@pytest.mark.slow
def test_supervisor_pulls_a_sigkilled_bots_quotes_and_restarts_it(tmp_path: Path) -> None:
    """Then the supervisor itself is SIGKILLed: PDEATHSIG gives its bot SIGTERM, which stops as on Ctrl-C."""
    state = tmp_path / "live"
    with exchange_thread({ADDR: 1000.0}, block_s=0.02, book_push_s=0.1) as sim:
        args = ["--network", sim.base_url, *BOT_SETTINGS, "-s", "supervisor.poll_interval_s=0.05",
                "-s", "supervisor.wallet_poll_s=0.25"]
        with supervisor(state, "live", args, bot_cmd=None, extra_env={"AMM500_PRIVATE_KEY": KEY}) as proc:
            wait_trading(state)
            first = read_heartbeat(state / sd.HEARTBEAT)
            assert first is not None
            until("the bot's quotes", lambda: open_orders(sim), timeout=60)
            pos = position(sim)
            os.kill(first.pid, signal.SIGKILL)
            t_kill = time.monotonic()
            pulled = until("the dead bot's quotes pulled", lambda: not open_orders(sim), hold=1.0)
            assert not alive(first.pid)
            until("the restarted bot (a new pid, past reconciliation)",
                  lambda: (hb := read_heartbeat(state / sd.HEARTBEAT)) is not None and hb.pid != first.pid
                  and hb.state in ("ACTIVE", "REDUCING", "HALTED"), timeout=180)
            resumed = time.monotonic() - t_kill
            hb = read_heartbeat(state / sd.HEARTBEAT)
            assert hb is not None and hb.position == pytest.approx(position(sim), abs=1e-9)
            until("the new bot's quotes", lambda: open_orders(sim), timeout=60)
            os.kill(proc.pid, signal.SIGKILL)  # now the supervisor
            t0 = time.monotonic()
            orphan_pulled = until("the orphaned bot's quotes cancelled", lambda: not open_orders(sim), timeout=30,
                                  hold=1.0)
            until("the orphaned bot to exit", lambda: not alive(hb.pid), timeout=30)
            orphan_exited = time.monotonic() - t0
            last = read_heartbeat(state / sd.HEARTBEAT)
    print(f"\nsupervisor, no dead-man's switch: SIGKILL -> every quote cancelled {pulled:.2f} s; "
          f"position {pos:+.5f} left to the restarted bot, which adopted it and was trading {resumed:.2f} s after")
    print(f"supervisor SIGKILLed: its bot cancelled every quote in {orphan_pulled:.2f} s and exited within "
          f"{orphan_exited:.2f} s")
    assert last is not None and last.state == "STOPPED"


@pytest.mark.slow
def test_dead_mans_switch_alone_pulls_a_sigkilled_bots_quotes(tmp_path: Path) -> None:
    folder = tmp_path / "live"
    with exchange_thread({ADDR: 1000.0}, block_s=0.02, book_push_s=0.1) as sim:
        sim.exchange.fund(ADDR, 0.0, volume=1_000_000.0)  # before the bot starts: enough for scheduleCancel
        proc = bot(sim.base_url, folder, 600, "--set", "execution.dead_man_switch_s=6")
        try:
            wait_trading(folder, proc=proc)
            until("the bot's quotes", lambda: open_orders(sim), timeout=60)
            time.sleep(2.5)  # the switch armed (at start, then every 2 s)
            stop(proc, signal.SIGKILL)
            pulled = until("the exchange's scheduled cancel", lambda: not open_orders(sim), timeout=30, hold=1.0)
        finally:
            stop(proc, signal.SIGKILL)
    assert pulled <= 6.5  # the switch's own horizon; the exchange cancels at the armed time
    print(f"\ndead-man's switch alone (6 s, re-armed every 2 s): SIGKILL -> every quote cancelled {pulled:.2f} s; "
          "the position stays (no switch closes it)")
