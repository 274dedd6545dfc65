"""The break-even map's plumbing: tier shorthands, the grid, row arithmetic and the walk-forward choice
(backtests replaced by a stand-in whose answer depends on the point, so the ranking logic can fail)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from amm500.config import ConfigError, load_config
from amm500.core.instrument import Instrument
from amm500.optimize import breakeven as be


def test_tier_shorthands_become_config_overrides() -> None:
    cfg = load_config(None, be.tier_sets("tier6+rebate3+gold"))
    ins = Instrument.from_config(cfg)
    assert ins.maker_fee * 1e4 == pytest.approx(-0.3)
    assert ins.taker_fee * 1e4 == pytest.approx(2.4 * 0.8)
    with pytest.raises(ConfigError):
        be.tier_sets("tier9")
    with pytest.raises(ConfigError):
        be.tier_sets("tier0+platinum+nonsense")


def test_grid_and_point_overrides_are_valid_configs() -> None:
    pts = be.grid(["fixed_spread", "market_making", "glft"], ["tier0", "tier6+rebate3"], [1.0, 16.0], [False, True])
    assert len(pts) == 2 * 2 * (1 + 2 + 2)
    for p in pts:
        cfg = load_config(None, p.sets())
        assert cfg.trading.strategy == p.strategy and cfg.trading.min_spread_bps == p.width_bps
        assert cfg.risk.kill_switch_enabled is False
    with pytest.raises(ConfigError):
        be.grid(["bogus"], ["tier0"], [1.0], [True])


def test_row_metrics_per_dollar_day_and_capital() -> None:
    m = {"net_pnl": -10.0, "notional_usd": 100_000.0, "span_days": 2.0, "fills": 50, "spread_capture": 5.0,
         "fees": 15.0, "funding": 0.0, "inventory_pnl": 0.0, "markouts": {"1s": {"size_weighted_bps": -0.5}},
         "request_budget": {"requests_used_run": 123, "time_out_of_budget_s": 0.0}, "killed": "no"}
    r = be.row_metrics(m, 1000.0)
    assert r["net_bps_per_dollar_traded"] == pytest.approx(-1.0)
    assert r["net_usd_per_day"] == pytest.approx(-5.0)
    assert r["net_bps_of_capital_per_day"] == pytest.approx(-50.0)
    assert r["fees_bps"] == pytest.approx(1.5) and r["spread_capture_bps"] == pytest.approx(0.5)
    assert r["markout_1s_bps"] == -0.5 and r["markout_10s_bps"] is None and r["requests_used"] == 123


def test_walk_forward_picks_the_in_sample_best_and_reports_it_out_of_sample(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    from amm500.optimize import evaluate

    days = [dt.date(2026, 1, d) for d in range(1, 5)]
    monkeypatch.setattr(evaluate, "load_market", lambda path, n: SimpleNamespace(days=days))
    monkeypatch.setattr(evaluate, "_window", lambda market, window: SimpleNamespace(days=list(window)))

    def fake_run(cfg: Any, market: Any) -> dict[str, Any]:
        w = cfg.trading.min_spread_bps
        oos = market.days[0] == "2026-01-03"
        # in sample the widest wins; out of sample the ranking is reversed
        net = (-w if oos else w) * 10.0
        return {"net_pnl": net, "notional_usd": 1e5, "span_days": 2.0, "fills": 10, "spread_capture": 0.0,
                "fees": 0.0, "funding": 0.0, "inventory_pnl": 0.0, "markouts": {}, "request_budget": {}}

    pts = be.grid(["fixed_spread"], ["tier0"], [1.0, 2.0, 4.0], [True])
    out = be.breakeven_map([tmp_path], pts, train_days=2, run=fake_run)
    assert len(out["rows"]) == 6
    (wf,) = out["walk_forward"]
    assert wf["chosen_width_bps"] == 4.0
    assert wf["is_net_usd_per_day"] == pytest.approx(20.0) and wf["oos_net_usd_per_day"] == pytest.approx(-20.0)
    assert out["rank_correlation"][str(tmp_path)] == pytest.approx(-1.0)
    text = be.markdown(out)
    assert "amm500 analyze breakeven --data" in text and "--train-days 2" in text and "rank correlation" in text
    # without a walk-forward each row is one plain backtest
    whole = be.breakeven_map([tmp_path], pts[:1], run=fake_run)
    assert whole["rows"][0]["window"] == "whole" and whole["walk_forward"] == []
    cmd = whole["rows"][0]["command"]
    assert cmd.startswith(f"amm500 backtest --data {tmp_path} --set trading.strategy=fixed_spread")
