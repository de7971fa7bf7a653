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

Hyperparameter schedules (momentum β(t)) and methods with state. The state's
invariant manifold s = S(x, t) moves with t, so f̃ picks up β′ terms at order
h. Two independent derivations again:

* trees with moving coefficients (``bea.methods._schedules``): Φ, S and ω as
  B-series whose coefficients are rational in β(t), β′(t), … (the time shift
  S(·, t + h) enters the manifold equation), for any loss;
* coordinates (the oracle, and the engine for coordinate-wise rules): the raw
  rule on the extended space (x, t), t' = t + h, β evaluated at the point's
  t-coordinate, its state solved on the invariant manifold in coordinates
  (``bea.coordinates._adaptive.adaptive_map`` in the variables (x, t)).

Heavy ball: f̃_x = −∇L/(1−β) − h(1+β)/(2(1−β)³)(∇²L∇L − β′∇L) + O(h²), the
gradient field of L̃ = [1/(1−β) − h(1+β)β′/(2(1−β)³)]L + h(1+β)/(4(1−β)³)‖∇L‖²:
the β′ terms, like η′, rescale L (an effective step that lags a rising β).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy
from sympy import S

from .._inputs import as_variables, check_order
from .._inputs import h as _default_h
from ..bseries._differentials import (
    ElementaryDifferentials,
    differential_latex,
    differential_text,
)
from ..bseries._series import BSeries
from ..coordinates._adaptive import adaptive_map
from ..coordinates._hseries import modified_field
from ..methods._base import Engine
from ..methods._programs import Optimizer
from ..methods._schedules import STEP, MovingSeries, moving_solve
from ._base import Result
from ._equation import ModifiedEquation, tree_modified_equation
from ._loss import ModifiedLoss, scalar_text
from ._render import render_latex, render_text

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
        self._moving: MovingSeries | None = None

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
        if base.kind.engine is Engine.TREES and self.method.moving:
            return self._on_moving(loss, variables, h)
        if base.kind.engine is Engine.TREES:
            T = self._time()
            eta = self.method.step_schedule
            field = sympy.Matrix([-eta * sympy.diff(loss, v) for v in variables] + [S.One])
            ext = tree_modified_equation(base, self.order).on(field, [*variables, T], h)
            return sympy.Matrix([sympy.expand(c) for c in ext[: len(variables)]])
        return self.on_coordinates(loss, variables, h)

    def on_coordinates(self, loss, variables, h=None) -> sympy.Matrix:
        """f̃_x by the coordinate engine: the extended map (Φ_{hη(t)}(x), t + h).

        With hyperparameter schedules or state, the raw rule runs on the
        extended point (x, t), its state solved on the invariant manifold in
        the variables (x, t) (see the module docstring).
        """
        h = h or _default_h
        variables = self._check(loss, variables, h)
        T = self._time()
        program = self.method.base.program()
        if self.method.moving:
            ext = _extended_program(self.method, len(variables))
            phi, _, _ = adaptive_map(ext, loss, [*variables, T], self.order + 1, h)
            rows = [sum((c * h**j for j, c in enumerate(row)), S.Zero) for row in phi]
            field = modified_field(sympy.Matrix(rows), [*variables, T], h, self.order)
            return sympy.Matrix([sympy.expand(c) for c in field[: len(variables)]])
        phi, _, _ = adaptive_map(
            program, loss, variables, self.order + 1, h, scale=self.method.step_schedule
        )
        rows = [sum((c * h**j for j, c in enumerate(row)), S.Zero) for row in phi]
        ext = modified_field(sympy.Matrix([*rows, T + h]), [*variables, T], h, self.order)
        return sympy.Matrix([sympy.expand(c) for c in ext[: len(variables)]])

    # -- moving coefficients (hyperparameter schedules, state) ----------------------
    def moving_series(self) -> MovingSeries:
        """Φ, S and ω with coefficients in the schedules' jets (``bea.methods._schedules``)."""
        if not self.method.moving or self.method.base.kind.engine is not Engine.TREES:
            raise ValueError(
                f"{self.method!r}: moving-coefficient series are built for B-series rules with "
                "a hyperparameter schedule or a state"
            )
        if self._moving is None:
            program = self.method.base.program()
            self._moving = moving_solve(
                program,
                tuple(self.method.schedules),
                self.method.schedule is not None,
                self.order + 1,
            )
        return self._moving

    def _schedules(self) -> dict:
        return {**self.method.schedules, STEP: self.method.step_schedule}

    def _on_moving(self, loss, variables, h) -> sympy.Matrix:
        ms = self.moving_series()
        diffs = _differentials(loss, variables)
        tab = ms.omega.table
        out = sympy.zeros(len(variables), 1)
        schedules, T = self._schedules(), self._time()
        for i, j, c in ms.terms(ms.omega):
            tree = tab.tree(i)
            k = len(tree) - 1 + j
            out += (h**k * ms.in_time(c, schedules, T) / tree.symmetry()) * diffs(tree)
        return sympy.Matrix([sympy.expand(c) for c in out])

    def tree_terms(self, k: int | None = None) -> list:
        """(tree, coefficient in t) with f̃_x = Σ h^k Σ_τ c_k(τ)(t)/σ(τ) F(τ), f = −∇L.

        For moving coefficients (momentum schedules): c_k(τ) = ω_j(τ) with
        j = k + 1 − |τ| the extra powers of h from the time shift; e.g. heavy
        ball's c_1(•) = −(1+β)β′/(2(1−β)³) (the β′ term) and
        c_1([•]) = −(1+β)/(2(1−β)³). All terms, or those of h^k.
        """
        ms = self.moving_series()
        tab = ms.omega.table
        schedules, T = self._schedules(), self._time()
        out = []
        for i, j, c in ms.terms(ms.omega):
            tree = tab.tree(i)
            if k is None or len(tree) - 1 + j == k:
                out.append((tree, sympy.factor(ms.in_time(c, schedules, T))))
        return out

    def state_on(self, loss, variables, h=None) -> list:
        """The states on the invariant manifold, S_i(x, t), as columns through h^(order+1).

        S_i = S_i(∅)x + Σ_τ Σ_j h^{|τ|+j} S_ij(τ)(t)/σ(τ) F(τ)(x), f = −∇L (a
        previous iterate, or a displacement u = h·m). Start an iteration at
        (x0, S(x0, 0)) to be on the manifold up to O(h^(order+2)).
        """
        h = h or _default_h
        variables = self._check(loss, variables, h)
        ms = self.moving_series()
        diffs = _differentials(loss, variables)
        tab = ms.omega.table
        schedules, T = self._schedules(), self._time()
        out = []
        for s in ms.states:
            col = ms.jets.dom.to_sympy(s.empty) * sympy.Matrix(variables)
            for i, j, c in ms.terms(s):
                tree = tab.tree(i)
                c = ms.in_time(c, schedules, T) / tree.symmetry()
                col += (h ** (len(tree) + j) * c) * diffs(tree)
            out.append(sympy.Matrix([sympy.expand(c) for c in col]))
        return out

    def _moving_losses(self) -> list:
        """(j, ModifiedLoss of the e^j part of ω): L̃ = Σ_j h^j L̃_j, trees ≤ order + 1 − j."""
        ms = self.moving_series()
        tab, dom, N = ms.omega.table, ms.jets.dom, ms.max_nodes
        out = []
        for j in range(N):
            n = len(tab.upto(N - j))
            coeffs = [ms.jets.part(v, j) for v in ms.omega.coeffs[:n]]
            series = BSeries(tab, dom, coeffs, dom.zero, N - j)
            ml = ModifiedLoss(ModifiedEquation(series, N - 1 - j))
            if ml.gradient_order < N - 1 - j:
                raise ValueError(
                    f"the x-part of the modified field of {self.method!r} is not a gradient "
                    f"at order h^{ml.gradient_order + 1 + j} (its tree coefficients differ "
                    "between rootings of one free tree); use .on for the field. Ask for a lower "
                    "order"
                )
            out.append((j, ml))
        return out

    def loss_terms(self) -> list:
        """(k, free tree τ, c) with L̃(x, t) = Σ h^k c_k(τ)(t) S(τ) (moving coefficients).

        S(•) = L, S(•—•) = ‖∇L‖², …; c = (−1)^{|τ|−1} ω_j(τ)/σ(τ) with
        k = |τ| − 1 + j. A β′ (or η′) term on τ = • rescales L.
        """
        ms = self.moving_series()
        schedules, T = self._schedules(), self._time()
        out = []
        for j, ml in self._moving_losses():
            for tau, c in ml.loss_terms():
                out.append((len(tau) - 1 + j, tau, sympy.factor(ms.in_time(c, schedules, T))))
        return sorted(out, key=lambda e: (e[0], len(e[1])))

    def loss_text(self) -> str:
        """L̃(x, t) in tensor notation, e.g. ``(1/(1 - b(t))) L + h (…) L + h (…) ‖∇L‖²``."""
        parts = []
        for k, tau, c in self.loss_terms():
            hk = "" if k == 0 else ("h " if k == 1 else f"h^{k} ")
            parts.append(f"({c}) {hk}{scalar_text(tau)}")
        return " + ".join(parts) + f" + O(h^{self.order + 1})"

    def loss(self, loss, variables, h=None) -> sympy.Expr:
        """L̃(x, t) with f̃_x = −∇_x L̃ + O(h^(order+1)), checked exactly against ``on``.

        Step schedules on memoryless rules (orders 0 and 1, gradient descent's
        form): L̃ = (η − hη′/2)L + (hη²/4)‖∇L‖². Momentum schedules and rules
        with state (moving coefficients, any order at which the field is a
        gradient): L̃ = Σ h^k c_k(τ)(t) S(τ) from ``loss_terms``; for heavy ball
        L̃ = [1/(1−β) − h(1+β)β′/(2(1−β)³)]L + h(1+β)/(4(1−β)³)‖∇L‖².
        """
        h = h or _default_h
        variables = self._check(loss, variables, h)
        if self.method.moving and self.method.base.kind.engine is Engine.TREES:
            return self._moving_loss(loss, variables, h)
        if self.order > 1:
            raise ValueError(
                "the time-dependent modified loss is given through h¹ (order=0 or 1); "
                f"got order={self.order}"
            )
        T = self._time()
        eta = self.method.step_schedule
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

    def _moving_loss(self, loss, variables, h) -> sympy.Expr:
        ms = self.moving_series()
        schedules, T = self._schedules(), self._time()
        total = S.Zero
        for j, ml in self._moving_losses():
            total += h**j * ml.on(loss, variables, h)
        candidate = sympy.expand(ms.in_time(total, schedules, T))
        field = self.on(loss, variables, h)
        for r, v in enumerate(variables):
            if sympy.cancel(sympy.together(field[r] + sympy.diff(candidate, v))) != 0:
                raise AssertionError(  # pragma: no cover - internal consistency
                    "the modified loss does not reproduce the field"
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

    def _moving_groups(self, latex: bool) -> list:
        fmt = differential_latex if latex else differential_text
        return [
            (k, [(c / tree.symmetry(), fmt(tree, False)) for tree, c in self.tree_terms(k)])
            for k in range(self.order + 1)
        ]

    def _tree_form(self) -> bool:
        return self.method.moving and self.method.base.kind.engine is Engine.TREES

    def text(self) -> str:
        """f̃_x in elementary differentials of f = −∇L where the tree engine applies.

        Moving coefficients (momentum schedules): e.g. for heavy ball with
        β = b(t), ``-1/(b(t) - 1) f + h(… f + … f'f) + O(h²)``. Otherwise the
        x-part on a generic loss L(x) in one dimension.
        """
        if self._tree_form():
            return "f̃_x = " + render_text(self._moving_groups(False), self.order)
        return (
            f"modified field of {self.method!r} through h^{self.order}, x-part on L(x): "
            f"{self._generic()[0]}"
        )

    def latex(self) -> str:
        if self._tree_form():
            return r"\tilde f_x = " + render_latex(self._moving_groups(True), self.order)
        return r"\tilde f_x = " + sympy.latex(self._generic()[0])

    def to_dict(self) -> dict:
        return {
            "method": self._method_name(),
            "order": self.order,
            "engine": "scheduled",
            "normalisation": "f̃_x = Σ_k h^k f_k(x, t); t = n·h; the t-component is 1",
            "schedule": str(self.method.step_schedule),
            "hyperparameter_schedules": {k: str(v) for k, v in self.method.schedules.items()},
            "terms": [[k, str(c)] for k, c in self.terms()],
        }

    def __str__(self) -> str:
        return self.text()


def _differentials(loss, variables) -> ElementaryDifferentials:
    """F(τ) of f = −∇L on a concrete loss."""
    return ElementaryDifferentials(
        [-sympy.Matrix([sympy.diff(loss, v) for v in variables])], variables
    )


def _extended_program(method: Scheduled, d: int) -> Optimizer:
    """The raw rule on the extended point (x, t): q(t) at the point's t-coordinate, t' = t + h.

    Runs on ``HPoint``s of d + 1 coordinates (the last one t): the base rule
    gets the first d coordinates, ``step(y) = −hη(t)∇L(y)``, each scheduled
    hyperparameter as the point q(t) (one copy per coordinate, multiplied
    coordinate-wise); every state gets a last coordinate 0. The coordinate
    engine then solves the state on the invariant manifold in (x, t).
    """
    inner = method.base.program()
    schedules = dict(method.schedules)
    eta = method.step_schedule
    static = {k: v for k, v in inner._exact_hyper().items() if k not in schedules}

    def rule(z, state, step, *, grad, ops, h):
        rows = ops.unstack(z)
        x, t = ops.stack(rows[:d]), rows[d]

        def at(expr):
            return ops.stack(ops.unstack(z.evaluate_field([expr] * (d + 1)))[:d])

        scale = at(eta)

        def grad_x(y):
            return ops.stack(ops.unstack(grad(ops.stack([*ops.unstack(y), t])))[:d])

        def step_x(y, k=0):
            if k != 0:
                raise ValueError("schedules are supported for one-loss optimizers: step(y)")
            return -h * (scale * grad_x(y))

        hyper = {**static, **{k: at(v) for k, v in schedules.items()}}
        extras = {"grad": grad_x, "ops": ops, "h": h * scale}
        hyper.update({k: v for k, v in extras.items() if k in inner.extras})
        inner_state = tuple(ops.stack(ops.unstack(s)[:d]) for s in state)
        x_new, s_new = inner._call(x, inner_state, step_x, hyper)
        zero = t * 0
        return (
            ops.stack([*ops.unstack(x_new), t + h]),
            tuple(ops.stack([*ops.unstack(s), zero]) for s in s_new),
        )

    return Optimizer(
        rule,
        (lambda z: tuple(inner.init(z))) if inner.kind.memory else None,
        name=f"{method.name} on (x, t)",
        coordinatewise=True,
    )
