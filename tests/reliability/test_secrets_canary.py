"""Issue 20 item 6: a canary key, alert URL and SMTP password through every mode and failure path.

The real CLI runs in subprocesses with the canaries in its environment (where a user puts them):
a backtest with its reports, paper on an in-process local exchange, live on the local exchange
(``/state``, ``/metrics`` and the dashboard's pages read while it trades), live refused for a key
of another account, for a malformed key and for an exchange that refuses the connection, and the
supervisor over a bot that refuses to start (a key of another account), whose alert fails against
a dead alert URL. Then every byte it printed and every file written under the sandbox (journal
SQLite, JSON logs, heartbeat, reports, bot.out) is searched for each canary in every spelling:
0 hits. An in-process rehearsal and a logged traceback that carries the key complete the modes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from eth_account import Account

from amm500.config import load_config
from amm500.data import store
from amm500.exchange_sim.server import exchange_thread
from amm500.obs.logs import setup_logging
from amm500.runs.session import trading_session
from backtest_helpers import book, events, trade

KEY = "0x" + "ca11ab1e" * 8  # the canary key: valid hex, so it gets as far as signing
ADDR = Account.from_key(KEY).address.lower()
OTHER = Account.from_key("0x" + "6b" * 32).address.lower()
BAD_KEY = "0x" + "ca11ab1e" * 7 + "zzzzzzzz"  # malformed: must be refused without being echoed
ALERT_PW, ALERT_TOKEN, SMTP_PW = "CanaryPw-7Qx", "CANARYTOKEN-9xq", "CanarySmtp-55w"
SRC = str(Path(__file__).parents[2] / "src")


def needles() -> set[str]:
    out = {ALERT_PW, ALERT_TOKEN, SMTP_PW}
    for k in (KEY, BAD_KEY):
        out |= {k, k[2:], k[2:].upper(), k[10:42]}  # a 32-hex slice catches a partial print too
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env(home: Path, key: str = KEY) -> dict[str, str]:
    dead = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("AMM500_")}
    return base | {"PYTHONPATH": SRC, "AMM500_HOME": str(home), "NO_COLOR": "1", "AMM500_PRIVATE_KEY": key,
                   "AMM500_ALERTS__APPRISE_URLS": json.dumps([f"json://ops:{ALERT_PW}@127.0.0.1:{dead}/{ALERT_TOKEN}"]),
                   "AMM500_ALERTS__SMTP_PASSWORD": SMTP_PW}


def amm500(home: Path, *argv: str, key: str = KEY) -> tuple[int, str]:
    r = subprocess.run([sys.executable, "-m", "amm500", *argv], cwd=home, env=env(home, key), capture_output=True,
                       text=True, timeout=180, check=False)
    return r.returncode, r.stdout + r.stderr


def hits(texts: dict[str, str | bytes], root: Path) -> list[str]:
    """Where any canary shows: in the given outputs, or in the raw bytes of any file under ``root``."""
    found = []
    blobs = {name: t.encode() if isinstance(t, str) else t for name, t in texts.items()}
    blobs |= {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    for name, blob in blobs.items():
        for n in needles():
            for spelling in (n.encode(), n.encode("utf-16-le")):
                if spelling in blob:
                    found.append(f"{n!r} in {name}")
    return found


def live_with_reads(home: Path, url: str) -> tuple[int, str, dict[str, str]]:
    """``amm500 live`` for a few seconds with its dashboard; /state, /metrics and the pages read while it trades."""
    port, dash = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "amm500", "live", "--network", url, "--duration", "6",
                             "--state-dir", str(home / "live"), "--metrics-port", str(port), "--dashboard",
                             "--dashboard-port", str(dash), "-s", "trading.order_levels=2"],
                            cwd=home, env=env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    reads = {f"http://127.0.0.1:{port}/state": "", f"http://127.0.0.1:{port}/metrics": "",
             f"http://127.0.0.1:{dash}/": "", f"http://127.0.0.1:{dash}/api/snapshot?fresh=1": "",
             f"http://127.0.0.1:{dash}/static/app.js": ""}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and not all(reads.values()):
            time.sleep(0.3)
            for u in [u for u, text in reads.items() if not text]:
                with contextlib.suppress(OSError):
                    reads[u] = urllib.request.urlopen(u, timeout=5).read().decode()
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, reads


@pytest.mark.slow
def test_no_canary_in_any_output_or_file_of_any_mode(tmp_path: Path) -> None:
    home = tmp_path
    store.write_events(home / "data", events([*book(0), trade(1000, -1, 99_999, 0.01), *book(2000)]))
    outs: dict[str, str] = {}
    rc, outs["backtest"] = amm500(home, "backtest", "--data", "data", "--json", "bt.json", "--report", "bt.html")
    assert rc == 0, outs["backtest"]
    rc, outs["paper"] = amm500(home, "paper", "--network", "sim", "--duration", "3", "--state-dir", "paper",
                               "-s", "trading.order_levels=2")
    assert rc == 0, outs["paper"]
    with exchange_thread({ADDR: 1000.0, OTHER: 1000.0}, block_s=0.02, book_push_s=0.1) as sim:
        rc, outs["live"], reads = live_with_reads(home, sim.base_url)
        assert rc == 0 and all(reads.values()), (outs["live"][-2000:], {u: len(t) for u, t in reads.items()})
        outs |= reads
        assert '"mode": "live"' in "".join(reads.values()) and "amm500_" in "".join(reads.values())
        rc, outs["wrong account"] = amm500(home, "live", "--network", sim.base_url, "--state-dir", "wrong",
                                           "-s", f"network.account_address={OTHER}")
        assert rc == 2 and OTHER in outs["wrong account"], outs["wrong account"]
        rc, outs["bad key"] = amm500(home, "live", "--network", sim.base_url, "--state-dir", "badkey", key=BAD_KEY)
        assert rc == 2 and "AMM500_PRIVATE_KEY" in outs["bad key"], outs["bad key"]
        # the supervisor over a bot that refuses to start: its crash alert fails against the dead alert URL
        rc, outs["supervise"] = amm500(home, "supervise", "--state-dir", "sup", "--", "live", "--network",
                                       sim.base_url, "-s", f"network.account_address={OTHER}",
                                       "-s", "alerts.enabled=true", "-s", "alerts.retries=0")
        assert rc == 2, outs["supervise"]
    dead = f"http://127.0.0.1:{free_port()}"
    rc, outs["refused"] = amm500(home, "live", "--network", dead, "--state-dir", "refused")
    assert rc != 0 and "127.0.0.1" in outs["refused"], outs["refused"]
    sup_text = "".join(p.read_text(errors="replace") for p in (home / "sup").rglob("*") if p.is_file()
                       and p.suffix in (".log", ".out", ""))
    assert "json://***" in sup_text + outs["supervise"], "the alert should have been tried (and masked)"
    journals = list(home.rglob("journal.sqlite"))
    assert len(journals) >= 2, journals  # paper and live each journalled (the raw bytes are searched below)
    assert hits(outs, home) == []


async def test_no_canary_in_a_rehearsal_or_a_logged_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AMM500_PRIVATE_KEY", KEY)
    monkeypatch.setenv("AMM500_ALERTS__SMTP_PASSWORD", SMTP_PW)
    market = tmp_path / "market"
    store.write_events(market, events([row for t in range(0, 4000, 500) for row in book(t)]))
    cfg = load_config(overrides={"trading": {"order_levels": 2}})
    async with trading_session(cfg, "rehearsal", market=market, state_dir=tmp_path / "rehearsal") as session:
        await session.engine.run(2.0)
    setup_logging(tmp_path / "engine.log", [cfg.private_key() or ""])
    log = logging.getLogger("amm500.canary")
    try:
        raise RuntimeError(f"signing failed for {KEY}")
    except RuntimeError:
        log.exception("an error that carries the key in its text and traceback")
    for h in logging.getLogger().handlers:
        h.flush()
    text = caplog.text + "".join(capsys.readouterr())
    assert "signing failed" in (tmp_path / "engine.log").read_text()
    assert hits({"log": text}, tmp_path) == []
