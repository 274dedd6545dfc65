"""Errors raised by the Hyperliquid client; messages are for people and never contain secrets."""

from __future__ import annotations


class HyperliquidError(Exception):
    """Base class for everything the venue raises."""


class WalletError(HyperliquidError):
    """The key, the master/account address or the vault address is wrong; the message says which."""


class TransportError(HyperliquidError):
    """The request did not get an answer (connection refused, timeout, socket closed)."""


class ExchangeError(HyperliquidError):
    """The exchange answered with an error: ``{"status":"err"}``, HTTP 4xx/5xx or a WS post error."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RateLimited(ExchangeError):
    """HTTP 429 (IP weight) or the per-address request budget is spent."""


class MessageError(HyperliquidError):
    """An incoming message does not have the documented shape; ``path`` names the bad field."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
