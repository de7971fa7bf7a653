"""Exact zero tests shared by the optimizer tests (coefficients may be rational functions)."""

import sympy

import bea

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
