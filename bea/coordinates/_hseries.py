r"""Coordinate backend: modified equations of one-step maps in fixed dimension.

This module is an engine independent of the rooted-tree machinery.  It works
directly on the components of a one-step map written with sympy in ``d``
variables, and serves two purposes: a cross-check for the B-series engine, and
the route for maps that are not B-series methods (coordinate-wise maps such as
sign descent, RMSProp or Adam).

Conventions
-----------
* ``h`` is the step size, a sympy ``Symbol``; ``variables`` are ``d`` distinct
  sympy ``Symbol`` objects ``x = (x_1, ..., x_d)``.
* A one-step map is $\Phi_h(x) = x + \sum_{j \ge 1} h^j d_j(x)$.
* The time-``h`` flow of an autonomous field ``g`` (which may itself be a
  polynomial in ``h``) is

  $$\varphi_h(x) = x + \sum_{k \ge 1} \frac{h^k}{k!} (D_g^{k-1} g)(x),
  \qquad D_g v = \frac{\partial v}{\partial x}\, g .$$

* The *modified field* of $\Phi_h$ is
  $\tilde f = f_0 + h f_1 + h^2 f_2 + \dots$ with
  $\varphi_h[\tilde f_{\le p}] - \Phi_h = O(h^{p+2})$ for every ``p``.  No
  extra factor ``h`` is attached: ``modified_field`` returns
  $\tilde f$ itself, not $h \tilde f$.  For gradient descent
  $\Phi_h(x) = x - h \nabla L(x)$ one finds, with $f = -\nabla L$,
  $f_1 = -\tfrac12 f' f$ and $f_2 = \tfrac1{12} f''(f, f) + \tfrac13 f' f' f$.
* Truncation "after ``h^order``" keeps the powers ``h^0, ..., h^order``.
* Exact arithmetic only.  A Python ``float`` (or sympy ``Float``) given by a
  user is read as the decimal it prints as: ``0.9`` becomes ``9/10``.
* Derivatives of undefined functions such as ``sympy.Function('L')(x1, x2)``
  stay sympy ``Derivative`` objects, with their variables in sympy's canonical
  order so that equal mixed partials cancel.  Results are normalised by
  ``sympy.expand`` only (no ``simplify``).

Example
-------
>>> import sympy
>>> x, h = sympy.symbols("x h")
>>> # gradient descent on L = x**3 / 3, i.e. Phi_h(x) = x - h x**2
>>> modified_field(sympy.Matrix([x - h * x**2]), [x], h, 1)
Matrix([[-h*x**3 - x**2]])

By hand: $f = -x^2$, $f_1 = -\tfrac12 f' f = -\tfrac12 (-2x)(-x^2) = -x^3$.

References
----------
Hairer, Lubich, Wanner, *Geometric Numerical Integration*, 2nd ed., Sec. IX.1
(construction of the modified equation, eq. (IX.1.4) and following).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from fractions import Fraction
from numbers import Integral
from typing import Any

import sympy
from sympy import S

from .._inputs import as_variables, check_order, exact
from . import _atoms as _ring
from ._atoms import _canonical, _diff_atom

__all__ = [
    "HPoint",
    "expand_in_h",
    "flow_map",
    "gradient_step",
    "modified_field",
    "taylor_at",
]

# A truncated power series in h is a list ``[c_0, c_1, ..., c_order]`` of
# h-free sympy expressions, the coefficients of h^0, ..., h^order.
_Series = list

_MAX_DUMMIES = 64
_DUMMIES = tuple(sympy.Dummy(f"y{i}") for i in range(_MAX_DUMMIES))


# --------------------------------------------------------------------------
# input checking and exactness
# --------------------------------------------------------------------------


def _as_vector(value, d: int, name: str) -> list:
    """Column matrix / flat sequence of length ``d`` -> list of exact exprs."""
    if isinstance(value, HPoint):
        raise ValueError(
            f"expected `{name}` to be a sympy Matrix of shape ({d}, 1), got an HPoint; "
            "pass point.to_matrix()"
        )
    if isinstance(value, sympy.MatrixBase):
        if value.shape not in ((d, 1), (1, d)):
            raise ValueError(
                f"expected `{name}` to be a column Matrix of shape ({d}, 1), one entry per "
                f"variable, got shape {value.shape}; build it as sympy.Matrix([e1, ..., e{d}])"
            )
        entries = list(value)
    else:
        try:
            entries = list(value)
        except TypeError:
            raise ValueError(
                f"expected `{name}` to be a sympy Matrix of shape ({d}, 1), got {value!r}"
            ) from None
        if len(entries) != d:
            raise ValueError(
                f"expected `{name}` to have {d} entries (one per variable), got {len(entries)}; "
                f"build it as sympy.Matrix([e1, ..., e{d}])"
            )
    return [exact(e) for e in entries]


# --------------------------------------------------------------------------
# truncated series in h
# --------------------------------------------------------------------------


def _expand(expr):
    """Distribute products over sums, outside function arguments.

    A light, exact stand-in for ``sympy.expand`` on hot paths: like terms are
    collected by ``Add``; results returned to users go through ``sympy.expand``.
    """
    if expr.is_Add:
        return sympy.Add(*[_expand(t) for t in expr.args])
    if expr.is_Mul:
        factors = [_expand(f) for f in expr.args]
        if not any(f.is_Add for f in factors):
            return sympy.Mul(*factors)
        terms = [S.One]
        for f in factors:
            terms = [sympy.Mul(t, u) for t in terms for u in sympy.Add.make_args(f)]
        return sympy.Add(*terms)
    if expr.is_Pow and expr.base.is_Add and expr.exp.is_Integer and expr.exp > 1:
        return _expand(sympy.Mul(expr.base, _expand(expr.base ** (expr.exp - 1)), evaluate=False))
    return expr


def _final(expr):
    """``sympy.expand(expr)``, term by term, each distinct denominator expanded once.

    ``sympy.expand`` of a sum is the sum of the expanded terms; a term
    ``(p/q) * n * D**-k`` (``n`` free of sums, ``D`` the product of the factors
    under negative powers, one of them a sum such as ``epsilon + σ(g) g``)
    expands to ``p n`` over the expansion of ``q D**k``, which many terms share.
    Terms of any other shape go through ``sympy.expand`` whole.
    """
    if not expr.is_Add:
        return sympy.expand(expr)
    return sympy.Add(*[_final_term(t) for t in expr.args])


def _final_term(term):
    if not term.is_Mul:
        return sympy.expand(term)
    num, den = [], []
    over_sum = False
    for f in term.args:
        if f.is_Rational:
            num.append(sympy.Integer(f.p))
            if f.q != 1:
                den.append(sympy.Integer(f.q))
        elif f.is_Pow and f.exp.is_Integer and f.exp < 0 and _expand_invariant(f.base):
            den.append(sympy.Pow(f.base, -f.exp))
            over_sum = over_sum or f.base.is_Add
        elif f.is_Add or (f.is_Pow and f.base.is_Add) or not _expand_invariant(f):
            return sympy.expand(term)
        else:
            num.append(f)
    if not over_sum:
        return term  # a rational times factors that expand leaves as they are
    return sympy.Mul(*num) * _expanded_inverse(sympy.Mul(*den))


@functools.lru_cache(maxsize=1 << 14)
def _expand_invariant(factor) -> bool:
    """Whether ``sympy.expand`` leaves ``factor`` (a non-sum factor of a term) as it is."""
    return sympy.expand(factor) == factor


@functools.lru_cache(maxsize=1 << 12)
def _expanded_inverse(den):
    """``sympy.expand(1 / den)`` for a product ``den`` of sums: ``1/expand(den)``.

    The product is expanded in the ring (``bea.coordinates._atoms``); a
    denominator with negative powers inside goes through ``sympy.expand``.
    """
    p = _ring.from_expr(den)
    if (
        len(p) < 2
        or any(e < 0 for m in p for _, e in m)
        or not all(_expand_invariant(a) for a in _ring.atoms(p))
    ):
        return sympy.expand(1 / den)
    return sympy.Pow(_ring.to_expr(p), -1)


def _zeros(order: int) -> _Series:
    return [S.Zero] * (order + 1)


def _const(expr, order: int) -> _Series:
    out = _zeros(order)
    out[0] = expr
    return out


def _is_zero_series(a: _Series) -> bool:
    return all(c is S.Zero for c in a)


def _scale(a: _Series, c) -> _Series:
    return [_expand(c * x) for x in a]


def _mul(a: _Series, b: _Series, order: int) -> _Series:
    nza = [i for i in range(order + 1) if a[i] is not S.Zero]
    nzb = [j for j in range(order + 1) if b[j] is not S.Zero]
    if not nza or not nzb:
        return _zeros(order)
    ra = {i: _ring.from_expr(a[i]) for i in nza}
    rb = {j: _ring.from_expr(b[j]) for j in nzb}
    return [_ring.to_expr(c) for c in _ring_series_mul(ra, rb, order)]


def _ring_series_mul(ra: dict, rb: dict, order: int) -> list:
    """Truncated product of two series given as ``{power: ring element}``."""
    out: list[dict] = [{} for _ in range(order + 1)]
    for i, pa in ra.items():
        for j, pb in rb.items():
            if i + j <= order:
                _ring.add_into(out[i + j], _ring.mul(pa, pb))
    return out


def _to_expr(a: _Series, h) -> sympy.Expr:
    """Polynomial in ``h`` from a series, each coefficient normalised by ``sympy.expand``."""
    return sympy.Add(*[_final(c) * h**j for j, c in enumerate(a) if c is not S.Zero])


# --------------------------------------------------------------------------
# derivatives (cached) and multivariate Taylor expansion
# --------------------------------------------------------------------------


def _fast_diff(expr, var):
    """Product rule over Add / Mul / integer Pow; sympy ``diff`` (cached) on the rest."""
    if expr.is_Number:
        return S.Zero
    if expr.is_Add:
        return sympy.Add(*[_fast_diff(t, var) for t in expr.args])
    if expr.is_Mul:
        args = expr.args
        out = []
        for i, f in enumerate(args):
            df = _fast_diff(f, var)
            if df is not S.Zero:
                out.append(sympy.Mul(*args[:i], df, *args[i + 1 :]))
        return sympy.Add(*out)
    if expr.is_Pow and expr.exp.is_Integer:
        db = _fast_diff(expr.base, var)
        if db is S.Zero:
            return S.Zero
        return expr.exp * expr.base ** (expr.exp - 1) * db
    return _diff_atom(expr, var)


@functools.lru_cache(maxsize=1 << 14)
def _diff(expr, var):
    """Cached derivative, distributed with ``_expand``."""
    return _expand(_fast_diff(expr, var))


def _taylor(expr, dummies, base, deltas, order: int) -> _Series:
    r"""Truncated series of ``expr(dummies = base + deltas)``.

    ``expr`` is h-free; ``base`` are h-free points; ``deltas`` are series with
    zero constant term.  Computes
    $\sum_{|\alpha| \le \text{order}} \partial^\alpha \text{expr}(\text{base})\,
    \delta^\alpha / \alpha!$ by a depth-first walk over non-decreasing index
    sequences, reusing each derivative and each monomial of its parent.  The
    arithmetic runs in the ring of ``bea.coordinates._atoms`` (expanded
    expressions as sparse polynomials in their atoms); derivatives are taken
    there when the expansion point is ``dummies`` itself, else by sympy
    (cached) and substituted.
    """
    return [_ring.to_expr(c) for c in _ring_taylor(expr, dummies, base, deltas, order)]


def _ring_taylor(expr, dummies, base, deltas, order: int) -> list:
    """``_taylor`` with ring elements (``bea.coordinates._atoms``) as coefficients."""
    substitute = [(y, b) for y, b in zip(dummies, base, strict=True) if y != b]
    free = expr.free_symbols
    rdeltas = [
        {n: c for n, c in dl.items() if n <= order}
        if isinstance(dl, dict)
        else {n: _ring.from_expr(c) for n, c in enumerate(dl[: order + 1]) if c is not S.Zero}
        for dl in deltas
    ]
    active = [i for i, dl in enumerate(rdeltas) if dummies[i] in free and dl]
    terms: list[dict] = [{} for _ in range(order + 1)]

    if substitute:

        def at_base(e):
            return _ring.from_expr(_expand(_canonical(e.subs(substitute))))

        def derive(e, var):
            return _diff(e, var)

        def nonzero(e):
            return e is not S.Zero

        start = expr
    else:

        def at_base(e):
            return e

        def derive(e, var):
            return _ring.derivative(e, var)

        def nonzero(e):
            return bool(e)

        start = _ring.from_expr(expr)
    _ring.add_into(terms[0], at_base(start))

    def walk(deriv, mono, weight, last_pos, run):
        for pos in range(last_pos if last_pos >= 0 else 0, len(active)):
            i = active[pos]
            d2 = derive(deriv, dummies[i])
            if not nonzero(d2):
                continue
            run2 = run + 1 if pos == last_pos else 1
            w2 = weight / run2
            if mono is None:
                mono2 = rdeltas[i]
            else:
                mono2 = {n: c for n, c in enumerate(_ring_series_mul(mono, rdeltas[i], order)) if c}
            if not mono2:
                continue
            value = at_base(d2)  # may vanish at the base while higher derivatives do not
            if value:
                for n, c in mono2.items():
                    _ring.add_into(terms[n], _ring.mul(value, c), w2)
            walk(d2, mono2, w2, pos, run2)

    walk(start, None, _ring.ONE, -1, 0)
    return terms


def _fresh_dummies(k: int):
    if k > _MAX_DUMMIES:
        return tuple(sympy.Dummy(f"y{i}") for i in range(k))
    return _DUMMIES[:k]


# --------------------------------------------------------------------------
# expansion of arbitrary expressions in h
# --------------------------------------------------------------------------


def _series(expr, h, order: int, memo: dict) -> _Series:
    """Truncated series of ``expr`` in ``h``; ``memo`` caches shared subtrees."""
    key = expr
    hit = memo.get(key)
    if hit is not None:
        return hit
    out = _series_uncached(expr, h, order, memo)
    memo[key] = out
    return out


def _series_uncached(expr, h, order, memo):
    if not expr.has(h):
        return _const(expr, order)
    if expr == h:
        out = _zeros(order)
        if order >= 1:
            out[1] = S.One
        return out
    if isinstance(expr, sympy.Add):
        acc = _zeros(order)
        for arg in expr.args:
            acc = [x + y for x, y in zip(acc, _series(arg, h, order, memo), strict=True)]
        return [_expand(c) for c in acc]
    if isinstance(expr, sympy.Mul):
        constant = []
        acc = None
        for arg in expr.args:
            if not arg.has(h):
                constant.append(arg)
                continue
            s = _series(arg, h, order, memo)
            acc = s if acc is None else _mul(acc, s, order)
        return _scale(acc, sympy.Mul(*constant)) if constant else acc
    if isinstance(expr, sympy.Pow):
        base, exp = expr.args
        if exp.is_Integer and exp > 0 and base.has(h) and not exp.has(h):
            return _power(_series(base, h, order, memo), int(exp), order)
        return _apply(expr, h, order, memo)
    if isinstance(expr, sympy.Derivative):
        if h in expr.variables:
            return _series(expr.doit(), h, order, memo)
        body = _series(expr.expr, h, order, memo)
        return [_expand(sympy.diff(c, *expr.variable_count)) for c in body]
    if isinstance(expr, sympy.Subs):
        body, bound, point = expr.args
        return _substitute_series(body, tuple(bound), list(point), h, order, memo)
    if isinstance(expr, sympy.Function) or all(isinstance(a, sympy.Expr) for a in expr.args):
        return _apply(expr, h, order, memo)
    raise ValueError(
        f"cannot expand {type(expr).__name__} object {expr} in powers of {h}; "
        "rewrite it with Add, Mul, Pow, functions, Derivative and Subs"
    )


def _power(base: _Series, n: int, order: int) -> _Series:
    result = None
    square = base
    while n:
        if n & 1:
            result = square if result is None else _mul(result, square, order)
        n >>= 1
        if n:
            square = _mul(square, square, order)
    assert result is not None  # n >= 1
    return result


def _apply(expr, h, order, memo) -> _Series:
    """Taylor-expand a function application whose arguments depend on h."""
    args = expr.args
    which = [k for k, a in enumerate(args) if a.has(h)]
    dummies = _fresh_dummies(len(which))
    new_args = list(args)
    for y, k in zip(dummies, which, strict=True):
        new_args[k] = y
    try:
        body = expr.func(*new_args)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"cannot expand {expr} in powers of {h}: rebuilding {expr.func} failed ({err})"
        ) from err
    return _substitute_series(body, dummies, [args[k] for k in which], h, order, memo)


def _substitute_series(body, bound, point, h, order, memo) -> _Series:
    """Series of ``body(bound = point)``, Taylor-expanding about the h^0 part of ``point``."""
    point_series = [_series(p, h, order, memo) for p in point]
    base = [s[0] for s in point_series]
    deltas = [[S.Zero, *s[1:]] for s in point_series]
    body_series = _series(body, h, order, memo) if body.has(h) else _const(body, order)
    out = _zeros(order)
    for j, coeff in enumerate(body_series):
        if coeff is S.Zero:
            continue
        part = _taylor(coeff, bound, base, deltas, order - j)
        for n, c in enumerate(part):
            if c is not S.Zero:
                out[n + j] = out[n + j] + c
    return [_expand(c) for c in out]


def expand_in_h(expr: Any, h: Any, order: int) -> Any:
    r"""Expand an expression (or Matrix) in powers of ``h``, truncated after ``h^order``.

    Works by structural recursion: sums and products of truncated series are
    formed directly, and every function application whose arguments depend on
    ``h`` -- ``exp``, ``sin``, an undefined ``L(...)``, a non-integer power, a
    ``Subs`` produced by ``expr.subs(x, x - h*g)`` -- is Taylor-expanded about
    the ``h^0`` part of its arguments with cached derivatives.  Shared
    subexpressions are expanded once.  The result is exact.

    Build gradients at shifted points on separate symbols,
    ``grad(y).subs(zip(y, point))``, rather than with
    ``grad(x).subs(zip(x, point), simultaneous=True)``: for undefined
    functions the latter makes sympy ``Subs`` objects whose bound variable
    captures the ``x`` inside the other arguments, which is a different
    expression.  Running the update rule on ``HPoint`` avoids the issue.

    Parameters
    ----------
    expr : sympy.Expr or sympy.Matrix
        Analytic in ``h`` at ``h = 0``.
    h : sympy.Symbol
    order : int
        Keep ``h^0, ..., h^order``.

    Returns
    -------
    sympy.Expr or sympy.Matrix
        $\sum_{j=0}^{\text{order}} h^j c_j$ with each ``c_j`` passed
        through ``sympy.expand``.

    Examples
    --------
    >>> import sympy
    >>> x, h = sympy.symbols("x h")
    >>> expand_in_h(sympy.exp(x + h), h, 2)
    h**2*exp(x)/2 + h*exp(x) + exp(x)
    """
    order = check_order(order)
    if not isinstance(h, sympy.Symbol):
        raise ValueError(f"expected `h` to be a sympy Symbol, got {h!r}")
    memo: dict = {}
    if isinstance(expr, sympy.MatrixBase):
        return expr.applyfunc(lambda e: _to_expr(_series(exact(e), h, order, memo), h))
    return _to_expr(_series(exact(expr), h, order, memo), h)


def _polynomial_series(expr, h, order: int, what: str) -> _Series:
    """Coefficients of an expression that must be a polynomial in ``h``."""
    expr = exact(expr)
    if expr.has(h) and not expr.is_polynomial(h):
        raise ValueError(
            f"expected {what} to be a polynomial in {h}, got {expr}; "
            f"expand it first with expand_in_h(expr, {h}, order)"
        )
    return _series(expr, h, order, {})


def taylor_at(expr: Any, variables: Any, shift: Any, h: Any, order: int) -> Any:
    r"""Taylor expansion in ``h`` of ``expr(x + shift)``, truncated after ``h^order``.

    $$\text{expr}(x + s) = \sum_{|\alpha| \le \text{order}}
    \frac{\partial^\alpha \text{expr}(x)}{\alpha!}\, s^\alpha + O(h^{\text{order}+1}),$$

    valid because every shift $s_i$ is $O(h)$.  Derivatives are
    cached across calls.

    Parameters
    ----------
    expr : sympy.Expr
        An expression in ``variables``; may contain ``h`` polynomially.  May
        contain undefined functions (their derivatives stay ``Derivative``
        objects).
    variables : sequence of sympy.Symbol
    shift : sequence of sympy.Expr
        One per variable, each a polynomial in ``h`` with no ``h^0`` term.
    h : sympy.Symbol
    order : int

    Returns
    -------
    sympy.Expr
        A polynomial in ``h`` of degree at most ``order``.

    Raises
    ------
    ValueError
        If a shift has an ``h^0`` part, if ``expr`` or a shift is not
        polynomial in ``h``, or on malformed variables / order.

    Examples
    --------
    >>> import sympy
    >>> x, h = sympy.symbols("x h")
    >>> taylor_at(x**3, [x], [h], h, 2)
    3*h**2*x + 3*h*x**2 + x**3
    """
    variables = as_variables(variables, h)
    order = check_order(order)
    deltas = []
    shift = list(shift)
    if len(shift) != len(variables):
        raise ValueError(
            f"expected one shift per variable ({len(variables)}), got {len(shift)} shifts"
        )
    for v, s in zip(variables, shift, strict=True):
        series = _polynomial_series(s, h, order, f"the shift of {v}")
        if series[0] is not S.Zero:
            raise ValueError(
                f"expected the shift of {v} to be O({h}) (no {h}**0 term), got {s} whose "
                f"{h}**0 part is {series[0]}; move that part into the expansion point"
            )
        deltas.append(series)
    expr_series = _polynomial_series(expr, h, order, "`expr`")
    out = _zeros(order)
    for j, coeff in enumerate(expr_series):
        if coeff is S.Zero:
            continue
        part = _taylor(coeff, variables, variables, deltas, order - j)
        for n, c in enumerate(part):
            out[n + j] = out[n + j] + c
    return _to_expr([_expand(c) for c in out], h)


# --------------------------------------------------------------------------
# flows and modified fields
# --------------------------------------------------------------------------


class _FlowCoefficients:
    r"""Coefficients of the time-h flow of $g = \sum_j h^j f_j$, built lazily.

    ``V[m][i]`` is the $h^i$ coefficient of $D_g^{m-1} g$, so that
    $V_1 = g$ and $V_{m+1}[i] = \sum_{a+b=i} (\partial V_m[a]) f_b$.
    The $h^n$ coefficient of the flow minus ``x`` is
    $\sum_{m=1}^{n} V_m[n-m] / m!$; for ``m >= 2`` only
    $f_0, \dots, f_{n-2}$ enter, which is what lets ``modified_field``
    solve for $f_{n-1}$ order by order.  ``fields`` and every ``V`` hold
    ring elements (``bea.coordinates._atoms``): each Jacobian entry is
    differentiated once and reused.
    """

    def __init__(self, variables: Any) -> None:
        self.variables = variables
        self.fields: list[list] = []  # f_0, f_1, ... (ring elements)
        self._v: dict[tuple[int, int], list] = {}
        self._jac: dict[tuple[int, int], list] = {}

    def _jacobian(self, m, a):
        key = (m, a)
        jac = self._jac.get(key)
        if jac is None:
            vec = self.v(m, a)
            jac = [[_ring.derivative(comp, x) for x in self.variables] for comp in vec]
            self._jac[key] = jac
        return jac

    def v(self, m: int, i: int) -> list:
        if m == 1:
            return self.fields[i]
        key = (m, i)
        out = self._v.get(key)
        if out is not None:
            return out
        d = len(self.variables)
        out = [{} for _ in range(d)]
        for a in range(i + 1):
            jac = self._jacobian(m - 1, a)
            fb = self.fields[i - a]
            for r in range(d):
                row = jac[r]
                for c in range(d):
                    if row[c] and fb[c]:
                        _ring.add_into(out[r], _ring.mul(row[c], fb[c]))
        self._v[key] = out
        return out

    def higher(self, n: int) -> list:
        """$\\sum_{m=2}^{n} V_m[n-m]/m!$, the h^n coefficient without f_{n-1}."""
        d = len(self.variables)
        acc: list[dict] = [{} for _ in range(d)]
        for m in range(2, n + 1):
            vec = self.v(m, n - m)
            w = _ring.fmpq(1, math.factorial(m))
            for a, c in zip(acc, vec, strict=True):
                _ring.add_into(a, c, w)
        return acc


def flow_map(field: Any, variables: Any, h: Any, order: int) -> sympy.Matrix:
    r"""Time-``h`` flow of ``field``, truncated after ``h^order``.

    $$\varphi_h(x) = x + \sum_{k=1}^{\text{order}} \frac{h^k}{k!}
    (D_g^{k-1} g)(x), \qquad D_g v = \frac{\partial v}{\partial x} g,$$

    where ``g = field`` may contain ``h`` polynomially (its ``h`` powers are
    collected into the series before truncation).

    Parameters
    ----------
    field : sympy.Matrix
        Column of ``d`` expressions in ``variables`` (and ``h``).
    variables : sequence of sympy.Symbol
    h : sympy.Symbol
    order : int

    Returns
    -------
    sympy.Matrix
        Column matrix, each entry a polynomial in ``h`` of degree at most ``order``.

    Examples
    --------
    >>> import sympy
    >>> x, h = sympy.symbols("x h")
    >>> flow_map(sympy.Matrix([x]), [x], h, 3)  # x e^h
    Matrix([[h**3*x/6 + h**2*x/2 + h*x + x]])
    """
    variables = as_variables(variables, h)
    order = check_order(order)
    d = len(variables)
    entries = _as_vector(field, d, "field")
    series = [_polynomial_series(e, h, order, "each field entry") for e in entries]
    flow = _FlowCoefficients(variables)
    flow.fields = [[_ring.from_expr(series[r][j]) for r in range(d)] for j in range(order + 1)]
    out = [[x] for x in variables]
    for n in range(1, order + 1):
        higher = flow.higher(n)
        coeff = [_ring.add(f, g) for f, g in zip(flow.fields[n - 1], higher, strict=True)]
        for r in range(d):
            out[r].append(_ring.to_expr(coeff[r]))
    return sympy.Matrix([_to_expr(row, h) for row in out])


def _step_map_series(step_map, variables, h, order) -> list[list]:
    """Coefficient vectors ``[d_0, d_1, ..., d_order]`` of the step map."""
    d = len(variables)
    if isinstance(step_map, HPoint):
        point = step_map
        if point.variables != variables or point.h != h:
            raise ValueError(
                "the HPoint step map was built on variables "
                f"{list(point.variables)} and step {point.h}, but modified_field was called "
                f"with {list(variables)} and {h}; use the same symbols"
            )
        if point.order < order:
            raise ValueError(
                f"modified_field to order {order - 1} needs the step map through "
                f"{h}**{order}, but the HPoint is truncated after {h}**{point.order}; "
                f"build it with HPoint.identity(variables, h, {order})"
            )
        return [[point.coefficients[r][j] for r in range(d)] for j in range(order + 1)]
    entries = _as_vector(step_map, d, "step_map")
    memo: dict = {}
    series = [_series(e, h, order, memo) for e in entries]
    return [[series[r][j] for r in range(d)] for j in range(order + 1)]


def _step_map_rings(step_map, variables, h, order) -> list[list]:
    """``_step_map_series`` with ring elements; a polynomial in ``h`` is split in the ring."""
    d = len(variables)
    if isinstance(step_map, HPoint):
        _step_map_series(step_map, variables, h, order)  # the checks
        rows = step_map._ring_rows()
        return [[rows[r][j] for r in range(d)] for j in range(order + 1)]
    entries = _as_vector(step_map, d, "step_map")
    split = [_ring_powers_of(e, h, order) for e in entries]
    rings = [s for s in split if s is not None]
    if len(rings) == d:
        return [[rings[r][j] for r in range(d)] for j in range(order + 1)]
    return [
        [_ring.from_expr(c) for c in row] for row in _step_map_series(step_map, variables, h, order)
    ]


def _ring_powers_of(expr, h, order: int) -> list | None:
    """The coefficients of h^0 .. h^order of a polynomial in ``h`` (None if it is not one).

    ``h`` is an atom of the ring; the split needs it nowhere else (not inside
    a function, a denominator or a sign).
    """
    p = _ring.from_expr(expr)
    hi = _ring.atom_index(h)
    out: list[dict] = [{} for _ in range(order + 1)]
    for m, c in p.items():
        j = 0
        rest = []
        for k, e in m:
            if k == hi:
                j = e
            else:
                rest.append((k, e))
        if j < 0:
            return None
        if j <= order:
            out[j][tuple(rest)] = c
    if _ring.needs(p, _depends_on(h)):
        return None
    return out


@functools.lru_cache(maxsize=64)
def _depends_on(h):
    """A test ``atom -> bool``: the atom is not ``h`` and contains it (one per ``h``)."""
    return lambda atom: atom != h and h in atom.free_symbols


def modified_field(step_map: Any, variables: Any, h: Any, order: int) -> sympy.Matrix:
    r"""Modified field of a one-step map, $\tilde f = \sum_{k=0}^{\text{order}} h^k f_k$.

    The flow of $\tilde f$ over time ``h`` reproduces the map:
    $\varphi_h[\tilde f] = \Phi_h + O(h^{\text{order}+2})$.  Writing
    $\Phi_h(x) = x + \sum_{j \ge 1} h^j d_j(x)$, the terms are found order
    by order,

    $$f_k = d_{k+1} - [h^{k+1}]\, \varphi_h\Big[\sum_{j<k} h^j f_j\Big],$$

    with the flow coefficients reused between orders (see ``flow_map``).  No
    factor ``h`` is attached to $\tilde f$.  Maps that are not
    polynomial in ``h`` (``L`` evaluated at ``x - h \nabla L(x)``, Runge--Kutta
    stages, ...) are first expanded with ``expand_in_h``.

    Parameters
    ----------
    step_map : sympy.Matrix or HPoint
        Column of ``d`` expressions $\Phi_h(x)$ in ``variables`` and
        ``h``; or an ``HPoint`` truncated after at least ``h^(order+1)``.
    variables : sequence of sympy.Symbol
        Distinct symbols, one per coordinate.
    h : sympy.Symbol
    order : int
        Highest power of ``h`` kept in $\tilde f$.

    Returns
    -------
    sympy.Matrix
        Column matrix $\sum_{k=0}^{\text{order}} h^k f_k$, each
        $f_k$ normalised by ``sympy.expand``.

    Raises
    ------
    ValueError
        If $\Phi_0 \ne x$ (the map is not ``x + O(h)``), if the
        variables are not distinct Symbols, if ``order`` is not a
        non-negative int, or if ``step_map`` has the wrong shape.

    Examples
    --------
    >>> import sympy
    >>> x, h = sympy.symbols("x h")
    >>> modified_field(sympy.Matrix([x + h * x]), [x], h, 3)  # log(1 + h) x / h
    Matrix([[-h**3*x/4 + h**2*x/3 - h*x/2 + x]])
    """
    variables = as_variables(variables, h)
    order = check_order(order)
    d = len(variables)
    coeffs = _step_map_rings(step_map, variables, h, order + 1)
    at_zero = [_ring.to_expr(c) for c in coeffs[0]]
    mismatch = [(v, c) for v, c in zip(variables, at_zero, strict=True) if _final(c - v) != 0]
    if mismatch:
        shown = ", ".join(f"{v} -> {c}" for v, c in mismatch)
        raise ValueError(
            f"expected a one-step map Phi_h(x) = x + O({h}); at {h} = 0 the map gives "
            f"{shown} instead of the identity. Write the map as the current point plus "
            f"an update of order {h}, e.g. Matrix([{variables[0]} - {h}*L.diff({variables[0]}), "
            "...])"
        )
    flow = _FlowCoefficients(variables)
    fields = []
    for k in range(order + 1):
        higher = flow.higher(k + 1)
        fk = [_ring.sub(a, b) for a, b in zip(coeffs[k + 1], higher, strict=True)]
        fields.append(fk)
        flow.fields.append(fk)
    return sympy.Matrix(
        [_to_expr([_ring.to_expr(fields[k][r]) for k in range(order + 1)], h) for r in range(d)]
    )


# --------------------------------------------------------------------------
# points with coordinates in truncated power series
# --------------------------------------------------------------------------


class HPoint:
    r"""A point of $\mathbb R^d$ whose coordinates are truncated series in ``h``.

    Coordinate ``r`` is $\sum_{j=0}^{\text{order}} h^j c_{r,j}$ with
    ``h``-free coefficients $c_{r,j}$ (expressions in ``variables``).
    Optimizer update rules written over points run on ``HPoint`` to produce
    their one-step map, e.g. Nesterov

    >>> import sympy
    >>> x1, x2, h, beta = sympy.symbols("x1 x2 h beta")
    >>> L = x1**2 + 3 * x2**2
    >>> step = gradient_step(L, [x1, x2], h, 2)
    >>> x = HPoint.identity([x1, x2], h, 2)
    >>> x_prev = x - step(x)  # previous iterate, here to first order
    >>> y = x + beta * (x - x_prev)
    >>> (y + step(y)).to_matrix()[0]  # x1 - 2 h (1 + beta) x1 + 4 beta h^2 x1
    4*beta*h**2*x1 + h*(-2*beta*x1 - 2*x1) + x1

    Operations: ``p + q``, ``p - q``, ``-p``, ``c * p``, ``p * c``, ``p / c``,
    ``p + c``, ``c - p`` for scalars ``c`` (int, ``Fraction``, float read as its
    decimal, sympy expressions free of ``variables``, possibly polynomial in
    ``h``; a scalar added to a point is added to every coordinate), the
    coordinate-wise product ``p * q``, quotient ``p / q``, ``c / p`` and power
    ``p ** k`` of points, ``apply`` for a coordinate-wise function, and
    ``evaluate`` / ``evaluate_field`` for functions of the point.  All results
    are truncated after ``h^order``. This one point type serves every
    coordinate-wise computation: optimizer programs, and (with a ``reduce``
    step that normalises signs, see ``bea.coordinates._adaptive``) sign,
    RMSProp and Adam.
    """

    __slots__ = ("_coefficients", "_rings", "h", "order", "reduce", "variables")

    def __init__(self, coefficients: Any, variables: Any, h: Any, order: int) -> None:
        variables = as_variables(variables, h)
        order = check_order(order)
        rows = [list(row) for row in coefficients]
        if len(rows) != len(variables) or any(len(r) != order + 1 for r in rows):
            raise ValueError(
                f"expected {len(variables)} coordinates of {order + 1} coefficients each "
                f"(h**0 .. h**{order}), got lengths {[len(r) for r in rows]}"
            )
        self._coefficients: tuple | None = tuple(tuple(exact(c) for c in row) for row in rows)
        self._rings: tuple | None = None
        self.variables = variables
        self.h = h
        self.order = order
        #: applied to every coefficient that ``apply`` produces and that contains an
        #: ``Abs`` or a half-integer power (None: kept as is)
        self.reduce: Callable | None = None

    @classmethod
    def _raw(cls, rows: Any, variables: tuple, h: Any, order: int, reduce: Callable | None = None):
        """A point from checked parts, without validation (engines on hot paths)."""
        out = object.__new__(cls)
        out._coefficients = tuple(tuple(r) for r in rows)
        out._rings = None
        out.variables = variables
        out.h = h
        out.order = order
        out.reduce = reduce
        return out

    @classmethod
    def _from_rings(cls, rows, variables: tuple, h: Any, order: int, reduce=None) -> HPoint:
        """A point whose coefficients are ring elements (``bea.coordinates._atoms``)."""
        out = object.__new__(cls)
        out._coefficients = None
        out._rings = tuple(tuple(r) for r in rows)
        out.variables = variables
        out.h = h
        out.order = order
        out.reduce = reduce
        return out

    @property
    def coefficients(self) -> tuple:
        """``coefficients[r][j]``: the ``h^j`` coefficient of coordinate ``r`` (sympy)."""
        c = self._coefficients
        if c is None:
            assert self._rings is not None  # one of the two forms is always held
            c = tuple(tuple(_ring.to_expr(q) for q in row) for row in self._rings)
            self._coefficients = c
        return c

    @coefficients.setter
    def coefficients(self, rows) -> None:
        self._coefficients = tuple(tuple(exact(c) for c in r) for r in rows)
        self._rings = None

    def _ring_rows(self) -> tuple:
        """The coefficients as ring elements (converted once)."""
        r = self._rings
        if r is None:
            assert self._coefficients is not None  # one of the two forms is always held
            r = tuple(tuple(_ring.from_expr(c) for c in row) for row in self._coefficients)
            self._rings = r
        return r

    # construction ---------------------------------------------------------
    @classmethod
    def identity(cls, variables, h, order: int) -> HPoint:
        """The point ``x`` itself: coordinate ``r`` is ``variables[r] + 0 h + ...``."""
        variables = as_variables(variables, h)
        order = check_order(order)
        return cls([_const(v, order) for v in variables], variables, h, order)

    @classmethod
    def from_expressions(cls, exprs, variables, h, order: int) -> HPoint:
        """Point with coordinates ``exprs`` (analytic in ``h``), expanded with ``expand_in_h``."""
        variables = as_variables(variables, h)
        order = check_order(order)
        entries = _as_vector(exprs, len(variables), "exprs")
        memo: dict = {}
        return cls([_series(e, h, order, memo) for e in entries], variables, h, order)

    def _new(self, rows) -> HPoint:
        return HPoint._raw(rows, self.variables, self.h, self.order, self.reduce)

    def _new_ring(self, rows) -> HPoint:
        return HPoint._from_rings(rows, self.variables, self.h, self.order, self.reduce)

    # views ----------------------------------------------------------------
    @property
    def dimension(self) -> int:
        return len(self.variables)

    def coefficient(self, j: int) -> sympy.Matrix:
        """Column of the ``h^j`` coefficients."""
        return sympy.Matrix([row[j] for row in self.coefficients])

    def to_matrix(self) -> sympy.Matrix:
        """Column of the coordinates as polynomials in ``h``."""
        return sympy.Matrix([_to_expr(list(row), self.h) for row in self.coefficients])

    def __repr__(self) -> str:
        entries = ", ".join(str(e) for e in self.to_matrix())
        return f"HPoint([{entries}], order={self.order})"

    # arithmetic -------------------------------------------------------------
    def _check_same(self, other: HPoint):
        if (other.variables, other.h, other.order) != (self.variables, self.h, self.order):
            raise ValueError(
                "cannot combine HPoints built on different variables, step or order: "
                f"{(list(self.variables), self.h, self.order)} vs "
                f"{(list(other.variables), other.h, other.order)}"
            )

    def _scalar(self, c) -> _Series:
        if isinstance(c, HPoint):
            raise TypeError("expected a scalar, got an HPoint")
        if not isinstance(c, (Integral, Fraction, float, sympy.Expr)):
            raise TypeError(f"cannot scale an HPoint by {type(c).__name__} {c!r}")
        expr = exact(c)
        clash = expr.free_symbols & set(self.variables)
        if clash:
            raise ValueError(
                f"a scalar factor must be free of the variables, got {expr} depending on "
                f"{sorted(map(str, clash))}; to use a function of the point, call "
                "point.evaluate(expr)"
            )
        return _series(expr, self.h, self.order, {})

    def _scalar_ring(self, c) -> list:
        return [_ring.from_expr(x) for x in self._scalar(c)]

    def __add__(self, other):
        if not isinstance(other, HPoint):
            try:
                c = self._scalar_ring(other)
            except TypeError:
                return NotImplemented
            return self._new_ring(
                [[_ring.add(a, b) for a, b in zip(r, c)] for r in self._ring_rows()]
            )
        self._check_same(other)
        return self._new_ring(
            [
                [_ring.add(a, b) for a, b in zip(r, s, strict=True)]
                for r, s in zip(self._ring_rows(), other._ring_rows(), strict=True)
            ]
        )

    __radd__ = __add__

    def __sub__(self, other):
        if not isinstance(other, HPoint):
            return self + (-other)
        self._check_same(other)
        return self._new_ring(
            [
                [_ring.sub(a, b) for a, b in zip(r, s, strict=True)]
                for r, s in zip(self._ring_rows(), other._ring_rows(), strict=True)
            ]
        )

    def __rsub__(self, other):
        return (-self) + other

    def __neg__(self):
        return self._new_ring([[_ring.scale(a, _MINUS) for a in r] for r in self._ring_rows()])

    def __pos__(self):
        return self

    def __mul__(self, other):
        if isinstance(other, HPoint):
            self._check_same(other)
            return self._new_ring(
                [
                    _ring_mul_rows(r, s, self.order)
                    for r, s in zip(self._ring_rows(), other._ring_rows(), strict=True)
                ]
            )
        try:
            c = self._scalar_ring(other)
        except TypeError:
            return NotImplemented
        return self._new_ring([_ring_mul_rows(r, c, self.order) for r in self._ring_rows()])

    __rmul__ = __mul__

    def __truediv__(self, other):
        if isinstance(other, HPoint):
            return self * other.apply(lambda y: 1 / y)
        c = self._scalar(other)
        inverse = _series(1 / _to_expr(c, self.h), self.h, self.order, {})
        inv = [_ring.from_expr(x) for x in inverse]
        return self._new_ring([_ring_mul_rows(r, inv, self.order) for r in self._ring_rows()])

    def __rtruediv__(self, other):
        return self.apply(lambda y: 1 / y) * other

    def __pow__(self, k):
        if k == 2:
            return self * self
        return self.apply(lambda y: y**k)

    # functions of the point -------------------------------------------------
    def _evaluate_ring(self, expr, order: int) -> list:
        """``expr`` at this point as a list of ring elements (h^0 .. h^order)."""
        expr_series = _polynomial_series(expr, self.h, order, "`expr`")
        rows = self._ring_rows()
        base = [_ring.to_expr(row[0]) for row in rows]
        deltas = [{j: row[j] for j in range(1, order + 1) if row[j]} for row in rows]
        out: list[dict] = [{} for _ in range(order + 1)]
        for j, coeff in enumerate(expr_series):
            if coeff is S.Zero:
                continue
            part = _ring_taylor(coeff, self.variables, base, deltas, order - j)
            for n, c in enumerate(part):
                _ring.add_into(out[n + j], c)
        return out

    def _evaluate_series(self, expr, order: int) -> _Series:
        return [_ring.to_expr(c) for c in self._evaluate_ring(expr, order)]

    def evaluate(self, expr: Any) -> sympy.Expr:
        r"""``expr`` (in ``variables``, polynomial in ``h``) evaluated at this point.

        Taylor-expands about the ``h^0`` part of the point with ``taylor_at``'s
        machinery; returns a polynomial in ``h`` truncated after ``h^order``.
        """
        return _to_expr(self._evaluate_series(expr, self.order), self.h)

    def evaluate_field(self, field: Any) -> HPoint:
        """Vector field (column of ``d`` expressions in ``variables``) at this point."""
        entries = _as_vector(field, self.dimension, "field")
        return self._new_ring([self._evaluate_ring(e, self.order) for e in entries])

    def apply(self, func: Callable) -> HPoint:
        """Coordinate-wise function: coordinate ``r`` becomes ``func(coordinate r)``.

        ``func`` maps a sympy expression to a sympy expression (e.g.
        ``sympy.sqrt`` or ``lambda t: t / (1 + t**2)``) and must be analytic at
        the ``h^0`` part of each coordinate.
        """
        y = _DUMMIES[0]
        body = exact(func(y))
        rows = []
        for row in self._ring_rows():
            delta = {j: row[j] for j in range(1, self.order + 1) if row[j]}
            series = _ring_taylor(body, (y,), (_ring.to_expr(row[0]),), [delta], self.order)
            rows.append([_reduced(self.reduce, c) for c in series])
        return self._new_ring(rows)


_MINUS = _ring.fmpq(-1)


def _reducible(atom) -> bool:
    """Whether ``atom`` holds an ``Abs`` or a power with a half-integer exponent."""
    if atom.has(sympy.Abs):
        return True
    return any(
        e.is_Pow and e.exp.is_Rational and not e.exp.is_Integer and e.exp.q == 2
        for e in sympy.preorder_traversal(atom)
    )


def _reduced(reduce: Callable | None, p: dict) -> dict:
    """``reduce`` applied to a ring element, where it can change something."""
    if reduce is None or not _ring.needs(p, _reducible):
        return p
    return _ring.from_expr(reduce(_ring.to_expr(p)))


def _ring_mul_rows(a, b, order: int) -> list:
    """Truncated product of two series given as lists of ring elements."""
    ra = {i: c for i, c in enumerate(a) if c}
    rb = {j: c for j, c in enumerate(b) if c}
    return _ring_series_mul(ra, rb, order)


def gradient_step(loss: Any, variables: Any, h: Any, order: int) -> Callable[[HPoint], HPoint]:
    r"""The gradient step $y \mapsto -h \nabla L(y)$ acting on ``HPoint`` objects.

    Gradient descent's one-step map is ``x + step(x)`` with
    ``x = HPoint.identity(variables, h, order)``.  The gradient is formed once;
    its Taylor coefficients at each point reuse cached derivatives.

    Parameters
    ----------
    loss : sympy.Expr
        Scalar loss in ``variables`` (may be an undefined ``Function``).
    variables : sequence of sympy.Symbol
    h : sympy.Symbol
    order : int
        Truncation order of the points the step will act on.

    Returns
    -------
    callable
        ``step(point) -> HPoint``, truncated after ``h^order``.

    Examples
    --------
    >>> import sympy
    >>> x, h = sympy.symbols("x h")
    >>> step = gradient_step(x**2 / 2, [x], h, 2)
    >>> x0 = HPoint.identity([x], h, 2)
    >>> (x0 + step(x0)).to_matrix()  # x - h x
    Matrix([[-h*x + x]])
    >>> (x0 + step(x0 + step(x0))).to_matrix()  # extragradient: x - h (x - h x)
    Matrix([[h**2*x - h*x + x]])
    """
    variables = as_variables(variables, h)
    order = check_order(order)
    loss = exact(loss)
    gradient = [_diff(loss, v) for v in variables]

    def step(point: HPoint) -> HPoint:
        if not isinstance(point, HPoint):
            raise TypeError(
                f"step expects an HPoint, got {type(point).__name__}; start from "
                "HPoint.identity(variables, h, order)"
            )
        if (point.variables, point.h, point.order) != (variables, h, order):
            raise ValueError(
                "the point and the gradient step disagree on variables, step or order: "
                f"{(list(point.variables), point.h, point.order)} vs "
                f"{(list(variables), h, order)}"
            )
        if order == 0:
            return point._new([[S.Zero] for _ in variables])
        rows = []
        for g in gradient:
            s = point._evaluate_ring(g, order - 1)
            rows.append([{}, *(_ring.scale(c, _MINUS) for c in s)])
        return point._new_ring(rows)

    return step
