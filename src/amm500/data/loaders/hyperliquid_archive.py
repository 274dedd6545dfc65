"""``hyperliquid-archive``: the public S3 archive's ``l2Book`` files (one JSON object per line).

``{"time": "2023-09-16T09:00:01.039593170", "ver_num": 1, "raw": {"channel": "l2Book", "data":
{"coin": "BTC", "time": 1694854799647, "levels": [[bids], [asks]]}}}`` in an LZ4 frame or plain.
The outer ``time`` (ns, UTC, no zone) is when the archiver received the snapshot: it becomes
``local_ts``; the inner ``time`` (ms) is the exchange time ``ts``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from amm500.data.loaders.common import FileReport, Parsed, Progress, add_l2book, run_lines
from amm500.data.schema import NS_PER_S

NAME = "hyperliquid-archive"
KIND = "book"
EXPECTED = ('Hyperliquid archive l2Book (JSON lines {"time": "...", "ver_num": 1, "raw": {"channel": "l2Book", '
            '"data": {...}}}, plain or .lz4)')


def iso_ns(text: object) -> int:
    """ns since the epoch of a UTC ISO time with up to 9 decimals (``datetime`` stops at 6)."""
    if not isinstance(text, str):
        raise ValueError(f"time {text!r} must be an ISO string")
    base, _, frac = text.rstrip("Z").partition(".")
    try:
        when = dt.datetime.fromisoformat(base)
    except ValueError:
        raise ValueError(f"time {text!r} is not an ISO date-time") from None
    if frac and not frac.isdigit():
        raise ValueError(f"time {text!r}: fraction of a second must be digits (UTC, no zone)")
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp()) * NS_PER_S + (int(frac[:9].ljust(9, "0")) if frac else 0)


def parse_file(path: Path, parsed: Parsed, progress: Progress | None = None) -> FileReport:
    report = FileReport(path)
    first = True

    def line(line_no: int, text: str) -> str | None:
        nonlocal first
        msg = json.loads(text)
        if not isinstance(msg, dict) or not isinstance(msg.get("raw"), dict):
            raise ValueError("expected an object with a raw message")
        raw = msg["raw"]
        if raw.get("channel") != "l2Book":
            raise ValueError(f"channel {raw.get('channel')!r}, expected 'l2Book'")
        local_ts = iso_ns(msg.get("time"))
        if not add_l2book(parsed, raw.get("data"), local_ts, line_no):
            return "other coin"
        if first:
            parsed.note_start(local_ts)
            first = False
        return None

    run_lines(path, report, line, EXPECTED, progress)
    return report
