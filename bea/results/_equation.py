"""The modified equation of a method, to any order.

Convention (stated in every coefficient-returning docstring)::

    h f̃ = Σ_t h^{|t|} ω(t)/σ(t) F(t),   i.e.   f̃ = Σ_t h^{|t|-1} ω(t)/σ(t) F(t)

with F(t) the elementary differentials of f (f = −∇L for optimizers). The
exact time-h flow of f̃ reproduces one step of the method: exp(ω) is the
method's B-series. ``order=p`` means f̃ is known through h^p, i.e. on all
trees with at most p + 1 nodes; the truncation error of the flow is
O(h^{p+2}) per step.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import sympy as sp

from .._inputs import as_variables, h, no_step_symbol, player_fields, variable_groups
from ..bseries._differentials import (
    ElementaryDifferentials,
    as_field,
    differential_latex,
    differential_text,
)
from ..bseries._series import BSeries
from ..bseries._trees import RootedTree
from ._base import Result
from ._render import render_latex, render_text

if TYPE_CHECKING:
    from ..methods._base import Method

__all__ = [
    "ModifiedEquation",
    "ModifyingField",
    "tree_modified_equation",
    "tree_modifying_integrator",
]


class ModifiedEquation(Result):
    """The modified field f̃ of a method through h^order.

    Normalisation: h f̃ = Σ_t h^{|t|} ω(t)/σ(t) F(t); ``coefficient``
    returns ω(t). For gradient descent ω(•) = 1, ω([•]) = −1/2,
    ω([•,•]) = 1/6, ω([[•]]) = 1/3, so
    f̃ = f − h/2 f'f + h²(1/12 f''(f,f) + 1/3 f'f'f) + O(h³).

    Iterating yields ``(tree, ω(tree))`` for the non-zero terms; ``str`` and
    ``latex`` print it in elementary-differential notation; ``on``
    evaluates it on a concrete field or loss.
    """

    def __init__(self, series: BSeries, order: int, method: Method | None = None) -> None:
        self.series = series
        self.order = order
        self.method = method

    # -- coefficients -----------------------------------------------------------
    def coefficient(self, t: RootedTree | str) -> sp.Expr:
        """ω(t) (normalisation h f̃ = Σ h^{|t|} ω(t)/σ(t) F(t))."""
        t = RootedTree(t) if isinstance(t, str) else t
        if len(t) > self.order + 1:
            raise ValueError(
                f"tree {t} has {len(t)} nodes; an order-{self.order} modified equation knows "
                f"trees with at most {self.order + 1} nodes. Ask for order={len(t) - 1} or more."
            )
        return self.series[t]

    def __iter__(self) -> Iterator[tuple[RootedTree, sp.Expr]]:
        return self.series.items()

    def terms(self, k: int | None = None) -> list[tuple[RootedTree, sp.Expr]]:
        """The (tree, ω) pairs, all of them or those of h^k (trees with k+1 nodes)."""
        return [(t, c) for t, c in self if k is None or len(t) == k + 1]

    @property
    def colours(self) -> int:
        return self.series.colours

    # -- rendering ----------------------------------------------------------------
    def _groups(self, latex: bool):
        coloured = self.colours > 1
        fmt = differential_latex if latex else differential_text
        groups = []
        for k in range(self.order + 1):
            groups.append((k, [(c / t.symmetry(), fmt(t, coloured)) for t, c in self.terms(k)]))
        return groups

    def text(self) -> str:
        """Plain text, e.g. ``f - h/2 f'f + h²(1/12 f''(f,f) + 1/3 f'f'f) + O(h³)``."""
        return render_text(self._groups(False), self.order)

    def latex(self) -> str:
        """LaTeX of the right-hand side f̃ (without delimiters)."""
        return render_latex(self._groups(True), self.order)

    def __str__(self) -> str:
        return "f̃ = " + self.text()

    def __repr__(self) -> str:
        name = self.method.name if self.method is not None else None
        return f"<ModifiedEquation of {name or 'a method'} through h^{self.order}: {self.text()}>"

    def _repr_latex_(self) -> str:
        return "$\\tilde f = " + self.latex() + "$"

    def to_dict(self) -> dict:
        """JSON-ready: method, order, normalisation, (tree, ω, σ, order) terms, text."""
        return {
            "method": self._method_name(),
            "order": self.order,
            "normalisation": "h f̃ = Σ_t h^|t| ω(t)/σ(t) F(t), f = −∇L",
            "terms": [
                {"tree": str(t), "omega": str(c), "sigma": int(t.symmetry()), "order": len(t) - 1}
                for t, c in self
            ],
            "text": self.text(),
        }

    # -- concrete evaluation ---------------------------------------------------
    def on(self, field: Any, variables: Any, h: sp.Symbol = h) -> Any:
        """f̃ on a concrete field or loss, truncated after h^order.

        ``field``: a sympy Matrix / sequence of expressions (one component per
        variable; a vector field f), or a scalar sympy expression (a loss L,
        then f = −∇L). For several fields (coloured methods) pass a list with
        one entry per field. Returns the column Matrix
        Σ_k h^k Σ_{|t|=k+1} ω(t)/σ(t) F(t).

        Games: pass ``variables`` as one list per player, e.g.
        ``on([L0, L1], [[phi], [theta]])``; player c's field is
        f_c = −∇_{own variables} L_c, and the result is a list with one column
        Matrix per player.
        """
        no_step_symbol(variables, h)
        groups = variable_groups(variables)
        if groups is not None:
            flat = as_variables([v for g in groups for v in g])
            fields = player_fields(field, groups, flat, self.colours)
            full = self._evaluate(fields, flat, h)
            out, start = [], 0
            for g in groups:
                out.append(full[start : start + len(g), :])
                start += len(g)
            return out
        variables = as_variables(variables)
        losses_list = self.method is not None and self.method.losses_list
        if losses_list and isinstance(field, (list, tuple)) and len(field) == 1:
            field = field[0]  # one mini-batch loss, passed as a list of losses
        return self._evaluate(_fields_for(field, variables, self.colours), variables, h)

    def _evaluate(self, fields, variables, h) -> sp.Matrix:
        diffs = ElementaryDifferentials(fields, variables)
        out = sp.zeros(len(variables), 1)
        for t, c in self:
            out += (h ** (len(t) - 1) * c / t.symmetry()) * diffs(t)
        return out


def _fields_for(field, variables, colours: int) -> list[sp.Matrix]:
    if colours > 1:
        if not isinstance(field, (list, tuple)) or len(field) != colours:
            raise ValueError(
                f"this method uses {colours} fields: pass a list of {colours} losses or fields"
                f" (one per colour), got {field!r}"
            )
        return [_one_field(f, variables) for f in field]
    return [_one_field(field, variables)]


def _one_field(field, variables) -> sp.Matrix:
    if isinstance(field, sp.Expr) and field.has(sp.zoo, sp.oo, -sp.oo, sp.nan, sp.I):
        raise ValueError(
            f"a loss must be finite and real, got {field}; check for division by zero, "
            "log(0) or roots of negative numbers"
        )
    if isinstance(field, sp.Expr) and not isinstance(field, sp.MatrixBase):
        unknown = field.free_symbols - set(variables)
        _ = unknown  # parameters (e.g. h, β) may appear; they are constants here
        return -sp.Matrix([sp.diff(field, v) for v in variables])
    if isinstance(field, (int, float)):
        raise ValueError(
            f"a loss must be a sympy expression in the variables, got the number {field!r}"
        )
    return as_field(field, variables)


#: below this many nodes the log is cheaper than a cache lookup
CACHE_MIN_NODES = 9


def _log(series: BSeries, progress: bool = False) -> BSeries:
    """series.log(), cached on disk for large exact-rational series (see bea._cache).

    A result computed here is returned as computed (no JSON round trip); a cached
    one is parsed with ``flint.fmpq`` (the elements of QQ under python-flint).
    """
    from sympy.polys.domains import QQ

    from .._cache import default_cache

    cache = default_cache()
    if series.domain != QQ or series.max_nodes < CACHE_MIN_NODES or not cache.active:
        return series.log(progress=progress)
    import hashlib

    from .._version import __version__
    from ._log_check import checked_log, log_payload

    text = "|".join(map(str, series.coeffs))
    key = {
        "kind": "bseries-log",
        "format": 2,
        "bea": __version__,
        "colours": series.colours,
        "max_nodes": series.max_nodes,
        "digest": hashlib.sha256(text.encode()).hexdigest(),
    }
    computed: list[BSeries] = []

    def compute():
        omega = series.log(progress=progress)
        computed.append(omega)
        return log_payload(omega)

    parse = _rational_parser()

    # a stored entry that fails its checks (schema, tree counts, invariants of a
    # log) is reported, removed and recomputed; see bea.results._log_check. A log
    # just computed is returned as it is, without the JSON round trip.
    return cache.get_or_compute(
        key,
        compute,
        decode=lambda p: computed[0] if computed else checked_log(series, p, parse),
    )


def _rational_parser():
    """One exact rational, ``'-1/12'``, as an element of QQ (``flint.fmpq`` parses it in C)."""
    from fractions import Fraction

    import flint
    from sympy.polys.domains import QQ

    if QQ.dtype is flint.fmpq:
        return flint.fmpq
    return lambda text: QQ.convert(Fraction(text))


def tree_modified_equation(method: Method, order: int, progress: bool = False) -> ModifiedEquation:
    """The tree engine: ω = log of the method's B-series, divided by ``method.steps``.

    Normalisation h f̃ = Σ_t h^{|t|} ω(t)/σ(t) F(t) on all trees with at most
    ``order + 1`` nodes. Reached through ``bea.modified_equation``.
    """
    omega = _log(method.bseries(order + 1), progress=progress)
    if method.steps != 1:
        omega = omega / method.steps
    return ModifiedEquation(omega, order, method)


class ModifyingField(ModifiedEquation):
    """The field f̂ to feed a method so that it follows a target flow.

    Normalisation: h f̂ = Σ_t h^{|t|} β̂(t)/σ(t) F(t); the method applied to
    f̂ (instead of f) has the target flow to O(h^{order+2}) per step:
    β̂ ⋆ a = exp(target) with a the method's series (substitution law).
    ``coefficient`` returns β̂(t).
    """

    def __str__(self) -> str:
        return "f̂ = " + self.text()

    def __repr__(self) -> str:
        name = self.method.name if self.method is not None else None
        return f"<ModifyingField for {name or 'a method'} through h^{self.order}: {self.text()}>"

    def _repr_latex_(self) -> str:
        return "$\\hat f = " + self.latex() + "$"


def tree_modifying_integrator(method: Method, order: int, target=None) -> ModifyingField:
    """The modifying integrator of ``method``: the field f̂ whose numerical flow is the target.

    ``target`` is the field to follow, as a field B-series ω_target (ω(∅) = 0;
    h f_target = Σ h^{|t|} ω(t)/σ(t) F(t)) or a ``ModifiedEquation``;
    by default the exact flow of f itself (ω = δ_•). Returns f̂ with
    h f̂ = Σ h^{|t|} β̂(t)/σ(t) F(t) on trees with at most order + 1 nodes,
    solved tree by tree from β̂ ⋆ a = exp(ω_target) (Chartier, Hairer,
    Vilmart 2007). For Runge–Kutta methods β̂ is solved through the stages
    (compositions, polynomial in the number of trees: order 11, i.e. trees with
    12 nodes, takes about a second for RK4); other methods use the
    substitution law, whose cost grows as 2^{|t|} per tree.
    Reached through ``bea.modifying_integrator``.
    """
    from ..bseries._series import _unify, exact_flow, substitute_at

    N = order + 1
    if method.colours != 1 or method.steps != 1:
        raise ValueError("modifying integrators are built for one field and one step per call")
    a = method.bseries(N)
    if target is None:
        goal = exact_flow(N)
    else:
        series = target.series if isinstance(target, ModifiedEquation) else target
        if not isinstance(series, BSeries) or series.empty:
            raise ValueError(
                "target must be a field B-series (coefficient of the empty tree 0) or a "
                f"ModifiedEquation, got {target!r}"
            )
        if series.max_nodes < N:
            raise ValueError(
                f"target is known on trees with at most {series.max_nodes} nodes; "
                f"order={order} needs {N}"
            )
        goal = series.truncate(N).exp()
    a, goal = _unify(a, goal)
    tab, dom = a.table, a.domain
    a1 = a.coeffs[tab.extend(1).lookup(0, ())]
    if not a1:
        raise ValueError(f"{method!r} does not move along f at first order (a(•) = 0)")
    from ..methods._runge_kutta import RungeKutta

    if isinstance(method, RungeKutta):
        return ModifyingField(_modifying_runge_kutta(method, goal), order, method)
    b = BSeries.zero(N, 1, dom)._drafted()
    inv = dom.one / a1
    for i in range(len(b.coeffs)):
        b.coeffs[i] = (goal.coeffs[i] - substitute_at(b, a, i)) * inv
    return ModifyingField(b._frozen(), order, method)


def _modifying_runge_kutta(method, goal: BSeries) -> BSeries:
    """β̂ with β̂ ⋆ a = goal for a Runge–Kutta method a, through the method's stages.

    The method applied to the field B(β̂)/h has stages Y_i = y + Σ_j a_ij K_j with
    K_j = β̂ ∘ Y_j (the field series composed with the point Y_j:
    (β̂ ∘ Y)(t) = Σ_s β̂(s) Π_{u ∈ t∖s} Y(u) over the root subtrees s of t) and step
    y + Σ_i b_i K_i. On a tree t, K_i(t) = β̂(t) + terms with β̂ and Y_i on smaller
    trees, so β̂(t) = (goal(t) − Σ_i b_i (K_i(t) − β̂(t))) / Σ_i b_i, size by size.
    The cost is that of the compositions (``_Prunings``: one entry per distinct root
    subtree of each tree), not the 2^{|t|−1} edge subsets of the substitution law.
    """
    from ..bseries._series import _Prunings

    N, dom = goal.max_nodes, goal.domain
    tab = goal.table.extend(N)
    s = method.stages
    conv = dom.from_sympy
    A = [[conv(method.A[i, j]) for j in range(s)] for i in range(s)]
    w = [conv(method.b[i]) for i in range(s)]
    wsum = sum(w, dom.zero)
    zero = dom.zero
    n_all = len(goal.coeffs)
    beta = [zero] * n_all
    stages = [BSeries._draft(tab, dom, [zero] * n_all, dom.one, N) for _ in range(s)]
    prunings = [_Prunings(y) for y in stages]
    for n in range(1, N + 1):
        for t in tab.ids(n):
            partial = []
            for i in range(s):
                v = zero
                for sid, c in prunings[i].of(t).items():
                    if sid != t and beta[sid]:
                        v += c * beta[sid]
                partial.append(v)
            rest = sum((wi * p for wi, p in zip(w, partial) if wi), zero)
            beta[t] = (goal.coeffs[t] - rest) / wsum
            K = [beta[t] + p for p in partial]
            for i in range(s):
                stages[i].coeffs[t] = sum((A[i][j] * K[j] for j in range(s) if A[i][j]), zero)
    return BSeries(tab, dom, beta, zero, N)
