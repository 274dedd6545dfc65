"""Fault injection for the local exchange: the failures a live bot must survive, on demand.

``drop_ws=N``      close every WebSocket connection every N seconds
``latency_ms=M``   delay every HTTP request (and WS post) by M milliseconds
``reject_rate=F``  answer a fraction F of HTTP requests with HTTP 429 (IP rate limit)
``stall_s=S``      stop the market feed (no book, trade or mid updates) for S seconds ...
``stall_every=T``  ... every T seconds (default 30; the first stall starts T seconds after start)
``mute_s=S``       half-open sockets: every WebSocket stays open but gets no frame at all (pongs
                   included; what would have been sent is lost) for S seconds ...
``mute_every=T``   ... every T seconds (default 30)
``lose_user=F``    silently drop a fraction F of the user pushes (orderUpdates, userFills, user
                   events) while the socket stays up: only REST reconciliation can find them
``spike_ms=M``     latency spikes: HTTP requests and WS posts are delayed M ms more for spike_s ...
``spike_s=S``      ... seconds (default 2) every spike_every seconds (default 20)
``spike_every=T``
``ack_delay_ms=M`` delayed acknowledgements: an action is executed at once, its answer (HTTP or WS
                   post) sent M ms later, after the WebSocket pushes of what it did (a fill of a
                   modify's new leg arrives before the modify's answer)
``reorder=1``      each batch of WebSocket pushes goes out in reverse order (a modify's new leg is
                   reported open, or filled, before its old leg is reported cancelled)
``post_only_s=S``  post-only-only windows (as after a Hyperliquid upgrade): every Gtc or Ioc order is
                   refused, only Alo orders are accepted, for S seconds ...
``post_only_every=T`` ... every T seconds (default 60)
``seed=K``         seed of the rejection and loss draws (default 0)

Windows (stall, mute, spike, post-only) start one period after start-up and repeat with that period.
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
    "mute_s": (float, "length of each half-open (no frames) window in seconds, >= 0"),
    "mute_every": (float, "seconds between half-open windows, > 0"),
    "lose_user": (float, "fraction of user pushes silently dropped, in [0, 1]"),
    "spike_ms": (float, "added latency during a spike in milliseconds, >= 0"),
    "spike_s": (float, "length of each latency spike in seconds, >= 0"),
    "spike_every": (float, "seconds between latency spikes, > 0"),
    "ack_delay_ms": (float, "delay of each action's answer in milliseconds, >= 0"),
    "reorder": (int, "1 to send each batch of pushes in reverse order, else 0"),
    "post_only_s": (float, "length of each post-only-only window in seconds, >= 0"),
    "post_only_every": (float, "seconds between post-only-only windows, > 0"),
    "seed": (int, "integer seed of the rejection and loss draws"),
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
    mute_s: float = 0.0
    mute_every: float = 30.0
    lose_user: float = 0.0
    spike_ms: float = 0.0
    spike_s: float = 2.0
    spike_every: float = 20.0
    ack_delay_ms: float = 0.0
    reorder: int = 0
    post_only_s: float = 0.0
    post_only_every: float = 60.0
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
        for length, every in (("mute_s", "mute_every"), ("spike_s", "spike_every"), ("post_only_s", "post_only_every")):
            if getattr(self, length) < 0 or getattr(self, every) <= 0:
                raise FaultSpecError(f"{length} must be >= 0 and {every} > 0 "
                                     f"(got {getattr(self, length)}, {getattr(self, every)})")
        if not 0.0 <= self.lose_user <= 1.0:
            raise FaultSpecError(f"lose_user must be in [0, 1] (got {self.lose_user})")
        if self.spike_ms < 0 or self.ack_delay_ms < 0:
            raise FaultSpecError(f"spike_ms and ack_delay_ms must be >= 0 (got {self.spike_ms}, {self.ack_delay_ms})")
        if self.reorder not in (0, 1):
            raise FaultSpecError(f"reorder must be 0 or 1 (got {self.reorder})")

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

    def lose(self) -> bool:
        """Whether to drop this user push (``lose_user``)."""
        return self.lose_user > 0 and self._rng.random() < self.lose_user

    def stalled(self, elapsed_s: float) -> bool:
        """Whether the feed is stalled ``elapsed_s`` seconds after the server started."""
        return _window(elapsed_s, self.stall_s, self.stall_every)

    def muted(self, elapsed_s: float) -> bool:
        """Whether the WebSockets are half-open (no frames) ``elapsed_s`` seconds after start."""
        return _window(elapsed_s, self.mute_s, self.mute_every)

    def post_only(self, elapsed_s: float) -> bool:
        """Whether only Alo orders are accepted ``elapsed_s`` seconds after start."""
        return _window(elapsed_s, self.post_only_s, self.post_only_every)

    def latency_s(self, elapsed_s: float) -> float:
        """The delay added to a request now: ``latency_ms``, plus ``spike_ms`` inside a spike."""
        spike = self.spike_ms if self.spike_ms and _window(elapsed_s, self.spike_s, self.spike_every) else 0.0
        return (self.latency_ms + spike) / 1000


def _window(elapsed_s: float, length: float, every: float) -> bool:
    """Inside a ``length``-second window that opens ``every`` seconds after the end of the last one."""
    if length <= 0 or elapsed_s < every:
        return False
    return (elapsed_s - every) % (every + length) < length
