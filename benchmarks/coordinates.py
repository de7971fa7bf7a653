"""Benchmark: the coordinate backend (exact modified fields in fixed dimension).

Rows (each a fresh Python process, the result cache off, CPU time of the
derivation by ``time.process_time`` since the machine is shared; median of
``--repeat`` runs):

* Adam, symbolic β₁, β₂, ε, generic loss L(x1, …, xd):
  ``bea.modified_equation(adam(), p).on(L, xs)`` for (d, p) = (3, 2) and (2, 3);
* gradient descent on a concrete 2-D loss, log cosh(x − 1) + log cosh(xy):
  ``coordinate_modified_equation(gd(), L, [x, y], p)`` for p = 6 and 8;
* gradient descent on a generic L(x, y), order 6, and heavy ball with
  symbolic β on a quartic, order 3 (the optimizer-program route).

``--compare PATH`` runs every row also against another checkout (its
``bea`` imported through ``PYTHONPATH=PATH``, e.g. the main branch) in the
same session, so the two columns are measured side by side under the same
load.

Usage::

    python benchmarks/coordinates.py [--repeat 3] [--timeout 300] [--compare /path/to/main]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from _harness import run_json

ROOT = Path(__file__).resolve().parents[1]

#: (name, argument, target seconds or None)
CASES = (
    ("adam d=3 symbolic", "adam:3:2", 4.0),
    ("adam d=2 symbolic", "adam:2:3", 10.0),
    ("gd logcosh 2-D", "gd_logcosh:2:6", 5.0),
    ("gd logcosh 2-D", "gd_logcosh:2:8", 60.0),
    ("gd generic L(x,y)", "gd_generic:2:6", None),
    ("heavy ball(β) quartic", "hb_quartic:2:3", None),
)

CHILD = """
import json, sys, time
import sympy as sp
import bea
from bea.coordinates import coordinate_modified_equation
kind, d, p = sys.argv[1].split(":")
d, p = int(d), int(p)
O = bea.optimizers
x, y = sp.symbols("x y")
start = time.process_time()
if kind == "adam":
    xs = sp.symbols(f"x1:{d + 1}")
    f = bea.modified_equation(O.adam(), p).on(sp.Function("L")(*xs), xs)
elif kind == "gd_logcosh":
    loss = sp.log(sp.cosh(x - 1)) + sp.log(sp.cosh(x * y))
    f = coordinate_modified_equation(O.gd(), loss, [x, y], p)
elif kind == "gd_generic":
    f = coordinate_modified_equation(O.gd(), sp.Function("L")(x, y), [x, y], p)
elif kind == "hb_quartic":
    f = coordinate_modified_equation(O.heavy_ball(), x**4 / 4 + x * y + y**2 / 2, [x, y], p)
else:
    raise SystemExit(f"unknown case {kind}")
print(json.dumps({"cpu": time.process_time() - start}))
"""


def _once(arg: str, path: Path, timeout: float) -> float | None:
    env = {"PYTHONPATH": str(path), "BEA_CACHE": "0"}
    out = run_json([sys.executable, "-c", CHILD, arg], timeout, env, cwd=path)
    return None if out is None else out["cpu"]


def _median(arg: str, path: Path, repeat: int, timeout: float) -> float | None:
    times = []
    for _ in range(repeat):
        t = _once(arg, path, timeout)
        if t is None:
            return None
        times.append(t)
    return statistics.median(times)


def _cell(t: float | None, timeout: float) -> str:
    return f"{t:9.2f}" if t is not None else f"{'>' + format(timeout, 'g'):>9}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per case (median)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    ap.add_argument("--compare", type=Path, help="another checkout to time side by side")
    ap.add_argument("--only", help="comma-separated case arguments, e.g. adam:3:2")
    a = ap.parse_args(argv)
    cases = [c for c in CASES if a.only is None or c[1] in a.only.split(",")]
    print(f"# CPU seconds (process_time), median of {a.repeat}, fresh process, BEA_CACHE=0")
    head = f"{'case':24} {'order':>5}"
    if a.compare:
        head += f" {'compare':>9}"
    head += f" {'this':>9}"
    if a.compare:
        head += f" {'ratio':>6}"
    head += "  target"
    print(head)
    print("-" * len(head))
    for name, arg, target in cases:
        order = arg.rsplit(":", 1)[1]
        row = f"{name:24} {order:>5}"
        before = None
        if a.compare:
            before = _median(arg, a.compare.resolve(), a.repeat, a.timeout)
            row += f" {_cell(before, a.timeout)}"
        now = _median(arg, ROOT, a.repeat, a.timeout)
        row += f" {_cell(now, a.timeout)}"
        if a.compare:
            ratio = f"{before / now:6.1f}" if before and now else f"{'—':>6}"
            row += f" {ratio}"
        if target is not None:
            verdict = "ok" if now is not None and now <= target else "MISSED"
            row += f"  <= {target:g} s: {verdict}"
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
