"""What a trading session did, as a table and as JSON: shared by ``demo``, ``paper`` and ``live``."""

from __future__ import annotations

import math

from rich.table import Table

from amm500.live.quote_loop import LoopStats


def _ms(latency: dict[str, dict[str, float]], name: str) -> tuple[float, float, int]:
    s = latency.get(name)
    return (s["p50"] * 1e3, s["p99"] * 1e3, int(s["count"])) if s else (float("nan"), float("nan"), 0)


def session_metrics(stats: LoopStats, latency: dict[str, dict[str, float]]) -> dict[str, object]:
    """The table's numbers for rehearsal.json (None where nothing was measured: strict JSON has no NaN)."""
    out: dict[str, object] = {
        "seconds": stats.seconds, "stopped_by": stats.stopped_by, "placed": stats.placed, "modified": stats.modified,
        "cancelled": stats.cancelled, "rejected": stats.rejected, "fills": stats.fills,
        "maker_fills": stats.maker_fills, "volume_usd": stats.volume_usd, "fees": stats.fees,
        "position": stats.position, "max_abs_position": stats.max_abs_position, "start_equity": stats.start_equity,
        "end_equity": stats.end_equity, "pnl": stats.pnl, "killed": stats.killed, "kill_reason": stats.kill_reason,
        "resting_at_end": stats.resting_at_end,
        "maker_ratio": stats.maker_ratio if stats.fills else None,
        "spread_bps": stats.spread_bps if math.isfinite(stats.spread_bps) else None,
    }
    for key, name in (("tick_to_order_ms", "tick_to_order"), ("rest_action_rtt_ms", "rtt.rest.exchange"),
                      ("ws_action_rtt_ms", "rtt.ws.action")):
        p50, p99, count = _ms(latency, name)
        out[key] = {"p50": p50, "p99": p99, "count": count} if count else None
    return out


def session_table(stats: LoopStats, latency: dict[str, dict[str, float]], title: str = "paper rehearsal") -> Table:
    from amm500.live.quote_loop import KILL_REASONS

    t = Table(title=f"{title}, {stats.seconds:.1f} s (stopped by {stats.stopped_by})", show_header=False)
    t.add_column(style="bold")
    t.add_column(justify="right")
    t.add_row("orders placed / modified / cancelled", f"{stats.placed} / {stats.modified} / {stats.cancelled}")
    t.add_row("rejected by the exchange", str(stats.rejected))
    taker = stats.fills - stats.maker_fills
    t.add_row("fills (maker / taker)", f"{stats.fills} ({stats.maker_fills} / {taker})")
    t.add_row("maker ratio", f"{stats.maker_ratio:.0%}" if stats.fills else "-")
    t.add_row("volume", f"${stats.volume_usd:,.0f}")
    t.add_row("position at end", f"{stats.position:+.5f} BTC (max |{stats.max_abs_position:.5f}|)")
    t.add_row("PnL (account value, after fees)", f"{stats.pnl:+,.2f} USD (fees {stats.fees:,.2f})")
    regimes = ("ultra-low", "low", "normal", "high", "extreme")
    regime = regimes[stats.regime] if 0 <= stats.regime < len(regimes) else "-"
    t.add_row("spread quoted last (vol regime)", f"{stats.spread_bps:.1f} bps ({regime})")
    t.add_row("kill switch", KILL_REASONS.get(stats.kill_reason, "?") if stats.killed else "not triggered")
    rows = (("tick-to-order (timer -> request sent)", "tick_to_order"),
            ("action round trip, REST", "rtt.rest.exchange"), ("action round trip, WebSocket", "rtt.ws.action"))
    for label, name in rows:
        p50, p99, count = _ms(latency, name)
        t.add_row(f"{label} p50 / p99", f"{p50:.2f} / {p99:.2f} ms (n={count})" if count else "-")
    ok = stats.resting_at_end == 0
    t.add_row("orders resting after shutdown", "[green]0 OK[/]" if ok else f"[red]{stats.resting_at_end} FAIL[/]")
    return t
