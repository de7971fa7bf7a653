"""Input handling shared by every engine: the step symbol, orders, variables, numbers.

One copy of each check and of its message, used by the tree engine, the
coordinate engine, the results and the code generator alike.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import sympy as sp

__all__ = [
    "Scalar",
    "as_variables",
    "check_order",
    "exact",
    "h",
    "no_step_symbol",
    "variable_groups",
]

#: A hyperparameter value: a number (floats are read as the decimal they print as) or a
#: sympy expression in symbols (coefficients are then rational functions of them).
Scalar = int | float | Fraction | sp.Expr

#: The step-size symbol used by default in concrete results.
h = sp.Symbol("h", positive=True)


def check_order(n: Any, name: str = "order") -> int:
    """``n`` as a non-negative int, or a ValueError naming ``name``."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ValueError(
            f"{name} must be a non-negative int, got {n!r} ({type(n).__name__}); pass e.g. {name}=2"
        )
    n = int(n)
    if n < 0:
        raise ValueError(f"{name} must be a non-negative int, got {n}; pass {name} >= 0")
    return n


def exact(value: Any) -> sp.Expr:
    """An exact sympy number/expression for a user scalar (floats read as the decimal they print).

    Accepts ints, Fractions, numbers.Rational, floats (finite) and sympy
    expressions; strings are rejected (parse them with the whitelist parser).
    """
    if isinstance(value, bool):
        raise TypeError(f"expected a number or sympy expression, got {value!r}")
    if isinstance(value, numbers.Integral):
        return sp.Integer(int(value))
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, numbers.Rational):
        return sp.Rational(int(value.numerator), int(value.denominator))
    if isinstance(value, float) or type(value).__name__ in ("float32", "float64", "float16"):
        f = float(value)
        if not math.isfinite(f):
            raise ValueError(f"expected a finite number, got {value!r}")
        return sp.Rational(repr(f))
    if isinstance(value, sp.Basic):
        expr = sp.sympify(value, strict=True)
        if expr.has(sp.Float):
            expr = sp.nsimplify(expr, rational=True)
        return expr
    raise TypeError(
        f"expected an int, Fraction, float or sympy expression, got {type(value).__name__}: "
        f"{value!r}"
    )


def as_variables(variables: Any, h: sp.Symbol | None = None) -> tuple[sp.Symbol, ...]:
    """Validate a sequence of distinct sympy Symbols (and that ``h`` is not one of them)."""
    if isinstance(variables, sp.Symbol):
        variables = (variables,)
    try:
        vs = tuple(variables)
    except TypeError:
        raise ValueError(
            f"expected `variables` to be a sequence of sympy Symbols, got {variables!r}; "
            "pass e.g. sympy.symbols('x y')"
        ) from None
    if not vs:
        raise ValueError("variables must name at least one sympy Symbol; got an empty sequence")
    for v in vs:
        if not isinstance(v, sp.Symbol):
            raise ValueError(
                f"variables must be sympy Symbols, got {v!r} ({type(v).__name__}); "
                "create them with sympy.symbols('x y')"
            )
    if len(set(vs)) != len(vs):
        dupes = sorted({str(v) for v in vs if vs.count(v) > 1})
        raise ValueError(
            f"variables must be distinct: expected distinct variables, got duplicates {dupes} "
            f"in {list(vs)}; give each coordinate its own Symbol"
        )
    if h is not None:
        if not isinstance(h, sp.Symbol):
            raise ValueError(
                f"expected the step size `h` to be a sympy Symbol, got {h!r}; "
                "use h = sympy.Symbol('h')"
            )
        if h in vs:
            raise ValueError(
                f"the step size {h} is also listed among the variables {list(vs)}; "
                "use a separate Symbol for h"
            )
    return vs


def no_step_symbol(variables: Any, h: sp.Symbol) -> None:
    """Reject the step symbol among (possibly grouped) variables."""
    if isinstance(variables, (list, tuple)):
        flat = [v for g in variables for v in (g if isinstance(g, (list, tuple)) else [g])]
    else:
        flat = [variables]
    if any(v == h for v in flat):
        raise ValueError(
            f"the step-size symbol {h} cannot be a variable; name the coordinates differently "
            "or pass another step symbol with h=..."
        )


def variable_groups(variables: Any) -> list[tuple] | None:
    """Variables grouped by player (a list of lists), as tuples; None when not grouped."""
    if (
        isinstance(variables, (list, tuple))
        and variables
        and all(isinstance(g, (list, tuple)) for g in variables)
    ):
        return [tuple(g) for g in variables]
    return None


def player_fields(
    losses: Any, groups: Sequence[tuple], flat: Sequence[sp.Symbol], colours: int
) -> list[sp.Matrix]:
    """f_c = −∇_{own variables} L_c for each player c, as full-length column vectors."""
    if not isinstance(losses, (list, tuple)) or len(losses) != len(groups):
        raise ValueError(
            f"with variables grouped by player ({len(groups)} groups) pass one loss per player; "
            f"got {losses!r}"
        )
    if len(groups) != colours:
        raise ValueError(f"this method has {colours} field(s) but {len(groups)} players were given")
    fields = []
    for c, (L, g) in enumerate(zip(losses, groups)):
        if not isinstance(L, sp.Expr) or isinstance(L, sp.MatrixBase):
            raise ValueError(f"loss of player {c} must be a scalar sympy expression, got {L!r}")
        own = set(g)
        fields.append(sp.Matrix([-sp.diff(L, v) if v in own else 0 for v in flat]))
    return fields
