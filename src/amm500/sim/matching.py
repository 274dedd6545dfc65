"""The exchange side of the simulation: our orders against a replayed L2 book and its trade prints.

These kernels hold Hyperliquid's matching rules as the backtester applies them: the checks an order
meets on arrival (tick, lot, $10 minimum, margin, reduce-only, post-only), taking liquidity level by
level, resting with a queue estimate (:mod:`amm500.sim.queue`), fills from prints at or through our
price and from the book moving onto our price, fees, funding and liquidation at the mark. They read
and write only the exchange's fields of the state arrays (:mod:`amm500.sim.layout`: the exchange book
``lv``/``bi`` book 0, the order table's exchange columns, the account's truth) and answer through the
response ring, so any driver can run them:

* the backtest loop (:mod:`amm500.backtest.loop`) feeds them a day of events and the request ring;
* :class:`amm500.sim.core.ExchangeCore` feeds them one live event or order at a time (paper trading).
"""

from __future__ import annotations

import math

import numpy as np

from amm500.core.api import BOOK_CLEAR, FUNDING, TRADE
from amm500.core.jit import array_kernel, inline_kernel
from amm500.sim import latency_model, queue
from amm500.sim.book import BI_BEST_ASK, BI_BEST_BID, EXCH, N_LEVELS, S_ASK, S_BID, clear_side, set_level
from amm500.sim.layout import (
    A_AVG,
    A_CASH,
    A_FEES,
    A_FUNDING,
    A_LIQ_LOSS,
    A_MAX_ABS_POS,
    A_MAXBID,
    A_MAXDD,
    A_MID,
    A_MINASK,
    A_N_REST_ASK,
    A_N_REST_BID,
    A_PEAK,
    A_POS,
    A_REST_ASK_QTY,
    A_REST_BID_QTY,
    CF_LAT_MODEL,
    CF_LAT_SIGMA,
    CF_LEVERAGE,
    CF_LOT,
    CF_MAKER_FEE,
    CF_MIN_NOTIONAL,
    CF_MMR,
    CF_PARTIAL,
    CF_QUEUE_MODEL,
    CF_QUEUE_POWER,
    CF_RESP_LAT,
    CF_TAKER_FEE,
    CF_TICK,
    F_FEE,
    F_LIQ,
    F_MAKER,
    F_MID,
    F_MK0,
    F_POS,
    F_PX,
    F_SIDE,
    F_SZ,
    FLAG_IOC,
    FLAG_POST_ONLY,
    FLAG_REDUCE_ONLY,
    I_BASE,
    I_HIWATER,
    I_KILL_TS,
    I_KILLED,
    I_NFILLS,
    I_RS_HEAD,
    I_RS_LAST,
    I_RS_TAIL,
    I_SNAP_TS,
    OD_AHEAD,
    OD_CUM_TRADE,
    OD_FLAGS,
    OD_IDX,
    OD_LEAVES,
    OD_OID,
    OD_PX,
    OD_QTY,
    OD_SIDE,
    OD_XST,
    REJ_ALO,
    REJ_LOT,
    REJ_MARGIN,
    REJ_MIN_NOTIONAL,
    REJ_NO_LIQUIDITY,
    REJ_PRICE_RANGE,
    REJ_REDUCE_ONLY,
    REJ_TICK,
    REQ_NEW,
    RESP_ACK,
    RESP_CANCEL_FAIL,
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
    ST_FILLS,
    ST_FUNDING_EVENTS,
    ST_LIQUIDATIONS,
    ST_MAKER_FILLS,
    ST_MAKER_VOLUME,
    ST_NOTIONAL,
    ST_OUT_OF_RANGE,
    ST_REJ0,
    ST_TRADES_SEEN,
    ST_VOLUME,
    XS_DONE,
    XS_INFLIGHT,
    XS_RESTING,
)

EPS_QTY = 1e-12


@inline_kernel
def px_of(idx: int, base: int, tick: float) -> float:
    return (idx + base) * tick


@array_kernel
def apply_fill(pos: float, avg: float, side: int, px: float, qty: float) -> tuple[float, float]:
    """(position, average entry) after buying (+1) or selling (-1) ``qty`` at ``px``."""
    new = pos + side * qty
    if abs(new) < EPS_QTY:
        return 0.0, 0.0
    if pos == 0.0 or (pos > 0.0) == (side > 0):
        return new, (avg * abs(pos) + px * qty) / abs(new)
    if (new > 0.0) != (pos > 0.0):  # flipped through zero
        return new, px
    return new, avg


@inline_kernel
def equity(acct: np.ndarray) -> float:
    return acct[A_CASH] + acct[A_POS] * acct[A_MID]


@inline_kernel
def rest_add(r: int, od: np.ndarray, oc: np.ndarray, acct: np.ndarray) -> None:
    """Order ``r`` starts resting at its ``OD_IDX``: the per-price counts, our per-side totals and best
    prices, kept incrementally (:func:`rest_remove` undoes exactly this)."""
    px = od[r, OD_PX]
    idx = int(od[r, OD_IDX])
    if od[r, OD_SIDE] > 0:
        oc[S_BID, idx] += 1
        acct[A_N_REST_BID] += 1
        acct[A_REST_BID_QTY] += od[r, OD_LEAVES]
        if px > acct[A_MAXBID]:
            acct[A_MAXBID] = px
    else:
        oc[S_ASK, idx] += 1
        acct[A_N_REST_ASK] += 1
        acct[A_REST_ASK_QTY] += od[r, OD_LEAVES]
        if px < acct[A_MINASK]:
            acct[A_MINASK] = px


@array_kernel
def rest_remove(r: int, od: np.ndarray, oc: np.ndarray, acct: np.ndarray, cfg: np.ndarray, ist: np.ndarray) -> None:
    """Resting order ``r`` leaves the book (cancelled, or filled out: call with its leaves before the fill).

    When it was our best on its side and no other order of ours rests at its price, the next best is
    found by walking the per-price order counts ``oc`` away from the touch (a few ticks: our ladder's
    spacing), not by rescanning every order.
    """
    idx = int(od[r, OD_IDX])
    base = ist[I_BASE]
    tick = cfg[CF_TICK]
    if od[r, OD_SIDE] > 0:
        oc[S_BID, idx] -= 1
        acct[A_N_REST_BID] -= 1
        if acct[A_N_REST_BID] <= 0:
            acct[A_N_REST_BID] = 0
            acct[A_REST_BID_QTY] = 0.0
            acct[A_MAXBID] = -np.inf
            return
        acct[A_REST_BID_QTY] -= od[r, OD_LEAVES]
        if oc[S_BID, idx] == 0 and od[r, OD_PX] >= acct[A_MAXBID]:
            k = idx - 1
            while oc[S_BID, k] == 0:
                k -= 1
            acct[A_MAXBID] = px_of(k, base, tick)
    else:
        oc[S_ASK, idx] -= 1
        acct[A_N_REST_ASK] -= 1
        if acct[A_N_REST_ASK] <= 0:
            acct[A_N_REST_ASK] = 0
            acct[A_REST_ASK_QTY] = 0.0
            acct[A_MINASK] = np.inf
            return
        acct[A_REST_ASK_QTY] -= od[r, OD_LEAVES]
        if oc[S_ASK, idx] == 0 and od[r, OD_PX] <= acct[A_MINASK]:
            k = idx + 1
            while oc[S_ASK, k] == 0:
                k += 1
            acct[A_MINASK] = px_of(k, base, tick)


@inline_kernel
def push_response(rs_ts: np.ndarray, rs: np.ndarray, ist: np.ndarray, cfg: np.ndarray, now: int, typ: int,
               slot: int, oid: float, px: float, sz: float, maker: float, fee: float, final: float) -> None:
    if ist[I_RS_TAIL] - ist[I_RS_HEAD] >= RING:
        raise RuntimeError("backtest: response ring overflow")
    t = latency_model.arrival(now, ist[I_RS_LAST], int(cfg[CF_LAT_MODEL]), cfg[CF_RESP_LAT], cfg[CF_LAT_SIGMA])
    ist[I_RS_LAST] = t
    k = ist[I_RS_TAIL] & RING_MASK
    rs_ts[k] = t
    rs[k, RS_TYPE] = typ
    rs[k, RS_SLOT] = slot
    rs[k, RS_OID] = oid
    rs[k, RS_PX] = px
    rs[k, RS_SZ] = sz
    rs[k, RS_MAKER] = maker
    rs[k, RS_FEE] = fee
    rs[k, RS_FINAL] = final
    ist[I_RS_TAIL] += 1


@array_kernel
def log_fill(fills_ts: np.ndarray, fills: np.ndarray, ist: np.ndarray, acct: np.ndarray, t: int, side: int,
              px: float, qty: float, maker: bool, fee: float, liq: bool) -> None:
    k = ist[I_NFILLS]
    fills_ts[k] = t
    fills[k, F_SIDE] = side
    fills[k, F_PX] = px
    fills[k, F_SZ] = qty
    fills[k, F_MAKER] = 1.0 if maker else 0.0
    fills[k, F_FEE] = fee
    fills[k, F_MID] = acct[A_MID]
    fills[k, F_POS] = acct[A_POS]
    fills[k, F_MK0] = np.nan
    fills[k, F_MK0 + 1] = np.nan
    fills[k, F_MK0 + 2] = np.nan
    fills[k, F_LIQ] = 1.0 if liq else 0.0
    ist[I_NFILLS] = k + 1


@array_kernel
def track_equity(acct: np.ndarray) -> None:
    eq = equity(acct)
    if eq > acct[A_PEAK]:
        acct[A_PEAK] = eq
    elif acct[A_PEAK] > 0.0:
        dd = (acct[A_PEAK] - eq) / acct[A_PEAK]
        if dd > acct[A_MAXDD]:
            acct[A_MAXDD] = dd


@array_kernel
def fill(r: int, px: float, qty: float, maker: bool, t: int, od: np.ndarray, oc: np.ndarray,
               acct: np.ndarray, st: np.ndarray, cfg: np.ndarray, ist: np.ndarray, rs_ts: np.ndarray,
               rs: np.ndarray, fills_ts: np.ndarray, fills: np.ndarray) -> None:
    """Fill ``qty`` of slot ``r`` at ``px``: account, fill log, response to the strategy."""
    side = int(od[r, OD_SIDE])
    fee = px * qty * (cfg[CF_MAKER_FEE] if maker else cfg[CF_TAKER_FEE])
    acct[A_CASH] -= side * px * qty + fee
    acct[A_FEES] += fee
    acct[A_POS], acct[A_AVG] = apply_fill(acct[A_POS], acct[A_AVG], side, px, qty)
    if abs(acct[A_POS]) > acct[A_MAX_ABS_POS]:
        acct[A_MAX_ABS_POS] = abs(acct[A_POS])
    st[ST_FILLS] += 1
    st[ST_VOLUME] += qty
    st[ST_NOTIONAL] += px * qty
    if maker:
        st[ST_MAKER_FILLS] += 1
        st[ST_MAKER_VOLUME] += qty
    leaves = od[r, OD_LEAVES] - qty
    final = leaves <= cfg[CF_LOT] * 1e-6
    if od[r, OD_XST] == XS_RESTING:
        if final:
            rest_remove(r, od, oc, acct, cfg, ist)  # with its leaves before this fill
        elif side > 0:
            acct[A_REST_BID_QTY] -= qty
        else:
            acct[A_REST_ASK_QTY] -= qty
    od[r, OD_LEAVES] = 0.0 if final else leaves
    if final:
        od[r, OD_XST] = XS_DONE
    log_fill(fills_ts, fills, ist, acct, t, side, px, qty, maker, fee, False)
    push_response(rs_ts, rs, ist, cfg, t, RESP_FILL, r, od[r, OD_OID], px, qty, 1.0 if maker else 0.0, fee,
               1.0 if final else 0.0)
    track_equity(acct)


@array_kernel
def cancel_all(t: int, od: np.ndarray, oc: np.ndarray, acct: np.ndarray, cfg: np.ndarray,
                     ist: np.ndarray, rs_ts: np.ndarray, rs: np.ndarray) -> None:
    for r in range(ist[I_HIWATER]):
        if od[r, OD_XST] == XS_RESTING:
            rest_remove(r, od, oc, acct, cfg, ist)
            od[r, OD_XST] = XS_DONE
            push_response(rs_ts, rs, ist, cfg, t, RESP_CANCELED, r, od[r, OD_OID], 0.0, 0.0, 0.0, 0.0, 1.0)


@array_kernel
def check_liquidation(t: int, od: np.ndarray, oc: np.ndarray, acct: np.ndarray, st: np.ndarray,
                       cfg: np.ndarray, ist: np.ndarray, rs_ts: np.ndarray, rs: np.ndarray,
                       fills_ts: np.ndarray, fills: np.ndarray) -> None:
    """Below maintenance margin: close the whole position at the mark, cancel everything, stop."""
    pos = acct[A_POS]
    mid = acct[A_MID]
    eq = acct[A_CASH] + pos * mid
    if eq >= abs(pos) * mid * cfg[CF_MMR]:
        return
    side = -1 if pos > 0 else 1
    qty = abs(pos)
    acct[A_LIQ_LOSS] += (acct[A_AVG] - mid) * pos
    acct[A_CASH] += pos * mid
    acct[A_POS] = 0.0
    acct[A_AVG] = 0.0
    st[ST_LIQUIDATIONS] += 1
    log_fill(fills_ts, fills, ist, acct, t, side, mid, qty, False, 0.0, True)
    push_response(rs_ts, rs, ist, cfg, t, RESP_LIQUIDATION, -1, -1.0, mid, qty, 0.0, 0.0, 0.0)
    cancel_all(t, od, oc, acct, cfg, ist, rs_ts, rs)
    if ist[I_KILLED] == 0:
        ist[I_KILL_TS] = t
    ist[I_KILLED] = 2
    track_equity(acct)


@array_kernel
def fill_crossed(t: int, lv: np.ndarray, bi: np.ndarray, od: np.ndarray, oc: np.ndarray, acct: np.ndarray,
                  st: np.ndarray, cfg: np.ndarray, ist: np.ndarray, rs_ts: np.ndarray, rs: np.ndarray,
                  fills_ts: np.ndarray, fills: np.ndarray) -> None:
    """Fill (maker, at our price) resting orders the opposite best has moved onto or through."""
    base = ist[I_BASE]
    tick = cfg[CF_TICK]
    ba = bi[EXCH, BI_BEST_ASK]
    bb = bi[EXCH, BI_BEST_BID]
    ask_px = px_of(ba, base, tick) if ba >= 0 else np.inf
    bid_px = px_of(bb, base, tick) if bb >= 0 else -np.inf
    if not (acct[A_MAXBID] >= ask_px - 1e-9 or acct[A_MINASK] <= bid_px + 1e-9):
        return
    for r in range(ist[I_HIWATER]):
        if od[r, OD_XST] != XS_RESTING:
            continue
        px = od[r, OD_PX]
        if (od[r, OD_SIDE] > 0 and px >= ask_px - 1e-9) or (od[r, OD_SIDE] < 0 and px <= bid_px + 1e-9):
            fill(r, px, od[r, OD_LEAVES], True, t, od, oc, acct, st, cfg, ist, rs_ts, rs, fills_ts, fills)


@array_kernel
def on_trade(t: int, side: int, px: float, qty: float, od: np.ndarray, oc: np.ndarray, acct: np.ndarray,
              st: np.ndarray, cfg: np.ndarray, ist: np.ndarray, rs_ts: np.ndarray, rs: np.ndarray,
              fills_ts: np.ndarray, fills: np.ndarray) -> None:
    """A market trade; ``side`` is the aggressor (+1 buy lifts asks, -1 sell hits bids)."""
    if side < 0:
        if acct[A_MAXBID] < px - 1e-9:
            return
    elif side > 0:
        if acct[A_MINASK] > px + 1e-9:
            return
    else:
        return
    partial = cfg[CF_PARTIAL] > 0.0
    for r in range(ist[I_HIWATER]):
        if od[r, OD_XST] != XS_RESTING or od[r, OD_SIDE] != -side:
            continue
        opx = od[r, OD_PX]
        through = opx > px + 1e-9 if side < 0 else opx < px - 1e-9
        if through:
            fill(r, opx, od[r, OD_LEAVES], True, t, od, oc, acct, st, cfg, ist, rs_ts, rs, fills_ts, fills)
        elif abs(opx - px) <= 1e-9:
            ahead, cum = queue.on_trade(od[r, OD_AHEAD], od[r, OD_CUM_TRADE], qty)
            od[r, OD_CUM_TRADE] = cum
            lot = cfg[CF_LOT]
            if queue.reached(ahead, lot):
                take = od[r, OD_LEAVES]
                if partial:
                    take = min(take, -ahead)
                    take = math.floor(take / lot + 1e-9) * lot
                if take > 0.0:
                    fill(r, opx, take, True, t, od, oc, acct, st, cfg, ist, rs_ts, rs, fills_ts, fills)
                ahead = 0.0
            od[r, OD_AHEAD] = ahead


@array_kernel
def on_depth(s: int, idx: int, prev: float, new: float, resync: bool, od: np.ndarray, oc: np.ndarray,
              cfg: np.ndarray, ist: np.ndarray) -> None:
    """The exchange level at one of our prices changed: move our queue estimate."""
    side = 1.0 if s == S_BID else -1.0
    model = int(cfg[CF_QUEUE_MODEL])
    left = oc[s, idx]  # our orders resting there: stop looking once all are found
    for r in range(ist[I_HIWATER]):
        if left <= 0:
            break
        if od[r, OD_XST] == XS_RESTING and od[r, OD_SIDE] == side and int(od[r, OD_IDX]) == idx:
            left -= 1
            if resync:  # a snapshot after a clear: the level is re-stated, not changed
                od[r, OD_AHEAD] = min(od[r, OD_AHEAD], new)
                od[r, OD_CUM_TRADE] = 0.0
            else:
                od[r, OD_AHEAD], od[r, OD_CUM_TRADE] = queue.on_depth(
                    model, cfg[CF_QUEUE_POWER], od[r, OD_AHEAD], od[r, OD_CUM_TRADE], prev, new)


@array_kernel
def walk(t: int, r: int, limit: float, lv: np.ndarray, bi: np.ndarray, od: np.ndarray, oc: np.ndarray,
          acct: np.ndarray, st: np.ndarray, cfg: np.ndarray, ist: np.ndarray, rs_ts: np.ndarray, rs: np.ndarray,
          fills_ts: np.ndarray, fills: np.ndarray) -> float:
    """Take liquidity for slot ``r`` level by level up to ``limit``; returns the quantity left.

    The book is data, so taking does not remove the levels (no market impact, as in hftbacktest).
    """
    side = int(od[r, OD_SIDE])
    base = ist[I_BASE]
    tick = cfg[CF_TICK]
    lot = cfg[CF_LOT]
    left = od[r, OD_LEAVES]
    if side > 0:
        k = bi[EXCH, BI_BEST_ASK]
        if k < 0:
            return left
        while k < N_LEVELS and left > lot * 1e-6:
            px = px_of(k, base, tick)
            if px > limit + 1e-9:
                break
            avail = lv[EXCH, S_ASK, k]
            if avail > 0.0:
                take = min(avail, left)
                fill(r, px, take, False, t, od, oc, acct, st, cfg, ist, rs_ts, rs, fills_ts, fills)
                left = od[r, OD_LEAVES]
            k += 1
    else:
        k = bi[EXCH, BI_BEST_BID]
        if k < 0:
            return left
        while k >= 0 and left > lot * 1e-6:
            px = px_of(k, base, tick)
            if px < limit - 1e-9:
                break
            avail = lv[EXCH, S_BID, k]
            if avail > 0.0:
                take = min(avail, left)
                fill(r, px, take, False, t, od, oc, acct, st, cfg, ist, rs_ts, rs, fills_ts, fills)
                left = od[r, OD_LEAVES]
            k -= 1
    return left


@array_kernel
def reject(t: int, r: int, reason: int, od: np.ndarray, st: np.ndarray, cfg: np.ndarray, ist: np.ndarray,
            rs_ts: np.ndarray, rs: np.ndarray) -> None:
    od[r, OD_XST] = XS_DONE
    st[ST_REJ0 + reason] += 1
    push_response(rs_ts, rs, ist, cfg, t, RESP_REJECT, r, od[r, OD_OID], 0.0, 0.0, float(reason), 0.0, 1.0)


@inline_kernel
def new_order(t: int, r: int, lv: np.ndarray, bi: np.ndarray, od: np.ndarray, oc: np.ndarray, acct: np.ndarray,
              st: np.ndarray, cfg: np.ndarray, ist: np.ndarray, rs_ts: np.ndarray, rs: np.ndarray,
              fills_ts: np.ndarray, fills: np.ndarray) -> None:
    """A new order reaches the exchange: validate like Hyperliquid, then take and/or rest."""
    side = int(od[r, OD_SIDE])
    px = od[r, OD_PX]
    qty = od[r, OD_QTY]
    flags = int(od[r, OD_FLAGS])
    tick = cfg[CF_TICK]
    lot = cfg[CF_LOT]
    base = ist[I_BASE]
    ioc = (flags & FLAG_IOC) != 0
    reduce_only = (flags & FLAG_REDUCE_ONLY) != 0
    pos = acct[A_POS]
    if reduce_only:
        if pos == 0.0 or (pos > 0.0) == (side > 0):
            reject(t, r, REJ_REDUCE_ONLY, od, st, cfg, ist, rs_ts, rs)
            return
        qty = min(qty, abs(pos))
        od[r, OD_QTY] = qty
        od[r, OD_LEAVES] = qty
    if abs(px / tick - round(px / tick)) > 1e-6:
        reject(t, r, REJ_TICK, od, st, cfg, ist, rs_ts, rs)
        return
    if abs(qty / lot - round(qty / lot)) > 1e-6 or qty <= 0.0:
        reject(t, r, REJ_LOT, od, st, cfg, ist, rs_ts, rs)
        return
    # Hyperliquid lets a reduce-only order that closes the position go below the $10 minimum
    if px * qty < cfg[CF_MIN_NOTIONAL] * (1.0 - 1e-9) and not reduce_only:
        reject(t, r, REJ_MIN_NOTIONAL, od, st, cfg, ist, rs_ts, rs)
        return
    idx = round(px / tick) - base
    if idx < 0 or idx >= N_LEVELS:
        reject(t, r, REJ_PRICE_RANGE, od, st, cfg, ist, rs_ts, rs)
        return
    if not reduce_only:
        mark = acct[A_MID] if acct[A_MID] > 0.0 else px
        long_side = pos + acct[A_REST_BID_QTY] + (qty if side > 0 else 0.0)
        short_side = pos - acct[A_REST_ASK_QTY] - (qty if side < 0 else 0.0)
        need = max(abs(long_side), abs(short_side)) * mark / cfg[CF_LEVERAGE]
        if need > equity(acct):
            reject(t, r, REJ_MARGIN, od, st, cfg, ist, rs_ts, rs)
            return
    od[r, OD_IDX] = idx
    ba = bi[EXCH, BI_BEST_ASK]
    bb = bi[EXCH, BI_BEST_BID]
    crosses = (side > 0 and ba >= 0 and idx >= ba) or (side < 0 and bb >= 0 and idx <= bb)
    if crosses and (flags & FLAG_POST_ONLY) != 0:
        reject(t, r, REJ_ALO, od, st, cfg, ist, rs_ts, rs)
        return
    if ioc or crosses:
        od[r, OD_XST] = XS_INFLIGHT  # taking: not resting while it walks
        left = walk(t, r, px, lv, bi, od, oc, acct, st, cfg, ist, rs_ts, rs, fills_ts, fills)
        if od[r, OD_XST] == XS_DONE:
            return  # fully filled; the last fill was final
        if ioc:
            if left >= qty - lot * 1e-6:
                reject(t, r, REJ_NO_LIQUIDITY, od, st, cfg, ist, rs_ts, rs)
            else:
                od[r, OD_XST] = XS_DONE
                push_response(rs_ts, rs, ist, cfg, t, RESP_CANCELED, r, od[r, OD_OID], 0.0, 0.0, 0.0, 0.0, 1.0)
            return
    s = S_BID if side > 0 else S_ASK
    od[r, OD_XST] = XS_RESTING
    od[r, OD_AHEAD] = lv[EXCH, s, idx]
    od[r, OD_CUM_TRADE] = 0.0
    rest_add(r, od, oc, acct)
    push_response(rs_ts, rs, ist, cfg, t, RESP_ACK, r, od[r, OD_OID], px, od[r, OD_LEAVES], 0.0, 0.0, 0.0)


@inline_kernel
def on_request(t: int, k: int, rq: np.ndarray, lv: np.ndarray, bi: np.ndarray, od: np.ndarray,
                  oc: np.ndarray, acct: np.ndarray, st: np.ndarray, cfg: np.ndarray, ist: np.ndarray,
                  rs_ts: np.ndarray, rs: np.ndarray, fills_ts: np.ndarray, fills: np.ndarray) -> None:
    typ = int(rq[k, RQ_TYPE])
    r = int(rq[k, RQ_SLOT])
    oid = rq[k, RQ_OID]
    if typ == REQ_NEW:
        if od[r, OD_OID] == oid and od[r, OD_XST] == XS_INFLIGHT:
            if ist[I_KILLED] == 2 and (int(od[r, OD_FLAGS]) & FLAG_REDUCE_ONLY) == 0:
                reject(t, r, REJ_MARGIN, od, st, cfg, ist, rs_ts, rs)  # liquidated account
            else:
                new_order(t, r, lv, bi, od, oc, acct, st, cfg, ist, rs_ts, rs, fills_ts, fills)
    else:
        if od[r, OD_OID] == oid and od[r, OD_XST] == XS_RESTING:
            rest_remove(r, od, oc, acct, cfg, ist)
            od[r, OD_XST] = XS_DONE
            push_response(rs_ts, rs, ist, cfg, t, RESP_CANCELED, r, oid, 0.0, 0.0, 0.0, 0.0, 1.0)
        else:
            push_response(rs_ts, rs, ist, cfg, t, RESP_CANCEL_FAIL, r, oid, 0.0, 0.0, 0.0, 0.0, 0.0)


@inline_kernel
def best_changed(t: int, lv: np.ndarray, bi: np.ndarray, od: np.ndarray, oc: np.ndarray, acct: np.ndarray,
                  st: np.ndarray, cfg: np.ndarray, ist: np.ndarray, rs_ts: np.ndarray, rs: np.ndarray,
                  fills_ts: np.ndarray, fills: np.ndarray) -> None:
    """The exchange's best bid or ask moved: new mark; then, only when needed, crossed orders and margin."""
    base = ist[I_BASE]
    tick = cfg[CF_TICK]
    bb = bi[EXCH, BI_BEST_BID]
    ba = bi[EXCH, BI_BEST_ASK]
    if bb >= 0 and ba >= 0:
        acct[A_MID] = 0.5 * (bb + ba + 2 * base) * tick
    ask_px = (ba + base) * tick if ba >= 0 else np.inf
    bid_px = (bb + base) * tick if bb >= 0 else -np.inf
    if acct[A_MAXBID] >= ask_px - 1e-9 or acct[A_MINASK] <= bid_px + 1e-9:
        fill_crossed(t, lv, bi, od, oc, acct, st, cfg, ist, rs_ts, rs, fills_ts, fills)
    pos = acct[A_POS]
    if pos != 0.0:
        mid = acct[A_MID]
        eq = acct[A_CASH] + pos * mid
        if eq > acct[A_PEAK]:
            acct[A_PEAK] = eq
        elif (acct[A_PEAK] - eq) > acct[A_MAXDD] * acct[A_PEAK]:
            acct[A_MAXDD] = (acct[A_PEAK] - eq) / acct[A_PEAK]
        if eq < abs(pos) * mid * cfg[CF_MMR]:
            check_liquidation(t, od, oc, acct, st, cfg, ist, rs_ts, rs, fills_ts, fills)


@inline_kernel
def on_level(t: int, sd: int, p: float, q: float, inv_tick: float, base: int, lv: np.ndarray, bi: np.ndarray,
                od: np.ndarray, oc: np.ndarray, acct: np.ndarray, st: np.ndarray, cfg: np.ndarray, ist: np.ndarray,
                rs_ts: np.ndarray, rs: np.ndarray, fills_ts: np.ndarray, fills: np.ndarray) -> bool:
    """A book level changes at the exchange (the common event, inlined into the loop): a store, our queue
    at that price if we rest there, and a best-price check. True when the best moved (fills possible)."""
    idx = round(p * inv_tick) - base
    if idx < 0 or idx >= N_LEVELS:
        st[ST_OUT_OF_RANGE] += 1
        return False
    s = S_BID if sd > 0 else S_ASK
    bb0 = bi[EXCH, BI_BEST_BID]
    ba0 = bi[EXCH, BI_BEST_ASK]
    prev = set_level(lv, bi, EXCH, s, idx, q)
    if oc[s, idx] > 0:
        on_depth(s, idx, prev, q, ist[I_SNAP_TS] == t, od, oc, cfg, ist)
    if bi[EXCH, BI_BEST_BID] != bb0 or bi[EXCH, BI_BEST_ASK] != ba0:
        best_changed(t, lv, bi, od, oc, acct, st, cfg, ist, rs_ts, rs, fills_ts, fills)
        return True
    return False


@array_kernel
def on_event(i: int, ts: np.ndarray, kind: np.ndarray, side: np.ndarray, px: np.ndarray, sz: np.ndarray,
                lv: np.ndarray, bi: np.ndarray, od: np.ndarray, oc: np.ndarray, acct: np.ndarray, st: np.ndarray,
                cfg: np.ndarray, ist: np.ndarray, rs_ts: np.ndarray, rs: np.ndarray, fills_ts: np.ndarray,
                fills: np.ndarray) -> None:
    """Every other exchange event: trades, book clears, funding (book levels: :func:`on_level`)."""
    t = ts[i]
    k = kind[i]
    if k == TRADE:
        st[ST_TRADES_SEEN] += 1
        on_trade(t, side[i], px[i], sz[i], od, oc, acct, st, cfg, ist, rs_ts, rs, fills_ts, fills)
    elif k == BOOK_CLEAR:
        if side[i] >= 0:
            clear_side(lv, bi, EXCH, S_BID)
        if side[i] <= 0:
            clear_side(lv, bi, EXCH, S_ASK)
        ist[I_SNAP_TS] = t
    elif k == FUNDING:
        st[ST_FUNDING_EVENTS] += 1
        pay = acct[A_POS] * acct[A_MID] * px[i]  # positive rate: longs pay shorts
        acct[A_CASH] -= pay
        acct[A_FUNDING] += pay
        if acct[A_POS] != 0.0:
            track_equity(acct)
            check_liquidation(t, od, oc, acct, st, cfg, ist, rs_ts, rs, fills_ts, fills)
