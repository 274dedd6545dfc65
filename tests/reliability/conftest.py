"""``RELIABILITY_SOAK=1``: the long versions of the reliability scenarios (minutes each); without it, the quick
subset that runs in ``make test``. (An environment variable, not a pytest option: an option declared in a
sub-folder's conftest is unknown when pytest is run on ``tests/``; and AMM500_* names belong to the config.)"""

from __future__ import annotations

import pytest

from reliability import harness


@pytest.fixture
def soak() -> bool:
    return harness.soak()
