"""Momentum schedules β(t): the moving-coefficient tree engine against independent oracles.

Oracles: the coordinate backend on the extended map (x, t) with the state solved
on its invariant manifold in coordinates (a concrete 2-D loss, exact sympy), and
closed forms derived by hand by inserting x_{n±1} = x(t ± h) into the rule:

* heavy ball  (1−β)ẋ + h(1+β)/2·ẍ = −η∇L + O(h²);
* EMA         the same with step h(1−β): no β′ at order h;
* Nesterov    (1−β)ẋ + h(1+β)/2·ẍ = −∇L − hβ∇²Lẋ + O(h²).
"""

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import solve_ivp

import bea
from bea.optimizers import ema_momentum, gd, heavy_ball, nesterov, scheduled

h, t = bea.h, bea.t
x, y = sp.symbols("x y")
LOSS = x**4 / 4 + x * y + y**2  # a concrete 2-D loss with a non-constant Hessian
G = sp.Matrix([LOSS.diff(v) for v in (x, y)])
H = sp.hessian(LOSS, (x, y))
b = sp.Function("b")(t)
SCHEDULES = [b, sp.Rational(1, 2) + t / 4, sp.cos(t) / 4 + sp.Rational(1, 2)]


def _zero(m):
    """Exact zero test: b(t), its derivatives, cos(t), sin(t) become symbols, then one
    common denominator and the expanded numerator (faster than cancel on Derivatives)."""
    for c in m:
        atoms = sorted(c.atoms(sp.Derivative), key=lambda d: -d.derivative_count)
        atoms += sorted(c.atoms(sp.Function), key=str)
        c = c.subs({a: sp.Dummy() for a in atoms})
        if sp.expand(sp.fraction(sp.together(c))[0]) != 0:
            return False
    return True


def _hand(name, beta, eta=sp.S.One):
    """The first-order field from the two-term expansion of the rule (module docstring)."""
    db, de = beta.diff(t), eta.diff(t)
    if name == "ema_momentum":
        return -eta * G - h * (1 + beta) / (2 * (1 - beta)) * eta**2 * H * G
    lead = -eta * G / (1 - beta)
    # ẍ of the leading flow: d/dt[−ηG/(1−β)] = η²HG/(1−β)² − (η′(1−β) + ηβ′)G/(1−β)²
    acc = eta**2 * H * G / (1 - beta) ** 2 - (de * (1 - beta) + eta * db) * G / (1 - beta) ** 2
    extra = beta * H * lead if name == "nesterov" else sp.zeros(2, 1)
    return lead - h / (1 - beta) * ((1 + beta) / 2 * acc + extra)


@pytest.mark.parametrize("beta", SCHEDULES, ids=["b(t)", "linear", "cosine"])
@pytest.mark.parametrize("make", [heavy_ball, ema_momentum, nesterov])
def test_first_order_trees_coordinates_and_hand_formula(make, beta):
    me = bea.modified_equation(make(beta=beta), 1)
    expected = _hand(make.__name__, beta)
    assert _zero(me.on(LOSS, [x, y]) - expected)
    assert _zero(me.on_coordinates(LOSS, [x, y]) - expected)


def test_beta_prime_term_of_heavy_ball_on_trees():
    # c_1(•) = −(1+β)β′/(2(1−β)³) (f = −∇L, so +h(1+β)β′/(2(1−β)³)∇L), c_1([•]) as for fixed β
    me = bea.modified_equation(heavy_ball(beta=b), 1)
    terms = me.tree_terms(1)
    db = b.diff(t)
    assert me.text().startswith("f̃_x = (-1/(b(t) - 1)) f + h(") and "f'f" in me.text()
    assert [str(tree) for tree, _ in terms] == ["[]", "[[]]"]
    assert sp.simplify(terms[0][1] + (1 + b) * db / (2 * (1 - b) ** 3)) == 0
    assert sp.simplify(terms[1][1] + (1 + b) / (2 * (1 - b) ** 3)) == 0


@pytest.mark.parametrize(
    "make",
    [
        heavy_ball,
        pytest.param(ema_momentum, marks=pytest.mark.slow),
        pytest.param(nesterov, marks=pytest.mark.slow),
    ],
)
def test_second_order_trees_equal_coordinates(make):
    me = bea.modified_equation(make(beta=b), 2)
    trees = me.on(LOSS, [x, y])
    assert trees.has(b.diff(t, 2)) or make is ema_momentum  # β″ enters at h² (EMA: β′ first)
    assert _zero(trees - me.on_coordinates(LOSS, [x, y]))


def test_step_and_momentum_schedules_together():
    eta = sp.Function("eta")(t)
    me = bea.modified_equation(scheduled(heavy_ball(), eta, beta=b), 1)
    expected = _hand("heavy_ball", b, eta)
    assert _zero(me.on(LOSS, [x, y]) - expected)
    assert _zero(me.on_coordinates(LOSS, [x, y]) - expected)
    # a step schedule on a method with state, β fixed: trees and coordinates agree at h²
    me = bea.modified_equation(scheduled(ema_momentum(sp.Rational(1, 2)), eta), 2)
    assert _zero(me.on(LOSS, [x, y]) - me.on_coordinates(LOSS, [x, y]))


def test_constant_schedule_is_the_fixed_beta_method():
    beta = sp.Rational(3, 5)
    moving = scheduled(heavy_ball(), beta=beta + 0 * t)
    fixed = bea.modified_equation(heavy_ball(beta), 3).on(LOSS, [x, y])
    assert _zero(bea.modified_equation(moving, 3).on(LOSS, [x, y]) - fixed)


def test_coordinatewise_rule_with_a_momentum_schedule():
    """Adam with β₁(t), on the extended map in coordinates: a constant schedule gives the
    fixed-β₁ coordinate-wise result; β₁′ does not enter at h¹ (an EMA, as for ema_momentum)."""
    from bea.coordinates._adaptive import is_zero
    from bea.optimizers import adam

    L = x**4 / 4 + x
    half, b2 = sp.Rational(1, 2), sp.Rational(3, 4)
    moving = bea.modified_equation(scheduled(adam(half, b2, 0), beta1=half + 0 * t), 1)
    fixed = bea.modified_equation(adam(half, b2, 0), 1)
    assert is_zero(moving.on(L, [x])[0] - fixed.on(L, [x])[0])
    field = bea.modified_equation(scheduled(adam(half, b2, 0), beta1=b), 1).on(L, [x])
    assert field.has(b) and not field.has(sp.Derivative)


def test_heavy_ball_modified_loss_writes_beta_prime_as_a_rescaling():
    me = bea.modified_equation(heavy_ball(beta=b), 1)
    Lt = me.loss(LOSS, [x, y])
    db = b.diff(t)
    grad2 = G.dot(G)
    expected = (1 / (1 - b) - h * (1 + b) * db / (2 * (1 - b) ** 3)) * LOSS + h * (1 + b) / (
        4 * (1 - b) ** 3
    ) * grad2
    assert sp.cancel(sp.together(sp.expand(Lt - expected))) == 0
    # and −∇L̃ is the hand formula's field
    assert _zero(-sp.Matrix([Lt.diff(v) for v in (x, y)]) - _hand("heavy_ball", b))
    assert [(k, str(tau)) for k, tau, _ in me.loss_terms()] == [
        (0, "{[]}"),
        (1, "{[]}"),
        (1, "{[[]]}"),
    ]


def test_state_on_the_manifold():
    # x_prev = S(x, t) = x − h ẋ + h²/2 ẍ + …: through h¹ it is x + hG/(1−β)
    (S,) = bea.modified_equation(heavy_ball(beta=b), 1).state_on(LOSS, [x, y])
    first = S.applyfunc(lambda c: sp.expand(c).coeff(h, 1))
    assert _zero(first - G / (1 - b))
    assert _zero(S.applyfunc(lambda c: sp.expand(c).coeff(h, 0)) - sp.Matrix([x, y]))


def test_bad_momentum_schedules():
    with pytest.raises(ValueError, match=r"function of the time symbol bea\.t alone"):
        heavy_ball(beta=sp.Symbol("s") * t)
    with pytest.raises(ValueError, match=r"function of the time symbol bea\.t alone"):
        scheduled(heavy_ball(), beta=sp.Function("b")(x))
    with pytest.raises(ValueError, match=r"beta\(0\) = 1"):
        heavy_ball(beta=1 + t)
    with pytest.raises(ValueError, match=r"beta\(0\) = 3/2"):
        nesterov(beta=sp.Rational(3, 2) - t)
    with pytest.raises(ValueError, match=r"beta\(0\) = -1"):
        ema_momentum(beta=sp.cos(t + sp.pi))
    with pytest.raises(ValueError, match="no hyperparameter gamma"):
        scheduled(heavy_ball(), gamma=t)
    with pytest.raises(ValueError, match="must not contain h"):
        scheduled(heavy_ball(), beta=h * t)
    with pytest.raises(ValueError, match="scalar sympy expression"):
        scheduled(heavy_ball(), beta=sp.Matrix([t, t]))
    with pytest.raises(ValueError, match="give a step schedule"):
        scheduled(heavy_ball())
    with pytest.raises(ValueError, match=r"not bea\.t"):
        scheduled(heavy_ball(), beta=sp.Symbol("t") / 4)
    with pytest.raises(ValueError, match=r"not a gradient at order h\^2"):
        bea.modified_equation(heavy_ball(beta=b), 2).loss(LOSS, [x, y])
    with pytest.raises(TypeError, match="already scheduled"):
        scheduled(gd(schedule=1 + t), 1 + t)


# -- numerics: fitted slopes of global errors ----------------------------------------------

NLOSS = sp.log(sp.cosh(x)) + (y - x / 2) ** 2 / 2
T_END = 1.0
# β(t) near 3/4 makes the h² terms large (factors 1/(1−β)⁵): the asymptotic range starts
# later than for gradient descent, so the steps are smaller than in test_training_numerics
STEPS = [1 / 80, 1 / 160, 1 / 320, 1 / 640]


def _flow(field, x0, hv):
    f = sp.lambdify([x, y, t, h], list(field), "numpy")
    sol = solve_ivp(
        lambda s, z: f(z[0], z[1], s, hv), (0, T_END), x0, method="DOP853", rtol=1e-12, atol=1e-13
    )
    return sol.y[:, -1]


@pytest.mark.parametrize(
    "beta",
    [sp.Rational(1, 2) + t / 4, (1 + sp.cos(sp.pi * t)) / 4 + sp.Rational(1, 4)],
    ids=["linear", "cosine"],
)
def test_heavy_ball_schedule_slopes(beta):
    """x_{n+1} = x_n − h∇L(x_n) + β(nh)(x_n − x_{n−1}), started on the manifold.

    Slope 1 at order 0, 2 at order 1 (±0.15: the next orders bend the fit); the
    order-1 field without its β′ term is only first-order accurate (slope < 1.5)."""
    me = bea.modified_equation(heavy_ball(beta=beta), 1)
    fields = [bea.modified_equation(heavy_ball(beta=beta), 0).on(NLOSS, [x, y])]
    fields.append(me.on(NLOSS, [x, y]))
    no_prime = me.on(NLOSS, [x, y]) - h * (1 + beta) * beta.diff(t) / (2 * (1 - beta) ** 3) * (
        sp.Matrix([NLOSS.diff(v) for v in (x, y)])
    )
    fields.append(no_prime)
    (S,) = me.state_on(NLOSS, [x, y])  # x_prev on the manifold, to O(h³)
    start = sp.lambdify([x, y, t, h], list(S), "numpy")
    bnum = sp.lambdify([t], beta, "numpy")
    grad = sp.lambdify([x, y], [NLOSS.diff(x), NLOSS.diff(y)], "numpy")
    x0 = np.array([0.8, -0.5])
    errors = [[], [], []]
    for hv in STEPS:
        z, z_prev = x0.copy(), np.array(start(*x0, 0.0, hv), dtype=float)
        for n in range(round(T_END / hv)):
            z, z_prev = z - hv * np.array(grad(*z)) + bnum(n * hv) * (z - z_prev), z
        for p, field in enumerate(fields):
            errors[p].append(np.linalg.norm(z - _flow(field, x0, hv)))
    slopes = [np.polyfit(np.log(STEPS), np.log(e), 1)[0] for e in errors]
    assert abs(slopes[0] - 1) < 0.15
    assert abs(slopes[1] - 2) < 0.15
    assert slopes[2] < 1.5


def test_program_iterates_the_scheduled_rule():
    """opt.jax runs x_{n+1} = x_n − h∇L(x_n) + β(nh)(x_n − x_{n−1}), x_{−1} = x_0 (init)."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    opt = heavy_ball(beta=sp.Rational(1, 2) + t / 4)

    def grad(p):
        return jnp.array([p[0] ** 3 + p[1], p[0] + 2 * p[1]])  # ∇ of x⁴/4 + xy + y²

    init, update = opt.jax(grad, 0.1)
    p = jnp.array([0.7, -0.4])
    state = init(p)
    z, z_prev = np.array([0.7, -0.4]), np.array([0.7, -0.4])
    for n in range(5):
        p, state = update(p, state)
        g = np.array([z[0] ** 3 + z[1], z[0] + 2 * z[1]])
        z, z_prev = z - 0.1 * g + (0.5 + n * 0.1 / 4) * (z - z_prev), z
    np.testing.assert_allclose(np.asarray(p), z, rtol=0, atol=1e-14)  # float64 rounding
