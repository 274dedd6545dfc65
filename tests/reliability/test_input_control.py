"""Issue 20 item 5: hostile requests to the engine's ``/control`` and the dashboard's ``/api/control``.

A paper bot runs on the local exchange with its control endpoint and a dashboard beside it, in a
background thread. Hypothesis sends requests with no, wrong, non-ASCII or right tokens, any content
type, malformed or random JSON, junk commands and bodies over the size limit. Every answer must be
a 4xx with a short message (never a 500 or a traceback), and the bot must keep serving afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlparse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amm500.config import load_config
from amm500.dashboard.server import DashboardSettings, start
from amm500.exchange_sim.market import RandomWalkFeed
from amm500.exchange_sim.server import run_exchange
from amm500.runs.session import trading_session
from amm500.store import state_dir as sd
from reliability.fuzz import fuzz
from reliability.test_input_messages import json_values


@dataclass
class Bot:
    engine: str  # http://127.0.0.1:PORT
    dashboard: str
    token: str


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    folder = tmp_path_factory.mktemp("bot")
    ready: list[Bot | BaseException] = []
    started = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        cfg = load_config(overrides={"trading": {"order_levels": 2}, "risk": {"kill_switch_enabled": False}})
        try:
            async with (run_exchange({}, feed=RandomWalkFeed(seed=4, vol_bps_per_s=0.2), block_s=0.02,
                                     book_push_s=0.1) as sim,
                        trading_session(cfg, "paper", network=sim.base_url, state_dir=folder) as session):
                runner, dash_url = await start(DashboardSettings(state_dir=folder, port=0))
                run = asyncio.create_task(session.engine.run(600.0))
                assert session.engine.url is not None
                ready.append(Bot(session.engine.url, dash_url.rstrip("/"), (folder / sd.CONTROL_TOKEN).read_text()))
                started.set()
                await stop.wait()
                run.cancel()
                await asyncio.gather(run, return_exceptions=True)
                await runner.cleanup()
        except BaseException as exc:
            ready.append(exc)
            started.set()
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    started.wait(60)
    got = ready[0]
    if isinstance(got, BaseException):
        raise got
    try:
        yield got
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        assert not thread.is_alive()


def send(url: str, path: str, body: bytes, headers: dict[str, bytes]) -> tuple[int, str]:
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
    try:
        conn.putrequest("POST", path)
        for k, v in {"Content-Length": str(len(body)).encode(), **headers}.items():
            conn.putheader(k, v)
        conn.endheaders()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # it stopped reading an oversize body
            conn.send(body)
        resp = conn.getresponse()
        return resp.status, resp.read(4096).decode("utf-8", "replace")
    finally:
        conn.close()


def get(url: str, path: str) -> int:
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


COMMANDS = ["reduce", "resume", "cancel_all", "flatten", "explode", "", "REDUCE", "reduce\n"]
bodies = st.one_of(
    st.sampled_from(COMMANDS).map(lambda c: json.dumps({"command": c}).encode()),
    json_values.map(lambda v: json.dumps({"command": v}).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
    st.just(b'{"command": "reduce"'),
    st.just(b"{" + b'"x": "' + b"a" * 3_000_000 + b'"}'),  # over the 1 MiB limit
)
tokens = st.sampled_from(["none", "wrong", "right", "non-ascii", "right+junk", "empty"])
confirms = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=12).map(str.encode)
content_types = st.sampled_from([b"application/json", b"text/plain", b"", b"application/json; charset=\xff"])


def auth(kind: str, token: str) -> dict[str, bytes]:
    value = {"none": None, "wrong": b"Bearer " + b"0" * 32, "right": f"Bearer {token}".encode(),
             "non-ascii": "Bearer \u00e9\u00e8\u00ff".encode("latin-1"), "right+junk": f"Bearer {token}x".encode(),
             "empty": b""}[kind]
    return {} if value is None else {"Authorization": value}


def safe_command(body: bytes) -> bool:
    """Commands that would change the bot's state for the rest of the run are not sent with a good token."""
    try:
        return json.loads(body).get("command") not in ("reduce", "cancel_all", "flatten")
    except (ValueError, AttributeError, RecursionError):
        return True


@fuzz(0.5)
@given(st.sampled_from(["engine", "dashboard"]), tokens, content_types, bodies, confirms)
def test_hostile_control_requests_get_a_short_4xx_and_the_bot_keeps_serving(
        bot: Bot, target: str, token: str, ctype: bytes, body: bytes, confirm: bytes) -> None:
    if token in ("right",) and not safe_command(body):
        token = "wrong"
    headers = {**auth(token, bot.token), "Content-Type": ctype, "X-AMM500-Confirm": confirm}
    url, path = (bot.engine, "/control") if target == "engine" else (bot.dashboard, "/api/control")
    status, text = send(url, path, body, headers)
    where = f"{target} {token} {ctype!r} {body[:60]!r}: {status} {text[:200]!r}"
    assert status < 500, where
    assert "Traceback" not in text and len(text) < 600, where
    assert status in (200, 400, 401, 403, 409, 413, 415, 428), where
    assert get(bot.engine, "/state") == 200 and get(bot.dashboard, "/api/snapshot") == 200, where


def test_a_non_ascii_token_is_refused_not_a_server_error(bot: Bot) -> None:
    """Bug B8: the engine compared the Authorization header as str; a non-ASCII one raised TypeError (500)."""
    status, text = send(bot.engine, "/control", b'{"command": "resume"}',
                        {**auth("non-ascii", bot.token), "Content-Type": b"application/json"})
    assert status == 401, text


def test_a_request_naming_an_unknown_charset_is_refused_not_a_server_error(bot: Bot) -> None:
    """Bug B9: both endpoints decoded the body with the charset the request named; an unknown one raised
    LookupError (500)."""
    for url, path in ((bot.engine, "/control"), (bot.dashboard, "/api/control")):
        status, text = send(url, path, b'{"command": "explode"}', {**auth("right", bot.token),
                            "Content-Type": b"application/json; charset=nonesuch", "X-AMM500-Confirm": b"explode"})
        assert status == 400, (path, status, text)
