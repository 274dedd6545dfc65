"""The one place that says what each backtest metric means on screen: its label, its unit, its format.

Why: metrics are stored as plain numbers (fractions, USD, counts) so that JSON and the optimizer can
compare them; every person-facing view (terminal summary, HTML report, optimizer tables) formats them
here, so ``annual_roi = -290.197`` is always shown as ``-29,020%`` and never as a bare fraction.
"""

from __future__ import annotations

import math
from typing import Any

#: metric -> (label, unit kind). Kinds: pct (a fraction shown as %), usd, bps, btc, count, per_day,
#: seconds, ratio (a plain number such as a Sharpe ratio), text.
METRICS: dict[str, tuple[str, str]] = {
    "days": ("days of data", "count"),
    "net_pnl": ("net PnL", "usd"),
    "return": ("return on starting equity", "pct"),
    "annual_roi": ("annual ROI (simple)", "pct"),
    "sharpe": ("Sharpe (daily, x sqrt 365)", "ratio"),
    "sharpe_hourly": ("Sharpe (hourly, annualized)", "ratio"),
    "max_drawdown": ("max drawdown (of peak equity)", "pct"),
    "fills": ("fills", "count"),
    "trades_per_day": ("fills per day", "per_day"),
    "maker_ratio": ("maker ratio (by count)", "pct"),
    "maker_ratio_volume": ("maker ratio (by volume)", "pct"),
    "spread_capture": ("spread capture", "usd"),
    "inventory_pnl": ("inventory PnL", "usd"),
    "fees": ("fees paid", "usd"),
    "funding": ("funding paid", "usd"),
    "quote_uptime": ("quote uptime (of quote timers)", "pct"),
    "avg_quoted_spread_bps": ("average quoted spread", "bps"),
    "liquidations": ("liquidations", "count"),
    "killed": ("stopped by", "text"),
    "kill_reason": ("kill-switch rule", "text"),
    "stopped_after_s": ("stopped after", "seconds"),
    "events": ("events replayed", "count"),
    "events_per_sec": ("events per second (kernel)", "per_s"),
    "kernel_s": ("replay time", "seconds"),
    "compile_s": ("compile / cache load", "seconds"),
    "mean_abs_btc": ("mean |position| (record samples)", "btc"),
    "max_abs_btc": ("max |position| (every fill)", "btc"),
    "mean_abs_usd": ("mean |position| notional (record samples)", "usd"),
    "time_in_position": ("time holding a position (record samples)", "pct"),
    "final_btc": ("position at the end", "btc"),
    "rejects": ("rejected orders", "count"),
}


def _sig(value: float, digits: int = 4) -> str:
    """``digits`` significant figures with thousands separators, no exponent for everyday sizes."""
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{min(decimals, 8)}f}"


def fmt_value(value: Any, kind: str) -> str:
    """Format one value of the given unit kind; ``-`` for a missing or undefined value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if kind == "text" or isinstance(value, str):
        return str(value)
    v = float(value)
    if kind == "pct":
        return f"{_sig(v * 100, 3)}%"
    if kind == "usd":
        return f"{v:+,.2f} USD" if abs(v) < 1e6 else f"{v:+,.0f} USD"
    if kind == "bps":
        return f"{v:,.2f} bps"
    if kind == "btc":
        return f"{v:,.5f} BTC"
    if kind == "count":
        return f"{round(v):,}"
    if kind == "per_day":
        return f"{v:,.1f} / day"
    if kind == "per_s":
        return f"{v:,.0f} / s"
    if kind == "seconds":
        return f"{v:,.1f} s" if v < 120 else f"{v / 60:,.1f} min" if v < 7200 else f"{v / 3600:,.1f} h"
    return _sig(v, 4)


def fmt_metric(name: str, value: Any) -> str:
    """``value`` of metric ``name`` with its unit (unknown names: 4 significant figures)."""
    return fmt_value(value, METRICS.get(name, (name, "ratio"))[1])


def label(name: str) -> str:
    return METRICS.get(name, (name, ""))[0]
