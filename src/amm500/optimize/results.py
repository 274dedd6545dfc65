"""The results file: one Parquet table, rewritten atomically as points finish, read back to resume.

Each rewrite goes through a temporary file and a rename (``store.write_table_atomic``), so a search
killed at any moment leaves the previous complete table, never a torn one. Rewrites are throttled
(at most one per ``flush_interval`` seconds, plus one at the end and one on Ctrl-C): even a large
search spends a negligible share of its time writing. Rows are keyed by the point key
(:mod:`amm500.optimize.keys`); only ``status == "ok"`` rows count as finished, so an error is retried
by the next run.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from amm500.data.schema import DataError
from amm500.data.store import read_parquet, write_table_atomic

META_KEY = "amm500.optimize"
FRONT_COLUMNS = ("rank", "feasible", "fold", "role", "key", "status")


def _column(values: list[Any]) -> pa.Array:
    """One Arrow column from row values: ints and floats mixed become float64, mixed kinds become text."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        if any(isinstance(v, float) for v in present):
            return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
        return pa.array(values, type=pa.int64())
    if present and all(isinstance(v, bool) for v in present):
        return pa.array(values, type=pa.bool_())
    if present and all(isinstance(v, str) for v in present):
        return pa.array(values, type=pa.string())
    if not present:
        return pa.array(values, type=pa.null())
    return pa.array([None if v is None else json.dumps(v, default=str) for v in values], type=pa.string())


def rows_to_table(rows: list[dict[str, Any]], front: Iterable[str] = ()) -> pa.Table:
    names: list[str] = []
    for name in (*FRONT_COLUMNS, *front):
        if name not in names and any(name in r for r in rows):
            names.append(name)
    for row in rows:
        names.extend(n for n in row if n not in names)
    return pa.table({n: _column([r.get(n) for r in rows]) for n in names})


def read_rows(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows and search description of a results file; DataError when it is not one."""
    table = read_parquet(path)
    raw = (table.schema.metadata or {}).get(META_KEY.encode())
    if raw is None:
        raise DataError(f"{path}: not an amm500 optimize results file (refusing to overwrite it)")
    rows = table.to_pylist()
    for row in rows:
        for k, v in row.items():
            if isinstance(v, float) and math.isnan(v):
                row[k] = None
    return rows, json.loads(raw)


class ResultStore:
    """All rows of a search, saved to ``path``; keeps rows of earlier searches in the same file."""

    def __init__(
        self,
        path: Path,
        description: Mapping[str, Any] | None = None,
        front_columns: Iterable[str] = (),
        flush_interval: float = 1.0,
    ) -> None:
        self.path = Path(path)
        self.description = dict(description or {})
        self.front_columns = tuple(front_columns)
        self.flush_interval = flush_interval
        self._rows: dict[str, dict[str, Any]] = {}
        self._last_flush = 0.0
        self._dirty = False
        self.sort_key: Callable[[Mapping[str, Any]], Any] | None = None
        if self.path.exists():
            rows, _ = read_rows(self.path)
            for row in rows:
                row.pop("rank", None)
                row.pop("feasible", None)
                self._rows[row["key"]] = row

    def finished(self, key: str) -> dict[str, Any] | None:
        row = self._rows.get(key)
        return row if row is not None and row.get("status") == "ok" else None

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self, keys: Iterable[str] | None = None) -> list[dict[str, Any]]:
        if keys is None:
            return list(self._rows.values())
        return [self._rows[k] for k in keys if k in self._rows]

    def add(self, row: dict[str, Any]) -> None:
        self._rows[row["key"]] = row
        self._dirty = True
        if time.monotonic() - self._last_flush >= self.flush_interval:
            self.flush()

    def flush(self, decorate: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None) -> None:
        """Rewrite the file atomically; ``decorate`` may sort rows and add columns (rank, feasible)."""
        rows = list(self._rows.values())
        if decorate is not None:
            rows = decorate(rows)
        elif self.sort_key is not None:
            rows = sorted(rows, key=self.sort_key)
        table = rows_to_table(rows, self.front_columns)
        meta = {META_KEY: json.dumps(self.description, sort_keys=True, default=str)}
        write_table_atomic(self.path, table, meta)
        self._last_flush = time.monotonic()
        self._dirty = False

    @property
    def dirty(self) -> bool:
        return self._dirty
