"""Tests for optimizers written as update rules (bea.methods._programs, bea.optimizers).

Three independent views of one rule are compared:

* the rooted-tree engine, ``bea.modified_equation(opt, order).on(...)``;
* the coordinate engine, ``coordinate_modified_equation``: the same rule run
  on points whose coordinates are truncated series in h, with the underlying
  one-step map solved order by order;
* the rule run on JAX arrays, ``opt.jax(grad, h)``, against hand-written numpy
  loops of each catalog entry's documented update.

Equality of symbolic results is exact: ``sympy.expand`` of the difference,
then each coefficient brought to lowest terms with ``sympy.cancel``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import sympy
from exact_checks import h, is_zero, p, q, same, x, y

import bea
from bea import optimizers as O
from bea.coordinates._programs import coordinate_modified_equation, underlying_map
from bea.methods import _catalog

BETA = O.BETA
R = sympy.Rational
L = sympy.Function("L")(x, y)


# ----------------------------------------------------------------------------
# exact comparison
# ----------------------------------------------------------------------------


def generic_losses(opt):
    if opt.colours == 1:
        return L, [x, y]
    return [sympy.Function(f"L{k}")(x, y) for k in range(opt.colours)], [x, y]


def game_losses():
    return [sympy.Function("L0")(p, q), sympy.Function("L1")(p, q)], [[p], [q]]


RK4 = (
    [[0, 0, 0, 0], [R(1, 2), 0, 0, 0], [0, R(1, 2), 0, 0], [0, 0, 1, 0]],
    [R(1, 6), R(1, 3), R(1, 3), R(1, 6)],
)
HEUN = ([[0, 0], [1, 0]], [R(1, 2), R(1, 2)])

# (id, factory, is a game); symbolic β is replaced by 3/10 on the generic loss
CATALOG = [
    ("gd", O.gd, False),
    ("heavy_ball", lambda: O.heavy_ball(R(3, 10)), False),
    ("ema_momentum", lambda: O.ema_momentum(R(3, 10)), False),
    ("nesterov", lambda: O.nesterov(R(3, 10)), False),
    ("extragradient", O.extragradient, False),
    ("usam", lambda: O.usam(R(1, 2)), False),
    ("runge_kutta-heun", lambda: O.runge_kutta(*HEUN, name="heun"), False),
    ("runge_kutta-rk4", lambda: O.runge_kutta(*RK4, name="rk4"), False),
    ("reshuffled_sgd-2", lambda: O.reshuffled_sgd(2), False),
    ("reshuffled_sgd-3", lambda: O.reshuffled_sgd(3), False),
    ("simultaneous_gd", O.simultaneous_gd, True),
    ("simultaneous_gd-ratio", lambda: O.simultaneous_gd(R(1, 3)), True),
    ("alternating_gd", O.alternating_gd, True),
    ("alternating_gd-2-3", lambda: O.alternating_gd(R(1, 2), m=2, k=3), True),
]
SLOW_AT_3 = {"reshuffled_sgd-3"}


def _compare(factory, game, order):
    opt = factory()
    losses, variables = game_losses() if game else generic_losses(opt)
    trees = bea.modified_equation(opt, order).on(losses, variables)
    coords = coordinate_modified_equation(opt, losses, variables, order)
    assert same(trees, coords)
    return trees


@pytest.mark.parametrize("name, factory, game", CATALOG, ids=[c[0] for c in CATALOG])
def test_tree_and_coordinate_engines_agree_order_2(name, factory, game):
    _compare(factory, game, 2)


@pytest.mark.parametrize(
    "name, factory, game",
    [
        pytest.param(*c, marks=pytest.mark.slow) if c[0] in SLOW_AT_3 else pytest.param(*c)
        for c in CATALOG
    ],
    ids=[c[0] for c in CATALOG],
)
def test_tree_and_coordinate_engines_agree_order_3(name, factory, game):
    _compare(factory, game, 3)


@pytest.mark.parametrize(
    "factory",
    [O.heavy_ball, O.nesterov, O.ema_momentum, O.usam, lambda: O.simultaneous_gd(BETA)],
    ids=["heavy_ball", "nesterov", "ema_momentum", "usam", "simultaneous_gd"],
)
def test_engines_agree_with_symbolic_parameter_order_2(factory):
    opt = factory()
    game = opt.colours == 2
    _compare(lambda: opt, game, 2)


@pytest.mark.slow
def test_engines_agree_heavy_ball_symbolic_order_3():
    _compare(O.heavy_ball, False, 3)


def test_grouped_variables_with_several_per_player():
    # player 0 owns (x, y), player 1 owns p
    L0 = sympy.Function("L0")(x, y, p)
    L1 = sympy.Function("L1")(x, y, p)
    for opt in (O.simultaneous_gd(), O.alternating_gd(R(2))):
        trees = bea.modified_equation(opt, 2).on([L0, L1], [[x, y], [p]])
        coords = coordinate_modified_equation(opt, [L0, L1], [[x, y], [p]], 2)
        assert [m.shape for m in coords] == [(2, 1), (1, 1)]
        assert same(trees, coords)


def test_concrete_loss_and_vector_field():
    loss = x**4 / 4 + x * y**2 + sympy.exp(y)
    opt = O.heavy_ball(R(1, 2))
    assert same(
        bea.modified_equation(opt, 2).on(loss, [x, y]),
        coordinate_modified_equation(opt, loss, [x, y], 2),
    )
    # a non-gradient field (rotation plus damping): step(y) = h f(y)
    field = sympy.Matrix([-y - x**3, x - y])
    assert same(
        bea.modified_equation(O.nesterov(R(1, 4)), 2).on(field, [x, y]),
        coordinate_modified_equation(O.nesterov(R(1, 4)), field, [x, y], 2),
    )


def test_underlying_map_of_heavy_ball_on_a_quadratic():
    # L = a x²/2: x⁺ = (1 + β − ha) x − β x_prev; the underlying one-step map is
    # x ↦ λ x with λ the root of λ² − (1 + β − ha) λ + β = 0 that tends to 1 as h → 0.
    a, beta = sympy.Symbol("a"), R(1, 3)
    order = 4
    phi = underlying_map(O.heavy_ball(beta), a * x**2 / 2, [x], order)
    disc = sympy.sqrt((1 + beta - h * a) ** 2 - 4 * beta)
    root = ((1 + beta - h * a) + disc) / 2
    assert root.subs(h, 0) == 1
    expected = sympy.series(root, h, 0, order + 1).removeO() * x
    assert is_zero(phi.to_matrix()[0] - expected)
    # the h² term is not GD's: the comparison is not vacuous
    gd = underlying_map(O.gd(), a * x**2 / 2, [x], order).to_matrix()[0]
    assert not is_zero(phi.to_matrix()[0] - gd)


def test_underlying_map_is_invariant_for_the_rule():
    # running heavy ball from (x, S(x)) lands on (Φ(x), S(Φ(x))): check the x part on
    # two successive iterates, x_{n+1} = Φ(x_n), x_{n+2} = Φ(x_{n+1}), and the rule
    beta = R(2, 5)
    loss = x**3 / 3 + x**2
    order = 4
    phi = underlying_map(O.heavy_ball(beta), loss, [x], order).to_matrix()[0]

    def Phi(e):
        return bea.coordinates._hseries.expand_in_h(phi.subs(x, e), h, order)

    x1 = Phi(x)
    x2 = Phi(x1)
    grad = sympy.diff(loss, x)
    rule = bea.coordinates._hseries.expand_in_h(
        x1 - h * grad.subs(x, x1) + beta * (x1 - x), h, order
    )
    assert is_zero(x2 - rule)


# ----------------------------------------------------------------------------
# reference values that the two engines must reproduce
# ----------------------------------------------------------------------------


def test_gd_second_order_terms():
    # f̃ = f − h/2 f'f + h²(1/12 f''(f,f) + 1/3 f'f'f)  (Hairer, Lubich, Wanner IX.1)
    f = -sympy.Matrix([L.diff(x), L.diff(y)])
    J = f.jacobian([x, y])
    fff = sympy.Matrix(
        [
            sum(
                f[i].diff(v, w) * f[j] * f[k]
                for j, v in enumerate([x, y])
                for k, w in enumerate([x, y])
            )
            for i in range(2)
        ]
    )
    expected = f - h / 2 * J * f + h**2 * (fff / 12 + J * J * f / 3)
    assert same(coordinate_modified_equation(O.gd(), L, [x, y], 2), expected)


# ----------------------------------------------------------------------------
# exact symbolic parameters
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("factory", [O.heavy_ball, O.nesterov, O.ema_momentum])
def test_symbolic_beta_stays_exact_and_reduces_to_gd(factory):
    me = bea.modified_equation(factory(), 2)
    gd = bea.modified_equation(O.gd(), 2)
    for t, c in me:
        num, den = sympy.fraction(sympy.cancel(c))
        for part in (num, den):
            poly = sympy.Poly(part, BETA)
            assert poly.domain in (sympy.ZZ, sympy.QQ)
        assert not c.has(sympy.Float)
        assert sympy.cancel(c.subs(BETA, 0) - gd.coefficient(t)) == 0
    # the coordinate engine, on a generic loss
    coords = coordinate_modified_equation(factory(), L, [x, y], 2)
    gd_coords = coordinate_modified_equation(O.gd(), L, [x, y], 2)
    assert same(coords.subs(BETA, 0), gd_coords)
    for e in coords:
        assert not e.has(sympy.Float)


def test_heavy_ball_order_one_coefficients():
    me = bea.modified_equation(O.heavy_ball(), 2)
    assert sympy.cancel(me.coefficient("[]") - 1 / (1 - BETA)) == 0
    assert sympy.cancel(me.coefficient("[[]]") + (1 + BETA) / (2 * (1 - BETA) ** 3)) == 0


def test_floats_are_read_as_decimals():
    a = coordinate_modified_equation(O.heavy_ball(0.9), L, [x, y], 1)
    b = coordinate_modified_equation(O.heavy_ball(R(9, 10)), L, [x, y], 1)
    assert same(a, b)


# ----------------------------------------------------------------------------
# the same rule on arrays reproduces the documented update
# ----------------------------------------------------------------------------


def loss_np(z):
    return 0.5 * z[0] ** 2 + z[1] ** 2 + 0.25 * z[0] ** 4 + 0.5 * z[0] * z[1] + np.sin(z[1])


def grad_np(z):
    return np.array([z[0] + z[0] ** 3 + 0.5 * z[1], 2 * z[1] + 0.5 * z[0] + np.cos(z[1])])


def batch_grads(m, xp=np):
    # L_k(z) = (1 + k/2) z0²/2 + (z1 − k/3)² / 2 + 0.1 (k + 1) z0 z1
    def g(k):
        return lambda z: xp.array(
            [(1 + k / 2) * z[0] + 0.1 * (k + 1) * z[1], (z[1] - k / 3) + 0.1 * (k + 1) * z[0]]
        )

    return [g(k) for k in range(m)]


def game_grads(xp=np):
    # L0(p, q) = p²/2 + 2pq + p sin q, L1(p, q) = −pq + q²/4 + q⁴/4; each padded to own variable
    def g0(z):
        return xp.array([z[0] + 2 * z[1] + xp.sin(z[1]), 0.0 * z[0]])

    def g1(z):
        return xp.array([0.0 * z[1], -z[0] + z[1] / 2 + z[1] ** 3])

    return [g0, g1]


def _jnp():
    return pytest.importorskip("jax.numpy")


def _jax_grad():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy

    def loss(z):
        return 0.5 * z[0] ** 2 + z[1] ** 2 + 0.25 * z[0] ** 4 + 0.5 * z[0] * z[1] + jnp.sin(z[1])

    return jax.grad(loss)


def _run(opt, grads, hh, n, z0, **values):
    jnp = pytest.importorskip("jax.numpy")
    jax = pytest.importorskip("jax")
    init, update = opt.jax(grads, hh, **values)
    update = jax.jit(update)
    z = jnp.asarray(z0)
    state = init(z)
    out = []
    for _ in range(n):
        z, state = update(z, state)
        out.append(np.asarray(z))
    return np.array(out)


Z0 = np.array([0.7, -0.4])
HH = 0.05
STEPS = 25


def _assert_close(a, b):
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)


def test_jax_gd():
    ref, z = [], Z0.copy()
    for _ in range(STEPS):
        z = z - HH * grad_np(z)
        ref.append(z)
    _assert_close(_run(O.gd(), _jax_grad(), HH, STEPS, Z0), np.array(ref))


def test_jax_heavy_ball():
    beta = 0.9
    ref, z, z_prev = [], Z0.copy(), Z0.copy()
    for _ in range(STEPS):
        z, z_prev = z - HH * grad_np(z) + beta * (z - z_prev), z
        ref.append(z)
    _assert_close(_run(O.heavy_ball(), _jax_grad(), HH, STEPS, Z0, beta=beta), np.array(ref))
    _assert_close(_run(O.heavy_ball(beta), _jax_grad(), HH, STEPS, Z0), np.array(ref))


def test_jax_ema_momentum():
    beta = 0.8
    ref, z, m = [], Z0.copy(), np.zeros(2)
    for _ in range(STEPS):
        m = beta * m + (1 - beta) * grad_np(z)
        z = z - HH * m
        ref.append(z)
    _assert_close(_run(O.ema_momentum(), _jax_grad(), HH, STEPS, Z0, beta=beta), np.array(ref))


def test_jax_nesterov():
    beta = 0.7
    ref, z, z_prev = [], Z0.copy(), Z0.copy()
    for _ in range(STEPS):
        yy = z + beta * (z - z_prev)
        z, z_prev = yy - HH * grad_np(yy), z
        ref.append(z)
    _assert_close(_run(O.nesterov(), _jax_grad(), HH, STEPS, Z0, beta=beta), np.array(ref))


def test_jax_extragradient():
    ref, z = [], Z0.copy()
    for _ in range(STEPS):
        z = z - HH * grad_np(z - HH * grad_np(z))
        ref.append(z)
    _assert_close(_run(O.extragradient(), _jax_grad(), HH, STEPS, Z0), np.array(ref))


def test_jax_usam():
    c = 0.6
    rho = c * HH
    ref, z = [], Z0.copy()
    for _ in range(STEPS):
        z = z - HH * grad_np(z + rho * grad_np(z))
        ref.append(z)
    _assert_close(_run(O.usam(), _jax_grad(), HH, STEPS, Z0, c=c), np.array(ref))
    _assert_close(_run(O.usam(R(3, 5)), _jax_grad(), HH, STEPS, Z0), np.array(ref))


@pytest.mark.parametrize("m", [2, 3])
def test_jax_reshuffled_sgd_epoch(m):
    grads = batch_grads(m)
    ref, z = [], Z0.copy()
    for _ in range(STEPS):
        for k in range(m):  # the rule runs the batches in the order 0..m−1
            z = z - HH * grads[k](z)
        ref.append(z)
    got = _run(O.reshuffled_sgd(m), batch_grads(m, _jnp()), HH, STEPS, Z0)
    _assert_close(got, np.array(ref))


def test_jax_simultaneous_gd():
    ratio = 0.5
    g0, g1 = game_grads()
    ref, z = [], Z0.copy()
    for _ in range(STEPS):
        pp, qq = z
        z = np.array([pp - HH * g0(z)[0], qq - ratio * HH * g1(z)[1]])
        ref.append(z)
    got = _run(O.simultaneous_gd(ratio), game_grads(_jnp()), HH, STEPS, Z0)
    _assert_close(got, np.array(ref))


@pytest.mark.parametrize("m, k", [(1, 1), (2, 3)])
def test_jax_alternating_gd(m, k):
    ratio = 0.5
    g0, g1 = game_grads()
    ref, z = [], Z0.copy()
    for _ in range(STEPS):
        pp, qq = z
        for _ in range(m):
            pp = pp - HH * g0(np.array([pp, qq]))[0]
        for _ in range(k):
            qq = qq - ratio * HH * g1(np.array([pp, qq]))[1]
        z = np.array([pp, qq])
        ref.append(z)
    got = _run(O.alternating_gd(ratio, m, k), game_grads(_jnp()), HH, STEPS, Z0)
    _assert_close(got, np.array(ref))


def test_jax_runge_kutta_rk4():
    ref, z = [], Z0.copy()
    for _ in range(STEPS):
        k1 = -grad_np(z)
        k2 = -grad_np(z + HH / 2 * k1)
        k3 = -grad_np(z + HH / 2 * k2)
        k4 = -grad_np(z + HH * k3)
        z = z + HH / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        ref.append(z)
    got = _run(O.runge_kutta(*RK4, name="rk4"), _jax_grad(), HH, STEPS, Z0)
    _assert_close(got, np.array(ref))


def test_jax_requires_values_for_symbols_and_the_right_number_of_gradients():
    with pytest.raises(ValueError, match="symbolic"):
        O.heavy_ball().jax(_jax_grad(), HH)
    with pytest.raises(ValueError, match="2 gradient"):
        O.reshuffled_sgd(2).jax([_jax_grad()], HH)


# ----------------------------------------------------------------------------
# bad inputs
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("factory", [O.heavy_ball, O.nesterov, O.ema_momentum])
@pytest.mark.parametrize("beta", [1, R(1), 1.0, 1.5, R(-3, 2)])
def test_beta_out_of_range(factory, beta):
    with pytest.raises(ValueError, match="beta"):
        factory(beta)


@pytest.mark.parametrize("m", [0, -1, 1.5, True])
def test_bad_counts(m):
    with pytest.raises(ValueError, match="m must be an integer >= 1"):
        O.reshuffled_sgd(m)
    with pytest.raises(ValueError, match="m must be an integer >= 1"):
        O.alternating_gd(1, m=m)


@pytest.mark.parametrize("bad", [0, -1, R(-1, 2)])
def test_non_positive_parameters(bad):
    with pytest.raises(ValueError, match="positive"):
        O.usam(bad)
    with pytest.raises(ValueError, match="positive"):
        O.simultaneous_gd(bad)


def _both_engines(opt, losses=L, variables=(x, y)):
    """Run both engines; each must raise the same kind of error."""
    variables = list(variables)
    yield lambda: bea.modified_equation(opt, 2)
    yield lambda: coordinate_modified_equation(opt, losses, variables, 2)


INCONSISTENT = [
    ("minus_step", lambda x, s, step: x - step(x), "not consistent with gradient descent"),
    ("no_step", lambda x, s, step: x, "not consistent with gradient descent"),
    ("twice_x", lambda x, s, step: 2 * x + step(x), r"not x \+ O\(h\)"),
]


@pytest.mark.parametrize("name, rule, message", INCONSISTENT, ids=[c[0] for c in INCONSISTENT])
def test_inconsistent_rules(name, rule, message):
    opt = bea.Optimizer(rule, name=name)
    for run in _both_engines(opt):
        with pytest.raises(ValueError, match=message):
            run()


def test_unused_loss_is_inconsistent():
    opt = bea.Optimizer(lambda x, s, step: x + step(x, 0), colours=2, name="half")
    for run in _both_engines(opt, [L, L]):
        with pytest.raises(ValueError, match="every loss is used"):
            run()


def test_wrong_number_of_state_entries():
    opt = bea.Optimizer(lambda x, s, step: (x + step(x), (x, x)), lambda x: (x,), name="two")
    for run in _both_engines(opt):
        with pytest.raises(ValueError, match="2 state entries; init gave 1"):
            run()


def test_state_not_stationary():
    opt = bea.Optimizer(lambda x, s, step: (x + step(x), (2 * s[0],)), lambda x: (x,))
    for run in _both_engines(opt):
        with pytest.raises(ValueError, match="stationary"):
            run()


def test_beta_one_without_the_catalog_check():
    # the rule itself, with β = 1: the linear system for the underlying method is singular
    opt = bea.Optimizer(_catalog._heavy_ball_rule, lambda x: (x,), name="heavy_ball", beta=1)
    for run in _both_engines(opt):
        with pytest.raises(ValueError, match="no underlying one-step method"):
            run()


def test_step_index_out_of_range():
    opt = bea.Optimizer(lambda x, s, step: x + step(x, 1), name="second")
    for run in _both_engines(opt):
        with pytest.raises(ValueError, match=r"k must be an int in 0\.\.0"):
            run()


def test_wrong_number_of_losses():
    me = bea.modified_equation(O.reshuffled_sgd(2), 1)
    for losses in ([L], [L, L, L], L):
        with pytest.raises(ValueError, match="2"):
            me.on(losses, [x, y])
        with pytest.raises(ValueError, match="2 losses"):
            coordinate_modified_equation(O.reshuffled_sgd(2), losses, [x, y], 1)
    game = bea.modified_equation(O.simultaneous_gd(), 1)
    L0 = sympy.Function("L0")(p, q)
    with pytest.raises(ValueError, match="one loss per player"):
        game.on([L0], [[p], [q]])
    with pytest.raises(ValueError, match="one loss per player"):
        coordinate_modified_equation(O.simultaneous_gd(), [L0], [[p], [q]], 1)
    with pytest.raises(ValueError, match="3 players"):
        game.on([L0, L0, L0], [[p], [q], [x]])
    with pytest.raises(ValueError, match="3 players"):
        coordinate_modified_equation(O.simultaneous_gd(), [L0, L0, L0], [[p], [q], [x]], 1)


def test_coordinate_engine_rejects_non_programs():
    with pytest.raises(TypeError, match="Optimizer"):
        coordinate_modified_equation(bea.implicit_euler(), L, [x, y], 1)


# ----------------------------------------------------------------------------
# user-defined optimizers
# ----------------------------------------------------------------------------


def _velocity_heavy_ball(x, state, step, beta):
    (v,) = state  # v = x − x_prev
    v_new = beta * v + step(x)
    return x + v_new, (v_new,)


def test_user_defined_optimizer_matches_catalog():
    beta = R(3, 10)
    opt = bea.Optimizer(_velocity_heavy_ball, lambda x: (0 * x,), name="hb_velocity", beta=beta)
    assert repr(opt) == "hb_velocity(beta=3/10)"
    ref = bea.modified_equation(O.heavy_ball(beta), 3)
    me = bea.modified_equation(opt, 3)
    for t, c in ref:
        assert me.coefficient(t) == c
    assert same(
        coordinate_modified_equation(opt, L, [x, y], 2),
        coordinate_modified_equation(O.heavy_ball(beta), L, [x, y], 2),
    )
    # and it runs on arrays
    z_ref = _run(O.heavy_ball(), _jax_grad(), HH, STEPS, Z0, beta=0.3)
    _assert_close(_run(opt, _jax_grad(), HH, STEPS, Z0, beta=0.3), z_ref)


def test_decorator():
    @bea.optimizer(name="heun_rule")
    def heun_rule(x, state, step):
        k1 = step(x)
        k2 = step(x + k1)
        return x + (k1 + k2) / 2

    assert isinstance(heun_rule, bea.Optimizer)
    ref = bea.modified_equation(bea.heun(), 3)
    me = bea.modified_equation(heun_rule, 3)
    for t, c in ref:
        assert me.coefficient(t) == c
    assert same(
        bea.modified_equation(heun_rule, 3).on(L, [x, y]),
        coordinate_modified_equation(heun_rule, L, [x, y], 3),
    )


def test_decorator_with_state_and_symbolic_hyperparameter():
    a = sympy.Symbol("a")

    # a two-step rule: x⁺ = x + step(x) + a·(step(x) − step(x_prev))/2, state x_prev
    @bea.optimizer(init=lambda x: (x,), name="corrected", a=a)
    def corrected(x, state, step, a):
        (x_prev,) = state
        return x + step(x) + a * (step(x) - step(x_prev)) / 2, (x,)

    assert corrected.symbols == {a}
    assert same(
        bea.modified_equation(corrected, 2).on(L, [x, y]),
        coordinate_modified_equation(corrected, L, [x, y], 2),
    )
    # a = 0 is gradient descent
    assert same(
        coordinate_modified_equation(corrected, L, [x, y], 2).subs(a, 0),
        coordinate_modified_equation(O.gd(), L, [x, y], 2),
    )


def test_average_is_over_all_orderings():
    # averaging the coordinate maps by hand over the 2 orders equals the averaged optimizer
    L0, L1 = sympy.Function("L0")(x, y), sympy.Function("L1")(x, y)
    fixed = bea.Optimizer(_catalog._sgd_rule(2), name="sgd_fixed", colours=2, steps=2)
    order = 3
    maps = [
        underlying_map(fixed, list(ls), [x, y], order) for ls in itertools.permutations([L0, L1])
    ]
    mean = (maps[0].to_matrix() + maps[1].to_matrix()) / 2
    averaged = underlying_map(O.reshuffled_sgd(2), [L0, L1], [x, y], order).to_matrix()
    assert same(averaged, mean)
