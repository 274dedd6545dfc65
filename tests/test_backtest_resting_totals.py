"""The engine keeps our resting orders' per-side counts, sizes and best prices incrementally; at every
checkpoint of a busy run they must equal a recount from the order table (and the per-price counts)."""

from __future__ import annotations

import numpy as np
import pytest

from amm500.backtest.runner import KernelState
from amm500.data.schema import Events
from amm500.data.synthetic import generate_day
from amm500.sim.book import N_LEVELS, S_ASK, S_BID
from amm500.sim.layout import (
    A_MAXBID,
    A_MINASK,
    A_N_REST_ASK,
    A_N_REST_BID,
    A_REST_ASK_QTY,
    A_REST_BID_QTY,
    I_BASE,
    I_HIWATER,
    OD_IDX,
    OD_LEAVES,
    OD_PX,
    OD_SIDE,
    OD_XST,
    XS_RESTING,
)
from seed_helpers import seed_config


def _recount(ks: KernelState) -> tuple[int, int, float, float, float, float, np.ndarray]:
    od = ks.od[: int(ks.ist[I_HIWATER])]
    rest = od[od[:, OD_XST] == XS_RESTING]
    bids, asks = rest[rest[:, OD_SIDE] > 0], rest[rest[:, OD_SIDE] < 0]
    oc = np.zeros((2, N_LEVELS), dtype=np.int64)
    np.add.at(oc[S_BID], bids[:, OD_IDX].astype(np.int64), 1)
    np.add.at(oc[S_ASK], asks[:, OD_IDX].astype(np.int64), 1)
    return (len(bids), len(asks), float(bids[:, OD_LEAVES].sum()), float(asks[:, OD_LEAVES].sum()),
            float(bids[:, OD_PX].max()) if len(bids) else -np.inf,
            float(asks[:, OD_PX].min()) if len(asks) else np.inf, oc)


@pytest.mark.parametrize("sets", [
    ["risk.kill_switch_enabled=false", "trading.order_levels=8"],  # the full strategy, requoting
    ["trading.strategy=fixed_spread", "trading.order_levels=4", "trading.quote_tolerance_bps=0",
     "backtest.queue_model=prob", "backtest.partial_fills=true"],  # exact-price requotes, partial fills
])
def test_incremental_resting_totals_match_a_recount(sets: list[str]) -> None:
    ev = generate_day(0, 11, hours=1)
    cfg = seed_config(sets)  # ladders of the seed's shape on both sides
    base = round(float(ev.px[0]) / cfg.backtest.tick_size) - N_LEVELS // 2
    ks = KernelState(cfg, base, int(ev.ts[0]), None)
    assert int(ks.ist[I_BASE]) == base
    checkpoints = np.linspace(int(ev.ts[0]), int(ev.ts[-1]), 120).astype(np.int64)
    seen_both = 0
    for t in checkpoints:
        ks.run(ev, Events.empty(), int(t))
        nb, na, qb, qa, mb, ma, oc = _recount(ks)
        assert (ks.acct[A_N_REST_BID], ks.acct[A_N_REST_ASK]) == (nb, na)
        assert ks.acct[A_REST_BID_QTY] == pytest.approx(qb, abs=1e-12)
        assert ks.acct[A_REST_ASK_QTY] == pytest.approx(qa, abs=1e-12)
        assert (ks.acct[A_MAXBID], ks.acct[A_MINASK]) == (mb, ma)
        assert np.array_equal(ks.oc.astype(np.int64), oc)
        seen_both += nb > 1 and na > 1
    assert seen_both > 60  # the checkpoints really saw ladders resting on both sides
