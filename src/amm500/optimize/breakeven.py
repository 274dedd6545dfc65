"""The break-even map: where market making on this market pays, by strategy, fee tier, quote width and alpha.

Every point is one ordinary backtest (the queue-aware tick engine, Hyperliquid's request budget on,
a new account) whose reproducing command is part of its row. A row reports what a user needs to
judge an edge: net bps per dollar traded, net USD per day and per dollar of capital, the PnL split
(spread capture at the fill, fill mark-outs at 1/10/60 s, fees, funding, what inventory made or
lost), and the request budget spent.

**The kill switch is off** in the map (``risk.kill_switch_enabled=false``): its seed thresholds stop
every losing run in its first minute, which measures the switch, not the edge. It stays on in the
default config. The width is the *full* quoted spread in bps: ``fixed_spread`` quotes exactly it (one
level per side), ``market_making`` quotes it at every volatility regime (the seed ladder, its other
mechanisms unchanged), ``glft`` takes it as the floor of its own spread (its gate may widen further).
"Alpha" is the seed's L2-imbalance skew for ``market_making`` and the fitted microprice/imbalance/flow
alpha for ``glft``; the reference ladder has none.

Walk-forward (``train_days``): the width is chosen per (data, strategy, tier, alpha) on the first
``train_days`` days by net USD per day and reported on the days after; the Spearman rank correlation
of every point's in-sample and out-of-sample net per day says whether in-sample ranking means anything.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amm500.config import Config, ConfigError, load_config

STRATEGIES = ("fixed_spread", "market_making", "glft")

def tier_sets(tier: str) -> list[str]:
    """A tier shorthand (a volume tier, optionally ``+rebateN`` and ``+<staking tier>``), e.g.
    ``tier4+rebate3+diamond``, as its ``--set`` overrides; an unknown name is refused."""
    from amm500.core.instrument import FEE_TIER_NAMES, REBATE_TIER_NAMES, STAKING_TIER_NAMES

    parts = tier.split("+")
    if parts[0] not in FEE_TIER_NAMES:
        raise ConfigError(f"--tier {tier!r}: the first part must be one of {', '.join(FEE_TIER_NAMES)}")
    out = [f"backtest.fee_tier={parts[0]}"]
    for p in parts[1:]:
        if p in REBATE_TIER_NAMES:
            out.append(f"backtest.maker_rebate_tier={p}")
        elif p in STAKING_TIER_NAMES:
            out.append(f"backtest.staking_tier={p}")
        else:
            raise ConfigError(f"--tier {tier!r}: {p!r} is neither a rebate tier ({', '.join(REBATE_TIER_NAMES)})"
                              f" nor a staking tier ({', '.join(STAKING_TIER_NAMES)})")
    return out


@dataclass(frozen=True)
class Point:
    strategy: str
    tier: str
    width_bps: float
    alpha: bool | None  # None: the strategy has no alpha

    def sets(self) -> list[str]:
        w = f"{self.width_bps:g}"
        out = [f"trading.strategy={self.strategy}", "risk.kill_switch_enabled=false", *tier_sets(self.tier)]
        if self.strategy == "fixed_spread":
            out += ["trading.order_levels=1", f"trading.min_spread_bps={w}",
                    f"trading.max_spread_bps={max(self.width_bps, 10.0):g}"]
        elif self.strategy == "market_making":
            out += ["trading.vol_adaptive_enabled=false", f"trading.min_spread_bps={w}",
                    f"trading.max_spread_bps={max(self.width_bps, 10.0):g}",
                    f"trading.imbalance_skew_enabled={str(bool(self.alpha)).lower()}"]
        else:
            out += [f"trading.min_spread_bps={w}", f"trading.max_spread_bps={max(self.width_bps, 10.0):g}",
                    f"glft.alpha_enabled={str(bool(self.alpha)).lower()}"]
        return out

    def label(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "tier": self.tier, "width_bps": self.width_bps,
                "alpha": "-" if self.alpha is None else ("on" if self.alpha else "off")}


def grid(strategies: Sequence[str], tiers: Sequence[str], widths: Sequence[float],
         alphas: Sequence[bool]) -> list[Point]:
    for s in strategies:
        if s not in STRATEGIES:
            raise ConfigError(f"--strategy {s!r}: expected one of {', '.join(STRATEGIES)}")
    for t in tiers:
        tier_sets(t)
    for w in widths:
        if not 0 < w <= 1000:
            raise ConfigError(f"--width {w:g}: must be in (0, 1000] bps")
    pts = []
    for s in strategies:
        for t in tiers:
            for w in widths:
                for a in ([None] if s == "fixed_spread" else list(alphas)):
                    pts.append(Point(s, t, float(w), a))
    return pts


def command(data: Path, n_days: int | None, base_sets: Sequence[str], point: Point, config: Path | None,
            train_days: int | None = None) -> str:
    """The command that reproduces one row: ``amm500 backtest`` for a whole dataset (or its first
    ``n_days``); for a walk-forward row, the one-point ``amm500 analyze breakeven`` that prints its
    in-sample and out-of-sample rows (a backtest cannot start at a later day of a dataset)."""
    if train_days is None:
        parts = ["amm500", "backtest", "--data", str(data)]
        if n_days is not None:
            parts += ["--days", str(n_days)]
        if config is not None:
            parts += ["--config", str(config)]
        for s in [*base_sets, *point.sets()]:
            parts += ["--set", s]
    else:
        parts = ["amm500", "analyze", "breakeven", "--data", str(data), "--train-days", str(train_days),
                 "--strategy", point.strategy, "--tier", point.tier, "--width", f"{point.width_bps:g}"]
        if n_days is not None:
            parts += ["--days", str(n_days)]
        if point.alpha is not None:
            parts += ["--alpha", "on" if point.alpha else "off"]
        if config is not None:
            parts += ["--config", str(config)]
        for s in base_sets:
            parts += ["--set", s]
    return " ".join(shlex.quote(p) for p in parts)


def row_metrics(m: dict[str, Any], initial_equity: float) -> dict[str, Any]:
    """The map's columns out of one run's metrics."""
    notional = m.get("notional_usd") or 0.0
    days = m.get("span_days") or m.get("days") or 0.0
    net = m["net_pnl"]
    mk = m.get("markouts", {})
    rb = m.get("request_budget") or {}

    def _mk(key: str) -> float | None:
        v = mk.get(key, {})
        return v.get("size_weighted_bps")

    def _bps(x: float) -> float | None:
        return x / notional * 1e4 if notional > 0 else None

    return {
        "fee_schedule": m.get("fee_tier"),
        "fills": m["fills"],
        "maker_ratio": m.get("maker_ratio"),
        "notional_usd": notional,
        "net_bps_per_dollar_traded": _bps(net),
        "net_usd": net,
        "net_usd_per_day": net / days if days else None,
        "net_bps_of_capital_per_day": net / days / initial_equity * 1e4 if days else None,
        "spread_capture_bps": _bps(m["spread_capture"]),
        "fees_bps": _bps(m["fees"]),
        "funding_bps": _bps(m["funding"]),
        "inventory_bps": _bps(m["inventory_pnl"]),
        "markout_1s_bps": _mk("1s"),
        "markout_10s_bps": _mk("10s"),
        "markout_60s_bps": _mk("60s"),
        "requests_used": rb.get("requests_used_run"),
        "time_out_of_budget_s": rb.get("time_out_of_budget_s"),
        "liquidated": m.get("killed") == "liquidated",
        "days": days,
    }


RunFn = Callable[[Config, Any], dict[str, Any]]


def _run(config: Config, market: Any) -> dict[str, Any]:
    from amm500.optimize.evaluate import run_point

    return run_point(config, market)


def breakeven_map(
    data_dirs: Sequence[Path],
    points: Sequence[Point],
    *,
    config_path: Path | None = None,
    base_sets: Sequence[str] = (),
    days: int | None = None,
    train_days: int | None = None,
    run: RunFn = _run,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run every point on every dataset; with ``train_days``, in-sample then out-of-sample windows.

    Returns ``{"rows": [...], "walk_forward": [...], "rank_correlation": {...}}``; every row carries its
    dataset, window, point, metrics and command.
    """
    from amm500.optimize.evaluate import _window, load_market
    from amm500.optimize.walkforward import spearman

    rows: list[dict[str, Any]] = []
    wf: list[dict[str, Any]] = []
    corr: dict[str, float | None] = {}
    jobs: list[tuple[Path, str, Any, tuple[str, ...], int | None]] = []
    for data in data_dirs:
        full = load_market(Path(data), days)
        all_days = tuple(d.isoformat() for d in full.days)
        if train_days is not None and len(all_days) > train_days:
            jobs.append((Path(data), "in-sample", _window(full, all_days[:train_days]), all_days[:train_days],
                         train_days))
            jobs.append((Path(data), "out-of-sample", _window(full, all_days[train_days:]), all_days[train_days:],
                         train_days))
        else:
            jobs.append((Path(data), "whole", full, all_days, None))
    total = len(jobs) * len(points)
    done = 0
    for data, window, market, wdays, wf_days in jobs:
        for pt in points:
            cfg = load_config(config_path, [*base_sets, *pt.sets()])
            metrics = run(cfg, market)
            row = {"data": str(data), "window": window, "window_days": f"{wdays[0]}..{wdays[-1]}", **pt.label(),
                   **row_metrics(metrics, cfg.backtest.initial_equity),
                   "command": command(data, days, base_sets, pt, config_path, wf_days)}
            rows.append(row)
            done += 1
            if progress is not None:
                progress(done, total)
    # walk-forward: the in-sample best width per (data, strategy, tier, alpha), judged out of sample
    for data in {r["data"] for r in rows}:
        ins = [r for r in rows if r["data"] == data and r["window"] == "in-sample"]
        oos = {(r["strategy"], r["tier"], r["alpha"], r["width_bps"]): r for r in rows
               if r["data"] == data and r["window"] == "out-of-sample"}
        if not ins:
            continue
        xs, ys = [], []
        for r in ins:
            o = oos.get((r["strategy"], r["tier"], r["alpha"], r["width_bps"]))
            if o is not None and r["net_usd_per_day"] is not None and o["net_usd_per_day"] is not None:
                xs.append(r["net_usd_per_day"])
                ys.append(o["net_usd_per_day"])
        c = spearman(xs, ys)
        corr[data] = None if math.isnan(c) else round(c, 4)
        groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for r in ins:
            groups.setdefault((r["strategy"], r["tier"], r["alpha"]), []).append(r)
        for (s, t, a), rs in sorted(groups.items()):
            best = max(rs, key=lambda r: r["net_usd_per_day"] if r["net_usd_per_day"] is not None else -math.inf)
            o = oos.get((s, t, a, best["width_bps"]))
            wf.append({"data": data, "strategy": s, "tier": t, "alpha": a, "chosen_width_bps": best["width_bps"],
                       "is_net_usd_per_day": best["net_usd_per_day"],
                       "is_net_bps_per_dollar_traded": best["net_bps_per_dollar_traded"],
                       "oos_net_usd_per_day": None if o is None else o["net_usd_per_day"],
                       "oos_net_bps_per_dollar_traded": None if o is None else o["net_bps_per_dollar_traded"],
                       "oos_fills": None if o is None else o["fills"],
                       "oos_command": None if o is None else o["command"]})
    return {"rows": rows, "walk_forward": wf, "rank_correlation": corr}


def _f(v: Any, nd: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "-"
        return f"{v:,.{nd}f}"
    return str(v)


def markdown(result: dict[str, Any]) -> str:
    """The map as Markdown tables (docs/edge.md embeds this), each row followed by its command."""
    lines = []
    head = ("| # | data | window | strategy | tier | width | alpha | fills | maker % | net bps/$ | net $/day |"
            " net bps cap/day |"
            " spread bps | mk 1s | mk 10s | mk 60s | inventory bps | fees bps | funding bps | requests |"
            " out of budget s |")
    sep = "|" + "|".join("---" for _ in range(head.count("|") - 1)) + "|"
    lines += [head, sep]
    cmds = []
    for i, r in enumerate(result["rows"], 1):
        lines.append(
            f"| {i} | {Path(r['data']).name} | {r['window']} | {r['strategy']} | {r['tier']} | {r['width_bps']:g} |"
            f" {r['alpha']} | {r['fills']} | {_f(None if r['maker_ratio'] is None else 100 * r['maker_ratio'], 0)} |"
            f" {_f(r['net_bps_per_dollar_traded'])} | {_f(r['net_usd_per_day'])} |"
            f" {_f(r['net_bps_of_capital_per_day'], 1)} | {_f(r['spread_capture_bps'])} | {_f(r['markout_1s_bps'])} |"
            f" {_f(r['markout_10s_bps'])} | {_f(r['markout_60s_bps'])} | {_f(r['inventory_bps'])} |"
            f" {_f(r['fees_bps'])} |"
            f" {_f(r['funding_bps'], 3)} | {r['requests_used']} | {_f(r['time_out_of_budget_s'], 0)} |")
        cmds.append(f"{i}. `{r['command']}`")
    out = "\n".join(lines)
    if result["walk_forward"]:
        wl = ["| data | strategy | tier | alpha | width chosen in-sample | IS net $/day | IS net bps/$ |"
              " OOS net $/day | OOS net bps/$ | OOS fills |", "|---|---|---|---|---|---|---|---|---|---|"]
        for w in result["walk_forward"]:
            wl.append(f"| {Path(w['data']).name} | {w['strategy']} | {w['tier']} | {w['alpha']} |"
                      f" {w['chosen_width_bps']:g} | {_f(w['is_net_usd_per_day'])} |"
                      f" {_f(w['is_net_bps_per_dollar_traded'])} | {_f(w['oos_net_usd_per_day'])} |"
                      f" {_f(w['oos_net_bps_per_dollar_traded'])} | {_f(w['oos_fills'])} |")
        corr = ", ".join(f"{Path(k).name}: {_f(v, 3)}" for k, v in result["rank_correlation"].items())
        out += ("\n\n**Walk-forward** (width chosen by in-sample net $/day):\n\n" + "\n".join(wl)
                + f"\n\nIn-sample vs out-of-sample rank correlation of net $/day over every point: {corr}")
    out += "\n\nCommands, by row number:\n\n" + "\n".join(cmds)
    return out
