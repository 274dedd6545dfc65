"""AMM-500: a delta-neutral market maker for the Hyperliquid BTC perpetual."""

from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path

__version__ = "0.1.0"


# ``from amm500.x import (a, b)`` or ``from amm500.x import a, b`` up to the end of its line; the names
# must not run into the next line, or every second import statement would be missed.
_FROM_IMPORT = re.compile(rb"^[ \t]*from[ \t]+amm500((?:\.\w+)*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#]+)", re.M)
_IMPORT = re.compile(rb"^[ \t]*import[ \t]+amm500((?:\.\w+)+)", re.M)


def _kernel_sources(source_root: Path) -> list[Path]:
    """Files that use numba (or the decorators of ``amm500.core.jit``) and every amm500 module they import.

    Numba freezes imported globals (layout constants, helper kernels) into compiled code, so those
    files matter as much as the kernels themselves; a CLI or a server edit does not.
    """
    texts = {p: p.read_bytes() for p in source_root.rglob("*.py")}

    def resolve(dotted: str) -> list[Path]:
        base = source_root.joinpath(*[part for part in dotted.split(".") if part])
        return [c for c in (base.with_suffix(".py"), base / "__init__.py") if c in texts]

    chosen = {p for p, text in texts.items() if b"numba" in text or b"amm500.core.jit" in text}
    todo = list(chosen)
    while todo:
        text = texts[todo.pop()]
        found: list[Path] = []
        for package, names in _FROM_IMPORT.findall(text):
            found += resolve(package.decode())
            for name in re.split(r"[\s,()]+", names.decode()):
                if name:
                    found += resolve(f"{package.decode()}.{name}")
        for module in _IMPORT.findall(text):
            found += resolve(module.decode())
        for path in found:
            if path not in chosen:
                chosen.add(path)
                todo.append(path)
    return sorted(chosen)


def numba_cache_dir(source_root: Path, cache_base: Path) -> Path:
    """``cache_base/amm500/numba/<hash of the kernel sources under source_root>``."""
    digest = hashlib.sha256()
    for path in _kernel_sources(source_root):
        digest.update(str(path.relative_to(source_root)).encode())
        digest.update(path.read_bytes())
    return cache_base / "amm500" / "numba" / digest.hexdigest()[:16]


def _pin_numba_cache() -> None:
    """Point Numba's on-disk cache at a folder named after a hash of this package's source.

    ``@njit(cache=True)`` invalidates a cached function only when *its own* file changes, so a kernel
    that calls the strategy would keep running a stale strategy after an edit in another module. Keying
    the whole cache on every source file makes any edit recompile everything once instead.
    An explicit ``NUMBA_CACHE_DIR`` from the user is respected.
    """
    if "NUMBA_CACHE_DIR" in os.environ:
        return
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    os.environ["NUMBA_CACHE_DIR"] = str(numba_cache_dir(Path(__file__).resolve().parent, base))
    if "numba" in sys.modules:  # imported before us: make it re-read the variable
        from numba.core import config

        config.reload_config()


_pin_numba_cache()
