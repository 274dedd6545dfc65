"""The local exchange's state machine: Hyperliquid's /info and /exchange semantics, no I/O.

``info(body)`` and ``action(envelope)`` take and return the same JSON as Hyperliquid. Market data
arrives through ``apply_market(events)`` (canonical event rows). Everything the WebSocket feed must
push is appended to ``outbox`` as ``(channel, key, data)``; the server drains it. Exchange time is
the wall clock (so SDK nonces and ``scheduleCancel`` times line up); the replayed market is
re-stamped onto it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from amm500.config import BTC_MAX_LEVERAGE, BTC_SZ_DECIMALS, MIN_ORDER_VALUE, Config
from amm500.core.instrument import TIER0, Instrument
from amm500.data.schema import BOOK_CLEAR, BOOK_LEVEL, FUNDING, TRADE, Events
from amm500.exchange_sim.accounts import Account, apply_trade, direction
from amm500.exchange_sim.auth import USER_SIGNED_TYPES, AuthError, NonceBook, recover_l1_signer, recover_user_signed
from amm500.exchange_sim.core_matching import CoreMatching
from amm500.exchange_sim.matching import BUY, EPS, SELL, Match, Order, OrderBook
from amm500.exchange_sim.rules import OrderReject, check_price, check_size, wire
from amm500.sim.core import Response
from amm500.sim.layout import RESP_ACK, RESP_CANCELED, RESP_FILL, RESP_REJECT

MARKET_ADDRESS = "0x0000000000000000000000000000000000000000"
CLOID_RE = re.compile(r"^0x[0-9a-fA-F]{32}$")
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
INTERVAL_MS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
    "2h": 7_200_000, "4h": 14_400_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
    "3d": 259_200_000, "1w": 604_800_000, "1M": 2_592_000_000,
}
MAX_CANDLES = 5000
MAX_FILLS = 2000
PAGE = 500
BASELINE_FUNDING = 0.0000125
SCHEDULE_CANCEL_VOLUME = 1_000_000.0
SCHEDULE_CANCEL_PER_DAY = 10


class BadRequest(Exception):
    """A body Hyperliquid would refuse with HTTP 422 (malformed or unknown request)."""


@dataclass(frozen=True)
class AssetSpec:
    name: str
    sz_decimals: int
    max_leverage: int
    margin_table: int


BTC = AssetSpec("BTC", BTC_SZ_DECIMALS, BTC_MAX_LEVERAGE, 56)


@dataclass
class SimConfig:
    accounts: dict[str, float] = field(default_factory=dict)  # address -> USDC
    mainnet: bool = False  # which phantom-agent source ("a"/"b") and chain name signatures must use
    maker_fee: float = TIER0.maker  # rates from core.instrument's schedule (tier 0 unless told)
    taker_fee: float = TIER0.taker
    schedule_cancel_min_ms: int = 5_000
    max_open_orders: int = 1000
    # ``queue`` matching: users' orders meet the replayed market through the backtester's exchange side
    # with these settings (queue model, partial fills, tick), never each other; None: one price-time book
    queue_matching: Config | None = None


@dataclass
class OrderRecord:
    order: Order
    status: str
    status_ts: int
    coin: str


def _hash(*parts: object) -> str:
    return "0x" + hashlib.sha256(repr(parts).encode()).hexdigest()


def _side_str(side: int) -> str:
    return "B" if side == BUY else "A"


class Exchange:
    def __init__(self, config: SimConfig | None = None, clock: Callable[[], int] | None = None) -> None:
        self.config = config or SimConfig()
        self.now_ms: Callable[[], int] = clock or (lambda: int(time.time() * 1000))
        self.assets = [BTC]
        self.books = [OrderBook() for _ in self.assets]
        self.accounts: dict[str, Account] = {}
        self.agents: dict[str, tuple[str, str, int | None]] = {}  # agent -> (master, name, valid_until)
        self.nonces = NonceBook()
        self.orders: dict[int, OrderRecord] = {}
        self.cloids: dict[tuple[str, str], int] = {}
        self.next_oid = 1_000_000_000
        self.next_tid = 1
        self.next_bg_oid = 0
        self.last_trade_px: list[float | None] = [None for _ in self.assets]
        self.funding_rate = [BASELINE_FUNDING for _ in self.assets]
        self.funding_history: list[list[dict[str, Any]]] = [[] for _ in self.assets]
        self.candles: list[dict[int, list[float]]] = [{} for _ in self.assets]  # 1m open ms -> o h l c v n
        self.day_volume = [0.0 for _ in self.assets]
        self.outbox: list[tuple[str, str, Any]] = []
        self.book_dirty = [True for _ in self.assets]
        qm = self.config.queue_matching
        self.core_matching = CoreMatching(qm, Instrument.from_config(qm)) if qm is not None else None
        for address, usdc in self.config.accounts.items():
            self.fund(address, usdc)

    # -- setup ------------------------------------------------------------------------------------
    def fund(self, address: str, usdc: float, volume: float = 0.0, leader: str | None = None) -> Account:
        """Create (or top up) an account; ``leader`` makes it a vault/sub-account that master may act for."""
        address = address.lower()
        if not ADDRESS_RE.match(address):
            raise ValueError(f"account address {address!r} must be 0x followed by 40 hex digits")
        account = self.accounts.get(address)
        if account is None:
            account = self.accounts[address] = Account(address, 0.0)
        account.cash += usdc
        account.volume += volume
        if leader is not None:
            account.leader = leader.lower()
        return account

    def seed_candles(self, asset: int, open_ms: np.ndarray, ohlcvn: np.ndarray) -> None:
        """Preload 1-minute candles (history for candleSnapshot): rows of open, high, low, close, volume, n."""
        store = self.candles[asset]
        for t, row in zip(open_ms.tolist(), ohlcvn.tolist(), strict=True):
            store[int(t)] = [float(v) for v in row]

    def seed_funding(self, asset: int, time_ms: np.ndarray, rates: np.ndarray) -> None:
        hist = self.funding_history[asset]
        for t, r in zip(time_ms.tolist(), rates.tolist(), strict=True):
            hist.append({"coin": self.assets[asset].name, "fundingRate": wire(r, 10), "premium": "0.0",
                         "time": int(t)})
        hist.sort(key=lambda h: h["time"])

    # -- prices -----------------------------------------------------------------------------------
    def mid(self, asset: int) -> float | None:
        book = self.books[asset]
        bid, ask = book.best(BUY), book.best(SELL)
        if bid is not None and ask is not None:
            return (bid + ask) / 2
        return self.last_trade_px[asset] if bid is None and ask is None else (bid if ask is None else ask)

    def mark(self, asset: int) -> float:
        return self.mid(asset) or 0.0

    def marks(self) -> dict[int, float]:
        return {a: self.mark(a) for a in range(len(self.assets))}

    def _asset_of(self, coin: object) -> int:
        for i, spec in enumerate(self.assets):
            if spec.name == coin:
                return i
        raise BadRequest(f"unknown coin {coin!r}")

    # -- market feed ------------------------------------------------------------------------------
    def apply_market(self, ev: Events, asset: int = 0) -> None:
        """Apply canonical event rows (already re-stamped to exchange time) to the background book."""
        book = self.books[asset]
        trades: list[dict[str, Any]] = []
        for i in range(len(ev)):
            kind, side, px, sz = int(ev.kind[i]), int(ev.side[i]), float(ev.px[i]), float(ev.sz[i])
            t_ms = int(ev.ts[i] // 1_000_000)
            if kind == BOOK_LEVEL:
                book.set_background(side, px, sz, self._bg_oid(), t_ms)
                self.book_dirty[asset] = True
            elif kind == BOOK_CLEAR:
                book.clear_background(side)
                self.book_dirty[asset] = True
            elif kind == TRADE:
                matches, _ = book.take(None, side, px, sz)
                rest = sz - self._settle(asset, matches, t_ms, trades)
                if rest > EPS:
                    trades.append(self._trade_msg(asset, side, px, rest, t_ms, MARKET_ADDRESS, MARKET_ADDRESS))
                    self._candle(asset, t_ms, px, rest)
                self.book_dirty[asset] = True
            elif kind == FUNDING:
                self.funding_rate[asset] = px
            if kind in (BOOK_LEVEL, BOOK_CLEAR):
                nxt = i + 1
                if nxt >= len(ev) or int(ev.ts[nxt]) != int(ev.ts[i]) or int(ev.kind[nxt]) not in (1, 3):
                    self._settle(asset, book.uncross(), t_ms, trades)
        if self.core_matching is not None and len(ev):
            self._core_answers(asset, self.core_matching.apply(ev), int(ev.ts[-1]) // 1_000_000, trades)
        if trades:
            self.outbox.append(("trades", self.assets[asset].name, trades))

    def _core_answers(self, asset: int, answers: list[tuple[Order, Response]], t_ms: int,
                      trades: list[dict[str, Any]]) -> None:
        """Book what ``queue`` matching decided: acks, fills (taker fills print a trade), IOC remainders."""
        book = self.books[asset]
        for order, r in answers:
            if r.kind == RESP_ACK:
                book.track(order)
                self._set_status(order, "open", t_ms)
            elif r.kind == RESP_FILL:
                order.sz = max(order.sz - r.sz, 0.0)
                self._fill(asset, order, r.px, r.sz, not r.maker, t_ms)
                if not r.maker:
                    buyer, seller = (order.user, MARKET_ADDRESS) if order.side == BUY else (MARKET_ADDRESS, order.user)
                    trades.append(self._trade_msg(asset, order.side, r.px, r.sz, t_ms, buyer or "", seller or ""))
                if r.final:
                    book.remove(order)
                    self._set_status(order, "filled", t_ms)
            elif r.kind == RESP_CANCELED and r.final and order.tif == "Ioc":
                self._set_status(order, "canceled", t_ms)
            self.book_dirty[asset] = True

    def _place_queued(self, asset: int, order: Order) -> Any:
        """``queue`` matching's placement: the order's account core decides what it takes and where it rests."""
        assert self.core_matching is not None
        now = order.timestamp
        answers = self.core_matching.submit(order, self.books[asset], now * 1_000_000)
        if answers and answers[0][1].kind == RESP_REJECT:
            self.orders.pop(order.oid, None)
            if order.cloid:
                self.cloids.pop((order.user or "", order.cloid), None)
            raise OrderReject(answers[0][1].reject_text)
        trades: list[dict[str, Any]] = []
        self._core_answers(asset, answers, now, trades)
        if trades:
            self.outbox.append(("trades", self.assets[asset].name, trades))
        return self._placed(order, [(r.px, r.sz) for _, r in answers if r.kind == RESP_FILL])

    def _placed(self, order: Order, taken: list[tuple[float, float]]) -> Any:
        """Hyperliquid's status of a new order: resting (with what is left), or filled (what it took)."""
        if order.sz > EPS and order.tif != "Ioc":
            out: dict[str, Any] = {"resting": {"oid": order.oid}}
            if order.cloid:
                out["resting"]["cloid"] = order.cloid
            return out
        filled = sum(sz for _, sz in taken)
        avg = sum(px * sz for px, sz in taken) / filled
        done: dict[str, Any] = {"filled": {"totalSz": wire(filled, self.assets[0].sz_decimals), "avgPx": wire(avg),
                                           "oid": order.oid}}
        if order.cloid:
            done["filled"]["cloid"] = order.cloid
        return done

    def _trade_msg(self, asset: int, side: int, px: float, sz: float, t_ms: int, buyer: str,
                   seller: str) -> dict[str, Any]:
        tid = self.next_tid
        self.next_tid += 1
        return {"coin": self.assets[asset].name, "side": _side_str(side), "px": wire(px),
                "sz": wire(sz, self.assets[asset].sz_decimals), "time": t_ms, "hash": _hash("trade", tid),
                "tid": tid, "users": [buyer, seller]}

    def _candle(self, asset: int, t_ms: int, px: float, sz: float) -> None:
        key = t_ms - t_ms % 60_000
        c = self.candles[asset].get(key)
        if c is None:
            self.candles[asset][key] = [px, px, px, px, sz, 1]
        else:
            c[1], c[2], c[3], c[4], c[5] = max(c[1], px), min(c[2], px), px, c[4] + sz, c[5] + 1
        self.day_volume[asset] += px * sz

    def pay_funding(self, asset: int = 0, rate: float | None = None) -> None:
        """Settle one hourly funding payment at the current rate (or ``rate``) and the oracle (mid) price."""
        rate = self.funding_rate[asset] if rate is None else rate
        oracle = self.mark(asset)
        now = self.now_ms()
        coin = self.assets[asset].name
        self.funding_history[asset].append({"coin": coin, "fundingRate": wire(rate, 10), "premium": "0.0",
                                            "time": now})
        for account in self.accounts.values():
            pos = account.positions.get(asset)
            if pos is None or pos.szi == 0.0:
                continue
            usdc = -pos.szi * oracle * rate
            account.cash += usdc
            pos.funding_all_time -= usdc
            pos.funding_since_open -= usdc
            pos.funding_since_change -= usdc
            delta = {"type": "funding", "coin": coin, "usdc": wire(usdc, 6), "szi": wire(pos.szi, 5),
                     "fundingRate": wire(rate, 10), "nSamples": None}
            account.fundings.append({"time": now, "hash": _hash("funding", now, account.address), "delta": delta})
            event = {"time": now, "coin": coin, "usdc": delta["usdc"], "szi": delta["szi"],
                     "fundingRate": delta["fundingRate"]}
            self.outbox.append(("user", account.address, {"funding": event}))
            self.outbox.append(("userFundings", account.address, [{**event, "nSamples": None}]))

    def tick(self) -> None:
        """Block-time housekeeping: liquidations, then scheduled cancels whose time has come."""
        now = self.now_ms()
        self.liquidate(now)
        for account in self.accounts.values():
            if account.schedule_cancel_ms is not None and now >= account.schedule_cancel_ms:
                account.schedule_cancel_ms = None
                day = dt.datetime.fromtimestamp(now / 1000, tz=dt.UTC).date().isoformat()
                account.schedule_triggers[day] = account.schedule_triggers.get(day, 0) + 1
                for asset, book in enumerate(self.books):
                    for order in book.user_orders(account.address):
                        self._cancel(asset, order, "scheduledCancel")

    def liquidate(self, now: int) -> list[str]:
        """Close every position of accounts whose value fell below maintenance margin, at the mark.

        Hyperliquid first sends liquidation orders into the book and only then hands the rest to the
        liquidator vault; here the whole position closes at the mark (oracle) price, as a taker,
        after the account's open orders are cancelled (status ``liquidatedCanceled``).
        """
        marks = self.marks()
        max_lev = {i: a.max_leverage for i, a in enumerate(self.assets)}
        hit = []
        for account in self.accounts.values():
            maint = account.maintenance(marks, max_lev)
            if maint <= 0 or account.account_value(marks) >= maint:
                continue
            hit.append(account.address)
            for asset, book in enumerate(self.books):
                for order in book.user_orders(account.address):
                    self._cancel(asset, order, "liquidatedCanceled")
            for asset, pos in account.positions.items():
                if pos.szi == 0.0:
                    continue
                side = SELL if pos.szi > 0 else BUY
                closing = Order(self._oid(), account.address, side, marks[asset], 0.0, abs(pos.szi), now, "Ioc", True)
                self.orders[closing.oid] = OrderRecord(closing, "filled", now, self.assets[asset].name)
                self._fill(asset, closing, marks[asset], abs(pos.szi), True, now,
                           {"liquidatedUser": account.address, "markPx": wire(marks[asset]), "method": "market"})
                self.outbox.append(("user", account.address, {"liquidation": {
                    "lid": closing.oid, "liquidator": MARKET_ADDRESS, "liquidated_user": account.address,
                    "liquidated_ntl_pos": wire(abs(pos.szi) * marks[asset], 6),
                    "liquidated_account_value": wire(account.account_value(marks), 6)}}))
        return hit

    # -- settlement -------------------------------------------------------------------------------
    def _oid(self) -> int:
        self.next_oid += 1
        return self.next_oid

    def _bg_oid(self) -> int:
        """Background liquidity gets negative ids, so users' oids stay dense and never collide."""
        self.next_bg_oid -= 1
        return self.next_bg_oid

    def _settle(self, asset: int, matches: list[Match], t_ms: int, trades: list[dict[str, Any]]) -> float:
        """Book the fills of users' orders; report each execution involving a user as a trade.

        Returns the size executed against users' orders (the feed reports the rest itself).
        """
        user_sz = 0.0
        done: dict[int, Order] = {}
        for m in matches:
            buyer = seller = MARKET_ADDRESS
            involved = False
            for order, crossed in ((m.maker, False), (m.taker, True)):
                if order is None or order.user is None:
                    continue
                involved = True
                self._fill(asset, order, m.px, m.sz, crossed, t_ms)
                if order.sz <= EPS:
                    done[order.oid] = order
                if order.side == BUY:
                    buyer = order.user
                else:
                    seller = order.user
            if involved:
                trades.append(self._trade_msg(asset, m.taker_side, m.px, m.sz, t_ms, buyer, seller))
                self._candle(asset, t_ms, m.px, m.sz)
            if m.maker.user is not None:
                user_sz += m.sz
        for order in done.values():
            self._set_status(order, "filled", t_ms)
        return user_sz

    def _fill(self, asset: int, order: Order, px: float, sz: float, crossed: bool, t_ms: int,
              liquidation: dict[str, Any] | None = None) -> None:
        assert order.user is not None
        account = self.accounts[order.user]
        pos = account.position(asset)
        start = pos.szi
        dir_ = direction(start, order.side, sz)
        pnl = apply_trade(pos, order.side, px, sz)
        fee = px * sz * (self.config.taker_fee if crossed else self.config.maker_fee)
        account.cash += pnl - fee
        account.volume += px * sz
        tid = self.next_tid
        self.next_tid += 1
        fill: dict[str, Any] = {
            "coin": self.assets[asset].name, "px": wire(px), "sz": wire(sz, self.assets[asset].sz_decimals),
            "side": _side_str(order.side), "time": t_ms, "startPosition": wire(start, 5), "dir": dir_,
            "closedPnl": wire(pnl, 6), "hash": _hash("fill", tid), "oid": order.oid, "crossed": crossed,
            "fee": wire(fee, 6), "tid": tid, "feeToken": "USDC", "twapId": None,
        }
        if order.cloid is not None:
            fill["cloid"] = order.cloid
        if liquidation is not None:
            fill["liquidation"] = liquidation
        account.fills.append(fill)
        self.outbox.append(("userFills", account.address, [fill]))
        self.outbox.append(("user", account.address, {"fills": [fill]}))

    def _set_status(self, order: Order, status: str, t_ms: int) -> None:
        assert order.user is not None
        rec = self.orders.get(order.oid)
        coin = self.assets[0].name
        if rec is None:
            rec = self.orders[order.oid] = OrderRecord(order, status, t_ms, coin)
        rec.status, rec.status_ts = status, t_ms
        if status != "open" and order.cloid is not None:
            self.cloids.pop((order.user, order.cloid.lower()), None)
        self.outbox.append(("orderUpdates", order.user, [{"order": self._order_basic(order, coin),
                                                          "status": status, "statusTimestamp": t_ms}]))

    def _order_basic(self, order: Order, coin: str) -> dict[str, Any]:
        d: dict[str, Any] = {"coin": coin, "side": _side_str(order.side), "limitPx": wire(order.px),
                             "sz": wire(max(order.sz, 0.0), 5), "oid": order.oid, "timestamp": order.timestamp,
                             "origSz": wire(order.orig_sz, 5)}
        if order.cloid is not None:
            d["cloid"] = order.cloid
        return d

    def _order_frontend(self, order: Order, coin: str) -> dict[str, Any]:
        d = self._order_basic(order, coin)
        d.update({"isTrigger": False, "triggerPx": "0.0", "triggerCondition": "N/A", "orderType": "Limit",
                  "tif": order.tif, "reduceOnly": order.reduce_only, "isPositionTpsl": False, "children": []})
        return d

    def _cancel(self, asset: int, order: Order, status: str = "canceled") -> None:
        if self.core_matching is not None:
            self.core_matching.cancel(order, self.now_ms() * 1_000_000)
        self.books[asset].remove(order)
        self._set_status(order, status, self.now_ms())
        self.book_dirty[asset] = True
        if status != "canceled" and order.user is not None:  # the exchange, not the user, cancelled it
            self.outbox.append(("user", order.user, {"nonUserCancel": [{"coin": self.assets[asset].name,
                                                                         "oid": order.oid}]}))

    # -- /exchange --------------------------------------------------------------------------------
    def action(self, envelope: Any) -> dict[str, Any]:
        if not isinstance(envelope, dict) or not isinstance(envelope.get("action"), dict):
            raise BadRequest("missing action")
        action = envelope["action"]
        nonce, signature = envelope.get("nonce"), envelope.get("signature")
        vault = envelope.get("vaultAddress")
        expires = envelope.get("expiresAfter")
        if not isinstance(nonce, int) or not isinstance(signature, dict) or not isinstance(action.get("type"), str):
            raise BadRequest("missing nonce, signature or action type")
        if vault is not None and (not isinstance(vault, str) or not ADDRESS_RE.match(vault)):
            raise BadRequest("bad vaultAddress")
        if expires is not None and not isinstance(expires, int):
            raise BadRequest("bad expiresAfter")
        try:
            return self._action(action, nonce, signature, vault.lower() if vault else None, expires)
        except AuthError as exc:
            return {"status": "err", "response": str(exc)}

    def _action(self, action: dict[str, Any], nonce: int, signature: dict[str, Any], vault: str | None,
                expires: int | None) -> dict[str, Any]:
        now = self.now_ms()
        kind = action["type"]
        if kind in USER_SIGNED_TYPES:
            signer = recover_user_signed(action, signature)
            chain = "Mainnet" if self.config.mainnet else "Testnet"
            if action.get("hyperliquidChain") != chain or action.get("nonce") != nonce:
                raise AuthError("Unable to recover signer.")
            if signer not in self.accounts:
                raise AuthError(f"User or API Wallet {signer} does not exist.")
            self.nonces.check_and_use(signer, nonce, now)
            return self._approve_agent(signer, action)
        if expires is not None and expires < now:
            raise AuthError(f"Action expired: expiresAfter {expires} < {now}")
        signer = recover_l1_signer(action, nonce, signature, vault, expires, self.config.mainnet)
        user = self._user_of(signer, now)
        if vault is not None:
            target = self.accounts.get(vault)
            if target is None or (target.leader != user and vault != user):
                raise AuthError(f"User or API Wallet {signer} is not authorized to act for vault {vault}.")
            user = vault
        account = self.accounts[user]
        if account.cash <= 0 and not account.positions and not account.fills:
            raise AuthError(f"Must deposit before performing actions. User: {user}")
        self.nonces.check_and_use(signer, nonce, now)
        return self.act_as(account, action)

    def act_as(self, account: Account, action: dict[str, Any]) -> dict[str, Any]:
        """Run an action for ``account`` whose signature has been checked (or, for the paper venue, that
        nobody signs): the address budget, then the action's handler."""
        kind = action["type"]
        account.n_requests += self._weight(action)
        cap = 10_000 + int(account.volume)
        if account.n_requests > cap and kind not in ("cancel", "cancelByCloid"):
            raise AuthError(f"Too many cumulative requests sent ({account.n_requests} > {cap}) for cumulative "
                            f"volume traded ${account.volume:.2f}. Place taker orders to free up 1 request per "
                            f"USDC traded.")
        handler = self._handlers().get(kind)
        if handler is None:
            raise BadRequest(f"unknown action type {kind!r}")
        return handler(account, action)

    @staticmethod
    def _weight(action: dict[str, Any]) -> int:
        for key in ("orders", "cancels", "modifies"):
            if isinstance(action.get(key), list):
                return max(1, len(action[key]))
        return 1

    def _user_of(self, signer: str, now: int) -> str:
        if signer in self.accounts:
            return signer
        agent = self.agents.get(signer)
        if agent is not None and (agent[2] is None or now < agent[2]):
            return agent[0]
        raise AuthError(f"User or API Wallet {signer} does not exist.")

    def _handlers(self) -> dict[str, Callable[[Account, dict[str, Any]], dict[str, Any]]]:
        return {
            "order": self._do_order, "cancel": self._do_cancel, "cancelByCloid": self._do_cancel_by_cloid,
            "modify": self._do_modify, "batchModify": self._do_batch_modify,
            "scheduleCancel": self._do_schedule_cancel, "updateLeverage": self._do_update_leverage,
            "noop": lambda _a, _b: self._default(),
        }

    @staticmethod
    def _default() -> dict[str, Any]:
        return {"status": "ok", "response": {"type": "default"}}

    @staticmethod
    def _statuses(kind: str, statuses: list[Any]) -> dict[str, Any]:
        return {"status": "ok", "response": {"type": kind, "data": {"statuses": statuses}}}

    def _approve_agent(self, master: str, action: dict[str, Any]) -> dict[str, Any]:
        agent = str(action.get("agentAddress", "")).lower()
        if not ADDRESS_RE.match(agent):
            raise AuthError("Invalid agent address")
        name = str(action.get("agentName") or "")
        valid_until = None
        match = re.search(r"valid_until (\d+)", name)
        if match:
            valid_until = int(match.group(1))
        for addr, (m, n, _) in list(self.agents.items()):
            if m == master and n == name:
                del self.agents[addr]  # re-approving a name deregisters the old agent
        self.agents[agent] = (master, name, valid_until)
        return self._default()

    # orders ----------------------------------------------------------------------------------------
    def _do_order(self, account: Account, action: dict[str, Any]) -> dict[str, Any]:
        orders = action.get("orders")
        if not isinstance(orders, list):
            raise BadRequest("orders must be a list")
        if not orders:
            return {"status": "err", "response": "Order batch is empty."}
        return self._statuses("order", [self._place(account, w) for w in orders])

    def _place(self, account: Account, w: Any) -> Any:
        asset = w.get("a") if isinstance(w, dict) else None
        if not isinstance(asset, int) or not 0 <= asset < len(self.assets):
            return {"error": f"Invalid asset: {asset}"}
        try:
            return self._place_checked(account, asset, w)
        except OrderReject as exc:
            return {"error": f"{exc} asset={asset}"}

    def _place_checked(self, account: Account, asset: int, w: dict[str, Any]) -> Any:
        spec, book = self.assets[asset], self.books[asset]
        t = w.get("t")
        if not isinstance(t, dict) or "limit" not in t:
            if isinstance(t, dict) and "trigger" in t:
                raise OrderReject("Trigger orders are not supported by the local exchange.")
            raise OrderReject("Order has invalid type.")
        tif = t["limit"].get("tif") if isinstance(t["limit"], dict) else None
        if tif not in ("Gtc", "Ioc", "Alo"):
            raise OrderReject("Order has invalid tif.")
        is_buy, reduce_only, cloid = w.get("b"), w.get("r"), w.get("c")
        if not isinstance(is_buy, bool) or not isinstance(reduce_only, bool):
            raise OrderReject("Order has invalid side or reduce-only flag.")
        if cloid is not None and (not isinstance(cloid, str) or not CLOID_RE.match(cloid)):
            raise OrderReject("Invalid cloid.")
        px = check_price(w.get("p"), spec.sz_decimals)
        sz = check_size(w.get("s"), spec.sz_decimals)
        side = BUY if is_buy else SELL
        ref = self.mid(asset)
        if ref and abs(px - ref) / ref > 0.8:
            raise OrderReject("Order price cannot be more than 80% away from the reference price")
        pos = account.position(asset)
        if reduce_only:
            if pos.szi == 0.0 or (pos.szi > 0) == (side == BUY):
                raise OrderReject("Reduce only order would increase position.")
            sz = min(sz, abs(pos.szi))
        elif px * sz < MIN_ORDER_VALUE:
            raise OrderReject(f"Order must have minimum value of ${MIN_ORDER_VALUE:g}.")
        if cloid is not None and (account.address, cloid.lower()) in self.cloids:
            raise OrderReject("Duplicate cloid.")
        if tif == "Alo" and book.would_cross(side, px):
            bid, ask = book.best(BUY), book.best(SELL)
            raise OrderReject(f"Post only order would have immediately matched, bbo was "
                              f"{wire(bid) if bid else 'None'}@{wire(ask) if ask else 'None'}.")
        if tif == "Ioc" and not book.would_cross(side, px):
            raise OrderReject("Order could not immediately match against any resting orders.")
        if not reduce_only:
            self._check_margin(account, asset, side, px, sz)
        if len(book.user_orders(account.address)) >= self.config.max_open_orders and tif != "Ioc":
            raise OrderReject(f"Too many open orders (max {self.config.max_open_orders}).")
        now = self.now_ms()
        order = Order(self._oid(), account.address, side, px, sz, sz, now, tif, reduce_only,
                      cloid.lower() if cloid else None)
        self.orders[order.oid] = OrderRecord(order, "open", now, spec.name)
        if order.cloid:
            self.cloids[(account.address, order.cloid)] = order.oid
        if self.core_matching is not None:
            return self._place_queued(asset, order)
        matches, stp = book.take(order, side, px, sz)
        for o in stp:
            self._set_status(o, "selfTradeCanceled", now)
        trades: list[dict[str, Any]] = []
        self._settle(asset, matches, now, trades)
        if trades:
            self.outbox.append(("trades", spec.name, trades))
        self.book_dirty[asset] = True
        if order.sz > EPS and tif != "Ioc":
            book.rest(order)
            self._set_status(order, "open", now)
        elif order.sz > EPS:  # IOC remainder
            self._set_status(order, "canceled", now)
        return self._placed(order, [(m.px, m.sz) for m in matches])

    def _check_margin(self, account: Account, asset: int, side: int, px: float, sz: float) -> None:
        """Worst-case exposure (position plus all open orders on one side) must fit the account's equity."""
        marks = self.marks()
        mark = marks[asset] or px
        marks[asset] = mark
        pos = account.position(asset)
        buys = sum(o.sz for o in self.books[asset].user_orders(account.address) if o.side == BUY)
        sells = sum(o.sz for o in self.books[asset].user_orders(account.address) if o.side == SELL)
        before = max(abs(pos.szi + buys), abs(pos.szi - sells))
        after = max(abs(pos.szi + buys + (sz if side == BUY else 0.0)),
                    abs(pos.szi - sells - (sz if side == SELL else 0.0)))
        if after <= before + EPS:
            return
        other = account.margin_used(marks) - abs(pos.szi) * mark / pos.leverage
        needed = other + after * max(mark, px) / pos.leverage
        if needed > account.account_value(marks) + EPS:
            raise OrderReject("Insufficient margin to place order.", "perpMarginRejected")

    def _find_order(self, account: Account, ref: Any) -> Order | None:
        if isinstance(ref, str) and CLOID_RE.match(ref):
            oid = self.cloids.get((account.address, ref.lower()))
            if oid is None:
                return None
            ref = oid
        if not isinstance(ref, int):
            return None
        for book in self.books:
            order = book.by_oid.get(ref)
            if order is not None and order.user == account.address:
                return order
        return None

    def _do_cancel(self, account: Account, action: dict[str, Any]) -> dict[str, Any]:
        cancels = action.get("cancels")
        if not isinstance(cancels, list):
            raise BadRequest("cancels must be a list")
        return self._statuses("cancel", [self._cancel_one(account, c.get("a"), c.get("o")) for c in cancels])

    def _do_cancel_by_cloid(self, account: Account, action: dict[str, Any]) -> dict[str, Any]:
        cancels = action.get("cancels")
        if not isinstance(cancels, list):
            raise BadRequest("cancels must be a list")
        return self._statuses("cancel", [self._cancel_one(account, c.get("asset"), c.get("cloid")) for c in cancels])

    def _cancel_one(self, account: Account, asset: Any, ref: Any) -> Any:
        order = self._find_order(account, ref)
        if order is None or asset != 0:
            return {"error": f"Order was never placed, already canceled, or filled. asset={asset}"}
        self._cancel(asset, order)
        return "success"

    def _modify_one(self, account: Account, ref: Any, wire_order: Any) -> Any:
        order = self._find_order(account, ref)
        if order is None:
            return {"error": "Cannot modify canceled or filled order"}
        self._cancel(0, order)
        return self._place(account, wire_order)

    def _do_modify(self, account: Account, action: dict[str, Any]) -> dict[str, Any]:
        status = self._modify_one(account, action.get("oid"), action.get("order"))
        if isinstance(status, dict) and "error" in status:
            return {"status": "err", "response": status["error"]}
        return self._default()

    def _do_batch_modify(self, account: Account, action: dict[str, Any]) -> dict[str, Any]:
        mods = action.get("modifies")
        if not isinstance(mods, list):
            raise BadRequest("modifies must be a list")
        return self._statuses("order", [self._modify_one(account, m.get("oid"), m.get("order")) for m in mods])

    def _do_schedule_cancel(self, account: Account, action: dict[str, Any]) -> dict[str, Any]:
        if account.volume < SCHEDULE_CANCEL_VOLUME:
            return {"status": "err", "response": "Cannot set scheduled cancel time until enough volume traded. "
                    f"Required: $1000000. Traded: ${account.volume:.2f}."}
        when = action.get("time")
        if when is None:
            account.schedule_cancel_ms = None
            return self._default()
        now = self.now_ms()
        if not isinstance(when, int) or when < now + self.config.schedule_cancel_min_ms:
            return {"status": "err", "response": "Scheduled cancel time too early, must be at least 5 seconds "
                    "from now."}
        day = dt.datetime.fromtimestamp(now / 1000, tz=dt.UTC).date().isoformat()
        if account.schedule_triggers.get(day, 0) >= SCHEDULE_CANCEL_PER_DAY:
            return {"status": "err", "response": "Too many scheduled cancel triggers today "
                    f"(max {SCHEDULE_CANCEL_PER_DAY} per UTC day)."}
        account.schedule_cancel_ms = when
        return self._default()

    def _do_update_leverage(self, account: Account, action: dict[str, Any]) -> dict[str, Any]:
        asset, lev, cross = action.get("asset"), action.get("leverage"), action.get("isCross")
        if not isinstance(asset, int) or not 0 <= asset < len(self.assets):
            return {"status": "err", "response": f"Invalid asset: {asset}"}
        if not isinstance(lev, int) or isinstance(lev, bool) or not 1 <= lev <= self.assets[asset].max_leverage:
            return {"status": "err", "response": "Invalid leverage value"}
        pos = account.position(asset)
        pos.leverage, pos.is_cross = lev, bool(cross)
        return self._default()

    # -- /info ------------------------------------------------------------------------------------
    def info(self, body: Any) -> Any:
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            raise BadRequest("missing type")
        handler = getattr(self, "_info_" + body["type"], None)
        if handler is None:
            raise BadRequest(f"unknown info type {body['type']!r}")
        return handler(body)

    def _user(self, body: dict[str, Any]) -> Account | None:
        user = body.get("user")
        if not isinstance(user, str) or not ADDRESS_RE.match(user):
            raise BadRequest("user must be a 0x address")
        return self.accounts.get(user.lower())

    def _info_meta(self, _body: dict[str, Any]) -> dict[str, Any]:
        return {
            "universe": [{"szDecimals": a.sz_decimals, "name": a.name, "maxLeverage": a.max_leverage,
                          "marginTableId": a.margin_table} for a in self.assets],
            "marginTables": [[56, {"description": "tiered 40x", "marginTiers": [
                {"lowerBound": "0.0", "maxLeverage": 40}, {"lowerBound": "150000000.0", "maxLeverage": 20}]}]],
            "collateralToken": 0,
        }

    def _info_spotMeta(self, _body: dict[str, Any]) -> dict[str, Any]:
        return {"universe": [], "tokens": []}

    def _info_perpDexs(self, _body: dict[str, Any]) -> list[Any]:
        return [None]

    def _asset_ctx(self, asset: int) -> dict[str, Any]:
        mid = self.mid(asset)
        book = self.books[asset]
        bid, ask = book.best(BUY), book.best(SELL)
        oi = sum(abs(a.positions[asset].szi) for a in self.accounts.values() if asset in a.positions)
        return {"funding": wire(self.funding_rate[asset], 10), "openInterest": wire(oi, 5),
                "prevDayPx": wire(mid or 0.0), "dayNtlVlm": wire(self.day_volume[asset], 2), "premium": "0.0",
                "oraclePx": wire(mid or 0.0), "markPx": wire(mid or 0.0),
                "midPx": wire(mid) if mid is not None else None,
                "impactPxs": [wire(bid), wire(ask)] if bid is not None and ask is not None else None,
                "dayBaseVlm": wire(self.day_volume[asset] / mid if mid else 0.0, 5)}

    def _info_metaAndAssetCtxs(self, body: dict[str, Any]) -> list[Any]:
        return [self._info_meta(body), [self._asset_ctx(i) for i in range(len(self.assets))]]

    def all_mids(self) -> dict[str, str]:
        out = {}
        for i, spec in enumerate(self.assets):
            mid = self.mid(i)
            if mid is not None:
                out[spec.name] = wire(mid)
        return out

    def _info_allMids(self, _body: dict[str, Any]) -> dict[str, str]:
        return self.all_mids()

    def l2_book(self, asset: int, n_sig_figs: int | None = None, n: int = 20) -> dict[str, Any]:
        book = self.books[asset]
        sides = []
        for side in (BUY, SELL):
            levels = book.depth(side, 10_000 if n_sig_figs else n)
            if n_sig_figs:
                levels = _aggregate(levels, side, n_sig_figs)[:n]
            sides.append([{"px": wire(px), "sz": wire(sz, 5), "n": cnt} for px, sz, cnt in levels])
        return {"coin": self.assets[asset].name, "time": self.now_ms(), "levels": sides}

    def _info_l2Book(self, body: dict[str, Any]) -> dict[str, Any]:
        n_sig = body.get("nSigFigs")
        if n_sig not in (None, 2, 3, 4, 5):
            raise BadRequest("nSigFigs must be 2..5 or null")
        return self.l2_book(self._asset_of(body.get("coin")), n_sig)

    def _info_candleSnapshot(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        req = body.get("req")
        if not isinstance(req, dict):
            raise BadRequest("req missing")
        asset = self._asset_of(req.get("coin"))
        interval, start, end = req.get("interval"), req.get("startTime"), req.get("endTime", self.now_ms())
        if interval not in INTERVAL_MS or not isinstance(start, int) or not isinstance(end, int):
            raise BadRequest("bad candle request")
        step = INTERVAL_MS[str(interval)]
        agg: dict[int, list[float]] = {}
        for t in sorted(self.candles[asset]):
            o, h, lo, c, v, n = self.candles[asset][t]
            key = t - t % step
            cur = agg.get(key)
            if cur is None:
                agg[key] = [o, h, lo, c, v, n]
            else:
                cur[1], cur[2], cur[3], cur[4], cur[5] = max(cur[1], h), min(cur[2], lo), c, cur[4] + v, cur[5] + n
        keys = sorted(agg)[-MAX_CANDLES:]  # only the latest 5000 candles per interval exist
        name = self.assets[asset].name
        return [{"t": k, "T": k + step - 1, "s": name, "i": interval, "o": wire(agg[k][0]), "c": wire(agg[k][3]),
                 "h": wire(agg[k][1]), "l": wire(agg[k][2]), "v": wire(agg[k][4], 5), "n": int(agg[k][5])}
                for k in keys if start <= k <= end]

    def _info_clearinghouseState(self, body: dict[str, Any]) -> dict[str, Any]:
        account = self._user(body)
        now = self.now_ms()
        if account is None:
            zero = {"accountValue": "0.0", "totalNtlPos": "0.0", "totalRawUsd": "0.0", "totalMarginUsed": "0.0"}
            return {"marginSummary": zero, "crossMarginSummary": dict(zero), "crossMaintenanceMarginUsed": "0.0",
                    "withdrawable": "0.0", "assetPositions": [], "time": now}
        marks = self.marks()
        positions = []
        ntl = raw = 0.0
        for asset, pos in sorted(account.positions.items()):
            if pos.szi == 0.0:
                continue
            mark, spec = marks[asset], self.assets[asset]
            value = abs(pos.szi) * mark
            upnl = pos.szi * (mark - pos.entry_px)
            margin = value / pos.leverage
            ntl += value
            raw -= pos.szi * mark
            lev: dict[str, Any] = {"type": "cross" if pos.is_cross else "isolated", "value": pos.leverage}
            positions.append({"type": "oneWay", "position": {
                "coin": spec.name, "szi": wire(pos.szi, 5), "leverage": lev, "entryPx": wire(pos.entry_px),
                "positionValue": wire(value, 6), "unrealizedPnl": wire(upnl, 6),
                "returnOnEquity": wire(upnl / margin if margin else 0.0, 10),
                "liquidationPx": self._liquidation_px(account, asset, marks), "marginUsed": wire(margin, 6),
                "maxLeverage": spec.max_leverage, "cumFunding": {
                    "allTime": wire(pos.funding_all_time, 6), "sinceOpen": wire(pos.funding_since_open, 6),
                    "sinceChange": wire(pos.funding_since_change, 6)}}})
        value = account.account_value(marks)
        used = account.margin_used(marks)
        summary = {"accountValue": wire(value, 6), "totalNtlPos": wire(ntl, 6),
                   "totalRawUsd": wire(value + raw, 6), "totalMarginUsed": wire(used, 6)}
        maint = account.maintenance(marks, {i: a.max_leverage for i, a in enumerate(self.assets)})
        return {"marginSummary": summary, "crossMarginSummary": dict(summary),
                "crossMaintenanceMarginUsed": wire(maint, 6), "withdrawable": wire(max(0.0, value - used), 6),
                "assetPositions": positions, "time": now}

    def _liquidation_px(self, account: Account, asset: int, marks: dict[int, float]) -> str | None:
        """Price where account value meets maintenance margin, other positions held at their marks."""
        pos = account.positions[asset]
        mmr = 1.0 / (2 * self.assets[asset].max_leverage)
        value = account.account_value(marks)
        # value(P) = value + szi (P - mark); maint(P) = others + |szi| P mmr
        others = account.maintenance(marks, {i: a.max_leverage for i, a in enumerate(self.assets)}) - (
            abs(pos.szi) * marks[asset] * mmr)
        denom = pos.szi - abs(pos.szi) * mmr
        if denom == 0:
            return None
        px = (others - value + pos.szi * marks[asset]) / denom
        return wire(px, 6) if px > 0 else None

    def _user_open_orders(self, body: dict[str, Any], render: Callable[[Order, str], dict[str, Any]]
                          ) -> list[dict[str, Any]]:
        """The user's resting orders, newest first per asset, in the shape ``render`` gives."""
        account = self._user(body)
        if account is None:
            return []
        return [render(o, self.assets[asset].name) for asset, book in enumerate(self.books)
                for o in sorted(book.user_orders(account.address), key=lambda o: -o.oid)]

    def _info_openOrders(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return self._user_open_orders(body, self._order_basic)

    def _info_frontendOpenOrders(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return self._user_open_orders(body, self._order_frontend)

    def _info_userFills(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        account = self._user(body)
        return [] if account is None else list(reversed(account.fills[-MAX_FILLS:]))

    def _info_userFillsByTime(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        account = self._user(body)
        start, end = body.get("startTime"), body.get("endTime") or self.now_ms()
        if not isinstance(start, int) or not isinstance(end, int):
            raise BadRequest("startTime must be an integer")
        if account is None:
            return []
        return [f for f in account.fills[-10_000:] if start <= f["time"] <= end][:MAX_FILLS]

    def _info_fundingHistory(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        asset = self._asset_of(body.get("coin"))
        start, end = body.get("startTime"), body.get("endTime") or self.now_ms()
        if not isinstance(start, int) or not isinstance(end, int):
            raise BadRequest("startTime must be an integer")
        return [h for h in self.funding_history[asset] if start <= h["time"] <= end][:PAGE]

    def _info_userFunding(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        account = self._user(body)
        start, end = body.get("startTime"), body.get("endTime") or self.now_ms()
        if not isinstance(start, int) or not isinstance(end, int):
            raise BadRequest("startTime must be an integer")
        if account is None:
            return []
        return [f for f in account.fundings if start <= f["time"] <= end][:PAGE]

    def _info_orderStatus(self, body: dict[str, Any]) -> dict[str, Any]:
        account = self._user(body)
        ref = body.get("oid")
        rec = None
        if account is not None:
            if isinstance(ref, str) and CLOID_RE.match(ref):
                matches = [r for r in self.orders.values()
                           if r.order.user == account.address and r.order.cloid == ref.lower()]
                rec = matches[-1] if matches else None
            elif isinstance(ref, int):
                rec = self.orders.get(ref)
                if rec is not None and rec.order.user != account.address:
                    rec = None
        if rec is None:
            return {"status": "unknownOid"}
        order = self._order_frontend(rec.order, rec.coin)
        order.setdefault("cloid", None)
        return {"status": "order", "order": {"order": order, "status": rec.status, "statusTimestamp": rec.status_ts}}

    def _info_userRateLimit(self, body: dict[str, Any]) -> dict[str, Any]:
        account = self._user(body)
        vol = account.volume if account else 0.0
        used = account.n_requests if account else 0
        return {"cumVlm": wire(vol, 6), "nRequestsUsed": used, "nRequestsCap": 10_000 + int(vol),
                "nRequestsSurplus": 0}

    def _info_userRole(self, body: dict[str, Any]) -> dict[str, Any]:
        """What an address is: an account (``user``, or a ``subAccount`` of its master), an approved API
        wallet (``agent``, with the master it trades for) or unknown (``missing``)."""
        user = str(body.get("user", "")).lower()
        agent = self.agents.get(user)
        if agent is not None and (agent[2] is None or self.now_ms() < agent[2]):
            return {"role": "agent", "data": {"user": agent[0]}}
        account = self.accounts.get(user)
        if account is None:
            return {"role": "missing"}
        if account.leader is not None:
            return {"role": "subAccount", "data": {"master": account.leader}}
        return {"role": "user"}


def _aggregate(levels: list[tuple[float, float, int]], side: int, n_sig: int) -> list[tuple[float, float, int]]:
    """Group levels to ``n_sig`` significant figures (bids round down, asks up), as nSigFigs does."""
    out: dict[float, list[float]] = {}
    for px, sz, cnt in levels:
        mag = 10 ** (int(np.floor(np.log10(px))) - n_sig + 1)
        key = (np.floor(px / mag) if side == BUY else np.ceil(px / mag)) * mag
        cur = out.setdefault(float(key), [0.0, 0])
        cur[0] += sz
        cur[1] += cnt
    keys = sorted(out, reverse=(side == BUY))
    return [(k, out[k][0], int(out[k][1])) for k in keys]
