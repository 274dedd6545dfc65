"""Connection faults while the real engine quotes on the local exchange (issue 20, item 1).

Quick: the live engine quotes for 10 s under every family of faults at once, and two regressions run the
harshest loss of pushes; with ``RELIABILITY_SOAK=1`` each family of ``harness.FAMILIES`` (the soak's) runs
alone for 10 minutes. Every count of docs/reliability.md must be zero; the time to resume is printed (-s).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from amm500.exchange_sim.server import run_exchange
from reliability.harness import FAMILIES, GTC, config, run_scenario, soak

SOAK = soak()
#: the quick version: every family at once, windows short enough for one 10 s run, quotes Gtc
ALL_AT_ONCE = {"all at once, Gtc quotes": ("mute_s=2,mute_every=5,stall_s=2,stall_every=6,spike_ms=400,spike_s=1,"
                                           "spike_every=3,reject_rate=0.05,ack_delay_ms=150,reorder=1,"
                                           "post_only_s=2,post_only_every=2", GTC)}
SCENARIOS = FAMILIES if SOAK else ALL_AT_ONCE


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the long version quotes for 10 minutes
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_connection_faults_leave_no_orphan_no_lost_fill(name: str, tmp_path: Path) -> None:
    """Bug 4 (docs/reliability.md) showed here: Gtc quotes refused by a post-only-only window left their old
    legs marked as being cancelled, unmanaged, and resting after the clean stop."""
    spec, overrides = SCENARIOS[name]
    figs = await run_scenario(name, spec, 600.0 if SOAK else 10.0, tmp_path, cfg=config(**overrides))
    print(f"\n{figs.line()}")
    assert figs.orders_placed > 0, "the bot should have quoted"
    if "post_only" in spec:
        assert figs.server["post_only_refused"] > 0, "the windows should have refused some Gtc quotes"
    assert figs.bad() == {}, figs.line()


@pytest.mark.slow
async def test_fills_whose_pushes_are_all_lost_are_journalled_from_rest(tmp_path: Path) -> None:
    """Bug 1 (docs/reliability.md): a fill whose pushes never came (lost, or only in the snapshot sent on a
    resubscribe) was never journalled, so the journal lost it for good. Every user push is lost here; the
    socket is dropped every 2 s, and each reconnect's reconcile must find the fills over REST. (The soak runs
    the realistic mix: a drop every 10 s, a fifth of the pushes lost.)"""
    figs = await run_scenario("socket dropped every 2 s, all user pushes lost", "drop_ws=2,lose_user=1", 10.0,
                              tmp_path)
    print(f"\n{figs.line()}")
    assert figs.fills > 0, "the random walk should fill the ladder in 10 s"
    assert figs.bad() == {}, figs.line()


@pytest.mark.slow
async def test_a_position_changed_by_lost_pushes_is_noticed_over_rest(tmp_path: Path) -> None:
    """Bug 3 (docs/reliability.md): with the socket up but fill pushes lost, nothing made the bot reconcile, so
    its position (and every limit check made with it) stayed wrong. Every user push is lost, no disconnect."""
    figs = await run_scenario("user pushes lost, socket up", "lose_user=1", 10.0, tmp_path)
    print(f"\n{figs.line()}")
    assert figs.fills > 0, "the random walk should fill the ladder in 10 s"
    assert figs.position_drifts == 0 and figs.lost_fills == 0, figs.line()


async def test_a_post_on_a_half_open_socket_gives_up_for_silence_not_after_its_timeout() -> None:
    """Bug 5 (docs/reliability.md): an action posted just before the socket went half-open (open, no frames)
    waited the whole post timeout (10 s) for its answer, holding the order manager's lock, so the bot neither
    requoted nor reconciled while its quotes rested on a market it could no longer see. Now the post gives up
    once the socket has been silent for POST_SILENCE_S (the caller resends over REST), and no new post is sent
    on a silent socket."""
    from amm500.venues.hyperliquid.client import HyperliquidClient
    from amm500.venues.hyperliquid.errors import TransportError
    from amm500.venues.hyperliquid.ws import POST_SILENCE_S
    from reliability.harness import ADDR, KEY

    async with run_exchange({ADDR: 1000.0}, block_s=0.02, book_push_s=0.1) as sim:
        client = HyperliquidClient(sim.base_url, sim.ws_url, "BTC", private_key=KEY)
        await client.start()
        try:
            assert client.ws.post_timeout_s > 3 * POST_SILENCE_S  # the default: what the bot would have waited
            muted = False
            sim.server.faults.mute_s = 1.0  # the half-open switch, flipped by hand below
            sim.server.faults.muted = lambda _elapsed: muted  # type: ignore[method-assign]
            assert await client.ws.post("info", {"type": "meta"}, "meta")  # a live socket answers
            assert client.prefer_ws() or client.latency.median("rtt.ws") > client.latency.median("rtt.rest")
            muted = True
            with pytest.raises(TransportError, match="silent"):
                await client.ws.post("info", {"type": "meta"}, "meta")
            assert not client.prefer_ws()  # a silent socket carries no new action
        finally:
            await client.close()
