"""The same kernels driven from Python (the live engine's wrapper) and from a @njit loop (as the
backtester does) must produce identical quotes, ctrl answers and state on identical inputs."""

from __future__ import annotations

import numpy as np
from numba import njit

from amm500.core import api
from amm500.strategy import kernel
from amm500.strategy.mm import MarketMakingStrategy
from mm_helpers import T0, mm_params

N_STEPS = 400
LEVELS = 20


def _inputs(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    mid = 90_000.0 * np.exp(np.cumsum(rng.normal(0.0, 3e-4, N_STEPS)))
    bid = np.floor(mid) - rng.integers(0, 3, N_STEPS)
    ask = bid + 1.0 + rng.integers(0, 3, N_STEPS)
    timers = np.where(np.arange(N_STEPS) % 10 == 0, api.TIMER_SPREAD,
                      np.where(np.arange(N_STEPS) % 2 == 0, api.TIMER_REBALANCE, api.TIMER_QUOTE))
    return {
        "now": T0 + np.arange(N_STEPS, dtype=np.int64) * 500_000_000,
        "timer": timers.astype(np.int64),
        "bid": bid,
        "ask": ask,
        "bid_sz": rng.uniform(0.1, 5.0, N_STEPS),
        "ask_sz": rng.uniform(0.1, 5.0, N_STEPS),
        "position": np.round(rng.normal(0.0, 0.003, N_STEPS), 5),
        "equity": 1000.0 + np.cumsum(rng.normal(0.0, 2.0, N_STEPS)),
        "age_ms": rng.uniform(0.0, 4000.0, N_STEPS),
        "pos_age": rng.uniform(0.0, 40.0, N_STEPS),
        "funding": rng.normal(0.0, 2e-4, N_STEPS),
        "fill_side": rng.choice(np.array([-1, 0, 0, 1]), N_STEPS).astype(np.int64),
        "fill_maker": rng.random(N_STEPS) < 0.8,
    }


@njit(cache=True)
def _fill_inputs(i: int, inp_f: np.ndarray, view: np.ndarray, book: np.ndarray) -> None:
    bid, ask, bsz, asz = inp_f[i, 0], inp_f[i, 1], inp_f[i, 2], inp_f[i, 3]
    for k in range(10):
        book[api.B_BID_PX, k] = bid - k
        book[api.B_BID_SZ, k] = bsz
        book[api.B_ASK_PX, k] = ask + k
        book[api.B_ASK_SZ, k] = asz
    view[api.V_BEST_BID] = bid
    view[api.V_BEST_ASK] = ask
    view[api.V_MID] = 0.5 * (bid + ask)
    view[api.V_POSITION] = inp_f[i, 4]
    view[api.V_EQUITY] = inp_f[i, 5]
    view[api.V_START_EQUITY] = 1000.0
    view[api.V_BOOK_AGE_MS] = inp_f[i, 6]
    view[api.V_POSITION_AGE_S] = inp_f[i, 7]
    view[api.V_FUNDING_RATE] = inp_f[i, 8]


@njit(cache=True)
def _rest_previous(quotes: np.ndarray, ctrl: np.ndarray, orders: np.ndarray) -> None:
    """The previous answer becomes the resting orders, so hysteresis is exercised."""
    orders[:] = 0.0
    r = 0
    for q, side in ((api.Q_BIDS, 1), (api.Q_ASKS, -1)):
        for k in range(int(ctrl[api.C_N_BIDS if side > 0 else api.C_N_ASKS])):
            orders[r, api.O_SIDE] = side
            orders[r, api.O_PX] = quotes[q, k, api.Q_PX]
            orders[r, api.O_SZ] = quotes[q, k, api.Q_SZ]
            r += 1


@njit(cache=True)
def _jit_driver(
    now: np.ndarray, timer: np.ndarray, inp_f: np.ndarray, fill_side: np.ndarray, fill_maker: np.ndarray,
    params: np.ndarray, state: np.ndarray, out_q: np.ndarray, out_c: np.ndarray,
) -> None:
    view = np.zeros(api.V_SIZE)
    view[api.V_EXT_VOL] = np.nan
    book = np.zeros((4, api.BOOK_DEPTH))
    orders = np.zeros((api.MAX_ORDERS, api.O_SIZE))
    quotes = np.zeros((2, api.MAX_LEVELS, 2))
    ctrl = np.zeros(api.C_SIZE)
    for i in range(now.shape[0]):
        _fill_inputs(i, inp_f, view, book)
        if fill_side[i] != 0:
            px = inp_f[i, 1] if fill_side[i] > 0 else inp_f[i, 0]
            kernel.on_fill(now[i], fill_side[i], px, 0.002, fill_maker[i], 0.03, view, params, state)
        kernel.on_timer(now[i], timer[i], view, book, orders, params, state, quotes, ctrl)
        out_q[i] = quotes[:, :LEVELS, :]
        out_c[i] = ctrl
        if timer[i] == api.TIMER_QUOTE:  # as a driver does: only a quote timer's ladder is acted on
            _rest_previous(quotes, ctrl, orders)


def _float_inputs(inp: dict[str, np.ndarray]) -> np.ndarray:
    cols = ("bid", "ask", "bid_sz", "ask_sz", "position", "equity", "age_ms", "pos_age", "funding")
    return np.ascontiguousarray(np.column_stack([inp[c] for c in cols]))


def test_python_wrapper_and_njit_loop_quote_identically() -> None:
    params = mm_params(risk__max_session_loss=15.0)  # let the kill switch fire somewhere in the run
    inp = _inputs(7)
    inp_f = _float_inputs(inp)

    jit_state = kernel.new_state()
    out_q = np.zeros((N_STEPS, 2, LEVELS, 2))
    out_c = np.zeros((N_STEPS, api.C_SIZE))
    _jit_driver(inp["now"], inp["timer"], inp_f, inp["fill_side"], inp["fill_maker"], params, jit_state, out_q, out_c)

    strat = MarketMakingStrategy(params)
    py_q = np.zeros_like(out_q)
    py_c = np.zeros_like(out_c)
    for i in range(N_STEPS):
        _fill_inputs(i, inp_f, strat.view, strat.book)
        side = int(inp["fill_side"][i])
        if side != 0:
            px = inp_f[i, 1] if side > 0 else inp_f[i, 0]
            strat.on_fill(int(inp["now"][i]), side, float(px), 0.002, bool(inp["fill_maker"][i]), 0.03)
        strat.on_timer(int(inp["now"][i]), int(inp["timer"][i]))
        py_q[i] = strat.quotes[:, :LEVELS, :]
        py_c[i] = strat.ctrl
        if inp["timer"][i] == api.TIMER_QUOTE:
            _rest_previous(strat.quotes, strat.ctrl, strat.orders)

    np.testing.assert_array_equal(py_q, out_q)
    np.testing.assert_array_equal(py_c, out_c)
    np.testing.assert_array_equal(strat.state, jit_state)
    # the run exercised the interesting paths, so the comparison means something
    assert (out_c[:, api.C_N_BIDS] > 0).sum() > 40
    not_quote = inp["timer"] != api.TIMER_QUOTE  # only quote timers build a ladder
    assert (out_c[not_quote, api.C_N_BIDS] == 0).all() and (out_c[not_quote, api.C_N_ASKS] == 0).all()
    assert out_c[-1, api.C_KILLED] == 1.0  # and the kill switch latched later on
    assert (out_c[:, api.C_QUOTING] == 0).any()  # stale-data guard
    assert (out_c[:, api.C_TAKER_SIDE] != 0).any()  # position timeout or flatten
    assert np.isfinite(out_c[:, api.C_VOL]).any()
