"""Build a trading session from a config and a mode: venue, client, order manager, strategy, loop.

Commands never wire these pieces themselves: ``amm500 demo`` asks for a ``rehearsal`` here, and the
paper and live commands will ask for theirs, so that what differs between modes is only what this
module chooses (which venue, which key, which market) and never a second copy of the wiring.

Modes: ``rehearsal`` — the local Hyperliquid-compatible exchange on 127.0.0.1 replaying a market
folder, over real HTTP and WebSocket, with a throwaway key made for the run and funded with
``backtest.initial_equity`` (the key is never printed or stored). Paper (live data, simulated
matching) and live (Hyperliquid, with its typed confirmation for mainnet) are added here.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from amm500.config import Config, ConfigError
from amm500.live.quote_loop import QuoteLoop
from amm500.venues.hyperliquid.client import Handlers, HyperliquidClient

MODES = ("rehearsal",)


@dataclass
class Session:
    """A started loop and what it runs on; valid inside :func:`trading_session`'s ``async with``."""

    mode: str
    loop: QuoteLoop
    client: HyperliquidClient
    venue_url: str
    account: str  # the trading address (public)


@contextlib.asynccontextmanager
async def trading_session(config: Config, mode: str, *, market: Path | None = None) -> AsyncIterator[Session]:
    """Everything for one run of ``mode``, started; on exit the client is closed and any local
    exchange stopped (the loop's own ``run`` already cancelled every order)."""
    if mode not in MODES:
        raise ConfigError(f"mode {mode!r}: must be one of {', '.join(MODES)}")
    if market is None:
        raise ConfigError("rehearsal: a market folder to replay is needed")
    from eth_account import Account

    from amm500.exchange_sim.server import run_exchange

    wallet = Account.create()  # a throwaway key for this run only; never printed or stored
    address = wallet.address.lower()
    async with run_exchange({address: config.backtest.initial_equity}, data=market) as sim:
        client = HyperliquidClient(sim.base_url, sim.ws_url, config.trading.symbol, private_key=wallet.key.hex(),
                                   handlers=Handlers(), use_ws_post=config.execution.use_ws_post)
        try:
            await client.start()
            loop = await QuoteLoop.create(client, config)
            yield Session(mode, loop, client, sim.base_url, address)
        finally:
            await client.close()
