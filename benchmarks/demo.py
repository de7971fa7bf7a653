"""Wall time of ``bea demo`` against ``bea demo --fast``, side by side.

Each run is a fresh process (``python -m bea.cli demo --out-dir TMP``, JAX
start-up included), alternating the two variants so that both see the same
machine load; the script prints every time and the medians and their ratio.
``--fast`` derives and writes the same files but sweeps orders 0–2 on three
step sizes instead of orders 0–3 on eight (``bea.cli._main._DEMO_FAST``).

Usage::

    python benchmarks/demo.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time


def once(fast: bool) -> float:
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "bea.cli", "demo", "--out-dir", out]
        if fast:
            cmd.append("--fast")
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, timeout=600)
        return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.repeats):
        for fast in (False, True):
            times[fast].append(once(fast))
    for fast in (False, True):
        shown = ", ".join(f"{t:.2f}" for t in times[fast])
        label = "bea demo --fast" if fast else "bea demo       "
        print(f"{label}  median {statistics.median(times[fast]):6.2f} s  ({shown})")
    ratio = statistics.median(times[False]) / statistics.median(times[True])
    print(f"default / fast: {ratio:.2f}x")


if __name__ == "__main__":
    main()
