"""``Instrument``: the one value that says how an asset trades (tick, lot, minimum order, leverage, fees).

The backtester, the live order manager and the local exchange all read these facts from here, built
either from the config (a backtest, whose data carries no venue meta) or from the venue's ``meta``
answer once connected, so that a tick or a leverage cap is never written twice and cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from amm500.config import BTC_MAX_LEVERAGE, Config, ConfigError


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    tick: float  # the price grid the strategy quotes on, USD
    sz_decimals: int  # sizes are multiples of 10**-sz_decimals
    min_notional: float  # orders below this value, USD, are rejected
    max_leverage: int
    maker_fee: float  # fraction of notional; negative = rebate
    taker_fee: float

    @property
    def lot(self) -> float:
        return 10.0 ** (-self.sz_decimals)

    @classmethod
    def from_config(cls, config: Config) -> Instrument:
        """The instrument a backtest assumes: ``backtest.tick_size``, ``sz_decimals``, ``min_order_value``, fees."""
        b = config.backtest
        maker, taker = b.fees()
        return cls(config.trading.symbol, b.tick_size, b.sz_decimals, b.min_order_value, BTC_MAX_LEVERAGE, maker, taker)

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
