"""``amm500 data generate``: write the synthetic BTC perpetual market in the canonical format."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from amm500.cli.app import console, data_app, fail


def _parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise fail(f"--start must be a date as YYYY-MM-DD (got {value!r})") from None


@data_app.command("generate")
def generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory (must be empty unless --force).")],
    days: Annotated[int, typer.Option("--days", "-d", help="Number of UTC days to generate (>= 1).")] = 7,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (>= 0); same seed, same files.")] = 0,
    start: Annotated[str, typer.Option("--start", help="First UTC day, YYYY-MM-DD.")] = "2026-01-01",
    force: Annotated[bool, typer.Option("--force", help="Replace canonical data already in --out.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show the progress bars.")] = True,
) -> None:
    """Generate a synthetic Hyperliquid BTC market: 20-level book updates, trades, hourly funding.

    Calibrated to real Hyperliquid captures (docs/data.md); finished days survive Ctrl-C.
    """
    if days < 1:
        raise fail(f"--days must be >= 1 (got {days})")
    if seed < 0:
        raise fail(f"--seed must be >= 0 (got {seed})")
    first = _parse_date(start)
    from amm500.core.files import check_output_dir

    check_output_dir(out, "--out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise fail(f"--out {out} is not empty; pass --force to replace the canonical data in it")

    from amm500.data.synthetic import generate_market

    generate_market(out, days, seed, start=first, progress=progress, force=force)
    console.print(f"[green]wrote[/] {days} day(s) of synthetic BTC (seed {seed}) from {first.isoformat()} to {out}")
