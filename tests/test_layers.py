"""The layer table in docs/architecture.md is the rule: every amm500 import must be allowed by it.

The table is parsed from the document itself, so the doc and the check cannot drift apart.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "amm500"
DOC = ROOT / "docs" / "architecture.md"
OUTSIDE_TABLE = {"__init__", "__main__"}
_ROW = re.compile(r"^\|\s*`(\w+)`\s*\|[^|]*\|\s*([^|]*?)\s*\|\s*$")


def layer_table(text: str) -> dict[str, set[str] | None]:
    """package -> the packages it may import (None: anything, the ``*`` row)."""
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    table: dict[str, set[str] | None] = {}
    for line in section.splitlines():
        m = _ROW.match(line)
        if m:
            allowed = m.group(2)
            table[m.group(1)] = None if allowed == "*" else set(re.findall(r"\w+", allowed))
    return table


def _package_of(path: Path, src: Path) -> str:
    return path.relative_to(src).parts[0].removesuffix(".py")


def amm500_imports(tree: ast.AST) -> set[str]:
    """Top-level amm500 packages a module imports, wherever the import statement stands."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] if node.module != "amm500" else [f"amm500.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "amm500" and len(parts) > 1:
                found.add(parts[1])
    return found


def violations(src: Path, table: dict[str, set[str] | None]) -> list[str]:
    problems = []
    for path in sorted(src.rglob("*.py")):
        pkg = _package_of(path, src)
        if pkg in OUTSIDE_TABLE:
            continue
        if pkg not in table:
            problems.append(f"{path.relative_to(src)}: package {pkg!r} is not in the layer table")
            continue
        allowed = table[pkg]
        if allowed is None:
            continue
        for dep in sorted(amm500_imports(ast.parse(path.read_text(), str(path))) - {pkg}):
            if dep not in allowed:
                problems.append(f"{path.relative_to(src)}: {pkg} may not import {dep} (allowed: {sorted(allowed)})")
    return problems


def test_every_import_follows_the_layer_table() -> None:
    table = layer_table(DOC.read_text())
    assert {"core", "strategy", "backtest", "live", "venues", "cli"} <= set(table)
    assert violations(SRC, table) == []


def test_every_table_row_names_a_real_package() -> None:
    table = layer_table(DOC.read_text())
    present = {_package_of(p, SRC) for p in SRC.rglob("*.py")} - OUTSIDE_TABLE
    assert set(table) - present == set(), "the table lists packages that do not exist"


def test_backtest_and_live_are_siblings() -> None:
    table = layer_table(DOC.read_text())
    assert "live" not in (table["backtest"] or set())
    assert "backtest" not in (table["live"] or set())


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    """The walk sees imports inside functions and TYPE_CHECKING blocks, and names the offender."""
    src = tmp_path / "amm500"
    (src / "core").mkdir(parents=True)
    (src / "live").mkdir()
    (src / "core" / "api.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from amm500.live.quote_loop import QuoteLoop\n")
    (src / "core" / "ok.py").write_text("def f():\n    from amm500 import config\n    return config\n")
    (src / "live" / "loop.py").write_text("import amm500.core.api\n")
    table = layer_table("## Layers\n| package | owns | may import |\n|---|---|---|\n"
                        "| `core` | x | config |\n| `live` | y | core, config |\n")
    assert violations(src, table) == ["core/api.py: core may not import live (allowed: ['config'])"]
    (src / "rogue").mkdir()
    (src / "rogue" / "x.py").write_text("")
    assert any("not in the layer table" in v for v in violations(src, table))


def _modules_imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_the_order_manager_is_venue_neutral() -> None:
    """It speaks the OrderVenue protocol only: no venue's wire format, signing, rounding or errors,
    so a paper venue that never signs anything plugs in where Hyperliquid does."""
    neutral = {"amm500.venues", "amm500.venues.model", "amm500.venues.errors"}
    venue_imports = {m for m in _modules_imported(SRC / "live" / "order_manager.py") if m.startswith("amm500.venues")}
    assert venue_imports and venue_imports <= neutral, venue_imports - neutral
