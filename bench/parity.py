"""Parity: the backtester and the live engine on the same data, side by side.

For each data set — the first ``--minutes`` of a generated BTC day, and the real Hyperliquid WebSocket
capture in ``../shared/data/real/hl_ws_capture/20250903`` (9 minutes) — this runs:

1. the backtester (queue-aware tick engine) on exactly that data, with order/cancel/response latency
   and feed latency set to what the loopback engine measures (a few ms), and
2. the trading engine (``amm500`` live engine in ``rehearsal`` mode) against the local exchange
   replaying the same data at 1x over real HTTP and WebSocket on 127.0.0.1, for the data's span, and
3. (``--paper``) the engine in ``paper`` mode on the same replay: the exchange only publishes the
   market, fills are simulated in process,

then prints fills, maker ratio, volume, fees, PnL and orders sent of each. Each engine run is compared with
the backtest of exactly what it received (``FeedTap``), with its timers where the engine's were and the
request latency it had (``ActionClock``: each action's arrival at the exchange after the quote timer that
sent it), drawn lognormally over ``--seeds`` runs: the spread of those runs is the noise the comparison
has to beat. Real time: about ``minutes`` per data set and mode. The settings are the seed's
(``configs/seed.toml``) with the kill switch off (so both run the whole span):

    .venv/bin/python bench/parity.py --minutes 10 --modes rehearsal,paper

The rows are printed as a Markdown table for docs/parity.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parents[1]
CAPTURE = HERE.parent / "shared" / "data" / "real" / "hl_ws_capture" / "20250903"
# the seed's ladder: it quotes throughout, so the fill counts compared are large enough to mean something
SEED = HERE / "configs" / "seed.toml"
SETS = ["risk.kill_switch_enabled=false", "backtest.order_latency_ms=3", "backtest.cancel_latency_ms=3",
        "backtest.response_latency_ms=3", "backtest.feed_latency_ms=5"]


def generated(root: Path, minutes: float, seed: int) -> Path:
    from amm500.data.schema import make_events
    from amm500.data.store import event_days, read_dataset_meta, read_events_file, write_dataset_meta, write_events
    from amm500.data.synthetic import generate_market

    day = root / "gen-day"
    generate_market(day, days=1, seed=seed, progress=False)
    (_, path), = event_days(day)
    ev = read_events_file(path)
    keep = ev.ts < ev.ts[0] + int(minutes * 60e9)
    cut = make_events(*(np.asarray(c)[keep] for c in ev))
    out = root / "generated"
    write_events(out, cut)
    meta = {k: v for k, v in read_dataset_meta(day).items() if k not in ("format", "version")}
    write_dataset_meta(out, **meta)
    return out


def captured(root: Path) -> Path:
    out = root / "hl-capture"
    for source, name in (("l2-csv", "orderbooks_BTC.csv"), ("trades-csv", "trades_BTC.csv")):
        subprocess.run([sys.executable, "-m", "amm500", "data", "import", "--source", source, str(CAPTURE / name),
                        "--out", str(out)], check=True, capture_output=True)
    return out


def as_published(data: Path, out: Path, push_s: float, depth: int = 20) -> Path:
    """``data`` as a Hyperliquid subscriber records it: a ``depth``-level ``l2Book`` snapshot every ``push_s``
    (when the book changed) and every trade print, i.e. exactly what the live engine's feed carries."""
    from amm500.data.book_diff import BookDiffer
    from amm500.data.schema import BOOK_CLEAR, BOOK_LEVEL, TRADE, make_events
    from amm500.data.store import event_days, read_dataset_meta, read_events_file, write_dataset_meta, write_events

    ev = read_events_file(event_days(data)[0][1])
    book: dict[int, dict[float, float]] = {1: {}, -1: {}}
    differ = BookDiffer(depth=depth, clear_each_day=False)
    parts = []
    step = int(push_s * 1e9)
    next_push = int(ev.ts[0])
    dirty = False
    trades: list[int] = []

    def push(t: int) -> None:
        bids = sorted(book[1].items(), reverse=True)[:depth]
        asks = sorted(book[-1].items())[:depth]
        parts.append(differ.update_one(t, t, [p for p, _ in bids], [z for _, z in bids], [p for p, _ in asks],
                                       [z for _, z in asks]))

    for i in range(len(ev)):
        t = int(ev.ts[i])
        while t >= next_push:
            if dirty:
                push(next_push)
                dirty = False
            next_push += step
        k, side = int(ev.kind[i]), int(ev.side[i])
        if k == BOOK_LEVEL:
            if ev.sz[i] > 0:
                book[side][float(ev.px[i])] = float(ev.sz[i])
            else:
                book[side].pop(float(ev.px[i]), None)
            dirty = True
        elif k == BOOK_CLEAR:
            for s_ in (1, -1):
                if side in (0, s_):
                    book[s_].clear()
            dirty = True
        elif k == TRADE:
            trades.append(i)
    idx = np.array(trades, dtype=np.int64)
    parts.append(make_events(ev.ts[idx], ev.ts[idx], ev.kind[idx], ev.side[idx], ev.px[idx], ev.sz[idx]))
    cols = [np.concatenate([np.asarray(getattr(p_, c)) for p_ in parts]) for c in ("ts", "local_ts", "kind", "side",
                                                                                   "px", "sz")]
    # prints before the book rows of the same instant, as every importer orders them
    order = np.lexsort((cols[2] != TRADE, cols[0]))
    write_events(out, make_events(*(c[order] for c in cols)))
    meta = {k: v for k, v in read_dataset_meta(data).items() if k not in ("format", "version")}
    write_dataset_meta(out, **meta)
    return out


def span_s(data: Path) -> float:
    from amm500.data.store import event_days, read_events_file

    ts = np.concatenate([read_events_file(p).ts for _, p in event_days(data)])
    return float(ts[-1] - ts[0]) / 1e9


def backtest(data: Path, phases: int) -> dict[str, Any]:
    """The backtest at the live engine's timer convention, and its spread over ``phases`` timer phases
    (a live engine starts its timers at whatever instant it connects: any phase is as likely)."""
    from amm500.backtest.phases import run_phases
    from amm500.config import load_config

    run = run_phases(load_config(SEED, overrides=SETS), data, phases)
    m = run.results[0].metrics
    out = {"fills": m["fills"], "maker_ratio": m["maker_ratio"], "volume_usd": m["notional_usd"],
           "fees": m["fees"], "net_pnl": m["net_pnl"]}
    if phases > 1:
        out["phase_fills"] = [run.spread["fills"][k] for k in ("min", "median", "max")]
        out["phase_pnl"] = [run.spread["net_pnl"][k] for k in ("min", "median", "max")]
    return out


class FeedTap:
    """What the paper engine received (l2Book snapshots and prints, at their arrival times) and when its
    timers started: the data and the timer phase of a backtest that sees exactly what the engine saw."""

    def __init__(self, venue: Any, loop: Any) -> None:
        import time as _time

        self.arrivals: list[tuple[int, str, Any]] = [(_time.time_ns(), "book", venue.book.copy())]
        self.first_timer_ns: int | None = None
        data = (venue.data if hasattr(venue, "data") else venue).handlers  # paper: its data client's
        on_book, on_trades, on_timer = data.on_book, data.on_trades, loop.on_timer

        def book(snap: Any, rx_ns: int) -> None:
            self.arrivals.append((_time.time_ns(), "book", snap.book.copy()))
            if on_book is not None:
                on_book(snap, rx_ns)

        def trades(rows: Any) -> None:
            self.arrivals.append((_time.time_ns(), "trades", [(t.side, t.px, t.sz) for t in rows
                                                              if t.coin == venue.coin and t.sz > 0 and t.px > 0]))
            if on_trades is not None:
                on_trades(rows)

        async def timer(kind: int) -> None:
            if self.first_timer_ns is None:
                self.first_timer_ns = _time.time_ns()
            await on_timer(kind)

        data.on_book, data.on_trades, loop.on_timer = book, trades, timer

    def dataset(self, out: Path, like: Path) -> tuple[Path, float]:
        """The arrivals as canonical events (exchange time = arrival time, in arrival order) and the timer
        offset (ms after the first arrival) at which the engine's timers started."""
        from amm500.data.book_diff import BookDiffer
        from amm500.data.schema import BOOK_LEVEL, TRADE, make_events
        from amm500.data.store import read_dataset_meta, write_dataset_meta, write_events

        differ = BookDiffer(clear_each_day=False)
        parts = []
        last = 0
        for rx, kind, payload in self.arrivals:
            last = t = max(rx, last)
            if kind == "book":
                b = payload
                nb, na = int(np.count_nonzero(b[0] > 0)), int(np.count_nonzero(b[2] > 0))
                rows = differ.update_one(t, t, b[0, :nb].tolist(), b[1, :nb].tolist(), b[2, :na].tolist(),
                                         b[3, :na].tolist())
                if not len(rows) and nb:  # an unchanged snapshot (a resync) still tells the engine the book is
                    # fresh; restating the best bid carries that to the backtest's book age, changing nothing else
                    rows = make_events(np.array([t]), np.array([t]), np.array([BOOK_LEVEL]), np.array([1]),
                                       np.array([b[0, 0]]), np.array([b[1, 0]]))
                parts.append(rows)
            elif payload:
                n = len(payload)
                ts = np.full(n, t, dtype=np.int64)
                side, px, sz = (np.array(col) for col in zip(*payload, strict=True))
                parts.append(make_events(ts, ts, np.full(n, TRADE), np.where(side > 0, 1, -1), px, sz))
        cols = [np.concatenate([np.asarray(getattr(e, c)) for e in parts])
                for c in ("ts", "local_ts", "kind", "side", "px", "sz")]
        write_events(out, make_events(*cols))
        meta = {k: v for k, v in read_dataset_meta(like).items() if k not in ("format", "version")}
        write_dataset_meta(out, **meta)
        assert self.first_timer_ns is not None
        return out, (self.first_timer_ns - self.arrivals[0][0]) / 1e6


    def as_seen(self, data: Path, feed: Any, out: Path) -> tuple[Path, float]:
        """Rehearsal: every row of ``data`` at the time the local exchange applied it, seen by the engine
        at the arrival of the first message of its channel after that (l2Book pushes, trade prints);
        and the timer offset, as :meth:`dataset`."""
        from amm500.data.schema import BOOK_CLEAR, BOOK_LEVEL, TRADE, make_events
        from amm500.data.store import event_days, read_dataset_meta, read_events_file, write_dataset_meta, write_events

        ev = read_events_file(event_days(data)[0][1])
        ts = np.array([feed.to_exchange_ns(int(t)) for t in ev.ts], dtype=np.int64)
        local = np.full(len(ev), -1, dtype=np.int64)
        for kinds, channel in (((BOOK_LEVEL, BOOK_CLEAR), "book"), ((TRADE,), "trades")):
            rx = np.array([t for t, c, _ in self.arrivals if c == channel], dtype=np.int64)
            rows = np.flatnonzero(np.isin(ev.kind, kinds))
            k = np.searchsorted(rx, ts[rows])
            seen = k < len(rx)
            local[rows[seen]] = rx[k[seen]]
        keep = local >= 0
        write_events(out, make_events(ts[keep], local[keep], ev.kind[keep], ev.side[keep], ev.px[keep],
                                      ev.sz[keep]))
        meta = {k: v for k, v in read_dataset_meta(data).items() if k not in ("format", "version")}
        write_dataset_meta(out, **meta)
        assert self.first_timer_ns is not None
        return out, (self.first_timer_ns - int(local[keep].min())) / 1e6


def replay_backtest(data: Path, offset_ms: float, latency_ms: float, sigma: float = 0.0,
                    seeds: int = 1) -> dict[str, Any]:
    """The backtest of what an engine run saw, with its timers where the engine's were and its request latency.

    With ``sigma`` > 0, ``seeds`` runs draw each latency from a lognormal around ``latency_ms`` (the engine's
    own requests scatter so): over a few minutes the fill count moves a lot with a few ms of timing, so one
    backtest is one sample and the engine is compared with the spread of them.
    """
    from amm500.backtest.runner import run_backtest
    from amm500.config import load_config

    lat = f"{latency_ms:g}"
    sets = [*SETS, "backtest.feed_latency_ms=0", f"backtest.order_latency_ms={lat}",
            f"backtest.cancel_latency_ms={lat}", f"backtest.response_latency_ms={lat}",
            f"backtest.timer_offset_ms={offset_ms:.3f}"]
    if sigma > 0:
        sets += ["backtest.latency_model=lognormal", f"backtest.latency_sigma={sigma:.3f}"]
    runs = [run_backtest(load_config(SEED, overrides=[*sets, f"backtest.seed={k}"]), data).metrics
            for k in range(seeds if sigma > 0 else 1)]
    order = np.argsort([m["fills"] for m in runs], kind="stable")
    m = runs[int(order[len(order) // 2])]  # the median run (upper median)
    out = {"fills": m["fills"], "maker_ratio": m["maker_ratio"], "volume_usd": m["notional_usd"], "fees": m["fees"],
           "net_pnl": m["net_pnl"], "orders": m["orders_sent"], "latency": (latency_ms, sigma)}
    if len(runs) > 1:
        out["seed_fills"] = sorted(r["fills"] for r in runs)
        out["seed_pnl"] = sorted(r["net_pnl"] for r in runs)
    return out


class ActionClock:
    """When each of the engine's exchange actions reached the local exchange, after the quote timer that sent
    it: the request latency a backtest of the same run should use (signing, HTTP, the server's turn)."""

    def __init__(self, exchange: Any, loop: Any) -> None:
        from amm500.core.api import TIMER_QUOTE

        self.timers: list[int] = []
        self.latencies_ms: list[float] = []
        act, on_timer = exchange.action, loop.on_timer

        async def timer(kind: int) -> None:
            if kind == TIMER_QUOTE:
                self.timers.append(time.time_ns())
            await on_timer(kind)

        def action(envelope: Any) -> Any:
            kind = (envelope.get("action") or {}).get("type") if isinstance(envelope, dict) else None
            if kind in ("order", "batchModify", "cancel", "cancelByCloid") and self.timers:
                self.latencies_ms.append((time.time_ns() - self.timers[-1]) / 1e6)
            return act(envelope)

        exchange.action, loop.on_timer = action, timer

    def fit(self) -> tuple[float, float]:
        """(mean ms, sigma of log ms) of the latencies, the slowest 2% (a stalled event loop) left out."""
        lat = np.sort(np.asarray(self.latencies_ms))
        lat = lat[: max(1, int(len(lat) * 0.98))]
        lat = np.maximum(lat, 0.1)
        return float(lat.mean()), float(np.log(lat).std())


async def engine(data: Path, seconds: float, mode: str, folder: Path, book_push_s: float,
                 seeds: int) -> dict[str, Any]:
    from eth_account import Account

    from amm500.config import load_config
    from amm500.exchange_sim.server import run_exchange
    from amm500.runs.session import trading_session

    cfg = load_config(SEED, overrides=SETS)
    if mode == "rehearsal":
        async with trading_session(cfg, "rehearsal", market=data, state_dir=folder) as s:
            assert s.engine.loop is not None
            tap = FeedTap(s.engine.venue, s.engine.loop)
            clock = ActionClock(s.exchange.exchange, s.engine.loop)
            st = (await s.engine.run(seconds)).stats
            seen, offset_ms = tap.as_seen(data, s.exchange.server.feed, folder / "seen")
        replayed = replay_backtest(seen, offset_ms, *clock.fit(), seeds=seeds)
    else:
        nobody = Account.create().address.lower()
        async with (run_exchange({nobody: 1.0}, data=data, book_push_s=book_push_s) as sim,
                    trading_session(cfg, "paper", network=sim.base_url, state_dir=folder) as s):
            assert s.engine.loop is not None
            tap = FeedTap(s.engine.venue, s.engine.loop)
            st = (await s.engine.run(seconds)).stats
        seen, offset_ms = tap.dataset(folder / "seen", data)
        replayed = replay_backtest(seen, offset_ms, 1.0, 0.5, seeds)  # paper's orders reach the book in process
    return {"fills": st.fills, "maker_ratio": st.maker_ratio if st.fills else float("nan"),
            "volume_usd": st.volume_usd, "fees": st.fees, "net_pnl": st.pnl, "orders": st.placed + st.modified,
            "replayed": replayed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="minutes of the generated day")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--paper", action="store_true", help="also run paper mode on each replay")
    ap.add_argument("--modes", default=None, help="engine modes to run, comma-separated (rehearsal,paper)")
    ap.add_argument("--book-push-s", type=float, default=0.5,
                    help="seconds between the local exchange's l2Book pushes in paper mode (Hyperliquid: 0.5)")
    ap.add_argument("--skip-real", action="store_true", help="only the generated data set")
    ap.add_argument("--skip-generated", action="store_true", help="only the real capture")
    ap.add_argument("--phases", type=int, default=10, help="timer phases of the backtest (its spread is printed)")
    ap.add_argument("--seeds", type=int, default=10, help="latency draws of each backtest of what an engine saw")
    ap.add_argument("--backtest-only", action="store_true", help="skip the engine runs (minutes of real time)")
    args = ap.parse_args()
    rows: list[tuple[str, str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sets = [] if args.skip_generated else [("generated", generated(root, args.minutes, args.seed))]
        if not args.skip_real:
            sets.append(("hl capture", captured(root)))
        for name, data in sets:
            secs = span_s(data)
            t0 = time.perf_counter()
            rows.append((name, "backtest", backtest(data, args.phases)))
            print(f"{name}: backtest done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
            modes = ("rehearsal", "paper") if args.paper else ("rehearsal",)
            if args.modes:
                modes = tuple(x.strip() for x in args.modes.split(",") if x.strip())
            for mode in () if args.backtest_only else modes:
                result = asyncio.run(engine(data, secs, mode, root / f"{name}-{mode}", args.book_push_s, args.seeds))
                rows.append((name, f"engine ({mode})", result))
                if "replayed" in result:
                    rows.append((name, f"backtest of what the {mode} engine saw, at its timer phase",
                                 result["replayed"]))
                print(f"{name}: {mode} done ({secs:.0f} s of market)", file=sys.stderr)
                shutil.rmtree(root / f"{name}-{mode}", ignore_errors=True)
    print("| data | driver | fills | maker ratio | volume (USD) | fees (USD) | net PnL (USD) | orders |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, driver, r in rows:
        print(f"| {name} | {driver} | {r['fills']} | {r['maker_ratio']:.0%} | {r['volume_usd']:,.0f} | "
              f"{r['fees']:.2f} | {r['net_pnl']:+.2f} | {r.get('orders', '')} |")
    for name, driver, r in rows:
        if "phase_fills" in r:
            f, p = r["phase_fills"], r["phase_pnl"]
            print(f"{name}, {driver} over {args.phases} timer phases: fills {f[0]:.0f} / {f[1]:.0f} / {f[2]:.0f}, "
                  f"net PnL {p[0]:+.2f} / {p[1]:+.2f} / {p[2]:+.2f} (min / median / max)")
    for (name, driver, eng), (_, _, bt) in itertools.pairwise(rows):
        if "seed_fills" not in bt or not driver.startswith("engine"):
            continue
        f, p = bt["seed_fills"], bt["seed_pnl"]
        inside = f[0] <= eng["fills"] <= f[-1]
        vs_median = eng["fills"] / f[len(f) // 2] - 1 if f[len(f) // 2] else float("nan")
        print(f"{name}, {driver}: {eng['fills']} fills against the backtest of what it saw at its latency (mean "
              f"{bt['latency'][0]:.1f} ms, lognormal sigma {bt['latency'][1]:.2f}) over {len(f)} draws: "
              f"{f[0]} / {f[len(f) // 2]} / {f[-1]} (min / median / max; engine {vs_median:+.0%} "
              f"of the median, {'inside' if inside else 'OUTSIDE'} the range); net PnL {eng['net_pnl']:+.2f} against "
              f"{p[0]:+.2f} / {p[len(p) // 2]:+.2f} / {p[-1]:+.2f}")


if __name__ == "__main__":
    main()
