"""Issue 20 item 7: what live trading refuses, each with a clear message (docs/live.md "What it refuses").

Already covered elsewhere and not repeated here: mainnet without the typed LIVE or the flag
(tests/test_engine.py, session and CLI), no key / a key for another account at the session level
(tests/test_engine.py), leverage above the venue's maximum at the loop level
(tests/test_hl_client_sim.py), quotes beyond ``risk.price_band_bps`` never made by the strategy
(tests/test_strategy_mm.py), the position limit under random ladders and sweeps
(tests/test_order_manager.py). Added here: the same refusals through ``amm500 live`` (exit 2, one
line naming the field), and the exchange's own refusals reaching the order manager by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from eth_account import Account
from typer.testing import CliRunner

from amm500.cli import app
from amm500.config import Config
from amm500.core import api
from amm500.exchange_sim.exchange import Exchange
from amm500.exchange_sim.server import RunningExchange, exchange_thread
from amm500.live.order_manager import OrderManager
from test_order_manager import SimVenue, deliver, exchange_open, ladder, mid_of
from test_order_manager import ex as ex  # the fixture

KEY = "0x" + "4e" * 32
ADDR = Account.from_key(KEY).address.lower()
OTHER = Account.from_key("0x" + "4f" * 32).address.lower()
OM_KEY = "0x" + "33" * 32  # test_order_manager's funded account


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningExchange]:
    with exchange_thread({ADDR: 1000.0, OTHER: 1000.0}, block_s=0.02, book_push_s=0.1) as running:
        yield running


def live(sim: RunningExchange, tmp: str, *sets: str, key: str | None = KEY) -> tuple[int, str]:
    env = {"AMM500_PRIVATE_KEY": key} if key else {}
    argv = ["live", "--network", sim.base_url, "--state-dir", tmp, "--duration", "1", "--metrics-port", "-1"]
    for s in sets:
        argv += ["-s", s]
    result = CliRunner().invoke(app, argv, env=env)
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stderr


@pytest.fixture(autouse=True)
def _no_ambient_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMM500_PRIVATE_KEY", raising=False)


def test_live_without_a_key_exits_2_naming_both_sources(sim: RunningExchange, tmp_path: str) -> None:
    code, err = live(sim, str(tmp_path), key=None)
    assert code == 2 and "AMM500_PRIVATE_KEY" in err and "keystore_path" in err, err
    assert len(err.strip().splitlines()) == 1


def test_live_with_a_key_of_another_account_exits_2_naming_both(sim: RunningExchange, tmp_path: str) -> None:
    """Bug B11: this was exit 3 ("live stopped"), which docs/live.md and the supervisor read as a venue
    failure, not as the refusal to start that no restart can fix."""
    code, err = live(sim, str(tmp_path), f"network.account_address={OTHER}")
    assert code == 2 and OTHER in err and ADDR in err, err
    assert len(err.strip().splitlines()) == 1
    assert sim.exchange.info({"type": "openOrders", "user": OTHER}) == []


def test_live_with_leverage_above_the_venues_maximum_exits_2_naming_the_field(sim: RunningExchange,
                                                                             tmp_path: str) -> None:
    real = sim.exchange.assets[0]
    sim.exchange.assets[0] = replace(real, max_leverage=20)
    try:
        code, err = live(sim, str(tmp_path), "trading.leverage=25")
    finally:
        sim.exchange.assets[0] = real
    assert code == 2 and "trading.leverage = 25" in err and "<= 20" in err, err
    assert sim.exchange.info({"type": "openOrders", "user": ADDR}) == []


async def test_an_order_beyond_the_exchanges_price_band_is_refused_by_name(ex: Exchange) -> None:
    """Should a quote far from the market ever reach the venue, the exchange's refusal comes back
    to the order manager under its own text, and nothing rests."""
    om = OrderManager.from_config(SimVenue(ex, OM_KEY), Config(), max_position=1.0)
    q, c = ladder(mid_of(ex) * 2.5, 2, size=0.001)  # both sides 150 % above the market
    q[api.Q_BIDS, :2, 0] = mid_of(ex) * 0.1  # and bids 90 % below it
    await om.requote(q, c)
    deliver(ex, om)
    band = [n for k, n in om.rejects.items() if k.startswith("Order price cannot be more than 80% away")]
    assert band == [4], om.rejects
    assert exchange_open(ex) == [] and om.live_orders() == []


async def test_a_post_only_quote_that_would_cross_is_refused_by_name(ex: Exchange) -> None:
    om = OrderManager.from_config(SimVenue(ex, OM_KEY), Config(), max_position=1.0)
    mid = mid_of(ex)
    q, c = ladder(mid, 1, size=0.001)
    q[api.Q_BIDS, 0, 0], q[api.Q_ASKS, 0, 0] = mid * 1.002, mid * 0.998  # each through the other side's touch
    await om.requote(q, c)
    deliver(ex, om)
    assert sum(n for k, n in om.rejects.items() if k.startswith("Post only order would have immediately matched")) == 2
    assert exchange_open(ex) == [] and om.position == 0.0


async def test_a_ladder_larger_than_the_position_limit_is_cut_to_it(ex: Exchange) -> None:
    om = OrderManager.from_config(SimVenue(ex, OM_KEY), Config(), max_position=0.025)
    q, c = ladder(mid_of(ex), 10, size=0.01)
    plan = om.plan(q, c)
    assert plan.trimmed > 0
    await om.execute(plan)
    for side in (1, -1):
        assert om.exposure(side) <= 0.025 + 1e-12
        assert sum(sz for s, _, sz in exchange_open(ex) if s == side) <= 0.025 + 1e-12
