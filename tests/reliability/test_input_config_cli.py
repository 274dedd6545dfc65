"""Issue 20 item 5: bad config files and bad flags through the real CLI, each in a subprocess.

A valid config (``amm500 config example``) gets one field replaced by hypothesis (a wrong type, NaN,
inf, a negative or absurd number, an empty string, a list, an unknown key or section) or its text
cut short or replaced by junk bytes; flags get junk values. ``config check`` and ``backtest`` (with
``--json`` and ``--report`` outputs) must exit 2 with one message naming the field or flag, print no
traceback, and write nothing.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from amm500.config import load_config
from amm500.data import store
from backtest_helpers import book, events, trade
from reliability.fuzz import fuzz
from test_hostile_paths import snapshot

SRC = str(Path(__file__).parents[2] / "src")


def amm500(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMM500_")}
    env |= {"PYTHONPATH": SRC, "AMM500_HOME": str(cwd / "home"), "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "amm500", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


EXAMPLE = tomllib.loads(amm500("config", "example", cwd=Path(tempfile.gettempdir())).stdout)
FIELDS = sorted((s, k) for s, body in EXAMPLE.items() if isinstance(body, dict) for k in body)


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(map(toml_value, v)) + "]"
    return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"


def toml_text(cfg: dict[str, Any]) -> str:
    out = []
    for section, body in cfg.items():
        out.append(f"[{section}]")
        out += [f"{k} = {toml_value(v)}" for k, v in body.items()]
    return "\n".join(out) + "\n"


junk_values = st.one_of(
    st.sampled_from(["abc", "", "1e400", -1, 0, -1e308, 1e308, math.nan, math.inf, -math.inf, 2**62, -(2**62),
                     True, [], [1, "x"], {"x": 1}, "0x" + "5a" * 32]),
    st.integers(), st.floats(), st.text(max_size=8),
)


@st.composite
def bad_config(draw: st.DrawFn) -> tuple[str, str]:
    """(TOML text, the field the error must name, or "" when any clean refusal will do)."""
    cfg = json.loads(json.dumps(EXAMPLE))
    how = draw(st.sampled_from(["value", "value", "value", "unknown key", "unknown section", "cut", "junk"]))
    if how == "value":
        section, key = draw(st.sampled_from(FIELDS))
        cfg[section][key] = draw(junk_values)
        return toml_text(cfg), f"{section}.{key}"
    if how == "unknown key":
        section = draw(st.sampled_from(sorted(cfg)))
        cfg[section]["no_such_field"] = 1
        return toml_text(cfg), "no_such_field"
    if how == "unknown section":
        cfg["no_such_section"] = {"x": 1}
        return toml_text(cfg), "no_such_section"
    text = toml_text(cfg)
    if how == "cut":
        return text[: draw(st.integers(1, len(text) - 1))], ""
    return draw(st.binary(min_size=1, max_size=64)).decode("latin-1"), ""


def still_valid(text: str) -> bool:
    """Some junk is a valid value (a cut at a line end, 0 where 0 is allowed): then there is nothing to refuse."""
    try:
        raw = tomllib.loads(text)
        load_config(overrides=raw)
    except (tomllib.TOMLDecodeError, ValueError):
        return False
    return True


def assert_refused(result: subprocess.CompletedProcess[str], field: str, sandbox: Path,
                   before: dict[str, tuple]) -> None:
    where = f"exit {result.returncode}, stderr {result.stderr!r}"
    assert result.returncode == 2, where
    assert "Traceback" not in result.stderr + result.stdout, where
    assert result.stderr.lower().startswith(("error:", "usage:")), where
    # an unprintable name is shown escaped, as Python's repr writes it (never raw bytes on the terminal)
    assert field in result.stderr or repr(field)[1:-1] in result.stderr, f"the message does not name {field!r}: {where}"
    assert snapshot(sandbox) == before, f"{where}: something was written"


@fuzz(0.25)
@given(bad_config())
def test_a_bad_config_file_is_refused_naming_the_field_and_nothing_is_written(case: tuple[str, str]) -> None:
    text, field = case
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Path(tmp)
        (sandbox / "bad.toml").write_bytes(text.encode("utf-8", "surrogateescape"))
        store.write_events(sandbox / "data", events([*book(0), trade(1000, -1, 99_999, 0.01)]))
        if still_valid(text):
            return
        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError:  # junk text spelled as TOML (a lone surrogate escape): the file is named
            field = "bad.toml"
        before = snapshot(sandbox)
        assert_refused(amm500("config", "check", "bad.toml", cwd=sandbox), field, sandbox, before)
        result = amm500("backtest", "--config", "bad.toml", "--data", "data", "--json", "out.json", "--report",
                        "out.html", "-q", cwd=sandbox)
        assert_refused(result, field, sandbox, before)


FLAGS = {
    "--days": st.sampled_from(["0", "-1", "abc", "1e3", "", "1.5"]),
    "--phases": st.sampled_from(["0", "-5", "x", "1.5"]),
    "--set": st.one_of(st.sampled_from(["foo", "=", "trading.=1", ".leverage=1", "trading.leverage",
                                        "trading.leverage=abc", "trading.leverage=nan", "trading.leverage=-3",
                                        "risk.max_net_exposure=inf", "nosection.x=1", "trading.nokey=1"]),
                       st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                               max_size=10)),  # argv carries neither NUL nor a lone surrogate
    "--data": st.sampled_from(["missing-dir", "", "bad.toml", "/dev/null"]),
}


@fuzz(0.25)
@given(st.sampled_from(sorted(FLAGS)).flatmap(lambda f: st.tuples(st.just(f), FLAGS[f])))
def test_a_bad_flag_is_refused_naming_it_and_nothing_is_written(case: tuple[str, str]) -> None:
    flag, value = case
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Path(tmp)
        (sandbox / "bad.toml").write_text("x")
        store.write_events(sandbox / "data", events([*book(0), trade(1000, -1, 99_999, 0.01)]))
        argv = ["backtest", "--data", "data", "--json", "out.json", "-q", flag, value]
        if flag == "--set" and "=" in value:
            try:
                section_field, raw = value.split("=", 1)
                section, key = section_field.split(".", 1)
                load_config(overrides={section: {key: raw}})
                return  # a valid override: nothing to refuse
            except (ValueError, TypeError):
                pass
        before = snapshot(sandbox)
        result = amm500(*argv, cwd=sandbox)
        named = flag if flag != "--set" else value.split("=", 1)[0].split(".")[0] or "--set"
        if flag == "--set" and "=" not in value:
            named = "--set"
        if flag == "--data":
            named = ""
        assert_refused(result, named, sandbox, before)


def test_an_address_set_on_the_command_line_stays_an_address(tmp_path: Path) -> None:
    """Bug B10: ``--set network.account_address=0x94...`` (docs/live.md's own example) was read as a TOML hex
    integer and refused as "not a valid string"."""
    address = "0x9494488e0f29c3d705439eea285530aaabf01e69"
    result = amm500("config", "show", "--set", f"network.account_address={address}", cwd=tmp_path)
    assert result.returncode == 0 and address in result.stdout, result.stderr
