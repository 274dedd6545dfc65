"""Logging for a running bot: readable lines on the terminal, JSON lines in a rotating file.

Secrets are scrubbed at the handler: whatever a library or a traceback puts in a message, a known
secret's text (the signing key, an alert URL's password) is replaced before anything is written.
The code never logs them on purpose; this is the second line of defence the canary tests check.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import time
from collections.abc import Iterable
from pathlib import Path

MASK = "********"


class SecretFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)
        variants = set()
        for s in self.secrets:
            variants.update({s, s.lower(), s.removeprefix("0x"), s.removeprefix("0x").lower()})
        self.variants = sorted((v for v in variants if len(v) >= 8), key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for s in self.variants:
            if s in text:
                text = text.replace(s, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.variants:
            record.msg = self.scrub(record.getMessage())
            record.args = ()
            if record.exc_info:
                record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": round(record.created, 6), "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
               "level": record.levelname, "logger": record.name, "msg": record.getMessage()}
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out)


def setup_logging(log_file: Path | None, secrets: Iterable[str] = (), verbose: bool = False) -> None:
    """Terminal (stderr, human) + ``log_file`` (JSON lines, 10 MB x 5), both behind the secret filter."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    scrub = SecretFilter(secrets)
    term = logging.StreamHandler()
    term.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
    term.setLevel(logging.DEBUG if verbose else logging.INFO)
    term.addFilter(scrub)
    root.addHandler(term)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.handlers.RotatingFileHandler(log_file, maxBytes=10_000_000, backupCount=5)
        fh.setFormatter(JsonFormatter())
        fh.setLevel(logging.DEBUG)
        fh.addFilter(scrub)
        root.addHandler(fh)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("aiohttp.access", "websockets", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
