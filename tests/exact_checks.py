"""Exact checks shared by the tests: zero tests (coefficients may be rational functions),
powers of h, and one-step maps run on the coordinate backend's HPoints."""

import sympy

import bea
from bea.coordinates import _hseries as coords

h = bea.h
x, y = sympy.symbols("x y")
p, q = sympy.symbols("p q")


def is_zero(expr) -> bool:
    """Exact zero test: expand, then cancel the coefficient of each monomial in x, y, p, q, h."""
    expr = sympy.expand(expr)
    if expr == 0:
        return True
    groups: dict = {}
    for term in sympy.Add.make_args(expr):
        coeff, rest = term.as_independent(x, y, p, q, h, as_Add=False)
        groups[rest] = groups.get(rest, 0) + coeff
    return all(sympy.cancel(c) == 0 for c in groups.values())


def same(a, b) -> bool:
    """Equal fields (Matrices, or lists of Matrices per player), entry by entry."""
    if isinstance(a, list):
        return len(a) == len(b) and all(same(u, v) for u, v in zip(a, b))
    a, b = sympy.Matrix(a), sympy.Matrix(b)
    return a.shape == b.shape and all(is_zero(u - v) for u, v in zip(a, b))


def is_zero_normal(expr) -> bool:
    """Exact zero test by normal forms: expand (which also splits exp(a − b) into
    exp(a)·exp(−b)), then cancel over a common denominator. It sees the exp/log
    identities that grouping by monomials in :func:`is_zero` misses."""
    expr = sympy.expand(expr)
    return expr == 0 or sympy.cancel(sympy.together(expr)) == 0


def matrix_is_zero(m) -> bool:
    """Every entry is zero by :func:`is_zero_normal`."""
    return all(is_zero_normal(e) for e in m)


def coefficient(expr, k, step=h):
    """``step``^k coefficient of a polynomial in ``step`` (scalar or Matrix)."""
    if isinstance(expr, sympy.MatrixBase):
        return expr.applyfunc(lambda e: sympy.expand(e).coeff(step, k))
    return sympy.expand(expr).coeff(step, k)


def truncate(m, order, step=h):
    """Drop powers of ``step`` above ``order`` from a Matrix of polynomials in it."""
    return m.applyfunc(lambda e: sum(coefficient(e, k, step) * step**k for k in range(order + 1)))


def rk4_points(loss, variables, order, step=h):
    """RK4 on f = −∇L run on HPoints (truncated after step^order)."""
    f = coords.gradient_step(loss, variables, step, order)
    p = coords.HPoint.identity(variables, step, order)
    k1 = f(p)
    k2 = f(p + k1 / 2)
    k3 = f(p + k2 / 2)
    k4 = f(p + k3)
    return p + (k1 + 2 * k2 + 2 * k3 + k4) / 6


def quadratic_gd_field(order: int, h: float = 0.05, seed: int = 0):
    """A quadratic L = xᵀAx/2 in R⁴ and GD's modified field at x0 through h^order, exactly.

    The exact modified flow is (1/h) log(I − hA) x = −Σ_k h^{k−1} A^k x / k; its
    truncation after h^order is returned with ``(A, x0)``.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    m = rng.normal(size=(4, 4))
    A = m @ m.T / 4 + np.eye(4)
    x0 = rng.normal(size=4)
    expected = -sum(
        h ** (k - 1) * np.linalg.matrix_power(A, k) @ x0 / k for k in range(1, order + 2)
    )
    return A, x0, expected
