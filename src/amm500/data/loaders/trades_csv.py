"""``trades-csv``: CSV trade captures (djienne/Hyperliquid_data_collector layout).

Header ``timestamp,price,size,side,trade_id,exchange_timestamp``: receive time in float seconds,
``side`` the aggressor (``buy``/``sell``), ``trade_id`` Hyperliquid's ``tid``, exchange time in ms.
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
    positive_float,
    require_records,
    seconds_to_ns,
    trade_side,
)

NAME = "trades-csv"
KIND = "trades"
HEADER = ["timestamp", "price", "size", "side", "trade_id", "exchange_timestamp"]
EXPECTED = f"trades CSV (header {','.join(HEADER)})"


def parse_file(path: Path, parsed: Parsed, progress: Progress | None = None) -> FileReport:
    report = FileReport(path)
    lines = iter_lines(path, progress)
    header_line = next(lines, None)
    if header_line is None:
        raise format_error(path, EXPECTED, "the file is empty")
    header = next(csv.reader([header_line[1]]))
    if header != HEADER:
        raise format_error(path, EXPECTED, f"header starts {','.join(header[:7])!r}")
    first_local: int | None = None
    for line_no, cells in csv_rows(lines, report, len(HEADER)):
        try:
            local_ts = seconds_to_ns(cells[0])
            row = (ms_to_ns(cells[5]), local_ts, trade_side(cells[3]), positive_float(cells[1], "price"),
                   positive_float(cells[2], "size"), int(cells[4]))
            if first_local is None:
                first_local = local_ts
                parsed.note_start(local_ts)
        except ValueError as exc:
            report.add_bad(line_no, str(exc))
            continue
        parsed.trades.add(*row, local_ts == first_local)  # rows of the first push share its receive time
        report.records += 1
    return require_records(path, report, EXPECTED)
