"""``amm500 data import`` and ``amm500 data info``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from amm500.cli.app import console, data_app, err_console, fail
from amm500.data.schema import DataError

SOURCE_NAMES = ("hyperliquid-archive", "hyperliquid-ws", "hyperliquid-rest", "l2-csv", "trades-csv", "candles",
                "funding")


@data_app.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="Input files of one source (merged and sorted).")],
    source: Annotated[str, typer.Option("--source", help=f"Input format: {', '.join(SOURCE_NAMES)}.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Data directory (created; existing days are merged).")],
    symbol: Annotated[str | None, typer.Option(help="Coin (default: from the data or the file name).")] = None,
    tick_size: Annotated[float | None, typer.Option(help="Price tick (default: inferred from the prices).")] = None,
    sz_decimals: Annotated[int | None, typer.Option(help="Size decimals (default: inferred from sizes).")] = None,
    keep_history: Annotated[bool, typer.Option(
        help="Keep trades executed before the recording started (the history replayed on subscribe).")] = False,
    skip_imported: Annotated[bool, typer.Option(
        help="Skip input files already imported into OUT (resume an interrupted import).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the import report as JSON.")] = False,
) -> None:
    """Convert files of one source into the canonical tables under OUT (see docs/data.md, "Loaders")."""
    if source not in SOURCE_NAMES:
        raise fail(f"--source {source!r} is not supported; expected one of {', '.join(SOURCE_NAMES)}")
    if tick_size is not None and not tick_size > 0:
        raise fail(f"--tick-size must be > 0 (got {tick_size})")
    if sz_decimals is not None and not 0 <= sz_decimals <= 8:
        raise fail(f"--sz-decimals must be in 0..8 (got {sz_decimals})")
    for p in paths:
        if not p.is_file():
            raise fail(f"{p}: no such file")
    from amm500.core.files import check_output_dir

    check_output_dir(out, "--out")
    from amm500.data.loaders import hyperliquid_archive, load
    from amm500.data.loaders.dataset import file_sha256, imported_hashes, write_import

    if skip_imported:
        done = imported_hashes(out)
        skipped = [p for p in paths if file_sha256(p) in done]
        paths = [p for p in paths if p not in skipped]
        if skipped:
            err_console.print(f"skipping {len(skipped)} file(s) already imported into {out}", highlight=False)
        if not paths:
            console.print("nothing to import")
            return
    groups = [paths]
    if source == hyperliquid_archive.NAME:
        for p in paths:  # refuse a wrong file before the first day is written
            try:
                hyperliquid_archive.sniff(p)
            except DataError as exc:
                raise fail(str(exc)) from None
        groups = hyperliquid_archive.day_groups(paths)
    total = sum(p.stat().st_size for p in paths)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                        console=err_console, transient=True, disable=as_json)
    summaries: list[dict] = []
    written: list[Path] = []
    try:
        with progress:
            task = progress.add_task(f"reading {len(paths)} file(s)", total=total)
            for i, group in enumerate(groups, start=1):
                if len(groups) > 1:
                    progress.update(task, description=f"day {i}/{len(groups)}")
                loaded = load(source, group, lambda n: progress.advance(task, n), keep_history=keep_history,
                              symbol=symbol)
                written += write_import(out, loaded, group, tick_size=tick_size, sz_decimals=sz_decimals,
                                        symbol=symbol)
                summaries.append(loaded.summary())
    except DataError as exc:
        if summaries:
            err_console.print(f"[yellow]{len(summaries)} of {len(groups)} day group(s) were imported before this "
                              "error; rerun with --skip-imported after fixing it[/]")
        raise fail(str(exc)) from None
    summary = _combine(summaries)
    summary["written"] = [str(p) for p in written]
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    _print_import(summary, out)


def _combine(summaries: list[dict]) -> dict:
    """One report for an import done in several day groups: counts summed, file lists joined."""
    out = dict(summaries[0])
    for s in summaries[1:]:
        out["events"] = {k: out["events"][k] + s["events"][k] for k in out["events"]}
        out["files"] = out["files"] + s["files"]
        for k, v in s.items():
            if isinstance(v, int) and k in out:
                out[k] += v
    return out


def _print_import(summary: dict, out: Path) -> None:
    table = Table(title=f"import ({summary['source']})", title_justify="left")
    for col in ("file", "lines", "records", "ignored", "bad lines"):
        table.add_column(col, justify="left" if col in ("file", "ignored") else "right")
    for f in summary["files"]:
        ignored = ", ".join(f"{k}: {v}" for k, v in f["ignored"].items()) or "-"
        table.add_row(Path(f["path"]).name, str(f["lines"]), str(f["records"]), ignored,
                      f"[red]{f['bad']}[/]" if f["bad"] else "0")
    console.print(table)
    for f in summary["files"]:
        if f["bad"]:
            lines = "; ".join(f"line {e['line']}: {e['reason']}" for e in f["bad_examples"])
            console.print(f"[yellow]{Path(f['path']).name}: {f['bad']} bad line(s) skipped[/] (first: {lines})",
                          highlight=False)
    ev = summary["events"]
    extra = {k: v for k, v in summary.items() if isinstance(v, int) and v and k not in ("bars", "trades", "snapshots")}
    snaps = f" (from {summary['snapshots']} snapshots)" if summary.get("snapshots") else ""
    console.print(f"events: {ev['book']} book{snaps}, {ev['trade']} trade, {ev['clear']} clear, {ev['funding']} "
                  f"funding; bars: {summary['bars']}", highlight=False)
    if extra:
        console.print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in extra.items()), highlight=False)
    console.print(f"[green]wrote[/] {len(summary['written'])} file(s) under {out}", highlight=False)


@data_app.command("info")
def info(
    directory: Annotated[Path, typer.Argument(metavar="DIRECTORY", help="Canonical data directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    gap: Annotated[float, typer.Option(help="Report intra-day gaps in the event stream longer than this (seconds).")]
    = 60.0,
) -> None:
    """Days, event counts, price range, time span, gaps, bars and funding of a data directory."""
    if not gap > 0:
        raise fail(f"--gap must be > 0 seconds (got {gap})")
    from amm500.data.info import dataset_info, render_info

    try:
        report = dataset_info(directory, gap_s=gap)
    except DataError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    render_info(report, console)


@data_app.command("bars")
def bars(
    data: Annotated[Path, typer.Argument(metavar="DATA", help="Data directory with events/ day files.")],
) -> None:
    """Build 1-minute candles (bars/) from the trades of DATA, so it can also run in bar mode."""
    from amm500.core.files import check_output_dir
    from amm500.data.bars import write_minute_bars

    if data.is_dir():
        check_output_dir(data / "bars", "DATA/bars")
    total = 0
    try:
        for day, n in write_minute_bars(data):
            total += n
            console.print(f"{day}: {n:,} candles", highlight=False)
    except DataError as exc:
        raise fail(str(exc)) from None
    console.print(f"wrote {total:,} 1-minute candles to {data / 'bars'}", highlight=False)
