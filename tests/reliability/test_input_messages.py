"""Issue 20 item 5: every message the exchange can send, fuzzed, into the parsers and the socket's router.

Valid templates of each REST answer and WebSocket push are mutated by hypothesis (a field deleted,
replaced by the wrong type, NaN, inf, an absurd or negative number, junk text; whole frames truncated
or random). Each parser must return typed values or raise :class:`MessageError` naming a field;
anything it does return must be usable (finite numbers, positive prices and sizes, a sorted,
uncrossed book), because nothing malformed may reach the book, the order manager or the strategy.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from amm500.core import api
from amm500.venues.hyperliquid import messages as m
from amm500.venues.hyperliquid.client import Handlers, HyperliquidClient
from amm500.venues.hyperliquid.errors import MessageError
from reliability.fuzz import fuzz

CLOID = "0x" + "ab" * 16
ORDER = {"coin": "BTC", "side": "B", "limitPx": "83000.0", "sz": "0.01", "origSz": "0.02", "oid": 7,
         "timestamp": 1790358575700, "cloid": CLOID}
FILL = {"coin": "BTC", "px": "83843.0", "sz": "0.31975", "side": "A", "time": 1790358575700, "startPosition": "1.5",
        "dir": "Sell", "closedPnl": "0", "hash": "0x", "oid": 5, "crossed": True, "fee": "-0.01", "tid": 9,
        "cloid": CLOID}
BOOK = {"coin": "BTC", "time": 1790358575700,
        "levels": [[{"px": "83767.0", "sz": "6.87634", "n": 45}, {"px": "83766.0", "sz": "0.1", "n": 1}],
                   [{"px": "83768.0", "sz": "1.5", "n": 3}, {"px": "83769.0", "sz": "2", "n": 3}]]}
TRADE = {"coin": "BTC", "side": "B", "px": "83768.0", "sz": "0.01", "time": 1790358575701, "tid": 11, "hash": "0x"}
CLEARING = {"marginSummary": {"accountValue": "1000.5", "totalMarginUsed": "10.0"},
            "assetPositions": [{"position": {"coin": "BTC", "szi": "0.01", "entryPx": "83000.0"}}]}
STATUSES = {"status": "ok", "response": {"type": "order", "data": {"statuses": [
    {"resting": {"oid": 7, "cloid": CLOID}}, {"filled": {"totalSz": "0.02", "avgPx": "1891.4", "oid": 8}},
    {"error": "Order must have minimum value of $10. asset=0"}]}}}
FUNDING = [{"time": 1790358575700, "hash": "0x", "delta": {"type": "funding", "coin": "BTC", "usdc": "5.95",
                                                            "szi": "-0.68582", "fundingRate": "0.0001"}}]

# name -> (template, parser)
PARSERS: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    "l2Book": (BOOK, m.parse_l2book),
    "bbo": ({"coin": "BTC", "time": 1, "bbo": [{"px": "83767.0", "sz": "1", "n": 1},
                                               {"px": "83768.0", "sz": "1", "n": 1}]}, m.parse_bbo),
    "trades": ([TRADE], m.parse_trades),
    "openOrders": ([ORDER], m.parse_open_orders),
    "orderUpdates": ([{"order": ORDER, "status": "open", "statusTimestamp": 1}], m.parse_order_updates),
    "userFills": ({"isSnapshot": False, "user": "0x", "fills": [FILL]}, m.parse_user_fills),
    "userFillsByTime": ([FILL], m.parse_fills),
    "user": ({"fills": [FILL], "nonUserCancel": [{"coin": "BTC", "oid": 3}]}, m.parse_user_event),
    "clearinghouseState": (CLEARING, lambda d: m.parse_clearinghouse_state(d, "BTC")),
    "meta": ({"universe": [{"name": "BTC", "szDecimals": 5, "maxLeverage": 40}]}, m.parse_meta),
    "userRateLimit": ({"cumVlm": "2854574.5", "nRequestsUsed": 2890, "nRequestsCap": 2864574},
                      m.parse_user_rate_limit),
    "action": (STATUSES, lambda d: m.parse_action_response(d, 3)),
    "userFunding": (FUNDING, m.parse_user_funding),
}

JUNK = st.one_of(
    st.sampled_from([None, True, False, "", "abc", "NaN", "nan", "inf", "-inf", "Infinity", "1e400", "-1e400",
                     "-1.0", "0", "0.0", "-0", "1e308", "1e-320", "1e30", "  12 ", "0x1p3", "1_000",
                     0, -1, 2**63, -(2**63), 2**80, 1e308, -1e308, 0.0, -5.5, [], {}, [[]], {"px": "1"},
                     "B", "A", "X", CLOID, "0x12"]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.text(max_size=8),
)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
                           lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
                           max_leaves=12)


def _paths(x: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(x, dict):
        for k, v in x.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, template: Any) -> Any:
    """``template`` with 1-3 of its fields deleted, replaced by junk, or its lists reordered/duplicated."""
    msg = copy.deepcopy(template)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(msg) if p]
        if not paths:
            return draw(JUNK)
        path = draw(st.sampled_from(paths))
        parent = msg
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        how = draw(st.sampled_from(["junk", "junk", "junk", "delete", "reverse", "duplicate"]))
        if how == "delete":
            del parent[key]
        elif how in ("reverse", "duplicate") and isinstance(parent[key], list):
            parent[key] = parent[key][::-1] if how == "reverse" else parent[key] + parent[key]
        else:
            parent[key] = draw(JUNK)
    return msg


def _finite(x: Any) -> None:
    """Every number anywhere in a parsed result is finite."""
    if isinstance(x, float):
        assert math.isfinite(x), x
    elif isinstance(x, np.ndarray):
        assert np.isfinite(x).all()
    elif isinstance(x, list | tuple):
        for v in x:
            _finite(v)
    elif isinstance(x, dict):
        for v in x.values():
            _finite(v)
    elif hasattr(x, "__slots__"):
        for k in x.__slots__:
            _finite(getattr(x, k))


def check_usable(name: str, got: Any) -> None:
    """What a parser hands on is safe to act on."""
    _finite(got)
    if name == "l2Book":
        b = got.book
        nb, na = int((b[api.B_BID_PX] > 0).sum()), int((b[api.B_ASK_PX] > 0).sum())
        assert (np.diff(b[api.B_BID_PX, :nb]) < 0).all() and (np.diff(b[api.B_ASK_PX, :na]) > 0).all()
        assert (b[[api.B_BID_SZ, api.B_ASK_SZ]] >= 0).all()
        assert not (nb and na and b[api.B_BID_PX, 0] >= b[api.B_ASK_PX, 0]), "crossed book passed"
    elif name == "bbo":
        assert got.bid_px >= 0 and got.ask_px >= 0 and got.bid_sz >= 0 and got.ask_sz >= 0, got
        assert not (got.bid_px > 0 and got.ask_px > 0 and got.bid_px >= got.ask_px), f"crossed bbo {got}"
    elif name == "trades":
        assert all(t.px > 0 and t.sz > 0 for t in got), got
    elif name in ("openOrders",):
        assert all(o.limit_px > 0 and o.sz >= 0 for o in got), got
    elif name == "orderUpdates":
        assert all(u.order.limit_px > 0 and u.order.sz >= 0 for u in got), got
    elif name in ("userFills", "userFillsByTime", "user"):
        fills = got[1] if name == "userFills" else got if name == "userFillsByTime" else got.fills
        assert all(f.px > 0 and f.sz > 0 for f in fills), fills


cases = st.sampled_from(sorted(PARSERS)).flatmap(
    lambda name: st.tuples(st.just(name), st.one_of(mutated(PARSERS[name][0]), json_values)))


@fuzz()
@given(cases)
def test_every_parser_answers_typed_values_or_one_message_error(case: tuple[str, Any]) -> None:
    name, msg = case
    try:
        got = PARSERS[name][1](msg)
    except MessageError as exc:
        assert exc.path and exc.problem and "Traceback" not in str(exc)
        return
    check_usable(name, got)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_the_templates_parse(name: str) -> None:
    """The fuzzer's starting points are valid messages (else it would only ever test the refusal)."""
    template, parse = PARSERS[name]
    check_usable(name, parse(copy.deepcopy(template)))


def _with(template: Any, path: tuple, value: Any) -> Any:
    msg = copy.deepcopy(template)
    parent = msg
    for k in path[:-1]:
        parent = parent[k]
    parent[path[-1]] = value
    return msg


# what the fuzzer found (issue 20 bugs B1 and B2): each was parsed and handed on, or raised TypeError
KNOWN_BAD = [
    ("userFunding", [None], "userFunding[0]"),
    ("userFunding", _with(FUNDING, (0, "delta", "usdc"), "nan"), "userFunding[0].delta.usdc"),
    ("userFunding", _with(FUNDING, (0, "delta", "szi"), None), "userFunding[0].delta.szi"),
    ("trades", _with([TRADE], (0, "px"), "-1.0"), "trades[0].px"),
    ("trades", _with([TRADE], (0, "sz"), "0"), "trades[0].sz"),
    ("userFillsByTime", _with([FILL], (0, "px"), "0"), "fills[0].px"),
    ("openOrders", _with([ORDER], (0, "limitPx"), "-1.0"), "openOrders[0].limitPx"),
    ("bbo", _with(PARSERS["bbo"][0], ("bbo", 0, "px"), "83769.0"), "bbo.bbo"),
    ("bbo", _with(PARSERS["bbo"][0], ("bbo", 0, "px"), "-1.0"), "bbo.bbo[0].px"),
]


@pytest.mark.parametrize(("name", "msg", "path"), KNOWN_BAD, ids=[f"{n}:{p}" for n, _, p in KNOWN_BAD])
def test_known_bad_messages_are_refused_naming_the_field(name: str, msg: Any, path: str) -> None:
    with pytest.raises(MessageError) as exc:
        PARSERS[name][1](msg)
    assert exc.value.path == path


# ---- the socket: raw frames into the client's router ------------------------------------------------

def frames() -> st.SearchStrategy[str | bytes]:
    channel = st.sampled_from(["l2Book", "trades", "bbo", "orderUpdates", "userFills", "user", "post", "pong",
                               "subscriptionResponse", "error", "nonsense"])
    pushed = channel.flatmap(lambda ch: st.one_of(
        mutated(PARSERS[ch][0]) if ch in PARSERS else json_values, json_values,
        st.just(copy.deepcopy(PARSERS[ch][0])) if ch in PARSERS else st.none(),
    ).map(lambda data: {"channel": ch, "data": data}))
    encoded = pushed.map(lambda msg: json.dumps(msg, allow_nan=True))
    return st.one_of(
        encoded, encoded, encoded,
        encoded.flatmap(lambda s: st.integers(0, len(s)).map(lambda n: s[:n])),  # truncated frame
        st.binary(max_size=40), st.text(max_size=40), json_values.map(lambda v: json.dumps(v, allow_nan=True)),
    )


@fuzz()
@given(st.lists(frames(), min_size=1, max_size=12))
def test_the_socket_skips_every_bad_frame_and_never_hands_one_on(raw: list[str | bytes]) -> None:
    """Frames in any order, any shape: the socket loop never raises, and every handler call carries
    usable values; the book it keeps is never replaced by an older or a malformed one."""
    seen: list[tuple[str, Any]] = []
    handlers = Handlers(
        on_book=lambda snap, _rx: seen.append(("l2Book", snap)),
        on_trades=lambda t: seen.append(("trades", t)),
        on_bbo=lambda b: seen.append(("bbo", b)),
        on_order_updates=lambda u: seen.append(("orderUpdates", u)),
        on_fills=lambda f, snap: seen.append(("userFills", (snap, f))),
        on_user_event=lambda e: seen.append(("user", e)),
    )
    client = HyperliquidClient("http://127.0.0.1:9", "ws://127.0.0.1:9/ws", handlers=handlers)
    last_time = 0
    for frame in raw:
        client.ws._handle(frame)
        assert client.book_time_ms >= last_time, "an older book replaced a newer one"
        last_time = client.book_time_ms
    for name, got in seen:
        check_usable(name, got)
    if client.book_time_ms:
        check_usable("l2Book", m.L2Book("BTC", client.book_time_ms, client.book))


def test_out_of_order_books_keep_the_newest_and_a_future_one_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    """A late (older) snapshot after a newer one is dropped; one stamped far ahead of the clock is refused
    (bug B3: kept, it outranked every real book after it and froze the bot's book while it looked fresh)."""
    client = HyperliquidClient("http://127.0.0.1:9", "ws://127.0.0.1:9/ws")
    now = int(time.time() * 1000)
    newer = copy.deepcopy(BOOK) | {"time": now}
    older = copy.deepcopy(BOOK) | {"time": now - 1000}
    older["levels"][0][0]["px"] = "83767.5"
    client.ws._handle(orjson.dumps({"channel": "l2Book", "data": newer}))
    client.ws._handle(orjson.dumps({"channel": "l2Book", "data": older}))
    assert client.book_time_ms == now and client.book[api.B_BID_PX, 0] == 83767.0
    client.ws._handle(orjson.dumps({"channel": "l2Book", "data": newer | {"time": 2**62}}))
    assert client.book_time_ms == now and client.ws.malformed == 1 and "ahead of this machine's clock" in caplog.text
    later = copy.deepcopy(older) | {"time": now + 500}
    client.ws._handle(orjson.dumps({"channel": "l2Book", "data": later}))
    assert client.book_time_ms == now + 500 and client.book[api.B_BID_PX, 0] == 83767.5
