"""Cost of the local exchange and the recorder, with baselines measured in the same run.

1. ``/exchange`` in process: one order, a 20-order batch and a 20-entry batchModify through
   ``Exchange.action`` (signature recovery + nonce + matching), against signature recovery alone.
2. Over HTTP on loopback (aiohttp client, one connection): ``/info meta`` (baseline), ``/info l2Book``
   and a signed one-order ``/exchange`` request.
3. Recorder: l2Book messages per second through ``Recorder.on_message`` (JSON, level parsing, the
   streaming BookDiffer) against ``json.loads`` alone.

    .venv/bin/python bench/bench_exchange_sim.py          # quick
    .venv/bin/python bench/bench_exchange_sim.py --full   # 10x the iterations
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def _us(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_us": statistics.median(ordered) * 1e6, "p99_us": ordered[int(0.99 * (len(ordered) - 1))] * 1e6}


def bench_actions(n: int) -> dict[str, Any]:
    import eth_account

    from amm500.exchange_sim.auth import recover_l1_signer
    from exchange_sim_helpers import frozen_exchange, order_wire, set_book, signed

    user = eth_account.Account.from_key("0x" + "42" * 32)
    ex = frozen_exchange({user.address: 10_000_000.0})
    ex.accounts[user.address.lower()].volume = 1e9  # lifetime volume: the address request budget never binds
    set_book(ex, [(100_000.0 - i, 1.0) for i in range(20)], [(100_001.0 + i, 1.0) for i in range(20)])
    out: dict[str, Any] = {}

    envs = [signed(user, {"type": "noop"}) for _ in range(n)]
    t = []
    for env in envs:
        t0 = time.perf_counter()
        recover_l1_signer(env["action"], env["nonce"], env["signature"], None, None, False)
        t.append(time.perf_counter() - t0)
    out["recover_only"] = _us(t)

    def timed(make: Any) -> dict[str, float]:
        samples = []
        for i in range(n):
            env = make(i)
            t0 = time.perf_counter()
            reply = ex.action(env)
            samples.append(time.perf_counter() - t0)
            statuses = reply["response"]["data"]["statuses"]
            assert all("resting" in s for s in statuses), statuses
            # keep the account at 20-40 open orders, like a quoting bot (cancels are not timed)
            if len(ex.books[0].user_orders(user.address.lower())) > 20:
                ex.action(signed(user, {"type": "cancel", "cancels": [{"a": 0, "o": s["resting"]["oid"]}
                                                                      for s in statuses]}))
            ex.outbox.clear()
        return _us(samples)

    out["order_1"] = timed(lambda i: signed(user, {"type": "order", "orders": [
        order_wire(str(99_000 - i % 500), "0.001")], "grouping": "na"}))
    out["order_20"] = timed(lambda i: signed(user, {"type": "order", "orders": [
        order_wire(str(98_000 - j), "0.001") for j in range(20)], "grouping": "na"}))
    oids = [o.oid for o in ex.books[0].user_orders(user.address.lower())][:20]

    def modify(i: int) -> dict[str, Any]:
        nonlocal oids
        env = signed(user, {"type": "batchModify", "modifies": [
            {"oid": oid, "order": order_wire(str(97_000 - (i % 2) * 100 - j), "0.001")}
            for j, oid in enumerate(oids)]})
        return env

    samples = []
    for i in range(n):
        env = modify(i)
        t0 = time.perf_counter()
        reply = ex.action(env)
        samples.append(time.perf_counter() - t0)
        oids = [s["resting"]["oid"] for s in reply["response"]["data"]["statuses"]]
        ex.outbox.clear()
    out["batch_modify_20"] = _us(samples)
    base = out["recover_only"]["p50_us"]
    out["ratios_p50_vs_recover"] = {k: out[k]["p50_us"] / base for k in ("order_1", "order_20", "batch_modify_20")}
    return out


async def bench_http(n: int) -> dict[str, Any]:
    import aiohttp
    import eth_account

    from amm500.exchange_sim.server import run_exchange
    from exchange_sim_helpers import order_wire, signed

    user = eth_account.Account.from_key("0x" + "43" * 32)
    out: dict[str, Any] = {}
    async with run_exchange({user.address: 10_000_000.0}, seed=1) as sim, aiohttp.ClientSession() as session:
        async def one(path: str, body: dict[str, Any]) -> float:
            t0 = time.perf_counter()
            async with session.post(sim.base_url + path, json=body) as resp:
                await resp.read()
            return time.perf_counter() - t0

        for name, path, make in (
            ("info_meta", "/info", lambda i: {"type": "meta"}),
            ("info_l2Book", "/info", lambda i: {"type": "l2Book", "coin": "BTC"}),
            ("exchange_order_1", "/exchange", lambda i: signed(user, {"type": "order", "orders": [
                order_wire(str(90_000 - i % 500), "0.001")], "grouping": "na"})),
        ):
            out[name] = _us([await one(path, make(i)) for i in range(n)])
    base = out["info_meta"]["p50_us"]
    out["ratios_p50_vs_meta"] = {k: out[k]["p50_us"] / base for k in ("info_l2Book", "exchange_order_1")}
    return out


def bench_recorder(n: int) -> dict[str, Any]:
    from amm500.data.recorder import Recorder

    msgs = []
    for i in range(n):
        bids = [{"px": str(100_000 - j - i % 3), "sz": f"{1 + (i + j) % 7 / 10:.1f}", "n": 1} for j in range(20)]
        asks = [{"px": str(100_001 + j + i % 3), "sz": f"{1 + (i * j) % 5 / 10:.1f}", "n": 1} for j in range(20)]
        msgs.append(json.dumps({"channel": "l2Book", "data": {"coin": "BTC", "time": 1_700_000_000_000 + i * 500,
                                                              "levels": [bids, asks]}}))
    t0 = time.perf_counter()
    for m in msgs:
        json.loads(m)
    parse = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        rec = Recorder(Path(tmp))
        rec.connected(first=True)
        rec.on_message(msgs[0], 0)
        rec.flush()  # compile / load the BookDiffer kernels and the Parquet writer outside the timing
        t0 = time.perf_counter()
        for i, m in enumerate(msgs[1:]):
            rec.on_message(m, i)
        full = time.perf_counter() - t0
        t0 = time.perf_counter()
        rec.flush()
        flush = time.perf_counter() - t0
        assert rec.stats.snapshots == n and rec.stats.bad_messages == 0, rec.stats
    total = full + flush  # receive every message, then diff and write them all as one part file
    return {"json_loads_msgs_per_s": n / parse, "recorder_msgs_per_s": (n - 1) / total, "flush_s": flush,
            "ratio_recorder_cost_vs_json": (total / (n - 1)) / (parse / n)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="10x the iterations")
    args = ap.parse_args()
    k = 10 if args.full else 1
    result = {"actions": bench_actions(200 * k), "http": asyncio.run(bench_http(300 * k)),
              "recorder": bench_recorder(2000 * k)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
