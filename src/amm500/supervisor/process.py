"""The bot as a child process (seed 8A, ``ProcessManager``): start, watch, stop, restart within limits.

Why a child process rather than a thread: the supervisor must survive whatever kills the bot (a
segfault in a native library, memory exhaustion, a deadlock), and must be able to kill it. Why the
heartbeat file (``obs/heartbeat.py``): a bot stuck in a loop or a deadlock still has a pid; only
the beat that stops says it is hung.

The command line is frozen when the manager is built: every restart runs exactly the same mode,
network and arguments, so a paper session can never come back as a live one.

Restarts are rate limited (``supervisor.max_restarts_per_hour`` in any rolling hour) and spaced by a
doubling backoff; :meth:`ProcessManager.restart_bot` only *schedules* the start, so the supervisor
keeps watching the account (and can still kill) while it waits.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from amm500.config import SupervisorConfig
from amm500.obs.heartbeat import Heartbeat, read_heartbeat
from amm500.store.state_dir import BOT_OUTPUT, HEARTBEAT

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_prctl = getattr(_libc, "prctl", None)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """The bot gets SIGTERM (a clean stop: orders cancelled) if the supervisor dies, so a SIGKILLed
    supervisor never leaves an unwatched bot trading (the next supervisor would find bot.lock held)."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


#: environment the bot must not inherit: systemd's notify socket belongs to the supervisor
_SUPERVISOR_ONLY_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


@dataclass
class Event:
    """What :meth:`ProcessManager.poll` noticed: the bot exited (``code``) or hung (``age_s``)."""

    kind: str  # "exit" | "hung"
    code: int | None = None
    age_s: float | None = None
    pid: int = 0

    def describe(self) -> str:
        if self.kind == "exit":
            assert self.code is not None
            how = f"killed by signal {-self.code}" if self.code < 0 else f"exited with code {self.code}"
            return f"bot pid {self.pid} {how}"
        return f"bot pid {self.pid} hung: no heartbeat for {self.age_s:.1f} s while the process lived"


class ProcessManager:
    """Owns the one bot process of a state folder."""

    def __init__(self, cmd: Sequence[str], state_dir: Path, config: SupervisorConfig | None = None,
                 env: dict[str, str] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.cmd: tuple[str, ...] = tuple(cmd)  # frozen: restarts run exactly this
        self.state_dir = state_dir
        self.config = config or SupervisorConfig()
        base_env = dict(os.environ if env is None else env)
        for name in _SUPERVISOR_ONLY_ENV:
            base_env.pop(name, None)
        self.env = base_env
        self.clock = clock
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0  # monotonic
        self.starts = 0
        self.restarts: deque[float] = deque()  # monotonic times of scheduled restarts, last hour
        self.start_due: float | None = None
        self.last_reason = ""
        self.last_beat: Heartbeat | None = None
        self.alive_s = 0.0  # bot uptime accumulated (daily summary)
        self._alive_mark: float | None = None

    # ---- lifecycle --------------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> int:
        """Start the bot; its stdout and stderr append to ``bot.out`` (tracebacks of crashes land there)."""
        if self.alive():
            raise RuntimeError(f"the bot already runs (pid {self.pid})")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / BOT_OUTPUT, "ab") as out:
            out.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} start: "
                      f"{' '.join(self.cmd)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         env=self.env, start_new_session=True, preexec_fn=_die_with_parent)
        self.started_at = self.clock()
        self._alive_mark = self.started_at
        self.starts += 1
        self.start_due = None
        self.last_beat = None
        log.info("bot started: pid %d: %s", self.proc.pid, " ".join(self.cmd))
        return self.proc.pid

    def _account_uptime(self) -> None:
        if self._alive_mark is not None:
            now = self.clock()
            self.alive_s += now - self._alive_mark
            self._alive_mark = now if self.alive() else None

    def stop(self, grace_s: float | None = None) -> int | None:
        """SIGTERM (the bot cancels its orders and exits), SIGKILL after ``grace_s``; the exit code."""
        self.start_due = None
        proc = self.proc
        if proc is None:
            return None
        grace = self.config.stop_grace_s if grace_s is None else grace_s
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                log.warning("bot pid %d ignored SIGTERM for %.0f s: SIGKILL", proc.pid, grace)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
        self._account_uptime()
        self.proc = None
        return proc.returncode

    # ---- watching ---------------------------------------------------------------------------------------

    def heartbeat(self) -> Heartbeat | None:
        """The current bot's last beat (a beat left by an earlier bot does not count)."""
        beat = read_heartbeat(self.state_dir / HEARTBEAT)
        if beat is not None and self.proc is not None and beat.pid == self.proc.pid:
            self.last_beat = beat
            return beat
        return None

    def poll(self) -> Event | None:
        """Exit or hang of the running bot, once; None while it is healthy (or none runs)."""
        proc = self.proc
        if proc is None:
            return None
        self._account_uptime()
        code = proc.poll()
        if code is not None:
            self.proc = None
            self._alive_mark = None
            return Event("exit", code=code, pid=proc.pid)
        beat = self.heartbeat()
        if beat is not None:
            age = beat.age_s()
            if age > self.config.heartbeat_timeout_s:
                return Event("hung", age_s=age, pid=proc.pid)
        elif self.clock() - self.started_at > self.config.startup_timeout_s:
            return Event("hung", age_s=self.clock() - self.started_at, pid=proc.pid)
        return None

    # ---- restarting --------------------------------------------------------------------------------------

    def restarts_last_hour(self) -> int:
        now = self.clock()
        while self.restarts and now - self.restarts[0] >= 3600.0:
            self.restarts.popleft()
        return len(self.restarts)

    def restart_bot(self, reason: str) -> bool:
        """Stop the bot if it still runs and schedule its start after the backoff.

        False (nothing scheduled) once ``max_restarts_per_hour`` restarts happened in the last hour:
        the caller then runs the kill procedure and alerts.
        """
        n = self.restarts_last_hour()
        if n >= self.config.max_restarts_per_hour:
            log.error("restart refused (%s): %d restarts in the last hour (limit %d)", reason, n,
                      self.config.max_restarts_per_hour)
            return False
        if self.alive():
            self.stop()
        backoff = min(self.config.restart_backoff_max_s, self.config.restart_backoff_s * 2.0**n)
        now = self.clock()
        self.restarts.append(now)
        self.start_due = now + backoff
        self.last_reason = reason
        log.warning("restart %d/%d in %.1f s: %s", n + 1, self.config.max_restarts_per_hour, backoff, reason)
        return True

    def tick(self) -> bool:
        """Start the bot when a scheduled restart is due; True when it started."""
        if self.start_due is not None and self.clock() >= self.start_due and not self.alive():
            self.start()
            return True
        return False

    def cancel_restart(self) -> None:
        self.start_due = None

    def reset_restarts(self) -> None:
        self.restarts.clear()
