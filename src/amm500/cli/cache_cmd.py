"""``amm500 cache info|clear``: the caches AMM-500 keeps under ``$XDG_CACHE_HOME/amm500``."""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.table import Table

from amm500.cli.app import cache_app, console
from amm500.core.files import cache_home

#: Sub-folders of the cache home and what they hold (everything else there is left alone).
PARTS = {"numba": "compiled strategy/backtest kernels (rebuilt in under a minute)",
         "npy": "memory-mapped event columns of data folders already backtested (rebuilt on the next run)"}


def _size(path: Path) -> tuple[int, int]:
    """(bytes, files) under ``path``, not following symlinks."""
    total = files = 0
    for p in path.rglob("*"):
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_size
            files += 1
    return total, files


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} GiB"  # pragma: no cover


@cache_app.command("info")
def info() -> None:
    """Where the caches live and how large they are."""
    home = cache_home()
    table = Table(title=f"cache: {home}", title_justify="left")
    for col in ("part", "size", "files", "what"):
        table.add_column(col, justify="right" if col in ("size", "files") else "left")
    for name, what in PARTS.items():
        size, files = _size(home / name) if (home / name).is_dir() else (0, 0)
        table.add_row(name, _human(size), f"{files:,}", what)
    console.print(table)


@cache_app.command("clear")
def clear() -> None:
    """Delete the caches (safe: each is rebuilt when next needed)."""
    home = cache_home()
    freed = 0
    for name in PARTS:
        part = home / name
        if part.is_dir() and not part.is_symlink():
            freed += _size(part)[0]
            shutil.rmtree(part)
    console.print(f"removed {_human(freed)} from {home}", highlight=False)
