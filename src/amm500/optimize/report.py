"""A self-contained HTML page for a search: table, heatmaps, in-sample vs out-of-sample.

plotly.js is inlined once, so the page opens offline and can be mailed as one file. Every page says
which fill model produced its numbers and, under walk-forward, how well in-sample rank predicted
out-of-sample rank.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from amm500.optimize.analysis import Analysis, FoldResult
from amm500.optimize.walkforward import SUMMARY_METRICS

TABLE_ROWS = 100
MAX_HEATMAPS = 12

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
table{border-collapse:collapse;font-size:13px;margin:1em 0}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right}
th{background:#f3f3f3} td.l,th.l{text-align:left} tr.bad{color:#999}
.note{background:#fff7e0;border-left:4px solid #e0a000;padding:.6em 1em;margin:1em 0}
.meta td{text-align:left}
"""


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def _cell(column: str, value: Any) -> str:
    """A metric with its unit (``backtest/units.py``, as in every summary); axes and flags as they are."""
    from amm500.backtest.units import METRICS, fmt_metric

    metric = column.removeprefix("is_").removeprefix("oos_")
    return fmt_metric(metric, value) if metric in METRICS and not isinstance(value, bool) else _fmt(value)


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for r in rows:
        cls = "" if r.get("feasible", True) else " class=bad"
        cells = "".join(f"<td>{html.escape(_cell(c, r.get(c)))}</td>" for c in columns)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _fig(fig: go.Figure) -> str:
    return str(fig.to_html(full_html=False, include_plotlyjs=False))


def _sortable(values: Sequence[Any]) -> list[Any]:
    return sorted(set(values), key=lambda v: (str(type(v)), v))


def heatmaps(result: FoldResult, analysis: Analysis) -> list[str]:
    """Best feasible objective for each pair of grid axes (best over the other axes)."""
    rows = [r for r in result.ranked if r.get("feasible")]
    varying = [a for a in analysis.axes if len({str(r.get(a)) for r in result.ranked}) > 1]
    out = []
    for x, y in itertools.islice(itertools.combinations(varying, 2), MAX_HEATMAPS):
        xs = _sortable([r.get(x) for r in result.ranked])
        ys = _sortable([r.get(y) for r in result.ranked])
        z: list[list[float | None]] = [[None] * len(xs) for _ in ys]
        for r in rows:
            v = analysis.objective.value(r)
            i, j = ys.index(r.get(y)), xs.index(r.get(x))
            cur = z[i][j]
            if cur is None or analysis.objective.better(v, cur):
                z[i][j] = v
        fig = go.Figure(
            go.Heatmap(
                z=z,
                x=[str(v) for v in xs],
                y=[str(v) for v in ys],
                colorscale="RdYlGn" if analysis.objective.direction == "maximize" else "RdYlGn_r",
                colorbar={"title": analysis.objective.metric},
                hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>{analysis.objective.metric}=%{{z:.4g}}<extra></extra>",
            )
        )
        fig.update_layout(
            title=f"best {analysis.objective.metric} over the other axes (feasible points; blank = none)",
            xaxis_title=x,
            yaxis_title=y,
            height=420,
            width=560,
            xaxis_type="category",
            yaxis_type="category",
        )
        out.append(_fig(fig))
    return out


def param_scatter(result: FoldResult, analysis: Analysis) -> str | None:
    """Objective against each parameter (for tune: continuous axes do not make heatmaps)."""
    rows = [r for r in result.ranked if r.get("status") == "ok"]
    if not rows:
        return None
    n = len(analysis.axes)
    fig = make_subplots(rows=1, cols=n, subplot_titles=analysis.axes)
    for i, axis in enumerate(analysis.axes, start=1):
        fig.add_trace(
            go.Scatter(
                x=[r.get(axis) for r in rows],
                y=[analysis.objective.value(r) for r in rows],
                mode="markers",
                marker={"color": ["#2a7" if r.get("feasible") else "#bbb" for r in rows]},
                showlegend=False,
            ),
            row=1,
            col=i,
        )
    fig.update_layout(title=f"{analysis.objective.metric} per trial (grey: constraint not met)", height=360)
    return _fig(fig)


def pareto(result: FoldResult, analysis: Analysis) -> str | None:
    rows = [r for r in result.ranked if r.get("status") == "ok"]
    if not rows or not analysis.description.get("multi_objective"):
        return None
    fig = go.Figure(
        go.Scatter(
            x=[r.get("max_drawdown") for r in rows],
            y=[analysis.objective.value(r) for r in rows],
            mode="markers",
            text=[", ".join(f"{a}={_fmt(r.get(a))}" for a in analysis.axes) for r in rows],
        )
    )
    fig.update_layout(
        title=f"{analysis.objective.metric} vs max_drawdown (each trial)",
        xaxis_title="max_drawdown",
        yaxis_title=analysis.objective.metric,
        height=420,
    )
    return _fig(fig)


def is_oos_scatter(analysis: Analysis) -> str | None:
    if not any(f.pairs for f in analysis.folds):
        return None
    fig = go.Figure()
    metric = analysis.objective.metric
    for f in analysis.folds:
        if not f.pairs:
            continue
        corr = "n/a" if math.isnan(f.correlation) else f"{f.correlation:.2f}"
        fig.add_trace(
            go.Scatter(
                x=[analysis.objective.value(a) for a, _ in f.pairs],
                y=[analysis.objective.value(b) for _, b in f.pairs],
                mode="markers",
                name=f"fold {f.fold.index} (rank corr {corr})",
                text=[", ".join(f"{ax}={_fmt(a.get(ax))}" for ax in analysis.axes) for a, _ in f.pairs],
            )
        )
        if f.chosen is not None and f.chosen_test is not None:
            fig.add_trace(
                go.Scatter(
                    x=[analysis.objective.value(f.chosen)],
                    y=[analysis.objective.value(f.chosen_test)],
                    mode="markers",
                    marker={"symbol": "star", "size": 16, "line": {"width": 1, "color": "black"}},
                    name=f"fold {f.fold.index} chosen",
                )
            )
    fig.update_layout(
        title=f"in-sample vs out-of-sample {metric} (points on the diagonal generalize; a cloud does not)",
        xaxis_title=f"in-sample {metric}",
        yaxis_title=f"out-of-sample {metric}",
        height=520,
    )
    return _fig(fig)


def render(analysis: Analysis, title: str = "AMM-500 parameter search") -> str:
    d = analysis.description
    obj = analysis.objective
    days = d.get("days", [])
    meta_rows = [
        ("search", f"{analysis.kind} over {', '.join(analysis.axes)}"),
        ("objective", f"{obj}" + (" and minimize max_drawdown" if d.get("multi_objective") else "")),
        ("constraints", ", ".join(str(c) for c in analysis.constraints) or "none"),
        ("data", f"{d.get('data')} ({days[0]}..{days[-1]}, {len(days)} days)" if days else str(d.get("data"))),
        ("fill model", f"{d.get('fill_model')} (strategy {d.get('strategy')})"),
        ("generated", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
    ]
    if d.get("study"):
        meta_rows.append(("optuna study", f"{d['study']} ({d.get('sampler')})"))
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style><script>{get_plotlyjs()}</script></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<table class=meta>"
        + "".join(f"<tr><th class=l>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in meta_rows)
        + "</table>",
        "<div class=note>Every extra point tried makes the best in-sample result look better by luck alone. "
        "Judge a parameter set by its out-of-sample result (walk-forward) and prefer broad plateaus in the "
        "heatmaps to single bright cells.</div>",
    ]
    if analysis.walk_forward:
        metrics = [f"{p}_{m}" for m in SUMMARY_METRICS for p in ("is", "oos")]
        parts.append("<h2>Walk-forward: chosen point per fold, in-sample vs out-of-sample</h2>")
        parts.append(
            _table(analysis.summary_rows(), ["fold", "train", "test", *analysis.axes, *metrics, "is_oos_rank_corr"])
        )
        scatter = is_oos_scatter(analysis)
        if scatter:
            parts.append(scatter)
    metric_cols = [m for m in ("sharpe", "annual_roi", "max_drawdown", "net_pnl", "trades_per_day", "maker_ratio",
                               "fees", "fills") if any(m in r for f in analysis.folds for r in f.ranked)]
    for f in analysis.folds:
        label = f"fold {f.fold.index} in-sample" if analysis.walk_forward else "all days"
        parts.append(f"<h2>Results ({html.escape(label)}: {len(f.ranked)} points, best first)</h2>")
        if analysis.kind == "grid":
            parts.extend(heatmaps(f, analysis))
        else:
            for extra in (param_scatter(f, analysis), pareto(f, analysis)):
                if extra:
                    parts.append(extra)
        cols = ["rank", "feasible", *analysis.axes, *metric_cols, "status", "error"]
        parts.append(_table(f.ranked[:TABLE_ROWS], cols))
        if len(f.ranked) > TABLE_ROWS:
            parts.append(f"<p>… {len(f.ranked) - TABLE_ROWS} more rows in the Parquet results file.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(path: Path, analysis: Analysis, title: str = "AMM-500 parameter search") -> Path:
    """Write through a temporary file and a rename: a stopped run never leaves half a page."""
    from amm500.core.files import write_text_atomic

    write_text_atomic(path, render(analysis, title))
    return Path(path)
