"""The default config's out-of-sample figures: what the recommended settings earn or lose per day.

The default config (``config.py``) runs the settings that the break-even map's walk-forward
recommends for a tier-0 account (docs/edge.md, "The recommended defaults"). Their out-of-sample
figures have one home, ``recommendation.json`` beside this module, written by
``python scripts/recommendation.py`` (the walk-forward of the default point at tier 0 and at the best
fee schedule, on the two generated markets of docs/edge.md, pooled). ``amm500 demo`` prints them in
one line. A test checks that the file was measured with the current defaults, so the figure cannot
outlive them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from amm500.config import Config
from amm500.optimize.breakeven import Point, breakeven_map

#: the one home of the figures (package data: the demo reads it wherever amm500 is installed)
RECOMMENDATION_FILE = Path(__file__).with_name("recommendation.json")
#: the account the defaults are recommended for, and the best fee schedule of the map (tier 6: maker 0,
#: taker 2.4 bps; maker rebate 3: -0.3 bps)
TIER0, BEST_TIER = "tier0", "tier6+rebate3"
#: the generated markets of docs/edge.md (folder, the command that makes it): on each, days 1-2 choose and
#: days 3-4 report; the figures are pooled over both (two seeds: one market's quiet spell is not the answer)
MARKETS = (
    ("runs/edge/gen4", "amm500 data generate --days 4 --seed 11 --out runs/edge/gen4"),
    ("runs/edge/gen4b", "amm500 data generate --days 4 --seed 12 --out runs/edge/gen4b"),
)
TRAIN_DAYS = 2
REGENERATE = "python scripts/recommendation.py"
#: the config sections a backtest of the strategy depends on
EVALUATED_SECTIONS = ("trading", "execution", "risk", "glft", "backtest")


def default_point(cfg: Config, tier: str = TIER0) -> Point:
    """The break-even map's point that ``cfg`` runs (strategy, width = trading.min_spread_bps, alpha);
    ValueError where the map has no such point (a config that is not one of its rows)."""
    t = cfg.trading
    if t.max_spread_bps != max(t.min_spread_bps, 10.0):
        raise ValueError(f"trading.max_spread_bps = {t.max_spread_bps:g}: the map's points use "
                         f"max(width, 10) = {max(t.min_spread_bps, 10.0):g}")
    if t.strategy == "glft":
        alpha: bool | None = cfg.glft.alpha_enabled
    elif t.strategy == "market_making":
        if t.vol_adaptive_enabled:
            raise ValueError("trading.vol_adaptive_enabled = true: the map quotes the seed ladder at one width")
        alpha = t.imbalance_skew_enabled
    else:
        if t.order_levels != 1:
            raise ValueError(f"trading.order_levels = {t.order_levels}: the map's fixed_spread quotes one level")
        alpha = None
    return Point(t.strategy, tier, t.min_spread_bps, alpha)


def build(data: Sequence[Path], cfg: Config, tiers: Sequence[str] = (TIER0, BEST_TIER)) -> dict[str, Any]:
    """Walk-forward of ``cfg``'s point on each market at each tier: its in-sample (first TRAIN_DAYS days)
    and out-of-sample rows, each with its command, and per tier and window the figures pooled over the
    markets (net USD per day = total net / total days, bps per dollar = total net / total traded)."""
    points = [default_point(cfg, t) for t in tiers]
    result = breakeven_map(list(data), points, train_days=TRAIN_DAYS)
    p = points[0]
    out: dict[str, Any] = {
        "settings": {"strategy": p.strategy, "width_bps": p.width_bps, "alpha": p.label()["alpha"]},
        "sets": [s for s in p.sets() if not s.startswith(("backtest.", "risk.kill_switch_enabled"))],
        "markets": [cmd for _, cmd in MARKETS],
        "regenerate": REGENERATE,
        "note": "kill switch off (as in the map), $1,000 equity, 10x, the request budget on, a new account",
        # every setting the figures were measured with (the map's --set on top): a test compares it with the
        # current defaults, so a changed default cannot leave a stale figure behind
        "config": {s: getattr(cfg, s).model_dump(mode="json") for s in EVALUATED_SECTIONS},
        "tiers": {},
    }
    for tier in tiers:
        t: dict[str, Any] = {"runs": []}
        for window in ("in-sample", "out-of-sample"):
            rows = [r for r in result["rows"] if r["tier"] == tier and r["window"] == window]
            net = sum(r["net_usd"] for r in rows)
            days = sum(r["days"] for r in rows)
            traded = sum(r["notional_usd"] for r in rows)
            t[window] = {"fills": sum(r["fills"] for r in rows),
                         "net_usd_per_day": _round(net / days if days else None),
                         "net_bps_per_dollar_traded": _round(net / traded * 1e4 if traded else None),
                         "time_out_of_budget_share": _round(
                             sum(r["time_out_of_budget_s"] or 0.0 for r in rows) / (days * 86_400) if days else None)}
            for r in rows:
                t["runs"].append({"data": Path(r["data"]).name, "window": window, "days": r["window_days"],
                                  "fills": r["fills"], "net_usd_per_day": _round(r["net_usd_per_day"]),
                                  "net_bps_per_dollar_traded": _round(r["net_bps_per_dollar_traded"]),
                                  "time_out_of_budget_s": _round(r["time_out_of_budget_s"], 0),
                                  "command": r["command"]})
        out["tiers"][tier] = t
    return out


def _round(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(float(x), nd)


def load(path: Path = RECOMMENDATION_FILE) -> dict[str, Any] | None:
    """The recommendation file, or None where it is missing or unreadable (the demo then says so)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _usd(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"earns ${x:,.2f}" if x > 0 else f"loses ${-x:,.2f}"


def summary_line(rec: dict[str, Any] | None, cfg: Config) -> str:
    """One line: what the recommended settings earn or lose per day out of sample at tier 0 and at the
    best fee schedule, where the figure comes from, and whether this run uses those settings."""
    if rec is None:
        return (f"Recommendation figures unavailable: {RECOMMENDATION_FILE.name} is missing; "
                f"regenerate it with {REGENERATE}.")
    s = rec["settings"]
    alpha = "" if s["alpha"] == "-" else f", alpha {s['alpha']}"
    mine = runs_defaults(cfg)
    tiers = rec["tiers"]

    def oos(tier: str) -> str:
        w = tiers.get(tier, {}).get("out-of-sample") or {}
        ins = tiers.get(tier, {}).get("in-sample") or {}
        return (f"{_usd(w.get('net_usd_per_day'))}/day ({_bps(w.get('net_bps_per_dollar_traded'))} bps/$; "
                f"in sample {_signed(ins.get('net_usd_per_day'))}/day)")

    which = "this run's settings" if mine else "NOT this run's settings"
    n = len(rec.get("markets", []))
    return (f"Recommended for tier 0 ({which}): {s['strategy']}, {s['width_bps']:g} bps floor{alpha}; out of sample "
            f"({n} generated markets, days 3-4) it {oos(TIER0)} at tier 0 and {oos(BEST_TIER)} at {BEST_TIER} "
            f"(docs/edge.md; amm500/optimize/{RECOMMENDATION_FILE.name}, from: {rec['regenerate']}).")


def _signed(x: float | None) -> str:
    return "n/a" if x is None else f"{'-' if x < 0 else '+'}${abs(x):,.2f}"


def _bps(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.2f}"


def runs_defaults(cfg: Config) -> bool:
    """Whether ``cfg`` quotes with the default (recommended) settings: its trading, execution, glft and
    risk sections are the defaults, the kill switch's on/off aside (the figures are with it off)."""
    from amm500.config import ExecutionConfig, GlftConfig, RiskConfig, TradingConfig

    risk = cfg.risk.model_dump(exclude={"kill_switch_enabled"})
    return (cfg.trading == TradingConfig() and cfg.execution == ExecutionConfig() and cfg.glft == GlftConfig()
            and risk == RiskConfig().model_dump(exclude={"kill_switch_enabled"}))
