"""Gradient descent's modified equation and modified loss, in text and LaTeX.

Derives, exactly, the field f̃ that gradient descent θ ← θ − h∇L(θ) follows
through h^order (f = −∇L, h f̃ = Σ_t h^{|t|} ω(t)/σ(t) F(t)), and its gradient
structure: the modified loss L + h/4 ‖∇L‖² through h¹, and at each higher order
the canonical split into a gradient and a non-gradient remainder. Checks that a
metric polynomial in ∇²L absorbs the remainder through h³ but not at h⁴.

    python examples/derive_gd.py            # order 4, with a concrete loss
    python examples/derive_gd.py --fast     # order 4, symbolic results only
    python examples/derive_gd.py --order 6
"""

from __future__ import annotations

import argparse
import time

import sympy as sp

import bea


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--order", type=int, default=4, help="highest power of h (default 4)")
    parser.add_argument("--fast", action="store_true", help="skip the concrete loss")
    args = parser.parse_args(argv)
    order = args.order
    t0 = time.perf_counter()

    me = bea.modified_equation(bea.gd(), order=order)
    print(f"Gradient descent, f = −∇L, through h^{order}:\n")
    print(me)
    print("\nLaTeX:\n")
    print(r"\tilde f = " + me.latex())

    ml = bea.modified_loss(bea.gd(), order=order)
    print("\nModified loss and non-gradient remainder:\n")
    print(ml)
    print("\nLaTeX:\n")
    print(ml.latex())

    print("\nIs the h^k term in the span of (∇²L)^j ∇S(τ), j + |τ| = k + 1 (a metric form)?")
    for k in range(order + 1):
        print(f"  h^{k}: {ml.hessian_metric_form(k)}")

    if not args.fast:
        x, y = sp.symbols("x y")
        loss = x**4 / 4 + x * y**2
        print(f"\nOn L = {loss}: L̃ = {sp.expand(ml.on(loss, [x, y]))}")
        field = me.on(loss, [x, y]).applyfunc(sp.expand)
        print(f"f̃ through h^{order}, first component: {field[0]}")

    print(f"\n(derived exactly in {time.perf_counter() - t0:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
