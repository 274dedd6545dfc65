"""Incoming message validation, batch status handling, request budgets and latency summaries."""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amm500.core import api
from amm500.obs.latency import LatencyRecorder, QuantileWindow
from amm500.venues.hyperliquid import messages as m
from amm500.venues.hyperliquid.errors import MessageError
from amm500.venues.hyperliquid.ratelimit import AddressBudget, WeightBudget, exchange_weight, info_weight
from amm500.venues.hyperliquid.ws import WsClient

BOOK = {
    "coin": "BTC",
    "time": 1790358575700,
    "levels": [
        [{"px": "83767.0", "sz": "6.87634", "n": 45}, {"px": "83766.0", "sz": "0.1", "n": 1}],
        [{"px": "83768.0", "sz": "1.5", "n": 3}],
    ],
}


def test_l2book_known_answer() -> None:
    snap = m.parse_l2book(BOOK)
    assert snap.time_ms == 1790358575700
    assert snap.book[api.B_BID_PX, :3].tolist() == [83767.0, 83766.0, 0.0]
    assert snap.book[api.B_BID_SZ, 0] == 6.87634 and snap.book[api.B_ASK_PX, 0] == 83768.0


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda b: b["levels"][0][1].update(px=None), "l2Book.levels[0][1].px"),
        (lambda b: b["levels"][0][1].update(px="83770.0"), "l2Book.levels[0][1].px"),  # bids out of order
        (lambda b: b["levels"][1][0].update(px="83000.0"), "l2Book.levels"),  # crossed
        (lambda b: b.pop("time"), "l2Book.time"),
        (lambda b: b["levels"].pop(), "l2Book.levels"),
        (lambda b: b["levels"][1][0].update(sz="NaN"), "l2Book.levels[1][0].sz"),
    ],
)
def test_l2book_malformed_names_the_field(mutate: Any, path: str) -> None:
    bad = json.loads(json.dumps(BOOK))
    mutate(bad)
    with pytest.raises(MessageError) as exc:
        m.parse_l2book(bad)
    assert exc.value.path == path


def test_batch_answered_with_one_error_resolves_every_order() -> None:
    one_error = {"status": "ok", "response": {"type": "order", "data": {"statuses": [{"error": "Invalid TP/SL"}]}}}
    statuses = m.parse_action_response(one_error, 3)
    assert [s.kind for s in statuses] == ["error"] * 3 and statuses[2].error == "Invalid TP/SL"
    whole = m.parse_action_response({"status": "err", "response": "Invalid nonce: duplicate nonce 1"}, 2)
    assert [s.error for s in whole] == ["Invalid nonce: duplicate nonce 1"] * 2
    mixed = {
        "status": "ok",
        "response": {
            "type": "order",
            "data": {
                "statuses": [
                    {"resting": {"oid": 7, "cloid": "0x" + "0" * 31 + "1"}},
                    {"filled": {"totalSz": "0.02", "avgPx": "1891.4", "oid": 8}},
                    {"error": "Order must have minimum value of $10. asset=0"},
                ]
            },
        },
    }
    got = m.parse_action_response(mixed, 3)
    assert (got[0].kind, got[0].oid, got[1].total_sz, got[2].kind) == ("resting", 7, 0.02, "error")
    with pytest.raises(MessageError):
        m.parse_action_response({"status": "ok", "response": {"type": "order", "data": {"statuses": [{}, {}]}}}, 3)


def test_account_messages() -> None:
    fill = {"coin": "BTC", "px": "83843.0", "sz": "0.31975", "side": "A", "time": 1, "startPosition": "1.5"}
    fill |= {"dir": "Sell", "closedPnl": "0", "hash": "0x", "oid": 5, "crossed": True, "fee": "-0.01", "tid": 9}
    snap, fills = m.parse_user_fills({"isSnapshot": True, "user": "0x", "fills": [fill]})
    assert snap and fills[0].side == -1 and fills[0].fee == -0.01 and fills[0].crossed
    with pytest.raises(MessageError, match="crossed"):
        m.parse_fills([{**fill, "crossed": "yes"}])
    ev = m.parse_user_event({"nonUserCancel": [{"coin": "BTC", "oid": 3}]})
    assert ev.non_user_cancels == [("BTC", 3)] and not ev.fills
    rl = m.parse_user_rate_limit({"cumVlm": "2854574.5", "nRequestsUsed": 2890, "nRequestsCap": 2864574})
    assert rl.remaining == 2864574 - 2890


def test_ws_skips_malformed_messages(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    seen: list[tuple[str, Any]] = []

    def on_message(channel: str, data: Any, rx_ns: int) -> None:
        if channel == "l2Book":
            m.parse_l2book(data)
        seen.append((channel, data))

    ws = WsClient("ws://127.0.0.1:9/ws", on_message)
    ws._handle("Websocket connection established.")
    ws._handle("{not json")
    ws._handle(json.dumps({"data": 1}))
    ws._handle(json.dumps({"channel": "l2Book", "data": {"coin": "BTC"}}))
    ws._handle(json.dumps({"channel": "l2Book", "data": BOOK}))
    assert ws.malformed == 3 and [c for c, _ in seen] == ["l2Book"]
    assert "l2Book.time: missing" in caplog.text


def test_weight_budget_rolls_over_a_minute() -> None:
    now = [0.0]
    b = WeightBudget(limit=1200, window_s=60.0, clock=lambda: now[0])
    assert info_weight({"type": "l2Book"}) == 2 and info_weight({"type": "userRole"}) == 60
    assert info_weight({"type": "openOrders"}) == 20 and exchange_weight(40) == 2 and exchange_weight(39) == 1
    for _ in range(600):
        assert b.try_spend(2)
    assert not b.try_spend(1) and b.delay_for(1) == pytest.approx(60.0)
    now[0] = 30.0
    assert not b.try_spend(1)
    now[0] = 60.0
    assert b.try_spend(2) and b.used() == 2


def test_address_budget() -> None:
    a = AddressBudget(cap=10_000, used=9_990)
    a.spend(10)
    assert a.remaining == 0 and a.cancel_remaining() == 10_000


def test_latency_quantiles_known_answer() -> None:
    w = QuantileWindow(100)
    for x in range(1, 201):  # only the last 100 samples (101..200) count
        w.add(float(x))
    p50, _p90, p99 = w.quantiles()
    assert p50 == pytest.approx(np.quantile(np.arange(101, 201), 0.5)) and p99 == pytest.approx(199.01)
    rec = LatencyRecorder()
    rec.rtt("rest", "exchange", 0.01)
    rec.tick_to_order(0.0005)
    s = rec.summary()
    assert s["rtt.rest"]["p50"] == 0.01 and s["tick_to_order"]["count"] == 1
    text = rec.registry.get_sample_value("amm500_tick_to_order_seconds_count")
    assert text == 1.0


valid_px = st.floats(min_value=1, max_value=2e5).map(repr)
valid_sz = st.floats(min_value=0, max_value=100).map(repr)
bad_values = st.sampled_from(["abc", "", "nan", "inf", "1e400", "-1.0", "0", None, True, 7, [], {}])


@settings(max_examples=300, deadline=None)
@given(
    bids=st.lists(st.tuples(valid_px, valid_sz), max_size=25),
    asks=st.lists(st.tuples(valid_px, valid_sz), max_size=25),
    sorted_=st.booleans(),
    corrupt=st.one_of(st.none(), st.tuples(st.integers(0, 49), st.sampled_from(["px", "sz"]), bad_values)),
)
def test_fast_book_path_agrees_with_checked_path(bids: list, asks: list, sorted_: bool, corrupt: Any) -> None:
    """Random, often malformed books: the vectorised path accepts exactly what the checked path accepts."""
    from amm500.venues.hyperliquid.messages import _parse_l2book_checked

    def side(levels: list, desc: bool) -> list[dict[str, Any]]:
        if sorted_:
            levels = sorted(levels, key=lambda lv: float(lv[0]), reverse=desc)
        return [{"px": px, "sz": sz, "n": 1} for px, sz in levels]

    levels = [side(bids, True), side(asks, False)]
    if corrupt is not None and len(bids) + len(asks) > 0:
        i, key, value = corrupt
        i %= len(bids) + len(asks)
        (levels[0] + levels[1])[i][key] = value
    msg = {"coin": "BTC", "time": 5, "levels": levels}
    try:
        want = _parse_l2book_checked(msg, None).book
    except MessageError:
        with pytest.raises(MessageError):
            m.parse_l2book(msg)
        return
    assert np.array_equal(m.parse_l2book(msg).book, want)


def test_route_median_is_recomputed_every_few_samples() -> None:
    """Exact while the window is small; later at most MEDIAN_EVERY - 1 samples stale (it is read before every send)."""
    w = QuantileWindow(1000)
    assert math.isnan(w.median())
    for x in range(1, 101):
        w.add(float(x))
        seen = x if x <= 64 else 64 + 16 * ((x - 64) // 16)  # exact up to 64 samples, then every 16th
        assert w.median() == pytest.approx(np.median(np.arange(1, seen + 1)))
    w.add(1e6)  # 101 samples; the median was computed at 96 samples and is still that one
    assert w.median() == pytest.approx(np.median(np.arange(1, 97)))
    for _ in range(QuantileWindow.MEDIAN_EVERY):
        w.add(1e6)
    assert w.median() == pytest.approx(np.median(np.r_[np.arange(1, 101), np.full(17, 1e6)]))
