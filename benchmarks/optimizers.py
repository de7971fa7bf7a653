"""Benchmark: time to the modified loss of optimizer programs.

For each case, the wall time of ``bea.modified_loss(opt, order)``: running the
update rule on B-series, solving for the underlying one-step method tree by
tree, taking the logarithm and splitting each order into gradient part and
remainder. Cases:

* heavy ball with symbolic β (coefficients are rational functions of β), and
  with β = 9/10, through orders 3, 6, 9 (up to ``--max-order``);
* reshuffled SGD with m = 2, 3, 4 mini-batches (coloured trees, averaged over
  the m! orderings), through order 3;
* coordinate-wise and scheduled entries (Lion, normalised SAM and GD, AdamW,
  GD with a schedule η(t)) on a 2-D quartic, orders 1–3: the time of
  ``modified_equation(opt, p).on(loss, variables)``; Muon 2×2 (polar factor)
  at order 1 through that generic engine; Adam's order-2 field on a generic
  loss in d = 3 with symbolic β's and ε (target ≤ 10 s);
* Muon 2×2 order 1 (reference Muon: five Newton–Schulz steps, β = 1/2; and
  the polar factor): the closed form ``bea.MuonModifiedEquation`` evaluated
  exactly at a rational point (``muon_2x2_closed``, ``muon_2x2_polar_closed``),
  and its oracle, the raw rule expanded at that point with the state on the
  invariant manifold (``muon_2x2_pointwise``, ``bea.coordinates._pointwise``);
  CPU time (``time.process_time``), the machine being shared;
* heavy ball with a momentum schedule β(t) = b(t) (an undefined function) on
  the 2-D quartic, orders 1–3: the tree engine with moving coefficients
  (``.on``) and, side by side, the coordinate map on (x, t) (``.on_coordinates``).

Each case runs in a fresh Python process (no cache carries over) under a
per-case time limit; a case past it is reported as "timeout". Target: heavy
ball, symbolic β, order 6 in at most 10 s.

Usage::

    python benchmarks/optimizers.py [--max-order 9] [--timeout 300]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

# run from a source checkout without installing: the repository root holds bea/
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGETS = {("heavy_ball(beta)", 6): 10.0}


def _optimizer(case: str):
    import sympy

    from bea import optimizers

    if case == "heavy_ball(beta)":
        return optimizers.heavy_ball()
    if case == "heavy_ball(9/10)":
        return optimizers.heavy_ball(sympy.Rational(9, 10))
    if case.startswith("reshuffled_sgd(m="):
        return optimizers.reshuffled_sgd(int(case[len("reshuffled_sgd(m=") : -1]))
    raise ValueError(f"unknown case {case!r}")


#: coordinate-wise entries: time to bea.modified_equation(opt, order).on(loss, variables)
COORDINATE_CASES = (
    "lion",
    "normalized_sam",
    "normalized_gd",
    "adamw",
    "gd_schedule",
    "adam_d3",
    "muon_2x2",
    "muon_2x2_closed",
    "muon_2x2_polar_closed",
    "muon_2x2_pointwise",
    "heavy_ball_b(t)",
    "heavy_ball_b(t)_coords",
)
TARGETS[("adam_d3", 2)] = 10.0


def _coordinate_child(case: str, order: int) -> None:
    import sympy

    import bea
    from bea import optimizers as O

    x, y, z = sympy.symbols("x y z")
    loss, variables = x**4 / 4 + x * y + y**2, [x, y]
    if case == "lion":
        opt = O.lion(sympy.Symbol("beta1"), sympy.Symbol("beta2"), sympy.Symbol("lambda"))
    elif case == "normalized_sam":
        opt = O.normalized_sam()
    elif case == "normalized_gd":
        opt = O.normalized_gd()
    elif case == "adamw":
        opt = O.weight_decay(O.adam(), sympy.Symbol("lambda"))
    elif case == "gd_schedule":
        opt = O.gd(schedule=sympy.Function("eta")(bea.t))
    elif case == "adam_d3":  # symbolic β's and ε, generic loss in d = 3
        opt = O.adam()
        variables = [x, y, z]
        loss = sympy.Function("L")(x, y, z)
    elif case == "muon_2x2":
        opt = O.muon((2, 2), sympy.Rational(1, 2), polar=True)
        variables = list(sympy.symbols("w0:4"))
        loss = sum((w - k) ** 2 for k, w in enumerate(variables)) / 2
    elif case.startswith("muon_2x2_"):
        _muon_point_child(case)
        return
    elif case.startswith("heavy_ball_b(t)"):
        opt = O.heavy_ball(beta=sympy.Function("b")(bea.t))
    else:
        raise ValueError(f"unknown case {case!r}")
    start = time.perf_counter()
    me = bea.modified_equation(opt, order)
    if case.endswith("_coords"):
        me.on_coordinates(loss, variables)
    else:
        me.on(loss, variables)
    elapsed = time.perf_counter() - start
    print(json.dumps({"seconds": elapsed, "gradient_order": "-"}))


def _muon_point_child(case: str) -> None:
    """Muon 2×2 through h¹ at a rational point where ‖∇L‖_F = 1 (CPU time)."""
    import sympy

    import bea
    from bea.coordinates._pointwise import pointwise_field

    R = sympy.Rational
    ws = sympy.symbols("w0:4")
    quad = sum((w - R(k + 1, 7)) ** 2 / 2 for k, w in enumerate(ws)) + ws[0] ** 4 / 12
    point = [R(1, 10), R(-1, 5), R(3, 10), R(-2, 5)]
    at = dict(zip(ws, point))
    target = [R(1, 5), R(2, 5), R(-2, 5), R(4, 5)]
    loss = quad + sum((t - sympy.diff(quad, w).subs(at)) * w for t, w in zip(target, ws))
    opt = bea.optimizers.muon((2, 2), R(1, 2), polar="polar" in case)
    start = time.process_time()
    if case.endswith("_pointwise"):
        pointwise_field(opt, loss, list(ws), point)
    else:
        bea.MuonModifiedEquation(opt).on(loss, list(ws)).order_terms(point)
    elapsed = time.process_time() - start
    print(json.dumps({"seconds": elapsed, "gradient_order": "-"}))


def _child(case: str, order: int) -> None:
    import bea

    if case in COORDINATE_CASES:
        _coordinate_child(case, order)
        return
    opt = _optimizer(case)
    start = time.perf_counter()
    ml = bea.modified_loss(opt, order)
    elapsed = time.perf_counter() - start
    print(json.dumps({"seconds": elapsed, "gradient_order": ml.gradient_order}))


def _measure(case: str, order: int, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--child", case, str(order)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"status": "timeout"}
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["?"]
        return {"status": f"error: {tail[0]}"}
    return {"status": "ok", **json.loads(done.stdout.strip().splitlines()[-1])}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-order", type=int, default=9, help="highest heavy-ball order")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per case")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "ORDER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return

    cases = [
        (name, order)
        for name in ("heavy_ball(beta)", "heavy_ball(9/10)")
        for order in (3, 6, 9)
        if order <= args.max_order
    ]
    cases += [(f"reshuffled_sgd(m={m})", 3) for m in (2, 3, 4)]
    cases += [
        (name, order)
        for name in ("lion", "normalized_sam", "normalized_gd", "adamw", "gd_schedule")
        for order in (1, 2, 3)
    ]
    cases += [("muon_2x2", 1), ("adam_d3", 2)]
    cases += [
        (name, 1) for name in ("muon_2x2_closed", "muon_2x2_polar_closed", "muon_2x2_pointwise")
    ]
    cases += [
        (name, order)
        for order in (1, 2, 3)
        for name in ("heavy_ball_b(t)", "heavy_ball_b(t)_coords")
    ]

    header = f"{'optimizer':<22} {'order':>5} {'time [s]':>10} {'grad. order':>11}  target"
    print(header)
    print("-" * len(header))
    for name, order in cases:
        r = _measure(name, order, args.timeout)
        target = TARGETS.get((name, order))
        if r["status"] == "ok":
            shown = f"{r['seconds']:10.3f}"
            grad = f"{r['gradient_order']:>11}"
            verdict = "" if target is None else ("ok" if r["seconds"] <= target else "MISSED")
        else:
            shown, grad = f"{r['status']:>10}", f"{'':>11}"
            verdict = "" if target is None else "MISSED"
        if target is not None:
            verdict = f"<= {target:g} s: {verdict}"
        print(f"{name:<22} {order:>5} {shown} {grad}  {verdict}", flush=True)


if __name__ == "__main__":
    main()
