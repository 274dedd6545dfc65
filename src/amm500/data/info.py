"""``amm500 data info``: what a canonical data directory holds, day by day, and where it has holes.

Reads one day at a time, so it runs on months of data in constant memory. Gaps are measured on the
market stream (book, clear and trade rows; funding is hourly by nature and not counted), across
day boundaries too; a day between the first and last one without a file is a missing day.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from amm500.data.schema import BOOK_LEVEL, FUNDING, KIND_NAMES, NS_PER_HOUR, NS_PER_S, TRADE
from amm500.data.store import (
    bar_days,
    event_days,
    read_bars_file,
    read_dataset_meta,
    read_events_file,
    require_data_dir,
)

MAX_GAPS_LISTED = 50
QUIET_RUN = 3  # text output: longer runs of days with funding rows only are shown as one line


def iso(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns / NS_PER_S, tz=dt.UTC).isoformat(timespec="milliseconds")


def _missing_days(days: list[dt.date]) -> list[str]:
    if not days:
        return []
    have = set(days)
    span = (days[-1] - days[0]).days
    return [(days[0] + dt.timedelta(d)).isoformat() for d in range(span + 1) if days[0] + dt.timedelta(d) not in have]


def _events_info(root: Any, gap_ns: int) -> dict[str, Any]:
    per_day = []
    gaps: list[dict[str, Any]] = []
    n_gaps = 0
    prev_last: int | None = None
    totals = {name: 0 for name in KIND_NAMES.values()}
    lo, hi = np.inf, -np.inf
    fund_ts: list[np.ndarray] = []
    fund_rate: list[np.ndarray] = []
    files = event_days(root)
    for day, path in files:
        ev = read_events_file(path)
        counts = {name: int(np.count_nonzero(ev.kind == k)) for k, name in KIND_NAMES.items()}
        for name, c in counts.items():
            totals[name] += c
        priced = ((ev.kind == BOOK_LEVEL) & (ev.sz > 0)) | (ev.kind == TRADE)
        row: dict[str, Any] = {"day": day.isoformat(), "events": len(ev), **counts}
        if priced.any():
            d_lo, d_hi = float(ev.px[priced].min()), float(ev.px[priced].max())
            lo, hi = min(lo, d_lo), max(hi, d_hi)
            row.update(px_min=d_lo, px_max=d_hi)
        market = ev.ts[ev.kind != FUNDING]
        if market.size:
            row.update(first=iso(int(market[0])), last=iso(int(market[-1])))
            edges = np.concatenate([[prev_last], market]) if prev_last is not None else market
            d = np.diff(edges)
            idx = np.flatnonzero(d > gap_ns)
            n_gaps += idx.size
            for i in idx[: max(0, MAX_GAPS_LISTED - len(gaps))]:
                gaps.append({"start": iso(int(edges[i])), "end": iso(int(edges[i + 1])),
                             "seconds": round(float(d[i]) / NS_PER_S, 3)})
            row["gaps"] = int(idx.size)
            prev_last = int(market[-1])
        fund = ev.kind == FUNDING
        if fund.any():
            fund_ts.append(ev.ts[fund])
            fund_rate.append(ev.px[fund])
        per_day.append(row)
    out: dict[str, Any] = {"days": len(files), "per_day": per_day, "totals": totals,
                           "missing_days": _missing_days([d for d, _ in files]),
                           "gaps": {"threshold_s": gap_ns / NS_PER_S, "count": n_gaps, "listed": gaps}}
    firsts = [r["first"] for r in per_day if "first" in r]
    if firsts:
        out["span"] = {"first": firsts[0], "last": [r["last"] for r in per_day if "last" in r][-1]}
    if np.isfinite(lo):
        out["price"] = {"min": lo, "max": hi}
    if fund_ts:
        ts, rate = np.concatenate(fund_ts), np.concatenate(fund_rate)
        out["funding"] = {"rows": int(ts.size), "first": iso(int(ts[0])), "last": iso(int(ts[-1])),
                          "mean_hourly": float(rate.mean()), "min_hourly": float(rate.min()),
                          "max_hourly": float(rate.max()), "mean_annualised": float(rate.mean() * 24 * 365),
                          "positive_share": float(np.mean(rate > 0)),
                          # hourly rows: a longer spacing means hours without a rate
                          "missing_hours": int(np.sum(np.maximum(np.rint(np.diff(ts) / NS_PER_HOUR) - 1, 0)))}
    return out


def _bars_info(root: Any) -> dict[str, Any] | None:
    files = bar_days(root)
    if not files:
        return None
    ts_parts, lo, hi, vol, n = [], np.inf, -np.inf, 0.0, 0
    for _, path in files:
        bars = read_bars_file(path)
        if len(bars) == 0:
            continue
        ts_parts.append(bars.ts)
        lo, hi = min(lo, float(bars.low.min())), max(hi, float(bars.high.max()))
        vol += float(bars.volume.sum())
        n += len(bars)
    if not ts_parts:
        return {"days": len(files), "bars": 0}
    ts = np.concatenate(ts_parts)
    step = int(np.median(np.diff(ts))) if ts.size > 1 else 0
    missing = int(((ts[-1] - ts[0]) // step + 1) - ts.size) if step else 0
    return {"days": len(files), "bars": n, "first": iso(int(ts[0])), "last": iso(int(ts[-1])),
            "interval_s": step / NS_PER_S, "missing_bars": missing, "low": lo, "high": hi, "volume": vol,
            "missing_days": _missing_days([d for d, _ in files])}


def dataset_info(root: Any, gap_s: float = 60.0) -> dict[str, Any]:
    """Everything ``amm500 data info`` shows, as plain JSON-able data."""
    root = require_data_dir(root)
    info: dict[str, Any] = {"dir": str(root), "dataset": read_dataset_meta(root)}
    info["dataset"].pop("imports", None)
    info["events"] = _events_info(root, int(gap_s * NS_PER_S))
    bars = _bars_info(root)
    if bars is not None:
        info["bars"] = bars
    return info


def _collapse_quiet_days(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs of more than QUIET_RUN funding-only days become one summary row (``--json`` keeps every day)."""
    out: list[dict[str, Any]] = []
    run: list[dict[str, Any]] = []

    def flush() -> None:
        if len(run) > QUIET_RUN:
            out.append({"days": len(run), "from": run[0]["day"], "to": run[-1]["day"],
                        "funding": sum(r["funding"] for r in run)})
        else:
            out.extend(run)
        run.clear()

    for r in rows:
        if r["book"] == r["trade"] == r["clear"] == 0:
            run.append(r)
        else:
            flush()
            out.append(r)
    flush()
    return out


def render_info(info: dict[str, Any], console: Console) -> None:
    meta = info["dataset"]
    console.print(f"[bold]{info['dir']}[/]  symbol {meta.get('symbol', '?')}, tick {meta.get('tick_size', '?')}, "
                  f"sz_decimals {meta.get('sz_decimals', '?')}, source {meta.get('source', '?')}", highlight=False)
    ev = info["events"]
    if ev["days"]:
        table = Table(title="events by day", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                      padding=(0, 1, 0, 0))
        for col in ("day", "book", "trade", "clr", "fund", "from", "to", "px lo", "px hi", "gaps"):
            table.add_column(col, justify="left" if col in ("day", "from", "to") else "right", no_wrap=True)
        quiet: list[str] = []
        for r in _collapse_quiet_days(ev["per_day"]):
            if "days" in r:
                quiet.append(f"{r['from']} .. {r['to']} ({r['days']} days, {r['funding']} rows)")
                continue
            table.add_row(r["day"], *(str(r[k]) for k in ("book", "trade", "clear", "funding")),
                          r.get("first", "-")[11:19], r.get("last", "-")[11:19], f"{r['px_min']:g}" if "px_min" in r
                          else "-", f"{r['px_max']:g}" if "px_max" in r else "-", str(r.get("gaps", 0)))
        if table.row_count:
            console.print(table)
        for line in quiet:
            console.print(f"funding only: {line}", highlight=False)
        if "span" in ev:
            console.print(f"span {ev['span']['first']} -> {ev['span']['last']}", highlight=False)
        if "price" in ev:
            console.print(f"price {ev['price']['min']:g} - {ev['price']['max']:g}", highlight=False)
        g = ev["gaps"]
        console.print(f"gaps longer than {g['threshold_s']:g} s: {g['count']}", highlight=False)
        for gap in g["listed"][:10]:
            console.print(f"  {gap['start']} -> {gap['end']} ({gap['seconds']:g} s)", highlight=False)
        if ev["missing_days"]:
            console.print(f"[yellow]missing days[/]: {', '.join(ev['missing_days'])}", highlight=False)
        if "funding" in ev:
            f = ev["funding"]
            console.print(f"funding: {f['rows']} hourly rows {f['first']} -> {f['last']}, "
                          f"mean {f['mean_hourly']:.3g}/h "
                          f"({f['mean_annualised']:.2%}/yr), range {f['min_hourly']:.3g} .. {f['max_hourly']:.3g}, "
                          f"positive {f['positive_share']:.0%}, {f['missing_hours']} hour(s) missing", highlight=False)
    if "bars" in info:
        b = info["bars"]
        if b["bars"]:
            console.print(f"bars: {b['bars']} x {b['interval_s']:g} s, {b['first']} -> {b['last']}, "
                          f"{b['missing_bars']} missing, low {b['low']:g} high {b['high']:g}, volume {b['volume']:.6g}",
                          highlight=False)
        else:
            console.print("bars: none", highlight=False)
