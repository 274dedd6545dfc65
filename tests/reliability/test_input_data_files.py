"""Issue 20 item 5: damaged data files through the real commands that read them.

A valid canonical data folder has one of its Parquet files damaged by hypothesis (cut short, bytes
overwritten, replaced by junk or by an empty file, rewritten with another schema or with unsorted
timestamps); import inputs are damaged the same way (lz4 archives, WebSocket recordings, CSV).
``backtest``, ``data info``, ``data bars`` and ``data import`` must each answer with one ``error:``
line naming the file, a non-zero exit and no traceback, and leave the sandbox as it was (nothing
half-written); an import may instead succeed with the bad lines counted, never crash.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import lz4.frame
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from amm500.cli import app
from amm500.data import store
from backtest_helpers import book, events, trade
from reliability.fuzz import fuzz
from test_hostile_paths import snapshot

READERS = {
    "backtest": lambda d: ["backtest", "--data", str(d)],
    "data info": lambda d: ["data", "info", str(d)],
    "data bars": lambda d: ["data", "bars", str(d)],
}


def good_data(root: Path) -> Path:
    d = root / "data"
    rows = [*book(0), trade(1000, -1, 99_999, 0.01), *book(2000), trade(3000, 1, 100_001, 0.02)]
    store.write_events(d, events(rows))
    return d


def damage(path: Path, how: str, where: float, junk: bytes) -> None:
    raw = path.read_bytes()
    at = int(where * (len(raw) - 1))
    if how == "truncate":
        path.write_bytes(raw[:at])
    elif how == "overwrite":
        path.write_bytes(raw[:at] + junk + raw[at + len(junk):])
    elif how == "junk":
        path.write_bytes(junk)
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "wrong schema":
        pq.write_table(pa.table({"ts": [1, 2], "price": ["a", "b"]}), path)
    elif how == "unsorted":
        table = pq.read_table(path)
        pq.write_table(table.take(pa.array(list(range(table.num_rows))[::-1])), path, compression="zstd")
    elif how == "wrong types":
        table = pq.read_table(path)
        cols = {n: (table[n].cast(pa.string()) if n == "px" else table[n]) for n in table.column_names}
        pq.write_table(pa.table(cols), path)
    else:  # pragma: no cover
        raise AssertionError(how)


damages = st.tuples(st.sampled_from(["truncate", "overwrite", "junk", "empty", "wrong schema", "unsorted",
                                     "wrong types"]),
                    st.floats(0.0, 1.0), st.binary(min_size=1, max_size=64))


def one_clean_error(argv: list[str], sandbox: Path) -> str:
    before = snapshot(sandbox)
    result = CliRunner().invoke(app, argv)
    err = [line for line in result.stderr.splitlines() if line.strip()]
    where = f"{argv}: exit {result.exit_code}, stderr {result.stderr!r}, output {result.output[-300:]!r}"
    assert "Traceback" not in result.output + result.stderr, where
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), f"{where} {result.exception!r}"
    assert len(err) == 1 and err[0].startswith("error:"), where  # one line (bug B7: Arrow's text had two)
    assert snapshot(sandbox) == before, f"{where}: the sandbox changed"
    return err[0]


def test_an_unreadable_parquet_file_is_named_in_one_line(tmp_path: Path) -> None:
    """Bug B7: a cut-short file's error carried Arrow's own line break, so it printed as two lines."""
    d = good_data(tmp_path)
    (day_file,) = sorted((d / "events").rglob("*.parquet"))
    damage(day_file, "overwrite", 0.5, b"\x00")
    assert "not a readable Parquet file" in one_clean_error(READERS["data info"](d), tmp_path)


@fuzz(0.3)
@given(st.sampled_from(sorted(READERS)), damages)
def test_a_damaged_parquet_file_is_one_clear_error_and_nothing_is_written(
        command: str, dmg: tuple[str, float, bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = good_data(Path(tmp))
        (day_file,) = sorted((d / "events").rglob("*.parquet"))
        damage(day_file, *dmg)
        if dmg[0] == "overwrite":  # bytes outside the footer and pages (the magic, padding) harm nothing
            result = CliRunner().invoke(app, READERS["data info"](d))
            if result.exit_code == 0:
                return
        msg = one_clean_error(READERS[command](d), Path(tmp))
        assert day_file.name in msg or "events" in msg, msg


def archive_line(ms: int, bid: str) -> str:
    levels = [[{"px": bid, "sz": "1.0", "n": 1}], [{"px": "100001.0", "sz": "1.0", "n": 1}]]
    return json.dumps({"time": "2023-09-16T09:00:01.039593170", "ver_num": 1,
                       "raw": {"channel": "l2Book", "data": {"coin": "BTC", "time": ms, "levels": levels}}})


def import_input(root: Path, source: str) -> Path:
    lines = [archive_line(1694854800000 + i * 1000, "100000.0") for i in range(50)]
    if source == "hyperliquid-archive":
        p = root / "BTC.lz4"
        p.write_bytes(lz4.frame.compress(("\n".join(lines) + "\n").encode()))
    elif source == "hyperliquid-ws":
        p = root / "BTC.jsonl"
        p.write_text("\n".join(json.dumps(json.loads(ln)["raw"]) for ln in lines) + "\n")
    else:
        p = root / "book.csv"
        rows = ["timestamp,bid_px_0,bid_sz_0,ask_px_0,ask_sz_0"]
        rows += [f"{1694854800000 + i * 1000},100000.0,1.0,100001.0,1.0" for i in range(50)]
        p.write_text("\n".join(rows) + "\n")
    return p


@fuzz(0.3)
@given(st.sampled_from(["hyperliquid-archive", "hyperliquid-ws", "l2-csv"]),
       st.sampled_from(["truncate", "overwrite", "junk", "empty"]), st.floats(0.0, 1.0),
       st.binary(min_size=1, max_size=64))
def test_a_damaged_import_input_is_imported_with_bad_lines_counted_or_refused_cleanly(
        source: str, how: str, where: float, junk: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Path(tmp)
        src = import_input(sandbox, source)
        damage(src, how, where, junk)
        out = sandbox / "out"
        argv = ["data", "import", str(src), "--source", source, "--out", str(out)]
        before = snapshot(sandbox)
        result = CliRunner().invoke(app, argv)
        where_ = f"{argv}: exit {result.exit_code}, stderr {result.stderr!r}"
        assert "Traceback" not in result.output + result.stderr, where_
        assert isinstance(result.exception, SystemExit | None), f"{where_} {result.exception!r}"
        if result.exit_code == 0:
            assert store.load_events(out).ts.size > 0, where_
            return
        err = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(err) == 1 and err[0].startswith("error:"), where_
        assert snapshot(sandbox) == before, f"{where_}: the sandbox changed"
