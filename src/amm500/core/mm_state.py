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
