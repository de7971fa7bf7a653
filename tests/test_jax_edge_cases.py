"""Edge cases of the bea.jax API (issue 17, item 14)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import pytest
import sympy as sp

import bea
import bea.jax


def _quartic(x):
    return jnp.sum(x**4) / 4


@pytest.mark.parametrize("h", [math.inf, -math.inf, math.nan, jnp.array(jnp.inf)])
def test_non_finite_step_is_rejected(h):
    with pytest.raises(ValueError, match="positive finite step size"):
        bea.jax.modified_field(_quartic, bea.gd(), 1, h)
    with pytest.raises(ValueError, match="positive finite step size"):
        bea.jax.modified_loss(_quartic, bea.gd(), 1, h)


@pytest.mark.parametrize(
    ("beta", "match"),
    [(1.0, "beta = 1 has no underlying one-step method"), (2.0, "expected -1 < beta < 1")],
)
def test_params_outside_the_method_domain(beta, match):
    method = bea.optimizers.heavy_ball(sp.Symbol("beta"))
    with pytest.raises(ValueError, match=match):
        bea.jax.modified_field(_quartic, method, 1, 0.1, hyperparameters={"beta": beta})
    with pytest.raises(ValueError, match=match):  # the same check as the catalog's
        bea.optimizers.heavy_ball(beta)


@pytest.mark.parametrize("value", [math.nan, math.inf, 1j, sp.I, "0.5", [0.5]])
def test_params_must_be_finite_real_numbers(value):
    method = bea.optimizers.heavy_ball(sp.Symbol("beta"))
    with pytest.raises((TypeError, ValueError), match=r"hyperparameters\['beta'\]"):
        bea.jax.modified_field(_quartic, method, 1, 0.1, hyperparameters={"beta": value})


def test_exact_and_numpy_params_are_accepted():
    method = bea.optimizers.heavy_ball(sp.Symbol("beta"))
    x = jnp.array([1.0])
    a = bea.jax.modified_field(
        _quartic, method, 1, 0.1, hyperparameters={"beta": sp.Rational(1, 2)}
    )(x)
    b = bea.jax.modified_field(
        _quartic, method, 1, 0.1, hyperparameters={"beta": jnp.float64(0.5)}
    )(x)
    # heavy ball, beta = 1/2, order 1 (DESIGN.md): f̃ = -1/(1-β) ∇[L + h(1+β)/(4(1-β)²)|∇L|²]
    # on L = x⁴/4 at x = 1: ∇L = 1, ∇|∇L|² = 6 -> -2 (1 + 0.1·1.5/(4·0.25)·6) = -3.8
    assert float(a[0]) == pytest.approx(-3.8, rel=1e-12)
    assert float(b[0]) == float(a[0])


def test_coordinatewise_methods_have_no_tree_form():
    for method in (bea.optimizers.adam(), bea.optimizers.rmsprop(), bea.optimizers.sign_gd()):
        with pytest.raises(ValueError, match=r"no tree form.*modified_equation.*as_optax"):
            bea.jax.modified_field(_quartic, method, 1, 0.1)
        with pytest.raises(ValueError, match="no tree form"):
            bea.jax.module_source(method, 1)


@pytest.mark.parametrize("order", [2, 3, 4])
def test_generated_fields_are_finite_at_h_zero(order):
    """No coefficient divides by h: h = 0 under vmap gives f exactly, tiny h does not raise."""
    source = bea.jax.module_source(bea.gd(), order)
    assert "/ h" not in source
    x = jnp.array([0.7, -1.3])
    f = -(x**3)

    def field(h):
        return bea.jax.modified_field(_quartic, bea.gd(), order, h)(x)

    values = jax.vmap(field)(jnp.array([0.0, 0.1]))
    assert bool(jnp.all(jnp.isfinite(values)))
    assert jnp.array_equal(values[0], f)  # f̃ = f at h = 0, exactly
    tiny = bea.jax.modified_field(_quartic, bea.gd(), order, 1e-300)(x)
    assert jnp.allclose(tiny, f, rtol=1e-15, atol=0)  # the h-terms are ~1e-300
