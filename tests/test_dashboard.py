"""The dashboard's server and read model, against a real journal and a real (scripted) bot endpoint.

The browser tests (tests/test_dashboard_browser.py) check what a person sees; these check the
server's figures, its guards and its secrets at the API level, where a failure names the field.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.dashboard_helpers import CANARY_KEY, FakeBot

from amm500.dashboard import model
from amm500.dashboard.bot import clean_state, parse_metrics, presence
from amm500.dashboard.replay import replay_snapshot, static_page, write_static
from amm500.dashboard.server import DashboardError, DashboardSettings, check_settings, start
from amm500.obs.heartbeat import Heartbeat
from amm500.store import journal as jr
from amm500.store import state_dir as sd

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[FakeBot]:
    b = FakeBot(tmp_path / "state").start()
    b.step(20)
    yield b
    b.stop()


@pytest.fixture
async def dash(bot: FakeBot) -> AsyncIterator[str]:
    runner, url = await start(DashboardSettings(state_dir=bot.folder, port=0, interval_s=0.1))
    yield url
    await runner.cleanup()


async def get_json(url: str, **kw: Any) -> Any:
    async with aiohttp.ClientSession() as s, s.get(url, **kw) as r:
        assert r.status == 200, await r.text()
        return await r.json()


# ---- the read model ---------------------------------------------------------------------------------------


def test_pnl_split_over_time_ends_on_the_journal_summary(bot: FakeBot) -> None:
    with jr.reader(bot.journal.path) as conn:
        summ = jr.summary(conn)
        ser = model.pnl_series(conn)
    assert summ["fills"] == 6 and len(ser["t"]) == 20
    for key, total in (("capture", summ["spread_capture"]), ("fees", summ["fees"]), ("funding", summ["funding"]),
                       ("net", summ["net_pnl"]), ("inventory", summ["inventory_pnl"])):
        assert ser[key][-1] == pytest.approx(total, abs=1e-9), key
    # over time, not a flat line: fees grow with each fill
    assert ser["fees"][0] == 0.0 and ser["fees"][-1] > ser["fees"][len(ser["fees"]) // 2] > 0


def test_long_series_are_thinned_keeping_the_last_point() -> None:
    idx = model._thin(100_000, 500)
    assert len(idx) <= 500 and idx[0] == 0 and idx[-1] == 99_999
    assert list(model._thin(10, 500)) == list(range(10))


def test_presence_from_heartbeat_age_and_lock() -> None:
    beat = Heartbeat(pid=1, ts=1000.0, started=900.0, mode="paper", network="x", account="paper", state="ACTIVE")
    assert presence(beat, 1, now=1001.0).status == "active"
    assert presence(beat, 1, now=1010.0).status == "stale"
    assert presence(beat, 1, now=1100.0).status == "offline"
    assert presence(beat, None, now=1001.0).status == "offline"  # lock released: the process is gone
    assert presence(None, None).status == "offline"
    beat.state = "STOPPED"
    assert presence(beat, 1, now=1001.0).status == "offline"


def test_state_is_whitelisted() -> None:
    out = clean_state({"trading_state": "REDUCING", "reasons": ["operator"], "position": 0.5, "equity": 1e4,
                       "config": {"private_key": "0xabc"}, "secret": "s3cret",
                       "open_orders": [{"side": "B", "px": 1.5, "sz": 2, "api_key": "k"}]})
    assert out["state"] == "REDUCING" and out["position"] == 0.5
    text = json.dumps(out)
    assert "0xabc" not in text and "s3cret" not in text and "api_key" not in text
    assert out["open_orders"][0]["side"] == "buy"


def test_latency_quantiles_from_prometheus_buckets() -> None:
    text = ('# TYPE amm500_tick_to_order_seconds histogram\n'
            'amm500_tick_to_order_seconds_bucket{le="0.001"} 50.0\n'
            'amm500_tick_to_order_seconds_bucket{le="0.002"} 100.0\n'
            'amm500_tick_to_order_seconds_bucket{le="+Inf"} 100.0\n'
            'amm500_tick_to_order_seconds_count 100.0\namm500_tick_to_order_seconds_sum 0.1\n'
            '# TYPE amm500_position gauge\namm500_position 0.25\n')
    out = parse_metrics(text)
    lat = out["latency"]["amm500_tick_to_order_seconds"]
    assert lat["p50"] == pytest.approx(0.001) and lat["p99"] == pytest.approx(0.00198)
    assert out["values"]["amm500_position"] == 0.25


def test_settings_refuse_a_public_bind_without_flag_and_token(tmp_path: Path) -> None:
    check_settings(DashboardSettings(state_dir=tmp_path))
    with pytest.raises(DashboardError, match="allow-remote"):
        check_settings(DashboardSettings(state_dir=tmp_path, host="0.0.0.0"))
    with pytest.raises(DashboardError, match="token"):
        check_settings(DashboardSettings(state_dir=tmp_path, host="0.0.0.0", allow_remote=True, token="short"))
    check_settings(DashboardSettings(state_dir=tmp_path, host="0.0.0.0", allow_remote=True, token="x" * 20))
    with pytest.raises(DashboardError, match="exactly one"):
        check_settings(DashboardSettings())


def test_cli_refuses_a_public_bind(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "amm500", "dashboard", "--state-dir", str(tmp_path), "--host",
                        "0.0.0.0"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "allow-remote" in r.stderr


# ---- the server, live -------------------------------------------------------------------------------------


async def test_snapshot_equals_journal_and_metrics_at_the_same_moment(bot: FakeBot, dash: str) -> None:
    snap = await get_json(dash + "api/snapshot?fresh=1")
    with jr.reader(bot.journal.path) as conn:
        summ = jr.summary(conn)
    got = snap["journal"]["summary"]
    for key in ("net_pnl", "spread_capture", "inventory_pnl", "fees", "funding", "fills", "maker_ratio", "position",
                "end_equity"):
        assert got[key] == summ[key], key
    async with aiohttp.ClientSession() as s, s.get(bot.url + "/metrics") as r:
        fresh = parse_metrics(await r.text())["values"]
    vals = snap["metrics"]["values"]
    assert vals["amm500_position"] == fresh["amm500_position"] == bot.position
    assert vals["amm500_equity_usd"] == fresh["amm500_equity_usd"]
    assert vals["amm500_request_budget_left"] == 9000 - 20
    assert snap["bot"]["position"] == summ["position"] == bot.position
    assert snap["presence"]["status"] == "active"
    assert snap["identity"] == {"mode": "paper", "network": "local", "account": "paper"}
    assert {(o["side"], o["px"], o["status"]) for o in snap["bot"]["open_orders"]} == \
        {(o["side"], o["px"], "RESTING") for o in bot.orders}
    assert snap["bot"]["max_position"] == 0.05 and snap["bot"]["budget_left"] == 9000 - 20
    assert snap["bot"]["latency_ms"]["tick_to_order"] == {"count": 20, "p50": 0.9, "p90": 1.1, "p99": 1.3}
    assert snap["bot"]["latency_ms"]["rtt.rest"] == {"count": 0, "p50": None, "p90": None, "p99": None}
    assert snap["metrics"]["latency"]["amm500_tick_to_order_seconds"]["count"] == 20


async def test_updates_are_pushed_as_the_bot_trades(bot: FakeBot, dash: str) -> None:
    async with aiohttp.ClientSession() as s, s.get(dash + "api/events") as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")

        journal: dict[str, Any] = {}

        async def next_snapshot() -> dict[str, Any]:
            while True:
                line = (await r.content.readline()).decode()
                if line.startswith("data: "):
                    snap: dict[str, Any] = json.loads(line[6:])
                    if "journal" in snap:
                        journal.update(snap["journal"])
                    else:  # unchanged since the last message: the page keeps the one it has
                        assert snap["journal_seq"] == seen[-1]
                        snap["journal"] = dict(journal)
                    seen.append(snap["journal_seq"])
                    return snap

        seen: list[int] = []
        first = await asyncio.wait_for(next_snapshot(), 30)
        bot.step(9)
        for _ in range(200):
            snap = await asyncio.wait_for(next_snapshot(), 30)
            if snap["journal"]["summary"]["fills"] != first["journal"]["summary"]["fills"]:
                break
        assert snap["journal"]["summary"]["fills"] == 9 == first["journal"]["summary"]["fills"] + 3
        # the bot is idle now: the next updates leave the unchanged journal part out (it is most of the bytes)
        n = len(seen)
        for _ in range(3):
            again = await asyncio.wait_for(next_snapshot(), 30)
        assert seen[n:] == [seen[n - 1]] * 3 and again["journal"]["summary"]["fills"] == 9


async def test_control_needs_confirmation_and_reaches_the_bot_with_its_token(bot: FakeBot, dash: str) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.post(dash + "api/control", json={"command": "reduce"}) as r:
            assert r.status == 428
        async with s.post(dash + "api/control", data="command=reduce",
                          headers={"X-AMM500-Confirm": "reduce", "Content-Type": "application/x-www-form-urlencoded"}
                          ) as r:
            assert r.status == 415
        async with s.post(dash + "api/control", json={"command": "reduce"},
                          headers={"X-AMM500-Confirm": "reduce", "Origin": "http://evil.example"}) as r:
            assert r.status == 403
        async with s.post(dash + "api/control", json={"command": "sudo"}, headers={"X-AMM500-Confirm": "sudo"}) as r:
            assert r.status == 400
        assert bot.commands == []
        async with s.post(dash + "api/control", json={"command": "reduce"},
                          headers={"X-AMM500-Confirm": "reduce"}) as r:
            body = await r.json()
            assert r.status == 200 and body["ok"], body
        assert bot.commands == [("reduce", f"Bearer {bot.token}")]
        snap = await get_json(dash + "api/snapshot?fresh=1")
        assert snap["bot"]["state"] == "REDUCING" and snap["bot"]["reasons"] == ["operator"]


async def test_foreign_host_header_is_refused(dash: str) -> None:
    async with aiohttp.ClientSession() as s, s.get(dash + "api/snapshot", headers={"Host": "evil.example"}) as r:
        assert r.status == 421


async def test_token_guards_a_remote_dashboard(bot: FakeBot) -> None:
    token = "t" * 24
    runner, url = await start(DashboardSettings(state_dir=bot.folder, port=0, token=token, host="127.0.0.1"))
    try:  # a jar that keeps cookies of an IP-address host, as browsers do
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            async with s.get(url + "api/snapshot") as r:
                assert r.status == 401
            async with s.get(url + "api/snapshot", headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 200
                assert token not in await r.text()
            async with s.get(url + f"?token={token}", allow_redirects=False) as r:
                assert r.status == 302 and r.cookies["amm500_dashboard"].value == token
            async with s.get(url + "api/snapshot") as r:  # the cookie now carries it
                assert r.status == 200
    finally:
        await runner.cleanup()


async def test_offline_when_the_bot_stops(bot: FakeBot, dash: str) -> None:
    bot.stop()
    snap = await get_json(dash + "api/snapshot?fresh=1")
    assert snap["presence"]["status"] == "offline"
    async with aiohttp.ClientSession() as s, s.post(dash + "api/control", json={"command": "flatten"},
                                                    headers={"X-AMM500-Confirm": "flatten"}) as r:
        assert r.status == 502 and "no running bot" in (await r.json())["message"]


async def test_no_secret_reaches_the_page_or_its_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Canary: the key is in the environment and the careless bot even puts it in /state."""
    monkeypatch.setenv("AMM500_PRIVATE_KEY", CANARY_KEY)
    b = FakeBot(tmp_path / "state", leak=CANARY_KEY).start()
    b.step(6)
    runner, url = await start(DashboardSettings(state_dir=b.folder, port=0, interval_s=0.1))
    seen: list[str] = []
    try:
        async with aiohttp.ClientSession() as s:
            for path in ("", "static/app.js", "static/app.css", "static/vendor/uPlot.iife.min.js",
                         "api/snapshot", "api/snapshot?fresh=1"):
                async with s.get(url + path) as r:
                    assert r.status == 200, path
                    seen.append(await r.text())
            async with s.get(url + "api/events") as r:
                while True:
                    line = (await asyncio.wait_for(r.content.readline(), 30)).decode()
                    if line.startswith("data: "):
                        seen.append(line)
                        break
            for cmd in ("reduce", "resume"):
                async with s.post(url + "api/control", json={"command": cmd}, headers={"X-AMM500-Confirm": cmd}) as r:
                    seen.append(await r.text())
            seen.append(json.dumps(await get_json(url + "api/snapshot?fresh=1")))
    finally:
        await runner.cleanup()
        b.stop()
    everything = "\n".join(seen)
    assert "debug ***" in everything  # the leak was there to be caught, and was masked
    for secret in (CANARY_KEY, CANARY_KEY[2:], CANARY_KEY[2:].upper(), b.token):
        assert secret not in everything
    page = await asyncio.to_thread(lambda: static_page(replay_snapshot(b.journal.path)))
    assert CANARY_KEY[2:] not in page and b.token not in page


# ---- replay --------------------------------------------------------------------------------------------


async def test_replay_serves_the_journal_and_refuses_controls(bot: FakeBot) -> None:
    bot.journal.flush()
    runner, url = await start(DashboardSettings(journal=bot.journal.path, port=0))
    try:
        snap = await get_json(url + "api/snapshot")
        assert snap["source"] == "replay" and snap["presence"]["status"] == "replay" and not snap["controls"]
        assert snap["journal"]["summary"]["fills"] == 6
        async with aiohttp.ClientSession() as s, s.post(url + "api/control", json={"command": "reduce"},
                                                        headers={"X-AMM500-Confirm": "reduce"}) as r:
            assert r.status == 409
    finally:
        await runner.cleanup()
    assert bot.commands == []


def test_static_replay_is_one_self_contained_file(bot: FakeBot, tmp_path: Path) -> None:
    bot.journal.flush()
    bt = tmp_path / "bt.json"
    bt.write_text(json.dumps({"net_pnl": 12.5, "fills": 40, "span_days": 2.0, "fill_model": "tick",
                              "markouts": {"1s": {"mean_bps": 0.4, "n": 40}}, "config": {"x": 1}}))
    out = write_static(bot.journal.path, tmp_path / "replay.html", bt)
    html = out.read_text()
    assert 'src="/static' not in html and 'href="/static' not in html  # opens from disk, no server
    data = html.split('<script id="snapshot" type="application/json">', 1)[1].split("</script>", 1)[0]
    snap = json.loads(data.replace("<\\/", "</"))
    with jr.reader(bot.journal.path) as conn:
        assert snap["journal"]["summary"]["net_pnl"] == jr.summary(conn)["net_pnl"]
    assert snap["backtest"]["net_pnl"] == 12.5 and "config" not in snap["backtest"]
    assert snap["backtest"]["markouts_bps"] == {"1s": 0.4}


def test_cli_writes_the_replay_page(bot: FakeBot, tmp_path: Path) -> None:
    bot.journal.flush()
    out = tmp_path / "page.html"
    r = subprocess.run([sys.executable, "-m", "amm500", "dashboard", "--journal", str(bot.journal.path),
                        "--out", str(out)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 50_000 and "uPlot" in out.read_text()


def test_a_bad_backtest_file_is_one_sentence(tmp_path: Path) -> None:
    bad = tmp_path / "bt.json"
    bad.write_text("{\"fills\": 3}")
    with pytest.raises(ValueError, match="no net_pnl"):
        model.read_backtest(bad)


def test_journal_open_orders_and_events(bot: FakeBot) -> None:
    bot.transition("HALTED", ["stale feed"])
    bot.journal.record_risk_event(1, "kill_switch", "drawdown 6%")
    bot.journal.flush()
    with jr.reader(bot.journal.path) as conn:
        events = model.recent_events(conn)
        open_ = model.journal_open_orders(conn)
        assert model.last_transition(conn) is not None
    assert events[0]["kind"] == "state" and "ACTIVE → HALTED (stale feed)" in events[0]["detail"]
    assert any(e["kind"] == "kill_switch" for e in events)
    assert all(o["status"] == "resting" for o in open_) and open_
    assert not math.isnan(sum(o["px"] for o in open_))
    assert bot.journal.path.name == sd.JOURNAL


async def test_a_dashboard_beside_the_bot_never_stops_it(tmp_path: Path) -> None:
    """A port in use is announced and the caller goes on (the engine must keep trading)."""
    import socket

    from amm500.dashboard.server import serve_beside

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        said: list[str] = []
        runner = await serve_beside(tmp_path, taken.getsockname()[1], announce=said.append)
    assert runner is None and said and said[0].startswith("dashboard not started")
    runner = await serve_beside(tmp_path, 0, announce=said.append)
    assert runner is not None and said[-1].startswith("dashboard: http://127.0.0.1:")
    await runner.cleanup()


async def test_a_long_journal_is_read_less_often(bot: FakeBot, monkeypatch: pytest.MonkeyPatch) -> None:
    """The journal is re-read no sooner than JOURNAL_DUTY x its last read's duration (made huge here),
    unless an update must be exact (a control, ``?fresh=1``); the bot's live figures still update."""
    from amm500.dashboard import server

    monkeypatch.setattr(server, "JOURNAL_DUTY", 1e9)
    dash = server.Dashboard(DashboardSettings(state_dir=bot.folder, interval_s=0.01))
    first = await dash.build()
    bot.step(3)
    second = await dash.build()
    assert second["journal"]["read_at"] == first["journal"]["read_at"]
    assert second["journal"]["summary"]["fills"] == 6 and second["bot"]["position"] == bot.position
    forced = await dash.build(force=True)
    assert forced["journal"]["summary"]["fills"] == 7 and forced["journal_seq"] == first["journal_seq"] + 1
    await dash.link.close()  # type: ignore[union-attr]
