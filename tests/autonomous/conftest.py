"""What the seed's tests (section 8E) assume without saying: a venue to read the wallet from.

``WalletTracker("0x1cCC...")`` reads the effective config for the venue URL; here that is the local
exchange on 127.0.0.1 (``network = local`` on the port it got), with the seed's address funded.
AMM500_HOME points at a temporary folder so nothing touches a real state folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from amm500.exchange_sim.server import exchange_thread

SEED_ADDRESS = "0x1cCC14E273DEF02EF2BF62B9bb6B6cAa15805f9C"


@pytest.fixture(autouse=True)
def seed_venue(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    with exchange_thread({SEED_ADDRESS.lower(): 10_000.0}) as sim:
        monkeypatch.setenv("AMM500_NETWORK__NETWORK", "local")
        monkeypatch.setenv("AMM500_NETWORK__LOCAL_PORT", str(urlparse(sim.base_url).port))
        monkeypatch.setenv("AMM500_HOME", str(tmp_path))
        yield
