"""A stand-in bot for the dashboard tests, real in every part the dashboard touches.

It writes a real journal through :class:`amm500.store.journal.Journal`, rewrites a real heartbeat
file, holds ``bot.lock`` with ``flock``, and serves ``GET /state``, ``GET /metrics`` and ``POST
/control`` (bearer token from ``control.token``) on 127.0.0.1 from a real aiohttp server, as
docs/engine.md says the engine does. Only the trading is scripted: :meth:`FakeBot.step` makes one
deterministic tick (equity snapshot, orders, sometimes a fill), so a test knows exactly what the
journal holds when it compares the page with it.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from amm500.obs.heartbeat import Heartbeat, write_heartbeat
from amm500.store import state_dir as sd
from amm500.store.journal import Identity, Journal

CANARY_KEY = "0x" + "c0ffee" * 10 + "beef"  # a known test key: it must never reach the page


class FakeBot:
    def __init__(self, folder: Path, *, mode: str = "paper", network: str = "local", leak: str | None = None,
                 max_net_exposure: float = 5000.0) -> None:
        self.folder = folder
        self.mode, self.network = mode, network
        self.leak = leak  # a secret the bot carelessly puts in its /state (the canary test)
        self.token = secrets.token_hex(16)
        self.state = "ACTIVE"
        self.reasons: list[str] = []
        self.position = 0.0
        self.cash = 10_000.0
        self.mid = 100_000.0
        self.orders: list[dict[str, Any]] = []
        self.commands: list[tuple[str, str]] = []  # (command, Authorization header) as received
        self.n = 0
        self.last_ns = 0
        self.tid = 1000
        self.fills = 0
        self.max_net_exposure = max_net_exposure
        self.registry = CollectorRegistry()
        self.g_pos = Gauge("amm500_position", "position", registry=self.registry)
        self.g_eq = Gauge("amm500_equity_usd", "equity", registry=self.registry)
        self.g_budget = Gauge("amm500_request_budget_left", "requests left", registry=self.registry)
        self.c_fills = Counter("amm500_fills", "fills", ["liquidity"], registry=self.registry)
        self.h_t2o = Histogram("amm500_tick_to_order_seconds", "t2o", registry=self.registry,
                               buckets=(0.0005, 0.001, 0.002, 0.005, 0.01))
        self.journal = Journal(folder / sd.JOURNAL, Identity(mode, network, "paper"))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._lock_fd: int | None = None
        self._beat_stop = threading.Event()
        self._beat_thread: threading.Thread | None = None
        self.lock = threading.Lock()

    # ---- trading, scripted -----------------------------------------------------------------------------

    @property
    def equity(self) -> float:
        return self.cash + self.position * self.mid

    def step(self, n: int = 1) -> None:
        """``n`` ticks: the mid moves, we re-quote, every third tick one of our quotes fills."""
        with self.lock:
            for _ in range(n):
                self.n += 1
                # at least 5 ms apart, so a fill's millisecond time never ties with another tick's snapshot
                now = self.last_ns = max(time.time_ns(), self.last_ns + 5_000_000)
                self.mid += (7.0 if (self.n // 5) % 2 == 0 else -6.0)
                bid, ask = round(self.mid - 10.0, 1), round(self.mid + 10.0, 1)
                if self.state == "ACTIVE":
                    self.orders = [{"side": "buy", "px": bid, "sz": 0.001, "oid": 2 * self.n, "cloid": f"b{self.n}"},
                                   {"side": "sell", "px": ask, "sz": 0.001, "oid": 2 * self.n + 1,
                                    "cloid": f"a{self.n}"}]
                    for o in self.orders:
                        self.journal.record_order(o["cloid"], now, 1 if o["side"] == "buy" else -1, o["px"], o["sz"],
                                                  "Alo", False)
                        self.journal.record_order_status(now, o["cloid"], o["oid"], "resting")
                if self.n % 3 == 0 and self.orders:
                    o = self.orders[self.n % 2]
                    side = 1 if o["side"] == "buy" else -1
                    fee = o["px"] * o["sz"] * 0.00015
                    self.tid += 1
                    self.journal.record_fill(self.tid, now // 1_000_000, o["oid"], o["cloid"], side, o["px"], o["sz"],
                                             fee, False, self.position, self.mid)
                    self.journal.record_order_status(now, o["cloid"], o["oid"], "filled")
                    self.position = round(self.position + side * o["sz"], 8)
                    self.cash -= side * o["px"] * o["sz"] + fee
                    self.fills += 1
                    self.c_fills.labels("maker").inc()
                    self.orders.remove(o)
                if self.n % 7 == 0:
                    self.journal.record_funding(now // 1_000_000, 0.0000125, 0.01, self.position)
                    self.cash -= 0.01
                self.journal.record_equity(now, self.equity, self.position, self.mid, self.cash, 0.0, 2.0, 1)
                self.h_t2o.observe(0.0008 + 0.0001 * (self.n % 5))
            self.g_pos.set(self.position)
            self.g_eq.set(self.equity)
            self.g_budget.set(9000 - self.n)
        self.journal.flush()
        self.beat()

    def transition(self, new: str, reasons: list[str]) -> None:
        old, self.state, self.reasons = self.state, new, reasons
        self.journal.record_transition(time.time_ns(), old, new, reasons)
        if new != "ACTIVE":
            self.orders = []
        self.journal.flush()
        self.beat()

    # ---- files -------------------------------------------------------------------------------------------

    def beat(self) -> None:
        with self.lock:
            write_heartbeat(self.folder / sd.HEARTBEAT, Heartbeat(
                pid=os.getpid(), ts=time.time(), started=self.started, mode=self.mode, network=self.network,
                account="paper", state=self.state, reasons=list(self.reasons), equity=self.equity,
                position=self.position, mid=self.mid, feed_age_s=0.1, fills=self.fills, metrics_url=self.url))

    # ---- the endpoint --------------------------------------------------------------------------------------

    async def _state(self, request: web.Request) -> web.Response:
        with self.lock:
            body: dict[str, Any] = {  # the shape of live/engine.py's Engine.state()
                "mode": self.mode, "network": self.network, "account": "paper",
                "state": self.state, "reasons": self.reasons, "killed": False, "kill_reason": None,
                "mid": self.mid, "best_bid": self.mid - 0.5, "best_ask": self.mid + 0.5,
                "position": self.position, "max_position": self.max_net_exposure / 100_000.0,
                "equity": self.equity, "start_equity": 10_000.0,
                "orders": [{"cloid": o["cloid"], "oid": o["oid"], "side": 1 if o["side"] == "buy" else -1,
                            "px": o["px"], "sz": o["sz"], "filled": 0.0, "state": "RESTING"} for o in self.orders],
                "stats": {"fills": self.fills, "spread_bps": 2.0, "regime": 2, "stopped_by": "time"},
                "latency_ms": {"tick_to_order": {"count": self.n, "p50": 0.9, "p90": 1.1, "p99": 1.3},
                               "rtt.rest": {"count": 0, "p50": float("nan"), "p90": float("nan"),
                                            "p99": float("nan")}},
                "budget_left": 9000 - self.n, "feed_age_s": 0.1, "recovered_fills": 0,
            }
        if self.leak:
            body["config"] = {"network": {"private_key": self.leak}}
            body["reasons"] = [*self.reasons, f"debug {self.leak}"]
        return web.Response(text=json.dumps(body).replace("NaN", "null"), content_type="application/json")

    async def _metrics(self, request: web.Request) -> web.Response:
        with self.lock:
            text = generate_latest(self.registry).decode()
        return web.Response(text=text, content_type="text/plain")

    async def _control(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {self.token}":
            return web.Response(status=401, text="bad token")
        try:
            command = (await request.json())["command"]
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400, text="bad body")
        self.commands.append((command, auth))
        if command == "reduce":
            self.transition("REDUCING", ["operator"])
        elif command == "resume":
            self.transition("ACTIVE", [])
        elif command == "cancel_all":
            self.orders = []
        elif command == "flatten":
            self.position = 0.0
        else:
            return web.Response(status=400, text="unknown command")
        return web.json_response({"ok": True, "state": self.state})

    def start(self) -> FakeBot:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.started = time.time()
        self._lock_fd = sd.acquire_lock(self.folder / sd.BOT_LOCK)
        token_path = self.folder / sd.CONTROL_TOKEN
        token_path.write_text(self.token)
        token_path.chmod(0o600)
        self.journal.open(json.dumps({"risk": {"max_net_exposure": self.max_net_exposure, "max_drawdown": 0.05},
                                      "network": {"private_key": "***"}}), "test", os.getpid())
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_get("/state", self._state)
            app.router.add_get("/metrics", self._metrics)
            app.router.add_post("/control", self._control)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            site = web.SockSite(self._runner, sock)
            loop.run_until_complete(site.start())
            self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-bot", daemon=True)
        self._thread.start()
        assert ready.wait(10)
        self.beat()

        def beats() -> None:
            while not self._beat_stop.wait(0.5):
                self.beat()

        self._beat_thread = threading.Thread(target=beats, name="fake-bot-beat", daemon=True)
        self._beat_thread.start()
        return self

    def stop(self, state: str = "STOPPED") -> None:
        """Stop like the engine does: last heartbeat says STOPPED, journal closed, lock released."""
        self._beat_stop.set()
        if self._beat_thread is not None:
            self._beat_thread.join(5)
        self.state = state
        self.beat()
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None
        self.journal.close("test")
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
