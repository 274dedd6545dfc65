"""Venues: where orders go (backtest matching engine, paper, Hyperliquid, the local exchange).

:class:`OrderVenue` is the small surface the order manager needs; the Hyperliquid client (pointed at
mainnet, testnet or the local exchange) implements it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from amm500.venues.hyperliquid.messages import AssetInfo, OpenOrder, OrderStatus, Position, RateLimitState


class OrderVenue(Protocol):
    asset: AssetInfo | None

    async def act(self, action: dict[str, Any], n_items: int = 1) -> list[OrderStatus]:
        """Sign and send one action; one status per item, in order."""
        ...

    async def open_orders(self) -> list[OpenOrder]: ...

    async def position(self) -> Position: ...

    async def refresh_rate_limit(self) -> RateLimitState: ...
