"""The Numba cache folder follows the package source, so an edit anywhere recompiles every kernel."""

from __future__ import annotations

import os
from pathlib import Path

from amm500 import numba_cache_dir


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
    (src / "strategy" / "api.py").write_text("LEVELS = 1\n")
    (src / "strategy" / "mm.py").write_text("from numba import njit\nfrom amm500.strategy import api\n")
    third = numba_cache_dir(src, tmp_path)
    (src / "strategy" / "api.py").write_text("LEVELS = 2\n")
    assert numba_cache_dir(src, tmp_path) != third
    assert numba_cache_dir(src, tmp_path).parent == tmp_path / "amm500" / "numba"


def test_package_import_pins_the_cache() -> None:
    assert "NUMBA_CACHE_DIR" in os.environ
