"""``amm500`` command line: one Typer app; each ``*_cmd`` module adds its commands."""

from __future__ import annotations

import importlib
import pkgutil
import sys

from rich.markup import escape

from amm500.cli.app import app, err_console, guard_all, user_error_text

__all__ = ["app", "main"]


def _register_commands() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.endswith("_cmd"):
            importlib.import_module(f"{__name__}.{info.name}")


_register_commands()
guard_all(app)  # every command, in every group: one line and exit 2 for a user error


def main() -> None:
    """Entry point: user errors become one red line and exit code 2, never a traceback."""
    try:
        app()
    except (ValueError, OSError) as exc:
        text = user_error_text(exc)
        if text is None:
            raise
        err_console.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)
