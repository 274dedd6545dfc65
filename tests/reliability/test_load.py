"""Load (issue 20, item 4): the real bot on a 10x replay of real Hyperliquid data keeps up, memory flat.

Quick: 10 s of replay; ``RELIABILITY_SOAK=1``: 10 minutes. Figures printed (-s) and in docs/reliability.md;
asserted only what must hold whatever the machine: it quoted, it stopped cleanly (exit 0).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reliability.load import run_load


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the long version runs for minutes
def test_ten_x_replay_of_real_data(tmp_path: Path, soak: bool) -> None:
    figs = run_load(tmp_path, 600.0 if soak else 10.0)
    print(f"\n{figs.line()}")
    assert figs.requotes > 0 and figs.exit_code == 0
