"""A user-defined optimizer: lookahead-style averaging, analysed and run.

The rule is written once over points: two fast gradient steps, then a move of
a fraction α of the way towards the fast iterate,

    fast = x + step(x); fast = fast + step(fast); x⁺ = x + α (fast − x),

with step(y) = −h∇L(y). The same function gives

* the modified loss, exactly in a symbolic α:
  α L + (α²/2 − α/4) h ‖∇L‖² (time t = n·h after n gradient steps) — the
  regularizer α(2α−1)h/4 vanishes at α = 1/2, and α = 1 is plain gradient descent;
* the iteration on JAX arrays (``lookahead.jax``), whose iterates agree with
  the flow of the order-p modified field (``bea.jax.modified_field``) to
  O(h^{p+1}) at a fixed time — checked here by fitting log-error against log h.

    python examples/custom_optimizer.py [--fast]
"""

from __future__ import annotations

import argparse

import sympy as sp

import bea

ALPHA = sp.Symbol("alpha")


@bea.optimizer(name="lookahead", steps=2, alpha=ALPHA)
def lookahead(x, state, step, alpha):
    """Two fast gradient steps, then x⁺ = x + α(fast − x)."""
    fast = x + step(x)
    fast = fast + step(fast)
    return x + alpha * (fast - x)


def analyse() -> None:
    ml = bea.modified_loss(lookahead, order=2)
    print("Lookahead (two fast steps, pull-back α), symbolic α:\n")
    print(ml)
    (_, c0), (_, c1) = ml.loss_terms()
    assert c0 == ALPHA and sp.expand(c1 - (ALPHA**2 / 2 - ALPHA / 4)) == 0
    print(f"\nregularizer / leading term = {sp.factor(c1 / c0)} · h  (gradient descent: 1/4 · h)")
    plain = bea.modified_equation(lookahead.with_values(alpha=1), order=3)
    gd = bea.modified_equation(bea.gd(), order=3)
    assert all(plain.coefficient(t) == w for t, w in gd)
    print("α = 1 is gradient descent through h³: check passed")


def run(fast: bool) -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np

    import bea.jax

    jax.config.update("jax_enable_x64", True)

    def loss(w):
        return jnp.sum(w**4) / 4 + w[0] * w[1] ** 2

    alpha, T = 0.6, 1.0
    w0 = jnp.array([0.8, 0.6])
    steps = (0.05, 0.025, 0.0125) if fast else (0.05, 0.025, 0.0125, 0.00625)
    orders = (1, 2)

    def iterate(h):
        init, update = lookahead.jax(jax.grad(loss), h, alpha=alpha)
        calls = round(T / (2 * h))  # one call = two gradient steps = time 2h
        assert abs(calls * 2 * h - T) < 1e-12, h

        def body(_, carry):
            return update(*carry)

        w, _ = jax.lax.fori_loop(0, calls, body, (w0, init(w0)))
        return w

    def flow(field, n=1000):
        dt = T / n

        def body(_, z):
            k1 = field(z)
            k2 = field(z + dt / 2 * k1)
            k3 = field(z + dt / 2 * k2)
            k4 = field(z + dt * k3)
            return z + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

        return jax.jit(lambda z: jax.lax.fori_loop(0, n, body, z))(w0)

    print(f"\nJAX: lookahead(α = {alpha}) from {w0.tolist()} to T = {T}, against the flow of f̃")
    errors = {p: [] for p in orders}
    for h in steps:
        w = iterate(h)
        row = []
        for p in orders:
            field = bea.jax.modified_field(
                loss, lookahead, order=p, h=h, hyperparameters={"alpha": alpha}
            )
            e = float(jnp.linalg.norm(w - flow(field)))
            errors[p].append(e)
            row.append(f"order {p}: {e:.3e}")
        print(
            f"  h = {h:<6} iterate {np.round(np.asarray(w), 6).tolist()}  error " + ", ".join(row)
        )
    logs = np.log(np.array(steps))
    for p in orders:
        slope = np.polyfit(logs, np.log(errors[p]), 1)[0]
        print(f"fitted order, modified field through h^{p}: {slope:.2f} (expected {p + 1})")
        assert abs(slope - (p + 1)) < 0.25, (p, slope)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="three step sizes")
    args = parser.parse_args(argv)
    analyse()
    run(args.fast)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
