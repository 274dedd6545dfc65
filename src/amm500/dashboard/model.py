"""The journal as the page sees it: headline figures, series over time, recent rows.

Why the headline numbers come from :func:`amm500.store.journal.summary` and nothing else: the page,
``amm500 journal`` and the supervisor must never disagree about a session's PnL, so the split (spread
capture, inventory, fees, funding, mark-outs) has one implementation. This module only adds what a
chart needs: the same split *over time* (cumulated at each equity snapshot, ending exactly on the
summary's totals), a price series, fills and our order placements as points, and the recent rows.

Everything here is a plain read of one read-only connection, one transaction, so the figures on
one update are consistent with each other (a WAL reader sees one snapshot of the file).
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from amm500.store import journal as jr

#: the most points a series sends to the browser (longer journals are thinned, the last point kept)
MAX_POINTS = 2000
#: recent rows shown in the tables
RECENT_FILLS = 50
RECENT_EVENTS = 30
#: order statuses after which an order no longer rests
TERMINAL = frozenset({"filled", "canceled", "cancelled", "rejected", "error", "expired", "marginCanceled",
                      "reduceOnlyCanceled", "selfTradeCanceled", "siblingFilledCanceled", "scheduledCancel"})


def _f(x: Any) -> float | None:
    """JSON has no NaN/inf: they travel as null."""
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def _thin(n: int, limit: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most ``limit`` rows out of ``n``, evenly spread, the last row always kept."""
    if n <= limit:
        return np.arange(n)
    idx = np.linspace(0, n - 1, limit).round().astype(np.int64)
    return np.unique(idx)


def limits_of(conn: sqlite3.Connection) -> dict[str, float | None]:
    """The latest run's risk limits (from the config it journalled), for the inventory gauge.

    Only these numeric fields are read out of the config: the page never receives the config itself.
    """
    row = conn.execute("SELECT config FROM runs ORDER BY run_id DESC LIMIT 1").fetchone()
    risk: dict[str, Any] = {}
    if row is not None:
        try:
            cfg = json.loads(row["config"])
            risk = cfg.get("risk", {}) if isinstance(cfg, dict) else {}
        except (ValueError, TypeError):
            risk = {}
    keys = ("max_net_exposure", "max_leverage_used", "max_drawdown", "max_session_loss", "max_margin_ratio")
    return {k: _f(risk.get(k)) if isinstance(risk.get(k), int | float) else None for k in keys}


def pnl_series(conn: sqlite3.Connection) -> dict[str, list[Any]]:
    """Equity, position, mid, quoted spread, regime and the PnL split at each equity snapshot.

    The split at time t is the summary's formula over everything journalled up to t: capture and fees
    of the fills so far, funding paid so far, net = equity(t) - first equity, inventory = the rest.
    At the last snapshot it equals :func:`journal.summary`'s totals.
    """
    eq = conn.execute("SELECT ts_ns, equity, position, mid, spread_bps, regime FROM equity "
                      "ORDER BY ts_ns").fetchall()
    if not eq:
        return {k: [] for k in ("t", "equity", "position", "mid", "spread_bps", "regime", "net", "capture",
                                "fees", "funding", "inventory")}
    ts = np.array([r[0] for r in eq], dtype=np.int64)
    equity = np.array([r[1] for r in eq], dtype=float)
    fl = conn.execute("SELECT time_ms, side, px, sz, fee, mid FROM fills ORDER BY time_ms, tid").fetchall()
    ft = np.array([r[0] for r in fl], dtype=np.int64) * 1_000_000
    cap_each = np.array([r[1] * (r[5] - r[2]) * r[3] if (r[5] or 0) > 0 else 0.0 for r in fl], dtype=float)
    fee_each = np.array([r[4] for r in fl], dtype=float)
    fu = conn.execute("SELECT time_ms, payment FROM funding ORDER BY time_ms").fetchall()
    fut = np.array([r[0] for r in fu], dtype=np.int64) * 1_000_000
    fu_each = np.array([r[1] for r in fu], dtype=float)

    def upto(times: np.ndarray, values: np.ndarray) -> np.ndarray:
        csum = np.concatenate([[0.0], np.cumsum(values)])
        return csum[np.searchsorted(times, ts, side="right")]

    capture, fees, funding = upto(ft, cap_each), upto(ft, fee_each), upto(fut, fu_each)
    # The last point carries the totals over *all* rows, like the summary (a fill or funding payment
    # journalled after the last equity snapshot still counts).
    capture[-1], fees[-1], funding[-1] = cap_each.sum(), fee_each.sum(), fu_each.sum()
    net = equity - equity[0]
    inventory = net - capture + fees + funding
    keep = _thin(len(eq))

    def col(values: Any) -> list[Any]:
        return [_f(values[i]) for i in keep]

    return {
        "t": [int(ts[i]) / 1e9 for i in keep],
        "equity": col(equity), "position": col([r[2] for r in eq]), "mid": col([r[3] for r in eq]),
        "spread_bps": col([r[4] for r in eq]), "regime": [eq[i][5] for i in keep],
        "net": col(net), "capture": col(capture), "fees": col(fees), "funding": col(funding),
        "inventory": col(inventory),
    }


def fill_points(conn: sqlite3.Connection, limit: int = MAX_POINTS) -> dict[str, list[Any]]:
    """Our fills for the price chart: time (s), price, side (+1 buy, -1 sell), maker or taker."""
    rows = conn.execute("SELECT * FROM (SELECT time_ms, tid, px, side, crossed FROM fills "
                        "ORDER BY time_ms DESC, tid DESC LIMIT ?) ORDER BY time_ms, tid", (limit,)).fetchall()
    return {"t": [r[0] / 1e3 for r in rows], "px": [r[2] for r in rows], "side": [r[3] for r in rows],
            "taker": [bool(r[4]) for r in rows]}


def quote_points(conn: sqlite3.Connection, limit: int = MAX_POINTS) -> dict[str, list[Any]]:
    """Where we placed resting (non-IOC) orders over time: the quotes a replay can show without a bot."""
    rows = conn.execute("SELECT * FROM (SELECT created_ns, px, side FROM orders WHERE tif != 'Ioc' "
                        "ORDER BY created_ns DESC LIMIT ?) ORDER BY created_ns", (limit,)).fetchall()
    return {"t": [r[0] / 1e9 for r in rows], "px": [r[1] for r in rows], "side": [r[2] for r in rows]}


def recent_fills(conn: sqlite3.Connection, limit: int = RECENT_FILLS) -> list[dict[str, Any]]:
    rows = jr.fills(conn, limit=limit)
    return [{"tid": r["tid"], "time": r["time_ms"] / 1e3, "side": "buy" if r["side"] > 0 else "sell",
             "px": r["px"], "sz": r["sz"], "fee": r["fee"], "liquidity": "taker" if r["crossed"] else "maker",
             "oid": r["oid"]} for r in reversed(rows)]


def journal_open_orders(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Orders the journal last saw resting (what a replay shows; live, the bot's /state is preferred)."""
    marks = ",".join("?" * len(TERMINAL))
    rows = conn.execute(f"SELECT cloid, oid, side, px, sz, tif, status, created_ns FROM orders "
                        f"WHERE status NOT IN ({marks}) AND tif != 'Ioc' ORDER BY px DESC",
                        tuple(TERMINAL)).fetchall()
    return [{"cloid": r[0], "oid": r[1], "side": "buy" if r[2] > 0 else "sell", "px": r[3], "sz": r[4],
             "tif": r[5], "status": r[6], "time": r[7] / 1e9} for r in rows]


def recent_events(conn: sqlite3.Connection, limit: int = RECENT_EVENTS) -> list[dict[str, Any]]:
    """Trading-state transitions, risk events and rejected orders, newest first."""
    out: list[dict[str, Any]] = []
    for r in conn.execute("SELECT ts_ns, old, new, reasons FROM transitions ORDER BY ts_ns DESC LIMIT ?", (limit,)):
        try:
            reasons = ", ".join(json.loads(r["reasons"]))
        except (ValueError, TypeError):
            reasons = str(r["reasons"])
        out.append({"time": r["ts_ns"] / 1e9, "kind": "state", "detail": f"{r['old']} → {r['new']}"
                    + (f" ({reasons})" if reasons else "")})
    for r in conn.execute("SELECT ts_ns, kind, detail FROM risk_events ORDER BY ts_ns DESC LIMIT ?", (limit,)):
        out.append({"time": r["ts_ns"] / 1e9, "kind": r["kind"], "detail": r["detail"]})
    for r in conn.execute("SELECT ts_ns, status, detail FROM order_events WHERE status IN ('rejected', 'error') "
                          "ORDER BY id DESC LIMIT ?", (limit,)):
        out.append({"time": r["ts_ns"] / 1e9, "kind": f"order {r['status']}", "detail": r["detail"] or ""})
    out.sort(key=lambda e: e["time"], reverse=True)
    return out[:limit]


def last_transition(conn: sqlite3.Connection) -> dict[str, Any] | None:
    r = conn.execute("SELECT ts_ns, new, reasons FROM transitions ORDER BY ts_ns DESC LIMIT 1").fetchone()
    if r is None:
        return None
    try:
        reasons = list(json.loads(r["reasons"]))
    except (ValueError, TypeError):
        reasons = []
    return {"time": r["ts_ns"] / 1e9, "state": r["new"], "reasons": reasons}


def read_journal(path: Path) -> dict[str, Any]:
    """Everything the page shows from one journal, read in one read transaction."""
    with jr.reader(path) as conn:
        conn.execute("BEGIN")  # one snapshot of a file the bot keeps writing
        try:
            summary = jr.summary(conn)
            summary.pop("transitions", None)
            summary.pop("risk_events", None)
            runs = [dict(r) for r in conn.execute(
                "SELECT run_id, started_ns, ended_ns, pid, version, stopped_by FROM runs ORDER BY run_id")]
            head: dict[str, Any] = {k: (_f(v) if isinstance(v, float) else v) for k, v in summary.items()}
            head["markouts_bps"] = {k: _f(v) for k, v in (summary.get("markouts_bps") or {}).items()}
            ident = jr.identity_of(conn)
            out: dict[str, Any] = {
                "identity": {"mode": ident.mode, "network": ident.network, "account": ident.account},
                "summary": head,
                "runs": runs,
                "series": pnl_series(conn),
                "fill_points": fill_points(conn),
                "quote_points": quote_points(conn),
                "fills": recent_fills(conn),
                "journal_open_orders": journal_open_orders(conn),
                "events": recent_events(conn),
                "last_transition": last_transition(conn),
                "limits": limits_of(conn),
            }
        finally:
            conn.execute("COMMIT")
    return out


BACKTEST_FIELDS = ("fill_model", "net_pnl", "return", "spread_capture", "inventory_pnl", "fees", "funding", "fills",
                   "trades_per_day", "maker_ratio", "avg_quoted_spread_bps", "max_drawdown", "sharpe", "span_days",
                   "quote_uptime")


def read_backtest(path: Path) -> dict[str, Any]:
    """The figures of ``amm500 backtest --json`` that sit beside the live ones (never its config)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"--backtest {path}: not a readable backtest JSON ({exc})") from None
    if not isinstance(data, dict) or "net_pnl" not in data:
        raise ValueError(f"--backtest {path}: not the JSON of `amm500 backtest --json` (no net_pnl)")
    out: dict[str, Any] = {k: data.get(k) for k in BACKTEST_FIELDS}
    marks = data.get("markouts")
    if isinstance(marks, dict):
        out["markouts_bps"] = {str(k): _f(v.get("mean_bps")) if isinstance(v, dict) else _f(v)
                               for k, v in marks.items() if isinstance(v, dict | int | float)}
    out["source"] = path.name
    return out
