"""``amm500`` command line: one Typer app; each ``*_cmd`` module adds its commands."""

from __future__ import annotations

import importlib
import pkgutil
import sys

from amm500.cli.app import app, err_console
from amm500.config import ConfigError
from amm500.data.schema import DataError

__all__ = ["app", "main"]


def _register_commands() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.endswith("_cmd"):
            importlib.import_module(f"{__name__}.{info.name}")


_register_commands()


def main() -> None:
    """Entry point: user errors become one red line and exit code 2, never a traceback."""
    try:
        app()
    except (ConfigError, DataError) as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)
