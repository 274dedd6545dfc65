"""Walk-forward: choose parameters on in-sample days, then judge them on the days that follow.

``IS:OOS`` folds roll forward by OOS days: fold 0 trains on days [0, IS) and tests on [IS, IS+OOS),
fold 1 trains on [OOS, OOS+IS) and tests on [IS+OOS, IS+2*OOS), and so on while a full test window
fits. ``--train-days N`` is the single split: train on the first N days, test on the rest.

The chosen point of a fold is the in-sample best (objective and constraints); its out-of-sample
metrics are the honest estimate. When every grid point is also run out of sample, the rank
correlation between in-sample and out-of-sample objectives tells whether the in-sample ranking
means anything at all (near zero or negative: the search is fitting noise).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from amm500.config import ConfigError


@dataclass(frozen=True)
class Fold:
    index: int
    train: tuple[str, ...]
    test: tuple[str, ...]

    def describe(self) -> dict[str, Any]:
        return {
            "fold": self.index,
            "train": f"{self.train[0]}..{self.train[-1]} ({len(self.train)}d)",
            "test": f"{self.test[0]}..{self.test[-1]} ({len(self.test)}d)",
        }


def parse_walk_forward(text: str) -> tuple[int, int]:
    parts = text.split(":")
    try:
        is_days, oos_days = (int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"--walk-forward {text!r}: expected IS_DAYS:OOS_DAYS, e.g. 20:5") from None
    if is_days < 1 or oos_days < 1:
        raise ConfigError(f"--walk-forward {text}: both windows must be at least 1 day")
    return is_days, oos_days


def rolling_folds(days: Sequence[str], is_days: int, oos_days: int) -> list[Fold]:
    if is_days + oos_days > len(days):
        raise ConfigError(
            f"--walk-forward {is_days}:{oos_days}: needs {is_days + oos_days} days of data, the dataset has "
            f"{len(days)}"
        )
    folds: list[Fold] = []
    start = 0
    while start + is_days + oos_days <= len(days):
        train = tuple(days[start : start + is_days])
        test = tuple(days[start + is_days : start + is_days + oos_days])
        folds.append(Fold(len(folds), train, test))
        start += oos_days
    return folds


def split_fold(days: Sequence[str], train_days: int) -> list[Fold]:
    if not 1 <= train_days < len(days):
        raise ConfigError(
            f"--train-days {train_days}: must be between 1 and {len(days) - 1} (the dataset has {len(days)} days)"
        )
    return [Fold(0, tuple(days[:train_days]), tuple(days[train_days:]))]


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Rank correlation of paired finite values (NaN when fewer than 3 pairs or no spread)."""
    pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(x) and math.isfinite(y)]
    if len(pairs) < 3:
        return math.nan

    def ranks(vals: list[float]) -> list[float]:
        order = sorted(range(len(vals)), key=vals.__getitem__)
        out = [0.0] * len(vals)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and vals[order[j + 1]] == vals[order[i]]:
                j += 1
            for k in range(i, j + 1):
                out[order[k]] = (i + j) / 2.0
            i = j + 1
        return out

    rx = ranks([p[0] for p in pairs])
    ry = ranks([p[1] for p in pairs])
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = sum((a - mx) ** 2 for a in rx)
    vy = sum((b - my) ** 2 for b in ry)
    return cov / math.sqrt(vx * vy) if vx > 0 and vy > 0 else math.nan


SUMMARY_METRICS = ("sharpe", "annual_roi", "max_drawdown", "net_pnl", "trades_per_day", "maker_ratio")


def fold_summary(
    fold: Fold,
    params: Mapping[str, Any],
    is_row: Mapping[str, Any] | None,
    oos_row: Mapping[str, Any] | None,
    correlation: float = math.nan,
) -> dict[str, Any]:
    """One line of the walk-forward table: the chosen point with its in- and out-of-sample metrics."""
    out: dict[str, Any] = {**fold.describe(), **params}
    for m in SUMMARY_METRICS:
        out[f"is_{m}"] = None if is_row is None else is_row.get(m)
        out[f"oos_{m}"] = None if oos_row is None else oos_row.get(m)
    out["is_oos_rank_corr"] = None if math.isnan(correlation) else round(correlation, 4)
    return out
