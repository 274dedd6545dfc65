"""Index constants of the flat arrays the backtest kernel carries from one day to the next.

The kernel keeps its whole state in a handful of NumPy arrays (so a run can stop at a day boundary,
let Python load the next day or grow a buffer, and resume exactly); these names say what each slot
holds. Python reads them to build metrics; nothing here is per-event work.
"""

from __future__ import annotations

# ---- ist: int64 scalars -------------------------------------------------------------------------
I_IE = 0  # exchange cursor into the current day's arrays
I_IL = 1  # local cursor into lead + current day
I_LOCAL_RAW = 2  # largest local_ts seen by the local cursor (local time never runs backwards)
I_STARTED = 3  # 1 once the first event reached the strategy (timers run from then)
I_NEXT_QUOTE = 4
I_NEXT_REB = 5
I_NEXT_SPREAD = 6
I_RQ_HEAD = 7  # request ring (local -> exchange): monotone counters, slot = counter & RING_MASK
I_RQ_TAIL = 8
I_RS_HEAD = 9  # response ring (exchange -> local)
I_RS_TAIL = 10
I_RQ_LAST = 11  # last scheduled arrival (FIFO per connection)
I_RS_LAST = 12
I_NEXT_OID = 13
I_NFILLS = 14
I_NREC = 15
I_MK0 = 16  # mark-out cursors into the fill log, one per horizon (3)
I_NEXT_REC = 19
I_VOL_PTR = 20
I_KILLED = 21  # 0 running, 1 strategy kill switch, 2 liquidated
I_KILL_TS = 22
I_EVENTS = 23  # exchange events processed
I_LAST_XTS = 24  # exchange clock
I_LAST_BOOK_XTS = 25  # exchange time of the newest book event the strategy has seen
I_POS_OPEN_TS = 26  # local time the local position left zero
I_BASE = 27  # price index of level 0 (ticks)
I_FIRST_TS = 28
I_HIWATER = 29  # rows of our order table ever used (allocation is lowest-free-first)
I_N_IOC = 30  # IOC orders in flight
I_SNAP_TS = 31  # exchange time of the last book clear (its snapshot rows re-sync queues)
I_TIMERS = 32  # timer calls made
# request budgets (core/request_budget.py), applied where the strategy's commands become requests
I_REQ_USED = 33  # address requests used (starts at backtest.account_requests_used)
I_THROTTLED_SINCE = 34  # local time the address budget ran out (0: not out)
I_LAST_SLOW = 35  # local time of the last request let through at one per 10 s
I_IP_WIN = 36  # start of the current IP-weight minute
I_IP_WEIGHT = 37  # weight spent in it
# the ladder diff's memo (backtest/loop.py, _act): a quote timer whose ladder and orders are what the last
# empty diff saw skips the diff
I_ORDERS_VER = 38  # bumped whenever a row of the strategy's ``orders`` table changes
I_DIFF_VER = 39  # I_ORDERS_VER + 1 of the orders the last quote timer's diff left untouched (0: none)
I_SIZE = 40

# ---- acct: float64 account and running values -------------------------------------------------------
A_CASH = 0  # USDC balance incl. realized PnL, fees, funding (exchange truth)
A_POS = 1
A_AVG = 2
A_MID = 3  # exchange mid (mark)
A_PEAK = 4
A_MAXDD = 5  # fraction of peak equity
A_FEES = 6  # paid (+) / rebated (-)
A_FUNDING = 7  # paid (+) / received (-)
A_L_CASH = 8  # the strategy's view, updated by responses at local time
A_L_POS = 9
A_L_AVG = 10
A_L_FUNDING_RATE = 11
A_L_MID = 12
A_MAXBID = 13  # our best resting bid / ask price at the exchange (-inf / +inf when none)
A_MINASK = 14
A_REST_BID_QTY = 15
A_REST_ASK_QTY = 16
A_N_REST_BID = 17
A_N_REST_ASK = 18
A_LAST_SPREAD = 19
A_LAST_VOL = 20
A_LAST_REGIME = 21
A_QUOTING = 22
A_EXT_VOL = 23
A_LIQ_LOSS = 24  # equity lost to liquidations (mark - entry)
A_START_EQUITY = 25
A_KILL_REASON = 26
A_MAX_ABS_POS = 27
# the tape the strategy has seen since its previous timer call (view[V_TRADE_*]; reset after each call)
A_L_TRADE_BUY_PX = 28  # highest buy-aggressor trade price (0: none)
A_L_TRADE_SELL_PX = 29  # lowest sell-aggressor trade price (0: none)
A_L_TRADE_BUY_SZ = 30
A_L_TRADE_SELL_SZ = 31
A_L_TRADED_USD = 32  # our traded notional the strategy has been told of (earns address requests)
A_SIZE = 40

# ---- st: float64 counters -------------------------------------------------------------------------
ST_FILLS = 0
ST_MAKER_FILLS = 1
ST_VOLUME = 2  # base units
ST_MAKER_VOLUME = 3
ST_NOTIONAL = 4
ST_ORDERS = 5  # new orders sent
ST_CANCELS = 6
ST_QUOTE_TIMERS = 7
ST_QUOTE_UP = 8  # quote timers with a bid and an ask resting at the exchange
ST_QUOTING = 9  # quote timers where the strategy said it was quoting
ST_SPREAD_SUM = 10
ST_LIQUIDATIONS = 11
ST_TAKER_ORDERS = 12
ST_FUNDING_EVENTS = 13
ST_OUT_OF_RANGE = 14  # book rows outside the price index (ignored)
ST_TRADES_SEEN = 15
ST_REJ0 = 16  # + reject reason (9 of them: up to 24)
ST_REQ_REFUSED = 25  # orders/takes not sent: the address budget was out and the 10 s slot taken
ST_REQ_REFUSED_CANCELS = 26
ST_THROTTLED_S = 27  # seconds spent with the address budget used up (closed spells)
ST_SLOW_REQS = 28  # requests let through at one per 10 s
ST_IP_REFUSED = 29  # commands not sent: their batch did not fit the minute's IP weight
ST_IP_MAX = 30  # most IP weight spent in one minute
ST_REQ_SENT = 31  # address requests counted in this run
ST_SIZE = 40

REJ_ALO = 0
REJ_TICK = 1
REJ_LOT = 2
REJ_MIN_NOTIONAL = 3
REJ_MARGIN = 4
REJ_REDUCE_ONLY = 5
REJ_NO_SLOT = 6
REJ_NO_LIQUIDITY = 7
REJ_PRICE_RANGE = 8
REJECT_NAMES = ("post_only_cross", "tick", "lot", "min_notional", "margin", "reduce_only", "no_free_slot",
                "ioc_no_liquidity", "price_out_of_range")

# ---- cfg: float64 settings ------------------------------------------------------------------------
CF_ORDER_LAT = 0  # ns
CF_CANCEL_LAT = 1
CF_RESP_LAT = 2
CF_FEED_LAT = 3
CF_LAT_MODEL = 4
CF_LAT_SIGMA = 5
CF_QUEUE_MODEL = 6
CF_QUEUE_POWER = 7
CF_PARTIAL = 8
CF_MAKER_FEE = 9
CF_TAKER_FEE = 10
CF_LEVERAGE = 11
CF_MMR = 12
CF_TICK = 13
CF_LOT = 14
CF_MIN_NOTIONAL = 15
CF_QUOTE_INT = 16  # ns
CF_REB_INT = 17
CF_SPREAD_INT = 18
CF_REC_INT = 19
CF_MK0 = 20  # mark-out horizons, ns (3)
CF_INITIAL_EQUITY = 23
CF_TOL_BPS = 24
CF_SIZE_TOL = 25
CF_POST_ONLY = 26
CF_TAKER_SLIPPAGE = 27
CF_BUDGET_ON = 28  # 1: enforce the address budget and IP weight; 0: only count them
CF_START_VOLUME = 29  # the account's cumulative traded volume before the run, USD
CF_IP_LIMIT = 30  # IP weight per minute
CF_TIMER_ANCHOR = 31  # TIMER_ANCHOR_* below
CF_TIMER_OFFSET = 32  # ns added to every timer's grid
CF_SIZE = 33

# backtest.timer_anchor (cfg[CF_TIMER_ANCHOR]); the rule is amm500.backtest.loop.first_fire
TIMER_ANCHOR_FIRST_LOCAL = 0
TIMER_ANCHOR_FIRST_EXCHANGE = 1
TIMER_ANCHOR_EPOCH = 2
TIMER_ANCHORS = {"first_local": TIMER_ANCHOR_FIRST_LOCAL, "first_exchange": TIMER_ANCHOR_FIRST_EXCHANGE,
                 "epoch": TIMER_ANCHOR_EPOCH}

# ---- od: our orders, one row per slot (row k == row k of the strategy's ``orders``) -----------------
OD_SIDE = 0  # +1 / -1, 0 free
OD_PX = 1
OD_QTY = 2
OD_LEAVES = 3  # exchange truth
OD_XST = 4  # XS_*
OD_LST = 5  # LS_*
OD_AHEAD = 6  # queue size ahead of us
OD_CUM_TRADE = 7  # prob model: traded volume at our price since the last depth update
OD_OID = 8
OD_FLAGS = 9
OD_SENT = 10  # local send time, ns (float)
OD_IDX = 11  # price index
OD_SIZE = 12

XS_INFLIGHT = 1
XS_RESTING = 2
XS_DONE = 3
LS_SENT = 1
LS_LIVE = 2
LS_CANCEL_SENT = 3
LS_IOC = 4

FLAG_POST_ONLY = 1
FLAG_IOC = 2
FLAG_REDUCE_ONLY = 4

# ---- message rings ----------------------------------------------------------------------------------
RING = 1 << 14
RING_MASK = RING - 1
RQ_TYPE = 0
RQ_SLOT = 1
RQ_OID = 2
RQ_SIZE = 3
REQ_NEW = 1
REQ_CANCEL = 2

RS_TYPE = 0
RS_SLOT = 1
RS_OID = 2
RS_PX = 3
RS_SZ = 4
RS_MAKER = 5
RS_FEE = 6
RS_FINAL = 7
RS_SIZE = 8
RESP_ACK = 1
RESP_REJECT = 2
RESP_CANCELED = 3
RESP_FILL = 4
RESP_CANCEL_FAIL = 5
RESP_LIQUIDATION = 6

# ---- fill log ----------------------------------------------------------------------------------------
F_SIDE = 0
F_PX = 1
F_SZ = 2
F_MAKER = 3
F_FEE = 4
F_MID = 5  # exchange mid at the fill
F_POS = 6  # position after the fill
F_MK0 = 7  # mark-outs in bps (3), NaN until resolved
F_LIQ = 10
F_SIZE = 11

# ---- time series records -----------------------------------------------------------------------------
R_EQUITY = 0
R_POS = 1
R_MID = 2
R_SPREAD = 3
R_VOL = 4
R_REGIME = 5
R_QUOTING = 6
R_FEES = 7
R_FUNDING = 8
R_N_BIDS = 9
R_N_ASKS = 10
R_SIZE = 11
