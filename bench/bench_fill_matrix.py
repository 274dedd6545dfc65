"""Fill for fill against hftbacktest: a matrix over real and generated data, step, spread and queue model.

For every real tick data set under ``../shared/data/real/`` that AMM-500 can import (the Hyperliquid
WebSocket capture as CSV, the hftbacktest Hyperliquid sample) and one generated stretch, it runs the
fixed-spread reference ladder of ``bench_backtest_vs_hftbacktest.py`` in both engines with

* quote step 100 ms and 500 ms,
* half spread about 2 ticks and 0.5 tick (the spread in bps is set from the data's first mid),
* the risk-averse and the probabilistic (power 2) queue model,

no partial fills, 50 ms order and response latency, tier-0 fees, no funding (the generated data is
written without its funding rows; the real sets have none). AMM-500 runs on
hftbacktest's conventions (``backtest.timer_anchor=first_exchange``) and, to show what the
convention is worth, on its live default (``first_local``) and on the ``epoch`` grid, and (real sets)
on the same rows in the importers' order before issue 16 (book rows before the trades of their
exchange time).

Prints per run fills / volume / fees / PnL of both engines side by side, whether the two fill logs
(exchange time, side, price, size of every fill) are identical, and the first differing fill when
they are not.

    .venv/bin/python bench/bench_fill_matrix.py                     # real data + 6 generated hours
    .venv/bin/python bench/bench_fill_matrix.py --gen-hours 24      # a whole generated day

hftbacktest's local side learns of a fill only when the report arrives; the data it replays gets
one no-op row (a level re-stated at its size) one second after the last, so every fill report made
inside the data reaches it. AMM-500 counts fills at the exchange.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_backtest_vs_hftbacktest import (
    LATENCY_MS,
    HftSettings,
    amm_sets,
    run_hftbacktest,
    to_hftbacktest,
)

from amm500.backtest.market import Market, load_market
from amm500.backtest.runner import run_backtest
from amm500.config import load_config
from amm500.data.schema import BOOK_CLEAR, BOOK_LEVEL, FUNDING, NS_PER_MS, NS_PER_S, Events
from amm500.sim.layout import F_PX, F_SIDE, F_SZ

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "real"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "amm500"
#: real tick data sets: name -> [(source, file relative to REAL)], imported in this order into one directory
REAL_SETS: dict[str, list[tuple[str, str]]] = {
    "hl-ws-capture-20250903": [("l2-csv", "hl_ws_capture/20250903/orderbooks_BTC.csv"),
                               ("trades-csv", "hl_ws_capture/20250903/trades_BTC.csv")],
    "hl-hftbacktest-sample": [("hyperliquid-ws", "hl_hftbacktest_sample/btcusd_20250126.gz")],
}
STEPS_S = (0.1, 0.5)
HALF_SPREAD_TICKS = (2.0, 0.5)
QUEUES = ("risk_averse", "prob")
QUEUE_POWER = 2.0
ANCHORS = ("first_local", "epoch")  # compared with hftbacktest besides its own convention
BOOK_FIRST = "book-first rows"  # AMM-500 on first_exchange, the data in the importers' old order


def import_real(name: str) -> Path:
    """The real data set as a canonical directory in the cache (imported once; the source stays in shared/)."""
    from amm500.data.loaders import load
    from amm500.data.loaders.dataset import write_import

    root = CACHE / "bench-real" / f"{name}-prints-first"  # the importers' order since issue 16
    if (root / "dataset.json").exists():
        return root
    tmp = root.with_name(root.name + ".tmp")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    for source, rel in REAL_SETS[name]:
        path = REAL / rel
        write_import(tmp, load(source, [path]), [path])
    tmp.rename(root)
    return root


def book_first(root: Path) -> Path:
    """The same rows in the importers' order before issue 16: at one exchange time, book rows before trades.

    A Hyperliquid book push of a block already reflects the block's trades, so this order counts them
    twice against the queue ahead (``docs/data.md``); the matrix shows what that did to the results.
    """
    from amm500.data import store

    out = root.with_name(root.name.replace("-prints-first", "") + "-book-first")
    if (out / "dataset.json").exists():
        return out
    src = load_market(root)
    ev = Events.concat([e.take(slice(None)) for _, e in src.iter_days(len(src.days))])
    book = (ev.kind == BOOK_LEVEL) | (ev.kind == BOOK_CLEAR)
    store.write_events(out, ev.take(np.lexsort((~book, ev.ts))))
    meta = store.read_dataset_meta(root)
    store.write_dataset_meta(out, symbol=meta.get("symbol", "BTC"), tick_size=meta["tick_size"],
                             sz_decimals=meta["sz_decimals"], source="book-first copy of " + root.name)
    return out


def generated(hours: int, seed: int) -> Path:
    """``hours`` generated hours (the first hours of one synthetic day), funding rows left out.

    hftbacktest has no funding, and AMM-500's ladder sizes its orders from an equity that funding
    moves: with funding the two engines quote different sizes after the first hourly payment.
    """
    from amm500.data import store
    from amm500.data.synthetic import MarketSimulator

    root = CACHE / f"bench-gen-{hours}h-s{seed}-nofunding"
    if (root / "dataset.json").exists():
        return root
    sim = MarketSimulator(seed=seed)
    _, ev = sim.next_day(hours)
    store.write_events(root, ev.take(np.flatnonzero(ev.kind != FUNDING)))
    store.write_dataset_meta(root, symbol="BTC", tick_size=1.0, sz_decimals=5, source="synthetic",
                             parameters={"hours": hours, "seed": seed})
    return root


def with_tail(data: np.ndarray) -> np.ndarray:
    """hftbacktest's events plus one no-op row 1 s after the last: a level re-stated at its own size."""
    from hftbacktest import BUY_EVENT, DEPTH_EVENT, SELL_EVENT

    depth = np.flatnonzero((data["ev"] & DEPTH_EVENT) == DEPTH_EVENT)
    last = data[depth[-1]].copy()
    row = np.zeros(1, dtype=data.dtype)
    row[0] = last
    # the level's current size: the last row that set this side and price
    side = last["ev"] & (BUY_EVENT | SELL_EVENT)
    same = depth[((data["ev"][depth] & (BUY_EVENT | SELL_EVENT)) == side) & (data["px"][depth] == last["px"])]
    row[0]["qty"] = data["qty"][same[-1]]
    row[0]["exch_ts"] = data["exch_ts"][-1] + NS_PER_S
    row[0]["local_ts"] = max(int(data["local_ts"][-1]), int(data["exch_ts"][-1])) + NS_PER_S
    return np.concatenate([data, row])


def first_mid(ev: Events) -> float:
    """Mid of the first book that has both sides (the spread in bps is set from it)."""
    best = {1: -math.inf, -1: math.inf}
    for k, s, p, q in zip(ev.kind[:5000], ev.side[:5000], ev.px[:5000], ev.sz[:5000], strict=True):
        if k == BOOK_LEVEL and q > 0:
            best[int(s)] = max(best[1], p) if s > 0 else min(best[-1], p)
        if math.isfinite(best[1]) and math.isfinite(best[-1]):
            return 0.5 * (best[1] + best[-1])
    raise SystemExit("no two-sided book in the first 5,000 rows")


def amm_fills(res: Any) -> np.ndarray:
    out = np.zeros((len(res.fills_ts), 4))
    out[:, 0] = res.fills_ts
    out[:, 1] = res.fills[:, F_SIDE]
    out[:, 2] = res.fills[:, F_PX]
    out[:, 3] = res.fills[:, F_SZ]
    return out


def _key(row: np.ndarray) -> tuple[int, int, float, float]:
    return int(row[0]), int(row[1]), round(float(row[2]), 6), round(float(row[3]), 9)


def first_difference(a: np.ndarray, h: np.ndarray, t0: int) -> str | None:
    """None when the fill logs are identical (order within one exchange instant aside), else the first difference."""
    ka = sorted(_key(r) for r in a)
    kh = sorted(_key(r) for r in h)
    if ka == kh:
        return None

    def show(k: tuple[int, int, float, float] | None) -> str:
        if k is None:
            return "none"
        return f"{(k[0] - t0) / NS_PER_MS:,.1f} ms {'buy' if k[1] > 0 else 'sell'} {k[3]:g} @ {k[2]:,.0f}"

    for i in range(max(len(ka), len(kh))):
        x = ka[i] if i < len(ka) else None
        y = kh[i] if i < len(kh) else None
        if x != y:
            return f"fill #{i + 1}: AMM-500 {show(x)} | hftbacktest {show(y)}"
    return None  # pragma: no cover


def amm_config(step: float, spread_bps: float, queue: str, anchor: str, tick: float, sz_dec: int) -> Any:
    sets = [s for s in amm_sets() if not s.startswith("backtest.timer_anchor=")]
    sets += [f"execution.quote_refresh_interval={step}", f"trading.min_spread_bps={float(spread_bps)!r}",
             f"backtest.queue_model={queue}", f"backtest.queue_power={QUEUE_POWER}", f"backtest.timer_anchor={anchor}",
             f"backtest.tick_size={tick}", f"backtest.sz_decimals={sz_dec}"]
    return load_config(None, sets)


def run_matrix(name: str, market: Market, rows: list[dict[str, Any]], old_order: Market | None = None) -> None:
    """All cells for one data set; ``old_order``: the same data with book rows first (real sets only)."""
    ev = Events.concat([e.take(slice(None)) for _, e in market.iter_days(len(market.days))])
    tick = float(market.meta.get("tick_size", 1.0))
    sz_dec = int(market.meta.get("sz_decimals", 5))
    hdata = with_tail(to_hftbacktest(ev))
    mid = first_mid(ev)
    t0 = int(ev.ts[0])
    span_min = (int(ev.ts[-1]) - t0) / 60 / NS_PER_S
    print(f"\n## {name}: {len(ev):,} rows, {span_min:,.1f} min, first mid {mid:,.1f}, tick {tick:g}", flush=True)
    for step in STEPS_S:
        for half in HALF_SPREAD_TICKS:
            spread_bps = 2.0 * half * tick / mid * 1e4
            for queue in QUEUES:
                cfg = amm_config(step, spread_bps, queue, "first_exchange", tick, sz_dec)
                maker, taker = cfg.backtest.fees()
                h = run_hftbacktest(hdata, maker, taker, HftSettings(
                    maker, taker, refresh_s=step, spread_bps=spread_bps, queue=queue, queue_power=QUEUE_POWER,
                    tick=tick, lot=10.0 ** -sz_dec, log_fills=1 << 20))
                r = run_backtest(cfg, market)
                m = r.metrics
                diff = first_difference(amm_fills(r), h["fill_log"], t0)
                row: dict[str, Any] = {
                    "data": name, "step_ms": round(step * 1000), "half_ticks": half, "queue": queue,
                    "amm": {"fills": m["fills"], "volume": m["volume_btc"], "fees": m["fees"],
                            "pnl": m["net_pnl"] + m["funding"]},
                    "hft": {"fills": int(h["fills"]), "volume": h["volume_btc"], "fees": h["fees"],
                            "pnl": h["net_pnl"]},
                    "identical": diff is None, "first_diff": diff, "anchors": {},
                }
                for anchor in ANCHORS:
                    ma = run_backtest(amm_config(step, spread_bps, queue, anchor, tick, sz_dec), market).metrics
                    row["anchors"][anchor] = {"fills": ma["fills"], "pnl": ma["net_pnl"] + ma["funding"]}
                if old_order is not None:
                    mb = run_backtest(cfg, old_order).metrics
                    row["anchors"][BOOK_FIRST] = {"fills": mb["fills"], "pnl": mb["net_pnl"] + mb["funding"]}
                rows.append(row)
                print_row(row, flush=True)


def _rel(x: float, y: float) -> str:
    if x == y:
        return "0"
    return f"{(x - y) / abs(y) * 100:+.1f}%" if y else "n/a"


HEADER = (f"{'data':24}{'step':>6}{'half':>6}{'queue':>12} | {'fills A/H':>13}{'volume A/H (BTC)':>22}"
          f"{'fees A/H ($)':>20}{'PnL A/H ($)':>22} | {'same':>5} | "
          + " | ".join(f"{a}: fills, PnL vs H" for a in (*ANCHORS, BOOK_FIRST)))


def print_row(row: dict[str, Any], flush: bool = False) -> None:
    a, h = row["amm"], row["hft"]
    conv = " | ".join(f"{row['anchors'][k]['fills']:>6} {_rel(row['anchors'][k]['fills'], h['fills']):>7}"
                      f" {row['anchors'][k]['pnl']:>9.2f} {_rel(row['anchors'][k]['pnl'], h['pnl']):>8}"
                      if k in row["anchors"] else f"{'-':>32}" for k in (*ANCHORS, BOOK_FIRST))
    print(f"{row['data']:24}{row['step_ms']:>6}{row['half_ticks']:>6g}{row['queue']:>12} | "
          f"{a['fills']:>6}/{h['fills']:<6}{a['volume']:>10.5f}/{h['volume']:<10.5f}"
          f"{a['fees']:>9.3f}/{h['fees']:<9.3f}{a['pnl']:>10.3f}/{h['pnl']:<10.3f} | "
          f"{'yes' if row['identical'] else 'NO':>5} | {conv}", flush=flush)
    if row["first_diff"]:
        print(f"    first differing fill: {row['first_diff']}", flush=flush)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gen-hours", type=int, default=6, help="generated hours (default 6; 0 = none)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--only", default=None, help="run only the data sets whose name contains this")
    args = ap.parse_args()
    sets: list[tuple[str, Path, Path | None]] = [(n, import_real(n), None) for n in REAL_SETS]
    sets = [(n, root, book_first(root)) for n, root, _ in sets]
    if args.gen_hours > 0:
        sets.append((f"generated-{args.gen_hours}h-seed{args.seed}", generated(args.gen_hours, args.seed), None))
    if args.only:
        sets = [s for s in sets if args.only in s[0]]
    print(f"order/response latency {LATENCY_MS} ms, no partial fills, 3 levels a side 1 bps apart, $200 orders;"
          f" A = AMM-500 (timer_anchor=first_exchange), H = hftbacktest; 'same' = identical fill logs")
    print(HEADER)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for name, root, old_root in sets:
        run_matrix(name, load_market(root), rows, None if old_root is None else load_market(old_root))
    same = sum(r["identical"] for r in rows)
    print(f"\n{same} of {len(rows)} runs with identical fill logs on hftbacktest's conventions"
          f" ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
