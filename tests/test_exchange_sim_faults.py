"""Each fault flag is observable from a client: dropped sockets, latency, 429s, a frozen feed."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from amm500.exchange_sim.faults import Faults, FaultSpecError
from amm500.exchange_sim.server import run_exchange


def test_parse_and_validate() -> None:
    f = Faults.parse("drop_ws=2.5, latency_ms=40,reject_rate=0.25,stall_s=1,stall_every=3,seed=9")
    assert (f.drop_ws, f.latency_ms, f.reject_rate, f.stall_s, f.stall_every, f.seed) == (2.5, 40, 0.25, 1, 3, 9)
    assert Faults.parse(None) == Faults.parse("")
    with pytest.raises(FaultSpecError, match="reject_rate must be in"):
        Faults.parse("reject_rate=2")
    with pytest.raises(FaultSpecError, match=r"latency_ms='x' is not valid"):
        Faults.parse("latency_ms=x")
    with pytest.raises(FaultSpecError, match="unknown entry 'bogus'"):
        Faults.parse("bogus")


def test_stall_schedule() -> None:
    f = Faults(stall_s=1.0, stall_every=3.0)
    assert [f.stalled(t) for t in (0.0, 2.9, 3.0, 3.9, 4.0, 6.9, 7.0, 7.5, 8.0)] == [
        False, False, True, True, False, False, True, True, False]


async def test_drop_ws_closes_connections() -> None:
    async with run_exchange(synthetic=False, faults="drop_ws=0.3") as sim, aiohttp.ClientSession() as session:
        async with session.ws_connect(sim.ws_url) as ws:
            async with asyncio.timeout(5):
                while True:
                    msg = await ws.receive()
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                        break
            assert ws.close_code == 1012
        assert sim.server.stats["ws_dropped"] >= 1


async def test_latency_delays_http() -> None:
    async with run_exchange(synthetic=False, faults="latency_ms=150") as sim, aiohttp.ClientSession() as session:
        start = time.perf_counter()
        async with session.post(sim.base_url + "/info", json={"type": "meta"}) as resp:
            assert resp.status == 200
        assert time.perf_counter() - start >= 0.15  # a lower bound: the delay is a sleep before handling


async def test_reject_rate_answers_429() -> None:
    async with run_exchange(synthetic=False, faults="reject_rate=0.5,seed=3") as sim, \
            aiohttp.ClientSession() as session:
        codes = []
        for _ in range(40):
            async with session.post(sim.base_url + "/info", json={"type": "meta"}) as resp:
                codes.append(resp.status)
        assert set(codes) == {200, 429}
        assert codes.count(429) == sim.server.stats["rejected_429"]
    async with run_exchange(synthetic=False, faults="reject_rate=1") as sim, aiohttp.ClientSession() as session, \
            session.post(sim.base_url + "/info", json={"type": "meta"}) as resp:
        assert resp.status == 429


async def test_stall_freezes_the_feed() -> None:
    async with run_exchange(synthetic=True, faults="stall_s=60,stall_every=0.3", block_s=0.02,
                            book_push_s=0.02) as sim, aiohttp.ClientSession() as session:
        async def book() -> object:
            async with session.post(sim.base_url + "/info", json={"type": "l2Book", "coin": "BTC"}) as resp:
                data = await resp.json()
                return data["levels"]
        await asyncio.sleep(0.5)  # now inside the stall (0.3 s after start, for 60 s)
        frozen = await book()
        await asyncio.sleep(1.2)  # the random walk would restate its 20 levels twice in this time
        assert await book() == frozen
        assert sim.server.stats["stalled_blocks"] > 0
