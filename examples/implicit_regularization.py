"""Implicit gradient regularization (Barrett & Dherin 2021), derived and checked.

1. Gradient descent with step h follows the gradient flow of
   L̃ = L + h/4 ‖∇L‖² to first order (exact derivation).
2. On the concrete loss L = x⁴/4 + x y² the first-order term of the modified
   field is curl-free, the h² term is not: no modified loss exists at second
   order. The curl comes entirely from the non-gradient remainder of the
   canonical split.
3. Numerically: the distance between gradient-descent iterates and the flow of
   L is O(h), and to the flow of L̃ it is O(h²) (fitted slopes of log-error
   against log h).

    python examples/implicit_regularization.py [--fast]
"""

from __future__ import annotations

import argparse

import numpy as np
import sympy as sp

import bea

x, y = sp.symbols("x y")
h = bea.h
LOSS = x**4 / 4 + x * y**2


def curl(v: sp.Matrix) -> sp.Expr:
    return sp.factor(sp.diff(v[1], x) - sp.diff(v[0], y))


def gradient_fn(loss):
    return sp.lambdify((x, y, h), [sp.diff(loss, v) for v in (x, y)], "numpy")


def gradient_flow(grad, z, T, step, n):
    """The gradient flow of a loss at time T, with n classical RK4 steps."""

    def f(z):
        return -np.array(grad(z[0], z[1], step), dtype=float)

    dt = T / n
    for _ in range(n):
        k1 = f(z)
        k2 = f(z + dt / 2 * k1)
        k3 = f(z + dt / 2 * k2)
        k4 = f(z + dt * k3)
        z = z + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return z


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="fewer step sizes, coarser flows")
    args = parser.parse_args(argv)

    # 1. the derivation
    ml = bea.modified_loss(bea.gd(), order=2)
    print("Gradient descent, modified loss through h²:")
    print(ml)
    (_, c0), (_, c1) = ml.loss_terms()
    assert (c0, c1) == (1, sp.Rational(1, 4)), (c0, c1)
    print(f"\nIGR: L̃ = L + {c1}·h ‖∇L‖² (Barrett & Dherin 2021)")

    # 2. the curl of each order on a concrete loss
    me = bea.modified_equation(bea.gd(), order=2)
    field = me.on(LOSS, [x, y]).applyfunc(sp.expand)
    print(f"\nOn L = {LOSS}:")
    print(f"  L̃ = {sp.expand(ml.on(LOSS, [x, y]))}")
    curls = [curl(field.applyfunc(lambda e, k=k: e.coeff(h, k))) for k in range(3)]
    for k, c in enumerate(curls):
        print(f"  curl of the h^{k} term of f̃: {c}")
    remainder_curl = curl(ml.remainder_on(LOSS, [x, y]).applyfunc(sp.expand))
    print(f"  curl of the non-gradient remainder: {remainder_curl}")
    assert curls[0] == 0 and curls[1] == 0 and curls[2] != 0
    assert sp.expand(remainder_curl - h**2 * curls[2]) == 0
    print("curl check: h¹ term is a gradient, h² term is not")

    # 3. numerical orders
    L_tilde = bea.modified_loss(bea.gd(), order=1).on(LOSS, [x, y])
    grad_L, grad_L_tilde = gradient_fn(LOSS), gradient_fn(L_tilde)
    steps = (0.1, 0.05, 0.025) if args.fast else (0.1, 0.05, 0.025, 0.0125, 0.00625)
    n_flow = 1000 if args.fast else 8000
    z0, T = np.array([0.8, 0.6]), 1.0
    errors = []
    print(f"\nGradient descent from {z0.tolist()} to T = {T}:")
    for step in steps:
        z = z0.copy()
        for _ in range(round(T / step)):
            z = z - step * np.array(grad_L(z[0], z[1], step))
        e0 = np.linalg.norm(z - gradient_flow(grad_L, z0, T, step, n_flow))
        e1 = np.linalg.norm(z - gradient_flow(grad_L_tilde, z0, T, step, n_flow))
        errors.append((e0, e1))
        print(f"  h = {step:<8} |GD − flow of L| = {e0:.3e}   |GD − flow of L̃| = {e1:.3e}")
    logs = np.log(np.array(steps))
    slopes = [np.polyfit(logs, np.log([e[i] for e in errors]), 1)[0] for i in (0, 1)]
    print(
        f"fitted orders: flow of L {slopes[0]:.2f} (expected 1), flow of L̃ {slopes[1]:.2f}"
        " (expected 2)"
    )
    assert abs(slopes[0] - 1) < 0.15 and abs(slopes[1] - 2) < 0.15, slopes
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
