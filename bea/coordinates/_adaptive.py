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
from . import _atoms as _ring
from ._hseries import HPoint, _reduced, _ring_series_mul, _ring_taylor
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
        if not _has_reducible(expr, set()):
            return expr
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


def _has_reducible(expr, clean: set) -> bool:
    """Whether ``expr`` holds an ``Abs`` or a √(u²) (each shared subtree visited once)."""
    if expr.is_Atom or expr in clean:
        return False
    if isinstance(expr, sympy.Abs):
        return True
    if (
        expr.is_Pow
        and expr.exp.is_Rational
        and expr.exp.q == 2
        and expr.base.is_Pow
        and expr.base.exp == 2
    ):
        return True
    if any(_has_reducible(a, clean) for a in expr.args):
        return True
    clean.add(expr)
    return False


class _SeriesOps:
    """``ops`` for the analysis: sqrt, sign, abs, … on points (``HPoint``) of one context."""

    def __init__(self, ctx: _Context):
        self.ctx = ctx

    def sqrt(self, p: HPoint) -> HPoint:
        # √(r0 + δ) = √r0 · Σ_k binom(1/2, k) (δ/r0)^k, with √r0 = σ(w)·w when r0 = c·w²
        order = self.ctx.order
        rows = []
        for r in p._ring_rows():
            r0 = _ring.to_expr(r[0])
            base = sympy.cancel(sympy.together(r0)) if r0.free_symbols else r0
            root = _ring.from_expr(exact_sqrt(base))
            inverse = _ring.from_expr(1 / base)
            ratio = {j: _ring.mul(r[j], inverse) for j in range(1, order + 1) if r[j]}
            total = [dict(root)] + [{} for _ in range(order)]
            power = {0: _ring.constant(1)}
            for k in range(1, order + 1):
                power = {n: c for n, c in enumerate(_ring_series_mul(power, ratio, order)) if c}
                coeff = _ring.fmpq(*_fraction(sympy.binomial(S.Half, k)))
                for n, c in power.items():
                    _ring.add_into(total[n], _ring.mul(root, c), coeff)
            rows.append(total)
        return p._new_ring(rows)

    def sign(self, p: HPoint) -> HPoint:
        order = self.ctx.order
        return p._new([[self.ctx.sign_of(r[0])] + [S.Zero] * order for r in p.coefficients])

    def abs(self, p: HPoint) -> HPoint:
        return self.sign(p) * p

    def square(self, p: HPoint) -> HPoint:
        return p * p

    def unstack(self, p: HPoint) -> list:
        """The coordinates of p as one-coordinate points (like iterating a 1-D array)."""
        return [p._new_ring([list(r)]) for r in p._ring_rows()]

    def stack(self, entries) -> HPoint:
        """One point from one-coordinate points (like ``jnp.stack``)."""
        entries = list(entries)
        return entries[0]._new_ring([list(e._ring_rows()[0]) for e in entries])

    def sum(self, p: HPoint) -> HPoint:
        """Σ_r p_r, the same in every coordinate (broadcast like a NumPy scalar)."""
        total = []
        for col in zip(*p._ring_rows()):
            acc: dict = {}
            for c in col:
                _ring.add_into(acc, c)
            total.append(acc)
        return p._new_ring([list(total) for _ in p._ring_rows()])


def _fraction(q) -> tuple[int, int]:
    return int(q.p), int(q.q)


# ----------------------------------------------------------------------------
# The solver
# ----------------------------------------------------------------------------


def _linear_parts(eq: dict, index: dict):
    """(coefficients of the unknowns, constant part) of a ring element linear in them.

    ``index`` maps the atom index of each unknown to its position. None if
    ``eq`` is not linear in the unknowns (then sympy's solver reports it).
    """
    coeffs: dict = {}
    const: dict = {}
    for m, c in eq.items():
        hits = [pos for pos, (k, _) in enumerate(m) if k in index]
        if not hits:
            const[m] = c
            continue
        if len(hits) > 1 or m[hits[0]][1] != 1:
            return None
        pos = hits[0]
        u = index[m[pos][0]]
        coeffs.setdefault(u, {})[m[:pos] + m[pos + 1 :]] = c
    return coeffs, const


def _solve_linear(eqs: list, unknowns: list, ctx, opt, n: int):
    """The unknowns from ``eqs`` (ring elements, linear in the unknowns), as ring elements."""
    index = {_ring.atom_index(u): i for i, u in enumerate(unknowns)}
    parts = [_linear_parts(e, index) for e in eqs]
    if any(pt is None for pt in parts):
        exprs = [ctx.reduce(_ring.to_expr(e)) for e in eqs]
        sympy.linear_eq_to_matrix(exprs, unknowns)  # raises sympy's NonlinearError
        raise AssertionError("unreachable: the equations are linear")  # pragma: no cover
    size = len(unknowns)
    A = sympy.zeros(len(eqs), size)
    for i, (coeffs, _) in enumerate(parts):
        for j, c in coeffs.items():
            A[i, j] = _ring.to_expr(c)
    if A.det() == 0:
        raise ValueError(
            f"{opt!r}: the state update has no unique stationary state at order {n} "
            "(singular linear system); check that every state decays (|β| < 1)"
        )
    inverse = A.inv()
    rhs = [_ring.scale(const, _MINUS) for _, const in parts]
    out = []
    for i in range(size):
        acc: dict = {}
        for j in range(len(eqs)):
            a = inverse[i, j]
            if a != 0 and rhs[j]:
                _ring.add_into(acc, _ring.mul(_ring.from_expr(sympy.cancel(a)), rhs[j]))
        out.append(acc)
    return out


_MINUS = _ring.fmpq(-1)


def adaptive_map(opt, loss, variables, order: int, h, scale=1):
    """Φ and the state maps of a coordinate-wise optimizer, through h^order.

    ``scale``: the step used is h·scale (a schedule η(t) at a fixed time t,
    free of the variables); the series is in powers of h. Rules that do not
    ask for ``grad``, ``ops``, ``h`` (B-series rules) run with ``step`` only.

    Returns ``(phi, states, ctx)``: ``phi[r] = [x_r, φ_1r, …]``,
    ``states[i][r] = [s_i0r, s_i1r, …]`` and the context listing the signs
    that occur in Φ (``ctx.signs``: expression u ↦ σ(u), see ``_signs``).
    Internally the coefficients are ring elements (``bea.coordinates._atoms``);
    they are returned as sympy expressions.
    """
    order = check_order(order)
    variables = tuple(variables)
    ctx0 = _Context(variables, h, 0)
    grads = [sympy.diff(loss, v) for v in variables]
    hyper = opt._exact_hyper()
    k = len(tuple(opt.init(HPoint._raw([[v] for v in variables], variables, h, 0, ctx0.reduce))))
    d = len(variables)
    phi = [[_ring.from_expr(v)] for v in variables]
    states: list[list[list]] = [[[] for _ in range(d)] for _ in range(k)]
    for n in range(order + 1):
        ctx = _Context(variables, h, n)
        unknown_phi = [sympy.Dummy(f"phi{r}") for r in range(d)] if n else []
        unknown_s = [[sympy.Dummy(f"s{i}_{r}") for r in range(d)] for i in range(k)]
        state_pts = tuple(
            HPoint._from_rings(
                [states[i][r] + [_ring.from_expr(unknown_s[i][r])] for r in range(d)],
                variables,
                h,
                n,
                ctx.reduce,
            )
            for i in range(k)
        )
        x = HPoint._raw([[v] + [S.Zero] * n for v in variables], variables, h, n, ctx.reduce)

        def grad(y, ctx=ctx):
            rows = y._ring_rows()
            deltas = [{j: row[j] for j in range(1, ctx.order + 1) if row[j]} for row in rows]
            base = [_ring.to_expr(row[0]) for row in rows]
            return HPoint._from_rings(
                [
                    [
                        _reduced(ctx.reduce, c)
                        for c in _ring_taylor(g, variables, base, deltas, ctx.order)
                    ]
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
        x_rows = x_new._ring_rows()
        if n:
            eqs.extend(_ring.sub(x_rows[r][n], _ring.from_expr(unknown_phi[r])) for r in range(d))
        # S_i(Φ(x)) at h^n
        # Φ through h^n, its h^n coefficient the unknown φ_n
        deltas = [{j: phi[r][j] for j in range(1, n) if phi[r][j]} for r in range(d)]
        for r in range(d):
            if n:
                deltas[r][n] = _ring.from_expr(unknown_phi[r])
        for i in range(k):
            s_rows = s_new[i]._ring_rows()
            for r in range(d):
                comp = dict(_ring.from_expr(unknown_s[i][r]))
                for l in range(n):
                    c = states[i][r][l]
                    if not c:
                        continue
                    c_expr = _ring.to_expr(c)
                    _ring.add_into(
                        comp, _ring_taylor(c_expr, variables, variables, deltas, n - l)[n - l]
                    )
                eqs.append(_ring.sub(s_rows[r][n], comp))
        unknowns = unknown_phi + [u for row in unknown_s for u in row]
        eqs = [_reduced(ctx.reduce, e) for e in eqs]
        sol = _solve_linear(eqs, unknowns, ctx, opt, n)
        if n == 0:
            # the stationary states (order 0) are small: bring them to lowest terms so that
            # squares such as v = (∂L)² are recognised under square roots
            values = [
                _ring.from_expr(ctx.reduce(sympy.cancel(sympy.together(_ring.to_expr(v)))))
                for v in sol
            ]
            # consistency, with the stationary states in place (states may be displacements)
            at = dict(zip([u for row in unknown_s for u in row], map(_ring.to_expr, values)))
            for r in range(d):
                moved = sympy.cancel(
                    sympy.together(x_new.coefficients[r][0].xreplace(at) - variables[r])
                )
                if moved != 0:
                    raise inconsistent_error(repr(opt), f"at h = 0 coordinate {r} moves by {moved}")
        else:
            values = [_reduced(ctx.reduce, v) for v in sol]
        for r in range(d):
            if n:
                phi[r].append(values[r])
        off = d if n else 0
        for i in range(k):
            for r in range(d):
                states[i][r].append(values[off + i * d + r])
    phi_out = [[_ring.to_expr(c) for c in row] for row in phi]
    states_out = [[[_ring.to_expr(c) for c in row] for row in st] for st in states]
    ctx = _Context(variables, h, order)
    signs = sign_atoms(sympy.Matrix([c for row in phi_out for c in row]))
    ctx.signs = {s.args[0]: s for s in signs}
    return phi_out, states_out, ctx


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
