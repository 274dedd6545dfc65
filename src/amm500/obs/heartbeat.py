"""The bot's heartbeat: a small JSON file rewritten every second, read by the supervisor and dashboard.

A file rather than a socket because the reader must tell a hung bot (file stops changing, process
alive) from a dead one (process gone) without the bot's help, and because it survives the reader's
own restarts. Written atomically (temp file + rename in the same folder), so a reader never sees half
of one.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from amm500.core.files import write_text_atomic


@dataclass
class Heartbeat:
    pid: int
    ts: float  # unix seconds of this beat
    started: float  # unix seconds the bot started
    mode: str  # paper | live | rehearsal
    network: str
    account: str  # public address, or "paper"
    state: str  # ACTIVE | REDUCING | HALTED | STOPPING | STOPPED
    reasons: list[str] = field(default_factory=list)
    equity: float | None = None
    position: float | None = None
    mid: float | None = None
    feed_age_s: float | None = None
    fills: int = 0
    metrics_url: str | None = None  # the bot's /metrics and /control endpoint base, when served

    def age_s(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.ts


def write_heartbeat(path: Path, beat: Heartbeat) -> None:
    """Through the project's one atomic writer; raises its OutputError (or OSError) when it cannot."""
    data = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(beat).items()}
    write_text_atomic(path, json.dumps(data))


def read_heartbeat(path: Path) -> Heartbeat | None:
    """The last beat, or None when there is none (never started, or unreadable)."""
    try:
        data = json.loads(path.read_text())
        return Heartbeat(**data)
    except (OSError, ValueError, TypeError):
        return None
