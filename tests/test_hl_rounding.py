"""Price and size rounding against an independent, slow statement of Hyperliquid's rules.

The reference below never looks at magnitudes or log10: it rounds the intended decimal (``repr``)
to every allowed number of decimals, keeps the candidates that satisfy the rule as written (integer,
or <= 5 significant figures and <= 6 - szDecimals decimals) and picks the best one.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from amm500.venues.hyperliquid.rounding import (
    Rounding,
    is_valid_price,
    is_valid_size,
    price_to_wire,
    round_price,
    round_size,
    size_to_wire,
)


def rule_ok(d: Decimal, sz_decimals: int, max_decimals: int = 6) -> bool:
    """The rule in words: an integer, or at most 5 significant figures and 6 - szDecimals decimals."""
    if d <= 0:
        return False
    if d == d.to_integral_value():
        return True
    _sign, digits, exponent = d.normalize().as_tuple()
    return len(digits) <= 5 and -int(exponent) <= max_decimals - sz_decimals


def reference_price(px: float, sz_decimals: int, mode: Rounding, max_decimals: int = 6) -> Decimal:
    x = Decimal(repr(px))
    downs, ups = [], []
    for d in range(0, max_decimals - sz_decimals + 1):
        q = Decimal(1).scaleb(-d)
        for cand, bucket in ((x.quantize(q, ROUND_FLOOR), downs), (x.quantize(q, ROUND_CEILING), ups)):
            if rule_ok(cand, sz_decimals, max_decimals):
                bucket.append(cand)
    down = max(downs) if downs else None
    up = min(ups)
    if mode is Rounding.DOWN:
        if down is None:
            raise ValueError("below the smallest tick")
        return down
    if mode is Rounding.UP:
        return up
    if down is None:
        return up
    return down if x - down <= up - x else up


prices = st.one_of(
    st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False),
    # decimals the user would type: exact ticks and near-ties at typical BTC/ETH/alt magnitudes
    st.builds(lambda m, e: float(Decimal(m).scaleb(e)), st.integers(1, 10**8), st.integers(-12, 2)),
)
sz_decs = st.integers(min_value=0, max_value=6)
modes = st.sampled_from(list(Rounding))


@settings(max_examples=1200, deadline=None)
@given(px=prices, sz_decimals=sz_decs, mode=modes)
@example(px=83767.5, sz_decimals=5, mode=Rounding.NEAREST)
@example(px=99999.7, sz_decimals=5, mode=Rounding.UP)
@example(px=1.2345, sz_decimals=0, mode=Rounding.DOWN)
@example(px=0.0099999999, sz_decimals=0, mode=Rounding.NEAREST)
@example(px=123456.7, sz_decimals=5, mode=Rounding.DOWN)
def test_round_price_matches_reference(px: float, sz_decimals: int, mode: Rounding) -> None:
    try:
        want = reference_price(px, sz_decimals, mode)
    except ValueError:
        with pytest.raises(ValueError, match="below the smallest tick"):
            round_price(px, sz_decimals, mode)
        return
    got = round_price(px, sz_decimals, mode)
    if mode is Rounding.NEAREST:
        # On an exact tie either neighbour is the nearest.
        x = Decimal(repr(px))
        assert abs(Decimal(repr(got)) - x) == abs(want - x), (px, sz_decimals, got, want)
    else:
        assert Decimal(repr(got)) == want, (px, sz_decimals, mode, got, want)
    wire = price_to_wire(px, sz_decimals, mode)
    assert rule_ok(Decimal(wire), sz_decimals)
    assert is_valid_price(wire, sz_decimals)


@settings(max_examples=500, deadline=None)
@given(px=prices, sz_decimals=sz_decs)
def test_bids_never_rise_and_asks_never_fall(px: float, sz_decimals: int) -> None:
    x = Decimal(repr(px))
    assert Decimal(repr(round_price(px, sz_decimals, Rounding.UP))) >= x
    try:
        down = round_price(px, sz_decimals, Rounding.DOWN)
    except ValueError:
        assert x < Decimal(1).scaleb(-(6 - sz_decimals))  # only below the smallest tick
    else:
        assert Decimal(repr(down)) <= x


@settings(max_examples=500, deadline=None)
@given(
    sz=st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
    sz_decimals=sz_decs,
    mode=modes,
)
def test_round_size_matches_quantize(sz: float, sz_decimals: int, mode: Rounding) -> None:
    q = Decimal(1).scaleb(-sz_decimals)
    x = Decimal(repr(sz))
    got = Decimal(repr(round_size(sz, sz_decimals, mode)))
    if mode is Rounding.DOWN:
        assert got == x.quantize(q, ROUND_FLOOR)
    elif mode is Rounding.UP:
        assert got == x.quantize(q, ROUND_CEILING)
    else:
        assert abs(got - x) <= q / 2
    assert is_valid_size(size_to_wire(sz, sz_decimals, mode), sz_decimals)


@pytest.mark.parametrize(
    ("px", "sz_decimals", "mode", "wire"),
    [
        (83767.4, 5, Rounding.NEAREST, "83767"),  # BTC: tick 1 between 10k and 99,999
        (83767.6, 5, Rounding.DOWN, "83767"),
        (83767.2, 5, Rounding.UP, "83768"),
        (9876.54, 5, Rounding.NEAREST, "9876.5"),  # 5 sig figs and <= 1 decimal
        (123456.7, 5, Rounding.NEAREST, "123457"),  # integers are always allowed
        (1670.123, 4, Rounding.NEAREST, "1670.1"),  # ETH
        (0.0123456, 0, Rounding.NEAREST, "0.012346"),  # 6 decimals, 5 sig figs
        (0.0000012, 0, Rounding.DOWN, "0.000001"),
        (1.23456789, 2, Rounding.NEAREST, "1.2346"),  # 6 - 2 = 4 decimals
    ],
)
def test_known_answers(px: float, sz_decimals: int, mode: Rounding, wire: str) -> None:
    assert price_to_wire(px, sz_decimals, mode) == wire


def test_bad_numbers_are_refused() -> None:
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="price must be"):
            round_price(bad, 5)
    with pytest.raises(ValueError, match="size must be"):
        round_size(-0.1, 5)


def test_validity_checks() -> None:
    assert is_valid_price("83767", 5) and is_valid_price("123456", 5)
    assert not is_valid_price("83767.5", 5)  # 6 sig figs
    assert not is_valid_price("1.23", 5)  # 2 decimals > 6 - 5
    assert is_valid_size("0.00001", 5) and not is_valid_size("0.000001", 5)


@settings(max_examples=300, deadline=None)
@given(
    levels=st.lists(
        st.tuples(st.one_of(prices, st.integers(1, 200_000).map(float)), st.integers(1, 10**7).map(lambda n: n / 1e5)),
        max_size=30,
    ),
    sz_decimals=sz_decs,
    mode=modes,
)
def test_ladder_rounding_equals_scalar(levels: list[tuple[float, float]], sz_decimals: int, mode: Rounding) -> None:
    import numpy as np

    from amm500.venues.hyperliquid.rounding import round_ladder_side

    want = []
    for px, sz in levels:
        try:
            want.append((round_price(px, sz_decimals, mode), round_size(sz, sz_decimals)))
        except ValueError:
            return  # below the smallest tick: the scalar function's error is the answer for the ladder too
    side = np.array(levels, dtype=float).reshape(-1, 2)
    assert round_ladder_side(side, sz_decimals, mode) == want


@settings(max_examples=300, deadline=None)
@given(
    bids=st.lists(st.tuples(st.one_of(prices, st.integers(-5, 200_000).map(float), st.just(float("nan"))),
                            st.integers(-2, 10**6).map(lambda n: n / 1e5)), max_size=12),
    asks=st.lists(st.tuples(prices, st.integers(0, 10**6).map(lambda n: n / 1e5)), max_size=12),
    sz_decimals=sz_decs,
    snap=st.booleans(),
    min_notional=st.sampled_from([0.0, 10.0]),
)
def test_one_call_ladder_path_equals_the_per_level_rule(
    bids: list[tuple[float, float]], asks: list[tuple[float, float]], sz_decimals: int, snap: bool, min_notional: float
) -> None:
    """Both sides in one jitted call: same levels as round_ladder_side + the notional filter, or it declines."""
    import numpy as np

    from amm500.core import api
    from amm500.venues.hyperliquid.rounding import PERP_MAX_DECIMALS, ladder_on_grid, round_ladder_side

    def on_grid(levels: list[tuple[float, float]], mode: Rounding) -> list[tuple[float, float]]:
        out = []
        for px, sz in levels:
            try:
                out.append((round_price(px, sz_decimals, mode), round_size(sz, sz_decimals)))
            except ValueError:
                out.append((0.0, sz))  # no valid price (non-positive, NaN, under a tick): dropped by both paths
        return out

    if snap:  # what a strategy quoting on the tick and lot sends: the fast path must take it
        bids, asks = on_grid(bids, Rounding.DOWN), on_grid(asks, Rounding.UP)
    quotes = api.new_quotes()
    for q, levels in ((api.Q_BIDS, bids), (api.Q_ASKS, asks)):
        for i, (px, sz) in enumerate(levels):
            quotes[q, i] = (px, sz)
    out = np.full_like(quotes, 7.0)
    nb, na = ladder_on_grid(quotes, len(bids), len(asks), sz_decimals, PERP_MAX_DECIMALS, min_notional, out)
    def near_power_of_ten(px: float) -> bool:  # the jitted check leaves these to the exact path by design
        return px > 0 and math.isclose(px, 10.0 ** round(math.log10(px)), rel_tol=1e-9)

    if snap and not any(near_power_of_ten(px) for px, sz in bids + asks if sz > 0):
        assert nb >= 0
    if nb < 0:
        return
    for q, n, mode in ((api.Q_BIDS, nb, Rounding.DOWN), (api.Q_ASKS, na, Rounding.UP)):
        levels = round_ladder_side(quotes[q, : len(bids) if q == api.Q_BIDS else len(asks)], sz_decimals, mode)
        want = [(px, sz) for px, sz in levels if sz > 0 and px * sz >= min_notional]
        assert [tuple(lv) for lv in out[q, :n].tolist()] == want
        assert not out[q, n:].any()  # the rest cleared
