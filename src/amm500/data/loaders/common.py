"""What every loader shares: opening (plain/gzip/LZ4) files, per-file reports of bad lines, and
growable column buffers that the source modules fill and :mod:`amm500.data.loaders` turns into
canonical tables.

A loader never drops a line silently and never crashes on one: each bad line is counted in the
file's :class:`FileReport` with its number and reason. A file that is not of the stated format at
all raises :class:`FormatError` before anything is written.
"""

from __future__ import annotations

import gzip
import io
import json
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
        self.bad += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append((line_no, reason))

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


def loads(text: str) -> Any:
    return json.loads(text)


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
    """A growable column of one dtype (amortised O(1) append without Python objects per row)."""

    def __init__(self, dtype: Any, width: int = 0, capacity: int = 1024):
        self.width = width
        shape = (capacity, width) if width else (capacity,)
        self.data = np.zeros(shape, dtype=dtype)
        self.n = 0

    def _reserve(self) -> None:
        if self.n == self.data.shape[0]:
            bigger = np.zeros((2 * self.n, *self.data.shape[1:]), dtype=self.data.dtype)
            bigger[: self.n] = self.data
            self.data = bigger

    def append(self, value: Any) -> None:
        self._reserve()
        self.data[self.n] = value
        self.n += 1

    def append_row(self, values: list[float]) -> None:
        """Append one row of a 2-D column, zero-padded on the right."""
        self._reserve()
        row = self.data[self.n]
        row[:] = 0
        row[: len(values)] = values
        self.n += 1

    def array(self) -> np.ndarray:
        return np.ascontiguousarray(self.data[: self.n])


class Snapshots:
    """Top-``depth`` book snapshots being collected, one row each (input of the book diff)."""

    def __init__(self, depth: int = 20):
        self.depth = depth
        self.ts = Grow(np.int64)
        self.local_ts = Grow(np.int64)
        self.bid_px = Grow(np.float64, depth)
        self.bid_sz = Grow(np.float64, depth)
        self.ask_px = Grow(np.float64, depth)
        self.ask_sz = Grow(np.float64, depth)
        self.bid_n = Grow(np.int64)
        self.ask_n = Grow(np.int64)

    def __len__(self) -> int:
        return self.ts.n

    def add(self, ts: int, local_ts: int, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> None:
        """Add one snapshot; raises ValueError (a bad line) when the levels are not usable."""
        check_side(bids, -1.0, "bids", self.depth)
        check_side(asks, 1.0, "asks", self.depth)
        if bids and asks and bids[0][0] >= asks[0][0]:
            raise ValueError(f"crossed book: best bid {bids[0][0]} >= best ask {asks[0][0]}")
        self.ts.append(ts)
        self.local_ts.append(local_ts)
        self.bid_px.append_row([p for p, _ in bids])
        self.bid_sz.append_row([s for _, s in bids])
        self.ask_px.append_row([p for p, _ in asks])
        self.ask_sz.append_row([s for _, s in asks])
        self.bid_n.append(len(bids))
        self.ask_n.append(len(asks))


def check_side(levels: list[tuple[float, float]], direction: float, name: str, depth: int) -> None:
    if len(levels) > depth:
        raise ValueError(f"{name}: {len(levels)} levels, at most {depth} allowed")
    prev = None
    for px, sz in levels:
        if not (np.isfinite(px) and px > 0 and np.isfinite(sz) and sz > 0):
            raise ValueError(f"{name}: level px {px} sz {sz} must be positive and finite")
        if prev is not None and (px - prev) * direction <= 0:
            order = "descending" if direction < 0 else "ascending"
            raise ValueError(f"{name}: prices must be strictly {order} (best first); {px} after {prev}")
        prev = px


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


def parse_levels(raw: Any, depth: int = 20) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Bids and asks of an ``l2Book`` ``levels`` value: ``[[{"px","sz","n"}...], [...]]``."""
    if not isinstance(raw, list) or len(raw) != 2:
        raise ValueError("levels must be a list of two lists (bids, asks)")
    sides: list[list[tuple[float, float]]] = []
    for name, lv in zip(("bids", "asks"), raw, strict=True):
        if not isinstance(lv, list):
            raise ValueError(f"{name} must be a list of levels")
        out = []
        for level in lv:
            if not isinstance(level, dict) or "px" not in level or "sz" not in level:
                raise ValueError(f"{name}: level {level!r} must be an object with px and sz")
            out.append((float(level["px"]), float(level["sz"])))
        sides.append(out)
    return sides[0], sides[1]


def add_l2book(parsed: Parsed, data: Any, local_ts: int | None) -> bool:
    """Add an ``l2Book`` data object; False when it belongs to another coin (ignored, not bad)."""
    if not isinstance(data, dict):
        raise ValueError("l2Book data must be an object")
    if not parsed.check_symbol(data.get("coin")):
        return False
    t = data.get("time")
    if not isinstance(t, int) or t <= 0:
        raise ValueError(f"time {t!r} must be a positive integer (ms)")
    ts = t * NS_PER_MS
    bids, asks = parse_levels(data.get("levels"), parsed.snapshots.depth)
    parsed.snapshots.add(ts, ts if local_ts is None else local_ts, bids, asks)
    return True
