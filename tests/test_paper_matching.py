"""The paper venue matches with the backtester's exchange side (``sim.core.ExchangeCore``): the same
queue estimate, the same fills from prints and from the book moving onto our price, the same checks.

The venue is fed the way the live feed feeds it (l2Book snapshots and trade prints through the data
client's handlers); no socket is opened.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from amm500.config import load_config
from amm500.core import api
from amm500.venues.hyperliquid import messages as m
from amm500.venues.hyperliquid.client import HyperliquidClient
from amm500.venues.hyperliquid.ratelimit import RateLimited
from amm500.venues.model import OrderSpec
from amm500.venues.paper import PaperVenue

T0 = 1_790_000_000_000
CLOID = "0x" + "ab" * 16


def book(bids: list[tuple[float, float]], asks: list[tuple[float, float]], t_ms: int) -> m.L2Book:
    b = np.zeros((4, api.BOOK_DEPTH))
    for i, (px, sz) in enumerate(bids):
        b[0, i], b[1, i] = px, sz
    for i, (px, sz) in enumerate(asks):
        b[2, i], b[3, i] = px, sz
    return m.L2Book("BTC", t_ms, b)


class Pushes:
    def __init__(self, venue: PaperVenue) -> None:
        self.fills: list[m.Fill] = []
        self.updates: list[m.OrderUpdate] = []
        venue.handlers.on_fills = lambda fills, _snap: self.fills.extend(fills)
        venue.handlers.on_order_updates = self.updates.extend


def paper(**sets: Any) -> tuple[PaperVenue, Pushes]:
    config = load_config(overrides={"backtest": {"initial_equity": 10_000.0, **sets}})
    data = HyperliquidClient("http://127.0.0.1:9", "ws://127.0.0.1:9/ws", "BTC", private_key=None)
    venue = PaperVenue(data, config, 10_000.0)
    venue.open(m.AssetInfo(0, "BTC", 5, 40))
    pushes = Pushes(venue)
    venue._on_book(book([(100_000.0, 1.0), (99_999.0, 2.0)], [(100_001.0, 1.0), (100_002.0, 2.0)], T0), 0)
    return venue, pushes


def send(venue: PaperVenue, kind: str, items: list[Any]) -> list[m.OrderStatus]:
    return asyncio.run(venue.send(kind, items))


def trade(venue: PaperVenue, side: int, px: float, sz: float, t_ms: int) -> None:
    venue._on_trades([m.Trade("BTC", side, px, sz, t_ms, t_ms)])


def test_a_resting_bid_fills_only_after_the_queue_ahead_of_it_has_traded() -> None:
    venue, pushes = paper()
    (st,) = send(venue, "order", [OrderSpec(0, True, 100_000.0, 0.01, "Alo", False, CLOID)])
    assert st.kind == "resting" and st.cloid == CLOID
    trade(venue, -1, 100_000.0, 0.6, T0 + 10)  # 1.0 was ahead of us: 0.4 still is
    assert pushes.fills == []
    trade(venue, -1, 100_000.0, 0.405, T0 + 20)  # 0.005 past our place: half our order
    assert [(f.side, f.px, f.sz, f.crossed) for f in pushes.fills] == [(1, 100_000.0, 0.005, False)]
    trade(venue, -1, 100_000.0, 0.5, T0 + 30)
    assert sum(f.sz for f in pushes.fills) == pytest.approx(0.01)
    assert [u.status for u in pushes.updates] == ["open", "filled"]
    pos = asyncio.run(venue.position())
    assert pos.szi == pytest.approx(0.01) and pos.entry_px == 100_000.0
    fee = sum(f.fee for f in pushes.fills)
    assert fee == pytest.approx(100_000.0 * 0.01 * venue.core.cfg[9])  # maker fee of the configured tier
    assert asyncio.run(venue.open_orders()) == []


def test_a_print_through_our_price_and_a_book_moving_onto_it_fill_us_whole() -> None:
    venue, pushes = paper()
    send(venue, "order", [OrderSpec(0, True, 100_000.0, 0.01, "Alo", False, CLOID)])
    trade(venue, -1, 99_999.0, 0.001, T0 + 10)  # a sell printed below our bid: it passed us
    assert [(f.px, f.sz) for f in pushes.fills] == [(100_000.0, 0.01)]
    cloid2 = "0x" + "cd" * 16
    send(venue, "order", [OrderSpec(0, False, 100_002.0, 0.01, "Alo", False, cloid2)])
    venue._on_book(book([(100_001.0, 1.0)], [(100_001.5, 0.0), (100_003.0, 1.0)], T0 + 20), 0)
    assert len(pushes.fills) == 1  # the bids rose to 100,001: not yet onto our ask
    venue._on_book(book([(100_002.0, 1.0)], [(100_003.0, 1.0)], T0 + 30), 0)
    assert [(f.side, f.px) for f in pushes.fills[1:]] == [(-1, 100_002.0)]  # the best bid reached our ask


def test_post_only_that_would_cross_is_rejected_and_an_ioc_takes_the_book() -> None:
    venue, pushes = paper()
    (st,) = send(venue, "order", [OrderSpec(0, True, 100_001.0, 0.01, "Alo", False, CLOID)])
    assert st.kind == "error" and "Post only" in (st.error or "")
    venue._on_book(book([(100_000.0, 1.0)], [(100_001.0, 0.03), (100_002.0, 2.0)], T0 + 10), 0)
    (st,) = send(venue, "order", [OrderSpec(0, True, 100_002.0, 0.05, "Ioc", False, None)])
    assert st.kind == "filled" and st.total_sz == pytest.approx(0.05)
    assert st.avg_px == pytest.approx((100_001.0 * 0.03 + 100_002.0 * 0.02) / 0.05)
    assert all(f.crossed for f in pushes.fills)


def test_cancel_modify_and_the_address_budget() -> None:
    venue, _ = paper()
    send(venue, "order", [OrderSpec(0, True, 99_990.0, 0.01, "Alo", False, CLOID)])
    new = "0x" + "ef" * 16
    (st,) = send(venue, "modify", [(CLOID, OrderSpec(0, True, 99_991.0, 0.01, "Alo", False, new))])
    assert st.kind == "resting" and st.cloid == new
    assert [o.limit_px for o in asyncio.run(venue.open_orders())] == [99_991.0]
    assert [s.kind for s in send(venue, "cancel", [new, new])] == ["success", "error"]
    venue._requests = 10_000  # a new account with no volume has 10,000 requests
    with pytest.raises(RateLimited):
        send(venue, "order", [OrderSpec(0, True, 99_990.0, 0.01, "Alo", False, CLOID)])
    assert [s.kind for s in send(venue, "cancel", [CLOID])] == ["error"]  # cancels still pass (none rests)
