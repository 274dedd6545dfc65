"""A synthetic Hyperliquid BTC perpetual, calibrated against real captures, in the canonical format.

It exists so that backtests, benchmarks and tests have weeks of realistic, reproducible L2 data
without a download: ~2 million book rows a day (what diffing Hyperliquid's 20-level snapshots
gives), ~200 thousand trades, hourly funding, volatility regimes from calm to panic, and informed
flow that a careless market maker loses money to. The model and every parameter, with the real
value it was calibrated to, are described in docs/data.md ("The synthetic BTC market"); the
kernels are in :mod:`amm500.data.synthetic_kernels`.

Output is deterministic for a seed: the same seed gives the same files byte for byte.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from amm500.core.files import compile_notice
from amm500.data import store
from amm500.data.book_diff import BookDiffer
from amm500.data.schema import FUNDING, NS_PER_DAY, NS_PER_HOUR, TRADE, Events, make_events
from amm500.data.synthetic_kernels import (
    DEPTH,
    N_FSTATE,
    N_ISTATE,
    RING,
    KernelParams,
    init_state,
    merge_by_ts,
    seed_state,
    simulate,
    volatility_path,
)

DEFAULT_START = dt.date(2026, 1, 1)
GENERATOR_NAME = "amm500-synthetic"
GENERATOR_VERSION = 1
VOL_BANDS = (0.10, 0.20, 0.40, 0.60)  # the seed's annualized-vol bands: <10%, 10-20, 20-40, 40-60, >60%


class MarketParams(NamedTuple):
    """Every knob of the synthetic market; defaults are calibrated (docs/data.md lists the real values)."""

    start_price: float = 90_000.0  # USD
    tick_size: float = 1.0  # USD; Hyperliquid BTC: 5 significant figures -> $1 at 90k
    sz_decimals: int = 5  # lot 1e-5 BTC
    min_notional: float = 10.0  # USD; smallest resting order, sets the "tiny" level/fill size
    snap_interval_ms: float = 545.0  # median l2Book push interval
    snap_interval_sigma: float = 0.15  # lognormal spread of the interval
    latency_ms: float = 10.0  # median feed latency (local_ts - ts)
    latency_sigma: float = 0.5  # lognormal sigma of the latency
    latency_cap_ms: float = 500.0
    regime_vol: tuple[float, float, float, float, float] = (0.07, 0.15, 0.28, 0.48, 0.80)  # annualized
    regime_share: tuple[float, float, float, float, float] = (0.06, 0.22, 0.48, 0.17, 0.07)  # long-run time share
    regime_mean_hours: tuple[float, float, float, float, float] = (4.0, 6.0, 8.0, 4.0, 2.0)  # mean stay
    vol_of_vol: float = 0.5  # stationary sd of log-vol inside a regime
    vol_tau_s: float = 1200.0  # mean-reversion time of log-vol
    activity_ref_vol: float = 0.30  # vol at which rates equal their base values
    activity_exp: float = 0.5  # rates scale as (vol / ref) ** exp ...
    activity_min: float = 0.4  # ... clipped to [min, max]
    activity_max: float = 2.5
    taker_rate: float = 0.6  # taker orders per second at activity 1
    informed_share: float = 0.25  # takers that trade in the direction of the next news move
    impact_share: float = 0.6  # share of diffusive variance carried by taker impact (rest: news)
    taker_median: float = 0.08  # BTC, lognormal body of the taker order size ...
    taker_sigma: float = 1.5  # ... its sigma ...
    taker_tail_alpha: float = 1.7  # ... times a Pareto factor: power-law tail index
    taker_impact_cap: float = 25.0  # BTC; impact saturates above this size
    max_sweep_ticks: int = 30  # a taker walks at most this far from the touch (IOC)
    maker_median: float = 0.06  # BTC, resting order size hit by a fill (lognormal) ...
    maker_sigma: float = 2.0
    maker_tiny_share: float = 0.3  # ... or a minimum-size order with this probability
    news_rate: float = 0.25  # news moves per second
    jump_rate_per_day: float = 1.5  # at activity 1
    jump_scale: float = 0.002  # smallest jump, fraction of price (Pareto)
    jump_alpha: float = 3.0
    jump_cap: float = 0.03
    jump_burst_takers: int = 8  # a jump arrives as this many same-side takers ...
    jump_burst_gap_s: float = 0.15  # ... this far apart on average
    wide_prob: float = 0.02  # chance a snapshot shows a spread wider than one tick ...
    wide_move_prob: float = 0.25  # ... plus this much when the price moved >= wide_move_ticks since the last one
    wide_move_ticks: float = 8.0
    wide_xm: float = 1.5  # extra spread ticks ~ floor(Pareto(xm, alpha)), at most wide_max
    wide_alpha: float = 0.9
    wide_max: int = 30
    level0_median: float = 6.5  # BTC at the touch
    level0_sigma: float = 1.0
    level1_median: float = 0.25  # BTC one tick behind the touch, rising to ...
    deep_median: float = 1.3  # ... this deep in the book
    depth_scale: float = 3.0  # ticks over which the median rises
    level_sigma: float = 1.25
    tiny_share_touch: float = 0.05  # levels that are a single minimum-size order
    tiny_share: float = 0.14
    empty_share: float = 0.04  # empty ticks inside the visible window
    change_prob_touch: float = 0.5  # chance per snapshot that the touch level changes (times activity)
    change_prob: float = 0.26  # same for a deeper level
    size_memory: float = 0.5  # AR(1) coefficient of log size when a level changes
    funding_premium_mean: float = 0.00025  # 8-hour premium index P: mean ...
    funding_premium_sd: float = 0.00055  # ... sd ...
    funding_premium_ar: float = 0.93  # ... hourly autocorrelation
    funding_interest: float = 0.0001  # 8-hour interest rate I (0.01%)
    funding_clamp: float = 0.0005  # clamp on I - P
    funding_cap: float = 0.04  # per hour
    funding_jitter_ms: float = 500.0  # funding rows land this late after the hour, at most

    @property
    def lot(self) -> float:
        return 10.0 ** -self.sz_decimals

    def check(self) -> None:
        """Raise ValueError naming the first parameter outside its allowed range."""
        positive = ("start_price", "tick_size", "min_notional", "snap_interval_ms", "latency_ms", "vol_tau_s",
                    "activity_ref_vol", "taker_rate", "taker_median", "taker_tail_alpha", "taker_impact_cap",
                    "maker_median", "news_rate", "jump_scale", "jump_alpha", "jump_burst_gap_s", "wide_move_ticks",
                    "wide_xm", "wide_alpha", "level0_median", "level1_median", "deep_median", "depth_scale")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 (got {getattr(self, name)})")
        shares = ("informed_share", "impact_share", "maker_tiny_share", "wide_prob", "wide_move_prob",
                  "tiny_share_touch", "tiny_share", "empty_share", "change_prob_touch", "change_prob", "size_memory",
                  "funding_premium_ar")
        for name in shares:
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1) (got {getattr(self, name)})")
        if self.impact_share == 0.0:
            raise ValueError("impact_share must be > 0 (takers must move the price)")
        if any(v <= 0 for v in self.regime_vol) or any(s <= 0 for s in self.regime_share):
            raise ValueError("regime_vol and regime_share must all be > 0")
        if any(h <= 0 for h in self.regime_mean_hours):
            raise ValueError("regime_mean_hours must all be > 0")
        if not 0 <= self.sz_decimals <= 8:
            raise ValueError(f"sz_decimals must be in 0..8 (got {self.sz_decimals})")
        if self.max_sweep_ticks < 1 or self.jump_burst_takers < 1 or self.wide_max < 1:
            raise ValueError("max_sweep_ticks, jump_burst_takers and wide_max must be >= 1")

    def kernel(self) -> KernelParams:
        """The flat numeric form the kernels take (units: ticks, lots, seconds)."""
        self.check()
        inv_lot = float(round(1.0 / self.lot))
        tiny_lots = max(1, math.ceil(self.min_notional / self.start_price * inv_lot))
        # Regime chain: on leaving a regime the next is drawn from q_i ~ share_i / stay_i, so the
        # long-run share of time in regime i is share_i.
        q = np.array(self.regime_share) / np.array(self.regime_mean_hours)
        cum = np.cumsum(q / q.sum())
        taker_median_lots = self.taker_median * inv_lot
        cap_lots = self.taker_impact_cap * inv_lot
        return KernelParams(
            inv_lot=inv_lot, tiny_lots=int(tiny_lots), snap_ms=float(self.snap_interval_ms),
            snap_sigma=float(self.snap_interval_sigma), lat_ms=float(self.latency_ms),
            lat_sigma=float(self.latency_sigma), lat_cap_ms=float(self.latency_cap_ms),
            regime_vol=_f5(self.regime_vol), regime_cum=_f5(cum),
            regime_mean_s=_f5(np.array(self.regime_mean_hours) * 3600.0), sv_sigma=float(self.vol_of_vol),
            sv_tau_s=float(self.vol_tau_s), act_ref_vol=float(self.activity_ref_vol),
            act_exp=float(self.activity_exp), act_min=float(self.activity_min), act_max=float(self.activity_max),
            taker_rate=float(self.taker_rate), informed_share=float(self.informed_share),
            impact_share=float(self.impact_share), taker_median_lots=float(taker_median_lots),
            taker_sigma=float(self.taker_sigma), taker_alpha=float(self.taker_tail_alpha),
            taker_cap_lots=float(cap_lots),
            taker_mean_lots=_capped_taker_mean(taker_median_lots, self.taker_sigma, self.taker_tail_alpha, cap_lots),
            max_sweep=int(self.max_sweep_ticks), maker_median_lots=float(self.maker_median * inv_lot),
            maker_sigma=float(self.maker_sigma), maker_tiny_share=float(self.maker_tiny_share),
            news_rate=float(self.news_rate), jump_rate=float(self.jump_rate_per_day / 86_400.0),
            jump_scale=float(self.jump_scale), jump_alpha=float(self.jump_alpha), jump_cap=float(self.jump_cap),
            burst_takers=int(self.jump_burst_takers), burst_gap_s=float(self.jump_burst_gap_s),
            wide_prob=float(self.wide_prob), wide_move_prob=float(self.wide_move_prob),
            wide_move_ticks=float(self.wide_move_ticks), wide_xm=float(self.wide_xm),
            wide_alpha=float(self.wide_alpha), wide_max=int(self.wide_max),
            lvl0_mu=float(math.log(self.level0_median * inv_lot)), lvl0_sigma=float(self.level0_sigma),
            lvl1_median=float(self.level1_median), deep_median=float(self.deep_median),
            depth_scale=float(self.depth_scale), lvl_sigma=float(self.level_sigma),
            tiny_share0=float(self.tiny_share_touch), tiny_share=float(self.tiny_share),
            empty_share=float(self.empty_share), change_prob0=float(self.change_prob_touch),
            change_prob=float(self.change_prob), size_ar=float(self.size_memory),
            fund_mean=float(self.funding_premium_mean), fund_sd=float(self.funding_premium_sd),
            fund_ar=float(self.funding_premium_ar), fund_interest=float(self.funding_interest),
            fund_clamp=float(self.funding_clamp), fund_cap=float(self.funding_cap),
            fund_jitter_ms=float(self.funding_jitter_ms),
        )

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self._asdict().items()}


def _f5(values: Any) -> tuple[float, float, float, float, float]:
    a = [float(v) for v in values]
    return a[0], a[1], a[2], a[3], a[4]


def _capped_taker_mean(median: float, sigma: float, alpha: float, cap: float) -> float:
    """E[min(q, cap)] for q = lognormal(median, sigma) * Pareto(1, alpha), by fixed-seed Monte Carlo."""
    rng = np.random.default_rng(12345)
    body = median * np.exp(sigma * rng.standard_normal(400_000))
    q = body * rng.uniform(size=400_000) ** (-1.0 / alpha)
    return float(np.minimum(q, cap).mean())


class Snapshots(NamedTuple):
    """Raw 20-level snapshots as the venue would push them (best level first)."""

    ts: np.ndarray
    local_ts: np.ndarray
    bid_px: np.ndarray
    bid_sz: np.ndarray
    bid_n: np.ndarray
    ask_px: np.ndarray
    ask_sz: np.ndarray
    ask_n: np.ndarray


class _Buffers:
    """Reusable output arrays of one kernel call (about an hour of market)."""

    def __init__(self, snaps: int = 8_000, fills: int = 120_000, fundings: int = 4) -> None:
        self.s_ts = np.empty(snaps, np.int64)
        self.s_lts = np.empty(snaps, np.int64)
        self.bid_px = np.empty((snaps, DEPTH))
        self.bid_sz = np.empty((snaps, DEPTH))
        self.bid_n = np.empty(snaps, np.int64)
        self.ask_px = np.empty((snaps, DEPTH))
        self.ask_sz = np.empty((snaps, DEPTH))
        self.ask_n = np.empty(snaps, np.int64)
        self.f_ts = np.empty(fills, np.int64)
        self.f_lts = np.empty(fills, np.int64)
        self.f_side = np.empty(fills, np.int8)
        self.f_px = np.empty(fills)
        self.f_sz = np.empty(fills)
        self.u_ts = np.empty(fundings, np.int64)
        self.u_lts = np.empty(fundings, np.int64)
        self.u_rate = np.empty(fundings)


class MarketSimulator:
    """The market's state, advanced in exchange time; days come out one after another.

    The state (price, regime, every resting level, the random generator) carries over from one
    day to the next, so a multi-day run is one continuous market.
    """

    def __init__(self, seed: int, start: dt.date = DEFAULT_START, params: MarketParams | None = None) -> None:
        if seed < 0:
            raise ValueError(f"seed must be >= 0 (got {seed})")
        self.params = params or MarketParams()
        self.kp = self.params.kernel()
        self.seed = seed
        self.start = start
        self._rng = seed_state(seed)
        self._fs = np.zeros(N_FSTATE)
        self._is = np.zeros(N_ISTATE, np.int64)
        self._ring_sz = np.zeros((2, RING))
        self._ring_tick = np.full((2, RING), -1, np.int64)
        self._buf = _Buffers()
        self._day = 0
        init_state(self.kp, self._rng, self._fs, self._is, self.params.start_price / self.params.tick_size,
                   store.day_start_ns(start))

    @property
    def day_index(self) -> int:
        """Index of the next day :meth:`next_day` will produce (0 = ``start``)."""
        return self._day

    def _run(self, t_end: int, snap_first: bool) -> Iterator[tuple[Snapshots, Events]]:
        """Advance to ``t_end`` in kernel calls; yield (snapshots, trade and funding rows) per call."""
        b = self._buf
        first = snap_first
        while True:
            ns, nf, nu, done = simulate(self.kp, self._rng, self._fs, self._is, self._ring_sz, self._ring_tick, t_end,
                                        first, self.params.tick_size, b.s_ts, b.s_lts, b.bid_px, b.bid_sz, b.bid_n,
                                        b.ask_px, b.ask_sz, b.ask_n, b.f_ts, b.f_lts, b.f_side, b.f_px, b.f_sz,
                                        b.u_ts, b.u_lts, b.u_rate)
            first = False
            snaps = Snapshots(b.s_ts[:ns].copy(), b.s_lts[:ns].copy(), b.bid_px[:ns].copy(), b.bid_sz[:ns].copy(),
                              b.bid_n[:ns].copy(), b.ask_px[:ns].copy(), b.ask_sz[:ns].copy(), b.ask_n[:ns].copy())
            trades = make_events(b.f_ts[:nf].copy(), b.f_lts[:nf].copy(), np.full(nf, TRADE, np.uint8),
                                 b.f_side[:nf].copy(), b.f_px[:nf].copy(), b.f_sz[:nf].copy())
            funding = make_events(b.u_ts[:nu].copy(), b.u_lts[:nu].copy(), np.full(nu, FUNDING, np.uint8),
                                  np.zeros(nu, np.int8), b.u_rate[:nu].copy(), np.zeros(nu))
            yield snaps, Events.concat([trades, funding]).sorted()
            if done:
                return

    def skip_day(self) -> None:
        """Simulate the next day without assembling its events (to reach a later day quickly)."""
        t0 = store.day_start_ns(self.start) + self._day * NS_PER_DAY
        for _ in self._run(t0 + NS_PER_DAY, snap_first=True):
            pass
        self._day += 1

    def _day_start(self, hours: int) -> tuple[dt.date, int]:
        if not 1 <= hours <= 24:
            raise ValueError(f"hours must be in 1..24 (got {hours})")
        return self.start + dt.timedelta(days=self._day), store.day_start_ns(self.start) + self._day * NS_PER_DAY

    def next_day(self, hours: int = 24, on_hour: Callable[[int, int], None] | None = None) -> tuple[dt.date, Events]:
        """The next UTC day (or its first ``hours``) as canonical events; ``on_hour(hour, rows)`` reports progress.

        A partial day leaves the simulator mid-day: use it for quick looks, not before another call.
        """
        day, t0 = self._day_start(hours)
        differ = BookDiffer(depth=DEPTH)
        parts: list[Events] = []
        for h in range(hours):
            rows = 0
            for snaps, other in self._run(t0 + (h + 1) * NS_PER_HOUR, snap_first=h == 0):
                parts.append(to_events(snaps, other, differ))
                rows += len(parts[-1])
            if on_hour is not None:
                on_hour(h, rows)
        self._day += 1
        return day, Events.concat(parts)

    def next_day_raw(self, hours: int = 24) -> tuple[dt.date, Snapshots, Events]:
        """The next day as raw 20-level snapshots plus trade and funding rows: for calibration and tests.

        ``to_events(snapshots, other)`` turns it into exactly what :meth:`next_day` returns.
        """
        day, t0 = self._day_start(hours)
        parts = list(self._run(t0 + hours * NS_PER_HOUR, snap_first=True))
        self._day += 1
        snaps = Snapshots(*(np.concatenate([getattr(s, f) for s, _ in parts]) for f in Snapshots._fields))
        return day, snaps, Events.concat([o for _, o in parts])


def to_events(snaps: Snapshots, other: Events, differ: BookDiffer | None = None) -> Events:
    """Diff snapshots into level updates and merge them with trade/funding rows, sorted by ``ts``.

    At equal ``ts`` book rows come first: the trades of an interval lie in [previous snapshot, next).
    """
    differ = differ or BookDiffer(depth=DEPTH)
    book = differ.update(snaps.ts, snaps.local_ts, snaps.bid_px, snaps.bid_sz, snaps.bid_n, snaps.ask_px,
                         snaps.ask_sz, snaps.ask_n)
    return Events.concat([book, other]).take(merge_by_ts(book.ts, other.ts))


def generate_day(day_index: int, seed: int, start: dt.date = DEFAULT_START, params: MarketParams | None = None,
                 hours: int = 24) -> Events:
    """Day ``day_index`` of the market for ``seed`` in memory, exactly as :func:`generate_market` writes it.

    Earlier days are simulated (not assembled) first, so the cost grows with ``day_index``.
    """
    if day_index < 0:
        raise ValueError(f"day_index must be >= 0 (got {day_index})")
    sim = MarketSimulator(seed, start, params)
    for _ in range(day_index):
        sim.skip_day()
    return sim.next_day(hours)[1]


def volatility_regimes(seed: int, hours: int, params: MarketParams | None = None,
                       step_s: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    """The regime process alone: (annualized vol, regime index) every ``step_s`` seconds."""
    kp = (params or MarketParams()).kernel()
    vol, reg = volatility_path(kp, seed_state(seed), int(hours * 3600 / step_s), float(step_s))
    return vol, reg


def dataset_fields(seed: int, start: dt.date, days: int, params: MarketParams) -> dict[str, Any]:
    return {
        "symbol": "BTC",
        "tick_size": params.tick_size,
        "sz_decimals": params.sz_decimals,
        "source": "synthetic",
        "generator": {"name": GENERATOR_NAME, "version": GENERATOR_VERSION, "seed": seed,
                      "start": start.isoformat(), "days": days, "parameters": params.as_dict()},
    }


def prepare_output(out_dir: Path, force: bool) -> None:
    """Refuse a non-empty directory unless ``force``; with it, remove only canonical data (never other files)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir} exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not force:
            raise FileExistsError(f"{out_dir} is not empty; pass --force to replace the data in it")
        for sub in (store.EVENTS_DIR, store.BARS_DIR):
            shutil.rmtree(out_dir / sub, ignore_errors=True)
        (out_dir / store.DATASET_FILE).unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)


#: The generator's cold compile on a 2-core machine, shown to the user before it starts
#: (bench/bench_cold_start.py measures it; docs/backtest.md, "Compile time").
COLD_COMPILE_S = 12.0


def generate_market(out_dir: Path, days: int, seed: int, start: dt.date = DEFAULT_START,
                    params: MarketParams | None = None, progress: bool = True, force: bool = False) -> Path:
    """Write ``days`` UTC days of the synthetic market to ``out_dir`` (canonical layout); returns ``out_dir``.

    Each day file is written atomically as soon as it is done, so an interrupted run keeps every
    finished day; ``dataset.json`` records the seed, the parameters and ``days_written``.
    """
    if days <= 0:
        raise ValueError(f"days must be >= 1 (got {days})")
    params = params or MarketParams()
    sim = MarketSimulator(seed, start, params)  # validates seed and parameters before touching the disk
    out_dir = Path(out_dir)
    prepare_output(out_dir, force)
    store.write_dataset_meta(out_dir, **dataset_fields(seed, start, days, params), days_written=0)
    notice = compile_notice("synthetic_kernels.simulate", "market generator", COLD_COMPILE_S) if progress else None
    if notice:
        from rich.console import Console

        Console(stderr=True).print(f"[yellow]{notice}[/]", highlight=False)
    with _DayProgress(days, enabled=progress) as bar:
        for i in range(days):
            day, ev = sim.next_day(on_hour=bar.hour_done)
            store.write_events_day(out_dir, day, ev)
            store.write_dataset_meta(out_dir, days_written=i + 1)
            bar.day_done(day, ev)
    return out_dir


class _DayProgress:
    """Rich progress: one bar over days, one over the hours of the current day, rows and rows/s."""

    def __init__(self, days: int, enabled: bool) -> None:
        self.days = days
        self.enabled = enabled
        self.rows = 0
        self.day_rows = 0

    def __enter__(self) -> _DayProgress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._p = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                               TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                               transient=False)
            self._p.__enter__()
            self._days = self._p.add_task("days", total=self.days, info="")
            self._hours = self._p.add_task("hours", total=24, info="")
            self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._p.__exit__(None, None, None)

    def hour_done(self, hour: int, rows: int) -> None:
        self.day_rows += rows
        if self.enabled:
            self._p.update(self._hours, completed=hour + 1, info=f"{self.day_rows:,} rows")

    def day_done(self, day: dt.date, ev: Events) -> None:
        self.rows += len(ev)
        self.day_rows = 0
        if self.enabled:
            rate = self.rows / max(time.perf_counter() - self._t0, 1e-9)
            n_trades = int(np.count_nonzero(ev.kind == TRADE))
            self._p.update(self._days, advance=1, info=f"{day.isoformat()}: {len(ev):,} rows ({n_trades:,} trades), "
                           f"{self.rows:,} total, {rate:,.0f} rows/s")
            self._p.update(self._hours, completed=0, info="")
