"""Validation of everything the exchange sends, REST answers and WebSocket pushes alike.

Each ``parse_*`` either returns typed values or raises :class:`MessageError` naming the bad field
(``l2Book.levels[0][3].px: expected a decimal string, got None``). Callers on the WebSocket path log
and skip such a message; nothing malformed reaches the book, the order manager or the strategy.
Numbers arrive as decimal strings and are converted to float here, once.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from amm500.core.api import B_ASK_PX, B_ASK_SZ, B_BID_PX, B_BID_SZ, BOOK_DEPTH
from amm500.venues.hyperliquid.errors import MessageError
from amm500.venues.model import (
    AssetInfo,
    Fill,
    OpenOrder,
    OrderStatus,
    OrderUpdate,
    Position,
    RateLimitState,
    UserEvent,
)

# ---- primitive checks -----------------------------------------------------------------------------


def _obj(x: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(x, Mapping):
        raise MessageError(path, f"expected an object, got {type(x).__name__}")
    return x


def _list(x: Any, path: str) -> Sequence[Any]:
    if not isinstance(x, list):
        raise MessageError(path, f"expected a list, got {type(x).__name__}")
    return x


def _get(obj: Mapping[str, Any], key: str, path: str) -> Any:
    try:
        return obj[key]
    except KeyError:
        raise MessageError(f"{path}.{key}", "missing") from None


def _str(x: Any, path: str) -> str:
    if not isinstance(x, str):
        raise MessageError(path, f"expected a string, got {type(x).__name__}")
    return x


def _int(x: Any, path: str) -> int:
    if isinstance(x, bool) or not isinstance(x, int):
        raise MessageError(path, f"expected an integer, got {type(x).__name__}")
    return x


def _num(x: Any, path: str) -> float:
    """A decimal string (the wire format) or a JSON number; finite."""
    if isinstance(x, str):
        try:
            v = float(x)
        except ValueError:
            raise MessageError(path, f"expected a decimal string, got {x[:40]!r}") from None
    elif isinstance(x, int | float) and not isinstance(x, bool):
        v = float(x)
    else:
        raise MessageError(path, f"expected a decimal string, got {type(x).__name__}")
    if not math.isfinite(v):
        raise MessageError(path, f"not a finite number: {x!r}")
    return v


def _pos(x: Any, path: str, *, zero: bool = False) -> float:
    """A price (> 0) or a size (> 0, or >= 0 where ``zero``: an order's remaining size)."""
    v = _num(x, path)
    if v < 0 or (v == 0 and not zero):
        raise MessageError(path, f"expected a number {'>=' if zero else '>'} 0, got {x!r}")
    return v


def _side(x: Any, path: str) -> int:
    if x == "B":
        return 1
    if x == "A":
        return -1
    raise MessageError(path, f"expected 'B' or 'A', got {x!r}")


def _opt_cloid(obj: Mapping[str, Any], path: str) -> str | None:
    c = obj.get("cloid")
    if c is None:
        return None
    c = _str(c, f"{path}.cloid")
    if not (c.startswith("0x") and len(c) == 34):
        raise MessageError(f"{path}.cloid", f"expected 0x + 32 hex digits, got {c[:40]!r}")
    return c.lower()


# ---- market data ------------------------------------------------------------------------------------


@dataclass(slots=True)
class L2Book:
    coin: str
    time_ms: int
    book: np.ndarray  # (4, BOOK_DEPTH) as in strategy.api: bid px, bid sz, ask px, ask sz; 0 = empty


_PX = operator.itemgetter("px")
_SZ = operator.itemgetter("sz")


def parse_l2book(data: Any, out: np.ndarray | None = None) -> L2Book:
    """An ``l2Book`` snapshot (REST answer or WS push); bids descending, asks ascending, no crossing.

    The common, well-formed message takes a path of C-level builtins (map, itemgetter, min, sum:
    this runs on every push, inside tick-to-order); anything unusual goes through the field-by-field
    checks, which name the bad field. Both paths accept exactly the same messages.
    """
    try:
        coin, t, (bids, asks) = data["coin"], data["time"], data["levels"]
        if type(coin) is str and type(t) is int:
            bids, asks = bids[:BOOK_DEPTH], asks[:BOOK_DEPTH]
            raw = [*map(_PX, bids), *map(_SZ, bids), *map(_PX, asks), *map(_SZ, asks)]
            if not raw or set(map(type, raw)) == {str}:
                vals = list(map(float, raw))
                nb, na = len(bids), len(asks)
                bp, bs, ap, az = vals[:nb], vals[nb : 2 * nb], vals[2 * nb : 2 * nb + na], vals[2 * nb + na :]
                if (
                    math.isfinite(sum(vals))  # any inf or nan makes the sum non-finite (overflow: checked path)
                    and (not nb or (min(bs) >= 0 and bp[-1] > 0 and all(map(operator.gt, bp, bp[1:]))))
                    and (not na or (min(az) >= 0 and ap[0] > 0 and all(map(operator.lt, ap, ap[1:]))))
                    and not (nb and na and bp[0] >= ap[0])
                ):
                    book = np.zeros((4, BOOK_DEPTH)) if out is None else out
                    book[:] = 0.0
                    book[B_BID_PX, :nb], book[B_BID_SZ, :nb] = bp, bs
                    book[B_ASK_PX, :na], book[B_ASK_SZ, :na] = ap, az
                    return L2Book(coin, t, book)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        pass
    return _parse_l2book_checked(data, out)


def _parse_l2book_checked(data: Any, out: np.ndarray | None) -> L2Book:
    d = _obj(data, "l2Book")
    coin = _str(_get(d, "coin", "l2Book"), "l2Book.coin")
    t = _int(_get(d, "time", "l2Book"), "l2Book.time")
    levels = _list(_get(d, "levels", "l2Book"), "l2Book.levels")
    if len(levels) != 2:
        raise MessageError("l2Book.levels", f"expected [bids, asks], got {len(levels)} sides")
    book = np.zeros((4, BOOK_DEPTH)) if out is None else out
    book[:] = 0.0
    for side, (px_row, sz_row) in enumerate(((B_BID_PX, B_BID_SZ), (B_ASK_PX, B_ASK_SZ))):
        rows = _list(levels[side], f"l2Book.levels[{side}]")
        prev = math.nan
        for i, lvl in enumerate(rows[:BOOK_DEPTH]):
            p = f"l2Book.levels[{side}][{i}]"
            lv = _obj(lvl, p)
            px = _num(_get(lv, "px", p), p + ".px")
            sz = _num(_get(lv, "sz", p), p + ".sz")
            if px <= 0 or sz < 0:
                raise MessageError(p, f"price must be > 0 and size >= 0 (got {px}, {sz})")
            if i and (px >= prev if side == 0 else px <= prev):
                raise MessageError(p + ".px", f"levels out of order ({prev} then {px})")
            prev = px
            book[px_row, i] = px
            book[sz_row, i] = sz
    if book[B_BID_PX, 0] > 0 and book[B_ASK_PX, 0] > 0 and book[B_BID_PX, 0] >= book[B_ASK_PX, 0]:
        raise MessageError("l2Book.levels", f"crossed book: bid {book[B_BID_PX, 0]} >= ask {book[B_ASK_PX, 0]}")
    return L2Book(coin, t, book)


@dataclass(slots=True)
class Bbo:
    coin: str
    time_ms: int
    bid_px: float  # 0 when that side is empty
    bid_sz: float
    ask_px: float
    ask_sz: float


def parse_bbo(data: Any) -> Bbo:
    d = _obj(data, "bbo")
    pair = _list(_get(d, "bbo", "bbo"), "bbo.bbo")
    if len(pair) != 2:
        raise MessageError("bbo.bbo", "expected [bid, ask]")
    vals = []
    for i, lvl in enumerate(pair):
        if lvl is None:
            vals += [0.0, 0.0]
            continue
        lv = _obj(lvl, f"bbo.bbo[{i}]")
        vals += [_pos(_get(lv, "px", f"bbo.bbo[{i}]"), f"bbo.bbo[{i}].px"),
                 _pos(_get(lv, "sz", f"bbo.bbo[{i}]"), f"bbo.bbo[{i}].sz", zero=True)]
    if vals[0] > 0 and vals[2] > 0 and vals[0] >= vals[2]:
        raise MessageError("bbo.bbo", f"crossed: bid {vals[0]} >= ask {vals[2]}")
    return Bbo(_str(_get(d, "coin", "bbo"), "bbo.coin"), _int(_get(d, "time", "bbo"), "bbo.time"), *vals)


@dataclass(slots=True)
class Trade:
    coin: str
    side: int  # aggressor: +1 buy, -1 sell
    px: float
    sz: float
    time_ms: int
    tid: int


def parse_trades(data: Any) -> list[Trade]:
    out = []
    for i, t in enumerate(_list(data, "trades")):
        p = f"trades[{i}]"
        o = _obj(t, p)
        out.append(
            Trade(
                _str(_get(o, "coin", p), p + ".coin"),
                _side(_get(o, "side", p), p + ".side"),
                _pos(_get(o, "px", p), p + ".px"),
                _pos(_get(o, "sz", p), p + ".sz"),
                _int(_get(o, "time", p), p + ".time"),
                _int(_get(o, "tid", p), p + ".tid"),
            )
        )
    return out


# ---- account ----------------------------------------------------------------------------------------


def _open_order(o: Any, p: str) -> OpenOrder:
    d = _obj(o, p)
    sz = _pos(_get(d, "sz", p), p + ".sz", zero=True)
    return OpenOrder(
        _str(_get(d, "coin", p), p + ".coin"),
        _side(_get(d, "side", p), p + ".side"),
        _pos(_get(d, "limitPx", p), p + ".limitPx"),
        sz,
        _pos(d.get("origSz", sz), p + ".origSz", zero=True),
        _int(_get(d, "oid", p), p + ".oid"),
        _int(_get(d, "timestamp", p), p + ".timestamp"),
        _opt_cloid(d, p),
    )


def parse_open_orders(data: Any) -> list[OpenOrder]:
    return [_open_order(o, f"openOrders[{i}]") for i, o in enumerate(_list(data, "openOrders"))]


def parse_order_updates(data: Any) -> list[OrderUpdate]:
    out = []
    for i, u in enumerate(_list(data, "orderUpdates")):
        p = f"orderUpdates[{i}]"
        d = _obj(u, p)
        out.append(
            OrderUpdate(
                _open_order(_get(d, "order", p), p + ".order"),
                _str(_get(d, "status", p), p + ".status"),
                _int(_get(d, "statusTimestamp", p), p + ".statusTimestamp"),
            )
        )
    return out


def _fill(f: Any, p: str) -> Fill:
    d = _obj(f, p)
    crossed = _get(d, "crossed", p)
    if not isinstance(crossed, bool):
        raise MessageError(p + ".crossed", "expected true or false")
    return Fill(
        _str(_get(d, "coin", p), p + ".coin"),
        _side(_get(d, "side", p), p + ".side"),
        _pos(_get(d, "px", p), p + ".px"),
        _pos(_get(d, "sz", p), p + ".sz"),
        _int(_get(d, "time", p), p + ".time"),
        _int(_get(d, "oid", p), p + ".oid"),
        _int(_get(d, "tid", p), p + ".tid"),
        crossed,
        _num(_get(d, "fee", p), p + ".fee"),
        _num(d.get("startPosition", "0"), p + ".startPosition"),
        _opt_cloid(d, p),
    )


def parse_fills(data: Any, path: str = "fills") -> list[Fill]:
    return [_fill(f, f"{path}[{i}]") for i, f in enumerate(_list(data, path))]


def parse_user_fills(data: Any) -> tuple[bool, list[Fill]]:
    """WS ``userFills``: (is_snapshot, fills). The first message after subscribing is the snapshot."""
    d = _obj(data, "userFills")
    return bool(d.get("isSnapshot", False)), parse_fills(_get(d, "fills", "userFills"), "userFills.fills")


def parse_user_event(data: Any) -> UserEvent:
    """WS ``userEvents`` (channel ``user``): fills | funding | liquidation | nonUserCancel."""
    d = _obj(data, "user")
    fills = parse_fills(d["fills"], "user.fills") if "fills" in d else []
    cancels = []
    for i, c in enumerate(_list(d.get("nonUserCancel", []), "user.nonUserCancel")):
        p = f"user.nonUserCancel[{i}]"
        o = _obj(c, p)
        cancels.append((_str(_get(o, "coin", p), p + ".coin"), _int(_get(o, "oid", p), p + ".oid")))
    return UserEvent(fills, cancels, "liquidation" in d)


def parse_clearinghouse_state(data: Any, coin: str) -> Position:
    d = _obj(data, "clearinghouseState")
    summary = _obj(_get(d, "marginSummary", "clearinghouseState"), "clearinghouseState.marginSummary")
    av = _num(_get(summary, "accountValue", "marginSummary"), "marginSummary.accountValue")
    mu = _num(_get(summary, "totalMarginUsed", "marginSummary"), "marginSummary.totalMarginUsed")
    for i, ap in enumerate(_list(_get(d, "assetPositions", "clearinghouseState"), "assetPositions")):
        p = f"assetPositions[{i}].position"
        pos = _obj(_get(_obj(ap, f"assetPositions[{i}]"), "position", f"assetPositions[{i}]"), p)
        if _get(pos, "coin", p) == coin:
            entry = pos.get("entryPx")
            return Position(
                coin, _num(_get(pos, "szi", p), p + ".szi"), _num(entry, p + ".entryPx") if entry else 0.0, av, mu
            )
    return Position(coin, 0.0, 0.0, av, mu)


def parse_meta(data: Any) -> dict[str, AssetInfo]:
    d = _obj(data, "meta")
    out = {}
    for i, a in enumerate(_list(_get(d, "universe", "meta"), "meta.universe")):
        p = f"meta.universe[{i}]"
        o = _obj(a, p)
        name = _str(_get(o, "name", p), p + ".name")
        out[name] = AssetInfo(
            i,
            name,
            _int(_get(o, "szDecimals", p), p + ".szDecimals"),
            _int(_get(o, "maxLeverage", p), p + ".maxLeverage"),
        )
    return out


def parse_user_rate_limit(data: Any) -> RateLimitState:
    d = _obj(data, "userRateLimit")
    return RateLimitState(
        _num(_get(d, "cumVlm", "userRateLimit"), "userRateLimit.cumVlm"),
        _int(_get(d, "nRequestsUsed", "userRateLimit"), "userRateLimit.nRequestsUsed"),
        _int(_get(d, "nRequestsCap", "userRateLimit"), "userRateLimit.nRequestsCap"),
    )


# ---- /exchange answers --------------------------------------------------------------------------------


def _status(s: Any, p: str) -> OrderStatus:
    if isinstance(s, str):  # "success" (cancel), "waitingForFill", "waitingForTrigger"
        return OrderStatus("success" if s == "success" else "waiting")
    d = _obj(s, p)
    if "resting" in d:
        r = _obj(d["resting"], p + ".resting")
        return OrderStatus("resting", _int(_get(r, "oid", p + ".resting"), p + ".resting.oid"), _opt_cloid(r, p))
    if "filled" in d:
        f = _obj(d["filled"], p + ".filled")
        return OrderStatus(
            "filled",
            _int(_get(f, "oid", p + ".filled"), p + ".filled.oid"),
            _opt_cloid(f, p),
            _num(_get(f, "totalSz", p + ".filled"), p + ".filled.totalSz"),
            _num(_get(f, "avgPx", p + ".filled"), p + ".filled.avgPx"),
        )
    if "error" in d:
        return OrderStatus("error", error=_str(d["error"], p + ".error"))
    raise MessageError(p, f"unknown status {list(d)[:3]}")


def parse_action_response(data: Any, n_items: int) -> list[OrderStatus]:
    """Statuses of an order/cancel/batchModify answer, always ``n_items`` long.

    A whole-request failure (``{"status":"err","response":"..."}``) or a pre-validated batch answered
    with ONE error instead of one status per order becomes that error repeated for every item, so the
    caller can resolve each order it sent.
    """
    d = _obj(data, "response")
    status = _get(d, "status", "response")
    if status == "err":
        msg = str(d.get("response", "unknown error"))
        return [OrderStatus("error", error=msg) for _ in range(n_items)]
    if status != "ok":
        raise MessageError("response.status", f"expected 'ok' or 'err', got {status!r}")
    resp = _obj(_get(d, "response", "response"), "response.response")
    payload = resp.get("data")
    if payload is None:  # {"type":"default"}: actions without per-item statuses
        return [OrderStatus("success") for _ in range(n_items)]
    statuses = _list(_get(_obj(payload, "response.data"), "statuses", "response.data"), "response.data.statuses")
    parsed = [_status(s, f"statuses[{i}]") for i, s in enumerate(statuses)]
    if len(parsed) == n_items:
        return parsed
    if len(parsed) == 1 and parsed[0].kind == "error":
        return [OrderStatus("error", error=parsed[0].error) for _ in range(n_items)]
    raise MessageError("response.data.statuses", f"expected {n_items} statuses, got {len(parsed)}")


@dataclass(slots=True)
class FundingPayment:
    time_ms: int
    coin: str
    rate: float
    paid: float  # USDC the account paid (received: negative)
    szi: float  # the position it was paid on


def parse_user_funding(data: Any) -> list[FundingPayment]:
    """``userFunding`` info: each hourly payment; ``delta.usdc`` is what the account received."""
    out = []
    for i, f in enumerate(_list(data, "userFunding")):
        p = f"userFunding[{i}]"
        d = _obj(_get(_obj(f, p), "delta", p), p + ".delta")
        q = p + ".delta"
        out.append(FundingPayment(_int(_get(f, "time", p), p + ".time"), _str(_get(d, "coin", q), q + ".coin"),
                                  _num(_get(d, "fundingRate", q), q + ".fundingRate"),
                                  -_num(_get(d, "usdc", q), q + ".usdc"), _num(_get(d, "szi", q), q + ".szi")))
    return out
