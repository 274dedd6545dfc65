"""Phase noise (issue 16): the same backtest at N timer phases, its spread, and ranking by a phase."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from amm500.backtest.phases import phase_offsets_ms, run_phases, spread
from amm500.cli import app
from amm500.config import load_config
from amm500.data import store
from amm500.optimize.objective import Objective, rank
from backtest_helpers import BASE_SETS, SELL, book, config, events, level, trade


def test_offsets_cover_one_quote_step_from_the_configured_offset() -> None:
    cfg = load_config(None, ["execution.quote_refresh_interval=0.5", "backtest.timer_offset_ms=20"])
    assert phase_offsets_ms(cfg, 4) == [20.0, 145.0, 270.0, 395.0]
    assert phase_offsets_ms(cfg, 1) == [20.0]


def test_spread_is_min_median_max_over_finite_values() -> None:
    s = spread([{"fills": 3, "sharpe": None, "pnl": 1.0}, {"fills": 1, "sharpe": 2.0, "pnl": float("nan")},
                {"fills": 2, "sharpe": 4.0, "pnl": -1.0}])
    assert s["fills"] == {"min": 1, "median": 2, "max": 3}
    assert s["sharpe"] == {"min": 2.0, "median": 3.0, "max": 4.0}
    assert s["pnl"] == {"min": -1.0, "median": 0.0, "max": 1.0}


def _rows() -> list[tuple[float, float, int, int, float, float]]:
    # sells through our 99,995 bid every 500 ms, lasting 40 ms each time (the level comes back):
    # whether the bid is resting then depends on where the quote timer falls
    rows = [*book(0)]
    for k in range(8):
        t = 1000 + 500 * k
        rows += [trade(t, SELL, 99_990, 0.01), level(t, 1, 99_990, 1.0), level(t + 40, 1, 99_990, 0.0)]
    return rows


def test_phases_move_fills_and_the_first_phase_is_the_configured_run(tmp_path: Path) -> None:
    store.write_events(tmp_path / "d", events(_rows()))
    cfg = config("backtest.timer_offset_ms=0")
    run = run_phases(cfg, tmp_path / "d", 5)
    assert run.offsets_ms == [0.0, 100.0, 200.0, 300.0, 400.0]
    fills = [r.metrics["fills"] for r in run.results]
    assert len(set(fills)) > 1  # the phase matters on this tape
    s = run.spread["fills"]
    assert s["min"] == min(fills) and s["max"] == max(fills)


def test_cli_phases_prints_and_writes_the_spread(tmp_path: Path) -> None:
    store.write_events(tmp_path / "d", events(_rows()))
    out = tmp_path / "m.json"
    sets = [a for s in [*BASE_SETS, "backtest.timer_offset_ms=0"] for a in ("--set", s)]
    res = CliRunner().invoke(app, ["backtest", "--data", str(tmp_path / "d"), "--phases", "4", "--json", str(out),
                                   *sets])
    assert res.exit_code == 0, res.output
    assert "phase spread: 4 timer phases, 125 ms apart" in res.output
    m = json.loads(out.read_text())
    assert m["phases"]["n"] == 4 and m["phases"]["offsets_ms"] == [0.0, 125.0, 250.0, 375.0]
    assert m["phases"]["spread"]["fills"]["min"] <= m["fills"] <= m["phases"]["spread"]["fills"]["max"]
    assert m["config"]["backtest"]["phases"] == 4


@pytest.mark.parametrize(("phase", "direction", "order"), [
    ("worst", "maximize", ["b", "a"]),  # a's worst phase (-1) is below b's (0)
    ("median", "maximize", ["a", "b"]),  # a's median (2) is above b's (1)
    ("worst", "minimize", ["a", "b"]),  # minimizing: the worst phase is the largest value
])
def test_ranking_by_worst_or_median_phase(phase: str, direction: str, order: list[str]) -> None:
    rows = [
        {"key": "a", "status": "ok", "net_pnl": 5.0, "net_pnl.phase_min": -1.0, "net_pnl.phase_median": 2.0,
         "net_pnl.phase_max": 5.0},
        {"key": "b", "status": "ok", "net_pnl": 1.0, "net_pnl.phase_min": 0.0, "net_pnl.phase_median": 1.0,
         "net_pnl.phase_max": 6.0},
    ]
    obj = Objective.parse("net_pnl", direction, phase)
    assert [r["key"] for r in rank(rows, obj, [])] == order


def test_a_result_without_phases_ranks_on_its_metric() -> None:
    assert Objective.parse("net_pnl", None, "worst").value({"net_pnl": 3.0}) == 3.0


def test_bar_mode_refuses_phases(tmp_path: Path) -> None:
    from amm500.config import ConfigError

    with pytest.raises(ConfigError, match="bar mode has no timer grid"):
        run_phases(config("backtest.fill_model=bar"), tmp_path, 3)
