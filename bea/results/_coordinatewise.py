"""The modified equation of a coordinate-wise optimizer (sign descent, RMSProp, Adam).

These methods have no B-series: the result is derived in coordinates, in the
dimension of the variables passed to ``AdaptiveModifiedEquation.on``, by
the coordinate engine (``bea.coordinates._adaptive``). See that module for the
regime (β's and ε fixed as h → 0, signs of ∂_rL locally constant).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import sympy
from sympy import S

from .._inputs import as_variables, check_order, exact
from .._inputs import h as _default_h
from ..coordinates._adaptive import adaptive_map, sign_cases
from ..coordinates._hseries import modified_field
from ..coordinates._signs import Sign, sign_atoms, sign_normal
from ..methods._base import Method
from ._base import Result

if TYPE_CHECKING:
    pass

__all__ = ["AdaptiveModifiedEquation", "CoordinatewiseField"]


class AdaptiveModifiedEquation(Result):
    """The modified equation of a coordinate-wise optimizer, derived at ``on``.

    ``bea.modified_equation(bea.optimizers.adam(0.9, 0.999, eps), order=p)``
    returns this object; ``.on(loss, variables)`` runs the coordinate backend
    in the dimension of ``variables`` and returns the column Matrix
    f̃ = Σ_{k≤p} h^k f_k (f̃ carries no factor h: the time-h flow of f̃
    reproduces the memoryless one-step map Φ to O(h^{p+2})). The sign of a
    gradient coordinate appears as σ(u) (``bea.coordinates._signs.Sign``):
    σ² = 1 is built in and ``field.subs(point)`` evaluates it, so the Matrix
    is self-contained. ``describe`` gives the same field as a readable
    result (per coordinate, in g_i = ∂_iL, H_ij = ∂_i∂_jL, σ_i = sign(g_i)).
    No state is kept between calls.

    Its own ``text``, ``latex`` and ``to_dict`` show the field on a
    generic loss L(x) in one dimension (the per-coordinate form; in d ≥ 2
    cross terms H_ij appear: use ``describe`` on L(x, y, …)).
    """

    method: Method

    def __init__(self, method: Method, order: int) -> None:
        self.method = method
        self.order = check_order(order)

    def __repr__(self) -> str:
        return (
            f"<AdaptiveModifiedEquation of {self.method!r} through h^{self.order}: "
            "coordinate-wise, derived in coordinates by .on(loss, variables)>"
        )

    def __str__(self) -> str:
        return self.text()

    # -- the result contract -------------------------------------------------------
    def _generic(self) -> CoordinatewiseField:
        x = sympy.Symbol("x")
        return self.describe(sympy.Function("L")(x), [x])

    def terms(self, k: int | None = None) -> list:
        """The (coordinate, coefficient) pairs on a generic loss L(x) (see ``describe``)."""
        return self._generic().terms(k)

    def text(self) -> str:
        """f̃ on a generic one-dimensional loss L(x), in g = L′, H = L″, σ = sign(g)."""
        return self._generic().text()

    def latex(self) -> str:
        return self._generic().latex()

    def to_dict(self) -> dict:
        return self._generic().to_dict()

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
        return field, phi, states, ctx

    def on(self, loss: Any, variables: Any, h: Any = None) -> sympy.Matrix:
        """f̃ on a concrete (or undefined-function) sympy loss, through h^order.

        The signs σ(∂_rL) are part of the expression: ``f̃.subs({x: 1, y: 2})``
        is a number (a ValueError if a coordinate of ∇L vanishes there).
        """
        field, *_ = self._solve(loss, variables, h or _default_h)
        return field

    def describe(self, loss: Any, variables: Any, h: Any = None) -> CoordinatewiseField:
        """f̃ on ``loss`` as a readable result (text, LaTeX, JSON, evaluation at a point)."""
        h = h or _default_h
        variables = as_variables(variables)
        field, *_ = self._solve(loss, variables, h)
        generic_loss = sympy.Function("L")(*variables)
        if isinstance(loss, sympy.core.function.AppliedUndef):
            generic_loss, generic = loss, field
        else:
            generic, *_ = self._solve(generic_loss, variables, h)
        return CoordinatewiseField(
            self.method, self.order, loss, variables, field, h, generic, generic_loss
        )

    def state_maps(self, loss: Any, variables: Any, h: Any = None) -> list:
        """The states on the invariant manifold, ``[[S_i(x) per coordinate] per state]``."""
        h = h or _default_h
        _, _, states, _ = self._solve(loss, variables, h)
        return [
            sympy.Matrix([sum((c * h**j for j, c in enumerate(row)), S.Zero) for row in st])
            for st in states
        ]

    @staticmethod
    def sign_of(expr):
        """σ(expr), the sign of ``expr`` as it appears in the fields (no state involved)."""
        return Sign(sympy.sympify(expr, strict=True))

    @staticmethod
    def signs(field) -> dict:
        """The signs in ``field`` (a result of ``on``): σ(u) ↦ u."""
        return {s: s.args[0] for s in sign_atoms(field)}

    def preconditioned_gradient(
        self, loss: Any, variables: Any, h: Any = None, candidates: dict | None = None
    ) -> dict:
        """Whether f̃ = −P∇L̃ + O(h²) with P diagonal and L̃ = L + h·Ψ.

        P comes from the h⁰ term (f_0 = −P∇L); the h¹ term is tested against
        −P∇(h·Ψ) with Ψ a constant combination of ``candidates`` (a dict
        name → scalar expression; default ‖∇L‖₁ = Σ|∂_jL| = Σ σ(∂_jL)∂_jL and
        ‖∇L‖²), as an exact identity in the derivatives of L for every sign
        pattern. Returns ``{"P": Matrix, "loss": L̃ or None, "coefficients":
        {...}, "reason": str or None}``. For Adam at ε = 0 this gives
        L̃ = L + h(β₁/(1−β₁) − β₂/(1−β₂))‖∇L‖₁ (Cattaneo, Klusowski & Shigida
        2024), also on concrete losses whose gradient factors over ℚ
        (L = x⁴/4 + x); for fixed ε > 0 in d ≥ 2 the h¹ term is not of this form.
        """
        return _preconditioned_form(self, loss, variables, h or _default_h, candidates)

    def preconditioner(self, loss: Any, variables: Any, h: Any = None) -> sympy.Matrix:
        """P with f_0 = −P∇L (diagonal for coordinate-wise methods)."""
        h = h or _default_h
        field, *_ = self._solve(loss, variables, h)
        f0 = field.subs(h, 0)
        diag = []
        for r, v in enumerate(variables):
            g = sympy.diff(loss, v)
            diag.append(sympy.cancel(-f0[r] / g))
        return sympy.diag(*diag)


class CoordinatewiseField(Result):
    """A coordinate-wise modified field on a concrete loss, in a readable form.

    ``field`` is f̃ = Σ_{k≤p} h^k f_k as a sympy column (σ(u) = sign(u) inside,
    σ² = 1); ``text()``/``latex()`` write each coordinate's h^k coefficients
    with σ_i = sign(g_i) and, for an undefined loss L(x_1, …), g_i = ∂_iL,
    H_ij = ∂_i∂_jL, T_ijk = ∂_i∂_j∂_kL. Calling it at a point (a dict or a
    sequence of values) evaluates f̃ there, signs included.

    >>> import sympy, bea
    >>> x = sympy.Symbol("x")
    >>> r = bea.modified_equation(bea.optimizers.sign_gd(), 1).describe(x**2 / 2 - x, [x])
    >>> print(r.text().splitlines()[1])
      f̃[x] = -σ1
    >>> r({x: 3}), r([0])
    (Matrix([[-1]]), Matrix([[1]]))
    """

    def __init__(
        self,
        method: Method,
        order,
        loss: Any,
        variables: Any,
        field: Any,
        h: Any,
        generic,
        generic_loss,
    ) -> None:
        self.method = method
        self.order = order
        self.loss = loss
        self.variables = tuple(variables)
        self.field = field
        self.h = h
        #: the same field on an undefined loss L(x_1, …): the form that is printed
        self.generic = generic
        self._names = _readable_names(generic_loss, self.variables, generic, loss)

    def on(self, loss: Any, variables: Any, h: Any = None) -> sympy.Matrix:
        """The field (a result is already on its loss; other losses: ``me.on``)."""
        if loss != self.loss or tuple(as_variables(variables)) != self.variables:
            raise ValueError(
                f"this result is on L = {self.loss}; for another loss use "
                "bea.modified_equation(opt, order).on(loss, variables)"
            )
        return self.field

    def __call__(self, point: Any) -> sympy.Matrix:
        values: Any
        if isinstance(point, dict):
            values = point
        else:
            values = list(point)
            if len(values) != len(self.variables):
                raise ValueError(
                    f"expected {len(self.variables)} values (one per variable "
                    f"{', '.join(map(str, self.variables))}), got {len(values)}"
                )
            values = dict(zip(self.variables, values))
        return self.field.subs({k: exact(v) for k, v in values.items()})

    def explicit(self) -> sympy.Matrix:
        """The field with σ(u) written as sympy's ``sign(u)``."""
        return self.field.replace(lambda e: isinstance(e, Sign), lambda e: sympy.sign(e.args[0]))

    def _coefficients(self) -> list[list]:
        out = []
        for c in self.generic:
            c = sympy.expand(c)
            out.append(
                [
                    self._names.rename(_tidy(self._names.absolute(c.coeff(self.h, k))))
                    for k in range(self.order + 1)
                ]
            )
        return out

    def terms(self, k: int | None = None) -> list:
        """(variable, coefficient) pairs of h^k (readable names); all orders: ((k, v), c)."""
        coeffs = self._coefficients()
        if k is not None:
            return [(v, row[k]) for v, row in zip(self.variables, coeffs)]
        return [
            ((j, v), row[j])
            for j in range(self.order + 1)
            for v, row in zip(self.variables, coeffs)
        ]

    def _legend(self) -> list[tuple]:
        return self._names.legend()

    def text(self) -> str:
        lines = [
            f"modified field of {self.method!r} on L = {self.loss}, through h^{self.order} "
            "(f̃ = Σ h^k f_k; the time-h flow of f̃ reproduces one step):"
        ]
        for v, row in zip(self.variables, self._coefficients()):
            lines.append(f"  f̃[{v}] = {_poly_text(row)}")
        for name, meaning in self._legend():
            lines.append(f"  {name} = {meaning}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"<CoordinatewiseField of {self.method!r} through h^{self.order} on {self.loss}>"

    def latex(self) -> str:
        rows = []
        for v, row in zip(self.variables, self._coefficients()):
            parts = [
                sympy.latex(c) if k == 0 else f"h^{{{k}}}\\left({sympy.latex(c)}\\right)"
                for k, c in enumerate(row)
                if c != 0
            ]
            rows.append(f"\\tilde f_{{{sympy.latex(v)}}} &= {' + '.join(parts) or '0'}")
        legend = ", ".join(
            f"{sympy.latex(sympy.Symbol(n))} = {sympy.latex(m)}"
            for n, m in self._names.latex_legend()
        )
        body = " \\\\ ".join(rows)
        return f"\\begin{{aligned}}{body}\\end{{aligned}}" + (f"\\quad {legend}" if legend else "")

    def to_dict(self) -> dict:
        return {
            "method": self._method_name(),
            "order": self.order,
            "engine": "coordinates",
            "normalisation": "f̃ = Σ_k h^k f_k; the time-h flow of f̃ reproduces the step map",
            "loss": str(self.loss),
            "variables": [str(v) for v in self.variables],
            "field": {
                str(v): {f"h^{k}": str(c) for k, c in enumerate(row)}
                for v, row in zip(self.variables, self._coefficients())
            },
            "names": {n: str(m) for n, m in self._legend()},
            "text": self.text(),
        }


def _tidy(expr):
    """Each term over a common denominator and factored, where that is cheap.

    With g_i = σ_i|g_i| written in (see ``_Names.absolute``) the signs stay in
    numerators; the lowest-terms form of large coefficients (symbolic β's and
    ε) is longer and costs minutes, so those terms are left as derived.
    """
    if sympy.count_ops(expr) < 60:
        small = sign_normal(expr)
        return sympy.factor(small) if sympy.count_ops(small) < 60 else small
    groups: dict = {}
    for t in sympy.Add.make_args(sympy.expand(expr)):
        signs = sympy.Mul(*[f for f in sympy.Mul.make_args(t) if isinstance(f, Sign)])
        groups[signs] = groups.get(signs, S.Zero) + t / signs
    out = S.Zero
    for signs, c in groups.items():
        c = sympy.factor(sympy.together(c)) if sympy.count_ops(c) < 400 else c
        out += signs * c
    return out


def _poly_text(row) -> str:
    parts = []
    for k, c in enumerate(row):
        if c == 0:
            continue
        parts.append(str(c) if k == 0 else f"{'h' if k == 1 else f'h**{k}'}*({c})")
    return " + ".join(parts) or "0"


class _Names:
    """Short names for the signs and (undefined losses) the derivatives of L."""

    def __init__(self, mapping: dict, legend: list, latex_legend: list, absolute: dict) -> None:
        self.mapping = mapping
        self._legend = legend
        self._latex = latex_legend
        self._absolute = absolute

    def absolute(self, expr):
        """g_i → σ_i·|g_i| (|g_i| a positive symbol), so σ_i² = 1 removes the signs."""
        return expr.xreplace(self._absolute) if self._absolute else expr

    def rename(self, expr):
        return expr.xreplace(self.mapping)

    def legend(self):
        return self._legend

    def latex_legend(self):
        return self._latex


def _readable_names(loss, variables, field, concrete) -> _Names:
    mapping: dict = {}
    legend: list = []
    latex_legend: list = []
    index = {v: i + 1 for i, v in enumerate(variables)}
    grads = {sympy.expand(sympy.diff(loss, v)): i + 1 for i, v in enumerate(variables)}
    derivs = sorted(field.atoms(sympy.Derivative), key=lambda d: (len(d.variables), str(d)))
    undefined = isinstance(loss, sympy.core.function.AppliedUndef)
    letters = {1: "g", 2: "H", 3: "T"}
    if undefined:
        for d in derivs:
            if d.expr != loss or not all(v in index for v in d.variables):
                continue
            ids = "".join(str(index[v]) for v in sorted(d.variables, key=lambda v: index[v]))
            name = letters.get(len(d.variables), f"D{len(d.variables)}_") + ids
            mapping[d] = sympy.Symbol(name)
    absolute = {}
    if undefined:
        for v in variables:
            d = sympy.Derivative(loss, v)
            symbol = mapping.get(d)
            if symbol is not None and Sign(d) in field.atoms(Sign):
                absolute[d] = Sign(d) * sympy.Symbol(f"|{symbol}|", positive=True)
    signs = sign_atoms(field)
    used = set()
    extra = len(variables)
    for s in signs:
        u = s.args[0]
        i = grads.get(sympy.expand(u))
        if i is None or i in used:
            extra += 1
            i = extra
        used.add(i)
        name = f"σ{i}"
        mapping[s] = sympy.Symbol(name)
        legend.append((name, f"sign({u.xreplace(mapping)})"))
        latex_legend.append((name, sympy.sign(u.xreplace(mapping), evaluate=False)))
    if undefined:
        for d, sym in mapping.items():
            if isinstance(d, sympy.Derivative):
                value = d.subs(loss, concrete).doit() if concrete != loss else d
                legend.append((sym.name, str(sympy.factor(value) if concrete != loss else d)))
                latex_legend.append((sym.name, value))
    return _Names(mapping, legend, latex_legend, absolute)


def _preconditioned_form(eq: AdaptiveModifiedEquation, loss, variables, h, candidates):
    """See ``AdaptiveModifiedEquation.preconditioned_gradient``."""
    field, *_ = eq._solve(loss, variables, h)
    signs = sign_atoms(field)
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
        abs_g = [Sign(g) * g for g in grads]
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

    def sample(numeric_params: bool) -> list:
        eqs: list = []
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
    sol: list = sample(True) if params else [True]
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
    found: dict = sol[0]
    psi = sum(found.get(c, 0) * candidates[n] for c, n in zip(cs, names))
    out["loss"] = loss + h * psi if psi != 0 else loss
    out["coefficients"] = {n: sympy.factor(found.get(c, 0)) for c, n in zip(cs, names)}
    return out
