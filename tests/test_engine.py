"""The trading engine on the local exchange over real HTTP and WebSocket: paper, live, control, refusals."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from eth_account import Account

from amm500.config import Config, ConfigError, load_config
from amm500.core import api
from amm500.exchange_sim.market import RandomWalkFeed
from amm500.exchange_sim.server import run_exchange
from amm500.obs.heartbeat import read_heartbeat
from amm500.runs.session import MainnetNotConfirmed, trading_session
from amm500.store import state_dir as sd
from amm500.store.journal import reader, summary
from amm500.venues.hyperliquid import messages as m
from amm500.venues.hyperliquid.errors import WalletError
from amm500.venues.hyperliquid.signing import Signer

KEY = "0x" + "5a" * 32
ADDR = Account.from_key(KEY).address.lower()
OTHER = Account.from_key("0x" + "6b" * 32).address.lower()


def cfg(**sections: dict[str, Any]) -> Config:
    base: dict[str, Any] = {"trading": {"order_levels": 3}, "backtest": {"initial_equity": 1000.0},
                            "risk": {"kill_switch_enabled": False}}
    for k, v in sections.items():
        base[k] = {**base.get(k, {}), **v}
    return load_config(overrides=base)


def journal_fills(folder: Path) -> list[sqlite3.Row]:
    with reader(folder / sd.JOURNAL) as conn:
        return list(conn.execute("SELECT * FROM fills ORDER BY tid"))


@pytest.mark.slow
async def test_paper_trades_on_the_live_feed_and_never_signs_or_sends_an_action(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_signing(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("paper mode signed something")

    monkeypatch.setattr(Signer, "envelope", no_signing)
    monkeypatch.setattr(Signer, "__init__", no_signing)
    feed = RandomWalkFeed(seed=11, vol_bps_per_s=3.0, trades_per_s=5.0)
    async with run_exchange({}, feed=feed, block_s=0.02, book_push_s=0.1) as sim:
        actions: list[Any] = []
        real_action = sim.exchange.action
        sim.exchange.action = lambda env: actions.append(env) or real_action(env)  # type: ignore[method-assign]
        async with trading_session(cfg(), "paper", network=sim.base_url, state_dir=tmp_path) as session:
            hb = read_heartbeat(tmp_path / sd.HEARTBEAT)
            assert hb is not None and hb.mode == "paper" and hb.account == "paper"
            result = await session.engine.run(8.0)
            venue_fills = await session.engine.venue.fills_since(0)  # type: ignore[attr-defined]
    assert actions == []  # the real exchange never saw an /exchange action, over HTTP or the socket
    stats = result.stats
    assert stats.placed > 0 and stats.fills > 0, "the random walk should cross our 3-level ladder in 8 s"
    assert stats.resting_at_end == 0
    rows = journal_fills(tmp_path)
    assert sorted(r["tid"] for r in rows) == sorted(f.tid for f in venue_fills)  # every fill journalled once
    with reader(tmp_path / sd.JOURNAL) as conn:
        s = summary(conn)
        orders = conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
    assert s["fills"] == stats.fills and orders >= stats.placed
    assert s["spread_capture"] + s["inventory_pnl"] - s["fees"] - s["funding"] == pytest.approx(s["net_pnl"])
    hb = read_heartbeat(tmp_path / sd.HEARTBEAT)
    assert hb is not None and hb.state == "STOPPED"


@pytest.mark.slow
async def test_the_paper_account_carries_over_and_a_second_bot_is_refused(tmp_path: Path) -> None:
    feed = RandomWalkFeed(seed=5, vol_bps_per_s=3.0, trades_per_s=5.0)
    async with run_exchange({}, feed=feed, block_s=0.02, book_push_s=0.1) as sim:
        async with trading_session(cfg(), "paper", network=sim.base_url, state_dir=tmp_path) as first:
            with pytest.raises(sd.LockHeld):
                async with trading_session(cfg(), "paper", network=sim.base_url, state_dir=tmp_path):
                    pass
            await first.engine.run(4.0)
            end_pos = first.engine.loop.om.position  # type: ignore[union-attr]
        with reader(tmp_path / sd.JOURNAL) as conn:
            last = conn.execute("SELECT equity, position FROM equity ORDER BY ts_ns DESC LIMIT 1").fetchone()
        async with trading_session(cfg(), "paper", network=sim.base_url, state_dir=tmp_path) as second:
            pos = await second.engine.venue.position()
            assert pos.szi == pytest.approx(end_pos) and pos.szi == pytest.approx(last["position"])
            assert pos.account_value == pytest.approx(last["equity"], rel=1e-3)
    with reader(tmp_path / sd.JOURNAL) as conn:
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2


@pytest.mark.slow
async def test_live_on_the_local_exchange_control_endpoint_and_no_secret_anywhere(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("AMM500_PRIVATE_KEY", KEY)
    feed = RandomWalkFeed(seed=3, vol_bps_per_s=0.5)
    async with (run_exchange({ADDR: 1000.0}, feed=feed, block_s=0.02, book_push_s=0.1) as sim,
                trading_session(cfg(), "live", network=sim.base_url, state_dir=tmp_path) as session):
            eng = session.engine
            assert session.account == ADDR and eng.url is not None
            run = asyncio.create_task(eng.run(6.0))
            await asyncio.sleep(2.0)
            token = (tmp_path / sd.CONTROL_TOKEN).read_text()
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{eng.url}/control", json={"command": "reduce"}) as r:
                    assert r.status == 401  # no token, no control
                async with http.post(f"{eng.url}/control", json={"command": "explode"},
                                     headers={"Authorization": f"Bearer {token}"}) as r:
                    assert r.status == 400
                async with http.post(f"{eng.url}/control", json={"command": "reduce"},
                                     headers={"Authorization": f"Bearer {token}"}) as r:
                    assert r.status == 200 and (await r.json())["state"] == "REDUCING"
                await asyncio.sleep(1.0)
                async with http.get(f"{eng.url}/state") as r:
                    state = await r.json()
                async with http.get(f"{eng.url}/metrics") as r:
                    metrics = await r.text()
            # REDUCING: nothing on the side that would grow the position rests any more
            pos = state["position"]
            growing = [o for o in state["orders"] if pos == 0 or (o["side"] > 0) == (pos > 0)]
            assert state["state"] == "REDUCING" and growing == []
            assert 'amm500_trading_state{state="REDUCING"} 1.0' in metrics
            result = await run
            opens = m.parse_open_orders(sim.exchange.info({"type": "openOrders", "user": ADDR}))
    assert result.stats.resting_at_end == 0 and opens == []
    # the canary: the key, in any spelling, nowhere the bot wrote or said anything
    needles = {KEY, KEY[2:], KEY.upper()[2:]}
    texts = [caplog.text, json.dumps(state), metrics]
    texts += [p.read_bytes().decode("latin-1") for p in tmp_path.rglob("*") if p.is_file()]
    assert not [n for n in needles for t in texts if n in t]
    with reader(tmp_path / sd.JOURNAL) as conn:
        kinds = [r[0] for r in conn.execute("SELECT new FROM transitions")]
        events = [r[0] for r in conn.execute("SELECT detail FROM risk_events WHERE kind = 'control'")]
    assert "REDUCING" in kinds and events == ["reduce"]


async def test_live_refuses_mainnet_unconfirmed_no_key_and_a_key_for_another_account(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMM500_PRIVATE_KEY", raising=False)
    with pytest.raises(MainnetNotConfirmed, match="typed confirmation"):
        async with trading_session(cfg(), "live", network="mainnet", state_dir=tmp_path):
            pass
    async with run_exchange({ADDR: 1000.0, OTHER: 1000.0}, block_s=0.02) as sim:
        with pytest.raises(ConfigError, match="AMM500_PRIVATE_KEY"):
            async with trading_session(cfg(), "live", network=sim.base_url, state_dir=tmp_path):
                pass
        monkeypatch.setenv("AMM500_PRIVATE_KEY", KEY)
        wrong = cfg(network={"account_address": OTHER})
        with pytest.raises(WalletError) as err:
            async with trading_session(wrong, "live", network=sim.base_url, state_dir=tmp_path / "w"):
                pass
        assert OTHER in str(err.value) and ADDR in str(err.value) and KEY[2:] not in str(err.value)
        assert m.parse_open_orders(sim.exchange.info({"type": "openOrders", "user": OTHER})) == []


@pytest.mark.slow
async def test_a_low_address_budget_slows_requotes_and_is_never_exhausted(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMM500_PRIVATE_KEY", KEY)

    async def requests_in(seconds: float, start_used: int) -> tuple[int, Any]:
        feed = RandomWalkFeed(seed=3, vol_bps_per_s=5.0)
        async with run_exchange({ADDR: 1000.0}, feed=feed, block_s=0.02, book_push_s=0.1) as sim:
            sim.exchange.accounts[ADDR].n_requests = start_used
            c = cfg(execution={"request_budget_low": 2000})
            async with trading_session(c, "live", network=sim.base_url, state_dir=tmp_path / str(start_used)) as s:
                await s.engine.venue.refresh_rate_limit()
                used0 = sim.exchange.accounts[ADDR].n_requests
                result = await s.engine.run(seconds)
                return sim.exchange.accounts[ADDR].n_requests - used0, result.stats

    fresh, fresh_stats = await requests_in(6.0, 0)
    low, stats = await requests_in(6.0, 10_000 - 150)  # 150 requests left of 10,000: requotes ~13x apart
    quotes = (fresh_stats.timers[api.TIMER_QUOTE], stats.timers[api.TIMER_QUOTE])
    assert quotes[1] <= 2 < 8 <= quotes[0], quotes  # every 0.5 s when fresh; every ~6.7 s when low
    assert low < fresh, (fresh, low)
    assert stats.rejected == 0  # never pushed into the exchange's one-request-per-10-s regime


@pytest.mark.slow
async def test_a_spent_budget_mid_run_pulls_every_quote_and_stops_quoting(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMM500_PRIVATE_KEY", KEY)
    feed = RandomWalkFeed(seed=3, vol_bps_per_s=20.0)  # the ladder must move, so a placement meets the refusal
    async with (run_exchange({ADDR: 1000.0}, feed=feed, block_s=0.02, book_push_s=0.1) as sim,
                trading_session(cfg(), "live", network=sim.base_url, state_dir=tmp_path) as session):
        run = asyncio.create_task(session.engine.run(6.0))
        await asyncio.sleep(2.0)
        assert m.parse_open_orders(sim.exchange.info({"type": "openOrders", "user": ADDR}))  # quoting
        sim.exchange.accounts[ADDR].n_requests = 1_000_000  # spent (whatever volume it traded): placements refused
        await asyncio.sleep(2.5)
        resting = m.parse_open_orders(sim.exchange.info({"type": "openOrders", "user": ADDR}))
        gate = session.engine.loop.om.gate  # type: ignore[union-attr]
        result = await run
    assert resting == [] and "request budget spent" in gate.reasons
    assert result.stats.stopped_by == "time" and result.stats.resting_at_end == 0


@pytest.mark.slow
def test_paper_in_one_command_and_the_journal_commands(tmp_path: Path) -> None:
    """What a newcomer types: ``amm500 paper --network sim`` (no key, no internet), then ``amm500 journal``."""
    import subprocess
    import sys

    folder = tmp_path / "paper"
    run = subprocess.run([sys.executable, "-m", "amm500", "paper", "--network", "sim", "--duration", "6",
                          "--state-dir", str(folder)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "paper on sim" in run.stdout and "orders resting after shutdown" in run.stdout
    path = folder / sd.JOURNAL
    out = subprocess.run([sys.executable, "-m", "amm500", "journal", "summary", "--json", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["mode"] == "paper" and s["network"] == "sim" and s["runs"] == 1
    csv_path = tmp_path / "fills.csv"
    out = subprocess.run([sys.executable, "-m", "amm500", "journal", "export", str(path), "--out", str(csv_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and csv_path.read_text().splitlines()[0].startswith("tid,time_ms")
    assert len(csv_path.read_text().splitlines()) == s["fills"] + 1
    bad = subprocess.run([sys.executable, "-m", "amm500", "journal", "summary", str(tmp_path / "fills.csv")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "not a readable journal" in bad.stderr and "Traceback" not in bad.stderr


def test_live_on_mainnet_without_a_terminal_or_the_flag_is_refused(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {**__import__("os").environ, "AMM500_PRIVATE_KEY": KEY}
    run = subprocess.run([sys.executable, "-m", "amm500", "live", "--network", "mainnet", "--state-dir",
                          str(tmp_path)], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                         env=env)
    assert run.returncode == 2 and "--i-understand-this-is-real-money" in run.stderr
    assert KEY[2:] not in run.stdout + run.stderr and not (tmp_path / sd.JOURNAL).exists()
    menu = subprocess.run(["bash", str(Path(__file__).parents[1] / "scripts" / "start_paper_trading.sh")],
                          input="2\nmainnet\nyes\n", capture_output=True, text=True, timeout=60)
    assert menu.returncode == 2 and "not confirmed" in menu.stderr


@pytest.mark.slow
async def test_funding_paid_on_the_position_lands_in_the_journal_once(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMM500_PRIVATE_KEY", KEY)
    feed = RandomWalkFeed(seed=3, vol_bps_per_s=0.5)
    async with (run_exchange({ADDR: 1000.0}, feed=feed, block_s=0.02, book_push_s=0.1) as sim,
                trading_session(cfg(), "live", network=sim.base_url, state_dir=tmp_path) as session):
        account = sim.exchange.accounts[ADDR]
        account.position(0).szi, account.position(0).entry_px = 0.002, 100_000.0  # a position to pay on
        sim.exchange.pay_funding(0, rate=0.0001)
        await session.engine._journal_fundings()
        await session.engine._journal_fundings()  # polled again: nothing twice
    with reader(tmp_path / sd.JOURNAL) as conn:
        rows = [dict(r) for r in conn.execute("SELECT rate, payment, position FROM funding")]
    assert len(rows) == 1 and rows[0]["rate"] == pytest.approx(0.0001) and rows[0]["position"] == pytest.approx(0.002)
    assert rows[0]["payment"] == pytest.approx(0.002 * sim.exchange.mark(0) * 0.0001, rel=1e-3)  # a long pays


@pytest.mark.slow
async def test_sigint_stops_cleanly_and_a_rehearsal_ends_flat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C mid-run: quoting stops, everything is cancelled, the position closed (flatten_on_stop), exit 0;
    a run asked to end flat (the demo's rehearsal) closes a position it adopted at start."""
    import os
    import signal

    monkeypatch.setenv("AMM500_PRIVATE_KEY", KEY)
    for name, sig in (("signal", True), ("end", False)):
        feed = RandomWalkFeed(seed=3, vol_bps_per_s=0.5)
        async with run_exchange({ADDR: 1000.0}, feed=feed, block_s=0.02, book_push_s=0.1) as sim:
            pos = sim.exchange.accounts[ADDR].position(0)
            pos.szi, pos.entry_px = 0.003, 100_000.0  # a position left by an earlier run
            c = cfg(execution={"flatten_on_stop": True})
            async with trading_session(c, "live", network=sim.base_url, state_dir=tmp_path / name) as session:
                assert session.engine.loop.om.position == pytest.approx(0.003)  # type: ignore[union-attr]
                if sig:
                    asyncio.get_running_loop().call_later(2.0, os.kill, os.getpid(), signal.SIGINT)
                    result = await session.engine.run(60.0)
                else:
                    result = await session.engine.run(2.0, flatten_at_end=True)
            state = m.parse_clearinghouse_state(sim.exchange.info({"type": "clearinghouseState", "user": ADDR}),
                                                "BTC")
            opens = m.parse_open_orders(sim.exchange.info({"type": "openOrders", "user": ADDR}))
        assert state.szi == pytest.approx(0.0, abs=1e-9) and opens == [], name
        assert result.exit_code == 0 and result.stats.stopped_by == ("signal" if sig else "time")
        assert result.stats.seconds < 30  # the signal ended a 60 s run
