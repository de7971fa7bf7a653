"""Arbitrary-precision agreement sweeps (mpmath) for small sympy losses.

float64 leaves about twelve decades between the largest useful step size and
the rounding floor, enough to see slopes up to about 4. To check the order of
agreement beyond that, everything is redone in mpmath at ``dps`` digits:

* the iterates: the optimizer's own update rule (``method.jax(grads, h)``,
  which runs on any type with + − and scalar *) on ``mpmath.matrix`` column
  vectors, with exact gradients lambdified to mpmath and hyperparameters
  converted exactly (0.5 → 1/2, 0.9 → 9/10);
* the modified field: ``bea.modified_equation(method, p).on(L, variables)``
  (exact coefficients) lambdified to mpmath with common subexpressions;
* the flow: Gragg–Bulirsch–Stoer extrapolation (modified midpoint rule with
  n_j = 2j substeps, j = 1..levels, Aitken–Neville in (H/n_j)², order
  2·levels) on fixed macro steps H, at the same precision. The difference of
  the last two extrapolated values bounds the local error; macro steps are
  added until that bound is below floor/100 or 10⁻⁸ × the error measured. The flow runs with
  ``guard`` extra digits so its rounding stays below that.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import mpmath
import numpy as np
import sympy as sp

from bea import as_method

from ._fields import SympyLoss
from ._report import Failure, Report

__all__ = ["agreement_mp", "gbs_solve"]


def _mp_number(v):
    """An exact mpf from a hyperparameter (floats read as the decimal they print as)."""
    if isinstance(v, bool):
        return v
    if isinstance(v, float):
        v = sp.Rational(repr(v))
    v = sp.nsimplify(v) if not isinstance(v, sp.Basic) else v
    v = sp.Rational(v) if v.is_Rational else v
    if isinstance(v, sp.Rational):
        return mpmath.mpf(int(v.p)) / int(v.q)
    return mpmath.mpf(sp.N(v, mpmath.mp.dps + 10))


def _mp_program(method):
    """The update rule with exact mp coefficients (explicit RK tableaux become rules)."""
    from bea import RungeKutta

    if isinstance(method, RungeKutta) and method.explicit:
        return method.as_optimizer(number=_mp_number)
    return as_method(method)


def _axpy(a, x, y):
    return [a * xi + yi for xi, yi in zip(x, y)]


def gbs_solve(f, y0: Sequence, T, macro_steps: int, levels: int = 12):
    """Integrate y' = f(y) from 0 to T by Gragg–Bulirsch–Stoer extrapolation in mpmath.

    Parameters
    ----------
    f
        ``list[mpf] -> list[mpf]``.
    y0
        initial value (list of mpf).
    T
        final time.
    macro_steps
        number of equal macro steps H = T/macro_steps.
    levels
        extrapolation levels k (substeps 2, 4, …, 2k; order 2k).

    Returns
    -------
    (y(T), error_bound): the extrapolated value and the sum over macro steps of
    max-norm differences of the last two diagonal entries.
    """
    H = mpmath.mpf(T) / macro_steps
    y = [mpmath.mpf(v) for v in y0]
    bound = mpmath.mpf(0)
    ns = [2 * (j + 1) for j in range(levels)]
    for _ in range(macro_steps):
        table: list[list] = []
        f0 = f(y)
        for j, n in enumerate(ns):
            hs = H / n
            z_prev = y
            z = _axpy(hs, f0, y)
            for _m in range(1, n):
                z_prev, z = z, _axpy(2 * hs, f(z), z_prev)
            row = [z]
            for k in range(1, j + 1):
                ratio = (mpmath.mpf(ns[j]) / ns[j - k]) ** 2 - 1
                prev_row = table[j - 1]
                row.append([a + (a - b) / ratio for a, b in zip(row[k - 1], prev_row[k - 1])])
            table.append(row)
        new = table[-1][-1]
        bound += max(abs(a - b) for a, b in zip(new, table[-1][-2]))
        y = new
    return y, bound


def agreement_mp(
    method,
    loss: SympyLoss,
    x0: Sequence,
    orders: Sequence[int] = (0, 1, 2, 3, 4),
    step_sizes: Sequence[float] | None = None,
    horizon: float = 1.0,
    *,
    dps: int = 50,
    transient: int | None = None,
    levels: int = 14,
    macro_steps: int = 2,
    tol: float = 0.2,
    floor_factor: float = 1e3,
    guard: int = 15,
    relative_target: float = 1e-8,
    max_macro_steps: int = 256,
    progress: bool = False,
) -> Report:
    """Agreement sweep at ``dps`` decimal digits: iterates vs modified flows, in mpmath.

    Same measurement as ``numerics.agreement`` (global error
    ‖x_n − y_p(T)‖₂ at T = n·h for the flow of f̃_p = Σ_{|t| ≤ p+1}
    h^{|t|−1} ω(t)/σ(t) F(t), f = −∇L; slope p + 1 expected), with the floor at
    floor_factor·10^(−dps)·scale, so orders far beyond float64's reach are
    visible: GD through order 8 at 50 digits.

    Parameters
    ----------
    method
        a bea optimizer or explicit Runge–Kutta method (numeric hyperparameters).
    loss
        a ``numerics.SympyLoss``.
    x0
        the start, one number per variable (strings keep full precision: "0.3").
    orders, step_sizes, horizon, tol
        as in ``numerics.agreement``
        (default step sizes T/n, n = 12, 16, 23, 32, 45).
    dps
        working precision in decimal digits.
    transient
        iterations discarded first (methods with state; default from
        the rule's parasitic multipliers at this precision).
    levels, macro_steps
        the GBS integrator (order 2·levels; macro steps are
        doubled until its error bound is below the floor / 100).
    guard
        extra digits for the flow (its rounding stays below the floor).
    relative_target
        the flow's error bound must also be below
        relative_target × the error measured (whichever is larger with floor/100);
        a point that does not get there within ``max_macro_steps`` is reported.
    progress
        tqdm progress bar over (order, h).

    Examples
    --------
    >>> import sympy as sp, bea, numerics
    >>> x, y = sp.symbols("x y")
    >>> L = numerics.SympyLoss(sp.log(sp.cosh(x)) + (y - x) ** 2 / 2, [x, y])
    >>> r = numerics.agreement_mp(bea.gd(), L, ["0.6", "-0.4"], orders=(4,), dps=30)
    >>> round(r.slopes[4])
    5
    """
    from tqdm.auto import tqdm

    from ._sweep import _auto_transient

    t_start = time.perf_counter()
    if not isinstance(loss, SympyLoss):
        raise TypeError(
            "agreement_mp needs a numerics.SympyLoss (exact expressions to evaluate at high "
            f"precision), got {type(loss).__name__}; e.g. numerics.SympyLoss(L, [x, y])"
        )
    orders = tuple(int(p) for p in orders)
    steps_per_call = as_method(method).steps
    if step_sizes is None:
        ns = np.array([12, 16, 23, 32, 45])
    else:
        ns = np.maximum(
            1, np.round(horizon / (np.asarray(step_sizes, float) * steps_per_call))
        ).astype(int)
    ns = np.array(sorted(set(int(n) for n in ns)))
    if len(ns) < 3:
        raise ValueError(f"need at least 3 distinct step sizes, got n = {list(ns)}")
    failures: list[Failure] = []
    notes: list[str] = []
    with mpmath.workdps(dps):
        T = mpmath.mpf(sp.Rational(str(horizon)).p) / sp.Rational(str(horizon)).q
        x_start = mpmath.matrix([mpmath.mpf(v) for v in x0])
        if x_start.rows != len(loss.flat_variables):
            raise ValueError(
                f"x0 has {x_start.rows} entries, the loss has {len(loss.flat_variables)} "
                f"variables {loss.flat_variables}"
            )
        program = _mp_program(method)
        if transient is None:
            transient = _auto_transient(program, [], 10.0 ** (-dps))
        g_fns = loss.mp_gradients()
        grads = [_mp_vector_fn(fn) for fn in g_fns]
        values = {k: _mp_number(v) for k, v in program.hyperparameters.items()}
        floor_rel = floor_factor * mpmath.mpf(10) ** (-dps)
        hs = [T / (int(n) * steps_per_call) for n in ns]
        errors = {p: np.full(len(ns), np.nan) for p in orders}
        bar = tqdm(total=len(ns) * (1 + len(orders)), disable=not progress, leave=False)
        scale = mpmath.mpf(1)
        starts, finals = [], []
        for h, n in zip(hs, ns):
            init, update = _with_values(program, grads, h, values)
            x, s = x_start, tuple(init(x_start))
            for _ in range(transient):
                x, s = update(x, s)
                s = tuple(s)
            xK = x
            for _ in range(int(n)):
                x, s = update(x, s)
                s = tuple(s)
            starts.append(xK)
            finals.append(x)
            scale = max(scale, mpmath.norm(x))
            bar.update()
        for p in orders:
            fld = loss.mp_field(method, p)
            for i, (h, xK, xN) in enumerate(zip(hs, starts, finals)):
                y0 = [xK[j] for j in range(xK.rows)]
                m = macro_steps
                while True:
                    with mpmath.workdps(dps + guard):
                        yT, bound = gbs_solve(lambda y, h=h, fld=fld: fld(y, h), y0, T, m, levels)
                    # the solver error need only be far below the error being measured
                    diff = mpmath.norm(mpmath.matrix(yT) - xN)
                    target = max(floor_rel * scale / 100, relative_target * diff)
                    if bound <= target or m >= max_macro_steps:
                        break
                    # global error ~ m^(-2·levels): jump to the predicted m (a power of two)
                    need = m * (bound / target) ** (mpmath.mpf(1) / (2 * levels))
                    m = min(max_macro_steps, max(2 * m, 2 ** int(mpmath.ceil(mpmath.log(need, 2)))))
                if bound > target:
                    failures.append(
                        Failure(
                            float(h),
                            f"GBS error bound {mpmath.nstr(bound, 3)} above the target "
                            f"{mpmath.nstr(target, 3)} with {m} macro steps",
                            p,
                        )
                    )
                diff = mpmath.norm(mpmath.matrix(yT) - xN)
                errors[p][i] = float(diff)
                bar.update()
        bar.close()
    if transient:
        notes.append(f"methods with state: {transient} iterations discarded first")
    return Report(
        method=repr(method),
        horizon=float(horizon),
        step_sizes=np.array([float(h) for h in hs]),
        steps=ns,
        orders=orders,
        errors=errors,
        floor=float(floor_rel * scale),
        tol=tol,
        failures=failures,
        transient=int(transient),
        device="cpu (mpmath)",
        precision=f"mpmath {dps} digits",
        wall_time=time.perf_counter() - t_start,
        notes=notes,
    )


def _mp_vector_fn(fn):
    return lambda y: mpmath.matrix(fn(*[y[i] for i in range(y.rows)]))


def _with_values(program, grads, h, values):
    """(init, update) with exact mp hyperparameters passed to the rule."""
    import itertools

    colours = program.colours
    if program.average and colours > 1:
        perms = list(itertools.permutations(range(colours)))
        pairs = [program.jax([grads[p[k]] for k in range(colours)], h, **values) for p in perms]

        def update(x, state):
            outs = [u(x, state) for _, u in pairs]
            xs = outs[0][0]
            for o in outs[1:]:
                xs = xs + o[0]
            # reshuffled SGD carries no state; a stateful averaged rule would need its mean too
            return xs * (mpmath.mpf(1) / len(outs)), outs[0][1]

        return pairs[0][0], update
    return program.jax(grads, h, **values)
