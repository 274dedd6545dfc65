"""QuoteLoop: the strategy's timers driven against a live venue (the local exchange, testnet, mainnet).

The loop owns the clock and the glue between three pieces that know nothing of each other:
:class:`~amm500.venues.LiveVenue` (the Hyperliquid client or the paper venue: book, fills, orders),
:class:`~amm500.strategy.mm.MarketMakingStrategy` (the same jitted kernels the backtester runs) and
:class:`~amm500.live.order_manager.OrderManager` (ladder -> fewest actions, limits, reconcile).

Timers fire at their ``Config`` intervals (``execution.quote_refresh_interval``,
``execution.rebalance_interval``, ``trading.spread_recalc_interval``); when several are due at once
they run in the backtester's order (spread, rebalance, quote). Before each call the view is filled
from the client's book and a fill ledger (cash moved by every fill and its fee, so equity is exact
between the account refreshes done on the spread timer). What each timer then sends is decided by
the rule book the backtester runs (:func:`amm500.core.intent.intent_commands`, through
:meth:`OrderManager.plan`): the ladder on quote timers only, a cancel-all or a reduce-only IOC on any
timer. Once the kill switch has latched nothing is quoted again, whatever still rests is cancelled,
the flatten is retried once per rebalance timer, and the loop ends as soon as it is flat with
nothing resting. On exit, whatever the reason (time, kill, Ctrl-C), every order is cancelled and the
order manager reconciles against the exchange. A :class:`~amm500.venues.errors.TransientError`
from a timer makes the order manager reconcile; a :class:`~amm500.venues.errors.FatalError` ends
the run (after the same clean shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from amm500.config import Config
from amm500.core import api
from amm500.core.instrument import Instrument
from amm500.live.gc_pacer import GcPacer
from amm500.live.order_manager import OrderManager, Plan
from amm500.live.recent_ids import RecentIds
from amm500.live.trading_state import TradingState
from amm500.strategy.mm import MarketMakingStrategy
from amm500.venues import LiveVenue
from amm500.venues.errors import FatalError, TransientError
from amm500.venues.hyperliquid import messages as m
from amm500.venues.hyperliquid.errors import HyperliquidError

log = logging.getLogger(__name__)

KILL_REASONS = {0: "none", 1: "drawdown", 2: "consecutive losses", 3: "session loss"}
_EPS = 1e-12


@dataclass
class LoopStats:
    """What a run did, counted where it happened (plans sent, fills received, the exchange's own answers)."""

    placed: int = 0  # new orders sent (ladder and reduce-only IOCs)
    modified: int = 0  # batchModify entries sent
    cancelled: int = 0  # cancels sent
    rejected: int = 0  # orders the exchange refused (post-only crossing, margin, rate limit, ...)
    fills: int = 0
    maker_fills: int = 0
    volume_usd: float = 0.0
    fees: float = 0.0  # paid, USD (negative: rebates)
    timers: dict[int, int] = field(default_factory=lambda: {api.TIMER_QUOTE: 0, api.TIMER_REBALANCE: 0,
                                                            api.TIMER_SPREAD: 0})
    quoting_timers: int = 0  # quote timers on which the strategy wanted at least one level
    spread_bps: float = math.nan  # full spread of the last ladder the strategy quoted
    regime: int = -1  # its volatility band then (0 ultra-low .. 4 extreme)
    start_equity: float = math.nan
    end_equity: float = math.nan  # the exchange's account value after the final reconcile
    position: float = 0.0  # the exchange's position after the final reconcile
    max_abs_position: float = 0.0
    killed: bool = False
    kill_reason: int = 0
    resting_at_end: int = -1  # open orders the exchange still held after the final cancel (-1: unknown)
    seconds: float = 0.0
    stopped_by: str = "time"  # time | kill switch | cancelled | error

    @property
    def maker_ratio(self) -> float:
        return self.maker_fills / self.fills if self.fills else math.nan

    @property
    def pnl(self) -> float:
        return self.end_equity - self.start_equity


class QuoteLoop:
    """One strategy on one coin through one client. Build with :meth:`create` after ``client.start()``."""

    def __init__(self, client: LiveVenue, strategy: MarketMakingStrategy, orders: OrderManager,
                 config: Config, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.client = client
        self.strategy = strategy
        self.om = orders
        self.config = config
        self.clock_ns = clock_ns
        self.stats = LoopStats()
        self.cash = math.nan  # account value minus position x mark: equity = cash + position x mid
        self.entry_px = 0.0
        self.funding_rate = 0.0
        self.pos_open_ns = 0
        self._seen_tids = RecentIds()
        self._last_mid = math.nan
        self._budget_slow_warned = False
        self.vol_predictor: Any = None  # signals.ml.predictor.VolatilityPredictor when --vol-model is given
        self.fill_hooks: list[Callable[[m.Fill], None]] = []  # each fresh fill of our coin (the journal)
        self._tape = np.zeros(4)  # since the last timer: highest buy px, lowest sell px, buy size, sell size
        self.recover_since_ms = clock_ns() // 1_000_000  # fills before this were the engine's start-up recovery
        self.recovered_fills = 0  # fills found by REST after their pushes were lost
        client.handlers.on_fills = self.on_fills
        client.handlers.on_trades = self.on_trades
        orders.recover_fills = self.recover_fills

    @classmethod
    async def create(cls, client: LiveVenue, config: Config, **kwargs: Any) -> QuoteLoop:
        """Strategy and order manager from ``config``; leverage set on the venue; orders reconciled."""
        if client.asset is None:
            raise ValueError("start the client (meta, book, subscriptions) before building a QuoteLoop")
        mid = _mid(client.book)
        if not mid > 0:
            raise HyperliquidError(f"{client.coin}: the exchange's book is empty, nothing to quote around")
        instrument = Instrument.from_config(config).with_venue(
            sz_decimals=client.asset.sz_decimals, max_leverage=client.asset.max_leverage)
        instrument.check_leverage(config.trading.leverage)  # the venue's maximum, not the config's guess
        om = OrderManager.from_config(client, config, mid, instrument=instrument)
        om.attach(client.handlers)
        strategy = MarketMakingStrategy.from_config(config)
        warm_up(client, strategy.params, config)
        loop = cls(client, strategy, om, config, **kwargs)
        st = await client.set_leverage(config.trading.leverage)
        if st.kind == "error":
            raise HyperliquidError(f"trading.leverage = {config.trading.leverage}: refused by the exchange: {st.error}")
        await om.reconcile()
        await loop.refresh_account()
        loop.stats.start_equity = loop.equity(mid)
        loop.strategy.view[api.V_START_EQUITY] = loop.stats.start_equity
        return loop

    # ---- account -------------------------------------------------------------------------------------

    def equity(self, mid: float) -> float:
        return self.cash + self.om.position * mid

    async def refresh_account(self) -> None:
        """Account value, entry price, mark and funding from the exchange; the fill ledger carries on from there.

        The exchange values the position at its mark, so the ledger's cash is account value - position x mark.
        """
        funding, mark = await self.client.asset_context()
        if math.isfinite(funding):
            self.funding_rate = funding
        pos = await self.client.position()
        if not mark > 0:
            mark = _mid(self.client.book)
        self.cash = pos.account_value - pos.szi * (mark if mark > 0 else pos.entry_px)
        self.entry_px = pos.entry_px

    def on_fills(self, fills: list[m.Fill], is_snapshot: bool = False) -> None:
        """Fill stream -> order manager (position, order states), the ledger, and the strategy's risk state.

        A snapshot (sent on every (re)subscribe) is history: it only seeds the order manager's dedupe set. The
        fills in it this loop never processed (their pushes were lost while the socket was down) are found by
        :meth:`recover_fills`, which the reconcile after every reconnect runs."""
        self.om.on_fills(fills, is_snapshot)
        if is_snapshot:
            return
        self._process([f for f in fills if self._seen_tids.add(f.tid)])

    def mark_seen(self, fills: list[m.Fill]) -> None:
        """Fills already journalled elsewhere (the engine's start-up recovery): never processed again."""
        for f in fills:
            self._seen_tids.add(f.tid)

    async def recover_fills(self, position: float) -> float | None:
        """Every fill of ours since the loop started that this loop has not processed, from REST (run inside each
        reconcile, after ``position`` was read): processed as if pushed, except that the position already holds
        them. Returns the position after the newest fill when there is one (None otherwise)."""
        fills = await self.client.fills_since(self.recover_since_ms)
        missed = [f for f in fills if f.coin == self.client.coin and f.tid not in self._seen_tids]
        if missed:
            log.warning("%d fill(s) whose pushes never arrived found over REST: journalled now", len(missed))
            missed.sort(key=lambda f: (f.time_ms, f.tid))
            self.recovered_fills += len(missed)
            self.om.on_fills(missed, in_position=True)
            self._process([f for f in missed if self._seen_tids.add(f.tid)])
        if not fills:
            return None
        newest = max(fills, key=lambda f: (f.time_ms, f.tid))
        self.recover_since_ms = max(self.recover_since_ms, newest.time_ms - 60_000)  # a minute's overlap: cheap
        return newest.start_position + newest.side * newest.sz

    def _process(self, fresh: list[m.Fill]) -> None:
        """New fills of ours: the ledger, the stats, the strategy's risk state and the fill hooks (the journal)."""
        for f in fresh:
            if f.coin != self.client.coin:
                continue
            start = f.start_position
            end = start + f.side * f.sz
            self.cash -= f.side * f.px * f.sz + f.fee
            if abs(end) < _EPS:
                self.entry_px = 0.0
            elif start == 0.0 or (start > 0) != (end > 0):  # opened or flipped
                self.entry_px = f.px
                self.pos_open_ns = f.time_ms * 1_000_000
            elif abs(end) > abs(start):  # added: volume-weighted entry
                self.entry_px = (abs(start) * self.entry_px + f.sz * f.px) / abs(end)
            if start == 0.0:
                self.pos_open_ns = f.time_ms * 1_000_000
            st = self.stats
            st.fills += 1
            st.maker_fills += 0 if f.crossed else 1
            st.volume_usd += f.px * f.sz
            st.fees += f.fee
            st.max_abs_position = max(st.max_abs_position, abs(end))
            self.strategy.on_fill(f.time_ms * 1_000_000, f.side, f.px, f.sz, not f.crossed, f.fee)
            for hook in self.fill_hooks:
                hook(f)

    def on_trades(self, trades: list[m.Trade]) -> None:
        """The market's prints, gathered for the strategy's view until the next timer (as the backtester does)."""
        tape = self._tape
        for t in trades:
            if t.coin != self.client.coin:
                continue
            if t.side > 0:
                tape[2] += t.sz
                tape[0] = max(tape[0], t.px)
            else:
                tape[3] += t.sz
                tape[1] = t.px if tape[1] <= 0.0 else min(tape[1], t.px)

    # ---- one timer -------------------------------------------------------------------------------

    def fill_view(self, now_ns: int) -> None:
        """The strategy's view, book and resting orders, in the :mod:`amm500.core.api` layout."""
        s, book = self.strategy, self.client.book
        v = s.view
        bid, ask = float(book[api.B_BID_PX, 0]), float(book[api.B_ASK_PX, 0])
        mid = 0.5 * (bid + ask) if bid > 0 and ask > bid else self._last_mid
        self._last_mid = mid
        pos = self.om.position
        v[api.V_BEST_BID], v[api.V_BEST_ASK], v[api.V_MID] = bid, ask, mid
        v[api.V_POSITION] = pos
        v[api.V_AVG_ENTRY] = self.entry_px if pos != 0.0 else 0.0
        v[api.V_EQUITY] = self.equity(mid)
        v[api.V_FUNDING_RATE] = self.funding_rate
        book_ms = self.client.book_time_ms
        v[api.V_BOOK_AGE_MS] = now_ns / 1e6 - book_ms if book_ms > 0 else 1e12
        v[api.V_POSITION_AGE_S] = (now_ns - self.pos_open_ns) / 1e9 if pos != 0.0 and self.pos_open_ns else 0.0
        v[api.V_MARGIN_USED] = abs(pos) * mid / self.config.trading.leverage
        v[api.V_TRADE_BUY_PX], v[api.V_TRADE_SELL_PX], v[api.V_TRADE_BUY_SZ], v[api.V_TRADE_SELL_SZ] = self._tape
        v[api.V_TRADES_KNOWN] = 1.0
        if self.vol_predictor is not None and mid > 0:  # the LSTM's forecast, updated from every tick we see
            spread = (ask - bid) / mid * 1e4 if ask > bid > 0 else math.nan
            v[api.V_EXT_VOL] = self.vol_predictor.update(now_ns, mid, spread)
        s.book[:] = book
        rows = s.orders
        rows[:] = 0.0
        live = self.om.live_orders()
        n = 0
        for o in live:
            if o.cancel_sent or n >= rows.shape[0]:
                continue
            rows[n, api.O_SIDE], rows[n, api.O_PX], rows[n, api.O_SZ] = o.side, o.px, o.remaining
            rows[n, api.O_AGE_S] = (now_ns - o.created_ns) / 1e9
            n += 1
        v[api.V_OPEN_ORDERS] = len(live)
        if mid > 0:  # the USD exposure cap in base units follows the price
            self.om.max_position = self.config.risk.max_net_exposure / mid

    async def on_timer(self, timer: int) -> Plan:
        """Fill the view, run the strategy, send what the shared rule book makes of its answer; returns the plan."""
        t0 = time.perf_counter_ns()
        now = self.clock_ns()
        if timer == api.TIMER_SPREAD:
            with contextlib.suppress(TransientError):
                await self.refresh_account()
            now = self.clock_ns()
        self.fill_view(now)
        s, ctrl = self.strategy, self.strategy.ctrl
        self.check_state()
        latched = self.stats.killed  # fired on an earlier timer: the commands no longer read ctrl
        s.on_timer(now, timer)
        self._tape[:] = 0.0  # the tape the strategy was just shown starts again from here
        self.stats.timers[timer] += 1
        if ctrl[api.C_KILLED] and not latched:
            self.stats.killed, self.stats.kill_reason = True, int(ctrl[api.C_KILL_REASON])
            self.om.gate.raise_reason("kill switch", TradingState.REDUCING)
            log.warning("kill switch (%s): cancelling all, flattening, no more quotes",
                        KILL_REASONS.get(self.stats.kill_reason, "?"))
        elif timer == api.TIMER_QUOTE and not latched and ctrl[api.C_QUOTING]:
            self.stats.quoting_timers += 1
            self.stats.spread_bps, self.stats.regime = float(ctrl[api.C_SPREAD_BPS]), int(ctrl[api.C_REGIME])
        plan = self.om.plan(s.quotes, ctrl, s.book, timer=timer, kill_latched=latched)
        if plan.empty:
            return plan
        self.client.mark_tick(t0)  # tick-to-order: timer fired -> first signed request at the transport
        plan = await self.om.execute(plan)
        self.stats.placed += len(plan.places) + (plan.taker is not None)
        self.stats.modified += len(plan.modifies)
        self.stats.cancelled += len(plan.cancels)
        return plan

    def check_state(self) -> None:
        """Raise or clear the trading-state reasons this loop watches, from the view just filled."""
        v, gate = self.strategy.view, self.om.gate
        gate.set("stale feed", TradingState.HALTED, v[api.V_BOOK_AGE_MS] > self.config.risk.stale_data_ms)
        gate.set("unreconciled", TradingState.HALTED, self.om.needs_reconcile)
        budget = self.om.venue_budget()
        gate.set("request budget spent", TradingState.HALTED, budget is not None and budget.remaining <= 0)
        equity = v[api.V_EQUITY]
        gate.set("margin", TradingState.REDUCING,
                 equity > 0 and v[api.V_MARGIN_USED] > self.config.risk.max_margin_ratio * equity)

    # ---- the run -----------------------------------------------------------------------------------

    def budget_stretch(self) -> float:
        """How much to space requotes out so the address request budget lasts: 1 while more than
        ``execution.request_budget_low`` requests are left, then low/left (at most 60x), so the bot slows
        down long before the exchange would throttle it to one request per 10 s. Warned once."""
        budget = self.om.venue_budget()
        low = self.config.execution.request_budget_low
        if budget is None or low <= 0 or budget.remaining > low:
            return 1.0
        if not self._budget_slow_warned:
            self._budget_slow_warned = True
            log.warning("address request budget low (%d of %d left): spacing requotes out; trading volume "
                        "(1 request per USDC) or a quieter ladder frees it", budget.remaining, budget.cap)
        return min(60.0, low / max(budget.remaining, 1))

    def _done_after_kill(self) -> bool:
        return self.stats.killed and abs(self.om.position) < _EPS and not self.om.live_orders()

    async def run(self, seconds: float, progress: Callable[[float], None] | None = None) -> LoopStats:
        """Drive the timers for ``seconds`` (or until the kill switch has flattened), then shut down cleanly."""
        ex = self.config.execution
        intervals = {api.TIMER_SPREAD: self.config.trading.spread_recalc_interval,
                     api.TIMER_REBALANCE: ex.rebalance_interval, api.TIMER_QUOTE: ex.quote_refresh_interval}
        clock = asyncio.get_running_loop().time
        start = clock()
        due = dict.fromkeys(intervals, start)  # every timer once at start: vol, risk, then the first ladder
        self.stats.stopped_by = "error"  # until the loop says otherwise
        with GcPacer() as pacer:  # cyclic GC between timers, never inside one
            try:
                while clock() - start < seconds and not self._done_after_kill():
                    now = clock()
                    intervals[api.TIMER_QUOTE] = ex.quote_refresh_interval * self.budget_stretch()
                    for timer in (api.TIMER_SPREAD, api.TIMER_REBALANCE, api.TIMER_QUOTE):
                        if due[timer] <= now:
                            due[timer] = max(due[timer] + intervals[timer], now)  # never a burst of late timers
                            try:
                                await self.on_timer(timer)
                            except TransientError as exc:
                                log.warning("timer %d failed (%s): reconciling", timer, exc)
                                self.om.needs_reconcile = True
                            except FatalError as exc:
                                self.om.gate.raise_reason(f"venue error: {exc}", TradingState.HALTED)
                                raise
                    if self.om.needs_reconcile:
                        with contextlib.suppress(TransientError):
                            await self.om.reconcile()
                    if progress is not None:
                        progress(min(clock() - start, seconds))
                    pacer.idle()
                    await asyncio.sleep(max(0.0, min(due.values()) - clock()))
                self.stats.stopped_by = "kill switch" if self.stats.killed else "time"
            except asyncio.CancelledError:
                self.stats.stopped_by = "cancelled"
                raise
            finally:  # whatever ended the run (time, kill, Ctrl-C, an error), nothing is left resting
                await self.shutdown(clock() - start)
        return self.stats

    async def shutdown(self, seconds: float = 0.0) -> None:
        """Cancel everything, reconcile, and read the final account and open orders from the exchange."""
        st = self.stats
        st.seconds = seconds
        n_live = len([o for o in self.om.live_orders() if not o.cancel_sent])
        await self.om.cancel_all()
        st.cancelled += n_live
        await asyncio.sleep(0.2)  # let the last order updates and fills arrive on the socket
        await self.om.reconcile()
        if self.om.live_orders():  # something was still resting: once more
            await self.om.cancel_all()
            await self.om.reconcile()
        st.resting_at_end = len(await self.client.open_orders())
        pos = await self.client.position()
        st.position, st.end_equity = pos.szi, pos.account_value
        st.rejected = sum(self.om.rejects.values())


def warm_up(client: LiveVenue, params: np.ndarray, config: Config) -> None:
    """Load (or, after an upgrade, compile) the jitted kernels — strategy, ladder rounding and diff — on
    throwaway copies, so the first real tick is not held up for seconds while the event loop compiles."""
    spare = MarketMakingStrategy(params.copy())
    spare.on_timer(0, api.TIMER_QUOTE)
    spare.on_fill(0, 1, 1.0, 0.0, True, 0.0)
    OrderManager.from_config(client, config, max_position=0.0).plan(spare.quotes, spare.ctrl, spare.book)


def _mid(book: Any) -> float:
    bid, ask = float(book[api.B_BID_PX, 0]), float(book[api.B_ASK_PX, 0])
    return 0.5 * (bid + ask) if bid > 0 and ask > bid else math.nan
