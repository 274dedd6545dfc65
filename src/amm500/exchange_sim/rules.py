"""Hyperliquid's price and size rules, checked on the wire strings with :mod:`decimal` (never floats).

Perp price: at most 5 significant figures (integers always allowed) and at most ``6 - szDecimals``
decimals. Size: at most ``szDecimals`` decimals. Error texts are the live exchange's.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MAX_DECIMALS = 6
MAX_SIG_FIGS = 5


class OrderReject(Exception):
    """One order's rejection; ``str`` is the live error text without the `` asset=N`` suffix."""

    def __init__(self, message: str, status: str = "rejected") -> None:
        super().__init__(message)
        self.status = status


def _decimal(text: object, what: str) -> Decimal:
    if not isinstance(text, str):
        raise OrderReject(f"Order has invalid {what}.")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise OrderReject(f"Order has invalid {what}.") from None
    if not value.is_finite():
        raise OrderReject(f"Order has invalid {what}.")
    return value


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -int(exponent))


def check_price(text: object, sz_decimals: int) -> float:
    value = _decimal(text, "price")
    if value <= 0:
        raise OrderReject("Order has invalid price.")
    if _decimals(value) > MAX_DECIMALS - sz_decimals:
        raise OrderReject("Order has invalid price.", "tickRejected")
    if value != value.to_integral_value():
        digits = value.normalize().as_tuple().digits
        if len(digits) > MAX_SIG_FIGS:
            raise OrderReject("Price must be divisible by tick size.", "tickRejected")
    return float(value)


def check_size(text: object, sz_decimals: int) -> float:
    value = _decimal(text, "size")
    if value < 0 or _decimals(value) > sz_decimals:
        raise OrderReject("Order has invalid size.")
    if value == 0:
        raise OrderReject("Order has zero size.")
    return float(value)


def wire(x: float, max_decimals: int = 8) -> str:
    """A number as Hyperliquid prints it: shortest decimal, at least one fractional digit ("83767.0")."""
    text = f"{round(x, max_decimals):.{max_decimals}f}".rstrip("0")
    if text.endswith("."):
        text += "0"
    if text in ("-0.0", ""):
        text = "0.0"
    return text
