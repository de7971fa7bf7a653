"""Coordinate-wise and adaptive optimizers: sign descent, RMSProp, Adam.

These maps act coordinate by coordinate (square, square root, sign, division,
ε-smoothing) and are not B-series methods. Their update rules are written in
the same style as every other optimizer, with three extra keyword arguments::

    def rule(x, state, step, *, grad, ops, h, beta1, beta2, eps):
        m, v = state
        g = grad(x)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        return x - h * m / (ops.sqrt(v) + eps), (m, v)

``grad(y)`` is ∇L(y), ``ops`` supplies ``sqrt``, ``sign`` and ``abs``, and
``h`` is the step size. On arrays ``ops`` is ``jax.numpy``; in the analysis
the rule runs on points whose coordinates are truncated series in h (the
coordinate backend), in a fixed dimension d given by the variables of the
loss passed to ``.on``.

Memory. The states (m, v, …) are O(1), not O(h). After the initial transient
they lie on an invariant manifold s = S(x) = Σ_{j≥0} h^j s_j(x); the iterates
then follow a memoryless one-step map Φ(x) = x + Σ_{j≥1} h^j φ_j(x). At each
order j the unknowns (φ_j, s_j) solve a linear system: x' = Φ(x) and
s' = S(Φ(x)), with S(Φ(x)) Taylor-expanded about x. At order 0 this gives,
e.g., m = ∇L, v = (∇L)² (coordinate-wise). The modified field is that of Φ.

Regime and assumptions (Cattaneo, Klusowski & Shigida, ICML 2024; Cattaneo &
Shigida 2025): β's and ε are fixed as h → 0; the transient (which decays like
β^n) is discarded; bias correction factors 1/(1 − β^n) tend to 1 and are
carried as decaying states (0 on the manifold); no coordinate of ∇L vanishes
at the point (sign(∂_r L) is locally constant: it is written as a symbol
σ(∂_rL) = ±1, a sympy function with σ² = 1 built in, evaluated by ``.subs``
at any point, and |∂_r L| = σ(∂_rL) ∂_r L; see ``bea.coordinates._signs``).
"""

from __future__ import annotations

import sympy
from sympy import S

from .._inputs import check_order
from ..methods._programs import inconsistent_error, state_count_error
from ._hseries import HPoint, _expand, _mul, _taylor
from ._signs import Sign, exact_sqrt, sign_atoms

__all__ = ["adaptive_map", "is_zero", "sign_cases"]


# ----------------------------------------------------------------------------
# Coordinate-wise operations on points (HPoint) and the sign normal form
# ----------------------------------------------------------------------------


class _Context:
    def __init__(self, variables, h, order):
        self.variables = tuple(variables)
        self.h = h
        self.order = order
        self.signs: dict = {}

    @staticmethod
    def sign_of(u):
        """σ(u): the sign of u, a self-describing function (see ``_signs``)."""
        return Sign(sympy.sympify(u, strict=True))

    def reduce(self, expr):
        """|u| = σ(u)u and √(u²) = σ(u)u; σ² = 1 is built into σ."""
        expr = sympy.sympify(expr, strict=True)
        if expr.has(sympy.Abs):
            expr = expr.replace(
                lambda e: isinstance(e, sympy.Abs), lambda e: Sign(e.args[0]) * e.args[0]
            )
        if expr.has(sympy.Pow):
            expr = expr.replace(
                lambda e: (
                    e.is_Pow
                    and e.exp.is_Rational
                    and e.exp.q == 2
                    and e.base.is_Pow
                    and e.base.exp == 2
                ),
                lambda e: (Sign(e.base.base) * e.base.base) ** (2 * e.exp),
            )
        return expr


class _SeriesOps:
    """``ops`` for the analysis: sqrt, sign, abs, … on points (``HPoint``) of one context."""

    def __init__(self, ctx: _Context):
        self.ctx = ctx

    def sqrt(self, p: HPoint) -> HPoint:
        # √(r0 + δ) = √r0 · Σ_k binom(1/2, k) (δ/r0)^k, with √r0 = σ(w)·w when r0 = c·w²
        order = self.ctx.order
        rows = []
        for r in p.coefficients:
            base = sympy.cancel(sympy.together(r[0])) if r[0].free_symbols else r[0]
            root = exact_sqrt(base)
            ratio = [S.Zero] + [_expand(c / base) for c in r[1:]]
            total = [root] + [S.Zero] * order
            power = [S.One] + [S.Zero] * order
            for k in range(1, order + 1):
                power = _mul(power, ratio, order)
                coeff = sympy.binomial(S.Half, k)
                total = [_expand(a + coeff * root * b) for a, b in zip(total, power)]
            rows.append(total)
        return p._new(rows)

    def sign(self, p: HPoint) -> HPoint:
        order = self.ctx.order
        return p._new([[self.ctx.sign_of(r[0])] + [S.Zero] * order for r in p.coefficients])

    def abs(self, p: HPoint) -> HPoint:
        return self.sign(p) * p

    def square(self, p: HPoint) -> HPoint:
        return p * p

    def unstack(self, p: HPoint) -> list:
        """The coordinates of p as one-coordinate points (like iterating a 1-D array)."""
        return [p._new([list(r)]) for r in p.coefficients]

    def stack(self, entries) -> HPoint:
        """One point from one-coordinate points (like ``jnp.stack``)."""
        entries = list(entries)
        return entries[0]._new([list(e.coefficients[0]) for e in entries])

    def sum(self, p: HPoint) -> HPoint:
        """Σ_r p_r, the same in every coordinate (broadcast like a NumPy scalar)."""
        total = [_expand(sympy.Add(*col)) for col in zip(*p.coefficients)]
        return p._new([list(total) for _ in p.coefficients])


# ----------------------------------------------------------------------------
# The solver
# ----------------------------------------------------------------------------


def adaptive_map(opt, loss, variables, order: int, h, scale=1):
    """Φ and the state maps of a coordinate-wise optimizer, through h^order.

    ``scale``: the step used is h·scale (a schedule η(t) at a fixed time t,
    free of the variables); the series is in powers of h. Rules that do not
    ask for ``grad``, ``ops``, ``h`` (B-series rules) run with ``step`` only.

    Returns ``(phi, states, ctx)``: ``phi[r] = [x_r, φ_1r, …]``,
    ``states[i][r] = [s_i0r, s_i1r, …]`` and the context listing the signs
    that occur in Φ (``ctx.signs``: expression u ↦ σ(u), see ``_signs``).
    """
    order = check_order(order)
    variables = tuple(variables)
    ctx0 = _Context(variables, h, 0)
    grads = [sympy.diff(loss, v) for v in variables]
    hyper = opt._exact_hyper()
    k = len(tuple(opt.init(HPoint._raw([[v] for v in variables], variables, h, 0, ctx0.reduce))))
    d = len(variables)
    phi = [[v] for v in variables]
    states: list[list[list]] = [[[] for _ in range(d)] for _ in range(k)]
    for n in range(order + 1):
        ctx = _Context(variables, h, n)
        unknown_phi = [sympy.Dummy(f"phi{r}") for r in range(d)] if n else []
        unknown_s = [[sympy.Dummy(f"s{i}_{r}") for r in range(d)] for i in range(k)]
        state_pts = tuple(
            HPoint._raw(
                [states[i][r] + [unknown_s[i][r]] for r in range(d)], variables, h, n, ctx.reduce
            )
            for i in range(k)
        )
        x = HPoint._raw([[v] + [S.Zero] * n for v in variables], variables, h, n, ctx.reduce)
        phi_rows = [phi[r] + ([unknown_phi[r]] if n else []) for r in range(d)]

        def grad(y, ctx=ctx):
            deltas = [[S.Zero, *row[1:]] for row in y.coefficients]
            base = [row[0] for row in y.coefficients]
            return HPoint._raw(
                [
                    [ctx.reduce(c) for c in _taylor(g, variables, base, deltas, ctx.order)]
                    for g in grads
                ],
                variables,
                h,
                ctx.order,
                ctx.reduce,
            )

        def step(y, c=0, grad=grad):
            if c != 0:
                raise ValueError("coordinate-wise optimizers use one loss: step(y)")
            return -(h * scale) * grad(y)

        extras = {"grad": grad, "ops": _SeriesOps(ctx), "h": h * scale}
        extras = {key: v for key, v in extras.items() if key in opt.extras}
        out = opt.rule(x, state_pts, step, **extras, **hyper)
        if not isinstance(out, tuple):
            out = (out, ())
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError("a coordinate-wise rule must return (x_new, new_state)")
        x_new, s_new = out[0], tuple(out[1])
        if len(s_new) != k:
            raise state_count_error(opt.name, len(s_new), k)
        eqs: list = []
        if n:
            eqs.extend(x_new.coefficients[r][n] - unknown_phi[r] for r in range(d))
        # S_i(Φ(x)) at h^n
        deltas = [[S.Zero, *phi_rows[r][1:]] for r in range(d)]
        for i in range(k):
            for r in range(d):
                comp = unknown_s[i][r]
                for l in range(n):
                    c = states[i][r][l]
                    if c == 0:
                        continue
                    comp += _taylor(c, variables, variables, deltas, n - l)[n - l]
                eqs.append(s_new[i].coefficients[r][n] - comp)
        unknowns = unknown_phi + [u for row in unknown_s for u in row]
        eqs = [ctx.reduce(e) for e in eqs]
        A, b = sympy.linear_eq_to_matrix(eqs, unknowns)
        if A.det() == 0:
            raise ValueError(
                f"{opt!r}: the state update has no unique stationary state at order {n} "
                "(singular linear system); check that every state decays (|β| < 1)"
            )
        sol = A.LUsolve(b)
        # the stationary states (order 0) are small: bring them to lowest terms so that
        # squares such as v = (∂L)² are recognised under square roots
        values = [ctx.reduce(sympy.cancel(sympy.together(v)) if n == 0 else v) for v in sol]
        if n == 0:
            # consistency, with the stationary states in place (states may be displacements)
            at = dict(zip([u for row in unknown_s for u in row], values))
            for r in range(d):
                moved = sympy.cancel(
                    sympy.together(x_new.coefficients[r][0].xreplace(at) - variables[r])
                )
                if moved != 0:
                    raise inconsistent_error(repr(opt), f"at h = 0 coordinate {r} moves by {moved}")
        for r in range(d):
            if n:
                phi[r].append(values[r])
        off = d if n else 0
        for i in range(k):
            for r in range(d):
                states[i][r].append(values[off + i * d + r])
    ctx = _Context(variables, h, order)
    ctx.signs = {s.args[0]: s for s in sign_atoms(sympy.Matrix([c for row in phi for c in row]))}
    return phi, states, ctx


def sign_cases(expr, signs=()):
    """expr with every sign σ(u) (those given, and those it contains) set to each ±1."""
    import itertools

    expr = sympy.sympify(expr, strict=True)
    signs = sorted(set(signs) | set(sign_atoms(expr)), key=str)
    for vals in itertools.product((1, -1), repeat=len(signs)):
        yield expr.xreplace(dict(zip(signs, vals)))


def is_zero(expr, signs=()) -> bool:
    """Exact zero test for expressions with sign symbols σ = ±1 (every case checked)."""
    for case in sign_cases(sympy.sympify(expr, strict=True), signs):
        if sympy.cancel(sympy.together(sympy.expand(case))) != 0:
            return False
    return True
