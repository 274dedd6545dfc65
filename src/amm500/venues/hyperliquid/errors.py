"""Errors raised by the Hyperliquid client; messages are for people and never contain secrets.

Each is one of the venue-neutral kinds of :mod:`amm500.venues.errors` (transient or fatal).
"""

from __future__ import annotations

from amm500.venues.errors import FatalError, RefusedError, ThrottledError, TransientError, VenueError


class HyperliquidError(VenueError):
    """Base class for everything the venue raises."""


class WalletError(HyperliquidError, FatalError):
    """The key, the master/account address or the vault address is wrong; the message says which."""


class TransportError(HyperliquidError, TransientError):
    """The request did not get an answer (connection refused, timeout, socket closed)."""


class ExchangeError(HyperliquidError, RefusedError):
    """The exchange answered with an error: ``{"status":"err"}``, HTTP 4xx/5xx or a WS post error."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RateLimited(ExchangeError, ThrottledError):
    """HTTP 429 (IP weight) or the per-address request budget is spent."""


class MessageError(HyperliquidError, TransientError):
    """An incoming message does not have the documented shape; ``path`` names the bad field."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
