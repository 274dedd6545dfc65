"""Alerts (seed 8B, ``AlertManager``): telling a person, through any target apprise knows, once per cooldown.

Why apprise: one URL per target covers e-mail, Slack, Telegram, Discord, plain webhooks and ~100
more, so a user adds a target in config instead of us adding code. E-mail also works without apprise
through ``smtplib`` from ``alerts.smtp_*`` (the password being a secret read from the environment only).

Why cooldowns live in a file (``alerts.json`` in the state folder): a supervisor that restarts in a
loop (systemd, a crash) must not re-send the same alert each time; a person woken at 3 a.m. by a
drawdown alert needs the next one half an hour later, not every poll.

Why URLs are never logged: an apprise URL *is* the credential (a Slack webhook path, a Telegram bot
token, a mailto password). Only :func:`mask_url`'s scheme-only form reaches a log line, and apprise's
own logger, which prints whole URLs on failures, is silenced below CRITICAL.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import queue
import smtplib
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from amm500.config import AlertConfig, Config

log = logging.getLogger(__name__)

#: Every alert the supervisor sends, with what it means (docs/supervisor.md says what to do about each).
ALERT_TYPES: dict[str, str] = {
    "crash": "the bot exited with an error, or hung (heartbeat stopped while the process lived)",
    "restart": "the supervisor restarted the bot",
    "restart_limit": "too many restarts within an hour: the bot is stopped, the kill procedure ran",
    "kill": "the kill switch latched: orders cancelled, position flattened, nothing restarts until a reset",
    "drawdown": "equity fell from its session peak past alerts.drawdown_alert, or the session lost "
                "more than alerts.session_loss_alert",
    "taker_ratio": "too many of the session's fills crossed the spread (alerts.taker_ratio_alert)",
    "margin_ratio": "margin in use above alerts.margin_ratio_alert of equity",
    "stale_feed": "the bot's market data is older than alerts.stale_feed_alert_s",
    "request_budget": "less than alerts.request_budget_alert of the address request budget is left",
    "trading_state": "the bot's trading state changed (ACTIVE / REDUCING / HALTED)",
    "daily_summary": "once a day: PnL split, fills, maker ratio, uptime",
}

#: Sent whatever the cooldown: each is rare by construction (a latch, a limit, a schedule) and must not
#: be swallowed because a similar one went out 20 minutes earlier.
NO_COOLDOWN = frozenset({"kill", "restart_limit", "daily_summary"})


def mask_url(url: str) -> str:
    """``slack://***`` for ``slack://T000/B000/XXXX``: the scheme says which target, nothing else is shown."""
    scheme = url.split("://", 1)[0] if "://" in url else "?"
    return f"{scheme}://***"


def _utc(value: datetime) -> datetime:
    """Naive datetimes (the seed's tests use ``datetime.now()``) are local time; everything else is kept as is."""
    return value.astimezone(UTC)  # astimezone() reads a naive value as local time


class AlertState:
    """When each alert type was last sent, persisted in ``path`` (None: memory only).

    ``state.last_drawdown_alert`` reads and sets the time of the last ``drawdown`` alert (the seed's
    spelling), so does every ``last_<type>_alert``.
    """

    def __init__(self, path: Path | None = None, clock: Callable[[], datetime] | None = None) -> None:
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_clock", clock or (lambda: datetime.now(UTC)))
        object.__setattr__(self, "_last", {})
        object.__setattr__(self, "_extra", {})
        object.__setattr__(self, "_io", threading.Lock())  # the alert worker and the loop both record
        self._load()

    # ---- persistence ------------------------------------------------------------------------------------

    def _load(self) -> None:
        if self._path is None or not self._path.is_file():
            return
        try:
            data = json.loads(self._path.read_text())
            self._last.update({k: datetime.fromisoformat(v) for k, v in data.get("last_sent", {}).items()})
            self._extra.update(data.get("extra", {}))
        except (OSError, ValueError, AttributeError) as exc:
            # A torn or hand-edited file must not stop alerts: start without cooldowns and say so.
            log.warning("alert state %s unreadable (%s): cooldowns start afresh", self._path, exc)

    def _save(self) -> None:
        if self._path is None:
            return
        with self._io:
            data = {"last_sent": {k: v.isoformat() for k, v in self._last.items()}, "extra": dict(self._extra)}
            self._path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._path.with_name(f".{self._path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1))
            os.replace(tmp, self._path)

    # ---- the seed's interface ------------------------------------------------------------------------------

    def can_send_alert(self, alert_type: str, cooldown_minutes: float = 30.0) -> bool:
        """True when no ``alert_type`` alert went out in the last ``cooldown_minutes``."""
        last = self._last.get(alert_type)
        if last is None:
            return True
        return self._clock() - _utc(last) >= timedelta(minutes=cooldown_minutes)

    def last_sent(self, alert_type: str) -> datetime | None:
        return self._last.get(alert_type)

    def record(self, alert_type: str, when: datetime | None = None) -> None:
        self._last[alert_type] = _utc(when or self._clock())
        self._save()

    def get_extra(self, key: str) -> Any:
        return self._extra.get(key)

    def set_extra(self, key: str, value: Any) -> None:
        self._extra[key] = value
        self._save()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("last_") and name.endswith("_alert"):
            return self._last.get(name[5:-6])
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("last_") and name.endswith("_alert"):
            if value is None:
                self._last.pop(name[5:-6], None)
                self._save()
            else:
                self.record(name[5:-6], value)
            return
        object.__setattr__(self, name, value)


class AlertManager:
    """Sends alerts to every configured target, honouring per-type cooldowns and retrying with backoff.

    ``send_alert`` delivers in the caller's thread and says whether any target got it; ``submit`` hands
    it to a worker thread so the supervisor's loop (and its watchdog pings) never waits on a slow SMTP
    server.
    """

    def __init__(
        self,
        config: Config | AlertConfig | None = None,
        state_dir: Path | None = None,
        label: str = "",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from amm500.store.state_dir import ALERT_STATE

        cfg = config.alerts if isinstance(config, Config) else config
        self.config: AlertConfig = cfg if cfg is not None else AlertConfig()
        self.state = AlertState(state_dir / ALERT_STATE if state_dir is not None else None)
        self.label = label
        self._sleep = sleep
        self._queue: queue.Queue[tuple[str, str, str] | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self.sent: list[tuple[str, str]] = []  # (type, subject) delivered to at least one target
        # apprise logs whole target URLs (credentials) on failures; our own masked line replaces them.
        logging.getLogger("apprise").setLevel(logging.CRITICAL)

    # ---- targets ------------------------------------------------------------------------------------------

    def targets(self) -> list[str]:
        """Masked names of the configured targets (safe to print)."""
        names = [mask_url(u.get_secret_value()) for u in self.config.apprise_urls]
        if self.config.smtp_host and self.config.email_to:
            names.append(f"smtp:{len(self.config.email_to)} recipient(s)")
        return names

    def _send_apprise(self, url: str, title: str, body: str) -> bool:
        import apprise

        target = apprise.Apprise()
        if not target.add(url):
            raise ValueError("apprise does not understand this URL")
        return bool(target.notify(body=body, title=title))

    def _send_smtp(self, title: str, body: str) -> bool:
        cfg = self.config
        assert cfg.smtp_host is not None
        msg = EmailMessage()
        msg["Subject"] = title
        msg["From"] = cfg.email_from or cfg.smtp_user or "amm500@localhost"
        msg["To"] = ", ".join(cfg.email_to)
        msg.set_content(body)
        with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=10) as smtp:
            if cfg.smtp_starttls:
                smtp.starttls()
            if cfg.smtp_user and cfg.smtp_password is not None:
                smtp.login(cfg.smtp_user, cfg.smtp_password.get_secret_value())
            smtp.send_message(msg)
        return True

    def _with_retries(self, name: str, send: Callable[[], bool]) -> bool:
        for attempt in range(self.config.retries + 1):
            try:
                if send():
                    return True
                why = "the target refused it"
            except Exception as exc:  # any failure of one target must not stop the others
                why = type(exc).__name__  # the message may quote the URL or the SMTP login: not logged
            if attempt < self.config.retries:
                delay = self.config.retry_backoff_s * 2**attempt
                log.warning("alert to %s failed (%s): retry %d in %.1f s", name, why, attempt + 1, delay)
                self._sleep(delay)
            else:
                log.error("alert to %s failed (%s): giving up after %d attempts", name, why, attempt + 1)
        return False

    # ---- sending ------------------------------------------------------------------------------------------

    def cooldown_for(self, alert_type: str) -> float:
        return 0.0 if alert_type in NO_COOLDOWN else self.config.cooldown_minutes

    def send_alert(self, alert_type: str, subject: str, details: str) -> bool:
        """Deliver now unless ``alert_type`` is cooling down; True when at least one target got it."""
        if alert_type not in ALERT_TYPES:
            raise ValueError(f"unknown alert type {alert_type!r}; known: {', '.join(ALERT_TYPES)}")
        if not self.state.can_send_alert(alert_type, self.cooldown_for(alert_type)):
            log.info("alert %s suppressed (cooldown %g min): %s", alert_type, self.cooldown_for(alert_type), subject)
            return False
        title = f"[AMM-500{' ' + self.label if self.label else ''}] {subject}"
        body = f"{details}\n\n({alert_type}: {ALERT_TYPES[alert_type]})"
        if not self.config.enabled:
            log.warning("alert %s (alerts disabled, not sent): %s", alert_type, subject)
            return False
        delivered = 0
        for secret in self.config.apprise_urls:
            url = secret.get_secret_value()
            delivered += self._with_retries(mask_url(url), functools.partial(self._send_apprise, url, title, body))
        if self.config.smtp_host and self.config.email_to:
            delivered += self._with_retries("smtp", lambda: self._send_smtp(title, body))
        if delivered:
            self.state.record(alert_type)
            self.sent.append((alert_type, subject))
            log.warning("alert %s sent to %d target(s): %s", alert_type, delivered, subject)
        else:
            log.error("alert %s reached no target: %s", alert_type, subject)
        return delivered > 0

    def submit(self, alert_type: str, subject: str, details: str) -> bool:
        """Queue an alert for the worker thread; False when it is cooling down or already queued."""
        with self._lock:
            if alert_type in self._pending or not self.state.can_send_alert(alert_type,
                                                                            self.cooldown_for(alert_type)):
                return False
            self._pending.add(alert_type)
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="alerts", daemon=True)
                self._worker.start()
        self._queue.put((alert_type, subject, details))
        return True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self.send_alert(*item)
            except Exception:
                log.exception("alert %s could not be sent", item[0])
            finally:
                with self._lock:
                    self._pending.discard(item[0])

    def close(self, timeout_s: float = 30.0) -> None:
        """Deliver what is queued (up to ``timeout_s``), then stop the worker."""
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout_s)
            self._worker = None
