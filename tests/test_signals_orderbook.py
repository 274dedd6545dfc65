"""OrderBookAnalyzer: depth, imbalance, depth-weighted mid and the skew it implies."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amm500.core import api
from amm500.signals.orderbook import OrderBookAnalyzer, depth_stats


def _book(bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> np.ndarray:
    book = api.new_book()
    for k, (p, s) in enumerate(bids):
        book[api.B_BID_PX, k], book[api.B_BID_SZ, k] = p, s
    for k, (p, s) in enumerate(asks):
        book[api.B_ASK_PX, k], book[api.B_ASK_SZ, k] = p, s
    return book


def test_known_answer() -> None:
    book = _book([(99.0, 3.0), (98.0, 1.0)], [(101.0, 1.0), (102.0, 5.0)])
    bid_d, ask_d, imb, wmid = depth_stats(book, 10)
    assert (bid_d, ask_d) == (4.0, 6.0)
    assert imb == pytest.approx(-0.2)
    assert wmid == pytest.approx((99 * 3 + 98 + 101 + 102 * 5) / 10.0)
    # depth 1 sees only the best level of each side
    assert depth_stats(book, 1)[:3] == (3.0, 1.0, 0.5)


def test_empty_book_is_neutral() -> None:
    assert depth_stats(api.new_book(), 10) == (0.0, 0.0, 0.0, 0.0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.0, 100.0), min_size=20, max_size=20), st.integers(1, 20))
def test_imbalance_bounded_and_signed(sizes: list[float], depth: int) -> None:
    book = _book([(100.0 - k, sizes[k]) for k in range(10)], [(101.0 + k, sizes[10 + k]) for k in range(10)])
    bid_d, ask_d, imb, wmid = depth_stats(book, depth)
    assert -1.0 <= imb <= 1.0
    assert np.sign(imb) == np.sign(bid_d - ask_d)
    if bid_d + ask_d > 0:
        assert 90.0 <= wmid <= 111.0


def test_analyzer_class_and_skew_direction() -> None:
    a = OrderBookAnalyzer(max_depth=10, skew_bps=0.5)
    heavy_bids = a.analyze_depth(_book([(99.0, 9.0)], [(101.0, 1.0)]))
    assert heavy_bids["imbalance"] == pytest.approx(0.8)
    assert heavy_bids["total_depth"] == 10.0
    bid_shift, ask_shift = a.should_skew_quotes(heavy_bids, 100.0)
    assert bid_shift == ask_shift == pytest.approx(0.8 * 0.5e-4 * 100.0)  # both up: buying pressure
    heavy_asks = a.analyze_depth(_book([(99.0, 1.0)], [(101.0, 9.0)]))
    assert a.should_skew_quotes(heavy_asks, 100.0)[0] < 0.0
    assert list(a.depth_history) == pytest.approx([0.8, -0.8])
    with pytest.raises(ValueError, match="max_depth"):
        OrderBookAnalyzer(max_depth=0)
