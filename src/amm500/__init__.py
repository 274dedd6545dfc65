"""AMM-500: a delta-neutral market maker for the Hyperliquid BTC perpetual."""

__version__ = "0.1.0"
