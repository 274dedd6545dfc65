"""Hypothesis settings for the reliability fuzzers: a few examples in the default run, many in the long run.

``RELIABILITY_EXAMPLES=2000 pytest tests/reliability -k input`` is the long run (docs/reliability.md).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

#: examples per fuzzed test; the default keeps the whole input suite well under a minute on 2 cores
EXAMPLES = int(os.environ.get("RELIABILITY_EXAMPLES", "30"))
#: CI replays the same examples every run (a red build is a regression, not a new draw); a developer's run
#: and the long run draw new ones, which is where the fuzzers find new bugs
REPLAY = os.environ.get("CI", "").lower() in ("1", "true")


def fuzz(scale: float = 1.0) -> settings:
    """The settings of one fuzzed test; ``scale`` < 1 for tests whose example is a subprocess or a server call."""
    return settings(max_examples=max(3, int(EXAMPLES * scale)), deadline=None, derandomize=REPLAY,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.filter_too_much])
