"""The backtester's exchange side, driven one batch of live events or one order at a time.

:class:`ExchangeCore` owns the exchange-side arrays (:mod:`amm500.sim.layout`) and runs the same
compiled kernels as the backtest loop (:mod:`amm500.sim.matching`): an order meets the same checks,
rests with the same queue estimate, and fills from the same prints and book moves. The paper venue
drives it with a live feed, so paper fills follow the backtester's fill model, not a second one.

What differs from the backtest loop is only the driver: there is no request ring (an order reaches
the core when the caller hands it over: the real network already delayed it) and the response ring
is drained by the caller after each call (its latency is zero for the same reason).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from amm500.core import api
from amm500.core.api import ASK, BID, BOOK_LEVEL, NS_PER_MS, TRADE
from amm500.core.exchange_model import ExchangeModel
from amm500.core.files import compile_notice
from amm500.core.instrument import Instrument
from amm500.core.jit import array_kernel
from amm500.sim import latency_model, matching
from amm500.sim.book import N_LEVELS, new_books
from amm500.sim.layout import (
    A_AVG,
    A_CASH,
    A_FEES,
    A_FUNDING,
    A_MAXBID,
    A_MID,
    A_MINASK,
    A_PEAK,
    A_POS,
    A_SIZE,
    A_START_EQUITY,
    CF_LAT_MODEL,
    CF_LAT_SIGMA,
    CF_LEVERAGE,
    CF_LOT,
    CF_MAKER_FEE,
    CF_MIN_NOTIONAL,
    CF_MMR,
    CF_PARTIAL,
    CF_QUEUE_MODEL,
    CF_QUEUE_POWER,
    CF_RESP_LAT,
    CF_SIZE,
    CF_TAKER_FEE,
    CF_TICK,
    F_SIZE,
    I_BASE,
    I_HIWATER,
    I_MK0,
    I_NFILLS,
    I_RS_HEAD,
    I_RS_LAST,
    I_RS_TAIL,
    I_SIZE,
    OD_FLAGS,
    OD_LEAVES,
    OD_OID,
    OD_PX,
    OD_QTY,
    OD_SIDE,
    OD_SIZE,
    OD_XST,
    REJECT_NAMES,
    REQ_CANCEL,
    REQ_NEW,
    RESP_REJECT,
    RING,
    RING_MASK,
    RQ_OID,
    RQ_SIZE,
    RQ_SLOT,
    RQ_TYPE,
    RS_FEE,
    RS_FINAL,
    RS_MAKER,
    RS_OID,
    RS_PX,
    RS_SIZE,
    RS_SLOT,
    RS_SZ,
    RS_TYPE,
    ST_NOTIONAL,
    ST_SIZE,
    XS_DONE,
    XS_INFLIGHT,
    XS_RESTING,
)

#: the words of the exchange the core stands in for (Hyperliquid) for each of its reject reasons
REJECT_TEXT = {
    "post_only_cross": "Post only order would have immediately matched.",
    "tick": "Price must be divisible by tick size.",
    "lot": "Order has invalid size.",
    "min_notional": "Order must have minimum value of $10.",
    "margin": "Insufficient margin to place order.",
    "reduce_only": "Reduce only order would increase position.",
    "no_free_slot": "Too many open orders.",
    "no_liquidity": "Order could not immediately match against any resting orders.",
    "price_range": "Order price cannot be more than 80% away from the reference price",
}
log = logging.getLogger(__name__)
_FILL_LOG = 4096  # fills one call may log (every slot, partially, twice); the log is emptied after each call


def exchange_cfg(model: ExchangeModel, instrument: Instrument, cfg: np.ndarray | None = None) -> np.ndarray:
    """The exchange's slots of the kernels' config vector (the backtest loop fills its own slots on top)."""
    cfg = np.zeros(CF_SIZE) if cfg is None else cfg
    cfg[CF_RESP_LAT] = model.response_latency_ms * NS_PER_MS
    cfg[CF_LAT_MODEL] = latency_model.LOGNORMAL if model.lognormal_latency else latency_model.CONSTANT
    cfg[CF_LAT_SIGMA] = model.latency_sigma
    cfg[CF_QUEUE_MODEL] = 1 if model.prob_queue else 0
    cfg[CF_QUEUE_POWER] = model.queue_power
    cfg[CF_PARTIAL] = 1.0 if model.partial_fills else 0.0
    cfg[CF_MAKER_FEE] = instrument.maker_fee
    cfg[CF_TAKER_FEE] = instrument.taker_fee
    cfg[CF_LEVERAGE] = model.leverage
    cfg[CF_MMR] = model.maintenance_margin_rate
    cfg[CF_TICK] = instrument.tick
    cfg[CF_LOT] = instrument.lot
    cfg[CF_MIN_NOTIONAL] = instrument.min_notional
    return cfg


@dataclass(frozen=True, slots=True)
class Response:
    """One answer of the exchange side: RESP_* kind, for our order ``oid`` (slot ``slot``)."""

    kind: int
    slot: int
    oid: int
    px: float
    sz: float
    maker: bool
    fee: float
    final: bool
    reason: str | None  # a reject's REJECT_NAMES entry

    @property
    def reject_text(self) -> str:
        return REJECT_TEXT.get(self.reason or "", f"Order rejected ({self.reason}).")


@array_kernel
def _apply(ts: np.ndarray, kind: np.ndarray, side: np.ndarray, px: np.ndarray, sz: np.ndarray, lv: np.ndarray,
           bi: np.ndarray, od: np.ndarray, oc: np.ndarray, acct: np.ndarray, st: np.ndarray, cfg: np.ndarray,
           ist: np.ndarray, rs_ts: np.ndarray, rs: np.ndarray, fills_ts: np.ndarray, fills: np.ndarray) -> None:
    """Exchange events in order, exactly as the backtest loop's exchange cursor applies them."""
    inv_tick = 1.0 / cfg[CF_TICK]
    base = ist[I_BASE]
    for i in range(ts.shape[0]):
        if kind[i] == BOOK_LEVEL:
            matching.on_level(ts[i], side[i], px[i], sz[i], inv_tick, base, lv, bi, od, oc, acct, st, cfg, ist,
                              rs_ts, rs, fills_ts, fills)
        else:
            matching.on_event(i, ts, kind, side, px, sz, lv, bi, od, oc, acct, st, cfg, ist, rs_ts, rs, fills_ts,
                              fills)


@array_kernel
def _request(t: int, rq: np.ndarray, lv: np.ndarray, bi: np.ndarray, od: np.ndarray, oc: np.ndarray,
             acct: np.ndarray, st: np.ndarray, cfg: np.ndarray, ist: np.ndarray, rs_ts: np.ndarray, rs: np.ndarray,
             fills_ts: np.ndarray, fills: np.ndarray) -> None:
    matching.on_request(t, 0, rq, lv, bi, od, oc, acct, st, cfg, ist, rs_ts, rs, fills_ts, fills)


class ExchangeCore:
    """One account at a simulated exchange: its orders, its queue places and its money.

    ``equity`` is the account's USDC balance with the position valued at its entry price (what the
    journal carries over): the cash the kernels keep is that less the position's cost.
    """

    def __init__(self, model: ExchangeModel, instrument: Instrument, equity: float, position: float = 0.0,
                 entry_px: float = 0.0) -> None:
        self.cfg = exchange_cfg(model, instrument)
        self.cfg[CF_RESP_LAT] = 0.0  # the real network already delayed every request and answer
        self.cfg[CF_LAT_MODEL] = latency_model.CONSTANT
        self.tick = instrument.tick
        self.lv, self.bi = new_books()
        self.oc = np.zeros((2, N_LEVELS), dtype=np.int32)
        self.od = np.zeros((api.MAX_ORDERS, OD_SIZE))
        self.rq = np.zeros((1, RQ_SIZE))
        self.rs_ts = np.zeros(RING, dtype=np.int64)
        self.rs = np.zeros((RING, RS_SIZE))
        self.ist = np.zeros(I_SIZE, dtype=np.int64)
        self.acct = np.zeros(A_SIZE)
        self.st = np.zeros(ST_SIZE)
        self.fills_ts = np.zeros(_FILL_LOG, dtype=np.int64)
        self.fills = np.zeros((_FILL_LOG, F_SIZE))
        self.acct[A_CASH] = equity - position * entry_px
        self.acct[A_POS] = position
        self.acct[A_AVG] = entry_px if position else 0.0
        self.acct[A_START_EQUITY] = self.acct[A_PEAK] = equity
        self.acct[A_MAXBID] = -np.inf
        self.acct[A_MINASK] = np.inf
        self._based = False
        self._free = list(range(api.MAX_ORDERS - 1, -1, -1))  # lowest slot first, like the backtester

    # ---- the market ------------------------------------------------------------------------------------

    def apply_events(self, ev: Any) -> list[Response]:
        """:meth:`apply` for a ``data.schema.Events`` table."""
        return self.apply(ev.ts, ev.kind, ev.side, ev.px, ev.sz)

    def apply(self, ts: np.ndarray, kind: np.ndarray, side: np.ndarray, px: np.ndarray,
              sz: np.ndarray) -> list[Response]:
        """Book levels, clears, trades and funding rows (the canonical table's exchange-side columns, in
        its dtypes), in order; the answers they caused."""
        if not len(ts):
            return []
        if not self._based:
            priced = np.flatnonzero(((kind == BOOK_LEVEL) | (kind == TRADE)) & (px > 0))
            if priced.size == 0:
                return []
            self.ist[I_BASE] = round(float(px[priced[0]]) / self.tick) - N_LEVELS // 2
            self._based = True
        _apply(ts, kind, side, px, sz, self.lv, self.bi, self.od, self.oc, self.acct, self.st, self.cfg, self.ist,
               self.rs_ts, self.rs, self.fills_ts, self.fills)
        return self._drain()

    # ---- our orders --------------------------------------------------------------------------------------

    def submit(self, t_ns: int, oid: int, side: int, px: float, sz: float, flags: int) -> list[Response]:
        """An order reaches the exchange (FLAG_* flags); the answers, the first one about this order."""
        if not self._free or not self._based:
            reason = "no_free_slot" if self._based else "price_range"
            return [Response(RESP_REJECT, -1, oid, 0.0, 0.0, False, 0.0, True, reason)]
        r = self._free.pop()
        od = self.od
        od[r] = 0.0
        od[r, OD_SIDE], od[r, OD_PX], od[r, OD_QTY], od[r, OD_LEAVES] = side, px, sz, sz
        od[r, OD_FLAGS], od[r, OD_OID], od[r, OD_XST] = flags, oid, XS_INFLIGHT
        self.ist[I_HIWATER] = max(int(self.ist[I_HIWATER]), r + 1)
        return self._request(t_ns, REQ_NEW, r, oid)

    def cancel(self, t_ns: int, slot: int) -> list[Response]:
        return self._request(t_ns, REQ_CANCEL, slot, int(self.od[slot, OD_OID]))

    def _request(self, t_ns: int, kind: int, slot: int, oid: int) -> list[Response]:
        self.rq[0, RQ_TYPE], self.rq[0, RQ_SLOT], self.rq[0, RQ_OID] = kind, slot, oid
        _request(t_ns, self.rq, self.lv, self.bi, self.od, self.oc, self.acct, self.st, self.cfg, self.ist,
                 self.rs_ts, self.rs, self.fills_ts, self.fills)
        return self._drain()

    def set_leverage(self, leverage: int) -> None:
        """The account's leverage, as the margin check on arrival reads it."""
        self.cfg[CF_LEVERAGE] = leverage

    def resting(self) -> list[tuple[int, int, int, float, float]]:
        """(slot, oid, side, px, leaves) of every order resting at the exchange."""
        od = self.od
        rows = np.flatnonzero(od[: int(self.ist[I_HIWATER]), OD_XST] == XS_RESTING)
        return [(int(r), int(od[r, OD_OID]), int(od[r, OD_SIDE]), float(od[r, OD_PX]), float(od[r, OD_LEAVES]))
                for r in rows]

    def _drain(self) -> list[Response]:
        out: list[Response] = []
        head, tail = int(self.ist[I_RS_HEAD]), int(self.ist[I_RS_TAIL])
        for n in range(head, tail):
            k = n & RING_MASK
            row = self.rs[k]
            kind, slot = int(row[RS_TYPE]), int(row[RS_SLOT])
            reason = REJECT_NAMES[int(row[RS_MAKER])] if kind == RESP_REJECT else None
            out.append(Response(kind, slot, int(row[RS_OID]), float(row[RS_PX]), float(row[RS_SZ]),
                                row[RS_MAKER] > 0 and kind != RESP_REJECT, float(row[RS_FEE]), row[RS_FINAL] > 0,
                                reason))
        self.ist[I_RS_HEAD] = tail
        self.ist[I_RS_LAST] = 0
        self.ist[I_NFILLS] = 0  # the backtester's fill log (metrics): not kept here
        self.ist[I_MK0:I_MK0 + 3] = 0
        for r in {resp.slot for resp in out if resp.slot >= 0}:
            if self.od[r, OD_XST] == XS_DONE:
                self.od[r, OD_XST] = 0
                self.od[r, OD_SIDE] = 0
                self._free.append(r)
        self._free.sort(reverse=True)
        return out

    # ---- the account ---------------------------------------------------------------------------------------

    @property
    def position(self) -> float:
        return float(self.acct[A_POS])

    @property
    def entry_px(self) -> float:
        return float(self.acct[A_AVG])

    @property
    def mid(self) -> float:
        return float(self.acct[A_MID])

    @property
    def cash(self) -> float:
        """USDC with the position at cost (the kernels' cash plus the position's entry value)."""
        return float(self.acct[A_CASH] + self.acct[A_POS] * self.acct[A_AVG])

    @property
    def equity(self) -> float:
        """Marked at the mid (the entry price before the first book)."""
        mark = self.acct[A_MID] if self.acct[A_MID] > 0 else self.acct[A_AVG]
        return float(self.acct[A_CASH] + self.acct[A_POS] * mark)

    @property
    def fees_paid(self) -> float:
        return float(self.acct[A_FEES])

    @property
    def funding_paid(self) -> float:
        return float(self.acct[A_FUNDING])

    @property
    def traded_notional(self) -> float:
        return float(self.st[ST_NOTIONAL])


#: a cold compile of the core's kernels on the 2-core machine (sim.core.warm_up with an empty cache)
COLD_COMPILE_S = 25.0


def warm_up(model: ExchangeModel, instrument: Instrument) -> None:
    """Compile (or load from the cache) the core's kernels now, on a throwaway account.

    A driver calls this before it connects to anything: compiled lazily, the first book would stall an
    event loop for as long as a cold compile takes (tens of seconds on a fresh install).
    """
    notice = compile_notice("core._apply", "exchange simulation", COLD_COMPILE_S)
    if notice is not None:
        log.warning(notice)

    core = ExchangeCore(model, instrument, 1_000.0)
    core.apply(np.array([1, 1, 2], dtype=np.int64), np.array([BOOK_LEVEL, BOOK_LEVEL, TRADE], dtype=np.uint8),
               np.array([BID, ASK, ASK], dtype=np.int8), np.array([100.0, 101.0, 100.0]), np.array([1.0, 1.0, 0.5]))
    core.cancel(3, core.submit(3, 1, 1, 100.0, 0.2, 0)[0].slot)
