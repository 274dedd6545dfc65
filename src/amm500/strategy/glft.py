"""The edge-aware market maker: GLFT quotes, a fitted short-horizon alpha and a per-side edge gate.

``glft_on_timer`` / ``glft_on_fill`` follow :mod:`amm500.core.api` and run on the seed's machinery
(:func:`amm500.strategy.mm.mm_prelude`: volatility, risk flags, kill switch, delta rebalancing,
position timeout, stale-data guard; ``build_side``: tick/lot/min-notional/price band/keep-resting),
so the only new decisions are *where* to quote and *whether* a side pays:

1. **GLFT** (Gueant, Lehalle, Fernandez-Tapia 2013; the closed form as in hftbacktest's tutorial):
   with trade arrivals ``lambda(d) = A exp(-k d)`` at depth ``d`` (bps of the mid, per second),
   volatility ``sigma`` (bps per sqrt second), risk aversion ``gamma`` and inventory ``q`` in units
   of one order, ``c1 = ln(1 + gamma/k) / gamma``, ``c2 = sqrt(gamma / (2 A k) (1 + gamma/k)^(k/gamma + 1))``,
   half-spread ``c1 + sigma c2 / 2`` and skew ``sigma c2`` per unit: the bid sits ``half + skew q``
   below the fair price, the ask ``half - skew q`` above. The half-spread is clamped to
   ``[min_spread_bps, max_spread_bps] / 2`` (the seed's bounds) and widened by the risk flags.
2. **Calibration**, causal: every quote timer, the deepest buy and sell trade since the previous
   one (measured from the mid then) says which depths the tape reached in that interval; decayed
   counts per depth over decayed time are ``lambda(d_i)``, and a line through ``log lambda`` gives
   ``(A, k)``. ``sigma`` is the strategy's volatility (realized, or the LSTM forecast when configured).
3. **Alpha**: microprice deviation, top-N depth imbalance and trade-flow imbalance, regressed online
   (ridge, decayed) on the mid's move ``alpha_horizon_s`` later. A sample enters the regression only
   once its horizon has passed, so the weights at ``t`` use no mid after ``t``.
4. **Edge gate**: a side that would open or grow the position is quoted only where its distance from
   the mid beats the adverse move learned from our own fills on that side (the mid's move against
   us from the quote's reference mid to ``risk.adverse_markout_s`` after the fill, averaged over
   ``adverse_halflife_fills``, forgotten back to a prior
   while idle) plus the tier's maker fee (``params[P_MAKER_FEE_BPS]``, from the Instrument) plus
   ``min_edge_bps``; if that depth is wider than ``max_spread_bps`` the side is not quoted. A
   reducing side is left to GLFT's skew (holding the inventory is the larger risk).
5. **Requotes** cost requests (budgeted): a resting order is kept while its target moved less than
   ``glft.requote_bps`` (``P_QUOTE_TOL_BPS``, set by :func:`amm500.core.params.build_params`).

Trades reach the strategy through ``view[V_TRADE_*]``; a driver that does not feed them
(``V_TRADES_KNOWN = 0``) gets the prior ``(A, k)`` and no trade-flow signal.
"""

from __future__ import annotations

import math

import numpy as np

from amm500.core import api
from amm500.core.jit import array_kernel
from amm500.core.mm_state import (
    FILL_CAP,
    FILL_FIELDS,
    G_A,
    G_ACC_BUY_PX,
    G_ACC_BUY_SZ,
    G_ACC_SELL_PX,
    G_ACC_SELL_SZ,
    G_ADV_A,
    G_ADV_B,
    G_ADV_T,
    G_ALPHA_BPS,
    G_ALPHA_N,
    G_ALPHA_T,
    G_BETA,
    G_BINS,
    G_FILL_COUNT,
    G_FILL_HEAD,
    G_FILLS,
    G_FIT_OK,
    G_FLOW,
    G_FLOW_N,
    G_HALF,
    G_K,
    G_LAST_T,
    G_N_CAL,
    G_N_GATED_A,
    G_N_GATED_B,
    G_N_QUOTE_CALLS,
    G_PEND,
    G_PEND_COUNT,
    G_PEND_HEAD,
    G_PEND_LAST_T,
    G_PREV_MID,
    G_QUOTE_MID,
    G_SKEW,
    G_TIME,
    G_XTX,
    G_XTY,
    N_BINS,
    PEND_CAP,
    PEND_FIELDS,
    S_VOL,
)
from amm500.core.params import (
    P_ADV_MARKOUT_S,
    P_GLFT_A,
    P_GLFT_ADV_FORGET_S,
    P_GLFT_ADV_HL_FILLS,
    P_GLFT_ADV_PRIOR,
    P_GLFT_ALPHA,
    P_GLFT_ALPHA_H_S,
    P_GLFT_ALPHA_MAX,
    P_GLFT_ALPHA_MIN_N,
    P_GLFT_CALIBRATE,
    P_GLFT_DEPTH_STEP,
    P_GLFT_GAMMA,
    P_GLFT_GATE,
    P_GLFT_HALFLIFE_S,
    P_GLFT_K,
    P_GLFT_MIN_EDGE,
    P_GLFT_WARMUP_S,
    P_IMB_DEPTH,
    P_MAKER_FEE_BPS,
    P_MAX_SPREAD_BPS,
    P_MIN_SPREAD_BPS,
)
from amm500.risk.manager import max_position, risk_widen_bps
from amm500.signals.orderbook import depth_stats
from amm500.strategy.mm import (
    funding_shift_bps,
    level_size,
    mm_on_fill,
    mm_prelude,
    quote_both_sides,
    side_mults,
)

SECONDS_PER_YEAR = 365.0 * 86400.0


# ---- the closed form -------------------------------------------------------------------------------


@array_kernel
def glft_coefficients(gamma: float, a: float, k: float) -> tuple[float, float]:
    """``(c1, c2)`` of the GLFT approximation (order size 1): depths in 1/k's unit, A per time unit."""
    x = gamma / k
    c1 = math.log1p(x) / gamma
    c2 = math.sqrt(gamma / (2.0 * a * k) * (1.0 + x) ** (k / gamma + 1.0))
    return c1, c2


@array_kernel
def glft_depths(gamma: float, a: float, k: float, sigma: float, q: float) -> tuple[float, float, float, float]:
    """(bid depth, ask depth, half-spread, skew per unit of inventory) below/above the fair price."""
    c1, c2 = glft_coefficients(gamma, a, k)
    half = c1 + 0.5 * sigma * c2
    skew = sigma * c2
    return half + skew * q, half - skew * q, half, skew


@array_kernel
def vol_bps_per_sqrt_s(annual_vol: float) -> float:
    """Annualized volatility (0.4 = 40%) as bps of the mid per square-root second; 0 when unknown."""
    if not math.isfinite(annual_vol) or annual_vol <= 0.0:
        return 0.0
    return annual_vol * 1e4 / math.sqrt(SECONDS_PER_YEAR)


# ---- trade-intensity calibration ---------------------------------------------------------------------


@array_kernel
def fold_trades(view: np.ndarray, state: np.ndarray) -> None:
    """Accumulate the tape the driver saw since its previous call (any timer) until the next quote step."""
    if view[api.V_TRADES_KNOWN] <= 0.0:
        return
    b = view[api.V_TRADE_BUY_PX]
    if b > 0.0 and b > state[G_ACC_BUY_PX]:
        state[G_ACC_BUY_PX] = b
    s = view[api.V_TRADE_SELL_PX]
    if s > 0.0 and (state[G_ACC_SELL_PX] <= 0.0 or s < state[G_ACC_SELL_PX]):
        state[G_ACC_SELL_PX] = s
    state[G_ACC_BUY_SZ] += view[api.V_TRADE_BUY_SZ]
    state[G_ACC_SELL_SZ] += view[api.V_TRADE_SELL_SZ]


@array_kernel
def calibrate_step(t_s: float, mid: float, params: np.ndarray, state: np.ndarray) -> None:
    """One interval of tape: which depths its deepest trades reached (from the mid at its start),
    the decayed trade flow; then refit ``(A, k)``."""
    last = state[G_LAST_T]
    ref = state[G_PREV_MID]
    if last > 0.0 and ref > 0.0 and t_s > last:
        dt = t_s - last
        w = 0.5 ** (dt / params[P_GLFT_HALFLIFE_S])
        state[G_TIME] = state[G_TIME] * w + dt
        bpx, spx = state[G_ACC_BUY_PX], state[G_ACC_SELL_PX]
        d_bid = (ref - spx) / ref * 1e4 if spx > 0.0 else -math.inf  # sells reach our bids
        d_ask = (bpx - ref) / ref * 1e4 if bpx > 0.0 else -math.inf  # buys reach our asks
        step = params[P_GLFT_DEPTH_STEP]
        for i in range(N_BINS):
            d = i * step
            state[G_BINS + i] = state[G_BINS + i] * w + (1.0 if d_bid >= d else 0.0)
            state[G_BINS + N_BINS + i] = state[G_BINS + N_BINS + i] * w + (1.0 if d_ask >= d else 0.0)
        wf = 0.5 ** (dt / params[P_GLFT_ALPHA_H_S])
        bsz, ssz = state[G_ACC_BUY_SZ], state[G_ACC_SELL_SZ]
        state[G_FLOW] = state[G_FLOW] * wf + (bsz - ssz)
        state[G_FLOW_N] = state[G_FLOW_N] * wf + (bsz + ssz)
        state[G_N_CAL] += 1.0
    state[G_LAST_T] = t_s
    state[G_PREV_MID] = mid
    state[G_ACC_BUY_PX] = 0.0
    state[G_ACC_SELL_PX] = 0.0
    state[G_ACC_BUY_SZ] = 0.0
    state[G_ACC_SELL_SZ] = 0.0
    fit_intensity(params, state)


@array_kernel
def fit_intensity(params: np.ndarray, state: np.ndarray) -> bool:
    """``(A, k)`` from ``log lambda(d_i) = log A - k d_i`` over the depths both sides reached at least
    twice (decayed); the priors until ``calibration_warmup_s`` of tape or when the fit is not a decay."""
    a, k = params[P_GLFT_A], params[P_GLFT_K]
    ok = False
    tt = state[G_TIME]
    if params[P_GLFT_CALIBRATE] > 0.0 and tt > 0.0 and tt >= params[P_GLFT_WARMUP_S]:
        n = 0.0
        sx = sy = sxx = sxy = 0.0
        step = params[P_GLFT_DEPTH_STEP]
        for i in range(N_BINS):
            c = 0.5 * (state[G_BINS + i] + state[G_BINS + N_BINS + i])
            if c >= 2.0:
                x = i * step
                y = math.log(c / tt)
                n += 1.0
                sx += x
                sy += y
                sxx += x * x
                sxy += x * y
        den = n * sxx - sx * sx
        if n >= 3.0 and den > 0.0:
            slope = (n * sxy - sx * sy) / den
            if slope < 0.0:
                k = -slope
                a = math.exp((sy - slope * sx) / n)
                ok = True
    state[G_A] = a
    state[G_K] = k
    state[G_FIT_OK] = 1.0 if ok else 0.0
    return ok


# ---- the alpha ---------------------------------------------------------------------------------------


@array_kernel
def alpha_features(mid: float, book: np.ndarray, params: np.ndarray, state: np.ndarray) -> tuple[float, float, float]:
    """(microprice - mid in bps, top-N depth imbalance, decayed trade-flow imbalance), all known now."""
    bp, bs, ap, a_s = book[api.B_BID_PX, 0], book[api.B_BID_SZ, 0], book[api.B_ASK_PX, 0], book[api.B_ASK_SZ, 0]
    x1 = 0.0
    if bp > 0.0 and ap > bp and bs + a_s > 0.0:
        micro = (bp * a_s + ap * bs) / (bs + a_s)
        x1 = (micro - mid) / mid * 1e4
    x2 = depth_stats(book, int(params[P_IMB_DEPTH]))[2]
    x3 = state[G_FLOW] / state[G_FLOW_N] if state[G_FLOW_N] > 0.0 else 0.0
    return x1, x2, x3


@array_kernel
def _det3(m00: float, m01: float, m02: float, m10: float, m11: float, m12: float, m20: float, m21: float,
          m22: float) -> float:
    return m00 * (m11 * m22 - m12 * m21) - m01 * (m10 * m22 - m12 * m20) + m02 * (m10 * m21 - m11 * m20)


@array_kernel
def _solve_beta(params: np.ndarray, state: np.ndarray) -> None:
    """Ridge solution of the decayed normal equations (Cramer's rule: three unknowns, no allocation)."""
    x = G_XTX
    tr = state[x] + state[x + 4] + state[x + 8]
    lam = 1e-6 + 1e-3 * tr / 3.0
    m00, m01, m02 = state[x] + lam, state[x + 1], state[x + 2]
    m10, m11, m12 = state[x + 3], state[x + 4] + lam, state[x + 5]
    m20, m21, m22 = state[x + 6], state[x + 7], state[x + 8] + lam
    y0, y1, y2 = state[G_XTY], state[G_XTY + 1], state[G_XTY + 2]
    d = _det3(m00, m01, m02, m10, m11, m12, m20, m21, m22)
    if not abs(d) > 0.0:
        state[G_BETA] = state[G_BETA + 1] = state[G_BETA + 2] = 0.0
        return
    state[G_BETA] = _det3(y0, m01, m02, y1, m11, m12, y2, m21, m22) / d
    state[G_BETA + 1] = _det3(m00, y0, m02, m10, y1, m12, m20, y2, m22) / d
    state[G_BETA + 2] = _det3(m00, m01, y0, m10, m11, y1, m20, m21, y2) / d


@array_kernel
def alpha_step(t_s: float, mid: float, x1: float, x2: float, x3: float, params: np.ndarray,
               state: np.ndarray) -> float:
    """Resolve samples whose horizon has passed (their target: the mid move since, in bps), refit,
    queue the current sample; returns the fair-price shift in bps (0 until enough samples)."""
    h = params[P_GLFT_ALPHA_H_S]
    count = int(state[G_PEND_COUNT])
    head = int(state[G_PEND_HEAD])
    resolved = False
    while count > 0:
        oldest = (head - count + PEND_CAP) % PEND_CAP
        base = G_PEND + oldest * PEND_FIELDS
        if t_s - state[base] < h:
            break
        m0 = state[base + 4]
        y = (mid - m0) / m0 * 1e4
        w = 0.5 ** (max(t_s - state[G_ALPHA_T], 0.0) / params[P_GLFT_HALFLIFE_S]) if state[G_ALPHA_T] > 0.0 else 1.0
        state[G_ALPHA_T] = t_s
        for j in range(9):
            state[G_XTX + j] *= w
        for j in range(3):
            state[G_XTY + j] *= w
        state[G_ALPHA_N] = state[G_ALPHA_N] * w + 1.0
        f0, f1, f2 = state[base + 1], state[base + 2], state[base + 3]
        state[G_XTX] += f0 * f0
        state[G_XTX + 1] += f0 * f1
        state[G_XTX + 2] += f0 * f2
        state[G_XTX + 3] += f1 * f0
        state[G_XTX + 4] += f1 * f1
        state[G_XTX + 5] += f1 * f2
        state[G_XTX + 6] += f2 * f0
        state[G_XTX + 7] += f2 * f1
        state[G_XTX + 8] += f2 * f2
        state[G_XTY] += f0 * y
        state[G_XTY + 1] += f1 * y
        state[G_XTY + 2] += f2 * y
        count -= 1
        resolved = True
    if resolved:
        _solve_beta(params, state)
    # one sample per h/64 seconds keeps the ring (PEND_CAP) from overflowing at any quote rate
    if count < PEND_CAP and t_s - state[G_PEND_LAST_T] >= h / 64.0:
        base = G_PEND + head * PEND_FIELDS
        state[base] = t_s
        state[base + 1] = x1
        state[base + 2] = x2
        state[base + 3] = x3
        state[base + 4] = mid
        head = (head + 1) % PEND_CAP
        count += 1
        state[G_PEND_LAST_T] = t_s
    state[G_PEND_HEAD] = head
    state[G_PEND_COUNT] = count
    shift = 0.0
    if state[G_ALPHA_N] >= params[P_GLFT_ALPHA_MIN_N] * 0.5:  # decayed count: half the samples still weigh in
        cap = params[P_GLFT_ALPHA_MAX]
        shift = state[G_BETA] * x1 + state[G_BETA + 1] * x2 + state[G_BETA + 2] * x3
        shift = min(max(shift, -cap), cap)
    state[G_ALPHA_BPS] = shift
    return shift


# ---- adverse selection per side, from our own fills ---------------------------------------------------


@array_kernel
def record_maker_fill(t_s: float, side: int, mid: float, state: np.ndarray) -> None:
    head = int(state[G_FILL_HEAD])
    base = G_FILLS + head * FILL_FIELDS
    state[base] = side
    state[base + 1] = t_s
    state[base + 2] = mid
    state[G_FILL_HEAD] = (head + 1) % FILL_CAP
    state[G_FILL_COUNT] = min(state[G_FILL_COUNT] + 1.0, FILL_CAP)


@array_kernel
def adverse_step(t_s: float, mid: float, params: np.ndarray, state: np.ndarray) -> None:
    """Forget toward the prior while idle, then average in fills whose mark-out horizon has passed:
    ``side * (ref - mid now) / ref`` in bps with ``ref`` the mid the filled quote was placed against,
    positive when the market went against us. A quote ``d`` bps from the mid then earns ``d - this``
    before fees: the edge the gate asks for."""
    prior = params[P_GLFT_ADV_PRIOR]
    if state[G_ADV_T] <= 0.0:
        state[G_ADV_B] = prior
        state[G_ADV_A] = prior
    else:
        f = 0.5 ** (max(t_s - state[G_ADV_T], 0.0) / params[P_GLFT_ADV_FORGET_S])
        state[G_ADV_B] = prior + (state[G_ADV_B] - prior) * f
        state[G_ADV_A] = prior + (state[G_ADV_A] - prior) * f
    state[G_ADV_T] = t_s
    w = 1.0 - 0.5 ** (1.0 / params[P_GLFT_ADV_HL_FILLS])
    count = int(state[G_FILL_COUNT])
    head = int(state[G_FILL_HEAD])
    horizon = params[P_ADV_MARKOUT_S]
    while count > 0:
        oldest = (head - count + FILL_CAP) % FILL_CAP
        base = G_FILLS + oldest * FILL_FIELDS
        if t_s - state[base + 1] < horizon:
            break
        side, m0 = state[base], state[base + 2]
        if m0 > 0.0:
            adv = side * (m0 - mid) / m0 * 1e4
            slot = G_ADV_B if side > 0.0 else G_ADV_A
            state[slot] += w * (adv - state[slot])
        count -= 1
    state[G_FILL_COUNT] = count


# ---- the api entry points -----------------------------------------------------------------------------


@array_kernel
def glft_book_depth(params: np.ndarray) -> int:
    """The alpha reads the top ``imbalance_depth`` levels (at least the touch, for the microprice)."""
    return max(1, min(int(params[P_IMB_DEPTH]), api.BOOK_DEPTH))


@array_kernel
def glft_on_timer(
    now_ns: int, timer: int, view: np.ndarray, book: np.ndarray, orders: np.ndarray,
    params: np.ndarray, state: np.ndarray, quotes: np.ndarray, ctrl: np.ndarray,
) -> None:
    fold_trades(view, state)
    go = mm_prelude(now_ns, timer, view, params, state, ctrl)
    t_s = now_ns * 1e-9
    bid, ask = view[api.V_BEST_BID], view[api.V_BEST_ASK]
    if not (bid > 0.0 and ask > bid):
        return
    mid = 0.5 * (bid + ask)
    adverse_step(t_s, mid, params, state)
    if state[G_A] <= 0.0:
        state[G_A] = params[P_GLFT_A]
        state[G_K] = params[P_GLFT_K]
    if timer == api.TIMER_QUOTE:
        state[G_N_QUOTE_CALLS] += 1.0
        state[G_QUOTE_MID] = mid
        if view[api.V_TRADES_KNOWN] > 0.0:
            calibrate_step(t_s, mid, params, state)
        x1, x2, x3 = alpha_features(mid, book, params, state)
        alpha_step(t_s, mid, x1, x2, x3, params, state)
    if not go:
        return
    equity = view[api.V_EQUITY]
    pos = view[api.V_POSITION]
    unit = level_size(0, mid, equity, 1.0, params)
    q = pos / unit if unit > 0.0 else 0.0
    sigma = vol_bps_per_sqrt_s(state[S_VOL])
    _, _, half, skew = glft_depths(params[P_GLFT_GAMMA], state[G_A], state[G_K], sigma, q)
    state[G_HALF] = half
    state[G_SKEW] = skew
    half = min(max(half, 0.5 * params[P_MIN_SPREAD_BPS]), 0.5 * params[P_MAX_SPREAD_BPS])
    half += 0.5 * risk_widen_bps(params, state)
    bid_d = half + skew * q
    ask_d = half - skew * q
    ctrl[api.C_SPREAD_BPS] = bid_d + ask_d
    if timer != api.TIMER_QUOTE:
        return
    shift = funding_shift_bps(view[api.V_FUNDING_RATE], pos, mid, equity, params)
    if params[P_GLFT_ALPHA] > 0.0:
        shift += state[G_ALPHA_BPS]
    fair = mid * (1.0 + shift * 1e-4)
    bid_mult, ask_mult, bid_back, ask_back = side_mults(params, state)
    if params[P_GLFT_GATE] > 0.0:
        fee = params[P_MAKER_FEE_BPS] + params[P_GLFT_MIN_EDGE]
        widest = params[P_MAX_SPREAD_BPS]
        if pos >= 0.0:  # a bid fill opens or grows a long: it must pay for itself
            need = state[G_ADV_B] + fee
            if need > widest:
                bid_mult = 0.0
                state[G_N_GATED_B] += 1.0
            elif bid_d - shift < need:
                bid_d = need + shift
        if pos <= 0.0:
            need = state[G_ADV_A] + fee
            if need > widest:
                ask_mult = 0.0
                state[G_N_GATED_A] += 1.0
            elif ask_d + shift < need:
                ask_d = need - shift
    quote_both_sides(fair, mid, equity, bid_d, ask_d, bid_back, ask_back, bid_mult, ask_mult,
                     max_position(mid, equity, params), pos, bid, ask, orders, params, state, quotes, ctrl,
                     view[api.V_ORDERS_VER])


@array_kernel
def glft_on_fill(
    now_ns: int, side: int, px: float, sz: float, is_maker: bool, fee: float,
    view: np.ndarray, params: np.ndarray, state: np.ndarray,
) -> None:
    mm_on_fill(now_ns, side, px, sz, is_maker, fee, view, params, state)
    if is_maker:
        # adverse selection is measured from the mid our quote was placed against, not the mid at the
        # fill: a resting quote is filled when the market moves through it, and that move is the cost
        ref = state[G_QUOTE_MID] if state[G_QUOTE_MID] > 0.0 else px
        record_maker_fill(now_ns * 1e-9, side, ref, state)
