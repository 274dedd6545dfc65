"""Paper trading: the backtester's exchange side, in process, on a live feed. Never signs.

Market data comes from a key-less :class:`~amm500.venues.hyperliquid.client.HyperliquidClient`
(mainnet, testnet or the local exchange). Every ``l2Book`` snapshot is diffed into level updates
(:class:`amm500.data.book_diff.BookDiffer`, as the recorder does) and, with every trade print, fed to
:class:`amm500.sim.core.ExchangeCore`, which runs the backtester's own matching kernels: the same
arrival checks (tick, lot, $10 minimum, margin, reduce-only, post-only), the same queue estimate
(``backtest.queue_model``), the same fills from prints at or through our price and from the book moving
onto it, the same fees of ``backtest.fee_tier``. A paper run and a backtest of the recorded feed
therefore differ only where the world differs (when our orders reached the book), not in a second
fill model.

Orders reach the core as the order manager's venue-neutral requests (:class:`amm500.venues.OrderVenue`):
this module builds no exchange action, holds no key and has no route to any ``/exchange`` endpoint.
Fills and order updates come back through the same :class:`Handlers` the live client uses, so the
engine cannot tell the two apart except by the name of the venue. The address request budget is
Hyperliquid's (:mod:`amm500.core.request_budget`).

What paper cannot know (docs/paper.md): the other side of a print we would have joined (our fills
never move the real market), and the exact order in which a block's trades and its book snapshot
reach us — prints are applied as they arrive.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from amm500.config import Config
from amm500.core.api import ASK, BID, FUNDING, TRADE
from amm500.core.exchange_model import ExchangeModel
from amm500.core.instrument import Instrument
from amm500.core.request_budget import address_budget, cancel_budget
from amm500.data.book_diff import BookDiffer
from amm500.data.schema import make_events
from amm500.sim.core import REJECT_TEXT, ExchangeCore, Response, warm_up
from amm500.sim.layout import (
    FLAG_IOC,
    FLAG_POST_ONLY,
    FLAG_REDUCE_ONLY,
    RESP_ACK,
    RESP_CANCEL_FAIL,
    RESP_CANCELED,
    RESP_FILL,
    RESP_LIQUIDATION,
    RESP_REJECT,
)
from amm500.venues.hyperliquid import messages as m
from amm500.venues.hyperliquid.client import Handlers, HyperliquidClient
from amm500.venues.hyperliquid.execution import ActionVenue
from amm500.venues.hyperliquid.ratelimit import BUDGET_SPENT, AddressBudget, RateLimited
from amm500.venues.model import OrderSpec

log = logging.getLogger(__name__)

#: the paper account's address (never a real wallet)
PAPER_ADDRESS = "0x" + "00" * 19 + "01"

_GONE = "Order was never placed, already canceled, or filled."


class _Order:
    __slots__ = ("cloid", "oid", "orig_sz", "px", "side", "slot", "sz", "ts_ms")

    def __init__(self, oid: int, slot: int, spec: OrderSpec, ts_ms: int) -> None:
        self.oid, self.slot, self.cloid, self.ts_ms = oid, slot, spec.cloid, ts_ms
        self.side, self.px, self.sz, self.orig_sz = (1 if spec.is_buy else -1), spec.px, spec.sz, spec.sz

    def view(self, coin: str) -> m.OpenOrder:
        return m.OpenOrder(coin, self.side, self.px, self.sz, self.orig_sz, self.oid, self.ts_ms, self.cloid)


class PaperVenue(ActionVenue):
    """An :class:`~amm500.venues.OrderVenue` plus the market view the quote loop reads, for paper trading."""

    name = "paper"

    def __init__(self, data: HyperliquidClient, config: Config, equity: float, *, position: float = 0.0,
                 entry_px: float = 0.0) -> None:
        if data.signer is not None:
            raise ValueError("paper trading takes a data client without a key: nothing is ever signed")
        self.data = data
        self.config = config
        self.handlers = Handlers()
        self.latency = data.latency
        self.address_budget = AddressBudget()
        self.asset: m.AssetInfo | None = None
        self.core: ExchangeCore | None = None
        self._opening = (equity, position, entry_px)
        self._differ = BookDiffer(clear_each_day=False)
        self._ids = time.time_ns() // 1_000  # oids and trade ids unique across restarts (the journal keys fills)
        self._by_slot: dict[int, _Order] = {}
        self._by_cloid: dict[str, _Order] = {}
        self._fills: list[m.Fill] = []
        self._fundings: list[m.FundingPayment] = []
        self._requests = 0
        self._funding_rate = 0.0
        self._leverage = config.trading.leverage
        self._position = position  # as the fills pushed so far say (each fill's startPosition)
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
        # before the socket: a cold compile inside the first book would stall the feed
        warm_up(ExchangeModel.from_config(self.config), Instrument.from_config(self.config))
        await self.data.start()
        real = self.data.asset
        assert real is not None
        self.open(real)
        self._on_book(m.L2Book(real.name, self.data.book_time_ms, self.data.book.copy()), time.time_ns())

    def open(self, real: m.AssetInfo) -> None:
        """The paper account on the venue's instrument (its size grid and maximum leverage from meta)."""
        self.asset = m.AssetInfo(0, real.name, real.sz_decimals, real.max_leverage)
        instrument = Instrument.from_config(self.config).with_venue(sz_decimals=real.sz_decimals,
                                                                    max_leverage=real.max_leverage)
        equity, position, entry_px = self._opening
        self.core = ExchangeCore(ExchangeModel.from_config(self.config), instrument, equity, position, entry_px)

    async def close(self) -> None:
        await self.data.close()

    def mark_tick(self, perf_ns: int | None = None) -> None:
        """Tick-to-order for paper ends where a real venue's would start the transport: at the request."""
        self._tick_perf_ns = self.data.ws.rx_perf_ns if perf_ns is None else perf_ns

    async def schedule_cancel(self, until_ms: int | None) -> m.OrderStatus:
        """Paper orders live in this process and die with it: the dead-man's switch is always 'armed'."""
        return m.OrderStatus("success")

    # ---- the feed into the core ------------------------------------------------------------------------

    def _on_book(self, snap: m.L2Book, rx_ns: int) -> None:
        if self.core is None:
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
        self._deliver(self.core.apply_events(ev), snap.time_ms)

    def _on_trades(self, trades: list[m.Trade]) -> None:
        if self.core is None or not trades:
            return
        rows = [t for t in trades if t.coin == self.coin and t.sz > 0 and t.px > 0]
        if not rows:
            return
        n = len(rows)
        ts = np.array([t.time_ms * 1_000_000 for t in rows], dtype=np.int64)
        ev = make_events(ts, ts, np.full(n, TRADE), np.array([BID if t.side > 0 else ASK for t in rows]),
                         np.array([t.px for t in rows]), np.array([t.sz for t in rows]))
        self._deliver(self.core.apply_events(ev), rows[-1].time_ms)
        self.trades_applied += n
        if self.handlers.on_trades is not None:  # the strategy's tape, as from a live client
            self.handlers.on_trades(rows)

    def maybe_pay_funding(self, now_s: float | None = None) -> bool:
        """On each hour (UTC), settle funding on the paper position at the venue's latest rate and the mid."""
        now_s = time.time() if now_s is None else now_s
        if now_s < self._next_funding_s or self.core is None:
            return False
        self._next_funding_s = (now_s // 3600 + 1) * 3600
        core = self.core
        szi, before = core.position, core.funding_paid
        ts = np.array([int(now_s * 1e9)], dtype=np.int64)
        self._deliver(core.apply_events(make_events(ts, ts, np.array([FUNDING]), np.array([0]),
                                             np.array([self._funding_rate]), np.array([0.0]))), int(now_s * 1000))
        if szi:
            payment = m.FundingPayment(int(now_s * 1000), self.coin, self._funding_rate, core.funding_paid - before,
                                       szi)
            self._fundings.append(payment)
        return True

    # ---- answers and pushes -------------------------------------------------------------------------------

    def _deliver(self, responses: list[Response], t_ms: int) -> dict[int, m.OrderStatus]:
        """Turn the core's answers into pushes (through the engine's handlers); returns, per slot, the
        status an order request answers with (resting / filled / error)."""
        updates: list[m.OrderUpdate] = []
        fills: list[m.Fill] = []
        status: dict[int, m.OrderStatus] = {}
        taken: dict[int, tuple[_Order, float, float]] = {}  # slot -> (order, size, notional) filled in this call
        liquidated = False
        for r in responses:
            order = self._by_slot.get(r.slot)
            if r.kind == RESP_LIQUIDATION:  # the whole position closed at the mark
                liquidated = True
                fills.append(self._fill(-1, None, -1 if self._position > 0 else 1, r, t_ms))
                continue
            if order is None:
                continue
            if r.kind == RESP_ACK:
                status[r.slot] = m.OrderStatus("resting", order.oid, order.cloid)
                updates.append(m.OrderUpdate(order.view(self.coin), "open", t_ms))
            elif r.kind == RESP_FILL:
                order.sz = max(order.sz - r.sz, 0.0)
                fills.append(self._fill(order.oid, order.cloid, order.side, r, t_ms))
                _, size, notional = taken.get(r.slot, (order, 0.0, 0.0))
                taken[r.slot] = (order, size + r.sz, notional + r.px * r.sz)
                if r.final:
                    self._forget(order)
                    updates.append(m.OrderUpdate(order.view(self.coin), "filled", t_ms))
            elif r.kind == RESP_CANCELED:
                self._forget(order)
                updates.append(m.OrderUpdate(order.view(self.coin), "canceled", t_ms))
            elif r.kind == RESP_REJECT:
                self._forget(order)
                status[r.slot] = m.OrderStatus("error", error=r.reject_text)
                updates.append(m.OrderUpdate(order.view(self.coin), "rejected", t_ms))
            elif r.kind == RESP_CANCEL_FAIL:
                status[r.slot] = m.OrderStatus("error", error=_GONE)
        for slot, (order, size, notional) in taken.items():  # taking on arrival: Hyperliquid answers "filled"
            if slot not in status:
                status[slot] = m.OrderStatus("filled", order.oid, order.cloid, size, notional / size)
        self._fills.extend(fills)
        h = self.handlers
        if updates and h.on_order_updates is not None:
            h.on_order_updates(updates)
        if fills and h.on_fills is not None:
            h.on_fills(fills, False)
        if liquidated and h.on_user_event is not None:
            h.on_user_event(m.UserEvent(fills, [], True))
        return status

    def _fill(self, oid: int, cloid: str | None, side: int, r: Response, t_ms: int) -> m.Fill:
        """A fill as Hyperliquid reports it; ``startPosition`` runs through the fills of one call in order."""
        self._ids += 1
        start = self._position
        self._position = 0.0 if oid < 0 else start + side * r.sz
        return m.Fill(self.coin, side, r.px, r.sz, t_ms, oid, self._ids, not r.maker, r.fee, start, cloid)

    def _forget(self, order: _Order) -> None:
        self._by_slot.pop(order.slot, None)
        if order.cloid is not None:
            self._by_cloid.pop(order.cloid, None)

    # ---- requests: the order manager's, straight into the core -----------------------------------------------

    async def send(self, kind: str, items: Sequence[Any]) -> list[m.OrderStatus]:
        if self.core is None:
            raise RuntimeError("the venue is not started: no meta read yet")
        if self._tick_perf_ns:
            self.latency.tick_to_order((time.perf_counter_ns() - self._tick_perf_ns) / 1e9)
            self._tick_perf_ns = 0
        self._spend(len(items), cancel=kind in ("cancel", "cancel_oids"))
        if kind == "order":
            return [self._place(spec) for spec in items]
        if kind == "cancel":
            return [self._cancel(self._by_cloid.get(c)) for c in items]
        if kind == "cancel_oids":
            by_oid = {o.oid: o for o in self._by_slot.values()}
            return [self._cancel(by_oid.get(oid)) for oid in items]
        if kind == "modify":  # Hyperliquid's modify: the old order goes, the new one is placed
            out = []
            for old, spec in items:
                gone = self._cancel(self._by_cloid.get(old))
                out.append(self._place(spec) if gone.kind == "success"
                           else m.OrderStatus("error", error="Cannot modify canceled or filled order"))
            return out
        raise ValueError(f"unknown request kind {kind!r}")

    def _spend(self, n_items: int, cancel: bool) -> None:
        """Hyperliquid's address budget: past it, only cancels pass (up to their larger ceiling)."""
        assert self.core is not None
        self._requests += max(1, n_items)
        cap = address_budget(self.core.traded_notional)
        limit = cancel_budget(cap) if cancel else cap
        self.address_budget.sync(self._requests, int(cap))
        if self._requests > limit:
            self.address_budget.used = max(self.address_budget.used, int(cap))
            raise RateLimited(f"address request budget spent: {BUDGET_SPENT} sent ({self._requests} > {int(cap)})",
                              429)

    def _place(self, spec: OrderSpec) -> m.OrderStatus:
        assert self.core is not None
        if spec.cloid is not None and spec.cloid in self._by_cloid:
            return m.OrderStatus("error", error="Duplicate cloid.")
        flags = (FLAG_POST_ONLY if spec.tif == "Alo" else 0) | (FLAG_IOC if spec.tif == "Ioc" else 0)
        flags |= FLAG_REDUCE_ONLY if spec.reduce_only else 0
        self._ids += 1
        oid = self._ids
        now_ms = time.time_ns() // 1_000_000
        responses = self.core.submit(now_ms * 1_000_000, oid, 1 if spec.is_buy else -1, spec.px, spec.sz, flags)
        slot = responses[0].slot if responses else -1
        if slot < 0:
            return m.OrderStatus("error", error=responses[0].reject_text)
        order = self._by_slot[slot] = _Order(oid, slot, spec, now_ms)
        if spec.cloid is not None:
            self._by_cloid[spec.cloid] = order
        return self._deliver(responses, now_ms).get(slot) or m.OrderStatus("error", error=REJECT_TEXT["no_liquidity"])

    def _cancel(self, order: _Order | None) -> m.OrderStatus:
        assert self.core is not None
        if order is None:
            return m.OrderStatus("error", error=_GONE)
        status = self._deliver(self.core.cancel(time.time_ns(), order.slot), time.time_ns() // 1_000_000)
        return status.get(order.slot, m.OrderStatus("success"))

    async def set_leverage(self, leverage: int) -> m.OrderStatus:
        self._leverage = leverage
        if self.core is not None:
            self.core.set_leverage(leverage)
        return m.OrderStatus("success")

    # ---- account reads ---------------------------------------------------------------------------------------

    async def asset_context(self) -> tuple[float, float]:
        """(funding rate, mark): the real venue's funding rate, the paper book's mid as the mark."""
        funding, _ = await self.data.asset_context()
        if math.isfinite(funding):
            self._funding_rate = funding
        return funding, self.core.mid if self.core is not None else math.nan

    async def open_orders(self) -> list[m.OpenOrder]:
        return [o.view(self.coin) for o in self._by_slot.values()]

    async def position(self) -> m.Position:
        core = self.core
        if core is None:
            return m.Position(self.coin, 0.0, 0.0, 0.0, 0.0)
        mark = core.mid or core.entry_px
        margin = abs(core.position) * mark / self._leverage
        return m.Position(self.coin, core.position, core.entry_px, core.equity, margin)

    async def refresh_rate_limit(self) -> m.RateLimitState:
        volume = self.core.traded_notional if self.core is not None else 0.0
        state = m.RateLimitState(volume, self._requests, int(address_budget(volume)))
        self.address_budget.sync(state.used, state.cap)
        return state

    async def fundings_since(self, since_ms: int) -> list[m.FundingPayment]:
        return [f for f in self._fundings if f.time_ms >= since_ms]

    async def fills_since(self, since_ms: int) -> list[m.Fill]:
        """The paper account's fills since ``since_ms`` (this process's only: earlier ones are journalled)."""
        return [f for f in self._fills if f.time_ms >= since_ms]
