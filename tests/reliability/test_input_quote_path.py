"""Issue 20 item 5: bad market messages into the running quote path; the orders it sends are checked.

The local exchange runs a calm random walk; a QuoteLoop quotes it over real HTTP and WebSocket. Between
quote timers, hypothesis-made frames are delivered into the client's socket handler: the real book
with fields deleted or replaced (NaN, inf, negative, absurd, wrong types), reversed or duplicated
levels, crossed sides, stale or far-future timestamps, truncated JSON. Every order the loop sends
must be priced off the true market (within 1 % of the exchange's mid, never refused for the price
band or for crossing), and the loop's book must keep following the real feed afterwards.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amm500.core import api
from amm500.exchange_sim.market import RandomWalkFeed
from amm500.exchange_sim.server import RunningExchange, exchange_thread
from amm500.venues.model import OrderSpec
from loop_helpers import ADDR, EQUITY, config, start_loop
from reliability.fuzz import fuzz
from reliability.test_input_messages import JUNK, mutated

BAND = 0.01  # the walk moves ~0.2 bps/s: a quote further than 1 % from the mid was priced off a bad book


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningExchange]:
    with exchange_thread({ADDR: EQUITY}, feed=RandomWalkFeed(seed=3, vol_bps_per_s=0.2), block_s=0.02,
                         book_push_s=0.1) as running:
        yield running


def live_book(sim: RunningExchange) -> dict[str, Any]:
    """A five-level book at the exchange's mid, stamped now: real prices, always the same shape (so
    hypothesis draws the same choices when it replays an example while the market moves)."""
    mid = round(sim.exchange.mid(0))
    return {"coin": "BTC", "time": int(time.time() * 1000),
            "levels": [[{"px": f"{mid - 1 - i}.0", "sz": "1.0", "n": 1} for i in range(5)],
                       [{"px": f"{mid + 1 + i}.0", "sz": "1.0", "n": 1} for i in range(5)]]}


def bad_frames(book: dict[str, Any]) -> st.SearchStrategy[list[str]]:
    """Frames built from the real book: mutated, or with a junk/stale/future time, or cut short."""
    now = book["time"]
    mutated_book = mutated(book)
    timed = st.sampled_from([now - 3_600_000, 0, now + 3_600_000, 2**62, -5]).map(lambda t: {**book, "time": t})
    junk_time = JUNK.map(lambda t: {**book, "time": t})
    crossed = st.just({**book, "levels": book["levels"][::-1]})
    data = st.one_of(mutated_book, mutated_book, timed, junk_time, crossed)
    frame = data.map(lambda d: json.dumps({"channel": "l2Book", "data": d}, allow_nan=True))
    cut = st.tuples(frame, st.floats(0.0, 1.0, exclude_max=True)).map(lambda f: f[0][: max(1, int(f[1] * len(f[0])))])
    return st.lists(st.one_of(frame, frame, cut), min_size=1, max_size=6)


async def scenario(sim: RunningExchange, frames: list[str]) -> tuple[list[OrderSpec], list[str], int, int]:
    """Quote, feed ``frames`` between quote timers, quote again; the orders sent, the exchange's refusals,
    and the loop's book time after the real feed had 0.5 s to catch up (with the wall clock then)."""
    sent: list[OrderSpec] = []
    refusals: list[str] = []
    async with start_loop(sim, config()) as (client, loop):
        real_send = client.send

        async def recording_send(kind: str, items: Any) -> Any:
            if kind == "order":
                sent.extend(items)
            elif kind == "modify":
                sent.extend(spec for _, spec in items)
            statuses = await real_send(kind, items)
            refusals.extend(s.error or "" for s in statuses if s.kind == "error")
            return statuses

        client.send = recording_send  # type: ignore[method-assign]
        try:
            for timer in (api.TIMER_SPREAD, api.TIMER_REBALANCE, api.TIMER_QUOTE):
                await loop.on_timer(timer)
            for raw in frames:
                client.ws._handle(raw)
                await loop.on_timer(api.TIMER_QUOTE)
            await asyncio.sleep(0.5)
            await loop.on_timer(api.TIMER_QUOTE)
            book_ms, now_ms = client.book_time_ms, int(time.time() * 1000)
        finally:
            await loop.shutdown()
    return sent, refusals, book_ms, now_ms


def check(sim: RunningExchange, frames: list[str]) -> None:
    sent, refusals, book_ms, now_ms = asyncio.run(scenario(sim, frames))
    mid = sim.exchange.mid(0)
    assert sent, "the loop should have quoted"
    far = [o for o in sent if not o.reduce_only and abs(o.px / mid - 1) > BAND]
    assert not far, f"quoted off a bad book: {far[:3]} with the mid at {mid}"
    assert not [r for r in refusals if "away from the reference" in r or "immediately matched" in r], refusals
    assert now_ms - 2_000 <= book_ms <= now_ms + 1_000, f"the book stopped following the feed ({book_ms} at {now_ms})"


@fuzz(0.15)
@given(st.data())
def test_the_bot_never_quotes_off_a_bad_book_message(sim: RunningExchange, data: st.DataObject) -> None:
    check(sim, data.draw(bad_frames(live_book(sim))))


def test_a_crossed_a_nan_and_a_far_future_book_change_nothing(sim: RunningExchange) -> None:
    """The three the fuzzer is slowest to draw, in one run (the future one froze the book: bug B3)."""
    book = live_book(sim)
    nan = json.loads(json.dumps(book))
    nan["levels"][0][0]["px"] = "NaN"
    frames = [{**book, "levels": book["levels"][::-1]}, nan, {**book, "time": 2**62}]
    check(sim, [json.dumps({"channel": "l2Book", "data": f}) for f in frames])
