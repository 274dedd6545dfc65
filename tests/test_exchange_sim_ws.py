"""The WebSocket side of the local exchange over a real socket: acks, snapshots, pushes, post, ping."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import eth_account

from amm500.exchange_sim.server import run_exchange
from exchange_sim_helpers import order_wire, set_book, signed


async def recv_until(ws: aiohttp.ClientWebSocketResponse, pred: Callable[[dict[str, Any]], bool],
                     timeout: float = 5.0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The first message matching ``pred`` and everything received before it."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            if not msg.data.startswith("{"):
                continue
            data = json.loads(msg.data)
            if pred(data):
                return data, seen
            seen.append(data)


def channel(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m["channel"] == name


async def test_subscriptions_pushes_post_and_ping() -> None:
    user = eth_account.Account.create()
    addr = user.address.lower()
    async with run_exchange({user.address: 100_000.0}, synthetic=False, book_push_s=0.05) as sim, \
            aiohttp.ClientSession() as session, session.ws_connect(sim.ws_url) as ws:
        set_book(sim.exchange, [(100_000.0, 1.0)], [(100_001.0, 0.5)])
        hello = await ws.receive()
        assert hello.data == "Websocket connection established."
        subs = [{"type": "l2Book", "coin": "BTC"}, {"type": "trades", "coin": "BTC"}, {"type": "bbo", "coin": "BTC"},
                {"type": "orderUpdates", "user": user.address}, {"type": "userFills", "user": user.address},
                {"type": "userEvents", "user": user.address}, {"type": "allMids"}]
        for sub in subs:
            await ws.send_json({"method": "subscribe", "subscription": sub})
            ack, _ = await recv_until(ws, channel("subscriptionResponse"))
            assert ack["data"] == {"method": "subscribe", "subscription": sub}
            if sub["type"] == "l2Book":
                book, _ = await recv_until(ws, channel("l2Book"))
                assert book["data"]["levels"][1] == [{"px": "100001.0", "sz": "0.5", "n": 1}]
            if sub["type"] == "userFills":
                snap, _ = await recv_until(ws, channel("userFills"))
                assert snap["data"] == {"isSnapshot": True, "user": addr, "fills": []}

        # place a resting order through `post`
        env = signed(user, {"type": "order", "orders": [order_wire("99999", "0.01")], "grouping": "na"})
        await ws.send_json({"method": "post", "id": 7, "request": {"type": "action", "payload": env}})
        reply, _ = await recv_until(ws, channel("post"))
        assert reply["data"]["id"] == 7
        status = reply["data"]["response"]["payload"]["response"]["data"]["statuses"][0]
        oid = status["resting"]["oid"]
        update, _ = await recv_until(ws, channel("orderUpdates"))
        assert update["data"][0]["status"] == "open" and update["data"][0]["order"]["oid"] == oid

        # a taker order: fills on userFills and user, a trade naming us as buyer, a filled orderUpdate
        env = signed(user, {"type": "order", "orders": [order_wire("100001", "0.2", tif="Ioc")], "grouping": "na"})
        await ws.send_json({"method": "post", "id": 8, "request": {"type": "action", "payload": env}})
        trades, before = await recv_until(ws, channel("trades"))
        assert trades["data"][0]["users"][0] == addr and trades["data"][0]["side"] == "B"
        by_channel = {m["channel"]: m["data"] for m in before}
        fills = by_channel["userFills"]
        assert fills["isSnapshot"] is False and fills["fills"][0]["sz"] == "0.2"
        assert by_channel["user"]["fills"] == fills["fills"]
        assert by_channel["orderUpdates"][0]["status"] == "filled"
        bbo, before = await recv_until(ws, lambda m: m["channel"] == "bbo" and m["data"]["bbo"][1]["sz"] == "0.3")
        assert bbo["data"]["bbo"][0]["px"] == "100000.0"
        mids = [m["data"] for m in before if m["channel"] == "allMids"]
        assert mids[-1] == {"mids": {"BTC": "100000.5"}}

        # post an info request
        await ws.send_json({"method": "post", "id": 9, "request": {"type": "info",
                                                                   "payload": {"type": "openOrders", "user": addr}}})
        reply, _ = await recv_until(ws, lambda m: m["channel"] == "post" and m["data"]["id"] == 9)
        assert reply["data"]["response"]["type"] == "info"
        assert reply["data"]["response"]["payload"]["type"] == "openOrders"
        assert [o["oid"] for o in reply["data"]["response"]["payload"]["data"]] == [oid]
        await ws.send_json({"method": "post", "id": 10, "request": {"type": "nonsense"}})
        reply, _ = await recv_until(ws, lambda m: m["channel"] == "post" and m["data"]["id"] == 10)
        assert reply["data"]["response"]["type"] == "error"

        await ws.send_json({"method": "ping"})
        pong, _ = await recv_until(ws, channel("pong"))
        assert pong == {"channel": "pong", "data": None}


async def test_unsubscribe_and_errors() -> None:
    async with run_exchange(synthetic=True, book_push_s=0.05) as sim, aiohttp.ClientSession() as session, \
            session.ws_connect(sim.ws_url) as ws:
        sub = {"type": "l2Book", "coin": "BTC"}
        await ws.send_json({"method": "subscribe", "subscription": sub})
        await recv_until(ws, channel("subscriptionResponse"))
        book, _ = await recv_until(ws, channel("l2Book"))
        assert len(book["data"]["levels"][0]) == 20  # the random-walk market is running
        await ws.send_json({"method": "unsubscribe", "subscription": sub})
        ack, _ = await recv_until(ws, channel("subscriptionResponse"))
        assert ack["data"] == {"method": "unsubscribe", "subscription": sub}
        await ws.send_json({"method": "unsubscribe", "subscription": sub})
        err, _ = await recv_until(ws, channel("error"))
        assert err["data"].startswith("Already unsubscribed")
        await ws.send_json({"method": "subscribe", "subscription": {"type": "nope"}})
        err, _ = await recv_until(ws, channel("error"))
        assert err["data"].startswith("Invalid subscription")
        # no more books after the unsubscribe: only the pong comes back
        await asyncio.sleep(0.2)
        await ws.send_json({"method": "ping"})
        _, before = await recv_until(ws, channel("pong"))
        assert [m["channel"] for m in before] == []


async def test_http_bad_body_is_422() -> None:
    async with run_exchange(synthetic=False) as sim, aiohttp.ClientSession() as session:
        async with session.post(sim.base_url + "/info", data="{not json") as resp:
            assert resp.status == 422
            assert await resp.text() == "Failed to deserialize the JSON body into the target type"
        async with session.post(sim.base_url + "/info", json={"type": "noSuchThing"}) as resp:
            assert resp.status == 422
        async with session.post(sim.base_url + "/exchange", json={"action": {"type": "order"}}) as resp:
            assert resp.status == 422


async def test_funding_schedule_cancel_and_coarse_book_pushes() -> None:
    user = eth_account.Account.create()
    addr = user.address.lower()
    async with run_exchange({user.address: 100_000.0}, synthetic=False, book_push_s=0.02, block_s=0.01) as sim, \
            aiohttp.ClientSession() as session, session.ws_connect(sim.ws_url) as ws:
        ex = sim.exchange
        ex.config.schedule_cancel_min_ms = 0
        set_book(ex, [(100_000.0, 1.0), (99_950.0, 2.0)], [(100_001.0, 0.5)])
        for sub in ({"type": "userFundings", "user": addr}, {"type": "userEvents", "user": addr},
                    {"type": "l2Book", "coin": "BTC", "nSigFigs": 3}):
            await ws.send_json({"method": "subscribe", "subscription": sub})
        snap, _ = await recv_until(ws, channel("userFundings"))
        assert snap["data"] == {"isSnapshot": True, "user": addr, "fundings": []}
        coarse, _ = await recv_until(ws, channel("l2Book"))
        # 3 significant figures: 100000 stays, 99950 groups down to 99900
        assert coarse["data"]["levels"][0] == [{"px": "100000.0", "sz": "1.0", "n": 1},
                                               {"px": "99900.0", "sz": "2.0", "n": 1}]

        ex.action(signed(user, {"type": "order", "orders": [order_wire("100001", "0.1", tif="Ioc")],
                                "grouping": "na"}))
        ex.pay_funding(0, rate=0.0001)
        sim.server._flush()
        pushed, _ = await recv_until(ws, channel("userFundings"))
        assert pushed["data"]["isSnapshot"] is False
        assert pushed["data"]["fundings"][0]["usdc"] == "-1.000005"  # 0.1 x mid 100000.5 x 0.0001, paid by the long

        ex.accounts[addr].volume = 2_000_000.0
        oid = ex.action(signed(user, {"type": "order", "orders": [order_wire("99000", "0.01")], "grouping": "na"}))[
            "response"]["data"]["statuses"][0]["resting"]["oid"]
        reply = ex.action(signed(user, {"type": "scheduleCancel", "time": ex.now_ms() + 50}))
        assert reply["status"] == "ok", reply
        cancel, _ = await recv_until(ws, lambda m: m["channel"] == "user" and "nonUserCancel" in m["data"])
        assert cancel["data"]["nonUserCancel"] == [{"coin": "BTC", "oid": oid}]
