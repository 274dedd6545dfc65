"""Latency instrumentation: request round trips, WebSocket message age, tick-to-order time.

Each measurement goes to a Prometheus histogram (for the dashboard and alerting) and to an
in-process rolling window that answers p50/p90/p99 exactly over the last ``window`` samples (for
logs, benchmarks and the order path's REST-vs-WebSocket choice, which needs a current median
without scraping anything).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Histogram

#: 25 us .. 10 s, roughly x2 per bucket
BUCKETS_S = (
    25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0, 2.5,
    5.0, 10.0,
)  # fmt: skip


class QuantileWindow:
    """The last ``size`` samples in a ring buffer; quantiles on demand (O(size) per query)."""

    __slots__ = ("_buf", "_median", "_median_count", "_n", "_pos", "count")

    #: :meth:`median` is read before every send (the route choice); over a full window it costs
    #: ~50 us, so past the first samples it is recomputed once per this many new samples.
    MEDIAN_EVERY = 16

    def __init__(self, size: int = 4096) -> None:
        self._buf = np.zeros(size)
        self._n = 0
        self._pos = 0
        self.count = 0
        self._median = math.nan
        self._median_count = 0

    def add(self, x: float) -> None:
        self._buf[self._pos] = x
        self._pos = (self._pos + 1) % self._buf.shape[0]
        self._n = min(self._n + 1, self._buf.shape[0])
        self.count += 1

    def quantiles(self, qs: Iterable[float] = (0.5, 0.9, 0.99)) -> list[float]:
        if self._n == 0:
            return [math.nan for _ in qs]
        return [float(v) for v in np.quantile(self._buf[: self._n], list(qs))]

    def median(self) -> float:
        """The median of the window as it was at most ``MEDIAN_EVERY - 1`` samples ago (exact up to 64 samples)."""
        stale = self.count - self._median_count
        if stale and (stale >= self.MEDIAN_EVERY or self._n <= 64):
            self._median = self.quantiles((0.5,))[0]
            self._median_count = self.count
        return self._median


class LatencyRecorder:
    """Histograms in their own registry (pass ``registry`` to expose them on a metrics endpoint)."""

    def __init__(self, registry: CollectorRegistry | None = None, window: int = 4096) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._rtt = Histogram(
            "amm500_request_rtt_seconds",
            "Request round trip by route (rest|ws) and request kind",
            ["route", "kind"],
            buckets=BUCKETS_S,
            registry=self.registry,
        )
        self._age = Histogram(
            "amm500_ws_message_age_seconds",
            "Local receive time minus the exchange time stamped in the message",
            ["channel"],
            buckets=BUCKETS_S,
            registry=self.registry,
        )
        self._t2o = Histogram(
            "amm500_tick_to_order_seconds",
            "Market data message received -> signed order request handed to the transport",
            buckets=BUCKETS_S,
            registry=self.registry,
        )
        self._window = window
        self.windows: dict[str, QuantileWindow] = {}
        self._children: dict[tuple[str, ...], Any] = {}  # labelled children, looked up once

    def _win(self, name: str) -> QuantileWindow:
        w = self.windows.get(name)
        if w is None:
            w = self.windows[name] = QuantileWindow(self._window)
        return w

    def _child(self, hist: Histogram, *labels: str) -> Any:
        key = (str(id(hist)), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = hist.labels(*labels)
        return child

    def rtt(self, route: str, kind: str, seconds: float) -> None:
        self._child(self._rtt, route, kind).observe(seconds)
        self._win(f"rtt.{route}").add(seconds)
        self._win(f"rtt.{route}.{kind}").add(seconds)

    def message_age(self, channel: str, seconds: float) -> None:
        self._child(self._age, channel).observe(seconds)
        self._win(f"age.{channel}").add(seconds)

    def tick_to_order(self, seconds: float) -> None:
        self._t2o.observe(seconds)
        self._win("tick_to_order").add(seconds)

    def median(self, name: str) -> float:
        w = self.windows.get(name)
        return w.median() if w is not None else math.nan

    def summary(self) -> dict[str, dict[str, float]]:
        """{name: {count, p50, p90, p99}} in seconds, for logs and reports."""
        out = {}
        for name, w in sorted(self.windows.items()):
            p50, p90, p99 = w.quantiles()
            out[name] = {"count": float(w.count), "p50": p50, "p90": p90, "p99": p99}
        return out
