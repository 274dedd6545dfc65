"""Crashes (issue 20, item 2): the bot SIGKILLed at random moments, a full disk under the journal, and the
journal deleted or corrupted while the bot was stopped. (The supervisor SIGKILLed: tests/reliability/
test_bot_dead.py, which has a supervisor running.)

Real processes on 127.0.0.1 (the exchange in a thread of this process), each stopped by its own pid.
"""

from __future__ import annotations

import asyncio
import resource
import signal
import time
from pathlib import Path

import aiohttp
import pytest

from amm500.exchange_sim.market import RandomWalkFeed
from amm500.exchange_sim.server import exchange_thread, run_exchange
from amm500.obs.heartbeat import read_heartbeat
from amm500.runs.session import trading_session
from amm500.store import state_dir as sd
from amm500.store.journal import JournalError
from reliability.crashloop import crash_loop
from reliability.harness import ADDR, KEY, config
from reliability.procs import bot, open_orders, stop, until, wait_trading


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the long version runs for minutes
def test_sigkill_at_random_moments_loses_no_fill(tmp_path: Path, soak: bool) -> None:
    """Every request 150 ms late, so kills land mid-batch and between an action and its answer."""
    with exchange_thread({ADDR: 1000.0}, faults="latency_ms=150", block_s=0.02, book_push_s=0.1) as sim:
        figs = crash_loop(sim, tmp_path / "bot", 50 if soak else 1)  # tests/test_crash.py kills 4 more
    print(f"\n{figs.line()}")
    assert figs.final_exit == 0 and figs.not_adopted == 0 and figs.missing_at_restart == 0
    assert figs.lost_fills == 0 and figs.duplicated_fills == 0 and figs.resting_at_end == 0


async def test_a_journal_deleted_or_corrupted_while_stopped_is_refused(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Bug 2 (docs/reliability.md): a deleted journal was silently replaced by a new one, so the fills made
    while the bot was down were never asked for. Deleted or unreadable: one clear refusal, nothing written."""
    monkeypatch.setenv("AMM500_PRIVATE_KEY", KEY)
    good = tmp_path / "good"
    async with run_exchange({ADDR: 1000.0}, feed=RandomWalkFeed(seed=2)) as sim:
        async with trading_session(config(), "live", network=sim.base_url, state_dir=good) as session:
            await session.engine.run(1.0)
        data = (good / sd.JOURNAL).read_bytes()
        cases = {"deleted": None, "garbage": b"not a database" * 300,
                 "a page zeroed": data[:4096] + bytes(4096) + data[8192:], "truncated": data[: len(data) // 2]}
        for name, content in cases.items():
            folder = tmp_path / name.replace(" ", "_")
            folder.mkdir()
            (folder / sd.HEARTBEAT).write_bytes((good / sd.HEARTBEAT).read_bytes())  # a bot has run here
            if content is not None:
                (folder / sd.JOURNAL).write_bytes(content)
            with pytest.raises(JournalError) as err:
                async with trading_session(config(), "live", network=sim.base_url, state_dir=folder):
                    pass
            text = str(err.value)
            assert str(folder / sd.JOURNAL) in text and ("missing" in text or "not a readable journal" in text)
            assert "move" in text  # what to do about it
            journal = folder / sd.JOURNAL
            assert (journal.read_bytes() if journal.exists() else None) == content, f"{name}: the journal was touched"
            assert read_heartbeat(folder / sd.HEARTBEAT) == read_heartbeat(good / sd.HEARTBEAT), "it ran anyway"


@pytest.mark.slow
def test_a_full_disk_under_the_journal_halts_pulls_every_quote_and_says_so(tmp_path: Path) -> None:
    """No tmpfs without root: the bot runs with RLIMIT_FSIZE at 600 kB, so the journal's write-ahead log hits it
    after a few seconds of quoting and every further write fails with EFBIG (Python ignores SIGXFSZ), as
    sqlite's writes fail on a full disk. Expected: HALTED at once, every quote pulled, exit 2 and one line."""
    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (600_000, 600_000))

    folder = tmp_path / "bot"
    out = tmp_path / "bot.out"
    with exchange_thread({ADDR: 1000.0}, block_s=0.02, book_push_s=0.1) as sim:
        proc = bot(sim.base_url, folder, 10, preexec=small_files, out=out)
        try:
            wait_trading(folder, proc=proc)
            until("the bot's quotes", lambda: open_orders(sim), timeout=60)
            until("the journal failure", lambda: (hb := read_heartbeat(folder / sd.HEARTBEAT)) is not None
                  and "journal write failed" in hb.reasons, timeout=60)
            t_halt = time.monotonic()
            pulled = until("every quote pulled", lambda: not open_orders(sim), timeout=30, hold=1.0)
            code = proc.wait(60)
        finally:
            stop(proc, signal.SIGKILL)
    text = out.read_text()
    print(f"\nfull disk (RLIMIT_FSIZE 600 kB): HALTED -> every quote pulled {pulled:.2f} s; exit {code} "
          f"{time.monotonic() - t_halt:.0f} s later (--duration)")
    assert code == 2 and "writing the journal failed" in text and "Traceback" not in text


async def test_a_request_cut_off_by_a_killed_client_leaves_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """The soak's SIGKILLs showed it: a bot killed while sending an /exchange body made the local exchange log
    a traceback (aiohttp's ConnectionResetError). A client that vanishes mid-request is not an error of the
    exchange: nothing to answer, nothing logged."""
    async with run_exchange({ADDR: 1000.0}) as sim:
        port = int(sim.base_url.rsplit(":", 1)[1])
        for path in ("/exchange", "/info"):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         "Content-Length: 1000\r\n\r\n{\"action\": ".encode())
            await writer.drain()
            await asyncio.sleep(0.1)
            writer.transport.abort()  # as the kernel does for a SIGKILLed process: RST, the body never finished
            await asyncio.sleep(0.2)
        async with aiohttp.ClientSession() as http, http.post(f"{sim.base_url}/info", json={"type": "meta"}) as r:
            assert r.status == 200  # still serving
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
