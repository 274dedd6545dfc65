"""MarketMakingStrategy: the seed's quoting and risk logic as one pair of jitted kernels.

``mm_on_timer`` / ``mm_on_fill`` follow :mod:`amm500.core.api`; the backtester calls them from
its Numba loop through :mod:`amm500.strategy.kernel`, and the live engine through the
:class:`MarketMakingStrategy` wrapper below, so both quote identically on identical inputs.

One decision, in order (every step can be switched off in config):

1. bookkeeping: sample the mid for realized vol, mark out past fills, refresh risk flags;
2. kill switch: drawdown / consecutive losing round trips / session loss latch ``C_KILLED``;
   while killed: cancel all, flatten with reduce-only IOCs, quote nothing;
3. ``TIMER_SPREAD``: recompute volatility (realized, or the external forecast) and the regime;
4. ``TIMER_REBALANCE``: delta check (shrink / step back the growing side) and position timeout IOC;
5. guards: no valid book or a book older than ``stale_data_ms`` -> no quotes;
6. ladder: regime spread (+ risk widening) around a fair price shifted by inventory, L2 imbalance
   and funding; sizes on the lot, >= min order value, cut to the position / leverage / margin room;
   post-only prices never cross the book, bids strictly below asks, nothing outside the price band;
   a resting order within ``quote_tolerance_bps`` of its target keeps its price (queue place).

The ladder is built on ``TIMER_QUOTE`` calls only (the other timers answer ``C_N_BIDS = C_N_ASKS =
0``), so a driver diffs after quote timers, as the backtester and the live ``QuoteLoop`` do.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from amm500.core import api
from amm500.core.jit import array_kernel, side_kernel
from amm500.core.mm_state import (
    ROWS_CAP,
    S_ADV_BPS,
    S_BUILT_SEQ,
    S_DELTA_SIDE,
    S_INIT,
    S_KILL_REASON,
    S_KILLED,
    S_LADDER_DIRTY,
    S_LAST_TAKER_NS,
    S_LIMITED_ADD,
    S_MEMO,
    S_N_DELTA_CHECKS_HIT,
    S_N_KILL_IOC,
    S_N_LIMITED,
    S_N_STALE,
    S_N_TIMEOUT_IOC,
    S_PEAK_EQUITY,
    S_PREV_NA,
    S_PREV_NB,
    S_QUOTE_SEQ,
    S_REALIZED_VOL,
    S_REBASE,
    S_REGIME,
    S_ROWS,
    S_ROWS_NA,
    S_ROWS_NB,
    S_ROWS_VER,
    S_SESSION_START_EQUITY,
    S_VOL,
)
from amm500.core.order_rows import sort_side_rows
from amm500.core.params import (
    P_BAND_EDGE_0,
    P_BAND_SPREAD_0,
    P_DELTA_ENABLED,
    P_DELTA_SIZE_MULT,
    P_DELTA_STEP_BPS,
    P_FUND_ENABLED,
    P_FUND_SKEW_BPS,
    P_FUND_THRESHOLD,
    P_IMB_DEPTH,
    P_IMB_ENABLED,
    P_IMB_SKEW_BPS,
    P_INV_SKEW_BPS,
    P_INV_SKEW_ENABLED,
    P_INV_SKEW_STRONG,
    P_INV_SKEW_THRESHOLD,
    P_KILL_ENABLED,
    P_LEVELS,
    P_LEVERAGE,
    P_LOT,
    P_MAX_DELTA,
    P_MAX_POSITION_S,
    P_MAX_SPREAD_BPS,
    P_MIN_NOTIONAL,
    P_MIN_SPREAD_BPS,
    P_PRICE_BAND_BPS,
    P_QUOTE_TOL_BPS,
    P_SIZE_DECAY,
    P_SIZE_FRACTION,
    P_SPACING_BPS,
    P_STALE_MS,
    P_TICK,
    P_TIMEOUT_ENABLED,
    P_VOL_ENABLED,
    P_VOL_SOURCE,
    P_VOL_WINDOW_S,
)
from amm500.risk.kill_switch import kill_check, kill_fire, kill_reset, record_round_trip_fill
from amm500.risk.manager import (
    RiskManager,
    max_position,
    record_fill,
    risk_size_mult,
    risk_widen_bps,
    update_flags,
)
from amm500.signals.orderbook import depth_stats, imbalance_shift_bps
from amm500.signals.volatility import DEFAULT_REGIME, realized_vol, regime_of, vol_push

if TYPE_CHECKING:
    from amm500.config import Config

_EPS = 1e-9


# ---- pieces of the decision, each usable on its own in tests ------------------------------------


@array_kernel
def regime_spread_bps(params: np.ndarray, state: np.ndarray) -> float:
    """Full spread before risk widening: the regime's band, clamped to [min, max]; min when off."""
    lo, hi = params[P_MIN_SPREAD_BPS], params[P_MAX_SPREAD_BPS]
    if params[P_VOL_ENABLED] <= 0.0:
        return lo
    s = params[P_BAND_SPREAD_0 + int(state[S_REGIME])]
    return min(max(s, lo), hi)


@array_kernel
def recompute_vol(t_s: float, ext_vol: float, params: np.ndarray, state: np.ndarray) -> None:
    rv = realized_vol(state, t_s, params[P_VOL_WINDOW_S])
    state[S_REALIZED_VOL] = rv
    vol = ext_vol if (params[P_VOL_SOURCE] > 0.0 and math.isfinite(ext_vol)) else rv
    state[S_VOL] = vol
    state[S_REGIME] = regime_of(vol, params, P_BAND_EDGE_0)


@array_kernel
def inventory_shift_bps(position: float, mid: float, equity: float, params: np.ndarray) -> float:
    """Reservation-price shift against the position: ``inventory_skew_bps`` at the threshold
    fraction of equity, ``inventory_skew_strong_mult`` times steeper beyond it, capped at max spread."""
    if params[P_INV_SKEW_ENABLED] <= 0.0 or equity <= 0.0 or position == 0.0:
        return 0.0
    x = position * mid / equity / params[P_INV_SKEW_THRESHOLD]
    ax = abs(x)
    mag = ax if ax <= 1.0 else 1.0 + params[P_INV_SKEW_STRONG] * (ax - 1.0)
    shift = min(params[P_INV_SKEW_BPS] * mag, params[P_MAX_SPREAD_BPS])
    return -shift if x > 0.0 else shift


@array_kernel
def funding_shift_bps(funding_rate: float, position: float, mid: float, equity: float, params: np.ndarray) -> float:
    """Lean toward the side that receives funding (short when longs pay), only while the position on
    that side is still under the inventory skew threshold."""
    if params[P_FUND_ENABLED] <= 0.0 or not abs(funding_rate) >= params[P_FUND_THRESHOLD] or equity <= 0.0:
        return 0.0
    want = -1.0 if funding_rate > 0.0 else 1.0
    if want * position * mid / equity >= params[P_INV_SKEW_THRESHOLD]:
        return 0.0
    return want * params[P_FUND_SKEW_BPS]


@array_kernel
def fair_shift_bps(view: np.ndarray, book: np.ndarray, mid: float, params: np.ndarray) -> float:
    pos, eq = view[api.V_POSITION], view[api.V_EQUITY]
    shift = inventory_shift_bps(pos, mid, eq, params)
    if params[P_IMB_ENABLED] > 0.0:
        imb = depth_stats(book, int(params[P_IMB_DEPTH]))[2]
        shift += imbalance_shift_bps(imb, params[P_IMB_SKEW_BPS])
    shift += funding_shift_bps(view[api.V_FUNDING_RATE], pos, mid, eq, params)
    return shift


@array_kernel
def mm_book_depth(params: np.ndarray) -> int:
    """Book levels per side the decision reads: only the imbalance signal looks at the book."""
    if params[P_IMB_ENABLED] <= 0.0:
        return 0
    return min(int(params[P_IMB_DEPTH]), api.BOOK_DEPTH)


@array_kernel
def level_size(k: int, px: float, equity: float, mult: float, params: np.ndarray) -> float:
    """Size of ladder level ``k``: on the lot, at least the minimum order value."""
    notional = equity * params[P_LEVERAGE] * params[P_SIZE_FRACTION] * params[P_SIZE_DECAY] ** k * mult
    return size_on_lot(notional, px, params[P_LOT], params[P_MIN_NOTIONAL])


@array_kernel
def size_on_lot(notional: float, px: float, lot: float, min_notional: float) -> float:
    """``notional`` at ``px`` rounded down to the lot, or up to the minimum order value."""
    sz = math.floor(notional / px / lot + _EPS) * lot
    if sz * px < min_notional:
        sz = math.ceil(min_notional / px / lot - _EPS) * lot
        if sz * px < min_notional - _EPS:  # float fuzz: one more lot
            sz += lot
    return sz


@side_kernel
def side_rows(side: int) -> int:
    """Offset in ``state`` of ``side``'s collected rows; their prices sit ``ROWS_CAP`` further on.

    A row a level keeps is marked in place as ``-1 - row`` (:func:`mark_kept`), so the search reads
    one contiguous run of prices and one sign, not a float row index to convert and follow per order.
    """
    return S_ROWS if side > 0 else S_ROWS + ROWS_CAP // 2


@array_kernel
def collect_rows(orders: np.ndarray, state: np.ndarray) -> tuple[int, int]:
    """Gather our resting orders per side, best price first (ties: lower row first), none kept yet.

    Levels are built best first too, so each level's search for an order to keep starts where the
    previous one stopped instead of rescanning every order (O(levels + orders) per side).
    """
    nb = sort_side_rows(orders, 1, state, side_rows(1))
    na = sort_side_rows(orders, -1, state, side_rows(-1))
    for base, n in ((side_rows(1), nb), (side_rows(-1), na)):
        for j in range(n):
            state[base + ROWS_CAP + j] = orders[int(state[base + j]), api.O_PX]
    return nb, na


@array_kernel
def clear_kept(nb: int, na: int, state: np.ndarray) -> None:
    """None of the collected rows is kept by a level any more (the rows and prices stay)."""
    for base, n in ((side_rows(1), nb), (side_rows(-1), na)):
        for j in range(base, base + n):
            if state[j] < 0.0:
                state[j] = -1.0 - state[j]


@array_kernel
def mark_kept(base: int, j: int, state: np.ndarray) -> None:
    """The ``j``-th collected row of the side at ``base`` (:func:`side_rows`) is kept by a level."""
    state[base + j] = -1.0 - state[base + j]


@side_kernel
def _keep_resting(side: int, target: float, tol: float, start: int, n_rows: int, orders: np.ndarray,
                  state: np.ndarray) -> tuple[int, int]:
    """The unused order nearest ``target`` within ``tol`` (ties: the higher row), as an index into the
    collected rows (-1: none), and where the next, worse, level's search may start.

    Rows before ``start`` are better than ``target + tol`` (bids: above it) and stay so for every
    later level, whose target is worse still; the scan stops at the first row beyond ``target - tol``.
    """
    base = side_rows(side)
    pxs = base + ROWS_CAP
    lim = tol + _EPS
    while start < n_rows and side * (state[pxs + start] - target) > lim:
        start += 1
    best = -1
    best_row = -1.0
    best_d = lim
    for j in range(start, n_rows):
        diff = state[pxs + j] - target
        if -side * diff > lim:
            break
        row = state[base + j]
        if row < 0.0:  # kept by a better level already
            continue
        d = abs(diff)
        if d < best_d or (d == best_d and row > best_row):
            best, best_row, best_d = j, row, d
    return best, start


@side_kernel
def build_side(
    side: int, fair: float, mid: float, equity: float, half_bps: float, back_bps: float, mult: float,
    room: float, limit_px: float, n_rows: int, orders: np.ndarray, params: np.ndarray, state: np.ndarray,
    quotes: np.ndarray,
) -> int:
    """Write one side of the ladder; returns the number of levels. ``limit_px`` is the price a quote
    on this side must stay strictly inside of (ask for bids, bid for asks, after our own best);
    ``n_rows``: our orders on this side, as :func:`collect_rows` left them.

    Runs on every quote timer (40 levels): the parameters are read once into locals (the stores into
    ``state`` and ``quotes`` would otherwise make every level reload them), and :func:`level_size`'s
    arithmetic is done in the same order with its per-side part hoisted, so every value is the same.
    """
    q = api.Q_BIDS if side > 0 else api.Q_ASKS
    tick = params[P_TICK]
    lot = params[P_LOT]
    min_notional = params[P_MIN_NOTIONAL]
    decay = params[P_SIZE_DECAY]
    side_notional = equity * params[P_LEVERAGE] * params[P_SIZE_FRACTION]  # level_size's first two products
    base_off = fair * (half_bps + back_bps) * 1e-4
    step = params[P_SPACING_BPS] * 1e-4 * mid
    tol = params[P_QUOTE_TOL_BPS] * 1e-4 * mid
    band = params[P_PRICE_BAND_BPS] * 1e-4 * mid
    n_max = min(int(params[P_LEVELS]), api.MAX_LEVELS)
    rows = side_rows(side)
    start = 0
    prev = math.inf if side > 0 else -math.inf
    cum = 0.0
    n = 0
    limited = 0.0
    dirty = False
    for k in range(n_max):
        off = base_off + k * step
        if side > 0:
            px = math.floor((fair - off) / tick + _EPS) * tick
            px = min(px, limit_px - tick, prev - tick)
        else:
            px = math.ceil((fair + off) / tick - _EPS) * tick
            px = max(px, limit_px + tick, prev + tick)
        if abs(px - mid) > band + _EPS or px <= 0.0:
            break
        j, start = _keep_resting(side, px, tol, start, n_rows, orders, state)
        row = int(state[rows + j]) if j >= 0 else -1
        if row >= 0:
            kept = orders[row, api.O_PX]
            ok = kept <= min(limit_px - tick, prev - tick) + _EPS if side > 0 else kept >= max(
                limit_px + tick, prev + tick
            ) - _EPS
            if ok and abs(kept - mid) <= band + _EPS:
                px = kept
                mark_kept(rows, j, state)
            else:
                row = -1
        dk = 1.0 if decay == 1.0 else decay ** k  # 1.0 ** k is exactly 1.0
        sz = size_on_lot(side_notional * dk * mult, px, lot, min_notional)
        if row >= 0:
            rest = orders[row, api.O_SZ]
            if rest <= sz and rest * px >= min_notional:
                sz = rest  # a partly filled order keeps its queue place rather than being resized
        if cum + sz > room + _EPS:
            sz = math.floor((room - cum) / lot + _EPS) * lot
            limited += 1.0
            if sz <= 0.0 or sz * px < min_notional:
                break
        dirty = dirty or quotes[q, n, api.Q_PX] != px or quotes[q, n, api.Q_SZ] != sz
        quotes[q, n, api.Q_PX] = px
        quotes[q, n, api.Q_SZ] = sz
        cum += sz
        prev = px
        n += 1
    state[S_N_LIMITED] += limited
    if dirty:
        state[S_LADDER_DIRTY] = 1.0
    return n


@array_kernel
def _taker(side: int, size: float, lot: float, ctrl: np.ndarray) -> bool:
    sz = math.floor(size / lot + 0.5) * lot
    if sz <= 0.0:
        return False
    ctrl[api.C_TAKER_SIDE] = side
    ctrl[api.C_TAKER_SZ] = sz
    return True


@array_kernel
def _init_session(view: np.ndarray, state: np.ndarray) -> None:
    eq = view[api.V_EQUITY]
    start = view[api.V_START_EQUITY]
    if state[S_REBASE] > 0.0:  # after an explicit kill-switch reset: a new session starts here
        state[S_PEAK_EQUITY] = eq
        state[S_SESSION_START_EQUITY] = eq
        state[S_REBASE] = 0.0
    else:
        state[S_PEAK_EQUITY] = max(eq, start)
        state[S_SESSION_START_EQUITY] = start if start > 0.0 else eq
    if state[S_VOL] == 0.0:
        state[S_VOL] = math.nan
        state[S_REALIZED_VOL] = math.nan
        state[S_REGIME] = DEFAULT_REGIME
        state[S_ADV_BPS] = math.nan
    state[S_INIT] = 1.0


# ---- the api entry points ----------------------------------------------------------------------


@array_kernel
def mm_prelude(now_ns: int, timer: int, view: np.ndarray, params: np.ndarray, state: np.ndarray,
               ctrl: np.ndarray) -> bool:
    """Steps 1-5 of the decision (bookkeeping, kill switch, volatility, rebalance/timeout, guards),
    shared by every strategy built on the seed's mechanisms; True when a ladder may be built now."""
    ctrl[:] = 0.0
    if timer == api.TIMER_QUOTE:
        state[S_QUOTE_SEQ] += 1.0
    t_s = now_ns * 1e-9
    bid, ask = view[api.V_BEST_BID], view[api.V_BEST_ASK]
    valid = bid > 0.0 and ask > bid
    mid = 0.5 * (bid + ask) if valid else view[api.V_MID]
    equity = view[api.V_EQUITY]
    pos = view[api.V_POSITION]
    if state[S_INIT] == 0.0 and equity > 0.0:
        _init_session(view, state)
    if valid:
        vol_push(state, t_s, mid, params[P_VOL_WINDOW_S])
    update_flags(t_s, mid, params, state)

    just_fired = False
    if params[P_KILL_ENABLED] > 0.0 and state[S_KILLED] == 0.0 and state[S_INIT] > 0.0:
        reason = kill_check(equity, params, state)
        if reason != 0:
            kill_fire(reason, state)
            just_fired = True
    if timer == api.TIMER_SPREAD:
        recompute_vol(t_s, view[api.V_EXT_VOL], params, state)
    ctrl[api.C_VOL] = state[S_VOL]
    ctrl[api.C_REGIME] = state[S_REGIME]

    if state[S_KILLED] > 0.0:
        ctrl[api.C_KILLED] = 1.0
        ctrl[api.C_KILL_REASON] = state[S_KILL_REASON]
        if just_fired or view[api.V_OPEN_ORDERS] > 0.0:
            ctrl[api.C_CANCEL_ALL] = 1.0
        flatten = pos != 0.0 and (just_fired or timer == api.TIMER_REBALANCE)
        if flatten and _taker(-1 if pos > 0.0 else 1, abs(pos), params[P_LOT], ctrl):
            state[S_N_KILL_IOC] += 1.0
            state[S_LAST_TAKER_NS] = t_s
        return False

    if timer == api.TIMER_REBALANCE:
        state[S_DELTA_SIDE] = 0.0
        if params[P_DELTA_ENABLED] > 0.0 and equity > 0.0 and mid > 0.0:
            d = pos * mid / equity
            if abs(d) > params[P_MAX_DELTA]:
                state[S_DELTA_SIDE] = 1.0 if d > 0.0 else -1.0
                state[S_N_DELTA_CHECKS_HIT] += 1.0
        timed_out = (params[P_TIMEOUT_ENABLED] > 0.0 and pos != 0.0
                     and view[api.V_POSITION_AGE_S] > params[P_MAX_POSITION_S])
        if timed_out and _taker(-1 if pos > 0.0 else 1, abs(pos), params[P_LOT], ctrl):
            state[S_N_TIMEOUT_IOC] += 1.0
            state[S_LAST_TAKER_NS] = t_s

    if not valid or not equity > 0.0:
        return False
    if view[api.V_BOOK_AGE_MS] > params[P_STALE_MS]:
        state[S_N_STALE] += 1.0
        return False
    return True


@array_kernel
def side_mults(params: np.ndarray, state: np.ndarray) -> tuple[float, float, float, float]:
    """(bid size mult, ask size mult, bid step-back bps, ask step-back bps) from the risk flags and the
    delta check: the growing side shrinks and steps back."""
    size_mult = risk_size_mult(params, state)
    bid_mult, ask_mult = size_mult, size_mult
    bid_back, ask_back = 0.0, 0.0
    delta_side = state[S_DELTA_SIDE]
    if delta_side > 0.0:
        bid_mult *= params[P_DELTA_SIZE_MULT]
        bid_back = params[P_DELTA_STEP_BPS]
    elif delta_side < 0.0:
        ask_mult *= params[P_DELTA_SIZE_MULT]
        ask_back = params[P_DELTA_STEP_BPS]
    return bid_mult, ask_mult, bid_back, ask_back


@array_kernel
def mm_on_timer(
    now_ns: int, timer: int, view: np.ndarray, book: np.ndarray, orders: np.ndarray,
    params: np.ndarray, state: np.ndarray, quotes: np.ndarray, ctrl: np.ndarray,
) -> None:
    if not mm_prelude(now_ns, timer, view, params, state, ctrl):
        return
    bid, ask = view[api.V_BEST_BID], view[api.V_BEST_ASK]
    mid = 0.5 * (bid + ask)
    equity = view[api.V_EQUITY]
    pos = view[api.V_POSITION]
    widen = risk_widen_bps(params, state)
    spread = regime_spread_bps(params, state) + widen
    ctrl[api.C_SPREAD_BPS] = spread
    if timer != api.TIMER_QUOTE:
        return  # only a quote timer's ladder is acted on: building it on the others was wasted work
    half = 0.5 * spread
    fair = mid * (1.0 + fair_shift_bps(view, book, mid, params) * 1e-4)
    bid_mult, ask_mult, bid_back, ask_back = side_mults(params, state)
    quote_both_sides(fair, mid, equity, half, half, bid_back, ask_back, bid_mult, ask_mult,
                     max_position(mid, equity, params), pos, bid, ask, orders, params, state, quotes, ctrl,
                     view[api.V_ORDERS_VER])


@array_kernel
def _memo_inputs(state: np.ndarray, fair: float, mid: float, equity: float, bid_d: float, ask_d: float,
                 bid_back: float, ask_back: float, bid_mult: float, ask_mult: float, cap: float, pos: float,
                 bid: float, ask: float) -> bool:
    """True when the ladder's scalar inputs are the last ladder's, bit for bit; else stores them."""
    m = S_MEMO
    if (state[m] == fair and state[m + 1] == mid and state[m + 2] == equity and state[m + 3] == bid_d
            and state[m + 4] == ask_d and state[m + 5] == bid_back and state[m + 6] == ask_back
            and state[m + 7] == bid_mult and state[m + 8] == ask_mult and state[m + 9] == cap
            and state[m + 10] == pos and state[m + 11] == bid and state[m + 12] == ask):
        return True
    state[m] = fair
    state[m + 1] = mid
    state[m + 2] = equity
    state[m + 3] = bid_d
    state[m + 4] = ask_d
    state[m + 5] = bid_back
    state[m + 6] = ask_back
    state[m + 7] = bid_mult
    state[m + 8] = ask_mult
    state[m + 9] = cap
    state[m + 10] = pos
    state[m + 11] = bid
    state[m + 12] = ask
    return False


@array_kernel
def quote_both_sides(fair: float, mid: float, equity: float, bid_d: float, ask_d: float, bid_back: float,
                     ask_back: float, bid_mult: float, ask_mult: float, cap: float, pos: float, bid: float,
                     ask: float, orders: np.ndarray, params: np.ndarray, state: np.ndarray, quotes: np.ndarray,
                     ctrl: np.ndarray, orders_ver: float) -> None:
    """The ladder around ``fair`` (``bid_d`` / ``ask_d`` from it; a side with multiplier 0 is not quoted),
    within the position cap, asks never at or below our own best bid; the counts into ``ctrl``, and
    ``C_LADDER_SAME`` when the previous quote timer built this very ladder (a driver that saw nothing
    to do about it then, with the same orders, has nothing to do now). Every strategy that quotes a
    two-sided ladder ends here, on quote timers only.

    ``orders_ver``: the driver's ``V_ORDERS_VER`` (0: none). With one, orders unchanged since the last
    ladder are not sorted again, and when every input is the last ladder's too, that ladder (still in
    ``quotes``: only this function writes it) is the answer: the same computation on the same inputs.
    """
    known = orders_ver > 0.0 and state[S_ROWS_VER] == orders_ver
    if _memo_inputs(state, fair, mid, equity, bid_d, ask_d, bid_back, ask_back, bid_mult, ask_mult, cap, pos,
                    bid, ask) and known and state[S_BUILT_SEQ] > 0.0:
        nb = int(state[S_PREV_NB])
        na = int(state[S_PREV_NA])
        state[S_N_LIMITED] += state[S_LIMITED_ADD]
        same = state[S_BUILT_SEQ] == state[S_QUOTE_SEQ] - 1.0
    else:
        if known:  # the same orders: the same sorted rows, none kept yet
            rows_b, rows_a = int(state[S_ROWS_NB]), int(state[S_ROWS_NA])
            clear_kept(rows_b, rows_a, state)
        else:
            rows_b, rows_a = collect_rows(orders, state)
            state[S_ROWS_VER] = orders_ver
            state[S_ROWS_NB] = rows_b
            state[S_ROWS_NA] = rows_a
        limited = state[S_N_LIMITED]
        state[S_LADDER_DIRTY] = 0.0
        nb = 0
        if bid_mult > 0.0:
            nb = build_side(1, fair, mid, equity, bid_d, bid_back, bid_mult, cap - pos, ask, rows_b, orders, params,
                            state, quotes)
        best_bid_ours = quotes[api.Q_BIDS, 0, api.Q_PX] if nb > 0 else -math.inf
        na = 0
        if ask_mult > 0.0:
            na = build_side(-1, fair, mid, equity, ask_d, ask_back, ask_mult, cap + pos, max(bid, best_bid_ours),
                            rows_a, orders, params, state, quotes)
        state[S_LIMITED_ADD] = state[S_N_LIMITED] - limited
        same = (state[S_LADDER_DIRTY] == 0.0 and nb == state[S_PREV_NB] and na == state[S_PREV_NA]
                and state[S_BUILT_SEQ] == state[S_QUOTE_SEQ] - 1.0)
    ctrl[api.C_N_BIDS] = nb
    ctrl[api.C_N_ASKS] = na
    ctrl[api.C_QUOTING] = 1.0 if nb + na > 0 else 0.0
    ctrl[api.C_LADDER_SAME] = 1.0 if same else 0.0
    state[S_BUILT_SEQ] = state[S_QUOTE_SEQ]
    state[S_PREV_NB] = nb
    state[S_PREV_NA] = na


@array_kernel
def mm_on_fill(
    now_ns: int, side: int, px: float, sz: float, is_maker: bool, fee: float,
    view: np.ndarray, params: np.ndarray, state: np.ndarray,
) -> None:
    record_fill(now_ns * 1e-9, side, px, sz, is_maker, state)
    record_round_trip_fill(side, px, sz, fee, state)


# ---- Python wrapper for the live engine ----------------------------------------------------------


class MarketMakingStrategy:
    """Owns the arrays one strategy instance needs and calls the shared kernels from Python.

    The live engine fills ``view`` / ``book`` / ``orders`` in place, calls :meth:`on_timer`, then
    reads :meth:`bids`, :meth:`asks` and ``ctrl``; fills go through :meth:`on_fill`.
    """

    def __init__(self, params: np.ndarray) -> None:
        from amm500.strategy import kernel

        self._on_timer, self._on_fill, _ = kernel.entry_functions(params)  # compiles only the configured one
        self.params = params
        self.state = kernel.new_state()
        self.view = api.new_view()
        self.book = api.new_book()
        self.orders = api.new_orders()
        self.quotes = api.new_quotes()
        self.ctrl = api.new_ctrl()
        self.risk = RiskManager(params, self.state)

    @classmethod
    def from_config(cls, config: Config) -> MarketMakingStrategy:
        """The strategy ``trading.strategy`` names (the kernel dispatches on it), as in the backtester."""
        from amm500.core.params import build_params

        return cls(build_params(config))

    def on_timer(self, now_ns: int, timer: int) -> None:
        self._on_timer(
            now_ns, timer, self.view, self.book, self.orders, self.params, self.state, self.quotes, self.ctrl
        )

    def on_fill(self, now_ns: int, side: int, px: float, sz: float, is_maker: bool, fee: float) -> None:
        self._on_fill(now_ns, side, px, sz, is_maker, fee, self.view, self.params, self.state)

    def bids(self) -> np.ndarray:
        """(n, 2) array of (px, sz), best first; a copy."""
        return self.quotes[api.Q_BIDS, : int(self.ctrl[api.C_N_BIDS])].copy()

    def asks(self) -> np.ndarray:
        return self.quotes[api.Q_ASKS, : int(self.ctrl[api.C_N_ASKS])].copy()

    @property
    def killed(self) -> bool:
        return bool(self.state[S_KILLED])

    def reset_kill_switch(self, equity: float = math.nan) -> None:
        """Explicit reset of the latched kill switch (supervisor or operator only)."""
        kill_reset(self.state, equity)
