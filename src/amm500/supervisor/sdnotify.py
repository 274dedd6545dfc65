"""systemd's notify protocol, written out: one datagram to ``$NOTIFY_SOCKET`` per message.

Why not a library: the protocol is a single ``sendto`` of ``KEY=VALUE`` lines on a Unix datagram
socket (``man sd_notify``); the maintained binding (``systemd-python``) needs libsystemd headers to
build, and the small pure-Python ones are unmaintained. Twenty lines here, tested against a real
socket, cost less than either.

``READY=1`` once the supervisor watches the bot (``Type=notify``), ``WATCHDOG=1`` at half of
``WatchdogSec`` while its loop runs (a hung supervisor is restarted by systemd, which SIGTERMs the
bot through PDEATHSIG), ``STATUS=`` a line for ``systemctl status``, ``STOPPING=1`` on the way out.
"""

from __future__ import annotations

import os
import socket
import time


def notify(message: str) -> bool:
    """Send ``message``; False when not run under systemd (no ``NOTIFY_SOCKET``) or the socket is gone."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
        return True
    except OSError:
        return False


def watchdog_interval_s() -> float | None:
    """Half the watchdog timeout systemd set for this process, or None when there is no watchdog."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid.isdigit() and int(pid) != os.getpid()):
        return None
    try:
        return int(usec) / 2e6
    except ValueError:
        return None


class Notifier:
    """Sends ``WATCHDOG=1`` no more often than needed; :meth:`ping` is called on every supervisor loop."""

    def __init__(self) -> None:
        self.interval = watchdog_interval_s()
        self._next = 0.0
        self.pings = 0

    def ready(self, status: str) -> None:
        notify(f"READY=1\nSTATUS={status}")

    def status(self, status: str) -> None:
        notify(f"STATUS={status}")

    def ping(self) -> None:
        if self.interval is None:
            return
        now = time.monotonic()
        if now >= self._next:
            if notify("WATCHDOG=1"):
                self.pings += 1
            self._next = now + self.interval

    def stopping(self) -> None:
        notify("STOPPING=1")
