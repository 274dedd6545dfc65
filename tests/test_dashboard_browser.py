"""The dashboard in a real headless Chromium: what a person sees, updating while the bot trades.

The bot here is the scripted stand-in of tests/dashboard_helpers.py (real journal, heartbeat, lock,
and /state, /metrics, /control on 127.0.0.1); it trades only when the test calls ``step``, so the
page's figures can be compared *exactly* with the journal and /metrics at the same moment. The
same checks against the real engine (``amm500 paper`` on the local exchange) are in
tests/test_dashboard_engine.py.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.browser_helpers import browser, dashboard_process, save_screenshot, value
from tests.dashboard_helpers import FakeBot

from amm500.dashboard.bot import parse_metrics
from amm500.dashboard.replay import write_static
from amm500.store import journal as jr

pytestmark = pytest.mark.slow
expect = pytest.importorskip("playwright.sync_api",
                             reason="playwright is not installed (pip install -e '.[dev]')").expect


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[FakeBot]:
    b = FakeBot(tmp_path / "state").start()
    b.step(24)
    yield b
    b.stop()


def journal_summary(bot: FakeBot) -> dict[str, Any]:
    with jr.reader(bot.journal.path) as conn:
        return jr.summary(conn)


def metrics(bot: FakeBot) -> dict[str, float]:
    with urllib.request.urlopen(bot.url + "/metrics", timeout=10) as r:
        return parse_metrics(r.read().decode())["values"]  # type: ignore[no-any-return]


def assert_page_matches(page: Any, bot: FakeBot) -> None:
    """Every headline figure on the page equals the journal's summary and the bot's /metrics, now."""
    summ, met = journal_summary(bot), metrics(bot)
    for element, key in (("net_pnl", "net_pnl"), ("spread_capture", "spread_capture"),
                         ("inventory_pnl", "inventory_pnl"), ("fees", "fees"), ("funding", "funding"),
                         ("fills", "fills")):
        assert float(value(page, element)) == summ[key], element
    assert float(value(page, "position")) == summ["position"] == met["amm500_position"]
    assert float(value(page, "equity")) == met["amm500_equity_usd"]
    rows = page.locator("#fills_table tbody tr")
    assert rows.count() == summ["fills"]
    with jr.reader(bot.journal.path) as conn:
        newest = jr.fills(conn, limit=1)[0]
    assert rows.first.locator("td").nth(2).inner_text() == f"{newest['px']:,.1f}"


def wait_value(page: Any, element_id: str, wanted: str) -> None:
    """Wait for a figure without evaluating strings in the page (its CSP forbids eval, and stays on)."""
    expect(page.locator(f"#{element_id}")).to_have_attribute("data-value", wanted, timeout=30_000)


def wait_updates(page: Any, more: int) -> None:
    """Wait until the page has rendered ``more`` further snapshots."""
    for _ in range(more):
        now = page.evaluate("document.body.dataset.updates")
        expect(page.locator("body")).not_to_have_attribute("data-updates", now, timeout=30_000)


def test_live_page_updates_as_the_bot_trades_and_controls_it(bot: FakeBot, tmp_path: Path) -> None:
    with dashboard_process("--state-dir", str(bot.folder), "--interval", "0.2") as url, browser() as b:
        page = b.new_page(viewport={"width": 1366, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        wait_value(page, "presence", "bot active")
        wait_value(page, "fills", "8")
        assert_page_matches(page, bot)
        assert page.locator("#trading_state").inner_text() == "ACTIVE"
        assert page.locator("#identity").inner_text() == "paper · local · paper"
        assert page.locator("#orders tbody tr").count() == len(bot.orders)
        assert page.locator("canvas").count() >= 3  # price, PnL, inventory charts drawn

        # the bot trades: the page follows without a reload, and still equals the journal
        before = value(page, "net_pnl"), value(page, "position")
        bot.step(9)
        wait_value(page, "fills", "11")
        assert (value(page, "net_pnl"), value(page, "position")) != before
        assert_page_matches(page, bot)

        # a person zooms the price chart; the next updates keep the zoom
        over = page.locator("#chart_price .u-over")
        box = over.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
        zoomed = page.evaluate("() => { const x = window.AMM500_CHARTS.chart_price.scales.x; return [x.min, x.max]; }")
        bot.step(3)
        wait_updates(page, 3)
        assert page.evaluate("() => { const x = window.AMM500_CHARTS.chart_price.scales.x; return [x.min, x.max]; }"
                             ) == zoomed

        # stop quoting: confirmation first (cancelling it sends nothing), then the bot goes REDUCING
        page.click("#controls button[data-command=reduce]")
        page.click("#confirm_no")
        page.wait_for_timeout(300)
        assert bot.commands == []
        page.click("#controls button[data-command=reduce]")
        assert "REDUCING" in page.inner_text("#confirm_text")
        page.click("#confirm_yes")
        wait_value(page, "trading_state", "REDUCING")
        assert [c for c, _ in bot.commands] == ["reduce"]
        assert "because: operator" in page.inner_text("#reasons")
        assert page.locator("#events tbody tr").first.inner_text().count("ACTIVE → REDUCING") == 1 or \
            "control reduce" in page.inner_text("#events")
        shot = save_screenshot(page, tmp_path, "dashboard-live.png")
        assert shot.stat().st_size > 10_000
        assert errors == []

        # the bot stops: offline, controls disabled
        bot.stop()
        wait_value(page, "presence", "bot offline")
        assert page.locator("#controls button[data-command=flatten]").is_disabled()


def test_phone_layout_fits_the_screen(bot: FakeBot, tmp_path: Path) -> None:
    with dashboard_process("--state-dir", str(bot.folder), "--interval", "0.5") as url, browser() as b:
        page = b.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                          has_touch=True)
        page.goto(url)
        wait_value(page, "fills", "8")
        page.wait_for_timeout(500)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px phone"
        assert page.locator("#net_pnl").is_visible() and page.locator("#controls").is_visible()
        save_screenshot(page, tmp_path, "dashboard-phone.png")


def test_replayed_journal_is_a_static_page(bot: FakeBot, tmp_path: Path) -> None:
    bot.transition("HALTED", ["stale feed"])
    bot.stop()
    out = write_static(bot.journal.path, tmp_path / "replay.html")
    with browser() as b:
        page = b.new_page(viewport={"width": 1366, "height": 900})
        page.route("http://**", lambda route: route.abort())  # no network at all: the file is self-contained
        page.goto(out.as_uri())
        wait_value(page, "fills", "8")
        summ = journal_summary(bot)
        for element in ("net_pnl", "spread_capture", "inventory_pnl", "fees", "funding"):
            assert float(value(page, element)) == summ[element], element
        assert page.inner_text("#presence") == "replay"
        assert page.inner_text("#trading_state") == "HALTED"
        assert not page.locator("#controls").is_visible()
        assert page.locator("canvas").count() >= 3
        save_screenshot(page, tmp_path, "dashboard-replay.png")
