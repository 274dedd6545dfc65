"""``amm500 demo``: the whole loop on an embedded default, no keys and no internet.

Generate a synthetic BTC market, backtest the strategy on it with the queue-aware tick engine, print
the summary and write the JSON and HTML report. A newcomer sees every stage in one command.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Annotated

import typer

from amm500.cli.app import ConfigOption, SetOption, app, console, fail, get_config


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the market, JSON and report.")] = Path("runs/demo"),
    days: Annotated[int, typer.Option("--days", min=1, max=30, help="Days of synthetic market.")] = 2,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Market seed (same seed, same market).")] = 7,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Generate a synthetic BTC market, backtest it and write the report."""
    from amm500.backtest.report import write_report
    from amm500.backtest.runner import print_summary, run_backtest
    from amm500.data.store import write_json_atomic
    from amm500.data.synthetic import generate_market

    cfg = get_config(config, set_)
    market = out / "market"
    started = time.perf_counter()
    console.rule(f"[bold]1/3 synthetic BTC market[/]: {days} day(s), seed {seed}")
    if market.exists():
        shutil.rmtree(market)
    try:
        generate_market(market, days=days, seed=seed, progress=True)
    except ValueError as exc:
        raise fail(str(exc)) from None
    console.print(f"market written to [cyan]{market}[/]")

    console.rule("[bold]2/3 backtest[/] (queue-aware tick engine, tier-0 fees, latency)")
    result = run_backtest(cfg, market, progress=True)
    print_summary(result, console=console)

    console.rule("[bold]3/3 outputs[/]")
    json_path, report_path = out / "backtest.json", out / "report.html"
    write_json_atomic(json_path, result.metrics)
    write_report(result, report_path)
    console.print(f"metrics: [cyan]{json_path}[/]\nreport:  [cyan]{report_path}[/] (open it in a browser)")
    console.print(
        f"done in {time.perf_counter() - started:.1f} s. Synthetic results show what the code does, not what a "
        "market will pay: see docs/results.md."
    )
    console.print_json(json.dumps({k: result.metrics[k] for k in ("sharpe", "net_pnl", "fills", "maker_ratio")
                                   if k in result.metrics}))
