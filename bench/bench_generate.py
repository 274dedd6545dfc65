"""How fast is `amm500 data generate`? Seconds and rows/s for N days, per phase, on one core.

    .venv/bin/python bench/bench_generate.py             # 2 days (quick)
    .venv/bin/python bench/bench_generate.py --days 30   # the full figure (target: < 60 s on one core)

Phases: the Numba market kernel, the snapshot diff + merge into canonical rows, and the Parquet
write. The baseline, measured in the same run, is writing the very same rows again: the I/O floor
any generator pays. The ratio total / baseline says how much the simulation costs on top of it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from amm500.data import store
from amm500.data.schema import BOOK_LEVEL, TRADE, Events
from amm500.data.synthetic import MarketSimulator, to_events


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--all-cores", action="store_true", help="do not pin to one core")
    args = ap.parse_args()
    if not args.all_cores:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        pa.set_cpu_count(1)
        pa.set_io_thread_count(1)

    t = time.process_time()
    MarketSimulator(args.seed).next_day(hours=1)  # compile or load the cached kernels
    warm = time.process_time() - t

    sim = MarketSimulator(args.seed)
    t_kernel = t_diff = t_write = t_base = 0.0
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    rows = book = trades = 0
    with tempfile.TemporaryDirectory() as tmp:
        out, base = Path(tmp) / "gen", Path(tmp) / "base"
        for _ in range(args.days):
            t0 = time.process_time()
            day, snaps, other = sim.next_day_raw()
            t1 = time.process_time()
            ev: Events = to_events(snaps, other)
            t2 = time.process_time()
            store.write_events_day(out, day, ev)
            t3 = time.process_time()
            store.write_events_day(base, day, ev)
            t4 = time.process_time()
            t_kernel += t1 - t0
            t_diff += t2 - t1
            t_write += t3 - t2
            t_base += t4 - t3
            rows += len(ev)
            book += int((ev.kind == BOOK_LEVEL).sum())
            trades += int((ev.kind == TRADE).sum())
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    total = t_kernel + t_diff + t_write
    cores = "all cores" if args.all_cores else "one core"
    print(f"synthetic market, {args.days} day(s), seed {args.seed}, {cores} (kernel warm-up {warm:.1f} s)")
    print(f"  rows          {rows:>13,}  ({book / args.days:,.0f} book rows/day, {trades / args.days:,.0f} trades/day)")
    print(f"  kernel        {t_kernel:8.2f} s  {t_kernel / args.days:6.2f} s/day")
    print(f"  diff + merge  {t_diff:8.2f} s  {t_diff / args.days:6.2f} s/day")
    print(f"  write         {t_write:8.2f} s  {t_write / args.days:6.2f} s/day")
    print(f"  total         {total:8.2f} s  {rows / total:,.0f} rows/s; "
          f"30 days at this pace: {30 * total / args.days:.0f} s (target < 60 s)")
    print(f"  CPU time of the whole run {cpu:.2f} s over {wall:.2f} s wall (a busy machine inflates wall time)")
    print(f"  baseline: writing the same rows again {t_base:.2f} s -> generate / write-only = {total / t_base:.2f}x")


if __name__ == "__main__":
    main()
