"""The one Typer application and the pieces every command shares.

Command modules (``amm500/cli/*_cmd.py``) register themselves on these apps when imported; they
import heavy libraries (numba kernels, torch, aiohttp) inside the command body so that
``amm500 --help`` and ``amm500 config show`` start fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from amm500.config import Config, ConfigError, load_config

app = typer.Typer(
    name="amm500",
    help="AMM-500: a delta-neutral market maker for the Hyperliquid BTC perpetual.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Show and validate configuration.", no_args_is_help=True)
data_app = typer.Typer(help="Generate, import, record and inspect canonical market data.", no_args_is_help=True)
vol_app = typer.Typer(help="Volatility forecasting: train and evaluate the LSTM.", no_args_is_help=True)
optimize_app = typer.Typer(help="Parameter search: grid and Optuna, local or on Dask.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(data_app, name="data")
app.add_typer(vol_app, name="vol")
app.add_typer(optimize_app, name="optimize")

console = Console()
err_console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (defaults < file < AMM500_* env < --set)."),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override one field: section.field=value (repeatable)."),
]


class UserError(Exception):
    """An error caused by the user's input; printed as one sentence, exit code 2."""


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` in red on stderr and return an Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def get_config(config: Path | None, overrides: list[str] | None) -> Config:
    try:
        return load_config(config, overrides or [])
    except ConfigError as exc:
        raise fail(str(exc)) from None
