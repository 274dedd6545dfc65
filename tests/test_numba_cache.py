"""The Numba cache folder follows the package source, so an edit anywhere recompiles every kernel."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import amm500
from amm500 import _kernel_sources, numba_cache_dir


def test_cache_dir_changes_with_any_source_edit(tmp_path: Path) -> None:
    src = tmp_path / "pkg"
    (src / "strategy").mkdir(parents=True)
    (src / "backtest.py").write_text("from numba import njit\nx = 1\n")
    (src / "strategy" / "mm.py").write_text("from numba import njit\ny = 1\n")
    (src / "cli.py").write_text("z = 1\n")
    first = numba_cache_dir(src, tmp_path)
    assert first == numba_cache_dir(src, tmp_path)
    (src / "cli.py").write_text("z = 2\n")  # no kernel in it: the compiled kernels stay valid
    assert numba_cache_dir(src, tmp_path) == first
    (src / "strategy" / "mm.py").write_text("from numba import njit\ny = 2\n")  # a callee edited
    second = numba_cache_dir(src, tmp_path)
    assert second != first
    # constants imported by a kernel are frozen into compiled code: their module counts too
    (src / "core").mkdir()
    (src / "core" / "api.py").write_text("LEVELS = 1\n")
    (src / "strategy" / "mm.py").write_text("from numba import njit\nfrom amm500.core import api\n")
    third = numba_cache_dir(src, tmp_path)
    (src / "core" / "api.py").write_text("LEVELS = 2\n")
    assert numba_cache_dir(src, tmp_path) != third
    assert numba_cache_dir(src, tmp_path).parent == tmp_path / "amm500" / "numba"
    # a kernel module may name no numba at all, only the project's decorators
    (src / "data").mkdir()
    (src / "data" / "differ.py").write_text("from amm500.core.jit import kernel\nq = 1\n")
    fourth = numba_cache_dir(src, tmp_path)
    (src / "data" / "differ.py").write_text("from amm500.core.jit import kernel\nq = 2\n")
    assert numba_cache_dir(src, tmp_path) != fourth


def test_package_import_pins_the_cache() -> None:
    assert "NUMBA_CACHE_DIR" in os.environ


def test_every_import_line_counts(tmp_path: Path) -> None:
    """Consecutive and parenthesised imports are all followed (a greedy pattern once skipped every
    second ``from amm500... import`` line, so strategy edits ran stale compiled kernels)."""
    src = tmp_path / "pkg"
    (src / "strategy").mkdir(parents=True)
    (src / "core").mkdir()
    (src / "kernel.py").write_text(
        "from numba import njit\n"
        "from amm500.core.jit import array_kernel\n"
        "from amm500.strategy.mm import on_timer\n"
        "from amm500.core.params import (\n    A,\n    B,\n)\n"
        "from amm500.strategy.state import S  # trailing comment\n"
    )
    for name in ("core/jit.py", "strategy/mm.py", "core/params.py", "strategy/state.py"):
        (src / name).write_text("x = 1\n")
    before = numba_cache_dir(src, tmp_path)
    for name in ("strategy/mm.py", "core/params.py", "strategy/state.py"):
        (src / name).write_text("x = 2\n")
        after = numba_cache_dir(src, tmp_path)
        assert after != before, name
        before = after


def _imported_modules(path: Path, root: Path) -> set[Path]:
    found: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("amm500"):
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("amm500")]
        for dotted in names:
            base = root.joinpath(*dotted.split(".")[1:])
            found |= {c for c in (base.with_suffix(".py"), base / "__init__.py") if c.is_file()}
    return found


def test_real_kernel_sources_are_closed_under_imports() -> None:
    """Checked with Python's own parser: every amm500 module a kernel source imports is hashed too."""
    root = Path(amm500.__file__).resolve().parent
    sources = set(_kernel_sources(root))
    assert root / "strategy" / "mm.py" in sources and root / "risk" / "manager.py" in sources
    for path in sorted(sources):
        missing = _imported_modules(path, root) - sources
        assert not missing, f"{path.relative_to(root)} imports unhashed {sorted(missing)}"
