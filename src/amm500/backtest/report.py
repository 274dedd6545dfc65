"""One self-contained, offline HTML report per backtest (plotly with its JavaScript inlined).

It shows the fill model first (bar mode carries a LOW REALISM banner), then the headline metrics,
equity and drawdown, inventory, quoted spread and volatility regime over time, the fill mark-out
histogram, and every config value the run used.
"""

from __future__ import annotations

import html
import itertools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.markup import escape
from rich.table import Table

from amm500.backtest.units import fmt_metric, fmt_value, label
from amm500.core.files import write_text_atomic
from amm500.sim.layout import (
    F_LIQ,
    F_MK0,
    F_SIDE,
    F_SZ,
    R_EQUITY,
    R_MID,
    R_POS,
    R_QUOTING,
    R_REGIME,
    R_SPREAD,
    R_VOL,
)

if TYPE_CHECKING:
    from amm500.backtest.runner import BacktestResult

HEADLINE = ("fee_tier", "net_pnl", "return", "annual_roi", "sharpe", "sharpe_hourly", "max_drawdown", "fills",
            "trades_per_day",
            "maker_ratio", "maker_ratio_volume", "spread_capture", "inventory_pnl", "fees", "funding", "quote_uptime",
            "avg_quoted_spread_bps", "liquidations", "killed", "kill_reason", "stopped_after_s", "events",
            "events_per_sec", "kernel_s", "compile_s")

MAX_POINTS = 4000

CSS = """
body{font-family:system-ui,sans-serif;margin:24px;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:8px 0 24px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
td.v{text-align:right;font-family:monospace}.banner{padding:12px 16px;border-radius:6px;margin-bottom:16px}
.low{background:#fde2e1;border:2px solid #c0392b;color:#922b21;font-weight:bold;font-size:1.2em}
.ok{background:#e8f6ef;border:1px solid #27ae60}
.green{background:#e8f6ef;border:1px solid #27ae60}
.amber{background:#fff4d6;border:2px solid #d68910;color:#7e5109;font-weight:bold}
.red{background:#fde2e1;border:2px solid #c0392b;color:#922b21;font-weight:bold}
"""


def _time_axis(ts: np.ndarray) -> np.ndarray:
    return ts.astype("datetime64[ns]")


def chart_series(result: BacktestResult) -> dict[str, np.ndarray]:
    """The record columns as the charts should show them (why each mask: a chart must not lie).

    - before the first book there is no mid: mid, spread, volatility and regime are NaN (a gap), not 0
      (a 0 at the start stretched the price axis from 0 to 90k and flattened the price);
    - while the strategy is not quoting (after a kill switch, on a stale book) spread and regime are NaN;
    - ``position_ts``/``position`` is the position after every fill, so a round trip between two
      once-a-minute records still shows (the records alone looked flat while the table's max did not).
    """
    rec = result.rec
    mid = rec[:, R_MID].astype(float, copy=True)
    no_book = ~(mid > 0)
    mid[no_book] = np.nan
    quoting = rec[:, R_QUOTING] > 0
    spread = np.where(quoting & ~no_book, rec[:, R_SPREAD], np.nan)
    regime = np.where(quoting & ~no_book, rec[:, R_REGIME], np.nan)
    vol = np.where(no_book, np.nan, rec[:, R_VOL])
    fills = result.fills
    pos = np.cumsum(fills[:, F_SIDE] * fills[:, F_SZ]) if fills.shape[0] else np.zeros(0)
    return {"ts": result.rec_ts, "equity": rec[:, R_EQUITY], "mid": mid, "spread": spread, "vol": vol,
            "regime": regime, "record_position": rec[:, R_POS], "position_ts": result.fills_ts, "position": pos}


def _envelope(ts: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ~2n points that keep every bucket's minimum and maximum (plain striding would drop spikes)."""
    if ts.size <= 2 * n:
        return ts, y
    edges = np.linspace(0, ts.size, n + 1).astype(np.int64)
    idx: list[int] = []
    for a, b in itertools.pairwise(edges):
        seg = y[a:b]
        lo, hi = a + int(np.argmin(seg)), a + int(np.argmax(seg))
        idx += sorted({lo, hi})
    ix = np.asarray(idx)
    return ts[ix], y[ix]


def _figures(result: BacktestResult) -> list[Any]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    s = chart_series(result)
    step = max(1, result.rec_ts.size // MAX_POINTS)  # keep the file small: every step-th record
    t = _time_axis(s["ts"][::step])
    eq = s["equity"][::step]
    peak = np.maximum.accumulate(eq) if eq.size else eq  # drawdown of the plotted series
    dd = np.where(peak > 0, (peak - eq) / np.where(peak > 0, peak, 1.0), 0.0)
    figs = []
    f = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                      subplot_titles=("equity (USD)", "drawdown (% of peak equity)"))
    f.add_trace(go.Scatter(x=t, y=eq, name="equity"), row=1, col=1)
    f.add_trace(go.Scatter(x=t, y=-dd * 100, name="drawdown", fill="tozeroy"), row=2, col=1)
    f.update_yaxes(title_text="USD", row=1, col=1)
    f.update_yaxes(title_text="% of peak", row=2, col=1)
    f.update_layout(height=520, showlegend=False)
    figs.append(f)
    f = make_subplots(rows=2, cols=1, shared_xaxes=True,
                      subplot_titles=("inventory (BTC, after every fill)", "mid (USD)"))
    if s["position"].size:
        pt, py = _envelope(s["position_ts"], s["position"], MAX_POINTS // 2)
        f.add_trace(go.Scatter(x=_time_axis(pt), y=py, name="position", line={"shape": "hv"}), row=1, col=1)
    else:
        f.add_trace(go.Scatter(x=t, y=s["record_position"][::step], name="position"), row=1, col=1)
    f.add_trace(go.Scatter(x=t, y=s["mid"][::step], name="mid"), row=2, col=1)
    f.update_yaxes(title_text="BTC", row=1, col=1)
    f.update_yaxes(title_text="USD", row=2, col=1)
    f.update_layout(height=480, showlegend=False)
    figs.append(f)
    f = make_subplots(rows=3, cols=1, shared_xaxes=True,
                      subplot_titles=("quoted full spread (bps; gaps: not quoting)", "volatility used (annualized, %)",
                                      "volatility regime (0 ultra-low .. 4 extreme; gaps: not quoting)"))
    f.add_trace(go.Scatter(x=t, y=s["spread"][::step], name="spread"), row=1, col=1)
    f.add_trace(go.Scatter(x=t, y=s["vol"][::step] * 100, name="vol"), row=2, col=1)
    f.add_trace(go.Scatter(x=t, y=s["regime"][::step], name="regime", line={"shape": "hv"}), row=3, col=1)
    f.update_layout(height=620, showlegend=False)
    figs.append(f)
    f = go.Figure()
    fills = result.fills
    ok = fills[:, F_LIQ] == 0 if fills.shape[0] else np.zeros(0, dtype=bool)
    for k, h in enumerate(result.config.backtest.markout_horizons_s):
        col = fills[ok, F_MK0 + k] if fills.shape[0] else np.zeros(0)
        col = col[np.isfinite(col)]
        f.add_trace(go.Histogram(x=col, name=f"{h:g} s", opacity=0.55, nbinsx=80))
    f.update_layout(barmode="overlay", height=420, title="fill mark-outs (bps, positive = good for us)")
    figs.append(f)
    return figs


def render_report(result: BacktestResult) -> str:
    from plotly.offline import get_plotlyjs

    m = result.metrics
    low = result.fill_model == "bar"
    banner = (f'<div class="banner low">LOW REALISM - fill model "bar": {html.escape(m["fill_model_description"])}'
              "</div>" if low else
              f'<div class="banner ok">fill model "tick": {html.escape(m["fill_model_description"])}</div>')
    v = m.get("verdict") or {"level": "green", "text": ""}
    banner = f'<div class="banner {v["level"]}" id="verdict">{html.escape(v["text"])}</div>{banner}'
    rows = "".join(f"<tr><td>{html.escape(label(k))}</td><td class=v>{html.escape(_headline_value(m, k))}</td></tr>"
                   for k in HEADLINE)
    mk = "".join(f"<tr><td>{k}</td><td class=v>{fmt_value(h['mean_bps'], 'bps')}</td>"
                 f"<td class=v>{fmt_value(h['median_bps'], 'bps')}</td>"
                 f"<td class=v>{h['n']}</td></tr>" for k, h in m["markouts"].items())
    rej = "".join(f"<tr><td>{k}</td><td class=v>{n}</td></tr>" for k, n in m["rejects"].items())
    inv = "".join(f"<tr><td>{html.escape(label(k))}</td><td class=v>{fmt_metric(k, x)}</td></tr>"
                  for k, x in m["inventory"].items())
    cfg_rows = []
    for section, values in result.config.masked_dict().items():
        for key, value in values.items():
            cfg_rows.append(f"<tr><td>{section}.{key}</td><td class=v>{html.escape(json.dumps(value))}</td></tr>")
    figs = "".join(f.to_html(include_plotlyjs=False, full_html=False) for f in _figures(result))
    title = f"AMM-500 backtest ({result.fill_model}{', LOW REALISM' if low else ''})"
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title><style>{CSS}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body><h1>{title}</h1>{banner}"
        f"<h2>Summary</h2><table>{rows}</table>"
        "<h2>Mark-outs</h2><table><tr><th>horizon</th><th>mean bps</th><th>median bps</th><th>fills</th></tr>"
        f"{mk}</table>"
        f"<h2>Inventory</h2><table>{inv}</table><h2>Rejects</h2><table>{rej}</table>"
        f"<h2>Charts</h2>{figs}"
        f"<h2>Configuration used</h2><p>fill model: <b>{result.fill_model}</b></p><table>{''.join(cfg_rows)}</table>"
        "</body></html>"
    )


def _headline_value(m: dict[str, Any], key: str, short: bool = False) -> str:
    """One summary value with its unit; an undefined Sharpe says why (in brief for the terminal)."""
    if key == "sharpe" and m.get("sharpe") is None and m.get("sharpe_note"):
        return "- (undefined: see sharpe_note in the JSON)" if short else f"- ({m['sharpe_note']})"
    if key == "killed":
        return stopped_text(m)
    return fmt_metric(key, m.get(key))


def stopped_text(metrics: dict[str, Any]) -> str:
    """Whether and when the run stopped trading: a kill switch in the first minute must not hide
    behind a good-looking summary."""
    if metrics["killed"] == "no":
        return "no"
    what = f"kill switch ({metrics['kill_reason']})" if metrics["killed"] == "kill_switch" else "liquidated"
    after = metrics.get("stopped_after_s")
    if after is None:
        return what
    d, rem = divmod(int(after), 86_400)
    h, rem = divmod(rem, 3_600)
    m, sec = divmod(rem, 60)
    return f"{what} at {f'{d} d ' if d else ''}{h:02d}:{m:02d}:{sec:02d}"


def summary_table(metrics: dict[str, Any]) -> Table:
    model = metrics["fill_model"]
    title = f"backtest - fill model: {model}" + (" (LOW REALISM)" if model == "bar" else "")
    table = Table(title=title, show_header=False)
    table.add_column("metric", style="cyan")
    table.add_column("value", justify="right")
    if metrics.get("fee_tier"):
        table.add_row("fees charged", str(metrics["fee_tier"]))
    keys = ("days", "net_pnl", "return", "annual_roi", "sharpe", "sharpe_hourly", "max_drawdown", "fills",
            "trades_per_day", "maker_ratio", "maker_ratio_volume", "spread_capture", "inventory_pnl", "fees",
            "funding", "killed", "quote_uptime", "liquidations")
    for key in keys:
        table.add_row(label(key), _headline_value(metrics, key, short=True))
    table.add_row(label("rejects"), fmt_metric("rejects", sum(metrics["rejects"].values())))
    for key in ("events", "events_per_sec", "compile_s"):
        table.add_row(label(key), fmt_metric(key, metrics.get(key)))
    for key, h in metrics["markouts"].items():
        table.add_row(f"mark-out {key} (mean, + good)", fmt_value(h["mean_bps"], "bps"))
    v = metrics.get("verdict")
    if v:
        style = {"red": "bold red", "amber": "bold yellow"}.get(v["level"], "green")
        table.caption = f"[{style}]{escape(v['text'])}[/]"
        table.caption_justify = "left"
    return table


def write_report(result: BacktestResult, path: Path, flag: str | None = None) -> None:
    """Render and write atomically (a temporary file renamed into place: never half a report)."""
    write_text_atomic(path, render_report(result), flag)
