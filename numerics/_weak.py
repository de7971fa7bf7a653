r"""Weak agreement of a stochastic optimizer with its stochastic modified equation.

The weak error at a fixed horizon T = N·h,

    e_p(h; φ) = |E φ(x_N) − E φ(X_T)|,

of the order-p SME (``bea.stochastic_modified_equation(method, p)``) must
scale as h^p. ``weak_agreement`` measures it for several step sizes and
test functions φ and fits the slope of log e against log h, with its
standard error.

Why these methods make the slopes trustworthy
---------------------------------------------
* **SDE side: exact moments.** On quadratic example losses the SME's drift is
  affine and its diffusion quadratic in x (Σ(x) is quadratic), so the first
  and second moments of X obey a closed linear ODE, solved exactly by one
  matrix exponential. No SDE time-stepping error and no sampling error can
  mask the h^p behaviour (a weak order-2 scheme would add its own O(Δt²)
  and a Monte Carlo error of order (paths)^{−1/2}, larger than the h² weak
  errors being measured unless the paths run into the billions).
* **Optimizer side, ``mode="exact"``: exact expectation over the sampling.**
  For quadratic losses each call of the update rule, for a fixed mini-batch B,
  is an affine map z ↦ A_B z + c_B of the parameters and the state; the mean
  and second moment of z are propagated exactly, averaging over every batch
  (all n^b ordered draws with replacement, all C(n, b) subsets without). This
  is the enumeration of all batch sequences, summed step by step. The only
  error is float64 round-off (~1e-15 relative).
* **Optimizer side, ``mode="monte_carlo"``: a vmapped JAX ensemble** of
  independent runs (random batches per step and path), with its standard
  error s/√M per point. Weak errors below 3 standard errors are not
  resolved and are left out of the fit.

Slopes are fitted by least squares on (log h, log e): weighted by the
Monte Carlo relative errors in ``monte_carlo`` mode; the reported standard
error is the larger of the propagated sampling error and the one from the
fit's residuals (which measures the pre-asymptotic curvature). A slope is
*refused* (``None``, with the reason) when fewer than three step sizes have a
resolved error. Test functions are polynomials of degree ≤ 2 (means, second
moments), which exercise both the drift and the diffusion D.

Memory methods start on the deterministic invariant manifold (the slow
eigenspace of the expected affine call), as the SME's regime requires.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

import bea
from bea.methods._noise import Minibatch

__all__ = ["WeakReport", "weak_agreement"]


# ----------------------------------------------------------------------------
# the problem: quadratic example losses
# ----------------------------------------------------------------------------


def _quadratic(losses, xs) -> tuple[np.ndarray, np.ndarray]:
    """(H_i, r_i) with ∇L_i(x) = H_i x − r_i, for quadratic example losses."""
    Hs, rs = [], []
    for i, L in enumerate(losses):
        L = sp.sympify(L, strict=True)
        poly = sp.Poly(L, *xs)
        if poly.total_degree() > 2 or L.free_symbols - set(xs):
            raise ValueError(
                f"weak_agreement's exact moment method needs quadratic example losses in "
                f"{list(xs)} with numeric coefficients; loss {i} is {L}"
            )
        grad = [sp.diff(L, v) for v in xs]
        H = np.array([[float(sp.diff(g, v)) for v in xs] for g in grad])
        r = -np.array([float(g.subs(dict.fromkeys(xs, 0))) for g in grad])
        Hs.append(H)
        rs.append(r)
    return np.array(Hs), np.array(rs)


def _batches(noise: Minibatch, n: int) -> list[tuple[int, ...]]:
    noise.check_examples(n)
    if noise.replacement:
        return list(itertools.product(range(n), repeat=noise.batch))
    return list(itertools.combinations(range(n), noise.batch))


def _affine_calls(method, Hs, rs, batches, h: float, values: dict, d: int):
    """For each batch, (A_B, c_B) of one call z ↦ A_B z + c_B, z = (x, state...)."""
    program = method.program()
    out = []
    for B in batches:
        H = Hs[list(B)].mean(axis=0)
        r = rs[list(B)].mean(axis=0)
        init, update = program.jax(lambda y, H=H, r=r: H @ y - r, h, **values)
        k = len(init(np.zeros(d)))
        m = d * (k + 1)

        def call(z, update=update, k=k):
            x = z[:d]
            state = tuple(z[d * (i + 1) : d * (i + 2)] for i in range(k))
            x_new, s_new = update(x, state)
            return np.concatenate(
                [np.asarray(x_new, float), *(np.asarray(s, float) for s in s_new)]
            )

        c = call(np.zeros(m))
        A = np.column_stack([call(np.eye(m)[j]) - c for j in range(m)])
        out.append((A, c))
    return out


def _on_manifold(calls, x0: np.ndarray, d: int) -> np.ndarray:
    """z₀ = (x₀, S(x₀)) on the slow invariant subspace of the expected call."""
    m = calls[0][0].shape[0]
    if m == d:
        return x0.copy()
    A = np.mean([a for a, _ in calls], axis=0)
    c = np.mean([c for _, c in calls], axis=0)
    F = np.zeros((m + 1, m + 1))
    F[:m, :m], F[:m, m], F[m, m] = A, c, 1.0
    lam, V = np.linalg.eig(F)
    slow = np.argsort(-np.abs(lam))[: d + 1]
    W = V[:, slow]
    rows = [*range(d), m]
    coef = np.linalg.solve(W[rows], np.concatenate([x0, [1.0]]))
    z = (W @ coef).real
    return z[:m]


def _optimizer_moments(calls, z0: np.ndarray, steps: int, d: int):
    """Exact mean and second moment of x after ``steps`` calls (expectation over batches)."""
    w = 1.0 / len(calls)
    mu, S = z0.copy(), np.outer(z0, z0)
    for _ in range(steps):
        mu_new = np.zeros_like(mu)
        S_new = np.zeros_like(S)
        for A, c in calls:
            Am = A @ mu
            mu_new += w * (Am + c)
            S_new += w * (A @ S @ A.T + np.outer(Am, c) + np.outer(c, Am) + np.outer(c, c))
        mu, S = mu_new, S_new
    return mu[:d], S[:d, :d]


def _sde_moments(sde, h: float, x0: np.ndarray, T: float):
    """Exact mean and second moment of X_T: a closed linear ODE (affine b, quadratic D)."""
    from scipy.linalg import expm

    xs = sde.variables
    d = len(xs)
    hs = sde.h
    b = sde.drift.subs(hs, sp.Float(h, 30))
    D = (hs * sde.diffusion).subs(hs, sp.Float(h, 30))  # the SDE's noise is √(h D) dW
    zero = dict.fromkeys(xs, 0)
    for e in b:
        if sp.Poly(e, *xs).total_degree() > 1:
            raise ValueError(
                f"the SME drift is not affine on this problem ({e}): no closed moments"
            )
    for e in D:
        if sp.Poly(e, *xs).total_degree() > 2:
            raise ValueError(f"the SME diffusion is not quadratic ({e}): no closed moments")
    G = np.array([[float(sp.diff(e, v)) for v in xs] for e in b])
    g0 = np.array([float(e.subs(zero)) for e in b])
    D0 = np.array([[float(D[i, j].subs(zero)) for j in range(d)] for i in range(d)])
    D1 = np.array(
        [[[float(sp.diff(D[i, j], v).subs(zero)) for v in xs] for j in range(d)] for i in range(d)]
    )
    D2 = np.array(
        [
            [[[float(sp.diff(D[i, j], u, v)) / 2 for v in xs] for u in xs] for j in range(d)]
            for i in range(d)
        ]
    )
    # u = (1, m, vec M); du/dt = Q u
    size = 1 + d + d * d
    Q = np.zeros((size, size))
    m0, M0 = 1, 1 + d

    def Mi(i, j):
        return M0 + i * d + j

    for i in range(d):
        Q[m0 + i, 0] = g0[i]
        Q[m0 + i, m0 : m0 + d] = G[i]
    for i in range(d):
        for j in range(d):
            row = Mi(i, j)
            for k in range(d):
                Q[row, Mi(k, j)] += G[i, k]  # G M
                Q[row, Mi(i, k)] += G[j, k]  # M Gᵀ
            Q[row, m0 + j] += g0[i]
            Q[row, m0 + i] += g0[j]
            Q[row, 0] += D0[i, j]
            Q[row, m0 : m0 + d] += D1[i, j]
            for k in range(d):
                for l in range(d):
                    Q[row, Mi(k, l)] += D2[i, j, k, l]
    u0 = np.concatenate([[1.0], x0, np.outer(x0, x0).ravel()])
    u = expm(Q * T) @ u0
    return u[m0 : m0 + d], u[M0:].reshape(d, d)


def _test_matrices(tests, xs):
    """(c, g, Q) with φ(x) = c + gᵀx + xᵀQx for each quadratic test function."""
    out = []
    zero = dict.fromkeys(xs, 0)
    for phi in tests:
        phi = sp.sympify(phi, strict=True)
        if phi.free_symbols - set(xs) or sp.Poly(phi, *xs).total_degree() > 2:
            raise ValueError(
                f"test functions must be polynomials of degree <= 2 in {list(xs)} (means and "
                f"second moments, computed exactly); got {phi}"
            )
        c = float(phi.subs(zero))
        g = np.array([float(sp.diff(phi, v).subs(zero)) for v in xs])
        Q = np.array([[float(sp.diff(phi, u, v)) / 2 for v in xs] for u in xs])
        out.append((c, g, Q))
    return out


def _expect(test, mean, second):
    c, g, Q = test
    return c + g @ mean + float(np.sum(Q * second))


# ----------------------------------------------------------------------------
# Monte Carlo ensemble (JAX, vmapped)
# ----------------------------------------------------------------------------


def _ensemble(method, Hs, rs, noise: Minibatch, d: int, k: int, values, tests_fn):
    """A jitted ``run(keys, z0, h, steps) -> φ values per path``, compiled once for all h and N."""
    import jax
    import jax.numpy as jnp

    program = method.program()
    n = Hs.shape[0]
    b = noise.batch
    Hj, rj = jnp.asarray(Hs), jnp.asarray(rs)

    def one_path(key, z0, h, steps):
        def body(i, z):
            sub = jax.random.fold_in(key, i)
            if noise.replacement:
                idx = jax.random.randint(sub, (b,), 0, n)
            else:
                idx = jax.random.permutation(sub, n)[:b]
            H = Hj[idx].mean(axis=0)
            r = rj[idx].mean(axis=0)
            _, update = program.jax(lambda y: H @ y - r, h, **values)
            state = tuple(z[d * (j + 1) : d * (j + 2)] for j in range(k))
            x_new, s_new = update(z[:d], state)
            return jnp.concatenate([x_new, *s_new])

        z = jax.lax.fori_loop(0, steps, body, z0)
        return tests_fn(z[:d])

    return jax.jit(jax.vmap(one_path, in_axes=(0, None, None, None)))


def _monte_carlo(run, h, steps, z0, paths, seed):
    """Mean and standard error of the test functions over ``paths`` runs (chunks of 2^16)."""
    import jax
    import jax.numpy as jnp

    chunk = min(paths, 1 << 16)
    sums = sq = 0.0
    done = 0
    key = jax.random.PRNGKey(seed)
    while done < paths:
        key, sub = jax.random.split(key)
        m = min(chunk, paths - done)
        keys = jax.random.split(sub, chunk)
        vals = np.asarray(run(keys, jnp.asarray(z0), h, steps))[:m]
        sums = sums + vals.sum(axis=0)
        sq = sq + (vals**2).sum(axis=0)
        done += m
    mean = sums / paths
    var = np.maximum(sq / paths - mean**2, 0.0) * paths / max(paths - 1, 1)
    return mean, np.sqrt(var / paths)


# ----------------------------------------------------------------------------
# the report
# ----------------------------------------------------------------------------


@dataclass
class WeakReport:
    """Weak errors and fitted slopes of one stochastic method against its SMEs.

    ``errors[p]`` and ``stderr[p]`` are arrays (step size × test function) of
    |E φ(x_N) − E φ(X_T)| for the order-p SME and the standard error of the
    estimate (0 in ``exact`` mode). ``optimizer[i, j]`` is the estimate of
    E φ_j(x_N) at step size i and ``sde[p][i, j]`` the exact E φ_j(X_T).
    ``slopes[p][j]`` is ``(slope, stderr)`` or ``None`` when refused
    (``refusals[p][j]`` says why).
    """

    method: str
    mode: str
    horizon: float
    step_sizes: np.ndarray
    tests: list[str]
    errors: dict[int, np.ndarray]
    stderr: dict[int, np.ndarray]
    optimizer: np.ndarray
    sde: dict[int, np.ndarray]
    slopes: dict[int, list[tuple[float, float] | None]] = field(default_factory=dict)
    refusals: dict[int, list[str]] = field(default_factory=dict)
    paths: int = 0
    seconds: float = 0.0
    optimizer_seconds: float = 0.0

    def __post_init__(self) -> None:
        for p, err in self.errors.items():
            self.slopes[p], self.refusals[p] = [], []
            for j in range(err.shape[1]):
                fit, why = _fit(self.step_sizes, err[:, j], self.stderr[p][:, j])
                self.slopes[p].append(fit)
                self.refusals[p].append(why)

    @property
    def paths_per_second(self) -> float:
        """Sample paths (each N steps) per second of the ensemble (Monte Carlo mode)."""
        return self.paths * len(self.step_sizes) / self.optimizer_seconds if self.paths else 0.0

    def slope(self, order: int, test: int = 0) -> tuple[float, float]:
        """(slope, standard error) for the order-``order`` SME and test ``test``.

        A ValueError says why when the slope was refused."""
        fit = self.slopes[order][test]
        if fit is None:
            raise ValueError(
                f"the slope for order {order}, test {self.tests[test]} is not resolved: "
                f"{self.refusals[order][test]}"
            )
        return fit

    def distinguishes(self, p: int, q: int, test: int = 0, sigmas: float = 3.0) -> bool:
        """Whether the slopes of the order-p and order-q SMEs differ by > ``sigmas`` s.e."""
        (a, sa), (b, sb) = self.slope(p, test), self.slope(q, test)
        return abs(a - b) > sigmas * math.hypot(sa, sb)

    def table(self) -> str:
        lines = [f"weak errors of {self.method} at T = {self.horizon} ({self.mode})"]
        for p in sorted(self.errors):
            for j, name in enumerate(self.tests):
                fit = self.slopes[p][j]
                s = (
                    f"slope {fit[0]:.3f} ± {fit[1]:.3f}"
                    if fit
                    else f"refused: {self.refusals[p][j]}"
                )
                lines.append(f"  order-{p} SME, φ = {name}: {s}")
                for i, hh in enumerate(self.step_sizes):
                    e, se = self.errors[p][i, j], self.stderr[p][i, j]
                    mark = "" if e > 3 * se else "  (not resolved: < 3 s.e.)"
                    lines.append(
                        f"    h = {hh:.5g}: {e:.3e}" + (f" ± {se:.1e}" if se else "") + mark
                    )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "mode": self.mode,
            "horizon": self.horizon,
            "step_sizes": self.step_sizes.tolist(),
            "tests": self.tests,
            "errors": {str(p): e.tolist() for p, e in self.errors.items()},
            "stderr": {str(p): e.tolist() for p, e in self.stderr.items()},
            "optimizer": self.optimizer.tolist(),
            "sde": {str(p): e.tolist() for p, e in self.sde.items()},
            "slopes": {str(p): s for p, s in self.slopes.items()},
            "refusals": {str(p): r for p, r in self.refusals.items()},
        }

    def plot(self, path=None, ax=None):
        """log-log weak error against h with error bars (2 s.e.), one line per order and test."""
        import matplotlib

        if path is not None:
            matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure

        fig = None
        if ax is None:
            fig = Figure(figsize=(5, 4))
            ax = fig.add_subplot()
        for p in sorted(self.errors):
            for j, name in enumerate(self.tests):
                fit = self.slopes[p][j]
                label = f"order {p}, φ = {name}" + (f" (slope {fit[0]:.2f})" if fit else "")
                ax.errorbar(
                    self.step_sizes,
                    self.errors[p][:, j],
                    yerr=2 * self.stderr[p][:, j],
                    marker="o",
                    capsize=3,
                    label=label,
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("h")
        ax.set_ylabel("|E φ(x_N) − E φ(X_T)|")
        ax.legend(fontsize=7)
        if fig is not None and path is not None:
            fig.savefig(path)
        return fig if fig is not None else ax.figure


def _fit(hs, err, se) -> tuple[tuple[float, float] | None, str]:
    floor = 1e-13
    ok = (err > 3 * se) & (err > floor)
    distinct = len(np.unique(hs[ok]))
    if distinct < 3:
        return None, (
            f"only {distinct} distinct step sizes of {len(hs)} have an error above 3 standard "
            "errors (and float64 round-off); more paths or larger steps are needed"
        )
    x, y = np.log(hs[ok]), np.log(err[ok])
    rel = np.where(se[ok] > 0, se[ok] / err[ok], 0.0)
    if np.all(rel > 0):
        w = 1.0 / rel**2
    else:
        w = np.ones_like(x)
    xm = np.sum(w * x) / np.sum(w)
    sxx = np.sum(w * (x - xm) ** 2)
    slope = np.sum(w * (x - xm) * (y - np.sum(w * y) / np.sum(w))) / sxx
    intercept = np.sum(w * y) / np.sum(w) - slope * xm
    res = y - (slope * x + intercept)
    se_sampling = math.sqrt(1.0 / sxx) if np.all(rel > 0) else 0.0
    dof = len(x) - 2
    se_resid = math.sqrt(np.sum(w * res**2) / dof / sxx) if dof > 0 else float("inf")
    return (float(slope), float(max(se_sampling, se_resid))), ""


# ----------------------------------------------------------------------------
# the sweep
# ----------------------------------------------------------------------------


def weak_agreement(
    method: bea.Method,
    losses: Sequence[sp.Expr],
    variables: Sequence[sp.Symbol],
    x0: Sequence[float],
    *,
    horizon: float = 1.0,
    steps: Sequence[int] = (8, 16, 32, 64, 128),
    orders: Sequence[int] = (1, 2),
    tests: Sequence[sp.Expr] | None = None,
    mode: str = "exact",
    paths: int = 100_000,
    seed: int = 0,
    **values: Any,
) -> WeakReport:
    r"""Weak errors |E φ(x_N) − E φ(X_T)| of ``method`` against its order-p SMEs, with slopes.

    ``method`` declares mini-batch noise (``bea.optimizers.sgd()``,
    ``bea.with_noise(opt, bea.Minibatch(b, replacement))``); ``losses`` are the
    n quadratic example losses (L = their mean) in ``variables``; the run
    starts at ``x0`` (memory methods: their state on the deterministic
    invariant manifold). For each N in ``steps``, h = horizon/N. ``tests``:
    polynomials φ of degree ≤ 2 (default: the first coordinate, ‖x‖² and,
    in two or more dimensions, x₁x₂). ``mode="exact"`` averages over every
    batch sequence exactly; ``mode="monte_carlo"`` runs ``paths`` independent
    JAX runs per step size (standard errors reported). The SDE side is exact
    in both (closed moment equations). Symbolic hyperparameters need
    ``values`` (``beta=0.5``). See the module docstring for why.

    The order-p SME is bea.stochastic_modified_equation(method, p); the
    global weak error should scale as h^p.

    >>> import sympy as sp, bea, numerics
    >>> x = sp.Symbol("x")
    >>> losses = [(x - 1) ** 2 / 2, (x + 1) ** 2 / 2, x**2]
    >>> r = numerics.weak_agreement(bea.optimizers.sgd(), losses, [x], [1.0], steps=(8, 16, 32))
    >>> round(r.slope(1)[0]), round(r.slope(2)[0])
    (1, 2)
    """
    method = bea.as_method(method)
    noise = method.kind.noise
    if noise is None:
        bea.stochastic_modified_equation(method, 1)  # the error for a method without noise
    if not isinstance(noise, Minibatch):
        raise ValueError(
            f"weak_agreement samples mini-batches of example losses; {method!r} has noise "
            f"{noise!r}. Use bea.optimizers.sgd(...) or bea.with_noise(opt, bea.Minibatch(b))"
        )
    if mode not in ("exact", "monte_carlo"):
        raise ValueError(f"mode must be 'exact' or 'monte_carlo', got {mode!r}")
    xs = tuple(variables)
    d = len(xs)
    start = np.asarray(x0, dtype=float)
    if start.shape != (d,):
        raise ValueError(f"x0 needs one value per variable ({d}), got shape {start.shape}")
    steps = [int(N) for N in steps]
    if len(steps) < 3 or any(N < 1 for N in steps):
        raise ValueError(f"steps needs at least three positive step counts, got {steps}")
    Hs, rs = _quadratic(losses, xs)
    batches = _batches(noise, len(Hs))
    if tests is None:
        tests = [xs[0], sum(v**2 for v in xs)] + ([xs[0] * xs[1]] if d > 1 else [])
    tests = list(tests)
    tmats = _test_matrices(tests, xs)
    smes = {p: bea.stochastic_modified_equation(method, p) for p in orders}
    hyper_subs = {sp.Symbol(k): v for k, v in values.items()}
    sdes = {p: _substituted(sme.on(list(losses), list(xs)), hyper_subs) for p, sme in smes.items()}
    t_start = time.perf_counter()
    opt_time = 0.0
    hs = np.array([horizon / N for N in steps])
    errors = {p: np.zeros((len(steps), len(tests))) for p in orders}
    stderr = {p: np.zeros((len(steps), len(tests))) for p in orders}
    optimizer = np.zeros((len(steps), len(tests)))
    sde_values = {p: np.zeros((len(steps), len(tests))) for p in orders}

    def tests_fn(x):
        import jax.numpy as jnp

        return jnp.stack([c + g @ x + x @ Q @ x for c, g, Q in tmats])

    run = None
    for i, (N, h) in enumerate(zip(steps, hs)):
        calls = _affine_calls(method, Hs, rs, batches, float(h), values, d)
        z0 = _on_manifold(calls, start, d)
        if mode == "monte_carlo" and run is None:
            k = z0.shape[0] // d - 1
            run = _ensemble(method, Hs, rs, noise, d, k, values, tests_fn)
        t0 = time.perf_counter()
        if mode == "exact":
            mean, second = _optimizer_moments(calls, z0, N, d)
            opt_vals = np.array([_expect(t, mean, second) for t in tmats])
            opt_se = np.zeros(len(tests))
        else:
            opt_vals, opt_se = _monte_carlo(run, float(h), N, z0, paths, seed + i)
        opt_time += time.perf_counter() - t0
        optimizer[i] = opt_vals
        for p, sde in sdes.items():
            mean_s, second_s = _sde_moments(sde, float(h), start, horizon)
            sde_vals = np.array([_expect(t, mean_s, second_s) for t in tmats])
            sde_values[p][i] = sde_vals
            errors[p][i] = np.abs(opt_vals - sde_vals)
            stderr[p][i] = opt_se
    return WeakReport(
        method=repr(method),
        mode=mode,
        horizon=horizon,
        step_sizes=hs,
        tests=[str(t) for t in tests],
        errors=errors,
        stderr=stderr,
        optimizer=optimizer,
        sde=sde_values,
        paths=paths if mode == "monte_carlo" else 0,
        seconds=time.perf_counter() - t_start,
        optimizer_seconds=opt_time,
    )


def _substituted(sde, subs):
    if not subs:
        return sde
    return type(sde)(
        sde.drift.subs(subs), sde.diffusion.subs(subs), sde.variables, sde.h, sde.order
    )
