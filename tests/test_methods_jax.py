"""Runge–Kutta methods run on arrays (bea.RungeKutta.jax)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

import bea


def loss(p):
    return jnp.sum(p**4) / 4 + p[0] * p[1]


grad = jax.grad(loss)
X0 = jnp.array([0.5, -0.3])
H = 0.1


def test_explicit_methods_match_hand_written_steps():
    g = grad
    k1 = -H * g(X0)
    k2 = -H * g(X0 + k1 / 2)
    k3 = -H * g(X0 + k2 / 2)
    k4 = -H * g(X0 + k3)
    rk4 = X0 + (k1 + 2 * k2 + 2 * k3 + k4) / 6
    np.testing.assert_allclose(bea.rk4().jax(g, H)[1](X0, ())[0], rk4, rtol=0, atol=1e-15)
    np.testing.assert_allclose(bea.gd().jax(g, H)[1](X0, ())[0], X0 - H * g(X0), rtol=0, atol=1e-15)


def test_implicit_midpoint_solves_its_stage_equation():
    new = bea.implicit_midpoint().jax(grad, H)[1](X0, ())[0]
    # x⁺ = x − h ∇L((x + x⁺)/2), to the fixed point's accuracy (contraction ≈ h·Lip/2)
    np.testing.assert_allclose(new, X0 - H * grad((X0 + new) / 2), rtol=0, atol=1e-14)


def test_symbolic_tableau_is_refused_on_arrays():
    a = sp.Symbol("a")
    with pytest.raises(ValueError, match="symbolic"):
        bea.runge_kutta([[0, 0], [a, 0]], [0, 1]).jax(grad, H)
