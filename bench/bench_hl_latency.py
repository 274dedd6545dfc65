"""Order-path latency of AMM-500's Hyperliquid client, against the local exchange.

1. **20-order requote** (target p99 < 0.5 ms): a desired 10+10 ladder that moves every level, from
   the strategy arrays to the signed ``/exchange`` request bytes: round, diff (jitted kernel), one
   20-entry ``batchModify``, sign, serialize. Signers compared in the same run: AMM-500's signer
   (SDK wire format, the SDK's connection-hash preimage, cached EIP-712 domain, one parsed coincurve
   key, C keccak), the SDK's own ``sign_l1_action``, both with coincurve, and both with eth-keys'
   pure-Python curve (measured in a subprocess with ``ECC_BACKEND_CLASS=eth_keys.backends.NativeECCBackend``).
2. **Tick-to-order inside the process** (target p99 < 1 ms): the local exchange (own process)
   pushes l2Book snapshots every 20 ms over a real WebSocket; per snapshot the client validates it,
   the reference strategy kernel quotes 10 levels a side and the order manager plans. Ticks that
   produce orders alternate between two clocks, both starting when the raw frame enters the client:
   (a) timed in the handler, stage by stage, to the signed request bytes (then dropped), plus on
   every other one the same work repeated at once (caches hot: how much of a tick is the machine);
   (b) sent as a live engine sends them, through ``OrderManager.execute()``, timed by the production
   histogram ``amm500_tick_to_order_seconds`` to the envelope handed to the socket. Orders are really
   sent and answered, so the live state evolves. CPU time is the thread's own (what the code costs
   when the 2-CPU machine is shared); wall time includes being descheduled.

    .venv/bin/python bench/bench_hl_latency.py           # quick: 1500 requotes, 6 s of ticks
    .venv/bin/python bench/bench_hl_latency.py --full    # 10000 requotes, 30 s of ticks
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np

from amm500.config import Config

KEY = "0x" + "5a" * 32
#: the parts of a tick that produced orders, in order (CPU time of each)
STAGES = ("frame -> book (json, validate)", "strategy kernel", "plan", "build actions", "sign", "serialize")
BASE_MID = 100_000.0


def _ladder(mid: float, offset_bps: float, n: int = 10, size: float = 0.001) -> tuple[np.ndarray, np.ndarray]:
    from amm500.core import api

    quotes, ctrl = api.new_quotes(), api.new_ctrl()
    for i in range(n):
        d = (offset_bps + 2.0 * i) * 1e-4 * mid
        quotes[api.Q_BIDS, i] = (mid - d, size)
        quotes[api.Q_ASKS, i] = (mid + d, size)
    ctrl[api.C_N_BIDS] = ctrl[api.C_N_ASKS] = n
    return quotes, ctrl


def _pct(samples_ns: list[int], cpu_ns: list[int] | None = None) -> dict[str, float]:
    """Wall-clock p50/p99 in ms, and the same for the thread's CPU time (what the code itself costs
    when the machine is shared and the scheduler preempts us in the middle of a measurement)."""
    a = np.asarray(samples_ns, dtype=float) / 1e6
    out = {"n": float(a.size), "p50": float(np.quantile(a, 0.5)), "p99": float(np.quantile(a, 0.99))}
    if cpu_ns:
        c = np.asarray(cpu_ns, dtype=float) / 1e6
        out |= {"cpu_p50": float(np.quantile(c, 0.5)), "cpu_p99": float(np.quantile(c, 0.99))}
    return out


def requote_bench(iters: int) -> dict[str, dict[str, float]]:
    """20-order requote timings per signer, on an OrderManager holding 20 live orders on the local exchange."""
    from eth_account import Account

    from amm500.exchange_sim.exchange import Exchange, SimConfig
    from amm500.live.order_manager import OrderManager
    from amm500.venues.hyperliquid import messages as m
    from amm500.venues.hyperliquid.execution import ActionVenue, exchange_action
    from amm500.venues.hyperliquid.rest import dumps
    from amm500.venues.hyperliquid.signing import Signer

    ex = Exchange(SimConfig(accounts={Account.from_key(KEY).address: 1_000_000.0}))

    class Venue(ActionVenue):  # the exchange's own state machine; the requote timing below never touches it
        def __init__(self) -> None:
            self.signer = Signer(KEY, is_mainnet=False)
            self.asset = m.parse_meta(ex.info({"type": "meta"}))["BTC"]

        async def act(self, action: dict[str, Any], n_items: int = 1) -> list[m.OrderStatus]:
            return m.parse_action_response(ex.action(self.signer.envelope(action)), n_items)

    venue = Venue()
    om = OrderManager.from_config(venue, Config(), max_position=10.0, tol_bps=0.0)  # type: ignore[arg-type]
    asyncio.run(om.requote(*_ladder(BASE_MID, 5.0)))
    assert len(om.live_orders()) == 20
    ladders = [_ladder(BASE_MID, 6.0), _ladder(BASE_MID, 6.5)]
    out = {}
    for name, signer in (("amm500", Signer(KEY, is_mainnet=False)), ("sdk", Signer(KEY, is_mainnet=False, fast=False))):
        samples, cpu = [], []
        for i in range(iters + 50):
            q, c = ladders[i % 2]
            c0 = time.thread_time_ns()
            t0 = time.perf_counter_ns()
            plan = om.plan(q, c)
            bodies = [dumps(signer.envelope(exchange_action(r.kind, r.items, 0))) for r in om.requests(plan)]
            t1 = time.perf_counter_ns()
            c1 = time.thread_time_ns()
            if i >= 50:  # warm-up: numba dispatch, caches
                samples.append(t1 - t0)
                cpu.append(c1 - c0)
        assert len(plan.modifies) == 20 and len(bodies) == 1, (plan, len(bodies))
        out[name] = _pct(samples, cpu)
    out["_backend"] = {"name": type(__import__("eth_keys.backends", fromlist=["x"]).get_backend()).__name__}  # type: ignore[dict-item]
    return out


def _serve_exchange(addr: str, ports: Any, stop: Any, cpu: int | None = None) -> None:
    """The local exchange in its own process (no GIL shared with the client being timed)."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    from amm500.exchange_sim.market import RandomWalkFeed
    from amm500.exchange_sim.server import run_exchange

    async def serve() -> None:
        feed = RandomWalkFeed(mid=BASE_MID, seed=3, snapshot_s=0.02)  # a fresh book every 20 ms
        async with run_exchange({addr: 1_000_000.0}, feed=feed, block_s=0.01, book_push_s=0.02) as sim:
            ports.put((sim.base_url, sim.ws_url))
            while not stop.is_set():
                await asyncio.sleep(0.1)

    asyncio.run(serve())


async def tick_bench(seconds: float, pin: tuple[int, int] | None = None) -> dict[str, dict[str, float]]:
    """``pin``: (client CPU, exchange CPU), so the two processes never take turns on one core."""
    if pin:
        os.sched_setaffinity(0, {pin[0]})
    import multiprocessing as mp

    import orjson
    from eth_account import Account

    from amm500.config import Config, load_config
    from amm500.core import api
    from amm500.core.params import STRATEGY_REFERENCE, build_params
    from amm500.live.gc_pacer import GcPacer
    from amm500.live.order_manager import OrderManager
    from amm500.live.quote_loop import warm_up
    from amm500.strategy import kernel
    from amm500.venues.hyperliquid import messages as m
    from amm500.venues.hyperliquid.client import Handlers, HyperliquidClient
    from amm500.venues.hyperliquid.execution import exchange_action
    from amm500.venues.hyperliquid.rest import dumps

    cfg = load_config(overrides={"trading": {"order_levels": 10, "order_size_fraction": 0.02}})
    params = build_params(cfg, STRATEGY_REFERENCE, reference_spread_bps=4.0)
    state, view, quotes, ctrl = kernel.new_state(), api.new_view(), api.new_quotes(), api.new_ctrl()
    addr = Account.from_key(KEY).address
    from amm500.venues.hyperliquid.ws import WsClient

    all_ns: list[int] = []
    order_ns: list[int] = []
    all_cpu: list[int] = []
    order_cpu: list[int] = []
    rx_cpu = [0]
    stages: list[list[int]] = []  # per tick with orders: CPU ns of each stage in STAGES
    shapes: collections.Counter[str] = collections.Counter()  # the requests each order tick produced
    handle = WsClient._handle

    last_raw: list[str | bytes] = [b""]
    warm_cpu: list[int] = []  # the same tick's work run again at once: what it costs with warm caches

    def timed_handle(self: WsClient, raw: str | bytes) -> None:  # bench-only: CPU clock at frame entry
        rx_cpu[0] = time.thread_time_ns()
        last_raw[0] = raw
        handle(self, raw)

    WsClient._handle = timed_handle  # type: ignore[method-assign]
    prod_cpu: list[int] = []  # production-path ticks: the thread's CPU time from the frame to the socket
    prod_rx_cpu = [0]
    post_envelope = HyperliquidClient.post_envelope

    async def timed_post(self: HyperliquidClient, envelope: dict[str, Any], n_items: int) -> Any:
        if self._tick_perf_ns and prod_rx_cpu[0]:  # bench-only: the marked tick reaches the transport
            prod_cpu.append(time.thread_time_ns() - prod_rx_cpu[0])
            prod_rx_cpu[0] = 0
        return await post_envelope(self, envelope, n_items)

    HyperliquidClient.post_envelope = timed_post  # type: ignore[method-assign]
    ctx = mp.get_context("spawn")
    ports, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve_exchange, args=(addr, ports, stop, pin[1] if pin else None), daemon=True)
    server.start()
    try:
        base_url, ws_url = ports.get(timeout=60)
        handlers = Handlers()
        client = HyperliquidClient(base_url, ws_url, "BTC", private_key=KEY, handlers=handlers)
        await client.start()
        assert client.asset is not None
        asset = client.asset.asset
        om = OrderManager.from_config(client, Config(), max_position=1.0, tol_bps=0.5)
        om.attach(handlers)
        await om.reconcile()
        # as the QuoteLoop does: no compile inside the first tick (a cold cache stalled it)
        warm_up(client, params, Config())
        busy = False
        production_turn = [False]

        pacer = GcPacer()  # as the live QuoteLoop runs: cyclic GC at idle points, never inside a tick

        async def send(plan: Any) -> None:
            nonlocal busy
            try:
                await om.execute(plan)
            finally:
                busy = False
                pacer.idle()

        def on_book(snap: m.L2Book, rx_ns: int) -> None:
            """Ticks that produce orders alternate: timed here, stage by stage, up to the request bytes
            (which are dropped; execute() sends its own), or sent straight through execute() like a
            live engine, timed by the production histogram from the frame to the envelope at the socket."""
            nonlocal busy
            t0 = client.ws.rx_perf_ns
            if t0 == 0 or busy:
                return
            c_in = time.thread_time_ns()
            book = snap.book
            view[api.V_BEST_BID], view[api.V_BEST_ASK] = book[api.B_BID_PX, 0], book[api.B_ASK_PX, 0]
            view[api.V_MID] = (view[api.V_BEST_BID] + view[api.V_BEST_ASK]) / 2
            view[api.V_POSITION] = om.position
            view[api.V_EQUITY] = view[api.V_START_EQUITY] = 1_000.0
            kernel.on_timer(time.time_ns(), api.TIMER_QUOTE, view, book, om._rows, params, state, quotes, ctrl)
            c_strat = time.thread_time_ns()
            plan = om.plan(quotes, ctrl)
            c_plan = time.thread_time_ns()
            if production_turn[0] and not plan.empty:
                production_turn[0] = False
                client.mark_tick(t0)
                prod_rx_cpu[0] = rx_cpu[0]
                busy = True
                asyncio.get_running_loop().create_task(send(plan))
                return
            reqs = om.requests(plan)
            actions = [exchange_action(r.kind, r.items, asset) for r in reqs]
            c_req = time.thread_time_ns()
            envs = [client.sign(a) for a in actions]
            c_sign = time.thread_time_ns()
            bodies = [dumps(e) for e in envs]
            dt = time.perf_counter_ns() - t0
            c_end = time.thread_time_ns()
            dc = c_end - rx_cpu[0]
            stamps = (rx_cpu[0], c_in, c_strat, c_plan, c_req, c_sign, c_end)
            all_ns.append(dt)
            all_cpu.append(dc)
            if bodies:
                order_ns.append(dt)
                order_cpu.append(dc)
                shapes[" + ".join(f"{r.kind}({len(r.cloids)})" if r.kind != "modify" else "modify" for r in reqs)] += 1
                stages.append([b - a for a, b in itertools.pairwise(stamps)])
                if len(order_ns) % 2 == 0:  # every other one: the same work again, caches now hot (nothing is sent)
                    c0 = time.thread_time_ns()
                    m.parse_l2book(orjson.loads(last_raw[0])["data"])
                    kernel.on_timer(time.time_ns(), api.TIMER_QUOTE, view, book, om._rows, params, state, quotes, ctrl)
                    again = om.requests(om.plan(quotes, ctrl))
                    _ = [dumps(client.sign(exchange_action(r.kind, r.items, asset))) for r in again]
                    warm_cpu.append(time.thread_time_ns() - c0)
                production_turn[0] = True
                busy = True
                asyncio.get_running_loop().create_task(send(plan))

        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        handlers.on_book = on_book
        with pacer:
            while loop.time() < end:
                await asyncio.sleep(0.1)
                pacer.idle()  # ticks without orders leave garbage too
            handlers.on_book = None
        production = client.latency.summary().get("tick_to_order", {})
        state = (f"a send in flight: {busy}, WebSocket posts awaiting an answer: {len(client.ws._posts)}, "
                 f"socket reconnects: {client.ws.reconnects}, IP weight used: {client.ip_budget.used()}")  # fmt: skip
        await om.cancel_all()
        await client.close()
    finally:
        stop.set()
        server.join(timeout=10)
    # the first few ticks include numba dispatch warm-up
    WsClient._handle = handle  # type: ignore[method-assign]
    HyperliquidClient.post_envelope = post_envelope  # type: ignore[method-assign]
    if len(order_ns) < 12:
        raise SystemExit(f"only {len(order_ns)} ticks produced orders in {seconds:g} s ({state}): the local "
                         "exchange stalled or answered slowly; run again")  # fmt: skip
    return {
        "all_ticks": _pct(all_ns[5:], all_cpu[5:]),
        "ticks_with_orders": _pct(order_ns[2:], order_cpu[2:]),
        "_production": {k: v * 1e3 if k != "count" else v for k, v in production.items()},
        "_production_cpu": _pct(prod_cpu[2:]),
        "_warm": _pct(warm_cpu[1:]),
        "_shapes": dict(shapes.most_common()),  # type: ignore[dict-item]
        "_stages": {name: _pct(list(col)) for name, col in zip(STAGES, zip(*stages[2:], strict=True), strict=True)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="10000 requotes and 30 s of ticks")
    ap.add_argument("--requote-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--pin", action="store_true",
                    help="tick bench: the client on the last CPU, the local exchange on the one before it")
    args = ap.parse_args()
    iters = 10_000 if args.full else 1_500
    if args.requote_only:  # the pure-Python-curve subprocess
        print(json.dumps(requote_bench(max(200, iters // 5))))
        return
    res = requote_bench(iters)
    env = dict(os.environ, ECC_BACKEND_CLASS="eth_keys.backends.NativeECCBackend")
    proc = subprocess.run([sys.executable, __file__, "--requote-only"] + (["--full"] if args.full else []),
                          env=env, capture_output=True, text=True, check=True)  # fmt: skip
    native = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (p99 is scheduling-bound when loaded)")
    print(f"20-order requote, desired ladder -> signed request bytes (ms), {iters} iterations")
    print(f"  {'signer':36s} {'p50':>7s} {'p99':>7s} {'cpu p50':>8s} {'cpu p99':>8s}  target p99 < 0.5 ms")
    rows = [
        ("AMM-500 signer, coincurve", res["amm500"]),
        ("SDK sign_l1_action, coincurve", res["sdk"]),
        (f"AMM-500 signer, {native['_backend']['name']}", native["amm500"]),
        (f"SDK sign_l1_action, {native['_backend']['name']}", native["sdk"]),
    ]
    for name, r in rows:
        verdict = f"wall {'OK' if r['p99'] < 0.5 else 'MISS'}, cpu {'OK' if r['cpu_p99'] < 0.5 else 'MISS'}"
        print(f"  {name:36s} {r['p50']:7.3f} {r['p99']:7.3f} {r['cpu_p50']:8.3f} {r['cpu_p99']:8.3f}  {verdict}")
    base = native["sdk"]["p50"]
    print(f"  speed-up of AMM-500 signer over SDK pure-Python baseline (p50): {base / res['amm500']['p50']:.1f}x")
    ratio = res["sdk"]["p50"] / res["amm500"]["p50"]
    print(f"  speed-up of AMM-500 signer over SDK with coincurve (p50):       {ratio:.2f}x")
    seconds = 30.0 if args.full else 6.0
    n_cpu = os.cpu_count() or 1
    pin = (n_cpu - 1, n_cpu - 2) if args.pin and n_cpu >= 2 else None
    ticks = asyncio.run(tick_bench(seconds, pin))
    where = f", client on CPU {pin[0]}, exchange on CPU {pin[1]}" if pin else ""
    print(f"tick-to-order inside the process (ms), {seconds:g} s of l2Book pushes every 20 ms from the local"
          f" exchange{where}")
    prod = ticks.pop("_production")
    prod_cpu = ticks.pop("_production_cpu")
    stages = ticks.pop("_stages")
    warm = ticks.pop("_warm")
    shapes = ticks.pop("_shapes")
    for name, r in ticks.items():
        print(f"  {name:18s} n={int(r['n']):5d}  wall p50 {r['p50']:.3f} p99 {r['p99']:.3f}  "
              f"cpu p50 {r['cpu_p50']:.3f} p99 {r['cpu_p99']:.3f}  target p99 < 1 ms: "
              f"wall {'OK' if r['p99'] < 1.0 else 'MISS'}, cpu {'OK' if r['cpu_p99'] < 1.0 else 'MISS'}")  # fmt: skip
    cold = ticks["ticks_with_orders"]
    print(f"  the same tick run again at once (caches warm): cpu p50 {warm['p50']:.3f} p99 {warm['p99']:.3f}; "
          f"a real tick costs {cold['cpu_p50'] / warm['p50']:.1f}x that (p50) on this machine")  # fmt: skip
    print("  requests (signatures) per order tick, handler half: "
          + ", ".join(f"{k}: {v}" for k, v in shapes.items()))  # fmt: skip
    print("  where a tick with orders spends its CPU (ms; p50 / p99 of each part on its own):")
    for name, r in stages.items():
        print(f"    {name:32s} {r['p50']:.3f} / {r['p99']:.3f}")
    if prod:
        print("  production path, the other half of the order ticks (histogram amm500_tick_to_order_seconds): frame ->")
        print("    validate, strategy, plan -> task switch -> execute() (refit, track, build, sign) -> envelope at the")
        verdict = f"wall {'OK' if prod['p99'] < 1.0 else 'MISS'}, cpu {'OK' if prod_cpu['p99'] < 1.0 else 'MISS'}"
        print(f"    socket, plain cancels awaited first: n={int(prod['count'])}  wall p50 {prod['p50']:.3f} "
              f"p99 {prod['p99']:.3f}  cpu p50 {prod_cpu['p50']:.3f} p99 {prod_cpu['p99']:.3f}  target p99 < 1 ms: "
              f"{verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
