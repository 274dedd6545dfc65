"""HTTP and WebSocket front of the local exchange: Hyperliquid's ``/info``, ``/exchange`` and ``/ws``.

A block loop (every ``block_s``) advances the background market, runs scheduled cancels and
funding, and pushes WebSocket updates; requests are executed as they arrive. For tests::

    async with run_exchange(accounts={addr: 10_000.0}) as sim:   # port 0: a free port
        Info(sim.base_url, skip_ws=True) ...                      # sim.ws_url, sim.exchange
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from amm500.exchange_sim.exchange import BadRequest, Exchange, SimConfig
from amm500.exchange_sim.faults import Faults
from amm500.exchange_sim.market import MarketFeed, RandomWalkFeed, ReplayFeed, SyntheticFeed
from amm500.exchange_sim.matching import BUY, SELL

log = logging.getLogger(__name__)
BAD_BODY = "Failed to deserialize the JSON body into the target type"
#: What a pathological body can raise inside the handlers (wrong types, huge integers for msgpack,
#: deep nesting): each is answered with 422 like any malformed body.
MALFORMED = (BadRequest, ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError, RecursionError)
SUBSCRIPTION_KEYS: dict[str, tuple[str, ...]] = {
    "allMids": (), "l2Book": ("coin",), "trades": ("coin",), "bbo": ("coin",), "orderUpdates": ("user",),
    "userFills": ("user",), "userEvents": ("user",), "userFundings": ("user",),
}


def _sub_key(sub: dict[str, Any]) -> tuple[str, str]:
    kind = sub["type"]
    keys = SUBSCRIPTION_KEYS[kind]
    value = str(sub[keys[0]]) if keys else ""
    return kind, value.lower() if keys and keys[0] == "user" else value


@dataclass(eq=False)  # hashable by identity: kept in a set
class _Client:
    ws: web.WebSocketResponse
    subs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


class ExchangeServer:
    def __init__(self, exchange: Exchange, feed: MarketFeed | None, faults: Faults | None = None,
                 block_s: float = 0.1, book_push_s: float = 0.5, funding_interval_s: float = 3600.0) -> None:
        self.exchange, self.feed, self.faults = exchange, feed, faults or Faults()
        self.block_s, self.book_push_s, self.funding_interval_s = block_s, book_push_s, funding_interval_s
        self.clients: set[_Client] = set()
        self.started = time.monotonic()
        self.stats = {"http": 0, "rejected_429": 0, "ws_dropped": 0, "stalled_blocks": 0, "muted_frames": 0,
                      "lost_user_pushes": 0, "post_only_refused": 0, "delayed_acks": 0, "nonce_rejects": 0}
        self._last_book_push = 0.0
        self._last_bbo: dict[str, Any] = {}
        self._last_drop = self.started
        self._next_funding = self.started + funding_interval_s
        self.app = web.Application(middlewares=[self._faults_mw])
        self.app.router.add_post("/info", self._http_info)
        self.app.router.add_post("/exchange", self._http_exchange)
        self.app.router.add_get("/ws", self._ws)
        self.app.on_startup.append(self._start_loop)
        self.app.on_cleanup.append(self._stop_loop)
        self._loop_task: asyncio.Task[None] | None = None

    # -- HTTP -------------------------------------------------------------------------------------
    @web.middleware
    async def _faults_mw(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        if request.path == "/ws":
            return await handler(request)
        self.stats["http"] += 1
        delay = self.faults.latency_s(self._elapsed())
        if delay:
            await asyncio.sleep(delay)
        if self.faults.reject():
            self.stats["rejected_429"] += 1
            return web.Response(status=429, text="Too many requests: rate limited by the local exchange (fault).")
        return await handler(request)

    def _elapsed(self) -> float:
        return time.monotonic() - self.started

    def _post_only_refusal(self, envelope: Any) -> dict[str, Any] | None:
        """Inside a post-only-only window, an order action holding a Gtc or Ioc order is refused whole."""
        if not self.faults.post_only_s or not self.faults.post_only(self._elapsed()) or not isinstance(envelope, dict):
            return None
        action = envelope.get("action")
        if not isinstance(action, dict) or action.get("type") not in ("order", "batchModify", "modify"):
            return None
        wires = action.get("orders") if action["type"] == "order" else (
            [m.get("order") for m in action.get("modifies") or [] if isinstance(m, dict)]
            if action["type"] == "batchModify" else [action.get("order")])
        tifs = [((w or {}).get("t") or {}).get("limit", {}).get("tif") if isinstance(w, dict) else None
                for w in wires or []]
        if all(t == "Alo" for t in tifs):
            return None
        self.stats["post_only_refused"] += 1
        error = {"error": "Post only mode: only post-only (Alo) orders are accepted right now. asset=0"}
        return {"status": "ok", "response": {"type": "order", "data": {"statuses": [error] * len(tifs)}}}

    def _act(self, envelope: Any) -> dict[str, Any]:
        """One action, through the post-only-only window; counts nonce rejects."""
        refused = self._post_only_refusal(envelope)
        if refused is not None:
            return refused
        # Sequenced as a venue does it: the market up to this action's arrival first. Between blocks the replay
        # is otherwise behind by up to ``block_s``, and prints from before the order arrived would fill it.
        self._advance_market(self._elapsed())
        result: dict[str, Any] = self.exchange.action(envelope)
        if result.get("status") == "err" and "nonce" in str(result.get("response", "")).lower():
            self.stats["nonce_rejects"] += 1
        return result

    async def _ack_delay(self) -> None:
        """``ack_delay_ms``: the answer waits, the WebSocket pushes of what the action did go first."""
        if self.faults.ack_delay_ms:
            self.stats["delayed_acks"] += 1
            await asyncio.sleep(self.faults.ack_delay_ms / 1000)

    async def _body(self, request: web.Request) -> Any:
        try:
            return json.loads(await request.text())
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            raise BadRequest("not JSON") from None
        except ConnectionResetError:  # the client died mid-request (a SIGKILLed bot): nobody to answer, no traceback
            raise BadRequest("client gone") from None

    def _refuse(self, path: str, exc: BaseException) -> web.Response:
        """A body the handlers cannot use: HTTP 422 like Hyperliquid, one log line, never a 500 + traceback."""
        if not isinstance(exc, BadRequest):
            log.warning("%s: refused a malformed body (%s: %s)", path, type(exc).__name__, str(exc)[:200])
        return web.Response(status=422, text=BAD_BODY)

    async def _http_info(self, request: web.Request) -> web.Response:
        try:
            result = self.exchange.info(await self._body(request))
        except MALFORMED as exc:
            return self._refuse("/info", exc)
        return web.json_response(result)

    async def _http_exchange(self, request: web.Request) -> web.Response:
        try:
            result = self._act(await self._body(request))
        except MALFORMED as exc:
            return self._refuse("/exchange", exc)
        finally:
            self._flush()
        await self._ack_delay()
        return web.json_response(result)

    # -- WebSocket --------------------------------------------------------------------------------
    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        client = _Client(ws)
        self.clients.add(client)
        try:
            await ws.send_str("Websocket connection established.")
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                await self._ws_message(client, msg.data)
        finally:
            self.clients.discard(client)
        return ws

    async def _send(self, client: _Client, channel: str, data: Any) -> None:
        if client.ws.closed:
            return
        if self.faults.mute_s and self.faults.muted(self._elapsed()):  # half-open: the frame is lost
            self.stats["muted_frames"] += 1
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await client.ws.send_str(json.dumps({"channel": channel, "data": data}))

    async def _ws_message(self, client: _Client, text: str) -> None:
        try:
            msg = json.loads(text)
            method = msg.get("method")
        except (ValueError, AttributeError):
            await self._send(client, "error", f"Invalid message: {text[:200]}")
            return
        if method == "ping":
            await self._send(client, "pong", None)
        elif method in ("subscribe", "unsubscribe"):
            await self._ws_subscribe(client, method, msg.get("subscription"))
        elif method == "post":
            await self._ws_post(client, msg)
        else:
            await self._send(client, "error", f"Invalid method: {text[:200]}")

    async def _ws_subscribe(self, client: _Client, method: str, sub: Any) -> None:
        try:
            if not isinstance(sub, dict) or sub.get("type") not in SUBSCRIPTION_KEYS:
                raise KeyError
            key = _sub_key(sub)
        except KeyError:
            await self._send(client, "error", f"Invalid subscription {json.dumps(sub)}")
            return
        if method == "unsubscribe":
            if client.subs.pop(key, None) is None:
                await self._send(client, "error", f"Already unsubscribed: {json.dumps(sub)}")
                return
            await self._send(client, "subscriptionResponse", {"method": method, "subscription": sub})
            return
        if key in client.subs:
            await self._send(client, "error", f"Already subscribed: {json.dumps(sub)}")
            return
        client.subs[key] = sub
        await self._send(client, "subscriptionResponse", {"method": method, "subscription": sub})
        await self._snapshot(client, key)

    async def _snapshot(self, client: _Client, key: tuple[str, str]) -> None:
        kind, value = key
        ex = self.exchange
        if kind == "l2Book":
            n_sig = client.subs[key].get("nSigFigs")
            await self._send(client, "l2Book", ex.l2_book(0, n_sig if n_sig in (2, 3, 4, 5) else None))
        elif kind == "bbo":
            await self._send(client, "bbo", self._bbo())
        elif kind == "allMids":
            await self._send(client, "allMids", {"mids": ex.all_mids()})
        elif kind == "userFills":
            account = ex.accounts.get(value)
            fills = list(reversed(account.fills[-2000:])) if account else []
            await self._send(client, "userFills", {"isSnapshot": True, "user": value, "fills": fills})
        elif kind == "userFundings":
            account = ex.accounts.get(value)
            fundings = [dict(f["delta"], time=f["time"]) for f in account.fundings] if account else []
            await self._send(client, "userFundings", {"isSnapshot": True, "user": value, "fundings": fundings})

    async def _ws_post(self, client: _Client, msg: dict[str, Any]) -> None:
        req_id = msg.get("id")
        request = msg.get("request")
        delay = self.faults.latency_s(self._elapsed())
        if delay:
            await asyncio.sleep(delay)
        try:
            if not isinstance(request, dict) or request.get("type") not in ("info", "action"):
                raise BadRequest("request.type must be info or action")
            if request["type"] == "info":
                response = {"type": "info", "payload": {"type": request["payload"].get("type"),
                                                        "data": self.exchange.info(request["payload"])}}
            else:
                response = {"type": "action", "payload": self._act(request.get("payload"))}
                self._flush()
                await self._ack_delay()
        except MALFORMED as exc:
            self._refuse("ws post", exc)
            response = {"type": "error", "payload": f"422 {BAD_BODY}"}
        await self._send(client, "post", {"id": req_id, "response": response})

    # -- block loop -------------------------------------------------------------------------------
    def _bbo(self) -> dict[str, Any]:
        book = self.exchange.l2_book(0, n=1)
        bids, asks = book["levels"]
        return {"coin": book["coin"], "time": book["time"], "bbo": [bids[0] if bids else None,
                                                                     asks[0] if asks else None]}

    def _route(self, channel: str, key: str, data: Any) -> list[tuple[_Client, str, Any]]:
        """Which clients get an exchange outbox item, on which WS channel, with which payload."""
        out: list[tuple[_Client, str, Any]] = []
        wants = {"trades": "trades", "orderUpdates": "orderUpdates", "userFills": "userFills", "user": "userEvents",
                 "userFundings": "userFundings"}[channel]
        payload = data
        if channel == "userFills":
            payload = {"isSnapshot": False, "user": key, "fills": data}
        elif channel == "userFundings":
            payload = {"isSnapshot": False, "user": key, "fundings": data}
        if channel in ("orderUpdates", "userFills", "user") and self.faults.lose():
            self.stats["lost_user_pushes"] += 1
            return out
        for client in self.clients:
            if (wants, key) in client.subs:
                out.append((client, "user" if channel == "user" else channel, payload))
        return out

    def _flush(self) -> None:
        """Hand the exchange's outbox to the WebSocket clients (sent in the background, in order)."""
        items = self.exchange.outbox
        self.exchange.outbox = []
        sends = [s for item in items for s in self._route(*item)]
        if self.faults.reorder:
            sends.reverse()
        if sends:
            asyncio.get_running_loop().create_task(self._send_all(sends))

    async def _send_all(self, sends: list[tuple[_Client, str, Any]]) -> None:
        for client, channel, data in sends:
            await self._send(client, channel, data)

    async def _push_book(self) -> None:
        ex = self.exchange
        if not ex.book_dirty[0]:
            return
        ex.book_dirty[0] = False
        book = ex.l2_book(0)
        coarse: dict[int, dict[str, Any]] = {}  # nSigFigs -> aggregated book, built once per push
        mids = {"mids": ex.all_mids()}
        bbo = self._bbo()
        bbo_changed = bbo["bbo"] != self._last_bbo.get("bbo")
        self._last_bbo = bbo
        for client in list(self.clients):
            sub = client.subs.get(("l2Book", book["coin"]))
            if sub is not None:
                n_sig = sub.get("nSigFigs")
                if n_sig in (2, 3, 4, 5):
                    if n_sig not in coarse:
                        coarse[n_sig] = ex.l2_book(0, n_sig)
                    await self._send(client, "l2Book", coarse[n_sig])
                else:
                    await self._send(client, "l2Book", book)
            if ("allMids", "") in client.subs:
                await self._send(client, "allMids", mids)
            if bbo_changed and ("bbo", book["coin"]) in client.subs:
                await self._send(client, "bbo", bbo)

    async def _drop_all(self) -> None:
        for client in list(self.clients):
            self.stats["ws_dropped"] += 1
            await client.ws.close(code=1012, message=b"dropped by fault injection")

    async def step(self) -> None:
        """One block: market, housekeeping, funding, faults, pushes."""
        now = time.monotonic()
        elapsed = now - self.started
        stalled = self.faults.stalled(elapsed)
        if stalled:
            self.stats["stalled_blocks"] += 1
        self._advance_market(elapsed)
        self.exchange.tick()
        if now >= self._next_funding:
            self._next_funding += self.funding_interval_s
            self.exchange.pay_funding(0)
        self._flush()
        if not stalled and now - self._last_book_push >= self.book_push_s:
            self._last_book_push = now
            await self._push_book()
        if self.faults.drop_ws is not None and now - self._last_drop >= self.faults.drop_ws:
            self._last_drop = now
            await self._drop_all()

    def _advance_market(self, elapsed_s: float) -> None:
        """The background market's rows due by now, unless a fault stalls the feed."""
        if self.feed is not None and not self.faults.stalled(elapsed_s):
            self.exchange.apply_market(self.feed.advance(self.exchange.now_ms() * 1_000_000))

    async def _run_loop(self) -> None:
        while True:
            try:
                await self.step()
            except Exception:  # the exchange must keep running; the error is a bug to read in the log
                log.exception("exchange block failed")
            await asyncio.sleep(self.block_s)

    async def _start_loop(self, _app: web.Application) -> None:
        self.started = time.monotonic()
        self._last_drop = self.started
        self._next_funding = self.started + self.funding_interval_s
        self._loop_task = asyncio.get_running_loop().create_task(self._run_loop())

    async def _stop_loop(self, _app: web.Application) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for client in list(self.clients):
            await client.ws.close()


@dataclass
class RunningExchange:
    base_url: str  # http://127.0.0.1:PORT, what the SDK's Info/Exchange take
    ws_url: str  # ws://127.0.0.1:PORT/ws
    exchange: Exchange  # the state, for tests that need to fund accounts or pay funding
    server: ExchangeServer


def make_feed(market: str, start_ns: int, *, data: Path | None = None, speed: float = 1.0, seed: int = 0,
              loop: bool = False) -> MarketFeed | None:
    """``market``: "replay" (of ``data``), "synthetic" (the generator), "random-walk" or "none"."""
    if market == "replay":
        if data is None:
            raise ValueError("a replay needs a data directory")
        return ReplayFeed(data, start_ns, speed, loop)
    if market == "synthetic":
        return SyntheticFeed(start_ns, speed, seed)
    if market == "random-walk":
        return RandomWalkFeed(seed=seed)
    if market == "none":
        return None
    raise ValueError(f"market {market!r} must be replay, synthetic, random-walk or none")


@contextlib.asynccontextmanager
async def run_exchange(
    accounts: dict[str, float] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    data: Path | None = None,
    synthetic: bool = True,
    speed: float = 1.0,
    seed: int = 0,
    faults: Faults | str | None = None,
    config: SimConfig | None = None,
    block_s: float = 0.05,
    book_push_s: float = 0.5,
    funding_interval_s: float | None = None,
    feed: MarketFeed | None = None,
    loop: bool = False,
    market: str | None = None,
) -> AsyncIterator[RunningExchange]:
    """Start the local exchange in this event loop (port 0: any free port) and stop it on exit.

    The background market is ``feed`` if given, else a replay of ``data`` at ``speed``, else
    ``market`` ("synthetic": the generator, started in a child process; "random-walk"; "none"),
    else the random-walk book when ``synthetic`` (the fast default for tests) or an empty book.
    Funding is paid every market hour, i.e. every ``3600 / speed`` s unless ``funding_interval_s``
    says otherwise.
    """
    cfg = config or SimConfig()
    if accounts:
        cfg.accounts.update(accounts)
    exchange = Exchange(cfg)
    if feed is None:
        if market is None:
            market = "replay" if data is not None else "random-walk" if synthetic else "none"
        feed = make_feed(market, exchange.now_ms() * 1_000_000, data=data, speed=speed, seed=seed, loop=loop)
    if isinstance(faults, str):
        faults = Faults.parse(faults)
    server = ExchangeServer(exchange, feed, faults, block_s, book_push_s,
                            funding_interval_s if funding_interval_s is not None else 3600.0 / speed)
    if feed is not None:  # the book is there before the first request
        exchange.apply_market(feed.advance(exchange.now_ms() * 1_000_000))
        exchange.outbox.clear()
    runner = web.AppRunner(server.app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    base = f"http://{host}:{bound}"
    try:
        yield RunningExchange(base, f"ws://{host}:{bound}/ws", exchange, server)
    finally:
        await runner.cleanup()
        close = getattr(feed, "close", None)
        if callable(close):
            close()


@contextlib.contextmanager
def exchange_thread(accounts: dict[str, float] | None = None, **kwargs: Any) -> Iterator[RunningExchange]:
    """:func:`run_exchange` on its own event loop in a daemon thread, for synchronous callers (the SDK).

    Touch ``RunningExchange.exchange`` from the calling thread only through ``call(...)``-free reads
    or while no request is in flight; the state is not locked.
    """
    ready: queue.Queue[RunningExchange | BaseException] = queue.Queue()
    stop: asyncio.Event | None = None
    loop = asyncio.new_event_loop()

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        try:
            async with run_exchange(accounts, **kwargs) as running:
                ready.put(running)
                await stop.wait()
        except BaseException as exc:
            ready.put(exc)
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True, name="exchange-sim")
    thread.start()
    got = ready.get(timeout=30)
    if isinstance(got, BaseException):
        raise got
    try:
        yield got
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()


__all__ = ["BUY", "SELL", "ExchangeServer", "RunningExchange", "exchange_thread", "run_exchange"]
