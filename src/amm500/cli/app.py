"""The one Typer application and the pieces every command shares.

Command modules (``amm500/cli/*_cmd.py``) register themselves on these apps when imported; they
import heavy libraries (numba kernels, torch, aiohttp) inside the command body so that
``amm500 --help`` and ``amm500 config show`` start fast.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from amm500.config import Config, ConfigError, load_config
from amm500.core.files import OutputError
from amm500.data.schema import DataError

app = typer.Typer(
    name="amm500",
    help="AMM-500: a delta-neutral market maker for the Hyperliquid BTC perpetual.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain Click help: Typer's rich help shows a ``<bool>`` placeholder after on/off flags that the
    # parser then refuses (``--synthetic true`` is an error), which misleads more than boxes help.
    rich_markup_mode=None,
)


def _group(text: str) -> typer.Typer:
    return typer.Typer(help=text, no_args_is_help=True, rich_markup_mode=None)


config_app = _group("Show, validate and document configuration.")
data_app = _group("Generate, import, record and inspect canonical market data.")
vol_app = _group("Volatility forecasting: train and evaluate the LSTM.")
optimize_app = _group("Parameter search: grid and Optuna, local or on Dask.")
cache_app = _group("Show and clear AMM-500's caches (compiled kernels, memory-mapped data).")
app.add_typer(config_app, name="config")
app.add_typer(cache_app, name="cache")
app.add_typer(data_app, name="data")
app.add_typer(vol_app, name="vol")
app.add_typer(optimize_app, name="optimize")


def _usage_name(self: Any) -> str:
    """Click's convention in the usage line: ``FILE`` (required), ``[FILE]`` (optional), ``...`` when repeated.

    Typer 0.29 writes a required argument as ``{file}``, which reads like an unfilled template.
    """
    name = self.metavar or self.name.upper()
    name = name if self.required else f"[{name}]"
    return name + ("..." if self.nargs != 1 and not name.endswith("...") else "")


typer.core.TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]

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
    """Print ``message`` in red on stderr and return an Exit to raise (the text is shown literally:
    paths and field names such as ``spread_bps[0]`` are not rich markup)."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def user_error_text(exc: BaseException, config: Path | None = None) -> str | None:
    """The one sentence for an error caused by the user's input or machine, or None for a bug.

    Config problems found mid-run name the config file they came from; an ``OSError`` names its path.
    """
    if isinstance(exc, ConfigError):
        text = str(exc)
        about_a_field = text.split(".", 1)[0] in Config.model_fields  # "risk.max_drawdown: ...", not "--limit"
        if config is not None and about_a_field and str(config) not in text:
            text += f" (config file {config})"
        return text
    if isinstance(exc, DataError | OutputError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    return None


def guard(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so a user error anywhere inside it is one red line and exit 2, never a traceback."""
    if getattr(callback, "__amm500_guarded__", False):
        return callback
    has_config = "config" in inspect.signature(callback).parameters

    @functools.wraps(callback)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except (ConfigError, DataError, OutputError, OSError) as exc:
            text = user_error_text(exc, kwargs.get("config") if has_config else None)
            raise fail(text or str(exc)) from None

    wrapper.__amm500_guarded__ = True  # type: ignore[attr-defined]
    return wrapper


def guard_all(root: typer.Typer) -> None:
    """Apply :func:`guard` to every command of ``root`` and its groups (called once all are registered)."""
    for cmd in root.registered_commands:
        if cmd.callback is not None:
            cmd.callback = guard(cmd.callback)
    for group in root.registered_groups:
        if group.typer_instance is not None:
            guard_all(group.typer_instance)


def get_config(config: Path | None, overrides: list[str] | None) -> Config:
    try:
        return load_config(config, overrides or [])
    except ConfigError as exc:
        raise fail(str(exc)) from None


def _version(value: bool) -> None:
    if value:
        from amm500 import __version__

        typer.echo(f"amm500 {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """AMM-500: a delta-neutral market maker for the Hyperliquid BTC perpetual."""
