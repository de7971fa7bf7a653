"""Benchmark: time to design s-stage explicit gradient schemes, and solutions found.

For s = 2, 3, 4 stages (``bea.families.explicit(s)``: s(s+1)/2 unknowns) and
targets through orders p = 1, 2, 3, time ``bea.design(family, order=p,
target=T)`` in a fresh Python process (no cache carries over), median of
``--repeat`` runs (one run when a case takes longer than 5 s). Two targets:

* ``flow``: plain gradient flow, L̃ = L through h^p (the classical order
  conditions of order p + 1 restricted to gradient fields: for explicit RK
  they coincide with the full conditions, one per rooted tree);
* ``reg``: L̃ = L + 3/7 h‖∇L‖² through h^p (h² and h³ terms 0).

Each row prints: time (s), whether a solution exists (Gröbner basis ≠ {1}),
the number of solution components found, and the number of unknowns left
free in the largest one. A case over ``--timeout`` seconds prints "timeout".
CPU only (the design engine is exact symbolic algebra; no GPU is used).

Usage::

    python benchmarks/design.py [--stages 2,3,4] [--orders 1,2,3] [--repeat 3]
                                [--timeout 300] [--targets flow,reg]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from _harness import run_child

# run from a source checkout without installing: the repository root holds bea/
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGETS = {"flow": {"[]": 1}, "reg": {"[]": 1, "[[]]": "3/7"}}


def _child(s: int, p: int, target: str) -> dict:
    import bea

    fam = bea.families.explicit(s)
    t0 = time.perf_counter()
    d = bea.design(fam, order=p, target=TARGETS[target])
    elapsed = time.perf_counter() - t0
    return {
        "time": elapsed,
        "exists": d.exists,
        "solutions": len(d.solutions),
        "free": max((len(f) for f in d.free), default=0),
        "unsolved": len(d.unsolved),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", default="2,3,4")
    ap.add_argument("--orders", default="1,2,3")
    ap.add_argument("--targets", default="flow,reg")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        s, p, target = args.rest
        print(json.dumps(_child(int(s), int(p), target)))
        return
    print(f"{'target':7s} {'s':>2s} {'p':>2s} {'unknowns':>8s} {'time (s)':>10s} "
          f"{'exists':>6s} {'solutions':>9s} {'free':>4s}")  # fmt: skip
    for target in args.targets.split(","):
        for s in (int(v) for v in args.stages.split(",")):
            for p in (int(v) for v in args.orders.split(",")):
                times, out = [], None
                for _ in range(args.repeat):
                    out = run_child(__file__, [str(s), str(p), target], args.timeout)
                    if out is None:
                        break
                    times.append(out["time"])
                    if out["time"] > 5:
                        break
                n = s * (s + 1) // 2
                if out is None:
                    print(f"{target:7s} {s:2d} {p:2d} {n:8d} {'timeout':>10s}", flush=True)
                    continue
                print(
                    f"{target:7s} {s:2d} {p:2d} {n:8d} {statistics.median(times):10.3f} "
                    f"{out['exists']!s:>6s} {out['solutions']:9d} {out['free']:4d}"
                    + (f"  ({out['unsolved']} unsolved)" if out["unsolved"] else ""),
                    flush=True,
                )


if __name__ == "__main__":
    main()
