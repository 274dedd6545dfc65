"""Config -> the flat float64 parameter vector the jitted strategy kernels read.

Indices are module constants so kernels read ``params[P_TICK]`` at full speed. Add new parameters
at the end (before ``P_SIZE``) and fill them in :func:`build_params`.
"""

from __future__ import annotations

import numpy as np

from amm500.config import Config
from amm500.core.instrument import Instrument

STRATEGY_REFERENCE = 0  # fixed-spread N-level ladder (validation strategy)
STRATEGY_MM = 1  # the full MarketMakingStrategy
STRATEGY_GLFT = 2  # the edge-aware GLFT quoter (amm500.strategy.glft) on the same mechanisms

P_STRATEGY_ID = 0
P_TICK = 1
P_LOT = 2  # size step, 10**-sz_decimals
P_MIN_NOTIONAL = 3
P_LEVELS = 4
P_SPACING_BPS = 5
P_SIZE_FRACTION = 6
P_LEVERAGE = 7
P_MIN_SPREAD_BPS = 8
P_MAX_SPREAD_BPS = 9
P_REF_SPREAD_BPS = 10  # reference strategy: full spread it quotes
P_SIZE_DECAY = 11
P_QUOTE_TOL_BPS = 12
P_POST_ONLY = 13
# ---- MarketMakingStrategy (amm500.strategy.mm): volatility and regimes ----
P_VOL_ENABLED = 14
P_VOL_WINDOW_S = 15
P_VOL_SOURCE = 16  # 0 realized, 1 external (view[V_EXT_VOL], e.g. the LSTM) when finite
P_BAND_SPREAD_0 = 17  # five consecutive slots: ultra-low .. extreme full spread, bps
P_BAND_EDGE_0 = 22  # four consecutive slots: upper annualized-vol edge of bands 0..3
# ---- skews ----
P_INV_SKEW_ENABLED = 26
P_INV_SKEW_BPS = 27
P_INV_SKEW_THRESHOLD = 28
P_INV_SKEW_STRONG = 29
P_IMB_ENABLED = 30
P_IMB_SKEW_BPS = 31
P_IMB_DEPTH = 32
P_FUND_ENABLED = 33
P_FUND_SKEW_BPS = 34
P_FUND_THRESHOLD = 35
# ---- delta rebalancing and position timeout ----
P_DELTA_ENABLED = 36
P_MAX_DELTA = 37
P_DELTA_SIZE_MULT = 38
P_DELTA_STEP_BPS = 39
P_TIMEOUT_ENABLED = 40
P_MAX_POSITION_S = 41
# ---- RiskManager ----
P_TAKER_ENABLED = 42
P_MAX_TAKER_RATIO = 43
P_TAKER_MIN_TRADES = 44
P_TAKER_WIDEN_BPS = 45
P_ADV_ENABLED = 46
P_ADV_WINDOW = 47
P_ADV_THRESHOLD_BPS = 48
P_ADV_WIDEN_BPS = 49
P_ADV_SIZE_MULT = 50
P_ADV_MARKOUT_S = 51
P_MAX_NET_EXPOSURE = 52
P_MAX_LEVERAGE_USED = 53
P_PRICE_BAND_BPS = 54
P_STALE_MS = 55
# ---- kill switch ----
P_KILL_ENABLED = 56
P_MAX_DRAWDOWN = 57
P_MAX_CONSEC_LOSSES = 58
P_MAX_SESSION_LOSS = 59
# ---- fees (from the Instrument: the one source), bps of notional ----
P_MAKER_FEE_BPS = 60
P_TAKER_FEE_BPS = 61
# ---- GLFT (amm500.strategy.glft) ----
P_GLFT_GAMMA = 62
P_GLFT_A = 63
P_GLFT_K = 64
P_GLFT_CALIBRATE = 65
P_GLFT_HALFLIFE_S = 66
P_GLFT_WARMUP_S = 67
P_GLFT_DEPTH_STEP = 68
P_GLFT_ALPHA = 69
P_GLFT_ALPHA_H_S = 70
P_GLFT_ALPHA_MAX = 71
P_GLFT_ALPHA_MIN_N = 72
P_GLFT_GATE = 73
P_GLFT_MIN_EDGE = 74
P_GLFT_ADV_PRIOR = 75
P_GLFT_ADV_HL_FILLS = 76
P_GLFT_ADV_FORGET_S = 77
P_SIZE = 128


def build_params(
    config: Config, strategy: int | None = None, reference_spread_bps: float | None = None
) -> np.ndarray:
    t = config.trading
    if strategy is None:
        strategy = {"fixed_spread": STRATEGY_REFERENCE, "glft": STRATEGY_GLFT}.get(t.strategy, STRATEGY_MM)
    p = np.zeros(P_SIZE)
    p[P_STRATEGY_ID] = strategy
    ins = Instrument.from_config(config)
    p[P_TICK] = ins.tick
    p[P_LOT] = ins.lot
    p[P_MIN_NOTIONAL] = ins.min_notional
    p[P_LEVELS] = t.order_levels
    p[P_SPACING_BPS] = t.level_spacing_bps
    p[P_SIZE_FRACTION] = t.order_size_fraction
    p[P_LEVERAGE] = t.leverage
    p[P_MIN_SPREAD_BPS] = t.min_spread_bps
    p[P_MAX_SPREAD_BPS] = t.max_spread_bps
    p[P_REF_SPREAD_BPS] = reference_spread_bps if reference_spread_bps is not None else t.min_spread_bps
    p[P_SIZE_DECAY] = t.level_size_decay
    p[P_QUOTE_TOL_BPS] = t.quote_tolerance_bps
    p[P_POST_ONLY] = 1.0 if config.execution.post_only else 0.0
    p[P_MAKER_FEE_BPS] = ins.maker_fee * 1e4
    p[P_TAKER_FEE_BPS] = ins.taker_fee * 1e4
    _fill_mm(config, p)
    _fill_glft(config, p)
    if strategy == STRATEGY_GLFT:
        # GLFT quotes ``glft.levels`` per side and keeps a resting order unless its target moved by more
        # than ``glft.requote_bps``: a requote is a request, and requests are budgeted
        p[P_LEVELS] = config.glft.levels
        p[P_QUOTE_TOL_BPS] = max(t.quote_tolerance_bps, config.glft.requote_bps)
    return p


def _fill_glft(config: Config, p: np.ndarray) -> None:
    g = config.glft
    p[P_GLFT_GAMMA] = g.gamma
    p[P_GLFT_A] = g.intensity_a
    p[P_GLFT_K] = g.intensity_k
    p[P_GLFT_CALIBRATE] = float(g.calibrate)
    p[P_GLFT_HALFLIFE_S] = g.calibration_halflife_s
    p[P_GLFT_WARMUP_S] = g.calibration_warmup_s
    p[P_GLFT_DEPTH_STEP] = g.depth_step_bps
    p[P_GLFT_ALPHA] = float(g.alpha_enabled)
    p[P_GLFT_ALPHA_H_S] = g.alpha_horizon_s
    p[P_GLFT_ALPHA_MAX] = g.alpha_max_bps
    p[P_GLFT_ALPHA_MIN_N] = g.alpha_min_samples
    p[P_GLFT_GATE] = float(g.edge_gate)
    p[P_GLFT_MIN_EDGE] = g.min_edge_bps
    p[P_GLFT_ADV_PRIOR] = g.adverse_prior_bps
    p[P_GLFT_ADV_HL_FILLS] = g.adverse_halflife_fills
    p[P_GLFT_ADV_FORGET_S] = g.adverse_forget_s


def _fill_mm(config: Config, p: np.ndarray) -> None:
    t, e, r = config.trading, config.execution, config.risk
    p[P_VOL_ENABLED] = float(t.vol_adaptive_enabled)
    p[P_VOL_WINDOW_S] = t.volatility_window
    p[P_VOL_SOURCE] = 1.0 if t.volatility_source == "lstm" else 0.0
    p[P_BAND_SPREAD_0 : P_BAND_SPREAD_0 + 5] = t.band_spreads()
    p[P_BAND_EDGE_0 : P_BAND_EDGE_0 + 4] = t.band_edges()
    p[P_INV_SKEW_ENABLED] = float(t.inventory_skew_enabled)
    p[P_INV_SKEW_BPS] = t.inventory_skew_bps
    p[P_INV_SKEW_THRESHOLD] = r.inventory_skew_threshold
    p[P_INV_SKEW_STRONG] = r.inventory_skew_strong_mult
    p[P_IMB_ENABLED] = float(t.imbalance_skew_enabled)
    p[P_IMB_SKEW_BPS] = t.imbalance_skew_bps
    p[P_IMB_DEPTH] = t.imbalance_depth
    p[P_FUND_ENABLED] = float(r.funding_arb_enabled)
    p[P_FUND_SKEW_BPS] = r.funding_skew_bps
    p[P_FUND_THRESHOLD] = r.funding_hedge_threshold
    p[P_DELTA_ENABLED] = float(r.delta_rebalance_enabled)
    p[P_MAX_DELTA] = e.max_delta_imbalance
    p[P_DELTA_SIZE_MULT] = e.delta_size_mult
    p[P_DELTA_STEP_BPS] = e.delta_step_back_bps
    p[P_TIMEOUT_ENABLED] = float(r.position_timeout_enabled)
    p[P_MAX_POSITION_S] = r.max_position_seconds
    p[P_TAKER_ENABLED] = float(r.taker_check_enabled)
    p[P_MAX_TAKER_RATIO] = r.max_taker_ratio
    p[P_TAKER_MIN_TRADES] = r.taker_ratio_min_trades
    p[P_TAKER_WIDEN_BPS] = r.taker_widen_bps
    p[P_ADV_ENABLED] = float(r.adverse_selection_enabled)
    p[P_ADV_WINDOW] = r.adverse_selection_window
    p[P_ADV_THRESHOLD_BPS] = r.adverse_selection_threshold
    p[P_ADV_WIDEN_BPS] = r.adverse_widen_bps
    p[P_ADV_SIZE_MULT] = r.adverse_size_mult
    p[P_ADV_MARKOUT_S] = r.adverse_markout_s
    p[P_MAX_NET_EXPOSURE] = r.max_net_exposure
    p[P_MAX_LEVERAGE_USED] = r.max_leverage_used
    p[P_PRICE_BAND_BPS] = r.price_band_bps
    p[P_STALE_MS] = r.stale_data_ms
    p[P_KILL_ENABLED] = float(r.kill_switch_enabled)
    p[P_MAX_DRAWDOWN] = r.max_drawdown
    p[P_MAX_CONSEC_LOSSES] = r.max_consecutive_losses
    p[P_MAX_SESSION_LOSS] = r.max_session_loss
