"""``hyperliquid-archive``: the public S3 archive's ``l2Book`` files (one JSON object per line).

``{"time": "2023-09-16T09:00:01.039593170", "ver_num": 1, "raw": {"channel": "l2Book", "data":
{"coin": "BTC", "time": 1694854799647, "levels": [[bids], [asks]]}}}`` in an LZ4 frame or plain.
The outer ``time`` (ns, UTC, no zone) is when the archiver received the snapshot: it becomes
``local_ts``; the inner ``time`` (ms) is the exchange time ``ts``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from amm500.data.loaders.common import FileReport, Parsed, Progress, add_l2book, run_lines

NAME = "hyperliquid-archive"
KIND = "book"
EXPECTED = ('Hyperliquid archive l2Book (JSON lines {"time": "...", "ver_num": 1, "raw": {"channel": "l2Book", '
            '"data": {...}}}, plain or .lz4)')


def iso_ns(text: object) -> int:
    """ns since the epoch of a zone-less UTC ISO time with up to 9 decimals."""
    if not isinstance(text, str):
        raise ValueError(f"time {text!r} must be an ISO string")
    try:
        return int(np.datetime64(text.rstrip("Z"), "ns").astype(np.int64))
    except ValueError:
        raise ValueError(f"time {text!r} is not an ISO date-time") from None


def parse_file(path: Path, parsed: Parsed, progress: Progress | None = None) -> FileReport:
    report = FileReport(path)
    first = True

    def line(_: int, text: str) -> str | None:
        nonlocal first
        msg = json.loads(text)
        if not isinstance(msg, dict) or not isinstance(msg.get("raw"), dict):
            raise ValueError("expected an object with a raw message")
        raw = msg["raw"]
        if raw.get("channel") != "l2Book":
            raise ValueError(f"channel {raw.get('channel')!r}, expected 'l2Book'")
        local_ts = iso_ns(msg.get("time"))
        if not add_l2book(parsed, raw.get("data"), local_ts):
            return "other coin"
        if first:
            parsed.note_start(local_ts)
            first = False
        return None

    run_lines(path, report, line, EXPECTED, progress)
    return report
