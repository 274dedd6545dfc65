"""Shared builders for the strategy, risk and signal tests: a market, a strategy, one decision."""

from __future__ import annotations

from typing import Any

import numpy as np

from amm500.core import api
from amm500.core.params import STRATEGY_MM, build_params
from amm500.strategy.mm import MarketMakingStrategy
from seed_helpers import seed_config

T0 = 1_700_000_000 * 10**9  # an epoch in ns


def mm_params(**overrides: Any) -> np.ndarray:
    """Params for the full strategy on the seed's settings; overrides are ``section__field=value``."""
    sets: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        section, field = key.split("__")
        sets.setdefault(section, {})[field] = value
    return build_params(seed_config(sets), strategy=STRATEGY_MM)


def set_book(
    strat: MarketMakingStrategy, bid: float, ask: float, tick: float = 1.0, bid_sz: float = 1.0, ask_sz: float = 1.0
) -> None:
    """Ten levels a tick apart on each side, best at ``bid`` / ``ask``."""
    strat.book[:] = 0.0
    k = np.arange(10)
    strat.book[api.B_BID_PX, :10] = bid - k * tick
    strat.book[api.B_BID_SZ, :10] = bid_sz
    strat.book[api.B_ASK_PX, :10] = ask + k * tick
    strat.book[api.B_ASK_SZ, :10] = ask_sz
    v = strat.view
    v[api.V_BEST_BID] = bid
    v[api.V_BEST_ASK] = ask
    v[api.V_MID] = 0.5 * (bid + ask)


def make_strategy(
    params: np.ndarray | None = None,
    bid: float = 89_999.0,
    ask: float = 90_001.0,
    equity: float = 1000.0,
    position: float = 0.0,
) -> MarketMakingStrategy:
    strat = MarketMakingStrategy(params if params is not None else mm_params())
    set_book(strat, bid, ask)
    v = strat.view
    v[api.V_EQUITY] = equity
    v[api.V_START_EQUITY] = equity
    v[api.V_POSITION] = position
    return strat


def quote(strat: MarketMakingStrategy, timer: int = api.TIMER_QUOTE, now_ns: int = T0) -> tuple[np.ndarray, np.ndarray]:
    strat.on_timer(now_ns, timer)
    return strat.bids(), strat.asks()
