"""Every venue error is one of the two kinds a driver or supervisor acts on: transient or fatal."""

from __future__ import annotations

import asyncio
import socket

import pytest

from amm500.venues.errors import FatalError, RefusedError, ThrottledError, TransientError, VenueError, error_kind
from amm500.venues.hyperliquid import errors as hl
from amm500.venues.hyperliquid.client import HyperliquidClient


def _all_subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _all_subclasses(sub)
    return out


def test_every_hyperliquid_error_has_exactly_one_kind() -> None:
    classes = _all_subclasses(hl.HyperliquidError)
    assert {hl.WalletError, hl.TransportError, hl.ExchangeError, hl.RateLimited, hl.MessageError} <= classes
    for cls in classes:
        assert issubclass(cls, TransientError) != issubclass(cls, FatalError), cls
    assert issubclass(hl.RateLimited, ThrottledError) and issubclass(hl.ExchangeError, RefusedError)
    assert error_kind(hl.WalletError("x")) == "fatal" and hl.WalletError.fatal
    assert error_kind(hl.MessageError("a.b", "bad")) == "transient"
    assert error_kind(ValueError("a bug")) == "fatal"  # not a venue error: nothing to retry
    assert issubclass(hl.HyperliquidError, VenueError)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_real_failures_arrive_with_their_kind() -> None:
    async def go() -> None:
        port = _closed_port()
        client = HyperliquidClient(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws", timeout_s=2.0)
        try:
            with pytest.raises(FatalError, match="private_key"):  # no key: nothing can be signed
                await client.act({"type": "noop"})
            with pytest.raises(TransientError):  # nothing listens: no answer, retry later
                await client.rest.info({"type": "meta"})
        finally:
            await client.close()

    asyncio.run(go())
