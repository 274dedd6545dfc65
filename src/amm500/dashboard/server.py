"""The dashboard's web server (aiohttp): the page, a JSON snapshot, server-sent events, and controls.

Why aiohttp: it is already the engine's HTTP library (the local exchange, the bot's endpoint), so the
dashboard adds no web framework; the page needs four routes and one event stream, nothing a
framework would add is used. Why server-sent events rather than a WebSocket: updates flow one way
(server to page), SSE reconnects by itself in every browser, and controls are plain POSTs.

Why one snapshot task for every open page: each update reads the journal and asks the bot once,
however many tabs are open, so a forgotten phone tab costs the bot nothing extra.

Safety, in order of importance:

* it binds 127.0.0.1 unless told otherwise, and another address needs ``allow_remote`` and a token
  (then every request shows it: a cookie set by ``/?token=...``, or ``Authorization: Bearer``);
* requests whose ``Host`` is not this server's are refused (a DNS-rebinding page cannot read it);
* a control is a POST with a JSON body and an ``X-AMM500-Confirm`` header naming the command: a
  cross-site form cannot send either, and the page only sends it after the person confirmed;
* the bot's token is read from its state folder at the moment of sending and never leaves the
  server; every byte the server sends passes :func:`scrub`, which masks the token and any
  ``AMM500_*KEY*``/``SECRET``/``TOKEN``/``PASSWORD`` value found in the environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from amm500.dashboard import model
from amm500.dashboard.bot import COMMANDS, BotLink
from amm500.store import journal as jr
from amm500.store import state_dir as sd

log = logging.getLogger(__name__)
STATIC = resources.files("amm500.dashboard") / "static"
#: book/quote samples kept in memory for the price chart (one per update)
BOOK_SAMPLES = 3600
COOKIE = "amm500_dashboard"
#: the journal is re-read no sooner than this many times the duration of its last read
JOURNAL_DUTY = 10.0
SECRET_ENV_WORDS = ("KEY", "SECRET", "TOKEN", "PASSWORD", "MNEMONIC")


class DashboardError(ValueError):
    """A setting the dashboard refuses (a public address without a token, a missing journal)."""


@dataclass
class DashboardSettings:
    state_dir: Path | None = None  # a live bot's folder
    journal: Path | None = None  # replay this journal (no bot)
    backtest: Path | None = None  # `amm500 backtest --json` output shown beside the live figures
    host: str = "127.0.0.1"
    port: int = 8500
    allow_remote: bool = False
    token: str | None = None  # required when host is not loopback
    interval_s: float = 1.0
    extra_secrets: list[str] = field(default_factory=list)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_settings(s: DashboardSettings) -> None:
    """One sentence per refusal (the CLI prints it and exits 2)."""
    if (s.state_dir is None) == (s.journal is None):
        raise DashboardError("give exactly one of --state-dir (a running bot) and --journal (replay a journal)")
    if s.journal is not None and not s.journal.is_file():
        raise DashboardError(f"--journal {s.journal}: no such file")
    if not is_loopback(s.host):
        if not s.allow_remote:
            raise DashboardError(f"--host {s.host}: the dashboard binds 127.0.0.1 only; another address needs "
                                 "--allow-remote and --token (anyone who reaches it can stop the bot)")
        if not s.token or len(s.token) < 16:
            raise DashboardError("--allow-remote needs --token (or AMM500_DASHBOARD_TOKEN) of at least 16 characters")
    if s.interval_s <= 0:
        raise DashboardError("--interval must be above 0 seconds")


def secret_values(extra: list[str] | None = None) -> list[str]:
    """Values that must never reach the page: secret-looking AMM500_* variables, and ``extra``."""
    vals = [v for k, v in os.environ.items()
            if k.upper().startswith("AMM500_") and any(w in k.upper() for w in SECRET_ENV_WORDS) and len(v) >= 6]
    vals += [v for v in (extra or []) if v and len(v) >= 6]
    # also the key without its 0x, and lower/upper case spellings, since a key may be re-encoded
    more = []
    for v in vals:
        bare = v[2:] if v.lower().startswith("0x") else v
        more += [bare, bare.lower(), bare.upper()]
    return sorted({v for v in vals + more if len(v) >= 6}, key=len, reverse=True)


def scrub(text: str, secrets_: list[str]) -> str:
    for s in secrets_:
        if s in text:
            text = text.replace(s, "***")
    return text


class Dashboard:
    """The app's state: where to read, the latest snapshot, the subscribers waiting for the next one."""

    def __init__(self, settings: DashboardSettings) -> None:
        check_settings(settings)
        self.s = settings
        self.link = BotLink(settings.state_dir) if settings.state_dir is not None else None
        self.backtest = model.read_backtest(settings.backtest) if settings.backtest is not None else None
        self.book: deque[tuple[float, float | None, float | None, float | None, float | None, float | None]] = \
            deque(maxlen=BOOK_SAMPLES)
        self.latest: dict[str, Any] | None = None
        self.latest_text = ""
        self.latest_light = ""  # the same without the journal part, for pages that already have it
        self.latest_at = 0.0
        self.journal: dict[str, Any] | None = None
        self.journal_seq = 0
        self._journal_text = ""
        self._journal_due = 0.0
        self.seq = 0
        self.cond = asyncio.Condition()
        self.subscribers = 0
        self._task: asyncio.Task[None] | None = None
        self.control_log: deque[dict[str, Any]] = deque(maxlen=20)

    # ---- snapshots --------------------------------------------------------------------------------------

    def _secrets(self) -> list[str]:
        extra = list(self.s.extra_secrets)
        if self.s.token:
            extra.append(self.s.token)
        if self.s.state_dir is not None:
            with contextlib.suppress(OSError):
                extra.append((self.s.state_dir / sd.CONTROL_TOKEN).read_text().strip())
        return secret_values(extra)

    def _journal_path(self) -> Path | None:
        if self.s.journal is not None:
            return self.s.journal
        assert self.s.state_dir is not None
        return self.s.state_dir / sd.JOURNAL

    async def _read_journal(self, path: Path, force: bool) -> None:
        """Re-read the journal when due: every update while that is cheap, and no more than a tenth of the
        time on a long journal (a day of 1 s snapshots takes about a second to read and summarise),
        so a page left open overnight never costs the machine more than that. ``force`` (a control, a
        test's ``?fresh=1``) reads now."""
        now = time.monotonic()
        if not force and self.journal is not None and now < self._journal_due:
            return
        started = time.monotonic()
        j = await asyncio.to_thread(model.read_journal, path)
        took = time.monotonic() - started
        self._journal_due = started + max(self.s.interval_s * 0.9, JOURNAL_DUTY * took)
        j["read_at"] = time.time()
        j["read_s"] = took
        text = json.dumps({k: v for k, v in j.items() if k not in ("read_at", "read_s")}, allow_nan=False,
                          default=str)
        if text != self._journal_text:
            self._journal_text = text
            self.journal_seq += 1
        self.journal = j

    async def build(self, force: bool = False) -> dict[str, Any]:
        """One consistent picture: heartbeat + bot endpoint + journal, stamped with the time it was read."""
        now = time.time()
        snap: dict[str, Any] = {"asof": now, "source": "replay" if self.link is None else "live",
                                "interval_s": self.s.interval_s, "backtest": self.backtest,
                                "controls": self.link is not None, "controls_log": list(self.control_log)}
        bot: dict[str, Any] = {}
        metrics: dict[str, Any] = {"values": {}, "latency": {}}
        if self.link is not None:
            beat, pres = self.link.presence(now)
            snap["presence"] = {"status": pres.status, "age_s": pres.age_s, "pid": pres.pid, "why": pres.why}
            if beat is not None:
                bot = {"state": beat.state, "reasons": list(beat.reasons), "mode": beat.mode,
                       "network": beat.network, "account": beat.account, "equity": beat.equity,
                       "position": beat.position, "mid": beat.mid, "feed_age_s": beat.feed_age_s,
                       "fills": beat.fills, "started": beat.started, "heartbeat_ts": beat.ts}
            if pres.status != "offline":
                state, metrics, err = await self.link.fetch(beat)
                bot.update({k: v for k, v in state.items() if v not in (None, [], {})})
                bot.setdefault("open_orders", [])
                if err:
                    snap["endpoint_error"] = err
            self._sample_book(now, bot)
        else:
            snap["presence"] = {"status": "replay", "age_s": None, "pid": None, "why": "a finished journal"}
        snap["bot"] = bot
        snap["metrics"] = metrics
        snap["book"] = {"t": [b[0] for b in self.book], "bid": [b[1] for b in self.book],
                        "ask": [b[2] for b in self.book], "mid": [b[3] for b in self.book],
                        "our_bid": [b[4] for b in self.book], "our_ask": [b[5] for b in self.book]}
        path = self._journal_path()
        if path is not None and path.is_file():
            try:
                await self._read_journal(path, force)
            except jr.JournalError as exc:
                snap["journal_error"] = str(exc)
            if self.journal is not None:
                snap["identity"] = self.journal["identity"]
                snap["journal"] = self.journal
                snap["journal_seq"] = self.journal_seq
        else:
            snap["journal_error"] = "no journal yet" if self.link is not None else f"{path}: no journal"
        if "identity" not in snap and bot.get("mode"):
            snap["identity"] = {k: bot.get(k) for k in ("mode", "network", "account")}
        return snap

    def _sample_book(self, now: float, bot: dict[str, Any]) -> None:
        orders = bot.get("open_orders") or []
        bids = [o["px"] for o in orders if o.get("side") == "buy" and o.get("px")]
        asks = [o["px"] for o in orders if o.get("side") == "sell" and o.get("px")]
        if any(v is not None for v in (bot.get("best_bid"), bot.get("best_ask"), bot.get("mid"))):
            self.book.append((now, bot.get("best_bid"), bot.get("best_ask"), bot.get("mid"),
                              max(bids) if bids else None, min(asks) if asks else None))

    async def refresh(self, force: bool = False) -> None:
        snap = await self.build(force)
        secrets_ = self._secrets()
        text = scrub(json.dumps(snap, allow_nan=False, default=str), secrets_)
        light = scrub(json.dumps({k: v for k, v in snap.items() if k != "journal"}, allow_nan=False, default=str),
                      secrets_)
        async with self.cond:
            self.seq += 1
            self.latest, self.latest_text, self.latest_light, self.latest_at = snap, text, light, snap["asof"]
            self.cond.notify_all()

    async def run(self) -> None:
        """Refresh every interval while someone watches (a replay: once, then whenever asked)."""
        while True:
            try:
                if self.subscribers or self.latest is None:
                    await self.refresh()
            except Exception:  # keep serving: one bad read must not end the page
                log.exception("dashboard refresh failed")
            await asyncio.sleep(self.s.interval_s)

    # ---- HTTP -------------------------------------------------------------------------------------------

    def _allowed_hosts(self, request: web.Request) -> set[str]:
        port = request.url.port
        names = {"127.0.0.1", "localhost", "[::1]", self.s.host}
        return {f"{n}:{port}" for n in names} | names

    @web.middleware
    async def guard(self, request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if request.host not in self._allowed_hosts(request):
            return web.Response(status=421, text="unknown Host")
        if self.s.token:
            if request.path == "/" and request.query.get("token") == self.s.token:
                resp = web.Response(status=302, headers={"Location": "/"})
                resp.set_cookie(COOKIE, self.s.token, httponly=True, samesite="Strict")
                return resp
            shown = request.cookies.get(COOKIE) or request.headers.get("Authorization", "").removeprefix("Bearer ")
            if not secrets.compare_digest(shown.encode(), self.s.token.encode()):
                return web.Response(status=401, text="this dashboard needs its token: open /?token=...")
        out = await handler(request)
        out.headers["Content-Security-Policy"] = ("default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                                   "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'")
        out.headers["X-Frame-Options"] = "DENY"
        out.headers["X-Content-Type-Options"] = "nosniff"
        out.headers["Referrer-Policy"] = "no-referrer"
        out.headers["Cache-Control"] = "no-store"
        return out

    async def index(self, request: web.Request) -> web.Response:
        return web.Response(text=(STATIC / "index.html").read_text(), content_type="text/html")

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        allowed = {"app.js": "application/javascript", "app.css": "text/css",
                   "vendor/uPlot.iife.min.js": "application/javascript", "vendor/uPlot.min.css": "text/css"}
        if name not in allowed:
            raise web.HTTPNotFound()
        return web.Response(text=(STATIC / name).read_text(), content_type=allowed[name])

    async def api_snapshot(self, request: web.Request) -> web.Response:
        # nobody subscribed: the background task is idle, so a stale snapshot is refreshed here
        fresh = bool(request.query.get("fresh"))
        if self.latest is None or fresh or time.time() - self.latest_at > self.s.interval_s:
            await self.refresh(force=fresh)
        return web.Response(text=self.latest_text, content_type="application/json")

    async def api_events(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
        await resp.prepare(request)
        self.subscribers += 1
        try:
            if self.latest is None:
                await self.refresh()
            seq, sent_journal = -1, -1
            while True:
                async with self.cond:
                    if self.seq == seq:
                        await self.cond.wait()
                    seq = self.seq
                    # the journal part (most of the bytes) only when it changed since this page got it
                    text = self.latest_text if self.journal_seq != sent_journal else self.latest_light
                    sent_journal = self.journal_seq
                await resp.write(f"id: {seq}\nevent: snapshot\ndata: {text}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.subscribers -= 1
        return resp

    async def api_control(self, request: web.Request) -> web.Response:
        if self.link is None:
            return web.json_response({"ok": False, "message": "a replayed journal has no bot to control"},
                                     status=409)
        if request.content_type != "application/json":
            return web.json_response({"ok": False, "message": "send JSON"}, status=415)
        origin = request.headers.get("Origin")
        if origin is not None and origin.split("://", 1)[-1] not in self._allowed_hosts(request):
            return web.json_response({"ok": False, "message": "cross-site request refused"}, status=403)
        try:
            body = json.loads(await request.read())  # not request.json(): it trusts the charset the request names
            command = str(body.get("command"))
        except (ValueError, AttributeError):
            return web.json_response({"ok": False, "message": "body must be {\"command\": ...}"}, status=400)
        if command not in COMMANDS:
            return web.json_response({"ok": False, "message": f"command must be one of {', '.join(COMMANDS)}"},
                                     status=400)
        if request.headers.get("X-AMM500-Confirm") != command:
            return web.json_response({"ok": False, "message": "unconfirmed: the X-AMM500-Confirm header must "
                                      "name the command"}, status=428)
        status, message = await self.link.control(command)
        message = scrub(message, self._secrets())
        self.control_log.appendleft({"time": time.time(), "command": command, "status": status,
                                     "message": message})
        log.info("control %s -> %s %s", command, status, message)
        with contextlib.suppress(Exception):  # the pages see the result at once
            await self.refresh(force=True)
        return web.json_response({"ok": status == 200, "status": status, "message": message},
                                 status=200 if status == 200 else 502 if status >= 500 else status)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.guard])
        app.router.add_get("/", self.index)
        app.router.add_get("/static/{name:.+}", self.static)
        app.router.add_get("/api/snapshot", self.api_snapshot)
        app.router.add_get("/api/events", self.api_events)
        app.router.add_post("/api/control", self.api_control)

        async def lifecycle(app: web.Application) -> Any:
            self._task = asyncio.create_task(self.run())
            yield
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            if self.link is not None:
                await self.link.close()

        app.cleanup_ctx.append(lifecycle)
        return app


async def start(settings: DashboardSettings) -> tuple[web.AppRunner, str]:
    """Serve the dashboard in the running loop; (runner to clean up, URL). ``paper``/``live``/``demo``
    can call this beside the engine; ``amm500 dashboard`` calls it alone."""
    dash = Dashboard(settings)
    runner = web.AppRunner(dash.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    port = settings.port
    sockets = getattr(site._server, "sockets", None) or []
    if sockets:
        port = sockets[0].getsockname()[1]
    host = settings.host if ":" not in settings.host else f"[{settings.host}]"
    return runner, f"http://{host}:{port}/"


async def serve_forever(settings: DashboardSettings, announce: Callable[[str], None]) -> None:
    """Run until cancelled (Ctrl-C, SIGTERM)."""
    runner, url = await start(settings)
    announce(url)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


async def serve_beside(state_dir: Path, port: int = 0, backtest: Path | None = None,
                       announce: Callable[[str], None] | None = None) -> web.AppRunner | None:
    """The dashboard inside the bot's own process (``paper``/``live``/``demo --dashboard``).

    Why it never raises: a page someone may watch must not stop a bot from trading (a port in use, a
    bad backtest file), so a failure is announced and the engine goes on. Why a separate
    ``amm500 dashboard`` is still preferred for long runs: here its journal reads share the engine's
    interpreter (the reads run in a thread, off the event loop, but hold the GIL while they decode).
    """
    say = announce or (lambda _m: None)
    try:
        runner, url = await start(DashboardSettings(state_dir=state_dir, port=port, backtest=backtest))
    except (OSError, ValueError) as exc:
        say(f"dashboard not started: {exc}")
        return None
    say(f"dashboard: {url}")
    return runner
