"""AMM-500 configuration: the seed's vocabulary as validated pydantic-settings models.

The defaults run what the project's out-of-sample evaluation recommends for a tier-0 account (docs/edge.md,
"The recommended defaults"); the seed's own settings are ``configs/seed.toml``.

Load order, later wins: defaults < TOML file (``--config``) < ``AMM500_*`` environment
(nested with ``__``, e.g. ``AMM500_TRADING__LEVERAGE=5``) < CLI ``--set section.field=value``.

Secrets (the private key, SMTP password) come from the environment or a keystore file only: a TOML
file that contains one is refused, and every printed or serialized form masks them.
"""

from __future__ import annotations

import difflib
import itertools
import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "AMM500_"
ENV_NESTED_DELIMITER = "__"

#: Hyperliquid's BTC perp facts today (``meta.universe[0]``: maxLeverage, szDecimals; the $10 minimum
#: order value; a $1 tick: 5 significant figures at 10k-99k). The defaults of ``backtest`` and the
#: local exchange's BTC come from here; ``core.instrument.Instrument`` carries them (and, once
#: connected, what the venue's meta says) to the backtester and the order manager.
BTC_MAX_LEVERAGE = 40
BTC_SZ_DECIMALS = 5
BTC_TICK = 1.0
MIN_ORDER_VALUE = 10.0

#: Fee tiers are chosen here by name; their rates live in ``core.instrument`` (one home).
FeeTierName = Literal["tier0", "tier1", "tier2", "tier3", "tier4", "tier5", "tier6"]
RebateTierName = Literal["none", "rebate1", "rebate2", "rebate3"]
StakingTierName = Literal["none", "wood", "bronze", "silver", "gold", "platinum", "diamond"]

SECRET_FIELDS = frozenset({"private_key", "smtp_password", "aws_secret_access_key", "apprise_urls"})


class ConfigError(ValueError):
    """A configuration problem, phrased for a person: field, value, and what is allowed."""


class _Section(BaseModel):
    """Config sections forbid unknown keys: a typo must fail loudly, not be ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    @field_validator("*", mode="before")
    @classmethod
    def _strict_bool(cls, value: Any, info: Any) -> Any:
        """A boolean is true or false (any case, as TOML, env or --set text), never "yes", "on" or 1:
        pydantic's lax parsing would read a typo such as ``yes`` as a decision the user never wrote."""
        if cls.model_fields[info.field_name].annotation is not bool or isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValueError("must be true or false")


def _positive(name: str, value: float) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be > 0 (got {value})")
    return value


class TradingConfig(_Section):
    """What to quote: seed sections 1 (spreads) and the ladder shape."""

    symbol: str = Field("BTC", description="Hyperliquid perp coin name")
    # The defaults of strategy and min_spread_bps are the out-of-sample recommendation for a tier-0
    # account (docs/edge.md, "The recommended defaults"; its figures: optimize/recommendation.json).
    # The seed's ladder is configs/seed.toml.
    strategy: Literal["market_making", "fixed_spread", "glft"] = Field(
        "glft",
        description="glft = the edge-aware GLFT quoter (section [glft]), the recommended default;"
        " market_making = the seed's ladder (configs/seed.toml); fixed_spread = the reference ladder used to"
        " validate engines",
    )
    leverage: int = Field(10, ge=1, le=BTC_MAX_LEVERAGE, description="cross leverage (1..asset max)")
    min_spread_bps: float = Field(
        8.0, gt=0, le=1000, description="narrowest full bid-ask spread, bps (glft: the floor of its own spread)"
    )
    max_spread_bps: float = Field(10.0, gt=0, le=1000, description="widest spread, bps")
    # Volatility-adaptive spreads (seed section 1): full bid-ask spread in bps per annualized-vol band.
    ultra_low_vol_spread: float = Field(
        1.0, gt=0, le=1000, description="full spread, bps, while vol < ultra_low_vol_max"
    )
    low_vol_spread: float = Field(2.0, gt=0, le=1000, description="full spread, bps, while vol < low_vol_max")
    normal_vol_spread: float = Field(3.0, gt=0, le=1000, description="full spread, bps, while vol < normal_vol_max")
    high_vol_spread: float = Field(5.0, gt=0, le=1000, description="full spread, bps, while vol < high_vol_max")
    extreme_vol_spread: float = Field(10.0, gt=0, le=1000, description="full spread, bps, above high_vol_max")
    # Upper edges of the first four bands (annualized volatility as a fraction: 0.10 = 10%).
    ultra_low_vol_max: float = Field(
        0.10, gt=0, description="upper edge of the ultra-low band (annualized vol, 0.10 = 10%)"
    )
    low_vol_max: float = Field(0.20, gt=0, description="upper edge of the low band")
    normal_vol_max: float = Field(0.40, gt=0, description="upper edge of the normal band")
    high_vol_max: float = Field(0.60, gt=0, description="upper edge of the high band; above it is extreme")
    spread_recalc_interval: float = Field(5.0, gt=0, le=3600, description="seconds between vol recalcs")
    volatility_window: float = Field(300.0, gt=0, description="seconds of mid returns in realized vol")
    volatility_source: Literal["realized", "lstm"] = Field(
        "realized", description="realized = mid-return estimator; lstm = VolatilityPredictor forecast"
    )
    vol_adaptive_enabled: bool = Field(True, description="off: quote min_spread_bps whatever the volatility")
    order_levels: int = Field(20, ge=1, le=100, description="quotes per side")
    level_spacing_bps: float = Field(1.0, gt=0, le=1000, description="distance between ladder levels")
    order_size_fraction: float = Field(
        0.02, gt=0, le=1, description="notional per order as a fraction of equity x leverage"
    )
    level_size_decay: float = Field(1.0, gt=0, le=10, description="size multiplier per level outward")
    quote_tolerance_bps: float = Field(
        0.5, ge=0, le=100, description="hysteresis: keep a resting order within this of its target"
    )
    inventory_skew_enabled: bool = Field(True, description="off: no reservation-price shift for inventory")
    inventory_skew_bps: float = Field(
        2.0, ge=0, le=1000, description="reservation shift in bps at inventory_skew_threshold of equity"
    )
    imbalance_skew_enabled: bool = Field(True, description="off: no fair-price shift from L2 imbalance")
    imbalance_skew_bps: float = Field(0.5, ge=0, le=1000, description="shift in bps at imbalance 1.0")
    imbalance_depth: int = Field(10, ge=1, le=20, description="book levels used by OrderBookAnalyzer")

    @model_validator(mode="after")
    def _spreads_ordered(self) -> TradingConfig:
        if self.min_spread_bps > self.max_spread_bps:
            raise ValueError(
                f"min_spread_bps ({self.min_spread_bps}) must be <= max_spread_bps ({self.max_spread_bps})"
            )
        edges = [self.ultra_low_vol_max, self.low_vol_max, self.normal_vol_max, self.high_vol_max]
        if any(a >= b for a, b in itertools.pairwise(edges)):
            raise ValueError(
                "volatility band edges must increase: ultra_low_vol_max < low_vol_max < normal_vol_max"
                f" < high_vol_max (got {edges})"
            )
        return self

    def band_spreads(self) -> tuple[float, float, float, float, float]:
        return (
            self.ultra_low_vol_spread,
            self.low_vol_spread,
            self.normal_vol_spread,
            self.high_vol_spread,
            self.extreme_vol_spread,
        )

    def band_edges(self) -> tuple[float, float, float, float]:
        return (self.ultra_low_vol_max, self.low_vol_max, self.normal_vol_max, self.high_vol_max)


class GlftConfig(_Section):
    """The edge-aware strategy (``trading.strategy = "glft"``): Gueant-Lehalle-Fernandez-Tapia quotes.

    Depths are in bps of the mid, intensities per second, inventory in units of one order's size.
    The seed's mechanisms still apply around it: spreads clamped to [min_spread_bps, max_spread_bps],
    risk widening, delta rebalancing, position timeout, limits and the kill switch.
    """

    gamma: float = Field(0.1, gt=0, le=100, description="inventory risk aversion (1/bps per order-size unit)")
    intensity_a: float = Field(
        1.0, gt=0, le=1000, description="prior trade arrival rate at the mid, per second (used until calibrated)"
    )
    intensity_k: float = Field(1.0, gt=0, le=100, description="prior decay of arrivals with depth, 1/bps")
    calibrate: bool = Field(True, description="fit (A, k) online from the trades seen at each depth")
    calibration_halflife_s: float = Field(
        600.0, gt=0, le=86400, description="half-life of the trade counts and alpha regression, seconds"
    )
    calibration_warmup_s: float = Field(60.0, ge=0, le=86400, description="seconds of tape before the fit is used")
    depth_step_bps: float = Field(0.2, gt=0, le=100, description="spacing of the depth grid the intensity is fit on")
    alpha_enabled: bool = Field(True, description="shift the fair price by the fitted short-horizon alpha")
    alpha_horizon_s: float = Field(10.0, gt=0, le=3600, description="the mid move the alpha regression predicts")
    alpha_max_bps: float = Field(2.0, ge=0, le=100, description="cap on the alpha's fair-price shift")
    alpha_min_samples: int = Field(100, ge=3, le=100000, description="resolved samples before the alpha is used")
    edge_gate: bool = Field(True, description="quote a side only where half-spread - adverse selection > maker fee")
    min_edge_bps: float = Field(0.0, ge=-100, le=100, description="edge a side must clear on top of the maker fee")
    adverse_prior_bps: float = Field(
        0.5, ge=0, le=100, description="expected adverse move after a fill before any of our fills marked out"
    )
    adverse_halflife_fills: float = Field(50.0, gt=0, le=100000, description="fills over which mark-outs average")
    adverse_forget_s: float = Field(
        3600.0, gt=0, le=864000, description="half-life of the mark-out estimate's pull back to its prior (idle side)"
    )
    requote_bps: float = Field(
        0.5, ge=0, le=100, description="keep a resting order unless its target moved more than this (a request costs)"
    )
    levels: int = Field(1, ge=1, le=100, description="quotes per side (spaced by trading.level_spacing_bps)")


class ExecutionConfig(_Section):
    """How often to act and how orders are sent: seed sections 2 and 7."""

    rebalance_interval: float = Field(1.0, gt=0, le=3600, description="seconds between delta checks")
    quote_refresh_interval: float = Field(0.5, gt=0, le=3600, description="seconds between requotes")
    max_delta_imbalance: float = Field(
        0.005, gt=0, le=1, description="net position notional / equity above which we lean flat"
    )
    post_only: bool = Field(True, description="quotes are ALO (rejected rather than crossing)")
    max_batch_size: int = Field(40, ge=1, le=1000, description="orders per /exchange request")
    use_ws_post: bool = Field(True, description="send actions over the WebSocket when it is faster")
    dead_man_switch_s: float = Field(
        30.0, ge=5, le=86400, description="scheduleCancel horizon, re-armed while alive"
    )
    delta_size_mult: float = Field(
        0.5, ge=0, le=1, description="size multiplier on the growing side above max_delta_imbalance"
    )
    delta_step_back_bps: float = Field(1.0, ge=0, le=1000, description="growing side steps back this far")
    size_tolerance: float = Field(
        0.25, ge=0, le=1, description="keep a resting order whose size is within this fraction of the wanted size"
    )
    taker_slippage: float = Field(0.05, gt=0, le=0.5, description="IOC limit: best price +- this fraction")
    flatten_on_stop: bool = Field(
        False, description="live/paper: on Ctrl-C or SIGTERM, close the position (reduce-only IOC) after cancelling"
    )
    request_budget_low: int = Field(
        2000, ge=0, le=1_000_000,
        description="address requests left below which requotes are spaced out (x low/left, at most 60x)",
    )


class RiskConfig(_Section):
    """Seed section 4 thresholds plus the section 8C kill switch."""

    target_maker_ratio: float = Field(
        0.95, ge=0, le=1, description="share of fills that should be maker (reported against)"
    )
    max_taker_ratio: float = Field(0.10, ge=0, le=1, description="above it spreads widen by taker_widen_bps")
    taker_ratio_min_trades: int = Field(10, ge=0, description="fills before the taker check applies")
    taker_widen_bps: float = Field(2.0, ge=0, le=1000, description="extra spread while taker ratio high")
    taker_fee_penalty: float = Field(
        0.0005, ge=0, le=0.01, description="cost charged to a taker decision in the strategy's own accounting"
    )
    funding_hedge_threshold: float = Field(0.0001, ge=0, le=0.04, description="hourly rate to lean on")
    funding_arb_enabled: bool = Field(True, description="lean quotes toward the side that receives funding")
    funding_skew_bps: float = Field(0.5, ge=0, le=1000, description="reservation shift at funding_hedge_threshold")
    inventory_skew_threshold: float = Field(0.01, gt=0, le=1, description="position/equity of strong skew")
    max_position_seconds: float = Field(30.0, gt=0, description="older positions are cut with IOC")
    position_timeout_enabled: bool = Field(True, description="off: never cut a position with IOC for its age")
    adverse_selection_window: int = Field(10, ge=1, le=1024, description="recent fills examined")
    adverse_selection_threshold: float = Field(0.5, ge=0, description="bps of average adverse move")
    adverse_selection_enabled: bool = Field(True, description="off: ignore fill mark-outs")
    adverse_widen_bps: float = Field(1.0, ge=0, le=1000, description="extra spread while adverse selection is high")
    adverse_size_mult: float = Field(0.5, gt=0, le=1, description="size multiplier while adverse selection is high")
    adverse_markout_s: float = Field(5.0, ge=0, le=3600, description="fill px vs the mid this many seconds later")
    inventory_skew_strong_mult: float = Field(
        2.0, ge=1, le=100, description="skew slope multiplier past inventory_skew_threshold"
    )
    delta_rebalance_enabled: bool = Field(True, description="off: no shrinking/stepping back on the growing side")
    taker_check_enabled: bool = Field(True, description="off: no widening for a high taker ratio")
    max_net_exposure: float = Field(5000.0, gt=0, description="max |position| notional, USD")
    max_leverage_used: float = Field(5.0, gt=0, le=BTC_MAX_LEVERAGE, description="notional/equity cap")
    price_band_bps: float = Field(50.0, gt=0, le=10000, description="no quote farther from mid")
    stale_data_ms: float = Field(
        3000.0, gt=0, description="no quoting on a book older than this (live: every order is pulled)"
    )
    max_margin_ratio: float = Field(
        0.9, gt=0, le=1, description="live: above this share of equity used as margin, only reducing orders are sent"
    )
    # Kill switch (seed 8C).
    kill_switch_enabled: bool = Field(
        True, description="off: never latch the kill switch (backtests of raw behaviour only)"
    )
    max_drawdown: float = Field(0.05, gt=0, le=1, description="fraction of peak equity")
    max_consecutive_losses: int = Field(
        10, ge=0, description="losing round trips in a row; 0 disables only this rule (drawdown and session loss stay)"
    )
    max_session_loss: float = Field(100.0, gt=0, description="USD lost since start")


class NetworkConfig(_Section):
    """Where to connect and who signs. The key itself never lives in a file you can print."""

    network: Literal["mainnet", "testnet", "local", "custom"] = Field(
        "local", description="mainnet, testnet, local (exchange-sim) or custom (api_url/ws_url)"
    )
    api_url: str | None = Field(None, description="REST base; derived from network unless custom")
    ws_url: str | None = Field(None, description="WebSocket URL when network = custom (default: derived from api_url)")
    account_address: str | None = Field(None, description="master (or sub-account) address, 0x...")
    vault_address: str | None = Field(
        None, description="trade for this vault/subaccount (signing key must be authorized)"
    )
    keystore_path: Path | None = Field(None, description="file holding the agent/master private key")
    private_key: SecretStr | None = Field(
        None, description="agent or master key; AMM500_PRIVATE_KEY / AMM500_NETWORK__PRIVATE_KEY only"
    )
    request_timeout_s: float = Field(10.0, gt=0, le=300, description="HTTP request timeout")
    ws_ping_interval_s: float = Field(
        30.0, gt=0, le=59, description="keep-alive ping period (Hyperliquid drops idle sockets after 60 s)"
    )
    reconnect_max_backoff_s: float = Field(5.0, gt=0, le=300, description="cap of the exponential reconnect backoff")
    local_port: int = Field(3001, ge=1, le=65535, description="port of the local exchange when network = local")

    @field_validator("account_address", "vault_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return value
        v = value.strip()
        if not (v.startswith("0x") and len(v) == 42 and all(c in "0123456789abcdefABCDEF" for c in v[2:])):
            raise ValueError(f"must be a 0x-prefixed 20-byte hex address (got {value!r})")
        return v.lower()

    def urls(self) -> tuple[str, str]:
        """(REST base, WebSocket URL) for the selected network."""
        bases = {
            "mainnet": "https://api.hyperliquid.xyz",
            "testnet": "https://api.hyperliquid-testnet.xyz",
            "local": f"http://127.0.0.1:{self.local_port}",
        }
        api = self.api_url or bases.get(self.network)
        if api is None:
            raise ConfigError("network.api_url: required when network = 'custom'")
        ws = self.ws_url or ("ws" + api[len("http") :] + "/ws")
        return api.rstrip("/"), ws


class BacktestConfig(_Section):
    """Simulation assumptions. Every report prints these next to its numbers."""

    initial_equity: float = Field(1000.0, gt=0, description="starting USDC collateral")
    fill_model: Literal["tick", "bar"] = Field("tick", description="tick = queue-aware L2; bar = fill_rate")
    fill_rate: float = Field(0.75, ge=0, le=1, description="bar mode only: P(fill | quote inside bar)")
    queue_model: Literal["risk_averse", "prob"] = Field(
        "risk_averse", description="risk_averse: only trades at our price advance us; prob: cancels too"
    )
    queue_power: float = Field(2.0, gt=0, le=10, description="prob model: p = b^n/(b^n+f^n)")
    latency_model: Literal["constant", "lognormal"] = Field(
        "constant", description="constant latencies, or lognormal around them (latency_sigma)"
    )
    order_latency_ms: float = Field(50.0, ge=0, le=60000, description="order entry, local to exchange")
    cancel_latency_ms: float = Field(50.0, ge=0, le=60000, description="cancel, local to exchange")
    response_latency_ms: float = Field(50.0, ge=0, le=60000, description="exchange ack back to us")
    feed_latency_ms: float = Field(
        0.0, ge=0, le=60000, description="extra market-data delay on top of the data's local_ts"
    )
    latency_sigma: float = Field(0.3, ge=0, le=5, description="lognormal model: sigma of log latency")
    fee_tier: FeeTierName = Field(
        "tier0", description="Hyperliquid perp volume tier (tier0: maker 1.5, taker 4.5 bps; 0..6 accepted)"
    )
    maker_rebate_tier: RebateTierName = Field(
        "none", description="maker rebate by 14-day maker share: rebate1 -0.1, rebate2 -0.2, rebate3 -0.3 bps"
    )
    staking_tier: StakingTierName = Field(
        "none", description="HYPE staking discount on fees paid: wood 5% .. diamond 40%"
    )
    maker_fee: float | None = Field(None, ge=-0.001, le=0.01, description="override; negative = rebate")
    taker_fee: float | None = Field(None, ge=0, le=0.01, description="override of the tier's taker fee")
    maintenance_margin_rate: float = Field(0.0125, gt=0, lt=1, description="BTC: half of 1/40")
    tick_size: float = Field(BTC_TICK, gt=0, description="price tick, USD (BTC: 1)")
    sz_decimals: int = Field(BTC_SZ_DECIMALS, ge=0, le=10, description="size decimals (BTC: 5, lot 0.00001)")
    min_order_value: float = Field(MIN_ORDER_VALUE, ge=0, description="orders below this notional, USD, are rejected")
    seed: int = Field(0, ge=0, description="RNG seed for sampled latency / bar fills")
    markout_horizons_s: tuple[float, ...] = Field(
        (1.0, 10.0, 60.0), description="seconds after a fill at which its mark-out is measured"
    )
    partial_fills: bool = Field(True, description="tick mode: a trade reaching us fills only its overflow")
    record_interval_s: float = Field(60.0, gt=0, le=86400, description="equity/inventory sampling step")
    timer_anchor: Literal["first_local", "first_exchange", "epoch"] = Field(
        "first_local",
        description="where the timer grid starts: first_local = every timer fires at the first event the strategy"
        " sees, then every interval (the live quote loop); first_exchange = one interval after the first row's"
        " exchange time (hftbacktest's elapse loop); epoch = multiples of each interval since the Unix epoch",
    )
    timer_offset_ms: float = Field(
        0.0, ge=0, le=3_600_000, description="shifts the whole timer grid later by this much (phase studies)"
    )
    phases: int = Field(
        1, ge=1, le=64, description="timer phases one evaluation spans (amm500 backtest / optimize --phases): the"
        " run is repeated with timer_offset_ms moved by k/N of quote_refresh_interval and each metric's"
        " min / median / max reported; 1 = one run",
    )
    request_budget: bool = Field(
        True, description="enforce Hyperliquid's address budget (10k + 1/USDC traded; then 1 per 10 s) and IP weight"
    )
    account_traded_volume_usd: float = Field(
        0.0, ge=0, description="the account's cumulative traded volume before the run (0 = a new account)"
    )
    account_requests_used: int = Field(0, ge=0, description="address requests the account has used before the run")

    @field_validator("fee_tier", mode="before")
    @classmethod
    def _tier_number(cls, value: Any) -> Any:
        """``fee_tier = 2`` (the number, as before tiers had names) means ``"tier2"``."""
        if isinstance(value, int) and not isinstance(value, bool):
            return f"tier{value}"
        if isinstance(value, str) and value.isdigit():
            return f"tier{value}"
        return value


class AlertConfig(_Section):
    """Alert routing and thresholds (seed section 8B and the original monitor's alert levels)."""

    enabled: bool = Field(False, description="send alerts at all")
    apprise_urls: list[SecretStr] = Field(
        default_factory=list,
        description="secret (each URL holds its target's credentials): apprise targets (Slack, Telegram, json://, "
        "mailto...), env AMM500_ALERTS__APPRISE_URLS only, as a JSON list",
    )
    smtp_host: str | None = Field(None, description="SMTP server for e-mail alerts")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port")
    smtp_user: str | None = Field(None, description="SMTP login")
    smtp_password: SecretStr | None = Field(None, description="secret: env AMM500_ALERTS__SMTP_PASSWORD only")
    smtp_starttls: bool = Field(True, description="upgrade the SMTP connection with STARTTLS")
    email_from: str | None = Field(None, description="sender address")
    email_to: list[str] = Field(default_factory=list, description="recipient addresses")
    cooldown_minutes: float = Field(30.0, ge=0, description="minimum gap between two alerts of the same kind")
    drawdown_alert: float = Field(0.02, gt=0, le=1, description="alert above this drawdown (fraction of peak equity)")
    taker_ratio_alert: float = Field(0.30, gt=0, le=1, description="alert above this taker ratio")
    session_loss_alert: float = Field(50.0, gt=0, description="alert above this session loss, USD")
    margin_ratio_alert: float = Field(0.80, gt=0, le=1, description="alert above this margin usage")
    stale_feed_alert_s: float = Field(
        30.0, gt=0, description="alert when the bot's market data is older than this, seconds"
    )
    request_budget_alert: float = Field(
        0.10, gt=0, le=1, description="alert when less than this share of the address request budget is left"
    )
    retries: int = Field(3, ge=0, le=10, description="delivery retries per target, with doubling backoff")
    retry_backoff_s: float = Field(1.0, ge=0, le=300, description="first retry delay, seconds (doubles)")
    daily_summary_hour_utc: int = Field(0, ge=0, le=23, description="UTC hour of the daily summary alert")

    @field_validator("apprise_urls", mode="before")
    @classmethod
    def _no_urls(cls, value: Any) -> Any:
        """None is "no targets": a config with its secrets blanked (optimize's payload) stays valid."""
        return [] if value is None else value


class SupervisorConfig(_Section):
    """``amm500 supervise``: restarting the bot, noticing a hung one, and its own kill procedure (seed 8A/8C)."""

    max_restarts_per_hour: int = Field(5, ge=0, le=1000, description="restarts in any rolling hour before giving up")
    restart_backoff_s: float = Field(2.0, ge=0, le=3600, description="wait before the first restart (doubles)")
    restart_backoff_max_s: float = Field(60.0, ge=0, le=3600, description="cap of the restart backoff")
    heartbeat_timeout_s: float = Field(
        20.0, gt=0, le=3600, description="a live bot whose heartbeat is older than this is hung: killed, restarted"
    )
    startup_timeout_s: float = Field(
        300.0, gt=0, le=7200, description="time a new bot has to write its first heartbeat (Numba compiles)"
    )
    stop_grace_s: float = Field(10.0, gt=0, le=300, description="SIGTERM to SIGKILL, seconds")
    poll_interval_s: float = Field(0.5, gt=0, le=60, description="how often the supervisor looks at the bot")
    wallet_poll_s: float = Field(5.0, gt=0, le=3600, description="clearinghouseState poll period (weight 2)")
    orders_poll_s: float = Field(30.0, gt=0, le=3600, description="openOrders poll period (weight 20)")
    budget_poll_s: float = Field(60.0, gt=0, le=3600, description="userRateLimit poll period (weight 20)")
    ip_weight_per_min: int = Field(
        120, ge=10, le=1200, description="the supervisor's own share of the 1200/min IP weight budget"
    )
    flatten_timeout_s: float = Field(60.0, gt=0, le=3600, description="the kill procedure gives up after this")
    terminal_drawdown: float = Field(
        0.10, gt=0, le=1, description="drawdown from the all-time peak past which the bot is never restarted"
    )


def _toml_source_factory(path: Path | None) -> type[PydanticBaseSettingsSource]:
    class _TomlSource(PydanticBaseSettingsSource):
        def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
            return None, field_name, False

        def __call__(self) -> dict[str, Any]:
            return load_toml(path, strict=False) if path is not None else {}

    return _TomlSource


class Config(BaseSettings):
    """All of AMM-500's settings. Build with :func:`load_config`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        extra="forbid",
        validate_assignment=True,
        case_sensitive=False,
    )

    trading: TradingConfig = Field(default_factory=TradingConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    backtest: BacktestConfig = Field(default_factory=BacktestConfig)
    glft: GlftConfig = Field(default_factory=GlftConfig)
    alerts: AlertConfig = Field(default_factory=AlertConfig)
    supervisor: SupervisorConfig = Field(default_factory=SupervisorConfig)

    _toml_path: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = _toml_source_factory(_CURRENT_TOML.get("path"))(settings_cls)
        # First wins: CLI overrides (init kwargs) > environment > TOML > defaults.
        return (init_settings, env_settings, toml)

    @model_validator(mode="after")
    def _cross_section(self) -> Config:
        notional = self.backtest.initial_equity * self.trading.leverage * self.trading.order_size_fraction
        if notional < self.backtest.min_order_value:
            raise ValueError(
                f"trading.order_size_fraction: each order would be ${notional:.2f} "
                f"(initial_equity {self.backtest.initial_equity} x leverage {self.trading.leverage} x "
                f"{self.trading.order_size_fraction}), below the ${self.backtest.min_order_value:g} minimum "
                "order value; raise order_size_fraction, leverage or initial_equity"
            )
        return self

    def private_key(self) -> str | None:
        """The signing key from the environment or the keystore file; never logged."""
        if self.network.private_key is not None:
            return self.network.private_key.get_secret_value()
        env = os.environ.get(ENV_PREFIX + "PRIVATE_KEY")
        if env:
            return check_private_key(env, ENV_PREFIX + "PRIVATE_KEY")
        if self.network.keystore_path is not None:
            return read_keystore(self.network.keystore_path)
        return None

    def secret_values(self) -> list[str]:
        """Every secret this config carries (key, alert URLs, SMTP password), for the log scrubber.

        The key counts where it is given directly (``network.private_key``, ``AMM500_PRIVATE_KEY``); a
        keystore's key is added by whoever decrypts it (live mode), never by reading it here.
        """
        values = [u.get_secret_value() for u in self.alerts.apprise_urls]
        for secret in (self.alerts.smtp_password, self.network.private_key):
            if secret is not None:
                values.append(secret.get_secret_value())
        values.append(os.environ.get(ENV_PREFIX + "PRIVATE_KEY", ""))
        return [v for v in values if v]

    def signer_address(self) -> str | None:
        """The address the key signs as (derived, safe to show), or None without a key; raises ConfigError
        for a malformed key or an unreadable keystore, so ``config show`` catches them before a run."""
        key = self.private_key()
        if key is None:
            return None
        from eth_account import Account

        return str(Account.from_key(key).address)

    def masked_dict(self) -> dict[str, Any]:
        """The effective config as plain data with every secret replaced by a mask."""
        data = self.model_dump(mode="json")
        if data["network"].get("private_key") is None and os.environ.get(ENV_PREFIX + "PRIVATE_KEY"):
            data["network"]["private_key"] = ENV_PREFIX + "PRIVATE_KEY"  # set, and masked below like any secret
        return _mask(data)


# The TOML path travels to settings_customise_sources through this holder because pydantic-settings
# builds sources from the class, not the instance.
_CURRENT_TOML: dict[str, Path | None] = {"path": None}


def _mask(data: Any) -> Any:
    if isinstance(data, dict):
        return {
            k: ("********" if (k in SECRET_FIELDS and v not in (None, "", [])) else _mask(v))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [_mask(v) for v in data]
    return data


def read_keystore(path: Path) -> str:
    """A keystore file holds the hex private key on its first line (chmod 600 recommended).

    Encrypted Ethereum keystore JSON is accepted when ``AMM500_KEYSTORE_PASSWORD`` is set.
    """
    try:
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"network.keystore_path: cannot read {path}: {exc.strerror}") from None
    if text.startswith("{"):
        password = os.environ.get(ENV_PREFIX + "KEYSTORE_PASSWORD")
        if not password:
            raise ConfigError(
                "network.keystore_path: encrypted keystore needs AMM500_KEYSTORE_PASSWORD in the environment"
            )
        from eth_account import Account

        try:
            key_bytes = Account.decrypt(text, password)
        except Exception:
            raise ConfigError("network.keystore_path: could not decrypt the keystore (wrong password?)") from None
        return "0x" + bytes(key_bytes).hex()
    return check_private_key(text.splitlines()[0] if text else "", "network.keystore_path: the file")


def check_private_key(key: str, where: str) -> str:
    """``0x`` + 64 hex digits, lower case; the error names where the key came from, never the key."""
    key = key.strip()
    body = key[2:] if key.startswith("0x") else key
    if len(body) != 64 or any(c not in "0123456789abcdefABCDEF" for c in body) or not int(body, 16):
        raise ConfigError(f"{where} does not hold a 32-byte hex private key (0x + 64 hex digits); "
                          f"got {len(body)} characters")
    return "0x" + body.lower()


def keystore_warning(path: Path | None) -> str | None:
    """A warning when the keystore file can be read by other users (it should be chmod 600)."""
    if path is None:
        return None
    try:
        mode = Path(path).stat().st_mode
    except OSError:
        return None
    if mode & 0o077:
        return (f"network.keystore_path {path} is readable by other users (mode {mode & 0o777:o}); "
                f"restrict it: chmod 600 {path}")
    return None


def load_toml(path: Path, strict: bool = True) -> dict[str, Any]:
    """Parse a config file; secrets in it are an error (``strict``) or dropped (the caller reports them)."""
    data = _parse_toml(path)
    errors = toml_secret_errors(data)
    if errors and strict:
        raise ConfigError("\n".join(errors))
    return {s: ({k: v for k, v in vals.items() if k not in SECRET_FIELDS} if isinstance(vals, dict) else vals)
            for s, vals in data.items()}


def _parse_toml(path: Path) -> dict[str, Any]:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read ({exc.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path}: not valid TOML ({exc})") from None
    return data


def toml_secret_errors(data: Mapping[str, Any]) -> list[str]:
    """One line per secret found in a config file (they are refused, but reported with the other errors)."""
    errors = []
    for section, values in data.items():
        if isinstance(values, dict):
            for key in values:
                if key in SECRET_FIELDS:
                    env = "PRIVATE_KEY" if key == "private_key" else f"{section.upper()}__{key.upper()}"
                    errors.append(f"{section}.{key}: secrets are not read from config files; set AMM500_{env} "
                                  "in the environment or use network.keystore_path")
    return errors


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    hint = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {hint[0]!r}?)" if hint else ""


def resolve_field(name: str, flag: str) -> Any:
    """The pydantic ``FieldInfo`` of ``section.field``; raises ConfigError naming the bad part with a
    "did you mean" hint. The one check behind ``--set``, ``optimize --param``, ``AMM500_*`` and TOML keys."""
    parts = name.split(".")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"{flag} {name!r}: the name must be section.field (e.g. trading.leverage)")
    section, fname = parts
    sections = Config.model_fields
    if section not in sections:
        raise ConfigError(f"{flag} {name}: unknown section {section!r}{_did_you_mean(section, sections)}; "
                          f"allowed: {', '.join(sections)}")
    fields = getattr(sections[section].annotation, "model_fields", {})
    if fname not in fields:
        raise ConfigError(f"{flag} {name}: {section} has no field {fname!r}{_did_you_mean(fname, fields)}; "
                          "see `amm500 config show` for every field")
    return fields[fname]


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """Turn ``section.field=value`` strings into nested dicts; values are parsed as TOML literals."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected section.field=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"--set {item!r}: the key must be section.field (e.g. trading.leverage=5)")
        section, field = parts
        if field in SECRET_FIELDS:
            raise ConfigError(f"--set {key}: secrets are not accepted on the command line")
        info = resolve_field(key.strip(), "--set")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        out.setdefault(section, {})[field] = _prefer_text(info.annotation, value, raw.strip())
    return out


def _prefer_text(annotation: Any, value: Any, raw: str) -> Any:
    """The literal, unless the field refuses it and takes its text: ``0x9494...`` is an address for
    ``network.account_address``, not the hex integer TOML reads."""
    if isinstance(value, str):
        return value
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    for candidate in (value, raw):
        try:
            adapter.validate_python(candidate)
        except ValidationError:
            continue
        return candidate
    return value


def _check_env() -> None:
    """Refuse ``AMM500_*`` variables that name no setting, instead of silently ignoring a typo."""
    # not settings, but read from the environment elsewhere: the state folder's home (store/state_dir.home),
    # the dashboard's bind token (amm500 dashboard), the browser the tests drive (tests/browser_helpers.py)
    known_plain = {"PRIVATE_KEY", "KEYSTORE_PASSWORD", "CONFIG", "HOME", "DASHBOARD_TOKEN", "CHROMIUM"}
    for name in os.environ:
        if not name.upper().startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].upper()
        if rest in known_plain:
            continue
        parts = rest.split(ENV_NESTED_DELIMITER)
        section = parts[0].lower()
        if section not in Config.model_fields:
            raise ConfigError(f"environment {name}: unknown section {section!r}"
                              f"{_did_you_mean(section, Config.model_fields)}")
        if len(parts) == 2 and parts[1].lower() not in SECRET_FIELDS:
            resolve_field(f"{section}.{parts[1].lower()}", f"environment {name}:")


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for k, v in extra.items():
        if isinstance(v, Mapping) and isinstance(merged.get(k), dict):
            merged[k] = _deep_merge(merged[k], v)
        else:
            merged[k] = v
    return merged


def format_validation_error(exc: ValidationError) -> str:
    """One line per problem: ``section.field = value: what is allowed``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not isinstance(p, int) or True)
        msg = err["msg"]
        ctx = err.get("ctx") or {}
        if err["type"] == "extra_forbidden":
            parts = loc.split(".")
            choices: Iterable[str] = Config.model_fields
            if len(parts) == 2 and parts[0] in Config.model_fields:
                choices = getattr(Config.model_fields[parts[0]].annotation, "model_fields", {})
            lines.append(f"{loc}: unknown key{_did_you_mean(parts[-1], choices) or ' (typo?)'}")
            continue
        if err["type"] == "bool_type" or (err["type"] == "value_error" and "true or false" in msg):
            lines.append(f"{loc} = {err.get('input')!r}: must be true or false")
            continue
        if err["type"] in ("less_than_equal", "greater_than_equal", "greater_than", "less_than"):
            bound = next(iter(ctx.values()), None)
            allowed = {
                "less_than_equal": f"<= {bound}",
                "greater_than_equal": f">= {bound}",
                "greater_than": f"> {bound}",
                "less_than": f"< {bound}",
            }[err["type"]]
            if loc.endswith("leverage") and loc.startswith("trading"):
                allowed += f" (BTC's maximum leverage on Hyperliquid is {BTC_MAX_LEVERAGE})"
            lines.append(f"{loc} = {err.get('input')!r}: must be {allowed}")
            continue
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        where = f"{loc}: " if loc else ""
        value = err.get("input")
        shown = "" if isinstance(value, dict) or loc == "" else f" = {value!r}"
        lines.append(f"{where.rstrip(': ')}{shown}: {msg}" if where else msg)
    return "\n".join(lines)


def load_config(
    path: str | Path | None = None,
    overrides: Iterable[str] | Mapping[str, Any] = (),
) -> Config:
    """Build the effective :class:`Config`; raises :class:`ConfigError` with a readable message."""
    toml_path = Path(path) if path is not None else None
    if toml_path is None and os.environ.get(ENV_PREFIX + "CONFIG"):
        toml_path = Path(os.environ[ENV_PREFIX + "CONFIG"])
    cli = dict(overrides) if isinstance(overrides, Mapping) else parse_overrides(overrides)
    _check_env()
    secret_errors: list[str] = []
    if toml_path is not None:  # early, readable errors for a missing or unparsable file
        secret_errors = toml_secret_errors(_parse_toml(toml_path))
    _CURRENT_TOML["path"] = toml_path
    try:
        # CLI values must merge over the environment and TOML field by field, so they are applied
        # after the sources are resolved rather than passed as whole-section init kwargs.
        base = Config()
        if cli:
            merged = _deep_merge(base.model_dump(), cli)
            base = Config.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError("\n".join([*secret_errors, format_validation_error(exc)])) from None
    finally:
        _CURRENT_TOML["path"] = None
    if secret_errors:  # reported with every other problem above, not instead of them
        raise ConfigError("\n".join(secret_errors))
    return base
