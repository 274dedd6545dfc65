"""The recommended defaults' figures (optimize/recommendation.json) and the demo's lines about them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from amm500.cli.demo_cmd import kill_why
from amm500.config import load_config
from amm500.optimize import recommend
from seed_helpers import seed_config


@pytest.fixture
def rec() -> dict[str, Any]:
    data = recommend.load()
    assert data is not None, f"{recommend.RECOMMENDATION_FILE} is missing: {recommend.REGENERATE}"
    return data


def test_the_file_holds_both_windows_at_both_tiers_on_every_market_with_their_commands(rec: dict[str, Any]) -> None:
    assert rec["markets"] == [cmd for _, cmd in recommend.MARKETS] and rec["regenerate"] == recommend.REGENERATE
    for tier in (recommend.TIER0, recommend.BEST_TIER):
        t = rec["tiers"][tier]
        runs = t["runs"]
        assert {(r["data"], r["window"]) for r in runs} == {
            (d.rsplit("/", 1)[-1], w) for d, _ in recommend.MARKETS for w in ("in-sample", "out-of-sample")}
        for r in runs:
            assert r["command"].startswith("amm500 analyze breakeven ") and f"--tier {tier}" in r["command"]
            assert f"--train-days {recommend.TRAIN_DAYS}" in r["command"]
        for window in ("in-sample", "out-of-sample"):
            mine = [r for r in runs if r["window"] == window]
            assert t[window]["fills"] == sum(r["fills"] for r in mine) > 0
            # pooled per day over equal windows = the mean of the markets' per-day figures
            mean = sum(r["net_usd_per_day"] for r in mine) / len(mine)
            assert t[window]["net_usd_per_day"] == pytest.approx(mean, abs=0.011)


def test_summary_line_gives_both_tiers_out_of_sample_and_its_source(rec: dict[str, Any]) -> None:
    line = recommend.summary_line(rec, load_config())
    assert "\n" not in line and "(this run's settings)" in line
    oos0 = rec["tiers"]["tier0"]["out-of-sample"]["net_usd_per_day"]
    assert ("loses" if oos0 < 0 else "earns") + f" ${abs(oos0):,.2f}/day" in line
    best = rec["tiers"][recommend.BEST_TIER]["out-of-sample"]["net_usd_per_day"]
    assert ("loses" if best < 0 else "earns") + f" ${abs(best):,.2f}/day" in line
    assert recommend.BEST_TIER in line and "docs/edge.md" in line and rec["regenerate"] in line
    # a run on other settings is told the figure is not about it
    assert "(NOT this run's settings)" in recommend.summary_line(rec, seed_config())
    assert "(NOT this run's settings)" in recommend.summary_line(rec, load_config(None, ["glft.gamma=0.5"]))
    # the kill switch's on/off aside: the figures are with it off
    assert "(this run's settings)" in recommend.summary_line(rec, load_config(None, ["risk.kill_switch_enabled=false"]))


def test_summary_line_signs_follow_the_figures(rec: dict[str, Any]) -> None:
    flipped = copy.deepcopy(rec)
    flipped["tiers"]["tier0"]["out-of-sample"]["net_usd_per_day"] = 2.5
    flipped["tiers"][recommend.BEST_TIER]["out-of-sample"]["net_usd_per_day"] = -0.75
    line = recommend.summary_line(flipped, load_config())
    assert "earns $2.50/day" in line and "loses $0.75/day" in line


def test_missing_file_is_said_with_the_command_that_makes_it(tmp_path: Any) -> None:
    assert recommend.load(tmp_path / "nope.json") is None
    (tmp_path / "bad.json").write_text("{not json")
    assert recommend.load(tmp_path / "bad.json") is None
    line = recommend.summary_line(None, load_config())
    assert "unavailable" in line and recommend.REGENERATE in line


def test_default_point_is_a_row_of_the_map() -> None:
    p = recommend.default_point(load_config())
    assert p.sets()[0] == "trading.strategy=" + p.strategy
    with pytest.raises(ValueError, match="vol_adaptive_enabled"):
        recommend.default_point(seed_config())
    with pytest.raises(ValueError, match="max_spread_bps"):
        recommend.default_point(load_config(None, ["trading.max_spread_bps=20"]))


def test_kill_why_only_for_a_stopped_run_of_the_recommended_settings() -> None:
    killed = {"killed": "kill_switch", "kill_reason": "consecutive_losses", "fills": 20, "maker_ratio": 0.75}
    why = kill_why(killed, load_config())
    assert why is not None and "5 of its 20 fills" in why and "3.0 bps" in why and "6.0 bps" in why
    assert kill_why({**killed, "killed": "no"}, load_config()) is None
    assert kill_why(killed, seed_config()) is None  # the seed's stop is explained by the verdict and docs/edge.md
