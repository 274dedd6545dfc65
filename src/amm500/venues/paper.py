"""Paper trading: Hyperliquid's rules and a queue-aware book in process, on a live feed. Never signs.

Market data comes from a key-less :class:`~amm500.venues.hyperliquid.client.HyperliquidClient`
(mainnet, testnet or the local exchange). Every ``l2Book`` snapshot is diffed into level updates
(:class:`amm500.data.book_diff.BookDiffer`, as the recorder does) and every trade print is applied to
an in-process copy of the local exchange's state machine (:class:`amm500.exchange_sim.exchange.Exchange`):
our orders queue behind the visible size at their price (a level that shrinks shrinks from the back,
so a cancellation we cannot see never moves us forward), trade prints walk the queue in price-time
order, post-only orders that would cross are rejected, fees, margin, funding and the address request
budget are Hyperliquid's. Orders reach that state machine as the same action dicts Hyperliquid takes,
unsigned: this module holds no key, builds no signature and has no route to any ``/exchange``
endpoint. Fills and order updates come back through the same :class:`Handlers` the live client uses,
so the engine cannot tell the two apart except by the name of the venue.

What paper cannot know (documented in docs/paper.md): the other side of a print we would have
joined (our fills never move the real market), and the exact order in which a block's trades and its
book snapshot reach us — prints are applied as they arrive.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from amm500.data.book_diff import BookDiffer
from amm500.data.schema import ASK, BID, TRADE, make_events
from amm500.exchange_sim.auth import AuthError
from amm500.exchange_sim.exchange import AssetSpec, BadRequest, Exchange, SimConfig
from amm500.venues.hyperliquid import messages as m
from amm500.venues.hyperliquid.client import Handlers, HyperliquidClient
from amm500.venues.hyperliquid.execution import ActionVenue
from amm500.venues.hyperliquid.ratelimit import AddressBudget

log = logging.getLogger(__name__)

#: the paper account's address inside the in-process exchange (never a real wallet)
PAPER_ADDRESS = "0x" + "00" * 19 + "01"


class PaperVenue(ActionVenue):
    """An :class:`~amm500.venues.OrderVenue` plus the market view the quote loop reads, for paper trading."""

    name = "paper"

    def __init__(self, data: HyperliquidClient, equity: float, *, maker_fee: float, taker_fee: float,
                 position: float = 0.0, entry_px: float = 0.0) -> None:
        if data.signer is not None:
            raise ValueError("paper trading takes a data client without a key: nothing is ever signed")
        self.data = data
        self.handlers = Handlers()
        self.latency = data.latency
        self.address_budget = AddressBudget()
        self.asset: m.AssetInfo | None = None
        self.exchange = Exchange(SimConfig(accounts={}, maker_fee=maker_fee, taker_fee=taker_fee))
        # ids unique across restarts of the same paper account (the journal keys fills by trade id)
        self.exchange.next_tid = self.exchange.next_oid = time.time_ns() // 1_000
        self._opening = (equity, position, entry_px)
        self._differ = BookDiffer(clear_each_day=False)
        self.trades_applied = 0
        self._tick_perf_ns = 0
        self._next_funding_s = (time.time() // 3600 + 1) * 3600  # Hyperliquid settles on the hour
        data.handlers.on_book = self._on_book
        data.handlers.on_trades = self._on_trades

    # ---- the market view (what the quote loop reads from a client) --------------------------------------

    @property
    def coin(self) -> str:
        return self.data.coin

    @property
    def book(self) -> np.ndarray:
        return self.data.book

    @property
    def book_time_ms(self) -> int:
        return self.data.book_time_ms

    @property
    def user(self) -> str:
        return PAPER_ADDRESS

    async def start(self) -> None:
        """Connect the data client (meta, book, trades) and open the paper account on its instrument."""
        self.exchange.assets = []  # filled from the venue's meta below: the paper book trades that coin
        await self.data.start()
        real = self.data.asset
        assert real is not None
        self.exchange.assets = [AssetSpec(real.name, real.sz_decimals, real.max_leverage, 0)]
        self.asset = m.AssetInfo(0, real.name, real.sz_decimals, real.max_leverage)
        equity, position, entry_px = self._opening
        account = self.exchange.fund(PAPER_ADDRESS, equity)
        if position:
            pos = account.position(0)
            pos.szi, pos.entry_px = position, entry_px
        self._on_book(m.L2Book(real.name, self.data.book_time_ms, self.data.book.copy()), time.time_ns())

    async def close(self) -> None:
        await self.data.close()

    def mark_tick(self, perf_ns: int | None = None) -> None:
        """Tick-to-order for paper ends where a real venue's would start the transport: at the action."""
        self._tick_perf_ns = self.data.ws.rx_perf_ns if perf_ns is None else perf_ns

    async def schedule_cancel(self, until_ms: int | None) -> m.OrderStatus:
        """Paper orders live in this process and die with it: the dead-man's switch is always 'armed'."""
        return m.OrderStatus("success")

    # ---- the feed into the paper book ------------------------------------------------------------------

    def _on_book(self, snap: m.L2Book, rx_ns: int) -> None:
        if not self.exchange.assets:
            return  # before start() knows the instrument; start() applies the current book
        b = snap.book
        nb, na = int(np.count_nonzero(b[0] > 0)), int(np.count_nonzero(b[2] > 0))
        ts = snap.time_ms * 1_000_000
        try:
            ev = self._differ.update_one(ts, rx_ns, b[0, :nb].tolist(), b[1, :nb].tolist(), b[2, :na].tolist(),
                                         b[3, :na].tolist())
        except ValueError as exc:  # an out-of-order or malformed snapshot: skip it, the next one heals
            log.warning("paper: book snapshot skipped (%s)", exc)
            return
        self.exchange.apply_market(ev)
        self._deliver()

    def _on_trades(self, trades: list[m.Trade]) -> None:
        if not self.exchange.assets or not trades:
            return
        rows = [t for t in trades if t.coin == self.coin and t.sz > 0 and t.px > 0]
        if not rows:
            return
        n = len(rows)
        ts = np.array([t.time_ms * 1_000_000 for t in rows], dtype=np.int64)
        ev = make_events(ts, ts, np.full(n, TRADE), np.array([BID if t.side > 0 else ASK for t in rows]),
                         np.array([t.px for t in rows]), np.array([t.sz for t in rows]))
        self.exchange.apply_market(ev)
        self.trades_applied += n
        self._deliver()

    def _deliver(self) -> None:
        """The exchange's pushes for the paper account, through the handlers the engine attached."""
        out, self.exchange.outbox = self.exchange.outbox, []
        h = self.handlers
        for channel, key, data in out:
            if key != PAPER_ADDRESS:
                continue
            if channel == "orderUpdates" and h.on_order_updates is not None:
                h.on_order_updates(m.parse_order_updates(data))
            elif channel == "userFills" and h.on_fills is not None:
                h.on_fills(m.parse_fills(data, "userFills"), False)
            elif channel == "user" and h.on_user_event is not None:
                h.on_user_event(m.parse_user_event(data))

    def maybe_pay_funding(self, now_s: float | None = None) -> bool:
        """On each hour (UTC), settle funding on the paper position at the venue's latest rate."""
        now_s = time.time() if now_s is None else now_s
        if now_s < self._next_funding_s:
            return False
        self._next_funding_s = (now_s // 3600 + 1) * 3600
        self.exchange.pay_funding(0)
        self._deliver()
        return True

    # ---- execution: unsigned actions into the in-process exchange -----------------------------------------

    async def act(self, action: dict[str, Any], n_items: int = 1) -> list[m.OrderStatus]:
        if self._tick_perf_ns:
            self.latency.tick_to_order((time.perf_counter_ns() - self._tick_perf_ns) / 1e9)
            self._tick_perf_ns = 0
        account = self.exchange.accounts[PAPER_ADDRESS]
        try:
            answer = self.exchange.act_as(account, action)
        except AuthError as exc:  # the address budget, as Hyperliquid words it
            answer = {"status": "err", "response": str(exc)}
        except BadRequest as exc:
            answer = {"status": "err", "response": str(exc)}
        self.exchange.tick()
        self._deliver()
        self.address_budget.check_answer(answer)
        self.address_budget.spend(n_items)
        return m.parse_action_response(answer, n_items)

    async def set_leverage(self, leverage: int) -> m.OrderStatus:
        (st,) = await self.act({"type": "updateLeverage", "asset": 0, "isCross": True, "leverage": leverage})
        return st

    async def asset_context(self) -> tuple[float, float]:
        """(funding rate, mark): the real venue's funding rate, the paper book's mid as the mark."""
        funding, _ = await self.data.asset_context()
        self.exchange.funding_rate[0] = funding if math.isfinite(funding) else self.exchange.funding_rate[0]
        return funding, self.exchange.mark(0)

    def _info(self, kind: str) -> Any:
        return self.exchange.info({"type": kind, "user": PAPER_ADDRESS})

    async def open_orders(self) -> list[m.OpenOrder]:
        return m.parse_open_orders(self._info("openOrders"))

    async def position(self) -> m.Position:
        return m.parse_clearinghouse_state(self._info("clearinghouseState"), self.coin)

    async def refresh_rate_limit(self) -> m.RateLimitState:
        state = m.parse_user_rate_limit(self._info("userRateLimit"))
        self.address_budget.sync(state.used, state.cap)
        return state

    async def fundings_since(self, since_ms: int) -> list[m.FundingPayment]:
        return m.parse_user_funding(self.exchange.info({"type": "userFunding", "user": PAPER_ADDRESS,
                                                        "startTime": since_ms}))

    async def fills_since(self, since_ms: int) -> list[m.Fill]:
        """The paper account's fills since ``since_ms`` (this process's only: earlier ones are journalled)."""
        data = self.exchange.info({"type": "userFillsByTime", "user": PAPER_ADDRESS, "startTime": since_ms})
        return m.parse_fills(data, "userFillsByTime")
