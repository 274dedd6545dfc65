"""The one way AMM-500 writes an output file, and the checks every command makes before a long job.

Why one helper: an output must never be half-written (write a temporary file beside the target,
then rename it over), but a plain ``os.replace`` onto the path a user gave turns a symlink into a
regular file (the link's target is never updated), replaces a FIFO or a device node when run as root,
and leaves every file mode 0600 (``mkstemp``'s default) whatever the umask. Here a symlink is followed
(its target is written and the link kept), anything that is not a regular file is refused, a new
file gets ``0666 & ~umask`` and a replaced file keeps its mode. Commands call :func:`check_output_file`
/ :func:`check_output_dir` up front so a bad path fails in one sentence before minutes of work.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "OutputError",
    "cache_home",
    "check_output_dir",
    "check_output_file",
    "compile_notice",
    "kernels_cached",
    "write_atomic",
    "write_bytes_atomic",
    "write_text_atomic",
]


class OutputError(ValueError):
    """An output path that cannot be written as asked; the message names the flag and the path."""


def cache_home() -> Path:
    """AMM-500's cache folder: ``$XDG_CACHE_HOME/amm500`` (default ``~/.cache/amm500``); Numba's compiled
    kernels (``numba/``) and the backtester's memory-mapped columns (``npy/``) live here, never beside data."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "amm500"


def kernels_cached(module: str) -> bool:
    """Whether Numba's cache (``NUMBA_CACHE_DIR``, pinned by ``amm500/__init__``) holds compiled code of
    ``module``: a file stem such as ``loop``, or one function of it (``loop.run_segment``; other code may
    have compiled a helper of the same file)."""
    root = os.environ.get("NUMBA_CACHE_DIR")
    return root is not None and any(Path(root).rglob(f"{module}[.-]*.nbi"))


def compile_notice(module: str, what: str, seconds: float) -> str | None:
    """The line to show during a cold compile of ``module`` (None when its cache is warm); ``seconds``:
    what that compile takes on a 2-core machine (measured by bench/bench_cold_start.py)."""
    if kernels_cached(module):
        return None
    return (f"compiling the {what} with Numba (first run on this machine or after an update): about "
            f"{seconds:.0f} s on 2 cores, once; later runs load it from the cache in about a second")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def _label(path: Path, flag: str | None) -> str:
    return f"{flag} {path}" if flag else str(path)


def _writable_parent(parent: Path, where: str) -> None:
    """The nearest existing ancestor of ``parent`` must be a directory we may create entries in."""
    probe = parent
    while not probe.exists():
        if probe.is_symlink():
            raise OutputError(f"{where}: {probe} is a dangling symlink")
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"{where}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{where}: directory {probe} is not writable")


def resolve_output(path: Path | str) -> Path:
    """The file that will actually be written: a symlink (chain) resolved to its target."""
    return Path(os.path.realpath(path)) if Path(path).is_symlink() else Path(path)


def check_output_file(path: Path | str, flag: str | None = None) -> Path:
    """Refuse an output file path that is a directory, a FIFO, a device or unwritable; returns the real path."""
    path = Path(path)
    where = _label(path, flag)
    real = resolve_output(path)
    try:
        st = os.stat(real)
    except FileNotFoundError:
        if real != path and not real.parent.is_dir():  # never create folders at the far end of a link
            raise OutputError(f"{where}: is a dangling symlink (to {real})") from None
        _writable_parent(real.parent, where)
        return real
    except OSError as exc:
        raise OutputError(f"{where}: cannot use it ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        via = f" (the symlink points to {real})" if real != path else ""
        raise OutputError(f"{where}: is {_kind(st.st_mode)}{via}; give a file path")
    if not os.access(real, os.W_OK) or not os.access(real.parent, os.W_OK | os.X_OK):
        raise OutputError(f"{where}: not writable (file or its directory is read-only)")
    return real


def check_output_dir(path: Path | str, flag: str | None = None) -> Path:
    """Refuse an output folder path that is an existing file, FIFO, dangling link or unwritable."""
    path = Path(path)
    where = _label(path, flag)
    if path.is_symlink() and not path.exists():
        raise OutputError(f"{where}: is a dangling symlink")
    if path.exists():
        if not path.is_dir():
            raise OutputError(f"{where}: exists and is {_kind(os.stat(path).st_mode)}; give a folder path")
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutputError(f"{where}: folder is not writable")
        return path
    _writable_parent(path.parent, where)
    return path


def write_atomic(path: Path | str, write: Callable[[str], object], flag: str | None = None) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file over ``path``'s real target.

    Returns the path written (a symlink's target). Raises :class:`OutputError` for a path that is
    not a regular file or cannot be written; the target is untouched on any failure.
    """
    real = check_output_file(path, flag)
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
    except OSError as exc:
        raise OutputError(f"{_label(Path(path), flag)}: cannot write ({exc.strerror})") from None
    os.close(fd)
    try:
        write(tmp)
        try:
            mode = stat.S_IMODE(os.stat(real).st_mode)
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, real)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return real


def write_bytes_atomic(path: Path | str, data: bytes, flag: str | None = None) -> Path:
    return write_atomic(path, lambda tmp: Path(tmp).write_bytes(data), flag)


def write_text_atomic(path: Path | str, text: str, flag: str | None = None) -> Path:
    return write_atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), flag)
