"""``run_backtest``: the Python side of a backtest (setup, day streaming, buffers, timing, metrics).

Per-event work happens in :func:`amm500.backtest.loop.run_segment`; this module only prepares the
arrays, feeds it one memory-mapped day at a time (carrying the events the strategy has not seen yet
across the day boundary), grows the fill / record logs when the kernel asks, and measures.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from amm500.backtest.market import Market, load_market
from amm500.config import Config, ConfigError, load_config
from amm500.core import api
from amm500.core.exchange_model import ExchangeModel
from amm500.core.files import compile_notice, kernels_cached
from amm500.core.instrument import Instrument
from amm500.core.intent import new_commands
from amm500.core.jit import compile_for
from amm500.core.order_diff import new_work
from amm500.core.params import build_params
from amm500.core.request_budget import IP_WEIGHT_PER_MIN
from amm500.data.schema import BOOK_LEVEL, NS_PER_MS, NS_PER_S, TRADE, DataError, Events
from amm500.sim import latency_model
from amm500.sim.book import N_LEVELS, new_books
from amm500.sim.core import exchange_cfg
from amm500.sim.layout import (
    A_CASH,
    A_EXT_VOL,
    A_L_CASH,
    A_MAXBID,
    A_MINASK,
    A_PEAK,
    A_SIZE,
    A_START_EQUITY,
    CF_BUDGET_ON,
    CF_CANCEL_LAT,
    CF_FEED_LAT,
    CF_INITIAL_EQUITY,
    CF_IP_LIMIT,
    CF_MK0,
    CF_ORDER_LAT,
    CF_POST_ONLY,
    CF_QUOTE_INT,
    CF_REB_INT,
    CF_REC_INT,
    CF_SIZE_TOL,
    CF_SPREAD_INT,
    CF_START_VOLUME,
    CF_TAKER_SLIPPAGE,
    CF_TIMER_ANCHOR,
    CF_TIMER_OFFSET,
    CF_TOL_BPS,
    F_SIZE,
    I_BASE,
    I_EVENTS,
    I_FIRST_TS,
    I_IE,
    I_IL,
    I_NEXT_OID,
    I_NEXT_REC,
    I_NFILLS,
    I_NREC,
    I_REQ_USED,
    I_SIZE,
    OD_SIZE,
    R_SIZE,
    RING,
    RQ_SIZE,
    RS_SIZE,
    ST_SIZE,
    TIMER_ANCHORS,
)
from amm500.strategy.kernel import entry_points, new_state

ProgressFn = Callable[[int, int], None]


@dataclass
class BacktestResult:
    """What a run produced: ``metrics`` (JSON-ready) plus the arrays the report plots."""

    metrics: dict[str, Any]
    config: Config
    fill_model: str
    fills_ts: np.ndarray = field(repr=False)
    fills: np.ndarray = field(repr=False)  # columns: amm500.sim.layout.F_*
    rec_ts: np.ndarray = field(repr=False)
    rec: np.ndarray = field(repr=False)  # columns: layout.R_*
    stats: np.ndarray = field(repr=False)
    acct: np.ndarray = field(repr=False)
    ist: np.ndarray = field(repr=False)
    timing: dict[str, float] = field(default_factory=dict)
    sstate: np.ndarray | None = field(default=None, repr=False)  # the strategy's state at the end (reports)


class KernelState:
    """Every array the kernel carries; built once per run."""

    def __init__(self, config: Config, base: int, first_ts: int, vol_forecast: tuple[np.ndarray, np.ndarray] | None):
        b = config.backtest
        self.lv, self.bi = new_books()
        self.oc = np.zeros((2, N_LEVELS), dtype=np.int32)
        self.od = np.zeros((api.MAX_ORDERS, OD_SIZE))
        self.rq_ts = np.zeros(RING, dtype=np.int64)
        self.rq = np.zeros((RING, RQ_SIZE))
        self.rs_ts = np.zeros(RING, dtype=np.int64)
        self.rs = np.zeros((RING, RS_SIZE))
        self.ist = np.zeros(I_SIZE, dtype=np.int64)
        self.acct = np.zeros(A_SIZE)
        self.st = np.zeros(ST_SIZE)
        self.cfg = build_cfg(config)
        self.view = api.new_view()
        self.book = api.new_book()
        self.orders = api.new_orders()
        self.params = build_params(config)
        self.strategy = entry_points(self.params)  # only the configured strategy is compiled
        self.sstate = new_state()
        self.quotes = api.new_quotes()
        self.ctrl = api.new_ctrl()
        self.actions = new_commands()
        self.work = new_work()
        if vol_forecast is None:
            self.vol_ts = np.zeros(0, dtype=np.int64)
            self.vol_val = np.zeros(0)
        else:
            self.vol_ts, self.vol_val = vol_forecast
        self.fills_ts: np.ndarray = np.zeros(1 << 15, dtype=np.int64)
        self.fills: np.ndarray = np.zeros((1 << 15, F_SIZE))
        self.rec_ts: np.ndarray = np.zeros(1 << 12, dtype=np.int64)
        self.rec: np.ndarray = np.zeros((1 << 12, R_SIZE))
        self.ist[I_BASE] = base
        self.ist[I_NEXT_OID] = 1
        self.ist[I_NEXT_REC] = first_ts
        self.ist[I_FIRST_TS] = first_ts
        self.ist[I_REQ_USED] = b.account_requests_used
        eq = b.initial_equity
        self.acct[A_CASH] = eq
        self.acct[A_L_CASH] = eq
        self.acct[A_START_EQUITY] = eq
        self.acct[A_PEAK] = eq
        self.acct[A_MAXBID] = -np.inf
        self.acct[A_MINASK] = np.inf
        self.acct[A_EXT_VOL] = np.nan

    def grow(self) -> None:
        nf = self.ist[I_NFILLS]
        if nf + 8192 > self.fills_ts.shape[0]:
            cap = self.fills_ts.shape[0] * 2
            self.fills_ts = np.concatenate([self.fills_ts, np.zeros(cap - self.fills_ts.shape[0], dtype=np.int64)])
            self.fills = np.concatenate([self.fills, np.zeros((cap - self.fills.shape[0], F_SIZE))])
        if self.ist[I_NREC] + 16 > self.rec_ts.shape[0]:
            cap = self.rec_ts.shape[0] * 2
            self.rec_ts = np.concatenate([self.rec_ts, np.zeros(cap - self.rec_ts.shape[0], dtype=np.int64)])
            self.rec = np.concatenate([self.rec, np.zeros((cap - self.rec.shape[0], R_SIZE))])

    def _args(self, day: Events, lead: Events, t_stop: int) -> tuple[Any, ...]:
        return (
            day.ts, day.local_ts, day.kind, day.side, day.px, day.sz,
            lead.ts, lead.local_ts, lead.kind, lead.side, lead.px, lead.sz,
            t_stop, self.lv, self.bi, self.oc, self.od, self.rq_ts, self.rq, self.rs_ts, self.rs, self.ist,
            self.acct, self.st, self.cfg, self.view, self.book, self.orders, self.params, self.sstate,
            self.quotes, self.ctrl, self.actions, self.work, self.vol_ts, self.vol_val, self.fills_ts,
            self.fills, self.rec_ts, self.rec, self.strategy,
        )

    def run(self, day: Events, lead: Events, t_stop: int) -> None:
        from amm500.backtest.loop import STATUS_BUFFER_FULL, run_segment

        day = _readonly(day)  # one array type (memory maps are read-only) -> one compiled signature
        while True:
            status = run_segment(*self._args(day, lead, t_stop))
            if status != STATUS_BUFFER_FULL:
                return
            self.grow()

    def compile_loop(self) -> None:
        """Compile (or load) the loop alone, for the argument types :meth:`run` passes: the strategy is
        a function pointer, compiled when a call first passes it (or by another process)."""
        from amm500.backtest.loop import run_segment

        compile_for(run_segment, self._args(_readonly(Events.empty()), Events.empty(), 0))


def _readonly(ev: Events) -> Events:
    cols = []
    for col in ev:
        if col.flags.writeable:
            col = col.view()
            col.flags.writeable = False
        cols.append(col)
    return Events(*cols)


def build_cfg(config: Config) -> np.ndarray:
    b, e, t = config.backtest, config.execution, config.trading
    if len(b.markout_horizons_s) != 3:
        raise ConfigError(f"backtest.markout_horizons_s: exactly 3 horizons are supported (got {b.markout_horizons_s})")
    cfg = exchange_cfg(ExchangeModel.from_config(config), Instrument.from_config(config))
    cfg[CF_ORDER_LAT] = b.order_latency_ms * NS_PER_MS
    cfg[CF_CANCEL_LAT] = b.cancel_latency_ms * NS_PER_MS
    cfg[CF_FEED_LAT] = b.feed_latency_ms * NS_PER_MS
    cfg[CF_QUOTE_INT] = round(e.quote_refresh_interval * NS_PER_S)
    cfg[CF_REB_INT] = round(e.rebalance_interval * NS_PER_S)
    cfg[CF_SPREAD_INT] = round(t.spread_recalc_interval * NS_PER_S)
    cfg[CF_REC_INT] = round(b.record_interval_s * NS_PER_S)
    for k, h in enumerate(b.markout_horizons_s):
        cfg[CF_MK0 + k] = h * NS_PER_S
    cfg[CF_INITIAL_EQUITY] = b.initial_equity
    cfg[CF_TOL_BPS] = t.quote_tolerance_bps
    cfg[CF_SIZE_TOL] = e.size_tolerance
    cfg[CF_POST_ONLY] = 1.0 if e.post_only else 0.0
    cfg[CF_TAKER_SLIPPAGE] = e.taker_slippage
    cfg[CF_TIMER_ANCHOR] = TIMER_ANCHORS[b.timer_anchor]
    cfg[CF_TIMER_OFFSET] = round(b.timer_offset_ms * NS_PER_MS)
    cfg[CF_BUDGET_ON] = 1.0 if b.request_budget else 0.0
    cfg[CF_START_VOLUME] = b.account_traded_volume_usd
    cfg[CF_IP_LIMIT] = IP_WEIGHT_PER_MIN
    return cfg


def check_can_trade(config: Config, price: float) -> None:
    """Refuse a config whose orders could never be accepted, with the numbers that say why."""
    t, b, ins = config.trading, config.backtest, Instrument.from_config(config)
    per_order = b.initial_equity * t.leverage * t.order_size_fraction
    if per_order < ins.min_notional:
        raise ConfigError(
            f"trading.order_size_fraction: {t.order_size_fraction} x backtest.initial_equity {b.initial_equity:g}"
            f" x trading.leverage {t.leverage} = ${per_order:.2f} per order, below the ${ins.min_notional:g}"
            " minimum order value (backtest.min_order_value); raise the size fraction, equity or leverage")
    lot = ins.lot
    if price > 0 and math.floor(per_order / price / lot + 1e-9) < 1:
        raise ConfigError(f"trading.order_size_fraction: ${per_order:.2f} per order is below one lot ({lot:g} BTC"
                          f" at ${price:,.0f})")


def _first_price(ev: Events) -> float:
    mask = (ev.kind == BOOK_LEVEL) | (ev.kind == TRADE)
    idx = np.flatnonzero(mask[: min(len(ev), 100_000)])
    if idx.size == 0:
        raise DataError("no book or trade event in the first 100,000 rows of the first day: nothing to price")
    return float(ev.px[idx[0]])


def _check_vol_forecast(vol_forecast: Any) -> tuple[np.ndarray, np.ndarray] | None:
    if vol_forecast is None:
        return None
    if isinstance(vol_forecast, tuple) and len(vol_forecast) == 2:
        vts, vv = vol_forecast
    elif hasattr(vol_forecast, "ts") and hasattr(vol_forecast, "vol"):
        vts, vv = vol_forecast.ts, vol_forecast.vol
    else:
        raise DataError("vol_forecast: expected (ts_ns, annualized_vol) arrays or an object with .ts and .vol")
    vts = np.ascontiguousarray(vts, dtype=np.int64)
    vv = np.ascontiguousarray(vv, dtype=np.float64)
    if vts.shape != vv.shape or vts.ndim != 1:
        raise DataError(f"vol_forecast: ts and vol must be 1-D and the same length (got {vts.shape}, {vv.shape})")
    if vts.size and np.any(np.diff(vts) < 0):
        raise DataError("vol_forecast: timestamps must be sorted")
    return vts, vv


def _lead_after(day: Events, lead: Events, il: int) -> Events:
    """Events the strategy has not seen yet (local cursor ``il`` over lead + day), copied off the mmap."""
    n0 = len(lead)
    parts = []
    if il < n0:
        parts.append(lead.take(slice(il, None)))
    parts.append(day.take(slice(max(il - n0, 0), None)))
    return Events.concat(parts)


_COMPILE_S: dict[str, float] = {}  # trading.strategy -> seconds
#: The backtest kernel's cold compile on a 2-core machine (the loop and the strategy in two processes),
#: shown to the user while it runs (bench/bench_cold_start.py measures it; docs/backtest.md, "Compile time").
COLD_COMPILE_S = 45.0


def compile_in_background(strategy: str = "market_making") -> subprocess.Popen[bytes] | None:
    """Start compiling the backtest kernel and ``strategy`` (``trading.strategy``) into Numba's cache in
    a child process, when the cache lacks the kernel.

    Numba compiles one function at a time per process; a caller with other work before its first
    backtest (the demo generates its market, itself a compile) overlaps the two on a second core, and
    :func:`compile_kernel` then loads the kernel from the cache. None when there is nothing to compile.
    The caller stops the child if it gives up early (:func:`stop_background`).
    """
    if kernels_cached("loop.run_segment"):
        return None
    return subprocess.Popen([sys.executable, "-c", "from amm500.backtest.runner import compile_kernel; "
                             f"compile_kernel({strategy!r})"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def warm_exchange_in_background() -> subprocess.Popen[bytes] | None:
    """Start compiling the local exchange's kernels (``sim.core.warm_up``, which the demo's rehearsal
    runs) in a child process, when the cache lacks them; None when there is nothing to compile.

    The demo starts it with :func:`compile_in_background`, so the ~14 s compile overlaps the market
    and the backtest instead of delaying the rehearsal; stop it with :func:`stop_background`."""
    if kernels_cached("core._apply"):
        return None
    code = ("from amm500.config import Config; from amm500.core.exchange_model import ExchangeModel; "
            "from amm500.core.instrument import Instrument; from amm500.sim.core import warm_up; c = Config(); "
            "warm_up(ExchangeModel.from_config(c), Instrument.from_config(c))")
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_background(child: subprocess.Popen[bytes] | None) -> None:
    """Stop a :func:`compile_in_background` child that is still running (nothing is half-written: Numba
    writes each cache file whole)."""
    if child is not None and child.poll() is None:
        child.kill()
        child.wait()


def wait_background(child: subprocess.Popen[bytes] | None, progress: bool) -> None:
    """Wait for a :func:`compile_in_background` child, with a status line when ``progress``."""
    if child is None or child.poll() is not None:
        return
    if not progress:
        child.wait()
        return
    from rich.console import Console

    with Console(stderr=True).status(f"the backtest kernel is compiling in the background (about "
                                     f"{COLD_COMPILE_S:.0f} s on 2 cores in all, once)"):
        child.wait()


def compile_kernel(strategy: str | None = None) -> float:
    """Compile (or load from Numba's cache) the kernel and ``strategy`` (``trading.strategy``, default:
    the default's) once per process; returns the seconds it took.

    Runs it on an empty day so that the time is measured apart from the replay. The loop is compiled
    once for every strategy; a strategy first used later in the process compiles (or loads) on its own.
    """
    config = Config() if strategy is None else load_config(None, [f"trading.strategy={strategy}"])
    name = config.trading.strategy
    if name not in _COMPILE_S:
        t0 = time.perf_counter()
        ks = KernelState(config, 0, 0, None)
        if not kernels_cached("loop.run_segment"):
            # a cold compile: the strategy compiles in a second process while this one compiles the loop
            # (they share no compiled function but a few helpers); the run below then loads it from the cache
            child = subprocess.Popen([sys.executable, "-c", "from amm500.backtest.runner import compile_strategy; "
                                      f"compile_strategy({name!r})"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)  # a failure here recurs, and is reported, below
            try:
                ks.compile_loop()
            finally:
                child.wait()
        ks.run(Events.empty(), Events.empty(), 0)
        _COMPILE_S[name] = time.perf_counter() - t0
    return _COMPILE_S[name]


def compile_strategy(strategy: str) -> None:
    """Compile (or load) the entry points of ``strategy`` (``trading.strategy``) into Numba's cache."""
    for fn in entry_points(build_params(load_config(None, [f"trading.strategy={strategy}"]))):
        fn.__wrapper_address__()


def run_backtest(
    config: Config,
    data: Path | str | Market,
    *,
    days: int | None = None,
    vol_forecast: Any = None,
    progress: bool | ProgressFn = False,
) -> BacktestResult:
    """Backtest ``config`` on a data directory (or a loaded :class:`Market`).

    ``vol_forecast``: optional ``(ts_ns, annualized_vol)`` arrays shown to the strategy as
    ``V_EXT_VOL``, causally (the latest value with ts <= now). ``progress``: True for a rich bar, or
    a callback ``(days_done, days_total)``.
    """
    market = data if isinstance(data, Market) else load_market(Path(data), days)
    if config.backtest.fill_model == "bar":
        from amm500.backtest.bar import run_bar_backtest

        return run_bar_backtest(config, market, days=days, progress=progress)
    if not market.has_events:
        raise DataError(f"{market.root}: no events/ day files for a tick-mode backtest (bars only? use"
                        " --set backtest.fill_model=bar)")
    vf = _check_vol_forecast(vol_forecast)
    notice = None
    if progress is True and not _COMPILE_S:  # the loop's compile (a strategy's alone is a few seconds)
        notice = compile_notice("loop.run_segment", "backtest kernel", COLD_COMPILE_S)
    if notice:
        from rich.console import Console

        console = Console(stderr=True)
        with console.status(f"[yellow]{notice}[/]"):
            compile_s = compile_kernel(config.trading.strategy)
        console.print(f"backtest kernel compiled in {compile_s:.1f} s", highlight=False)
    else:
        compile_s = compile_kernel(config.trading.strategy)
    n_days = len(market.day_dirs) if days is None else min(days, len(market.day_dirs))
    day_iter = market.iter_days(n_days)
    try:
        day0, ev0 = next(day_iter)
    except StopIteration:
        raise DataError(f"{market.root}: no event days") from None
    price0 = _first_price(ev0)
    check_can_trade(config, price0)
    tick = config.backtest.tick_size
    data_tick = market.meta.get("tick_size")
    if data_tick is not None and abs(float(data_tick) - tick) > 1e-12:
        raise ConfigError(f"backtest.tick_size: {tick:g} differs from the data's tick_size {data_tick}"
                          f" ({market.root / 'dataset.json'})")
    base = round(price0 / tick) - N_LEVELS // 2
    ks = KernelState(config, base, int(ev0.ts[0]) if len(ev0) else 0, vf)
    latency_model.seed(config.backtest.seed)
    report = _progress_fn(progress, n_days)
    lead = Events.empty()
    kernel_s = kernel_cpu_s = 0.0
    done = 0
    current: tuple[Any, Events] | None = (day0, ev0)
    while current is not None:
        _, ev = current
        nxt = next(day_iter, None)
        if nxt is None:
            last_local = int(ev.local_ts.max()) if len(ev) else 0
            t_stop = max(int(ev.ts[-1]) if len(ev) else 0, last_local + int(ks.cfg[CF_FEED_LAT]))
        else:
            t_stop = int(ev.ts[-1]) if len(ev) else 0
        ks.ist[I_IE] = 0
        t0, c0 = time.perf_counter(), time.thread_time()
        ks.run(ev, lead, t_stop)
        kernel_s += time.perf_counter() - t0
        kernel_cpu_s += time.thread_time() - c0
        lead = _lead_after(ev, lead, int(ks.ist[I_IL]))
        ks.ist[I_IL] = 0
        done += 1
        report(done, n_days)
        current = nxt
        del ev
    from amm500.backtest.loop import finish
    from amm500.backtest.metrics import compute_metrics

    finish(ks.rec_ts, ks.rec, ks.ist, ks.acct)
    nf, nr = int(ks.ist[I_NFILLS]), int(ks.ist[I_NREC])
    timing = {"compile_s": compile_s, "kernel_s": kernel_s, "kernel_cpu_s": kernel_cpu_s}
    result = BacktestResult(
        metrics={}, config=config, fill_model="tick", fills_ts=ks.fills_ts[:nf].copy(), fills=ks.fills[:nf].copy(),
        rec_ts=ks.rec_ts[:nr].copy(), rec=ks.rec[:nr].copy(), stats=ks.st.copy(), acct=ks.acct.copy(),
        ist=ks.ist.copy(), timing=timing, sstate=ks.sstate.copy())
    result.metrics = compute_metrics(result, events=int(ks.ist[I_EVENTS]), days=n_days)
    return result


def print_summary(result: BacktestResult, console: Any = None) -> None:
    """The terminal summary table (rich), with the fill model in its title."""
    from rich.console import Console

    from amm500.backtest.report import summary_table

    (console or Console()).print(summary_table(result.metrics))


def _progress_fn(progress: bool | ProgressFn, total: int) -> ProgressFn:
    if callable(progress):
        return progress
    if not progress:
        return lambda done, total: None
    from rich.progress import Progress

    bar = Progress(transient=False)
    task = bar.add_task("backtest (days)", total=total)
    bar.start()

    def _update(done: int, total: int) -> None:
        bar.update(task, completed=done)
        if done >= total:
            bar.stop()

    return _update
