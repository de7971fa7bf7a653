"""SGD with random reshuffling (Smith, Dherin, Barrett, De 2021).

One epoch visits m mini-batch losses L_0..L_{m−1} in a random order, one
gradient step each. The expected epoch follows, to first order, the gradient
flow of C + h/(4m) Σ_k ‖∇L_k‖², C = (1/m) Σ_k L_k. This script derives that
for several m, checks it term by term and on concrete least-squares losses
(where it equals C + h/4 ‖∇C‖² + h/(4m) Σ_k ‖∇L_k − ∇C‖²), and shows that a
fixed order of the mini-batches is not a gradient flow at first order.

    python examples/sgd_reshuffling.py [--fast]
"""

from __future__ import annotations

import argparse

import sympy as sp

import bea

x, y = sp.symbols("x y")
h = bea.h


def grad(loss) -> sp.Matrix:
    return sp.Matrix([sp.diff(loss, x), sp.diff(loss, y)])


def sq(v: sp.Matrix) -> sp.Expr:
    return (v.T * v)[0, 0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="m ≤ 3 only")
    args = parser.parse_args(argv)
    sizes = (2, 3) if args.fast else (2, 3, 4)

    for m in sizes:
        ml = bea.modified_loss(bea.optimizers.reshuffled_sgd(m), order=1)
        print(f"m = {m}: L̃ = {ml.loss_text()}")
        for tau, c in ml.loss_terms():
            expected = sp.Rational(1, m) if len(tau) == 1 else sp.Rational(1, 4 * m)
            assert c == expected, (m, tau, c)
    print("matches C + h/(4m) Σ_k ‖∇L_k‖² (Smith, Dherin, Barrett, De 2021)")

    data = [(1, 2, 1), (3, -1, 2), (-2, 1, 0)]
    losses = [(a * x + b * y - c) ** 2 / 2 for a, b, c in data]
    m = len(losses)
    C = sum(losses) / m
    spread = sum(sq(grad(L) - grad(C)) for L in losses)
    expected = C + h / 4 * sq(grad(C)) + h / (4 * m) * spread
    ml = bea.modified_loss(bea.optimizers.reshuffled_sgd(m), order=1)
    concrete = sp.expand(ml.on(losses, [x, y]))
    print(f"\nLeast squares on {data} (a x + b y − c)²/2:")
    print(f"  L̃ = {concrete}")
    assert sp.expand(concrete - expected) == 0
    print("  = C + h/4 ‖∇C‖² + h/(4m) Σ_k ‖∇L_k − ∇C‖²: check passed")

    @bea.optimizer(name="fixed_order", colours=2, steps=2)
    def fixed_order(x, state, step):
        x = x + step(x, 0)
        return x + step(x, 1)

    fixed = bea.modified_loss(fixed_order, order=1)
    print("\nA fixed order (L_0 then L_1), not reshuffled:")
    print(fixed)
    assert fixed.gradient_order == 0
    shuffled = bea.modified_loss(bea.optimizers.reshuffled_sgd(2), order=2)
    print(f"\nReshuffled, m = 2: gradient through h^{shuffled.gradient_order}")
    print(shuffled)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
