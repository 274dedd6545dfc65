"""From result rows to answers: the ranking, each fold's chosen point and its out-of-sample result.

Everything here is computed from the results file alone (its rows plus the search description in
its metadata), so ``amm500 optimize report`` can rebuild a report long after the search ran.
A search without walk-forward is one fold whose test window is empty.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from amm500.optimize.objective import Constraint, Objective, rank
from amm500.optimize.walkforward import Fold, fold_summary, spearman


@dataclass
class FoldResult:
    fold: Fold
    ranked: list[dict[str, Any]]  # in-sample rows, best first
    chosen: dict[str, Any] | None  # best feasible in-sample row
    chosen_test: dict[str, Any] | None  # the same point out of sample
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)  # (IS, OOS) per point
    correlation: float = math.nan  # Spearman of IS vs OOS objective over ``pairs``


@dataclass
class Analysis:
    kind: str
    axes: list[str]
    objective: Objective
    constraints: list[Constraint]
    folds: list[FoldResult]
    description: dict[str, Any]

    @property
    def walk_forward(self) -> bool:
        return any(f.fold.test for f in self.folds)

    def params_of(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return {a: row.get(a) for a in self.axes}

    def summary_rows(self) -> list[dict[str, Any]]:
        out = []
        for f in self.folds:
            params = self.params_of(f.chosen) if f.chosen else dict.fromkeys(self.axes)
            out.append(fold_summary(f.fold, params, f.chosen, f.chosen_test, f.correlation))
        return out


def describe_folds(folds: Sequence[Fold]) -> list[dict[str, Any]]:
    return [
        {"index": f.index, "train": list(f.train), "test": list(f.test), "train_keys": [], "test_keys": {}}
        for f in folds
    ]


def analyze(description: Mapping[str, Any], rows: Mapping[str, Mapping[str, Any]]) -> Analysis:
    """``rows`` maps key -> row (all rows of the file); ``description`` is the search's metadata."""
    obj = description["objective"]
    objective = Objective(obj["metric"], obj["direction"], obj.get("phase", "worst"))
    constraints = [Constraint.parse(c) for c in description.get("constraints", [])]
    folds = []
    for fd in description["folds"]:
        fold = Fold(int(fd["index"]), tuple(fd["train"]), tuple(fd["test"]))
        train = [dict(rows[k]) for k in fd["train_keys"] if k in rows]
        ranked = rank(train, objective, constraints)
        chosen = ranked[0] if ranked and ranked[0]["feasible"] else None
        test_keys: dict[str, str] = fd.get("test_keys", {})
        pairs = [(r, dict(rows[test_keys[r["key"]]])) for r in ranked if test_keys.get(r["key"]) in rows]
        chosen_test = None
        if chosen is not None and test_keys.get(chosen["key"]) in rows:
            chosen_test = dict(rows[test_keys[chosen["key"]]])
        ok_pairs = [(a, b) for a, b in pairs if a.get("status") == "ok" and b.get("status") == "ok"]
        corr = spearman([objective.value(a) for a, _ in ok_pairs], [objective.value(b) for _, b in ok_pairs])
        folds.append(FoldResult(fold, ranked, chosen, chosen_test, pairs, corr))
    return Analysis(
        kind=str(description.get("kind", "grid")),
        axes=list(description["axes"]),
        objective=objective,
        constraints=constraints,
        folds=folds,
        description=dict(description),
    )


def rank_by_window(
    objective: Objective, constraints: Sequence[Constraint]
) -> Any:
    """A store decorator: rows grouped by their window (oldest first), ranked within each window."""

    def decorate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        groups: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
        for r in rows:
            groups.setdefault((r.get("window_start"), r.get("window_end")), []).append(r)
        out: list[dict[str, Any]] = []
        for window in sorted(groups, key=lambda w: (str(w[0]), str(w[1]))):
            out.extend(rank(groups[window], objective, constraints))
        return out

    return decorate
