"""``agreement(solver="dopri8-fixed")``: fixed steps checked by step doubling, diffrax where not.

The checks: the tableau (``numerics._dopri8``) against the order conditions and
against diffrax's Dopri8 in the same fixed steps, its order 8 measured, the
fixed-step solve against closed-form solutions (the exponential, a rotation),
the check failing for too few steps and for a non-finite solution, sweeps equal
to adaptive Dopri8 sweeps to the floor (the same printed table) without tracing
diffrax, and lanes that fail the check solved again with adaptive Dopri8, with a
note.
"""

from __future__ import annotations

import math

import diffrax
import jax.numpy as jnp
import numpy as np
import sympy as sp

import bea
import numerics
from numerics import _dopri8, _sweep

X0 = np.array([0.8, -0.5])


def _loss(scale=1):
    x, y = sp.symbols("x y")  # the loss of ``bea verify gd --loss logcosh``
    return numerics.SympyLoss(sp.log(sp.cosh(x)) + scale * sp.log(sp.cosh(y)), [x, y])


def _decay(y):
    return -y


def test_the_tableau_meets_the_order_conditions_and_is_diffraxs():
    A, b, c = np.array(_dopri8.A), np.array(_dopri8.B), np.array(_dopri8.C)
    np.testing.assert_allclose(A.sum(axis=1), c, rtol=0, atol=1e-14)
    assert np.all(np.triu(A) == 0)  # explicit
    for k in range(8):  # quadrature conditions Σ b_i c_i^k = 1/(k+1) through order 8
        assert abs(b @ c**k - 1 / (k + 1)) < 1e-13
    assert abs(b @ A @ c - 1 / 6) < 1e-13 and abs(b @ A @ A @ c - 1 / 24) < 1e-13
    # the same steps as diffrax's Dopri8 with a constant step size
    for t1 in (1.0, 3.0):
        y, _, n = _sweep._fixed_solve(_decay, jnp.array([1.0, 0.5]), t1, 1e-13, 1e-13, steps=8)
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(lambda t, y, args: -y),
            diffrax.Dopri8(),
            0.0,
            t1,
            t1 / int(n),
            jnp.array([1.0, 0.5]),
            stepsize_controller=diffrax.ConstantStepSize(),
        )
        np.testing.assert_allclose(np.asarray(y), np.asarray(sol.ys[-1]), rtol=1e-14, atol=0)


def test_order_eight_and_closed_forms():
    # y' = -y², y(0) = 1: y(2) = 1/3; the error falls by about 2^8 when the steps double
    errors = []
    for steps in (4, 8):
        y, _, _ = _sweep._fixed_solve(lambda y: -(y**2), jnp.ones(1), 2.0, 1e-13, 1e-13, steps)
        errors.append(abs(float(y[0]) - 1 / 3))
    assert 150 < errors[0] / errors[1] < 400
    # a rotation y' = (-y1, y0) from (1, 0): (cos t, sin t). The check passes exactly where
    # the error is within (twice) the tolerance, and fails over a long horizon
    codes = {}
    for t1 in (0.5, 8.0, 30.0, 300.0):
        y, code, _ = _sweep._fixed_solve(
            lambda y: jnp.stack([-y[1], y[0]]), jnp.array([1.0, 0.0]), t1, 1e-13, 1e-13
        )
        error = float(np.linalg.norm(np.asarray(y) - [np.cos(t1), np.sin(t1)]))
        tolerance = 1e-13 * float(np.linalg.norm(y)) + 1e-13
        codes[t1] = int(code)
        assert error <= 2 * tolerance if codes[t1] == 0 else error > 0.5 * tolerance
    assert codes[0.5] == codes[30.0] == 0 and codes[300.0] == 1


def test_the_check_fails_for_too_few_steps_and_for_non_finite_solutions():
    y, code, _ = _sweep._fixed_solve(_decay, jnp.ones(1), 4.0, 1e-13, 1e-13, steps=2)
    assert int(code) == 1 and abs(float(y[0]) - math.exp(-4.0)) > 1e-10
    # y' = y², y(0) = 1 blows up at t = 1: not finite at t = 2
    _, code, _ = _sweep._fixed_solve(lambda y: y**2, jnp.ones(1), 2.0, 1e-13, 1e-13)
    assert int(code) == 1


def test_fixed_step_sweeps_equal_adaptive_sweeps_to_the_floor(monkeypatch):
    adaptive = numerics.agreement(bea.gd(), _loss(), X0, solver="dopri8")

    def traced(*args, **kwargs):
        raise AssertionError("diffrax was traced for a fixed-step sweep whose checks pass")

    monkeypatch.setattr(diffrax, "diffeqsolve", traced)
    fixed = numerics.agreement(bea.gd(), _loss(), X0, solver="dopri8-fixed")
    # the reference flows differ by ≲ 1e-13 (adaptive at rtol = atol = 1e-13; fixed checked
    # to rtol·‖y‖ + atol): the errors agree to the floor, 1e-3 of the smallest error here
    assert min(float(np.min(adaptive.errors[p])) for p in adaptive.orders) > adaptive.floor
    for p in adaptive.orders:
        np.testing.assert_allclose(fixed.errors[p], adaptive.errors[p], rtol=0, atol=adaptive.floor)
    assert fixed.table() == adaptive.table()  # to the printed digits
    assert not any("fixed-step" in note for note in fixed.notes)


def test_lanes_failing_the_check_are_solved_adaptively(monkeypatch):
    kw = dict(orders=(0, 1, 2), step_sizes=[0.2, 0.1, 0.05], check_range=False)
    adaptive = numerics.agreement(bea.gd(), _loss(2), X0, solver="dopri8", **kw)
    monkeypatch.setattr(_sweep, "_FIXED_STEPS", 1)  # 2 steps: every lane fails the check
    fixed = numerics.agreement(bea.gd(), _loss(2), X0, solver="dopri8-fixed", **kw)
    assert any("3 lane(s) failed the fixed-step check" in note for note in fixed.notes)
    assert not fixed.failures
    for p in kw["orders"]:  # adaptive order by order against adaptive for all orders at once
        np.testing.assert_allclose(fixed.errors[p], adaptive.errors[p], rtol=0, atol=adaptive.floor)
