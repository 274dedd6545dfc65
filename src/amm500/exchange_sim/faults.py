"""Fault injection for the local exchange: the failures a live bot must survive, on demand.

``drop_ws=N``      close every WebSocket connection every N seconds
``latency_ms=M``   delay every HTTP request (and WS post) by M milliseconds
``reject_rate=F``  answer a fraction F of HTTP requests with HTTP 429 (IP rate limit)
``stall_s=S``      stop the market feed (no book, trade or mid updates) for S seconds ...
``stall_every=T``  ... every T seconds (default 30; the first stall starts T seconds after start)
``seed=K``         seed of the rejection draw (default 0)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

_FIELDS = {
    "drop_ws": (float, "seconds between forced WebSocket disconnects, > 0"),
    "latency_ms": (float, "added HTTP latency in milliseconds, >= 0"),
    "reject_rate": (float, "fraction of HTTP requests answered with 429, in [0, 1]"),
    "stall_s": (float, "length of each feed stall in seconds, >= 0"),
    "stall_every": (float, "seconds between feed stalls, > 0"),
    "seed": (int, "integer seed of the rejection draw"),
}


class FaultSpecError(ValueError):
    pass


@dataclass
class Faults:
    drop_ws: float | None = None
    latency_ms: float = 0.0
    reject_rate: float = 0.0
    stall_s: float = 0.0
    stall_every: float = 30.0
    seed: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng.seed(self.seed)
        if self.drop_ws is not None and self.drop_ws <= 0:
            raise FaultSpecError(f"drop_ws must be > 0 seconds (got {self.drop_ws})")
        if self.latency_ms < 0:
            raise FaultSpecError(f"latency_ms must be >= 0 (got {self.latency_ms})")
        if not 0.0 <= self.reject_rate <= 1.0:
            raise FaultSpecError(f"reject_rate must be in [0, 1] (got {self.reject_rate})")
        if self.stall_s < 0 or self.stall_every <= 0:
            raise FaultSpecError(f"stall_s must be >= 0 and stall_every > 0 (got {self.stall_s}, {self.stall_every})")

    @staticmethod
    def parse(spec: str | None) -> Faults:
        """Parse ``key=value,key=value``; every bad key or value is named with what is allowed."""
        values: dict[str, float | int] = {}
        for part in (spec or "").split(","):
            part = part.strip()
            if not part:
                continue
            key, sep, raw = part.partition("=")
            key = key.strip()
            if not sep or key not in _FIELDS:
                allowed = ", ".join(f"{k}=<{d}>" for k, (_, d) in _FIELDS.items())
                raise FaultSpecError(f"--faults: unknown entry {part!r}; allowed: {allowed}")
            kind, desc = _FIELDS[key]
            try:
                values[key] = kind(raw)
            except ValueError:
                raise FaultSpecError(f"--faults: {key}={raw!r} is not valid; expected {desc}") from None
        return Faults(**values)  # type: ignore[arg-type]

    def reject(self) -> bool:
        return self.reject_rate > 0 and self._rng.random() < self.reject_rate

    def stalled(self, elapsed_s: float) -> bool:
        """Whether the feed is stalled ``elapsed_s`` seconds after the server started."""
        if self.stall_s <= 0 or elapsed_s < self.stall_every:
            return False
        return (elapsed_s - self.stall_every) % (self.stall_every + self.stall_s) < self.stall_s
