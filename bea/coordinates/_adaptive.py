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
σ_r = ±1 with σ_r² = 1, and |∂_r L| = σ_r ∂_r L).
"""

from __future__ import annotations

import sympy
from sympy import S

from .._inputs import check_order
from ._hseries import _expand, _mul, _series, _taylor

__all__ = ["adaptive_map", "is_zero", "sign_cases"]

_Y = sympy.Dummy("y")


# ----------------------------------------------------------------------------
# Points with truncated series coordinates and coordinate-wise operations
# ----------------------------------------------------------------------------


class _Context:
    def __init__(self, variables, h, order):
        self.variables = tuple(variables)
        self.h = h
        self.order = order
        self.signs: dict = {}

    @staticmethod
    def _normal(u):
        """(±1, canonical u): positive rational factors dropped, sign pulled out."""
        u = sympy.sympify(u, strict=True)
        sgn = 1
        if u.is_Add:
            _, u = sympy.expand(u).as_content_primitive()
        c, rest = u.as_coeff_Mul()
        if c.is_Rational and c != 1 and rest != 1:
            sgn, u = (1 if c > 0 else -1), rest
        if u.could_extract_minus_sign():
            return -sgn, -u
        return sgn, u

    def sign_of(self, u, create: bool = True):
        sgn, key = self._normal(u)
        s = self.signs.get(key)
        if s is None:
            if not create:
                raise KeyError(f"no sign symbol for {u}; known: {list(self.signs)}")
            s = self.signs[key] = sympy.Symbol(f"σ{len(self.signs) + 1}", nonzero=True)
        return sgn * s

    def reduce(self, expr):
        """σ² = 1, |u| = σu for the recorded signs; sqrt((u)²) → σu."""
        expr = sympy.sympify(expr, strict=True)
        if expr.has(sympy.Pow):
            expr = expr.replace(
                lambda e: (
                    e.is_Pow
                    and e.exp.is_Rational
                    and e.exp.q == 2
                    and e.base.is_Pow
                    and e.base.exp == 2
                ),
                lambda e: (self.sign_of(e.base.base) * e.base.base) ** (2 * e.exp),
            )
        if self.signs:
            expr = _expand(expr).subs({s**2: 1 for s in self.signs.values()})
        return expr


class _CPoint:
    """A point in R^d whose coordinates are truncated series in h (coordinate-wise algebra)."""

    __slots__ = ("ctx", "rows")

    def __init__(self, rows, ctx: _Context):
        self.rows = [list(r) for r in rows]
        self.ctx = ctx

    def _scalar(self, c):
        expr = sympy.sympify(c, strict=True)
        if isinstance(c, float):
            expr = sympy.Rational(repr(c))
        if expr.free_symbols & set(self.ctx.variables):
            raise ValueError(f"a scalar must be free of the variables, got {expr}")
        return _series(expr, self.ctx.h, self.ctx.order, {})

    def _new(self, rows):
        return _CPoint(rows, self.ctx)

    def __add__(self, other):
        if isinstance(other, _CPoint):
            return self._new(
                [[_expand(a + b) for a, b in zip(r, s)] for r, s in zip(self.rows, other.rows)]
            )
        c = self._scalar(other)
        return self._new([[_expand(a + b) for a, b in zip(r, c)] for r in self.rows])

    __radd__ = __add__

    def __neg__(self):
        return self._new([[-a for a in r] for r in self.rows])

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def __mul__(self, other):
        order = self.ctx.order
        if isinstance(other, _CPoint):
            return self._new([_mul(r, s, order) for r, s in zip(self.rows, other.rows)])
        c = self._scalar(other)
        return self._new([_mul(r, c, order) for r in self.rows])

    __rmul__ = __mul__

    def __truediv__(self, other):
        if isinstance(other, _CPoint):
            return self * other.apply(lambda y: 1 / y)
        c = sympy.sympify(other, strict=True)
        return self * (1 / c)

    def __rtruediv__(self, other):
        return self.apply(lambda y: 1 / y) * other

    def __pow__(self, k):
        if k == 2:
            return self * self
        return self.apply(lambda y: y**k)

    def apply(self, func):
        ctx = self.ctx
        body = sympy.sympify(func(_Y), strict=True)
        rows = []
        for r in self.rows:
            delta = [S.Zero, *r[1:]]
            series = _taylor(body, (_Y,), (r[0],), [delta], ctx.order)
            rows.append([ctx.reduce(c) for c in series])
        return self._new(rows)


class _SeriesOps:
    """``ops`` for the analysis: sqrt, sign, abs on ``_CPoint``."""

    def __init__(self, ctx: _Context):
        self.ctx = ctx

    def sqrt(self, p: _CPoint) -> _CPoint:
        # factor the stationary values so that squares such as v = (∂L)² show as squares
        rows = [[sympy.factor(r[0]) if r[0].free_symbols else r[0], *r[1:]] for r in p.rows]
        return p._new(rows).apply(sympy.sqrt)

    def sign(self, p: _CPoint) -> _CPoint:
        order = self.ctx.order
        return p._new([[self.ctx.sign_of(r[0])] + [S.Zero] * order for r in p.rows])

    def abs(self, p: _CPoint) -> _CPoint:
        return self.sign(p) * p

    def square(self, p: _CPoint) -> _CPoint:
        return p * p


# ----------------------------------------------------------------------------
# The solver
# ----------------------------------------------------------------------------


def adaptive_map(opt, loss, variables, order: int, h):
    """Φ and the state maps of a coordinate-wise optimizer, through h^order.

    Returns ``(phi, states, ctx)``: ``phi[r] = [x_r, φ_1r, …]``,
    ``states[i][r] = [s_i0r, s_i1r, …]`` and the context holding the sign
    symbols (``ctx.signs``: expression u ↦ σ with σ = sign(u)).
    """
    order = check_order(order)
    variables = tuple(variables)
    ctx0 = _Context(variables, h, 0)
    grads = [sympy.diff(loss, v) for v in variables]
    hyper = opt._exact_hyper()
    k = len(tuple(opt.init(_CPoint([[v] for v in variables], ctx0))))
    d = len(variables)
    phi = [[v] for v in variables]
    states = [[[] for _ in range(d)] for _ in range(k)]
    signs: dict = {}
    for n in range(order + 1):
        ctx = _Context(variables, h, n)
        ctx.signs = signs
        unknown_phi = [sympy.Dummy(f"phi{r}") for r in range(d)] if n else []
        unknown_s = [[sympy.Dummy(f"s{i}_{r}") for r in range(d)] for i in range(k)]
        state_pts = tuple(
            _CPoint([states[i][r] + [unknown_s[i][r]] for r in range(d)], ctx) for i in range(k)
        )
        x = _CPoint([[v] + [S.Zero] * n for v in variables], ctx)
        phi_rows = [phi[r] + ([unknown_phi[r]] if n else []) for r in range(d)]

        def grad(y, ctx=ctx):
            deltas = [[S.Zero, *row[1:]] for row in y.rows]
            base = [row[0] for row in y.rows]
            return _CPoint(
                [
                    [ctx.reduce(c) for c in _taylor(g, variables, base, deltas, ctx.order)]
                    for g in grads
                ],
                ctx,
            )

        def step(y, c=0, grad=grad):
            if c != 0:
                raise ValueError("coordinate-wise optimizers use one loss: step(y)")
            return -h * grad(y)

        out = opt.rule(x, state_pts, step, grad=grad, ops=_SeriesOps(ctx), h=h, **hyper)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError("a coordinate-wise rule must return (x_new, new_state)")
        x_new, s_new = out[0], tuple(out[1])
        if len(s_new) != k:
            raise ValueError(f"the rule returned {len(s_new)} state entries; init gave {k}")
        eqs = []
        if n == 0:
            for r in range(d):
                if sympy.expand(x_new.rows[r][0] - variables[r]) != 0:
                    raise ValueError(
                        f"{opt!r}: the update is not x + O(h): at h = 0 coordinate {r} "
                        f"becomes {x_new.rows[r][0]}"
                    )
        else:
            eqs.extend(x_new.rows[r][n] - unknown_phi[r] for r in range(d))
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
                eqs.append(s_new[i].rows[r][n] - comp)
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
        for r in range(d):
            if n:
                phi[r].append(values[r])
        off = d if n else 0
        for i in range(k):
            for r in range(d):
                states[i][r].append(values[off + i * d + r])
    ctx = _Context(variables, h, order)
    ctx.signs = signs
    return phi, states, ctx


def sign_cases(expr, signs):
    """expr with every sign symbol set to each combination of ±1."""
    import itertools

    signs = list(signs)
    for vals in itertools.product((1, -1), repeat=len(signs)):
        yield expr.subs(dict(zip(signs, vals)))


def is_zero(expr, signs=()) -> bool:
    """Exact zero test for expressions with sign symbols σ = ±1 (every case checked)."""
    for case in sign_cases(sympy.sympify(expr, strict=True), signs):
        if sympy.cancel(sympy.together(sympy.expand(case))) != 0:
            return False
    return True
