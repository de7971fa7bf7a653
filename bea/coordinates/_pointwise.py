"""The one-step map of a coordinate-wise rule with state, expanded in h at one rational point.

``adaptive_map`` derives Φ and the state maps as functions of symbolic
coordinates; for rules whose update is a large polynomial in the point
(Muon: five Newton–Schulz steps, degree 243 in the normalised entries) that
does not finish. At a concrete rational point x0 every Taylor coefficient is
a number, so the raw rule runs cheaply on points whose coordinates are
series with numeric coefficients (``HPoint``); what the symbolic engine gets
from differentiating the state maps, here comes from a second expansion:

1. **Stationary state and its gradient.** With step size 0 the rule's state
   update s ↦ s_new(x, s) has the fixed point s_0(x) (order 0 of the state
   maps): s_0(x0) solves the affine equations s_new = s at x0, and on the
   line x0 + τ·e_r, as a series in τ through τ¹, the τ¹ coefficient
   ∂_r s_0(x0) solves the same equations at order τ. The unknowns are found
   by evaluating the rule at numeric states (the residual is affine in them:
   checked), so the rule never sees a symbol.
2. **The map through h².** At the point x = x0 + h·w (w = 0 for Φ(x0)) with
   states s_0(x0) + h·σ_1 + h²·σ_2, the invariance of the manifold at order 1,
   s_new,1 = σ_1 + ∇s_0(x0)·(x_new,1 − w), fixes σ_1 (affine, solved the same
   way); the h² coefficient of x_new must not depend on σ_2 (checked).

For w = 0 this gives Φ(x0) = x0 + hφ_1 + h²φ_2 + O(h³); for w = φ_1 the h²
coefficient is φ_2 + (∇φ_1)φ_1, so the modified field f̃ = f_0 + h f_1,
f_0 = φ_1, f_1 = φ_2 − ½(∇φ_1)φ_1, follows without differentiating anything
symbolic. Regime as in ``bea.coordinates._adaptive`` (hyperparameters fixed
as h → 0, the transient discarded, no square root of a vanishing quantity at
x0); the rule's x-update at h^n uses the states through h^{n−1} (x_new =
x − h·(…)), and its state update is affine in the state at h⁰ (both checked).
"""

from __future__ import annotations

import sympy
from sympy import S

from .._inputs import as_variables, exact
from ._adaptive import _Context, _SeriesOps
from ._hseries import HPoint, _taylor

__all__ = ["pointwise_field", "pointwise_map"]


def _runner(opt, loss, variables, order: int, series_symbol, step_size):
    """rule(x_rows, state_rows) -> (x_new rows, state rows) on numeric series points."""
    grads = [sympy.diff(loss, v) for v in variables]
    hyper = opt._exact_hyper()
    ctx = _Context(variables, series_symbol, order)

    def point(rows):
        return HPoint._raw(rows, variables, series_symbol, order, ctx.reduce)

    def grad(y):
        deltas = [[S.Zero, *row[1:]] for row in y.coefficients]
        base = [row[0] for row in y.coefficients]
        return point(
            [[ctx.reduce(c) for c in _taylor(g, variables, base, deltas, order)] for g in grads]
        )

    def step(y, c=0):
        if c != 0:
            raise ValueError("coordinate-wise optimizers use one loss: step(y)")
        return -step_size * grad(y)

    extras = {"grad": grad, "ops": _SeriesOps(ctx), "h": step_size}
    extras = {key: v for key, v in extras.items() if key in opt.extras}

    def run(x_rows, state_rows):
        out = opt.rule(point(x_rows), tuple(point(s) for s in state_rows), step, **extras, **hyper)
        if not isinstance(out, tuple):
            out = (out, ())
        x_new, s_new = out[0], tuple(out[1])
        return [list(r) for r in x_new.coefficients], [
            [list(r) for r in s.coefficients] for s in s_new
        ]

    return run


def _solve_affine(residual, n_unknowns: int, what: str) -> list:
    """z with residual(z) = 0, residual affine in z (found from n + 1 evaluations, checked)."""
    zero = [S.Zero] * n_unknowns
    r0 = residual(zero)
    cols = []
    for j in range(n_unknowns):
        e = list(zero)
        e[j] = S.One
        cols.append([a - b for a, b in zip(residual(e), r0)])
    A = sympy.Matrix(cols).T.applyfunc(sympy.radsimp)
    b = sympy.Matrix(r0).applyfunc(sympy.radsimp)
    if A.rows != A.cols or A.det() == 0:
        raise ValueError(f"{what}: no unique state on the invariant manifold at this point")
    z = list(A.LUsolve(-b).applyfunc(sympy.radsimp))
    # affine check: the residual vanishes at the solution
    check = residual(z)
    if any(sympy.radsimp(sympy.expand(c)) != 0 for c in check):
        raise ValueError(f"{what}: the state equations are not affine in the state")
    return z


def pointwise_map(opt, loss, variables, point, ws=None) -> tuple[list, list]:
    """([x_new coefficients per w], state values s_0(x0)).

    For each w in ``ws`` (default: [0]) x_new(h) = Φ(x0 + h·w) through h²,
    as [[x0_r + …, c_1r, c_2r] per coordinate r]: the rule's iterate from the
    point x0 + h·w with its state on the invariant manifold; exact numbers
    (rationals and square roots of rationals for Muon). See the module
    docstring.
    """
    variables = tuple(as_variables(variables))
    x0 = [exact(v) for v in point]
    d = len(variables)
    if len(x0) != d:
        raise ValueError(f"expected a point with {d} coordinates, got {len(x0)}")
    ws = [[S.Zero] * d] if ws is None else [[exact(v) for v in w] for w in ws]
    s0, J, k = _stationary(opt, loss, variables, x0)
    h = sympy.Dummy("h")
    run2 = _runner(opt, loss, variables, 2, h, h)
    return [_map_at(opt, run2, x0, w, s0, J, k, d) for w in ws], s0


def _stationary(opt, loss, variables, x0):
    """(s_0(x0), J = ∇s_0(x0) as J[i][r][q], number of states k): stage 1."""
    d = len(x0)
    tau, h = sympy.Dummy("tau"), sympy.Dummy("h")
    k = len(tuple(opt.init(HPoint._raw([[v] for v in x0], variables, h, 0, None))))
    if k == 0:
        raise ValueError(f"{opt!r} has no state: use bea.modified_equation(opt, p).on(...)")
    # 1. s_0(x0) (series order 0), then its gradient J[i][r][q] = ∂_q s_0,i,r from the
    #    lines x0 + τ e_q (series order 1 in τ, with the τ⁰ part of the state at s_0(x0))
    run00 = _runner(opt, loss, variables, 0, tau, S.Zero)

    def residual0(z):
        rows = [[[z[i * d + r]] for r in range(d)] for i in range(k)]
        _, s_new = run00([[x0[r]] for r in range(d)], rows)
        return [s_new[i][r][0] - z[i * d + r] for i in range(k) for r in range(d)]

    z0 = _solve_affine(residual0, k * d, f"{opt!r}, stationary state")
    s0 = [[z0[i * d + r] for r in range(d)] for i in range(k)]
    run0 = _runner(opt, loss, variables, 1, tau, S.Zero)
    J = [[[S.Zero] * d for _ in range(d)] for _ in range(k)]
    for q in range(d):
        x_rows = [[x0[r], S.One if r == q else S.Zero] for r in range(d)]

        def residual(z, x_rows=x_rows):
            rows = [[[s0[i][r], z[i * d + r]] for r in range(d)] for i in range(k)]
            _, s_new = run0(x_rows, rows)
            return [s_new[i][r][1] - z[i * d + r] for i in range(k) for r in range(d)]

        z = _solve_affine(residual, k * d, f"{opt!r}, gradient of the stationary state")
        for i in range(k):
            for r in range(d):
                J[i][r][q] = z[i * d + r]
    return s0, J, k


def _map_at(opt, run2, x0, w, s0, J, k, d) -> list:
    x_rows = [[x0[r], w[r], S.Zero] for r in range(d)]

    def states(sigma1, sigma2):
        return [
            [[s0[i][r], sigma1[i * d + r], sigma2[i * d + r]] for r in range(d)] for i in range(k)
        ]

    zeros = [S.Zero] * (k * d)

    def residual1(z):
        x_new, s_new = run2(x_rows, states(z, zeros))
        move = [x_new[r][1] - w[r] for r in range(d)]
        return [
            s_new[i][r][1] - z[i * d + r] - sum(J[i][r][q] * move[q] for q in range(d))
            for i in range(k)
            for r in range(d)
        ]

    sigma1 = _solve_affine(residual1, k * d, f"{opt!r}, state at order h")
    x_new, _ = run2(x_rows, states(sigma1, zeros))
    x_alt, _ = run2(x_rows, states(sigma1, [S.One] * (k * d)))
    if any(sympy.radsimp(a[2] - b[2]) != 0 for a, b in zip(x_new, x_alt)):
        raise ValueError(
            f"{opt!r}: the h² term of the update depends on the state's h² term; the pointwise "
            "expansion needs x_new = x − h·(…) (use bea.modified_equation(opt, p).on(...))"
        )
    return [[sympy.radsimp(c) for c in row] for row in x_new]


def pointwise_field(opt, loss, variables, point) -> tuple[list, list]:
    """(f_0, f_1) at ``point``: f̃ = f_0 + h f_1 + O(h²), from the map at x0 and x0 + h·φ_1.

    f_0 = φ_1(x0), f_1 = φ_2 − ½(∇φ_1)φ_1: the map at x0 + h·φ_1 has the h²
    coefficient φ_2 + (∇φ_1)φ_1 (one stage 1 serves both maps).
    """
    variables = tuple(as_variables(variables))
    x0 = [exact(v) for v in point]
    d = len(variables)
    if len(x0) != d:
        raise ValueError(f"expected a point with {d} coordinates, got {len(x0)}")
    s0, J, k = _stationary(opt, loss, variables, x0)
    h = sympy.Dummy("h")
    run2 = _runner(opt, loss, variables, 2, h, h)
    at = _map_at(opt, run2, x0, [S.Zero] * d, s0, J, k, d)
    phi1 = [row[1] for row in at]
    phi2 = [row[2] for row in at]
    along = _map_at(opt, run2, x0, phi1, s0, J, k, d)
    drift = [sympy.radsimp(row[2] - p2) for row, p2 in zip(along, phi2)]
    f1 = [sympy.radsimp(p2 - drift_r / 2) for p2, drift_r in zip(phi2, drift)]
    return phi1, f1
