"""Optimizer design: solutions have the target modified loss, checked independently.

Oracles: ``bea.modified_loss`` of each returned optimizer (the tree engine
run on the substituted method, not the design equations); the coordinate
backend ``coordinate_modified_equation`` on a concrete 2-D loss (sympy
expansion in h, no trees); published identities (USAM λ = c/2 + 1/4, Ralston's
minimum-error method, Karakida et al. 2023's finite-difference gradient
regularisation); and numerical trajectories (``numerics.agreement``).
"""

from __future__ import annotations

import json
import time

import pytest
import sympy as sp

import bea
from bea.coordinates import coordinate_modified_equation
from bea.designer._target import parse_target

x, y = sp.symbols("x y")
L2 = x**4 / 4 + x * y**2 + y**2 / 2  # a concrete 2-D loss with non-zero third derivatives
lam, c, g = sp.symbols("lam c g")
R = sp.Rational


def _target_terms(d, upto):
    return {t: v for t, v in d.target.items() if len(t) <= upto + 1 and v != 0}


def _check_solution(d, i, values=None):
    """Solution i: modified_loss equals the target through p; coordinates agree on L2.

    ``values`` fixes the unknowns left free and the parameters (numbers), so that
    the coordinate backend runs on numbers.
    """
    values = {sp.Symbol(k) if isinstance(k, str) else k: v for k, v in (values or {}).items()}
    sol = {u: sp.sympify(v).subs(values) for u, v in d.solutions[i].items()}
    opt = d.optimizers[i]
    opt = opt.with_values(**{str(u): v for u, v in values.items() if u in opt.symbols})
    k = d.gradient_order
    ml = bea.modified_loss(opt, k)
    assert ml.gradient_order >= k
    got = {t: sp.cancel(v) for t, v in ml.loss_terms() if len(t) <= d.order + 1}
    want = {t: sp.cancel(v.subs(sol).subs(values)) for t, v in _target_terms(d, d.order).items()}
    assert set(got) == set(want) and all(sp.cancel(got[t] - want[t]) == 0 for t in got)
    # independent oracle: the coordinate backend, on a concrete loss
    field = coordinate_modified_equation(opt, L2, [x, y], k)
    Lt = ml.on(L2, [x, y])
    assert sp.expand(field + sp.Matrix([sp.diff(Lt, v) for v in (x, y)])) == sp.zeros(2, 1)
    target_field = d.field_on(L2, [x, y]).subs(sol).subs(values)
    low = sp.expand(field - target_field)
    # through h^p the field is the target's
    for e in low:
        assert all(sp.expand(e).coeff(bea.h, j) == 0 for j in range(d.order + 1))


def test_two_stage_schemes_without_implicit_regularisation():
    d = bea.design(bea.families.explicit(2), order=1, target={"[]": 1})
    a21, b1, b2 = sp.symbols("a21 b1 b2")
    assert d.exists and d.solutions == [{b2: 1 / (2 * a21), b1: (2 * a21 - 1) / (2 * a21)}]
    assert d.free == [(a21,)]
    _check_solution(d, 0, {"a21": R(1, 3)})
    _check_solution(d, 0, {"a21": 1})  # Heun


@pytest.mark.parametrize("value", [0, 1, R(3, 7)])
def test_two_gradient_methods_with_a_given_lambda(value):
    d = bea.design(bea.families.explicit(2), order=1, target={"[]": 1, "[[]]": value})
    assert len(d.solutions) == 1
    _check_solution(d, 0, {"a21": R(1, 2)})
    _check_solution(d, 0, {"a21": -2})


def test_usam_identity_is_a_one_parameter_solution():
    # λ = c/2 + 1/4 (unnormalised SAM with ρ = c·h; Andriushchenko & Flammarion 2022,
    # Compagnoni et al. 2023): lam solved, c free
    d = bea.design(bea.families.usam(), order=1, target={"[]": 1, "[[]]": lam}, unknowns=[c, lam])
    (sol,) = d.solutions
    assert sp.cancel(sol[lam] - (c / 2 + R(1, 4))) == 0 and d.free == [(c,)]
    _check_solution(d, 0, {"c": R(2, 5)})


def test_karakida_finite_difference_gradient_regularisation():
    # F-GR (Karakida et al., ICML 2023): θ⁺ = θ − η[(1 − γ/ε)∇L(θ) + (γ/ε)∇L(θ + ε∇L(θ))]
    # with η = h, ε = c·h, γ = g·h has L̃ = L + h(g/2 + 1/4)‖∇L‖² (explicit γ/2 plus
    # the implicit h/4). Fix the ascent point, solve the weights.
    fam = bea.families.explicit(2, A=[[0, 0], [-c, 0]])
    d = bea.design(fam, order=1, target={"[]": 1, "[[]]": g / 2 + R(1, 4)}, unknowns=["b1", "b2"])
    b1, b2 = sp.symbols("b1 b2")
    (sol,) = d.solutions
    assert sp.cancel(sol[b2] - g / c) == 0 and sp.cancel(sol[b1] - (1 - g / c)) == 0
    assert set(d.parameters) == {c, g}
    _check_solution(d, 0, {"c": R(1, 2), "g": R(1, 3)})


def test_ralston_is_the_next_order_minimiser():
    # Ralston (1962): among 2-stage order-2 methods, a21 = 2/3, b = (1/4, 3/4) minimises
    # the h² error coefficients
    d = bea.design(bea.families.explicit(2), order=1, objective="next_order")
    a21, b1, b2 = sp.symbols("a21 b1 b2")
    assert d.solutions == [{a21: R(2, 3), b1: R(1, 4), b2: R(3, 4)}] or (
        d.solutions[0] == {b2: R(3, 4), b1: R(1, 4), a21: R(2, 3)}
    )
    # the objective value really is a minimum along the family
    d0 = bea.design(bea.families.explicit(2), order=1)
    obj = sum(
        (w / t.symmetry()) ** 2 for t, w in bea.modified_equation(d0.optimizers[0], 2).terms(2)
    )
    assert sp.diff(obj, a21).subs(a21, R(2, 3)) == 0
    assert obj.subs(a21, R(2, 3)) < obj.subs(a21, R(1, 2)) and obj.subs(a21, R(2, 3)) < obj.subs(
        a21, 1
    )
    assert d.objective_values == [obj.subs(a21, R(2, 3))]


def test_gradient_h2_needs_two_stages():
    t0 = time.perf_counter()
    d1 = bea.design(bea.families.explicit(1), order=0, gradient_order=2)
    assert time.perf_counter() - t0 < 5  # a proof, not a time-out
    assert not d1.exists and d1.proof == [1] and "Gröbner basis {1}" in d1.reason
    d2 = bea.design(bea.families.explicit(2), order=0, gradient_order=2)
    a21 = sp.Symbol("a21")
    assert d2.exists and d2.free == [(a21,)]
    _check_solution(d2, 0, {"a21": R(1, 2)})
    # with no first-order regularisation on top: a unique method
    d3 = bea.design(bea.families.explicit(2), order=1, gradient_order=2)
    assert len(d3.solutions) == 1 and d3.free == [()]
    assert d3.solutions[0][a21] == R(1, 3)
    _check_solution(d3, 0)


def test_no_solution_comes_with_a_proof_fast():
    t0 = time.perf_counter()
    # third-order gradient-flow accuracy is out of reach of two stages
    d = bea.design(bea.families.explicit(2), order=2)
    assert time.perf_counter() - t0 < 5
    assert d.exists is False and d.proof == [1] and d.solutions == [] and d.optimizers == []
    assert "through h^2" in d.text() and "no solution" in d.text()
    assert d.to_dict()["proof"] == ["1"]


def test_momentum_and_lookahead_families():
    d = bea.design(bea.families.momentum(beta=R(1, 2)), order=1, target={"[]": 1, "[[]]": R(1, 4)})
    (sol,) = d.solutions
    alpha, gamma = sp.symbols("alpha gamma")
    assert sol == {gamma: R(1, 1), alpha: R(1, 2)} or sol == {alpha: R(1, 2), gamma: 1}
    _check_solution(d, 0)
    d = bea.design(bea.families.lookahead(2), order=1, target="L")
    (sol,) = d.solutions
    _check_solution(d, 0)


def test_designed_method_follows_its_target_flow_numerically():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    import numerics

    Ls = sp.log(sp.cosh(x)) + sp.log(sp.cosh(y)) / 2 + x * y / 4
    d = bea.design(bea.families.explicit(2), order=1, target={"[]": 1, "[[]]": 1})
    opt = d.optimizers[0].with_values(a21=1)  # b = (5/2, −3/2): L + h‖∇L‖²
    fexpr = d.field_on(Ls, [x, y])
    fn = sp.lambdify([x, y, bea.h], list(fexpr), modules="jax")

    def field(order, h):
        return lambda v: jnp.stack([jnp.asarray(e) for e in fn(v[0], v[1], h)])

    lfn = sp.lambdify([x, y], Ls, modules="jax")

    def loss(v):
        return lfn(v[0], v[1])

    x0 = jnp.array([0.9, -0.6])
    # float64 round-off is ~1e-16 and the smallest errors are ~1e-6: a tolerance of 0.2 on
    # the slope (numerics' default) leaves room for the fit only
    r = numerics.agreement(opt, loss, x0, orders=(1,), field=field, horizon=1.0)
    assert abs(r.slopes[1] - 2) < 0.2
    r_gd = numerics.agreement(bea.gd(), loss, x0, orders=(1,), field=field, horizon=1.0)
    assert r_gd.slopes[1] < 1.3  # GD's h-term is h/4‖∇L‖², not h‖∇L‖²: first order only
    del jax


def test_target_forms_and_rendering():
    assert parse_target("L + 3/7*h*|grad L|^2") == {
        bea.FreeTree("[]"): 1,
        bea.FreeTree("[[]]"): R(3, 7),
    }
    t = parse_target("L + h^2*(S[[[]]] + grad L.hess L.grad L)")
    assert t[bea.FreeTree("[[],[]]")] == 2
    assert parse_target('{"[]": 1, "[[]]": "3/7"}')[bea.FreeTree("[[]]")] == R(3, 7)
    # any rooting names the free tree
    d1 = bea.design(bea.families.explicit(2), order=2, target={"[]": 1, "[[],[]]": 0})
    d2 = bea.design(bea.families.explicit(2), order=2, target={"[]": 1, "[[[]]]": 0})
    assert d1.target == d2.target
    d = bea.design(bea.families.explicit(2), order=1, target="L + 3/7*h*‖∇L‖²")
    assert "3h/7 ‖∇L‖²" in d.text()
    assert d.terms(1) == [(bea.FreeTree("[[]]"), R(3, 7))]
    assert json.loads(json.dumps(d.to_dict()))["exists"] is True
    assert isinstance(d, bea.Result) and sp.latex(d) == d.latex()
    assert sp.expand(d.on(x**2 / 2, [x]) - (x**2 / 2 + R(3, 7) * bea.h * x**2)) == 0


def test_bad_input_is_rejected_with_the_fix():
    fam = bea.families.explicit(2)
    with pytest.raises(ValueError, match="beyond order=1"):
        bea.design(fam, order=1, target={"[]": 1, "[[],[]]": 1})
    with pytest.raises(ValueError, match="does not appear"):
        bea.design(fam, order=1, unknowns=["beta"])
    with pytest.raises(ValueError, match="c\\(•\\) = 0"):
        bea.design(fam, order=1, target={"[[]]": 1})

    def scaled(x, state, step, a):
        return 2 * x + a * step(x)

    with pytest.raises(ValueError, match="not x \\+ O\\(h\\)"):
        bea.design(bea.Optimizer(scaled, a=sp.Symbol("a")), order=1)
    with pytest.raises(ValueError, match="coordinate by coordinate"):
        bea.design(bea.optimizers.sign_gd(), order=1)
    with pytest.raises(ValueError, match="no symbolic coefficients"):
        bea.design(bea.gd(), order=1)
    with pytest.raises(TypeError, match=r"bea\.Method"):
        bea.design("explicit2", order=1)
    with pytest.raises(ValueError, match="cannot read the target"):
        parse_target("L + h*|grad L|")


def test_cli_design(capsys):
    from bea.cli._main import main

    assert main(["design", "explicit", "--stages", "2", "--order", "1",
                 "--target", "L + 3/7*h*|grad L|^2"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "b2 = -5/(14*a21)" in out or "b2 = " in out
    assert main(["design", "explicit", "--stages", "1", "--gradient-order", "2",
                 "--format", "json"]) == 0  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert data["exists"] is False and data["proof"] == ["1"]
    assert main(["design", "usam", "--order", "1", "--target", "L + lam*h*|grad L|^2",
                 "--unknowns", "c,lam"]) == 0  # fmt: skip
    assert "lam = c/2 + 1/4" in capsys.readouterr().out
    assert main(["design", "explicit", "--order", "1", "--target", "L + h*|grad L|"]) == 2


def test_designed_optimizers_run_in_optax_and_codegen():
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    import jax.numpy as jnp

    import bea.jax

    d = bea.design(bea.families.explicit(2), order=1, target="L + h*|grad L|^2")
    opt = d.optimizers[0].with_values(a21=1)  # x⁺ = x + 5/2 k1 − 3/2 k2

    def loss(v):
        return jnp.sum(jnp.log(jnp.cosh(v))) + 0.5 * v[0] * v[1]

    h = 0.1
    tx = bea.jax.as_optax(opt, h, loss_fn=loss)
    x0 = jnp.array([0.7, -0.3])
    state = tx.init(x0)
    updates, _ = tx.update(jax.grad(loss)(x0), state, x0)
    k1 = -h * jax.grad(loss)(x0)
    k2 = -h * jax.grad(loss)(x0 + k1)
    # the same float64 arithmetic in another order: agreement to a few ulps
    assert jnp.allclose(
        optax.apply_updates(x0, updates), x0 + 2.5 * k1 - 1.5 * k2, rtol=0, atol=1e-15
    )
    # the generated modified loss through h^1 is L + h‖∇L‖² on this loss
    Lt = bea.jax.modified_loss(loss, opt, 1, h)
    g = jax.grad(loss)(x0)
    assert abs(Lt(x0) - (loss(x0) + h * jnp.dot(g, g))) < 1e-14
    # an unknown left free becomes an argument of the generated module (USAM's c, with
    # λ = c/2 + 1/4 solved)
    du = bea.design(bea.families.usam(), order=1, target="L + lam*h*|grad L|^2", unknowns=[c, lam])
    src = bea.jax.module_source(du.optimizers[0], 2, kind="field")
    assert "def modified_field(loss_fn, h, c)" in src
