"""The backtester (its @njit loop) and the live wrapper (Python) rest the same MarketMakingStrategy
ladder on the same market: compare what the backtest's exchange holds with a direct Python call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from amm500.backtest.runner import run_backtest
from amm500.core import api
from amm500.core.params import STRATEGY_MM, build_params
from amm500.data import store
from amm500.sim.layout import (
    A_KILL_REASON,
    A_MAXBID,
    A_MINASK,
    A_N_REST_ASK,
    A_N_REST_BID,
    A_REST_ASK_QTY,
    A_REST_BID_QTY,
)
from backtest_helpers import ASK, BID, T0, book, clear, level
from mm_helpers import make_strategy, mm_params, set_book
from seed_helpers import seed_config

SETS = ["trading.strategy=market_making", "backtest.order_latency_ms=50", "backtest.response_latency_ms=50"]


def _rows(bid_sz: float, ask_sz: float) -> list:  # type: ignore[type-arg]
    rows = book(0.0)
    rows[1] = level(0.0, BID, 99_999, bid_sz)
    rows[2] = level(0.0, ASK, 100_001, ask_sz)
    # keep the book fresh (no stale-data guard) for 3 s; no trades, so nothing fills
    for t in range(500, 3001, 500):
        rows += [clear(float(t)), level(float(t), BID, 99_999, bid_sz), level(float(t), ASK, 100_001, ask_sz)]
    return rows


@pytest.mark.parametrize(("bid_sz", "ask_sz", "sets"), [
    (5.0, 5.0, []),
    (9.0, 1.0, ["trading.imbalance_skew_bps=3"]),  # L2 skew moves the whole ladder up
    (1.0, 4.0, ["trading.order_levels=7", "trading.level_size_decay=0.8"]),
])
def test_backtest_rests_the_ladder_the_python_wrapper_computes(
    tmp_path: Path, bid_sz: float, ask_sz: float, sets: list[str]
) -> None:
    from backtest_helpers import events

    cfg = seed_config([*SETS, *sets])
    root = tmp_path / "data"
    store.write_events(root, events(_rows(bid_sz, ask_sz)))
    res = run_backtest(cfg, root)
    acct = res.acct
    assert res.metrics["fills"] == 0 and acct[A_KILL_REASON] == 0

    strat = make_strategy(build_params(cfg, strategy=STRATEGY_MM), 99_999.0, 100_001.0,
                          equity=cfg.backtest.initial_equity)
    set_book(strat, 99_999.0, 100_001.0)
    strat.book[:, 1:] = 0.0  # the hand-built book has a single level per side
    strat.book[api.B_BID_SZ, 0], strat.book[api.B_ASK_SZ, 0] = bid_sz, ask_sz
    strat.on_timer(T0, api.TIMER_QUOTE)
    bids, asks = strat.bids(), strat.asks()

    assert acct[A_N_REST_BID] == len(bids) and acct[A_N_REST_ASK] == len(asks)
    assert acct[A_MAXBID] == bids[0, 0] and acct[A_MINASK] == asks[0, 0]
    assert acct[A_REST_BID_QTY] == pytest.approx(bids[:, 1].sum(), abs=1e-12)
    assert acct[A_REST_ASK_QTY] == pytest.approx(asks[:, 1].sum(), abs=1e-12)
    assert res.metrics["avg_quoted_spread_bps"] == pytest.approx(strat.ctrl[api.C_SPREAD_BPS])
    assert np.isfinite(bids).all()


def test_default_params_match_the_backtest_config() -> None:
    """The backtester builds its params from the same Config (the seed's): MM id and every field agree."""
    p = build_params(seed_config(SETS))
    np.testing.assert_array_equal(p, mm_params())
