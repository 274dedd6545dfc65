"""``candles``: OHLCV bars from Hyperliquid ``candleSnapshot`` JSON or from CSV exports.

Accepted layouts (detected from the content, not the name):

* JSON: the ``candleSnapshot`` response, a list of ``{"t": open_ms, "o", "h", "l", "c", "v", "n", ...}``
  (one object per line is accepted too, as a recorder of the ``candle`` channel writes them);
* CSV ``open_time_ms,open_time_utc,open,high,low,close,volume_btc`` (freqtrade export);
* CSV ``timestamp,open,high,low,close,volume`` with ISO times ``YYYY-MM-DD HH:MM:SS+00:00`` (Bybit kline
  export) or integer ms.

``ts`` is the bar's open time; volume is in base units (BTC).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from amm500.data.loaders.common import (
    FileReport,
    Parsed,
    Progress,
    csv_rows,
    format_error,
    iter_lines,
    json_or_csv_header,
    ms_to_ns,
    require_records,
)
from amm500.data.schema import NS_PER_S

NAME = "candles"
KIND = "bars"
FREQTRADE = ["open_time_ms", "open_time_utc", "open", "high", "low", "close", "volume_btc"]
GENERIC = ["timestamp", "open", "high", "low", "close", "volume"]
EXPECTED = (f"candles file (candleSnapshot JSON, or CSV with header {','.join(FREQTRADE)} or "
            f"{','.join(GENERIC)})")


def time_ns(text: str) -> int:
    """Integer ms, or an ISO date-time (UTC when no zone is given)."""
    s = text.strip()
    if s.isdigit():
        return ms_to_ns(s)
    when = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp()) * NS_PER_S + when.microsecond * 1000


def _add(parsed: Parsed, ts: int, o: Any, h: Any, lo: Any, c: Any, v: Any, n: Any = 0) -> None:
    vals = [float(o), float(h), float(lo), float(c), float(v)]
    trades = int(n)
    parsed.bar_ts.append(ts)
    parsed.bar_ohlcv.append_row(vals)
    parsed.bar_trades.append(trades)


def _add_json(parsed: Parsed, item: Any) -> None:
    if not isinstance(item, dict) or "t" not in item:
        raise ValueError("candle must be an object with t, o, h, l, c, v")
    s = item.get("s")
    if s is not None and not parsed.check_symbol(s):
        raise ValueError(f"coin {s!r}, expected {parsed.symbol!r}")
    t = item["t"]
    if not isinstance(t, int):
        raise ValueError(f"t {t!r} must be an integer (ms)")
    _add(parsed, t * 1_000_000, item["o"], item["h"], item["l"], item["c"], item["v"], item.get("n", 0))


def _parse_json(path: Path, parsed: Parsed, report: FileReport, text: str) -> None:
    try:
        doc = json.loads(text)
        items = doc if isinstance(doc, list) else [doc]
    except json.JSONDecodeError:
        items = []
        for i, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    report.add_bad(i, f"not JSON: {exc}")
    if not any(isinstance(d, dict) and "t" in d and "o" in d for d in items[:50]):
        raise format_error(path, EXPECTED, "JSON without candle objects {t, o, h, l, c, v}")
    for i, item in enumerate(items, start=1):
        try:
            _add_json(parsed, item)
            report.records += 1
        except (ValueError, KeyError, TypeError) as exc:
            report.add_bad(i, f"candle {i}: {exc}")


def parse_file(path: Path, parsed: Parsed, progress: Progress | None = None) -> FileReport:
    report = FileReport(path)
    lines = iter_lines(path, progress)
    text, header = json_or_csv_header(path, lines, report, EXPECTED)
    if text is not None:
        _parse_json(path, parsed, report, text)
    else:
        if header == FREQTRADE:
            cols = (0, 2, 3, 4, 5, 6)
        elif header == GENERIC:
            cols = (0, 1, 2, 3, 4, 5)
        else:
            raise format_error(path, EXPECTED, f"header {','.join(header[:7])!r}")
        for line_no, cells in csv_rows(lines, report, len(header)):
            try:
                _add(parsed, time_ns(cells[cols[0]]), *(cells[c] for c in cols[1:]))
                report.records += 1
            except ValueError as exc:
                report.add_bad(line_no, str(exc))
    return require_records(path, report, EXPECTED)
