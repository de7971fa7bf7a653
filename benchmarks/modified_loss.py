"""Benchmark: the modified loss and its split, against the modified equation.

Part 1. For gradient descent through h^p (p = 10, 12 by default), time

* ``bea.modified_equation(bea.gd(), p)`` (ω on every rooted tree with at most
  p + 1 nodes), and
* ``bea.modified_loss(bea.gd(), p)`` followed by ``split(k)`` for every
  k = 0 … p (the vertex average of ω over each free tree and the remainder),

each in a fresh Python process (no cache carries over), best of ``--repeat``
runs. The modified-loss child also times its two phases (the modified
equation, then the split) so that the cost of the split alone can be read
off. Target: the split costs at most twice the modified equation.

Part 2. The coordinate backend (``bea.coordinates._hseries.modified_field``) on a
generic loss ``L(x1, x2)`` (an undefined sympy Function) in d = 2: gradient
descent ``x − h∇L`` and RK4 (stages run on ``HPoint``), orders 1, 2, … until
a case exceeds ``--coord-timeout`` seconds (default 120), one fresh process
per case. Beside it, the tree engine's ``modified_equation(...).on`` on the
same loss, for scale.

Usage::

    python benchmarks/modified_loss.py [--orders 10,12] [--repeat 3]
                                       [--coord-max-order 8] [--coord-timeout 120]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _harness import run_child

# run from a source checkout without installing: the repository root holds bea/
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SPLIT_TARGET = 2.0


# ----------------------------------------------------------------------------
# The computations (run in the child process)
# ----------------------------------------------------------------------------


def _child_equation(p: int) -> dict:
    import bea

    t0 = time.perf_counter()
    bea.modified_equation(bea.gd(), p)
    return {"time": time.perf_counter() - t0}


def _child_loss(p: int) -> dict:
    import bea

    t0 = time.perf_counter()
    me = bea.modified_equation(bea.gd(), p)
    t1 = time.perf_counter()
    ml = bea.ModifiedLoss(me)  # = bea.modified_loss(bea.gd(), p), split in two phases
    for k in range(p + 1):
        ml.split(k)
    t2 = time.perf_counter()
    return {"time": t2 - t0, "equation": t1 - t0, "split": t2 - t1}


def _rk4_points(loss, variables, h, order):
    from bea import _coordinates as coords

    step = coords.gradient_step(loss, variables, h, order)
    p = coords.HPoint.identity(variables, h, order)
    k1 = step(p)
    k2 = step(p + k1 / 2)
    k3 = step(p + k2 / 2)
    k4 = step(p + k3)
    return p + (k1 + 2 * k2 + 2 * k3 + k4) / 6


def _child_coords(method: str, p: int) -> dict:
    import sympy

    import bea
    from bea import _coordinates as coords

    h = bea.h
    xs = list(sympy.symbols("x1 x2"))
    L = sympy.Function("L")(*xs)
    t0 = time.perf_counter()
    if method == "gd":
        phi = sympy.Matrix(xs) - h * sympy.Matrix([L.diff(v) for v in xs])
    else:
        phi = _rk4_points(L, xs, h, p + 1)
    coords.modified_field(phi, xs, h, p)
    t1 = time.perf_counter()
    bea.modified_equation(getattr(bea, method)(), p).on(L, xs)
    t2 = time.perf_counter()
    return {"time": t1 - t0, "tree": t2 - t1}


def _child(kind: str, method: str, p: int) -> None:
    if kind == "equation":
        out = _child_equation(p)
    elif kind == "loss":
        out = _child_loss(p)
    elif kind == "coords":
        out = _child_coords(method, p)
    else:
        raise ValueError(f"unknown measurement {kind!r}")
    print(json.dumps(out))


# ----------------------------------------------------------------------------
# The driver
# ----------------------------------------------------------------------------


def measure(kind: str, method: str, p: int, timeout: float) -> dict | None:
    """Run one measurement in a fresh process; None on time-out."""
    return run_child(__file__, [kind, method, str(p)], timeout)


def best(kind: str, method: str, p: int, repeat: int, timeout: float) -> dict | None:
    runs = [measure(kind, method, p, timeout) for _ in range(repeat)]
    runs = [r for r in runs if r is not None]
    return min(runs, key=lambda r: r["time"]) if runs else None


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--orders", default="10,12", help="GD orders p for part 1 (default 10,12)")
    ap.add_argument("--repeat", type=int, default=3, help="fresh processes per case (best of)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per part-1 run")
    ap.add_argument("--coord-max-order", type=int, default=8, help="largest order in part 2")
    ap.add_argument("--coord-timeout", type=float, default=120.0, help="seconds per part-2 case")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "METHOD", "P"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        kind, method, p = args.child
        _child(kind, method, int(p))
        return

    import bea

    orders = [int(s) for s in args.orders.split(",") if s.strip()]
    print("# Part 1: GD, modified equation vs modified loss + split(k) for all k")
    print(f"# fresh process per run, best of {args.repeat}; target: split ≤ {SPLIT_TARGET:g}× ME")
    header = (
        f"{'p':>3} {'#trees':>7} {'#free':>6} {'ME s':>8} {'ML+split s':>11} {'ML/ME':>6} "
        f"{'split s':>8} {'split/ME':>8}  target"
    )
    print(header)
    print("-" * len(header))
    for p in orders:
        ntrees = sum(bea.count_trees(k) for k in range(1, p + 2))
        nfree = sum(bea.count_free_trees(k) for k in range(1, p + 2))
        me = best("equation", "gd", p, args.repeat, args.timeout)
        ml = best("loss", "gd", p, args.repeat, args.timeout)
        if me is None or ml is None:
            print(f"{p:>3} {ntrees:>7} {nfree:>6}  timed out after {args.timeout:g} s")
            continue
        # the split alone, relative to the modified equation measured in the same child
        split_ratio = ml["split"] / ml["equation"]
        ok = "ok" if split_ratio <= SPLIT_TARGET else "MISSED"
        print(
            f"{p:>3} {ntrees:>7} {nfree:>6} {me['time']:8.3f} {ml['time']:11.3f} "
            f"{ml['time'] / me['time']:6.2f} {ml['split']:8.3f} {split_ratio:8.2f}  "
            f"split ≤ {SPLIT_TARGET:g}× ME {ok}",
            flush=True,
        )

    print()
    print("# Part 2: coordinate backend, generic L(x1, x2), fresh process per case")
    print(f"# per-case timeout {args.coord_timeout:g} s; 'tree s' = modified_equation(...).on")
    header = f"{'method':<6} {'order':>5} {'coords s':>9} {'tree s':>8}"
    print(header)
    print("-" * len(header))
    for method in ("gd", "rk4"):
        for p in range(1, args.coord_max_order + 1):
            r = measure("coords", method, p, args.coord_timeout)
            if r is None:
                print(f"{method:<6} {p:>5} {'>' + str(int(args.coord_timeout)):>9} {'—':>8}")
                print(f"# {method}: coordinate backend stops being usable at order {p}")
                break
            print(f"{method:<6} {p:>5} {r['time']:9.2f} {r['tree']:8.3f}", flush=True)


if __name__ == "__main__":
    main()
