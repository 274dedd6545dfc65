"""The tick-level backtest kernel: matching engine, latency, account and strategy calls in one loop.

One ``@njit`` function, :func:`run_segment`, walks a day of canonical events with five clocks merged
in time order (ties in this order):

1. the *exchange* cursor: each event updates the exchange book at ``ts`` and may fill our resting
   orders (queue model, trades through our price, the book crossing our price);
2. order requests arriving at the exchange (sent + order/cancel latency): post-only checks, tick /
   lot / $10 / margin / reduce-only rules, IOC walking the book;
3. responses arriving back at the strategy (+ response latency): acks, rejects, fills;
4. the *local* cursor: the same events reach the strategy's book at ``local_ts + feed_latency``
   (applied on demand, just before a response or timer reaches the strategy: nothing else reads it);
5. the strategy's timers (quote, rebalance, spread), in local time.

The strategy therefore never sees an event before its ``local_ts``, and an order cannot fill before
it reaches the exchange. The account is kept twice: the exchange's truth (fees, funding, margin,
liquidation, metrics) and the strategy's view, which only changes when a response arrives.

All state lives in arrays described in :mod:`amm500.sim.layout`; the kernel returns when the
next thing to process is later than ``t_stop`` (the day's last event) or a log buffer is nearly full,
so Python can load the next day or grow the buffer and call again.
"""

from __future__ import annotations

import math

import numpy as np

from amm500.core import api
from amm500.core.intent import ACT_TAKE, intent_commands
from amm500.core.jit import array_kernel, inline_kernel, kernel
from amm500.core.order_diff import A_KIND, A_PX, A_ROW, A_SIDE, A_SZ, ACT_CANCEL
from amm500.core.order_diff import A_SIZE as ACTION_FIELDS
from amm500.core.request_budget import address_allows, address_budget, exchange_weight
from amm500.data.schema import BOOK_CLEAR, BOOK_LEVEL, FUNDING, TRADE
from amm500.sim import latency_model, matching
from amm500.sim.book import (
    BI_BEST_ASK,
    BI_BEST_BID,
    LOCAL,
    N_LEVELS,
    S_ASK,
    S_BID,
    clear_side,
    fill_top,
    set_level,
)
from amm500.sim.layout import (
    A_EXT_VOL,
    A_FEES,
    A_FUNDING,
    A_KILL_REASON,
    A_L_AVG,
    A_L_CASH,
    A_L_FUNDING_RATE,
    A_L_MID,
    A_L_POS,
    A_L_TRADE_BUY_PX,
    A_L_TRADE_BUY_SZ,
    A_L_TRADE_SELL_PX,
    A_L_TRADE_SELL_SZ,
    A_L_TRADED_USD,
    A_LAST_REGIME,
    A_LAST_SPREAD,
    A_LAST_VOL,
    A_MID,
    A_N_REST_ASK,
    A_N_REST_BID,
    A_POS,
    A_QUOTING,
    A_START_EQUITY,
    CF_BUDGET_ON,
    CF_CANCEL_LAT,
    CF_FEED_LAT,
    CF_IP_LIMIT,
    CF_LAT_MODEL,
    CF_LAT_SIGMA,
    CF_LEVERAGE,
    CF_LOT,
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
    CF_TICK,
    CF_TIMER_ANCHOR,
    CF_TIMER_OFFSET,
    CF_TOL_BPS,
    F_MK0,
    F_PX,
    F_SIDE,
    FLAG_IOC,
    FLAG_POST_ONLY,
    FLAG_REDUCE_ONLY,
    I_BASE,
    I_DIFF_VER,
    I_EVENTS,
    I_FIRST_TS,
    I_HIWATER,
    I_IE,
    I_IL,
    I_IP_WEIGHT,
    I_IP_WIN,
    I_KILL_TS,
    I_KILLED,
    I_LAST_BOOK_XTS,
    I_LAST_SLOW,
    I_LAST_XTS,
    I_LOCAL_RAW,
    I_MK0,
    I_N_IOC,
    I_NEXT_OID,
    I_NEXT_QUOTE,
    I_NEXT_REB,
    I_NEXT_REC,
    I_NEXT_SPREAD,
    I_NFILLS,
    I_NREC,
    I_ORDERS_VER,
    I_POS_OPEN_TS,
    I_REQ_USED,
    I_RQ_HEAD,
    I_RQ_LAST,
    I_RQ_TAIL,
    I_RS_HEAD,
    I_RS_TAIL,
    I_STARTED,
    I_THROTTLED_SINCE,
    I_TIMERS,
    I_VOL_PTR,
    LS_CANCEL_SENT,
    LS_IOC,
    LS_LIVE,
    LS_SENT,
    OD_FLAGS,
    OD_LEAVES,
    OD_LST,
    OD_OID,
    OD_PX,
    OD_QTY,
    OD_SENT,
    OD_SIDE,
    OD_XST,
    R_EQUITY,
    R_FEES,
    R_FUNDING,
    R_MID,
    R_N_ASKS,
    R_N_BIDS,
    R_POS,
    R_QUOTING,
    R_REGIME,
    R_SPREAD,
    R_VOL,
    REJ_NO_SLOT,
    REQ_CANCEL,
    REQ_NEW,
    RESP_ACK,
    RESP_CANCELED,
    RESP_FILL,
    RESP_LIQUIDATION,
    RESP_REJECT,
    RING,
    RING_MASK,
    RQ_OID,
    RQ_SLOT,
    RQ_TYPE,
    RS_FEE,
    RS_FINAL,
    RS_MAKER,
    RS_OID,
    RS_PX,
    RS_SLOT,
    RS_SZ,
    RS_TYPE,
    ST_CANCELS,
    ST_IP_MAX,
    ST_IP_REFUSED,
    ST_ORDERS,
    ST_QUOTE_TIMERS,
    ST_QUOTE_UP,
    ST_QUOTING,
    ST_REJ0,
    ST_REQ_REFUSED,
    ST_REQ_REFUSED_CANCELS,
    ST_REQ_SENT,
    ST_SLOW_REQS,
    ST_SPREAD_SUM,
    ST_TAKER_ORDERS,
    ST_THROTTLED_S,
    TIMER_ANCHOR_FIRST_EXCHANGE,
    TIMER_ANCHOR_FIRST_LOCAL,
    XS_INFLIGHT,
    XS_RESTING,
)
from amm500.strategy.kernel import Strategy

_kernel = array_kernel  # every function here only touches arrays its caller owns (see amm500.core.jit)

BIG = np.iinfo(np.int64).max
EPS_QTY = 1e-12
STATUS_DONE = 0
STATUS_BUFFER_FULL = 1
FILL_HEADROOM = 4096  # fills one step may log at most (every slot, partially, twice)


# ---------------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------------


@inline_kernel
def _push_req(rq_ts: np.ndarray, rq: np.ndarray, ist: np.ndarray, cfg: np.ndarray, now: int, typ: int,
              slot: int, oid: int, lat_ns: float) -> None:
    if ist[I_RQ_TAIL] - ist[I_RQ_HEAD] >= RING:
        raise RuntimeError("backtest: order request ring overflow")
    t = latency_model.arrival(now, ist[I_RQ_LAST], int(cfg[CF_LAT_MODEL]), lat_ns, cfg[CF_LAT_SIGMA])
    ist[I_RQ_LAST] = t
    k = ist[I_RQ_TAIL] & RING_MASK
    rq_ts[k] = t
    rq[k, RQ_TYPE] = typ
    rq[k, RQ_SLOT] = slot
    rq[k, RQ_OID] = oid
    ist[I_RQ_TAIL] += 1


# ---------------------------------------------------------------------------------------------------
# exchange side
# ---------------------------------------------------------------------------------------------------


@inline_kernel
def _resolve_markouts(t: int, fills_ts: np.ndarray, fills: np.ndarray, ist: np.ndarray, acct: np.ndarray,
                      cfg: np.ndarray) -> None:
    """Mark-outs of fills whose horizon ended before ``t``: the mid then, vs the fill price."""
    n = ist[I_NFILLS]
    mid = acct[A_MID]
    for h in range(3):
        p = ist[I_MK0 + h]
        hz = int(cfg[CF_MK0 + h])
        while p < n and fills_ts[p] + hz < t:
            fpx = fills[p, F_PX]
            fills[p, F_MK0 + h] = fills[p, F_SIDE] * (mid - fpx) / fpx * 1e4
            p += 1
        ist[I_MK0 + h] = p


@inline_kernel
def _markout_due(fills_ts: np.ndarray, ist: np.ndarray, cfg: np.ndarray) -> int:
    """The exchange time after which the oldest unresolved fill of some horizon comes due (BIG: none)."""
    n = ist[I_NFILLS]
    due = BIG
    for h in range(3):
        p = ist[I_MK0 + h]
        if p < n:
            d = fills_ts[p] + int(cfg[CF_MK0 + h])
            if d < due:
                due = d
    return due


@inline_kernel
def _record(t: int, rec_ts: np.ndarray, rec: np.ndarray, ist: np.ndarray, acct: np.ndarray) -> None:
    k = ist[I_NREC]
    rec_ts[k] = t
    rec[k, R_EQUITY] = matching.equity(acct)
    rec[k, R_POS] = acct[A_POS]
    rec[k, R_MID] = acct[A_MID]
    rec[k, R_SPREAD] = acct[A_LAST_SPREAD]
    rec[k, R_VOL] = acct[A_LAST_VOL]
    rec[k, R_REGIME] = acct[A_LAST_REGIME]
    rec[k, R_QUOTING] = acct[A_QUOTING]
    rec[k, R_FEES] = acct[A_FEES]
    rec[k, R_FUNDING] = acct[A_FUNDING]
    rec[k, R_N_BIDS] = acct[A_N_REST_BID]
    rec[k, R_N_ASKS] = acct[A_N_REST_ASK]
    ist[I_NREC] = k + 1


# ---------------------------------------------------------------------------------------------------
# local (strategy) side
# ---------------------------------------------------------------------------------------------------
@inline_kernel
def _fill_view(now: int, view: np.ndarray, orders: np.ndarray, bi: np.ndarray, acct: np.ndarray,
               cfg: np.ndarray, ist: np.ndarray) -> None:
    base = ist[I_BASE]
    tick = cfg[CF_TICK]
    bb = bi[LOCAL, BI_BEST_BID]
    ba = bi[LOCAL, BI_BEST_ASK]
    view[api.V_BEST_BID] = matching.px_of(bb, base, tick) if bb >= 0 else 0.0
    view[api.V_BEST_ASK] = matching.px_of(ba, base, tick) if ba >= 0 else 0.0
    if bb >= 0 and ba >= 0:
        acct[A_L_MID] = 0.5 * (view[api.V_BEST_BID] + view[api.V_BEST_ASK])
        view[api.V_MID] = acct[A_L_MID]
    else:
        view[api.V_MID] = 0.0
    pos = acct[A_L_POS]
    mark = acct[A_L_MID]
    view[api.V_POSITION] = pos
    view[api.V_AVG_ENTRY] = acct[A_L_AVG]
    view[api.V_EQUITY] = acct[A_L_CASH] + pos * mark
    view[api.V_START_EQUITY] = acct[A_START_EQUITY]
    view[api.V_FUNDING_RATE] = acct[A_L_FUNDING_RATE]
    view[api.V_BOOK_AGE_MS] = (now - ist[I_LAST_BOOK_XTS]) / 1e6 if ist[I_LAST_BOOK_XTS] > 0 else 1e12
    view[api.V_EXT_VOL] = acct[A_EXT_VOL]
    view[api.V_POSITION_AGE_S] = (now - ist[I_POS_OPEN_TS]) / 1e9 if pos != 0.0 else 0.0
    n_open = 0
    for r in range(ist[I_HIWATER]):
        if orders[r, api.O_SIDE] != 0.0:
            n_open += 1
    view[api.V_OPEN_ORDERS] = n_open
    view[api.V_MARGIN_USED] = abs(pos) * mark / cfg[CF_LEVERAGE]
    view[api.V_TRADE_BUY_PX] = acct[A_L_TRADE_BUY_PX]
    view[api.V_TRADE_SELL_PX] = acct[A_L_TRADE_SELL_PX]
    view[api.V_TRADE_BUY_SZ] = acct[A_L_TRADE_BUY_SZ]
    view[api.V_TRADE_SELL_SZ] = acct[A_L_TRADE_SELL_SZ]
    view[api.V_TRADES_KNOWN] = 1.0
    view[api.V_ORDERS_VER] = ist[I_ORDERS_VER] + 1


@inline_kernel
def _local_apply(t: int, k: int, sd: int, p: float, q: float, inv_tick: float, base: int, lv: np.ndarray,
                 bi: np.ndarray, acct: np.ndarray, ist: np.ndarray) -> None:
    """One event reaches the strategy's side: its book, the funding rate it sees, its cash."""
    if k == BOOK_LEVEL:  # the common case first
        idx = round(p * inv_tick) - base
        if 0 <= idx < N_LEVELS:
            set_level(lv, bi, LOCAL, S_BID if sd > 0 else S_ASK, idx, q)
        ist[I_LAST_BOOK_XTS] = t
    elif k == BOOK_CLEAR:
        if sd >= 0:
            clear_side(lv, bi, LOCAL, S_BID)
        if sd <= 0:
            clear_side(lv, bi, LOCAL, S_ASK)
        ist[I_LAST_BOOK_XTS] = t
    elif k == TRADE:
        if sd > 0:
            acct[A_L_TRADE_BUY_SZ] += q
            if p > acct[A_L_TRADE_BUY_PX]:
                acct[A_L_TRADE_BUY_PX] = p
        elif sd < 0:
            acct[A_L_TRADE_SELL_SZ] += q
            if acct[A_L_TRADE_SELL_PX] <= 0.0 or p < acct[A_L_TRADE_SELL_PX]:
                acct[A_L_TRADE_SELL_PX] = p
    elif k == FUNDING:
        acct[A_L_FUNDING_RATE] = p
        acct[A_L_CASH] -= acct[A_L_POS] * acct[A_L_MID] * p


@inline_kernel
def _local_response(now: int, k: int, rs: np.ndarray, od: np.ndarray, orders: np.ndarray, bi: np.ndarray,
                    acct: np.ndarray, cfg: np.ndarray, ist: np.ndarray, view: np.ndarray,
                    params: np.ndarray, sstate: np.ndarray, strategy: Strategy) -> None:
    typ = int(rs[k, RS_TYPE])
    r = int(rs[k, RS_SLOT])
    oid = rs[k, RS_OID]
    if typ in (RESP_FILL, RESP_LIQUIDATION):
        qty = rs[k, RS_SZ]
        fpx = rs[k, RS_PX]
        fee = rs[k, RS_FEE]
        side = int(od[r, OD_SIDE]) if typ == RESP_FILL else (-1 if acct[A_L_POS] > 0 else 1)
        was_flat = acct[A_L_POS] == 0.0
        acct[A_L_CASH] -= side * fpx * qty + fee
        acct[A_L_TRADED_USD] += fpx * qty
        acct[A_L_POS], acct[A_L_AVG] = matching.apply_fill(acct[A_L_POS], acct[A_L_AVG], side, fpx, qty)
        if was_flat and acct[A_L_POS] != 0.0:
            ist[I_POS_OPEN_TS] = now
        elif (acct[A_L_POS] > 0.0) != (acct[A_L_POS] - side * qty > 0.0) and acct[A_L_POS] != 0.0:
            ist[I_POS_OPEN_TS] = now  # flipped: a new position
        if typ == RESP_FILL:
            if od[r, OD_LST] != LS_CANCEL_SENT and orders[r, api.O_SIDE] != 0.0:
                orders[r, api.O_SZ] = max(orders[r, api.O_SZ] - qty, 0.0)
                ist[I_ORDERS_VER] += 1
            if rs[k, RS_FINAL] > 0.0:
                if (int(od[r, OD_FLAGS]) & FLAG_IOC) != 0:
                    ist[I_N_IOC] -= 1
                _free_row(r, od, orders, ist)
        _fill_view(now, view, orders, bi, acct, cfg, ist)
        strategy[1](now, side, fpx, qty, rs[k, RS_MAKER] > 0.0, fee, view, params, sstate)  # on_fill
        return
    if r < 0 or od[r, OD_OID] != oid or od[r, OD_SIDE] == 0.0:
        return  # a stale answer about an order whose slot has moved on
    if typ == RESP_ACK:
        if od[r, OD_LST] == LS_SENT:
            od[r, OD_LST] = LS_LIVE
    elif typ in (RESP_REJECT, RESP_CANCELED):
        if (int(od[r, OD_FLAGS]) & FLAG_IOC) != 0:
            ist[I_N_IOC] -= 1
        _free_row(r, od, orders, ist)


@inline_kernel
def _free_row(r: int, od: np.ndarray, orders: np.ndarray, ist: np.ndarray) -> None:
    """Row ``r`` is done with on both sides. The high water comes down past free rows at the top, so the
    per-order loops (ours and the exchange's) stop at the last row still in use rather than at the
    busiest moment's (80 rows against ~45 in use on the 20-level ladder); rows left above it are empty
    in both tables, so every loop over [0, high water) does the same work on the same rows."""
    od[r, OD_SIDE] = 0.0
    orders[r, :] = 0.0
    ist[I_ORDERS_VER] += 1
    hw = ist[I_HIWATER]
    if r == hw - 1:
        while hw > 0 and od[hw - 1, OD_SIDE] == 0.0 and od[hw - 1, OD_XST] != XS_RESTING:
            hw -= 1
        ist[I_HIWATER] = hw


@_kernel
def _free_slot(od: np.ndarray, ist: np.ndarray) -> int:
    """Lowest free row: live orders stay packed at the top, so per-order loops stop at the high water."""
    for r in range(od.shape[0]):
        if od[r, OD_SIDE] == 0.0:
            if r >= ist[I_HIWATER]:
                ist[I_HIWATER] = r + 1
            return r
    return -1


@inline_kernel
def _send_new(now: int, side: int, px: float, qty: float, flags: int, od: np.ndarray, orders: np.ndarray,
              st: np.ndarray, cfg: np.ndarray, ist: np.ndarray, rq_ts: np.ndarray, rq: np.ndarray) -> int:
    r = _free_slot(od, ist)
    if r < 0:
        st[ST_REJ0 + REJ_NO_SLOT] += 1
        return -1
    oid = ist[I_NEXT_OID]
    ist[I_NEXT_OID] = oid + 1
    od[r, :] = 0.0
    od[r, OD_SIDE] = side
    od[r, OD_PX] = px
    od[r, OD_QTY] = qty
    od[r, OD_LEAVES] = qty
    od[r, OD_XST] = XS_INFLIGHT
    od[r, OD_OID] = oid
    od[r, OD_FLAGS] = flags
    od[r, OD_SENT] = now
    if (flags & FLAG_IOC) != 0:
        od[r, OD_LST] = LS_IOC
        ist[I_N_IOC] += 1
        st[ST_TAKER_ORDERS] += 1
    else:
        od[r, OD_LST] = LS_SENT
        orders[r, api.O_SIDE] = side
        orders[r, api.O_PX] = px
        orders[r, api.O_SZ] = qty
        orders[r, api.O_AGE_S] = 0.0
        ist[I_ORDERS_VER] += 1
    st[ST_ORDERS] += 1
    _push_req(rq_ts, rq, ist, cfg, now, REQ_NEW, r, oid, cfg[CF_ORDER_LAT])
    return r


@inline_kernel
def _send_cancel(now: int, r: int, od: np.ndarray, orders: np.ndarray, st: np.ndarray, cfg: np.ndarray,
                 ist: np.ndarray, rq_ts: np.ndarray, rq: np.ndarray) -> None:
    if od[r, OD_SIDE] == 0.0 or not (od[r, OD_LST] == LS_SENT or od[r, OD_LST] == LS_LIVE):
        return
    od[r, OD_LST] = LS_CANCEL_SENT
    orders[r, :] = 0.0
    ist[I_ORDERS_VER] += 1
    st[ST_CANCELS] += 1
    _push_req(rq_ts, rq, ist, cfg, now, REQ_CANCEL, r, int(od[r, OD_OID]), cfg[CF_CANCEL_LAT])


@_kernel
def _send_flatten(now: int, side: int, qty: float, od: np.ndarray, orders: np.ndarray, bi: np.ndarray,
                  st: np.ndarray, cfg: np.ndarray, ist: np.ndarray, rq_ts: np.ndarray, rq: np.ndarray) -> None:
    """A reduce-only IOC at the seen best price +- the slippage allowance (like the SDK's market order)."""
    lot = cfg[CF_LOT]
    qty = math.floor(qty / lot + 1e-9) * lot
    if qty <= 0.0:
        return
    base = ist[I_BASE]
    tick = cfg[CF_TICK]
    if side > 0:
        ref = bi[LOCAL, BI_BEST_ASK]
        if ref < 0:
            return
        limit = math.ceil(matching.px_of(ref, base, tick) * (1.0 + cfg[CF_TAKER_SLIPPAGE]) / tick) * tick
    else:
        ref = bi[LOCAL, BI_BEST_BID]
        if ref < 0:
            return
        limit = math.floor(matching.px_of(ref, base, tick) * (1.0 - cfg[CF_TAKER_SLIPPAGE]) / tick) * tick
    _send_new(now, side, limit, qty, FLAG_IOC | FLAG_REDUCE_ONLY, od, orders, st, cfg, ist, rq_ts, rq)


@_kernel
def _timer(now: int, timer: int, lv: np.ndarray, bi: np.ndarray, od: np.ndarray, acct: np.ndarray,
           st: np.ndarray, cfg: np.ndarray, ist: np.ndarray, rq_ts: np.ndarray, rq: np.ndarray, view: np.ndarray,
           book: np.ndarray, orders: np.ndarray, params: np.ndarray, sstate: np.ndarray, quotes: np.ndarray,
           ctrl: np.ndarray, actions: np.ndarray, work: np.ndarray, vol_ts: np.ndarray, vol_val: np.ndarray,
           strategy: Strategy) -> None:
    ist[I_TIMERS] += 1
    if timer == api.TIMER_QUOTE:
        # every quote timer of the run counts, after a kill too: uptime is over the whole run
        st[ST_QUOTE_TIMERS] += 1
        if acct[A_N_REST_BID] > 0 and acct[A_N_REST_ASK] > 0:
            st[ST_QUOTE_UP] += 1
    latched = ist[I_KILLED] != 0
    if latched:
        acct[A_QUOTING] = 0.0  # stopped: the strategy is not asked again (intent_commands keeps flattening)
    else:
        p = ist[I_VOL_PTR]
        while p < vol_ts.shape[0] and vol_ts[p] <= now:
            acct[A_EXT_VOL] = vol_val[p]
            p += 1
        ist[I_VOL_PTR] = p
        for r in range(ist[I_HIWATER]):
            if orders[r, api.O_SIDE] != 0.0:
                orders[r, api.O_AGE_S] = (now - od[r, OD_SENT]) / 1e9
        _fill_view(now, view, orders, bi, acct, cfg, ist)
        fill_top(lv, bi, LOCAL, ist[I_BASE], cfg[CF_TICK], book, strategy[2](params), 4096)  # book_depth
        # rows from the high water on are all empty: the strategy need not scan them (on_timer)
        strategy[0](now, timer, view, book, orders[: ist[I_HIWATER]], params, sstate, quotes, ctrl)
        # the tape the strategy was just shown starts again from here
        acct[A_L_TRADE_BUY_PX] = acct[A_L_TRADE_SELL_PX] = acct[A_L_TRADE_BUY_SZ] = acct[A_L_TRADE_SELL_SZ] = 0.0
        if ctrl[api.C_VOL] > 0.0:
            acct[A_LAST_VOL] = ctrl[api.C_VOL]
            acct[A_LAST_REGIME] = ctrl[api.C_REGIME]
        if ctrl[api.C_KILLED] > 0.0:
            ist[I_KILLED] = 1
            ist[I_KILL_TS] = now
            acct[A_QUOTING] = 0.0
            acct[A_KILL_REASON] = ctrl[api.C_KILL_REASON]
        elif timer == api.TIMER_QUOTE:
            quoting = ctrl[api.C_QUOTING] > 0.0
            acct[A_QUOTING] = 1.0 if quoting else 0.0
            if quoting:
                st[ST_QUOTING] += 1
                st[ST_SPREAD_SUM] += ctrl[api.C_SPREAD_BPS]
                acct[A_LAST_SPREAD] = ctrl[api.C_SPREAD_BPS]
    _act(now, timer, latched, quotes, ctrl, od, orders, bi, acct, st, cfg, ist, rq_ts, rq, actions, work)


@_kernel
def _budget(now: int, n: int, actions: np.ndarray, acct: np.ndarray, st: np.ndarray, cfg: np.ndarray,
            ist: np.ndarray) -> int:
    """Hyperliquid's request limits on one timer's commands (core/request_budget.py); returns how many
    remain, compacted to the front. The batch (one order action, one cancel action, one per IOC) must fit
    the minute's IP weight; then each command is one address request: under the budget it passes,
    over it one per 10 s (cancels have their larger ceiling). Refused commands are simply not sent:
    the strategy's next quote or rebalance timer asks again. With ``backtest.request_budget`` off the
    same counts are kept and nothing is refused, so a report can say what a run would have needed."""
    enforce = cfg[CF_BUDGET_ON] > 0.0
    n_cancel = 0
    n_place = 0
    n_take = 0
    for a in range(n):
        kind = actions[a, A_KIND]
        if kind == ACT_CANCEL:
            n_cancel += 1
        elif kind == ACT_TAKE:
            n_take += 1
        else:
            n_place += 1
    weight = n_take
    if n_cancel > 0:
        weight += exchange_weight(n_cancel)
    if n_place > 0:
        weight += exchange_weight(n_place)
    if ist[I_IP_WIN] == 0 or now - ist[I_IP_WIN] >= 60 * 1_000_000_000:
        ist[I_IP_WIN] = now
        ist[I_IP_WEIGHT] = 0
    if enforce and ist[I_IP_WEIGHT] + weight > cfg[CF_IP_LIMIT]:
        st[ST_IP_REFUSED] += n
        return 0
    ist[I_IP_WEIGHT] += weight
    if ist[I_IP_WEIGHT] > st[ST_IP_MAX]:
        st[ST_IP_MAX] = ist[I_IP_WEIGHT]
    traded = cfg[CF_START_VOLUME] + acct[A_L_TRADED_USD]
    out = address_budget(traded) <= ist[I_REQ_USED]
    if out and ist[I_THROTTLED_SINCE] == 0:
        ist[I_THROTTLED_SINCE] = now
    elif not out and ist[I_THROTTLED_SINCE] != 0:
        st[ST_THROTTLED_S] += (now - ist[I_THROTTLED_SINCE]) / 1e9
        ist[I_THROTTLED_SINCE] = 0
    m = 0
    for a in range(n):
        is_cancel = actions[a, A_KIND] == ACT_CANCEL
        ok, slow = address_allows(float(ist[I_REQ_USED]), traded, is_cancel, now, ist[I_LAST_SLOW])
        if enforce and not ok:
            if is_cancel:
                st[ST_REQ_REFUSED_CANCELS] += 1
            else:
                st[ST_REQ_REFUSED] += 1
            continue
        if slow and enforce:
            ist[I_LAST_SLOW] = now
            st[ST_SLOW_REQS] += 1
        ist[I_REQ_USED] += 1
        st[ST_REQ_SENT] += 1
        if m != a:
            for j in range(ACTION_FIELDS):
                actions[m, j] = actions[a, j]
        m += 1
    return m


@inline_kernel
def _act(now: int, timer: int, latched: bool, quotes: np.ndarray, ctrl: np.ndarray, od: np.ndarray,
         orders: np.ndarray, bi: np.ndarray, acct: np.ndarray, st: np.ndarray, cfg: np.ndarray, ist: np.ndarray,
         rq_ts: np.ndarray, rq: np.ndarray, actions: np.ndarray, work: np.ndarray) -> None:
    """The strategy's answer -> order requests, by the rule book the live engine shares (intent_commands).

    The ladder diff is skipped when its answer is known to be empty: the strategy says this quote timer's
    ladder is the previous one's (``C_LADDER_SAME``) and the orders are those the previous quote timer's
    diff found nothing to do about (``I_DIFF_VER``). On the 20-level ladder that is ~60% of quote timers.
    """
    quote = timer == api.TIMER_QUOTE and not latched and ctrl[api.C_KILLED] == 0.0 and ctrl[api.C_CANCEL_ALL] == 0.0
    same = quote and ctrl[api.C_LADDER_SAME] > 0.0 and ist[I_DIFF_VER] == ist[I_ORDERS_VER] + 1
    n = intent_commands(timer, latched, ist[I_N_IOC] > 0, acct[A_L_POS], ctrl, quotes, int(ctrl[api.C_N_BIDS]),
                        int(ctrl[api.C_N_ASKS]), orders[: ist[I_HIWATER]], cfg[CF_TOL_BPS], cfg[CF_SIZE_TOL], actions,
                        work, same, ist[I_ORDERS_VER] + 1)
    if timer == api.TIMER_QUOTE:  # the diff's part was empty when nothing but (at most) the take came of it
        empty = quote and (n == 0 or (n == 1 and actions[0, A_KIND] == ACT_TAKE))
        ist[I_DIFF_VER] = ist[I_ORDERS_VER] + 1 if empty else 0
    if n > 0:
        n = _budget(now, n, actions, acct, st, cfg, ist)
    flags = FLAG_POST_ONLY if cfg[CF_POST_ONLY] > 0.0 else 0
    for a in range(n):
        kind = actions[a, A_KIND]
        if kind == ACT_CANCEL:
            _send_cancel(now, int(actions[a, A_ROW]), od, orders, st, cfg, ist, rq_ts, rq)
        elif kind == ACT_TAKE:
            _send_flatten(now, int(actions[a, A_SIDE]), actions[a, A_SZ], od, orders, bi, st, cfg, ist, rq_ts, rq)
        else:
            _send_new(now, int(actions[a, A_SIDE]), actions[a, A_PX], actions[a, A_SZ], flags, od, orders, st, cfg,
                      ist, rq_ts, rq)


@inline_kernel
def _local_until(t_lim: int, strict: bool, n0: int, ts0: np.ndarray, lts0: np.ndarray, kind0: np.ndarray,
                 side0: np.ndarray, px0: np.ndarray, sz0: np.ndarray, ts: np.ndarray, lts: np.ndarray,
                 kind: np.ndarray, side: np.ndarray, px: np.ndarray, sz: np.ndarray, lv: np.ndarray, bi: np.ndarray,
                 acct: np.ndarray, cfg: np.ndarray, ist: np.ndarray) -> None:
    """Bring the strategy's book up to local time ``t_lim`` (events arriving before it, or at it unless strict).

    Only the strategy's own calls read its book, so it is caught up on demand rather than merged
    event by event with the exchange clock: the same events in the same order, half the loop turns.
    """
    il = ist[I_IL]
    raw = ist[I_LOCAL_RAW]
    feed = int(cfg[CF_FEED_LAT])
    inv_tick = 1.0 / cfg[CF_TICK]  # a multiply per event instead of a divide (same index: prices sit on the grid)
    base = ist[I_BASE]
    # the lead (earlier events not seen yet), then the day: two loops, no per-event test of which array
    while il < n0:
        nraw = max(raw, lts0[il])  # local time never runs backwards
        tl = nraw + feed
        if tl > t_lim or (strict and tl == t_lim):
            ist[I_IL] = il
            ist[I_LOCAL_RAW] = raw
            return
        raw = nraw
        _local_apply(ts0[il], kind0[il], side0[il], px0[il], sz0[il], inv_tick, base, lv, bi, acct, ist)
        il += 1
    m = il - n0
    nd = ts.shape[0]
    while m < nd:
        nraw = max(raw, lts[m])
        tl = nraw + feed
        if tl > t_lim or (strict and tl == t_lim):
            break
        raw = nraw
        _local_apply(ts[m], kind[m], side[m], px[m], sz[m], inv_tick, base, lv, bi, acct, ist)
        m += 1
    il = m + n0
    ist[I_IL] = il
    ist[I_LOCAL_RAW] = raw


@kernel
def first_fire(t_start: int, interval: int, first_xts: int, anchor: int, offset: int) -> int:
    """When a timer of ``interval`` first fires, the strategy having seen its first event at ``t_start``.

    The grid is ``origin + offset + k * interval``; ``backtest.timer_anchor`` picks the origin:

    * first_local (default): ``t_start``, and k starts at 0: every timer fires at the first event the
      strategy sees, then every interval, as the live ``QuoteLoop.run`` does at its start;
    * first_exchange: the first row's exchange time, k from 1: hftbacktest's ``elapse(step)`` loop,
      whose first return is one step after its first timestamp;
    * epoch: the Unix epoch (multiples of the interval, like a wall-clock timer).

    A grid point before ``t_start`` is skipped: the strategy has seen nothing then (the live loop has
    not started, and hftbacktest's strategy would find an empty book).
    """
    if anchor == TIMER_ANCHOR_FIRST_LOCAL:
        return t_start + offset
    t = first_xts + interval + offset if anchor == TIMER_ANCHOR_FIRST_EXCHANGE else offset
    if t < t_start:
        t += (t_start - t + interval - 1) // interval * interval
    return t


# ---------------------------------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------------------------------
@_kernel
def run_segment(
    ts: np.ndarray, lts: np.ndarray, kind: np.ndarray, side: np.ndarray, px: np.ndarray, sz: np.ndarray,
    ts0: np.ndarray, lts0: np.ndarray, kind0: np.ndarray, side0: np.ndarray, px0: np.ndarray, sz0: np.ndarray,
    t_stop: int, lv: np.ndarray, bi: np.ndarray, oc: np.ndarray, od: np.ndarray, rq_ts: np.ndarray,
    rq: np.ndarray, rs_ts: np.ndarray, rs: np.ndarray, ist: np.ndarray, acct: np.ndarray, st: np.ndarray,
    cfg: np.ndarray, view: np.ndarray, book: np.ndarray, orders: np.ndarray, params: np.ndarray,
    sstate: np.ndarray, quotes: np.ndarray, ctrl: np.ndarray, actions: np.ndarray, work: np.ndarray,
    vol_ts: np.ndarray, vol_val: np.ndarray, fills_ts: np.ndarray, fills: np.ndarray, rec_ts: np.ndarray,
    rec: np.ndarray, strategy: Strategy,
) -> int:
    """Process everything due at or before ``t_stop``; returns STATUS_DONE or STATUS_BUFFER_FULL.

    ``strategy``: the configured strategy's (on_timer, on_fill, book_depth) as function pointers
    (:func:`amm500.strategy.kernel.entry_points`), so that only it is compiled and this loop is
    compiled once for every strategy.

    ``ts..sz`` is the current day; ``ts0..sz0`` (the *lead*) holds earlier events the exchange has
    already processed but the strategy has not seen yet (the local cursor runs over lead + day).
    """
    n = ts.shape[0]
    n0 = lts0.shape[0]
    nl = n0 + n
    feed = int(cfg[CF_FEED_LAT])
    quote_int = int(cfg[CF_QUOTE_INT])
    reb_int = int(cfg[CF_REB_INT])
    spread_int = int(cfg[CF_SPREAD_INT])
    rec_int = int(cfg[CF_REC_INT])
    fill_cap = fills_ts.shape[0]
    rec_cap = rec_ts.shape[0]
    inv_tick = 1.0 / cfg[CF_TICK]  # as in _local_until
    base = ist[I_BASE]
    while True:
        if ist[I_NFILLS] + FILL_HEADROOM > fill_cap or ist[I_NREC] + 2 > rec_cap:
            return STATUS_BUFFER_FULL
        ie = ist[I_IE]
        te = ts[ie] if ie < n else BIG
        tq = rq_ts[ist[I_RQ_HEAD] & RING_MASK] if ist[I_RQ_HEAD] < ist[I_RQ_TAIL] else BIG
        tr = rs_ts[ist[I_RS_HEAD] & RING_MASK] if ist[I_RS_HEAD] < ist[I_RS_TAIL] else BIG
        tl = tt = BIG
        if ist[I_STARTED] != 0:
            # the strategy's book is caught up lazily, before each strategy call (_local_until)
            tt = min(ist[I_NEXT_QUOTE], min(ist[I_NEXT_REB], ist[I_NEXT_SPREAD]))
        elif ist[I_IL] < nl:  # not started: the first event to reach the strategy starts its timers
            il = ist[I_IL]
            tl = max(lts0[il] if il < n0 else lts[il - n0], ist[I_LOCAL_RAW]) + feed
        tmin = min(min(te, tq), min(min(tr, tl), tt))
        done = tmin > t_stop or tmin == BIG
        if not done and te == tmin:
            # a batch of market events, up to the next message, local event or timer (ties: exchange first)
            t_next = min(min(tq, tr), min(tl, tt))
            if t_next > t_stop:
                t_next = t_stop
            ie0 = ie
            # checks that only come due at known times are made when that time is passed, not per event
            t_rec = ist[I_NEXT_REC]
            t_mk = _markout_due(fills_ts, ist, cfg)
            stop = False
            while True:
                if te >= t_rec or te > t_mk:
                    # any horizon still waiting (not just the first: a 60 s mark-out must come due without new fills)
                    if te > t_mk:
                        _resolve_markouts(te, fills_ts, fills, ist, acct, cfg)
                        t_mk = _markout_due(fills_ts, ist, cfg)
                    if te >= t_rec:  # the state just before ``te`` held since the record time
                        _record(t_rec, rec_ts, rec, ist, acct)
                        nxt = t_rec + rec_int
                        t_rec = nxt if nxt > te else te - te % rec_int + rec_int
                        ist[I_NEXT_REC] = t_rec
                        stop = ist[I_NREC] + 2 > rec_cap
                # filled: something that can fill ran (responses, mark-outs and the fill log may change)
                if kind[ie] == BOOK_LEVEL:
                    filled = matching.on_level(te, side[ie], px[ie], sz[ie], inv_tick, base, lv, bi, od, oc, acct,
                                               st, cfg, ist, rs_ts, rs, fills_ts, fills)
                else:
                    matching.on_event(ie, ts, kind, side, px, sz, lv, bi, od, oc, acct, st, cfg, ist, rs_ts, rs,
                                      fills_ts, fills)
                    filled = True
                if filled:
                    if ist[I_RS_HEAD] < ist[I_RS_TAIL]:  # a fill answered: its report may be due first
                        t_next = min(t_next, rs_ts[ist[I_RS_HEAD] & RING_MASK])
                    t_mk = _markout_due(fills_ts, ist, cfg)
                    stop = stop or ist[I_NFILLS] + FILL_HEADROOM > fill_cap
                ie += 1
                if ie >= n or stop:
                    break
                te = ts[ie]
                if te > t_next:
                    break
            ist[I_LAST_XTS] = ts[ie - 1]
            ist[I_IE] = ie
            ist[I_EVENTS] += ie - ie0
            continue
        if not done and tq == tmin:
            k = ist[I_RQ_HEAD] & RING_MASK
            ist[I_RQ_HEAD] += 1
            matching.on_request(tq, k, rq, lv, bi, od, oc, acct, st, cfg, ist, rs_ts, rs, fills_ts, fills)
            continue
        # Everything else reaches the strategy, whose book is first caught up to that local time: a response
        # strictly before it (ties: the response first), a timer or the first event up to it (ties: the events
        # first), the end of the segment up to t_stop. One call site: _local_until is inlined, and Numba types
        # an inlined function once per call site (five sites cost about 25 s of cold compile).
        if not done or ist[I_STARTED] != 0:
            _local_until(t_stop if done else tmin, not done and tr == tmin, n0, ts0, lts0, kind0, side0, px0, sz0,
                         ts, lts, kind, side, px, sz, lv, bi, acct, cfg, ist)
        if done:
            return STATUS_DONE
        if tr == tmin:
            k = ist[I_RS_HEAD] & RING_MASK
            ist[I_RS_HEAD] += 1
            _local_response(tr, k, rs, od, orders, bi, acct, cfg, ist, view, params, sstate, strategy)
        elif tl == tmin:
            # the first event reaches the strategy: its timers start from here (first_fire; its book, now and
            # before every later strategy call, is caught up on demand by _local_until; ties: local before timers)
            ist[I_STARTED] = 1
            anchor = int(cfg[CF_TIMER_ANCHOR])
            offset = int(cfg[CF_TIMER_OFFSET])
            ist[I_NEXT_QUOTE] = first_fire(tl, quote_int, ist[I_FIRST_TS], anchor, offset)
            ist[I_NEXT_REB] = first_fire(tl, reb_int, ist[I_FIRST_TS], anchor, offset)
            ist[I_NEXT_SPREAD] = first_fire(tl, spread_int, ist[I_FIRST_TS], anchor, offset)
        else:
            if ist[I_NEXT_SPREAD] == tt:
                ist[I_NEXT_SPREAD] = tt + spread_int
                timer = api.TIMER_SPREAD
            elif ist[I_NEXT_REB] == tt:
                ist[I_NEXT_REB] = tt + reb_int
                timer = api.TIMER_REBALANCE
            else:
                ist[I_NEXT_QUOTE] = tt + quote_int
                timer = api.TIMER_QUOTE
            _timer(tt, timer, lv, bi, od, acct, st, cfg, ist, rq_ts, rq, view, book, orders, params, sstate, quotes,
                   ctrl, actions, work, vol_ts, vol_val, strategy)


@_kernel
def finish(rec_ts: np.ndarray, rec: np.ndarray, ist: np.ndarray, acct: np.ndarray) -> None:
    """Final record at the exchange clock's last time (the end of the run)."""
    if ist[I_LAST_XTS] > 0 and (ist[I_NREC] == 0 or rec_ts[ist[I_NREC] - 1] < ist[I_LAST_XTS]):
        _record(ist[I_LAST_XTS], rec_ts, rec, ist, acct)
