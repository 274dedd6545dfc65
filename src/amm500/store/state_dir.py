"""Where a bot keeps its state: one folder per mode, network and account.

Every process that deals with a running bot (the bot itself, the supervisor, the dashboard,
``amm500 journal``) finds the same files here, so their names live in one place:

=====================  ======================================================================
``journal.sqlite``     the journal (:mod:`amm500.store.journal`)
``heartbeat.json``     rewritten every second by the bot (:mod:`amm500.obs.heartbeat`)
``bot.lock``           held (``flock``) by the running bot: a second bot on the account refuses
``supervisor.lock``    held by the supervisor: a second supervisor refuses
``control.token``      the secret a local client shows to the bot's control endpoint (0600)
``engine.log``         structured JSON log lines, rotated
``bot.out``            the bot's stdout and stderr when a supervisor started it (tracebacks)
``supervisor.log``     the supervisor's JSON log lines, rotated
``supervisor.json``    the supervisor's session: first and peak equity, restarts
``alerts.json``        when each kind of alert was last sent (cooldowns survive restarts)
``kill.latch``         present while the supervisor's kill switch is latched (``supervise reset``)
=====================  ======================================================================
"""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path

JOURNAL = "journal.sqlite"
HEARTBEAT = "heartbeat.json"
BOT_LOCK = "bot.lock"
SUPERVISOR_LOCK = "supervisor.lock"
CONTROL_TOKEN = "control.token"
LOG = "engine.log"
BOT_OUTPUT = "bot.out"
SUPERVISOR_LOG = "supervisor.log"
SUPERVISOR_STATE = "supervisor.json"
ALERT_STATE = "alerts.json"
KILL_LATCH = "kill.latch"


class LockHeld(RuntimeError):
    """Another process already holds this lock."""


def home() -> Path:
    """``$AMM500_HOME``, else ``$XDG_DATA_HOME/amm500``, else ``~/.local/share/amm500``."""
    env = os.environ.get("AMM500_HOME")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "amm500"


def default_state_dir(mode: str, network: str, account: str) -> Path:
    """``<home>/<mode>-<network>-<account>``: paper and live, and two accounts, never share a folder."""
    safe_net = re.sub(r"[^A-Za-z0-9]+", "_", network).strip("_") or "net"
    return home() / f"{mode}-{safe_net}-{account.lower()}"


def acquire_lock(path: Path) -> int:
    """An exclusive ``flock`` on ``path`` held until the returned descriptor is closed (or the process
    dies: the kernel releases it, so a SIGKILLed bot never leaves a stale lock behind)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        raise LockHeld(f"{path}: held by another process{f' (pid {holder})' if holder else ''}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def lock_holder(path: Path) -> int | None:
    """The pid holding ``path``'s lock, or None when nobody does."""
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
