"""``agreement(solver="rk4")``: fixed-step RK4 checked by step doubling, Dopri8 where the check fails.

The checks: RK4 against closed-form solutions (the exponential, a rotation), the
check failing for too few steps and for a non-finite solution, sweeps with RK4
equal to Dopri8 sweeps to the floor (the same printed table) without tracing
diffrax, and lanes that fail the check solved again with Dopri8, with a note.
"""

from __future__ import annotations

import diffrax
import jax.numpy as jnp
import numpy as np
import sympy as sp

import bea
import numerics
from numerics import _sweep

X0 = np.array([0.8, -0.5])


def _loss(scale=1):
    x, y = sp.symbols("x y")  # the loss of ``bea verify gd --loss logcosh``
    return numerics.SympyLoss(sp.log(sp.cosh(x)) + scale * sp.log(sp.cosh(y)), [x, y])


def test_rk4_against_closed_forms():
    # y' = -y: y(1) = e^{-1}
    y, code, n = _sweep._rk4_solve(lambda y: -y, jnp.ones(1), 1.0, 1e-13, 1e-13)
    assert abs(float(y[0]) - np.exp(-1.0)) < 1e-13 and int(code) == 0 and int(n) == 512
    # a rotation y' = (-y1, y0) from (1, 0): (cos t, sin t). The check passes exactly where
    # the error is within (twice) the tolerance, and fails over a long horizon
    codes = {}
    for t1 in (0.5, 1.0, 2.0, 8.0):
        y, code, _ = _sweep._rk4_solve(
            lambda y: jnp.stack([-y[1], y[0]]), jnp.array([1.0, 0.0]), t1, 1e-13, 1e-13
        )
        error = float(np.linalg.norm(np.asarray(y) - [np.cos(t1), np.sin(t1)]))
        codes[t1] = int(code)
        if codes[t1] == 0:
            assert error <= 2 * (1e-13 * float(np.linalg.norm(y)) + 1e-13)
        else:
            assert error > 0.5 * (1e-13 * float(np.linalg.norm(y)) + 1e-13)
    assert codes[0.5] == 0 and codes[8.0] == 1


def test_the_check_fails_for_too_few_steps_and_for_non_finite_solutions():
    # 4 steps of RK4 on y' = -y: error ≈ 5e-5, far above the tolerance
    y, code, _ = _sweep._rk4_solve(lambda y: -y, jnp.ones(1), 1.0, 1e-13, 1e-13, steps=2)
    assert int(code) == 1 and abs(float(y[0]) - np.exp(-1.0)) > 1e-8
    # y' = y², y(0) = 1 blows up at t = 1: not finite at t = 2
    _, code, _ = _sweep._rk4_solve(lambda y: y**2, jnp.ones(1), 2.0, 1e-13, 1e-13)
    assert int(code) == 1


def test_rk4_sweeps_equal_dopri8_sweeps_to_the_floor(monkeypatch):
    dopri8 = numerics.agreement(bea.gd(), _loss(), X0, solver="dopri8")

    def traced(*args, **kwargs):
        raise AssertionError("diffrax was traced for an RK4 sweep whose checks pass")

    monkeypatch.setattr(diffrax, "diffeqsolve", traced)
    rk4 = numerics.agreement(bea.gd(), _loss(), X0, solver="rk4")
    # the reference flows differ by ≲ 1e-13 (Dopri8 at rtol = atol = 1e-13; RK4 checked
    # to rtol·‖y‖ + atol): the errors agree to the floor, 1e-3 of the smallest error here
    assert min(float(np.min(dopri8.errors[p])) for p in dopri8.orders) > 1e3 * dopri8.floor / 2
    for p in dopri8.orders:
        np.testing.assert_allclose(rk4.errors[p], dopri8.errors[p], rtol=0, atol=dopri8.floor)
    assert rk4.table() == dopri8.table()  # to the printed digits
    assert not any("RK4" in note for note in rk4.notes)


def test_lanes_failing_the_check_are_solved_with_dopri8(monkeypatch):
    kw = dict(orders=(0, 1, 2), step_sizes=[0.2, 0.1, 0.05], check_range=False)
    dopri8 = numerics.agreement(bea.gd(), _loss(2), X0, solver="dopri8", **kw)
    monkeypatch.setattr(_sweep, "_RK4_STEPS", 2)  # 4 steps: every lane fails the check
    rk4 = numerics.agreement(bea.gd(), _loss(2), X0, solver="rk4", **kw)
    assert any("3 lane(s) failed the RK4 step-doubling check" in note for note in rk4.notes)
    assert not rk4.failures
    for p in kw["orders"]:  # Dopri8 order by order against Dopri8 for all orders at once
        np.testing.assert_allclose(rk4.errors[p], dopri8.errors[p], rtol=0, atol=dopri8.floor)
