"""Private layout of the MarketMakingStrategy ``state`` vector (see ``amm500.core.api``).

One flat float64 vector keeps the kernels allocation-free and lets a driver snapshot, copy or reset
the whole strategy (``state[:] = 0`` is a fresh session). Scalars first, then ring buffers.
"""

from __future__ import annotations

# ---- session and kill switch -----------------------------------------------------------------
S_INIT = 0  # 1 once the first valid call has set the baselines below
S_PEAK_EQUITY = 1
S_SESSION_START_EQUITY = 2
S_KILLED = 3
S_KILL_REASON = 4
S_KILL_COUNT = 5  # how many times the switch fired (kept across resets)
# ---- volatility --------------------------------------------------------------------------------
S_VOL = 6  # annualized volatility in use (NaN until enough samples)
S_REGIME = 7
S_VOL_COUNT = 8  # samples in the ring
S_VOL_HEAD = 9  # next write slot
S_VOL_LAST_T = 10  # seconds (float) of the newest sample
S_REALIZED_VOL = 11  # last realized estimate, reported even when an external forecast is used
# ---- delta / timeout ---------------------------------------------------------------------------
S_DELTA_SIDE = 12  # +1: too long (bids shrink), -1: too short (asks shrink), 0: inside the limit
S_N_TIMEOUT_IOC = 13
S_N_KILL_IOC = 14
S_N_DELTA_CHECKS_HIT = 15
# ---- taker ratio -------------------------------------------------------------------------------
S_N_FILLS = 16
S_N_TAKER_FILLS = 17
S_MAKER_VOLUME = 18  # base units
S_TAKER_VOLUME = 19
S_TAKER_HIGH = 20  # 1 while the taker ratio is above the limit
# ---- adverse selection -------------------------------------------------------------------------
S_ADV_BPS = 21  # average adverse move of the last marked-out fills, bps (+ = adverse)
S_ADV_HIGH = 22
S_ADV_HEAD = 23
S_ADV_COUNT = 24
# ---- round trips (own accounting from on_fill, independent of the driver's view) --------------
S_POS = 25
S_AVG_PX = 26
S_TRIP_PNL = 27  # realized PnL (after fees) of the round trip in progress
S_CONSEC_LOSSES = 28
S_N_ROUND_TRIPS = 29
S_N_LOSING_TRIPS = 30
S_REALIZED_PNL = 31
# ---- last decision, for reports ----------------------------------------------------------------
S_LAST_TAKER_NS = 32  # epoch seconds of the last IOC we asked for (float seconds)
S_N_STALE = 33  # quote calls suppressed by the stale-data guard
S_N_LIMITED = 34  # quote calls where a position/notional/leverage/margin limit cut the ladder
S_REBASE = 35  # 1 after a kill-switch reset without an equity: the next call re-bases the session
# ---- whether this quote timer's ladder is the last one (ctrl C_LADDER_SAME; the backtester then skips its diff)
S_QUOTE_SEQ = 36  # quote timers seen
S_BUILT_SEQ = 37  # S_QUOTE_SEQ of the last ladder built
S_PREV_NB = 38  # its levels per side
S_PREV_NA = 39
S_LADDER_DIRTY = 40  # 1 once a level written by the ladder in progress differs from what quotes held
# ---- the last ladder's inputs, for a quote timer where nothing moved (view V_ORDERS_VER kept by the driver)
S_ROWS_VER = 41  # V_ORDERS_VER of the orders the collected rows (S_ROWS) are sorted from (0: none)
S_ROWS_NB = 42  # how many of them per side
S_ROWS_NA = 43
S_LIMITED_ADD = 44  # what the last ladder added to S_N_LIMITED
S_MEMO = 45  # its 13 scalar inputs (quote_both_sides' fair .. ask), up to S_MEMO + 12 = 57
MEMO_N = 13

# ---- ring buffers ------------------------------------------------------------------------------
VOL_CAP = 1024  # mid samples (t_s, log mid)
S_VOL_BUF = 64
ADV_CAP = 1024  # fills: (side, px, t_s, markout mid or NaN)
ADV_FIELDS = 4
S_ADV_BUF = S_VOL_BUF + 2 * VOL_CAP
# scratch of one ladder build: rows of our resting orders, bids then asks (256 slots each, the api's
# MAX_ORDERS), then one "kept for a level" flag per collected row, in the same order
ROWS_CAP = 512
S_ROWS = S_ADV_BUF + ADV_FIELDS * ADV_CAP
STATE_MIN_SIZE = S_ROWS + 2 * ROWS_CAP

# ---- GLFT (amm500.strategy.glft): after everything the MarketMakingStrategy uses, which it reuses ----
G0 = STATE_MIN_SIZE
G_LAST_T = G0 + 0  # seconds of the last quote-timer calibration step (0: none yet)
G_TIME = G0 + 1  # decayed seconds of tape observed (the intensity's denominator)
G_PREV_MID = G0 + 2  # mid at the last calibration step: trade depths are measured from it
G_ACC_BUY_PX = G0 + 3  # highest buy trade price since the last calibration step (0: none)
G_ACC_SELL_PX = G0 + 4  # lowest sell trade price since then (0: none)
G_ACC_BUY_SZ = G0 + 5
G_ACC_SELL_SZ = G0 + 6
G_A = G0 + 7  # (A, k) in use: the fit once warm, the priors before
G_K = G0 + 8
G_FIT_OK = G0 + 9  # 1 when the last fit was used
G_FLOW = G0 + 10  # decayed signed aggressor volume (buy - sell)
G_FLOW_N = G0 + 11  # decayed aggressor volume
G_ALPHA_BPS = G0 + 12  # the alpha's fair-price shift in use, bps
G_ALPHA_N = G0 + 13  # resolved regression samples (decayed count)
G_XTX = G0 + 14  # 3x3 decayed X'X of the alpha regression (row-major)
G_XTY = G0 + 23  # 3 decayed X'y
G_BETA = G0 + 26  # 3 fitted weights
G_PEND_HEAD = G0 + 29  # pending alpha samples (their horizon has not passed yet)
G_PEND_COUNT = G0 + 30
G_PEND_LAST_T = G0 + 31
G_ADV_B = G0 + 32  # expected adverse move after a bid fill, bps (+ = against us)
G_ADV_A = G0 + 33
G_ADV_T = G0 + 34  # seconds of the last forgetting step
G_FILL_HEAD = G0 + 35
G_FILL_COUNT = G0 + 36
G_N_GATED_B = G0 + 37  # quote timers where the edge gate kept the bid out (the ask: next slot)
G_N_GATED_A = G0 + 38
G_HALF = G0 + 39  # the last GLFT half-spread and inventory skew per unit, bps (reports)
G_SKEW = G0 + 40
G_N_QUOTE_CALLS = G0 + 41
G_N_CAL = G0 + 42  # calibration steps taken
G_ALPHA_T = G0 + 43  # seconds of the last regression decay step
G_QUOTE_MID = G0 + 44  # the mid at the last quote timer: what a resting quote's depth was measured from
G_BINS = G0 + 64  # decayed counts of intervals whose trades reached depth >= d_i: bids then asks
N_BINS = 16
PEND_CAP = 128
PEND_FIELDS = 5  # t_s, x_micro, x_imbalance, x_flow, mid
G_PEND = G_BINS + 2 * N_BINS
FILL_CAP = 64
FILL_FIELDS = 3  # side, t_s, the mid the filled quote was placed against (last quote timer)
G_FILLS = G_PEND + PEND_CAP * PEND_FIELDS
GLFT_STATE_MIN_SIZE = G_FILLS + FILL_CAP * FILL_FIELDS
