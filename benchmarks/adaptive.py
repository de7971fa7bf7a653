"""Time to the first- and second-order modified equations of Adam in d = 1, 2, 3.

Each case runs in a fresh process with a time limit; the loss is a generic
(undefined) function L(x1, ..., xd) and the hyperparameters are symbols
(β₁, β₂, ε), the hardest case for the coordinate backend.

    python benchmarks/adaptive.py [--max-d 3] [--orders 1 2] [--timeout 300]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

CASE = """
import time, sympy as sp, bea
xs = sp.symbols('x1:{d1}')
L = sp.Function('L')(*xs)
opt = bea.optimizers.adam({args})
t = time.perf_counter()
f = bea.modified_equation(opt, {p}).on(L, xs)
print(time.perf_counter() - t, sp.count_ops(f))
"""


def run(d: int, p: int, args: str, timeout: float):
    code = CASE.format(d1=d + 1, p=p, args=args)
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return None, None
    if out.returncode:
        raise RuntimeError(out.stderr)
    seconds, ops = out.stdout.split()
    return float(seconds), int(ops)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-d", type=int, default=3)
    ap.add_argument("--orders", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--timeout", type=float, default=300.0)
    a = ap.parse_args(argv)
    variants = {"symbolic β, ε": "", "β=9/10, 999/1000, ε=1e-8": "0.9, 0.999, 1e-8"}
    print(f"{'hyperparameters':28} {'d':>2} {'order':>5} {'seconds':>9} {'size (ops)':>11}")
    t0 = time.perf_counter()
    for name, args in variants.items():
        for d in range(1, a.max_d + 1):
            for p in a.orders:
                s, ops = run(d, p, args, a.timeout)
                cell = f"{s:9.2f}" if s is not None else f"{'>' + str(int(a.timeout)):>9}"
                print(f"{name:28} {d:>2} {p:>5} {cell} {ops if ops else '—':>11}", flush=True)
    print(f"# total {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
