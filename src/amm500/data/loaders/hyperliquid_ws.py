"""``hyperliquid-ws``: raw WebSocket messages, one per line, as a recorder writes them.

Each line is ``{"channel": ..., "data": ...}``, optionally prefixed by the local receive time in
ns and a space (hftbacktest's collector format: ``1737918843893903000 {"channel": "l2Book", ...}``).
``l2Book`` messages become snapshots and ``trades`` messages trades; other channels
(``subscriptionResponse``, ``pong``, ``bbo``...) are counted as ignored. gzip, LZ4 or plain.
Without a prefix ``local_ts`` equals the exchange time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from amm500.data.loaders.common import FileReport, Parsed, Progress, add_l2book, positive_float, run_lines, trade_side
from amm500.data.schema import NS_PER_MS

NAME = "hyperliquid-ws"
KIND = "book+trades"
EXPECTED = ('Hyperliquid WebSocket recording (one {"channel": ..., "data": ...} message per line, optionally '
            'prefixed by the receive time in ns)')


def split_prefix(text: str) -> tuple[int | None, str]:
    """(local receive ns or None, the JSON part) of one recorded line."""
    head, sep, rest = text.partition(" ")
    if sep and head.isdigit():
        return int(head), rest
    return None, text


def add_trades(parsed: Parsed, data: Any, local_ts: int | None, first_msg: bool = False) -> int:
    """Add the trades of one ``trades`` message; returns how many belonged to another coin."""
    if not isinstance(data, list):
        raise ValueError("trades data must be a list")
    rows = []
    other = 0
    for t in data:
        if not isinstance(t, dict):
            raise ValueError(f"trade {t!r} must be an object")
        if not parsed.check_symbol(t.get("coin")):
            other += 1
            continue
        ms = t.get("time")
        if not isinstance(ms, int) or ms <= 0:
            raise ValueError(f"trade time {ms!r} must be a positive integer (ms)")
        tid = t.get("tid", -1)
        if not isinstance(tid, int):
            raise ValueError(f"trade tid {tid!r} must be an integer")
        ts = ms * NS_PER_MS
        rows.append((ts, ts if local_ts is None else local_ts, trade_side(str(t.get("side"))),
                     positive_float(t.get("px"), "px"), positive_float(t.get("sz"), "sz"), tid, first_msg))
    for row in rows:  # all-or-nothing per line: a bad trade rejects its whole message
        parsed.trades.add(*row)
    return other


def parse_file(path: Path, parsed: Parsed, progress: Progress | None = None) -> FileReport:
    report = FileReport(path)
    first = True
    first_trades = True

    def line(line_no: int, text: str) -> str | None:
        nonlocal first, first_trades
        local_ts, body = split_prefix(text)
        msg = json.loads(body)
        if not isinstance(msg, dict) or not isinstance(msg.get("channel"), str):
            raise ValueError("expected a WebSocket message object with a channel")
        if first and local_ts is not None:
            parsed.note_start(local_ts)
            first = False
        channel = msg["channel"]
        if channel == "l2Book":
            return None if add_l2book(parsed, msg.get("data"), local_ts, line_no) else "other coin"
        if channel == "trades":
            other = add_trades(parsed, msg.get("data"), local_ts, first_trades)
            first_trades = False
            if other:
                report.ignore("other coin trades", other)
            return None
        return f"channel {channel}"

    run_lines(path, report, line, EXPECTED, progress)
    return report
