"""Download Hyperliquid history into a canonical data directory: candles, funding, archived L2 books.

* candles: ``candleSnapshot``, paged (each answer holds at most 5000 candles). Hyperliquid keeps only
  the most recent 5000 candles per interval, so an older range comes back empty or partial; the
  result says which days had nothing.
* funding: ``fundingHistory``, paged by 500 (the next page starts after the last ``time``).
* L2 books: the public archive ``s3://hyperliquid-archive/market_data/YYYYMMDD/H/l2Book/COIN.lz4``,
  a requester-pays bucket read with the user's own AWS credentials (the user pays the transfer).

Every source goes through the loaders (:mod:`amm500.data.loaders`) and lands day by day via
:func:`~amm500.data.loaders.dataset.write_import`, so a day is either fully written or absent.
Resuming skips what is already there: complete days recorded in ``dataset.json`` (``fetched``),
funding hours already present, and days whose events file already holds a book.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from amm500.data.schema import BOOK_CLEAR, BOOK_LEVEL, FUNDING, NS_PER_MS, DataError
from amm500.data.store import (
    bars_path,
    events_path,
    read_bars_file,
    read_dataset_meta,
    read_events_file,
    write_dataset_meta,
)

INTERVAL_MS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
    "2h": 7_200_000, "4h": 14_400_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
}
CANDLE_LIMIT = 5000
FUNDING_PAGE = 500
DAY_MS = 86_400_000
ARCHIVE_BUCKET = "hyperliquid-archive"
MAINNET_API = "https://api.hyperliquid.xyz"

#: Called with (what, done, total) as work progresses.
Report = Callable[[str, int, int], None]


class FetchError(DataError):
    """A download that cannot go on (HTTP error, no credentials), phrased for a person."""


@dataclass
class FetchResult:
    days_written: dict[str, list[str]] = field(default_factory=dict)  # what -> ISO days
    skipped: dict[str, list[str]] = field(default_factory=dict)
    empty: dict[str, list[str]] = field(default_factory=dict)  # days the source had nothing for
    notes: list[str] = field(default_factory=list)

    def add(self, bucket: dict[str, list[str]], what: str, day: dt.date) -> None:
        bucket.setdefault(what, []).append(day.isoformat())


def day_ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) * 1000


def days_between(start: dt.date, end: dt.date) -> list[dt.date]:
    if end < start:
        raise DataError(f"--to {end} is before --from {start}")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def post_info(api_url: str, body: dict[str, Any], retries: int = 5, timeout: float = 30.0) -> Any:
    """POST /info with retries on 429/5xx (exponential back-off); other failures raise FetchError."""
    data = json.dumps(body).encode()
    delay = 0.5
    for attempt in range(retries + 1):
        req = urllib.request.Request(api_url.rstrip("/") + "/info", data=data,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if (exc.code == 429 or exc.code >= 500) and attempt < retries:
                time.sleep(delay)
                delay *= 2
                continue
            raise FetchError(f"{api_url}/info {body.get('type')}: HTTP {exc.code} {exc.read()[:200]!r}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            if attempt < retries:
                time.sleep(delay)
                delay *= 2
                continue
            raise FetchError(f"{api_url}/info {body.get('type')}: {getattr(exc, 'reason', exc)}") from None
        except ValueError:
            raise FetchError(f"{api_url}/info {body.get('type')}: the answer is not JSON") from None
    raise AssertionError("unreachable")


def fetch_candles(api_url: str, coin: str, interval: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
    """All candles with open time in [start_ms, end_ms], paged; de-duplicated by open time."""
    step = INTERVAL_MS[interval]
    out: dict[int, dict[str, Any]] = {}
    cursor = start_ms
    while cursor <= end_ms:
        page = post_info(api_url, {"type": "candleSnapshot", "req": {"coin": coin, "interval": interval,
                                                                      "startTime": cursor, "endTime": end_ms}})
        if not isinstance(page, list):
            raise FetchError(f"candleSnapshot answered {str(page)[:200]}, expected a list of candles")
        page = [c for c in page if isinstance(c, dict) and isinstance(c.get("t"), int) and start_ms <= c["t"] <= end_ms]
        if not page:
            break
        for c in page:
            out[c["t"]] = c
        last = max(c["t"] for c in page)
        if last + step <= cursor:
            break
        cursor = last + step
    return [out[t] for t in sorted(out)]


def fetch_funding(api_url: str, coin: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    cursor = start_ms
    while cursor <= end_ms:
        page = post_info(api_url, {"type": "fundingHistory", "coin": coin, "startTime": cursor, "endTime": end_ms})
        if not isinstance(page, list):
            raise FetchError(f"fundingHistory answered {str(page)[:200]}, expected a list")
        page = [f for f in page if isinstance(f, dict) and isinstance(f.get("time"), int)]
        if not page:
            break
        for f in page:
            out[f["time"]] = f
        last = max(f["time"] for f in page)
        if len(page) < FUNDING_PAGE or last < cursor:
            break
        cursor = last + 1
    return [out[t] for t in sorted(out)]


def _import(root: Path, source: str, files: list[Path], coin: str) -> None:
    from amm500.data.loaders import load
    from amm500.data.loaders.dataset import write_import

    loaded = load(source, files, symbol=coin)
    write_import(root, loaded, files, symbol=coin)


def _mark_fetched(root: Path, what: str, days: list[dt.date]) -> None:
    meta = read_dataset_meta(root)
    fetched = dict(meta.get("fetched", {}))
    done = set(fetched.get(what, []))
    done.update(d.isoformat() for d in days)
    fetched[what] = sorted(done)
    write_dataset_meta(root, fetched=fetched)


def _fetched(root: Path, what: str) -> set[str]:
    return set(read_dataset_meta(root).get("fetched", {}).get(what, []))


def import_candles(root: Path, api_url: str, coin: str, interval: str, days: list[dt.date], today: dt.date,
                   result: FetchResult, report: Report | None = None) -> None:
    """Fetch and import candles day by day; a complete past day is recorded and never fetched again."""
    what = f"candles:{interval}"
    done = _fetched(root, what)
    per_day = DAY_MS // INTERVAL_MS[interval]
    todo = [d for d in days if d.isoformat() not in done]
    result.skipped[what] = [d.isoformat() for d in days if d.isoformat() in done]
    complete: list[dt.date] = []
    first_t: int | None = None
    for i, day in enumerate(todo):
        if report:
            report(what, i, len(todo))
        start = day_ms(day)
        candles = fetch_candles(api_url, coin, interval, start, start + DAY_MS - 1)
        if not candles:
            result.add(result.empty, what, day)
            continue
        first_t = candles[0]["t"] if first_t is None else first_t
        candles = _changed_candles(root, day, candles)
        if not candles:  # a partial day fetched again with nothing new
            continue
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"candles_{coin}_{interval}_{day.isoformat()}.json"
            path.write_text(json.dumps(candles))
            _import(root, "candles", [path], coin)
        result.add(result.days_written, what, day)
        if day < today and len(candles) >= per_day:
            complete.append(day)
    if complete:
        _mark_fetched(root, what, complete)
    if first_t is not None and todo and first_t > day_ms(todo[0]) + INTERVAL_MS[interval]:
        span_days = CANDLE_LIMIT * INTERVAL_MS[interval] / DAY_MS
        first = dt.datetime.fromtimestamp(first_t / 1000, tz=dt.UTC).isoformat(timespec="minutes")
        result.notes.append(
            f"candles: {interval} candles start at {first}, after --from {todo[0]}: Hyperliquid keeps only the "
            f"latest {CANDLE_LIMIT} candles per interval (about {span_days:g} days of {interval}); older ranges "
            "must come from another source (e.g. the S3 archive with --l2)")
    if report:
        report(what, len(todo), len(todo))


def _changed_candles(root: Path, day: dt.date, candles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The candles that are new or differ from the bars already stored for ``day``."""
    path = bars_path(root, day)
    if not path.exists():
        return candles
    bars = read_bars_file(path)
    have = {int(t) // NS_PER_MS: (o, h, lo, c, v) for t, o, h, lo, c, v in
            zip(bars.ts.tolist(), bars.open.tolist(), bars.high.tolist(), bars.low.tolist(), bars.close.tolist(),
                bars.volume.tolist(), strict=True)}
    out = []
    for c in candles:
        try:
            values = (float(c["o"]), float(c["h"]), float(c["l"]), float(c["c"]), float(c["v"]))
        except (KeyError, TypeError, ValueError):
            out.append(c)  # let the loader report it
            continue
        if have.get(c["t"]) != values:
            out.append(c)
    return out


def _funding_hours(root: Path, day: dt.date) -> set[int]:
    path = events_path(root, day)
    if not path.exists():
        return set()
    ev = read_events_file(path)
    return set((ev.ts[ev.kind == FUNDING] // NS_PER_MS).tolist())


def import_funding(root: Path, api_url: str, coin: str, days: list[dt.date], today: dt.date, result: FetchResult,
                   report: Report | None = None) -> None:
    what = "funding"
    done = _fetched(root, what)
    todo = [d for d in days if d.isoformat() not in done]
    result.skipped[what] = [d.isoformat() for d in days if d.isoformat() in done]
    if not todo:
        return
    if report:
        report(what, 0, len(todo))
    rows = fetch_funding(api_url, coin, day_ms(todo[0]), day_ms(todo[-1]) + DAY_MS - 1)
    complete = []
    for i, day in enumerate(todo):
        start = day_ms(day)
        have = _funding_hours(root, day)
        new = [r for r in rows if start <= r["time"] < start + DAY_MS and r["time"] not in have]
        if new:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"funding_{coin}_{day.isoformat()}.json"
                path.write_text(json.dumps(new))
                _import(root, "funding", [path], coin)
            result.add(result.days_written, what, day)
        elif not have:
            result.add(result.empty, what, day)
        if day < today and (new or have):
            complete.append(day)
        if report:
            report(what, i + 1, len(todo))
    if complete:
        _mark_fetched(root, what, complete)


def _has_book(root: Path, day: dt.date) -> bool:
    path = events_path(root, day)
    if not path.exists():
        return False
    kind = read_events_file(path).kind
    return bool(np.any((kind == BOOK_LEVEL) | (kind == BOOK_CLEAR)))


def s3_client(endpoint: str | None) -> Any:
    import boto3
    from botocore.config import Config as BotoConfig

    return boto3.session.Session().client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        config=BotoConfig(retries={"max_attempts": 5, "mode": "standard"}))


def import_l2(root: Path, coin: str, days: list[dt.date], result: FetchResult, *, endpoint: str | None = None,
              bucket: str = ARCHIVE_BUCKET, report: Report | None = None, client: Any = None) -> None:
    """Download each day's 24 hourly l2Book files (requester pays) and import the day in one go."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    what = "l2"
    s3 = client or s3_client(endpoint)
    todo = [d for d in days if not _has_book(root, d)]
    result.skipped[what] = [d.isoformat() for d in days if d not in todo]
    total = len(todo) * 24
    for i, day in enumerate(todo):
        with tempfile.TemporaryDirectory() as tmp:
            files = []
            for hour in range(24):
                if report:
                    report(what, i * 24 + hour, total)
                key = f"market_data/{day:%Y%m%d}/{hour}/l2Book/{coin}.lz4"
                path = Path(tmp) / f"{day:%Y%m%d}_{hour:02d}_{coin}.lz4"
                try:
                    obj = s3.get_object(Bucket=bucket, Key=key, RequestPayer="requester")
                    path.write_bytes(obj["Body"].read())
                except NoCredentialsError:
                    raise FetchError("no AWS credentials: the Hyperliquid archive is a requester-pays S3 bucket; "
                                     "configure your own (aws configure, AWS_PROFILE or AWS_ACCESS_KEY_ID/"
                                     "AWS_SECRET_ACCESS_KEY); you pay the transfer") from None
                except ClientError as exc:
                    code = exc.response.get("Error", {}).get("Code", "")
                    if code in ("NoSuchKey", "404"):
                        continue
                    raise FetchError(f"s3://{bucket}/{key}: {code or exc}") from None
                except BotoCoreError as exc:
                    raise FetchError(f"s3://{bucket}/{key}: {exc}") from None
                files.append(path)
            if not files:
                result.add(result.empty, what, day)
                continue
            if len(files) < 24:
                result.notes.append(f"l2: {day.isoformat()} has {len(files)} of 24 hourly files in the archive")
            _import(root, "hyperliquid-archive", files, coin)
            result.add(result.days_written, what, day)
    if report:
        report(what, total, total)

