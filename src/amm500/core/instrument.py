"""``Instrument``: the one value that says how an asset trades (tick, lot, minimum order, leverage, fees).

The backtester, the live order manager and the local exchange all read these facts from here, built
either from the config (a backtest, whose data carries no venue meta) or from the venue's ``meta``
answer once connected, so that a tick or a leverage cap is never written twice and cannot drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from amm500.config import BTC_MAX_LEVERAGE, Config, ConfigError

# ---- Hyperliquid's perp fee schedule (the one home of these numbers) -------------------------------
# Source: ../shared/reference/hyperliquid-api.md section 6 (docs "Fees"). Rates are fractions of
# notional; the tier is set daily from the 14-day weighted volume (perps + 2x spot).

#: Volume tiers: (name, minimum 14-day volume USD, taker, maker). A tier applies *above* its minimum
#: (the docs say ">5M"), so exactly 5M is still tier 0.
PERP_FEE_TIERS: tuple[tuple[str, float, float, float], ...] = (
    ("tier0", 0.0, 0.00045, 0.00015),
    ("tier1", 5e6, 0.00040, 0.00012),
    ("tier2", 25e6, 0.00035, 0.00008),
    ("tier3", 100e6, 0.00030, 0.00004),
    ("tier4", 500e6, 0.00028, 0.0),
    ("tier5", 2e9, 0.00026, 0.0),
    ("tier6", 7e9, 0.00024, 0.0),
)
#: Maker rebates by 14-day maker-volume share of the whole exchange: (name, minimum share, maker rate).
#: A rebate tier replaces the volume tier's maker fee (it is paid per fill, whatever the volume tier).
MAKER_REBATE_TIERS: tuple[tuple[str, float, float], ...] = (
    ("none", 0.0, math.nan),
    ("rebate1", 0.005, -0.00001),
    ("rebate2", 0.015, -0.00002),
    ("rebate3", 0.03, -0.00003),
)
#: HYPE staking discounts: (name, minimum HYPE staked, discount on fees paid). Rebates are not scaled.
STAKING_TIERS: tuple[tuple[str, float, float], ...] = (
    ("none", 0.0, 0.0),
    ("wood", 10.0, 0.05),
    ("bronze", 100.0, 0.10),
    ("silver", 1_000.0, 0.15),
    ("gold", 10_000.0, 0.20),
    ("platinum", 100_000.0, 0.30),
    ("diamond", 500_000.0, 0.40),
)
FEE_TIER_NAMES = tuple(t[0] for t in PERP_FEE_TIERS)
REBATE_TIER_NAMES = tuple(t[0] for t in MAKER_REBATE_TIERS)
STAKING_TIER_NAMES = tuple(t[0] for t in STAKING_TIERS)


def _above(thresholds: tuple[float, ...], value: float) -> int:
    """Index of the last threshold strictly below ``value`` (index 0 has no minimum)."""
    k = 0
    for i, lo in enumerate(thresholds):
        if i == 0 or value > lo:
            k = i
    return k


def fee_tier_for_volume(volume_14d_usd: float) -> str:
    """The volume tier a 14-day weighted volume earns (strictly above each minimum)."""
    return PERP_FEE_TIERS[_above(tuple(t[1] for t in PERP_FEE_TIERS), volume_14d_usd)][0]


def rebate_tier_for_share(maker_share: float) -> str:
    """The maker-rebate tier a 14-day maker-volume share (0.005 = 0.5%) earns (strictly above)."""
    return MAKER_REBATE_TIERS[_above(tuple(t[1] for t in MAKER_REBATE_TIERS), maker_share)][0]


def staking_tier_for_stake(hype_staked: float) -> str:
    """The staking tier an amount of staked HYPE earns (strictly above each minimum, as the docs' ">")."""
    return STAKING_TIERS[_above(tuple(t[1] for t in STAKING_TIERS), hype_staked)][0]


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """The fees one account pays, and the names that produced them (every report prints ``label``)."""

    tier: str
    rebate: str
    staking: str
    maker: float  # fraction of notional; negative = rebate
    taker: float

    @property
    def label(self) -> str:
        parts = [self.tier]
        if self.rebate != "none":
            parts.append(self.rebate)
        if self.staking != "none":
            parts.append(f"staking {self.staking}")
        return f"{' + '.join(parts)} (maker {self.maker * 1e4:+.2f} bps, taker {self.taker * 1e4:.2f} bps)"


def fee_schedule(tier: str = "tier0", rebate: str = "none", staking: str = "none") -> FeeSchedule:
    """Maker and taker rates for a volume tier, a maker-rebate tier and a staking tier, by name.

    The staking discount scales fees paid (taker, and a positive maker fee); a rebate replaces the
    maker fee and is not discounted.
    """
    try:
        _, _, taker, maker = PERP_FEE_TIERS[FEE_TIER_NAMES.index(tier)]
        reb = MAKER_REBATE_TIERS[REBATE_TIER_NAMES.index(rebate)][2]
        disc = STAKING_TIERS[STAKING_TIER_NAMES.index(staking)][2]
    except ValueError:
        raise ConfigError(f"fee schedule: unknown tier {tier!r} / rebate {rebate!r} / staking {staking!r}; allowed:"
                          f" {FEE_TIER_NAMES}, {REBATE_TIER_NAMES}, {STAKING_TIER_NAMES}") from None
    if not math.isnan(reb):
        maker = reb
    elif maker > 0.0:
        maker *= 1.0 - disc
    return FeeSchedule(tier, rebate, staking, maker, taker * (1.0 - disc))


#: tier-0 rates, the local exchange's default
TIER0 = fee_schedule()


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    tick: float  # the price grid the strategy quotes on, USD
    sz_decimals: int  # sizes are multiples of 10**-sz_decimals
    min_notional: float  # orders below this value, USD, are rejected
    max_leverage: int
    maker_fee: float  # fraction of notional; negative = rebate
    taker_fee: float
    fee_label: str = TIER0.label  # which schedule produced the two rates (reports print it)

    @property
    def lot(self) -> float:
        return 10.0 ** (-self.sz_decimals)

    @classmethod
    def from_config(cls, config: Config) -> Instrument:
        """The instrument a backtest assumes: ``backtest.tick_size``, ``sz_decimals``, ``min_order_value``, and the
        fees of ``backtest.fee_tier`` / ``maker_rebate_tier`` / ``staking_tier`` (``maker_fee`` / ``taker_fee``
        override a rate; the label then says so)."""
        b = config.backtest
        fs = fee_schedule(b.fee_tier, b.maker_rebate_tier, b.staking_tier)
        maker = b.maker_fee if b.maker_fee is not None else fs.maker
        taker = b.taker_fee if b.taker_fee is not None else fs.taker
        label = fs.label
        if b.maker_fee is not None or b.taker_fee is not None:
            label = (f"{fs.tier} overridden (maker {maker * 1e4:+.2f} bps, taker {taker * 1e4:.2f} bps)")
        return cls(config.trading.symbol, b.tick_size, b.sz_decimals, b.min_order_value, BTC_MAX_LEVERAGE, maker, taker,
                   label)

    def with_venue(self, *, sz_decimals: int, max_leverage: int) -> Instrument:
        """The same instrument with what the venue's ``meta`` says; a size grid that disagrees with the
        one the strategy quotes on is refused (its orders would be rounded to another size)."""
        if sz_decimals != self.sz_decimals:
            raise ConfigError(
                f"backtest.sz_decimals = {self.sz_decimals}: the venue's meta says {self.symbol} has szDecimals"
                f" {sz_decimals}; set backtest.sz_decimals={sz_decimals}")
        return replace(self, max_leverage=max_leverage)

    def check_leverage(self, leverage: int) -> None:
        if leverage > self.max_leverage:
            raise ConfigError(f"trading.leverage = {leverage}: must be <= {self.max_leverage}"
                              f" ({self.symbol}'s maximum leverage)")
