"""Stable identities for search points, so finished work is found again after a stop.

A point's key hashes everything that decides its backtest: the full effective config (not just the
axes, so a changed ``--set`` or config file never reuses stale results), the days it runs on, and a
fingerprint of those days' files. The fingerprint reads each file's size and Parquet footer (which
holds per-row-group statistics), not the whole file: cheap on a 30-day dataset and still changed by
any rewrite of the data.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from amm500.config import SECRET_FIELDS, Config
from amm500.data.store import DATASET_FILE, bar_days, event_days, require_data_dir

#: Bump when a change to the evaluation (not to the config) makes old results incomparable.
EVALUATION_VERSION = 1

_FOOTER_BYTES = 64 * 1024


def _file_digest(path: Path) -> str:
    size = path.stat().st_size
    h = hashlib.sha256(f"{path.parent.name}/{path.name}:{size}:".encode())
    with path.open("rb") as fh:
        fh.seek(max(0, size - _FOOTER_BYTES))
        h.update(fh.read())
    return h.hexdigest()


def dataset_days(data_dir: Path) -> list[str]:
    """The dataset's UTC days (ISO dates), oldest first, from its events (or bars) files."""
    root = require_data_dir(data_dir)
    days = {d.isoformat() for d, _ in event_days(root)} | {d.isoformat() for d, _ in bar_days(root)}
    return sorted(days)


def window_fingerprint(data_dir: Path, window: Sequence[str]) -> str:
    """Hash of ``dataset.json`` and the files of the given days."""
    root = Path(data_dir)
    h = hashlib.sha256()
    meta = root / DATASET_FILE
    if meta.exists():
        h.update(meta.read_bytes())
    wanted = set(window)
    files = [p for d, p in event_days(root) if d.isoformat() in wanted]
    files += [p for d, p in bar_days(root) if d.isoformat() in wanted]
    for path in sorted(files):
        h.update(_file_digest(path).encode())
    return h.hexdigest()[:16]


def config_payload(config: Config) -> dict[str, Any]:
    """The config as plain JSON data without secrets: what travels to workers and into the key."""
    data = config.model_dump(mode="json")
    for section in data.values():
        if isinstance(section, dict):
            for name in SECRET_FIELDS & section.keys():
                section[name] = None
    return data


def point_key(config_payload: Mapping[str, Any], window: Sequence[str], fingerprint: str) -> str:
    blob = json.dumps(
        {"v": EVALUATION_VERSION, "config": config_payload, "days": list(window), "data": fingerprint},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def absolute(path: Path) -> str:
    return os.path.abspath(os.fspath(path))


class Dataset:
    """A data directory, the days a search may use (``--days`` keeps the first N), and their fingerprints."""

    def __init__(self, data_dir: Path, days: int | None = None) -> None:
        self.root = Path(absolute(data_dir))
        all_days = dataset_days(self.root)
        if days is not None:
            if days < 1:
                from amm500.config import ConfigError

                raise ConfigError(f"--days {days}: must be >= 1")
            if days > len(all_days):
                from amm500.data.schema import DataError

                raise DataError(f"--days {days}: {self.root} holds only {len(all_days)} day(s)"
                                + (f" ({all_days[0]} to {all_days[-1]})" if all_days else ""))
            all_days = all_days[:days]
        self.days: tuple[str, ...] = tuple(all_days)
        self._fingerprints: dict[tuple[str, ...], str] = {}

    def fingerprint(self, window: Sequence[str]) -> str:
        window = tuple(window)
        if window not in self._fingerprints:
            self._fingerprints[window] = window_fingerprint(self.root, window)
        return self._fingerprints[window]

    def key(self, payload: Mapping[str, Any], window: Sequence[str]) -> str:
        return point_key(payload, window, self.fingerprint(window))
