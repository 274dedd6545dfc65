"""How the simulated exchange treats our orders: every model of the exchange side in one value.

The backtester, the paper venue and the local exchange's ``queue`` matching all run ``sim``'s kernels;
this is the one place their settings are read from config (as hftbacktest's asset builder declares
the queue, latency and fee models of a run together). ``sim`` turns it into its kernels' vector and
never reads config itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from amm500.config import Config


@dataclass(frozen=True, slots=True)
class ExchangeModel:
    prob_queue: bool  # backtest.queue_model == "prob" (else risk-averse)
    queue_power: float
    partial_fills: bool
    leverage: int  # the account's leverage, for the margin check on arrival
    maintenance_margin_rate: float
    response_latency_ms: float  # exchange -> strategy
    lognormal_latency: bool  # backtest.latency_model == "lognormal" (else constant)
    latency_sigma: float

    @classmethod
    def from_config(cls, config: Config) -> ExchangeModel:
        b = config.backtest
        return cls(b.queue_model == "prob", b.queue_power, b.partial_fills, config.trading.leverage,
                   b.maintenance_margin_rate, b.response_latency_ms, b.latency_model == "lognormal",
                   b.latency_sigma)
