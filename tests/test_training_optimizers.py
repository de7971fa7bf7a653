"""Schedules, weight decay, Lion, normalised SAM and GD: exact checks against independent oracles."""

import pytest
import sympy as sp

import bea
from bea.coordinates._adaptive import is_zero
from bea.optimizers import (
    adam,
    ema_momentum,
    gd,
    lion,
    normalized_gd,
    normalized_sam,
    weight_decay,
)

h, t = bea.h, bea.t
x, y = sp.symbols("x y")
LOSS = x**4 / 4 + x * y + y**2  # a concrete 2-D loss with a non-constant Hessian


def _zero(m):
    return all(sp.cancel(sp.together(sp.expand(c))) == 0 for c in m)


@pytest.mark.parametrize("schedule", [sp.Function("eta")(t), 1 / (1 + t), sp.cos(t) / 2 + 1])
def test_gd_schedule_first_order_term_trees_and_coordinates(schedule):
    # −η∇L − (h/2)(η²∇²L∇L − η′∇L): tree engine on (x, t), checked by the coordinate map
    me = bea.modified_equation(gd(schedule=schedule), 1)
    trees = me.on(LOSS, [x, y])
    coords = me.on_coordinates(LOSS, [x, y])
    g = sp.Matrix([LOSS.diff(v) for v in (x, y)])
    H = sp.hessian(LOSS, (x, y))
    expected = -schedule * g - h / 2 * (schedule**2 * H * g - sp.diff(schedule, t) * g)
    assert _zero(trees - expected)
    assert _zero(coords - expected)


def test_gd_schedule_second_order_trees_equal_coordinates():
    me = bea.modified_equation(gd(schedule=sp.Function("eta")(t)), 2)
    assert _zero(me.on(LOSS, [x, y]) - me.on_coordinates(LOSS, [x, y]))


def test_gd_schedule_modified_loss_writes_eta_prime_as_a_rescaling():
    eta = sp.Function("eta")(t)
    Lt = bea.modified_equation(gd(schedule=eta), 1).loss(LOSS, [x, y])
    grad2 = LOSS.diff(x) ** 2 + LOSS.diff(y) ** 2
    assert sp.expand(Lt - ((eta - h * eta.diff(t) / 2) * LOSS + h * eta**2 / 4 * grad2)) == 0


def test_decoupled_weight_decay_with_gd_is_gd_on_the_l2_loss():
    lam, mu = sp.Rational(1, 3), sp.Symbol("mu", positive=True)
    for value in (lam, mu * h):  # λ fixed, and λ scaled with h
        for decoupled in (True, False):
            wd = weight_decay(gd(), value, decoupled=decoupled)
            got = bea.modified_equation(wd, 2).on(LOSS, [x, y])
            l2 = LOSS + value / 2 * (x**2 + y**2)
            ref = bea.modified_equation(bea.gd(), 2).on(l2, [x, y]) if value == lam else None
            if ref is None:  # λ = μh: GD on L + μh/2‖x‖² in coordinates
                step = sp.Matrix([v - h * l2.diff(v) for v in (x, y)])
                ref = bea.coordinates.modified_field(step, [x, y], h, 2)
            assert _zero(got - ref)


def test_decoupled_momentum_differs_from_coupled_as_documented():
    b, lam = sp.Symbol("beta"), sp.Symbol("lambda")
    L = sp.Function("L")(x)
    coupled = bea.modified_equation(weight_decay(ema_momentum(b), lam, False), 1).on(L, [x])
    decoupled = bea.modified_equation(weight_decay(ema_momentum(b), lam), 1).on(L, [x])
    # coupled = the tree engine's momentum on L + λx²/2
    trees = bea.modified_equation(ema_momentum(b), 1).on(L + lam * x**2 / 2, [x])
    assert _zero(coupled - trees)
    f0 = -(L.diff(x) + lam * x)
    assert _zero(decoupled - (coupled - h * b * lam / (1 - b) * sp.Matrix([f0])))


def test_adamw_first_order_form():
    # hand derivation (d = 1, ε = 0): f̃ = −(σ + λx)[1 − h((c₂ − c₁)L″/|L′| − λ/2)]
    b1, b2, lam = sp.Rational(9, 10), sp.Rational(999, 1000), sp.Rational(1, 5)
    L = x**4 / 4 + x
    f = bea.modified_equation(weight_decay(adam(b1, b2, 0), lam), 1).on(L, [x])
    g, H = L.diff(x), L.diff(x, 2)
    s = bea.AdaptiveModifiedEquation.sign_of(g)
    c1, c2 = b1 / (1 - b1), b2 / (1 - b2)
    assert is_zero(f[0] + (s + lam * x) * (1 - h * ((c2 - c1) * H / (s * g) - lam / 2)))


def test_lion_without_decay_is_a_translation_and_with_decay_an_affine_flow():
    b1, b2, lam = sp.Symbol("beta1"), sp.Symbol("beta2"), sp.Symbol("lambda", positive=True)
    plain = bea.modified_equation(lion(b1, b2), 3).on(LOSS, [x, y])
    sig = [bea.AdaptiveModifiedEquation.sign_of(LOSS.diff(v)) for v in (x, y)]
    assert plain == sp.Matrix([-s for s in sig])
    decayed = bea.modified_equation(lion(b1, b2, lam), 3).on(LOSS, [x, y])
    # exact flow of x ↦ (1 − hλ)x − hσ: (log(1 − hλ)/h)(x + σ/λ), through h³
    rate = sp.series(sp.log(1 - h * lam) / h, h, 0, 4).removeO()
    expected = [rate * (v + s / lam) for v, s in zip((x, y), sig)]
    assert all(is_zero(e - d) for e, d in zip(expected, decayed))


def test_normalised_sam_first_order_loss():
    c = sp.Symbol("c", positive=True)
    f = bea.modified_equation(normalized_sam(c), 1).on(LOSS, [x, y])
    g = [LOSS.diff(v) for v in (x, y)]
    norm = sp.sqrt(sum(gi**2 for gi in g))
    Lt = LOSS + h / 4 * norm**2 + c * h * norm
    assert all(sp.simplify(f[i] + Lt.diff(v)) == 0 for i, v in enumerate((x, y)))


def test_normalised_gd_with_a_schedule():
    eta = 1 / (1 + t)
    loss = x**2 / 2 + x * y + y**2  # quadratic: the check stays fast
    me = bea.modified_equation(normalized_gd(eta), 1)
    f = me.on(loss, [x, y])
    g = sp.Matrix([loss.diff(v) for v in (x, y)])
    n = g / sp.sqrt(g.dot(g))
    Dn = n.jacobian([x, y])
    expected = -eta * n - h / 2 * (eta**2 * Dn * n - sp.diff(eta, t) * n)
    assert _zero(f - expected)


def test_bad_input():
    with pytest.raises(ValueError, match="function of the time symbol"):
        gd(schedule=sp.Symbol("s") * t)
    with pytest.raises(ValueError, match="lam must be >= 0"):
        weight_decay(gd(), -1)
    with pytest.raises(ValueError, match="lam must be >= 0"):
        lion(lam=-0.1)
    with pytest.raises(ValueError, match="ρ = c·h"):
        normalized_sam(rho=0.05)
