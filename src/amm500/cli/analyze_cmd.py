"""``amm500 analyze``: studies built from many backtests (``breakeven``: where market making pays)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from amm500.cli.app import ConfigOption, SetOption, app, console, fail
from amm500.config import ConfigError

analyze_app = typer.Typer(help="Studies over many backtests: the break-even map.", no_args_is_help=True)
app.add_typer(analyze_app, name="analyze")


@analyze_app.command("breakeven")
def breakeven(
    data: Annotated[list[Path], typer.Option("--data", "-d", help="Canonical data directory (repeatable).")],
    strategy: Annotated[list[str] | None, typer.Option(
        "--strategy", help="fixed_spread, market_making, glft (repeatable; default all three).")] = None,
    tier: Annotated[list[str] | None, typer.Option(
        "--tier", help="Fee schedule: tier0..tier6 [+rebate1..3] [+staking tier] (repeatable).")] = None,
    width: Annotated[list[float] | None, typer.Option(
        "--width", help="Full quoted spread, bps (repeatable; default 1 2 4 8).")] = None,
    alpha: Annotated[str, typer.Option("--alpha", help="on, off or both.")] = "both",
    days: Annotated[int | None, typer.Option("--days", min=1, help="Only the first N days of each dataset.")] = None,
    train_days: Annotated[int | None, typer.Option(
        "--train-days", min=1, help="Walk-forward: choose the width on these first days, report the rest.")] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write every row as JSON here.")] = None,
    md_out: Annotated[Path | None, typer.Option("--markdown", help="Write the tables as Markdown here.")] = None,
) -> None:
    """Strategy x fee tier x quote width (x alpha): net bps per dollar traded, per day and per dollar of
    capital, the PnL split and the request budget, each row with the command that reproduces it."""
    if alpha not in ("on", "off", "both"):
        raise fail(f"--alpha {alpha!r}: expected on, off or both")
    for d in data:
        if not d.is_dir():
            raise fail(f"--data {d}: not a directory")
    from amm500.optimize.breakeven import breakeven_map, grid, markdown

    alphas = {"on": [True], "off": [False], "both": [False, True]}[alpha]
    try:
        points = grid(strategy or ["fixed_spread", "market_making", "glft"], tier or ["tier0", "tier3",
                      "tier4+rebate3"], width or [1.0, 2.0, 4.0, 8.0], alphas)
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("break-even map (backtests)", total=None)
            result = breakeven_map(data, points, config_path=config, base_sets=set_ or [], days=days,
                                   train_days=train_days,
                                   progress=lambda done, total: bar.update(task, completed=done, total=total))
    except ConfigError as exc:
        raise fail(str(exc)) from None
    text = markdown(result)
    if json_out is not None:
        json_out.write_text(json.dumps(result, indent=1, default=str))
    if md_out is not None:
        md_out.write_text(text + "\n")
    console.print(text, highlight=False, soft_wrap=True)
