"""Alerts delivered to real receivers on 127.0.0.1 (an aiosmtpd SMTP server, an aiohttp webhook through
apprise's json://), once per cooldown, also across restarts; retries; secrets never in the logs."""

from __future__ import annotations

import asyncio
import contextlib
import email
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from amm500.config import Config, load_config
from amm500.store.journal import Identity, Journal
from amm500.store.state_dir import ALERT_STATE
from amm500.supervisor.alerts import AlertManager, AlertState, mask_url
from amm500.supervisor.supervisor import Supervisor
from supervisor_helpers import FAKE_BOT, starts, supervisor, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sink:
    """An SMTP server's message handler: keeps every message."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[int, Sink]]:
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, sink
    finally:
        controller.stop()


@contextlib.contextmanager
def webhook(fail_first: int = 0) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An aiohttp receiver in its own thread; apprise posts JSON {title, message, type} to it."""
    received: list[dict[str, Any]] = []
    failures = [fail_first]
    loop = asyncio.new_event_loop()

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        if failures[0] > 0:
            failures[0] -= 1
            return web.Response(status=500)
        received.append({"path": request.path, **body})
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"json://127.0.0.1:{port}/hook/s3cretT0ken", received
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def alert_config(url: str | None = None, smtp_port: int | None = None, **extra: Any) -> Config:
    alerts: dict[str, Any] = {"enabled": True, "retries": 2, "retry_backoff_s": 0.01, **extra}
    if url:
        alerts["apprise_urls"] = [url]
    if smtp_port:
        alerts.update(smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_starttls=False, email_from="amm@localhost",
                      email_to=["ops@localhost"])
    return load_config(overrides={"alerts": alerts})


def test_smtp_and_webhook_get_it_once_per_cooldown_also_after_a_restart(tmp_path: Path) -> None:
    with smtp_server() as (port, sink), webhook() as (url, hooks):
        cfg = alert_config(url, port)
        mgr = AlertManager(cfg, tmp_path, label="paper-local-paper")
        assert mgr.send_alert("drawdown", "drawdown 2.50%", "equity 975.00")
        assert len(sink.messages) == 1 and len(hooks) == 1
        msg = sink.messages[0]
        assert msg["Subject"] == "[AMM-500 paper-local-paper] drawdown 2.50%" and msg["To"] == "ops@localhost"
        assert "equity 975.00" in msg.get_payload()
        assert hooks[0]["title"] == "[AMM-500 paper-local-paper] drawdown 2.50%"
        assert "equity 975.00" in hooks[0]["message"]
        assert hooks[0]["path"] == "/hook/s3cretT0ken"

        assert not mgr.send_alert("drawdown", "drawdown 3%", "again")  # inside the cooldown
        restarted = AlertManager(cfg, tmp_path)  # a new supervisor on the same folder
        assert not restarted.send_alert("drawdown", "drawdown 3%", "after a restart")
        assert len(sink.messages) == 1 and len(hooks) == 1
        assert restarted.send_alert("margin_ratio", "margin ratio 0.85", "other type, own cooldown")
        assert restarted.send_alert("kill", "KILL", "1") and restarted.send_alert("kill", "KILL", "2")  # no cooldown
        assert len(sink.messages) == 4 and len(hooks) == 4


def test_the_cooldown_ends(tmp_path: Path) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    state = AlertState(tmp_path / ALERT_STATE, clock=lambda: now[0])
    state.record("drawdown")
    assert not state.can_send_alert("drawdown", cooldown_minutes=30)
    now[0] += timedelta(minutes=29, seconds=59)
    assert not state.can_send_alert("drawdown", cooldown_minutes=30)
    now[0] += timedelta(seconds=1)
    assert state.can_send_alert("drawdown", cooldown_minutes=30)
    assert json.loads((tmp_path / ALERT_STATE).read_text())["last_sent"]["drawdown"].startswith("2026-01-01T00:00")


def test_retries_with_backoff_then_delivers(tmp_path: Path) -> None:
    with webhook(fail_first=2) as (url, hooks):
        mgr = AlertManager(alert_config(url, retries=2), tmp_path)
        assert mgr.send_alert("crash", "bot crashed", "exit 1")
        assert len(hooks) == 1
    with webhook(fail_first=5) as (url, hooks):
        mgr = AlertManager(alert_config(url, retries=1), tmp_path / "b")
        assert not mgr.send_alert("crash", "bot crashed", "exit 1")
        assert mgr.state.can_send_alert("crash"), "an undelivered alert must not start a cooldown"


def test_secrets_never_reach_the_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                      capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    dead = free_port()
    monkeypatch.setenv("AMM500_ALERTS__SMTP_PASSWORD", "hunter2-smtp")
    cfg = alert_config(f"json://user:pw-Zq9@127.0.0.1:{dead}/T0KEN-abc123", dead, smtp_user="ops",
                       retries=1)
    assert cfg.alerts.smtp_password is not None
    caplog.set_level(logging.DEBUG)
    mgr = AlertManager(cfg, tmp_path)
    assert not mgr.send_alert("stale_feed", "feed 40 s old", "details")
    text = caplog.text + "".join(capsys.readouterr())
    assert "failed" in text and "json://***" in text  # it did log the failures, masked
    for secret in ("pw-Zq9", "T0KEN-abc123", "hunter2-smtp"):
        assert secret not in text
    assert mask_url("tgram://123456:ABC-token/987") == "tgram://***"


def test_a_crash_alert_reaches_the_webhook_once_across_a_supervisor_restart(tmp_path: Path) -> None:
    state = tmp_path / "paper"
    with webhook() as (url, hooks):
        args = ["--crash-after", "0.2", "-s", "supervisor.poll_interval_s=0.05", "-s",
                "supervisor.restart_backoff_s=0.05", "-s", "supervisor.max_restarts_per_hour=100",
                "-s", "alerts.enabled=true"]
        for run in (1, 2):
            with supervisor(state, "paper", args, {"AMM500_ALERTS__APPRISE_URLS": json.dumps([url])}, FAKE_BOT):
                wait_for("a few crashes", lambda n=run: len(starts(state)) >= 3 * n)
            crashes = [h for h in hooks if "bot crashed" in h["title"]]
            assert len(crashes) == 1, [h["title"] for h in hooks]
        restarts = [h for h in hooks if "restarted" in h["title"]]
        assert len(restarts) == 1


def test_the_daily_summary_reads_the_journal(tmp_path: Path) -> None:
    j = Journal(tmp_path / "journal.sqlite", Identity("paper", "local", "paper")).open("{}", "test", 1)
    t = time.time_ns()
    j.record_equity(t, 1000.0, 0.0, 100_000.0, 1000.0, 0.0, None, None)
    j.record_fill(1, t // 1_000_000, 11, None, 1, 99_990.0, 0.001, 0.015, False, 0.0, 100_000.0)
    j.record_fill(2, t // 1_000_000 + 1, 12, None, -1, 100_010.0, 0.001, 0.045, True, 0.001, 100_000.0)
    j.record_equity(t + 1_000_000_000, 1000.5, 0.0, 100_000.0, 1000.5, 0.0, None, None)
    j.close()
    sup = Supervisor(load_config(), tmp_path, "paper", ["true"])
    text = sup.summary_text()
    assert "net PnL +0.50" in text and "fills 2 (maker ratio 50.0%)" in text and "uptime" in text


def test_apprise_urls_are_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from amm500.config import ConfigError

    toml = tmp_path / "c.toml"
    toml.write_text('[alerts]\napprise_urls = ["slack://T/B/XYZ"]\n')
    with pytest.raises(ConfigError, match="AMM500_ALERTS__APPRISE_URLS"):
        load_config(toml)
    with pytest.raises(ConfigError, match="secrets"):
        load_config(overrides=['alerts.apprise_urls=["slack://T/B/XYZ"]'])
    monkeypatch.setenv("AMM500_ALERTS__APPRISE_URLS", '["slack://T/B/XYZ"]')
    cfg = load_config()
    assert cfg.alerts.apprise_urls[0].get_secret_value() == "slack://T/B/XYZ"
    assert "XYZ" not in json.dumps(cfg.masked_dict()) and "XYZ" not in repr(cfg)
    assert AlertManager(cfg).targets() == ["slack://***"]


def test_the_daily_summary_goes_out_once_a_day(tmp_path: Path) -> None:
    with webhook() as (url, hooks):
        hour = datetime.now(UTC).hour
        cfg = alert_config(url, daily_summary_hour_utc=hour)
        sup = Supervisor(cfg, tmp_path, "paper", ["true"])
        sup._daily_summary()
        sup._daily_summary()
        sup.alerts.close()
        again = Supervisor(cfg, tmp_path, "paper", ["true"])  # a restarted supervisor, same day
        again._daily_summary()
        again.alerts.close()
        if datetime.now(UTC).hour != hour:  # the test straddled an hour boundary: nothing to check
            return
        assert [h["title"] for h in hooks] == [f"[AMM-500 {tmp_path.name}] daily summary "
                                               f"{datetime.now(UTC).date().isoformat()}"]
        assert "no journal yet" in hooks[0]["message"] and "uptime" in hooks[0]["message"]
