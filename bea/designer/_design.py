"""Optimizer design: solve a family's coefficients for a target modified loss.

A *family* is any B-series method whose hyperparameters or tableau entries
are sympy symbols (the unknowns). Its modified equation is computed exactly
over QQ(unknowns) by the tree engine: h f̃ = Σ_t h^{|t|} ω(t)/σ(t) F(t),
f = −∇L. The design conditions are, for the target
L̃ = Σ_τ h^{|τ|−1} c(τ) S(τ) through order p (see ``bea.designer._target``),

    ω(t) = (−1)^{|τ|−1} σ(τ) c(τ)   on every rooting t of every free tree τ, |τ| ≤ p + 1,

and, for ``gradient_order=k``, ω constant on the rootings of each free tree
with p + 2 … k + 1 nodes (orders p+1 … k are gradient flows, with any
coefficients). After clearing denominators these are polynomial equations in
the unknowns; ``bea.designer._solve`` decides existence with a Gröbner basis
(a basis {1} is the proof that no member works) and finds the solutions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp

from .._dispatch import as_method, modified_equation
from .._inputs import check_order, h
from ..bseries._trees import FreeTree, RootedTree
from ..methods._base import Engine, Method
from ..results._base import Result
from ..results._equation import ModifiedEquation
from ..results._loss import _losses, _Scalars
from ._solve import groebner_proof, solve_system
from ._target import as_target, target_omega, target_text

__all__ = ["Condition", "Design", "design"]


@dataclass(frozen=True)
class Condition:
    """One design equation ``omega − value = 0`` on the rooted tree ``tree``.

    ``kind`` is "target" (ω(t) equals the target's value) or "gradient"
    (ω(t) equals ω on the first rooting of the same free tree, ``value``).
    """

    tree: RootedTree
    free_tree: FreeTree
    kind: str
    omega: sp.Expr
    value: sp.Expr

    @property
    def equation(self) -> sp.Expr:
        return self.omega - self.value


class Design(Result):
    """The members of a family that have a target modified loss.

    Follows the ``bea.Result`` contract with the *target* as its terms:
    ``terms`` lists (τ, c(τ)) of the target L̃ = Σ h^{|τ|−1} c(τ) S(τ),
    ``on`` evaluates the target loss on a concrete loss, and text, LaTeX
    and ``to_dict`` describe the target and the solutions.

    Attributes
    ----------
    method
        the family (a ``bea.Method`` with symbolic unknowns).
    order
        p, the order through which the target is prescribed.
    gradient_order
        k, the order through which f̃ must be a gradient (≥ p).
    target
        {FreeTree: c(τ)} on all free trees with at most p + 1 nodes.
    unknowns, parameters
        the symbols solved for, and those kept symbolic.
    conditions
        the ``Condition`` list (one per rooted tree).
    exists
        whether a real solution was found (False with ``proof``
        when the Gröbner basis is {1}).
    proof
        the reduced Gröbner basis (``[1]`` proves that no member works;
        with parameters, for generic values of them); ``None`` when solutions
        exist.
    reason
        a sentence saying why there is no solution (or ``None``).
    solutions
        list of dicts unknown → exact value (rationals, algebraic
        numbers, or expressions in the unknowns left free and parameters).
    free
        for each solution, the unknowns left free.
    assumptions
        for each solution, expressions that must not vanish.
    optimizers
        the family with each solution substituted (bea.Method).
    objective_values
        the objective at each solution (with ``objective=``).
    complex_solutions
        solutions with non-real values (not in ``solutions``).
    unsolved
        residual systems the solver could not reduce to radicals.
    """

    def __init__(
        self,
        method: Method,
        order: int,
        gradient_order: int,
        target: dict,
        unknowns: tuple,
        parameters: tuple,
        conditions: list,
        proof: list | None,
        reason: str | None,
        solutions: list,
        free: list,
        assumptions: list,
        optimizers: list,
        objective_values: list | None,
        complex_solutions: list,
        unsolved: list,
    ) -> None:
        self.method = method
        self.order = order
        self.gradient_order = gradient_order
        self.target = target
        self.unknowns = unknowns
        self.parameters = parameters
        self.conditions = conditions
        self.proof = proof
        self.reason = reason
        self.solutions = solutions
        self.free = free
        self.assumptions = assumptions
        self.optimizers = optimizers
        self.objective_values = objective_values
        self.complex_solutions = complex_solutions
        self.unsolved = unsolved
        self.exists = bool(solutions)

    # -- the Result contract --------------------------------------------------------
    def terms(self, k: int | None = None) -> list[tuple[FreeTree, sp.Expr]]:
        """(τ, c(τ)) of the target, all or those of h^k; L̃ = Σ h^{|τ|−1} c(τ) S(τ)."""
        return [
            (t, c)
            for t, c in sorted(self.target.items())
            if c != 0 and (k is None or len(t) == k + 1)
        ]

    def on(self, loss: Any, variables: Any, h: sp.Symbol = h) -> sp.Expr:
        """The target loss L̃ on a concrete sympy loss (a polynomial in h)."""
        from .._inputs import as_variables, no_step_symbol

        no_step_symbol(variables, h)
        variables = as_variables(variables)
        (L,) = _losses(loss, variables, 1)
        ev = _Scalars([L], variables)
        return sp.Add(*[h ** (len(t) - 1) * c * ev(t) for t, c in self.terms()])

    def field_on(self, loss: Any, variables: Any, h: sp.Symbol = h) -> sp.Matrix:
        """The target field f̃ = −∇L̃ on a concrete loss (a column Matrix in h)."""
        from .._inputs import as_variables

        variables = as_variables(variables)
        Lt = self.on(loss, variables, h)
        return -sp.Matrix([sp.diff(Lt, v) for v in variables])

    def target_text(self) -> str:
        """The target loss, e.g. ``L + 3h/7 ‖∇L‖²``."""
        return target_text(self.target)

    def _solution_text(self, i: int) -> str:
        sol = self.solutions[i]
        parts = [f"{k} = {v}" for k, v in sol.items()]
        line = ", ".join(parts) if parts else "(no unknowns to set)"
        if self.free[i]:
            line += f"   [free: {', '.join(str(u) for u in self.free[i])}]"
        if self.assumptions[i]:
            line += f"   [where {', '.join(f'{a} ≠ 0' for a in self.assumptions[i])}]"
        if self.objective_values is not None:
            line += f"   [objective {self.objective_values[i]}]"
        return line

    def text(self) -> str:
        """Target, unknowns, and the solutions (or the reason there is none)."""
        head = f"design of {self._method_name()} through h^{self.order}: L̃ = {self.target_text()}"
        if self.gradient_order > self.order:
            head += f", and f̃ a gradient through h^{self.gradient_order}"
        lines = [
            head,
            f"unknowns: {', '.join(str(u) for u in self.unknowns) or 'none'}"
            + (
                f"; parameters: {', '.join(str(p) for p in self.parameters)}"
                if self.parameters
                else ""
            )
            + f"; {len(self.conditions)} conditions",
        ]
        if not self.exists:
            lines.append(f"no solution: {self.reason}")
        else:
            lines.append(f"{len(self.solutions)} solution(s):")
            lines += [f"  {i + 1}. {self._solution_text(i)}" for i in range(len(self.solutions))]
        if self.unsolved:
            lines.append(f"({len(self.unsolved)} component(s) not solved in radicals)")
        return "\n".join(lines)

    def latex(self) -> str:
        """LaTeX: the target and one row per solution."""
        rows = [f"\\tilde L &= {target_text(self.target, latex=True)}"]
        if not self.exists:
            rows.append(
                "&\\text{no solution: Gröbner basis } \\{1\\}"
                if self.proof == [1]
                else "&\\text{no real solution}"
            )
        for sol in self.solutions:
            body = ",\\ ".join(f"{sp.latex(k)} = {sp.latex(v)}" for k, v in sol.items())
            rows.append(f"&{body}")
        return "\\begin{aligned}" + " \\\\ ".join(rows) + "\\end{aligned}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: family, order, target terms, conditions, solutions or proof."""
        return {
            "method": self._method_name(),
            "order": self.order,
            "gradient_order": self.gradient_order,
            "normalisation": "L̃ = Σ_τ h^(|τ|−1) c(τ) S(τ); h f̃ = Σ_t h^|t| ω(t)/σ(t) F(t), f = −∇L",
            "target": [
                {"free_tree": str(t), "coefficient": str(c), "order": len(t) - 1}
                for t, c in sorted(self.target.items())
            ],
            "unknowns": [str(u) for u in self.unknowns],
            "parameters": [str(p) for p in self.parameters],
            "conditions": [
                {"tree": str(c.tree), "kind": c.kind, "equation": str(c.equation)}
                for c in self.conditions
            ],
            "exists": self.exists,
            "solutions": [
                {
                    "values": {str(k): str(v) for k, v in sol.items()},
                    "free": [str(u) for u in self.free[i]],
                    "assumptions": [f"{a} != 0" for a in self.assumptions[i]],
                    **(
                        {"objective": str(self.objective_values[i])}
                        if self.objective_values is not None
                        else {}
                    ),
                }
                for i, sol in enumerate(self.solutions)
            ],
            "proof": [str(g) for g in self.proof] if self.proof is not None else None,
            "reason": self.reason,
            "text": self.text(),
        }

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        state = f"{len(self.solutions)} solution(s)" if self.exists else "no solution"
        return f"<Design of {self._method_name()} through h^{self.order}: {state}>"


# ----------------------------------------------------------------------------
# building and solving the conditions
# ----------------------------------------------------------------------------


def _resolve_unknowns(unknowns, available: dict[str, sp.Symbol], family: Method) -> tuple:
    if unknowns is None:
        fam = sorted(family.symbols, key=lambda s: s.name)
        if not fam:
            raise ValueError(
                f"{family!r} has no symbolic coefficients to solve for: build the family with "
                "sympy symbols (bea.families.explicit(2), bea.Optimizer(rule, beta=sp.Symbol("
                "'beta'))) or pass unknowns=[...]"
            )
        return tuple(fam)
    if isinstance(unknowns, (str, sp.Symbol)):
        unknowns = [unknowns]
    out = []
    for u in unknowns:
        name = u.name if isinstance(u, sp.Symbol) else u
        if not isinstance(name, str):
            raise TypeError(f"unknowns must be sympy symbols or names, got {u!r}")
        if name not in available:
            raise ValueError(
                f"unknown {name!r} does not appear in the family or the target; the symbols "
                f"available are {sorted(available) or 'none'}"
            )
        if available[name] in out:
            raise ValueError(f"unknown {name!r} is listed twice")
        out.append(available[name])
    if not out:
        raise ValueError("unknowns is empty: name at least one symbol to solve for")
    return tuple(out)


def _conditions(me: ModifiedEquation, target: dict, p: int, k: int) -> list[Condition]:
    series = me.series
    tab = series.table
    dom = series.domain
    out = []
    for n in range(1, max(p, k) + 2):
        for members in tab.free_classes(n).values():
            rep = tab.canonical_rooting(members[0])
            tau = FreeTree._from_key(tab.key(rep))
            omegas = [(tab.tree(j), dom.to_sympy(series.coeffs[j])) for j in members]
            if n <= p + 1:
                value = target_omega(tau, target[tau])
                out += [Condition(t, tau, "target", w, value) for t, w in omegas]
            else:
                _, w0 = omegas[0]
                out += [Condition(t, tau, "gradient", w, w0) for t, w in omegas[1:]]
    return out


def _numerator_and_denominator(expr: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    num, den = sp.fraction(sp.cancel(sp.together(expr)))
    return sp.expand(num), den


def _is_real(value: sp.Expr) -> bool:
    if value.free_symbols:
        return value.is_real is not False
    return (
        bool(sp.im(sp.nsimplify(value) if value.is_Float else value).equals(0))
        or value.is_real is True
    )


def _first_infeasible(conditions, unknowns, params, dens) -> int | None:
    """The smallest order whose conditions (with all lower ones) have no solution."""
    orders = sorted({len(c.tree) - 1 for c in conditions})
    for q in orders:
        eqs = [
            _numerator_and_denominator(c.equation)[0] for c in conditions if len(c.tree) - 1 <= q
        ]
        exists, _ = groebner_proof(eqs, unknowns, params, dens)
        if not exists:
            return q
    return None


def _objective_of(objective, family: Method, q: int) -> sp.Expr | None:
    if objective is None:
        return None
    if isinstance(objective, str):
        if objective != "next_order":
            raise ValueError(
                f"objective must be 'next_order', a sympy expression in the unknowns or a "
                f"callable(ModifiedEquation) -> expression; got {objective!r}"
            )
        me = modified_equation(family, q + 1)
        return sp.Add(*[(c / t.symmetry()) ** 2 for t, c in me.terms(q + 1)])
    if callable(objective):
        return sp.sympify(objective(modified_equation(family, q + 1)), strict=True)
    if isinstance(objective, sp.Basic):
        return objective
    raise TypeError(
        f"objective must be 'next_order', a sympy expression or a callable; got {objective!r}"
    )


def _minimise(obj: sp.Expr, free: tuple, params: tuple) -> list[tuple[dict, sp.Expr]]:
    """Real critical points of ``obj`` in the free unknowns, with the smallest value first."""
    if not free:
        return [({}, sp.cancel(obj))]
    grads = [_numerator_and_denominator(sp.diff(obj, u))[0] for u in free]
    system = solve_system(grads, free, params)
    out = []
    for br in system.branches:
        if br.free:
            continue  # a flat direction: the objective does not pick a point
        if not all(_is_real(v) for v in br.values.values()):
            continue
        val = (
            sp.nsimplify(sp.simplify(obj.subs(br.values)))
            if not params
            else sp.simplify(obj.subs(br.values))
        )
        out.append((br.values, val))
    if not params:
        out.sort(key=lambda pv: float(pv[1]))
    return out


def design(
    family: Method,
    order: int | None = None,
    target: Mapping | str | None = None,
    gradient_order: int | None = None,
    unknowns: Sequence[sp.Symbol | str] | None = None,
    objective: str | sp.Expr | Callable | None = None,
    complete: bool = False,
) -> Design:
    """Solve a family's unknown coefficients so that its modified loss is the target.

    Conventions: f = −∇L; the modified field h f̃ = Σ_t h^{|t|} ω(t)/σ(t) F(t)
    and the modified loss L̃ = Σ_τ h^{|τ|−1} c(τ) S(τ) with
    c(τ) = (−1)^{|τ|−1} ω(τ)/σ(τ) (as in ``bea.modified_loss``).

    Parameters
    ----------
    family
        a B-series method with sympy symbols among its coefficients
        (``bea.families.explicit(2)``, ``bea.families.momentum()``, any
        ``bea.Optimizer(rule, c=sp.Symbol('c'))``).
    order
        p, the order through which L̃ must equal the target (default 0:
        only c(•) is prescribed).
    target
        {free tree: c(τ)} (keys ``bea.FreeTree`` or bracket strings
        of any rooting; trees left out are 0), or a loss expression such as
        ``"L + 3/7*h*|grad L|^2"``; default ``{"[]": 1}`` (gradient flow of L).
    gradient_order
        k: f̃ must also be a gradient through h^k (orders p+1 … k
        with free coefficients).
    unknowns
        the symbols to solve for (default: all symbols of the family);
        other symbols of the family or the target are parameters, kept
        symbolic (solutions are then generic in them).
    objective
        among solutions with free unknowns, minimise ``"next_order"``
        (Σ_{|t| = q+2} (ω(t)/σ(t))², the size of the first unprescribed
        order of f̃, q = max(p, k)), a sympy expression in the unknowns, or a
        callable taking the order-(q+1) ``bea.ModifiedEquation``.
    complete
        also explore every special case where a divisor vanishes
        (slower); by default special components are searched only where the
        generic one has no solution. Existence is decided exactly either way.

    Returns
    -------
    Design
        ``.solutions``, ``.optimizers``, ``.exists``, ``.proof``, ``.reason``.

    Notes
    -----
    What is exact: the conditions (exact rational functions of the unknowns);
    the existence proof (Gröbner basis {1}, Nullstellensatz: no complex
    solution, hence no real one); every returned solution, checked against
    the conditions (identically for rational values; exactly at random
    rational points for radicals). What is not: completeness of the solution
    list for special components (see ``complete``) and for factors without a
    radical formula (listed in ``.unsolved``).

    Examples
    --------
    Two-stage schemes x + b1 k1 + b2 k2, k2 = step(x + a21 k1), whose modified
    loss is L (no implicit regularisation): b2 = 1/(2 a21), b1 = 1 − b2 (Heun:
    a21 = 1, b2 = 1/2).

    >>> import bea
    >>> d = bea.design(bea.families.explicit(2), order=1, target={"[]": 1})
    >>> d.solutions
    [{b2: 1/(2*a21), b1: (2*a21 - 1)/(2*a21)}]
    >>> bea.modified_loss(d.optimizers[0], 1).loss_text()
    'L'

    References
    ----------
    Hairer, Lubich, Wanner, *Geometric Numerical Integration*, III.1 and IX.9;
    Barrett & Dherin (ICLR 2021); Cox, Little, O'Shea, *Ideals, Varieties,
    and Algorithms* (2015).
    """
    family = as_method(family, "family")
    if family.kind.engine is not Engine.TREES:
        raise ValueError(
            f"{family!r} acts coordinate by coordinate: design works on B-series families "
            "(update rules built from gradient steps and linear combinations)"
        )
    if family.colours != 1:
        raise ValueError(f"design targets one loss; {family!r} uses {family.colours}")
    p = 0 if order is None else check_order(order, "order")
    if gradient_order is not None:
        check_order(gradient_order, "gradient_order")
    k = p if gradient_order is None else max(p, gradient_order)
    tgt = as_target(target, p)
    # symbols by name: the family's, then the target's
    available: dict[str, sp.Symbol] = {s.name: s for s in family.symbols}
    renames = {}
    for c in tgt.values():
        for s in c.free_symbols:
            if s.name in available and available[s.name] != s:
                renames[s] = available[s.name]
            available.setdefault(s.name, s)
    if renames:
        tgt = {t: c.subs(renames) for t, c in tgt.items()}
    unk = _resolve_unknowns(unknowns, available, family)
    params = tuple(sorted((set(available.values()) - set(unk)), key=lambda s: s.name))
    try:
        me = modified_equation(family, k)
    except ValueError as exc:
        raise ValueError(f"bea.design: the family {family!r} cannot be analysed: {exc}") from exc
    assert isinstance(me, ModifiedEquation)
    lead = me.series[RootedTree("[]")]
    if lead == 0:
        raise ValueError(
            f"the family {family!r} does not move along −∇L at h → 0 (ω(•) = 0): it is not "
            "consistent (x + h·f + O(h²) after scaling)"
        )
    conditions = _conditions(me, tgt, p, k)
    eqs, dens = [], []
    for c in conditions:
        num, den = _numerator_and_denominator(c.equation)
        eqs.append(num)
        for f, _ in sp.factor_list(den)[1]:
            if f.free_symbols & set(unk) and f not in dens:
                dens.append(f)
    exists, basis = groebner_proof(eqs, unk, params, dens)
    solutions, free, assumptions, optimizers, values, complex_sols, unsolved = (
        [],
        [],
        [],
        [],
        None,
        [],
        [],
    )
    reason = None
    proof = None
    if not exists:
        proof = basis
        q = _first_infeasible(conditions, unk, params, dens)
        where = (
            f" (already the conditions through h^{q} have none)" if q is not None and q < k else ""
        )
        generic = " (for generic parameters)" if params else ""
        reason = (
            f"the {len(conditions)} polynomial conditions on {', '.join(map(str, unk))} have the "
            f"Gröbner basis {{1}}: no member of the family{generic} "
            f"has this modified loss{where}"
        )
    else:
        system = solve_system(eqs, unk, params, dens, complete=complete)
        unsolved = system.unsolved
        for br in system.branches:
            if all(_is_real(v) for v in br.values.values()):
                solutions.append(br)
            else:
                complex_sols.append(br.values)
        if not solutions:
            reason = (
                "the conditions have only non-real solutions"
                if complex_sols
                else "no solution was found in radicals (see .unsolved)"
            )
    obj = _objective_of(objective, family, k)
    if obj is not None and solutions:
        scored = []
        for br in solutions:
            o = obj.subs(br.values)
            for point, val in _minimise(o, br.free, params):
                vals = {u: sp.simplify(v.subs(point)) for u, v in br.values.items()} | point
                scored.append(
                    (val, vals, tuple(u for u in br.free if u not in point), br.conditions)
                )
        if not params:
            scored.sort(key=lambda s: float(s[0]))
        values = [s[0] for s in scored]
        sol_dicts = [s[1] for s in scored]
        free = [s[2] for s in scored]
        assumptions = [[a.subs(s[1]) for a in s[3] if a.subs(s[1]).free_symbols] for s in scored]
    else:
        sol_dicts = [br.values for br in solutions]
        free = [br.free for br in solutions]
        assumptions = [list(br.conditions) for br in solutions]
    for sol in sol_dicts:
        values_by_name = {str(u): v for u, v in sol.items() if u in family.symbols}
        optimizers.append(family.with_values(**values_by_name))  # type: ignore[attr-defined]
    return Design(
        family,
        p,
        k,
        tgt,
        unk,
        params,
        conditions,
        proof,
        reason,
        sol_dicts,
        free,
        assumptions,
        optimizers,
        values,
        complex_sols,
        unsolved,
    )
