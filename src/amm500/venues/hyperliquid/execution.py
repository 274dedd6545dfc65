"""The venue-neutral execution calls (:class:`amm500.venues.OrderVenue`) as Hyperliquid actions.

Everything that turns "place these orders / cancel these client ids / replace this order" into a
signed Hyperliquid action lives here, on top of one ``act(action, n_items)``: the real client
signs and sends it; tests and benches hand it to the local exchange in process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from amm500.venues.hyperliquid.rounding import HyperliquidGrid
from amm500.venues.hyperliquid.signing import (
    batch_modify_action,
    cancel_action,
    cancel_by_cloid_action,
    order_action,
    schedule_cancel_action,
)
from amm500.venues.model import AssetInfo, OrderStatus


def exchange_action(kind: str, items: Sequence[Any], asset: int) -> dict[str, Any]:
    """The action for one order-manager request: ``order`` (OrderSpecs), ``cancel`` (client ids),
    ``cancel_oids`` (exchange ids) or ``modify`` ((old client id, OrderSpec) pairs)."""
    if kind == "order":
        return order_action(items)
    if kind == "cancel":
        return cancel_by_cloid_action([(asset, c) for c in items])
    if kind == "cancel_oids":
        return cancel_action([(asset, oid) for oid in items])
    if kind == "modify":
        return batch_modify_action(items)
    raise ValueError(f"unknown request kind {kind!r}")


class ActionVenue:
    """:class:`amm500.venues.OrderVenue`'s order calls, for anything with ``asset`` and ``act``."""

    asset: AssetInfo | None
    _grid: HyperliquidGrid | None = None

    async def act(self, action: dict[str, Any], n_items: int = 1) -> list[OrderStatus]:
        raise NotImplementedError

    def _asset_index(self) -> int:
        if self.asset is None:
            raise RuntimeError("the venue is not started: no meta read yet")
        return self.asset.asset

    @property
    def grid(self) -> HyperliquidGrid:
        if self.asset is None:
            raise RuntimeError("the venue is not started: no meta read yet")
        if self._grid is None or self._grid.sz_decimals != self.asset.sz_decimals:
            self._grid = HyperliquidGrid(self.asset.sz_decimals)
        return self._grid

    async def send(self, kind: str, items: Sequence[Any]) -> list[OrderStatus]:
        """One request (see :func:`exchange_action`); one status per item, in order."""
        return await self.act(exchange_action(kind, items, self._asset_index()), len(items))

    async def schedule_cancel(self, until_ms: int | None) -> OrderStatus:
        (st,) = await self.act(schedule_cancel_action(until_ms), 1)
        return st
