"""Stochastic modified equations: exact drift and diffusion, the local weak error, bad input.

Oracles, each independent of the engine's derivation:
* the published SME of SGD (Li, Tai & E, "Stochastic modified equations and
  adaptive stochastic gradient algorithms", ICML 2017; "... dynamics of stochastic
  gradient algorithms I", JMLR 20 (2019)): dX = −∇(L + h/4 ‖∇L‖²) dt + √(h Σ) dW to weak order 2;
* the covariance of a mini-batch gradient by enumerating every batch;
* the exact expectation of one optimizer step over the sampling, in sympy,
  against the SDE's generator series E φ(X_h) = Σ_k h^k 𝓛^k φ / k!.
"""

from __future__ import annotations

import itertools

import pytest
import sympy as sp

import bea
from bea.coordinates import underlying_map

x, y = sp.symbols("x y")
h = bea.h
XS = (x, y)
# three concrete 2-D example losses (not quadratic: the Hessian varies)
LOSSES = [
    x**2 / 2 + x * y + y**3 / 3,
    (x - 1) ** 2 + y**2 / 2 - x * y**2,
    x**3 / 3 + (y + 1) ** 2 / 2 + x,
]


def _grad(L):
    return sp.Matrix([sp.diff(L, v) for v in XS])


def _mean(values):
    values = list(values)
    return sum(values, values[0] * 0) / len(values)


def _zero(matrix) -> bool:
    return all(sp.expand(e) == 0 for e in matrix)


def _batch_covariance(losses, batch: int, replacement: bool) -> sp.Matrix:
    """Cov of ∇L_B over every batch (ordered draws with replacement, subsets without)."""
    n = len(losses)
    if replacement:
        batches = list(itertools.product(range(n), repeat=batch))
    else:
        batches = list(itertools.combinations(range(n), batch))
    grads = [_mean(_grad(losses[i]) for i in B) for B in batches]
    g = _mean(grads)
    return _mean((gi - g) * (gi - g).T for gi in grads).applyfunc(sp.expand)


# ----------------------------------------------------------------------------
# exact drift and diffusion
# ----------------------------------------------------------------------------


def test_sgd_batch_one_is_li_tai_e():
    # the order-2 SME of Li, Tai & E (ICML 2017; JMLR 2019): SGD with step h follows
    # dX = −∇(L + h/4 ‖∇L‖²) dt + √(h Σ) dW, Σ = (1/n) Σ_i (∇L_i − ∇L)(∇L_i − ∇L)ᵀ
    sme = bea.stochastic_modified_equation(bea.optimizers.sgd(batch=1, replacement=True), order=2)
    sde = sme.on(LOSSES, [x, y])
    L = _mean(LOSSES)
    g = _grad(L)
    expected_drift = -_grad(L + h / 4 * (g.T * g)[0])
    sigma = _mean((_grad(Li) - g) * (_grad(Li) - g).T for Li in LOSSES)
    assert _zero(sde.drift - expected_drift)
    assert _zero(sde.diffusion - sigma)
    assert sde.diffusion == sde.diffusion.T
    assert sde.drift.shape == (2, 1) and sde.drift.has(h)
    # order 1: the drift stops at −∇L, the diffusion is the same
    sde1 = bea.stochastic_modified_equation(bea.optimizers.sgd(), order=1).on(LOSSES, [x, y])
    assert _zero(sde1.drift + g) and _zero(sde1.diffusion - sigma)


@pytest.mark.parametrize(
    "batch, replacement", [(2, True), (3, True), (2, False), (3, False), (1, False)]
)
def test_batch_scales_the_diffusion(batch, replacement):
    # D = Cov(∇L_B): Σ/b with replacement, (n − b)/(b(n − 1)) Σ without (finite-population
    # correction); the oracle enumerates every batch
    opt = bea.optimizers.sgd(batch=batch, replacement=replacement)
    sde = bea.stochastic_modified_equation(opt, order=2).on(LOSSES, [x, y])
    assert _zero(sde.diffusion - _batch_covariance(LOSSES, batch, replacement))
    if not replacement and batch == len(LOSSES):
        assert _zero(sde.diffusion)  # the full batch: gradient descent, no noise


def test_oracle_noise_takes_a_user_covariance():
    s = sp.Symbol("s", positive=True)
    sigma = sp.Matrix([[1 + x**2, 0], [0, s]])
    opt = bea.with_noise(bea.optimizers.usam(sp.Rational(1, 2)), bea.GradientOracle(batch=2))
    sde = bea.stochastic_modified_equation(opt, order=2).on(x**2 + y**2, [x, y], covariance=sigma)
    # USAM (ρ = c h, same sample): b = −∇[L + h(c/2 + 1/4)‖∇L‖² + (c h/2) tr Σ/b]
    L = x**2 + y**2
    c = sp.Rational(1, 2)
    g = _grad(L)
    V = L + h * (c / 2 + sp.Rational(1, 4)) * (g.T * g)[0] + c * h / 2 * sigma.trace() / 2
    assert _zero(sde.drift + _grad(V))
    assert _zero(sde.diffusion - sigma / 2)


# ----------------------------------------------------------------------------
# the local weak error against the exact expectation over the sampling
# ----------------------------------------------------------------------------


def _generator_series(sde, phi, order):
    """Σ_{k ≤ order} h^k 𝓛^k φ / k!, 𝓛 = b·∇ + (h/2) D:∇² (written out here, not the library's)."""
    b, D = sde.drift, sde.diffusion

    def gen(u):
        first = sum(b[i] * sp.diff(u, v) for i, v in enumerate(XS))
        second = sum(
            D[i, j] * sp.diff(u, vi, vj) for i, vi in enumerate(XS) for j, vj in enumerate(XS)
        )
        return sp.expand(first + h / 2 * second)

    total, term = phi, phi
    for k in range(1, order + 1):
        term = gen(term)
        total += h**k * term / sp.factorial(k)
    return sp.expand(total)


def _h_coefficients(expr, upto):
    expr = sp.expand(expr)
    return [sp.expand(expr.coeff(h, k)) for k in range(upto + 1)]


PHIS = [x**2 * y, x**3 + y**2, x * y**2 - x]
# the first test function runs by default, the others with the slow tests
PHI_PARAMS = [PHIS[0], *(pytest.param(p, marks=pytest.mark.slow) for p in PHIS[1:])]


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("phi", PHI_PARAMS, ids=str)
def test_local_weak_error_of_sgd(order, phi):
    sde = bea.stochastic_modified_equation(bea.optimizers.sgd(), order=order).on(LOSSES, [x, y])
    # exact expectation of one SGD step over the uniformly drawn example
    step = [
        phi.subs({x: x - h * _grad(Li)[0], y: y - h * _grad(Li)[1]}, simultaneous=True)
        for Li in LOSSES
    ]
    exact_mean = sp.expand(_mean(step))
    diff = _h_coefficients(exact_mean - _generator_series(sde, phi, order + 1), order + 1)
    assert all(c == 0 for c in diff[: order + 1])  # local weak error O(h^{order+1})
    assert diff[order + 1] != 0  # and not better: the test can fail


@pytest.mark.parametrize("phi", PHI_PARAMS[:2], ids=str)
def test_local_weak_error_of_usam(phi):
    # USAM with the same sample in both gradients: x₁ = x − h∇L_γ(x + c h ∇L_γ(x))
    c = sp.Rational(1, 3)
    opt = bea.with_noise(bea.optimizers.usam(c))
    sde = bea.stochastic_modified_equation(opt, order=2).on(LOSSES, [x, y])
    step = []
    for Li in LOSSES:
        g = _grad(Li)
        ascent = {x: x + c * h * g[0], y: y + c * h * g[1]}
        gy = g.subs(ascent, simultaneous=True)
        step.append(phi.subs({x: x - h * gy[0], y: y - h * gy[1]}, simultaneous=True))
    diff = _h_coefficients(_mean(step) - _generator_series(sde, phi, 3), 3)
    assert diff[:3] == [0, 0, 0] and diff[3] != 0


def _at_shift(expr, delta, order):
    """expr(X + δ) through h^order for δ = O(h): Σ_k (δ·∇)^k expr / k! (δ held fixed)."""
    zs = sp.symbols("z0:2")
    base = {v: z for v, z in zip(XS, zs)}
    total = term = sp.expand(expr).subs(base, simultaneous=True)
    for k in range(1, order + 1):
        term = _truncated(sum(delta[i] * sp.diff(term, z) for i, z in enumerate(zs)), order)
        total += term / sp.factorial(k)
    back = {z: v for v, z in zip(XS, zs)}
    return _truncated(total.subs(back, simultaneous=True), order)


def _inverse(phi_map):
    """Φ⁻¹(x) through h² for Φ(x) = x + h φ₁ + h² φ₂: x − h φ₁ + h²(φ₁'φ₁ − φ₂)."""
    X = sp.Matrix(XS)
    shift = (phi_map - X).applyfunc(sp.expand)
    phi1 = shift.applyfunc(lambda e: e.coeff(h, 1))
    phi2 = shift.applyfunc(lambda e: e.coeff(h, 2))
    return (X - h * phi1 + h**2 * (phi1.jacobian(XS) * phi1 - phi2)).applyfunc(sp.expand)


def _truncated(e, order):
    e = sp.expand(e)
    return sum(e.coeff(h, k) * h**k for k in range(order + 1))


@pytest.mark.parametrize("phi", [x * y, *PHI_PARAMS[1:]], ids=str)
def test_local_weak_error_of_heavy_ball(phi):
    # Heavy ball on its deterministic invariant manifold (x_prev = Φ⁻¹(x), Φ the underlying
    # one-step map from the coordinate engine), one step with a sampled gradient. The
    # averaged iterate x̃ = (x − β x_prev)/(1 − β) is the SDE's one-step variable (see
    # bea/stochastic/_sme.py): E φ(x̃₁) − [Σ h^k 𝓛^k φ/k!](x̃₀) = O(h³).
    beta = sp.Rational(1, 2)
    opt = bea.with_noise(bea.optimizers.heavy_ball(beta))
    sde = bea.stochastic_modified_equation(opt, order=2).on(LOSSES, [x, y])
    L = _mean(LOSSES)
    phi_map = underlying_map(bea.optimizers.heavy_ball(beta), L, [x, y], 2).to_matrix()
    x_prev = _inverse(phi_map)  # through h²: an O(h³) error in x_prev moves x̃₁ by O(h³)
    tilde0 = ((sp.Matrix(XS) - beta * x_prev) / (1 - beta)).applyfunc(sp.expand)
    ends = []
    for Li in LOSSES:
        x1 = sp.Matrix(XS) - h * _grad(Li) + beta * (sp.Matrix(XS) - x_prev)
        tilde1 = (x1 - beta * sp.Matrix(XS)) / (1 - beta)
        ends.append(_at_shift(phi, tilde1 - sp.Matrix(XS), 2))
    exact_mean = _mean(ends)
    shift0 = tilde0 - sp.Matrix(XS)
    series = _at_shift(_truncated(_generator_series(sde, phi, 2), 2), shift0, 2)
    diff = _h_coefficients(exact_mean - series, 2)
    assert diff == [0, 0, 0]
    # the diffusion is Σ/(1 − β)², not the one-step Σ: with D = Σ the h² term is off
    wrong = sp.Matrix(sde.diffusion) * (1 - beta) ** 2
    sde_wrong = type(sde)(sde.drift, wrong, sde.variables, h, 2)
    series_wrong = _at_shift(_truncated(_generator_series(sde_wrong, phi, 2), 2), shift0, 2)
    assert _h_coefficients(exact_mean - series_wrong, 2)[2] != 0


def test_library_generator_series_matches():
    sde = bea.stochastic_modified_equation(bea.optimizers.sgd(), order=2).on(LOSSES, [x, y])
    phi = x * y
    assert sp.expand(sde.expectation(phi, 2) - _truncated(_generator_series(sde, phi, 2), 2)) == 0


# ----------------------------------------------------------------------------
# printing and the result contract
# ----------------------------------------------------------------------------


def test_text_latex_json():
    sme = bea.stochastic_modified_equation(bea.optimizers.sgd(), order=2)
    assert isinstance(sme, bea.Result) and isinstance(sme, bea.StochasticModifiedEquation)
    assert sme.potential_text() == "L + h/4 ‖∇L‖² + O(h²)"
    assert sme.drift_text() == "-∇L - h/4 ∇‖∇L‖² + O(h²)"
    assert sme.diffusion_text() == "Σ"
    assert "\\frac{h}{4} \\nabla \\lVert \\nabla L \\rVert^{2}" in sme.latex()
    assert sp.latex(sme) == sme.latex()
    d = sme.to_dict()
    assert d["order"] == 2 and d["method"] == "sgd(batch=1, replacement=True)"
    assert {(t["part"], t["power"], t["tensor"], t["coefficient"]) for t in d["terms"]} == {
        ("drift", 0, "∇L", "-1"),
        ("drift", 1, "∇‖∇L‖²", "-1/4"),
        ("diffusion", 0, "Σ", "1"),
    }
    hb = bea.stochastic_modified_equation(bea.with_noise(bea.optimizers.heavy_ball()), 2)
    (diffusion,) = [c for t, c in hb.terms() if t.part == "diffusion"]
    beta = bea.optimizers.BETA
    assert sp.cancel(diffusion - 1 / (1 - beta) ** 2) == 0
    assert "invariant manifold" in hb.text()


# ----------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------


def test_non_symmetric_or_indefinite_covariance_is_refused():
    sme = bea.stochastic_modified_equation(bea.with_noise(bea.gd(), bea.GradientOracle()), 2)
    with pytest.raises(ValueError, match="must be symmetric"):
        sme.on(x**2 + y**2, [x, y], covariance=sp.Matrix([[1, x], [0, 1]]))
    with pytest.raises(ValueError, match="positive semi-definite"):
        sme.on(x**2 + y**2, [x, y], covariance=sp.Matrix([[1, 2], [2, 1]]))
    with pytest.raises(ValueError, match="positive semi-definite"):
        sme.on(x**2 + y**2, [x, y], covariance=sp.Matrix([[x, 0], [0, 1]]))  # x = −1
    with pytest.raises(ValueError, match=r"covariance=sympy.Matrix"):
        sme.on(x**2 + y**2, [x, y])
    with pytest.raises(ValueError, match="2×2"):
        sme.on(x**2 + y**2, [x, y], covariance=sp.Matrix([[1]]))


def test_batch_larger_than_n_without_replacement_is_refused():
    sme = bea.stochastic_modified_equation(bea.optimizers.sgd(batch=4, replacement=False), 2)
    with pytest.raises(ValueError, match="at least 4 examples, got n = 3"):
        sme.on(LOSSES, [x, y])
    with pytest.raises(ValueError, match="batch must be an int >= 1"):
        bea.optimizers.sgd(batch=0)


def test_orders_the_method_does_not_reach_are_refused():
    with pytest.raises(ValueError, match="order 3 is not reached"):
        bea.stochastic_modified_equation(bea.optimizers.sgd(), order=3)
    with pytest.raises(ValueError, match="weak order >= 1"):
        bea.stochastic_modified_equation(bea.optimizers.sgd(), order=0)

    def two_gradients(x, state, step):
        (x_prev,) = state
        return x + step(x + step(x)) + (x - x_prev) / 2, (x,)

    opt = bea.with_noise(bea.Optimizer(two_gradients, lambda x: (x,), name="memory_eg"))
    with pytest.raises(ValueError, match=r"one gradient.*Order 1 is available"):
        bea.stochastic_modified_equation(opt, order=2)
    assert bea.stochastic_modified_equation(opt, order=1).order == 1


def test_methods_without_noise_are_refused():
    with pytest.raises(ValueError, match=r"no noise model.*bea.with_noise"):
        bea.stochastic_modified_equation(bea.gd(), order=2)
    with pytest.raises(TypeError, match=r"bea.Method"):
        bea.stochastic_modified_equation(lambda x: x, order=2)
    with pytest.raises(ValueError, match="coordinate-wise"):
        bea.stochastic_modified_equation(bea.with_noise(bea.optimizers.sign_gd()), order=1)
    with pytest.raises(ValueError, match="one loss"):
        bea.with_noise(bea.optimizers.reshuffled_sgd(2))
    with pytest.raises(ValueError, match="list of the n example"):
        bea.stochastic_modified_equation(bea.optimizers.sgd(), 2).on(x**2, [x])
