"""The modified equation of a coordinate-wise optimizer (sign descent, RMSProp, Adam).

These methods have no B-series: the result is derived in coordinates, in the
dimension of the variables passed to ``AdaptiveModifiedEquation.on``, by
the coordinate engine (``bea.coordinates._adaptive``). See that module for the
regime (β's and ε fixed as h → 0, signs of ∂_rL locally constant).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import sympy
from sympy import S

from .._inputs import as_variables, check_order
from .._inputs import h as _default_h
from ..coordinates._adaptive import adaptive_map, sign_cases
from ..coordinates._hseries import modified_field
from ._base import Result

if TYPE_CHECKING:
    pass

__all__ = ["AdaptiveModifiedEquation"]


class AdaptiveModifiedEquation(Result):
    """The modified equation of a coordinate-wise optimizer, derived at ``on``.

    ``bea.modified_equation(bea.optimizers.adam(0.9, 0.999, eps), order=p)``
    returns this object; ``.on(loss, variables)`` runs the coordinate backend
    in the dimension of ``variables`` and returns the column Matrix
    f̃ = Σ_{k≤p} h^k f_k (f̃ carries no factor h: the time-h flow of f̃
    reproduces the memoryless one-step map Φ to O(h^{p+2})). Signs of the
    gradient's coordinates appear as symbols σ_r (see ``signs``).
    """

    def __init__(self, method, order: int):
        self.method = method
        self.order = check_order(order)
        self._last = None

    def __repr__(self) -> str:
        return (
            f"<AdaptiveModifiedEquation of {self.method!r} through h^{self.order}: "
            "coordinate-wise, derived in coordinates by .on(loss, variables)>"
        )

    def __str__(self) -> str:
        return self.text()

    # -- the result contract -------------------------------------------------------
    def terms(self, k: int | None = None) -> list:
        """Coordinate-wise results have no loss-free terms: they exist on a concrete loss."""
        raise ValueError(
            f"{self.method!r} is coordinate-wise: its modified equation has no tree terms; "
            "evaluate it on a loss with .on(loss, variables)"
        )

    def text(self) -> str:
        """What the result is (its field is derived on a concrete loss by ``on``)."""
        return (
            f"modified equation of {self.method!r} through h^{self.order}: coordinate-wise, "
            "derived in coordinates by .on(loss, variables)"
        )

    def latex(self) -> str:
        return "\\text{" + self.text().replace("^", "\\^{}") + "}"

    def to_dict(self) -> dict:
        return {
            "method": self._method_name(),
            "order": self.order,
            "engine": "coordinates",
            "normalisation": "f̃ = Σ_k h^k f_k; the time-h flow of f̃ reproduces the step map",
        }

    def _solve(self, loss, variables, h):
        variables = as_variables(variables)
        if isinstance(loss, (list, tuple, sympy.MatrixBase)) or not isinstance(loss, sympy.Expr):
            raise ValueError(
                f"a coordinate-wise optimizer takes one scalar sympy loss, got {loss!r}"
            )
        phi, states, ctx = adaptive_map(self.method, loss, variables, self.order + 1, h)
        step_map = sympy.Matrix([sum((c * h**j for j, c in enumerate(row)), S.Zero) for row in phi])
        field = modified_field(step_map, variables, h, self.order)
        field = field.applyfunc(lambda e: ctx.reduce(e))
        self._last = (phi, states, ctx)
        return field, phi, states, ctx

    def on(self, loss, variables, h=None) -> sympy.Matrix:
        """f̃ on a concrete (or undefined-function) sympy loss, through h^order."""
        field, *_ = self._solve(loss, variables, h or _default_h)
        return field

    def state_maps(self, loss, variables, h=None):
        """The states on the invariant manifold, ``[[S_i(x) per coordinate] per state]``."""
        h = h or _default_h
        _, _, states, _ = self._solve(loss, variables, h)
        return [
            sympy.Matrix([sum((c * h**j for j, c in enumerate(row)), S.Zero) for row in st])
            for st in states
        ]

    def sign_of(self, expr):
        """The sign symbol (±σ) standing for sign(expr) in the last ``on``."""
        if self._last is None:
            raise ValueError("call .on(loss, variables) first")
        return self._last[2].sign_of(expr, create=False)

    def signs(self) -> dict:
        """The sign symbols of the last ``on``: σ ↦ the expression whose sign it is."""
        if self._last is None:
            raise ValueError("call .on(loss, variables) first")
        return {s: u for u, s in self._last[2].signs.items()}

    def preconditioned_gradient(self, loss, variables, h=None, candidates=None) -> dict:
        """Whether f̃ = −P∇L̃ + O(h²) with P diagonal and L̃ = L + h·Ψ.

        P comes from the h⁰ term (f_0 = −P∇L); the h¹ term is tested against
        −P∇(h·Ψ) with Ψ a constant combination of ``candidates`` (a dict
        name → scalar expression; default ‖∇L‖₁ = Σ|∂_jL| and ‖∇L‖²), as an
        exact identity in the derivatives of L for every sign pattern.
        Returns ``{"P": Matrix, "loss": L̃ or None, "coefficients": {...},
        "reason": str or None}``. For Adam at ε = 0 this gives
        L̃ = L + h(β₁/(1−β₁) − β₂/(1−β₂))‖∇L‖₁ (Cattaneo, Klusowski & Shigida
        2024); for fixed ε > 0 in d ≥ 2 the h¹ term is not of this form.
        """
        return _preconditioned_form(self, loss, variables, h or _default_h, candidates)

    def preconditioner(self, loss, variables, h=None) -> sympy.Matrix:
        """P with f_0 = −P∇L (diagonal for coordinate-wise methods)."""
        h = h or _default_h
        field, *_ = self._solve(loss, variables, h)
        f0 = field.subs(h, 0)
        diag = []
        for r, v in enumerate(variables):
            g = sympy.diff(loss, v)
            diag.append(sympy.cancel(-f0[r] / g))
        return sympy.diag(*diag)


def _preconditioned_form(eq: AdaptiveModifiedEquation, loss, variables, h, candidates):
    """See ``AdaptiveModifiedEquation.preconditioned_gradient``."""
    field, _, _, ctx = eq._solve(loss, variables, h)
    signs = list(ctx.signs.values())
    sign_of = {u: s for u, s in ctx.signs.items()}
    grads = [sympy.diff(loss, v) for v in variables]
    f0 = field.subs(h, 0)
    P = [sympy.cancel(-f0[r] / g) for r, g in enumerate(grads)]
    out = {"P": sympy.diag(*P), "loss": None, "reason": None}
    if eq.order < 1:
        out["loss"] = loss
        return out
    f1 = sympy.Matrix([sympy.expand(c).coeff(h, 1) for c in field])
    w = [sympy.cancel(-f1[r] / P[r]) for r in range(len(variables))]
    if candidates is None:
        abs_g = [sign_of.get(g, sympy.sign(g)) * g for g in grads]
        candidates = {
            "‖∇L‖₁": sympy.Add(*abs_g),
            "‖∇L‖²": sympy.Add(*(g**2 for g in grads)),
        }
    names = list(candidates)
    cs = sympy.symbols(f"c0:{len(names)}")
    residual = [
        w[r] - sum(c * sympy.diff(candidates[n], v) for c, n in zip(cs, names))
        for r, v in enumerate(variables)
    ]
    # An identity in the derivatives of L, for every sign pattern. Necessary
    # conditions first: the residual at random rational values of the derivative
    # atoms is linear in the c's; then the solution is checked exactly.
    rng = random.Random(0)
    cases = [case for res in residual for case in sign_cases(res, signs)]
    atoms = sorted(
        set().union(*(c.atoms(sympy.Derivative, sympy.Function) for c in cases)), key=str
    )
    params = sorted(
        set().union(*(c.free_symbols for c in cases)) - set(cs) - set(variables) - {h}, key=str
    )

    def sample(numeric_params: bool):
        eqs = []
        fixed = {p: sympy.Rational(rng.randint(1, 9), 11) for p in params}
        for _ in range(len(cs) + 3):
            point = {a: sympy.Rational(rng.randint(1, 97), rng.randint(1, 13)) for a in atoms}
            point.update(
                {v: sympy.Rational(rng.randint(1, 97), rng.randint(1, 13)) for v in variables}
            )
            if numeric_params:
                point.update(fixed)  # the c's may depend on the parameters: fix them
            eqs.extend(sympy.cancel(sympy.together(c.xreplace(point))) for c in cases)
        return sympy.solve(eqs, cs, dict=True)

    # a quick exact rejection with the parameters at random values, then the symbolic solve
    sol = sample(True) if params else [True]
    if sol:
        sol = sample(False)
    if sol and not all(
        sympy.cancel(sympy.together(sympy.expand(case.subs(sol[0])))) == 0 for case in cases
    ):
        sol = []
    if not sol:
        out["reason"] = "the h¹ term is not −P∇(h·Ψ) for Ψ a constant combination of " + ", ".join(
            names
        )
        return out
    sol = sol[0]
    psi = sum(sol.get(c, 0) * candidates[n] for c, n in zip(cs, names))
    out["loss"] = loss + h * sympy.factor(psi) if psi != 0 else loss
    out["coefficients"] = {n: sympy.factor(sol.get(c, 0)) for c, n in zip(cs, names)}
    return out
