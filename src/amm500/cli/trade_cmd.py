"""``amm500 paper``, ``amm500 live`` and ``amm500 journal``: the trading engine from the command line.

Both trading commands take the same config, ``--set`` and flags as ``backtest``; what differs is the
venue (:mod:`amm500.runs.session`). Exit codes are the engine's (docs/engine.md): 0 stopped as asked,
2 refused to start, 3 a fatal venue error, 4 the kill switch latched.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from amm500.cli.app import ConfigOption, SetOption, app, console, err_console, fail, get_config

journal_app = typer.Typer(help="Read a trading journal: summary, fills, export.", no_args_is_help=True)
app.add_typer(journal_app, name="journal")

NetworkOption = Annotated[str | None, typer.Option(
    "--network", "-n", help="mainnet, testnet, local (the exchange-sim on network.local_port), an http(s):// URL, "
    "or sim (paper only: a local exchange started in this process, no internet); default: network.network.")]
DurationOption = Annotated[float, typer.Option(
    "--duration", min=0, help="Seconds to trade, then stop cleanly (0: until Ctrl-C or SIGTERM).")]
StateDirOption = Annotated[Path | None, typer.Option(
    "--state-dir", help="Folder for the journal, heartbeat, lock and log (default: $AMM500_HOME/<mode>-<network>-"
    "<account>).", file_okay=False)]
MetricsPortOption = Annotated[int, typer.Option(
    "--metrics-port", min=-1, max=65535, help="Loopback port for /metrics, /state and /control (0: any free port, "
    "-1: none).")]


DashboardOption = Annotated[bool, typer.Option(
    "--dashboard/--no-dashboard", help="Serve the dashboard page on 127.0.0.1 beside the engine (for long runs, "
    "a separate `amm500 dashboard` keeps its reads out of the bot's process).")]
DashboardPortOption = Annotated[int, typer.Option(
    "--dashboard-port", min=0, max=65535, help="Port of --dashboard (0: any free port).")]
VolModelOption = Annotated[Path | None, typer.Option(
    "--vol-model", help="VolatilityLSTM file (amm500 vol train): its forecasts, updated every tick, set the spreads.",
    exists=True, dir_okay=False)]


def _trade(mode: str, config: Path | None, set_: list[str] | None, network: str | None, duration: float,
           state_dir: Path | None, metrics_port: int, vol_model: Path | None, paper_equity: float | None = None,
           confirmed: bool = False, dashboard: bool = False, dashboard_port: int = 8500) -> None:
    from amm500.config import ConfigError
    from amm500.live.engine import EXIT_REFUSED, EXIT_VENUE
    from amm500.obs.logs import setup_logging
    from amm500.runs.session import MainnetNotConfirmed, resolve_network, trading_session
    from amm500.signals.ml import ModelError
    from amm500.store import state_dir as sd
    from amm500.store.journal import JournalError
    from amm500.venues.errors import FatalError, VenueError
    from amm500.venues.hyperliquid.errors import WalletError

    cfg = get_config(config, set_)
    try:
        net = resolve_network(network, cfg)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    if mode == "live" and net.mainnet and not confirmed:
        if not sys.stdin.isatty():
            raise fail("live trading on mainnet needs --i-understand-this-is-real-money when there is no terminal")
        answer = typer.prompt("This trades REAL MONEY on Hyperliquid mainnet. Type LIVE to continue", default="",
                              show_default=False)
        if answer.strip() != "LIVE":
            raise fail("not confirmed: nothing was sent")
        confirmed = True
    secrets = cfg.secret_values() + [s for s in (cfg.private_key() if mode == "live" else None,) if s]
    log_file = (state_dir / sd.LOG) if state_dir is not None else None
    setup_logging(log_file, secrets)

    async def run() -> tuple[Any, Path, Any]:
        async with trading_session(cfg, mode, network=network, state_dir=state_dir,
                                   metrics_port=None if metrics_port < 0 else metrics_port,
                                   paper_equity=paper_equity, confirmed=confirmed, vol_model=vol_model) as session:
            if log_file is None:  # the folder is known now: log there too
                setup_logging(session.state_dir / sd.LOG, secrets)
            eng = session.engine
            where = session.network
            console.print(f"[bold]{mode}[/] on {where.name} ({where.api}), account {session.account}, "
                          f"state folder [cyan]{session.state_dir}[/]" + (f", endpoint {eng.url}" if eng.url else ""))
            if eng.recovered:
                console.print(f"{eng.recovered} fill(s) since the last journalled one checked against the journal "
                              "(made while the bot was down or starting; each lands once)")
            page = None
            if dashboard:
                from amm500.dashboard.server import serve_beside

                page = await serve_beside(session.state_dir, dashboard_port,
                                          announce=lambda m: console.print(m, highlight=False))
            try:
                result = await eng.run(duration if duration > 0 else math.inf)
            finally:
                if page is not None:
                    await page.cleanup()
            return result, session.state_dir, eng.venue.latency.summary()

    try:
        result, folder, latency = asyncio.run(run())
    except KeyboardInterrupt:
        raise fail("interrupted before trading started", code=130) from None
    except MainnetNotConfirmed as exc:
        raise fail(str(exc), code=EXIT_REFUSED) from None
    except (ConfigError, JournalError, sd.LockHeld, WalletError) as exc:  # a key or address restarts cannot fix
        raise fail(str(exc), code=EXIT_REFUSED) from None
    except ModelError as exc:
        raise fail(f"--vol-model: {exc}", code=EXIT_REFUSED) from None
    except FatalError as exc:
        raise fail(f"{mode} stopped: {exc}", code=EXIT_VENUE) from None
    except VenueError as exc:
        raise fail(f"{mode} could not start: {exc}", code=EXIT_VENUE) from None
    from amm500.cli.session_view import session_table

    console.print(session_table(result.stats, latency, title=f"{mode} on {net.name}"))
    console.print(journal_table(folder / sd.JOURNAL))
    console.print(f"journal: [cyan]{folder / sd.JOURNAL}[/]  (amm500 journal summary {folder / sd.JOURNAL})")
    if result.stats.resting_at_end not in (0, -1):
        raise fail(f"{result.stats.resting_at_end} order(s) still resting after the final cancel", code=1)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


@app.command("paper")
def paper(
    network: NetworkOption = None,
    duration: DurationOption = 0.0,
    state_dir: StateDirOption = None,
    metrics_port: MetricsPortOption = 0,
    vol_model: VolModelOption = None,
    equity: Annotated[float | None, typer.Option(
        "--equity", min=1.0, help="Paper account's starting USDC (default backtest.initial_equity; a journal "
        "that already holds the account continues it).")] = None,
    dashboard: DashboardOption = False,
    dashboard_port: DashboardPortOption = 8500,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Paper-trade on a live feed: real market data, fills simulated in process. No key; nothing is signed."""
    _trade("paper", config, set_, network, duration, state_dir, metrics_port, vol_model, paper_equity=equity,
           dashboard=dashboard, dashboard_port=dashboard_port)


@app.command("live")
def live(
    network: NetworkOption = None,
    duration: DurationOption = 0.0,
    state_dir: StateDirOption = None,
    metrics_port: MetricsPortOption = 0,
    vol_model: VolModelOption = None,
    real_money: Annotated[bool, typer.Option(
        "--i-understand-this-is-real-money", help="Confirm mainnet without the typed LIVE prompt (no terminal).")
    ] = False,
    dashboard: DashboardOption = False,
    dashboard_port: DashboardPortOption = 8500,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Trade real orders with the configured key (AMM500_PRIVATE_KEY or network.keystore_path)."""
    _trade("live", config, set_, network, duration, state_dir, metrics_port, vol_model, confirmed=real_money,
           dashboard=dashboard, dashboard_port=dashboard_port)


# ---- journal ------------------------------------------------------------------------------------------------

JournalArg = Annotated[Path, typer.Argument(help="A journal.sqlite file (in the bot's state folder).",
                                            dir_okay=False)]


def _open_summary(path: Path) -> dict[str, Any]:
    from amm500.store.journal import JournalError, reader, summary

    try:
        with reader(path) as conn:
            return summary(conn)
    except JournalError as exc:
        raise fail(str(exc)) from None


def journal_table(path: Path) -> Table:
    s = _open_summary(path)
    t = Table(title=f"journal: {s['mode']} on {s['network']}, account {s['account']}, {s['runs']} run(s)",
              show_header=False)
    t.add_column(style="bold")
    t.add_column(justify="right")

    def usd(x: float | None) -> str:
        return "-" if x is None else f"{x:+,.2f} USD"

    t.add_row("fills (maker ratio)", f"{s['fills']} ({s['maker_ratio']:.0%})" if s["fills"] else "0")
    t.add_row("volume", f"${s['volume_usd']:,.0f}")
    t.add_row("net PnL (equity change)", usd(s["net_pnl"]))
    t.add_row("  spread capture", usd(s["spread_capture"]))
    t.add_row("  inventory PnL (mark-outs)", usd(s["inventory_pnl"]))
    t.add_row("  fees paid", usd(-s["fees"]))
    t.add_row("  funding paid", usd(-s["funding"]))
    marks = ", ".join(f"{k} {v:+.2f}" for k, v in s["markouts_bps"].items() if v is not None)
    t.add_row("mark-outs (bps, mean)", marks or "-")
    t.add_row("position (last snapshot)", "-" if s["position"] is None else f"{s['position']:+.5f}")
    return t


@journal_app.command("summary")
def journal_summary(path: JournalArg, as_json: Annotated[bool, typer.Option(
        "--json", help="Print the summary as JSON.")] = False) -> None:
    """PnL split (spread capture, mark-outs, fees, funding), fills, maker ratio, state changes."""
    if as_json:
        from amm500.live.engine import finite

        console.print_json(json.dumps(finite(_open_summary(path))))
        return
    console.print(journal_table(path))


@journal_app.command("fills")
def journal_fills(path: JournalArg, last: Annotated[int, typer.Option(
        "--last", min=1, max=100_000, help="How many of the newest fills.")] = 20) -> None:
    """The newest fills: time, side, price, size, fee, maker/taker, trade id."""
    import datetime as dt

    from amm500.store.journal import JournalError, fills, reader

    try:
        with reader(path) as conn:
            rows = fills(conn, limit=last)
    except JournalError as exc:
        raise fail(str(exc)) from None
    t = Table("time (UTC)", "side", "price", "size", "fee", "liquidity", "tid")
    for r in rows:
        when = dt.datetime.fromtimestamp(r["time_ms"] / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        t.add_row(when, "buy" if r["side"] > 0 else "sell", f"{r['px']:,.1f}", f"{r['sz']:.5f}", f"{r['fee']:.4f}",
                  "taker" if r["crossed"] else "maker", str(r["tid"]))
    console.print(t)


@journal_app.command("export")
def journal_export(path: JournalArg, out: Annotated[Path, typer.Option(
        "--out", help="CSV file to write (fills).", dir_okay=False)]) -> None:
    """Fills as CSV, for a spreadsheet or a tax report."""
    import csv
    import io

    from amm500.data.store import write_text_atomic
    from amm500.store.journal import JournalError, fills, reader

    try:
        with reader(path) as conn:
            rows = fills(conn)
    except JournalError as exc:
        raise fail(str(exc)) from None
    buf = io.StringIO()
    cols = ["tid", "time_ms", "side", "px", "sz", "fee", "crossed", "oid", "cloid", "start_position", "mid", "run_id"]
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    try:
        write_text_atomic(out, buf.getvalue())
    except OSError as exc:
        raise fail(f"--out {out}: {exc.strerror or exc}") from None
    err_console.print(f"{len(rows)} fill(s) written to {out}")
