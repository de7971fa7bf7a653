"""Heavy-ball momentum with a symbolic β: modified equation and loss through h³.

x⁺ = x − h∇L(x) + β(x − x_prev). The underlying one-step method follows
θ' = −1/(1−β) ∇[L + h(1+β)/(4(1−β)²) ‖∇L‖²] + O(h²)
(Kovachki & Stuart 2021; Ghosh et al. 2023). This script derives it with β a
symbol, checks that formula exactly, checks that β = 0 gives gradient descent
at every order shown, and prints the higher orders (and their LaTeX).

    python examples/heavy_ball.py [--fast] [--order N]
"""

from __future__ import annotations

import argparse

import sympy as sp

import bea

BETA = sp.Symbol("beta")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--order", type=int, default=3, help="highest power of h (default 3)")
    parser.add_argument("--fast", action="store_true", help="skip the LaTeX output")
    args = parser.parse_args(argv)
    order = args.order

    hb = bea.optimizers.heavy_ball(BETA)
    me = bea.modified_equation(hb, order=order)
    print(f"Heavy ball, symbolic β, through h^{order}:\n")
    print(me)
    ml = bea.modified_loss(hb, order=order)
    print()
    print(ml)

    (_, c0), (_, c1) = ml.loss_terms()
    assert sp.simplify(c0 - 1 / (1 - BETA)) == 0
    assert sp.simplify(c1 - (1 + BETA) / (4 * (1 - BETA) ** 3)) == 0
    print(
        "\nfirst order: −1/(1−β) ∇[L + h(1+β)/(4(1−β)²) ‖∇L‖²]  (Ghosh et al. 2023): check passed"
    )

    gd = bea.modified_equation(bea.gd(), order=order)
    assert all(sp.simplify(w.subs(BETA, 0) - gd.coefficient(t)) == 0 for t, w in me)
    zero = bea.modified_equation(bea.optimizers.heavy_ball(0), order=order)
    assert all(zero.coefficient(t) == w for t, w in gd)
    print(f"β = 0 reduces to gradient descent through h^{order}: check passed")

    if not args.fast:
        print("\nLaTeX of the modified equation:\n")
        print(r"\tilde f = " + me.latex())
        print("\nLaTeX of the modified loss:\n")
        print(ml.latex())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
