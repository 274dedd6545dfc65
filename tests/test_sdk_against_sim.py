"""The official SDK's own Info and Exchange classes, pointed at the local exchange, trade end to end."""

from __future__ import annotations

from collections.abc import Iterator

import eth_account
import pytest
from eth_account.signers.local import LocalAccount
from hyperliquid.exchange import Exchange
from hyperliquid.info import Info
from hyperliquid.utils.types import Cloid

from amm500.exchange_sim.server import RunningExchange, exchange_thread

ALO = {"limit": {"tif": "Alo"}}
GTC = {"limit": {"tif": "Gtc"}}


@pytest.fixture(scope="module")
def wallet() -> LocalAccount:
    return eth_account.Account.from_key("0x" + "11" * 32)


@pytest.fixture(scope="module")
def sim(wallet: LocalAccount) -> Iterator[RunningExchange]:
    with exchange_thread({wallet.address: 100_000.0}, seed=7) as running:
        yield running


def test_info_reads_meta_book_and_mids(sim: RunningExchange) -> None:
    info = Info(sim.base_url, skip_ws=True)
    assert info.meta()["universe"][0] == {"szDecimals": 5, "name": "BTC", "maxLeverage": 40, "marginTableId": 56}
    assert info.name_to_asset("BTC") == 0
    book = info.l2_snapshot("BTC")
    bids, asks = book["levels"]
    assert len(bids) == 20 and len(asks) == 20
    assert float(bids[0]["px"]) < float(asks[0]["px"])
    assert [float(b["px"]) for b in bids] == sorted((float(b["px"]) for b in bids), reverse=True)
    mid = float(info.all_mids()["BTC"])
    assert float(bids[0]["px"]) < mid < float(asks[0]["px"])


def test_place_modify_cancel_and_read_back(sim: RunningExchange, wallet: LocalAccount) -> None:
    info = Info(sim.base_url, skip_ws=True)
    ex = Exchange(wallet, sim.base_url)
    mid = float(info.all_mids()["BTC"])
    cloid = Cloid.from_str("0x000000000000000000000000000000aa")
    placed = ex.order("BTC", True, 0.001, round(mid * 0.99), ALO, cloid=cloid)
    status = placed["response"]["data"]["statuses"][0]
    oid = status["resting"]["oid"]
    assert status["resting"]["cloid"] == cloid.to_raw()
    opened = info.open_orders(wallet.address)
    assert [(o["oid"], o["sz"], o["limitPx"]) for o in opened] == [(oid, "0.001", f"{round(mid * 0.99)}.0")]
    assert info.query_order_by_cloid(wallet.address, cloid)["order"]["status"] == "open"

    modified = ex.modify_order(oid, "BTC", True, 0.002, round(mid * 0.98), GTC)
    new_oid = modified["response"]["data"]["statuses"][0]["resting"]["oid"]
    assert info.query_order_by_oid(wallet.address, oid)["order"]["status"] == "canceled"
    assert [(o["oid"], o["sz"]) for o in info.open_orders(wallet.address)] == [(new_oid, "0.002")]

    assert ex.cancel("BTC", new_oid)["response"]["data"]["statuses"] == ["success"]
    assert info.open_orders(wallet.address) == []
    again = ex.cancel("BTC", new_oid)["response"]["data"]["statuses"][0]
    assert again == {"error": "Order was never placed, already canceled, or filled. asset=0"}


def test_market_order_opens_position_with_taker_fee(sim: RunningExchange, wallet: LocalAccount) -> None:
    info = Info(sim.base_url, skip_ws=True)
    ex = Exchange(wallet, sim.base_url)
    before = float(info.user_state(wallet.address)["marginSummary"]["accountValue"])
    result = ex.market_open("BTC", False, 0.01)
    filled = result["response"]["data"]["statuses"][0]["filled"]
    assert filled["totalSz"] == "0.01"
    fill = info.user_fills(wallet.address)[0]
    assert fill["oid"] == filled["oid"] and fill["crossed"] is True and fill["dir"] == "Open Short"
    px = float(fill["px"])
    assert float(fill["fee"]) == pytest.approx(px * 0.01 * 0.00045, abs=1e-6)
    state = info.user_state(wallet.address)
    pos = state["assetPositions"][0]["position"]
    assert pos["szi"] == "-0.01" and float(pos["entryPx"]) == px
    # equity moved by the fee plus the mark-to-market of the new short, nothing else
    after = float(state["marginSummary"]["accountValue"])
    assert after == pytest.approx(before - float(fill["fee"]) + float(pos["unrealizedPnl"]), abs=1e-5)

    closed = ex.market_close("BTC")
    assert closed["response"]["data"]["statuses"][0]["filled"]["totalSz"] == "0.01"
    assert info.user_fills(wallet.address)[0]["dir"] == "Close Short"
    assert info.user_state(wallet.address)["assetPositions"] == []


def test_update_leverage_and_rate_limit_readback(sim: RunningExchange, wallet: LocalAccount) -> None:
    info = Info(sim.base_url, skip_ws=True)
    ex = Exchange(wallet, sim.base_url)
    assert ex.update_leverage(5, "BTC") == {"status": "ok", "response": {"type": "default"}}
    assert ex.update_leverage(41, "BTC") == {"status": "err", "response": "Invalid leverage value"}
    limits = info.user_rate_limit(wallet.address)
    assert limits["nRequestsUsed"] > 0 and limits["nRequestsCap"] == 10_000 + int(float(limits["cumVlm"]))


def test_cloid_cancel_bulk_orders_and_schedule_cancel_gate(sim: RunningExchange, wallet: LocalAccount) -> None:
    from hyperliquid.utils.signing import OrderRequest

    info = Info(sim.base_url, skip_ws=True)
    ex = Exchange(wallet, sim.base_url)
    mid = float(info.all_mids()["BTC"])
    cloids = [Cloid.from_int(100 + i) for i in range(3)]
    requests: list[OrderRequest] = [
        {"coin": "BTC", "is_buy": True, "sz": 0.001, "limit_px": round(mid * 0.97) - i, "order_type": ALO,
         "reduce_only": False, "cloid": c} for i, c in enumerate(cloids)]
    statuses = ex.bulk_orders(requests)["response"]["data"]["statuses"]
    assert [s["resting"]["cloid"] for s in statuses] == [c.to_raw() for c in cloids]
    assert ex.cancel_by_cloid("BTC", cloids[1])["response"]["data"]["statuses"] == ["success"]
    assert sorted(o["cloid"] for o in info.open_orders(wallet.address)) == sorted(
        c.to_raw() for c in (cloids[0], cloids[2]))
    volume = float(info.user_rate_limit(wallet.address)["cumVlm"])
    gate = ex.schedule_cancel(sim.exchange.now_ms() + 60_000)
    assert gate == {"status": "err", "response": "Cannot set scheduled cancel time until enough volume traded. "
                                                 f"Required: $1000000. Traded: ${volume:.2f}."}
    frontend = info.frontend_open_orders(wallet.address)
    assert {o["tif"] for o in frontend} == {"Alo"} and all(o["orderType"] == "Limit" for o in frontend)
    ex.bulk_cancel_by_cloid([{"coin": "BTC", "cloid": c} for c in (cloids[0], cloids[2])])
    assert info.open_orders(wallet.address) == []
