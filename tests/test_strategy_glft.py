"""The edge-aware GLFT strategy: the closed form on hand-computed cases, causal calibration and
alpha (changing what comes after t changes nothing at or before t), and the per-side edge gate."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from amm500.config import load_config
from amm500.core import api
from amm500.core.mm_state import G_A, G_ADV_A, G_ADV_B, G_ALPHA_BPS, G_BETA, G_FIT_OK, G_K, G_N_GATED_B
from amm500.core.params import P_MAKER_FEE_BPS, STRATEGY_GLFT, build_params
from amm500.strategy.glft import (
    fit_intensity,
    glft_coefficients,
    glft_depths,
    vol_bps_per_sqrt_s,
)
from amm500.strategy.mm import MarketMakingStrategy
from mm_helpers import T0, set_book

NS = 10**9


def glft_params(*sets: str) -> np.ndarray:
    cfg = load_config(None, ["trading.strategy='glft'", *sets])
    p = build_params(cfg)
    assert p[0] == STRATEGY_GLFT
    return p


def test_coefficients_match_hand_computed_cases() -> None:
    # gamma = 0.1, A = 1, k = 1: c1 = 10 ln 1.1, c2 = sqrt(0.05 * 1.1**11)
    c1, c2 = glft_coefficients(0.1, 1.0, 1.0)
    assert c1 == pytest.approx(10 * math.log(1.1), rel=1e-12)
    assert c2 == pytest.approx(math.sqrt(0.05 * 1.1**11), rel=1e-12)
    assert (c1, c2) == pytest.approx((0.9531018, 0.3776981), abs=1e-7)
    # gamma = 1, A = 2, k = 0.5: gamma/k = 2, c1 = ln 3, c2 = sqrt(1/2 * 3**1.5)
    c1, c2 = glft_coefficients(1.0, 2.0, 0.5)
    assert c1 == pytest.approx(math.log(3.0), rel=1e-12)
    assert c2 == pytest.approx(math.sqrt(0.5 * 3**1.5), rel=1e-12)


def test_depths_half_spread_and_inventory_skew() -> None:
    # sigma = 1, q = +2 (long two orders): bid further away, ask closer
    bid, ask, half, skew = glft_depths(0.1, 1.0, 1.0, 1.0, 2.0)
    assert half == pytest.approx(0.9531018 + 0.5 * 0.3776981, abs=1e-6)
    assert skew == pytest.approx(0.3776981, abs=1e-6)
    assert (bid, ask) == pytest.approx((1.8973470, 0.3865547), abs=1e-6)
    # short one order: the ask moves out, the bid in; flat: symmetric
    bid, ask, half, skew = glft_depths(1.0, 2.0, 0.5, 0.7, -1.0)
    assert (bid, ask) == pytest.approx((0.5344631, 2.7910599), abs=1e-6)
    b0, a0, h0, _ = glft_depths(1.0, 2.0, 0.5, 0.7, 0.0)
    assert b0 == a0 == h0
    # more arrivals close in (larger A) narrow the quotes; more risk aversion widens the skew
    assert glft_depths(0.1, 5.0, 1.0, 1.0, 0.0)[2] < glft_depths(0.1, 1.0, 1.0, 1.0, 0.0)[2]
    assert glft_depths(1.0, 1.0, 1.0, 1.0, 0.0)[3] > glft_depths(0.1, 1.0, 1.0, 1.0, 0.0)[3]


def test_volatility_units() -> None:
    assert vol_bps_per_sqrt_s(0.4) == pytest.approx(4000 / math.sqrt(365 * 86400))
    assert vol_bps_per_sqrt_s(math.nan) == 0.0


def test_intensity_fit_recovers_an_exponential() -> None:
    from amm500.core.mm_state import G_BINS, G_TIME, N_BINS

    p = glft_params("glft.depth_step_bps=0.5", "glft.calibration_warmup_s=10")
    state = np.zeros(8192)
    a_true, k_true, tt = 3.0, 1.5, 1000.0
    state[G_TIME] = tt
    for i in range(N_BINS):
        lam = a_true * math.exp(-k_true * i * 0.5)
        state[G_BINS + i] = state[G_BINS + N_BINS + i] = lam * tt
    assert fit_intensity(p, state)
    assert state[G_K] == pytest.approx(k_true, rel=1e-9)
    assert state[G_A] == pytest.approx(a_true, rel=1e-9)
    # not enough tape yet: the priors stay
    state[G_TIME] = 5.0
    assert not fit_intensity(p, state)
    assert (state[G_A], state[G_K], state[G_FIT_OK]) == (1.0, 1.0, 0.0)


def _drive(strat: MarketMakingStrategy, tape: list[dict[str, float]]) -> list[np.ndarray]:
    """Quote timers every 0.5 s over a tape of (bid, ask, sizes, trades); a snapshot of the answer and of
    the calibrated state after each call."""
    out = []
    for k, row in enumerate(tape):
        set_book(strat, row["bid"], row["ask"], bid_sz=row["bsz"], ask_sz=row["asz"])
        v = strat.view
        v[api.V_TRADES_KNOWN] = 1.0
        v[api.V_TRADE_BUY_PX] = row["buy"]
        v[api.V_TRADE_SELL_PX] = row["sell"]
        v[api.V_TRADE_BUY_SZ] = row["bsz_t"]
        v[api.V_TRADE_SELL_SZ] = row["ssz_t"]
        strat.on_timer(T0 + k * NS // 2, api.TIMER_QUOTE if k % 10 else api.TIMER_SPREAD)
        out.append(np.concatenate([strat.quotes.ravel(), strat.ctrl, strat.state[[G_A, G_K, G_ALPHA_BPS, G_BETA,
                                                                                   G_BETA + 1, G_BETA + 2]]]))
    return out


def _tape(n: int, seed: int) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    mid = 90_000.0
    rows = []
    for _ in range(n):
        mid += float(rng.choice([-1.0, 0.0, 1.0]))
        bsz, asz = float(rng.uniform(0.1, 3)), float(rng.uniform(0.1, 3))
        mid += 0.5 * (bsz - asz) / (bsz + asz)  # a little predictability for the alpha to find
        m = round(mid)
        buy = m + 0.5 + 3.0 * float(rng.integers(0, 6)) if rng.random() < 0.7 else 0.0
        sell = m - 0.5 - 3.0 * float(rng.integers(0, 6)) if rng.random() < 0.7 else 0.0
        rows.append({"bid": m - 0.5 - 0.5, "ask": m + 0.5 + 0.5, "bsz": bsz, "asz": asz, "buy": buy, "sell": sell,
                     "bsz_t": 0.1 if buy else 0.0, "ssz_t": 0.1 if sell else 0.0})
    return rows


def _strategy(**kw: Any) -> MarketMakingStrategy:
    sets = ["glft.calibration_warmup_s=5", "glft.alpha_min_samples=10", "glft.alpha_horizon_s=2",
            "trading.volatility_window=30", "risk.kill_switch_enabled=false", *kw.get("sets", [])]
    s = MarketMakingStrategy(glft_params(*sets))
    s.view[api.V_EQUITY] = s.view[api.V_START_EQUITY] = 1000.0
    return s


def test_calibration_and_alpha_are_causal() -> None:
    """Quotes, (A, k) and the alpha's weights at call t are the same whatever the tape after t."""
    tape = _tape(400, 1)
    base = _drive(_strategy(), tape)
    cut = 250
    other = tape[:cut] + _tape(150, 2)
    changed = _drive(_strategy(), other)
    for k in range(cut):
        np.testing.assert_array_equal(base[k], changed[k], err_msg=f"call {k} changed by data after it")
    assert any(not np.array_equal(base[k], changed[k]) for k in range(cut, 400))  # the test can fail
    s = _strategy()
    _drive(s, tape)
    assert s.state[G_FIT_OK] == 1.0 and s.state[G_K] > 0.0  # it did calibrate
    assert s.state[G_BETA + 1] != 0.0  # and fitted the imbalance weight


def _one_quote(strat: MarketMakingStrategy, pos: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    set_book(strat, 89_999.0, 90_001.0)
    strat.view[api.V_POSITION] = pos
    strat.on_timer(T0, api.TIMER_QUOTE)
    return strat.bids(), strat.asks()


def test_edge_gate_widens_to_adverse_plus_fee_and_drops_a_side_that_cannot_pay() -> None:
    # no adverse prior, gate on: the bid sits at least the maker fee (1.5 bps at tier 0) from the mid
    s = _strategy(sets=["glft.adverse_prior_bps=0", "trading.min_spread_bps=0.1", "glft.alpha_enabled=false"])
    assert s.params[P_MAKER_FEE_BPS] == pytest.approx(1.5)
    bids, asks = _one_quote(s)
    mid = 90_000.0
    assert (mid - bids[0, 0]) / mid * 1e4 >= 1.5 - 1e-9
    assert (asks[0, 0] - mid) / mid * 1e4 >= 1.5 - 1e-9
    # the same with the gate off quotes tighter (GLFT's own half-spread here is under the fee)
    s2 = _strategy(sets=["glft.adverse_prior_bps=0", "trading.min_spread_bps=0.1", "glft.alpha_enabled=false",
                         "glft.edge_gate=false"])
    bids2, _ = _one_quote(s2)
    assert bids2[0, 0] > bids[0, 0]
    # a tier with a rebate lets it quote inside the tier-0 break-even
    s3 = _strategy(sets=["glft.adverse_prior_bps=0", "trading.min_spread_bps=0.1", "glft.alpha_enabled=false",
                         "backtest.fee_tier='tier4'", "backtest.maker_rebate_tier='rebate3'"])
    bids3, _ = _one_quote(s3)
    assert bids3[0, 0] > bids[0, 0]
    # expected adverse move + fee beyond max_spread_bps: that side is not quoted at all (when it would grow)
    s4 = _strategy(sets=["glft.adverse_prior_bps=9.0", "trading.max_spread_bps=10", "glft.alpha_enabled=false"])
    bids4, asks4 = _one_quote(s4)
    assert len(bids4) == 0 and len(asks4) == 0 and s4.state[G_N_GATED_B] == 1.0
    assert s4.state[G_ADV_B] == s4.state[G_ADV_A] == 9.0
    # ... but a side that reduces the position is left to GLFT's skew
    s5 = _strategy(sets=["glft.adverse_prior_bps=9.0", "trading.max_spread_bps=10", "glft.alpha_enabled=false"])
    bids5, asks5 = _one_quote(s5, pos=0.001)
    assert len(bids5) == 0 and len(asks5) >= 1


def test_adverse_estimate_learns_from_own_fills() -> None:
    s = _strategy(sets=["glft.adverse_prior_bps=0", "glft.adverse_halflife_fills=1", "risk.adverse_markout_s=1"])
    _one_quote(s)
    s.view[api.V_MID] = 90_000.0
    s.on_fill(T0 + NS // 10, 1, 89_990.0, 0.001, True, 0.0)  # we bought at mid 90,000 ...
    set_book(s, 89_899.0, 89_901.0)  # ... and the mid fell 100 (11.1 bps) within the horizon
    s.on_timer(T0 + 2 * NS, api.TIMER_QUOTE)
    assert s.state[G_ADV_B] > 5.0  # learned: bids are adversely selected
    assert s.state[G_ADV_A] == pytest.approx(0.0)  # asks untouched


def test_backtest_with_glft_is_causal(tmp_path: Path) -> None:
    """In the backtester, GLFT's calibration and alpha see the tape only as it arrives: replacing every
    event after t leaves every fill and the strategy's answers up to t unchanged."""
    from backtest_helpers import book, level, run, trade

    rng = np.random.default_rng(3)

    def tape(seed_rows: list[Any], start_ms: float, n: int, gen: np.random.Generator) -> list[Any]:
        rows = list(seed_rows)
        mid = 100_000.0
        for k in range(n):
            t = start_ms + k * 50.0
            step = float(gen.choice([-1.0, 0.0, 1.0]))
            if step:  # the touch moves: the old levels go
                rows.append(level(t, 1, mid - 1.0, 0.0))
                rows.append(level(t, -1, mid + 1.0, 0.0))
            mid += step
            rows.append(level(t, 1, mid - 1.0, float(gen.uniform(0.5, 5.0))))
            rows.append(level(t, -1, mid + 1.0, float(gen.uniform(0.5, 5.0))))
            if gen.random() < 0.3:
                side = 1 if gen.random() < 0.5 else -1
                rows.append(trade(t + 1.0, side, mid + side * (1.0 + float(gen.integers(0, 4))), 0.01))
        return rows

    head = tape(book(0.0), 10.0, 2400, rng)  # two minutes
    cut_ms = 10.0 + 2400 * 50.0
    sets = ["trading.strategy='glft'", "risk.kill_switch_enabled=false", "glft.calibration_warmup_s=10",
            "backtest.fee_tier=tier4", "glft.adverse_prior_bps=0", "trading.min_spread_bps=0.2",
            "glft.alpha_min_samples=10", "glft.alpha_horizon_s=2", "trading.volatility_window=30",
            "execution.quote_refresh_interval=0.5"]
    a = run(tmp_path / "a", tape(head, cut_ms, 1200, np.random.default_rng(10)), *sets)
    b = run(tmp_path / "b", tape(head, cut_ms, 1200, np.random.default_rng(11)), *sets)
    from backtest_helpers import T0

    cut_ns = T0 + int(cut_ms * 1e6)
    fa = a.fills_ts < cut_ns
    fb = b.fills_ts < cut_ns
    assert fa.sum() > 0  # it traded before the cut: the comparison means something
    np.testing.assert_array_equal(a.fills_ts[fa], b.fills_ts[fb])
    np.testing.assert_array_equal(a.fills[fa][:, :7], b.fills[fb][:, :7])
    ra, rb = a.rec_ts < cut_ns, b.rec_ts < cut_ns
    np.testing.assert_array_equal(a.rec[ra], b.rec[rb])
    assert a.metrics["glft"]["intensity_fitted"]
    assert not np.array_equal(a.fills, b.fills)  # and the tails did differ
