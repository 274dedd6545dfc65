"""The reliability soak (issue 20, docs/reliability.md): the long versions of tests/reliability, with figures.

    PYTHONPATH=src python bench/soak.py --out runs/soak            # everything: about 35 minutes on 2 cores
    PYTHONPATH=src python bench/soak.py --only faults --minutes 1  # one part, shorter

Parts, in order:

* ``faults``: the real engine quoting on the local exchange (random walk, 1 s blocks of 20 ms) under each
  family of connection faults for ``--minutes`` each (default 2.5: 12.5 minutes of quoting in all), counting
  orphans, duplicates, lost and duplicated fills, position drift, limit breaches, stale quotes, nonce rejects
  and the time to resume (tests/reliability/harness.py);
* ``crashes``: ``amm500 live`` SIGKILLed at random moments ``--kills`` times in a row (default 50), every
  request 150 ms late, then one clean run; the journal against the exchange's fills;
* ``bot-dead``: the supervisor alone, then the dead-man's switch alone, pulling a SIGKILLed bot's quotes;
* ``load``: a 10x replay of the real Hyperliquid capture for ``--load-minutes`` (default 10).

Prints one line per scenario and writes every figure to ``OUT/soak.json``. Every process it starts is
stopped by its own pid.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

def _faults(out: Path, minutes: float, results: dict[str, Any], pick: str | None) -> None:
    from reliability.harness import FAMILIES, config, run_scenario

    for i, (name, (spec, overrides)) in enumerate(FAMILIES.items()):
        if pick and pick not in name:
            continue
        figs = asyncio.run(run_scenario(name, spec, minutes * 60, out / f"faults{i}", cfg=config(**overrides)))
        row = asdict(figs) | {"resume_p50": figs.resume_p50, "resume_max": figs.resume_max, "faults": spec,
                              "bad": figs.bad()}
        results.setdefault("faults", []).append(row)
        print(figs.line(), flush=True)


def _crashes(out: Path, kills: int, results: dict[str, Any]) -> None:
    from amm500.exchange_sim.server import exchange_thread
    from reliability.crashloop import crash_loop
    from reliability.harness import ADDR

    with exchange_thread({ADDR: 1000.0}, faults="latency_ms=150", block_s=0.02, book_push_s=0.1) as sim:
        figs = crash_loop(sim, out / "crash-bot", kills, log=out / "crash-bot.out")
    results["crashes"] = asdict(figs)
    print(figs.line(), flush=True)


def _bot_dead(out: Path, results: dict[str, Any]) -> None:
    from reliability import test_bot_dead as t

    for name, fn in (("supervisor", t.test_supervisor_pulls_a_sigkilled_bots_quotes_and_restarts_it),
                     ("dead-man's switch", t.test_dead_mans_switch_alone_pulls_a_sigkilled_bots_quotes)):
        folder = out / f"bot-dead-{name[:3]}"
        folder.mkdir(parents=True, exist_ok=True)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            fn(folder)
        line = buf.getvalue().strip()
        results.setdefault("bot_dead", []).append({"guard": name, "line": line})
        print(line, flush=True)


def _load(out: Path, minutes: float, results: dict[str, Any]) -> None:
    from reliability.load import run_load

    (out / "load").mkdir(parents=True, exist_ok=True)
    figs = run_load(out / "load", minutes * 60)
    results["load"] = asdict(figs)
    print(figs.line(), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/soak"))
    ap.add_argument("--only", choices=["faults", "crashes", "bot-dead", "load"], action="append")
    ap.add_argument("--minutes", type=float, default=2.5, help="quoting per fault family")
    ap.add_argument("--family", help="only the fault families whose name holds this text")
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--load-minutes", type=float, default=10.0)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    parts = a.only or ["faults", "crashes", "bot-dead", "load"]
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "parts": parts}
    t0 = time.monotonic()
    for part in parts:
        if part == "faults":
            _faults(a.out, a.minutes, results, a.family)
        elif part == "crashes":
            _crashes(a.out, a.kills, results)
        elif part == "bot-dead":
            _bot_dead(a.out, results)
        else:
            _load(a.out, a.load_minutes, results)
        (a.out / "soak.json").write_text(json.dumps(results, indent=1, default=str))
    results["wall_s"] = time.monotonic() - t0
    (a.out / "soak.json").write_text(json.dumps(results, indent=1, default=str))
    bad = [r["scenario"] for r in results.get("faults", []) if r["bad"]]
    crash = results.get("crashes", {})
    if crash and (crash["lost_fills"] or crash["duplicated_fills"] or crash["not_adopted"]
                  or crash["missing_at_restart"] or crash["resting_at_end"]):
        bad.append("crashes")
    print(f"soak done in {results['wall_s'] / 60:.1f} min; scenarios with a non-zero count: {bad or 'none'}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
