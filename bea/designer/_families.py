"""Families of optimizers with unknown coefficients, for ``bea.design``.

Each constructor returns an ordinary ``bea.Method`` whose coefficients
are sympy symbols (or the numbers you pass instead): its B-series, modified
equation and modified loss are exact rational functions of the unknowns.
``step(y)`` is one gradient step −h∇L(y), f = −∇L.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sympy as sp

from .._inputs import exact
from ..methods._programs import Optimizer
from ..methods._runge_kutta import RungeKutta

__all__ = ["explicit", "lookahead", "momentum", "usam"]


def _coef(value: Any, name: str) -> sp.Expr:
    """A family coefficient: a fresh symbol ``name`` for None, else the exact value."""
    if value is None:
        return sp.Symbol(name)
    if isinstance(value, str):
        return sp.Symbol(value)
    return exact(value)


def explicit(
    stages: int,
    A: Sequence[Sequence[Any]] | None = None,
    b: Sequence[Any] | None = None,
    name: str | None = None,
) -> RungeKutta:
    """s-stage explicit gradient schemes with unknown coefficients.

    k_i = step(x + Σ_{j<i} a_ij k_j),   x⁺ = x + Σ_i b_i k_i,   step(y) = −h∇L(y),

    i.e. the explicit Runge–Kutta tableau (A strictly lower triangular, b) on
    f = −∇L. Entries are the symbols ``a21, a31, a32, …, b1, …, bs`` unless
    fixed by ``A`` / ``b`` (use None for "unknown" in a position). It costs s
    gradient evaluations per step.

    >>> import bea
    >>> fam = bea.families.explicit(2)
    >>> sorted(s.name for s in fam.symbols)
    ['a21', 'b1', 'b2']
    >>> bea.modified_equation(fam, 1).coefficient("[[]]")
    a21*b2 - b1**2/2 - b1*b2 - b2**2/2
    """
    if isinstance(stages, bool) or not isinstance(stages, int) or stages < 1:
        raise ValueError(f"stages must be an int >= 1, got {stages!r}")
    s = stages
    rows = [[0] * s for _ in range(s)]
    for i in range(s):
        for j in range(i):
            given = None
            if A is not None:
                try:
                    given = A[i][j]
                except (IndexError, TypeError) as exc:
                    raise ValueError(
                        f"A must be an {s}×{s} lower-triangular array (None for unknowns); "
                        f"entry ({i}, {j}) is missing"
                    ) from exc
            rows[i][j] = _coef(given, f"a{i + 1}{j + 1}")
    if b is not None and len(b) != s:
        raise ValueError(f"b must have {s} entries (None for unknowns), got {len(b)}")
    weights = [_coef(None if b is None else b[i], f"b{i + 1}") for i in range(s)]
    return RungeKutta(rows, weights, name=name or f"explicit{s}")


def _momentum_rule(x, state, step, alpha, beta, gamma):
    (x_prev,) = state
    v = x - x_prev
    return x + beta * v + alpha * step(x + gamma * v), (x,)


def momentum(alpha: Any = None, beta: Any = None, gamma: Any = None) -> Optimizer:
    """Heavy-ball-like two-step family with free coefficients.

    x⁺ = x + β(x − x₋) + α·step(x + γ(x − x₋)),   step(y) = −h∇L(y).

    Heavy ball is α = 1, γ = 0; Nesterov is α = 1, γ = β. Unknowns default to
    the symbols α, β, γ. Analysed through its underlying one-step method
    (|β| < 1); its leading term is f·α/(1 − β).
    """
    return Optimizer(
        _momentum_rule,
        lambda x: (x,),
        name="momentum",
        doc=momentum.__doc__,
        alpha=_coef(alpha, "alpha"),
        beta=_coef(beta, "beta"),
        gamma=_coef(gamma, "gamma"),
    )


def _lookahead_rule(k):
    def rule(x, state, step, **weights):
        y = x
        out = x
        for i in range(1, k + 1):
            y = y + step(y)
            out = out + weights[f"w{i}"] * (y - x)
        return out

    return rule


def lookahead(k: int, weights: Sequence[Any] | None = None) -> Optimizer:
    """Extrapolation of look-ahead iterates: x⁺ = x + Σ_i w_i (y_i − x).

    y_0 = x, y_i = y_{i−1} + step(y_{i−1}) (k gradient steps looked ahead);
    the new point is a weighted combination of the displacements. Lookahead
    (Zhang et al. 2019) is w_k = α and the rest 0; Richardson extrapolation of
    GD iterates is another member. Costs k gradients per step; time runs as
    one step h per call, so consistency is Σ_i i·w_i = 1.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    if weights is not None and len(weights) != k:
        raise ValueError(f"weights must have {k} entries (None for unknowns), got {len(weights)}")
    ws = {
        f"w{i + 1}": _coef(None if weights is None else weights[i], f"w{i + 1}") for i in range(k)
    }
    return Optimizer(_lookahead_rule(k), name=f"lookahead{k}", doc=lookahead.__doc__, **ws)


def _usam_rule(x, state, step, c):
    return x + step(x - c * step(x))


def usam(c: Any = None) -> Optimizer:
    """Unnormalised SAM with an unknown radius ratio c (ρ = c·h).

    x⁺ = x − h∇L(x + c·h∇L(x)); over points ``x + step(x - c*step(x))``.
    """
    return Optimizer(_usam_rule, name="usam", doc=usam.__doc__, c=_coef(c, "c"))
