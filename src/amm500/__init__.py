"""AMM-500: a delta-neutral market maker for the Hyperliquid BTC perpetual."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

__version__ = "0.1.0"


def numba_cache_dir(source_root: Path, cache_base: Path) -> Path:
    """``cache_base/amm500/numba/<hash of the .py files under source_root that use numba>``.

    Only files that mention numba count, so editing a CLI, a server or a report does not throw the
    compiled kernels away.
    """
    digest = hashlib.sha256()
    for path in sorted(source_root.rglob("*.py")):
        text = path.read_bytes()
        if b"numba" not in text:
            continue
        digest.update(str(path.relative_to(source_root)).encode())
        digest.update(text)
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
