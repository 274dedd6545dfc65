"""The local exchange's ``queue`` matching (rehearsals): users' orders meet the replayed market through
the backtester's exchange side, so the engine replaying data and a backtest of it share one fill model.

Each case is one where the default ``book`` matching (one price-time book, prints consume the queue)
decides differently, so these fail if the exchange falls back to it.
"""

from __future__ import annotations

import eth_account
import numpy as np
import pytest
from eth_account.signers.local import LocalAccount

from amm500.config import load_config
from amm500.data.schema import TRADE, Events, make_events
from amm500.exchange_sim.exchange import Exchange
from amm500.exchange_sim.server import ExchangeServer
from exchange_sim_helpers import NOW_MS, frozen_exchange, market_trade, order_wire, place, set_book, signed

BOOK_BIDS = [(100_000.0, 1.0), (99_999.0, 2.0)]
BOOK_ASKS = [(100_001.0, 0.5), (100_002.0, 2.0)]


@pytest.fixture
def user() -> LocalAccount:
    return eth_account.Account.create()


def make(*users: LocalAccount, queue: bool = True) -> Exchange:
    extra = {"queue_matching": load_config()} if queue else {}
    ex = frozen_exchange({u.address: 100_000.0 for u in users}, **extra)
    set_book(ex, BOOK_BIDS, BOOK_ASKS)
    return ex


@pytest.mark.parametrize("queue", [True, False])
def test_a_small_print_through_our_price_fills_us_whole_only_under_queue_matching(user: LocalAccount,
                                                                                 queue: bool) -> None:
    ex = make(user, queue=queue)
    oid = place(ex, user, order_wire("100000", "0.2", tif="Alo"))[0]["resting"]["oid"]
    market_trade(ex, -1, 99_999.0, 0.01)  # a sell printed below our bid, far smaller than the queue ahead
    fills = ex.accounts[user.address.lower()].fills
    if queue:  # the backtester's (and hftbacktest's) rule: the market traded through our price
        assert [(f["px"], f["sz"], f["crossed"], f["oid"]) for f in fills] == [("100000.0", "0.2", False, oid)]
        assert oid not in ex.books[0].by_oid
    else:  # one book: the print takes 0.01 of the background ahead of us
        assert fills == []


def test_the_queue_ahead_is_the_level_at_arrival_and_trades_eat_it(user: LocalAccount) -> None:
    ex = make(user)
    oid = place(ex, user, order_wire("100000", "0.2", tif="Alo"))[0]["resting"]["oid"]
    market_trade(ex, -1, 100_000.0, 0.9)
    acct = ex.accounts[user.address.lower()]
    assert acct.fills == []
    market_trade(ex, -1, 100_000.0, 0.25)  # 0.15 past our place (partial fills on: the overflow)
    assert [(f["sz"], f["crossed"], f["oid"]) for f in acct.fills] == [("0.15", False, oid)]
    assert float(acct.fills[0]["fee"]) == pytest.approx(100_000 * 0.15 * 0.00015)
    assert acct.positions[0].szi == pytest.approx(0.15)
    assert ex.books[0].by_oid[oid].sz == pytest.approx(0.05)  # still resting, with what is left


def test_users_do_not_meet_each_other_and_their_orders_are_not_in_the_public_book(user: LocalAccount) -> None:
    other = eth_account.Account.create()
    ex = make(user, other)
    place(ex, user, order_wire("100000", "0.2", tif="Alo"))
    assert ex.l2_book(0)["levels"][0][0] == {"px": "100000.0", "sz": "1.0", "n": 1}  # the market only
    (st,) = place(ex, other, order_wire("100000", "0.3", is_buy=False, tif="Ioc"))
    assert st["filled"]["totalSz"] == "0.3"  # taken from the replayed bids
    assert ex.accounts[user.address.lower()].fills == []


def test_a_cancelled_or_modified_order_leaves_the_core(user: LocalAccount) -> None:
    ex = make(user)
    cloid = "0x" + "12" * 16
    oid = place(ex, user, order_wire("100000", "0.2", tif="Alo", cloid=cloid))[0]["resting"]["oid"]
    reply = ex.action(signed(user, {"type": "batchModify", "modifies": [
        {"oid": oid, "order": order_wire("99999", "0.2", tif="Alo", cloid=cloid)}]}))
    new = reply["response"]["data"]["statuses"][0]["resting"]["oid"]
    market_trade(ex, -1, 99_999.5, 0.01)  # through the old price only
    assert ex.accounts[user.address.lower()].fills == []
    ex.action(signed(user, {"type": "cancel", "cancels": [{"a": 0, "o": new}]}))
    market_trade(ex, -1, 99_998.0, 0.01)  # through the cancelled order's price
    assert ex.accounts[user.address.lower()].fills == [] and not ex.books[0].by_oid


def test_post_only_crossing_the_replayed_book_is_refused(user: LocalAccount) -> None:
    ex = make(user)
    (st,) = place(ex, user, order_wire("100001", "0.2", tif="Alo"))
    assert "Post only order would have immediately matched" in st["error"]
    (st,) = place(ex, user, order_wire("100002", "0.6", tif="Gtc"))  # crosses: takes 0.5 + 0.1, no rest
    assert st["filled"]["totalSz"] == "0.6"


class _Feed:
    """Market rows handed out by exchange time, as the replay feed does between blocks."""

    def __init__(self, ev: Events) -> None:
        self.ev, self.sent = ev, 0

    def advance(self, now_ns: int) -> Events:
        n = int(np.searchsorted(self.ev.ts, now_ns, side="right"))
        out, self.sent = self.ev.take(slice(self.sent, max(n, self.sent))), max(n, self.sent)
        return out


def test_an_order_is_sequenced_after_the_market_rows_that_came_before_it(user: LocalAccount) -> None:
    """A print from before an order arrived never fills it, even when no block has applied it yet."""
    ex = make(user)
    t = (NOW_MS - 10) * 1_000_000  # printed 10 ms before the order arrives, between two blocks
    feed = _Feed(make_events(np.array([t]), np.array([t]), np.array([TRADE]), np.array([-1], dtype=np.int8),
                             np.array([99_999.0]), np.array([0.01])))
    server = ExchangeServer(ex, feed)
    server._act(signed(user, {"type": "order", "orders": [order_wire("100000", "0.2", tif="Alo")], "grouping": "na"}))
    ex.apply_market(feed.advance(NOW_MS * 1_000_000))  # the next block: nothing left to deliver
    assert ex.accounts[user.address.lower()].fills == []
    assert ex.books[0].by_oid  # still resting
