"""Coordinate-wise and adaptive optimizers: sign descent, RMSProp, Adam."""

import numpy as np
import pytest
import sympy as sp

import bea
from bea.coordinates._adaptive import is_zero
from bea.optimizers import adam, ema_momentum, rmsprop, sign_gd

h = bea.h
x, y = sp.symbols("x y")
b1, b2 = sp.symbols("beta1 beta2")
eps = sp.Symbol("epsilon", positive=True)
L1 = sp.Function("L")(x)
L2 = sp.Function("L")(x, y)


def _signs(field):
    return list(bea.AdaptiveModifiedEquation.signs(field))


def test_adam_d1_matches_the_hand_derivation():
    # By hand (d = 1, ε outside the root, g = L', H = L'', |g| = σg):
    # on the invariant manifold m = g + h β₁/(1−β₁) H q, √v = |g| + h β₂/(1−β₂) σ H q
    # with q = g/(|g|+ε); the one-step map is x − h q − h² φ₂ and
    # f̃ = −q − h H q [β₁/((1−β₁)(|g|+ε)) − β₂|g|/((1−β₂)(|g|+ε)²) + ε/(2(|g|+ε)²)]
    me = bea.modified_equation(adam(), 1)
    f = me.on(L1, [x])
    (s,) = _signs(f)
    g, H = L1.diff(x), L1.diff(x, 2)
    ag = s * g
    q = g / (ag + eps)
    f1 = -(H * q) * (
        b1 / ((1 - b1) * (ag + eps))
        - b2 * ag / ((1 - b2) * (ag + eps) ** 2)
        + eps / (2 * (ag + eps) ** 2)
    )
    assert is_zero(f[0] - (-q + h * f1), [s])


def test_adam_with_beta1_zero_is_rmsprop():
    for d_vars, loss, order in (([x], L1, 2), ([x, y], L2, 1)):
        fa = bea.modified_equation(adam(beta1=0, beta2=b2), order).on(loss, d_vars)
        me = bea.modified_equation(rmsprop(beta2=b2), order)
        fr = me.on(loss, d_vars)
        assert all(is_zero(a - r) for a, r in zip(fa, fr))


def _large_eps_limit(field):
    """lim_{ε→∞} ε·f̃(h → hε): the optimizer run with step hε, in time units n·h."""
    delta = sp.Symbol("delta", positive=True)
    scaled = (eps * field.subs(h, h * eps)).subs(eps, 1 / delta)
    out = []
    for c in scaled:
        c = sp.expand(c)
        parts = [sp.cancel(sp.together(c.coeff(h, k))).subs(delta, 0) for k in range(2)]
        out.append(parts[0] + h * parts[1])
    return sp.Matrix(out)


def test_rmsprop_with_large_eps_is_gd():
    me = bea.modified_equation(rmsprop(beta2=b2), 1)
    limit = _large_eps_limit(me.on(L2, [x, y]))
    gd_field = bea.modified_equation(bea.gd(), 1).on(L2, [x, y])
    assert all(is_zero(a - b) for a, b in zip(limit, gd_field))


@pytest.mark.parametrize(
    "variables", [[x], pytest.param([x, y], marks=pytest.mark.slow)], ids=["d1", "d2"]
)
def test_adam_with_large_eps_is_heavy_ball_in_ema_form(variables):
    loss = sp.Function("L")(*variables)
    me = bea.modified_equation(adam(), 1)
    limit = _large_eps_limit(me.on(loss, variables))
    ema = bea.modified_equation(ema_momentum(b1), 1).on(loss, variables)
    assert all(is_zero(a - b) for a, b in zip(limit, ema))


def test_adam_small_eps_matches_cattaneo_klusowski_shigida():
    # Cattaneo, Klusowski & Shigida (ICML 2024), Adam's first-order modified
    # equation specialised to ε → 0:
    #   θ̇_j = −(1/|∂_jL|) ∂_j [L + h(β₁/(1−β₁) − β₂/(1−β₂)) ‖∇L‖₁]
    # (typical β₂ > β₁ anti-penalises the one-norm of the gradient).
    c = b1 / (1 - b1) - b2 / (1 - b2)
    for f_at_zero, me in (
        (None, bea.modified_equation(adam(eps=0), 1)),
        ("limit", bea.modified_equation(adam(), 1)),
    ):
        f = me.on(L2, [x, y])
        if f_at_zero:
            f = f.subs(eps, 0)
        sig = {u: s for s, u in me.signs(f).items()}
        gx, gy = L2.diff(x), L2.diff(y)
        sx, sy = sig[gx], sig[gy]
        Lt = L2 + h * c * (sx * gx + sy * gy)
        expected = [-sp.diff(Lt, x) / (sx * gx), -sp.diff(Lt, y) / (sy * gy)]
        assert all(is_zero(a - b, [sx, sy]) for a, b in zip(f, expected))


def test_preconditioned_gradient_form_is_reported_where_it_exists():
    res = bea.modified_equation(adam(eps=0), 1).preconditioned_gradient(L2, [x, y])
    assert res["reason"] is None
    assert sp.simplify(res["coefficients"]["‖∇L‖₁"] - (b1 / (1 - b1) - b2 / (1 - b2))) == 0
    assert res["coefficients"]["‖∇L‖²"] == 0


@pytest.mark.slow
def test_no_preconditioned_gradient_form_for_fixed_eps_in_two_dimensions():
    # for fixed ε > 0 in two dimensions the h¹ term is not −P∇(h·Ψ)
    res = bea.modified_equation(adam(), 1).preconditioned_gradient(L2, [x, y])
    assert res["loss"] is None and "not −P∇" in res["reason"]


def test_sign_descent_is_a_translation():
    me = bea.modified_equation(sign_gd(), 2)
    f = me.on(L2, [x, y])
    sig = {u: s for s, u in me.signs(f).items()}
    assert f == sp.Matrix([-sig[L2.diff(x)], -sig[L2.diff(y)]])


def test_bias_correction_does_not_change_the_memoryless_equation():
    plain = bea.modified_equation(adam(), 1)
    fp = plain.on(L1, [x])
    corrected = bea.modified_equation(adam(bias_correction=True), 1)
    fc = corrected.on(L1, [x])
    assert is_zero(fp[0] - fc[0])


def test_not_a_b_series_method():
    with pytest.raises(ValueError, match="coordinate by coordinate"):
        adam().bseries(3)
    with pytest.raises(ValueError, match="coordinate"):
        bea.modified_loss(adam(), 1)


@pytest.mark.parametrize(
    "make",
    [
        lambda: adam(beta1=1),
        lambda: adam(beta2=sp.Rational(3, 2)),
        lambda: adam(eps=-1),
        lambda: rmsprop(beta2=1),
        lambda: rmsprop(eps=-sp.Rational(1, 10)),
    ],
)
def test_bad_hyperparameters(make):
    with pytest.raises(ValueError):
        make()


def test_bad_dimension_and_loss():
    me = bea.modified_equation(adam(), 1)
    with pytest.raises(ValueError, match="at least one"):
        me.on(L1, [])
    with pytest.raises(ValueError, match="scalar"):
        me.on(sp.Matrix([x, y]), [x, y])


# ----------------------------------------------------------------------------
# the same rule on arrays
# ----------------------------------------------------------------------------


def test_adam_rule_on_arrays_is_optax_adam():
    import jax
    import jax.numpy as jnp
    import optax

    def loss(p):
        return jnp.sum((p - 2.0) ** 2) / 2 + jnp.sin(p[0] * p[1])

    grad = jax.grad(loss)
    lr = 0.05
    opt = adam(0.9, 0.99, 1e-3, bias_correction=True)
    init, update = opt.jax(grad, lr)
    p = jnp.array([0.3, -0.7])
    state = init(p)
    tx = optax.adam(lr, b1=0.9, b2=0.99, eps=1e-3)
    q, ostate = p, tx.init(p)
    for _ in range(30):
        p, state = update(p, state)
        upd, ostate = tx.update(grad(q), ostate, q)
        q = optax.apply_updates(q, upd)
    np.testing.assert_allclose(np.asarray(p), np.asarray(q), rtol=0, atol=1e-12)


def test_first_order_modified_flow_of_adam_gives_slope_two():
    """Global error at T: order-0 flow ∝ h, order-1 modified flow ∝ h² (states start
    on the invariant manifold to first order). Tolerance ±0.25 on fitted slopes over
    h ∈ [1/400, 1/50]: the next-order terms bend the log-log line slightly."""
    import jax
    import jax.numpy as jnp
    from scipy.integrate import solve_ivp

    B1, B2, EPS = sp.Rational(1, 2), sp.Rational(3, 5), sp.Rational(1, 10)
    loss = (x - 2) ** 2 / 2 + (y + 1) ** 2 / 4 + x * y / 10
    opt = adam(B1, B2, EPS)
    me = bea.modified_equation(opt, 1)
    field = me.on(loss, [x, y])
    states = me.state_maps(loss, [x, y])
    x0 = (0.0, 0.0)
    # the signs σ(∂_rL) are part of the field: lambdify writes them as sign(∂_rL)
    subs = {}
    f0 = sp.lambdify([x, y], list(field.subs(h, 0).subs(subs)), "numpy")
    hs = sp.Symbol("hs")
    f1 = sp.lambdify([x, y, hs], list(field.subs(subs).subs(h, hs)), "numpy")
    st = [sp.lambdify([x, y, hs], list(s.subs(subs).subs(h, hs)), "numpy") for s in states]

    def jloss(p):
        return (p[0] - 2) ** 2 / 2 + (p[1] + 1) ** 2 / 4 + p[0] * p[1] / 10

    T = 0.5
    steps = [0.02, 0.01, 0.005, 0.0025]
    errs0, errs1 = [], []
    for hv in steps:
        _, upd = opt.jax(jax.grad(jloss), hv)
        p = jnp.array(x0)
        state = tuple(jnp.array(s(*x0, hv), dtype=float) for s in st)
        for _ in range(round(T / hv)):
            p, state = upd(p, state)
        ref0 = solve_ivp(lambda t, z: f0(*z), (0, T), x0, rtol=1e-12, atol=1e-13).y[:, -1]
        ref1 = solve_ivp(
            lambda t, z, hv=hv: f1(*z, hv), (0, T), x0, method="DOP853", rtol=1e-12, atol=1e-13
        ).y[:, -1]
        errs0.append(np.linalg.norm(np.asarray(p) - ref0))
        errs1.append(np.linalg.norm(np.asarray(p) - ref1))
    slope0 = np.polyfit(np.log(steps), np.log(errs0), 1)[0]
    slope1 = np.polyfit(np.log(steps), np.log(errs1), 1)[0]
    assert abs(slope0 - 1) < 0.25, (slope0, errs0)
    assert abs(slope1 - 2) < 0.25, (slope1, errs1)
    assert errs1[-1] < errs0[-1] / 20


@pytest.mark.parametrize(
    "loss, variables",
    [(x**4 / 4 + x, [x]), (x**4 / 4 + x * y**2 + y**2 / 2, [x, y])],
    ids=["x4+x", "x4+xy2+y2"],
)
def test_preconditioned_gradient_when_the_gradient_factors_over_q(loss, variables):
    # ∂L = x³ + 1 = (x + 1)(x² − x + 1): √((∂L)²) was not recognised, no sign was made
    b1_, b2_ = sp.Rational(9, 10), sp.Rational(999, 1000)
    res = bea.modified_equation(adam(b1_, b2_, 0), 1).preconditioned_gradient(loss, variables)
    assert res["reason"] is None
    c = b1_ / (1 - b1_) - b2_ / (1 - b2_)
    assert res["coefficients"] == {"‖∇L‖₁": c, "‖∇L‖²": 0}
    one_norm = sum(
        bea.AdaptiveModifiedEquation.sign_of(loss.diff(v)) * loss.diff(v) for v in variables
    )
    assert sp.expand(res["loss"] - (loss + h * c * one_norm)) == 0


def test_signs_are_in_normal_form_and_the_field_evaluates_at_a_point():
    loss = x**4 / 4 + x * y**2 + y**2 / 2
    me = bea.modified_equation(adam(sp.Rational(9, 10), sp.Rational(999, 1000), 0), 1)
    field = me.on(loss, [x, y])
    sigma = bea.AdaptiveModifiedEquation.sign_of(loss.diff(x))
    assert sigma**2 == 1 and not field.has(sp.Abs)
    # no state from an earlier call: a second derivation on another loss changes nothing
    me.on(x**2 + y**2, [x, y])
    point = {x: sp.Rational(1, 2), y: sp.Rational(-1, 3)}
    at = field.subs(point)
    assert at.free_symbols == {h}
    # by hand at the point: f₀ = −sign(∇L), both coordinates
    gx, gy = (loss.diff(v).subs(point) for v in (x, y))
    assert at.subs(h, 0) == sp.Matrix([-sp.sign(gx), -sp.sign(gy)])


def test_readable_result():
    loss = x**4 / 4 + x * y**2 + y**2 / 2
    r = bea.modified_equation(adam(sp.Rational(9, 10), sp.Rational(999, 1000), 0), 1).describe(
        loss, [x, y]
    )
    text = str(r)
    assert "f̃[x] = -σ1 + h*(990*(H11*σ1 + H12*σ2)/|g1|)" in text
    assert "g1 = x**3 + y**2" in text and "H12 = 2*y" in text
    assert r._repr_latex_().startswith("$\\begin{aligned}")
    data = r.to_dict()
    assert data["field"]["x"]["h^0"] == "-σ1" and data["names"]["σ2"] == "sign(g2)"
    assert r({x: 1, y: 1}) == r.field.subs({x: 1, y: 1})
    with pytest.raises(ValueError, match="one per variable"):
        r([1])
