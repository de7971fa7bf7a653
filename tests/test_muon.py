"""Muon on a 2×2 parameter: as an optax transformation, and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

import bea
import bea.jax
import numerics

A = jnp.array([[1.0, 0.3], [-0.2, 2.0]])


def loss(w):
    W = w.reshape(2, 2)
    return jnp.sum((W - A) ** 2) / 2 + jnp.sum(W**4) / 12


def test_muon_as_optax_matches_the_rule():
    jax.config.update("jax_enable_x64", True)
    opt = bea.optimizers.muon((2, 2))
    tx = bea.jax.as_optax(opt, 0.02)
    init, update = opt.jax(jax.grad(loss), 0.02)
    w = q = jnp.array([0.4, 0.2, 0.1, 0.9])
    state, s = tx.init(w), init(q)
    for _ in range(3):
        u, state = tx.update(jax.grad(loss)(w), state, w)
        w = w + u
        q, s = update(q, s)
    np.testing.assert_allclose(np.asarray(w), np.asarray(q), rtol=0, atol=1e-12)


def test_muon_bad_input():
    with pytest.raises(ValueError, match="matrix parameter"):
        bea.optimizers.muon((4,))
    with pytest.raises(ValueError, match="matrix parameter"):
        bea.optimizers.muon((1, 3))
    with pytest.raises(ValueError, match="closed form"):
        bea.optimizers.muon((3, 3), polar=True)
    with pytest.raises(ValueError, match="ns_steps"):
        bea.optimizers.muon((2, 2), ns_steps=0)


# ----------------------------------------------------------------------------
# The modified equation through h¹: f̃ = −P(g) − h(c + ½)·DP(g)[HP(g)]
# ----------------------------------------------------------------------------

R = sp.Rational


def _problem(rows, cols, target):
    """A loss in the flattened entries whose gradient at the point is ``target``.

    A generic quadratic plus a quartic (H is not a multiple of I) plus a linear
    term chosen so that ∇L(x0) = target, whose Frobenius norm is rational:
    then X = G/‖G‖ is rational and the exact expansion stays in ℚ (fast).
    """
    xs = sp.symbols(f"w0:{rows * cols}")
    quad = sum((v - R(k + 1, 7)) ** 2 / 2 for k, v in enumerate(xs))
    quad += xs[0] * xs[-1] / 5 + xs[1] * xs[2] / 7 + xs[0] ** 4 / 12
    point = [R(k % 5 + 1, 10) * (-1) ** k for k in range(rows * cols)]
    at = dict(zip(xs, point))
    g0 = [sp.diff(quad, v).subs(at) for v in xs]
    loss = quad + sum((t - gv) * v for t, gv, v in zip(target, g0, xs))
    return loss, list(xs), point


#: ∇L at the point: 2×2 with ‖G‖_F = 1 and det G = 8/25; 3×2 / 2×3 with ‖G‖_F = 1, rank 2
G22 = [R(1, 5), R(2, 5), R(-2, 5), R(4, 5)]
G32 = [R(1, 5), R(2, 5), R(2, 5), 0, 0, R(4, 5)]


def _exact_check(shape, target, **kw):
    from bea.coordinates._pointwise import pointwise_field

    opt = bea.optimizers.muon(shape, R(1, 2), **kw)
    loss, xs, point = _problem(*shape, target)
    oracle = pointwise_field(opt, loss, xs, point)  # the raw rule, expanded at the point
    closed = bea.MuonModifiedEquation(opt).on(loss, xs).order_terms(point)
    for a, b in zip(oracle[0] + oracle[1], closed[0] + closed[1]):
        assert sp.radsimp(sp.expand(a - b)) == 0
    return closed


@pytest.mark.parametrize(
    "shape, target, kw",
    [
        ((2, 2), G22, dict(polar=True)),
        ((2, 2), G22, dict(polar=True, nesterov=False)),
        ((2, 2), G22, dict(ns_steps=1)),
        ((2, 2), G22, dict(ns_steps=2, nesterov=False)),
        ((3, 2), G32, dict(ns_steps=1)),  # tall: transposed, scaled by √(3/2)
        ((2, 3), G32, dict(polar=True)),
    ],
)
def test_closed_form_equals_the_expansion_of_the_rule(shape, target, kw):
    _, f1 = _exact_check(shape, target, **kw)
    assert any(v != 0 for v in f1)  # a real h¹ term, not a trivial match


@pytest.mark.slow
def test_closed_form_equals_the_expansion_of_the_rule_five_newton_schulz_steps():
    # the reference Muon (five quintic steps): exact numbers of several thousand digits, ~3 s
    _, f1 = _exact_check((2, 2), G22)
    assert any(v != 0 for v in f1)


def test_coefficients_and_text():
    me = bea.MuonModifiedEquation(bea.optimizers.muon((2, 2), R(9, 10)))
    assert me.c == R(81, 10) and me.coefficient == R(43, 5)  # β²/(1−β) + 1/2
    plain = bea.MuonModifiedEquation(bea.optimizers.muon((2, 2), R(9, 10), nesterov=False))
    assert plain.c == 9 and plain.coefficient == R(19, 2)  # β/(1−β) + 1/2
    assert "DP(g)[H P(g)]" in me.text() and me.to_dict()["c"] == "81/10"
    assert me.terms(1) == [("DP(g)[H P(g)]", -R(43, 5))]
    # β = 0: the memoryless map x ↦ x − hP(g), whose field is −P − (h/2)P′P
    assert bea.MuonModifiedEquation(bea.optimizers.muon((2, 2), 0)).coefficient == R(1, 2)


def test_closed_form_bad_input():
    with pytest.raises(ValueError, match="takes a Muon optimizer"):
        bea.MuonModifiedEquation(bea.optimizers.adam())
    with pytest.raises(ValueError, match="through h¹"):
        bea.MuonModifiedEquation(bea.optimizers.muon((2, 2)), 2)
    xs = sp.symbols("a b c d")
    me = bea.MuonModifiedEquation(bea.optimizers.muon((2, 2)))
    with pytest.raises(ValueError, match="needs 4 variables"):
        me.on(xs[0] ** 2, xs[:3])
    with pytest.raises(ValueError, match="vanishes"):
        me.on(sum(v**2 for v in xs), xs)([0, 0, 0, 0])
    symbolic = bea.MuonModifiedEquation(bea.optimizers.muon((2, 2), sp.Symbol("beta")))
    assert symbolic.coefficient == sp.cancel(
        sp.Symbol("beta") ** 2 / (1 - sp.Symbol("beta")) + R(1, 2)
    )
    with pytest.raises(ValueError, match="numeric hyperparameters"):
        symbolic.jax_field(loss, 0.01)


def _sweep(opt, field_eq, state):
    jax.config.update("jax_enable_x64", True)
    return numerics.agreement(
        opt,
        loss,
        jnp.array([-1.5, 0.8, -0.6, 0.3]),
        orders=(0, 1),
        horizon=0.5,
        step_sizes=[0.01, 0.005, 0.0025, 0.00125],
        field=lambda p, h: field_eq[p].jax_field(loss, h),
        state=state,
        check_range=False,  # the range check linearises the rule in one dimension
    )


def test_iterates_follow_the_first_order_flow():
    # Regime: g far from 0 and well conditioned along the run (σ_min/σ_max of G ≈ 0.7): the
    # constants of the expansion grow with ‖DP‖, up to a⁵ ≈ 486 where G/‖G‖ is near-singular.
    # Tolerance: the fitted slope within ±0.1 of p + 1 (errors 1e-4 … 1e-6, far above the floor).
    opt = bea.optimizers.muon((2, 2), 0.5)
    me = {p: bea.MuonModifiedEquation(opt, p) for p in (0, 1)}
    r = _sweep(opt, me, me[1].jax_state(loss))
    assert r.start == "given (state=)"
    assert abs(r.slopes[0] - 1) < 0.1 and abs(r.slopes[1] - 2) < 0.1, r.table()


@pytest.mark.slow
@pytest.mark.parametrize("kw", [dict(polar=True), dict(nesterov=False)])
def test_iterates_follow_the_first_order_flow_variants(kw):
    opt = bea.optimizers.muon((2, 2), 0.5, **kw)
    me = {p: bea.MuonModifiedEquation(opt, p) for p in (0, 1)}
    r = _sweep(opt, me, me[1].jax_state(loss))
    assert abs(r.slopes[0] - 1) < 0.1 and abs(r.slopes[1] - 2) < 0.1, r.table()
    # the memoryless coefficient 1/2 (momentum ignored) is wrong at order h: slope 1
    wrong = bea.MuonModifiedEquation(bea.optimizers.muon((2, 2), 0, **kw), 1)
    r = _sweep(opt, {0: me[0], 1: wrong}, me[1].jax_state(loss))
    assert abs(r.slopes[1] - 1) < 0.2, r.table()
