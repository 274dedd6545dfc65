"""A stand-in bot for the supervisor's tests: a real process that follows docs/engine.md's contract
(bot.lock, heartbeat.json every ``--beat`` s, exit codes, SIGTERM = clean exit 0) and misbehaves on
demand: crash with a code, hang (stop beating, stay alive), for its first N starts only.

    python tests/fake_bot.py paper|live [--crash-after S --code N --times K] [--hang-after S --times K]
                             [any other bot arguments] --state-dir DIR

Every start appends ``pid mode argv`` to ``fake_bot.starts`` in the state folder, so a test can
count restarts and check that each ran in the same mode with the same arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from amm500.obs.heartbeat import Heartbeat, write_heartbeat
from amm500.store.state_dir import BOT_LOCK, HEARTBEAT, acquire_lock

STARTS = "fake_bot.starts"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["paper", "live"])
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument("--beat", type=float, default=0.2)
    p.add_argument("--crash-after", type=float)
    p.add_argument("--code", type=int, default=1)
    p.add_argument("--hang-after", type=float)
    p.add_argument("--times", type=int, default=1_000_000, help="misbehave only on the first N starts")
    args, _rest = p.parse_known_args()
    state = args.state_dir
    state.mkdir(parents=True, exist_ok=True)
    try:
        lock = acquire_lock(state / BOT_LOCK)
    except Exception as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    starts = state / STARTS
    n = len(starts.read_text().splitlines()) if starts.exists() else 0
    with open(starts, "a") as f:
        f.write(json.dumps({"pid": os.getpid(), "mode": args.mode, "argv": sys.argv[1:]}) + "\n")
    misbehave = n < args.times
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    t0 = time.time()
    while not stop:
        now = time.time()
        if misbehave and args.crash_after is not None and now - t0 >= args.crash_after:
            print(f"fake bot crashing with code {args.code}", file=sys.stderr)
            return args.code
        if misbehave and args.hang_after is not None and now - t0 >= args.hang_after:
            while True:  # alive, silent; SIGTERM still ends it (the supervisor's stop)
                time.sleep(0.05)
                if stop:
                    return 0
        write_heartbeat(state / HEARTBEAT, Heartbeat(os.getpid(), now, t0, args.mode, "local", "fake", "ACTIVE"))
        time.sleep(args.beat)
    os.close(lock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
