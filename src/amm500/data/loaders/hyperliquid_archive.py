"""``hyperliquid-archive``: the public S3 archive's ``l2Book`` files (one JSON object per line).

``{"time": "2023-09-16T09:00:01.039593170", "ver_num": 1, "raw": {"channel": "l2Book", "data":
{"coin": "BTC", "time": 1694854799647, "levels": [[bids], [asks]]}}}`` in an LZ4 frame or plain.
The outer ``time`` (ns, UTC, no zone) is when the archiver received the snapshot: it becomes
``local_ts``; the inner ``time`` (ms) is the exchange time ``ts``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from amm500.data.loaders.common import FileReport, Parsed, Progress, add_l2book, format_error, iter_lines, run_lines
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


ARCHIVE_PATH = re.compile(r"(?:^|/)(\d{8})/(\d{1,2})/l2Book/[^/]+$")


def day_groups(paths: list[Path]) -> list[list[Path]]:
    """Files grouped by the archive day in their path (``.../YYYYMMDD/H/l2Book/COIN.lz4``), oldest
    first and by hour inside a day, so a long import holds one day in memory at a time. Paths
    outside that layout form one group. Day edges need no care: a snapshot received after midnight
    but stamped before it lands in the previous day's file after that day's rows, with a clear."""
    keyed: dict[str, list[tuple[int, Path]]] = {}
    for p in paths:
        m = ARCHIVE_PATH.search(Path(p).as_posix())
        if m is None:
            return [list(paths)]
        keyed.setdefault(m.group(1), []).append((int(m.group(2)), Path(p)))
    return [[p for _, p in sorted(keyed[day], key=lambda hp: hp[0])] for day in sorted(keyed)]


def sniff(path: Path) -> None:
    """Refuse a file whose first non-blank line is not an archive ``l2Book`` record (before any write)."""
    for _, text in iter_lines(path):
        if text.strip():
            try:
                msg = json.loads(text)
                raw = msg.get("raw") if isinstance(msg, dict) else None
                ok = isinstance(raw, dict) and raw.get("channel") == "l2Book"
            except ValueError:
                ok = False
            if not ok:
                raise format_error(path, EXPECTED, f"first line is not an l2Book record: {text[:80]!r}")
            return
    raise format_error(path, EXPECTED, "the file is empty")
