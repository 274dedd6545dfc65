"""Accounts of the local exchange: cash, one-way positions, fees, funding and cross margin.

Conventions follow Hyperliquid: initial margin = |size| x mark / leverage; maintenance margin is
half the initial margin at the asset's maximum leverage; funding pays ``szi x oracle x rate``
(positive rate: longs pay shorts); fees are charged per fill on notional (tier 0 by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_LEVERAGE = 20


@dataclass
class Position:
    szi: float = 0.0
    entry_px: float = 0.0
    leverage: int = DEFAULT_LEVERAGE
    is_cross: bool = True
    funding_all_time: float = 0.0  # paid (positive) by this account, Hyperliquid's cumFunding sign
    funding_since_open: float = 0.0
    funding_since_change: float = 0.0


@dataclass
class Account:
    address: str
    cash: float  # USDC including realized PnL, fees and funding
    volume: float = 0.0  # lifetime traded notional (rate limits, scheduleCancel gate)
    leader: str | None = None  # for vaults / sub-accounts: the master that may act for it
    positions: dict[int, Position] = field(default_factory=dict)
    fills: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    fundings: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    n_requests: int = 0
    schedule_cancel_ms: int | None = None
    schedule_triggers: dict[str, int] = field(default_factory=dict)  # UTC day -> triggers

    def position(self, asset: int) -> Position:
        return self.positions.setdefault(asset, Position())

    def unrealized(self, marks: dict[int, float]) -> float:
        return sum(p.szi * (marks[a] - p.entry_px) for a, p in self.positions.items() if p.szi)

    def account_value(self, marks: dict[int, float]) -> float:
        return self.cash + self.unrealized(marks)

    def margin_used(self, marks: dict[int, float]) -> float:
        return sum(abs(p.szi) * marks[a] / p.leverage for a, p in self.positions.items() if p.szi)

    def maintenance(self, marks: dict[int, float], max_leverage: dict[int, int]) -> float:
        return sum(abs(p.szi) * marks[a] / (2 * max_leverage[a]) for a, p in self.positions.items() if p.szi)


def direction(start: float, side: int, sz: float) -> str:
    """Hyperliquid's ``dir`` of a perp fill."""
    end = start + side * sz
    if start > 0 and end < 0:
        return "Long > Short"
    if start < 0 and end > 0:
        return "Short > Long"
    if side > 0:
        return "Close Short" if start < 0 else "Open Long"
    return "Close Long" if start > 0 else "Open Short"


def apply_trade(pos: Position, side: int, px: float, sz: float) -> float:
    """Move ``pos`` by a fill; return the realized PnL of the closed part (before fees)."""
    start = pos.szi
    signed = side * sz
    closed = 0.0
    if start != 0 and (start > 0) != (signed > 0):
        closed = min(abs(start), sz)
    pnl = closed * (px - pos.entry_px) * (1 if start > 0 else -1) if closed else 0.0
    end = start + signed
    if abs(end) < 1e-12:
        end = 0.0
    if closed == 0.0:  # opening or adding: volume-weighted entry
        pos.entry_px = (abs(start) * pos.entry_px + sz * px) / abs(end)
    elif sz > abs(start):  # flipped: the remainder opens at the fill price
        pos.entry_px = px
    if end == 0.0:
        pos.entry_px = 0.0
    if start == 0.0 or (start > 0) != (end > 0):
        pos.funding_since_open = 0.0
    pos.funding_since_change = 0.0
    pos.szi = end
    return pnl
