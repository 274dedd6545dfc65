"""Users' orders matched by the backtester's exchange side: the local exchange's ``queue`` matching.

In its default ``book`` matching the local exchange keeps users' orders and the replayed market in one
price-time book (users meet each other; the official SDK's tests trade that way). A rehearsal instead
wants the *backtester's* fill model, so that a replay through the live engine and a backtest of the
same data differ only in the engine's timing: each account gets an
:class:`amm500.sim.core.ExchangeCore`, fed every market event, and its orders rest there with the
backtester's queue estimate, fill from prints at or through their price and from the book moving onto
it, and never move the replayed market (as in the backtester and hftbacktest). Users do not meet each
other in this mode.

This module only decides *what fills*; the exchange books the fills, statuses and pushes as it does
for ``book`` matching (:meth:`amm500.exchange_sim.exchange.Exchange._fill`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from amm500.config import Config
from amm500.core.exchange_model import ExchangeModel
from amm500.core.instrument import Instrument
from amm500.data.schema import BOOK_LEVEL, Events, make_events
from amm500.exchange_sim.matching import BUY, SELL, Order, OrderBook
from amm500.sim.core import ExchangeCore, Response, warm_up
from amm500.sim.layout import FLAG_IOC, FLAG_POST_ONLY

#: money the core's own margin check never runs out of: the exchange checks margin on its accounts
_UNLIMITED = 1e15


class CoreMatching:
    """One :class:`ExchangeCore` per account, each fed the whole market."""

    def __init__(self, config: Config, instrument: Instrument) -> None:
        self.model, self.instrument = ExchangeModel.from_config(config), instrument
        warm_up(self.model, instrument)  # now, not inside the first order's request (a cold compile would time it out)
        self.cores: dict[str, ExchangeCore] = {}
        self.orders: dict[tuple[str, int], Order] = {}  # (user, slot) -> the exchange's order
        self.slots: dict[int, int] = {}  # oid -> slot

    def core(self, user: str, book: OrderBook, now_ns: int) -> ExchangeCore:
        """The account's core; a new one starts from the background book as it stands."""
        core = self.cores.get(user)
        if core is None:
            core = self.cores[user] = ExchangeCore(self.model, self.instrument, _UNLIMITED)
            core.apply_events(_snapshot(book, now_ns))
        return core

    def apply(self, ev: Events) -> list[tuple[Order, Response]]:
        """Market rows into every account's core; the fills they caused, with the orders they filled."""
        out: list[tuple[Order, Response]] = []
        for user, core in self.cores.items():
            out += self._pair(user, core.apply_events(ev))
        return out

    def submit(self, order: Order, book: OrderBook, now_ns: int) -> list[tuple[Order, Response]]:
        """An order that passed the exchange's own checks (price rules, reduce-only, margin) arrives."""
        assert order.user is not None
        core = self.core(order.user, book, now_ns)
        flags = (FLAG_POST_ONLY if order.tif == "Alo" else 0) | (FLAG_IOC if order.tif == "Ioc" else 0)
        responses = core.submit(now_ns, order.oid, order.side, order.px, order.sz, flags)
        if responses and responses[0].slot >= 0:
            self.orders[(order.user, responses[0].slot)] = order
            self.slots[order.oid] = responses[0].slot
        return self._pair(order.user, responses)

    def cancel(self, order: Order, now_ns: int) -> None:
        """Take a resting order out of its core (the exchange has already decided to cancel it)."""
        slot = self.slots.get(order.oid)
        core = self.cores.get(order.user or "")
        if slot is not None and core is not None:
            self._pair(order.user or "", core.cancel(now_ns, slot))

    def _pair(self, user: str, responses: Iterable[Response]) -> list[tuple[Order, Response]]:
        out = []
        for r in responses:
            order = self.orders.get((user, r.slot))
            if order is None or order.oid != r.oid:
                continue
            out.append((order, r))
            if r.final:
                del self.orders[(user, r.slot)]
                self.slots.pop(order.oid, None)
        return out


def _snapshot(book: OrderBook, now_ns: int) -> Events:
    """The background book's levels as canonical level rows (what a new core starts from)."""
    rows = [(side, px, sz) for side in (BUY, SELL) for px, sz, _ in book.depth(side, 10_000)]
    n = len(rows)
    ts = np.full(n, now_ns, dtype=np.int64)
    return make_events(ts, ts, np.full(n, BOOK_LEVEL), np.array([s for s, _, _ in rows], dtype=np.int8),
                       np.array([p for _, p, _ in rows]), np.array([z for _, _, z in rows]))
