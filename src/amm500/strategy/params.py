"""Config -> the flat float64 parameter vector the jitted strategy kernels read.

Indices are module constants so kernels read ``params[P_TICK]`` at full speed. Add new parameters
at the end (before ``P_SIZE``) and fill them in :func:`build_params`.
"""

from __future__ import annotations

import numpy as np

from amm500.config import Config

STRATEGY_REFERENCE = 0  # fixed-spread N-level ladder (validation strategy)
STRATEGY_MM = 1  # the full MarketMakingStrategy

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
P_SIZE = 128


def build_params(
    config: Config, strategy: int | None = None, reference_spread_bps: float | None = None
) -> np.ndarray:
    t, b = config.trading, config.backtest
    if strategy is None:
        strategy = STRATEGY_REFERENCE if t.strategy == "fixed_spread" else STRATEGY_MM
    p = np.zeros(P_SIZE)
    p[P_STRATEGY_ID] = strategy
    p[P_TICK] = b.tick_size
    p[P_LOT] = 10.0 ** (-b.sz_decimals)
    p[P_MIN_NOTIONAL] = b.min_order_value
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
    return p
