"""``amm500 demo``: the whole loop on an embedded default, no keys and no internet.

Generate a synthetic BTC market, backtest the strategy on it with the queue-aware tick engine, print
the summary and write the JSON and HTML report, then run the trading engine (the same one ``amm500
live`` runs) for two minutes against the local exchange replaying that market, over real HTTP and
WebSocket on 127.0.0.1, with a throwaway key made for the run, and show its journal beside the
backtest. A newcomer sees every stage in one command.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
        help="Seconds of the trading engine on the local exchange after the backtest (0: skip).")] = 120.0,
    dashboard: Annotated[bool, typer.Option(
        "--dashboard/--no-dashboard", help="Serve the dashboard page (127.0.0.1, a free port) during the rehearsal.")
    ] = True,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Generate a synthetic BTC market, backtest it, write the report, rehearse on the local exchange."""
    from amm500.backtest.report import write_report
    from amm500.backtest.runner import (
        compile_in_background,
        print_summary,
        run_backtest,
        stop_background,
        wait_background,
        warm_exchange_in_background,
    )
    from amm500.core.files import check_output_dir
    from amm500.data.store import write_json_atomic
    from amm500.data.synthetic import generate_market
    from amm500.optimize import recommend

    cfg = get_config(config, set_)
    check_output_dir(out, "--out")
    market = out / "market"
    started = time.perf_counter()
    n = 4 if rehearsal_seconds > 0 else 3
    console.rule(f"[bold]1/{n} synthetic BTC market[/]: {days} day(s), seed {seed}")
    if market.exists():
        shutil.rmtree(market)
    (out / "rehearsal.json").unlink(missing_ok=True)  # never leave an older run's rehearsal beside this one
    # on a second core while the market is generated (itself a compile)
    compiling = compile_in_background(cfg.trading.strategy)
    # the rehearsal's local exchange compiles meanwhile too, instead of at the rehearsal
    exchange = warm_exchange_in_background() if rehearsal_seconds > 0 else None
    try:
        try:
            try:
                generate_market(market, days=days, seed=seed, progress=True)
            except ValueError as exc:
                raise fail(str(exc)) from None
            console.print(f"market written to [cyan]{market}[/]")

            console.rule(f"[bold]2/{n} backtest[/] (queue-aware tick engine, tier-0 fees, latency)")
            wait_background(compiling, progress=True)
        finally:
            stop_background(compiling)
        result = run_backtest(cfg, market, progress=True)
        print_summary(result, console=console)

        console.rule(f"[bold]3/{n} outputs[/]")
        json_path, report_path = out / "backtest.json", out / "report.html"
        write_json_atomic(json_path, result.metrics)
        write_report(result, report_path)
        console.print(f"metrics: [cyan]{json_path}[/]\nreport:  [cyan]{report_path}[/] (open it in a browser)")
        if rehearsal_seconds > 0:
            console.rule(f"[bold]4/{n} rehearsal[/]: {rehearsal_seconds:g} s on the local exchange, replaying this "
                         "market")
            wait_background(exchange, progress=False)
            rehearse(cfg, market, rehearsal_seconds, out, result.metrics, dashboard=dashboard)
    finally:
        stop_background(exchange)
    console.print(
        f"done in {time.perf_counter() - started:.1f} s. Synthetic results show what the code does, not what a "
        "market will pay: see docs/results.md."
    )
    console.print(recommend.summary_line(recommend.load(), cfg), highlight=False, soft_wrap=True)
    why = kill_why(result.metrics, cfg)
    if why is not None:
        console.print(why, highlight=False, soft_wrap=True)
    console.print_json(json.dumps({k: result.metrics[k] for k in ("sharpe", "sharpe_note", "net_pnl", "fills",
                                                                  "maker_ratio", "verdict") if k in result.metrics}))


def kill_why(m: dict[str, Any], cfg: Config) -> str | None:
    """Why the recommended settings still trip the kill switch on this market (the verdict says which
    rule fired; this says what in the strategy's costs makes losing round trips come in a row), or None
    for a run that was not stopped or does not run the recommended settings."""
    from amm500.core.instrument import Instrument
    from amm500.optimize.recommend import runs_defaults

    if m.get("killed") != "kill_switch" or not runs_defaults(cfg):
        return None
    ins = Instrument.from_config(cfg)
    fills = int(m.get("fills") or 0)
    taker = round(fills * (1.0 - float(m.get("maker_ratio") or 0.0)))
    return (f"Why the recommended settings still stop here: a round trip pays {2e4 * ins.maker_fee:.1f} bps in "
            f"fees when both fills are maker and {1e4 * (ins.maker_fee + ins.taker_fee):.1f} bps when the "
            f"{cfg.risk.max_position_seconds:g} s position timeout closes it with a taker IOC ({taker} of its {fills} "
            f"fills), against a spread of {cfg.trading.min_spread_bps:g} bps less the adverse move: losing round trips "
            f"come in a row, and the kill switch keeps the seed's thresholds. The per-day figures above are with "
            "it off (docs/edge.md).")


def rehearse(cfg: Config, market: Path, seconds: float, out: Path, backtest: dict[str, Any],
             dashboard: bool = False) -> None:
    """Stage 4: the trading engine against the local exchange replaying ``market``; its summary, its
    journal, the backtest beside it, and a check that nothing is left resting."""
    import asyncio

    from amm500.cli.session_view import session_metrics, session_table
    from amm500.cli.trade_cmd import journal_table
    from amm500.config import ConfigError
    from amm500.data.store import write_json_atomic
    from amm500.store import state_dir as sd
    from amm500.store.journal import JournalError
    from amm500.venues.errors import VenueError

    folder = out / "engine"
    try:
        bt_json = out / "backtest.json"
        stats, latency, budget_used = asyncio.run(_rehearse(
            cfg, market, seconds, folder, dashboard=dashboard, backtest_json=bt_json if bt_json.is_file() else None))
    except KeyboardInterrupt:
        raise fail("rehearsal interrupted (orders were cancelled); the market, backtest.json and report.html "
                   "are complete", code=130) from None
    except (VenueError, ConfigError, JournalError, sd.LockHeld) as exc:
        raise fail(f"rehearsal on the local exchange failed: {exc}") from None
    console.print(session_table(stats, latency, title="engine on the local exchange"))
    console.print(journal_table(folder / sd.JOURNAL))
    console.print(side_by_side(backtest, stats, budget_used))
    if stats.fills == 0:
        console.print(f"No fills in {stats.seconds:.0f} s: the replayed flow never reached our quotes on this stretch. "
                      "That happens on quiet minutes; run longer (--rehearsal-seconds) to see fills.")
    write_json_atomic(out / "rehearsal.json", {**session_metrics(stats, latency), "requests_used": budget_used})
    console.print(f"rehearsal: [cyan]{out / 'rehearsal.json'}[/], journal: [cyan]{folder / sd.JOURNAL}[/]")
    console.print(f"replay it in the dashboard: amm500 dashboard --journal {folder / sd.JOURNAL}"
                  + (f" --backtest {out / 'backtest.json'}" if (out / "backtest.json").is_file() else ""),
                  highlight=False, soft_wrap=True)
    if stats.resting_at_end != 0:
        raise fail(f"{stats.resting_at_end} order(s) still resting on the exchange after the final cancel", code=1)


async def _rehearse(cfg: Config, market: Path, seconds: float, folder: Path, dashboard: bool = False,
                    backtest_json: Path | None = None) -> tuple[LoopStats, dict[str, dict[str, float]], int]:
    """The engine on the local exchange; with ``dashboard``, its page (``backtest_json`` beside) meanwhile."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from amm500.runs.session import trading_session

    async with trading_session(cfg, "rehearsal", market=market, state_dir=folder) as session:
        eng = session.engine
        console.print(f"local exchange {session.network.api}, account {session.account[:10]}... "
                      f"(${cfg.backtest.initial_equity:,.0f}, key made for this run); engine endpoint {eng.url}")
        page = None
        if dashboard:
            from amm500.dashboard.server import serve_beside

            page = await serve_beside(session.state_dir, 0, backtest_json,
                                      announce=lambda m: console.print(m, highlight=False))
        try:
            used0 = await _budget_used(session)
            with Progress(TextColumn("quoting"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
                          TimeRemainingColumn(), console=console, transient=True) as bar:
                task = bar.add_task("rehearsal", total=seconds)
                # a rehearsal ends flat: a demo account must not be left holding the whole account's notional
                result = await eng.run(seconds, progress=lambda t: bar.update(task, completed=t), flatten_at_end=True)
            used = await _budget_used(session) - used0
        finally:
            if page is not None:
                await page.cleanup()
    return result.stats, eng.venue.latency.summary(), used


async def _budget_used(session: Any) -> int:
    state = await session.engine.venue.refresh_rate_limit()
    return int(state.used)


def side_by_side(bt: dict[str, Any], st: LoopStats, requests: int) -> Table:
    """The backtest of these settings and the engine's run, per hour each traded (their spans differ, and a
    kill switch can end either early)."""
    from amm500.live.quote_loop import KILL_REASONS

    t = Table("per hour of trading", "backtest (synthetic market)", "engine (local exchange, replaying it)",
              title="same settings, two drivers")
    stopped_s = bt.get("stopped_after_s")  # a run the kill switch stopped traded only that long
    bt_hours = max((float(stopped_s) / 3600.0) if stopped_s else float(bt.get("span_days", 0.0) or 0.0) * 24.0,
                   1e-9)
    en_hours = max(st.seconds / 3600.0, 1e-9)

    def rate(x: float | None, hours: float) -> str:
        return "-" if x is None or not math.isfinite(x) else f"{x / hours:,.2f}"

    t.add_row("fills", rate(bt.get("fills"), bt_hours), rate(float(st.fills), en_hours))
    t.add_row("volume (USD)", rate(bt.get("notional_usd"), bt_hours), rate(st.volume_usd, en_hours))
    t.add_row("net PnL (USD)", rate(bt.get("net_pnl"), bt_hours), rate(st.pnl, en_hours))
    t.add_row("fees (USD)", rate(bt.get("fees"), bt_hours), rate(st.fees, en_hours))
    mr = bt.get("maker_ratio")
    t.add_row("maker ratio", "-" if mr is None else f"{mr:.0%}", f"{st.maker_ratio:.0%}" if st.fills else "-")
    sent = (bt.get("orders_sent") or 0) + (bt.get("cancels_sent") or 0)
    t.add_row("orders + cancels sent", rate(float(sent), bt_hours), rate(float(requests), en_hours))
    killed = bt.get("killed", "no")
    t.add_row("stopped early", "no" if killed == "no" else f"{killed} ({bt.get('kill_reason')})",
              f"kill switch ({KILL_REASONS.get(st.kill_reason, '?')})" if st.killed else "no")
    return t
