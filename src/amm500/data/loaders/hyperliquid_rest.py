"""``hyperliquid-rest``: saved ``POST /info {"type": "l2Book"}`` responses, one JSON document per file.

The document is one response object ``{"coin", "time", "levels": [[bids], [asks]]}`` or a list of
them (e.g. a poller's output). Responses have no receive time: ``local_ts`` equals ``ts``.
"""

from __future__ import annotations

import json
from pathlib import Path

from amm500.data.loaders.common import FileReport, Parsed, Progress, add_l2book, format_error, read_text

NAME = "hyperliquid-rest"
KIND = "book"
EXPECTED = 'Hyperliquid l2Book REST response (a JSON object {"coin", "time", "levels"} or a list of them)'


def parse_file(path: Path, parsed: Parsed, progress: Progress | None = None) -> FileReport:
    report = FileReport(path)
    text = read_text(path, progress)
    report.lines = text.count("\n") + 1
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise format_error(path, EXPECTED, f"not JSON: {exc}") from None
    items = doc if isinstance(doc, list) else [doc]
    if not items or not all(isinstance(d, dict) and "levels" in d for d in items):
        raise format_error(path, EXPECTED, "no object with a levels field")
    for i, item in enumerate(items, start=1):
        try:
            if add_l2book(parsed, item, None, i):
                report.records += 1
            else:
                report.ignore("other coin")
        except (ValueError, TypeError, KeyError) as exc:
            report.add_bad(i, f"response {i}: {exc}")
    return report
