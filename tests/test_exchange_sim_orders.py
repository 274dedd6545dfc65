"""Order rules, price-time priority against the background book, fees, margin and funding (known answers)."""

from __future__ import annotations

from decimal import Decimal

import eth_account
import pytest
from eth_account.signers.local import LocalAccount
from hypothesis import given, settings
from hypothesis import strategies as st

from amm500.exchange_sim.exchange import Exchange
from amm500.exchange_sim.rules import OrderReject, check_price, check_size
from exchange_sim_helpers import frozen_exchange, market, market_trade, order_wire, place, set_book, signed

BOOK_BIDS = [(100_000.0, 1.0), (99_999.0, 2.0)]
BOOK_ASKS = [(100_001.0, 0.5), (100_002.0, 2.0)]


@pytest.fixture
def user() -> LocalAccount:
    return eth_account.Account.create()


def make(user: LocalAccount, usdc: float = 100_000.0, **config: object) -> Exchange:
    ex = frozen_exchange({user.address: usdc}, **config)
    set_book(ex, BOOK_BIDS, BOOK_ASKS)
    return ex


@pytest.mark.parametrize(("px", "sz", "error"), [
    ("100000.5", "0.001", "Price must be divisible by tick size. asset=0"),  # 7 significant figures
    ("99999.5", "0.001", "Price must be divisible by tick size. asset=0"),  # 6 significant figures
    ("99999.55", "0.001", "Order has invalid price. asset=0"),
    ("abc", "0.001", "Order has invalid price. asset=0"),
    ("99000", "0.000001", "Order has invalid size. asset=0"),  # 6 decimals, szDecimals is 5
    ("99000", "0", "Order has zero size. asset=0"),
    ("99000", "0.0001", "Order must have minimum value of $10. asset=0"),  # $9.90
    ("10000", "0.01", "Order price cannot be more than 80% away from the reference price asset=0"),
])
def test_wire_rule_rejections(user: LocalAccount, px: str, sz: str, error: str) -> None:
    ex = make(user)
    assert place(ex, user, order_wire(px, sz)) == [{"error": error}]
    assert ex.books[0].user_orders(user.address.lower()) == []


def test_integer_prices_and_exact_minimum_pass(user: LocalAccount) -> None:
    ex = make(user)
    assert "resting" in place(ex, user, order_wire("99000", "0.00011"))[0]  # $10.89
    assert "resting" in place(ex, user, order_wire("99999", "0.001"))[0]
    assert "resting" in place(ex, user, order_wire("99998.0", "0.001"))[0]


@given(st.decimals(min_value="0.1", max_value="999999", places=2, allow_nan=False, allow_infinity=False))
@settings(max_examples=300, deadline=None)
def test_price_rule_property(value: Decimal) -> None:
    """Independent oracle: at most one decimal (BTC), and an integer or unchanged by 5-significant-figure rounding."""
    one_decimal = value * 10 == (value * 10).to_integral_value()
    ok = one_decimal and (value == value.to_integral_value() or Decimal(f"{value:.5g}") == value)
    try:
        check_price(str(value), 5)
        assert ok, value
    except OrderReject:
        assert not ok, value


def test_size_rule() -> None:
    assert check_size("0.00001", 5) == 0.00001
    assert check_size("1.50000", 5) == 1.5  # trailing zeros do not count
    with pytest.raises(OrderReject, match="invalid size"):
        check_size("-1", 5)


def test_alo_ioc_and_reduce_only(user: LocalAccount) -> None:
    ex = make(user)
    assert place(ex, user, order_wire("100001", "0.001", tif="Alo")) == [{
        "error": "Post only order would have immediately matched, bbo was 100000.0@100001.0. asset=0"}]
    assert place(ex, user, order_wire("99000", "0.001", tif="Ioc")) == [{
        "error": "Order could not immediately match against any resting orders. asset=0"}]
    assert place(ex, user, order_wire("99000", "0.001", reduce_only=True)) == [{
        "error": "Reduce only order would increase position. asset=0"}]
    place(ex, user, order_wire("100001", "0.01", tif="Ioc"))  # long 0.01
    assert place(ex, user, order_wire("100003", "0.001", reduce_only=True)) == [{
        "error": "Reduce only order would increase position. asset=0"}]
    # reduce-only below $10 is allowed and clipped to the position
    out = place(ex, user, order_wire("99999", "0.05", is_buy=False, tif="Ioc", reduce_only=True))
    assert out[0]["filled"]["totalSz"] == "0.01"
    assert ex.accounts[user.address.lower()].positions[0].szi == 0.0


def test_margin_check_counts_open_orders(user: LocalAccount) -> None:
    ex = make(user, usdc=1_010.0)  # 20x default leverage, exposure valued at max(mark 100000.5, price)
    assert "resting" in place(ex, user, order_wire("99000", "0.1"))[0]
    assert "resting" in place(ex, user, order_wire("99000", "0.1"))[0]  # 0.2 x 100000.5 / 20 = 1000.005
    assert place(ex, user, order_wire("99000", "0.01")) == [{"error": "Insufficient margin to place order. asset=0"}]
    # the other side does not add to the worst case until it exceeds the bids
    assert "resting" in place(ex, user, order_wire("101000", "0.1", is_buy=False))[0]
    lev = ex.action(signed(user, {"type": "updateLeverage", "asset": 0, "isCross": True, "leverage": 40}))
    assert lev["status"] == "ok"
    assert "resting" in place(ex, user, order_wire("99000", "0.1"))[0]


def test_taker_walks_levels_with_taker_fee_and_avg_price(user: LocalAccount) -> None:
    ex = make(user)
    out = place(ex, user, order_wire("100002", "1.0", tif="Ioc"))
    assert out[0]["filled"]["totalSz"] == "1.0"
    assert float(out[0]["filled"]["avgPx"]) == pytest.approx((0.5 * 100_001 + 0.5 * 100_002) / 1.0)
    acct = ex.accounts[user.address.lower()]
    assert [(f["px"], f["sz"], f["crossed"]) for f in acct.fills] == [("100001.0", "0.5", True),
                                                                      ("100002.0", "0.5", True)]
    fees = 0.5 * 100_001 * 0.00045 + 0.5 * 100_002 * 0.00045
    assert acct.cash == pytest.approx(100_000.0 - fees)
    assert ex.books[0].best(-1) == 100_002.0 and ex.books[0].level_size(-1, 100_002.0)[0] == pytest.approx(1.5)


def test_gtc_partial_fill_rests_the_remainder(user: LocalAccount) -> None:
    ex = make(user)
    out = place(ex, user, order_wire("100001", "0.8"))
    oid = out[0]["resting"]["oid"]
    order = ex.books[0].by_oid[oid]
    assert order.sz == pytest.approx(0.3) and ex.books[0].best(1) == 100_001.0


def test_background_trade_fills_resting_order_by_price_time_priority(user: LocalAccount) -> None:
    ex = make(user)
    oid = place(ex, user, order_wire("100000", "0.2"))[0]["resting"]["oid"]  # behind 1.0 of background
    market_trade(ex, -1, 100_000.0, 0.9)  # sell aggressor eats background first
    acct = ex.accounts[user.address.lower()]
    assert acct.fills == []
    market_trade(ex, -1, 100_000.0, 0.25)  # 0.1 background left ahead, then 0.15 of ours
    assert [(f["sz"], f["crossed"], f["oid"]) for f in acct.fills] == [("0.15", False, oid)]
    assert float(acct.fills[0]["fee"]) == pytest.approx(100_000 * 0.15 * 0.00015)
    assert acct.positions[0].szi == pytest.approx(0.15)
    # a background level shrink comes from the back: it does not consume our order
    set_book(ex, [(100_000.0, 0.0)], [])
    assert ex.books[0].by_oid[oid].sz == pytest.approx(0.05)
    assert ex.books[0].level_size(1, 100_000.0) == (pytest.approx(0.05), 1)


def test_trade_through_our_price_fills_us_first(user: LocalAccount) -> None:
    ex = make(user)
    oid = place(ex, user, order_wire("100001", "0.3", is_buy=False, tif="Gtc"))[0]["resting"]["oid"]
    # we joined the back of 100001 behind 0.5 background; a buy sweep to 100002 takes both levels in order
    market_trade(ex, 1, 100_002.0, 1.0)
    acct = ex.accounts[user.address.lower()]
    assert [(f["px"], f["sz"], f["side"], f["dir"]) for f in acct.fills] == [("100001.0", "0.3", "A", "Open Short")]
    assert oid not in ex.books[0].by_oid


def test_feed_moving_through_resting_order_fills_it_as_maker(user: LocalAccount) -> None:
    ex = make(user)
    place(ex, user, order_wire("100000", "0.2"))  # joins 100000 behind 1.0 background
    # the market moves down: asks now start at 99998 (the feed no longer shows our level's background)
    market(ex, [(1, 1, 100_000.0, 0.0), (1, 1, 99_999.0, 0.0), (1, -1, 100_001.0, 0.0), (1, -1, 100_002.0, 0.0),
                (1, 1, 99_997.0, 1.0), (1, -1, 99_998.0, 1.0)])
    acct = ex.accounts[user.address.lower()]
    assert [(f["px"], f["sz"], f["crossed"]) for f in acct.fills] == [("100000.0", "0.2", False)]


def test_self_trade_cancels_the_resting_order(user: LocalAccount) -> None:
    ex = make(user)
    oid = place(ex, user, order_wire("100000.0", "0.01", is_buy=False, tif="Gtc"))  # crosses bid 100000: fills
    assert "filled" in oid[0]
    resting = place(ex, user, order_wire("100005", "0.01", is_buy=False))[0]["resting"]["oid"]
    ex.books[0].asks.pop(100_001.0)  # leave our ask at 100005 behind the 100002 background
    out = place(ex, user, order_wire("100005", "2.5", tif="Ioc"))
    assert out[0]["filled"]["totalSz"] == "2.0"  # the 100002 background only; our own ask was cancelled
    assert ex.orders[resting].status == "selfTradeCanceled"


def test_funding_sign_longs_pay_shorts_when_positive() -> None:
    long_, short = eth_account.Account.create(), eth_account.Account.create()
    ex = frozen_exchange({long_.address: 10_000.0, short.address: 10_000.0})
    set_book(ex, [(99_999.0, 5.0)], [(100_001.0, 5.0)])
    place(ex, long_, order_wire("100001", "0.1", tif="Ioc"))
    place(ex, short, order_wire("99999", "0.1", is_buy=False, tif="Ioc"))
    cash = {a: ex.accounts[a.address.lower()].cash for a in (long_, short)}
    ex.pay_funding(0, rate=0.0001)
    paid = 0.1 * 100_000.0 * 0.0001  # szi x oracle (mid) x rate
    assert ex.accounts[long_.address.lower()].cash == pytest.approx(cash[long_] - paid)
    assert ex.accounts[short.address.lower()].cash == pytest.approx(cash[short] + paid)
    ex.pay_funding(0, rate=-0.0002)
    assert ex.accounts[long_.address.lower()].cash == pytest.approx(cash[long_] - paid + 2 * paid)
    history = ex.info({"type": "userFunding", "user": long_.address, "startTime": 0})
    assert [h["delta"]["usdc"] for h in history] == ["-1.0", "2.0"]
    state = ex.info({"type": "clearinghouseState", "user": long_.address})
    assert state["assetPositions"][0]["position"]["cumFunding"]["allTime"] == "-1.0"  # paid 1, received 2
    assert [h["fundingRate"] for h in ex.info({"type": "fundingHistory", "coin": "BTC", "startTime": 0})] == [
        "0.0001", "-0.0002"]


def test_closed_pnl_and_flip_direction(user: LocalAccount) -> None:
    ex = make(user)
    place(ex, user, order_wire("100001", "0.2", tif="Ioc"))  # long 0.2 @ 100001
    set_book(ex, [(100_100.0, 1.0)], [(100_001.0, 0.0), (100_002.0, 0.0)])
    out = place(ex, user, order_wire("100100", "0.5", is_buy=False, tif="Ioc"))
    assert out[0]["filled"]["totalSz"] == "0.5"
    fill = ex.accounts[user.address.lower()].fills[-1]
    assert fill["dir"] == "Long > Short" and fill["startPosition"] == "0.2"
    assert float(fill["closedPnl"]) == pytest.approx(0.2 * (100_100 - 100_001))
    pos = ex.accounts[user.address.lower()].positions[0]
    assert pos.szi == pytest.approx(-0.3) and pos.entry_px == 100_100.0


def test_cancel_by_cloid_modify_and_order_status(user: LocalAccount) -> None:
    ex = make(user)
    cloid = "0x0000000000000000000000000000abcd"
    oid = place(ex, user, order_wire("99000", "0.01", cloid=cloid))[0]["resting"]["oid"]
    assert place(ex, user, order_wire("99000", "0.01", cloid=cloid)) == [{"error": "Duplicate cloid. asset=0"}]
    st_ = ex.info({"type": "orderStatus", "user": user.address, "oid": cloid})
    assert st_["order"]["status"] == "open" and st_["order"]["order"]["oid"] == oid
    reply = ex.action(signed(user, {"type": "modify", "oid": oid, "order": order_wire("98000", "0.02")}))
    assert reply == {"status": "ok", "response": {"type": "default"}}
    new = ex.books[0].user_orders(user.address.lower())
    assert [(o.px, o.sz) for o in new] == [(98_000.0, 0.02)]
    reply = ex.action(signed(user, {"type": "cancelByCloid", "cancels": [{"asset": 0, "cloid": cloid}]}))
    assert reply["response"]["data"]["statuses"] == [
        {"error": "Order was never placed, already canceled, or filled. asset=0"}]  # the modify dropped the cloid
    assert ex.info({"type": "orderStatus", "user": user.address, "oid": 12345}) == {"status": "unknownOid"}
    cloid2 = "0x0000000000000000000000000000abce"
    place(ex, user, order_wire("97000", "0.01", cloid=cloid2))
    reply = ex.action(signed(user, {"type": "cancelByCloid", "cancels": [{"asset": 0, "cloid": cloid2}]}))
    assert reply["response"]["data"]["statuses"] == ["success"]
    assert ex.info({"type": "orderStatus", "user": user.address, "oid": cloid2})["order"]["status"] == "canceled"


def test_schedule_cancel_volume_gate_and_daily_limit(user: LocalAccount) -> None:
    ex = make(user, schedule_cancel_min_ms=0)
    now = ex.now_ms()
    reply = ex.action(signed(user, {"type": "scheduleCancel", "time": now + 10_000}))
    assert reply == {"status": "err", "response": "Cannot set scheduled cancel time until enough volume traded. "
                                                  "Required: $1000000. Traded: $0.00."}
    ex.accounts[user.address.lower()].volume = 1_000_000.0
    place(ex, user, order_wire("99000", "0.01"))
    for _ in range(10):
        assert ex.action(signed(user, {"type": "scheduleCancel", "time": now}))["status"] == "ok"
        ex.tick()
    assert ex.books[0].user_orders(user.address.lower()) == []
    assert [r.status for r in ex.orders.values()] == ["scheduledCancel"]
    reply = ex.action(signed(user, {"type": "scheduleCancel", "time": now}))
    assert reply["status"] == "err" and "max 10 per UTC day" in reply["response"]
    assert ex.action(signed(user, {"type": "scheduleCancel"}))["status"] == "ok"  # clearing is always allowed


def test_schedule_cancel_must_be_five_seconds_ahead(user: LocalAccount) -> None:
    ex = make(user)
    ex.accounts[user.address.lower()].volume = 2_000_000.0
    reply = ex.action(signed(user, {"type": "scheduleCancel", "time": ex.now_ms() + 4_999}))
    assert reply["status"] == "err" and "at least 5 seconds" in reply["response"]


def test_info_shapes(user: LocalAccount) -> None:
    ex = make(user)
    place(ex, user, order_wire("99000", "0.01", cloid="0x000000000000000000000000000000ff"))
    assert ex.info({"type": "allMids"}) == {"BTC": "100000.5"}
    book = ex.info({"type": "l2Book", "coin": "BTC"})
    assert book["levels"][0][:2] == [{"px": "100000.0", "sz": "1.0", "n": 1}, {"px": "99999.0", "sz": "2.0", "n": 1}]
    assert book["levels"][0][2] == {"px": "99000.0", "sz": "0.01", "n": 1}
    coarse = ex.info({"type": "l2Book", "coin": "BTC", "nSigFigs": 2})
    assert coarse["levels"][0] == [{"px": "100000.0", "sz": "1.0", "n": 1}, {"px": "99000.0", "sz": "2.01", "n": 2}]
    meta, ctxs = ex.info({"type": "metaAndAssetCtxs"})
    assert meta["universe"][0]["name"] == "BTC" and ctxs[0]["midPx"] == "100000.5"
    front = ex.info({"type": "frontendOpenOrders", "user": user.address})
    assert front[0]["orderType"] == "Limit" and front[0]["tif"] == "Gtc" and front[0]["reduceOnly"] is False
    assert front[0]["cloid"] == "0x000000000000000000000000000000ff"
    empty = ex.info({"type": "clearinghouseState", "user": "0x" + "00" * 20})
    assert empty["assetPositions"] == [] and empty["marginSummary"]["accountValue"] == "0.0"


def test_liquidation_below_maintenance_closes_at_mark(user: LocalAccount) -> None:
    ex = make(user, usdc=300.0)
    lev = ex.action(signed(user, {"type": "updateLeverage", "asset": 0, "isCross": True, "leverage": 40}))
    assert lev["status"] == "ok"
    place(ex, user, order_wire("100002", "0.1", tif="Ioc"))  # long 0.1 (~$10k) on ~$300
    resting = place(ex, user, order_wire("90000", "0.01"))[0]["resting"]["oid"]
    ex.tick()
    assert ex.accounts[user.address.lower()].positions[0].szi == pytest.approx(0.1)  # still healthy
    # maintenance = 0.1 x mark / 80; value = cash + 0.1 (mark - entry): liquidated once mark < ~97,400
    set_book(ex, [(100_000.0, 0.0), (99_999.0, 0.0), (97_000.0, 1.0)], [(100_002.0, 0.0), (97_001.0, 1.0)])
    assert ex.liquidate(ex.now_ms()) == [user.address.lower()]
    acct = ex.accounts[user.address.lower()]
    assert acct.positions[0].szi == 0.0
    last = acct.fills[-1]
    assert last["dir"] == "Close Long" and last["px"] == "97000.5" and last["liquidation"]["method"] == "market"
    assert ex.orders[resting].status == "liquidatedCanceled"
    # bought at the best ask 100001 as taker, sold at the mark as taker: the loss can exceed the deposit
    assert acct.cash == pytest.approx(300.0 + 0.1 * (97_000.5 - 100_001) - 0.1 * (100_001 + 97_000.5) * 0.00045)
