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

Part 0. Heavy ball and Nesterov with a symbolic β: ``bea.modified_loss(opt, p)``
(p = 9, 12 by default; targets ≤ 1 s at 9, ≤ 30 s at 12), CPU time
(``time.process_time``, which the load of a shared machine affects less than
wall time) in a fresh process with the disk cache off (``BEA_CACHE=0``),
median of ``--repeat`` runs. With ``--before PATH`` (a source checkout of an
earlier version, e.g. ``git worktree add /tmp/bea-before main``) the same
cases are also run importing bea from there, interleaved with the current
ones, and printed side by side.

Part 2. The coordinate backend (``bea.coordinates._hseries.modified_field``) on a
generic loss ``L(x1, x2)`` (an undefined sympy Function) in d = 2: gradient
descent ``x − h∇L`` and RK4 (stages run on ``HPoint``), orders 1, 2, … until
a case exceeds ``--coord-timeout`` seconds (default 120), one fresh process
per case. Beside it, the tree engine's ``modified_equation(...).on`` on the
same loss, for scale.

Usage::

    python benchmarks/modified_loss.py [--orders 10,12] [--repeat 3]
                                       [--momentum-orders 9,12] [--before PATH]
                                       [--coord-max-order 8] [--coord-timeout 120]
                                       [--parts 0,1,2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from _harness import run_child

# run from a source checkout without installing: the repository root holds bea/
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
SPLIT_TARGET = 2.0
#: (optimizer, order) → target CPU seconds for modified_loss with a symbolic β (issue 16)
MOMENTUM_TARGETS = {
    ("heavy_ball", 9): 1.0,
    ("nesterov", 9): 1.0,
    ("heavy_ball", 12): 30.0,
    ("nesterov", 12): 30.0,
}


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
    from bea.coordinates import _hseries as coords

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
    from bea.coordinates import _hseries as coords

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


def _child_momentum(root: str, name: str, p: int) -> dict:
    sys.path.insert(0, root)
    import sympy as sp

    import bea

    assert Path(bea.__file__).resolve().is_relative_to(Path(root).resolve()), bea.__file__
    opt = getattr(bea.optimizers, name)(beta=sp.Symbol("beta"))
    t0 = time.process_time()
    bea.modified_loss(opt, p)
    return {"time": time.process_time() - t0}


def _child(kind: str, method: str, p: int) -> None:
    if kind.startswith("momentum="):
        print(json.dumps(_child_momentum(kind.split("=", 1)[1], method, p)))
        return
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


def momentum_cpu(root: Path, name: str, p: int, timeout: float) -> float | None:
    """CPU seconds of modified_loss(name(β), p), bea imported from ``root``; None on time-out."""
    out = run_child(__file__, [f"momentum={root}", name, str(p)], timeout, {"BEA_CACHE": "0"})
    return None if out is None else out["time"]


def momentum_table(args) -> None:
    engines = [("after", ROOT)]
    if args.before is not None:
        if not (args.before / "bea" / "__init__.py").is_file():
            raise SystemExit(
                f"--before: expected a source checkout holding bea/, got {args.before}"
            )
        engines.insert(0, ("before", args.before.resolve()))
    print("# Part 0: modified_loss with a symbolic β, CPU seconds (time.process_time)")
    print(
        f"# fresh process per run, BEA_CACHE=0, median of {args.repeat}, interleaved; "
        f"load average {os.getloadavg()[0]:.1f} at the start"
    )
    for label, root in engines:
        print(f"# {label}: {root}")
    header = f"{'optimizer':<11} {'p':>3} " + " ".join(f"{lb + ' s':>10}" for lb, _ in engines)
    header += f" {'ratio':>7}  target"
    print(header)
    print("-" * len(header))
    orders = [int(s) for s in args.momentum_orders.split(",") if s.strip()]
    for name in ("heavy_ball", "nesterov"):
        for p in orders:
            runs: dict[str, list[float | None]] = {lb: [] for lb, _ in engines}
            for _ in range(args.repeat):
                for label, root in engines:
                    runs[label].append(momentum_cpu(root, name, p, args.timeout))
            med = {
                lb: None if None in r else statistics.median(r)  # type: ignore[type-var]
                for lb, r in runs.items()
            }
            cells = [
                f"{med[lb]:10.3f}" if med[lb] is not None else f"{'>' + str(int(args.timeout)):>10}"
                for lb, _ in engines
            ]
            after, before = med["after"], med.get("before")
            ratio = f"{before / after:6.1f}×" if before and after else f"{'':>7}"
            target = MOMENTUM_TARGETS.get((name, p))
            verdict = ""
            if target is not None:
                ok = after is not None and after <= target
                verdict = f"≤ {target:g} s {'ok' if ok else 'MISSED'}"
            print(f"{name:<11} {p:>3} {' '.join(cells)} {ratio}  {verdict}", flush=True)
    print()


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
    ap.add_argument("--momentum-orders", default="9,12", help="orders for part 0 (default 9,12)")
    ap.add_argument("--before", type=Path, help="part 0: source checkout of an earlier version")
    ap.add_argument("--parts", default="0,1,2", help="which parts to run (default 0,1,2)")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "METHOD", "P"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        kind, method, p = args.child
        _child(kind, method, int(p))
        return
    parts = {int(s) for s in args.parts.split(",") if s.strip()}
    if 0 in parts:
        momentum_table(args)
    if 1 in parts:
        gd_table(args)
    if 2 in parts:
        coordinate_table(args)


def gd_table(args) -> None:
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


def coordinate_table(args) -> None:
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
