"""Shared pieces of the local-exchange tests: a frozen-clock exchange, hand-built books, signed envelopes."""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np
from eth_account.signers.local import LocalAccount
from hyperliquid.utils.signing import sign_l1_action

from amm500.data.schema import BOOK_LEVEL, TRADE, make_events
from amm500.exchange_sim.exchange import Exchange, SimConfig

NOW_MS = int(time.time() * 1000)
_nonces = itertools.count(NOW_MS)


def next_nonce() -> int:
    return next(_nonces)


def frozen_exchange(accounts: dict[str, float], **config: Any) -> Exchange:
    """An exchange whose clock stands still at NOW_MS (deterministic timestamps, valid nonces)."""
    return Exchange(SimConfig(accounts=dict(accounts), **config), clock=lambda: NOW_MS)


def set_book(ex: Exchange, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> None:
    """Background levels, as the market feed would state them."""
    rows = [(1, px, sz) for px, sz in bids] + [(-1, px, sz) for px, sz in asks]
    market(ex, [(BOOK_LEVEL, side, px, sz) for side, px, sz in rows])


def market_trade(ex: Exchange, side: int, px: float, sz: float) -> None:
    market(ex, [(TRADE, side, px, sz)])


def market(ex: Exchange, rows: list[tuple[int, int, float, float]]) -> None:
    ts = np.full(len(rows), NOW_MS * 1_000_000, dtype=np.int64)
    kind, side, px, sz = (np.array(c) for c in zip(*rows, strict=True))
    ex.apply_market(make_events(ts, ts, kind, side, px, sz))


def order_wire(px: str, sz: str, is_buy: bool = True, tif: str = "Gtc", reduce_only: bool = False,
               cloid: str | None = None) -> dict[str, Any]:
    wire: dict[str, Any] = {"a": 0, "b": is_buy, "p": px, "s": sz, "r": reduce_only, "t": {"limit": {"tif": tif}}}
    if cloid is not None:
        wire["c"] = cloid
    return wire


def signed(wallet: LocalAccount, action: dict[str, Any], nonce: int | None = None, vault: str | None = None,
           expires: int | None = None) -> dict[str, Any]:
    """The /exchange envelope the SDK would send (testnet-style signature, as for any non-mainnet URL)."""
    nonce = next_nonce() if nonce is None else nonce
    signature = sign_l1_action(wallet, action, vault, nonce, expires, False)
    return {"action": action, "nonce": nonce, "signature": signature, "vaultAddress": vault, "expiresAfter": expires}


def place(ex: Exchange, wallet: LocalAccount, *orders: dict[str, Any]) -> list[Any]:
    reply = ex.action(signed(wallet, {"type": "order", "orders": list(orders), "grouping": "na"}))
    assert reply["status"] == "ok", reply
    return list(reply["response"]["data"]["statuses"])
