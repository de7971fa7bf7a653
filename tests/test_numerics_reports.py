"""Sweeps that meet bad curvature, non-smooth losses or methods with state report, never abort.

* A non-finite curvature estimate (log at 0, ``lambda_max=inf``) flags every
  step size with the reason; the sweep completes (it used to raise
  ``LinAlgError`` from the range check).
* A loss with abs/max/min is refused with a clear message (backward error
  analysis needs a smooth loss) instead of ``NameError: DiracDelta``.
* Heavy ball on a quartic passes with the default settings: the start is
  settled on the invariant manifold from the state maps' B-series (no
  backward flow, which blows up in finite time on a quartic), and the
  default step sizes stay inside the range of the modified series. A start
  whose state is not finite is reported as such, not as diverged iterates.
* The state maps S of ``Optimizer.state_series`` are checked against an
  independent exact oracle: for heavy ball on the linear field f(y) = −λy
  the manifold is x_prev = x/μ, μ the principal root of
  μ² − (1 + β − hλ)μ + β = 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

import bea
import numerics
from numerics import _sweep

opt = bea.optimizers
x, y = sp.symbols("x y", real=True)
QUARTIC = x**4 / 4 + x * y**2 / 2 + y**2 / 2  # the CLI's built-in "quartic"


def test_non_finite_gradient_at_the_start_is_a_reported_failure():
    """bea verify gd --loss 'log(x) + y**2' --x0 0,1: every h failed with the reason, at once."""
    problem = numerics.SympyLoss(sp.log(x) + y**2, [x, y])
    r = numerics.agreement(bea.gd(), problem, jnp.array([0.0, 1.0]), orders=(0, 1))
    assert {f.h for f in r.failures} == {float(h) for h in r.step_sizes}
    assert all("gradient is not finite at the start" in f.reason for f in r.failures)
    assert not r.ok and not r.timings  # nothing was compiled or run
    assert r.to_dict()["x0"] == [0.0, 1.0] and r.to_dict()["loss"] == "y**2 + log(x)"


def test_non_finite_curvature_is_a_reported_failure():
    """x^{3/2} at 0: finite gradient, infinite curvature; the range check flags every h."""
    problem = numerics.SympyLoss(x ** sp.Rational(3, 2) + y**2, [x, y])
    r = numerics.agreement(bea.gd(), problem, jnp.array([0.0, 1.0]), orders=(0,))
    assert not np.isfinite(r.lambda_max)
    range_failures = [f for f in r.failures if "curvature estimate" in f.reason]
    assert {f.h for f in range_failures} == {float(h) for h in r.step_sizes}
    assert not r.ok
    assert "curvature estimate" in r.table()
    assert r.to_dict()["lambda_max"] is None  # JSON: non-finite as null


def test_infinite_lambda_max_given_is_a_reported_failure():
    loss = lambda z: jnp.sum(jnp.log(jnp.cosh(z)))  # noqa: E731
    r = numerics.agreement(
        bea.gd(), loss, jnp.array([0.8, -0.5]), orders=(0,), lambda_max=float("inf")
    )
    assert {f.h for f in r.failures} == {float(h) for h in r.step_sizes}
    assert all("not finite" in f.reason for f in r.failures)


@pytest.mark.parametrize(
    "loss",
    [sp.Max(x, y) ** 2, sp.Abs(x) ** 3 + y**2, sp.Min(x, 1) + y**2, sp.sqrt(sp.Abs(x))],
    ids=["max", "abs-cubed", "min", "sqrt-abs"],
)
def test_non_smooth_sympy_loss_is_refused(loss):
    with pytest.raises(ValueError, match="not smooth") as err:
        numerics.SympyLoss(loss, [x, y])
    assert "Taylor" in str(err.value) and "smooth surrogate" in str(err.value)


def test_smooth_losses_with_abs_that_simplifies_are_accepted():
    numerics.SympyLoss(sp.Abs(x) ** 2 + sp.Max(2, 3) * y**2, [x, y])  # |x|² = x² for real x


def test_heavy_ball_quartic_passes_with_default_settings():
    """bea verify heavy_ball --beta 0.5 --loss quartic --orders 0,1,2 (issue: all h diverged)."""
    method = opt.heavy_ball(0.5)
    r = numerics.agreement(
        method, numerics.SympyLoss(QUARTIC, [x, y]), jnp.array([0.8, -0.5]), (0, 1, 2)
    )
    assert r.ok, r.table()
    assert not r.failures, r.table()
    assert r.transient == 0
    assert any("invariant manifold" in n for n in r.notes)
    # the default step sizes keep h·λmax within a quarter of the range 1 + β − 2√β
    limit = 1.5 - 2 * np.sqrt(0.5)
    assert _sweep._range_limit(method) == pytest.approx(limit, rel=1e-9)
    assert max(r.step_sizes) * r.lambda_max <= 0.25 * limit * (1 + 1e-9)


def test_default_step_sizes_unchanged_where_in_range():
    """GD on log-cosh (λmax ≤ 1): h = T/n for n from 10 to 80, as before."""
    loss = lambda z: jnp.sum(jnp.log(jnp.cosh(z)))  # noqa: E731
    r = numerics.agreement(bea.gd(), loss, jnp.array([0.8, -0.5]), orders=(0,))
    assert list(r.steps) == [10, 13, 18, 24, 33, 44, 59, 80]


def test_failed_manifold_start_is_not_blamed_on_the_iterates():
    """x^{3/2} at x = 0: ∇L is finite but f'f = ∇²L∇L is 0·∞, so S(x0) is not finite."""
    problem = numerics.SympyLoss(x ** sp.Rational(3, 2) + y**2, [x, y])
    r = numerics.agreement(
        opt.heavy_ball(0.5), problem, jnp.array([0.0, 1.0]), orders=(0,), check_range=False
    )
    reasons = {f.reason for f in r.failures}
    assert any("state on the invariant manifold" in why for why in reasons), reasons
    assert not any("iterates diverged" in why for why in reasons), reasons


def test_manifold_state_is_invariant_to_the_predicted_order():
    """One step maps (x0, S(x0)) to (x1, x0) (heavy ball's new state is the old point); on the
    manifold S(x1) = x0. With S truncated at N nodes the defect is O(h^{N+1}): the fitted
    order of |S(x1) − x0| over h and h/2 must be N + 1 (±0.3; the series is asymptotic,
    its coefficients grow like 2, 8, 48, 416 for β = 1/2, so h is kept small)."""
    from numerics._settle import manifold_state

    def grad(z):  # ∇(x⁴/4 + x y²/2 + y²/2)
        return jnp.array([z[0] ** 3 + z[1] ** 2 / 2, z[0] * z[1] + z[1]])

    x0 = jnp.array([0.8, -0.5])
    for beta, N in ((0.0, 3), (0.5, 3)):
        method = opt.heavy_ball(beta)
        state = manifold_state(method, [lambda z: -grad(z)], N)
        defects = []
        for h in (0.004, 0.002):
            _, update = method.jax([grad], h)
            x1, (s1,) = update(x0, state(x0, h))
            np.testing.assert_array_equal(s1, x0)
            defects.append(float(jnp.linalg.norm(state(x1, h)[0] - x0)))
        assert np.log2(defects[0] / defects[1]) == pytest.approx(N + 1, abs=0.3), defects


def test_state_series_heavy_ball_linear_field_exact():
    """S on f(y) = −λy against the principal root of the characteristic equation (exact, symbolic β).

    On the manifold x_prev = ν·x with ν = 1/μ, μ the principal multiplier
    (μ → 1 as z = hλ → 0) of μ² − (1 + β − z)μ + β = 0; dividing by μ²:
    βν² − (1 + β − z)ν + 1 = 0 with ν(0) = 1. On this field F(chain of n
    nodes) = (−λ)^n y and every other F(t) vanishes (σ(chain) = 1), so
    ν(z) = S(∅) + Σ_n S(chain_n) (−z)^n must solve the equation to O(z^{N+1}).
    """
    beta = sp.Symbol("beta")
    N = 6
    (S,) = opt.heavy_ball(beta).state_series(N)
    chains = ["[]"]
    for _ in range(N - 1):
        chains.append(f"[{chains[-1]}]")
    # ν = Σ_k c_k z^k; the z^k coefficient of βν² − (1 + β)ν + zν + 1 must vanish for k ≤ N
    c = [S.domain.to_sympy(S.empty)] + [S[t] * (-1) ** (k + 1) for k, t in enumerate(chains)]
    assert c[0] == 1
    for k in range(N + 1):
        square = sum(c[i] * c[k - i] for i in range(k + 1))
        residual = beta * square - (1 + beta) * c[k] + (c[k - 1] if k else 0) + (1 if k == 0 else 0)
        assert sp.cancel(residual) == 0, (k, residual)
    assert S[chains[0]] == sp.cancel(-1 / (1 - beta))  # ν = 1 + z/(1−β) + …: x_prev = x − h f/(1−β)


def test_state_series_without_state_is_empty():
    assert bea.gd().program().state_series(3) == ()


def test_x64_is_on():
    assert jax.config.jax_enable_x64
