"""``amm500 data record``: the venue's data client feeding the recorder.

The socket, its keep-alive, reconnects with backoff, the stale-feed watchdog and the REST resync after
each reconnect are the trading engine's own (:class:`~amm500.venues.hyperliquid.client.HyperliquidClient`
without a key): one WebSocket loop in the project, not two. The recorder
(:class:`amm500.data.recorder.Recorder`) only turns what it hands over into canonical part files.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from amm500.data.recorder import Recorder, RecorderStats, compact
from amm500.data.schema import DataError
from amm500.data.store import read_dataset_meta
from amm500.venues.hyperliquid import messages as m
from amm500.venues.hyperliquid.client import Handlers, HyperliquidClient


def rest_url(ws_url: str) -> str:
    """``wss://host/ws`` -> ``https://host`` (the REST base the data client also reads meta and books from)."""
    base = ws_url.rstrip("/")
    base = base.removesuffix("/ws")
    return "http" + base[len("ws"):] if base.startswith("ws") else base


async def record(url: str, root: Path, coin: str = "BTC", duration_s: float | None = None, flush_s: float = 2.0,
                 compact_s: float = 60.0, on_tick: Callable[[RecorderStats], None] | None = None) -> RecorderStats:
    """Record until ``duration_s`` passes (forever when None) or the task is cancelled; always compacts.

    Raises the client's :class:`~amm500.venues.errors.VenueError` when the venue cannot be reached at
    start (nothing recorded is better than a silent empty folder); later disconnects are retried.
    """
    root = Path(root)
    meta = read_dataset_meta(root)
    if meta.get("symbol") and meta["symbol"] != coin:
        raise DataError(f"{root}: holds {meta['symbol']} data; record {coin} into another --out directory")
    compact(root, coin)  # leftovers of a killed run first
    rec = Recorder(root, coin)

    def on_book(snap: m.L2Book, rx_ns: int) -> None:
        rec.stats.messages += 1
        rec.on_snapshot(snap.time_ms, rx_ns, snap.book)

    def on_trades(trades: list[m.Trade]) -> None:
        rec.stats.messages += 1
        rec.on_trade_rows([(t.time_ms, t.tid, t.side, t.px, t.sz) for t in trades if t.coin == coin],
                          time.time_ns())

    def on_reconnect() -> None:
        rec.connected(first=False)

    client = HyperliquidClient(rest_url(url), url, coin, handlers=Handlers(on_book=on_book, on_trades=on_trades,
                                                                          on_reconnect=on_reconnect))
    rec.connected(first=True)
    deadline = None if duration_s is None else time.monotonic() + duration_s
    last_flush = last_compact = time.monotonic()
    try:
        await client.start()
        while deadline is None or time.monotonic() < deadline:
            left = 1.0 if deadline is None else deadline - time.monotonic()
            await asyncio.sleep(max(0.0, min(flush_s, 1.0, left)))
            now = time.monotonic()
            if now - last_flush >= flush_s:
                rec.flush()
                last_flush = now
            if now - last_compact >= compact_s:
                compact(root, coin)
                rec.stats.compactions += 1
                last_compact = now
            if on_tick is not None:
                on_tick(rec.stats)
    finally:
        await client.close()
        rec.flush()
        compact(root, coin)
        rec.stats.compactions += 1
    return rec.stats
