"""Published backward-error results for optimizers, as exact tests.

Each reference value cites its source. Where a paper stops at first order,
the higher orders (2–3) are checked against the coordinate engine
(``bea.coordinates._programs``), which runs the same update rule on points in
coordinates and shares no code with the rooted-tree engine.

Conventions: f = −∇L; ``modified_equation(opt, p).on(...)`` is f̃ through h^p
with no factor h; ``modified_loss(opt, p).on(...)`` is L̃ with f̃ = −∇L̃ through
its gradient order.
"""

from __future__ import annotations

import pytest
import sympy
from exact_checks import h, is_zero, p, q, same, x, y

import bea
from bea import optimizers as O
from bea.coordinates._programs import coordinate_modified_equation

BETA = O.BETA
R = sympy.Rational


def grad(expr, variables):
    return sympy.Matrix([expr.diff(v) for v in variables])


def sqnorm_grad(expr, variables):
    return sum(expr.diff(v) ** 2 for v in variables)


def truncate(m, order):
    return sympy.Matrix(m).applyfunc(
        lambda e: sum(sympy.expand(e).coeff(h, k) * h**k for k in range(order + 1))
    )


L_GENERIC = sympy.Function("L")(x, y)
L_CONCRETE = x**4 / 4 + x**2 * y / 2 + y**2 + sympy.sin(x) * y


# ----------------------------------------------------------------------------
# gradient descent — Barrett & Dherin, "Implicit gradient regularization", ICLR 2021
# ----------------------------------------------------------------------------


def test_gd_barrett_dherin_loss_terms():
    # L̃ = L + h/4 ‖∇L‖²  (Barrett & Dherin 2021, eq. (2) / Theorem 3.1)
    ml = bea.modified_loss(O.gd(), 1)
    assert ml.gradient_order == 1
    assert ml.loss_terms() == [(bea.FreeTree("[]"), 1), (bea.FreeTree("[[]]"), R(1, 4))]


@pytest.mark.parametrize("loss", [L_GENERIC, L_CONCRETE], ids=["generic", "concrete"])
def test_gd_barrett_dherin_on_a_loss(loss):
    expected_loss = loss + h / 4 * sqnorm_grad(loss, [x, y])
    assert is_zero(bea.modified_loss(O.gd(), 1).on(loss, [x, y]) - expected_loss)
    expected_field = -grad(expected_loss, [x, y])
    assert same(bea.modified_equation(O.gd(), 1).on(loss, [x, y]), expected_field)
    assert same(coordinate_modified_equation(O.gd(), loss, [x, y], 1), expected_field)


def test_gd_higher_orders_against_coordinates():
    # beyond Barrett & Dherin: f̃ through h³ on a concrete loss
    tree = bea.modified_equation(O.gd(), 3).on(L_CONCRETE, [x, y])
    assert same(tree, coordinate_modified_equation(O.gd(), L_CONCRETE, [x, y], 3))


# ----------------------------------------------------------------------------
# heavy ball — Ghosh, Lyu, Zhang, Xu, "Implicit regularization in heavy-ball momentum
# accelerated SGD", ICLR 2023 (Theorem 3.1); Kovachki & Stuart, "Continuous time analysis
# of momentum methods", JMLR 2021:
#   θ' = −1/(1−β) ∇[L + h(1+β)/(4(1−β)²) ‖∇L‖²] + O(h²)
# ----------------------------------------------------------------------------


def _heavy_ball_published_loss(loss, beta):
    return (loss + h * (1 + beta) / (4 * (1 - beta) ** 2) * sqnorm_grad(loss, [x, y])) / (1 - beta)


def test_heavy_ball_loss_terms():
    ml = bea.modified_loss(O.heavy_ball(), 1)
    assert ml.gradient_order >= 1
    terms = dict(ml.loss_terms())
    assert set(terms) == {bea.FreeTree("[]"), bea.FreeTree("[[]]")}
    assert sympy.cancel(terms[bea.FreeTree("[]")] - 1 / (1 - BETA)) == 0
    expected = (1 + BETA) / (4 * (1 - BETA) ** 3)
    assert sympy.cancel(terms[bea.FreeTree("[[]]")] - expected) == 0


@pytest.mark.parametrize("beta", [BETA, R(9, 10), R(-1, 2)], ids=["symbolic", "9/10", "-1/2"])
def test_heavy_ball_on_a_loss(beta):
    opt = O.heavy_ball(beta)
    expected_loss = _heavy_ball_published_loss(L_CONCRETE, beta)
    assert is_zero(bea.modified_loss(opt, 1).on(L_CONCRETE, [x, y]) - expected_loss)
    expected_field = -grad(expected_loss, [x, y])
    assert same(bea.modified_equation(opt, 1).on(L_CONCRETE, [x, y]), expected_field)
    assert same(coordinate_modified_equation(opt, L_CONCRETE, [x, y], 1), expected_field)


def test_heavy_ball_generic_loss_coordinates():
    expected = -grad(_heavy_ball_published_loss(L_GENERIC, BETA), [x, y])
    assert same(coordinate_modified_equation(O.heavy_ball(), L_GENERIC, [x, y], 1), expected)


def test_heavy_ball_order_two_symbolic_against_coordinates():
    # beyond the papers: the h² term, symbolic β
    opt = O.heavy_ball()
    assert same(
        bea.modified_equation(opt, 2).on(L_CONCRETE, [x, y]),
        coordinate_modified_equation(opt, L_CONCRETE, [x, y], 2),
    )
    # the h² part is not a gradient (as for GD)
    assert not bea.modified_loss(opt, 2).is_gradient(2)


def test_heavy_ball_order_three_against_coordinates():
    opt = O.heavy_ball(R(3, 10))
    assert same(
        bea.modified_equation(opt, 3).on(L_CONCRETE, [x, y]),
        coordinate_modified_equation(opt, L_CONCRETE, [x, y], 3),
    )


def test_ema_momentum_is_heavy_ball_with_step_h_times_one_minus_beta():
    # m ← βm + (1−β)∇L, x ← x − h m is heavy ball with step (1−β)h: its first-order
    # loss is the published one with h → (1−β)h and an overall factor (1−β)
    beta = BETA
    expected = (1 - beta) * _heavy_ball_published_loss(L_CONCRETE, beta).subs(h, (1 - beta) * h)
    got = bea.modified_loss(O.ema_momentum(), 1).on(L_CONCRETE, [x, y])
    assert is_zero(got - expected)


# ----------------------------------------------------------------------------
# random reshuffling — Smith, Dherin, Barrett, De, "On the origin of implicit
# regularization in stochastic gradient descent", ICLR 2021 (eq. (1)):
#   E[L̃] = C + h/(4m) Σ_k ‖∇L_k‖²,  C = (1/m) Σ_k L_k
# ----------------------------------------------------------------------------


def _batch_losses(m, generic):
    if generic:
        return [sympy.Function(f"L{k}")(x, y) for k in range(m)]
    return [(k + 1) * x**2 / 2 + (y - k) ** 2 / 2 + x * y**2 / (k + 2) for k in range(m)]


def _smith_loss(losses):
    m = len(losses)
    return sum(losses) / m + h / (4 * m) * sum(sqnorm_grad(L, [x, y]) for L in losses)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_reshuffled_sgd_loss_terms(m):
    ml = bea.modified_loss(O.reshuffled_sgd(m), 1)
    assert ml.gradient_order >= 1
    terms = ml.loss_terms()
    # m single-node terms 1/m, m same-batch edges ‖∇L_k‖² with 1/(4m), no cross terms
    assert sorted(c for _, c in terms) == [R(1, 4 * m)] * m + [R(1, m)] * m


@pytest.mark.parametrize("m", [2, 3, 4])
@pytest.mark.parametrize("generic", [True, False], ids=["generic", "concrete"])
def test_reshuffled_sgd_on_losses(m, generic):
    losses = _batch_losses(m, generic)
    expected_loss = _smith_loss(losses)
    opt = O.reshuffled_sgd(m)
    assert is_zero(bea.modified_loss(opt, 1).on(losses, [x, y]) - expected_loss)
    expected_field = -grad(expected_loss, [x, y])
    assert same(bea.modified_equation(opt, 1).on(losses, [x, y]), expected_field)
    if m <= 3 or not generic:
        assert same(coordinate_modified_equation(opt, losses, [x, y], 1), expected_field)


@pytest.mark.parametrize("m", [2, 3])
def test_reshuffled_sgd_order_two_against_coordinates(m):
    losses = _batch_losses(m, generic=False)
    opt = O.reshuffled_sgd(m)
    assert same(
        bea.modified_equation(opt, 2).on(losses, [x, y]),
        coordinate_modified_equation(opt, losses, [x, y], 2),
    )


@pytest.mark.slow
def test_reshuffled_sgd_order_three_against_coordinates():
    losses = _batch_losses(3, generic=False)
    opt = O.reshuffled_sgd(3)
    assert same(
        bea.modified_equation(opt, 3).on(losses, [x, y]),
        coordinate_modified_equation(opt, losses, [x, y], 3),
    )


def test_reshuffled_sgd_single_batch_is_gd():
    assert same(
        bea.modified_equation(O.reshuffled_sgd(1), 3).on([L_CONCRETE], [x, y]),
        bea.modified_equation(O.gd(), 3).on(L_CONCRETE, [x, y]),
    )


# ----------------------------------------------------------------------------
# two-player games — Rosca, Wu, Qin, Dherin, "Discretization drift in two-player
# games", ICML 2021. Player φ = p follows f = −∂_p L0, player θ = q follows g = −∂_q L1.
# ----------------------------------------------------------------------------

L0 = sympy.Function("L0")(p, q)
L1 = sympy.Function("L1")(p, q)
GAME_CONCRETE = [p**2 / 2 + 2 * p * q + p * sympy.sin(q), -p * q + q**2 / 4 + q**4 / 4]


def _fg(losses):
    A, B = losses
    return -A.diff(p), -B.diff(q)


@pytest.mark.parametrize("losses", [[L0, L1], GAME_CONCRETE], ids=["generic", "concrete"])
def test_simultaneous_gd_rosca(losses):
    # Rosca et al. 2021, Theorem 3.1 (equal learning rates):
    #   φ̃' = f − h/2 (∂_φ f f + ∂_θ f g),   θ̃' = g − h/2 (∂_φ g f + ∂_θ g g)
    f, g = _fg(losses)
    expected = [
        sympy.Matrix([f - h / 2 * (f.diff(p) * f + f.diff(q) * g)]),
        sympy.Matrix([g - h / 2 * (g.diff(p) * f + g.diff(q) * g)]),
    ]
    opt = O.simultaneous_gd()
    assert same(bea.modified_equation(opt, 1).on(losses, [[p], [q]]), expected)
    assert same(coordinate_modified_equation(opt, losses, [[p], [q]], 1), expected)


def test_simultaneous_gd_with_ratio():
    # θ ← θ − r h ∇_θ L1: Euler on the joint field (f, r g), i.e. F − h/2 F'F
    r = sympy.Symbol("r", positive=True)
    f, g = _fg([L0, L1])
    G = r * g
    expected = [
        sympy.Matrix([f - h / 2 * (f.diff(p) * f + f.diff(q) * G)]),
        sympy.Matrix([G - h / 2 * (G.diff(p) * f + G.diff(q) * G)]),
    ]
    opt = O.simultaneous_gd(r)
    assert same(bea.modified_equation(opt, 1).on([L0, L1], [[p], [q]]), expected)
    assert same(coordinate_modified_equation(opt, [L0, L1], [[p], [q]], 1), expected)


@pytest.mark.parametrize("losses", [[L0, L1], GAME_CONCRETE], ids=["generic", "concrete"])
def test_alternating_gd_rosca(losses):
    # Rosca et al. 2021, Theorem 3.2 (one step each, equal learning rates): the second
    # player sees the first player's update, which flips the sign of its cross term:
    #   φ̃' = f − h/2 (∂_φ f f + ∂_θ f g),   θ̃' = g − h/2 (∂_θ g g − ∂_φ g f)
    f, g = _fg(losses)
    expected = [
        sympy.Matrix([f - h / 2 * (f.diff(p) * f + f.diff(q) * g)]),
        sympy.Matrix([g - h / 2 * (g.diff(q) * g - g.diff(p) * f)]),
    ]
    opt = O.alternating_gd()
    assert same(bea.modified_equation(opt, 1).on(losses, [[p], [q]]), expected)
    assert same(coordinate_modified_equation(opt, losses, [[p], [q]], 1), expected)


@pytest.mark.parametrize("m, k, r", [(2, 1, 1), (1, 3, R(1, 2)), (2, 3, R(2, 3))])
def test_alternating_gd_several_steps(m, k, r):
    # m Euler steps of F0 = (f, 0) then k of F1 = (0, r g), one iteration = time h.
    # Composing the two Euler maps and taking the modified field (derived here, not
    # taken from the paper, whose time scaling per player differs):
    #   φ̃' = m f − h (m/2 ∂_φ f f + m k r/2 ∂_θ f g)
    #   θ̃' = k r g − h (k r²/2 ∂_θ g g − m k r/2 ∂_φ g f)
    f, g = _fg([L0, L1])
    expected = [
        sympy.Matrix([m * f - h * (R(m, 2) * f.diff(p) * f + m * k * r / 2 * f.diff(q) * g)]),
        sympy.Matrix(
            [k * r * g - h * (k * r**2 / 2 * g.diff(q) * g - m * k * r / 2 * g.diff(p) * f)]
        ),
    ]
    opt = O.alternating_gd(r, m, k)
    assert same(bea.modified_equation(opt, 1).on([L0, L1], [[p], [q]]), expected)
    assert same(coordinate_modified_equation(opt, [L0, L1], [[p], [q]], 1), expected)


@pytest.mark.parametrize(
    "opt",
    [O.simultaneous_gd(), O.alternating_gd(), O.alternating_gd(R(1, 2), 2, 1)],
    ids=["simultaneous", "alternating", "alternating-2-1"],
)
@pytest.mark.parametrize("order", [2, 3])
def test_games_higher_orders_against_coordinates(opt, order):
    assert same(
        bea.modified_equation(opt, order).on(GAME_CONCRETE, [[p], [q]]),
        coordinate_modified_equation(opt, GAME_CONCRETE, [[p], [q]], order),
    )


def test_simultaneous_gd_is_gd_on_the_joint_field():
    # with one loss for both players, simultaneous GD is GD: f̃ matches GD's through h³
    loss = GAME_CONCRETE[0]
    tree = bea.modified_equation(O.simultaneous_gd(), 3).on([loss, loss], [[p], [q]])
    gd = bea.modified_equation(O.gd(), 3).on(loss, [p, q])
    assert same(sympy.Matrix.vstack(*tree), gd)
