"""Hyperliquid's fee schedule (core/instrument.py): every tier rule at, below and above its threshold,
and the one path from config to the backtester, the strategy and the local exchange."""

from __future__ import annotations

import pytest

from amm500.config import ConfigError, load_config
from amm500.core.instrument import (
    TIER0,
    Instrument,
    fee_schedule,
    fee_tier_for_volume,
    rebate_tier_for_share,
    staking_tier_for_stake,
)


@pytest.mark.parametrize(("volume", "tier"), [
    (0.0, "tier0"), (5e6 - 1, "tier0"), (5e6, "tier0"), (5e6 + 1, "tier1"),
    (25e6, "tier1"), (25e6 + 1, "tier2"), (100e6, "tier2"), (100e6 + 1, "tier3"),
    (500e6, "tier3"), (500e6 + 1, "tier4"), (2e9, "tier4"), (2e9 + 1, "tier5"), (7e9, "tier5"), (7e9 + 1, "tier6"),
])
def test_volume_tier_thresholds_are_strictly_above(volume: float, tier: str) -> None:
    assert fee_tier_for_volume(volume) == tier


@pytest.mark.parametrize(("share", "rebate"), [
    (0.0, "none"), (0.005, "none"), (0.0051, "rebate1"), (0.015, "rebate1"), (0.0151, "rebate2"),
    (0.03, "rebate2"), (0.0301, "rebate3"), (0.5, "rebate3"),
])
def test_rebate_tier_thresholds(share: float, rebate: str) -> None:
    assert rebate_tier_for_share(share) == rebate


@pytest.mark.parametrize(("hype", "tier"), [
    (0.0, "none"), (10.0, "none"), (10.5, "wood"), (100.0, "wood"), (101.0, "bronze"), (1_000.0, "bronze"),
    (1_001.0, "silver"), (10_001.0, "gold"), (100_001.0, "platinum"), (500_000.0, "platinum"), (500_001.0, "diamond"),
])
def test_staking_tier_thresholds(hype: float, tier: str) -> None:
    assert staking_tier_for_stake(hype) == tier


@pytest.mark.parametrize(("tier", "maker_bps", "taker_bps"), [
    ("tier0", 1.5, 4.5), ("tier1", 1.2, 4.0), ("tier2", 0.8, 3.5), ("tier3", 0.4, 3.0),
    ("tier4", 0.0, 2.8), ("tier5", 0.0, 2.6), ("tier6", 0.0, 2.4),
])
def test_volume_tier_rates(tier: str, maker_bps: float, taker_bps: float) -> None:
    fs = fee_schedule(tier)
    assert fs.maker * 1e4 == pytest.approx(maker_bps)
    assert fs.taker * 1e4 == pytest.approx(taker_bps)


def test_rebate_replaces_the_maker_fee_and_is_not_discounted() -> None:
    fs = fee_schedule("tier0", "rebate3", "diamond")
    assert fs.maker * 1e4 == pytest.approx(-0.3)  # a rebate, whatever the volume tier and stake
    assert fs.taker * 1e4 == pytest.approx(4.5 * 0.6)  # the 40% discount scales the fee paid
    assert "rebate3" in fs.label and "diamond" in fs.label


def test_staking_discount_scales_positive_maker_fees_only() -> None:
    assert fee_schedule("tier0", staking="gold").maker * 1e4 == pytest.approx(1.5 * 0.8)
    assert fee_schedule("tier4", staking="gold").maker == 0.0
    assert fee_schedule("tier1", staking="none").maker * 1e4 == pytest.approx(1.2)


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown tier"):
        fee_schedule("tier9")
    with pytest.raises(ConfigError):
        load_config(None, ["backtest.fee_tier=tier9"])
    with pytest.raises(ConfigError):
        load_config(None, ["backtest.staking_tier=mithril"])


def test_config_selects_tier_by_name_or_number_and_instrument_carries_it() -> None:
    by_name = Instrument.from_config(load_config(None, ["backtest.fee_tier='tier3'",
                                                        "backtest.maker_rebate_tier='rebate1'"]))
    by_number = Instrument.from_config(load_config(None, ["backtest.fee_tier=3"]))
    assert by_name.maker_fee * 1e4 == pytest.approx(-0.1)
    assert by_name.taker_fee * 1e4 == pytest.approx(3.0)
    assert by_number.maker_fee * 1e4 == pytest.approx(0.4)
    assert by_name.fee_label.startswith("tier3 + rebate1")
    over = Instrument.from_config(load_config(None, ["backtest.maker_fee=0.0"]))
    assert over.maker_fee == 0.0 and "overridden" in over.fee_label


def test_backtester_strategy_and_local_exchange_read_the_same_rates() -> None:
    from amm500.backtest.runner import build_cfg
    from amm500.exchange_sim.exchange import SimConfig
    from amm500.sim.layout import CF_MAKER_FEE, CF_TAKER_FEE

    cfg = load_config(None, ["backtest.fee_tier='tier2'"])
    ins = Instrument.from_config(cfg)
    kcfg = build_cfg(cfg)
    assert (kcfg[CF_MAKER_FEE], kcfg[CF_TAKER_FEE]) == (ins.maker_fee, ins.taker_fee)
    sim = SimConfig()
    assert (sim.maker_fee, sim.taker_fee) == (TIER0.maker, TIER0.taker)
