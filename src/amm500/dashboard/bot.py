"""Finding the bot and talking to it the way docs/engine.md allows: heartbeat, /state, /metrics, /control.

Why presence comes from the heartbeat file and not from the endpoint: a hung bot still answers
nothing, a dead one too; the file tells them apart (it stops changing; the ``bot.lock`` holder
disappears when the process dies), and it is there before the endpoint is.

Why everything taken from ``/state`` is copied field by field into plain numbers and short strings:
the page must never receive anything the bot did not mean for a person to read (a config, a key, a
token); a whitelist makes that a property of this file, not of the bot's good manners.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from amm500.obs.heartbeat import Heartbeat, read_heartbeat
from amm500.store import state_dir as sd

#: the bot rewrites its heartbeat every second: older than this it is "stale" (hung, or a slow disk)
STALE_AFTER_S = 5.0
#: older than this, or its lock released, it is "offline"
OFFLINE_AFTER_S = 30.0
COMMANDS = ("reduce", "resume", "cancel_all", "flatten")
STOPPED_STATES = frozenset({"STOPPED"})


@dataclass(frozen=True)
class Presence:
    status: str  # active | stale | offline
    age_s: float | None
    pid: int | None
    why: str


def presence(beat: Heartbeat | None, lock_pid: int | None, now: float | None = None) -> Presence:
    """Active, stale or offline, from the heartbeat's age and whether anyone holds ``bot.lock``.

    ``lock_pid`` is the holder of the bot's lock (None: nobody; the kernel releases a dead bot's lock,
    so a missing holder means no bot, whatever an old heartbeat says).
    """
    if beat is None:
        return Presence("offline", None, None, "no heartbeat yet")
    age = beat.age_s(now)
    if beat.state in STOPPED_STATES:
        return Presence("offline", age, beat.pid, "the bot stopped")
    if lock_pid is None:
        return Presence("offline", age, beat.pid, "no process holds the bot's lock")
    if age > OFFLINE_AFTER_S:
        return Presence("offline", age, beat.pid, f"no heartbeat for {age:.0f} s")
    if age > STALE_AFTER_S:
        return Presence("stale", age, beat.pid, f"last heartbeat {age:.0f} s ago")
    return Presence("active", age, beat.pid, "heartbeat fresh")


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def _text(x: Any, limit: int = 200) -> str | None:
    return None if x is None else str(x)[:limit]


def _first(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if k in d and d[k] is not None:
            return d[k]
    return None


def _order(o: Any) -> dict[str, Any] | None:
    if not isinstance(o, dict):
        return None
    side = _first(o, "side", "is_buy")
    if isinstance(side, bool):
        side_s = "buy" if side else "sell"
    elif isinstance(side, int | float):
        side_s = "buy" if side > 0 else "sell"
    else:
        side_s = {"b": "buy", "bid": "buy", "buy": "buy", "a": "sell", "ask": "sell", "sell": "sell",
                  "s": "sell"}.get(str(side).lower(), "?")
    return {"side": side_s, "px": _num(_first(o, "px", "price", "limit_px")),
            "sz": _num(_first(o, "sz", "size", "remaining")), "oid": _num(o.get("oid")),
            "cloid": _text(o.get("cloid"), 40), "status": _text(_first(o, "status", "state"), 30),
            "tif": _text(o.get("tif"), 10)}


def clean_state(state: Any) -> dict[str, Any]:
    """The whitelisted part of the bot's ``GET /state`` (tolerant of names: the figures, never the rest)."""
    if not isinstance(state, dict):
        return {}
    book: dict[str, Any] = state["book"] if isinstance(state.get("book"), dict) else {}
    stats: dict[str, Any] = state["stats"] if isinstance(state.get("stats"), dict) else {}
    orders = _first(state, "open_orders", "orders") or []
    ladder = state.get("ladder") or state.get("last_ladder") or []
    reasons = _first(state, "reasons", "trading_reasons") or []
    kill = _first(state, "kill_switch", "killed", "kill")
    if isinstance(kill, dict):
        kill = _first(kill, "latched", "active", "on")
    out: dict[str, Any] = {
        "state": _text(_first(state, "trading_state", "state"), 20),
        "reasons": [_text(r, 80) for r in reasons][:20] if isinstance(reasons, list) else [_text(reasons, 200)],
        "kill_switch": bool(kill) if kill is not None else None,
        "kill_reason": _text(_first(state, "kill_reason"), 120),
        "position": _num(state.get("position")), "equity": _num(state.get("equity")),
        "mid": _num(_first(state, "mid", "mid_px")) or _num(book.get("mid")),
        "best_bid": _num(_first(state, "best_bid", "bid")) or _num(_first(book, "best_bid", "bid")),
        "best_ask": _num(_first(state, "best_ask", "ask")) or _num(_first(book, "best_ask", "ask")),
        "spread_bps": _num(_first(state, "spread_bps", "quoted_spread_bps")) or _num(stats.get("spread_bps")),
        "regime": _text(_first(state, "regime", "vol_regime") or stats.get("regime"), 20),
        "feed_age_s": _num(state.get("feed_age_s")),
        "open_orders": [x for x in (_order(o) for o in orders if isinstance(orders, list)) if x][:100],
        "ladder": [x for x in (_order(o) for o in ladder if isinstance(ladder, list)) if x][:100],
        "stats": {str(k)[:40]: _num(v) for k, v in stats.items() if _num(v) is not None},
        "max_position": _num(state.get("max_position")),
        "start_equity": _num(state.get("start_equity")),
        "budget_left": _num(_first(state, "budget_left", "request_budget_left")),
        "latency_ms": _latency(state.get("latency_ms")),
    }
    return out


def _latency(lat: Any) -> dict[str, dict[str, float | None]]:
    """The engine's ``latency_ms`` over its recent window ({name: {count, p50, p90, p99}}, milliseconds;
    ``[p50, p90, p99]`` lists are read too) as {name: {count, p50, p90, p99}}."""
    if not isinstance(lat, dict):
        return {}
    out: dict[str, dict[str, float | None]] = {}
    for name, qs in list(lat.items())[:40]:
        if isinstance(qs, list | tuple) and len(qs) >= 3:
            qs = {"p50": qs[0], "p90": qs[1], "p99": qs[2]}
        if isinstance(qs, dict):
            out[str(name)[:60]] = {k: _num(qs.get(k)) for k in ("count", "p50", "p90", "p99")}
    return out


def parse_metrics(text: str) -> dict[str, Any]:
    """The figures the page shows from Prometheus text: amm500 gauges and counters, and latency
    quantiles estimated from the histograms' buckets (the bot keeps no window the dashboard could read)."""
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[str, float] = {}
    hist: dict[str, dict[str, list[tuple[float, float]]]] = {}
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError:
        return {"values": {}, "latency": {}}
    for fam in families:
        if not fam.name.startswith("amm500"):
            continue
        for s in fam.samples:
            labels = {k: v for k, v in s.labels.items() if k != "le"}
            key = s.name + ("{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}" if labels else "")
            if s.name.endswith("_bucket"):
                le = float(s.labels.get("le", "inf"))
                base = s.name.removesuffix("_bucket")
                route = ",".join(f"{v}" for k, v in sorted(labels.items()) if k in ("route",))
                hname = base + (f"[{route}]" if route else "")
                hist.setdefault(hname, {}).setdefault(key, []).append((le, float(s.value)))
                continue
            if s.name.endswith("_created"):
                continue
            v = _num(s.value)
            if v is not None:
                values[key] = v
    latency: dict[str, dict[str, float | None]] = {}
    for name, children in hist.items():
        merged: dict[float, float] = {}
        for buckets in children.values():
            for le, c in buckets:
                merged[le] = merged.get(le, 0.0) + c
        latency[name] = _quantiles(sorted(merged.items()))
    return {"values": values, "latency": latency}


def _quantiles(buckets: list[tuple[float, float]]) -> dict[str, float | None]:
    """p50/p99 from cumulative histogram buckets (linear inside a bucket, as Prometheus does)."""
    total = buckets[-1][1] if buckets else 0.0
    out: dict[str, float | None] = {"count": total}
    for q in (0.5, 0.99):
        if total <= 0:
            out[f"p{int(q * 100)}"] = None
            continue
        rank = q * total
        prev_le, prev_c = 0.0, 0.0
        val: float | None = None
        for le, c in buckets:
            if c >= rank:
                if math.isinf(le):
                    val = prev_le
                else:
                    val = prev_le + (le - prev_le) * ((rank - prev_c) / (c - prev_c) if c > prev_c else 1.0)
                break
            prev_le, prev_c = le, c
        out[f"p{int(q * 100)}"] = val
    return out


class BotLink:
    """One bot's state folder, and its endpoint once the heartbeat names it."""

    def __init__(self, state_dir: Path, timeout_s: float = 2.0) -> None:
        self.state_dir = state_dir
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    @property
    def journal_path(self) -> Path:
        return self.state_dir / sd.JOURNAL

    def heartbeat(self) -> Heartbeat | None:
        return read_heartbeat(self.state_dir / sd.HEARTBEAT)

    def presence(self, now: float | None = None) -> tuple[Heartbeat | None, Presence]:
        beat = self.heartbeat()
        return beat, presence(beat, sd.lock_holder(self.state_dir / sd.BOT_LOCK), now)

    def _token(self) -> str | None:
        try:
            return (self.state_dir / sd.CONTROL_TOKEN).read_text().strip() or None
        except OSError:
            return None

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @staticmethod
    def _loopback(url: str | None) -> str | None:
        """The heartbeat's endpoint, only if it is on this machine's loopback (the file could be forged)."""
        if not url:
            return None
        from urllib.parse import urlsplit

        host = urlsplit(url).hostname
        return url.rstrip("/") if host in ("127.0.0.1", "localhost", "::1") else None

    async def fetch(self, beat: Heartbeat | None) -> tuple[dict[str, Any], dict[str, Any], str | None]:
        """(cleaned /state, parsed /metrics, error) from the endpoint the heartbeat names."""
        base = self._loopback(beat.metrics_url if beat else None)
        if base is None:
            return {}, {"values": {}, "latency": {}}, "the bot publishes no endpoint" if beat else None
        s = await self.session()
        try:
            async with s.get(base + "/state") as r:
                state = clean_state(await r.json(content_type=None)) if r.status == 200 else {}
            async with s.get(base + "/metrics") as r:
                metrics = parse_metrics(await r.text()) if r.status == 200 else {"values": {}, "latency": {}}
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return {}, {"values": {}, "latency": {}}, f"endpoint unreachable ({type(exc).__name__})"
        return state, metrics, None

    async def control(self, command: str) -> tuple[int, str]:
        """Send a person's command to the bot with its token; (HTTP-like status, one sentence)."""
        if command not in COMMANDS:
            return 400, f"unknown command {command!r}"
        beat, pres = self.presence()
        base = self._loopback(beat.metrics_url if beat else None)
        if base is None or pres.status == "offline":
            return 503, "no running bot to send it to"
        token = self._token()
        if token is None:
            return 503, f"no {sd.CONTROL_TOKEN} in the state folder: cannot authenticate to the bot"
        s = await self.session()
        started = time.monotonic()
        try:
            async with s.post(base + "/control", json={"command": command},
                              headers={"Authorization": f"Bearer {token}"}) as r:
                body = (await r.text())[:300]
                status = r.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            return 502, f"the bot did not answer ({type(exc).__name__})"
        body = body.replace(token, "***")
        took = time.monotonic() - started
        if status == 200:
            return 200, f"{command} accepted by the bot ({took * 1e3:.0f} ms)"
        return status, f"the bot refused {command}: HTTP {status} {body}"
