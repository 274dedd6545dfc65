"""The seed's settings (``configs/seed.toml``) for the tests that are about the seed's ladder: its
behaviour must not change when the defaults move to another recommendation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from amm500.config import Config, load_config

SEED_TOML = Path(__file__).resolve().parents[1] / "configs" / "seed.toml"


def seed_config(overrides: Iterable[str] | Mapping[str, Any] = ()) -> Config:
    """The seed's config, with ``--set``-style strings or a nested mapping on top."""
    return load_config(SEED_TOML, overrides)
