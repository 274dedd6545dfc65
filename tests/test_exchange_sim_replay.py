"""Replayed and generated background markets: our orders meet the replayed trades by price-time priority."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import subprocess
import sys
import time
from pathlib import Path

import eth_account
import numpy as np
import pytest
import requests
from typer.testing import CliRunner

from amm500.cli import app
from amm500.data.schema import BOOK_CLEAR, BOOK_LEVEL, FUNDING, TRADE, make_events
from amm500.data.store import write_dataset_meta, write_events, write_table_atomic
from amm500.exchange_sim.market import ReplayFeed, SyntheticFeed, chunk_path
from amm500.exchange_sim.server import run_exchange
from exchange_sim_helpers import order_wire, signed

DAY0 = dt.date(2025, 1, 6)
T0 = int(dt.datetime(2025, 1, 6, tzinfo=dt.UTC).timestamp()) * 1_000_000_000
S = 1_000_000_000


def write_market(root: Path) -> None:
    """A snapshot at t=0, a sell trade of 1.2 at the bid at t=1 s, funding 0.0001 at t=1.5 s, a resnapshot at t=2 s."""
    rows = [(0, BOOK_CLEAR, 0, 0.0, 0.0), (0, BOOK_LEVEL, 1, 100_000.0, 1.0), (0, BOOK_LEVEL, -1, 100_010.0, 2.0),
            (1 * S, TRADE, -1, 100_000.0, 1.2),
            (int(1.5 * S), FUNDING, 0, 0.0001, 0.0),
            (2 * S, BOOK_CLEAR, 0, 0.0, 0.0), (2 * S, BOOK_LEVEL, 1, 99_990.0, 3.0),
            (2 * S, BOOK_LEVEL, -1, 100_010.0, 2.0)]
    ts = np.array([T0 + r[0] for r in rows], dtype=np.int64)
    ev = make_events(ts, ts, *(np.array([r[i] for r in rows]) for i in range(1, 5)))
    write_events(root, ev)
    write_dataset_meta(root, symbol="BTC", tick_size=1.0, sz_decimals=5, source="test")


def test_replay_feed_restamps_and_turns_snapshots_into_changes(tmp_path: Path) -> None:
    write_market(tmp_path)
    start = 5_000 * S
    feed = ReplayFeed(tmp_path, start, speed=2.0)
    first = feed.advance(start)
    assert first.kind.tolist() == [BOOK_LEVEL, BOOK_LEVEL] and first.ts.tolist() == [start, start]
    assert len(feed.advance(start + S // 2 - 1)) == 0  # the trade is 1 s of data = 0.5 s at 2x
    assert feed.advance(start + S // 2).kind.tolist() == [TRADE]
    rest = feed.advance(start + 10 * S)
    # the second snapshot becomes: the old bid level deleted, the new one added; the unchanged ask not repeated
    assert list(zip(rest.kind.tolist(), rest.px.tolist(), rest.sz.tolist(), strict=True)) == [
        (FUNDING, 0.0001, 0.0), (BOOK_LEVEL, 100_000.0, 0.0), (BOOK_LEVEL, 99_990.0, 3.0)]
    assert feed.finished


async def test_replayed_trade_fills_our_order_in_queue_order(tmp_path: Path) -> None:
    write_market(tmp_path)
    user = eth_account.Account.create()
    async with run_exchange({user.address: 100_000.0}, data=tmp_path, speed=1.0, block_s=0.02,
                            funding_interval_s=3600) as sim:
        ex = sim.exchange
        # behind 1.0 of background at the bid: the 1.2 sell trade leaves 0.2 for us
        reply = ex.action(signed(user, {"type": "order", "orders": [order_wire("100000", "0.5")], "grouping": "na"}))
        oid = reply["response"]["data"]["statuses"][0]["resting"]["oid"]
        for _ in range(200):
            if ex.accounts[user.address.lower()].fills:
                break
            await asyncio.sleep(0.02)
        fills = ex.accounts[user.address.lower()].fills
        assert [(f["oid"], f["sz"], f["crossed"]) for f in fills] == [(oid, "0.2", False)]
        for _ in range(200):
            if ex.funding_rate[0] == 0.0001:
                break
            await asyncio.sleep(0.02)
        assert ex.funding_rate[0] == 0.0001  # the replay's funding rate is the one paid next


def fake_generate(out_dir: str, days: int, seed: int) -> None:
    """Stands in for the generator in the child process: a tiny chunk now, the next ones a little later."""
    for i in range(days + 1):
        t = T0 + i * 3600 * S
        ts = np.array([t, t, t, t + S], dtype=np.int64)
        ev = make_events(ts, ts, np.array([BOOK_CLEAR, BOOK_LEVEL, BOOK_LEVEL, TRADE]), np.array([0, 1, -1, 1]),
                         np.array([0.0, 100.0 + i, 101.0 + i, 101.0 + i]), np.array([0.0, 1.0, 1.0, 0.5]))
        write_table_atomic(chunk_path(Path(out_dir), i), ev.to_table())
        time.sleep(0.3)


def test_synthetic_feed_plays_days_as_the_generator_writes_them(tmp_path: Path) -> None:
    feed = SyntheticFeed(0, speed=1e6, seed=1, days=2, cache_dir=tmp_path, generate=fake_generate)
    try:
        got = feed.advance(10**15)
        for _ in range(100):
            if feed.finished:
                break
            time.sleep(0.05)
            got = make_events(*(np.concatenate([a, b]) for a, b in zip(got, feed.advance(10**15), strict=True)))
        assert feed.finished
        trades = got.px[got.kind == TRADE].tolist()
        assert trades == [101.0, 102.0, 103.0]  # every chunk, in order, each picked up when it appeared
    finally:
        feed.close()


def test_cli_replay_serves_the_data(tmp_path: Path) -> None:
    write_market(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "amm500", "exchange-sim", "--port", "0", "--data", str(tmp_path),
                             "--loop", "--account", "0x" + "ab" * 20 + "=500"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert m, line
        base = m.group(1)
        book = requests.post(base + "/info", json={"type": "l2Book", "coin": "BTC"}, timeout=5).json()
        assert book["levels"][1][0]["px"] == "100010.0"
        state = requests.post(base + "/info", json={"type": "clearinghouseState", "user": "0x" + "ab" * 20},
                              timeout=5).json()
        assert state["marginSummary"]["accountValue"] == "500.0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("args", [["--data", "/nonexistent-dir"], ["--random-walk", "--synthetic"],
                                  ["--faults", "latency_ms=-1"], ["--account", "0x12=5"]])
def test_cli_rejects_bad_flags(args: list[str]) -> None:
    result = CliRunner().invoke(app, ["exchange-sim", "--port", "0", *args])
    assert result.exit_code == 2 and "error:" in result.output
