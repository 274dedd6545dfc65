"""``amm500 config show|check``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from amm500.cli.app import ConfigOption, SetOption, config_app, console, fail, get_config
from amm500.config import ConfigError, load_config


@config_app.command("show")
def show(
    config: ConfigOption = None,
    set_: SetOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Print the effective configuration (secrets masked)."""
    cfg = get_config(config, set_)
    data = cfg.masked_dict()
    if as_json:
        console.print_json(json.dumps(data))
        return
    for section, values in data.items():
        table = Table(title=f"\\[{section}]", title_justify="left", show_header=False, box=None)
        table.add_column("field", style="cyan")
        table.add_column("value")
        for key, value in values.items():
            table.add_row(key, json.dumps(value))
        console.print(table)


@config_app.command("check")
def check(file: Annotated[Path, typer.Argument(help="TOML config file to validate.")]) -> None:
    """Validate a config file; exit non-zero naming each bad field."""
    try:
        load_config(file)
    except ConfigError as exc:
        raise fail(f"{file}:\n{exc}") from None
    console.print(f"[green]ok[/] {file}")
