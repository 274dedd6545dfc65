"""``amm500 data record`` (a live WebSocket feed) and ``amm500 data fetch`` (REST and S3 history)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from amm500.cli.app import console, data_app, err_console, fail
from amm500.data.schema import DataError


@data_app.command("record")
def record(
    url: Annotated[str, typer.Option(help="WebSocket URL, e.g. wss://api.hyperliquid.xyz/ws or the local "
                                          "exchange's ws://127.0.0.1:PORT/ws.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Data directory (created; days are appended).")],
    coin: Annotated[str, typer.Option(help="Coin to record.")] = "BTC",
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).",
                                                   min=0.0)] = None,
    flush_s: Annotated[float, typer.Option(help="Seconds between part files (the most a kill can lose).",
                                           min=0.05)] = 2.0,
    compact_s: Annotated[float, typer.Option(help="Seconds between folding parts into the day files.",
                                             min=0.1)] = 60.0,
) -> None:
    """Record l2Book and trades into canonical Parquet, rolling by UTC day; safe to kill at any moment."""
    import asyncio

    from amm500.core.files import check_output_dir
    from amm500.data.recorder import RecorderStats
    from amm500.runs.record import record as run
    from amm500.venues.errors import VenueError

    if not url.startswith(("ws://", "wss://")):
        raise fail(f"--url {url!r} must start with ws:// or wss://")
    check_output_dir(out, "--out")
    columns = [SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()]
    if duration is not None:
        columns.insert(2, BarColumn())
    progress = Progress(*columns, console=err_console, transient=False)

    with progress:
        task = progress.add_task(f"recording {coin} from {url}", total=duration)
        started = dt.datetime.now(dt.UTC)

        def tick(stats: RecorderStats) -> None:
            elapsed = (dt.datetime.now(dt.UTC) - started).total_seconds()
            progress.update(task, completed=elapsed, description=(
                f"{coin}: {stats.snapshots} books, {stats.trades} trades, {stats.parts} parts, "
                f"{stats.connects} connection(s)" + (f" [yellow]{stats.last_error}[/]" if stats.last_error else "")))

        try:
            stats = asyncio.run(run(url, out, coin, duration, flush_s, compact_s, on_tick=tick))
        except KeyboardInterrupt:
            console.print(f"stopped; everything up to the last part is in {out}")
            return
        except DataError as exc:
            raise fail(str(exc)) from None
        except VenueError as exc:
            raise fail(f"--url {url}: never connected ({exc}); nothing recorded", code=1) from None
    if stats.snapshots == 0:  # prints wait for the first book (a recording opens with one): nothing written
        raise fail(f"--url {url}: connected but received no {coin} book ({stats.last_error or 'no data'}); "
                   "nothing recorded", code=1)
    console.print(f"recorded {stats.snapshots} book snapshots and {stats.trades} trades into {out} "
                  f"({stats.duplicate_trades} duplicate, {stats.history_trades} replayed and {stats.before_first_book} "
                  f"pre-first-book trades dropped, {stats.bad_messages} bad messages)", highlight=False)


def _date(text: str, flag: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise fail(f"{flag} {text!r} must be a date YYYY-MM-DD") from None


@data_app.command("fetch")
def fetch(
    from_: Annotated[str, typer.Option("--from", help="First UTC day, YYYY-MM-DD.")],
    to: Annotated[str, typer.Option("--to", help="Last UTC day (inclusive), YYYY-MM-DD.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Data directory (created; finished days are skipped).")],
    coin: Annotated[str, typer.Option(help="Coin.")] = "BTC",
    interval: Annotated[str, typer.Option(help="Candle interval (1m 3m 5m 15m 30m 1h 2h 4h 8h 12h 1d).")] = "1m",
    l2: Annotated[bool, typer.Option("--l2", help="Also download archived l2Book files from S3 (requester "
                                                  "pays: your AWS account is billed for the transfer).")] = False,
    candles: Annotated[bool, typer.Option(help="Fetch candles.")] = True,
    funding: Annotated[bool, typer.Option(help="Fetch funding history.")] = True,
    api_url: Annotated[str, typer.Option(help="REST base URL (the local exchange: http://127.0.0.1:PORT).")] = (
        "https://api.hyperliquid.xyz"),
    s3_endpoint: Annotated[str | None, typer.Option(help="S3 endpoint URL (default: AWS).")] = None,
    s3_bucket: Annotated[str, typer.Option(help="Archive bucket.")] = "hyperliquid-archive",
) -> None:
    """Download candles, funding and (with --l2) archived order books into canonical Parquet; resumable."""
    from amm500.core.files import check_output_dir
    from amm500.data.fetch import INTERVAL_MS, FetchResult, days_between, import_candles, import_funding, import_l2

    start, end = _date(from_, "--from"), _date(to, "--to")
    check_output_dir(out, "--out")
    if interval not in INTERVAL_MS:
        raise fail(f"--interval {interval!r} is not supported; expected one of {', '.join(INTERVAL_MS)}")
    if not api_url.startswith(("http://", "https://")):
        raise fail(f"--api-url {api_url!r} must start with http:// or https://")
    today = dt.datetime.now(dt.UTC).date()
    if start > today:
        raise fail(f"--from {start} is in the future")
    end = min(end, today)
    try:
        days = days_between(start, end)
    except DataError as exc:
        raise fail(str(exc)) from None
    result = FetchResult()
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                        TimeElapsedColumn(), console=err_console)
    tasks: dict[str, TaskID] = {}

    def report(what: str, done: int, total: int) -> None:
        if what not in tasks:
            tasks[what] = progress.add_task(what, total=max(total, 1))
        progress.update(tasks[what], completed=done, total=max(total, 1))

    try:
        with progress:
            if l2:
                import_l2(out, coin, days, result, endpoint=s3_endpoint, bucket=s3_bucket, report=report)
            if candles:
                import_candles(out, api_url, coin, interval, days, today, result, report)
            if funding:
                import_funding(out, api_url, coin, days, today, result, report)
    except KeyboardInterrupt:
        console.print(f"stopped; finished days are in {out} (run the same command to resume)")
        raise typer.Exit(130) from None
    except DataError as exc:
        raise fail(str(exc)) from None
    for what, written in result.days_written.items():
        console.print(f"{what}: wrote {len(written)} day(s)", highlight=False)
    for what, skipped in result.skipped.items():
        if skipped:
            console.print(f"{what}: {len(skipped)} day(s) already present, skipped", highlight=False)
    for what, empty in result.empty.items():
        if empty:
            console.print(f"{what}: the source had nothing for {len(empty)} day(s): {', '.join(empty[:5])}"
                          + (" ..." if len(empty) > 5 else ""), highlight=False)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    wanted = [what for what, on in (("l2", l2), ("candles", candles), ("funding", funding)) if on]
    if not wanted:
        raise fail("nothing to fetch: --no-candles and --no-funding without --l2 leave no source")
    if not any(result.days_written.values()) and not any(result.skipped.values()):
        raise fail(f"nothing fetched: the source returned no {' / '.join(wanted)} data for {start} to {end}; "
                   f"nothing was written to {out}", code=1)
