"""Venues: where orders go (Hyperliquid, the local exchange, and next a paper venue).

:class:`OrderVenue` is the whole surface the order manager needs, in venue-neutral terms
(:mod:`amm500.venues.model` types, :mod:`amm500.venues.errors` kinds): requests by kind, the
instrument's price grid, account reads and a dead-man's switch. The Hyperliquid client (mainnet,
testnet or the local exchange) implements it through :class:`amm500.venues.hyperliquid.execution.ActionVenue`;
a paper venue implements it without ever signing anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

    from amm500.venues.model import AssetInfo, Fill, OpenOrder, OrderStatus, Position, RateLimitState


class PriceGrid(Protocol):
    """The instrument's price and size rules."""

    def ladder(self, quotes: np.ndarray, n_bids: int, n_asks: int, min_notional: float,
               out: np.ndarray) -> tuple[int, int]:
        """The ladder (api quotes layout) on the grid, never more aggressive than asked; the counts kept."""
        ...

    def price(self, px: float, up: bool) -> float: ...

    def size(self, sz: float) -> float:
        """Down onto the lot."""
        ...


class OrderVenue(Protocol):
    asset: AssetInfo | None

    @property
    def grid(self) -> PriceGrid: ...

    async def send(self, kind: str, items: Sequence[Any]) -> list[OrderStatus]:
        """One request of ``kind`` ``order`` (OrderSpecs), ``cancel`` (client ids), ``cancel_oids``
        (venue order ids) or ``modify`` ((old client id, OrderSpec) pairs): one status per item.

        Raises a :class:`~amm500.venues.errors.TransientError` (retry; outcome unknown unless it is a
        :class:`~amm500.venues.errors.RefusedError`) or a :class:`~amm500.venues.errors.FatalError`.
        """
        ...

    async def schedule_cancel(self, until_ms: int | None) -> OrderStatus:
        """Arm (or, with None, clear) the venue's dead-man's switch."""
        ...

    async def open_orders(self) -> list[OpenOrder]: ...

    async def position(self) -> Position: ...

    async def refresh_rate_limit(self) -> RateLimitState: ...


class LiveVenue(OrderVenue, Protocol):
    """What the live quote loop drives: an order venue that also carries the market view.

    The Hyperliquid client (mainnet, testnet, the local exchange) is one; the paper venue (live data,
    matching in process, nothing signed) is the other.
    """

    handlers: Any  # venues.hyperliquid.client.Handlers: pushed order updates and fills land here
    latency: Any  # obs.latency.LatencyRecorder

    @property
    def coin(self) -> str: ...

    @property
    def book(self) -> np.ndarray:
        """(4, BOOK_DEPTH) in the core.api layout."""
        ...

    @property
    def book_time_ms(self) -> int: ...

    async def start(self) -> None:
        """Connect: meta, book, subscriptions."""
        ...

    async def close(self) -> None: ...

    def mark_tick(self, perf_ns: int | None = None) -> None: ...

    async def asset_context(self) -> tuple[float, float]:
        """(funding rate, mark price); NaN where unknown."""
        ...

    async def set_leverage(self, leverage: int) -> OrderStatus: ...

    async def fills_since(self, since_ms: int) -> list[Fill]: ...

    async def fundings_since(self, since_ms: int) -> list[Any]:
        """Hourly funding payments (``venues.hyperliquid.messages.FundingPayment``) since ``since_ms``."""
        ...
