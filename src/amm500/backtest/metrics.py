"""Backtest metrics, each defined in docs/backtest.md; computed once per run from the kernel's logs.

Everything returned is a plain float / int / str / dict, so ``json.dumps`` works as is (NaN and
inf become None).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from amm500.core.instrument import Instrument
from amm500.core.request_budget import address_budget
from amm500.data.schema import NS_PER_DAY, NS_PER_HOUR
from amm500.sim.layout import (
    A_FEES,
    A_FUNDING,
    A_KILL_REASON,
    A_L_TRADED_USD,
    A_LIQ_LOSS,
    A_MAX_ABS_POS,
    A_MAXDD,
    A_START_EQUITY,
    F_FEE,
    F_LIQ,
    F_MAKER,
    F_MID,
    F_MK0,
    F_PX,
    F_SIDE,
    F_SZ,
    I_KILL_TS,
    I_KILLED,
    I_LAST_XTS,
    I_REQ_USED,
    I_THROTTLED_SINCE,
    R_EQUITY,
    R_MID,
    R_POS,
    REJECT_NAMES,
    ST_CANCELS,
    ST_FILLS,
    ST_FUNDING_EVENTS,
    ST_IP_MAX,
    ST_IP_REFUSED,
    ST_LIQUIDATIONS,
    ST_MAKER_FILLS,
    ST_MAKER_VOLUME,
    ST_NOTIONAL,
    ST_ORDERS,
    ST_OUT_OF_RANGE,
    ST_QUOTE_TIMERS,
    ST_QUOTE_UP,
    ST_QUOTING,
    ST_REJ0,
    ST_REQ_REFUSED,
    ST_REQ_REFUSED_CANCELS,
    ST_REQ_SENT,
    ST_SLOW_REQS,
    ST_SPREAD_SUM,
    ST_TAKER_ORDERS,
    ST_THROTTLED_S,
    ST_VOLUME,
)

if TYPE_CHECKING:
    from amm500.backtest.runner import BacktestResult
    from amm500.config import Config

FILL_MODEL_LABELS = {
    "tick": "tick: queue-aware L2 matching with latency (hftbacktest-style)",
    "bar": "bar: LOW REALISM - fill_rate coin flips on 1-minute candles, no queue, no latency",
}
KILL_REASONS = {0: "none", 1: "drawdown", 2: "consecutive_losses", 3: "session_loss"}


#: The run banner turns amber at a loss of LOSS_AMBER and red at LOSS_RED of the starting equity.
LOSS_AMBER = 0.05
LOSS_RED = 0.20


def sharpe_note(n_daily: int) -> str:
    """Why the daily Sharpe is null, in words (JSON has no NaN and a bare null explains nothing)."""
    if n_daily < 2:
        return (f"undefined: the daily Sharpe needs at least 2 daily returns and this run has {n_daily}; "
                "see sharpe_hourly, or backtest more days")
    return "undefined: equity did not vary from day to day (zero standard deviation)"


def stop_sentence(m: dict[str, Any], cfg: Config) -> str | None:
    """What stopped the strategy, which rule and setting did it, and how to see it quote on: or None."""
    if m["killed"] == "no":
        return None
    after = m.get("stopped_after_s")
    when = f" {after:,.0f} s into the run" if after is not None else ""
    share = ""
    if after is not None and m.get("span_days"):
        share = f"; it did not quote for the remaining {max(0.0, 1 - after / (m['span_days'] * 86_400)):.1%} of it"
    if m["killed"] == "liquidated":
        return f"Liquidated{when}: equity fell below maintenance margin{share}."
    r = cfg.risk
    rule = {
        "drawdown": f"drawdown above risk.max_drawdown = {r.max_drawdown:.0%} of peak equity",
        "consecutive_losses": f"{r.max_consecutive_losses} losing round trips in a row "
                              f"(risk.max_consecutive_losses = {r.max_consecutive_losses})",
        "session_loss": f"session loss above risk.max_session_loss = ${r.max_session_loss:,.2f}",
    }.get(m["kill_reason"], m["kill_reason"])
    hint = (" To watch the strategy quote through while keeping the drawdown and session-loss limits, "
            "disable only this rule: --set risk.max_consecutive_losses=0." if m["kill_reason"] == "consecutive_losses"
            else "")
    return f"Stopped by the kill switch{when}: {rule}{share}.{hint}"


def verdict(m: dict[str, Any], cfg: Config) -> dict[str, str]:
    """The run's banner: red for a liquidation or a loss >= LOSS_RED, amber for any stop or a loss >=
    LOSS_AMBER, green otherwise; ``text`` says why in one or two sentences."""
    ret = float(m["return"])
    stop = stop_sentence(m, cfg)
    loss = f"The run lost {-ret:.1%} of its starting equity (${-m['net_pnl']:,.2f})." if ret < 0 else ""
    if m["killed"] == "liquidated" or ret <= -LOSS_RED:
        level = "red"
    elif stop or ret <= -LOSS_AMBER:
        level = "amber"
    else:
        level = "green"
    parts = [p for p in (stop, loss) if p]
    if not parts:
        parts = [f"Quoted through the whole run; return {ret:+.2%}."]
    return {"level": level, "text": " ".join(parts)}


def _f(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return float(x)


def bucket_returns(rec_ts: np.ndarray, equity: np.ndarray, start_equity: float, step_ns: int) -> np.ndarray:
    """Simple returns of equity sampled at the last record of each ``step_ns`` bucket (UTC aligned)."""
    if rec_ts.size == 0:
        return np.zeros(0)
    bucket = rec_ts // step_ns
    last = np.flatnonzero(np.diff(bucket)) if bucket.size > 1 else np.zeros(0, dtype=np.int64)
    ends = np.concatenate([equity[last], equity[-1:]])
    series = np.concatenate([[start_equity], ends])
    prev = series[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.diff(series) / prev
    return r[np.isfinite(r)]


def sharpe(returns: np.ndarray, periods_per_year: float) -> float | None:
    """mean / std (ddof=1) * sqrt(periods per year); None with fewer than 2 returns or no variance."""
    if returns.size < 2:
        return None
    sd = float(np.std(returns, ddof=1))
    if not sd > 0:
        return None
    return float(np.mean(returns) / sd * math.sqrt(periods_per_year))


def pnl_split(fills: np.ndarray, net_pnl: float, fees: float, funding: float) -> dict[str, float]:
    """net = spread capture + inventory PnL - fees - funding (all USD).

    Spread capture: each fill against the exchange mid at that instant (buy below mid earns).
    Inventory PnL: the rest, i.e. what the held position made or lost as the mid moved afterwards
    (liquidations included).
    """
    if fills.shape[0]:
        spread = float(np.sum(fills[:, F_SIDE] * (fills[:, F_MID] - fills[:, F_PX]) * fills[:, F_SZ]))
    else:
        spread = 0.0
    return {
        "spread_capture": spread,
        "inventory_pnl": net_pnl - spread + fees + funding,
        "fees": fees,
        "funding": funding,
    }


def markouts(fills: np.ndarray, horizons: tuple[float, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ok = fills[:, F_LIQ] == 0 if fills.shape[0] else np.zeros(0, dtype=bool)
    for k, h in enumerate(horizons):
        key = f"{h:g}s"
        col = fills[ok, F_MK0 + k] if fills.shape[0] else np.zeros(0)
        col = col[np.isfinite(col)]
        w = fills[ok, F_SZ][np.isfinite(fills[ok, F_MK0 + k])] if fills.shape[0] else np.zeros(0)
        out[key] = {
            "mean_bps": _f(float(col.mean())) if col.size else None,
            "size_weighted_bps": _f(float(np.average(col, weights=w))) if col.size and w.sum() > 0 else None,
            "median_bps": _f(float(np.median(col))) if col.size else None,
            "n": int(col.size),
        }
    return out


def request_budget_summary(result: BacktestResult) -> dict[str, Any]:
    """The address budget and IP weight a run spent, and how long it was out of budget.

    ``time_out_of_budget_s`` counts from the first command sent with the budget used up until one
    sent after the traded volume raised it again (or the run's end); with ``enforced`` false the
    same counts say what the run would have met live, and nothing was refused.
    """
    b, st, ist, acct = result.config.backtest, result.stats, result.ist, result.acct
    out_s = float(st[ST_THROTTLED_S])
    if int(ist[I_THROTTLED_SINCE]) and int(ist[I_LAST_XTS]) > int(ist[I_THROTTLED_SINCE]):
        out_s += (int(ist[I_LAST_XTS]) - int(ist[I_THROTTLED_SINCE])) / 1e9
    traded = b.account_traded_volume_usd + float(acct[A_L_TRADED_USD])
    return {
        "enforced": b.request_budget,
        "start_traded_volume_usd": b.account_traded_volume_usd,
        "start_requests_used": b.account_requests_used,
        "requests_used_run": int(st[ST_REQ_SENT]),
        "requests_used_total": int(ist[I_REQ_USED]),
        "budget_at_end": address_budget(traded),
        "time_out_of_budget_s": out_s,
        "slow_lane_requests": int(st[ST_SLOW_REQS]),
        "refused_orders": int(st[ST_REQ_REFUSED]),
        "refused_cancels": int(st[ST_REQ_REFUSED_CANCELS]),
        "ip_refused_commands": int(st[ST_IP_REFUSED]),
        "ip_weight_max_per_min": int(st[ST_IP_MAX]),
    }


def glft_summary(state: np.ndarray) -> dict[str, Any]:
    """What the GLFT strategy ended the run with: its calibration, alpha and edge-gate counts."""
    from amm500.core import mm_state as g

    return {
        "intensity_a_per_s": _f(float(state[g.G_A])), "intensity_k_per_bps": _f(float(state[g.G_K])),
        "intensity_fitted": bool(state[g.G_FIT_OK] > 0), "last_half_spread_bps": _f(float(state[g.G_HALF])),
        "last_skew_bps_per_order": _f(float(state[g.G_SKEW])), "alpha_bps": _f(float(state[g.G_ALPHA_BPS])),
        "alpha_weights": [_f(float(state[g.G_BETA + j])) for j in range(3)],
        "adverse_bid_bps": _f(float(state[g.G_ADV_B])), "adverse_ask_bps": _f(float(state[g.G_ADV_A])),
        "gated_bid_timers": int(state[g.G_N_GATED_B]), "gated_ask_timers": int(state[g.G_N_GATED_A]),
        "quote_timers": int(state[g.G_N_QUOTE_CALLS]),
    }


def compute_metrics(result: BacktestResult, *, events: int, days: int) -> dict[str, Any]:
    cfg = result.config
    st, acct = result.stats, result.acct
    start = float(acct[A_START_EQUITY])
    rec_ts, rec = result.rec_ts, result.rec
    end = float(rec[-1, R_EQUITY]) if rec.shape[0] else start
    span_ns = int(rec_ts[-1] - rec_ts[0]) if rec_ts.size > 1 else 0
    span_days = span_ns / NS_PER_DAY if span_ns > 0 else float(days)
    net = end - start
    fees = float(acct[A_FEES])
    funding = float(acct[A_FUNDING])
    n_fills = int(st[ST_FILLS])
    vol = float(st[ST_VOLUME])
    equity = rec[:, R_EQUITY] if rec.shape[0] else np.zeros(0)
    daily = bucket_returns(rec_ts, equity, start, NS_PER_DAY)
    hourly = bucket_returns(rec_ts, equity, start, NS_PER_HOUR)
    pos = rec[:, R_POS] if rec.shape[0] else np.zeros(0)
    mid = rec[:, R_MID] if rec.shape[0] else np.zeros(0)
    qt = float(st[ST_QUOTE_TIMERS])
    quoting = float(st[ST_QUOTING])
    kernel_s = result.timing.get("kernel_s", 0.0)
    fills = result.fills
    m: dict[str, Any] = {
        "fill_model": result.fill_model,
        "fill_model_description": FILL_MODEL_LABELS[result.fill_model],
        "strategy": cfg.trading.strategy,
        "fee_tier": Instrument.from_config(cfg).fee_label,  # every report names the fee schedule it used
        "days": days,
        "span_days": span_days,
        "start_equity": start,
        "end_equity": end,
        "net_pnl": net,
        "return": net / start,
        "annual_roi": _f(net / start * 365.0 / span_days) if span_days > 0 else None,
        "sharpe": _f(sharpe(daily, 365.0)),
        "sharpe_hourly": _f(sharpe(hourly, 365.0 * 24.0)),
        "daily_returns": int(daily.size),
        "max_drawdown": float(acct[A_MAXDD]),
        "fills": n_fills,
        "trades_per_day": n_fills / span_days if span_days > 0 else None,
        "maker_ratio": float(st[ST_MAKER_FILLS]) / n_fills if n_fills else None,
        "maker_ratio_volume": float(st[ST_MAKER_VOLUME]) / vol if vol > 0 else None,
        "volume_btc": vol,
        "notional_usd": float(st[ST_NOTIONAL]),
        **pnl_split(fills, net, fees, funding),
        "markouts": markouts(fills, cfg.backtest.markout_horizons_s),
        "inventory": {
            "mean_abs_btc": float(np.mean(np.abs(pos))) if pos.size else 0.0,
            "max_abs_btc": float(acct[A_MAX_ABS_POS]),
            "mean_abs_usd": float(np.mean(np.abs(pos * mid))) if pos.size else 0.0,
            "time_in_position": float(np.mean(pos != 0.0)) if pos.size else 0.0,
            "final_btc": float(pos[-1]) if pos.size else 0.0,
        },
        "quote_uptime": st[ST_QUOTE_UP] / qt if qt else None,
        "strategy_quoting_ratio": quoting / qt if qt else None,
        "avg_quoted_spread_bps": st[ST_SPREAD_SUM] / quoting if quoting else None,
        "orders_sent": int(st[ST_ORDERS]),
        "cancels_sent": int(st[ST_CANCELS]),
        "taker_orders": int(st[ST_TAKER_ORDERS]),
        "rejects": {name: int(st[ST_REJ0 + k]) for k, name in enumerate(REJECT_NAMES)},
        "liquidations": int(st[ST_LIQUIDATIONS]),
        "liquidation_loss": float(acct[A_LIQ_LOSS]),
        "killed": {0: "no", 1: "kill_switch", 2: "liquidated"}[int(result.ist[I_KILLED])],
        "kill_reason": KILL_REASONS.get(int(acct[A_KILL_REASON]), str(int(acct[A_KILL_REASON]))),
        "kill_time_ns": int(result.ist[I_KILL_TS]) or None,
        # how long the strategy traded before the kill switch or a liquidation stopped it
        "stopped_after_s": (int(result.ist[I_KILL_TS]) - int(rec_ts[0])) / 1e9
        if int(result.ist[I_KILLED]) and rec_ts.size else None,
        "funding_events": int(st[ST_FUNDING_EVENTS]),
        "book_rows_out_of_range": int(st[ST_OUT_OF_RANGE]),
        "events": events,
        "events_per_sec": events / kernel_s if kernel_s > 0 else None,
        "kernel_s": kernel_s,
        "kernel_cpu_s": result.timing.get("kernel_cpu_s"),
        "events_per_cpu_sec": events / result.timing["kernel_cpu_s"] if result.timing.get("kernel_cpu_s") else None,
        "compile_s": result.timing.get("compile_s"),
    }
    m["request_budget"] = request_budget_summary(result)
    if cfg.trading.strategy == "glft" and result.sstate is not None:
        m["glft"] = glft_summary(result.sstate)
    if m["sharpe"] is None:
        m["sharpe_note"] = sharpe_note(daily.size)
    m["verdict"] = verdict(m, cfg)
    if fills.shape[0]:
        m["maker_fee_paid"] = float(fills[fills[:, F_MAKER] == 1, F_FEE].sum())
        m["taker_fee_paid"] = float(fills[fills[:, F_MAKER] == 0, F_FEE].sum())
    return m
