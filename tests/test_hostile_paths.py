"""Every command that writes, driven at hostile output paths (issue 15, class 1 and 2).

For a directory, a symlink to one, a FIFO, a symlink to a FIFO, a dangling symlink, a path below an
existing file, an existing file where a folder is wanted and (when not root) a read-only folder, every
command must answer with one line on stderr and a non-zero exit, print no traceback, and change
nothing in the sandbox: the FIFO is still a FIFO, the link still a link, no file or folder appears.
Hypothesis picks the command, the hostile kind and the file names (spaces and non-ASCII included).
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from amm500.cli import app
from amm500.data import store
from backtest_helpers import book, events, trade

ROOT_USER = os.geteuid() == 0


def _data(sandbox: Path) -> Path:
    d = sandbox / "data"
    if not d.exists():
        store.write_events(d, events([*book(0), trade(1000, -1, 99_999, 0.01)]))
    return d


# name -> (output kind, argv builder(sandbox, out)); out's suffix matters for the optimizer's checks
Build = Callable[[Path, Path], list[str]]
FILE_COMMANDS: dict[str, tuple[str, Build]] = {
    "backtest --json": (".json", lambda s, o: ["backtest", "--data", str(_data(s)), "--json", str(o)]),
    "backtest --report": (".html", lambda s, o: ["backtest", "--data", str(_data(s)), "--report", str(o)]),
    "vol train --out": (".pt", lambda s, o: ["vol", "train", "--data", str(_data(s)), "--out", str(o)]),
    "vol eval --json": (".json", lambda s, o: ["vol", "eval", "--data", str(_data(s)), "--json", str(o)]),
    "optimize grid --out": (".parquet", lambda s, o: ["optimize", "grid", "--data", str(_data(s)), "--out", str(o),
                                                      "--param", "trading.leverage=5,6"]),
    "optimize grid --report": (".html", lambda s, o: ["optimize", "grid", "--data", str(_data(s)), "--out",
                                                      str(s / "r.parquet"), "--param", "trading.leverage=5",
                                                      "--report", str(o)]),
    "optimize tune --out": (".parquet", lambda s, o: ["optimize", "tune", "--data", str(_data(s)), "--out", str(o),
                                                      "--param", "trading.leverage=2:8:int", "--trials", "1"]),
    "optimize report --out": (".html", lambda s, o: ["optimize", "report", str(s / "r.parquet"), "--out", str(o)]),
}
DIR_COMMANDS: dict[str, Build] = {
    "demo --out": lambda s, o: ["demo", "--out", str(o), "--rehearsal-seconds", "0"],
    "data generate --out": lambda s, o: ["data", "generate", "--out", str(o), "--days", "1"],
    "data import --out": lambda s, o: ["data", "import", str(_csv(s)), "--source", "l2-csv", "--out", str(o)],
    "data record --out": lambda s, o: ["data", "record", "--url", "ws://127.0.0.1:9/ws", "--duration", "0.1",
                                       "--out", str(o)],
    "data fetch --out": lambda s, o: ["data", "fetch", "--from", "2025-01-01", "--to", "2025-01-01", "--out", str(o),
                                      "--api-url", "http://127.0.0.1:9"],
}


def _csv(sandbox: Path) -> Path:
    p = sandbox / "book.csv"
    p.write_text("x\n")
    return p


def _fifo(p: Path) -> None:
    os.mkfifo(p)


def make_hostile(sandbox: Path, name: str, kind: str, want_dir: bool) -> Path:
    """Create the hostile object for ``name`` in ``sandbox`` and return the path to hand the command."""
    target = sandbox / f"t-{name}"
    out = sandbox / name
    if kind == "directory":
        out.mkdir()
    elif kind == "existing file":
        out.write_text("keep me\n")
    elif kind == "fifo":
        _fifo(out)
    elif kind == "symlink to fifo":
        _fifo(target)
        out.symlink_to(target)
    elif kind == "symlink to directory":
        target.mkdir()
        out.symlink_to(target)
    elif kind == "symlink to file":
        target.write_text("keep me\n")
        out.symlink_to(target)
    elif kind == "dangling symlink":
        out.symlink_to(sandbox / "missing-dir" / "x")
    elif kind == "below a file":
        (sandbox / "plain").write_text("keep me\n")
        out = sandbox / "plain" / name
    elif kind == "unwritable directory":
        ro = sandbox / "ro"
        ro.mkdir()
        out = ro / name
        ro.chmod(0o555)
    else:  # pragma: no cover
        raise AssertionError(kind)
    return out


FILE_KINDS = ["directory", "fifo", "symlink to fifo", "symlink to directory", "dangling symlink", "below a file"]
DIR_KINDS = ["existing file", "fifo", "symlink to fifo", "symlink to file", "dangling symlink", "below a file"]
if not ROOT_USER:  # root writes anywhere: no read-only folder to test against
    FILE_KINDS.append("unwritable directory")
    DIR_KINDS.append("unwritable directory")


def snapshot(root: Path) -> dict[str, tuple]:
    """Everything observable about the sandbox (lstat: links and FIFOs are not followed)."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            st_ = p.lstat()
            kind = stat.S_IFMT(st_.st_mode)
            extra: object = os.readlink(p) if p.is_symlink() else (
                p.read_bytes() if stat.S_ISREG(st_.st_mode) else None)
            out[str(p.relative_to(root))] = (kind, stat.S_IMODE(st_.st_mode), st_.st_size, extra)
    return out


names = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Nd"), whitelist_characters=" _-é"),
                min_size=1, max_size=12).map(str.strip).filter(lambda s: bool(s) and not s.startswith("-"))
cases = st.one_of(
    st.tuples(st.sampled_from(sorted(FILE_COMMANDS)), st.sampled_from(FILE_KINDS), names),
    st.tuples(st.sampled_from(sorted(DIR_COMMANDS)), st.sampled_from(DIR_KINDS), names),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(cases)
def test_every_command_refuses_hostile_output_paths_in_one_line(case: tuple[str, str, str]) -> None:
    command, kind, name = case
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Path(tmp)
        _data(sandbox)
        _csv(sandbox)
        if command in FILE_COMMANDS:
            suffix, build = FILE_COMMANDS[command]
            out = make_hostile(sandbox, name + suffix, kind, want_dir=False)
        else:
            build = DIR_COMMANDS[command]
            out = make_hostile(sandbox, name, kind, want_dir=True)
        argv = build(sandbox, out)
        before = snapshot(sandbox)
        try:
            result = CliRunner().invoke(app, argv)
        finally:
            if (sandbox / "ro").exists():
                (sandbox / "ro").chmod(0o755)
        err = [line for line in result.stderr.splitlines() if line.strip()]
        where = f"{command} with {kind} {out}: exit {result.exit_code}, stderr {result.stderr!r}"
        assert result.exit_code != 0, where
        assert isinstance(result.exception, SystemExit), f"{where}: {result.exception!r}"
        assert "Traceback" not in result.output + result.stderr, where
        assert len(err) == 1 and err[0].startswith("error:"), where
        assert snapshot(sandbox) == before, f"{where}: the sandbox changed"


@pytest.mark.parametrize("kind", ["fifo", "symlink to fifo", "directory"])
def test_the_writer_never_replaces_a_special_file(tmp_path: Path, kind: str) -> None:
    from amm500.core.files import OutputError, write_text_atomic

    out = make_hostile(tmp_path, "x.json", kind, want_dir=False)
    before = snapshot(tmp_path)
    with pytest.raises(OutputError, match=r"FIFO|directory"):
        write_text_atomic(out, "{}")
    assert snapshot(tmp_path) == before


def test_a_device_is_never_replaced_even_as_root(tmp_path: Path) -> None:
    from amm500.core.files import OutputError, write_text_atomic

    link = tmp_path / "out.json"
    link.symlink_to("/dev/null")
    for target in (Path("/dev/null"), link):
        with pytest.raises(OutputError, match="character device"):
            write_text_atomic(target, "{}")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode) and link.is_symlink()
    result = CliRunner().invoke(app, ["backtest", "--data", str(_data(tmp_path)), "--json", "/dev/null"])
    assert result.exit_code == 2 and "character device" in result.stderr and "wrote" not in result.output
