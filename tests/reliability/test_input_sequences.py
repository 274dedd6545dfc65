"""Issue 20 item 5: fills and order updates out of order, duplicated, replayed in snapshots, for other coins.

Whatever order the socket delivers them in, the order manager's position is the sum of the fills
it has not seen before (a snapshot only seeds the dedupe set), no order is filled beyond its size,
and an update for an order it never placed asks for a reconcile instead of being applied.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from amm500.config import Config
from amm500.exchange_sim.exchange import Exchange, SimConfig
from amm500.live.order_manager import OrderManager, OrderState
from amm500.venues.model import Fill, OpenOrder, OrderSpec, OrderStatus, OrderUpdate
from reliability.fuzz import fuzz
from test_order_manager import ADDR, KEY, SimVenue

STATUSES = ["open", "filled", "canceled", "rejected", "marginCanceled", "scheduledCancel", "triggered", "nonsense"]

events = st.lists(st.one_of(
    st.tuples(st.just("fill"), st.integers(0, 5), st.integers(1, 8), st.sampled_from([1, -1]),
              st.sampled_from([0.001, 0.002, 0.005]), st.sampled_from(["BTC", "BTC", "ETH"]), st.booleans()),
    st.tuples(st.just("update"), st.integers(0, 7), st.sampled_from(STATUSES)),
), max_size=30)


@fuzz()
@given(events)
def test_the_position_is_the_sum_of_fills_seen_once_in_any_order(seq: list[tuple]) -> None:
    om = OrderManager.from_config(SimVenue(Exchange(SimConfig(accounts={ADDR: 1e6})), KEY), Config(), max_position=1.0)
    # six orders it placed (oids 0..5, 0.005 each); oids 6 and 7 are someone else's
    for oid in range(6):
        t = om._track(OrderSpec(0, oid % 2 == 0, 100_000.0, 0.005, "Alo", False, om.new_cloid()))
        om._apply_place_status(t, OrderStatus("resting", oid))
    seen: set[int] = set()
    want = 0.0
    for ev in seq:
        if ev[0] == "fill":
            _, oid, tid, side, sz, coin, snapshot = ev
            f = Fill(coin, side, 100_000.0, sz, 1, oid, tid, False, 0.0, 0.0, None)
            if tid not in seen and not snapshot and coin == "BTC":
                want += side * sz
            seen.add(tid)
            om.on_fills([f], snapshot)
        else:
            _, oid, status = ev
            om.on_order_updates([OrderUpdate(OpenOrder("BTC", 1, 100_000.0, 0.005, 0.005, oid, 1, None), status, 1)])
            if oid >= 6 and status in ("open", "nonsense", "triggered"):
                assert om.needs_reconcile
        assert abs(om.position - want) < 1e-12
        for t in om.orders.values():
            assert t.filled <= t.sz + 1e-12
            assert (t in om.live_orders()) == (t.state in (OrderState.RESTING, OrderState.PARTIAL, OrderState.PENDING))
