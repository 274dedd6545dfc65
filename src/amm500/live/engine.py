"""The trading engine: the quote loop plus everything that makes it safe to leave alone.

:class:`~amm500.live.quote_loop.QuoteLoop` already runs the strategy's timers against a venue with
the backtester's rule book. The engine adds, around it and never inside a tick:

* **start-up safety**: before the first quote it takes the state folder's lock (one bot per account
  and mode), asks the venue for every fill since the last journalled one (a crash loses none),
  cancels every open order it did not place and adopts the exchange's position (the loop's
  ``create`` reconciles), and refuses to quote while anything is unreconciled (a trading state);
* **the journal** (:mod:`amm500.store.journal`): orders and every state change, fills, equity once a
  second, trading-state transitions and risk events, written by a thread;
* **a heartbeat** file and **metrics** on a loopback endpoint, with ``/state`` and an authenticated
  ``/control`` (docs/engine.md);
* **the request budget** read from the venue once a minute (:meth:`OrderManager.maintain`), the
  dead-man's switch re-armed there as a heartbeat where the venue allows it;
* **a clean stop** on Ctrl-C or SIGTERM: quoting stops, every order is cancelled, the position is
  flattened when ``execution.flatten_on_stop`` says so, the exchange is reconciled and the journal
  closed; the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import logging
import math
import os
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import generate_latest

from amm500.config import Config
from amm500.core import api
from amm500.core.files import OutputError
from amm500.live.order_manager import OrderState, TrackedOrder
from amm500.live.quote_loop import KILL_REASONS, LoopStats, QuoteLoop
from amm500.live.trading_state import TradingState, Transition
from amm500.obs.heartbeat import Heartbeat, write_heartbeat
from amm500.obs.metrics import EngineMetrics
from amm500.store import state_dir as sd
from amm500.store.journal import Identity, Journal, JournalError, last_fill_ms
from amm500.venues import LiveVenue
from amm500.venues.errors import TransientError
from amm500.venues.model import Fill

log = logging.getLogger(__name__)

EXIT_OK, EXIT_BUG, EXIT_REFUSED, EXIT_VENUE, EXIT_KILLED = 0, 1, 2, 3, 4
CONTROL_COMMANDS = ("reduce", "resume", "cancel_all", "flatten")
_OPERATOR = "operator"


@dataclass
class EngineResult:
    stats: LoopStats
    exit_code: int
    journal: Path
    missed_fills_recovered: int


class Engine:
    """One coin on one venue, journalled. Build with :meth:`start` (an async context manager)."""

    HEARTBEAT_S = 1.0
    FUNDING_POLL_S = 60.0  # Hyperliquid settles hourly; a minute's delay in the journal is harmless

    def __init__(self, venue: LiveVenue, config: Config, identity: Identity, state_dir: Path, *,
                 metrics_port: int | None = 0) -> None:
        self.venue = venue
        self.config = config
        self.identity = identity
        self.dir = state_dir
        self.metrics_port = metrics_port
        self.metrics = EngineMetrics()
        self.journal = Journal(state_dir / sd.JOURNAL, identity)
        self.loop: QuoteLoop | None = None
        self.started = time.time()
        self.recovered = 0
        self.url: str | None = None
        self.token = ""
        self._lock_fd: int | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopping = False
        self._funding_ms = int(self.started * 1000)
        self._next_funding_poll = 0.0

    # ---- assembly ---------------------------------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, venue: LiveVenue, config: Config, identity: Identity, state_dir: Path, *,
                    metrics_port: int | None = 0) -> Any:
        """Lock, journal, venue, missed fills, loop (reconciled), endpoint, heartbeat; undone in reverse."""
        engine = cls(venue, config, identity, state_dir, metrics_port=metrics_port)
        engine._lock_fd = sd.acquire_lock(state_dir / sd.BOT_LOCK)  # sd.LockHeld: a second bot refuses
        try:
            _check_journal_present(state_dir)
            try:
                since = last_fill_ms(state_dir / sd.JOURNAL)
            except JournalError as exc:  # the reader's words, and what to do about it
                raise JournalError(f"{exc}; move it aside to start anew") from None
            engine.journal.open(json.dumps(config.masked_dict(), sort_keys=True), importlib.metadata.version("amm500"),
                                os.getpid())
            try:
                try:
                    await venue.start()
                    await engine._assemble(since)
                    yield engine
                finally:
                    await engine._teardown()
                    await venue.close()
            finally:
                stopped_by = engine.loop.stats.stopped_by if engine.loop else "error"
                engine.journal.close(stopped_by)
        finally:
            os.close(engine._lock_fd)

    async def _assemble(self, since_ms: int) -> None:
        v = self.venue
        for _ in range(100):  # a venue just connected may not have pushed its first book yet
            if v.book[api.B_BID_PX, 0] > 0 and v.book[api.B_ASK_PX, 0] > 0:
                break
            await asyncio.sleep(0.1)
        with contextlib.suppress(TransientError):  # the budget is known before the first requote
            await v.refresh_rate_limit()
        self.loop = loop = await QuoteLoop.create(v, self.config)
        om = loop.om
        om.on_tracked = self._on_tracked
        om.gate.on_transition = self._on_transition
        loop.fill_hooks.append(self._on_loop_fill)
        # Every fill since the last journalled one, asked for only now that each new fill is journalled as it
        # arrives: whatever came before this point (while the bot was down, or while it was starting) is in
        # the answer, whatever comes after is pushed; both land once (the journal keys fills by trade id).
        missed = await v.fills_since(since_ms) if since_ms else []
        for f in missed:
            self._journal_fill(f, math.nan)
        loop.mark_seen(missed)  # journalled here: the loop's own REST recovery must not count them again
        self.recovered = len(missed)
        if missed:
            log.info("asked the venue for %d fill(s) since the last journalled one", len(missed))
        self.metrics.position_limit.set(om.max_position)
        await self._serve()
        self._beat()
        self._tasks = [asyncio.create_task(self._heartbeat_task(), name="heartbeat"),
                       asyncio.create_task(om.maintain(), name="maintain")]

    async def _teardown(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        if self.loop is not None:
            with contextlib.suppress(Exception):
                await self.loop.om.disarm_dead_man()
            with contextlib.suppress(Exception):
                await self._journal_fundings()
            self._snapshot()
        self._beat(state="STOPPED")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- the journal's and the metrics' hooks (synchronous, cheap: they only enqueue) --------------------

    def _on_tracked(self, t: TrackedOrder) -> None:
        now = time.time_ns()
        if t.state is OrderState.PENDING:  # just tracked: sent now
            tif = "Ioc" if t.ioc else (self.loop.om.tif if self.loop is not None else "Alo")
            self.journal.record_order(t.cloid, t.created_ns, t.side, t.px, t.sz, tif, t.ioc)
            return
        self.journal.record_order_status(now, t.cloid, t.oid, t.state.name.lower(), detail=t.error)

    def _on_transition(self, tr: Transition) -> None:
        self.journal.record_transition(tr.ts_ns, tr.old.name, tr.new.name, tr.reasons)
        self.metrics.set_state(tr.new.name)
        self.metrics.transitions.labels(tr.new.name).inc()

    def _journal_fill(self, f: Fill, mid: float) -> None:
        self.journal.record_fill(f.tid, f.time_ms, f.oid, f.cloid, f.side, f.px, f.sz, f.fee, f.crossed,
                                 f.start_position, mid if mid > 0 else None)

    def _on_loop_fill(self, f: Fill) -> None:
        assert self.loop is not None
        self._journal_fill(f, float(self.loop.strategy.view[api.V_MID]))
        self.metrics.fills.labels("taker" if f.crossed else "maker").inc()
        self.metrics.volume.inc(f.px * f.sz)
        if f.fee > 0:  # a Counter only grows: rebates show in the journal's fee column
            self.metrics.fees.inc(f.fee)

    # ---- once a second ----------------------------------------------------------------------------------

    def _snapshot(self) -> None:
        """Equity and position into the journal (once a second, and at stop) and the metrics."""
        loop = self.loop
        assert loop is not None
        v, st = loop.strategy.view, loop.stats
        mid = float(v[api.V_MID])
        if mid > 0:
            self.journal.record_equity(time.time_ns(), loop.equity(mid), loop.om.position, mid, loop.cash,
                                       abs(loop.om.position) * mid / self.config.trading.leverage,
                                       st.spread_bps if st.quoting_timers else None,
                                       st.regime if st.quoting_timers else None)
        self._refresh_metrics()

    def _refresh_metrics(self) -> None:
        """The gauges from the loop's current state (each /metrics scrape, and once a second)."""
        loop = self.loop
        assert loop is not None
        v, st = loop.strategy.view, loop.stats
        mid = float(v[api.V_MID])
        if not mid > 0:
            return
        equity = loop.equity(mid)
        m = self.metrics
        m.equity.set(equity)
        m.pnl.set(equity - st.start_equity)
        m.position.set(loop.om.position)
        m.position_limit.set(loop.om.max_position)
        m.mid.set(mid)
        if math.isfinite(st.spread_bps):
            m.spread_bps.set(st.spread_bps)
        m.regime.set(st.regime)
        m.maker_ratio.set(st.maker_ratio if st.fills else math.nan)
        m.open_orders.set(len(loop.om.live_orders()))
        budget = loop.om.venue_budget()
        if budget is not None:
            m.budget_left.set(budget.remaining)
        age = _feed_age_s(v)
        m.feed_age.set(math.nan if age is None else age)
        m.journal_rows.set(self.journal.written)
        m.killed.set(1.0 if st.killed else 0.0)

    async def _journal_fundings(self) -> None:
        for f in await self.venue.fundings_since(self._funding_ms):
            self.journal.record_funding(f.time_ms, f.rate, f.paid, f.szi)  # keyed by time: once each
            self._funding_ms = max(self._funding_ms, f.time_ms + 1)

    def _beat(self, state: str | None = None) -> None:
        loop = self.loop
        gate = loop.om.gate if loop else None
        v = loop.strategy.view if loop else None
        mid = float(v[api.V_MID]) if v is not None else math.nan
        hb = Heartbeat(
            pid=os.getpid(), ts=time.time(), started=self.started, mode=self.identity.mode,
            network=self.identity.network, account=self.identity.account,
            state=state or ("STOPPING" if self._stopping else (gate.state.name if gate else "STARTING")),
            reasons=sorted(gate.reasons) if gate else [],
            equity=loop.equity(mid) if loop and mid > 0 else None, position=loop.om.position if loop else None,
            mid=mid if mid > 0 else None,
            feed_age_s=_feed_age_s(v) if v is not None else None,
            fills=loop.stats.fills if loop else 0, metrics_url=self.url)
        with contextlib.suppress(OSError, OutputError):  # a missed beat is the supervisor's to notice
            write_heartbeat(self.dir / sd.HEARTBEAT, hb)

    async def _heartbeat_task(self) -> None:
        while True:
            await asyncio.sleep(self.HEARTBEAT_S)
            self._snapshot()
            self._beat()
            pay = getattr(self.venue, "maybe_pay_funding", None)  # the paper venue settles funding itself
            if pay is not None:
                pay()
            if time.monotonic() >= self._next_funding_poll:
                self._next_funding_poll = time.monotonic() + self.FUNDING_POLL_S
                with contextlib.suppress(TransientError):
                    await self._journal_fundings()
            if self.journal.failed is not None and self.loop is not None:
                self.loop.om.gate.raise_reason("journal write failed", TradingState.HALTED)

    # ---- the endpoint: /metrics, /state, /control (loopback only) -----------------------------------------

    async def _serve(self) -> None:
        if self.metrics_port is None:
            return
        self.token = secrets.token_hex(16)
        token_path = self.dir / sd.CONTROL_TOKEN
        fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.token)
        app = web.Application()
        app.router.add_get("/metrics", self._http_metrics)
        app.router.add_get("/state", self._http_state)
        app.router.add_post("/control", self._http_control)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.metrics_port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def _http_metrics(self, _req: web.Request) -> web.Response:
        self._refresh_metrics()  # a scrape reads the state; it writes no journal row
        body = generate_latest(self.metrics.registry) + generate_latest(self.venue.latency.registry)
        return web.Response(body=body, content_type="text/plain", charset="utf-8")

    def state(self) -> dict[str, Any]:
        """The engine's live state as plain data (the dashboard's and tests' view)."""
        loop = self.loop
        assert loop is not None
        v, st = loop.strategy.view, loop.stats
        mid = float(v[api.V_MID])
        lat: Any = self.venue.latency
        return {
            "mode": self.identity.mode, "network": self.identity.network, "account": self.identity.account,
            "state": loop.om.gate.state.name, "reasons": sorted(loop.om.gate.reasons),
            "killed": st.killed, "kill_reason": KILL_REASONS.get(st.kill_reason, "?") if st.killed else None,
            "mid": mid if mid > 0 else None, "best_bid": float(v[api.V_BEST_BID]), "best_ask": float(v[api.V_BEST_ASK]),
            "position": loop.om.position, "max_position": loop.om.max_position,
            "equity": loop.equity(mid) if mid > 0 else None, "start_equity": st.start_equity,
            "orders": [{"cloid": o.cloid, "oid": o.oid, "side": o.side, "px": o.px, "sz": o.sz, "filled": o.filled,
                        "state": o.state.name} for o in loop.om.live_orders()],
            "stats": {k: val for k, val in asdict(st).items() if k != "timers"} | {"maker_ratio": st.maker_ratio},
            "latency_ms": {name: {k: (x * 1e3 if k != "count" else x) for k, x in q.items()}
                           for name, q in lat.summary().items()},
            "budget_left": getattr(loop.om.venue_budget(), "remaining", None),
            "feed_age_s": _feed_age_s(v),
            "recovered_fills": self.recovered,
        }

    async def _http_state(self, _req: web.Request) -> web.Response:
        return web.Response(text=json.dumps(finite(self.state())), content_type="application/json")

    async def _http_control(self, req: web.Request) -> web.Response:
        shown = req.headers.get("Authorization", "").encode("utf-8", "surrogatepass")  # bytes: any header compares
        if not secrets.compare_digest(shown, f"Bearer {self.token}".encode()):
            return web.json_response({"error": "unauthorized"}, status=401)
        try:
            body = json.loads(await req.read())  # not req.json(): it trusts the charset the request names
            command = body["command"]
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "body must be JSON {\"command\": ...}"}, status=400)
        if command not in CONTROL_COMMANDS:
            return web.json_response({"error": f"command must be one of {', '.join(CONTROL_COMMANDS)}"}, status=400)
        await self.control(command)
        return web.json_response({"ok": True, "state": self.loop.om.gate.state.name if self.loop else None})

    async def control(self, command: str) -> None:
        """A person's command: stop quoting (REDUCING) and its release, cancel everything, flatten."""
        loop = self.loop
        assert loop is not None
        om = loop.om
        self.journal.record_risk_event(time.time_ns(), "control", command)
        log.warning("control command: %s", command)
        if command == "reduce":
            om.gate.raise_reason(_OPERATOR, TradingState.REDUCING)
        elif command == "resume":
            om.gate.clear(_OPERATOR)
        elif command == "cancel_all":
            await om.cancel_all()
        elif command == "flatten":
            om.gate.raise_reason(_OPERATOR, TradingState.REDUCING)
            await om.cancel_all()
            await self.flatten()

    async def flatten(self) -> None:
        """One reduce-only IOC for the whole position at the configured slippage."""
        assert self.loop is not None
        await self.loop.om.flatten(self.loop.client.book)

    # ---- the run --------------------------------------------------------------------------------------

    async def run(self, seconds: float = math.inf, progress: Callable[[float], None] | None = None, *,
                  flatten_at_end: bool = False) -> EngineResult:
        """Trade until ``seconds`` pass, the kill switch has flattened, SIGINT/SIGTERM, or a fatal error.

        The position is closed at the end when ``flatten_at_end`` (a rehearsal ends flat) or, on a signal,
        when ``execution.flatten_on_stop`` says so."""
        loop = self.loop
        assert loop is not None
        task = asyncio.current_task()
        aio = asyncio.get_running_loop()

        def _stop(signame: str) -> None:
            if not self._stopping:
                log.warning("%s: stopping (cancelling every order%s)", signame,
                            ", flattening" if self.config.execution.flatten_on_stop else "")
                self._stopping = True
                if task is not None:
                    task.cancel()

        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                aio.add_signal_handler(sig, _stop, sig.name)
                installed.append(sig)
        code = EXIT_OK
        try:
            try:
                await loop.run(seconds, progress)
            except asyncio.CancelledError:
                if not self._stopping:
                    raise
                if task is not None:
                    task.uncancel()
            if flatten_at_end or (self._stopping and self.config.execution.flatten_on_stop):
                await self.flatten()
                await asyncio.sleep(0.3)
                await loop.shutdown(loop.stats.seconds)
            if loop.stats.killed:
                code = EXIT_KILLED
                self.journal.record_risk_event(time.time_ns(), "kill_switch",
                                               KILL_REASONS.get(loop.stats.kill_reason, "?"))
        finally:
            for sig in installed:
                aio.remove_signal_handler(sig)
        if self._stopping:
            loop.stats.stopped_by = "signal"
        return EngineResult(loop.stats, code, self.journal.path, self.recovered)


def _check_journal_present(state_dir: Path) -> None:
    """A folder a bot has run in (its heartbeat is there) but whose journal is gone: refuse, never start afresh.

    A new journal would not know the last journalled fill, so the fills made while the bot was down would
    never be asked for, and the supervisor's loss counts would restart from nothing."""
    if not (state_dir / sd.JOURNAL).exists() and (state_dir / sd.HEARTBEAT).exists():
        raise JournalError(f"{state_dir / sd.JOURNAL}: missing, but a bot has run in {state_dir} before "
                           f"({sd.HEARTBEAT} is there): restore the journal, or move the folder aside to start anew")


def _feed_age_s(view: Any) -> float | None:
    """The newest book's age in seconds; None before any book (the view says 1e12 ms then)."""
    age_ms = float(view[api.V_BOOK_AGE_MS])
    return age_ms / 1e3 if age_ms < 1e11 else None


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value
