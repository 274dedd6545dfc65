"""One self-contained, offline HTML report per backtest (plotly with its JavaScript inlined).

It shows the fill model first (bar mode carries a LOW REALISM banner), then the headline metrics,
equity and drawdown, inventory, quoted spread and volatility regime over time, the fill mark-out
histogram, and every config value the run used.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.table import Table

from amm500.backtest.layout import F_LIQ, F_MK0, R_EQUITY, R_MID, R_POS, R_REGIME, R_SPREAD, R_VOL

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
"""


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.6g}"
    return html.escape(str(v))


def _time_axis(ts: np.ndarray) -> np.ndarray:
    return ts.astype("datetime64[ns]")


def _figures(result: BacktestResult) -> list[Any]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    step = max(1, result.rec_ts.size // MAX_POINTS)  # keep the file small: every step-th record
    t = _time_axis(result.rec_ts[::step])
    rec = result.rec[::step]
    eq = rec[:, R_EQUITY]
    peak = np.maximum.accumulate(eq) if eq.size else eq  # drawdown of the plotted series
    dd = np.where(peak > 0, (peak - eq) / np.where(peak > 0, peak, 1.0), 0.0)
    figs = []
    f = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                      subplot_titles=("equity (USD)", "drawdown (fraction of peak)"))
    f.add_trace(go.Scatter(x=t, y=eq, name="equity"), row=1, col=1)
    f.add_trace(go.Scatter(x=t, y=-dd, name="drawdown", fill="tozeroy"), row=2, col=1)
    f.update_layout(height=520, showlegend=False)
    figs.append(f)
    f = make_subplots(rows=2, cols=1, shared_xaxes=True, subplot_titles=("inventory (BTC)", "mid (USD)"))
    f.add_trace(go.Scatter(x=t, y=rec[:, R_POS], name="position"), row=1, col=1)
    f.add_trace(go.Scatter(x=t, y=rec[:, R_MID], name="mid"), row=2, col=1)
    f.update_layout(height=480, showlegend=False)
    figs.append(f)
    f = make_subplots(rows=3, cols=1, shared_xaxes=True,
                      subplot_titles=("quoted full spread (bps)", "volatility used (annualized)",
                                      "volatility regime (0 ultra-low .. 4 extreme)"))
    f.add_trace(go.Scatter(x=t, y=rec[:, R_SPREAD], name="spread"), row=1, col=1)
    f.add_trace(go.Scatter(x=t, y=rec[:, R_VOL], name="vol"), row=2, col=1)
    f.add_trace(go.Scatter(x=t, y=rec[:, R_REGIME], name="regime", line={"shape": "hv"}), row=3, col=1)
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
    rows = "".join(f"<tr><td>{k}</td><td class=v>{_fmt(m.get(k))}</td></tr>" for k in HEADLINE)
    mk = "".join(f"<tr><td>{k}</td><td class=v>{_fmt(v['mean_bps'])}</td><td class=v>{_fmt(v['median_bps'])}</td>"
                 f"<td class=v>{v['n']}</td></tr>" for k, v in m["markouts"].items())
    rej = "".join(f"<tr><td>{k}</td><td class=v>{v}</td></tr>" for k, v in m["rejects"].items())
    inv = "".join(f"<tr><td>{k}</td><td class=v>{_fmt(v)}</td></tr>" for k, v in m["inventory"].items())
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


def _fmt_term(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


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
    rows = [
        ("fees charged", metrics.get("fee_tier")),
        ("days", metrics["days"]), ("net PnL (USD)", metrics["net_pnl"]), ("return", metrics["return"]),
        ("annual ROI (simple)", metrics["annual_roi"]), ("Sharpe (daily, sqrt 365)", metrics["sharpe"]),
        ("Sharpe (hourly)", metrics["sharpe_hourly"]), ("max drawdown", metrics["max_drawdown"]),
        ("fills", metrics["fills"]), ("trades / day", metrics["trades_per_day"]),
        ("maker ratio (count)", metrics["maker_ratio"]), ("maker ratio (volume)", metrics["maker_ratio_volume"]),
        ("spread capture", metrics["spread_capture"]), ("inventory PnL", metrics["inventory_pnl"]),
        ("fees", metrics["fees"]), ("funding", metrics["funding"]),
        ("stopped", stopped_text(metrics)),
        ("quote uptime", metrics["quote_uptime"]), ("liquidations", metrics["liquidations"]),
        ("rejects", sum(metrics["rejects"].values())), ("events", metrics["events"]),
        ("events / s (kernel)", metrics["events_per_sec"]), ("compile / cache load (s)", metrics["compile_s"]),
    ]
    for key, h in metrics["markouts"].items():
        rows.append((f"mark-out {key} (bps, + good)", h["mean_bps"]))
    for name, value in rows:
        table.add_row(name, _fmt_term(value))
    return table


def write_report(result: BacktestResult, path: Path) -> None:
    """Render and write atomically (a temporary file renamed into place: never half a report)."""
    text = render_report(result)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
