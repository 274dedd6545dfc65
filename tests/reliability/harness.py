"""The real engine (``trading_session("live")``) quoting on the local exchange under injected faults, watched.

One event loop holds both, so a watcher can read the exchange's state and the bot's order book at the same
instant, 20 times a second, without asking either over the network. What it counts (docs/reliability.md):

* **orphans**: an order resting on the exchange that the bot does not hold live (or holds as being
  cancelled: it no longer manages it), or one the bot holds as resting that the exchange does not have, for
  longer than ``GRACE_S`` (an answer in flight is no orphan);
* **duplicates**: two of the account's orders resting at once at the same side and price, or more resting
  than the ladder has levels, for longer than ``GRACE_S``;
* **lost / duplicated fills**: the exchange's fills against the journal's (by trade id) and the loop's count;
* **position-limit breaches**: the exchange's position beyond ``risk.max_net_exposure`` at the mid, by more than
  1% (a position held at the cap drifts with the price);
* **stale quotes**: orders placed (not cancels, not reduce-only) while the bot's newest book was older than
  ``risk.stale_data_ms`` plus half a second (the exchange runs in the bot's event loop, so the action is
  executed in the same instant the bot sent it, and the book is the one it was priced from);
* **nonce rejects**: the exchange's ``Invalid nonce`` answers to envelopes it had not seen before (a post whose
  answer was lost is resent over REST with the same nonce on purpose: refused as a duplicate, it proves the
  action ran once; those are counted apart, as ``resends_refused``);
* **time to resume**: from each forced disconnect, and the end of each stall, half-open or post-only window,
  until the bot quotes again: socket up, trading state ACTIVE, its book fresh, an order of its resting.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account

from amm500.config import Config, load_config
from amm500.exchange_sim.faults import Faults
from amm500.exchange_sim.market import RandomWalkFeed
from amm500.exchange_sim.server import RunningExchange, run_exchange
from amm500.live.order_manager import OrderState
from amm500.live.trading_state import TradingState
from amm500.runs.session import trading_session
from amm500.store import state_dir as sd
from amm500.store.journal import reader

KEY = "0x" + "3d" * 32
ADDR = Account.from_key(KEY).address.lower()
SOAK_ENV = "RELIABILITY_SOAK"  # set (not 0): the long versions (AMM500_* names belong to the config)
GRACE_S = 3.0
SLOW_RESUME_S = 5.0  # a mismatch shorter than this is a request in flight, not an orphan
LEVELS = 3


GTC: dict[str, Any] = {"execution": {"post_only": False}}  # quotes a post-only-only window refuses
#: The fault families of the long runs (bench/soak.py, and RELIABILITY_SOAK=1): name -> (--faults, config).
FAMILIES: dict[str, tuple[str, dict[str, Any]]] = {
    "ws dropped every 10 s + 20% of user pushes lost": ("drop_ws=10,lose_user=0.2", {}),
    "half-open sockets 8 s every 30 s + feed stalls 6 s every 25 s":
        ("mute_s=8,mute_every=30,stall_s=6,stall_every=25", {}),
    "latency spikes 500 ms + 5% 429s + acks 200 ms late + pushes reordered":
        ("spike_ms=500,spike_s=3,spike_every=15,reject_rate=0.05,ack_delay_ms=200,reorder=1", {}),
    "post-only-only 10 s every 30 s, Gtc quotes": ("post_only_s=10,post_only_every=30", GTC),
    "everything at once": ("drop_ws=10,lose_user=0.2,mute_s=5,mute_every=40,stall_s=5,stall_every=35,"
                           "spike_ms=500,spike_s=2,spike_every=20,reject_rate=0.05,ack_delay_ms=150,reorder=1,"
                           "post_only_s=5,post_only_every=45", {}),
}


def soak() -> bool:
    """Whether the long versions were asked for (``RELIABILITY_SOAK=1``)."""
    return os.environ.get(SOAK_ENV, "") not in ("", "0")


def config(**sections: dict[str, Any]) -> Config:
    base: dict[str, Any] = {"trading": {"order_levels": LEVELS}, "backtest": {"initial_equity": 1000.0},
                            "risk": {"kill_switch_enabled": False, "max_net_exposure": 400.0}}
    for k, v in sections.items():
        base[k] = {**base.get(k, {}), **v}
    return load_config(overrides=base)


@dataclass
class Figures:
    scenario: str
    seconds: float = 0.0
    orders_placed: int = 0  # placements the exchange accepted (order and modify legs)
    fills: int = 0  # the exchange's fills of the account
    orphans_on_exchange: int = 0
    orphans_in_bot: int = 0
    duplicates: int = 0
    lost_fills: int = 0  # on the exchange, not in the journal
    duplicated_fills: int = 0  # counted twice by the bot
    position_mismatch: float = 0.0  # |bot - exchange| after the clean stop
    position_drifts: int = 0  # times the bot's position differed from the exchange's for GRACE_S or more
    limit_breaches: int = 0
    stale_quotes: int = 0
    nonce_rejects: int = 0  # refused for its nonce, and not a resend of an envelope already seen
    resends_refused: int = 0  # a post whose answer was lost, resent over REST and refused as a duplicate (by design)
    resting_at_end: int = 0
    resume_s: list[float] = field(default_factory=list)
    unresumed: int = 0
    slow_resume_causes: dict[str, int] = field(default_factory=dict)  # resumes over SLOW_RESUME_S: what was missing
    server: dict[str, int] = field(default_factory=dict)

    @property
    def resume_p50(self) -> float:
        return _quantile(self.resume_s, 0.5)

    @property
    def resume_max(self) -> float:
        return max(self.resume_s) if self.resume_s else math.nan

    def bad(self) -> dict[str, float]:
        """Every count whose goal is zero and is not."""
        keys = ("orphans_on_exchange", "orphans_in_bot", "duplicates", "lost_fills", "duplicated_fills",
                "position_drifts", "limit_breaches", "stale_quotes", "nonce_rejects", "resting_at_end")
        out = {k: float(getattr(self, k)) for k in keys if getattr(self, k)}
        if self.position_mismatch > 1e-9:
            out["position_mismatch"] = self.position_mismatch
        return out

    def line(self) -> str:
        d = asdict(self)
        d.pop("resume_s")
        d.pop("server")
        d.pop("slow_resume_causes")
        return (" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in d.items())
                + f" resume_p50={self.resume_p50:.2f}s resume_max={self.resume_max:.2f}s"
                + f" slow_resume_causes={self.slow_resume_causes} server={self.server}")


def _quantile(xs: list[float], q: float) -> float:
    if not xs:
        return math.nan
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


class Watcher:
    """Samples the exchange and the bot 20 times a second; keeps the counts of :class:`Figures`."""

    def __init__(self, sim: RunningExchange, session: Any, faults: Faults, cfg: Config, figs: Figures) -> None:
        self.sim, self.session, self.faults, self.cfg, self.f = sim, session, faults, cfg, figs
        self.first_seen: dict[tuple[str, Any], float] = {}
        self.counted: set[tuple[str, Any]] = set()
        self.events: list[float] = []  # disconnects and window ends the bot has not yet resumed quoting after
        self._ends = self._window_ends()
        self._waiting_on: set[str] = set()  # the conditions missing while an event waited
        self.signed: set[tuple[int, str]] = set()  # (nonce, signature) of every envelope the exchange saw
        self._dropped = 0
        real = sim.exchange.action

        def spy(envelope: Any) -> Any:  # every action the exchange executes, and whether it placed anything
            out = real(envelope)
            try:
                key = (envelope["nonce"], str(envelope["signature"]))
            except (KeyError, TypeError):
                return out
            if out.get("status") == "err" and "nonce" in str(out.get("response", "")).lower():
                if key in self.signed:  # the same envelope again: the client's resend over REST, refused as meant
                    self.f.resends_refused += 1
                else:
                    self.f.nonce_rejects += 1
            self.signed.add(key)
            try:
                kind = envelope["action"]["type"]
                data = out["response"]["data"]["statuses"] if out.get("status") == "ok" else []
            except (KeyError, TypeError):
                return out
            if kind in ("order", "batchModify") and any(isinstance(s, dict) and ("resting" in s or "filled" in s)
                                                        for s in data):
                self.f.orders_placed += sum(1 for s in data if isinstance(s, dict)
                                            and ("resting" in s or "filled" in s))
                ro = [o.get("r") for o in envelope["action"].get("orders", [])]
                book_ms = session.engine.venue.book_time_ms  # the bot's newest book, as it sends this
                if not any(ro) and time.time() * 1000 - book_ms > cfg.risk.stale_data_ms + 500:
                    self.f.stale_quotes += 1
            return out

        sim.exchange.action = spy  # type: ignore[method-assign]

    def _persist(self, key: tuple[str, Any], bad: bool, now: float) -> bool:
        if not bad:
            self.first_seen.pop(key, None)
            self.counted.discard(key)
            return False
        t0 = self.first_seen.setdefault(key, now)
        if now - t0 >= GRACE_S and key not in self.counted:
            self.counted.add(key)
            return True
        return False

    def sample(self) -> None:
        now = time.monotonic()
        ex = self.sim.exchange
        om = self.session.loop.om
        opens = ex.info({"type": "openOrders", "user": ADDR})
        on_exchange = {int(o["oid"]): o for o in opens}
        known_live = {t.oid for t in om.live_orders() if t.oid is not None}
        for oid, o in on_exchange.items():
            cloid = o.get("cloid")
            t = om.orders.get(cloid) if cloid else None
            if t is None and oid in known_live:
                t = next(x for x in om.live_orders() if x.oid == oid)
            # resting, but the bot holds it finished, or as being cancelled (no longer one of its quotes)
            managed = t is not None and t.live and not t.cancel_sent
            if self._persist(("exchange", oid), not managed, now):
                self.f.orphans_on_exchange += 1
        for t in om.live_orders():
            believed = t.state in (OrderState.RESTING, OrderState.PARTIAL) and not t.cancel_sent
            if self._persist(("bot", t.cloid), believed and t.oid not in on_exchange, now):
                self.f.orphans_in_bot += 1
        spots: dict[tuple[str, str], int] = {}
        for o in opens:
            spots[(o["side"], o["limitPx"])] = spots.get((o["side"], o["limitPx"]), 0) + 1
        dup = any(n > 1 for n in spots.values()) or len(opens) > 2 * LEVELS
        if self._persist(("dup", 0), dup, now):
            self.f.duplicates += 1
        state = ex.info({"type": "clearinghouseState", "user": ADDR})
        szi = sum(float(p["position"]["szi"]) for p in state["assetPositions"])
        if self._persist(("position", 0), abs(om.position - szi) > 1e-9, now):
            self.f.position_drifts += 1
        mid = ex.mid(0) or math.nan
        breach = abs(szi) * mid > self.cfg.risk.max_net_exposure * 1.01
        if breach and self._persist(("limit", round(szi, 6)), True, now - GRACE_S):
            self.f.limit_breaches += 1
        dropped = self.sim.server.stats["ws_dropped"]
        if dropped > self._dropped:
            self._dropped = dropped
            self.events.append(now)
        self._resume(now, bool(opens))

    def _resume(self, now: float, resting: bool) -> None:
        """Close every pending event once the bot quotes again: socket up, trading state ACTIVE, its own book
        fresher than ``risk.stale_data_ms``, and at least one of its orders resting on the exchange."""
        self.events += [t for t in self._ends if t <= now]
        self._ends = [t for t in self._ends if t > now]
        if not self.events:
            return
        venue = self.session.engine.venue
        ws = getattr(venue, "ws", None)
        missing = {"no order resting": not resting,
                   "not ACTIVE": self.session.loop.om.gate.state is not TradingState.ACTIVE,
                   "socket down": ws is not None and not ws.connected.is_set(),
                   "book stale": time.time() * 1000 - venue.book_time_ms >= self.cfg.risk.stale_data_ms}
        if not any(missing.values()):
            for t in self.events:
                self.f.resume_s.append(now - t)
                if now - t > SLOW_RESUME_S:  # what held it up, for the slow ones
                    for why in self._waiting_on:
                        self.f.slow_resume_causes[why] = self.f.slow_resume_causes.get(why, 0) + 1
            self.events = []
            self._waiting_on = set()
        else:
            self._waiting_on |= {k for k, v in missing.items() if v}

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(0.05)

    def _window_ends(self, horizon_s: float = 4 * 3600.0) -> list[float]:
        """Monotonic ends of every stall / half-open / post-only window in the first ``horizon_s`` seconds."""
        out = []
        f = self.faults
        for length, every in ((f.stall_s, f.stall_every), (f.mute_s, f.mute_every), (f.post_only_s, f.post_only_every)):
            if length <= 0:
                continue
            k = 1
            while every * k + length * k <= horizon_s:
                out.append(self.sim.server.started + every * k + length * k)
                k += 1
        return sorted(out)


async def run_scenario(name: str, faults: str, seconds: float, folder: Path, *, seed: int = 1,
                       cfg: Config | None = None, vol_bps_per_s: float = 3.0, trades_per_s: float = 5.0) -> Figures:
    """Quote for ``seconds`` under ``faults`` (a --faults spec) and count; the bot stops cleanly at the end."""
    os.environ["AMM500_PRIVATE_KEY"] = KEY  # the engine reads its key where a person would put it
    cfg = cfg or config()
    fl = Faults.parse(faults)
    figs = Figures(name)
    feed = RandomWalkFeed(seed=seed, vol_bps_per_s=vol_bps_per_s, trades_per_s=trades_per_s)
    t0 = time.monotonic()
    async with (run_exchange({ADDR: 1000.0}, feed=feed, block_s=0.02, book_push_s=0.1, faults=fl) as sim,
                trading_session(cfg, "live", network=sim.base_url, state_dir=folder) as session):
        watcher = Watcher(sim, session, fl, cfg, figs)
        watch = asyncio.create_task(watcher.run())
        try:
            result = await session.engine.run(seconds)
        finally:
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)
        loop = session.loop
        pos = m_position(sim)
        figs.position_mismatch = abs(loop.om.position - pos)
        figs.resting_at_end = len(sim.exchange.info({"type": "openOrders", "user": ADDR}))
        ex_fills = sim.exchange.info({"type": "userFills", "user": ADDR})
        figs.fills = len(ex_fills)
        figs.duplicated_fills = max(0, result.stats.fills - len(ex_fills))
        figs.server = dict(sim.server.stats)
        figs.unresumed = len(watcher.events)  # still waiting when the run ended (the last window may be one)
    figs.seconds = time.monotonic() - t0
    with reader(folder / sd.JOURNAL) as conn:
        journal = {r[0] for r in conn.execute("SELECT tid FROM fills")}
    figs.lost_fills = len({int(f["tid"]) for f in ex_fills} - journal)
    return figs


def m_position(sim: RunningExchange) -> float:
    state = sim.exchange.info({"type": "clearinghouseState", "user": ADDR})
    return sum(float(p["position"]["szi"]) for p in state["assetPositions"])
