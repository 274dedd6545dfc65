"""The contract between a quoting strategy and whatever drives it (backtester, paper, live engine).

A strategy is two Numba-jittable functions with exactly these signatures::

    on_timer(now_ns: int64, timer: int64, view: f8[:], book: f8[:, :], orders: f8[:, :],
             params: f8[:], state: f8[:], quotes: f8[:, :, :], ctrl: f8[:]) -> None
    on_fill(now_ns: int64, side: int64, px: float, sz: float, is_maker: bool, fee: float,
            view: f8[:], params: f8[:], state: f8[:]) -> None

The driver owns the clock and the venue; the strategy owns ``state`` (a flat float64 vector whose
layout is private to it) and answers with the ladder it *wants*. The driver then diffs that ladder
against the live orders with ``amm500.core.order_diff`` (one jitted kernel for every venue).
Both the backtester (inside its Numba loop) and the live engine (from Python) call the same
functions, so a backtest and a live run of the same inputs quote identically.

All arrays are float64 and C-contiguous. Sizes are in base units (BTC), prices in USD, times in
nanoseconds (only ``now_ns`` is an int64: float64 cannot hold epoch nanoseconds exactly).
"""

from __future__ import annotations

import numpy as np

# ---- event rows the kernels read (the canonical table's ``kind`` and ``side``; data.schema is built on these)
BOOK_LEVEL = 1  # px/side level now has absolute size sz (0 deletes the level)
TRADE = 2  # a trade of sz at px; side is the aggressor (+1 buy, -1 sell)
BOOK_CLEAR = 3  # clear the book (side 0: both sides, +1 bids, -1 asks); a full snapshot follows
FUNDING = 4  # hourly funding rate in px (fraction per hour; positive: longs pay shorts)
BID = 1
ASK = -1
NS_PER_S = 1_000_000_000  # timestamps are int64 nanoseconds
NS_PER_MS = 1_000_000

# ---- timer kinds (the ``timer`` argument) -------------------------------------------------------
TIMER_QUOTE = 1  # every execution.quote_refresh_interval: produce the desired ladder
TIMER_REBALANCE = 2  # every execution.rebalance_interval: delta checks, position timeout IOC
TIMER_SPREAD = 3  # every trading.spread_recalc_interval: recompute volatility / regime

# ---- view: what the driver knows, filled before every call -------------------------------------
V_BEST_BID = 0
V_BEST_ASK = 1
V_MID = 2
V_POSITION = 3  # signed base units, + long
V_AVG_ENTRY = 4  # average entry price of the open position (0 when flat)
V_EQUITY = 5  # mark-to-market account value, USD
V_START_EQUITY = 6  # equity when the session started
V_FUNDING_RATE = 7  # latest known hourly funding rate (positive: longs pay)
V_BOOK_AGE_MS = 8  # now minus the exchange time of the newest book update the driver has seen
V_EXT_VOL = 9  # external (e.g. LSTM) annualized volatility forecast; NaN when none
V_POSITION_AGE_S = 10  # seconds since the position last left zero (0 when flat)
V_OPEN_ORDERS = 11  # number of resting orders of ours
V_MARGIN_USED = 12  # initial margin in use, USD
# Market trades the driver saw since its previous on_timer call (it resets them after each call), for
# strategies that calibrate on the tape (GLFT's trade intensity, trade-flow imbalance):
V_TRADE_BUY_PX = 13  # highest buy-aggressor trade price (0: none)
V_TRADE_SELL_PX = 14  # lowest sell-aggressor trade price (0: none)
V_TRADE_BUY_SZ = 15  # buy-aggressor volume, base units
V_TRADE_SELL_SZ = 16  # sell-aggressor volume, base units
V_TRADES_KNOWN = 17  # 1 when the driver feeds the four slots above; 0: the tape is unknown (use priors)
# a number the driver changes whenever a row of ``orders`` changes (side, price or size; not the age), or 0
# when it keeps none: with one, the strategy reuses its sorted view of the orders, and its whole ladder
# when nothing else moved either (the backtester keeps it; the live engine passes 0)
V_ORDERS_VER = 18
V_SIZE = 24

# ---- book: shape (4, BOOK_DEPTH): rows bid_px, bid_sz, ask_px, ask_sz; best first; 0 = empty ----
# A driver must fill at least the first ``book_depth(params)`` columns (the strategy's third entry point,
# ``strategy.kernel.entry_functions``) before each call (it reads no further); the backtester fills exactly those.
BOOK_DEPTH = 20
B_BID_PX = 0
B_BID_SZ = 1
B_ASK_PX = 2
B_ASK_SZ = 3

# ---- orders: shape (n <= MAX_ORDERS, O_SIZE): our live resting orders; rows with O_SIDE == 0 unused;
# a driver may pass only the leading rows that can be in use (the backtester passes up to its high water)
MAX_ORDERS = 256
O_SIDE = 0  # +1 bid, -1 ask, 0 empty slot
O_PX = 1
O_SZ = 2  # remaining size
O_AGE_S = 3  # seconds since the order was placed
O_SIZE = 4

# ---- quotes: shape (2, MAX_LEVELS, 2): [0]=bids, [1]=asks; per level (px, sz); best first --------
MAX_LEVELS = 100
Q_BIDS = 0
Q_ASKS = 1
Q_PX = 0
Q_SZ = 1

# ---- ctrl: scalar answers of on_timer -------------------------------------------------------------
C_N_BIDS = 0  # levels written in quotes[Q_BIDS]
C_N_ASKS = 1
C_TAKER_SIDE = 2  # +1 buy / -1 sell / 0 none: a reduce-only IOC to send now
C_TAKER_SZ = 3
C_CANCEL_ALL = 4  # 1: cancel every resting order before anything else
C_KILLED = 5  # 1: the kill switch is latched (driver stops quoting, flattens, reports)
C_SPREAD_BPS = 6  # the full spread the strategy is quoting now (for reports)
C_VOL = 7  # the annualized volatility it used
C_REGIME = 8  # volatility band 0..4 (ultra-low .. extreme)
C_QUOTING = 9  # 1 when quoting, 0 when a guard (stale data, limits, kill) stopped it
C_KILL_REASON = 10  # 0 none, 1 drawdown, 2 consecutive losses, 3 session loss
C_LADDER_SAME = 11  # 1: this quote timer's ladder (counts, prices, sizes) is the previous quote timer's, bit for bit
C_SIZE = 16


def new_view() -> np.ndarray:
    v = np.zeros(V_SIZE)
    v[V_EXT_VOL] = np.nan
    return v


def new_book() -> np.ndarray:
    return np.zeros((4, BOOK_DEPTH))


def new_orders() -> np.ndarray:
    return np.zeros((MAX_ORDERS, O_SIZE))


def new_quotes() -> np.ndarray:
    return np.zeros((2, MAX_LEVELS, 2))


def new_ctrl() -> np.ndarray:
    return np.zeros(C_SIZE)
