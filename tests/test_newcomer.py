"""A newcomer's first hour (issue 15): each class of defect found, held by a test that failed before.

Classes: 1 writing outputs, 2 one line instead of a traceback, 3 no silent success, 4 the first
compile announced, 7 help and flags, 8 config and keys, 10 packaging. (5 and 6, what the summary and
report say, live in test_report_view.py; hostile output paths for every command in test_hostile_paths.py.)
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from amm500.cli import app
from amm500.data import store
from backtest_helpers import BASE_SETS, book, events, trade

KEY = "0x" + "4c" * 32


def _sets(*extra: str) -> list[str]:
    return [a for s in [*BASE_SETS, *extra] for a in ("--set", s)]


def _data(root: Path) -> Path:
    store.write_events(root, events([*book(0), *(trade(1000 + 500 * k, -1, 99_990, 0.01) for k in range(4))]))
    return root


def _one_error_line(result: object) -> str:
    err = [ln for ln in result.stderr.splitlines() if ln.strip()]  # type: ignore[attr-defined]
    assert len(err) == 1 and err[0].startswith("error:"), result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    return err[0]


# -- 1. writing outputs ------------------------------------------------------------------------------
def test_a_symlinked_output_writes_the_links_target_and_keeps_the_link(tmp_path: Path) -> None:
    data, real = _data(tmp_path / "d"), tmp_path / "real.json"
    real.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    result = CliRunner().invoke(app, ["backtest", "--data", str(data), "--json", str(link), "--quiet", *_sets()])
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert json.loads(real.read_text())["fill_model"] == "tick"


def test_outputs_follow_the_umask_and_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    from amm500.core.files import write_text_atomic

    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "new.txt", "x")
        assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o644
        (tmp_path / "kept.txt").write_text("y")
        (tmp_path / "kept.txt").chmod(0o640)
        write_text_atomic(tmp_path / "kept.txt", "z")
        assert stat.S_IMODE((tmp_path / "kept.txt").stat().st_mode) == 0o640
    finally:
        os.umask(old)


def test_the_npy_cache_lives_in_the_cache_folder_and_cache_info_clear_manage_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from amm500.backtest.market import load_market

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data = _data(tmp_path / "d")
    load_market(data)
    assert [p.name for p in data.iterdir()] == ["events"]  # no hidden .amm500-npy in the user's data
    assert list((tmp_path / "cache" / "amm500" / "npy").rglob("ts.npy"))
    info = CliRunner().invoke(app, ["cache", "info"])
    assert info.exit_code == 0 and "npy" in info.output and str(tmp_path / "cache") in info.output
    assert CliRunner().invoke(app, ["cache", "clear"]).exit_code == 0
    assert not (tmp_path / "cache" / "amm500" / "npy").exists()
    bad = tmp_path / "bad"
    (bad / "events").mkdir(parents=True)
    (bad / "events" / "2026-01-01.parquet").write_bytes(b"not parquet")
    with pytest.raises(Exception, match="not a readable Parquet"):
        load_market(bad)
    assert not list((tmp_path / "cache").rglob("2026-01-01"))  # no empty cache folder for a failed read


# -- 2. one line, never a traceback -------------------------------------------------------------------
def test_report_at_a_directory_fails_before_the_run_in_one_line(tmp_path: Path) -> None:
    data = _data(tmp_path / "d")
    result = CliRunner().invoke(app, ["backtest", "--data", str(data), "--report", str(tmp_path), *_sets()])
    assert result.exit_code == 2
    assert "is a directory" in _one_error_line(result)


@pytest.mark.parametrize("argv", [["demo", "--rehearsal-seconds", "0", "--out"],
                                  ["data", "import", "IN", "--source", "l2-csv", "--out"]])
def test_a_folder_option_pointing_at_a_file_fails_in_one_line(tmp_path: Path, argv: list[str]) -> None:
    existing = tmp_path / "file"
    existing.write_text("keep")
    (tmp_path / "in.csv").write_text("x\n")
    argv = [str(tmp_path / "in.csv") if a == "IN" else a for a in argv]
    result = CliRunner().invoke(app, [*argv, str(existing)])
    assert result.exit_code == 2 and "exists and is" in _one_error_line(result)
    assert existing.read_text() == "keep"


def test_a_dataset_json_field_of_the_wrong_type_is_named(tmp_path: Path) -> None:
    data = _data(tmp_path / "d")
    (data / "dataset.json").write_text(json.dumps({"tick_size": "one dollar"}))
    result = CliRunner().invoke(app, ["backtest", "--data", str(data), *_sets()])
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert "tick_size" in line and "a number > 0" in line


def test_the_local_exchange_answers_a_pathological_body_with_422(caplog: pytest.LogCaptureFixture) -> None:
    import urllib.error
    import urllib.request

    from amm500.exchange_sim.server import exchange_thread

    bodies = [b'{"action": {"type": "order", "x": 99999999999999999999999999999}, "nonce": -1, "signature": {}}',
              b"[" * 100_000, b'{"type": ["l2Book"]}', b'{"type": "l2Book", "coin": {"a": 1}}']
    with exchange_thread(synthetic=False) as sim:
        for path in ("/exchange", "/info"):
            for body in bodies:
                req = urllib.request.Request(sim.base_url + path, data=body,
                                             headers={"Content-Type": "application/json"})
                with pytest.raises(urllib.error.HTTPError) as info:
                    urllib.request.urlopen(req, timeout=10)
                assert info.value.code in (400, 422), (path, body[:40], info.value.code)
    assert "Traceback" not in caplog.text


# -- 3. nothing done is not success -------------------------------------------------------------------
def test_backtest_days_beyond_the_data_fails(tmp_path: Path) -> None:
    data = _data(tmp_path / "d")
    result = CliRunner().invoke(app, ["backtest", "--data", str(data), "--days", "5", *_sets()])
    assert result.exit_code == 2
    assert "holds only 1 day(s)" in _one_error_line(result)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_record_against_a_refusing_address_exits_non_zero(tmp_path: Path) -> None:
    url = f"ws://127.0.0.1:{_free_port()}/ws"
    result = CliRunner().invoke(app, ["data", "record", "--url", url, "--out", str(tmp_path / "o"),
                                      "--duration", "0.3"])
    assert result.exit_code == 1 and "never connected" in result.output


def test_fetch_of_a_range_the_source_has_nothing_for_exits_non_zero(tmp_path: Path) -> None:
    from amm500.exchange_sim.server import exchange_thread

    with exchange_thread(synthetic=False) as sim:
        result = CliRunner().invoke(app, ["data", "fetch", "--from", "2020-01-01", "--to", "2020-01-02", "--out",
                                          str(tmp_path / "o"), "--api-url", sim.base_url])
    assert result.exit_code == 1 and "nothing fetched" in result.output


# -- 4. the first compile is announced ----------------------------------------------------------------
def test_a_cold_numba_cache_is_announced_with_its_duration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from amm500.core.files import compile_notice

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    notice = compile_notice("loop.run_segment", "backtest kernel", 35)
    assert notice is not None and "about 35 s" in notice and "compiling the backtest kernel" in notice
    (tmp_path / "backtest_x").mkdir()
    (tmp_path / "backtest_x" / "loop._free_slot-958.py311.nbi").write_bytes(b"")  # a helper: not the kernel
    assert compile_notice("loop.run_segment", "backtest kernel", 35) is not None
    (tmp_path / "backtest_x" / "loop.run_segment-10.py311.nbi").write_bytes(b"")
    assert compile_notice("loop.run_segment", "backtest kernel", 35) is None


# -- 7. help and flags ---------------------------------------------------------------------------------
def _commands() -> list[list[str]]:
    import typer

    def walk(cmd: object, path: list[str]) -> list[list[str]]:
        subs = getattr(cmd, "commands", None)
        if subs is None:
            return [path]
        return [p for name, sub in subs.items() for p in walk(sub, [*path, name])]

    return walk(typer.main.get_command(app), [])


def test_every_help_is_plain_and_every_option_is_described() -> None:
    import typer

    commands = _commands()
    assert len(commands) >= 18
    root = typer.main.get_command(app)
    for path in commands:
        result = CliRunner().invoke(app, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "<bool>" not in result.output and "{" not in result.output, (path, result.output)
        cmd = root
        for name in path:
            cmd = cmd.commands[name]  # type: ignore[attr-defined]
        for p in cmd.params:  # type: ignore[attr-defined]
            if getattr(p, "param_type_name", "") == "option" and p.name != "help":
                assert p.help, f"amm500 {' '.join(path)} {p.opts[0]} has no description"


def test_version_and_set_typos() -> None:
    from amm500 import __version__

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output
    result = CliRunner().invoke(app, ["config", "show", "--set", "trading.levrage=3"])
    assert result.exit_code == 2 and "did you mean 'leverage'?" in _one_error_line(result)


# -- 8. config and keys ----------------------------------------------------------------------------------
def test_a_boolean_is_true_or_false_only(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["config", "show", "--set", "risk.kill_switch_enabled=yes"])
    assert result.exit_code == 2 and "must be true or false" in _one_error_line(result)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[risk]\nkill_switch_enabled = "on"\n')
    assert "must be true or false" in CliRunner().invoke(app, ["config", "check", str(cfg)]).output


def test_errors_during_a_backtest_name_the_config_file(tmp_path: Path) -> None:
    data = _data(tmp_path / "d")
    store.write_dataset_meta(data, tick_size=1.0)
    cfg = tmp_path / "my.toml"
    cfg.write_text("[backtest]\ntick_size = 0.5\n")  # valid alone, wrong for the data (tick 1)
    result = CliRunner().invoke(app, ["backtest", "--data", str(data), "--config", str(cfg), *_sets()])
    assert result.exit_code == 2 and str(cfg) in _one_error_line(result)


def test_a_secret_in_a_file_does_not_hide_the_other_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[network]\nprivate_key = "{KEY}"\n[trading]\nleverage = 500\n')
    result = CliRunner().invoke(app, ["config", "check", str(cfg)])
    assert result.exit_code == 2
    assert "network.private_key" in result.output and "trading.leverage" in result.output
    assert KEY not in result.output and KEY[2:] not in result.output


def test_config_show_prints_toml_that_config_check_accepts(tmp_path: Path) -> None:
    shown = CliRunner().invoke(app, ["config", "show", "--set", "trading.leverage=7"])
    assert shown.exit_code == 0, shown.output
    assert tomllib.loads(shown.output)["trading"]["leverage"] == 7
    saved = tmp_path / "saved.toml"
    saved.write_text(shown.output)
    assert CliRunner().invoke(app, ["config", "check", str(saved)]).exit_code == 0
    example = CliRunner().invoke(app, ["config", "example"])
    (tmp_path / "ex.toml").write_text(example.output)
    assert tomllib.loads(example.output)["risk"]["max_consecutive_losses"] == 10
    assert CliRunner().invoke(app, ["config", "check", str(tmp_path / "ex.toml")]).exit_code == 0


def test_keys_are_checked_and_the_address_shown_never_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eth_account import Account

    monkeypatch.setenv("AMM500_PRIVATE_KEY", "0x1234")
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 2 and "32-byte hex private key" in _one_error_line(result)
    monkeypatch.setenv("AMM500_PRIVATE_KEY", KEY)
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 0 and Account.from_key(KEY).address in result.output
    assert KEY[2:] not in result.output
    monkeypatch.delenv("AMM500_PRIVATE_KEY")
    missing = tmp_path / "nokey"
    result = CliRunner().invoke(app, ["config", "show", "--set", f"network.keystore_path='{missing}'"])
    assert result.exit_code == 2 and "keystore_path" in _one_error_line(result)
    ks = tmp_path / "key"
    ks.write_text(KEY + "\n")
    ks.chmod(0o644)
    result = CliRunner().invoke(app, ["config", "show", "--set", f"network.keystore_path='{ks}'"])
    assert result.exit_code == 0 and "readable by other users" in result.stderr and "chmod 600" in result.stderr


def test_exchange_sim_refuses_a_public_interface_without_allow_remote() -> None:
    result = CliRunner().invoke(app, ["exchange-sim", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "--allow-remote" in _one_error_line(result)


# -- 10. packaging -----------------------------------------------------------------------------------------
def test_importing_dunder_main_does_not_run_the_cli() -> None:
    code = "import importlib; importlib.import_module('amm500.__main__'); print('imported')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 0 and out.stdout.strip() == "imported", out.stdout + out.stderr


# -- 6 (search side). an objective undefined on the data is refused, not ranked as NaN -------------------
def test_a_one_day_grid_refuses_the_daily_sharpe(tmp_path: Path) -> None:
    data = _data(tmp_path / "d")
    out = tmp_path / "r.parquet"
    result = CliRunner().invoke(app, ["optimize", "grid", "--data", str(data), "--out", str(out),
                                      "--param", "trading.leverage=5,6"])
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert "--objective sharpe" in line and "sharpe_hourly" in line
    assert not out.exists()


def test_every_command_and_flag_the_docs_show_exists() -> None:
    """A command line in README.md or docs/*.md (code block or inline code) must name a real command and
    real flags: help and docs cannot drift apart unnoticed."""
    import re

    import typer

    def walk(cmd: object, path: tuple[str, ...]) -> dict[tuple[str, ...], object]:
        subs = getattr(cmd, "commands", None)
        if subs is None:
            return {path: cmd}
        return {k: v for name, sub in subs.items() for k, v in walk(sub, (*path, name)).items()}

    cmds = walk(typer.main.get_command(app), ())
    future = {"run"}  # the design's commands not built yet
    root = Path(__file__).resolve().parents[1]
    bad = []
    for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        fenced = False
        for n, line in enumerate(doc.read_text().splitlines(), 1):
            if line.lstrip().startswith("```"):
                fenced = not fenced
                continue
            snippets = [re.split(r"(?:^|\s)#", line, maxsplit=1)[0]] if fenced else re.findall(r"`([^`]*)`", line)
            for snippet in snippets:
                for m in re.finditer(r"(?<![\w/.-])amm500 ([a-z][a-z-]*(?: [a-z][a-z-]*)?)(?![\w])([^|#]*)", snippet):
                    words = m.group(1).split()
                    path = next((tuple(words[:k]) for k in (2, 1) if tuple(words[:k]) in cmds), None)
                    if path is None:
                        if words[0] not in future and not any(c[0] == words[0] for c in cmds):
                            bad.append(f"{doc.name}:{n}: no command 'amm500 {m.group(1)}'")
                        continue
                    rest = " ".join(words[len(path):]) + m.group(2)  # a word that is no command is an argument
                    own, _, child = f"{rest} ".partition(" -- ")  # after --: the child command's own flags
                    params = cmds[path].params  # type: ignore[attr-defined]
                    if any(getattr(p, "nargs", 1) == -1 for p in params):  # free arguments: its flags come first
                        own = re.split(r"(?:^|\s)(?=[a-z])", own.strip(), maxsplit=1)[0]
                    checks = [(path, own)]
                    child_words = child.split()
                    if child_words and (child_words[0],) in cmds:
                        checks.append(((child_words[0],), " ".join(child_words[1:])))
                    for cmd_path, text in checks:
                        cmd_params = cmds[cmd_path].params  # type: ignore[attr-defined]
                        opts = {o for p in cmd_params for o in (*p.opts, *getattr(p, "secondary_opts", []))}
                        for flag in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text):
                            if flag not in opts | {"--help", "--version"}:
                                bad.append(f"{doc.name}:{n}: amm500 {' '.join(cmd_path)} has no {flag}")
    assert not bad, "\n".join(bad)


def test_an_error_shows_brackets_in_paths_literally(tmp_path: Path) -> None:
    """Rich markup must not eat part of a path: ``d[red]x`` is a folder name, not a colour."""
    missing = tmp_path / "d[red]x"
    result = CliRunner().invoke(app, ["backtest", "--data", str(missing)])
    assert result.exit_code == 2 and f"{missing}: no such data directory" in _one_error_line(result)
