"""Walk-forward folds and the in-sample/out-of-sample rank correlation."""

from __future__ import annotations

import math

import pytest

from amm500.config import ConfigError
from amm500.optimize.walkforward import parse_walk_forward, rolling_folds, spearman, split_fold

DAYS = [f"2026-01-{d:02d}" for d in range(1, 11)]


def test_rolling_folds_step_by_oos() -> None:
    folds = rolling_folds(DAYS, 4, 2)
    assert [(f.train[0], f.train[-1], f.test[0], f.test[-1]) for f in folds] == [
        ("2026-01-01", "2026-01-04", "2026-01-05", "2026-01-06"),
        ("2026-01-03", "2026-01-06", "2026-01-07", "2026-01-08"),
        ("2026-01-05", "2026-01-08", "2026-01-09", "2026-01-10"),
    ]
    for f in folds:
        assert len(f.train) == 4 and len(f.test) == 2 and f.train[-1] < f.test[0]


def test_split_and_errors() -> None:
    (fold,) = split_fold(DAYS, 7)
    assert fold.train == tuple(DAYS[:7]) and fold.test == tuple(DAYS[7:])
    with pytest.raises(ConfigError, match="needs 12 days"):
        rolling_folds(DAYS, 10, 2)
    with pytest.raises(ConfigError, match="between 1 and 9"):
        split_fold(DAYS, 10)
    with pytest.raises(ConfigError, match="IS_DAYS:OOS_DAYS"):
        parse_walk_forward("20-5")
    assert parse_walk_forward("20:5") == (20, 5)


def test_spearman_known_answers() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # Classic textbook pair: d^2 sum = 2 over n=5 -> 1 - 6*2/(5*24) = 0.9
    assert spearman([1, 2, 3, 4, 5], [2, 1, 3, 4, 5]) == pytest.approx(0.9)
    assert math.isnan(spearman([1, 2], [1, 2]))
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
