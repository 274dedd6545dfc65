"""A finished journal as one static HTML file: the live page's code with its data baked in.

Why the same page rather than a separate report: a person reading yesterday's session should see the
same figures, laid out the same way, as the one who watched it live; the page's script renders an
embedded snapshot exactly as it renders a pushed one. Everything (styles, uPlot, the data) is
inlined, so the file opens from disk, is mailed around, and needs no server and no internet.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from pathlib import Path
from typing import Any

from amm500.dashboard.server import STATIC, Dashboard, DashboardSettings, scrub, secret_values


def replay_snapshot(journal: Path, backtest: Path | None = None) -> dict[str, Any]:
    """The snapshot the live server would push for this journal, with no bot."""
    dash = Dashboard(DashboardSettings(journal=journal, backtest=backtest))
    # in a thread of its own: callable from inside a running event loop (a server, Playwright's sync API)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, dash.build()).result()


def _inline_script(code: str) -> str:
    return "<script>" + code.replace("</script", "<\\/script") + "</script>"


def static_page(snapshot: dict[str, Any]) -> str:
    """index.html with its stylesheets, scripts and ``snapshot`` inlined."""
    html = (STATIC / "index.html").read_text()
    css = (STATIC / "vendor" / "uPlot.min.css").read_text() + "\n" + (STATIC / "app.css").read_text()
    html = html.replace('<link rel="stylesheet" href="/static/vendor/uPlot.min.css">\n', "")
    html = html.replace('<link rel="stylesheet" href="/static/app.css">\n', "")
    html = html.replace("<!--INLINE-CSS-->", f"<style>{css}</style>")
    data = scrub(json.dumps(snapshot, allow_nan=False, default=str), secret_values())
    data = data.replace("</", "<\\/")  # a detail string must not close the script element
    html = html.replace("<!--SNAPSHOT-->", f'<script id="snapshot" type="application/json">{data}</script>')
    html = html.replace('<script src="/static/vendor/uPlot.iife.min.js"></script>',
                        _inline_script((STATIC / "vendor" / "uPlot.iife.min.js").read_text()))
    html = html.replace('<script src="/static/app.js"></script>', _inline_script((STATIC / "app.js").read_text()))
    return html


def write_static(journal: Path, out: Path, backtest: Path | None = None) -> Path:
    """Write the replay page to ``out`` (atomically: a reader never sees half a file)."""
    page = static_page(replay_snapshot(journal, backtest))
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(page)
    tmp.replace(out)
    return out
