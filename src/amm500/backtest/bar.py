"""Bar mode (``backtest.fill_model = "bar"``): the seed's fill_rate model on 1-minute candles. LOW REALISM.

At each bar's open the strategy sees a one-level book around the open price and quotes its ladder;
every quote inside the bar's range (low <= px <= high) fills completely, as maker at its own price,
with probability ``fill_rate`` (seeded). There is no queue, no latency and no adverse selection
beyond what the candle implies, so results are optimistic and only useful for coarse comparisons
on data that has no order book (e.g. 30 days of exchange candles). Every output says so.

Funding rows (kind 4) in the data's ``events/`` apply on the hour as in tick mode; the mark is the
bar close; a liquidation is checked against the bar's adverse extreme.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from numba import njit

from amm500.core import api
from amm500.core.instrument import Instrument
from amm500.core.params import build_params
from amm500.data.schema import FUNDING, NS_PER_S, DataError
from amm500.sim.layout import (
    A_AVG,
    A_CASH,
    A_FEES,
    A_FUNDING,
    A_KILL_REASON,
    A_LAST_REGIME,
    A_LAST_SPREAD,
    A_LAST_VOL,
    A_LIQ_LOSS,
    A_MAX_ABS_POS,
    A_MAXDD,
    A_MID,
    A_N_REST_ASK,
    A_N_REST_BID,
    A_PEAK,
    A_POS,
    A_QUOTING,
    A_SIZE,
    A_START_EQUITY,
    F_FEE,
    F_LIQ,
    F_MAKER,
    F_MID,
    F_MK0,
    F_POS,
    F_PX,
    F_SIDE,
    F_SIZE,
    F_SZ,
    I_EVENTS,
    I_KILL_TS,
    I_KILLED,
    I_NFILLS,
    I_NREC,
    I_SIZE,
    R_EQUITY,
    R_FEES,
    R_FUNDING,
    R_MID,
    R_N_ASKS,
    R_N_BIDS,
    R_POS,
    R_QUOTING,
    R_REGIME,
    R_SIZE,
    R_SPREAD,
    R_VOL,
    REJ_MIN_NOTIONAL,
    ST_FILLS,
    ST_FUNDING_EVENTS,
    ST_LIQUIDATIONS,
    ST_MAKER_FILLS,
    ST_MAKER_VOLUME,
    ST_NOTIONAL,
    ST_ORDERS,
    ST_QUOTE_TIMERS,
    ST_QUOTE_UP,
    ST_QUOTING,
    ST_REJ0,
    ST_SIZE,
    ST_SPREAD_SUM,
    ST_TAKER_ORDERS,
    ST_VOLUME,
)
from amm500.strategy.kernel import new_state, on_fill, on_timer

if TYPE_CHECKING:
    from amm500.backtest.market import Market
    from amm500.backtest.runner import BacktestResult, ProgressFn
    from amm500.config import Config

B_FILL_RATE = 0
B_MAKER_FEE = 1
B_TAKER_FEE = 2
B_MIN_NOTIONAL = 3
B_MMR = 4
B_TICK = 5
B_SIZE = 8


@njit(cache=True)
def _fill(t: int, side: int, px: float, qty: float, maker: bool, cfg: np.ndarray, acct: np.ndarray, st: np.ndarray,
          ist: np.ndarray, fills_ts: np.ndarray, fills: np.ndarray, view: np.ndarray, params: np.ndarray,
          sstate: np.ndarray, liq: bool) -> None:
    fee = 0.0 if liq else px * qty * (cfg[B_MAKER_FEE] if maker else cfg[B_TAKER_FEE])
    pos = acct[A_POS]
    acct[A_CASH] -= side * px * qty + fee
    acct[A_FEES] += fee
    new = pos + side * qty
    if abs(new) < 1e-12:
        new = 0.0
        acct[A_AVG] = 0.0
    elif pos == 0.0 or (pos > 0.0) == (side > 0):
        acct[A_AVG] = (acct[A_AVG] * abs(pos) + px * qty) / abs(new)
    elif (new > 0.0) != (pos > 0.0):
        acct[A_AVG] = px
    acct[A_POS] = new
    acct[A_MAX_ABS_POS] = max(acct[A_MAX_ABS_POS], abs(new))
    st[ST_FILLS] += 1
    st[ST_VOLUME] += qty
    st[ST_NOTIONAL] += px * qty
    if maker:
        st[ST_MAKER_FILLS] += 1
        st[ST_MAKER_VOLUME] += qty
    k = ist[I_NFILLS]
    fills_ts[k] = t
    fills[k, F_SIDE] = side
    fills[k, F_PX] = px
    fills[k, F_SZ] = qty
    fills[k, F_MAKER] = 1.0 if maker else 0.0
    fills[k, F_FEE] = fee
    fills[k, F_MID] = acct[A_MID]
    fills[k, F_POS] = new
    fills[k, F_MK0] = np.nan
    fills[k, F_MK0 + 1] = np.nan
    fills[k, F_MK0 + 2] = np.nan
    fills[k, F_LIQ] = 1.0 if liq else 0.0
    ist[I_NFILLS] = k + 1
    view[api.V_POSITION] = new
    view[api.V_AVG_ENTRY] = acct[A_AVG]
    on_fill(t, side, px, qty, maker, fee, view, params, sstate)


@njit(cache=True)
def run_bars(ts: np.ndarray, op: np.ndarray, hi: np.ndarray, lo: np.ndarray, cl: np.ndarray, fund_ts: np.ndarray,
             fund_rate: np.ndarray, start: int, cfg: np.ndarray, params: np.ndarray, sstate: np.ndarray,
             view: np.ndarray, book: np.ndarray, orders: np.ndarray, quotes: np.ndarray, ctrl: np.ndarray,
             acct: np.ndarray, st: np.ndarray, ist: np.ndarray, fills_ts: np.ndarray, fills: np.ndarray,
             rec_ts: np.ndarray, rec: np.ndarray) -> int:
    """Process bars from ``start``; returns the next bar index (< len when the fill log is nearly full)."""
    n = ts.shape[0]
    if start >= n:
        return n
    tick = cfg[B_TICK]
    fp = 0
    while fp < fund_ts.shape[0] and fund_ts[fp] < ts[start]:
        fp += 1
    for i in range(start, n):
        if ist[I_NFILLS] + 2 * api.MAX_LEVELS + 4 > fills_ts.shape[0]:
            return i
        t = ts[i]
        # funding due before this bar opens, at the previous close
        while fp < fund_ts.shape[0] and fund_ts[fp] <= t:
            pay = acct[A_POS] * acct[A_MID] * fund_rate[fp]
            acct[A_CASH] -= pay
            acct[A_FUNDING] += pay
            view[api.V_FUNDING_RATE] = fund_rate[fp]
            st[ST_FUNDING_EVENTS] += 1
            fp += 1
        bid = math.floor(op[i] / tick) * tick - tick
        ask = math.ceil(op[i] / tick) * tick + tick
        mid = 0.5 * (bid + ask)
        acct[A_MID] = mid
        book[:, :] = 0.0
        book[api.B_BID_PX, 0] = bid
        book[api.B_BID_SZ, 0] = 1.0
        book[api.B_ASK_PX, 0] = ask
        book[api.B_ASK_SZ, 0] = 1.0
        view[api.V_BEST_BID] = bid
        view[api.V_BEST_ASK] = ask
        view[api.V_MID] = mid
        view[api.V_POSITION] = acct[A_POS]
        view[api.V_AVG_ENTRY] = acct[A_AVG]
        view[api.V_EQUITY] = acct[A_CASH] + acct[A_POS] * mid
        view[api.V_START_EQUITY] = acct[A_START_EQUITY]
        view[api.V_BOOK_AGE_MS] = 0.0
        killed = ist[I_KILLED] != 0
        if not killed:
            for timer in (api.TIMER_SPREAD, api.TIMER_REBALANCE, api.TIMER_QUOTE):
                on_timer(t, timer, view, book, orders, params, sstate, quotes, ctrl)
                if ctrl[api.C_VOL] > 0.0:
                    acct[A_LAST_VOL] = ctrl[api.C_VOL]
                    acct[A_LAST_REGIME] = ctrl[api.C_REGIME]
                if ctrl[api.C_KILLED] > 0.0:
                    ist[I_KILLED] = 1
                    ist[I_KILL_TS] = t
                    acct[A_KILL_REASON] = ctrl[api.C_KILL_REASON]
                    killed = True
                    break
                tside = int(ctrl[api.C_TAKER_SIDE])
                tq = min(ctrl[api.C_TAKER_SZ], abs(acct[A_POS]))
                if tside != 0 and tq > 0.0 and tside * acct[A_POS] < 0.0:
                    st[ST_TAKER_ORDERS] += 1
                    _fill(t, tside, op[i] + tside * tick, tq, False, cfg, acct, st, ist, fills_ts, fills, view,
                          params, sstate, False)
        st[ST_QUOTE_TIMERS] += 1  # every bar counts, after a kill too: uptime is over the whole run
        if killed:
            acct[A_N_REST_BID] = 0
            acct[A_N_REST_ASK] = 0
            acct[A_QUOTING] = 0.0
            if acct[A_POS] != 0.0:
                side = -1 if acct[A_POS] > 0 else 1
                st[ST_TAKER_ORDERS] += 1
                _fill(t, side, cl[i], abs(acct[A_POS]), False, cfg, acct, st, ist, fills_ts, fills, view, params,
                      sstate, False)
        else:
            nb = int(ctrl[api.C_N_BIDS])
            na = int(ctrl[api.C_N_ASKS])
            quoting = ctrl[api.C_QUOTING] > 0.0
            acct[A_QUOTING] = 1.0 if quoting else 0.0
            acct[A_N_REST_BID] = nb
            acct[A_N_REST_ASK] = na
            if quoting:
                st[ST_QUOTING] += 1
                st[ST_SPREAD_SUM] += ctrl[api.C_SPREAD_BPS]
                acct[A_LAST_SPREAD] = ctrl[api.C_SPREAD_BPS]
            if nb > 0 and na > 0:
                st[ST_QUOTE_UP] += 1
            for q in range(2):
                side = 1 if q == api.Q_BIDS else -1
                for k in range(nb if q == api.Q_BIDS else na):
                    px = quotes[q, k, api.Q_PX]
                    sz = quotes[q, k, api.Q_SZ]
                    if not (px > 0.0 and sz > 0.0):
                        continue
                    st[ST_ORDERS] += 1
                    if px * sz < cfg[B_MIN_NOTIONAL] * (1.0 - 1e-9):
                        st[ST_REJ0 + REJ_MIN_NOTIONAL] += 1
                        continue
                    if lo[i] <= px <= hi[i] and np.random.random() < cfg[B_FILL_RATE]:
                        _fill(t, side, px, sz, True, cfg, acct, st, ist, fills_ts, fills, view, params, sstate,
                              False)
        # close: mark, liquidation at the adverse extreme, drawdown, record
        pos = acct[A_POS]
        if pos != 0.0:
            worst = lo[i] if pos > 0 else hi[i]
            eq_worst = acct[A_CASH] + pos * worst
            if eq_worst < abs(pos) * worst * cfg[B_MMR]:
                acct[A_MID] = worst
                acct[A_LIQ_LOSS] += (acct[A_AVG] - worst) * pos
                st[ST_LIQUIDATIONS] += 1
                if ist[I_KILLED] == 0:
                    ist[I_KILL_TS] = t
                ist[I_KILLED] = 2
                _fill(t, -1 if pos > 0 else 1, worst, abs(pos), False, cfg, acct, st, ist, fills_ts, fills, view,
                      params, sstate, True)
        acct[A_MID] = cl[i]
        eq = acct[A_CASH] + acct[A_POS] * cl[i]
        if eq > acct[A_PEAK]:
            acct[A_PEAK] = eq
        elif acct[A_PEAK] > 0.0:
            acct[A_MAXDD] = max(acct[A_MAXDD], (acct[A_PEAK] - eq) / acct[A_PEAK])
        r = ist[I_NREC]
        rec_ts[r] = t
        rec[r, R_EQUITY] = eq
        rec[r, R_POS] = acct[A_POS]
        rec[r, R_MID] = cl[i]
        rec[r, R_SPREAD] = acct[A_LAST_SPREAD]
        rec[r, R_VOL] = acct[A_LAST_VOL]
        rec[r, R_REGIME] = acct[A_LAST_REGIME]
        rec[r, R_QUOTING] = acct[A_QUOTING]
        rec[r, R_FEES] = acct[A_FEES]
        rec[r, R_FUNDING] = acct[A_FUNDING]
        rec[r, R_N_BIDS] = acct[A_N_REST_BID]
        rec[r, R_N_ASKS] = acct[A_N_REST_ASK]
        ist[I_NREC] = r + 1
        ist[I_EVENTS] += 1
    return n


@njit(cache=True)
def _seed(value: int) -> None:
    np.random.seed(value)


def _funding_rows(market: Market, days: int | None) -> tuple[np.ndarray, np.ndarray]:
    parts_t, parts_r = [], []
    if market.has_events:
        for _, ev in market.iter_days(days):
            m = ev.kind == FUNDING
            parts_t.append(np.asarray(ev.ts[m]))
            parts_r.append(np.asarray(ev.px[m]))
    if not parts_t:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(parts_t).astype(np.int64), np.concatenate(parts_r).astype(np.float64)


def _markouts(fills_ts: np.ndarray, fills: np.ndarray, ts: np.ndarray, close: np.ndarray,
              horizons: tuple[float, ...]) -> None:
    """Mark-outs against the close of the bar in progress at fill time + horizon (coarse: 1-minute closes)."""
    if fills_ts.size == 0 or ts.size == 0:
        return
    for k, h in enumerate(horizons):
        target = fills_ts + int(h * NS_PER_S)
        j = np.searchsorted(ts, target, side="right") - 1
        ok = (j >= 0) & (target <= ts[-1] + (ts[-1] - ts[-2] if ts.size > 1 else 0))
        mid = close[np.clip(j, 0, ts.size - 1)]
        mk = fills[:, F_SIDE] * (mid - fills[:, F_PX]) / fills[:, F_PX] * 1e4
        fills[:, F_MK0 + k] = np.where(ok, mk, np.nan)


def run_bar_backtest(config: Config, market: Market, *, days: int | None = None,
                     progress: bool | ProgressFn = False) -> BacktestResult:
    from amm500.backtest.metrics import compute_metrics
    from amm500.backtest.runner import BacktestResult, check_can_trade

    bars = market.bars
    if len(bars) == 0:
        raise DataError(f"{market.root}: no bars/ day files for a bar-mode backtest")
    if len(bars) > 1 and np.any(np.diff(bars.ts) <= 0):
        raise DataError(f"{market.root}: bar times are not strictly increasing")
    check_can_trade(config, float(bars.open[0]))
    b = config.backtest
    ins = Instrument.from_config(config)
    maker, taker = ins.maker_fee, ins.taker_fee
    cfg = np.zeros(B_SIZE)
    cfg[B_FILL_RATE] = b.fill_rate
    cfg[B_MAKER_FEE] = maker
    cfg[B_TAKER_FEE] = taker
    cfg[B_MIN_NOTIONAL] = b.min_order_value
    cfg[B_MMR] = b.maintenance_margin_rate
    cfg[B_TICK] = b.tick_size
    fund_ts, fund_rate = _funding_rows(market, days)
    params = build_params(config)
    sstate = new_state()
    view, book, orders = api.new_view(), api.new_book(), api.new_orders()
    quotes, ctrl = api.new_quotes(), api.new_ctrl()
    acct = np.zeros(A_SIZE)
    st = np.zeros(ST_SIZE)
    ist = np.zeros(I_SIZE, dtype=np.int64)
    acct[A_CASH] = acct[A_START_EQUITY] = acct[A_PEAK] = b.initial_equity
    n = len(bars)
    fills_ts: np.ndarray = np.zeros(1 << 15, dtype=np.int64)
    fills: np.ndarray = np.zeros((1 << 15, F_SIZE))
    rec_ts = np.zeros(n, dtype=np.int64)
    rec = np.zeros((n, R_SIZE))
    t0 = time.perf_counter()
    run_bars(bars.ts[:0], bars.open[:0], bars.high[:0], bars.low[:0], bars.close[:0], fund_ts, fund_rate, 0, cfg,
             params, sstate, view, book, orders, quotes, ctrl, acct, st, ist, fills_ts, fills, rec_ts, rec)
    compile_s = time.perf_counter() - t0  # compile, or load from Numba's cache
    _seed(b.seed)
    t0 = time.perf_counter()
    i = 0
    report: Any = progress if callable(progress) else (lambda done, total: None)
    while i < n:
        i = run_bars(bars.ts, bars.open, bars.high, bars.low, bars.close, fund_ts, fund_rate, i, cfg, params, sstate,
                     view, book, orders, quotes, ctrl, acct, st, ist, fills_ts, fills, rec_ts, rec)
        if i < n:
            fills_ts = np.concatenate([fills_ts, np.zeros_like(fills_ts)])
            fills = np.concatenate([fills, np.zeros_like(fills)])
        report(i, n)
    kernel_s = time.perf_counter() - t0
    nf = int(ist[I_NFILLS])
    fts, fl = fills_ts[:nf].copy(), fills[:nf].copy()
    _markouts(fts, fl, bars.ts, bars.close, b.markout_horizons_s)
    result = BacktestResult(metrics={}, config=config, fill_model="bar", fills_ts=fts, fills=fl,
                            rec_ts=rec_ts[: int(ist[I_NREC])].copy(), rec=rec[: int(ist[I_NREC])].copy(), stats=st,
                            acct=acct, ist=ist, timing={"compile_s": compile_s, "kernel_s": kernel_s})
    n_days = len(market.days) if days is None else min(days, len(market.days))
    result.metrics = compute_metrics(result, events=n, days=n_days)
    result.metrics["realism"] = "LOW REALISM"
    return result
