"""Numerical checks of the scheduled and normalised optimizers: fitted slopes of global errors."""

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import solve_ivp

import bea

h, t = bea.h, bea.t
x, y = sp.symbols("x y")
LOSS = sp.log(sp.cosh(x)) + (y - x / 2) ** 2 / 2  # a 2-D loss with a non-constant Hessian
T = 1.0
STEPS = [1 / 20, 1 / 40, 1 / 80, 1 / 160]


def _slope(errors):
    return np.polyfit(np.log(STEPS), np.log(errors), 1)[0]


def _flow(field, x0, hv):
    f = sp.lambdify([x, y, t, h], list(field), "numpy")
    sol = solve_ivp(
        lambda s, z: f(z[0], z[1], s, hv), (0, T), x0, method="DOP853", rtol=1e-12, atol=1e-13
    )
    return sol.y[:, -1]


@pytest.mark.parametrize(
    "schedule",
    [t / (t + sp.Rational(1, 5)) + sp.Rational(1, 10), (1 + sp.cos(sp.pi * t)) / 2 + 1],
    ids=["warm-up", "cosine"],
)
def test_scheduled_gd_slopes(schedule):
    """Iterates x_{n+1} = x_n − hη(nh)∇L(x_n) against the non-autonomous modified flows:
    slope 1 at order 0 and 2 at order 1 (±0.15: the next orders bend the fit slightly)."""
    eta = sp.lambdify([t], schedule, "numpy")
    grad = sp.lambdify([x, y], [LOSS.diff(x), LOSS.diff(y)], "numpy")
    x0 = np.array([0.8, -0.5])
    fields = [bea.modified_equation(bea.optimizers.gd(schedule=schedule), p) for p in (0, 1)]
    fields = [me.on(LOSS, [x, y]) for me in fields]
    errors = [[], []]
    for hv in STEPS:
        z = x0.copy()
        for n in range(round(T / hv)):
            z = z - hv * eta(n * hv) * np.array(grad(*z))
        for p in (0, 1):
            errors[p].append(np.linalg.norm(z - _flow(fields[p], x0, hv)))
    assert abs(_slope(errors[0]) - 1) < 0.15
    assert abs(_slope(errors[1]) - 2) < 0.15


def test_normalised_sam_slope_two():
    """Normalised SAM (ρ = c·h) against the flow of −∇[L + h/4‖∇L‖² + ch‖∇L‖]: slope 2."""
    c = sp.Rational(1, 2)
    g = [LOSS.diff(v) for v in (x, y)]
    norm = sp.sqrt(sum(gi**2 for gi in g))
    Lt = LOSS + h / 4 * norm**2 + c * h * norm
    field = sp.Matrix([-Lt.diff(v) for v in (x, y)])
    grad = sp.lambdify([x, y], g, "numpy")
    x0 = np.array([0.8, -0.5])
    errors = []
    for hv in STEPS:
        z = x0.copy()
        for _ in range(round(T / hv)):
            gz = np.array(grad(*z))
            z = z - hv * np.array(grad(*(z + float(c) * hv * gz / np.linalg.norm(gz))))
        errors.append(np.linalg.norm(z - _flow(field, x0, hv)))
    assert abs(_slope(errors) - 2) < 0.15
