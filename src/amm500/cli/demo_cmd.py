"""``amm500 demo``: the whole loop on an embedded default, no keys and no internet.

Generate a synthetic BTC market, backtest the strategy on it with the queue-aware tick engine, print
the summary and write the JSON and HTML report, then rehearse the same strategy for a few seconds on
the local exchange (replaying that market) over real HTTP and WebSocket on 127.0.0.1, with a
throwaway key made for the run. A newcomer sees every stage in one command.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from amm500.cli.app import ConfigOption, SetOption, app, console, fail, get_config

if TYPE_CHECKING:
    from amm500.config import Config
    from amm500.live.quote_loop import LoopStats


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the market, JSON and report.")] = Path("runs/demo"),
    days: Annotated[int, typer.Option("--days", min=1, max=30, help="Days of synthetic market.")] = 2,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Market seed (same seed, same market).")] = 7,
    rehearsal_seconds: Annotated[float, typer.Option(
        "--rehearsal-seconds", min=0, max=3600,
        help="Seconds of paper trading on the local exchange after the backtest (0: skip).")] = 20.0,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Generate a synthetic BTC market, backtest it, write the report, rehearse on the local exchange."""
    from amm500.backtest.report import write_report
    from amm500.backtest.runner import print_summary, run_backtest
    from amm500.core.files import check_output_dir
    from amm500.data.store import write_json_atomic
    from amm500.data.synthetic import generate_market

    cfg = get_config(config, set_)
    check_output_dir(out, "--out")
    market = out / "market"
    started = time.perf_counter()
    n = 4 if rehearsal_seconds > 0 else 3
    console.rule(f"[bold]1/{n} synthetic BTC market[/]: {days} day(s), seed {seed}")
    if market.exists():
        shutil.rmtree(market)
    (out / "rehearsal.json").unlink(missing_ok=True)  # never leave an older run's rehearsal beside this one
    try:
        generate_market(market, days=days, seed=seed, progress=True)
    except ValueError as exc:
        raise fail(str(exc)) from None
    console.print(f"market written to [cyan]{market}[/]")

    console.rule(f"[bold]2/{n} backtest[/] (queue-aware tick engine, tier-0 fees, latency)")
    result = run_backtest(cfg, market, progress=True)
    print_summary(result, console=console)

    console.rule(f"[bold]3/{n} outputs[/]")
    json_path, report_path = out / "backtest.json", out / "report.html"
    write_json_atomic(json_path, result.metrics)
    write_report(result, report_path)
    console.print(f"metrics: [cyan]{json_path}[/]\nreport:  [cyan]{report_path}[/] (open it in a browser)")
    if rehearsal_seconds > 0:
        console.rule(f"[bold]4/{n} rehearsal[/]: {rehearsal_seconds:g} s on the local exchange, replaying this market")
        rehearse(cfg, market, rehearsal_seconds, out / "rehearsal.json")
    console.print(
        f"done in {time.perf_counter() - started:.1f} s. Synthetic results show what the code does, not what a "
        "market will pay: see docs/results.md."
    )
    console.print_json(json.dumps({k: result.metrics[k] for k in ("sharpe", "sharpe_note", "net_pnl", "fills",
                                                                  "maker_ratio", "verdict") if k in result.metrics}))


def rehearse(cfg: Config, market: Path, seconds: float, json_path: Path) -> None:
    """Stage 4: run the QuoteLoop against the local exchange, print what it did, and check nothing is left resting."""
    import asyncio

    from amm500.config import ConfigError
    from amm500.data.store import write_json_atomic
    from amm500.venues.hyperliquid.errors import HyperliquidError

    try:
        stats, latency = asyncio.run(_rehearse(cfg, market, seconds))
    except KeyboardInterrupt:
        raise fail("rehearsal interrupted (orders were cancelled); the market, backtest.json and report.html "
                   "are complete", code=130) from None
    except (HyperliquidError, ConfigError) as exc:
        raise fail(f"rehearsal on the local exchange failed: {exc}") from None
    console.print(rehearsal_table(stats, latency))
    if stats.fills == 0:
        console.print(f"No fills in {stats.seconds:.0f} s: the replayed flow never reached our quotes on this stretch. "
                      "That happens on quiet minutes; run longer (--rehearsal-seconds) to see fills.")
    write_json_atomic(json_path, rehearsal_metrics(stats, latency))
    console.print(f"rehearsal: [cyan]{json_path}[/]")
    if stats.resting_at_end != 0:
        raise fail(f"{stats.resting_at_end} order(s) still resting on the exchange after the final cancel", code=1)


async def _rehearse(cfg: Config, market: Path, seconds: float) -> tuple[LoopStats, dict[str, dict[str, float]]]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from amm500.runs.session import trading_session

    async with trading_session(cfg, "rehearsal", market=market) as session:
        console.print(f"local exchange {session.venue_url}, paper account {session.account[:10]}... "
                      f"(${cfg.backtest.initial_equity:,.0f}, key made for this run)")
        with Progress(TextColumn("quoting"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
                      TimeRemainingColumn(), console=console, transient=True) as bar:
            task = bar.add_task("rehearsal", total=seconds)
            stats = await session.loop.run(seconds, progress=lambda t: bar.update(task, completed=t))
    return stats, session.client.latency.summary()


def _ms(latency: dict[str, dict[str, float]], name: str) -> tuple[float, float, int]:
    s = latency.get(name)
    return (s["p50"] * 1e3, s["p99"] * 1e3, int(s["count"])) if s else (float("nan"), float("nan"), 0)


def rehearsal_metrics(stats: LoopStats, latency: dict[str, dict[str, float]]) -> dict[str, object]:
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


def rehearsal_table(stats: LoopStats, latency: dict[str, dict[str, float]]) -> Table:
    from amm500.live.quote_loop import KILL_REASONS

    t = Table(title=f"paper rehearsal, {stats.seconds:.1f} s (stopped by {stats.stopped_by})", show_header=False)
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
