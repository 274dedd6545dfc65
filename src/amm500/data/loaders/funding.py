"""``funding``: funding-rate history -> FUNDING rows.

Accepted: the ``fundingHistory`` JSON response (a list of ``{"coin", "fundingRate", "premium",
"time"}``), or CSV ``time_ms,time_utc,funding_rate`` (freqtrade export). The rate is per funding
interval as Hyperliquid reports it; the interval is inferred from the spacing of the rows and
every row is turned into hourly rows (see docs/data.md, "Loaders").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

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
from amm500.data.schema import NS_PER_HOUR

NAME = "funding"
KIND = "funding"
HEADER = ["time_ms", "time_utc", "funding_rate"]
EXPECTED = f'funding history (fundingHistory JSON [{{"coin", "fundingRate", "time"}}...] or CSV {",".join(HEADER)})'


def _rate(text: Any) -> float:
    value = float(text)
    if not np.isfinite(value) or abs(value) > 0.04 * 8:
        raise ValueError(f"funding rate {text!r} must be finite and at most 4%/hour in size")
    return value


def _add_json(parsed: Parsed, item: Any) -> None:
    if not isinstance(item, dict) or "fundingRate" not in item or "time" not in item:
        raise ValueError("expected an object with coin, fundingRate and time")
    coin = item.get("coin")
    if coin is not None and not parsed.check_symbol(coin):
        raise ValueError(f"coin {coin!r}, expected {parsed.symbol!r}")
    t = item["time"]
    if not isinstance(t, int) or t <= 0:
        raise ValueError(f"time {t!r} must be a positive integer (ms)")
    rate = _rate(item["fundingRate"])  # validate before appending: the two columns must stay aligned
    parsed.funding_ts.append(ms_to_ns(t))
    parsed.funding_rate.append(rate)


def parse_file(path: Path, parsed: Parsed, progress: Progress | None = None) -> FileReport:
    report = FileReport(path)
    lines = iter_lines(path, progress)
    text, header = json_or_csv_header(path, lines, report, EXPECTED)
    if text is not None:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise format_error(path, EXPECTED, f"not JSON: {exc}") from None
        items = doc if isinstance(doc, list) else [doc]
        if not any(isinstance(d, dict) and "fundingRate" in d for d in items[:50]):
            raise format_error(path, EXPECTED, "JSON without fundingRate objects")
        for i, item in enumerate(items, start=1):
            try:
                _add_json(parsed, item)
                report.records += 1
            except (ValueError, TypeError) as exc:
                report.add_bad(i, f"item {i}: {exc}")
    else:
        if header != HEADER:
            raise format_error(path, EXPECTED, f"header {','.join(header[:7])!r}")
        for line_no, cells in csv_rows(lines, report, len(HEADER)):
            try:
                ts = ms_to_ns(cells[0])
                rate = _rate(cells[2])
            except ValueError as exc:
                report.add_bad(line_no, str(exc))
                continue
            parsed.funding_ts.append(ts)
            parsed.funding_rate.append(rate)
            report.records += 1
    return require_records(path, report, EXPECTED)


def to_hourly(ts: np.ndarray, rate: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Hourly rows from time-sorted rates. Hyperliquid published 8-hour rates until June 2023: a row
    that follows an 8-hour gap (the first row: that precedes one) becomes eight rows of rate/8 at
    ts-7h, ..., ts. Every other row is an hourly rate; any other gap is missing data and stays a gap.
    Returns (ts, hourly rate, number of rows split)."""
    n = ts.size
    hours: np.ndarray = np.ones(n, dtype=np.int64)
    if n > 1:
        gap_h = np.rint(np.diff(ts) / NS_PER_HOUR).astype(np.int64)
        hours[1:][gap_h == 8] = 8
        if gap_h[0] == 8:
            hours[0] = 8
    back = np.concatenate([np.arange(h - 1, -1, -1) for h in hours]) if n else np.zeros(0, np.int64)
    out_ts = np.repeat(ts, hours) - back * NS_PER_HOUR
    out_rate = np.repeat(rate / hours, hours)
    return out_ts.astype(np.int64), out_rate.astype(np.float64), int(np.count_nonzero(hours > 1))
