"""Refuse losses that are not smooth.

Backward error analysis expands the one-step map and the modified field in
Taylor series: the terms of order h^k contain derivatives of the loss up to
order k + 1 (F([t1..tm]) = f^{(m)}(…) with f = −∇L). A loss built with
``abs``, ``max``, ``min``, ``sign`` or a step function of the variables has
no such derivatives where the argument changes branch (sympy's derivatives
there are ``DiracDelta`` and ``Heaviside``), so its modified equation is not
defined. ``check_smooth`` says so with the offending term and a smooth
replacement instead of failing later inside a derivation or a lambdified
field.
"""

from __future__ import annotations

from collections.abc import Iterable

import sympy as sp

__all__ = ["check_smooth", "nonsmooth_terms"]

#: sympy classes that are not differentiable everywhere in their arguments, with a
#: smooth replacement to suggest (eps a small positive constant)
_NONSMOOTH: dict[type, tuple[str, str]] = {
    sp.Abs: ("abs", "sqrt(x**2 + eps**2) for abs(x), such as sqrt(x**2 + 1e-4)"),
    sp.Max: ("max", "(a + b + sqrt((a - b)**2 + eps**2))/2 for max(a, b), or softplus"),
    sp.Min: ("min", "(a + b - sqrt((a - b)**2 + eps**2))/2 for min(a, b)"),
    sp.sign: ("sign", "tanh(x/eps) for sign(x)"),
    sp.Heaviside: ("a step function", "sigmoid(x/eps) for a step at x = 0"),
    sp.DiracDelta: ("DiracDelta", "a smooth bump such as exp(-x**2/eps**2)"),
    sp.Piecewise: ("a piecewise expression", "one smooth expression"),
    sp.floor: ("floor", "a smooth expression"),
    sp.ceiling: ("ceiling", "a smooth expression"),
}


def nonsmooth_terms(expr: sp.Expr, variables: Iterable[sp.Symbol] | None = None) -> list:
    """The subexpressions of ``expr`` that are not smooth in ``variables`` (default: all symbols).

    A term counts when it is one of abs, max, min, sign, Heaviside, DiracDelta,
    Piecewise, floor, ceiling and depends on a variable (``max(2, 3)`` is a
    number and does not count).

    Examples
    --------
    >>> import sympy as sp
    >>> x, y = sp.symbols("x y", real=True)
    >>> nonsmooth_terms(sp.Abs(x)**3 + y**2)
    [Abs(x)]
    >>> nonsmooth_terms(sp.Abs(x)**2 + y**2)  # |x|² = x² for real x
    []
    """
    wanted = set(variables) if variables is not None else None
    out = []
    for node in sp.preorder_traversal(expr):
        if isinstance(node, tuple(_NONSMOOTH)):
            free = node.free_symbols  # type: ignore[attr-defined]
            if free and (wanted is None or free & wanted):
                out.append(node)
    return out


def check_smooth(
    expr: sp.Expr, variables: Iterable[sp.Symbol] | None = None, what: str = "the loss"
) -> None:
    """Raise ValueError, with the offending term and a smooth replacement, unless smooth.

    Examples
    --------
    >>> import sympy as sp
    >>> x, y = sp.symbols("x y", real=True)
    >>> check_smooth(x**4 / 4 + sp.cos(y))  # smooth: no error
    >>> try:
    ...     check_smooth(sp.Max(x, y)**2)
    ... except ValueError as err:
    ...     print(str(err)[:36])
    the loss Max(x, y)**2 is not smooth:
    """
    bad = nonsmooth_terms(expr, variables)
    if not bad:
        return
    term = bad[0]
    name, fix = next(v for k, v in _NONSMOOTH.items() if isinstance(term, k))
    raise ValueError(
        f"{what} {expr} is not smooth: {name} is not differentiable everywhere ({term} has a "
        "kink or jump where its argument changes branch). Backward error analysis expands "
        "the loss in Taylor series and needs a smooth (infinitely differentiable) loss. "
        f"Use a smooth surrogate instead, e.g. {fix}"
    )
