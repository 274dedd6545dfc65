"""HyperliquidClient: REST + WebSocket + signer for one coin and one account.

It owns the local copy of the book (validated ``l2Book`` snapshots in a (4, BOOK_DEPTH) array),
forwards account events (order updates, fills, exchange-side cancels) to whoever listens, and
sends signed actions over whichever route is currently faster: a WebSocket ``post`` when the socket
is up and its rolling median round trip beats REST's, REST otherwise or when the socket is down.
A post that dies with the socket is resent over REST as the *same* signed envelope (same nonce), so
the exchange executes it at most once.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from amm500.config import NetworkConfig
from amm500.core.api import BOOK_DEPTH
from amm500.obs.latency import LatencyRecorder
from amm500.venues.hyperliquid import messages as m
from amm500.venues.hyperliquid.errors import (
    ExchangeError,
    HyperliquidError,
    MessageError,
    TransportError,
    WalletError,
)
from amm500.venues.hyperliquid.execution import ActionVenue
from amm500.venues.hyperliquid.ratelimit import AddressBudget, WeightBudget, exchange_weight
from amm500.venues.hyperliquid.rest import RestClient
from amm500.venues.hyperliquid.signing import Signer, describe_signer_error, is_mainnet_url, update_leverage_action
from amm500.venues.hyperliquid.ws import POST_SILENCE_S, WsClient

log = logging.getLogger(__name__)

#: a book stamped further ahead of this machine's clock is refused: kept, it would outrank every real
#: snapshot after it (an older one never replaces a newer one) and freeze the book while it looks fresh
MAX_BOOK_AHEAD_MS = 10_000


@dataclass
class Handlers:
    """Callbacks for pushed events; all optional, all synchronous (they run on the socket's task)."""

    on_book: Callable[[m.L2Book, int], None] | None = None  # (book, receive time ns)
    on_trades: Callable[[list[m.Trade]], None] | None = None
    on_bbo: Callable[[m.Bbo], None] | None = None
    on_order_updates: Callable[[list[m.OrderUpdate]], None] | None = None
    on_fills: Callable[[list[m.Fill], bool], None] | None = None  # (fills, is_snapshot)
    on_user_event: Callable[[m.UserEvent], None] | None = None
    on_reconnect: Callable[[], Any] | None = None  # awaited when it returns an awaitable


class HyperliquidClient(ActionVenue):
    def __init__(
        self,
        base_url: str,
        ws_url: str,
        coin: str = "BTC",
        *,
        private_key: str | None = None,
        account_address: str | None = None,
        vault_address: str | None = None,
        handlers: Handlers | None = None,
        latency: LatencyRecorder | None = None,
        use_ws_post: bool = True,
        timeout_s: float = 10.0,
        ping_interval_s: float = 30.0,
        feed_stale_s: float | None = 10.0,
        max_backoff_s: float = 5.0,
        subscribe_bbo: bool = False,
    ) -> None:
        self.coin = coin
        self.latency = latency or LatencyRecorder()
        self.handlers = handlers or Handlers()
        self.use_ws_post = use_ws_post
        self.ip_budget = WeightBudget()
        self.address_budget = AddressBudget()
        self.rest = RestClient(base_url, timeout_s=timeout_s, budget=self.ip_budget, latency=self.latency)
        self.signer = (
            Signer(private_key, is_mainnet=is_mainnet_url(base_url), vault_address=vault_address)
            if private_key
            else None
        )
        self.account_address = account_address.lower() if account_address else None
        self.vault_address = vault_address.lower() if vault_address else None
        self.ws = WsClient(
            ws_url,
            self._on_ws,
            on_connect=self._on_connect,
            ping_interval_s=ping_interval_s,
            feed_stale_s=feed_stale_s,
            max_backoff_s=max_backoff_s,
            post_timeout_s=timeout_s,
            latency=self.latency,
        )
        self.subscribe_bbo = subscribe_bbo
        self.asset: m.AssetInfo | None = None
        self.book = np.zeros((4, BOOK_DEPTH))
        self.book_time_ms = 0
        self.book_rx_ns = 0
        self.resyncs = 0
        self._connected_once = False
        self._tick_perf_ns = 0

    @classmethod
    def from_config(
        cls, network: NetworkConfig, coin: str, private_key: str | None, **kwargs: Any
    ) -> HyperliquidClient:
        api, ws = network.urls()
        return cls(
            api,
            ws,
            coin,
            private_key=private_key,
            account_address=network.account_address,
            vault_address=network.vault_address,
            timeout_s=network.request_timeout_s,
            ping_interval_s=network.ws_ping_interval_s,
            max_backoff_s=network.reconnect_max_backoff_s,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"HyperliquidClient({self.rest.base_url}, coin={self.coin}, user={self.user}, signer={self.signer!r})"

    @property
    def user(self) -> str | None:
        """The address whose orders and positions we read: vault > account (master) > the key's own."""
        if self.vault_address:
            return self.vault_address
        if self.account_address:
            return self.account_address
        return self.signer.address if self.signer else None

    # ---- lifecycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.rest.start()
        assets = m.parse_meta(await self.rest.meta())
        if self.coin not in assets:
            raise HyperliquidError(f"trading.symbol = {self.coin!r}: not listed in the exchange's meta")
        self.asset = assets[self.coin]
        await self.check_wallet()
        await self.ws.subscribe({"type": "l2Book", "coin": self.coin})
        await self.ws.subscribe({"type": "trades", "coin": self.coin})
        if self.subscribe_bbo:
            await self.ws.subscribe({"type": "bbo", "coin": self.coin})
        if self.user:
            for kind in ("orderUpdates", "userFills", "userEvents"):
                await self.ws.subscribe({"type": kind, "user": self.user})
        await self.resync_book()
        await self.ws.start()

    async def close(self) -> None:
        await self.ws.close()
        await self.rest.close()

    async def check_wallet(self) -> None:
        """Fail early, naming the wrong address, when the key cannot act for the configured account."""
        if self.signer is None or self.user is None or self.user == self.signer.address:
            return
        try:
            role = await self.rest.user_role(self.signer.address)
        except (ExchangeError, MessageError):
            return  # the venue has no userRole (e.g. older local exchange); the first action will tell
        if not isinstance(role, dict):
            return
        kind = role.get("role")
        data = role.get("data")
        master = str(data.get("user", "")).lower() if isinstance(data, dict) else ""
        if kind == "agent" and self.account_address and master and master != self.account_address:
            raise WalletError(
                f"network.account_address = {self.account_address}: the key is an API wallet of {master}, "
                "not of this account"
            )
        if kind == "user" and self.account_address:
            raise WalletError(
                f"network.account_address = {self.account_address}: the key belongs to the account "
                f"{self.signer.address} itself, not to an API wallet of this account; fix the key or the address"
            )
        if kind == "missing":
            raise WalletError(
                f"the key's address {self.signer.address} is neither a user nor an approved API wallet on "
                f"{self.rest.base_url}: check the key, or approve it as an agent of network.account_address"
            )

    # ---- market data --------------------------------------------------------------------------------

    async def resync_book(self) -> None:
        """Replace the local book with a REST snapshot (after connect and every reconnect)."""
        snap = m.parse_l2book(await self.rest.l2_book(self.coin))
        if snap.coin != self.coin:
            raise MessageError("l2Book.coin", f"asked for {self.coin}, got {snap.coin[:20]!r}")
        self._set_book(snap, time.time_ns())
        self.resyncs += 1

    def _set_book(self, snap: m.L2Book, rx_ns: int) -> None:
        ahead_ms = snap.time_ms - rx_ns // 1_000_000
        if ahead_ms > MAX_BOOK_AHEAD_MS:
            raise MessageError("l2Book.time", f"{ahead_ms / 1000:.0f} s ahead of this machine's clock (check its "
                                                f"time sync; at most {MAX_BOOK_AHEAD_MS / 1000:g} s is accepted)")
        if snap.time_ms < self.book_time_ms:
            return  # an older snapshot (REST racing the socket) never overwrites a newer one
        self.book[:] = snap.book
        self.book_time_ms = snap.time_ms
        self.book_rx_ns = rx_ns
        if self.handlers.on_book is not None:
            self.handlers.on_book(snap, rx_ns)

    async def _on_connect(self) -> None:
        if self._connected_once:
            log.info("WebSocket reconnected: resyncing the book and reconciling orders")
            await self.resync_book()
            if self.handlers.on_reconnect is not None:
                result = self.handlers.on_reconnect()
                if hasattr(result, "__await__"):
                    await result
        self._connected_once = True

    def _age(self, channel: str, t_ms: int, rx_ns: int) -> None:
        self.latency.message_age(channel, max(0.0, rx_ns / 1e9 - t_ms / 1e3))

    def _on_ws(self, channel: str, data: Any, rx_ns: int) -> None:
        """Parse and route one pushed message; MessageError propagates to the socket (logged, skipped)."""
        h = self.handlers
        if channel == "l2Book":
            snap = m.parse_l2book(data)
            if snap.coin != self.coin:
                return
            self._set_book(snap, rx_ns)
            self._age(channel, snap.time_ms, rx_ns)  # after the book handler: metrics stay out of tick-to-order
        elif channel == "trades":
            trades = m.parse_trades(data)
            if trades:
                self._age(channel, trades[-1].time_ms, rx_ns)
            if h.on_trades is not None:
                h.on_trades(trades)
        elif channel == "bbo":
            bbo = m.parse_bbo(data)
            self._age(channel, bbo.time_ms, rx_ns)
            if h.on_bbo is not None:
                h.on_bbo(bbo)
        elif channel == "orderUpdates":
            updates = m.parse_order_updates(data)
            if h.on_order_updates is not None:
                h.on_order_updates(updates)
        elif channel == "userFills":
            snapshot, fills = m.parse_user_fills(data)
            if h.on_fills is not None:
                h.on_fills(fills, snapshot)
        elif channel == "user":
            event = m.parse_user_event(data)
            if h.on_user_event is not None:
                h.on_user_event(event)

    # ---- account reads --------------------------------------------------------------------------------

    def _need_user(self) -> str:
        if self.user is None:
            raise WalletError("network.account_address: needed to read orders and positions (or set a key)")
        return self.user

    async def open_orders(self) -> list[m.OpenOrder]:
        return [o for o in m.parse_open_orders(await self.rest.open_orders(self._need_user())) if o.coin == self.coin]

    async def position(self) -> m.Position:
        return m.parse_clearinghouse_state(await self.rest.clearinghouse_state(self._need_user()), self.coin)

    async def refresh_rate_limit(self) -> m.RateLimitState:
        state = m.parse_user_rate_limit(await self.rest.user_rate_limit(self._need_user()))
        self.address_budget.sync(state.used, state.cap)
        return state

    async def asset_context(self) -> tuple[float, float]:
        """(funding rate, mark price) of the coin from ``metaAndAssetCtxs``; NaN where the venue has none."""
        assert self.asset is not None
        funding = mark = math.nan
        with contextlib.suppress(KeyError, IndexError, TypeError, ValueError):
            ctx = (await self.rest.info({"type": "metaAndAssetCtxs"}))[1][self.asset.asset]
            funding, mark = float(ctx["funding"]), float(ctx["markPx"])
        return (funding if math.isfinite(funding) else math.nan,
                mark if math.isfinite(mark) and mark > 0 else math.nan)

    async def fills_since(self, since_ms: int) -> list[m.Fill]:
        """Our fills since ``since_ms`` (``userFillsByTime``; what a restarted bot asks for first)."""
        data = await self.rest.info({"type": "userFillsByTime", "user": self._need_user(), "startTime": since_ms})
        return [f for f in m.parse_fills(data, "userFillsByTime") if f.coin == self.coin]

    async def fundings_since(self, since_ms: int) -> list[m.FundingPayment]:
        """Hourly funding payments on our coin since ``since_ms`` (``userFunding``)."""
        data = await self.rest.info({"type": "userFunding", "user": self._need_user(), "startTime": since_ms})
        return [f for f in m.parse_user_funding(data) if f.coin == self.coin]

    # ---- actions ----------------------------------------------------------------------------------------

    async def set_leverage(self, leverage: int) -> m.OrderStatus:
        assert self.asset is not None
        (st,) = await self.act(update_leverage_action(self.asset.asset, leverage))
        return st

    def _need_signer(self) -> Signer:
        if self.signer is None:
            raise WalletError("network.private_key: actions need a signing key (AMM500_PRIVATE_KEY)")
        return self.signer

    def sign(self, action: dict[str, Any]) -> dict[str, Any]:
        return self._need_signer().envelope(action)

    def prefer_ws(self) -> bool:
        """WebSocket post when up, not silent (maybe half-open) for ``POST_SILENCE_S``, and not slower than REST
        by rolling median (unmeasured counts as equal)."""
        if not (self.use_ws_post and self.ws.connected.is_set()) or self.ws.silent_for() > POST_SILENCE_S:
            return False
        ws, rest = self.latency.median("rtt.ws"), self.latency.median("rtt.rest")
        return math.isnan(ws) or math.isnan(rest) or ws <= rest

    def mark_tick(self, perf_ns: int | None = None) -> None:
        """The market event that triggers a requote (default: the frame the socket just received).

        The next action handed to a transport records tick-to-order into the latency histogram.
        """
        self._tick_perf_ns = self.ws.rx_perf_ns if perf_ns is None else perf_ns

    async def post_envelope(self, envelope: dict[str, Any], n_items: int) -> Any:
        """Send a signed envelope by the faster route; falls back to REST when the socket fails."""
        if self._tick_perf_ns:
            self.latency.tick_to_order((time.perf_counter_ns() - self._tick_perf_ns) / 1e9)
            self._tick_perf_ns = 0
        if self.prefer_ws():
            try:
                await self.ip_budget.acquire(exchange_weight(n_items))
                return await self.ws.post("action", envelope)
            except TransportError as exc:
                log.info("WebSocket post failed (%s): resending the same envelope over REST", exc)
            answer = await self.rest.exchange(envelope, n_items)
            if isinstance(answer, dict) and answer.get("status") == "err" and "duplicate nonce" in str(answer):
                # The socket delivered it before failing: executed once, but its statuses are lost.
                raise TransportError("action executed over the WebSocket before it failed; statuses unknown")
            return answer
        return await self.rest.exchange(envelope, n_items)

    async def act(self, action: dict[str, Any], n_items: int = 1) -> list[m.OrderStatus]:
        """Sign, send and parse an action; always one status per item (see messages.parse_action_response)."""
        signer = self._need_signer()
        answer = await self.post_envelope(signer.envelope(action), n_items)
        self.address_budget.check_answer(answer)
        statuses = m.parse_action_response(answer, n_items)
        if isinstance(answer, dict) and answer.get("status") == "err":
            text = describe_signer_error(
                str(answer.get("response")), signer.address, self.account_address, self.vault_address
            )
            if text is not None:
                raise WalletError(text)
        self.address_budget.spend(n_items)
        return statuses
