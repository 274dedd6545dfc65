"""Numba kernels of the synthetic BTC perpetual (see :mod:`amm500.data.synthetic` and docs/data.md).

The market is simulated in exchange time, one book snapshot interval (~0.55 s) at a time:

* an efficient price ``x`` (in ticks) moves only through events: every taker order pushes it by a
  square-root impact, "news" moves it at Poisson times, rare jumps arrive as liquidation bursts;
* the variance those events carry is scaled to a volatility that switches between five regimes and
  wobbles inside each (log-OU stochastic volatility), so realized volatility clusters;
* a fraction of takers are informed: they trade in the direction of the next news move, so the
  sign of a trade predicts the next mid moves and passive fills are adversely selected;
* the order book lives on absolute price ticks (a ring of slots stamped with their tick), so a
  level keeps its size when the price moves; each snapshot re-centres the touch on ``x``, resamples
  a random subset of the visible levels and reads out the top 20 non-empty levels per side.

Randomness comes from an in-kernel xoshiro256** generator whose whole state is a ``uint64[4]``
array: output depends on the seed only, never on NumPy's or Numba's global generators.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from amm500.core.jit import kernel

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
SECONDS_PER_YEAR = 365.0 * 86_400.0
RING = 1 << 16  # price slots per side; stamps make aliasing harmless
N_REGIMES = 5
DEPTH = 20
MAX_SCAN = 120  # ticks scanned from the touch to find 20 non-empty levels
MAX_FILLS_PER_LEVEL = 12

# Float state (fs) and int state (ist) layouts.
F_X, F_LOGV, F_PREM, F_X_SNAP, F_NEWS_MAG, F_BURST_STEP = 0, 1, 2, 3, 4, 5
N_FSTATE = 6
I_T_CLOCK, I_NEXT_SNAP, I_REGIME, I_BID, I_ASK, I_LAST_LOCAL, I_FUND_HOUR, I_NEWS_SIGN = 0, 1, 2, 3, 4, 5, 6, 7
I_BURST_LEFT, I_BURST_SIGN, I_STARTED = 8, 9, 10
N_ISTATE = 11


class KernelParams(NamedTuple):
    """Flat numeric form of :class:`amm500.data.synthetic.MarketParams` that Numba can take."""

    inv_lot: float
    tiny_lots: int
    snap_ms: float
    snap_sigma: float
    lat_ms: float
    lat_sigma: float
    lat_cap_ms: float
    regime_vol: tuple[float, float, float, float, float]
    regime_cum: tuple[float, float, float, float, float]  # cumulative jump-chain probabilities
    regime_mean_s: tuple[float, float, float, float, float]
    sv_sigma: float
    sv_tau_s: float
    act_ref_vol: float
    act_exp: float
    act_min: float
    act_max: float
    taker_rate: float
    informed_share: float
    impact_share: float
    taker_median_lots: float
    taker_sigma: float
    taker_alpha: float
    taker_cap_lots: float
    taker_mean_lots: float  # E[min(q, cap)], normalises the impact
    max_sweep: int
    maker_median_lots: float
    maker_sigma: float
    maker_tiny_share: float
    news_rate: float
    jump_rate: float  # per second, at activity 1
    jump_scale: float
    jump_alpha: float
    jump_cap: float
    burst_takers: int
    burst_gap_s: float
    wide_prob: float
    wide_move_prob: float
    wide_move_ticks: float
    wide_xm: float
    wide_alpha: float
    wide_max: int
    lvl0_mu: float
    lvl0_sigma: float
    lvl1_median: float
    deep_median: float
    depth_scale: float
    lvl_sigma: float
    tiny_share0: float
    tiny_share: float
    empty_share: float
    change_prob0: float
    change_prob: float
    size_ar: float
    fund_mean: float
    fund_sd: float
    fund_ar: float
    fund_interest: float
    fund_clamp: float
    fund_cap: float
    fund_jitter_ms: float


# --------------------------------------------------------------------------------------------- RNG


@njit(cache=True, inline="always")
def _rotl(x: np.uint64, k: int) -> np.uint64:
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@kernel
def _next_u64(s: np.ndarray) -> np.uint64:
    """xoshiro256** (Blackman & Vigna): fast, 256-bit state, passes BigCrush."""
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    s[0], s[1], s[2], s[3] = s0, s1, s2, s3
    return result


@kernel
def uniform(s: np.ndarray) -> float:
    """Uniform on the open interval (0, 1): safe for logs and inverse powers."""
    return (float(_next_u64(s) >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)


@kernel
def normal(s: np.ndarray) -> float:
    return math.sqrt(-2.0 * math.log(uniform(s))) * math.cos(2.0 * math.pi * uniform(s))


@kernel
def exponential(s: np.ndarray) -> float:
    return -math.log(uniform(s))


def seed_state(seed: int) -> np.ndarray:
    """xoshiro state from a seed via splitmix64 (the generator authors' recommended seeding)."""
    mask = (1 << 64) - 1
    z = seed & mask
    out = np.empty(4, dtype=np.uint64)
    for i in range(4):
        z = (z + 0x9E3779B97F4A7C15) & mask
        r = z
        r = ((r ^ (r >> 30)) * 0xBF58476D1CE4E5B9) & mask
        r = ((r ^ (r >> 27)) * 0x94D049BB133111EB) & mask
        out[i] = r ^ (r >> 31)
    return out


# ------------------------------------------------------------------------------------ volatility


@kernel
def _draw_regime(p: KernelParams, rng: np.ndarray) -> int:
    u = uniform(rng)
    for r in range(N_REGIMES - 1):
        if u < p.regime_cum[r]:
            return r
    return N_REGIMES - 1


@kernel
def _vol_step(p: KernelParams, rng: np.ndarray, fs: np.ndarray, ist: np.ndarray, dt: float) -> None:
    """Advance regime (Markov, exponential stays) and the log-OU volatility wobble by ``dt`` seconds."""
    if uniform(rng) < 1.0 - math.exp(-dt / p.regime_mean_s[ist[I_REGIME]]):
        ist[I_REGIME] = _draw_regime(p, rng)
    a = math.exp(-dt / p.sv_tau_s)
    fs[F_LOGV] = fs[F_LOGV] * a + p.sv_sigma * math.sqrt(1.0 - a * a) * normal(rng)


@kernel
def current_vol(p: KernelParams, fs: np.ndarray, ist: np.ndarray) -> float:
    """Annualized volatility now; E[vol^2] over the wobble equals the regime's vol^2."""
    return p.regime_vol[ist[I_REGIME]] * math.exp(fs[F_LOGV] - p.sv_sigma * p.sv_sigma)


@kernel
def _activity(p: KernelParams, vol: float) -> float:
    a = (vol / p.act_ref_vol) ** p.act_exp
    return min(max(a, p.act_min), p.act_max)


@kernel
def volatility_path(p: KernelParams, rng: np.ndarray, n_steps: int, dt: float) -> tuple:
    """The regime process alone: (vol, regime) every ``dt`` seconds, for tests and docs."""
    fs = np.zeros(N_FSTATE)
    ist = np.zeros(N_ISTATE, dtype=np.int64)
    ist[I_REGIME] = _draw_regime(p, rng)
    vol = np.empty(n_steps)
    reg = np.empty(n_steps, dtype=np.int64)
    for i in range(n_steps):
        _vol_step(p, rng, fs, ist, dt)
        vol[i] = current_vol(p, fs, ist)
        reg[i] = ist[I_REGIME]
    return vol, reg


# ------------------------------------------------------------------------------------------ book


@kernel
def _round_lots(v_lots: float, p: KernelParams) -> float:
    q = float(round(v_lots))
    if q < p.tiny_lots:
        q = float(p.tiny_lots)
    return min(q, 1e8)


@kernel
def level_table(p: KernelParams) -> np.ndarray:
    """Per-depth (log-median, sigma, tiny share) of a level's size, so the scan reads rather than recomputes."""
    tab = np.empty((MAX_SCAN, 3))
    for d in range(MAX_SCAN):
        if d == 0:
            tab[d, 0] = p.lvl0_mu
            tab[d, 1] = p.lvl0_sigma
            tab[d, 2] = p.tiny_share0
        else:
            m = p.lvl1_median + (p.deep_median - p.lvl1_median) * (1.0 - math.exp(-(d - 1) / p.depth_scale))
            tab[d, 0] = math.log(m * p.inv_lot)
            tab[d, 1] = p.lvl_sigma
            tab[d, 2] = p.tiny_share
    return tab


@kernel
def _level_size(rng: np.ndarray, tab: np.ndarray, d: int, old: float, empty_share: float, tiny_lots: int,
                size_ar: float) -> float:
    """New size (in lots, 0 = empty) of a level ``d`` ticks from the touch; ``old`` < 0 means a fresh slot.

    Takes scalars and the per-depth table rather than the whole parameter tuple: it runs ~20 times per
    snapshot, and passing Numba's flattened 60-field tuple on every call cost more than the draw itself.
    """
    u = uniform(rng)
    if d > 0 and u < empty_share:
        return 0.0
    if uniform(rng) < tab[d, 2]:
        return float(tiny_lots)
    mu = tab[d, 0]
    sig = tab[d, 1]
    if old > tiny_lots:
        z = mu + size_ar * (math.log(old) - mu) + math.sqrt(1.0 - size_ar * size_ar) * sig * normal(rng)
    else:
        z = mu + sig * normal(rng)
    q = float(round(math.exp(z)))
    if q < tiny_lots:
        q = float(tiny_lots)
    return min(q, 1e8)


@kernel
def _invalidate(ring_tick: np.ndarray, side: int, lo: int, hi: int) -> None:
    """Forget levels on ticks lo..hi (the price moved through them: they traded or were cancelled)."""
    if hi - lo >= RING:
        lo = hi - RING + 1
    for t in range(lo, hi + 1):
        i = t & (RING - 1)
        if ring_tick[side, i] == t:
            ring_tick[side, i] = -1


@kernel
def _read_side(p: KernelParams, rng: np.ndarray, tab: np.ndarray, ring_sz: np.ndarray, ring_tick: np.ndarray,
               side: int, best: int, act: float, out_px: np.ndarray, out_sz: np.ndarray, tick_size: float) -> int:
    """Resample a random subset of visible levels and read out the top DEPTH non-empty ones.

    The hottest loop of the generator (~40 levels per snapshot): parameters are hoisted into locals
    and the ring lookup is written out, so a level that is already known costs one uniform draw.
    """
    step = -1 if side == 0 else 1
    pc0 = p.change_prob0 * act
    pc = p.change_prob * act
    empty, tiny, ar = p.empty_share, p.tiny_lots, p.size_ar
    n = 0
    for d in range(MAX_SCAN):
        tick = best + step * d
        if tick <= 0:
            break
        i = tick & (RING - 1)
        if ring_tick[side, i] != tick:  # stale slot: a level nobody has seen yet
            ring_tick[side, i] = tick
            ring_sz[side, i] = _level_size(rng, tab, d, -1.0, empty, tiny, ar)
        v = ring_sz[side, i]
        if uniform(rng) < (pc0 if d == 0 else pc):
            v = _level_size(rng, tab, d, v, empty, tiny, ar)
        while d == 0 and v <= 0.0:
            v = _level_size(rng, tab, 0, -1.0, empty, tiny, ar)
        ring_sz[side, i] = v
        if v > 0.0:
            out_px[n] = tick * tick_size
            out_sz[n] = v / p.inv_lot
            n += 1
            if n == DEPTH:
                break
    return n


# ---------------------------------------------------------------------------------------- trades


@kernel
def _taker_lots(p: KernelParams, rng: np.ndarray) -> float:
    """Lognormal body times a Pareto(alpha) factor: a power-law tail with index alpha."""
    body = p.taker_median_lots * math.exp(p.taker_sigma * normal(rng))
    return _round_lots(body * uniform(rng) ** (-1.0 / p.taker_alpha), p)


@kernel
def _maker_lots(p: KernelParams, rng: np.ndarray) -> float:
    if uniform(rng) < p.maker_tiny_share:
        return float(p.tiny_lots)
    return _round_lots(p.maker_median_lots * math.exp(p.maker_sigma * normal(rng)), p)


@kernel
def _latency_ns(p: KernelParams, rng: np.ndarray) -> int:
    ms = min(p.lat_ms * math.exp(p.lat_sigma * normal(rng)), p.lat_cap_ms)
    return int(ms * NS_PER_MS)


@kernel
def _receive(p: KernelParams, rng: np.ndarray, ist: np.ndarray, ts: int) -> int:
    """Receive time of a message sent at ``ts``: one FIFO feed, so receive times never go backwards."""
    lt = ts + _latency_ns(p, rng)
    if lt < ist[I_LAST_LOCAL]:
        lt = ist[I_LAST_LOCAL]
    ist[I_LAST_LOCAL] = lt
    return lt


@kernel
def _execute(p: KernelParams, rng: np.ndarray, tab: np.ndarray, ring_sz: np.ndarray, ring_tick: np.ndarray,
             ist: np.ndarray,
             side: int, q_lots: float, ts: int, tick_size: float, f_ts: np.ndarray, f_lts: np.ndarray,
             f_side: np.ndarray, f_px: np.ndarray, f_sz: np.ndarray, nf: int) -> int:
    """Walk the opposite side from the last shown touch; one fill row per maker order hit (IOC)."""
    lt = _receive(p, rng, ist, ts)
    book = 1 if side > 0 else 0
    start = ist[I_ASK] if side > 0 else ist[I_BID]
    step = 1 if side > 0 else -1
    rem = q_lots
    for d in range(p.max_sweep + 1):
        if rem <= 0.0:
            break
        tick = start + step * d
        if tick <= 0:
            break
        i = tick & (RING - 1)
        if ring_tick[book, i] != tick:
            ring_tick[book, i] = tick
            ring_sz[book, i] = _level_size(rng, tab, min(d, MAX_SCAN - 1), -1.0, p.empty_share, p.tiny_lots,
                                           p.size_ar)
        level = ring_sz[book, i]
        take = min(rem, level)
        if take <= 0.0:
            continue
        ring_sz[book, i] = level - take
        rem -= take
        k = 0
        while take > 0.0:
            f = take if k == MAX_FILLS_PER_LEVEL - 1 else min(take, _maker_lots(p, rng))
            if nf >= f_ts.shape[0]:
                raise RuntimeError("synthetic market: fill buffer overflow")
            f_ts[nf] = ts
            f_lts[nf] = lt
            f_side[nf] = side
            f_px[nf] = tick * tick_size
            f_sz[nf] = f / p.inv_lot
            nf += 1
            take -= f
            k += 1
    return nf


# ----------------------------------------------------------------------------------------- clock


@kernel
def _variance_rate(p: KernelParams, fs: np.ndarray, ist: np.ndarray) -> float:
    """Price variance per second in ticks^2 at the current volatility."""
    sig = current_vol(p, fs, ist) * fs[F_X]
    return sig * sig / SECONDS_PER_YEAR


@kernel
def _advance(p: KernelParams, rng: np.ndarray, tab: np.ndarray, fs: np.ndarray, ist: np.ndarray, ring_sz: np.ndarray,
             ring_tick: np.ndarray, t0: int, t1: int, tick_size: float, f_ts: np.ndarray, f_lts: np.ndarray,
             f_side: np.ndarray, f_px: np.ndarray, f_sz: np.ndarray, nf: int) -> int:
    """Run takers, news and jumps on [t0, t1); rates are constant inside (they change at snapshots)."""
    vol = current_vol(p, fs, ist)
    act = _activity(p, vol)
    var = _variance_rate(p, fs, ist)
    lam_t = p.taker_rate * act
    lam_n = p.news_rate
    lam_j = p.jump_rate * act
    lam_b = 1.0 / p.burst_gap_s
    kappa = math.sqrt(p.impact_share * var / lam_t)
    news_b = math.sqrt((1.0 - p.impact_share) * var / (2.0 * lam_n))
    inf = 1e300
    t = float(t0)
    nt_t = t + exponential(rng) / lam_t * NS_PER_S
    nt_n = t + exponential(rng) / lam_n * NS_PER_S
    nt_j = t + exponential(rng) / lam_j * NS_PER_S
    nt_b = t + exponential(rng) / lam_b * NS_PER_S if ist[I_BURST_LEFT] > 0 else inf
    while True:
        tn = min(min(nt_t, nt_n), min(nt_j, nt_b))
        if tn >= t1:
            break
        ts = (int(tn) // NS_PER_MS) * NS_PER_MS
        if tn == nt_t:
            informed = uniform(rng) < p.informed_share
            side = ist[I_NEWS_SIGN] if informed else (1 if uniform(rng) < 0.5 else -1)
            q = _taker_lots(p, rng)
            nf = _execute(p, rng, tab, ring_sz, ring_tick, ist, side, q, ts, tick_size, f_ts, f_lts, f_side, f_px,
                          f_sz, nf)
            fs[F_X] += side * kappa * math.sqrt(min(q, p.taker_cap_lots) / p.taker_mean_lots)
            nt_t = tn + exponential(rng) / lam_t * NS_PER_S
        elif tn == nt_n:
            fs[F_X] += ist[I_NEWS_SIGN] * fs[F_NEWS_MAG] * news_b
            ist[I_NEWS_SIGN] = 1 if uniform(rng) < 0.5 else -1
            fs[F_NEWS_MAG] = exponential(rng)
            nt_n = tn + exponential(rng) / lam_n * NS_PER_S
        elif tn == nt_j:
            # A jump arrives as a burst of same-side takers (a liquidation cascade) sharing the move.
            size = min(p.jump_scale * uniform(rng) ** (-1.0 / p.jump_alpha), p.jump_cap) * fs[F_X]
            ist[I_BURST_SIGN] = 1 if uniform(rng) < 0.5 else -1
            ist[I_BURST_LEFT] = p.burst_takers
            fs[F_BURST_STEP] = size / p.burst_takers
            nt_j = tn + exponential(rng) / lam_j * NS_PER_S
            nt_b = tn + exponential(rng) / lam_b * NS_PER_S
        else:
            side = ist[I_BURST_SIGN]
            q = 3.0 * _taker_lots(p, rng)
            nf = _execute(p, rng, tab, ring_sz, ring_tick, ist, side, q, ts, tick_size, f_ts, f_lts, f_side, f_px,
                          f_sz, nf)
            fs[F_X] += side * fs[F_BURST_STEP]
            ist[I_BURST_LEFT] -= 1
            nt_b = tn + exponential(rng) / lam_b * NS_PER_S if ist[I_BURST_LEFT] > 0 else inf
    return nf


@kernel
def _snapshot(p: KernelParams, rng: np.ndarray, tab: np.ndarray, fs: np.ndarray, ist: np.ndarray, ring_sz: np.ndarray,
              ring_tick: np.ndarray, tick_size: float, bid_px: np.ndarray, bid_sz: np.ndarray, ask_px: np.ndarray,
              ask_sz: np.ndarray) -> tuple:
    """Re-centre the touch on the efficient price, then read both sides. Returns (n_bids, n_asks)."""
    x = fs[F_X]
    move = abs(x - fs[F_X_SNAP])
    extra = 0
    p_wide = p.wide_prob + p.wide_move_prob * min(1.0, move / p.wide_move_ticks)
    if uniform(rng) < p_wide:
        extra = min(p.wide_max, int(p.wide_xm * uniform(rng) ** (-1.0 / p.wide_alpha)))
    bid = math.floor(x - extra * uniform(rng))
    if bid < 1:
        bid = 1
    ask = bid + 1 + extra
    if ist[I_STARTED]:
        if bid < ist[I_BID]:
            _invalidate(ring_tick, 0, bid + 1, ist[I_BID])
        if ask > ist[I_ASK]:
            _invalidate(ring_tick, 1, ist[I_ASK], ask - 1)
    ist[I_BID] = bid
    ist[I_ASK] = ask
    ist[I_STARTED] = 1
    fs[F_X_SNAP] = x
    act = _activity(p, current_vol(p, fs, ist))
    nb = _read_side(p, rng, tab, ring_sz, ring_tick, 0, bid, act, bid_px, bid_sz, tick_size)
    na = _read_side(p, rng, tab, ring_sz, ring_tick, 1, ask, act, ask_px, ask_sz, tick_size)
    return nb, na


@kernel
def _funding(p: KernelParams, rng: np.ndarray, fs: np.ndarray, ist: np.ndarray) -> float:
    """Hyperliquid's rule on an AR(1) premium P (8-hour units): F = (P + clamp(I - P, -c, c)) / 8 per hour."""
    df = 4.0
    chi = 0.0
    for _ in range(4):
        z = normal(rng)
        chi += z * z
    t_noise = normal(rng) / math.sqrt(chi / df) * math.sqrt((df - 2.0) / df)
    scale = math.sqrt(_activity(p, current_vol(p, fs, ist)))
    fs[F_PREM] = p.fund_mean + p.fund_ar * (fs[F_PREM] - p.fund_mean) + p.fund_sd * math.sqrt(
        1.0 - p.fund_ar * p.fund_ar) * scale * t_noise
    prem = fs[F_PREM]
    rate = (prem + min(max(p.fund_interest - prem, -p.fund_clamp), p.fund_clamp)) / 8.0
    return min(max(rate, -p.fund_cap), p.fund_cap)


@kernel
def init_state(p: KernelParams, rng: np.ndarray, fs: np.ndarray, ist: np.ndarray, start_ticks: float,
               t0: int) -> None:
    fs[:] = 0.0
    ist[:] = 0
    fs[F_X] = start_ticks
    fs[F_X_SNAP] = start_ticks
    fs[F_PREM] = p.fund_mean
    fs[F_NEWS_MAG] = exponential(rng)
    ist[I_NEWS_SIGN] = 1 if uniform(rng) < 0.5 else -1
    ist[I_REGIME] = _draw_regime(p, rng)
    ist[I_T_CLOCK] = t0
    ist[I_NEXT_SNAP] = t0
    ist[I_FUND_HOUR] = -1


@kernel
def simulate(p: KernelParams, rng: np.ndarray, fs: np.ndarray, ist: np.ndarray, ring_sz: np.ndarray,
             ring_tick: np.ndarray, t_end: int, snap_at_clock: bool, tick_size: float,
             s_ts: np.ndarray, s_lts: np.ndarray, bid_px: np.ndarray, bid_sz: np.ndarray, bid_n: np.ndarray,
             ask_px: np.ndarray, ask_sz: np.ndarray, ask_n: np.ndarray,
             f_ts: np.ndarray, f_lts: np.ndarray, f_side: np.ndarray, f_px: np.ndarray, f_sz: np.ndarray,
             u_ts: np.ndarray, u_lts: np.ndarray, u_rate: np.ndarray) -> tuple:
    """Advance the market from its clock to ``t_end`` (ns); returns (snapshots, fills, fundings, finished).

    Stops early (finished False) when the output buffers are nearly full; call again to continue.
    ``snap_at_clock`` forces a snapshot exactly at the current clock (the first instant of a day file).
    Funding rows are emitted at every whole hour the clock passes, a few hundred ms late like the venue's.
    """
    ns = 0
    nf = 0
    nu = 0
    hour = 3600 * NS_PER_S
    if snap_at_clock:
        ist[I_NEXT_SNAP] = ist[I_T_CLOCK]
    margin = 20_000
    tab = level_table(p)
    while True:
        if ns >= s_ts.shape[0] or nf + margin >= f_ts.shape[0]:
            return ns, nf, nu, False
        t_clock = ist[I_T_CLOCK]
        h = t_clock // hour
        if t_clock % hour == 0 and h != ist[I_FUND_HOUR] and nu < u_ts.shape[0]:
            ist[I_FUND_HOUR] = h
            ts = h * hour + int(uniform(rng) * p.fund_jitter_ms) * NS_PER_MS
            u_ts[nu] = ts
            u_lts[nu] = ts + _latency_ns(p, rng)
            u_rate[nu] = _funding(p, rng, fs, ist)
            nu += 1
        nxt = ist[I_NEXT_SNAP]
        # Never step over an hour boundary: funding rows and file days are cut there.
        stop = min(t_end, (t_clock // hour + 1) * hour)
        if nxt < stop:
            nf = _advance(p, rng, tab, fs, ist, ring_sz, ring_tick, t_clock, nxt, tick_size, f_ts, f_lts, f_side, f_px,
                          f_sz, nf)
            _vol_step(p, rng, fs, ist, (nxt - t_clock) / NS_PER_S if nxt > t_clock else 0.0)
            ist[I_T_CLOCK] = nxt
            nb, na = _snapshot(p, rng, tab, fs, ist, ring_sz, ring_tick, tick_size, bid_px[ns], bid_sz[ns], ask_px[ns],
                               ask_sz[ns])
            s_ts[ns] = nxt
            s_lts[ns] = _receive(p, rng, ist, nxt)
            bid_n[ns] = nb
            ask_n[ns] = na
            ns += 1
            gap = max(50.0, p.snap_ms * math.exp(p.snap_sigma * normal(rng)))
            ist[I_NEXT_SNAP] = nxt + int(gap) * NS_PER_MS
        else:
            nf = _advance(p, rng, tab, fs, ist, ring_sz, ring_tick, t_clock, stop, tick_size, f_ts, f_lts, f_side, f_px,
                          f_sz, nf)
            _vol_step(p, rng, fs, ist, (stop - t_clock) / NS_PER_S)
            ist[I_T_CLOCK] = stop
            if stop == t_end:
                return ns, nf, nu, True


# ----------------------------------------------------------------------------------------- merge


@kernel
def merge_by_ts(a_ts: np.ndarray, b_ts: np.ndarray) -> np.ndarray:
    """Row order merging two ts-sorted tables, ``a`` first at equal ts: a stable sort of [a, b] in O(n)."""
    na = a_ts.shape[0]
    nb = b_ts.shape[0]
    order = np.empty(na + nb, np.int64)
    i = 0
    j = 0
    for k in range(na + nb):
        if j >= nb or (i < na and a_ts[i] <= b_ts[j]):
            order[k] = i
            i += 1
        else:
            order[k] = na + j
            j += 1
    return order
