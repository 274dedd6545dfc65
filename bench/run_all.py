"""Run every benchmark in its quick mode, one after another (``make bench``).

Each prints its own ratios against a peer or a baseline measured in the same run; the full-size
runs are each script's ``--full`` (or ``--days 30``) flag, documented in its docstring.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    failed = []
    for script in sorted(Path(__file__).parent.glob("bench_*.py")):
        print(f"\n=== {script.name} ===", flush=True)
        if subprocess.run([sys.executable, str(script)]).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
