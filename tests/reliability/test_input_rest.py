"""Issue 20 item 5: REST answers fuzzed, over real HTTP on 127.0.0.1, into every account and market read.

A tiny server answers each ``/info`` type with a hypothesis-made answer (a valid one mutated, random
JSON, non-JSON, NaN, an HTTP error). Every read the engine makes must either return usable values or
raise one of the venue's own errors (what the engine's error handling knows), never a bare TypeError.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from amm500.venues.errors import VenueError
from amm500.venues.hyperliquid import messages as m
from amm500.venues.hyperliquid.client import HyperliquidClient
from reliability.fuzz import fuzz
from reliability.test_input_messages import (
    BOOK,
    CLEARING,
    FILL,
    FUNDING,
    ORDER,
    PARSERS,
    check_usable,
    json_values,
    mutated,
)

KEY = "0x" + "7d" * 32
MASTER = Account.from_key("0x" + "7e" * 32).address.lower()
VALID: dict[str, Any] = {
    "l2Book": BOOK, "clearinghouseState": CLEARING, "openOrders": [ORDER], "userFillsByTime": [FILL],
    "userFunding": FUNDING, "userRateLimit": PARSERS["userRateLimit"][0],
    "metaAndAssetCtxs": [{"universe": [{"name": "BTC"}]}, [{"funding": "0.0000125", "markPx": "83767.5"}]],
    "userRole": {"role": "agent", "data": {"user": MASTER}},
}


def answers() -> st.SearchStrategy[tuple[int, str]]:
    """(HTTP status, body) for one info type."""
    def of(kind: str) -> st.SearchStrategy[tuple[int, str]]:
        body = st.one_of(mutated(VALID[kind]), json_values).map(lambda v: json.dumps(v, allow_nan=True))
        return st.one_of(body.map(lambda b: (200, b)), st.text(max_size=20).map(lambda b: (200, b)),
                         st.sampled_from([(503, "busy"), (500, "<html>oops"), (404, "")]))
    return st.fixed_dictionaries({k: of(k) for k in VALID})  # type: ignore[return-value]


async def serve(canned: dict[str, tuple[int, str]]) -> tuple[web.AppRunner, str]:
    async def info(req: web.Request) -> web.Response:
        kind = (await req.json()).get("type")
        status, body = canned.get(kind, (200, "null"))
        return web.Response(status=status, text=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/info", info)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def every_read(canned: dict[str, tuple[int, str]]) -> list[tuple[str, Any]]:
    runner, url = await serve(canned)
    client = HyperliquidClient(url, "ws://127.0.0.1:9/ws", private_key=KEY, account_address=MASTER, timeout_s=2.0)
    client.asset = m.parse_meta({"universe": [{"name": "BTC", "szDecimals": 5, "maxLeverage": 40}]})["BTC"]
    reads: dict[str, Callable[[], Awaitable[Any]]] = {
        "l2Book": client.resync_book, "clearinghouseState": client.position, "openOrders": client.open_orders,
        "userFillsByTime": lambda: client.fills_since(0), "userFunding": lambda: client.fundings_since(0),
        "userRateLimit": client.refresh_rate_limit, "metaAndAssetCtxs": client.asset_context,
        "userRole": client.check_wallet,
    }
    got: list[tuple[str, Any]] = []
    try:
        for name, read in reads.items():
            try:
                value = await read()
                if value is not None:
                    got.append((name, value))
            except VenueError as exc:
                assert str(exc) and "Traceback" not in str(exc)
        if client.book_time_ms:
            got.append(("l2Book", m.L2Book("BTC", client.book_time_ms, client.book)))
    finally:
        await client.rest.close()
        await runner.cleanup()
    return got


@fuzz(0.3)
@given(answers())
def test_every_rest_read_returns_usable_values_or_a_venue_error(canned: dict[str, tuple[int, str]]) -> None:
    for name, value in asyncio.run(every_read(canned)):
        if name == "metaAndAssetCtxs":
            funding, mark = value
            assert (math.isnan(funding) or math.isfinite(funding)) and (math.isnan(mark) or mark > 0), value
            assert not math.isinf(mark), value
        elif name in ("clearinghouseState", "userRateLimit", "userFunding"):
            check_usable(name, value)
        elif name == "openOrders":
            check_usable("openOrders", value)
        elif name == "userFillsByTime":
            check_usable("userFillsByTime", value)
        elif name == "l2Book":
            check_usable("l2Book", value)


def test_a_role_answer_with_junk_data_is_a_venue_error_not_a_crash() -> None:
    """Bug B4: ``userRole`` with ``data`` not an object raised AttributeError out of the wallet check."""
    good = {k: (200, json.dumps(v)) for k, v in VALID.items()}
    asyncio.run(every_read({**good, "userRole": (200, json.dumps({"role": "agent", "data": ["x"]}))}))


def test_an_infinite_mark_is_not_handed_on() -> None:
    """Bug B5: ``markPx: "inf"`` came back as the mark; the ledger's cash then became NaN."""
    ctx = [{"universe": [{"name": "BTC"}]}, [{"funding": "1e400", "markPx": "Infinity"}]]
    good = {k: (200, json.dumps(v)) for k, v in VALID.items()}
    got = dict(asyncio.run(every_read({**good, "metaAndAssetCtxs": (200, json.dumps(ctx))})))
    funding, mark = got["metaAndAssetCtxs"]
    assert math.isnan(funding) and math.isnan(mark)


def test_a_book_for_another_coin_is_refused() -> None:
    """Bug B6: the REST resync took whatever coin's book came back as this coin's (the socket checked)."""
    good = {k: (200, json.dumps(v)) for k, v in VALID.items()}
    got = dict(asyncio.run(every_read({**good, "l2Book": (200, json.dumps({**BOOK, "coin": "ETH"}))})))
    assert "l2Book" not in got
