"""The QuoteLoop on the local exchange: a funded key, the config the loop tests share, what really rests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from eth_account import Account

from amm500.config import Config
from amm500.exchange_sim.server import RunningExchange
from amm500.live.quote_loop import QuoteLoop
from amm500.venues.hyperliquid import messages as m
from amm500.venues.hyperliquid.client import Handlers, HyperliquidClient
from seed_helpers import seed_config

KEY = "0x" + "3c" * 32
ADDR = Account.from_key(KEY).address.lower()
EQUITY = 1000.0
LEVELS = 3


def config(trading: dict[str, object] | None = None, **risk: float) -> Config:
    """The seed's ladder with LEVELS levels a side (the loop tests read its ladder off the exchange)."""
    return seed_config({"trading": {"order_levels": LEVELS, **(trading or {})},
                                  "backtest": {"initial_equity": EQUITY}, "risk": risk})


async def open_orders(client: HyperliquidClient) -> list[m.OpenOrder]:
    """What rests on the exchange, read over HTTP ``/info`` (not from the order manager's memory)."""
    return m.parse_open_orders(await client.rest.open_orders(ADDR))


async def exchange_position(client: HyperliquidClient) -> m.Position:
    return m.parse_clearinghouse_state(await client.rest.clearinghouse_state(ADDR), "BTC")


@contextlib.asynccontextmanager
async def start_loop(sim: RunningExchange, cfg: Config) -> AsyncIterator[tuple[HyperliquidClient, QuoteLoop]]:
    client = HyperliquidClient(sim.base_url, sim.ws_url, "BTC", private_key=KEY, handlers=Handlers(), timeout_s=3.0)
    try:
        await client.start()
        yield client, await QuoteLoop.create(client, cfg)
    finally:
        await client.close()
