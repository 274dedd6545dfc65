"""``amm500 dashboard``: the live web page over a bot's state folder, or a finished journal replayed."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated

import typer

from amm500.cli.app import app, console, fail


@app.command("dashboard")
def dashboard(
    state_dir: Annotated[Path | None, typer.Option(
        "--state-dir", help="The running bot's state folder (journal, heartbeat, control token). Default: the "
                            "folder of --mode/--network/--account.")] = None,
    mode: Annotated[str, typer.Option(help="With no --state-dir: the bot's mode (paper or live).")] = "paper",
    network: Annotated[str, typer.Option(help="With no --state-dir: the bot's network (e.g. mainnet, testnet, "
                                              "or the local exchange's URL).")] = "mainnet",
    account: Annotated[str, typer.Option(help="With no --state-dir: the trading address (paper: 'paper').")] = "paper",
    journal: Annotated[Path | None, typer.Option(
        "--journal", help="Replay this journal (a finished paper session, a live day) instead of a running bot.")
    ] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="With --journal: write the replay as one self-contained HTML file here and exit.")] = None,
    backtest: Annotated[Path | None, typer.Option(
        "--backtest", help="JSON of `amm500 backtest --json` with the same settings, shown beside the live figures.")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind: 127.0.0.1 unless --allow-remote and --token.")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0 picks a free one).", min=0, max=65535)] = 8500,
    allow_remote: Annotated[bool, typer.Option(
        "--allow-remote", help="Allow a non-loopback --host (anyone reaching it could stop the bot: needs --token).")
    ] = False,
    token: Annotated[str | None, typer.Option(
        help="Access token for a non-loopback bind (or AMM500_DASHBOARD_TOKEN); open /?token=... once.")] = None,
    interval: Annotated[float, typer.Option(help="Seconds between updates pushed to the page.", min=0.05)] = 1.0,
) -> None:
    """Serve the dashboard page on 127.0.0.1 (Ctrl-C stops it), or write a journal's replay page."""
    import asyncio
    import signal

    from amm500.dashboard.server import DashboardError, DashboardSettings, check_settings, serve_forever
    from amm500.store.journal import JournalError
    from amm500.store.state_dir import default_state_dir

    if out is not None:
        if journal is None:
            raise fail("--out writes a replay page: it needs --journal FILE")
        if not journal.is_file():
            raise fail(f"--journal {journal}: no such file")
        from amm500.dashboard.replay import write_static

        try:
            write_static(journal, out, backtest)
        except (JournalError, ValueError, OSError) as exc:
            raise fail(str(exc)) from None
        console.print(f"[green]wrote[/] {out}")
        return
    if journal is None and state_dir is None:
        state_dir = default_state_dir(mode, network, account)
    settings = DashboardSettings(state_dir=state_dir if journal is None else None, journal=journal,
                                 backtest=backtest, host=host, port=port, allow_remote=allow_remote,
                                 token=token or os.environ.get("AMM500_DASHBOARD_TOKEN") or None,
                                 interval_s=interval)
    try:
        check_settings(settings)
        if backtest is not None and not backtest.is_file():
            raise DashboardError(f"--backtest {backtest}: no such file")
    except DashboardError as exc:
        raise fail(str(exc)) from None

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await serve_forever(settings, lambda url: console.print(f"dashboard: {url}", highlight=False))

    try:
        asyncio.run(main())
    except (ValueError, OSError) as exc:  # a bad --backtest file, a port in use
        raise fail(str(exc)) from None
    console.print("dashboard stopped")
