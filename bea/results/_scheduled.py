"""The modified equation of an optimizer run with a step schedule h·η(t), t = n·h.

The scheduled iteration x ← Φ_{hη(t)}(x), t ← t + h is autonomous in (x, t).
Its modified field is that of the extended map; its t-component is 1 and its
x-component f̃_x(x, t) = Σ_k h^k f_k(x, t) carries η, η′, η″, … .

Two independent derivations:

* trees (memoryless B-series methods: gd, Runge–Kutta): the method's modified
  equation ω evaluated on the extended field F(x, t) = (η(t) f(x), 1), f = −∇L
  (a Runge–Kutta method moves t by exactly h since Σ b_i = 1);
* coordinates (any memoryless rule, coordinate-wise ones included): the
  rule run with step h·η(t) at a fixed t gives Φ_x(x, t); the modified field
  of (Φ_x, t + h) in the variables (x, t) is solved order by order.

For GD: f̃_x = −η∇[L + (hη/4)‖∇L‖²] + (h/2)η′∇L + O(h²). The x-part is, at
each t, the gradient field of L̃(x, t) = (η − hη′/2)L + (hη²/4)‖∇L‖²: the η′
terms are written as a time-dependent rescaling of L (``loss``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy
from sympy import S

from .._inputs import as_variables, check_order
from .._inputs import h as _default_h
from ..coordinates._adaptive import adaptive_map
from ..coordinates._hseries import modified_field
from ..methods._base import Engine
from ._base import Result
from ._equation import tree_modified_equation

if TYPE_CHECKING:
    from ..methods._training import Scheduled

__all__ = ["ScheduledModifiedEquation"]


class ScheduledModifiedEquation(Result):
    """f̃_x(x, t) of a scheduled optimizer through h^order (see the module docstring).

    ``.on(loss, variables)`` is the x-part as a column Matrix in the variables,
    ``bea.t`` and h (tree engine where the method is a B-series method,
    coordinate engine otherwise); ``.on_coordinates`` always uses the
    coordinate engine (the cross-check).
    """

    method: Scheduled

    def __init__(self, method: Scheduled, order: int) -> None:
        self.method = method
        self.order = check_order(order)

    def __repr__(self) -> str:
        return f"<ScheduledModifiedEquation of {self.method!r} through h^{self.order}>"

    def _time(self):
        from ..methods._training import T

        return T

    def _check(self, loss, variables, h):
        variables = as_variables(variables)
        T = self._time()
        if T in variables or h in variables:
            raise ValueError(f"the variables must not contain the time {T} or the step {h}")
        if not isinstance(loss, sympy.Expr) or isinstance(loss, sympy.MatrixBase):
            raise ValueError(f"a scheduled optimizer takes one scalar sympy loss, got {loss!r}")
        return variables

    def on(self, loss, variables, h=None) -> sympy.Matrix:
        """f̃_x through h^order on ``loss`` (f = −∇L), in the variables and ``bea.t``."""
        h = h or _default_h
        variables = self._check(loss, variables, h)
        base = self.method.base
        if base.kind.engine is Engine.TREES:
            T = self._time()
            eta = self.method.schedule
            field = sympy.Matrix([-eta * sympy.diff(loss, v) for v in variables] + [S.One])
            ext = tree_modified_equation(base, self.order).on(field, [*variables, T], h)
            return sympy.Matrix([sympy.expand(c) for c in ext[: len(variables)]])
        return self.on_coordinates(loss, variables, h)

    def on_coordinates(self, loss, variables, h=None) -> sympy.Matrix:
        """f̃_x by the coordinate engine: the extended map (Φ_{hη(t)}(x), t + h)."""
        h = h or _default_h
        variables = self._check(loss, variables, h)
        T = self._time()
        program = self.method.base.program()
        phi, _, _ = adaptive_map(
            program, loss, variables, self.order + 1, h, scale=self.method.schedule
        )
        rows = [sum((c * h**j for j, c in enumerate(row)), S.Zero) for row in phi]
        ext = modified_field(sympy.Matrix([*rows, T + h]), [*variables, T], h, self.order)
        return sympy.Matrix([sympy.expand(c) for c in ext[: len(variables)]])

    def loss(self, loss, variables, h=None) -> sympy.Expr:
        """L̃(x, t) with f̃_x = −∇_x L̃ + O(h²) for gradient descent (orders 0 and 1).

        L̃ = (η − hη′/2)L + (hη²/4)‖∇L‖²; checked exactly against ``on``.
        """
        h = h or _default_h
        variables = self._check(loss, variables, h)
        if self.order > 1:
            raise ValueError(
                "the time-dependent modified loss is given through h¹ (order=0 or 1); "
                f"got order={self.order}"
            )
        T = self._time()
        eta = self.method.schedule
        grads = [sympy.diff(loss, v) for v in variables]
        candidate = eta * loss
        if self.order == 1:
            candidate += -h * sympy.diff(eta, T) / 2 * loss + h * eta**2 / 4 * sympy.Add(
                *(g**2 for g in grads)
            )
        field = self.on(loss, variables, h)
        residual = [
            sympy.expand(field[r] + sympy.diff(candidate, v)) for r, v in enumerate(variables)
        ]
        if any(sympy.cancel(c) != 0 for c in residual):
            raise ValueError(
                f"the x-part of the modified field of {self.method!r} is not −∇L̃ for "
                "L̃ = (η − hη′/2)L + (hη²/4)‖∇L‖² (that form is gradient descent's)"
            )
        return candidate

    # -- the result contract -------------------------------------------------------
    def _generic(self) -> sympy.Matrix:
        x = sympy.Symbol("x")
        return self.on(sympy.Function("L")(x), [x])

    def terms(self, k: int | None = None) -> list:
        """(h^k, coefficient) of f̃_x on a generic loss L(x) in one dimension."""
        c = sympy.expand(self._generic()[0])
        ks = range(self.order + 1) if k is None else [k]
        return [(k_, c.coeff(_default_h, k_)) for k_ in ks]

    def text(self) -> str:
        return (
            f"modified field of {self.method!r} through h^{self.order}, x-part on L(x): "
            f"{self._generic()[0]}"
        )

    def latex(self) -> str:
        return r"\tilde f_x = " + sympy.latex(self._generic()[0])

    def to_dict(self) -> dict:
        return {
            "method": self._method_name(),
            "order": self.order,
            "engine": "scheduled",
            "normalisation": "f̃_x = Σ_k h^k f_k(x, t); t = n·h; the t-component is 1",
            "schedule": str(self.method.schedule),
            "terms": [[k, str(c)] for k, c in self.terms()],
        }

    def __str__(self) -> str:
        return self.text()
