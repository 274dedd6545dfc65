"""Search space: axis parsing, up-front validation through load_config, clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from amm500.config import ConfigError
from amm500.optimize.space import (
    ChoiceAxis,
    GridAxis,
    RangeAxis,
    SearchSpace,
    parse_grid_axis,
    parse_tune_axis,
    relevance_warnings,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("AMM500_"):
            monkeypatch.delenv(name)


def test_grid_axis_values_are_toml_literals() -> None:
    assert parse_grid_axis("trading.leverage=5,10, 20") == GridAxis("trading.leverage", (5, 10, 20))
    assert parse_grid_axis("backtest.fill_model=tick,bar").values == ("tick", "bar")
    assert parse_grid_axis("trading.inventory_skew_enabled=true,false").values == (True, False)


@pytest.mark.parametrize(
    ("spec", "needles"),
    [
        ("trading.levrage=5,10", ["trading has no field 'levrage'", "did you mean 'leverage'"]),
        ("tradng.leverage=5", ["unknown section 'tradng'", "did you mean 'trading'"]),
        ("leverage=5", ["section.field"]),
        ("trading.leverage", ["expected section.field=v1,v2"]),
        ("trading.leverage=", ["no values"]),
        ("trading.leverage=5,5", ["listed twice"]),
        ("network.private_key=1", ["secrets"]),
    ],
)
def test_bad_grid_axes_name_the_problem(spec: str, needles: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        parse_grid_axis(spec)
    for needle in needles:
        assert needle in str(err.value)


def test_seed_grid_has_256_valid_points_in_axis_order() -> None:
    axes = [
        parse_grid_axis("trading.leverage=5,10,15,20"),
        parse_grid_axis("trading.min_spread_bps=1,2,3,5"),
        parse_grid_axis("backtest.fill_rate=0.7,0.8,0.9,0.95"),
        parse_grid_axis("trading.order_levels=5,10,15,20"),
    ]
    space = SearchSpace.build(axes, None, ["backtest.fill_model=bar"])
    points = space.grid_points()
    assert len(points) == 256
    first, cfg = points[0]
    # Normalized to the field's type: 1 -> 1.0 for a float field, ints stay ints.
    assert first == {
        "trading.leverage": 5,
        "trading.min_spread_bps": 1.0,
        "backtest.fill_rate": 0.7,
        "trading.order_levels": 5,
    }
    assert isinstance(first["trading.min_spread_bps"], float)
    assert cfg.backtest.fill_model == "bar" and cfg.trading.order_levels == 5
    assert points[-1][0]["trading.leverage"] == 20 and points[-1][0]["trading.order_levels"] == 20
    assert relevance_warnings(space) == []


def test_fill_rate_axis_in_tick_mode_is_flagged() -> None:
    space = SearchSpace.build([parse_grid_axis("backtest.fill_rate=0.7,0.9")])
    (note,) = relevance_warnings(space)
    assert "fill_model = 'bar'" in note


def test_out_of_range_value_fails_before_any_work_naming_point_and_field() -> None:
    space = SearchSpace.build([parse_grid_axis("trading.leverage=5,50"), parse_grid_axis("trading.order_levels=5")])
    with pytest.raises(ConfigError) as err:
        space.grid_points()
    msg = str(err.value)
    assert "trading.leverage=50" in msg and "must be <= 40" in msg


def test_cross_field_rule_applies_to_each_combination() -> None:
    # min_spread 12 is valid alone only when max_spread is at least 12.
    space = SearchSpace.build(
        [parse_grid_axis("trading.min_spread_bps=2,12"), parse_grid_axis("trading.max_spread_bps=10,20")]
    )
    with pytest.raises(ConfigError, match=r"min_spread_bps \(12.0\) must be <= max_spread_bps \(10.0\)"):
        space.grid_points()


def test_axis_also_in_set_or_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="both a --param axis and a --set"):
        SearchSpace.build([parse_grid_axis("trading.leverage=5")], None, ["trading.leverage=3"])
    with pytest.raises(ConfigError, match="given twice"):
        SearchSpace.build([parse_grid_axis("trading.leverage=5"), parse_grid_axis("trading.leverage=6")])


def test_config_file_is_the_base(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[trading]\norder_levels = 3\n")
    space = SearchSpace.build([parse_grid_axis("trading.leverage=5,6")], cfg)
    assert {c.trading.order_levels for _, c in space.grid_points()} == {3}


def test_tune_axes() -> None:
    assert parse_tune_axis("trading.leverage=2:20") == RangeAxis("trading.leverage", 2, 20, integer=True)
    assert parse_tune_axis("trading.min_spread_bps=0.5:8:log") == RangeAxis("trading.min_spread_bps", 0.5, 8, log=True)
    assert parse_tune_axis("backtest.fill_model=tick,bar") == ChoiceAxis("backtest.fill_model", ("tick", "bar"))
    for spec, needle in [
        ("trading.min_spread_bps=5:1", "low < high"),
        ("trading.min_spread_bps=0:1:log", "log range needs low > 0"),
        ("trading.leverage=1.5:3", "integer bounds"),
        ("backtest.fill_model=1:2", "numeric field"),
        ("trading.min_spread_bps=1:2:cube", "'log' or 'int'"),
    ]:
        with pytest.raises(ConfigError, match=needle):
            parse_tune_axis(spec)


def test_tune_bounds_are_validated() -> None:
    space = SearchSpace.build([parse_tune_axis("trading.leverage=2:60")])
    with pytest.raises(ConfigError, match="value 60"):
        space.check_tune_bounds()
