"""Optimizers as trained with: weight decay, Lion, normalised SAM, normalised GD, schedules.

Each is an update rule over points (see ``bea.Optimizer``). Rules that
use the current point or the step size directly (decoupled weight decay),
signs or norms are coordinate-wise (``grad``, ``ops``, ``h``) and analysed in
coordinates on a concrete loss; ``ops.sum`` and ``ops.sqrt`` give the norm
‖g‖ = √(Σ g_i²) both on arrays (``jax.numpy``) and in the analysis.

Regimes. β's, λ and c are fixed as h → 0 unless written with ``bea.h``:
weight decay ``lam`` enters each step as h·λ·x, so λ fixed puts −λx in the
leading field, and λ = μ·h (pass ``mu * bea.h``) moves it to order h.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from .._inputs import Scalar, exact
from ._base import Engine, Kind, Method
from ._programs import Optimizer

__all__ = [
    "Scheduled",
    "T",
    "lion",
    "muon",
    "normalized_gd",
    "normalized_sam",
    "scheduled",
    "weight_decay",
]

#: the time t = n·h of the n-th iterate, the argument of schedules η(t), β(t)
T = sp.Symbol("t", real=True)
t = T  # public name: bea.t

#: Lion's default β's (Chen et al. 2023)
_LION_B1 = sp.Rational(9, 10)
_LION_B2 = sp.Rational(99, 100)

_LAM = sp.Symbol("lambda", nonnegative=True)
_C = sp.Symbol("c", positive=True)


def _check_beta(beta, name: str):
    value = exact(beta)
    if value.is_number:
        if value == 1:
            raise ValueError(
                f"{name}: beta = 1 has no underlying one-step method (the momentum never "
                "forgets); choose 0 <= beta < 1"
            )
        if not (-1 < value < 1):
            raise ValueError(
                f"{name}: expected -1 < beta < 1 (the parasitic mode must decay), got {beta}"
            )
    return beta


def _check_nonnegative(value, what: str):
    v = exact(value)
    if v.is_number and v < 0:
        raise ValueError(f"{what} must be >= 0, got {value}; weight decay shrinks x (λ ≥ 0)")
    return value


def _call_inner(inner: Optimizer, x, state, step, grad, ops, h, hyper):
    extra = {"grad": grad, "ops": ops, "h": h}
    extra = {k: v for k, v in extra.items() if k in inner.extras}
    return inner._call(x, state, step, {**hyper, **extra})


def weight_decay(opt: Optimizer, lam: Scalar = _LAM, decoupled: bool = True) -> Optimizer:
    """``opt`` with weight decay λ, coupled (L2 in the loss) or decoupled (AdamW-style).

    * coupled: every gradient is ∇L(y) + λy, i.e. ``opt`` on L + λ/2‖x‖²;
    * decoupled: x⁺ = x_opt⁺ − hλx (the update u of ``opt`` plus hλx:
      x ← x − h(u + λx), Loshchilov & Hutter 2019).

    Regimes: λ fixed as h → 0 (−λx is in the leading field) or λ = μh (pass
    ``mu * bea.h``; the decay enters at order h). For gradient descent the two
    forms coincide and equal GD on L + λ/2‖x‖² exactly, in both regimes. For
    momentum and Adam they differ: the decoupled decay is neither averaged by
    the momentum nor preconditioned. EMA momentum (β), λ fixed: coupled is
    momentum on L + λ/2‖x‖²; decoupled is f̃_dec = f̃_coupled − h·βλ/(1−β)·f₀
    + O(h²) with f₀ = −(∇L + λx); with λ = μh the difference is O(h²).
    AdamW at ε = 0 in one dimension, with
    c_i = β_i/(1−β_i), σ = sign(L′), first order (λ fixed):

        f̃ = −(σ + λx)·[1 − h((c₂ − c₁)L″/|L′| − λ/2)] + O(h²),

    i.e. Adam's h¹ factor (c₂ − c₁)L″/|L′| and gradient descent's −λ/2 on
    the decay, both multiplying the leading field −(σ + λx).

    >>> import sympy, bea
    >>> x = sympy.Symbol("x")
    >>> wd = bea.optimizers.weight_decay(bea.optimizers.gd(), sympy.Rational(1, 2))
    >>> bea.modified_equation(wd, 1).on(x**2 / 2, [x])  # GD on x²/2 + x²/4 = 3x²/4
    Matrix([[-9*h*x/8 - 3*x/2]])
    """
    opt = opt.program()
    _check_nonnegative(lam, "weight_decay: lam")
    if not isinstance(decoupled, bool):
        raise TypeError(f"decoupled must be True or False, got {decoupled!r}")
    if opt.colours != 1 or opt.steps != 1:
        raise ValueError(f"weight_decay takes a one-loss optimizer, got {opt!r}")
    inner_hyper = dict(opt.hyperparameters)
    if "lam" in inner_hyper:
        raise ValueError(f"{opt!r} already has a hyperparameter 'lam'")

    def rule(x, state, step, *, grad, ops, h, lam, **hyper):
        if decoupled:
            x_new, s_new = _call_inner(opt, x, state, step, grad, ops, h, hyper)
            return x_new - (h * lam) * x, s_new

        def grad2(y):
            return grad(y) + lam * y

        def step2(y, k=0):
            return step(y, k) - (h * lam) * y

        return _call_inner(opt, x, state, step2, grad2, ops, h, hyper)

    kind = "decoupled" if decoupled else "coupled"
    return Optimizer(
        rule,
        opt.init if opt.kind.memory else None,
        name=f"{opt.name}+{kind}_weight_decay",
        coordinatewise=True,
        doc=weight_decay.__doc__,
        **inner_hyper,
        lam=lam,
    )


def _lion_rule(x, state, step, *, grad, ops, h, beta1, beta2, lam):
    (m,) = state
    g = grad(x)
    c = beta1 * m + (1 - beta1) * g
    new = x - h * ops.sign(c) - (h * lam) * x
    m = beta2 * m + (1 - beta2) * g
    return new, (m,)


def lion(beta1: Scalar = _LION_B1, beta2: Scalar = _LION_B2, lam: Scalar = 0) -> Optimizer:
    """Lion (Chen et al. 2023): x ← x − h(sign(β₁m + (1−β₁)g) + λx), m ← β₂m + (1−β₂)g.

    On the invariant manifold m = ∇L + O(h), so sign(β₁m + (1−β₁)∇L) =
    σ = sign(∇L), locally constant: without weight decay the map is the
    translation x ↦ x − hσ and f̃ = −σ at every order (as for sign descent);
    with decoupled weight decay λ it is the affine map x ↦ (1 − hλ)x − hσ,
    whose modified field is the exact flow f̃ = (log(1 − hλ)/h)(x + σ/λ)
    = −(λ + hλ²/2 + h²λ³/3 + …)(x + σ/λ).

    References: Chen et al., *Symbolic discovery of optimization algorithms*,
    NeurIPS 2023.
    """
    _check_beta(beta1, "lion")
    _check_beta(beta2, "lion")
    _check_nonnegative(lam, "lion: lam")
    return Optimizer(
        _lion_rule,
        lambda x: (0 * x,),
        name="lion",
        coordinatewise=True,
        doc=lion.__doc__,
        beta1=beta1,
        beta2=beta2,
        lam=lam,
    )


def _nsam_rule(x, state, step, *, grad, ops, h, c):
    g = grad(x)
    norm = ops.sqrt(ops.sum(g * g))
    return x - h * grad(x + (c * h) * g / norm), ()


def normalized_sam(c: Scalar = _C, rho: Scalar | None = None) -> Optimizer:
    """Normalised SAM: x ← x − h∇L(x + ρ∇L/‖∇L‖) with ρ = c·h.

    To first order f̃ = −∇[L + (h/4)‖∇L‖² + c·h‖∇L‖] + O(h²): an implicit
    penalty on the gradient norm (Andriushchenko & Flammarion 2022;
    Compagnoni et al. 2023). ρ must scale with h for a series in h about x
    (a fixed ρ evaluates ∇L an O(1) distance away); pass c, not ρ.
    """
    if rho is not None:
        raise ValueError(
            f"normalized_sam: got rho={rho!r}. The series in h needs the ascent radius to "
            "scale with the step, ρ = c·h: pass c instead, e.g. normalized_sam(c=0.5) for "
            "ρ = 0.5·h (a fixed ρ evaluates the gradient an O(1) distance away from x)"
        )
    v = exact(c)
    if v.is_number and not v > 0:
        raise ValueError(f"normalized_sam: c must be positive, got {c}")
    return Optimizer(
        _nsam_rule, name="normalized_sam", coordinatewise=True, doc=normalized_sam.__doc__, c=c
    )


def _ngd_rule(x, state, step, *, grad, ops, h):
    g = grad(x)
    return x - h * g / ops.sqrt(ops.sum(g * g)), ()


def normalized_gd(schedule: Any = None) -> Method:
    """Normalised gradient descent x ← x − h·η(t)∇L/‖∇L‖ (unit-length steps).

    Without a schedule f̃ = −n − (h/2)(∇n)n + O(h²), n = ∇L/‖∇L‖, and
    (∇n)n = (I − nnᵀ)∇²L n/‖∇L‖: the drift is along the level set, towards
    where the curvature in the direction of n is smaller. With a decaying
    schedule η(t) (e.g. ``normalized_gd(1/(1 + bea.t))``) the field is
    non-autonomous: f̃_x = −ηn − (h/2)(η²(∇n)n − η′n) + O(h²) (see
    ``scheduled``); Josz (2026) argues such runs drift to flat minima.
    """
    base = Optimizer(
        _ngd_rule, name="normalized_gd", coordinatewise=True, doc=normalized_gd.__doc__
    )
    return base if schedule is None else scheduled(base, schedule)


# ----------------------------------------------------------------------------
# Schedules
# ----------------------------------------------------------------------------


class Scheduled(Method):
    """A one-loss optimizer run with step h·η(t_n) and hyperparameters q(t_n), t_n = n·h.

    The iteration is autonomous in (x, t) (and its state): x ← Φ_{hη(t)}(x; q(t)),
    t ← t + h. Its modified equation is derived as that of the extended map
    (kind ``Engine.SCHEDULED``):

    * a step schedule on a memoryless B-series method: the method's series on
      the extended field F(x, t) = (η(t)f(x), 1), f = −∇L (the tree engine);
    * hyperparameter schedules (momentum β(t)) or a method with state: the
      tree engine with moving coefficients (``bea.methods._schedules``): Φ and
      the invariant manifold s = S(x, t) as B-series whose coefficients are
      functions of t, solved with the time shift S(·, t + h);
    * coordinate-wise rules: the coordinate engine on the extended map.

    The t-component of f̃ is 1. For GD: f̃_x = ηf − (h/2)(η²f′f − η′f) + O(h²),
    i.e. with f = −∇L f̃_x = −η∇[L + (hη/4)‖∇L‖²] + (h/2)η′∇L: at each t the
    x-part is the gradient field of L̃(x, t) = (η − hη′/2)L + (hη²/4)‖∇L‖², the
    η′ term being a rescaling of L (``ScheduledModifiedEquation.loss``).
    Heavy ball with β(t): f̃_x = −∇L/(1−β) − h(1+β)/(2(1−β)³)(∇²L∇L − β′∇L);
    the β′ term again rescales L: L̃ = [1/(1−β) − h(1+β)β′/(2(1−β)³)]L
    + h(1+β)/(4(1−β)³)‖∇L‖².
    """

    def __init__(self, method: Method, schedule: Any = None, **hyper: Any) -> None:
        if not isinstance(method, Method):
            raise TypeError(f"scheduled: expected a bea method, got {method!r}")
        if isinstance(method, Scheduled):
            raise TypeError(
                f"scheduled: {method!r} is already scheduled; give every schedule in one call, "
                "scheduled(opt, eta(bea.t), beta=b(bea.t))"
            )
        if schedule is None and not hyper:
            raise ValueError(
                "scheduled: give a step schedule η(t) and/or hyperparameter schedules, e.g. "
                "scheduled(opt, 1/(1 + bea.t)) or scheduled(heavy_ball(), beta=b(bea.t))"
            )
        if method.kind.losses != 1 or method.kind.steps != 1 or method.kind.average:
            raise ValueError(
                f"schedules are supported for one-loss, one-step methods, got {method!r}"
            )
        names = set(method.hyperparameters)
        unknown = sorted(set(hyper) - names)
        if unknown:
            raise ValueError(
                f"scheduled: {method!r} has no hyperparameter {', '.join(unknown)}; its "
                f"hyperparameters are {sorted(names) or 'none'}"
            )
        fixed = {
            s
            for k, v in method.hyperparameters.items()
            if k not in hyper and isinstance(v, sp.Basic)
            for s in v.free_symbols
        }
        self.schedule = None if schedule is None else _check_schedule(schedule, "η", fixed)
        self.schedules = {k: _check_schedule(v, k, fixed) for k, v in hyper.items()}
        for k, v in self.schedules.items():
            _check_start(method, k, v)
        self.base = method
        parts = ([f"η(t) = {self.schedule}"] if schedule is not None else []) + [
            f"{k}(t) = {v}" for k, v in self.schedules.items()
        ]
        self.name = f"{method.name}[{', '.join(parts)}]"

    @property
    def step_schedule(self) -> sp.Expr:
        """η(t) (1 when only hyperparameters are scheduled)."""
        return sp.S.One if self.schedule is None else self.schedule

    @property
    def moving(self) -> bool:
        """Whether the state or hyperparameters move with t (``bea.methods._schedules``)."""
        return bool(self.schedules) or self.base.kind.memory

    @property
    def kind(self) -> Kind:
        return Kind(engine=Engine.SCHEDULED, memory=self.base.kind.memory)

    @property
    def hyperparameters(self):
        """The base method's hyperparameters that are not scheduled."""
        return {k: v for k, v in self.base.hyperparameters.items() if k not in self.schedules}

    def program(self) -> Optimizer:
        """The rule on arrays with t carried as the first state (one copy per coordinate, from 0).

        Each call steps with h·η(t) and the hyperparameters q(t), and advances
        t by h. The analysis does not use it (it works on the extended map,
        see the class docstring).
        """
        eta = sp.lambdify([T], self.step_schedule, "jax")
        values = {k: sp.lambdify([T], v, "jax") for k, v in self.schedules.items()}
        inner = self.base.program()
        memory = self.base.kind.memory

        def rule(x, state, step, *, grad, ops, h, **hyper):
            time, inner_state = state[0], tuple(state[1:])
            hh = h * eta(time)
            moving = {k: f(time) for k, f in values.items()}
            extra = {"grad": grad, "ops": ops, "h": hh}
            extra = {k: v for k, v in extra.items() if k in inner.extras}
            x_new, s_new = inner._call(
                x, inner_state, lambda y, k=0: -hh * grad(y), {**hyper, **moving, **extra}
            )
            return x_new, (time + h, *s_new)

        def init(x):
            return (0 * x, *(inner.init(x) if memory else ()))

        return Optimizer(
            rule,
            init,
            name=self.name,
            coordinatewise=True,
            doc=self.__doc__,
            **self.hyperparameters,
        )


def _check_schedule(expr: Any, name: str, fixed: set) -> sp.Expr:
    """A schedule as a scalar sympy expression in bea.t (and fixed hyperparameters) alone."""
    try:
        expr = None if isinstance(expr, sp.MatrixBase) else exact(expr)
    except TypeError:
        expr = None
    if expr is None:
        raise ValueError(
            f"the schedule {name}(t) must be a scalar sympy expression in the time symbol "
            "bea.t; write e.g. sympy.Function('b')(bea.t) or 1/2 + bea.t/4"
        )
    extra = expr.free_symbols - {T} - fixed
    if expr.has(sp.Symbol("h", positive=True)):
        raise ValueError(
            f"a schedule is a function of t alone; {name}(t) = {expr} must not contain h"
        )
    if extra:
        hint = (
            " (a symbol named t that is not bea.t: build the schedule from bea.t itself)"
            if any(s.name == T.name for s in extra)
            else ""
        )
        raise ValueError(
            f"a schedule must be a scalar function of the time symbol bea.t alone, got "
            f"{name}(t) = {expr} (also depends on {sorted(map(str, extra))}){hint}; write e.g. "
            "eta(bea.t) with eta = sympy.Function('eta'), or 1/(1 + bea.t)"
        )
    return expr


def _check_start(method: Method, name: str, expr: sp.Expr) -> None:
    """The method's own check of q(0) (|β(0)| < 1 for momentum) where q(0) is a number."""
    start = expr.subs(T, 0)
    if not start.is_number:
        return
    try:
        method.program().with_values(**{name: start})
    except ValueError as exc:
        raise ValueError(
            f"the schedule {name}(t) = {expr} starts at {name}(0) = {start}, outside the "
            f"method's range: {exc}. Momentum schedules need |β(t)| < 1, e.g. "
            "beta = 1/2 + bea.t/4 on t < 2"
        ) from exc
    if name.startswith("beta") and not abs(start) < 1:
        raise ValueError(
            f"the schedule {name}(t) = {expr} starts at {name}(0) = {start}: a momentum "
            "schedule needs |β(t)| < 1 (the parasitic mode must decay)"
        )


def scheduled(method: Method, schedule: Any = None, **hyperparameters: Any) -> Scheduled:
    """``method`` with the step size h·η(t) and/or hyperparameters q(t), in ``bea.t``.

    ``schedule`` is η(t); each keyword names a hyperparameter of ``method``
    and gives its schedule, e.g. a momentum schedule
    ``scheduled(heavy_ball(), beta=b(bea.t))`` (also written
    ``heavy_ball(beta=b(bea.t))``). Schedules are sympy expressions in t = n·h
    alone (an undefined function b(t) too), fixed as h → 0; the n-th step
    uses η(t_n), q(t_n). A momentum β(t) must start with |β(0)| < 1 (checked
    where β(0) is a number; keeping |β(t)| < 1 over the run is the caller's part).

    >>> import sympy, bea
    >>> x = sympy.Symbol("x")
    >>> me = bea.modified_equation(bea.optimizers.gd(schedule=1 + bea.t), 1)
    >>> me.on(x**2 / 2, [x])  # −ηx − (h/2)(η²x − η′x), η = 1 + t, η′ = 1
    Matrix([[-h*t**2*x/2 - h*t*x - t*x - x]])
    >>> hb = bea.optimizers.heavy_ball(beta=(1 + bea.t) / 2)
    >>> me = bea.modified_equation(hb, 1)
    >>> sympy.factor(me.on(x**2 / 2, [x]).subs(bea.t, 0)[0])  # β = 1/2, β′ = 1/2: −2x − 3hx
    -x*(3*h + 2)

    At t = 0: −x/(1−β) − h(1+β)/(2(1−β)³)(x − β′x) = −2x − 6h(1/2)x = −2x − 3hx.
    """
    return Scheduled(method, schedule, **hyperparameters)


# ----------------------------------------------------------------------------
# Muon
# ----------------------------------------------------------------------------

#: the quintic Newton–Schulz coefficients of the reference implementation
#: (Jordan et al. 2024, ``zeropower_via_newtonschulz5``: a, b, c = 3.4445, −4.7750, 2.0315)
NS_COEFFICIENTS = (sp.Rational("3.4445"), sp.Rational("-4.7750"), sp.Rational("2.0315"))


_MUON_BETA = sp.Rational(95, 100)


def _matmul(A, B):
    return [
        [
            sum((A[i][k] * B[k][j] for k in range(1, len(B))), A[i][0] * B[0][j])
            for j in range(len(B[0]))
        ]
        for i in range(len(A))
    ]


def _transpose(A):
    return [list(col) for col in zip(*A)]


def _frobenius(A, ops):
    entries = [e for row in A for e in row]
    return ops.sqrt(sum((e * e for e in entries[1:]), entries[0] * entries[0]))


def _orthogonalise(G, ops, steps, polar, eps, exact=True):
    """Newton–Schulz (``steps`` quintic iterations) or the exact polar factor of G (rows ≤ cols)."""
    if polar:
        if len(G) == 1:
            norm = _frobenius(G, ops)
            return [[e / norm for e in G[0]]]
        # U = S^{-1/2} G, S = GGᵀ (2×2): √S = (S + √det S·I)/√(tr S + 2√det S)
        S = _matmul(G, _transpose(G))
        det = S[0][0] * S[1][1] - S[0][1] * S[1][0]
        root = ops.sqrt(det)
        scale = ops.sqrt(S[0][0] + S[1][1] + 2 * root)
        # (√S)^{-1} = scale·adj(S + root·I)/det(S + root·I)
        a, b, c, d = S[0][0] + root, S[0][1], S[1][0], S[1][1] + root
        det2 = a * d - b * c
        inv = [[scale * d / det2, -scale * b / det2], [-scale * c / det2, scale * a / det2]]
        return _matmul(inv, G)
    a_, b_, c_ = NS_COEFFICIENTS if exact else (float(c) for c in NS_COEFFICIENTS)
    norm = _frobenius(G, ops) + eps
    X = [[e / norm for e in row] for row in G]
    for _ in range(steps):
        A = _matmul(X, _transpose(X))
        AA = _matmul(A, A)
        B = [[b_ * A[i][j] + c_ * AA[i][j] for j in range(len(A))] for i in range(len(A))]
        BX = _matmul(B, X)
        X = [[a_ * X[i][j] + BX[i][j] for j in range(len(X[0]))] for i in range(len(X))]
    return X


def _muon_rule(x, state, step, *, grad, ops, h, beta, rows, cols, ns_steps, polar, nesterov, eps):
    (m,) = state
    g = grad(x)
    m = beta * m + (1 - beta) * g
    u = (1 - beta) * g + beta * m if nesterov else m
    entries = list(ops.unstack(u))
    G = [entries[i * cols : (i + 1) * cols] for i in range(rows)]
    tall = rows > cols
    if tall:
        G = _transpose(G)
    X = _orthogonalise(G, ops, ns_steps, polar, eps, isinstance(h, sp.Basic))
    if tall:
        X = _transpose(X)
    scale = 1
    if rows > cols:  # exact in the analysis (h a symbol), a float on arrays
        scale = (
            sp.sqrt(sp.Rational(rows, cols)) if isinstance(h, sp.Basic) else (rows / cols) ** 0.5
        )
    update = ops.stack([e for row in X for e in row])
    return x - (h * scale) * update, (m,)


def muon(
    shape: tuple[int, int],
    beta: Scalar = _MUON_BETA,
    *,
    ns_steps: int = 5,
    polar: bool = False,
    nesterov: bool = True,
    eps: Scalar = 0,
) -> Optimizer:
    """Muon (Jordan et al. 2024) on one matrix parameter of ``shape`` (row-major, flattened).

    m ← βm + (1−β)g, u = (1−β)g + βm (Nesterov; ``nesterov=False``: u = m),
    X = u/(‖u‖_F + ε), then ``ns_steps`` iterations X ← aX + (bA + cA²)X, A = XXᵀ,
    with the reference coefficients (a, b, c) = (3.4445, −4.7750, 2.0315)
    (tall matrices are transposed first), x ← x − h·√max(1, rows/cols)·X.
    ``polar=True`` uses the exact polar factor (uuᵀ)^{-1/2}u instead (closed
    form for min(rows, cols) ≤ 2). The reference runs Newton–Schulz in
    bfloat16 and uses ε = 10⁻⁷; here it is exact (ε = 0 by default).

    Modified equation (``bea.MuonModifiedEquation(muon(shape, beta))``), with
    g = ∇L, H = ∇²L on the flattened parameter, P(u) = √max(1, rows/cols)·X
    the direction above as a map of u and DP its derivative:

        f̃ = −P(g) − h(c + ½)·DP(g)[H P(g)] + O(h²),

    c = β²/(1 − β) (Nesterov) or β/(1 − β) (u = m): on the invariant manifold
    the momentum is m = g + h·HP(g)/(1 − β) + O(h²), so u = g + h·c·HP(g).
    Regime: β and ε fixed as h → 0, the transient (βⁿ) discarded, g ≠ 0 (of
    full rank for the polar factor) and well conditioned along the run: the
    constants grow with ‖DP‖, up to a⁵ ≈ 486 where G/‖G‖_F is near-singular
    (a sweep on such a trajectory measured slope 1.3 instead of 2 at
    h ≥ 1.25·10⁻³). It is checked exactly against the raw rule expanded at
    rational points (``bea.coordinates._pointwise``: X = G/‖G‖_F has entries
    rational·1/√r and XXᵀ is rational, so the iterations stay exact) and by
    the slope 2 of the order-1 flow. The generic coordinate engine
    (``bea.modified_equation(muon((2, 2)), 1).on(L, xs)``) runs the rule on
    symbolic entries, exact but slow: five Newton–Schulz steps give a
    polynomial of degree 243 in the normalised entries.

    >>> import sympy, bea
    >>> me = bea.MuonModifiedEquation(muon((2, 2), sympy.Rational(1, 2)))
    >>> me.coefficient  # c + 1/2 = (1/4)/(1/2) + 1/2
    1

    References: K. Jordan et al., *Muon: an optimizer for hidden layers in
    neural networks* (2024), github.com/KellerJordan/Muon.
    """
    if (
        not isinstance(shape, tuple)
        or len(shape) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape)
        or min(shape) < 2
    ):
        raise ValueError(
            f"muon orthogonalises a matrix parameter: shape must be (rows, cols) with both "
            f">= 2, got {shape!r}; for a vector use normalized_gd or sign_gd"
        )
    if polar and min(shape) > 2:
        raise ValueError(
            f"muon(polar=True) has a closed form for min(rows, cols) <= 2, got shape {shape}; "
            "use the Newton–Schulz iteration (polar=False)"
        )
    if isinstance(ns_steps, bool) or not isinstance(ns_steps, int) or ns_steps < 1:
        raise ValueError(f"muon: ns_steps must be an int >= 1, got {ns_steps!r}")
    _check_beta(beta, "muon")
    return Optimizer(
        _muon_rule,
        lambda x: (0 * x,),
        name="muon",
        coordinatewise=True,
        doc=muon.__doc__,
        beta=beta,
        rows=shape[0],
        cols=shape[1],
        ns_steps=ns_steps,
        polar=bool(polar),
        nesterov=bool(nesterov),
        eps=eps,
    )
