"""Benchmark: the tree engine before and after the integer-array kernel, side by side.

Each measurement runs in a fresh Python process with the disk cache off
(``BEA_CACHE=0``), so the tree table, the cuts and every coefficient are built
from nothing; the figure is the median of ``--repeat`` runs, and peak memory
is the child's peak resident size (``VmHWM``) after the computation minus its
value right after the imports. Cases:

* ``equation``: ``bea.modified_equation(method, order=n − 1)`` (ω on every
  rooted tree with at most n nodes) for gd and rk4;
* ``loss``: ``bea.modified_loss(opt, order)`` for heavy ball and Nesterov with a
  symbolic β; ``loss+sympy`` also reads every order's split (``split(k)`` for
  all k), which converts all coefficients to sympy expressions;
* ``modifying``: ``bea.modifying_integrator(method, order=n − 1)``.

"Before" is any source checkout of the previous engine, passed with
``--before`` (for example ``git worktree add /tmp/bea-before <commit>``); its
children import bea from there. Both columns are measured in the same run,
interleaved, so machine load affects them alike. Cases that run past
``--timeout`` seconds show ``>T``; after one time-out the larger sizes of that
case are skipped for that engine.

Usage::

    python benchmarks/tree_kernel.py [--before /tmp/bea-before] [--repeat 3]
                                     [--timeout 120] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from _harness import peak_rss_kib, run_child

ROOT = Path(__file__).resolve().parents[1]

#: (case, name, size) → target seconds (issue 16); sizes are nodes n, or orders for losses
TARGETS = {
    ("equation", "gd", 15): 1.0,
    ("equation", "rk4", 15): 1.0,
    ("equation", "gd", 16): 3.0,
    ("equation", "rk4", 16): 3.0,
    ("equation", "gd", 18): 60.0,
    ("loss", "heavy_ball", 9): 1.0,
    ("loss", "nesterov", 9): 1.0,
    ("loss", "heavy_ball", 12): 30.0,
    ("loss", "nesterov", 12): 30.0,
}
MEMORY_TARGETS_MIB = {("equation", "gd", 15): 100.0, ("equation", "rk4", 15): 100.0}

CASES = [
    ("equation", "gd", [12, 15, 16, 18]),
    ("equation", "rk4", [12, 15, 16]),
    ("loss", "heavy_ball", [9, 12]),
    ("loss", "nesterov", [9, 12]),
    ("loss+sympy", "heavy_ball", [9]),
    ("modifying", "rk4", [8, 10, 12]),
]
QUICK = [
    ("equation", "gd", [12, 15]),
    ("equation", "rk4", [15]),
    ("loss", "heavy_ball", [9]),
    ("modifying", "rk4", [8]),
]


# ----------------------------------------------------------------------------
# The child
# ----------------------------------------------------------------------------


def _child(root: str, case: str, name: str, size: int) -> None:
    sys.path.insert(0, root)
    import sympy as sp

    import bea

    assert Path(bea.__file__).resolve().is_relative_to(Path(root).resolve()), bea.__file__
    if case == "equation" or case == "modifying":
        method = getattr(bea, name)()
    else:
        method = getattr(bea.optimizers, name)(beta=sp.Symbol("beta"))
    if case == "equation":

        def run():
            bea.modified_equation(method, order=size - 1)

    elif case == "modifying":

        def run():
            bea.modifying_integrator(method, order=size - 1)

    elif case == "loss":

        def run():
            bea.modified_loss(method, size)

    elif case == "loss+sympy":

        def run():
            ml = bea.modified_loss(method, size)
            for k in range(size + 1):
                ml.split(k)

    else:
        raise ValueError(f"unknown case {case!r}")
    base = peak_rss_kib()
    t0 = time.perf_counter()
    run()
    elapsed = time.perf_counter() - t0
    print(json.dumps({"time": elapsed, "mem_mib": (peak_rss_kib() - base) / 1024.0}))


# ----------------------------------------------------------------------------
# The driver
# ----------------------------------------------------------------------------


def _measure(root: Path, case: str, name: str, size: int, timeout: float) -> dict | None:
    return run_child(__file__, [str(root), case, name, str(size)], timeout, {"BEA_CACHE": "0"})


def _median(runs: list[dict]) -> dict:
    return {
        "time": statistics.median(r["time"] for r in runs),
        "mem_mib": statistics.median(r["mem_mib"] for r in runs),
    }


def _cell(m: dict | None, timeout: float, skipped: bool) -> str:
    if skipped:
        return f"{'—':>18}"
    if m is None:
        return f"{'>' + str(int(timeout)) + ' s':>18}"
    return f"{m['time']:8.3f} s {m['mem_mib']:6.1f} M"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", type=Path, help="source checkout of the previous engine")
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    p.add_argument(
        "--before-repeat", type=int, help="runs per 'before' measurement (default: --repeat)"
    )
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per run")
    p.add_argument("--quick", action="store_true", help="a few small cases only")
    p.add_argument("--child", nargs=4, metavar=("ROOT", "CASE", "NAME", "SIZE"), help="internal")
    args = p.parse_args(argv)
    if args.child:
        root, case, name, size = args.child
        _child(root, case, name, int(size))
        return
    engines = [("after", ROOT)]
    if args.before is not None:
        if not (args.before / "bea" / "__init__.py").is_file():
            p.error(f"--before: expected a source checkout holding bea/, got {args.before}")
        engines.insert(0, ("before", args.before.resolve()))
    before_reps = args.before_repeat or args.repeat
    print(
        f"# fresh processes, BEA_CACHE=0, median of {args.repeat} (before: {before_reps}); "
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at the start"
    )
    for label, root in engines:
        print(f"# {label}: {root}")
    header = f"{'case':<11} {'name':<11} {'size':>4} " + " ".join(
        f"{label:>18}" for label, _ in engines
    )
    header += f" {'ratio':>7}  target"
    print(header)
    print("-" * len(header))
    for case, name, sizes in QUICK if args.quick else CASES:
        timed_out = {label: False for label, _ in engines}
        for size in sizes:
            results = {}
            for label, root in engines:
                if timed_out[label]:
                    results[label] = "skipped"
                    continue
                runs = []
                reps = args.repeat
                if label == "before" and args.before_repeat:
                    reps = args.before_repeat
                for _ in range(reps):
                    m = _measure(root, case, name, size, args.timeout)
                    if m is None:
                        timed_out[label] = True
                        runs = None
                        break
                    runs.append(m)
                results[label] = None if runs is None else _median(runs)
            cells = [
                _cell(
                    None if results[lb] == "skipped" else results[lb],
                    args.timeout,
                    results[lb] == "skipped",
                )
                for lb, _ in engines
            ]
            after = results["after"] if isinstance(results["after"], dict) else None
            before = results.get("before")
            if isinstance(before, dict) and after:
                ratio = f"{before['time'] / after['time']:6.1f}×"
            elif before is None and after and args.before is not None:
                ratio = f"{'>' + str(int(args.timeout / after['time'])):>6}×"
            else:
                ratio = f"{'':>7}"
            target = ""
            key = (case, name, size)
            if key in TARGETS:
                ok = after is not None and after["time"] <= TARGETS[key]
                target = f"≤ {TARGETS[key]:g} s {'ok' if ok else 'MISSED'}"
            if key in MEMORY_TARGETS_MIB and after is not None:
                ok = after["mem_mib"] <= MEMORY_TARGETS_MIB[key]
                target += f"; ≤ {MEMORY_TARGETS_MIB[key]:g} MiB {'ok' if ok else 'MISSED'}"
            print(
                f"{case:<11} {name:<11} {size:>4} {' '.join(cells)} {ratio}  {target}", flush=True
            )


if __name__ == "__main__":
    main()
