"""Price-time-priority order book shared by our users' orders and the background market.

Background liquidity (from the replayed or synthetic market) sits in the same FIFO queues as
users' orders, as anonymous orders with ``user=None``. When the market feed says a level now holds
``S``, the background part of that level is set to ``S``: growth joins the back of the queue, and
shrinkage is taken from the back first, so a user's order never gains queue position from a
cancellation it cannot see (the conservative assumption, as in hftbacktest's risk-averse queue).
Market trades from the feed walk the resting side in price-time order, so they fill users' orders
that are at the front of the queue or priced through the trade.
"""

from __future__ import annotations

import contextlib
from collections import deque
from dataclasses import dataclass, field

BUY = 1
SELL = -1
EPS = 1e-12


@dataclass(eq=False)  # identity, not field equality: two identical orders are still two queue entries
class Order:
    oid: int
    user: str | None  # None: background liquidity from the market feed
    side: int  # +1 buy, -1 sell
    px: float
    sz: float  # remaining
    orig_sz: float
    timestamp: int  # ms, placement time
    tif: str = "Gtc"
    reduce_only: bool = False
    cloid: str | None = None


@dataclass
class Match:
    """One execution: ``maker`` rested, ``taker`` arrived (None when the taker is the market feed)."""

    maker: Order
    taker: Order | None
    px: float
    sz: float
    taker_side: int


@dataclass
class OrderBook:
    bids: dict[float, deque[Order]] = field(default_factory=dict)
    asks: dict[float, deque[Order]] = field(default_factory=dict)
    by_oid: dict[int, Order] = field(default_factory=dict)
    by_user: dict[str, dict[int, Order]] = field(default_factory=dict)  # resting users' orders, per user

    def _side(self, side: int) -> dict[float, deque[Order]]:
        return self.bids if side == BUY else self.asks

    def prices(self, side: int) -> list[float]:
        """Level prices best first."""
        return sorted(self._side(side), reverse=(side == BUY))

    def best(self, side: int) -> float | None:
        levels = self._side(side)
        if not levels:
            return None
        return max(levels) if side == BUY else min(levels)

    def level_size(self, side: int, px: float) -> tuple[float, int]:
        queue = self._side(side).get(px)
        if not queue:
            return 0.0, 0
        return sum(o.sz for o in queue), len(queue)

    def depth(self, side: int, n: int) -> list[tuple[float, float, int]]:
        """(px, total size, order count) for the best ``n`` levels."""
        return [(px, *self.level_size(side, px)) for px in self.prices(side)[:n]]

    # -- resting orders ---------------------------------------------------------------------------
    def rest(self, order: Order) -> None:
        self._side(order.side).setdefault(order.px, deque()).append(order)
        if order.user is not None:
            self.by_oid[order.oid] = order
            self.by_user.setdefault(order.user, {})[order.oid] = order

    def track(self, order: Order) -> None:
        """Index a user's order as resting without queueing it: under ``queue`` matching its queue place
        lives in the backtester's exchange side (:mod:`amm500.exchange_sim.core_matching`)."""
        assert order.user is not None
        self.by_oid[order.oid] = order
        self.by_user.setdefault(order.user, {})[order.oid] = order

    def remove(self, order: Order) -> None:
        levels = self._side(order.side)
        queue = levels.get(order.px)
        if queue is not None:
            with contextlib.suppress(ValueError):
                queue.remove(order)
            if not queue:
                del levels[order.px]
        if order.user is not None:
            self._forget(order)

    def _forget(self, order: Order) -> None:
        self.by_oid.pop(order.oid, None)
        assert order.user is not None
        mine = self.by_user.get(order.user)
        if mine is not None:
            mine.pop(order.oid, None)

    def user_orders(self, user: str) -> list[Order]:
        return list(self.by_user.get(user, {}).values())

    # -- background market ------------------------------------------------------------------------
    def set_background(self, side: int, px: float, sz: float, next_oid: int, now_ms: int) -> None:
        """Make the background part of level ``px`` equal ``sz`` (growth at the back, shrinkage from the back)."""
        levels = self._side(side)
        queue = levels.get(px)
        current = sum(o.sz for o in queue if o.user is None) if queue else 0.0
        if sz > current + EPS:
            self.rest(Order(next_oid, None, side, px, sz - current, sz - current, now_ms))
            return
        excess = current - sz
        if excess <= EPS or queue is None:
            return
        for order in reversed(list(queue)):
            if order.user is not None:
                continue
            take = min(order.sz, excess)
            order.sz -= take
            excess -= take
            if order.sz <= EPS:
                queue.remove(order)
            if excess <= EPS:
                break
        if not queue:
            del levels[px]

    def clear_background(self, side: int) -> None:
        """Drop background liquidity on one side (+1/-1) or both (0); users' orders stay."""
        for s in (BUY, SELL):
            if side not in (0, s):
                continue
            levels = self._side(s)
            for px in list(levels):
                queue = deque(o for o in levels[px] if o.user is not None)
                if queue:
                    levels[px] = queue
                else:
                    del levels[px]

    # -- matching ---------------------------------------------------------------------------------
    def would_cross(self, side: int, px: float) -> bool:
        best = self.best(-side)
        return best is not None and (px >= best if side == BUY else px <= best)

    def take(self, taker: Order | None, side: int, limit_px: float, sz: float) -> tuple[list[Match], list[Order]]:
        """Walk the opposite side up to ``limit_px`` for ``sz``; returns matches and self-trade-cancelled orders.

        A resting order of the taker's own user is cancelled instead of traded (Hyperliquid's
        self-trade rule). Background takers (``taker=None``) never self-trade.
        """
        matches: list[Match] = []
        cancelled: list[Order] = []
        levels = self._side(-side)
        remaining = sz
        while remaining > EPS and levels:
            px = min(levels) if side == BUY else max(levels)
            if (side == BUY and px > limit_px + EPS) or (side == SELL and px < limit_px - EPS):
                break
            queue = levels[px]
            while remaining > EPS and queue:
                maker = queue[0]
                if taker is not None and maker.user is not None and maker.user == taker.user:
                    queue.popleft()
                    self._forget(maker)
                    cancelled.append(maker)
                    continue
                qty = min(maker.sz, remaining)
                maker.sz -= qty
                remaining -= qty
                if maker.user is not None or taker is not None:
                    matches.append(Match(maker, taker, px, qty, side))
                if maker.sz <= EPS:
                    queue.popleft()
                    if maker.user is not None:
                        self._forget(maker)
            if not queue:
                del levels[px]
        if taker is not None:
            taker.sz = remaining
        return matches, cancelled

    def uncross(self) -> list[Match]:
        """Resolve a crossed book after the market moved through resting users' orders.

        The resting user order is the maker at its own price; background meets background only
        when the feed itself is inconsistent, and then both are trimmed without a trade.
        """
        matches: list[Match] = []
        while self.bids and self.asks:
            bid_px, ask_px = max(self.bids), min(self.asks)
            if bid_px < ask_px - EPS:
                break
            bid, ask = self.bids[bid_px][0], self.asks[ask_px][0]
            qty = min(bid.sz, ask.sz)
            if bid.user is not None and ask.user is not None and bid.user != ask.user:
                # two users can only cross through a feed move; the older order made the price
                maker, taker = (bid, ask) if bid.timestamp <= ask.timestamp else (ask, bid)
                matches.append(Match(maker, taker, maker.px, qty, taker.side))
            elif bid.user is not None and ask.user is None:
                matches.append(Match(bid, None, bid.px, qty, SELL))
            elif ask.user is not None and bid.user is None:
                matches.append(Match(ask, None, ask.px, qty, BUY))
            elif bid.user is not None and bid.user == ask.user:
                qty = 0.0  # same user's orders never trade; drop the younger order's queue slot below
                younger = bid if bid.timestamp > ask.timestamp else ask
                self.remove(younger)
                continue
            for order in (bid, ask):
                order.sz -= qty
                if order.sz <= EPS:
                    self.remove(order)
        return matches
