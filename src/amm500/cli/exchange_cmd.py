"""``amm500 exchange-sim``: the local Hyperliquid-compatible exchange on 127.0.0.1."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from amm500.cli.app import app, console, fail

_ACCOUNT_RE = re.compile(r"^(0x[0-9a-fA-F]{40})=([0-9]+(?:\.[0-9]+)?)(?::(0x[0-9a-fA-F]{40}))?$")


def parse_account(spec: str) -> tuple[str, float, str | None]:
    """``ADDRESS=USDC`` or ``VAULT=USDC:LEADER`` (a vault/sub-account the leader may trade for)."""
    m = _ACCOUNT_RE.match(spec.strip())
    if not m:
        raise fail(f"--account {spec!r}: expected ADDRESS=USDC or VAULT=USDC:LEADER with 0x-prefixed 40-hex "
                   "addresses and a non-negative amount, e.g. 0xabc...=10000")
    return m.group(1).lower(), float(m.group(2)), m.group(3).lower() if m.group(3) else None


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@app.command("exchange-sim")
def exchange_sim(
    port: Annotated[int, typer.Option(help="TCP port (0 picks a free one and prints it).", min=0, max=65535)] = 3001,
    host: Annotated[str, typer.Option(help="Interface to bind; anything but loopback needs --allow-remote.")] = (
        "127.0.0.1"),
    allow_remote: Annotated[bool, typer.Option(
        "--allow-remote", help="Allow a non-loopback --host (anyone who can reach it may trade its accounts).")
    ] = False,
    data: Annotated[Path | None, typer.Option(help="Replay this canonical data directory as the market.")] = None,
    synthetic: Annotated[bool, typer.Option(
        "--synthetic", help="The synthetic BTC market generator (default without --data; runs in a child process).")
    ] = False,
    random_walk: Annotated[bool, typer.Option("--random-walk", help="A simple random-walk book instead: starts "
                                                                    "instantly, no realism.")] = False,
    speed: Annotated[float, typer.Option(help="Replay speed, x real time (also speeds funding).", min=0.001)] = 1.0,
    loop: Annotated[bool, typer.Option(help="Start the replay again when the data ends.")] = False,
    faults: Annotated[str | None, typer.Option(help="key=value,... e.g. drop_ws=10,latency_ms=50,reject_rate=0.05,"
                                                    "mute_s=5; every key: docs/exchange-sim.md")] = None,
    account: Annotated[list[str] | None, typer.Option(help="Fund ADDRESS=USDC (repeatable); VAULT=USDC:LEADER "
                                                           "for a vault the leader may trade.")] = None,
    mainnet_signatures: Annotated[bool, typer.Option(help="Expect mainnet signatures (source 'a', chain "
                                                          "Mainnet) instead of the SDK's localhost default.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the random-walk market.")] = 0,
) -> None:
    """Run a local exchange speaking Hyperliquid's /info, /exchange and /ws (Ctrl-C stops it)."""
    import asyncio
    import signal

    from amm500.data.schema import DataError
    from amm500.exchange_sim.exchange import SimConfig
    from amm500.exchange_sim.faults import Faults, FaultSpecError
    from amm500.exchange_sim.server import run_exchange

    if not _loopback(host) and not allow_remote:
        raise fail(f"--host {host}: not a loopback address; the local exchange has no real authentication and "
                   "its funded accounts would be open to the network. Use 127.0.0.1, or add --allow-remote")
    if sum((data is not None, synthetic, random_walk)) > 1:
        raise fail("--data, --synthetic and --random-walk are exclusive: pick one background market")
    if data is not None and not data.is_dir():
        raise fail(f"--data {data}: no such directory")
    market = "replay" if data is not None else "random-walk" if random_walk else "synthetic"
    try:
        fault_cfg = Faults.parse(faults)
    except FaultSpecError as exc:
        raise fail(str(exc)) from None
    accounts = [parse_account(a) for a in account or []]
    config = SimConfig(mainnet=mainnet_signatures)

    async def serve() -> None:
        if market == "synthetic":
            console.print("starting the synthetic market generator (the first run compiles it: minutes)")
        async with run_exchange(host=host, port=port, data=data, market=market, speed=speed, seed=seed,
                                faults=fault_cfg, config=config, loop=loop) as sim:
            for address, usdc, leader in accounts:
                sim.exchange.fund(address, usdc, leader=leader)
            source = {"replay": f"replay of {data} at {speed}x", "synthetic": f"synthetic market at {speed}x",
                      "random-walk": "random-walk market"}[market]
            console.print(f"exchange-sim listening on {sim.base_url} (ws {sim.ws_url}); {source}; "
                          f"{len(accounts)} funded account(s)", highlight=False, soft_wrap=True)
            stop = asyncio.Event()
            loop_ = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):  # stop cleanly: the generator child and temp files go too
                loop_.add_signal_handler(sig, stop.set)
            await stop.wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    except DataError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    console.print("exchange-sim stopped")
