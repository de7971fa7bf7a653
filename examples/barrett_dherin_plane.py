"""Implicit gradient regularization in the plane (after Barrett & Dherin, ICLR 2021, Fig. 1).

The two-parameter model L(a, b) = (y − a·b·x)²/2 has a hyperbola of global
minima a·b = y/x. Gradient descent with step h does not follow the gradient
flow a' = −∇L: to O(h²) it follows the flow of the modified loss
L̃ = L + h/4 ‖∇L‖² (the order-1 modified field f − h/2 f'f), whose extra term
pushes it toward the flatter part of the valley, near a = b.

The script draws, from a few starts, the GD iterates (dots), the gradient
flow (dashed) and the order-1 modified flow (solid) over the loss contours,
and prints, per start, the largest distance between the iterate x_k and each
flow at time k·h.

Usage::

    python examples/barrett_dherin_plane.py [--fast] [--out plane.png] [--h 0.1] [--steps 60]
"""

from __future__ import annotations

import argparse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="barrett_dherin_plane.png", help="PNG (or PDF) path")
    parser.add_argument("--fast", action="store_true", help="fewer starts, coarser contours")
    parser.add_argument("--h", type=float, default=0.1, help="GD step size")
    parser.add_argument("--steps", type=int, default=60, help="GD steps")
    args = parser.parse_args()

    import jax

    jax.config.update("jax_enable_x64", True)
    import diffrax
    import jax.numpy as jnp
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    import bea
    import bea.jax

    x_in, y_out = 1.0, 1.0

    def loss(p):
        return 0.5 * (y_out - p[0] * p[1] * x_in) ** 2

    h, n = args.h, args.steps
    grad = jax.jit(jax.grad(loss))
    fields = {p: jax.jit(bea.jax.modified_field(loss, bea.gd(), p, h)) for p in (0, 1)}

    def flow(order, start):
        term = diffrax.ODETerm(lambda t, y, _: fields[order](y))
        ts = h * jnp.arange(n + 1)  # the times of the iterates
        sol = diffrax.diffeqsolve(
            term,
            diffrax.Dopri8(),
            0.0,
            n * h,
            None,
            start,
            stepsize_controller=diffrax.PIDController(rtol=1e-10, atol=1e-12),
            saveat=diffrax.SaveAt(ts=ts),
        )
        return np.asarray(sol.ys)

    starts = [(2.6, 0.2), (0.15, 2.4)] if args.fast else [(2.6, 0.2), (0.15, 2.4), (2.2, 1.6)]
    fig, ax = plt.subplots(figsize=(6.4, 6.0))
    grid = np.linspace(-0.2, 3.0, 120 if args.fast else 300)
    A, B = np.meshgrid(grid, grid)
    Z = 0.5 * (y_out - A * B * x_in) ** 2
    ax.contour(A, B, np.log10(Z + 1e-4), levels=20, cmap="Greys", linewidths=0.6)
    a = np.linspace(0.3, 3.0, 200)
    ax.plot(a, y_out / (x_in * a), color="k", lw=1.5, label="minima a·b = y/x")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    print(f"h = {h}, {n} steps (T = {n * h:g}); largest distance from the GD iterates to")
    print(f"{'start':>14} {'gradient flow':>14} {'order-1 flow':>13}")
    for k, s in enumerate(starts):
        col = colours[k % len(colours)]
        x = jnp.array(s)
        iterates = [np.asarray(x)]
        for _ in range(n):
            x = x - h * grad(x)
            iterates.append(np.asarray(x))
        iterates = np.array(iterates)
        gf, mf = flow(0, jnp.array(s)), flow(1, jnp.array(s))
        ax.plot(
            iterates[:, 0], iterates[:, 1], "o", ms=3, color=col, label="GD" if k == 0 else None
        )
        ax.plot(gf[:, 0], gf[:, 1], "--", color=col, label="gradient flow" if k == 0 else None)
        ax.plot(
            mf[:, 0], mf[:, 1], "-", color=col, label="order-1 modified flow" if k == 0 else None
        )
        d0 = np.max(np.linalg.norm(iterates - gf, axis=1))
        d1 = np.max(np.linalg.norm(iterates - mf, axis=1))
        print(f"{s!s:>14} {d0:14.3e} {d1:13.3e}")
    ax.set_xlim(grid[0], grid[-1])
    ax.set_ylim(grid[0], grid[-1])
    ax.set_aspect("equal")
    ax.set_xlabel("a")
    ax.set_ylabel("b")
    ax.set_title(f"L = (y − abx)²/2: GD (h = {h}) follows L + h/4 ‖∇L‖²")
    ax.legend(loc="upper right", fontsize=8)
    fig.savefig(args.out, bbox_inches="tight", dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
