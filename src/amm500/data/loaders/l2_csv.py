"""``l2-csv``: wide CSV captures of ``l2Book`` pushes (djienne/Hyperliquid_data_collector layout).

Header ``timestamp,sequence,exchange_timestamp,bid_price_0,bid_size_0,ask_price_0,ask_size_0,...,
ask_size_19``: ``timestamp`` is the receive time in float seconds (parsed exactly from the text),
``exchange_timestamp`` the exchange time in ms, level 0 the best. Empty cells after the last level
mean the side showed fewer levels.
"""

from __future__ import annotations

import csv
from pathlib import Path

from amm500.data.loaders.common import (
    FileReport,
    Parsed,
    Progress,
    csv_rows,
    format_error,
    iter_lines,
    ms_to_ns,
    require_records,
    seconds_to_ns,
)

NAME = "l2-csv"
KIND = "book"
DEPTH = 20
HEADER = ["timestamp", "sequence", "exchange_timestamp"] + [
    f"{side}_{what}_{i}" for i in range(DEPTH) for side in ("bid", "ask") for what in ("price", "size")
]
EXPECTED = f"L2 snapshot CSV (header {','.join(HEADER[:7])},...,ask_size_{DEPTH - 1})"


def _side(cells: list[str], start: int, name: str) -> tuple[list[float], list[float]]:
    px: list[float] = []
    sz: list[float] = []
    ended = False
    for i in range(DEPTH):
        px_text, sz_text = cells[start + 4 * i], cells[start + 4 * i + 1]
        if not px_text.strip() and not sz_text.strip():
            ended = True
            continue
        if ended:
            raise ValueError(f"{name}_price_{i}: level after an empty level")
        px.append(float(px_text))
        sz.append(float(sz_text))
    return px, sz


def parse_file(path: Path, parsed: Parsed, progress: Progress | None = None) -> FileReport:
    report = FileReport(path)
    lines = iter_lines(path, progress)
    header_line = next(lines, None)
    if header_line is None:
        raise format_error(path, EXPECTED, "the file is empty")
    header = next(csv.reader([header_line[1]]))
    if header != HEADER:
        raise format_error(path, EXPECTED, f"header starts {','.join(header[:7])!r}")
    first = True
    for line_no, cells in csv_rows(lines, report, len(HEADER)):
        try:
            local_ts = seconds_to_ns(cells[0])
            ts = ms_to_ns(cells[2])
            parsed.snapshots.add(ts, local_ts, *_side(cells, 3, "bid"), *_side(cells, 5, "ask"), line=line_no,
                                 file=len(parsed.reports))
        except ValueError as exc:
            report.add_bad(line_no, str(exc))
            continue
        if first:
            parsed.note_start(local_ts)
            first = False
        report.records += 1
    return require_records(path, report, EXPECTED)
