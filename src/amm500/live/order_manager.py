"""OrderManager: the strategy's answer -> the fewest Hyperliquid actions, and every order's life by cloid.

Each timer rounds the strategy's ladder onto the venue grid (bids down, asks up: never more
aggressive than asked) and hands it, with ``ctrl``, to the rule book every driver shares
(:func:`amm500.core.intent.intent_commands`: kill switch, cancel-all, the reduce-only IOC, and the
queue-preserving ladder diff). The commands it returns become Hyperliquid actions here: each cancel
is paired with a placement on the same side into one ``batchModify`` entry, and what is left is
batched (cancels first, to free margin, then modifies and new orders, each batch at most
``execution.max_batch_size`` long).

Safety rules, all enforced here because this is the last code before the exchange:

* **Trading state.** Only what :attr:`OrderManager.gate` lets through is sent: everything when
  ACTIVE, only position-reducing orders when REDUCING, only cancels when HALTED
  (:mod:`amm500.live.trading_state`). Cancels always pass.
* **Position limit.** On each side, position + every order that could still fill (kept, pending,
  cancel in flight, the old leg of a modify) + the new orders stays within ``max_position``. New
  orders are cut from the outermost level inwards until it fits.
* **Unknown orders are cancelled.** Reconciliation (at start, after every reconnect, after an unknown
  outcome, and whenever the position read every ``POSITION_CHECK_S`` differs from ours) reads open orders,
  the position and the fills whose pushes were lost from the exchange; an open order we did not place is
  cancelled.
* **Request budgets.** Every request waits for IP weight (1200/min); placements stop when the
  address budget (mirrored from ``userRateLimit``) runs out, cancels do not.
* **Dead-man's switch.** ``scheduleCancel`` is re-armed every third of ``dead_man_switch_s``. The
  exchange refuses it below $1M lifetime volume: that is logged once and the supervisor is relied on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

from amm500.config import Config
from amm500.core import api
from amm500.core import order_diff as od
from amm500.core.instrument import Instrument
from amm500.core.intent import ACT_TAKE, intent_commands, new_commands
from amm500.live.recent_ids import RecentIds
from amm500.live.trading_state import TradingGate, TradingState
from amm500.venues import OrderVenue
from amm500.venues.errors import RefusedError, ThrottledError, TransientError
from amm500.venues.model import Fill, OpenOrder, OrderSpec, OrderStatus, OrderUpdate, UserEvent

log = logging.getLogger(__name__)
KEEP_FINISHED = 512  # finished orders remembered for late fills and order updates
#: a modify refused because its old leg no longer rests (Hyperliquid's words)
_LEG_GONE = re.compile(r"canceled or filled|never placed", re.IGNORECASE)
POSITION_CHECK_S = 2.0  # the exchange's position read this often (clearinghouseState, weight 2: 60 of 1200/min)
_EPS = 1e-12


class OrderState(IntEnum):
    PENDING = 0  # sent, no answer yet
    RESTING = 1
    PARTIAL = 2  # resting, partly filled
    FILLED = 3
    CANCELLED = 4
    REJECTED = 5


TERMINAL = frozenset({OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED})


@dataclass(slots=True)
class TrackedOrder:
    cloid: str
    side: int  # +1 bid, -1 ask
    px: float
    sz: float  # original size
    state: OrderState = OrderState.PENDING
    oid: int | None = None
    filled: float = 0.0
    created_ns: int = 0
    cancel_sent: bool = False  # a cancel (or the old leg of a modify) is in flight or unresolved
    ioc: bool = False  # a reduce-only IOC: never rests, so it is no row of the strategy's orders
    error: str | None = None

    @property
    def remaining(self) -> float:
        return max(0.0, self.sz - self.filled)

    @property
    def live(self) -> bool:
        return self.state not in TERMINAL


@dataclass(slots=True)
class Plan:
    """What one requote will send. ``modifies``: (old cloid, new order)."""

    cancels: list[str] = field(default_factory=list)
    modifies: list[tuple[str, OrderSpec]] = field(default_factory=list)
    places: list[OrderSpec] = field(default_factory=list)
    taker: OrderSpec | None = None  # reduce-only IOC (position timeout, delta rebalance, kill switch)
    kept: int = 0
    trimmed: float = 0.0  # size removed by the position limit

    @property
    def empty(self) -> bool:
        return not (self.cancels or self.modifies or self.places or self.taker)


@dataclass(slots=True)
class Request:
    """One venue request (see :meth:`amm500.venues.OrderVenue.send`) and the client ids it concerns."""

    kind: str  # order | cancel | modify
    items: list[Any]  # OrderSpecs | client ids | (old client id, OrderSpec) pairs
    cloids: list[str]  # the orders whose fate the answer decides (for a modify: the old legs)


def _terminal_from_status(status: str) -> OrderState | None:
    if status == "filled":
        return OrderState.FILLED
    if status == "open" or status == "triggered":
        return None
    if status == "rejected" or status.endswith("Rejected"):
        return OrderState.REJECTED
    return OrderState.CANCELLED  # canceled, scheduledCancel, marginCanceled, ...Canceled


class OrderManager:
    def __init__(
        self,
        venue: OrderVenue,
        *,
        max_position: float,
        max_batch_size: int,
        tol_bps: float,
        size_tol: float,
        min_notional: float,
        post_only: bool,
        dead_man_s: float,
        taker_slippage: float,
        clock_ns: Callable[[], int] = time.time_ns,
        on_tracked: Callable[[TrackedOrder], None] | None = None,
    ) -> None:
        if venue.asset is None:
            raise ValueError("the venue must be started (meta read) before an OrderManager is built")
        self.venue = venue
        self.asset = venue.asset
        self.grid = venue.grid
        self.max_position = max_position
        self.max_batch_size = max_batch_size
        self.tol_bps = tol_bps
        self.size_tol = size_tol
        self.min_notional = min_notional
        self.tif = "Alo" if post_only else "Gtc"
        self.dead_man_s = dead_man_s
        self.taker_slippage = taker_slippage
        self.clock_ns = clock_ns
        self.on_tracked = on_tracked
        self.orders: dict[str, TrackedOrder] = {}  # every order we know, newest finished ones included
        self._live: dict[str, TrackedOrder] = {}  # the subset that is not finished (the hot loops use it)
        # finished orders, oldest first: the newest KEEP_FINISHED stay known (late fills and updates
        # still find them), older ones are forgotten one by one as new ones finish
        self._finished: deque[str] = deque()
        self.by_oid: dict[int, str] = {}
        self.position = 0.0
        self.dead_man_available = True
        self.dead_man_armed_until_ms = 0
        self.needs_reconcile = True
        self.unknown_cancelled = 0
        self.reconciles = 0
        self.rejects: dict[str, int] = {}
        self._seen_tids = RecentIds()
        self._lock = asyncio.Lock()
        self._cloid_prefix = os.urandom(8).hex()
        self._cloid_seq = 0
        self._rows = api.new_orders()
        self._row_orders: list[TrackedOrder] = []  # the order behind each used row of ``_rows``
        self._commands = new_commands()
        self._ladder = api.new_quotes()
        self._work = od.new_work()
        self._budget_warned = False
        self.gate = TradingGate()
        # Called inside every reconcile, after the position is read: fetches the fills whose pushes never came
        # (lost while the socket was down, or dropped) over REST and hands them to the loop; returns the
        # position after the newest one, or None (the quote loop sets it; see QuoteLoop.recover_fills).
        self.recover_fills: Callable[[float], Awaitable[float | None]] | None = None

    @classmethod
    def from_config(cls, venue: OrderVenue, config: Config, mid: float | None = None, *,
                    instrument: Instrument | None = None, **overrides: Any) -> OrderManager:
        """Every setting from ``execution`` / ``trading`` / ``risk`` / ``backtest`` (the same values the
        backtester reads); ``overrides`` replace single keyword arguments (tests, benches).

        The USD exposure cap becomes base units at ``mid`` (or pass ``max_position``). The cap in base
        units drifts as the price moves: the engine should refresh ``max_position``
        (``risk.max_net_exposure / mid``) as it goes; a smaller cap only ever trims new orders.
        """
        e = config.execution
        settings: dict[str, Any] = {
            "max_batch_size": e.max_batch_size,
            "tol_bps": config.trading.quote_tolerance_bps,
            "size_tol": e.size_tolerance,
            "min_notional": (instrument or Instrument.from_config(config)).min_notional,
            "post_only": e.post_only,
            "dead_man_s": e.dead_man_switch_s,
            "taker_slippage": e.taker_slippage,
        }
        if "max_position" not in overrides:
            if mid is None or not mid > 0:
                raise ValueError("OrderManager.from_config: a positive mid (or max_position) is needed for the cap")
            settings["max_position"] = config.risk.max_net_exposure / mid
        settings.update(overrides)
        return cls(venue, **settings)

    # ---- identity ---------------------------------------------------------------------------------

    def new_cloid(self) -> str:
        """128-bit client order ids: a random per-process prefix + a sequence number (never reused)."""
        self._cloid_seq += 1
        return f"0x{self._cloid_prefix}{self._cloid_seq:016x}"

    def live_orders(self) -> list[TrackedOrder]:
        return list(self._live.values())

    def _forget_oldest_finished(self) -> None:
        """Forget finished orders beyond the newest KEEP_FINISHED, a constant amount of work per order.

        (A batch sweep of the whole table once it passed a size cost a requote about a millisecond
        every few dozen requotes: the tick-to-order p99.)
        """
        while len(self._finished) > KEEP_FINISHED:
            cloid = self._finished.popleft()
            t = self.orders.get(cloid)
            if t is None or t.live:  # already forgotten (finished twice), or revived by a late update
                continue
            del self.orders[cloid]
            if t.oid is not None and self.by_oid.get(t.oid) == cloid:
                del self.by_oid[t.oid]

    def exposure(self, side: int) -> float:
        """Size on ``side`` that could still fill: every live order, including those being cancelled."""
        return self.exposures()[0 if side > 0 else 1]

    def exposures(self) -> tuple[float, float]:
        """(bids, asks) :meth:`exposure` of both sides, in one pass over the live orders."""
        bids = asks = 0.0
        for o in self._live.values():
            rem = o.sz - o.filled  # TrackedOrder.remaining, inline: this runs on every order tick
            if rem > 0.0:
                if o.side > 0:
                    bids += rem
                else:
                    asks += rem
        return bids, asks

    # ---- planning (synchronous, the hot path) ---------------------------------------------------------

    def _fill_rows(self) -> tuple[float, float, bool]:
        """Our resting orders that are not being cancelled into the kernel's ``orders`` array, in one pass.

        Returns the size that could still fill on each side (bids, asks: every live order, including
        those being cancelled and an unanswered IOC) and whether a reduce-only IOC is unanswered
        (it is not a resting order, so it is no row).
        """
        rows = self._rows
        cap = rows.shape[0]
        now = self.clock_ns()
        keep: list[TrackedOrder] = []
        flat: list[float] = []
        bid_exposure = ask_exposure = 0.0
        ioc_in_flight = False
        for o in self._live.values():
            rem = o.sz - o.filled
            if rem < 0.0:
                rem = 0.0
            if o.side > 0:
                bid_exposure += rem
            else:
                ask_exposure += rem
            if o.ioc:
                ioc_in_flight = True
            elif not o.cancel_sent and len(keep) < cap:
                keep.append(o)
                flat += (o.side, o.px, rem, (now - o.created_ns) / 1e9)  # O_SIDE, O_PX, O_SZ, O_AGE_S
        k, used = len(keep), len(self._row_orders)
        if used > k:
            rows[k:used] = 0.0
        if k:
            rows[:k, : api.O_AGE_S + 1] = np.array(flat).reshape(k, 4)
        self._row_orders = keep
        return bid_exposure, ask_exposure, ioc_in_flight

    def _taker(self, side: int, size: float, book: np.ndarray | None) -> OrderSpec | None:
        """The reduce-only IOC of a take command, crossing the touch by ``taker_slippage``."""
        if book is None:
            return None
        touch = book[api.B_ASK_PX, 0] if side > 0 else book[api.B_BID_PX, 0]
        sz = self.grid.size(size)
        if not (touch > 0 and sz > 0):
            return None
        px = self.grid.price(touch * (1 + side * self.taker_slippage), up=side > 0)
        return OrderSpec(self.asset.asset, side > 0, px, sz, "Ioc", True, self.new_cloid())

    def plan(self, quotes: np.ndarray, ctrl: np.ndarray, book: np.ndarray | None = None, *,
             timer: int = api.TIMER_QUOTE, kill_latched: bool = False) -> Plan:
        """Turn the strategy's answer to one timer into a :class:`Plan` (nothing is sent).

        What to do is :func:`amm500.core.intent.intent_commands`' decision, the backtester's own rule
        book; this only maps its commands onto Hyperliquid: cancels to our orders' cloids, places
        (paired with cancels into modifies, cut to the position limit), a take to a reduce-only IOC
        priced off ``book`` (api layout). ``kill_latched``: the kill switch fired on an earlier timer.
        """
        ladder, n_bids, n_asks = self._ladder, 0, 0
        if timer == api.TIMER_QUOTE and not (kill_latched or ctrl[api.C_KILLED]):  # else no ladder is acted on
            n_want = [max(0, min(int(ctrl[k]), quotes.shape[1])) for k in (api.C_N_BIDS, api.C_N_ASKS)]
            n_bids, n_asks = self.grid.ladder(quotes, n_want[0], n_want[1], self.min_notional, ladder)
        bid_exposure, ask_exposure, ioc_in_flight = self._fill_rows()
        n = intent_commands(timer, kill_latched, ioc_in_flight, self.position, ctrl, ladder, n_bids, n_asks,
                            self._rows, self.tol_bps, self.size_tol, self._commands, self._work)
        bid_cancels: list[TrackedOrder] = []
        ask_cancels: list[TrackedOrder] = []
        bid_places: list[tuple[float, float]] = []
        ask_places: list[tuple[float, float]] = []
        rows = self._row_orders
        taker: OrderSpec | None = None
        for kind, row, side, px, sz in self._commands[:n].tolist():
            if kind == od.ACT_CANCEL:
                t = rows[int(row)]
                (bid_cancels if t.side > 0 else ask_cancels).append(t)
            elif kind == ACT_TAKE:
                taker = self._taker(int(side), sz, book)
            else:
                (bid_places if side > 0 else ask_places).append((px, sz))
        plan = Plan(kept=len(rows) - len(bid_cancels) - len(ask_cancels), taker=taker)
        self._plan_side(1, bid_cancels, bid_places, plan, bid_exposure)
        self._plan_side(-1, ask_cancels, ask_places, plan, ask_exposure)
        if self.gate.state is not TradingState.ACTIVE:
            self._pull_for_state(plan)
        return plan

    def _pull_for_state(self, plan: Plan) -> None:
        """Outside ACTIVE, orders already resting must go too, not only new ones be held back: HALTED
        cancels every one; REDUCING keeps, best price first, only what shrinks the position and no more
        than the position (so a fill can never flip or grow it)."""
        leaving = set(plan.cancels) | {old for old, _ in plan.modifies}
        live = [o for o in self._live.values() if not o.cancel_sent and not o.ioc and o.cloid not in leaving]
        if self.gate.state is TradingState.HALTED:
            plan.cancels.extend(o.cloid for o in live)
            plan.kept = 0
            return
        reducing = 1 if self.position < 0 else -1 if self.position > 0 else 0
        room = abs(self.position)
        n = len(plan.cancels)
        for o in sorted(live, key=lambda o: -o.side * o.px):  # best price first on each side
            if o.side == reducing and o.remaining <= room + _EPS:
                room -= o.remaining
            else:
                plan.cancels.append(o.cloid)
        plan.kept = max(0, plan.kept - (len(plan.cancels) - n))

    def _plan_side(
        self, side: int, cancels: list[TrackedOrder], places: list[tuple[float, float]], plan: Plan, exposure: float
    ) -> None:
        """Pair this side's cancels with its placements into modifies (best levels first), under the limit."""
        n_mod = min(len(cancels), len(places))
        # Room under the position limit. Plain cancels are awaited before anything new is sent (and
        # :meth:`execute` re-checks after they answer), so their size is freed here; the old leg of a
        # modify is not: it can fill before the exchange applies the modify.
        freed = sum(t.remaining for t in cancels[n_mod:])
        room = self.max_position - side * self.position - exposure + freed
        asset, is_buy, tif, min_notional = self.asset.asset, side > 0, self.tif, self.min_notional
        for k, (px, sz) in enumerate(places):
            if 0 < sz <= room + _EPS and sz * px >= min_notional:  # fits whole: _fit's answer, without the call
                spec = OrderSpec(asset, is_buy, px, sz, tif, False, self.new_cloid())
            else:
                fitted = self._fit(side, px, sz, room)
                if fitted is None:
                    plan.trimmed += sz
                    if k < n_mod:
                        plan.cancels.append(cancels[k].cloid)
                    continue
                spec = fitted
                plan.trimmed += sz - spec.sz
            room -= spec.sz
            if k < n_mod:
                plan.modifies.append((cancels[k].cloid, spec))
            else:
                plan.places.append(spec)
        plan.cancels.extend(t.cloid for t in cancels[n_mod:])

    def _fit(self, side: int, px: float, sz: float, room: float) -> OrderSpec | None:
        """An order of at most ``room`` size (on the lot grid, above the minimum notional), or None."""
        take = sz if sz <= room + _EPS else self.grid.size(max(0.0, room))
        if take <= 0 or take * px < self.min_notional:
            return None
        return OrderSpec(self.asset.asset, side > 0, px, take, self.tif, False, self.new_cloid())

    def _refit(self, plan: Plan) -> Plan:
        """After the cancels answered: the plan's modifies/new orders cut to the room that is really left.

        An order that still fits whole goes out as planned (same spec, same cloid); only the ones
        the room no longer takes are cut (or, for a modify, turned into a plain cancel). The
        returned plan holds only those (its ``cancels`` are modifies turned into cancels).
        """
        out = Plan(kept=plan.kept, trimmed=plan.trimmed)
        bids, asks = self.exposures()
        room = {1: self.max_position - self.position - bids, -1: self.max_position + self.position - asks}

        def refit(spec: OrderSpec) -> OrderSpec | None:
            side = 1 if spec.is_buy else -1
            if not (spec.sz <= room[side] + _EPS and spec.sz * spec.px >= self.min_notional):
                fitted = self._fit(side, spec.px, spec.sz, room[side])
                if fitted is None:
                    return None
                spec = fitted
            room[side] -= spec.sz
            return spec

        for old, spec in plan.modifies:
            fitted = refit(spec)
            if fitted is None:
                out.cancels.append(old)
            else:
                out.modifies.append((old, fitted))
        out.places.extend(f for f in map(refit, plan.places) if f is not None)
        return out

    def requests(self, plan: Plan) -> list[Request]:
        """The plan as venue requests, each at most ``max_batch_size`` items (cancels first)."""
        out: list[Request] = []
        b = self.max_batch_size
        for i in range(0, len(plan.cancels), b):
            chunk = plan.cancels[i : i + b]
            out.append(Request("cancel", chunk, chunk))
        if plan.taker is not None:
            out.append(Request("order", [plan.taker], [plan.taker.cloid or ""]))
        for i in range(0, len(plan.modifies), b):
            mods = plan.modifies[i : i + b]
            out.append(Request("modify", mods, [old for old, _ in mods]))
        for i in range(0, len(plan.places), b):
            specs = plan.places[i : i + b]
            out.append(Request("order", specs, [s.cloid or "" for s in specs]))
        return out

    # ---- execution ------------------------------------------------------------------------------------

    def _track(self, spec: OrderSpec) -> TrackedOrder:
        assert spec.cloid is not None
        t = TrackedOrder(spec.cloid, 1 if spec.is_buy else -1, spec.px, spec.sz, created_ns=self.clock_ns(),
                         ioc=spec.tif == "Ioc")
        self.orders[spec.cloid] = t
        self._live[spec.cloid] = t
        if self.on_tracked is not None:
            self.on_tracked(t)
        return t

    def _set_state(self, t: TrackedOrder, state: OrderState, error: str | None = None) -> None:
        t.state = state
        if state in TERMINAL:
            if self._live.pop(t.cloid, None) is not None:
                self._finished.append(t.cloid)
                if len(self._finished) > KEEP_FINISHED:
                    self._forget_oldest_finished()
        else:
            self._live[t.cloid] = t
        if error is not None:
            t.error = error
            key = error.split(" asset=")[0][:60]
            self.rejects[key] = self.rejects.get(key, 0) + 1
        if self.on_tracked is not None:
            self.on_tracked(t)

    def _apply_place_status(self, t: TrackedOrder, st: OrderStatus) -> None:
        if st.kind == "resting" and st.oid is not None:
            t.oid = st.oid
            self.by_oid[st.oid] = t.cloid
            if t.state is OrderState.PENDING:
                self._set_state(t, OrderState.RESTING)
        elif st.kind == "filled" and st.oid is not None:
            t.oid = st.oid
            self.by_oid[st.oid] = t.cloid
            # the fill itself (size, position) arrives on the userFills stream
            if st.total_sz + _EPS < t.sz and t.state is OrderState.PENDING:
                self._set_state(t, OrderState.PARTIAL)
        elif st.kind == "error":
            self._set_state(t, OrderState.REJECTED, st.error)
        elif st.kind == "waiting" and t.state is OrderState.PENDING:
            self._set_state(t, OrderState.RESTING)

    async def _send(self, req: Request) -> None:
        n = len(req.cloids)
        try:
            statuses = await self.venue.send(req.kind, req.items)
        except ThrottledError as exc:
            log.warning("%s batch of %d refused by the rate limit: %s", req.kind, n, exc)
            self._undo(req, str(exc))
            return
        except TransientError as exc:
            # Outcome unknown (timeout, unreadable answer) or refused as a whole: reconcile from the exchange.
            # (A FatalError, a configuration problem nothing will survive, goes up to the loop.)
            log.warning("%s batch of %d failed (%s): reconciling", req.kind, n, exc)
            self.needs_reconcile = True
            if isinstance(exc, RefusedError):
                self._undo(req, str(exc))
            return
        if req.kind == "cancel":
            for cloid, st in zip(req.cloids, statuses, strict=True):
                t = self.orders.get(cloid)
                if t is None:
                    continue
                if st.kind == "success":
                    self._set_state(t, OrderState.CANCELLED)
                else:  # already filled or cancelled: keep counting its exposure until an update or reconcile
                    self.needs_reconcile = True
        elif req.kind == "order":
            for cloid, st in zip(req.cloids, statuses, strict=True):
                self._apply_place_status(self.orders[cloid], st)
        else:  # modify: the old leg is gone on success; the new leg is a new order
            for (old, spec), st in zip(req.items, statuses, strict=True):
                new = self.orders[spec.cloid or ""]
                old_t = self.orders.get(old)
                if st.kind == "error":
                    self._set_state(new, OrderState.REJECTED, st.error)
                    if old_t is not None and old_t.live:
                        # Refused before the old leg was touched (a post-only-only window, a rate limit): it still
                        # rests, so it is one of our quotes again. Refused because it is gone: ask the exchange.
                        # (If the exchange cancelled it anyway, its order update says so.) A reconcile per refusal
                        # would spend ~42 IP weight each: a window of refusals ran the budget dry.
                        old_t.cancel_sent = False
                        if _LEG_GONE.search(st.error or ""):
                            self.needs_reconcile = True
                    continue
                if old_t is not None and old_t.live:
                    self._set_state(old_t, OrderState.CANCELLED)
                self._apply_place_status(new, st)

    def _undo(self, req: Request, error: str) -> None:
        """The request was refused as a whole: new orders were not placed, cancels did not happen."""
        if req.kind == "cancel":
            for cloid in req.cloids:
                t = self.orders.get(cloid)
                if t is not None and t.live:
                    t.cancel_sent = False
            return
        if req.kind == "modify":
            for old, spec in req.items:
                t = self.orders.get(old)
                if t is not None and t.live:
                    t.cancel_sent = False
                self._set_state(self.orders[spec.cloid or ""], OrderState.REJECTED, error)
            return
        for cloid in req.cloids:
            self._set_state(self.orders[cloid], OrderState.REJECTED, error)

    async def execute(self, plan: Plan) -> Plan:
        """Send a plan: cancels first (awaited, to free margin and room), then modifies and new orders.

        Only what the trading state lets through is sent (:class:`~amm500.live.trading_state.TradingGate`:
        cancels always pass); returns the plan as it went out (before the room re-check after the cancels).
        """
        if plan.empty:
            return plan
        async with self._lock:
            plan = self.gate.filter(plan, self.position, self.exposures())
            budget = self.venue_budget()
            if budget is not None and budget.remaining < len(plan.modifies) + len(plan.places):
                if not self._budget_warned:
                    log.warning("address request budget nearly spent (%d left): only cancelling", budget.remaining)
                    self._budget_warned = True
                plan = Plan(cancels=plan.cancels + [old for old, _ in plan.modifies], taker=plan.taker)
            if plan.cancels:
                for c in plan.cancels:
                    self.orders[c].cancel_sent = True
                await self._send_all(self.requests(Plan(cancels=plan.cancels)))
            if plan.taker is not None:  # reduce-only: it can only shrink the position, so no limit check
                self._track(plan.taker)
                await self._send(self.requests(Plan(taker=plan.taker))[0])
            second = self._refit(plan)
            for c in second.cancels:  # modifies that no longer fit: just cancel the old leg
                self.orders[c].cancel_sent = True
            for old, spec in second.modifies:
                self.orders[old].cancel_sent = True
                self._track(spec)
            for spec in second.places:
                self._track(spec)
            await self._send_all(self.requests(second))
            return plan

    async def _send_all(self, reqs: list[Request]) -> None:
        """Requests concurrently; a lone one (the usual requote) is awaited directly, so it is signed and
        on the wire in this turn of the event loop instead of after a task switch."""
        if len(reqs) == 1:
            await self._send(reqs[0])
        elif reqs:
            await asyncio.gather(*(self._send(r) for r in reqs))

    def venue_budget(self) -> Any:
        return getattr(self.venue, "address_budget", None)

    async def requote(self, quotes: np.ndarray, ctrl: np.ndarray, book: np.ndarray | None = None) -> Plan:
        """Plan and send one quote timer's answer."""
        return await self.execute(self.plan(quotes, ctrl, book))

    async def flatten(self, book: np.ndarray) -> None:
        """Close the whole position with one reduce-only IOC (a person's flatten, a stop that asks for it)."""
        if self.position == 0.0:
            return
        taker = self._taker(-1 if self.position > 0 else 1, abs(self.position), book)
        if taker is not None:
            await self.execute(Plan(taker=taker))

    async def cancel_all(self) -> None:
        await self.execute(Plan(cancels=[o.cloid for o in self.live_orders() if not o.cancel_sent]))

    # ---- exchange events ------------------------------------------------------------------------------

    def _find(self, oid: int, cloid: str | None) -> TrackedOrder | None:
        key = cloid if cloid is not None and cloid in self.orders else self.by_oid.get(oid)
        return self.orders.get(key) if key is not None else None

    def on_order_updates(self, updates: list[OrderUpdate]) -> None:
        for u in updates:
            o = u.order
            t = self._find(o.oid, o.cloid)
            if t is None:
                if _terminal_from_status(u.status) is None:
                    log.warning("order update for an order we did not place (oid %d): will cancel it", o.oid)
                    self.needs_reconcile = True
                continue
            if t.oid is None:
                t.oid = o.oid
                self.by_oid[o.oid] = t.cloid
            final = _terminal_from_status(u.status)
            if final is not None:
                if final is OrderState.FILLED:
                    t.filled = t.sz
                self._set_state(t, final, u.status if final is OrderState.REJECTED else None)
            elif t.state is OrderState.PENDING or not t.live:
                # (an order we had written off, e.g. after a lost answer, is resting after all: revive it)
                self._set_state(t, OrderState.PARTIAL if o.sz + _EPS < o.orig_sz else OrderState.RESTING)

    def on_fills(self, fills: list[Fill], is_snapshot: bool = False, *, in_position: bool = False) -> None:
        """Position and per-order filled size from the fill stream (a snapshot only seeds the dedupe set).

        ``in_position``: fills found by a reconcile, already counted in the position it read from the exchange:
        only the orders' filled sizes are updated (and a late push of the same fill is then a duplicate)."""
        for f in fills:
            if not self._seen_tids.add(f.tid):
                continue
            if is_snapshot or f.coin != self.asset.name:
                continue
            if not in_position:
                self.position += f.side * f.sz
            t = self._find(f.oid, f.cloid)
            if t is None:
                continue
            t.filled = min(t.sz, t.filled + f.sz)
            if t.remaining <= _EPS:
                self._set_state(t, OrderState.FILLED)
            elif t.live:
                self._set_state(t, OrderState.PARTIAL)

    def on_user_event(self, event: UserEvent) -> None:
        for _coin, oid in event.non_user_cancels:
            t = self._find(oid, None)
            if t is not None and t.live:
                self._set_state(t, OrderState.CANCELLED)
        if event.liquidation:
            log.error("liquidation event received: reconciling position")
            self.needs_reconcile = True

    def attach(self, handlers: Any) -> None:
        """Route a venue's pushed events (``Handlers`` of the Hyperliquid client) into this manager."""
        handlers.on_order_updates = self.on_order_updates
        handlers.on_fills = self.on_fills
        handlers.on_user_event = self.on_user_event
        handlers.on_reconnect = self.reconcile

    # ---- reconciliation ----------------------------------------------------------------------------

    async def reconcile(self) -> int:
        """Adopt the exchange's open orders and position; cancel open orders we do not know. Returns that count."""
        async with self._lock:
            self.reconciles += 1
            opens = await self.venue.open_orders()
            pos = await self.venue.position()
            self.position = pos.szi
            if self.recover_fills is not None:
                after = await self.recover_fills(pos.szi)
                if after is not None and abs(after - self.position) > _EPS:
                    # a fill landed between the two reads: the fills, read second, are the newer truth
                    log.info("position %.6f after the newest fill (read %.6f): adopting it", after, self.position)
                    self.position = after
            seen: set[str] = set()
            unknown: list[OpenOrder] = []
            for o in opens:
                t = self._find(o.oid, o.cloid)
                if t is None:
                    unknown.append(o)
                    continue
                seen.add(t.cloid)
                t.cancel_sent = False  # no cancel is in flight under the lock: one sent earlier did not happen
                t.oid = o.oid
                self.by_oid[o.oid] = t.cloid
                t.filled = max(0.0, t.sz - o.sz)
                if t.state is OrderState.PENDING or not t.live:
                    self._set_state(t, OrderState.PARTIAL if t.filled > _EPS else OrderState.RESTING)
            for t in self.live_orders():
                if t.cloid not in seen:
                    self._set_state(t, OrderState.CANCELLED)  # not open any more; fills come by stream
            self.needs_reconcile = False
            if unknown:
                log.warning("cancelling %d open order(s) this process did not place", len(unknown))
                for i in range(0, len(unknown), self.max_batch_size):
                    chunk = unknown[i : i + self.max_batch_size]
                    try:
                        await self.venue.send("cancel_oids", [o.oid for o in chunk])
                    except TransientError as exc:
                        log.warning("cancelling unknown orders failed (%s): will retry", exc)
                        self.needs_reconcile = True
                self.unknown_cancelled += len(unknown)
            return len(unknown)

    # ---- dead-man's switch and budgets ------------------------------------------------------------

    async def arm_dead_man(self) -> bool:
        """(Re-)arm ``scheduleCancel`` at now + dead_man_s; False (logged once) when the exchange refuses."""
        if not self.dead_man_available:
            return False
        when = self.clock_ns() // 1_000_000 + int(self.dead_man_s * 1000)
        try:
            st = await self.venue.schedule_cancel(when)
        except TransientError as exc:
            log.warning("arming the dead-man's switch failed (%s): will retry", exc)
            return False
        if st.kind == "error":
            text = st.error or ""
            if "volume" in text.lower() or "too many" in text.lower():
                self.dead_man_available = False
                log.warning(
                    "dead-man's switch unavailable: the exchange says %r. Relying on the supervisor's kill switch.",
                    text,
                )
            else:
                log.warning("scheduleCancel refused: %s", text)
            return False
        self.dead_man_armed_until_ms = when
        return True

    async def disarm_dead_man(self) -> None:
        if self.dead_man_available and self.dead_man_armed_until_ms:
            with contextlib.suppress(TransientError):
                await self.venue.schedule_cancel(None)
            self.dead_man_armed_until_ms = 0

    async def check_position(self) -> bool:
        """Read the exchange's position (weight 2); a difference from ours flags a reconcile. True if it did.

        A fill whose pushes were lost while the socket stayed up would otherwise leave the position wrong (and
        the limit checks with it) until something else made the bot reconcile."""
        pos = await self.venue.position()
        if abs(pos.szi - self.position) > _EPS and not self.needs_reconcile:
            log.warning("the exchange's position %.6f differs from ours %.6f: reconciling", pos.szi, self.position)
            self.needs_reconcile = True
            return True
        return False

    async def maintain(self, rate_limit_every_s: float = 60.0) -> None:
        """Forever: re-arm the dead-man's switch, refresh the address budget, check the position every
        POSITION_CHECK_S, reconcile when flagged."""
        last_rl = last_arm = 0.0
        while True:
            now = time.monotonic()
            if now - last_rl >= rate_limit_every_s:
                with contextlib.suppress(TransientError):
                    await self.venue.refresh_rate_limit()
                    last_rl = now
            with contextlib.suppress(TransientError):
                await self.check_position()
            if self.needs_reconcile:
                with contextlib.suppress(TransientError):
                    await self.reconcile()
            if now - last_arm >= max(0.5, min(self.dead_man_s / 3, 5.0)) - 1e-3:
                last_arm = now
                await self.arm_dead_man()
            await asyncio.sleep(POSITION_CHECK_S)
