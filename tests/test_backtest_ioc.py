"""Taker orders at the exchange: reduce-only IOC walking book levels, taker fees, reduce-only rules.

These drive the kernel's order-arrival function directly on a hand-set book, since no reference
strategy sends taker orders on its own.
"""

from __future__ import annotations

import numpy as np
import pytest

from amm500.backtest.runner import KernelState
from amm500.config import Config
from amm500.sim import matching
from amm500.sim.book import EXCH, N_LEVELS, S_ASK, S_BID, set_level
from amm500.sim.layout import (
    A_CASH,
    A_FEES,
    A_MID,
    A_POS,
    FLAG_IOC,
    FLAG_REDUCE_ONLY,
    I_RS_TAIL,
    OD_FLAGS,
    OD_LEAVES,
    OD_OID,
    OD_PX,
    OD_QTY,
    OD_SIDE,
    OD_XST,
    REJ_NO_LIQUIDITY,
    REJ_REDUCE_ONLY,
    RESP_CANCELED,
    RESP_FILL,
    RESP_REJECT,
    RS_FINAL,
    RS_PX,
    RS_SZ,
    RS_TYPE,
    ST_REJ0,
    XS_DONE,
    XS_INFLIGHT,
)

TAKER = 0.00045
BASE = 100_000 - N_LEVELS // 2


def _state(position: float) -> KernelState:
    ks = KernelState(Config(), BASE, 0, None)
    for px, sz in ((100_001, 0.001), (100_002, 0.002), (100_004, 0.01)):
        set_level(ks.lv, ks.bi, EXCH, S_ASK, px - BASE, sz)
    for px, sz in ((99_999, 0.003), (99_997, 0.004)):
        set_level(ks.lv, ks.bi, EXCH, S_BID, px - BASE, sz)
    ks.acct[A_MID] = 100_000.0
    ks.acct[A_POS] = position
    ks.acct[A_CASH] = 1000.0 - position * 100_000.0
    return ks


def _send(ks: KernelState, side: int, px: float, qty: float) -> None:
    ks.od[0, OD_SIDE] = side
    ks.od[0, OD_PX] = px
    ks.od[0, OD_QTY] = qty
    ks.od[0, OD_LEAVES] = qty
    ks.od[0, OD_XST] = XS_INFLIGHT
    ks.od[0, OD_OID] = 7
    ks.od[0, OD_FLAGS] = FLAG_IOC | FLAG_REDUCE_ONLY
    matching.new_order(1, 0, ks.lv, ks.bi, ks.od, ks.oc, ks.acct, ks.st, ks.cfg, ks.ist, ks.rs_ts, ks.rs, ks.fills_ts,
                     ks.fills)


def _responses(ks: KernelState) -> list[tuple[int, float, float, int]]:
    n = int(ks.ist[I_RS_TAIL])
    return [(int(ks.rs[k, RS_TYPE]), ks.rs[k, RS_PX], round(ks.rs[k, RS_SZ], 9), int(ks.rs[k, RS_FINAL]))
            for k in range(n)]


def test_reduce_only_ioc_walks_levels_up_to_its_limit_and_cancels_the_rest() -> None:
    ks = _state(position=-0.005)  # short 0.005: a buy of 0.01 is cut to 0.005
    _send(ks, +1, 100_003.0, 0.01)
    assert _responses(ks) == [(RESP_FILL, 100_001.0, 0.001, 0), (RESP_FILL, 100_002.0, 0.002, 0),
                              (RESP_CANCELED, 0.0, 0.0, 1)]  # 100,004 is beyond the limit
    assert ks.acct[A_POS] == pytest.approx(-0.002)
    fee = (100_001 * 0.001 + 100_002 * 0.002) * TAKER
    assert ks.acct[A_FEES] == pytest.approx(fee)
    assert ks.acct[A_CASH] == pytest.approx(1000.0 + 500.0 - 100_001 * 0.001 - 100_002 * 0.002 - fee)


def test_ioc_that_fills_completely_ends_with_a_final_fill() -> None:
    ks = _state(position=0.006)  # long: a sell walks the bids
    _send(ks, -1, 99_990.0, 0.006)
    assert _responses(ks) == [(RESP_FILL, 99_999.0, 0.003, 0), (RESP_FILL, 99_997.0, 0.003, 1)]
    assert ks.acct[A_POS] == 0.0
    assert ks.od[0, OD_XST] == XS_DONE


def test_reduce_only_that_would_increase_the_position_is_rejected() -> None:
    ks = _state(position=0.006)
    _send(ks, +1, 100_010.0, 0.001)
    assert _responses(ks)[0][0] == RESP_REJECT
    assert ks.st[ST_REJ0 + REJ_REDUCE_ONLY] == 1
    assert ks.acct[A_POS] == 0.006


def test_ioc_with_nothing_inside_its_limit_is_rejected_as_no_liquidity() -> None:
    ks = _state(position=-0.005)
    _send(ks, +1, 100_000.0, 0.005)
    assert ks.st[ST_REJ0 + REJ_NO_LIQUIDITY] == 1
    assert np.all(ks.fills_ts[:1] == 0) and ks.acct[A_FEES] == 0.0
