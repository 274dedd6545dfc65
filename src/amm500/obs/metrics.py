"""The engine's Prometheus metrics: one registry per engine, served on its loopback endpoint.

Names follow Prometheus conventions (``amm500_`` prefix, base units, ``_total`` counters). The
latency histograms of :class:`~amm500.obs.latency.LatencyRecorder` live in their own registry and are
served next to these.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

TRADING_STATES = ("ACTIVE", "REDUCING", "HALTED")


class EngineMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.equity = Gauge("amm500_equity_usd", "account value (USD)", registry=r)
        self.pnl = Gauge("amm500_pnl_usd", "equity minus the session's first equity (USD)", registry=r)
        self.position = Gauge("amm500_position", "signed position (base units)", registry=r)
        self.position_limit = Gauge("amm500_position_limit", "max |position| (base units)", registry=r)
        self.mid = Gauge("amm500_mid_price", "mid price", registry=r)
        self.spread_bps = Gauge("amm500_quoted_spread_bps", "full spread of the last ladder quoted (bps)", registry=r)
        self.regime = Gauge("amm500_volatility_regime", "volatility band (0 ultra-low .. 4 extreme)", registry=r)
        self.fills = Counter("amm500_fills", "fills received", ["liquidity"], registry=r)
        self.volume = Counter("amm500_volume_usd", "traded notional (USD)", registry=r)
        self.fees = Counter("amm500_fees_usd", "fees paid (USD; rebates count negative)", registry=r)
        self.maker_ratio = Gauge("amm500_maker_ratio", "maker fills / fills this session", registry=r)
        self.open_orders = Gauge("amm500_open_orders", "orders resting or in flight", registry=r)
        self.budget_left = Gauge("amm500_request_budget_left", "address request budget left (requests)", registry=r)
        self.state = Gauge("amm500_trading_state", "1 for the current trading state", ["state"], registry=r)
        self.feed_age = Gauge("amm500_feed_age_seconds", "age of the newest book", registry=r)
        self.transitions = Counter("amm500_state_transitions", "trading-state changes", ["to"], registry=r)
        self.journal_rows = Gauge("amm500_journal_rows_written", "rows the journal writer committed", registry=r)
        self.killed = Gauge("amm500_kill_switch", "1 once the kill switch has latched", registry=r)
        self.set_state("ACTIVE")

    def set_state(self, state: str) -> None:
        for s in TRADING_STATES:
            self.state.labels(s).set(1.0 if s == state else 0.0)
