"""Stochastic modified equations: derivation time, weak-error sweep time, sample paths per second.

* derivation: ``bea.stochastic_modified_equation(opt, p)`` and ``.on`` on three
  2-D example losses (the adaptive SDEs of RMSProp and Adam in the regime of
  Malladi et al.: one loss and a covariance Σ(x)), per optimizer and order, each in a fresh process
  (nothing cached in memory, the disk cache off), median of ``--repeat`` runs;
* sweep: ``numerics.weak_agreement`` in exact mode (5 step sizes, 3 test
  functions, orders 1 and 2), median of ``--repeat`` runs in this process;
* Monte Carlo: the vmapped JAX ensemble of SGD (one compile, then timed),
  sample paths per second on CPU.

No GPU was available for these measurements: the figures are CPU only.

    python benchmarks/sme.py [--repeat 3] [--paths 262144]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _harness import run_child

OPTIMIZERS = {
    "sgd": "bea.optimizers.sgd()",
    "sgd(b=2, no repl.)": "bea.optimizers.sgd(batch=2, replacement=False)",
    "usam(c)": "bea.with_noise(bea.optimizers.usam())",
    "heavy_ball(beta)": "bea.with_noise(bea.optimizers.heavy_ball())",
    "nesterov(beta)": "bea.with_noise(bea.optimizers.nesterov())",
}
# the regime of Malladi et al. (2022): σ = σ0/h, 1 − β = c h², ε = ε0/h, t = n h²
_C = "sympy.Symbol('c1', positive=True)"
_C2 = "sympy.Symbol('c2', positive=True)"
_E = "sympy.Symbol('e0', positive=True)"
_RMS = f"bea.optimizers.rmsprop(beta2=1 - {_C2} * bea.h**2, eps={_E} / bea.h)"
_ADAM = f"beta1=1 - {_C} * bea.h**2, beta2=1 - {_C2} * bea.h**2, eps={_E} / bea.h"
ADAPTIVE = {
    "rmsprop (Malladi)": (f"bea.with_noise({_RMS}, bea.ScaledGradientOracle())", (1,)),
    "rmsprop, symmetric": (
        f"bea.with_noise({_RMS}, bea.ScaledGradientOracle(symmetric=True))",
        (1, 2),
    ),
    "adam (Malladi)": (
        f"bea.with_noise(bea.optimizers.adam({_ADAM}), bea.ScaledGradientOracle())",
        (1,),
    ),
    "adam, bias correction": (
        f"bea.with_noise(bea.optimizers.adam({_ADAM}, bias_correction=True), "
        "bea.ScaledGradientOracle())",
        (1,),
    ),
}


def child(expr: str, order: int) -> None:
    import sympy as sp

    import bea

    x, y = sp.symbols("x y")
    losses = [x**2 / 2 + x * y + y**3 / 3, (x - 1) ** 2 + y**2 / 2 - x * y**2, x**3 / 3 + y**2]
    opt = eval(expr, {"bea": bea, "sympy": sp})
    derive = bea.stochastic_modified_equation  # loads the engine's modules before timing
    t0 = time.perf_counter()
    sme = derive(opt, order)
    t1 = time.perf_counter()
    if isinstance(sme, bea.AdaptiveSDE):
        sme.on(losses[0], [x, y], covariance=sp.Matrix([[1 + x**2, x / 2], [x / 2, 2]]))
    else:
        sme.on(losses, [x, y])
    t2 = time.perf_counter()
    print(json.dumps({"derive": t1 - t0, "on": t2 - t1}))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--paths", type=int, default=1 << 18)
    ap.add_argument("--child", action="store_true")
    ap.add_argument("rest", nargs="*")
    a = ap.parse_args(argv)
    if a.child:
        child(a.rest[0], int(a.rest[1]))
        return 0
    os.environ["BEA_CACHE"] = "0"
    print("No GPU was available: CPU figures only.")
    print(f"{'optimizer':22} {'order':>5} {'derive (s)':>11} {'.on (s)':>9}")
    for name, expr in OPTIMIZERS.items():
        for order in (1, 2):
            runs = [run_child(__file__, [expr, str(order)], 300) for _ in range(a.repeat)]
            d = statistics.median(r["derive"] for r in runs)
            o = statistics.median(r["on"] for r in runs)
            print(f"{name:22} {order:>5} {d:>11.3f} {o:>9.3f}")
    for name, (expr, orders) in ADAPTIVE.items():
        for order in orders:
            runs = [run_child(__file__, [expr, str(order)], 300) for _ in range(a.repeat)]
            d = statistics.median(r["derive"] for r in runs)
            o = statistics.median(r["on"] for r in runs)
            print(f"{name:22} {order:>5} {d:>11.3f} {o:>9.3f}")

    import sympy as sp

    import bea
    import numerics

    x, y = sp.symbols("x y")
    losses = [
        (x - 1) ** 2 / 2 + x * y / 4 + y**2,
        (x + 1) ** 2 / 2 + (y - 1) ** 2 / 2,
        x**2 + (1 + x) * y / 2 + y**2 / 2,
    ]
    print()
    print(f"{'weak_agreement (exact)':34} {'seconds':>8}")
    for name, opt, steps in [
        ("sgd, N = 8..128", bea.optimizers.sgd(), (8, 16, 32, 64, 128)),
        (
            "heavy_ball(0.5), N = 16..256",
            bea.with_noise(bea.optimizers.heavy_ball(0.5)),
            (16, 32, 64, 128, 256),
        ),
    ]:
        times = []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            numerics.weak_agreement(opt, losses, [x, y], [1.0, -0.5], steps=steps)
            times.append(time.perf_counter() - t0)
        print(f"{name:34} {statistics.median(times):>8.2f}")

    print()
    head = f"{'Monte Carlo ensemble (CPU)':34} {'paths':>8} {'steps':>6} {'paths/s':>10}"
    print(head + f" {'steps·paths/s':>14}")
    for N in (16, 64):
        # the first call compiles; the timed calls reuse the compiled ensemble (h and N are
        # arguments of one jitted function)
        kw = dict(steps=(N, N, N), mode="monte_carlo", paths=a.paths, orders=(1,))
        numerics.weak_agreement(bea.optimizers.sgd(), losses, [x, y], [1.0, -0.5], **kw)
        rates = []
        for _ in range(a.repeat):
            r = numerics.weak_agreement(bea.optimizers.sgd(), losses, [x, y], [1.0, -0.5], **kw)
            rates.append(r.paths_per_second)
        rate = statistics.median(rates)
        print(f"{'sgd, d = 2, n = 3':34} {a.paths:>8} {N:>6} {rate:>10.3g} {rate * N:>14.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
