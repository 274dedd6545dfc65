"""Objective, constraints and ranking: known answers and properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amm500.config import ConfigError
from amm500.optimize.objective import Constraint, Objective, best, rank


def test_parse() -> None:
    assert Objective.parse("sharpe") == Objective("sharpe", "maximize")
    assert Objective.parse("max_drawdown") == Objective("max_drawdown", "minimize")
    assert Constraint.parse("max_drawdown<=0.05") == Constraint("max_drawdown", "<=", 0.05)
    assert Constraint.parse(" maker_ratio >= 0.9 ") == Constraint("maker_ratio", ">=", 0.9)
    with pytest.raises(ConfigError, match="unknown metric"):
        Objective.parse("sharp")
    with pytest.raises(ConfigError, match="expected metric<=value"):
        Constraint.parse("max_drawdown=0.05")
    with pytest.raises(ConfigError, match="not a number"):
        Constraint.parse("max_drawdown<=five")


def test_rank_known_answer() -> None:
    rows = [
        {"key": "a", "status": "ok", "sharpe": 3.0, "max_drawdown": 0.10},  # infeasible, off by 0.05
        {"key": "b", "status": "ok", "sharpe": 1.0, "max_drawdown": 0.01},
        {"key": "c", "status": "ok", "sharpe": 2.0, "max_drawdown": 0.02},
        {"key": "d", "status": "ok", "sharpe": None, "max_drawdown": 0.0},  # no trades: no objective
        {"key": "e", "status": "error", "error": "boom"},
        {"key": "f", "status": "ok", "sharpe": 5.0, "max_drawdown": 0.07},  # infeasible, off by 0.02
    ]
    cons = [Constraint.parse("max_drawdown<=0.05")]
    ranked = rank(rows, Objective.parse("sharpe"), cons)
    assert [r["key"] for r in ranked] == ["c", "b", "d", "f", "a", "e"]
    assert [r["rank"] for r in ranked] == [1, 2, 3, 4, 5, 6]
    assert [r["feasible"] for r in ranked] == [True, True, False, False, False, False]
    assert best(rows, Objective.parse("sharpe"), cons)["key"] == "c"  # type: ignore[index]
    assert best(rows[3:5], Objective.parse("sharpe"), cons) is None


def test_strict_constraint_fails_at_equality() -> None:
    assert Constraint.parse("fills>10").violation({"fills": 10}) > 0
    assert Constraint.parse("fills>=10").violation({"fills": 10}) == 0
    assert Constraint.parse("fills>=10").violation({}) == math.inf


@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.floats(-10, 10, allow_nan=False)),
            st.floats(0, 0.2, allow_nan=False),
        ),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from(["maximize", "minimize"]),
)
def test_rank_orders_feasible_by_objective(pairs: list[tuple[float | None, float]], direction: str) -> None:
    rows = [{"key": str(i), "status": "ok", "sharpe": s, "max_drawdown": dd} for i, (s, dd) in enumerate(pairs)]
    obj = Objective("sharpe", direction)  # type: ignore[arg-type]
    ranked = rank(rows, obj, [Constraint.parse("max_drawdown<=0.1")])
    flags = [r["feasible"] for r in ranked]
    assert flags == sorted(flags, reverse=True)  # all feasible rows first
    feas = [r["sharpe"] for r in ranked if r["feasible"]]
    assert feas == sorted(feas, reverse=direction == "maximize")
    expected = [r for r in rows if r["sharpe"] is not None and r["max_drawdown"] <= 0.1]
    assert len(feas) == len(expected)
