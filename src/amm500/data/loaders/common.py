"""What every loader shares: opening (plain/gzip/LZ4) files, per-file reports of bad lines, and
growable column buffers that the source modules fill and :mod:`amm500.data.loaders` turns into
canonical tables.

A loader never drops a line silently and never crashes on one: each bad line is counted in the
file's :class:`FileReport` with its number and reason. A file that is not of the stated format at
all raises :class:`FormatError` before anything is written.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import lz4.frame
import numpy as np

from amm500.data.schema import NS_PER_MS, NS_PER_S, DataError

#: Called with the number of input bytes consumed since the last call (drives the progress bar).
Progress = Callable[[int], None]

MAX_EXAMPLES = 5
GZIP_MAGIC = b"\x1f\x8b"
LZ4_MAGIC = b"\x04\x22\x4d\x18"


class FormatError(DataError):
    """The file is not of the format the user named: refused as a whole, nothing written."""


def format_error(path: Path, expected: str, found: str) -> FormatError:
    return FormatError(f"{path}: not in the expected format, {expected}: {found}; nothing was written")


@dataclass
class FileReport:
    """What one input file gave: rows used, rows skipped on purpose, bad lines with reasons."""

    path: Path
    lines: int = 0
    records: int = 0
    ignored: dict[str, int] = field(default_factory=dict)
    bad: int = 0
    examples: list[tuple[int, str]] = field(default_factory=list)

    def add_bad(self, line_no: int, reason: str) -> None:
        """Count a bad line; the examples kept are the first few by line number."""
        self.bad += 1
        if len(self.examples) < MAX_EXAMPLES or line_no < self.examples[-1][0]:
            self.examples.append((line_no, reason))
            self.examples.sort(key=lambda e: e[0])
            del self.examples[MAX_EXAMPLES:]

    def ignore(self, what: str, count: int = 1) -> None:
        self.ignored[what] = self.ignored.get(what, 0) + count

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "lines": self.lines, "records": self.records, "ignored": dict(self.ignored),
                "bad": self.bad, "bad_examples": [{"line": n, "reason": r} for n, r in self.examples]}


def _compression(path: Path) -> str:
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head == LZ4_MAGIC:
        return "lz4"
    return "plain"


class _CountingReader(io.RawIOBase):
    """Reports compressed bytes as they are read, so progress tracks the file on disk."""

    def __init__(self, raw: IO[bytes], progress: Progress | None):
        self._raw = raw
        self._progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self._raw.readinto(b)  # type: ignore[attr-defined]
        if n and self._progress is not None:
            self._progress(n)
        return int(n or 0)


def iter_lines(path: Path, progress: Progress | None = None) -> Iterator[tuple[int, str]]:
    """(1-based line number, text without the newline) of a plain, gzip or LZ4-frame text file.

    Compression is detected from the file's magic bytes, not its name. A corrupt compressed stream
    raises :class:`DataError` naming the file and the last good line.
    """
    path = Path(path)
    kind = _compression(path)
    line_no = 0
    with path.open("rb") as raw:
        counted = io.BufferedReader(_CountingReader(raw, progress), buffer_size=1 << 20)
        stream: Any
        if kind == "gzip":
            stream = gzip.GzipFile(fileobj=counted)
        elif kind == "lz4":
            stream = lz4.frame.LZ4FrameFile(counted)
        else:
            stream = counted
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
        try:
            for line in text:
                line_no += 1
                yield line_no, line.rstrip("\r\n")
        except (OSError, EOFError, RuntimeError, ValueError) as exc:
            raise DataError(f"{path}: {kind} stream is corrupt after line {line_no} ({exc})") from None


def read_text(path: Path, progress: Progress | None = None) -> str:
    """The whole (decompressed) file, for single-document JSON sources."""
    return "\n".join(line for _, line in iter_lines(path, progress))


def decimal_to_ns(text: str, unit_ns: int) -> int:
    """Exact integer ns from a decimal string in units of ``unit_ns`` (``"1756904112.5465927"`` s)."""
    s = text.strip()
    neg = s.startswith("-")
    if neg or s.startswith("+"):
        s = s[1:]
    whole, _, frac = s.partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()):
        raise ValueError(f"not a decimal number: {text!r}")
    digits = len(str(unit_ns)) - 1  # unit_ns is a power of ten
    value = int(whole) * unit_ns + (int(frac[:digits].ljust(digits, "0")) if digits and frac else 0)
    return -value if neg else value


def seconds_to_ns(text: str) -> int:
    return decimal_to_ns(text, NS_PER_S)


def ms_to_ns(text: str | int) -> int:
    if isinstance(text, int):
        return text * NS_PER_MS
    return decimal_to_ns(text, NS_PER_MS)


def positive_float(text: Any, name: str) -> float:
    value = float(text)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} {text!r} must be a positive number")
    return value


def decimals_needed(values: np.ndarray, max_decimals: int = 8) -> int:
    """Fewest decimals that write every value exactly (prices -> tick, sizes -> lot)."""
    vals = np.unique(np.abs(np.asarray(values, dtype=np.float64)))
    vals = vals[np.isfinite(vals)]
    for d in range(max_decimals + 1):
        scaled = vals * 10.0**d
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-9 * np.maximum(1.0, scaled)):
            return d
    return max_decimals


class Grow:
    """A growable column of one dtype: rows are gathered in small Python lists and packed into NumPy
    chunks, which is several times faster than writing rows into an array one by one."""

    CHUNK = 8192

    def __init__(self, dtype: Any, width: int = 0):
        self.dtype = np.dtype(dtype)
        self.width = width
        self.n = 0
        self._chunks: list[np.ndarray] = []
        self._pending: list[Any] = []

    def _flush(self) -> None:
        if self._pending:
            chunk = np.array(self._pending, dtype=self.dtype)
            self._chunks.append(chunk.reshape(-1, self.width) if self.width else chunk)
            self._pending = []

    def append(self, value: Any) -> None:
        self._pending.append(value)
        self.n += 1
        if len(self._pending) >= self.CHUNK:
            self._flush()

    def append_row(self, values: list[float]) -> None:
        """Append one row of a 2-D column, zero-padded on the right."""
        self.append(values + [0.0] * (self.width - len(values)) if len(values) < self.width else values)

    def array(self) -> np.ndarray:
        self._flush()
        if not self._chunks:
            return np.zeros((0, self.width) if self.width else (0,), dtype=self.dtype)
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return np.ascontiguousarray(self._chunks[0])


class Snapshots:
    """Top-``depth`` book snapshots being collected, one row each (input of the book diff).

    A snapshot is two buffer rows (its integers, its 4 x depth floats) so that collecting costs two
    appends; rows are checked in bulk afterwards (:meth:`take_valid`): a per-line Python check cost
    about as much as parsing the JSON.
    """

    def __init__(self, depth: int = 20):
        self.depth = depth
        self._ints = Grow(np.int64, 6)  # ts, local_ts, bid_n, ask_n, line in its file, index of its file's report
        self._levels = Grow(np.float64, 4 * depth)  # bid px, bid sz, ask px, ask sz; each zero-padded to depth

    def __len__(self) -> int:
        return self._ints.n

    def add(self, ts: int, local_ts: int, bid_px: list[float], bid_sz: list[float], ask_px: list[float],
            ask_sz: list[float], line: int = 0, file: int = 0) -> None:
        nb, na, d = len(bid_px), len(ask_px), self.depth
        if nb > d or na > d or len(bid_sz) != nb or len(ask_sz) != na:
            raise ValueError(f"{max(nb, na)} levels on a side, at most {d} allowed")
        pb, pa = [0.0] * (d - nb), [0.0] * (d - na)
        self._levels.append(bid_px + pb + bid_sz + pb + ask_px + pa + ask_sz + pa)
        self._ints.append((ts, local_ts, nb, na, line, file))

    def take_valid(self, reports: list[FileReport]) -> list[np.ndarray]:
        """Columns (ts, local_ts, bid_px, bid_sz, bid_n, ask_px, ask_sz, ask_n) of the usable snapshots;
        each unusable one is counted as a bad line of its file."""
        from amm500.data.book_diff import REASONS, snapshot_problems

        ints, lv, d = self._ints.array(), self._levels.array(), self.depth
        cols = [ints[:, 0], ints[:, 1], lv[:, :d], lv[:, d:2 * d], ints[:, 2], lv[:, 2 * d:3 * d], lv[:, 3 * d:],
                ints[:, 3]]
        cols = [np.ascontiguousarray(c) for c in cols]
        codes = snapshot_problems(cols[2], cols[3], cols[4], cols[5], cols[6], cols[7])
        bad = np.flatnonzero(codes)
        if bad.size:
            for i in bad:
                report = reports[int(ints[i, 5])]
                report.records -= 1
                report.add_bad(int(ints[i, 4]), REASONS[int(codes[i])])
            keep = codes == 0
            cols = [np.ascontiguousarray(c[keep]) for c in cols]
        return cols


class Trades:
    """Trades being collected; ``tid`` is the exchange trade id (-1 when the source has none);
    ``first_msg`` marks trades of a file's first trades message (the replay sent on subscribe)."""

    def __init__(self) -> None:
        self.ts = Grow(np.int64)
        self.local_ts = Grow(np.int64)
        self.side = Grow(np.int8)
        self.px = Grow(np.float64)
        self.sz = Grow(np.float64)
        self.tid = Grow(np.int64)
        self.first_msg = Grow(np.bool_)

    def __len__(self) -> int:
        return self.ts.n

    def add(self, ts: int, local_ts: int, side: int, px: float, sz: float, tid: int, first_msg: bool = False) -> None:
        self.first_msg.append(first_msg)
        self.ts.append(ts)
        self.local_ts.append(local_ts)
        self.side.append(side)
        self.px.append(px)
        self.sz.append(sz)
        self.tid.append(tid)


def trade_side(text: str) -> int:
    """Aggressor side from Hyperliquid's ``B``/``A`` or a capture's ``buy``/``sell``."""
    t = text.strip().lower()
    if t in ("b", "buy"):
        return 1
    if t in ("a", "sell", "s"):
        return -1
    raise ValueError(f"side {text!r} must be B/buy or A/sell")


@dataclass
class Parsed:
    """Everything read from one or more files of one source, before the canonical conversion."""

    snapshots: Snapshots = field(default_factory=Snapshots)
    trades: Trades = field(default_factory=Trades)
    funding_ts: Grow = field(default_factory=lambda: Grow(np.int64))
    funding_rate: Grow = field(default_factory=lambda: Grow(np.float64))
    bar_ts: Grow = field(default_factory=lambda: Grow(np.int64))
    bar_ohlcv: Grow = field(default_factory=lambda: Grow(np.float64, 5))
    bar_trades: Grow = field(default_factory=lambda: Grow(np.int64))
    symbol: str | None = None
    #: receive time of the first message of each file: trades executed before it are history replays
    capture_start: int | None = None
    reports: list[FileReport] = field(default_factory=list)

    def note_start(self, local_ts: int) -> None:
        if self.capture_start is None or local_ts < self.capture_start:
            self.capture_start = local_ts

    def check_symbol(self, coin: Any) -> bool:
        """True when ``coin`` is the import's symbol (the first one seen fixes it)."""
        if not isinstance(coin, str) or not coin:
            raise ValueError(f"coin {coin!r} must be a non-empty string")
        if self.symbol is None:
            self.symbol = coin
        return coin == self.symbol


def json_or_csv_header(path: Path, lines: Iterator[tuple[int, str]], report: FileReport, expected: str
                       ) -> tuple[str | None, list[str]]:
    """Sources that come as JSON or CSV: (the whole JSON text, []) or (None, the CSV header cells),
    with ``lines`` then at the first data row."""
    first = next(lines, None)
    if first is None or not first[1].strip():
        raise format_error(path, expected, "the file is empty or starts with a blank line")
    if first[1].lstrip().startswith(("[", "{")):
        text = first[1] + "\n" + "\n".join(t for _, t in lines)
        report.lines = text.count("\n") + 1
        return text, []
    return None, next(csv.reader([first[1]]))


def csv_rows(lines: Iterator[tuple[int, str]], report: FileReport, n_columns: int) -> Iterator[tuple[int, list[str]]]:
    """The data lines after a CSV header as (line number, cells): blank lines skipped, a row of the
    wrong width counted bad with its reason, so a loader only parses well-formed rows."""
    report.lines = 1
    for line_no, text in lines:
        report.lines = line_no
        if not text.strip():
            continue
        cells = next(csv.reader([text]))
        if len(cells) != n_columns:
            report.add_bad(line_no, f"{len(cells)} columns, expected {n_columns}")
            continue
        yield line_no, cells


def require_records(path: Path, report: FileReport, expected: str) -> FileReport:
    """A file that gave no usable row is not of the stated format: refuse it, naming the first bad line."""
    if report.records == 0:
        first = f"; line {report.examples[0][0]}: {report.examples[0][1]}" if report.examples else ""
        raise format_error(path, expected, "no usable row" + first)
    return report


def run_lines(path: Path, report: FileReport, parse_line: Callable[[int, str], str | None], expected: str,
              progress: Progress | None, sniff: int = 20) -> None:
    """Feed every non-blank line to ``parse_line``, which returns None for a record it used, the name
    of a category it recognised but skips, or raises ValueError/KeyError/TypeError for a bad line.

    A file whose first ``sniff`` non-blank lines hold nothing recognisable, or which yields no
    record at all, is refused with :class:`FormatError` (it is not the stated format).
    """
    recognised = 0
    seen = 0
    first_bad = ""
    for line_no, text in iter_lines(path, progress):
        report.lines = line_no
        if not text.strip():
            continue
        seen += 1
        try:
            what = parse_line(line_no, text)
        except FormatError:
            raise
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            reason = str(exc) or type(exc).__name__
            report.add_bad(line_no, reason)
            if not first_bad:
                first_bad = f"line {line_no}: {reason}"
        else:
            recognised += 1
            if what is None:
                report.records += 1
            else:
                report.ignore(what)
        if seen == sniff and recognised == 0:
            raise format_error(path, expected, f"none of the first {sniff} lines fits; {first_bad}")
    if seen == 0:
        raise format_error(path, expected, "the file is empty")
    if report.records == 0:
        detail = first_bad or f"{recognised} line(s) recognised but none carries data"
        raise format_error(path, expected, f"no usable record; {detail}")


def parse_levels(raw: Any) -> tuple[list[float], list[float], list[float], list[float]]:
    """(bid px, bid sz, ask px, ask sz) of an ``l2Book`` ``levels`` value ``[[{"px","sz","n"}...], [...]]``."""
    if not isinstance(raw, list) or len(raw) != 2 or not isinstance(raw[0], list) or not isinstance(raw[1], list):
        raise ValueError("levels must be a list of two lists (bids, asks)")
    try:
        return ([float(lv["px"]) for lv in raw[0]], [float(lv["sz"]) for lv in raw[0]],
                [float(lv["px"]) for lv in raw[1]], [float(lv["sz"]) for lv in raw[1]])
    except (KeyError, TypeError):
        raise ValueError("every level must be an object with px and sz") from None


def add_l2book(parsed: Parsed, data: Any, local_ts: int | None, line: int = 0) -> bool:
    """Add an ``l2Book`` data object; False when it belongs to another coin (ignored, not bad)."""
    if not isinstance(data, dict):
        raise ValueError("l2Book data must be an object")
    if not parsed.check_symbol(data.get("coin")):
        return False
    t = data.get("time")
    if not isinstance(t, int) or t <= 0:
        raise ValueError(f"time {t!r} must be a positive integer (ms)")
    ts = t * NS_PER_MS
    parsed.snapshots.add(ts, ts if local_ts is None else local_ts, *parse_levels(data.get("levels")), line=line,
                         file=len(parsed.reports))
    return True
