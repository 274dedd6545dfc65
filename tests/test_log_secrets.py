"""The log scrubber is armed with every secret the config carries, in every mode (not only live's key)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from amm500.config import load_config
from amm500.obs.logs import setup_logging

URL = "json://canary-hook.invalid/Tok3nSecr3t"
PASSWORD = "canary-smtp-Pa55word"
KEY = "0x" + "c4" * 32


def test_alert_urls_smtp_password_and_key_never_reach_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AMM500_ALERTS__APPRISE_URLS", f'["{URL}"]')
    monkeypatch.setenv("AMM500_ALERTS__SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("AMM500_PRIVATE_KEY", KEY)
    cfg = load_config()
    assert set(cfg.secret_values()) >= {URL, PASSWORD, KEY}
    log_file = tmp_path / "bot.log"
    try:
        setup_logging(log_file, cfg.secret_values())
        logging.getLogger("amm500.test").warning("alert to %s with %s signed by %s failed", URL, PASSWORD, KEY)
    finally:
        for h in list(logging.getLogger().handlers):
            h.flush()
            logging.getLogger().removeHandler(h)
    written = log_file.read_text() + capsys.readouterr().err
    assert "alert to" in written  # the message itself is kept
    assert URL not in written and PASSWORD not in written and KEY[2:] not in written
