"""asyncio client for Hyperliquid's two REST paths, ``POST /info`` and ``POST /exchange``.

Every request waits for room in the IP weight budget, is timed into the latency recorder, and maps
failures onto :mod:`errors`: 429 -> :class:`RateLimited`, other 4xx/5xx -> :class:`ExchangeError`,
no answer -> :class:`TransportError`, an answer that is not JSON -> :class:`MessageError`.
"""

from __future__ import annotations

import asyncio
import json
import time
from types import TracebackType
from typing import Any

import aiohttp
import orjson

from amm500.obs.latency import LatencyRecorder
from amm500.venues.hyperliquid.errors import ExchangeError, MessageError, RateLimited, TransportError
from amm500.venues.hyperliquid.ratelimit import WeightBudget, exchange_weight, info_extra_weight, info_weight

_JSON = {"Content-Type": "application/json"}


def dumps(obj: Any) -> bytes:
    """The request bytes: compact JSON (the body is not part of the signature, only the action is).

    orjson: a signed 20-order envelope serializes in ~4 us against ~60 us with ``json`` (this runs
    on every requote). NumPy scalars are accepted, as ``json`` accepted NumPy floats.
    """
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)


class RestClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        budget: WeightBudget | None = None,
        latency: LatencyRecorder | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.budget = budget or WeightBudget()
        self.latency = latency
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RestClient:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=16, keepalive_timeout=60, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(timeout=self.timeout, connector=connector)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, path: str, body: bytes, kind: str) -> Any:
        if self._session is None:
            await self.start()
        assert self._session is not None
        t0 = time.perf_counter_ns()
        try:
            async with self._session.post(self.base_url + path, data=body, headers=_JSON) as resp:
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise TransportError(f"POST {path}: no answer from {self.base_url} ({type(exc).__name__})") from None
        if self.latency is not None:
            self.latency.rtt("rest", kind, (time.perf_counter_ns() - t0) / 1e9)
        if status == 429:
            raise RateLimited(f"POST {path}: HTTP 429 rate limited ({text[:200]})", status)
        if status != 200:
            raise ExchangeError(f"POST {path}: HTTP {status}: {text[:200]}", status)
        try:
            return json.loads(text)
        except ValueError:
            raise MessageError(path, f"answer is not JSON: {text[:80]!r}") from None

    async def info(self, body: dict[str, Any], retries: int = 4) -> Any:
        """A read; retried with backoff on HTTP 429 (reads are idempotent, actions are not retried here)."""
        data = dumps(body)
        for attempt in range(retries + 1):
            await self.budget.acquire(info_weight(body))
            try:
                answer = await self._post("/info", data, str(body.get("type")))
            except RateLimited:
                if attempt == retries:
                    raise
                await asyncio.sleep(0.05 * 2**attempt)
                continue
            self.budget.spend(info_extra_weight(body, answer))
            return answer
        raise AssertionError("unreachable")

    async def exchange(self, envelope: dict[str, Any] | bytes, n_items: int = 1) -> Any:
        """POST a signed envelope (dict, or bytes already serialized by the caller)."""
        await self.budget.acquire(exchange_weight(n_items))
        body = envelope if isinstance(envelope, bytes) else dumps(envelope)
        return await self._post("/exchange", body, "exchange")

    # ---- typed /info queries (answers validated by the caller with messages.parse_*) -------------

    async def meta(self) -> Any:
        return await self.info({"type": "meta"})

    async def l2_book(self, coin: str) -> Any:
        return await self.info({"type": "l2Book", "coin": coin})

    async def candle_snapshot(self, coin: str, interval: str, start_ms: int, end_ms: int) -> Any:
        req = {"coin": coin, "interval": interval, "startTime": start_ms, "endTime": end_ms}
        return await self.info({"type": "candleSnapshot", "req": req})

    async def clearinghouse_state(self, user: str) -> Any:
        return await self.info({"type": "clearinghouseState", "user": user})

    async def open_orders(self, user: str) -> Any:
        return await self.info({"type": "openOrders", "user": user})

    async def user_fills(self, user: str) -> Any:
        return await self.info({"type": "userFills", "user": user})

    async def funding_history(self, coin: str, start_ms: int, end_ms: int | None = None) -> Any:
        body: dict[str, Any] = {"type": "fundingHistory", "coin": coin, "startTime": start_ms}
        if end_ms is not None:
            body["endTime"] = end_ms
        return await self.info(body)

    async def user_rate_limit(self, user: str) -> Any:
        return await self.info({"type": "userRateLimit", "user": user})

    async def user_role(self, user: str) -> Any:
        return await self.info({"type": "userRole", "user": user})
