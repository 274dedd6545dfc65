"""The one place where prices and sizes meet Hyperliquid's tick and lot rules.

Perp prices may carry at most 5 significant figures and at most ``6 - szDecimals`` decimals; an
integer is always allowed (123456 is valid, 12345.6 is not). Sizes carry at most ``szDecimals``
decimals. A price or size that breaks these rules is rejected by the exchange ("Price must be
divisible by tick size."), so every order passes through :func:`round_price` / :func:`round_size`.

Rounding is decided on the number the caller *meant*, i.e. the shortest decimal that round-trips
the float (``repr``), so ``round_price(1.2345, ..., DOWN)`` gives 1.2345 and not 1.2344 because the
binary value happens to sit a hair below. The float fast path falls back to exact decimal arithmetic
whenever it lands within 1e-6 of a rounding boundary.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from enum import IntEnum

import numpy as np
from hyperliquid.utils.signing import float_to_wire
from numba import njit

from amm500.core.jit import kernel

MAX_SIG_FIGS = 5
PERP_MAX_DECIMALS = 6
_EDGE = 1e-6
_POW10 = tuple(10.0**d for d in range(23))  # exact doubles
_DEC_MODES = {0: ROUND_HALF_EVEN, -1: ROUND_FLOOR, 1: ROUND_CEILING}


class Rounding(IntEnum):
    """Direction. Bids round DOWN and asks round UP so a quote is never more aggressive than asked."""

    DOWN = -1
    NEAREST = 0
    UP = 1


def price_decimals(px: float, sz_decimals: int, max_decimals: int = PERP_MAX_DECIMALS) -> int:
    """Decimals allowed for prices of ``px``'s magnitude (0 from 10,000 up for 5 significant figures)."""
    exp = math.floor(math.log10(px))
    # log10 can be off by one right at powers of ten; correct against the direct comparison.
    if px < 10.0**exp:
        exp -= 1
    elif px >= 10.0 ** (exp + 1):
        exp += 1
    return max(0, min(max_decimals - sz_decimals, MAX_SIG_FIGS - 1 - exp))


def _round_scaled(value: float, decimals: int, mode: Rounding) -> float:
    """Round ``value`` to ``decimals`` places in ``mode``, exactly as decided on ``repr(value)``.

    Beyond 1e9 scaled units a double no longer resolves 1e-6 of a unit, so the exact path decides.
    """
    scale = _POW10[decimals] if decimals < len(_POW10) else 10.0**decimals
    y = value * scale
    k = math.floor(y)
    frac = y - k
    # Already on the grid (the usual case: strategies quote on the tick): the float of k / 10**d
    # is the value itself, so its shortest repr has at most d decimals and every mode keeps it.
    if frac < _EDGE and k / scale == value:
        return value
    if frac > 1.0 - _EDGE and (k + 1) / scale == value:
        return value
    near_edge = y > 1e9 or frac < _EDGE or frac > 1.0 - _EDGE or (mode is Rounding.NEAREST and abs(frac - 0.5) < _EDGE)
    if near_edge:
        exact = Decimal(repr(value)).quantize(Decimal(1).scaleb(-decimals), rounding=_DEC_MODES[int(mode)])
        return float(exact)
    if mode is Rounding.DOWN:
        n = k
    elif mode is Rounding.UP:
        n = k + 1
    else:
        n = k + 1 if frac > 0.5 else k
    return n / scale


def _check_finite_positive(name: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number > 0 (got {value!r})")


def round_price(
    px: float, sz_decimals: int, mode: Rounding = Rounding.NEAREST, max_decimals: int = PERP_MAX_DECIMALS
) -> float:
    """The valid price nearest to ``px`` in the direction ``mode`` (``max_decimals`` 8 for spot)."""
    _check_finite_positive("price", px)
    decimals = price_decimals(px, sz_decimals, max_decimals)
    out = _round_scaled(px, decimals, mode)
    if out <= 0:
        if mode is Rounding.DOWN:
            raise ValueError(f"price {px!r} is below the smallest tick and cannot be rounded down")
        out = 1.0 / 10.0**decimals  # NEAREST below half a tick: the smallest valid price is the nearest
    return out


@kernel
def _grid_decimals(px: float, sz_decimals: int, max_decimals: int) -> int:
    """Decimals allowed at ``px``'s magnitude, or -1 when ``px`` is not exactly on that grid."""
    exp = math.floor(math.log10(px))
    lo = 10.0**exp
    if not (px > lo * (1 + 1e-12) and px < lo * 10.0 * (1 - 1e-12)):
        return -1  # next to a power of ten the log10 estimate may be off: let the exact path decide
    d = min(max(MAX_SIG_FIGS - 1 - exp, 0), max_decimals - sz_decimals)
    scale = 10.0**d
    return d if np.rint(px * scale) / scale == px else -1


@njit(cache=True, inline="always")
def _level_on_grid(px: float, sz: float, sz_decimals: int, max_decimals: int) -> bool:
    """A level with a positive price and size is already valid: finite, price on its grid, size on the lot."""
    lot = 10.0**sz_decimals
    return (math.isfinite(px) and math.isfinite(sz) and _grid_decimals(px, sz_decimals, max_decimals) >= 0
            and np.rint(sz * lot) / lot == sz)


@kernel
def _ladder_on_grid(side: np.ndarray, n: int, sz_decimals: int, max_decimals: int, out: np.ndarray) -> None:
    """out[i] = 1 when level i's price and size are already valid (the usual case), else 0."""
    for i in range(n):
        px, sz = side[i, 0], side[i, 1]
        out[i] = 1 if px > 0 and sz > 0 and _level_on_grid(px, sz, sz_decimals, max_decimals) else 0


@kernel
def ladder_on_grid(quotes: np.ndarray, n_bids: int, n_asks: int, sz_decimals: int, max_decimals: int,
                   min_notional: float, out: np.ndarray) -> tuple[int, int]:
    """Both sides of a ``strategy.api`` quotes array into ``out`` in one call, when already on the grid.

    Levels with a non-positive (or NaN) price or size and levels under ``min_notional`` are dropped,
    as :func:`round_ladder_side` drops them. Returns the (bids, asks) counts written, or (-1, -1)
    when some level needs rounding: the caller then takes :func:`round_ladder_side`, where the rule lives.
    """
    out[:] = 0.0
    counts = [0, 0]
    for q in range(2):
        n = 0
        for i in range(min(n_bids if q == 0 else n_asks, quotes.shape[1])):
            px, sz = quotes[q, i, 0], quotes[q, i, 1]
            if not (px > 0 and sz > 0):
                continue
            if not _level_on_grid(px, sz, sz_decimals, max_decimals):
                return -1, -1
            if px * sz < min_notional:
                continue
            out[q, n, 0] = px
            out[q, n, 1] = sz
            n += 1
        counts[q] = n
    return counts[0], counts[1]


def round_ladder_side(
    side: np.ndarray, sz_decimals: int, mode: Rounding, max_decimals: int = PERP_MAX_DECIMALS
) -> list[tuple[float, float]]:
    """One side of a ladder ((n, 2) px, sz rows) on the grid: prices in ``mode``, sizes down.

    Levels already on the grid (strategies quote on the tick and lot) are recognised by one jitted
    pass; the others go through :func:`round_price` / :func:`round_size`, so the rule itself lives in
    those two functions. Levels with a non-positive price or size are dropped; sizes may round to 0.
    """
    n = side.shape[0]
    flags = np.empty(n, dtype=np.int8)
    _ladder_on_grid(np.ascontiguousarray(side), n, sz_decimals, max_decimals, flags)
    out = []
    for (px, sz), on_grid in zip(side.tolist(), flags.tolist(), strict=True):
        if on_grid:
            out.append((px, sz))
        elif px > 0 and sz > 0:
            out.append((round_price(px, sz_decimals, mode, max_decimals), round_size(sz, sz_decimals)))
    return out


def round_size(sz: float, sz_decimals: int, mode: Rounding = Rounding.DOWN) -> float:
    """``sz`` on the lot grid; DOWN by default so an order never carries more risk than asked (may give 0)."""
    if not (sz >= 0 and math.isfinite(sz)):
        raise ValueError(f"size must be a finite number >= 0 (got {sz!r})")
    if sz == 0:
        return 0.0
    return _round_scaled(sz, sz_decimals, mode)


def price_to_wire(px: float, sz_decimals: int, mode: Rounding = Rounding.NEAREST) -> str:
    """Round then format with the SDK's ``float_to_wire`` (the string that is signed and sent)."""
    return float_to_wire(round_price(px, sz_decimals, mode))


def size_to_wire(sz: float, sz_decimals: int, mode: Rounding = Rounding.DOWN) -> str:
    return float_to_wire(round_size(sz, sz_decimals, mode))


def is_valid_price(wire: str, sz_decimals: int, max_decimals: int = PERP_MAX_DECIMALS) -> bool:
    """Whether a wire price string obeys the rule (what the exchange side checks)."""
    try:
        d = Decimal(wire)
    except ArithmeticError:
        return False
    if not d.is_finite() or d <= 0:
        return False
    if d == d.to_integral_value():
        return True
    t = d.normalize().as_tuple()
    decimals = -int(t.exponent)
    return decimals <= max_decimals - sz_decimals and len(t.digits) <= MAX_SIG_FIGS


def is_valid_size(wire: str, sz_decimals: int) -> bool:
    try:
        d = Decimal(wire)
    except ArithmeticError:
        return False
    if not d.is_finite() or d < 0:
        return False
    return -int(d.normalize().as_tuple().exponent) <= sz_decimals or d == d.to_integral_value()


class HyperliquidGrid:
    """Hyperliquid's price and size rules for one perp, as the order manager asks for them
    (:class:`amm500.venues.PriceGrid`): the order manager never sees ``szDecimals`` or sig figs."""

    __slots__ = ("sz_decimals",)

    def __init__(self, sz_decimals: int) -> None:
        self.sz_decimals = sz_decimals

    def ladder(self, quotes: np.ndarray, n_bids: int, n_asks: int, min_notional: float,
               out: np.ndarray) -> tuple[int, int]:
        """The ladder on the grid into ``out``: bids down, asks up (never more aggressive than asked),
        sizes down; levels under the lot or ``min_notional`` dropped. Returns the (bids, asks) counts.

        Strategies quote on the tick and lot, so one jitted call usually recognises and copies both
        sides; a ladder that needs rounding goes through :func:`round_ladder_side` level by level.
        """
        szd = self.sz_decimals
        nb, na = ladder_on_grid(quotes, n_bids, n_asks, szd, PERP_MAX_DECIMALS, min_notional, out)
        if nb >= 0:
            return nb, na
        out[:] = 0.0
        counts = []
        for q, n_q, mode in ((0, n_bids, Rounding.DOWN), (1, n_asks, Rounding.UP)):
            n = 0
            for rpx, rsz in round_ladder_side(quotes[q, :n_q], szd, mode):
                if rsz <= 0 or rpx * rsz < min_notional:
                    continue
                out[q, n, 0] = rpx
                out[q, n, 1] = rsz
                n += 1
            counts.append(n)
        return counts[0], counts[1]

    def price(self, px: float, up: bool) -> float:
        return round_price(px, self.sz_decimals, Rounding.UP if up else Rounding.DOWN)

    def size(self, sz: float) -> float:
        """Down onto the lot (an order never carries more risk than asked; may give 0)."""
        return round_size(sz, self.sz_decimals)
