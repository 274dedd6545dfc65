"""What the account looks like from outside the bot (seed 8, ``WalletTracker``), and the session built on it.

Why the supervisor reads the exchange itself: a bot that is hung, dead or lying about its equity is
exactly when the kill switch must still see the truth. ``clearinghouseState`` (weight 2) gives
equity, margin and positions; ``openOrders`` (weight 20) the resting orders; ``userRateLimit``
(weight 20) the address budget. The supervisor shares the account's IP budget (1200 weight/min) with
the bot, so its own :class:`WeightBudget` is capped at ``supervisor.ip_weight_per_min`` and each read
has its own period: it can never starve the bot's requotes.

In paper mode there is no wallet: the paper account lives in the bot, which journals it (the
``equity`` table), so :class:`JournalWallet` reads that instead.

Drawdown and session PnL are measured from the session's first equity reading, never from zero:
a supervisor that starts on a $10,000 account has made nothing yet, whatever it sees first.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from amm500.config import Config, load_config
from amm500.store import journal
from amm500.store.state_dir import JOURNAL, SUPERVISOR_STATE
from amm500.venues.hyperliquid import messages as m
from amm500.venues.hyperliquid.ratelimit import WeightBudget
from amm500.venues.hyperliquid.rest import RestClient
from amm500.venues.model import OpenOrder


@dataclass
class WalletState:
    """One reading of the account. ``margin_ratio`` is margin used over equity, clipped to [0, 1]."""

    equity: float
    margin_used: float
    margin_ratio: float
    positions: dict[str, float]  # coin -> signed size
    open_orders: list[OpenOrder] | None  # None: not read this time (openOrders has its own period)
    ts: float  # unix seconds of the reading
    source: str  # "venue" | "journal"
    budget_left: float | None = None  # share of the address request budget left, when read

    def position(self, coin: str) -> float:
        return self.positions.get(coin, 0.0)


def margin_ratio(margin_used: float, equity: float) -> float:
    """Used over equity in [0, 1]; no equity left counts as fully used."""
    if not equity > 0:
        return 1.0
    return min(1.0, max(0.0, margin_used / equity))


def parse_positions(data: Any) -> dict[str, float]:
    """Every coin's signed size from a ``clearinghouseState`` answer (validated by messages' parser)."""
    coins = [str(ap.get("position", {}).get("coin")) for ap in data.get("assetPositions", []) if isinstance(ap, dict)]
    out = {}
    for coin in coins:
        pos = m.parse_clearinghouse_state(data, coin)
        if pos.szi != 0.0:
            out[coin] = pos.szi
    return out


class WalletTracker:
    """Reads one account's equity, margin, positions, open orders and request budget from the venue.

    ``WalletTracker(address)`` (the seed's form) reads the effective config (``load_config()``) for
    the venue's URL; the supervisor passes its own config.
    """

    def __init__(self, address: str | None = None, config: Config | None = None, *,
                 base_url: str | None = None) -> None:
        self.config = config if config is not None else load_config()
        net = self.config.network
        key_address: str | None = None
        if address is None and net.account_address is None and net.vault_address is None:
            key = self.config.private_key()
            if key:
                from eth_account import Account

                key_address = Account.from_key(key).address
        user = address or net.vault_address or net.account_address or key_address
        if user is None:
            raise ValueError("network.account_address: the supervisor needs the account to watch (or a key)")
        self.address = user.lower()
        self.base_url = base_url or net.urls()[0]
        sup = self.config.supervisor
        self.budget = WeightBudget(limit=sup.ip_weight_per_min)
        self._rest: RestClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_orders = 0.0
        self._next_budget = 0.0
        self._orders: list[OpenOrder] | None = None
        self._budget_left: float | None = None
        self.reads = 0

    def _client(self) -> RestClient:
        if self._rest is None:
            self._rest = RestClient(self.base_url, timeout_s=self.config.network.request_timeout_s, budget=self.budget)
        return self._rest

    async def fetch(self, orders: bool = True, budget: bool = False) -> WalletState:
        """Read the account now: clearinghouseState always, openOrders and userRateLimit when asked."""
        rest = self._client()
        data = await rest.clearinghouse_state(self.address)
        pos = m.parse_clearinghouse_state(data, self.config.trading.symbol)
        positions = parse_positions(data)
        open_orders = m.parse_open_orders(await rest.open_orders(self.address)) if orders else None
        budget_left = None
        if budget:
            rl = m.parse_user_rate_limit(await rest.user_rate_limit(self.address))
            budget_left = rl.remaining / rl.cap if rl.cap > 0 else 0.0
        self.reads += 1
        return WalletState(pos.account_value, pos.margin_used, margin_ratio(pos.margin_used, pos.account_value),
                           positions, open_orders, time.time(), "venue", budget_left)

    async def poll(self) -> WalletState:
        """One periodic reading: open orders and the request budget only when their own periods are due."""
        now = time.monotonic()
        sup = self.config.supervisor
        want_orders, want_budget = now >= self._next_orders, now >= self._next_budget
        state = await self.fetch(orders=want_orders, budget=want_budget)
        if want_orders:
            self._orders, self._next_orders = state.open_orders, now + sup.orders_poll_s
        else:
            state.open_orders = self._orders
        if want_budget:
            self._budget_left, self._next_budget = state.budget_left, now + sup.budget_poll_s
        else:
            state.budget_left = self._budget_left
        return state

    def get_wallet_state(self) -> WalletState:
        """The seed's synchronous read (everything, now). Not for use inside a running event loop."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(self.fetch(orders=True, budget=False))

    async def aclose(self) -> None:
        if self._rest is not None:
            await self._rest.close()
            self._rest = None

    def close(self) -> None:
        if self._loop is not None:
            self._loop.run_until_complete(self.aclose())
            self._loop.close()
            self._loop = None


class JournalWallet:
    """The paper account, read from the journal the paper bot writes (latest ``equity`` row)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / JOURNAL

    def read(self) -> WalletState | None:
        """None until the bot has journalled its first equity snapshot."""
        if not self.path.is_file():
            return None
        try:
            with journal.reader(self.path) as conn:
                row = conn.execute("SELECT ts_ns, equity, position, margin_used FROM equity "
                                   "ORDER BY ts_ns DESC LIMIT 1").fetchone()
                coin = "BTC"
        except journal.JournalError:
            return None
        if row is None:
            return None
        equity, used = float(row["equity"]), float(row["margin_used"] or 0.0)
        pos = float(row["position"])
        return WalletState(equity, used, margin_ratio(used, equity), {coin: pos} if pos else {}, None,
                           row["ts_ns"] / 1e9, "journal")


@dataclass
class FillStats:
    """What the session's fills say: fills, taker share, losing round trips in a row."""

    fills: int = 0
    taker_fills: int = 0
    round_trips: int = 0
    consecutive_losses: int = 0

    @property
    def taker_ratio(self) -> float:
        return self.taker_fills / self.fills if self.fills else 0.0


def fill_stats(state_dir: Path, since_ms: int) -> FillStats:
    """Round trips (flat back to flat, or through zero) from the journalled fills since ``since_ms``.

    The same accounting as the strategy's kill switch (``risk/kill_switch.py``): a trip's PnL is its
    realized price PnL minus every fee paid inside it; a losing trip adds one to the streak, a winning
    one resets it. Recomputed from the journal, so it holds across bot restarts.
    """
    path = state_dir / JOURNAL
    stats = FillStats()
    if not path.is_file():
        return stats
    try:
        with journal.reader(path) as conn:
            rows = journal.fills(conn, since_ms)
    except journal.JournalError:
        return stats
    pos = avg = trip = 0.0
    first = True
    for f in rows:
        if first:
            pos, first = float(f["start_position"]), False
            avg = float(f["px"])
        side, px, sz, fee = int(f["side"]), float(f["px"]), float(f["sz"]), float(f["fee"])
        stats.fills += 1
        stats.taker_fills += int(f["crossed"])
        trip -= fee
        signed = side * sz
        if pos == 0.0 or (pos > 0) == (signed > 0):  # opening or adding
            avg = (avg * abs(pos) + px * sz) / (abs(pos) + sz) if pos != 0.0 else px
            pos += signed
            continue
        closed = min(abs(pos), sz)
        trip += closed * (px - avg) * (1.0 if pos > 0 else -1.0)
        pos += signed
        if abs(pos) < 1e-9 or (pos > 0) == (signed > 0):  # back to flat, or flipped through zero
            stats.round_trips += 1
            stats.consecutive_losses = stats.consecutive_losses + 1 if trip < 0 else 0
            trip = 0.0
            if abs(pos) < 1e-9:
                pos = 0.0
            else:
                avg = px
    return stats


@dataclass
class Session:
    """The supervisor's session: equity at its first reading, the peak since, and the all-time peak.

    Persisted (``supervisor.json``) so that a supervisor restarted by systemd or a crash does not
    forget a loss it already saw. ``amm500 supervise reset`` starts a new session (the all-time peak,
    which the terminal threshold uses, is kept unless the reset says ``--terminal``).
    """

    first_equity: float | None = None
    peak_equity: float | None = None
    all_time_peak: float | None = None
    started: float = field(default_factory=time.time)

    def update(self, equity: float) -> None:
        if not math.isfinite(equity):
            return
        if self.first_equity is None:
            self.first_equity = equity
        self.peak_equity = equity if self.peak_equity is None else max(self.peak_equity, equity)
        self.all_time_peak = equity if self.all_time_peak is None else max(self.all_time_peak, equity)

    def drawdown(self, equity: float) -> float:
        """From the session's peak, as a fraction (0.06 = 6%)."""
        return max(0.0, 1.0 - equity / self.peak_equity) if self.peak_equity else 0.0

    def terminal_drawdown(self, equity: float) -> float:
        return max(0.0, 1.0 - equity / self.all_time_peak) if self.all_time_peak else 0.0

    def pnl(self, equity: float) -> float:
        return equity - self.first_equity if self.first_equity is not None else 0.0

    def rebase(self, equity: float | None, keep_all_time: bool = True) -> None:
        all_time = self.all_time_peak if keep_all_time else None
        self.first_equity = self.peak_equity = None
        self.all_time_peak = all_time
        self.started = time.time()
        if equity is not None:
            self.update(equity)

    @classmethod
    def load(cls, state_dir: Path) -> Session:
        path = state_dir / SUPERVISOR_STATE
        try:
            data = json.loads(path.read_text()).get("session", {})
            return cls(**{k: data[k] for k in ("first_equity", "peak_equity", "all_time_peak", "started")
                          if k in data})
        except (OSError, ValueError, TypeError, AttributeError):
            return cls()

    def save(self, state_dir: Path, **extra: Any) -> None:
        path = state_dir / SUPERVISOR_STATE
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"session": asdict(self), **extra}, indent=1))
        os.replace(tmp, path)
