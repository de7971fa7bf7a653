"""The approximate modified field from differences of optimizer steps (bea.jax.approximate_field).

It is not exact: its error against the exact truncated field is O(h^{p+1}),
checked by a fitted slope against the sympy oracle; on a quadratic loss it is
exact (the log of I − hA truncated as the field is), checked against the
matrix-logarithm series.
"""

from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp
from exact_checks import quadratic_gd_field

import bea
import bea.jax

jax.config.update("jax_enable_x64", True)

x, y = sp.symbols("x y")
L_SYM = x**4 / 4 + x * y**2 + sp.sin(y)
POINT = (0.3, -0.7)


def _loss(p):
    return p[0] ** 4 / 4 + p[0] * p[1] ** 2 + jnp.sin(p[1])


def _exact(method, order, h):
    """The truncated field through h^order from sympy (the oracle), at POINT."""
    expr = bea.modified_equation(method, order).on(L_SYM, [x, y])
    subs = {
        bea.h: sp.Rational(repr(h)),
        x: sp.Rational(repr(POINT[0])),
        y: sp.Rational(repr(POINT[1])),
    }
    return np.array([float(sp.N(e.subs(subs), 30)) for e in expr])


@pytest.mark.parametrize("order", range(7))
def test_weights_differentiate_polynomials_exactly(order):
    # Newton's series truncated at k ≤ p+1 is exact for polynomials of degree ≤ p+1:
    # Σ_j c_j P(j) = P'(0); for P(t) = t^m that is [m == 1].
    c, w = bea.jax.difference_weights(order)
    for m in range(order + 2):
        assert sum(cj * Fraction(j) ** m for j, cj in enumerate(c)) == (1 if m == 1 else 0)
    assert sum(w) == 1  # at h = 0 the field is −∇L
    assert all(w[i] == sum(c[i + 1 :]) for i in range(order + 1))


def test_order_one_weights_by_hand():
    # Δy − Δ²y/2 = −3/2 y0 + 2 y1 − 1/2 y2
    c, w = bea.jax.difference_weights(1)
    assert c == [Fraction(-3, 2), Fraction(2), Fraction(-1, 2)]
    assert w == [Fraction(3, 2), Fraction(-1, 2)]


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("method", ["gd", "heun"])
def test_error_is_order_h_to_the_p_plus_one(order, method):
    m = {"gd": bea.gd, "heun": bea.heun}[method]()
    hs = np.geomspace(0.1, 0.0125, 4)
    errs = []
    for h in hs:
        kw = {} if method == "gd" else {"method": m}
        got = bea.jax.approximate_field(_loss, order, float(h), **kw)(jnp.array(POINT))
        errs.append(np.linalg.norm(np.asarray(got) - _exact(m, order, float(h))))
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    # the error is C·h^{p+1}: a fitted slope within 0.25 of p + 1 (the errors stay far
    # above float64 rounding, ≥ 1e-9 here)
    assert abs(slope - (order + 1)) <= 0.25, (slope, errs)
    assert min(errs) > 1e-12


@pytest.mark.parametrize("order", [0, 1, 2, 4])
def test_quadratic_is_exact(order):
    # For L = xᵀAx/2, y_j = (I − hA)^j y0 and the differences give −Σ_{k≤p+1} h^{k−1} A^k y0 / k:
    # exactly the truncated modified field (1/h) log(I − hA) y0 through h^p.
    h = 0.05
    A, x0, expected = quadratic_gd_field(order, h)
    field = bea.jax.approximate_field(lambda p: 0.5 * p @ (jnp.array(A) @ p), order, h=h)
    got = np.asarray(field(jnp.array(x0)))
    assert np.max(np.abs(got - expected)) <= 1e-12 * np.max(np.abs(expected))


def test_pytrees_jit_and_step_size_zero():
    params = {"a": jnp.array([0.3]), "b": jnp.array(-0.7)}

    def loss(p, scale):
        return scale * _loss(jnp.concatenate([p["a"], p["b"][None]]))

    field = jax.jit(lambda p, h: bea.jax.approximate_field(loss, 2, h)(p, 1.0))
    out = field(params, 0.05)
    flat = bea.jax.approximate_field(_loss, 2, 0.05)(jnp.array(POINT))
    assert jax.tree_util.tree_structure(out) == jax.tree_util.tree_structure(params)
    np.testing.assert_allclose([out["a"][0], out["b"]], flat, rtol=1e-14)
    # no division by h: at h = 0 (traced) the field is −∇L
    at_zero = field(params, 0.0)
    g = jax.grad(_loss)(jnp.array(POINT))
    np.testing.assert_allclose([at_zero["a"][0], at_zero["b"]], -g, rtol=1e-15)


def test_bad_input():
    with pytest.raises(ValueError, match="carries state"):
        bea.jax.approximate_field(_loss, 1, 0.1, method=bea.optimizers.heavy_ball(0.5))
    with pytest.raises(TypeError, match="expected a method"):
        bea.jax.approximate_field(_loss, 1, 0.1, method="gd")
    with pytest.raises(ValueError, match="non-negative int"):
        bea.jax.approximate_field(_loss, -1, 0.1)
    for bad in (-0.1, float("inf")):
        with pytest.raises(ValueError, match="positive finite step size"):
            bea.jax.approximate_field(_loss, 1, bad)
