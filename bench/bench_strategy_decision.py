"""Time one quote + risk decision of the MarketMakingStrategy.

1. From Python, as the live engine calls it (``MarketMakingStrategy.on_timer``): p50 / p99 per call;
   target p99 < 20 µs.
2. Inside a jitted loop, as the backtester calls it: mean ns per call.
Baselines measured in the same run: the fixed-spread reference kernel in the same jitted loop, and
an empty jitted call with the same nine arguments from Python (pure dispatch cost).

    .venv/bin/python bench/bench_strategy_decision.py          # quick (20k calls)
    .venv/bin/python bench/bench_strategy_decision.py --full   # 200k calls
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from numba import njit

from amm500.config import load_config
from amm500.core import api
from amm500.core.params import STRATEGY_MM, STRATEGY_REFERENCE, build_params
from amm500.strategy import kernel
from amm500.strategy.mm import MarketMakingStrategy

T0 = 1_700_000_000 * 10**9


def _market(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mid = 90_000.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-4, n)))
    bid = np.floor(mid)
    return np.column_stack([bid, bid + 1.0, rng.uniform(0.1, 5, n), rng.uniform(0.1, 5, n),
                            np.round(rng.normal(0, 0.002, n), 5)])


@njit(cache=True)
def _set(i: int, m: np.ndarray, view: np.ndarray, book: np.ndarray) -> None:
    bid, ask = m[i, 0], m[i, 1]
    for k in range(api.BOOK_DEPTH):
        book[api.B_BID_PX, k] = bid - k
        book[api.B_BID_SZ, k] = m[i, 2]
        book[api.B_ASK_PX, k] = ask + k
        book[api.B_ASK_SZ, k] = m[i, 3]
    view[api.V_BEST_BID] = bid
    view[api.V_BEST_ASK] = ask
    view[api.V_MID] = 0.5 * (bid + ask)
    view[api.V_POSITION] = m[i, 4]


@njit(cache=True)
def _rest(quotes: np.ndarray, ctrl: np.ndarray, orders: np.ndarray) -> None:
    orders[:] = 0.0
    r = 0
    for k in range(int(ctrl[api.C_N_BIDS])):
        orders[r, 0], orders[r, 1], orders[r, 2] = 1.0, quotes[0, k, 0], quotes[0, k, 1]
        r += 1
    for k in range(int(ctrl[api.C_N_ASKS])):
        orders[r, 0], orders[r, 1], orders[r, 2] = -1.0, quotes[1, k, 0], quotes[1, k, 1]
        r += 1


@njit(cache=True)
def _jit_loop(m: np.ndarray, params: np.ndarray, state: np.ndarray, view: np.ndarray, book: np.ndarray,
              orders: np.ndarray, quotes: np.ndarray, ctrl: np.ndarray, timed: np.ndarray) -> None:
    """Market update outside the timed region is impossible in njit, so time the whole step and the
    step without the strategy call; the difference is the decision."""
    for i in range(m.shape[0]):
        _set(i, m, view, book)
        kernel.on_timer(T0 + i * 500_000_000, api.TIMER_QUOTE, view, book, orders, params, state, quotes, ctrl)
        _rest(quotes, ctrl, orders)
    timed[0] = m.shape[0]


@njit(cache=True)
def _jit_loop_no_strategy(m: np.ndarray, view: np.ndarray, book: np.ndarray, orders: np.ndarray,
                          quotes: np.ndarray, ctrl: np.ndarray) -> None:
    for i in range(m.shape[0]):
        _set(i, m, view, book)
        _rest(quotes, ctrl, orders)


@njit(cache=True)
def _empty(now_ns: int, timer: int, view: np.ndarray, book: np.ndarray, orders: np.ndarray,
           params: np.ndarray, state: np.ndarray, quotes: np.ndarray, ctrl: np.ndarray) -> None:
    return


def _arrays(params: np.ndarray) -> tuple[np.ndarray, ...]:
    view = api.new_view()
    view[api.V_EQUITY] = view[api.V_START_EQUITY] = 1000.0
    return kernel.new_state(), view, api.new_book(), api.new_orders(), api.new_quotes(), api.new_ctrl()


def bench_python(n: int, m: np.ndarray, params: np.ndarray) -> np.ndarray:
    s = MarketMakingStrategy(params)
    s.view[api.V_EQUITY] = s.view[api.V_START_EQUITY] = 1000.0
    out = np.empty(n, dtype=np.int64)
    clock = time.perf_counter_ns
    for i in range(n):
        _set(i, m, s.view, s.book)
        t = clock()
        s.on_timer(T0 + i * 500_000_000, api.TIMER_QUOTE)
        out[i] = clock() - t
        _rest(s.quotes, s.ctrl, s.orders)
    return out


def bench_jit(m: np.ndarray, params: np.ndarray, chunk: int = 250) -> float:
    """Median over chunks of ``chunk`` jitted steps (robust to the scheduler on a shared machine),
    minus the same loop without the strategy call; ns per decision."""
    state, view, book, orders, quotes, ctrl = _arrays(params)
    with_s, without = [], []
    for lo in range(0, m.shape[0] - chunk + 1, chunk):
        part = m[lo : lo + chunk]
        t = time.perf_counter_ns()
        _jit_loop(part, params, state, view, book, orders, quotes, ctrl, np.zeros(1))
        with_s.append(time.perf_counter_ns() - t)
        t = time.perf_counter_ns()
        _jit_loop_no_strategy(part, view, book, orders, quotes, ctrl)
        without.append(time.perf_counter_ns() - t)
    return float(np.median(with_s) - np.median(without)) / chunk


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="200k calls instead of 20k")
    args = ap.parse_args()
    n = 200_000 if args.full else 20_000
    cfg = load_config()
    mm = build_params(cfg, strategy=STRATEGY_MM)
    ref = build_params(cfg, strategy=STRATEGY_REFERENCE)
    m = _market(n)
    # warm-up: compile / load every path
    bench_python(200, m, mm)
    bench_jit(m[:500], mm)
    bench_jit(m[:500], ref)
    e_state, e_view, e_book, e_orders, e_quotes, e_ctrl = _arrays(mm)
    _empty(T0, 1, e_view, e_book, e_orders, mm, e_state, e_quotes, e_ctrl)

    py = bench_python(n, m, mm)
    empty = np.empty(n, dtype=np.int64)
    for i in range(n):
        t = time.perf_counter_ns()
        _empty(T0, 1, e_view, e_book, e_orders, mm, e_state, e_quotes, e_ctrl)
        empty[i] = time.perf_counter_ns() - t
    jit_mm = bench_jit(m, mm)
    jit_ref = bench_jit(m, ref)

    p50, p99 = np.percentile(py, [50, 99]) / 1000.0
    mean = py.mean() / 1000.0
    p999, worst = np.percentile(py, 99.9) / 1000.0, py.max() / 1000.0
    e50, e99, e999 = np.percentile(empty, [50, 99, 99.9]) / 1000.0
    print(f"calls: {n}, 20 levels per side, 40 resting orders, default config")
    print(f"python -> MarketMakingStrategy.on_timer : p50 {p50:6.2f} µs   p99 {p99:6.2f} µs   "
          f"mean {mean:6.2f} µs   "
          f"(target p99 < 20 µs: {'met' if p99 < 20 else 'NOT met'})")
    print(f"{'':42}p99.9 {p999:6.2f} µs   max {worst:8.1f} µs")
    print(f"python -> empty 9-argument njit call    : p50 {e50:6.2f} µs   p99 {e99:6.2f} µs   "
          f"p99.9 {e999:6.2f} µs (dispatch baseline)")
    print(f"njit loop -> mm decision                : {jit_mm:8.0f} ns per call (median of 250-call chunks)")
    print(f"njit loop -> reference fixed-spread     : {jit_ref:8.0f} ns per call")
    print(f"ratios: python p50 / njit mm = {p50 * 1000 / jit_mm:.1f}x, njit mm / njit reference = "
          f"{jit_mm / max(jit_ref, 1.0):.1f}x, python p50 - dispatch = {p50 - e50:.2f} µs")


if __name__ == "__main__":
    main()
