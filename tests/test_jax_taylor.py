"""Taylor-mode fields (bea.jax._taylor): exact tree expansions, and the same field as nested jvps."""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

import bea
import bea.jax
from bea.bseries._trees import RootedTree
from bea.jax._plan import field_plan
from bea.jax._taylor import expand, jet_outputs, taylor_field_program

jax.config.update("jax_enable_x64", True)

T = RootedTree
G = {T("[]"): 1}  # ∇L


def _target(equation) -> dict:
    """f_n = Σ_{|t| = n} (−1)^n ω(t)/σ(t) G(t), straight from the modified equation."""
    out: dict = {n: {} for n in range(1, equation.order + 2)}
    for t, omega in equation:
        if omega != 0:
            out[len(t)][t] = sp.Integer(-1) ** len(t) * sp.sympify(omega) / t.symmetry()
    return out


def test_jet_outputs_follow_faa_di_bruno():
    """y_3 = ∇⁴L[a, a, a] + 3∇³L[a, b] + ∇²L c for the curve x + s a + s²/2 b + s³/6 c."""
    hg = {T("[[]]"): 1}
    c = {T("[[],[]]"): 2}
    y1, y2, y3 = jet_outputs([G, hg, c])
    assert y1 == {T("[[]]"): 1}
    assert y2 == {T("[[],[]]"): 1, T("[[[]]]"): 1}
    assert y3 == {T("[[],[],[]]"): 1, T("[[[]],[]]"): 3, T("[[[],[]]]"): 2}
    # all coefficients g: Σ of y_4's coefficients is the Bell number B_4 = 15
    assert sum(jet_outputs([G] * 4)[-1].values()) == 15


@pytest.mark.parametrize("method", [bea.gd, bea.rk4, bea.heun])
def test_taylor_program_is_the_field_exactly(method):
    equation = bea.modified_equation(method(), 4)
    program = taylor_field_program(equation)
    assert program is not None
    got, want = expand(program), _target(equation)
    for n in range(1, 6):
        keys = set(got[n]) | set(want[n])
        assert all(sp.simplify(got[n].get(t, 0) - want[n].get(t, 0)) == 0 for t in keys), n


def test_gradient_descent_program():
    """GD through h⁴: curves (g, Hg, ·, ·), (g, 0, ·) and (Hg, 0); β = 1."""
    program = taylor_field_program(bea.modified_equation(bea.gd(), 4))
    assert program.beta == 1
    assert [len(d) for _, kind, d in program.vectors if kind == "jet"] == [1, 2, 2, 3, 3, 4, 2]
    assert bea.jax.plan_cost(bea.gd(), 4) == {
        "grad": 1,
        "hvp": 0,
        "jet1": 1,
        "jet2": 3,
        "jet3": 2,
        "jet4": 1,
    }


def test_other_orders_and_symbolic_parameters_stay_nested():
    for order in (0, 1, 2, 3):
        assert not field_plan(bea.modified_equation(bea.gd(), order)).uses_jets
    # heavy ball's D5 coefficient depends on β: dividing by it could divide by 0
    assert taylor_field_program(bea.modified_equation(bea.optimizers.heavy_ball(), 4)) is None


def _loss(p):
    return p[0] ** 4 / 4 + p[0] * p[1] ** 2 + jnp.sin(p[1]) + jnp.cosh(p[0] - p[1])


x_, y_ = sp.symbols("x y")
_SYMPY_LOSS = x_**4 / 4 + x_ * y_**2 + sp.sin(y_) + sp.cosh(x_ - y_)
_POINT = (0.3, -0.7)


def _close(a, b, rtol):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert np.max(np.abs(a - b)) <= rtol * np.max(np.abs(b)), (a, b)


_METHODS = {
    "gd": (bea.gd, None),
    "rk4": (bea.rk4, None),
    "heun": (bea.heun, None),
    "heavy_ball": (bea.optimizers.heavy_ball, {"beta": 0.5}),
}


@pytest.mark.parametrize("method", sorted(_METHODS))
def test_orders_below_four_keep_the_nested_plan(method):
    for order in (0, 1, 2, 3):
        equation = bea.modified_equation(_METHODS[method][0](), order)
        assert field_plan(equation).steps == field_plan(equation, taylor=False).steps


@pytest.mark.parametrize("method", sorted(_METHODS))
def test_taylor_field_equals_nested_field(method):
    """Same field through h⁴ to 1e-12 (f64 rounding of a few dozen terms of size ≤ 10)."""
    m, hyper = _METHODS[method]
    p = jnp.array(_POINT)
    taylor = bea.jax.modified_field(_loss, m(), order=4, h=0.1, hyperparameters=hyper)
    nested = bea.jax.modified_field(
        _loss, m(), order=4, h=0.1, hyperparameters=hyper, evaluation="nested"
    )
    assert ("jax.experimental.jet" in taylor.source) == (method != "heavy_ball")
    _close(jax.jit(taylor)(p), jax.jit(nested)(p), 1e-12)


@pytest.mark.parametrize("method", [bea.gd, bea.heun])
def test_taylor_field_matches_sympy(method):
    """Against the coordinate field of bea.modified_equation(...).on(L), exact then rounded."""
    m = method()
    expr = bea.modified_equation(m, 4).on(_SYMPY_LOSS, [x_, y_])
    subs = {bea.h: sp.Rational(1, 10), x_: sp.Rational(3, 10), y_: sp.Rational(-7, 10)}
    want = np.array([float(sp.N(e.subs(subs), 30)) for e in expr])
    field = bea.jax.modified_field(_loss, m, order=4, h=0.1)
    assert "jax.experimental.jet" in field.source
    _close(field(jnp.array(_POINT)), want, 1e-12)


def _mlp_loss(params, batch):
    x, y = batch
    hidden = jnp.tanh(x @ params["w1"] + params["b1"])
    return jnp.mean((hidden @ params["w2"] - y) ** 2)


def _mlp_fields():
    k1, k2, k3, k4 = jax.random.split(jax.random.PRNGKey(1), 4)
    params = {
        "w1": jax.random.normal(k1, (3, 6)) / 2,
        "b1": jnp.zeros(6),
        "w2": jax.random.normal(k2, (6, 2)) / 2,
    }
    batch = (jax.random.normal(k3, (5, 3)), jax.random.normal(k4, (5, 2)))

    def build(h, evaluation="taylor"):
        return bea.jax.modified_field(_mlp_loss, bea.gd(), 4, h, evaluation=evaluation)

    flat = lambda tree: jax.flatten_util.ravel_pytree(tree)[0]  # noqa: E731
    taylor, nested = build(0.2)(params, batch), build(0.2, "nested")(params, batch)
    assert jax.tree_util.tree_structure(taylor) == jax.tree_util.tree_structure(params)
    _close(flat(taylor), flat(nested), 1e-12)
    return params, batch, build, flat, nested


def test_pytree_mlp():
    """A pytree of parameters (a small tanh MLP with a batch): Taylor field = nested field."""
    _mlp_fields()


@pytest.mark.slow
def test_taylor_field_under_vmap_and_grad():
    params, batch, build, flat, nested = _mlp_fields()
    # h traced and vmapped; finite at a tiny h; differentiable
    steps = jnp.array([1e-300, 0.05, 0.2])
    swept = jax.jit(jax.vmap(lambda h: flat(build(h)(params, batch))))(steps)
    _close(swept[2], flat(nested), 1e-12)
    assert np.all(np.isfinite(swept))

    def size(p):
        return jnp.sum(flat(build(0.2)(p, batch)) ** 2)

    def size_nested(p):
        return jnp.sum(flat(build(0.2, "nested")(p, batch)) ** 2)

    _close(flat(jax.grad(size)(params)), flat(jax.grad(size_nested)(params)), 1e-11)


def test_evaluation_choice_and_missing_jet_rules():
    nested = bea.jax.module_source(bea.gd(), 4, evaluation="nested")
    assert "jax.experimental.jet" not in nested and "jax.jvp" in nested
    with pytest.raises(ValueError, match="evaluation must be"):
        bea.jax.modified_field(_loss, bea.gd(), 4, 0.1, evaluation="jet")

    def scanned(p):  # lax.scan has no jet rule
        return jax.lax.scan(lambda c, a: (c + jnp.sin(a) * c, None), 1.0, p)[0]

    p = jnp.array(_POINT)
    with pytest.raises(ValueError, match="evaluation='nested'"):
        bea.jax.modified_field(scanned, bea.gd(), 4, 0.1, evaluation="taylor")(p)
    nested_field = bea.jax.modified_field(scanned, bea.gd(), 4, 0.1, evaluation="nested")(p)
    assert np.all(np.isfinite(nested_field))
    # the default falls back to nested jvps on such a loss (same field), also under jit
    auto = bea.jax.modified_field(scanned, bea.gd(), 4, 0.1)
    assert "jax.experimental.jet" in auto.source
    np.testing.assert_array_equal(np.asarray(auto(p)), np.asarray(nested_field))
    np.testing.assert_array_equal(np.asarray(jax.jit(auto)(p)), np.asarray(nested_field))
