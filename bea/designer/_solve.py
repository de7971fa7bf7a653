"""Exact solution of polynomial systems: Gröbner bases, factoring and case splits.

The design conditions are polynomials in the unknowns u with coefficients in
QQ or QQ(p) (p: parameters kept symbolic, such as a target's λ). What is exact
and what is not:

* **Existence** is decided exactly by a reduced Gröbner basis (Buchberger,
  sympy's ``groebner``) of the equations together with 1 − z·D (the
  Rabinowitsch variable z excludes the zeros of the denominators D): the
  basis is {1} iff the system has no solution over the complex numbers
  (Hilbert's Nullstellensatz; for parameters, for generic values of them).
  Such a basis is returned as the proof.
* **Solutions** are found by a case-splitting elimination: factor an element
  of the lex Gröbner basis, solve one irreducible factor for the variable of
  lowest degree (linear: one value, with the case "leading coefficient = 0"
  split off; univariate: its exact roots as radicals or ``CRootOf``;
  otherwise sympy's radical formulas up to degree 4), substitute and recurse.
  Every value is exact (rationals, radicals, ``CRootOf``, expressions in the
  unknowns left free and the parameters). Each solution is checked exactly
  against the original equations before it is returned.
* **Completeness** holds for the case splits made, but a multivariate
  irreducible factor of degree ≥ 5 in every variable has no radical formula:
  such a component is reported in ``unsolved`` instead of being dropped. With
  parameters the solutions are generic: they hold where the recorded
  ``conditions`` (expressions in the parameters) do not vanish.

References: Cox, Little, O'Shea, *Ideals, Varieties, and Algorithms*
(4th ed., 2015), ch. 2–4 (Gröbner bases, elimination, the Nullstellensatz).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

__all__ = ["Branch", "PolySystem", "groebner_proof", "solve_system"]

#: deepest case split before a branch is reported as unsolved
MAX_DEPTH = 60


@dataclass
class Branch:
    """One solution component: ``values`` for the solved unknowns, the rest free.

    ``conditions``: expressions that must not vanish (denominators divided by,
    in the unknowns left free and the parameters).
    """

    values: dict
    free: tuple
    conditions: list = field(default_factory=list)


@dataclass
class PolySystem:
    """The solved system: components, and the residual systems not solved."""

    branches: list
    unsolved: list


def _domain(params):
    return sp.QQ.frac_field(*params) if params else sp.QQ


def groebner_proof(equations, unknowns, params, denominators=()):
    """The reduced Gröbner basis of the equations with the denominators excluded.

    Returns ``(exists, basis)``: ``exists`` is False iff the basis is {1}, a
    proof (Nullstellensatz) that no point with non-zero denominators solves
    the equations (for generic parameters when there are any).
    """
    polys = [e for e in equations if e != 0]
    gens = list(unknowns)
    dens = [d for d in denominators if d.free_symbols & set(unknowns)]
    if dens:
        z = sp.Dummy("z")
        polys.append(1 - z * sp.Mul(*dens))
        gens.append(z)
    if not polys:
        return True, []
    if not gens:
        nonzero = [p for p in polys if sp.cancel(p) != 0]
        return not nonzero, [sp.Integer(1)] if nonzero else []
    basis = sp.groebner(polys, *gens, order="grevlex", domain=_domain(params))
    exprs = list(basis.exprs)
    if len(exprs) == 1 and exprs[0].is_number and exprs[0] != 0:
        return False, [sp.Integer(1)]
    return True, exprs


def _tidy(expr):
    """A rational function in lowest terms (radicals and roots are left as they are)."""
    if expr.is_rational_function():
        return sp.cancel(expr)
    return expr


def _numerator(expr):
    return sp.expand(sp.numer(sp.together(expr)))


def _is_zero(expr) -> bool:
    """Exact zero test: rational functions by cancellation, square roots by reduction.

    Each square root √D is replaced by a symbol s and the numerator reduced
    modulo s² − D (a zero remainder proves the expression is 0); what that
    does not settle goes to the minimal polynomial (numbers) or ``simplify``.
    """
    expr = sp.together(expr)
    if expr.is_rational_function() and sp.cancel(expr) == 0:
        return True
    halves = (sp.Rational(1, 2), sp.Rational(-1, 2))
    roots = [a for a in expr.atoms(sp.Pow) if a.exp in halves]
    roots = list(dict.fromkeys(r if r.exp > 0 else sp.sqrt(r.base) for r in roots))
    if roots:
        syms = [sp.Dummy("s") for _ in roots]
        num = sp.numer(sp.together(expr.subs({r: q for r, q in zip(roots, syms)})))
        for r, s in zip(roots, syms):
            num = sp.expand(num)
            if not num.is_polynomial(s):
                break
            num = sp.rem(num, s**2 - r.base, s)
        else:
            if sp.cancel(num) == 0:
                return True
    if not expr.free_symbols:
        x = sp.Dummy("x")
        try:
            return sp.minimal_polynomial(expr, x) == x
        except (NotImplementedError, ValueError):
            pass
    return sp.simplify(expr) == 0


class _Solver:
    def __init__(self, unknowns, params, complete=False):
        self.complete = complete
        self.unknowns = tuple(unknowns)
        self.priority = {u: i for i, u in enumerate(self.unknowns)}
        self.params = tuple(params)
        self.pset = set(self.params)
        self.out: list[Branch] = []
        self.unsolved: list = []

    # -- choosing what to solve for -------------------------------------------------
    def _key(self, f, x):
        d = sp.degree(f, x)
        lc = sp.Poly(f, x).LC()
        lc_unknowns = bool(lc.free_symbols - self.pset)
        lc_const = lc.is_number
        n_vars = len(f.free_symbols - self.pset)
        # low degree first, then a constant leading coefficient (no case split),
        # then the unknowns listed last are solved for first (earlier ones stay free)
        return (d, 0 if lc_const else (1 if not lc_unknowns else 2), n_vars, -self.priority[x])

    def run(self, eqs, subs, conds, depth=0):
        eqs = [_numerator(e.subs(subs)) if subs else _numerator(e) for e in eqs]
        eqs = [e for e in eqs if e != 0]
        left = [u for u in self.unknowns if u not in subs]
        if not eqs:
            self._emit(subs, conds, left)
            return
        for e in eqs:
            if not (e.free_symbols - self.pset):
                return  # a non-zero constant, or a relation among generic parameters
        if depth > MAX_DEPTH:
            self.unsolved.append(eqs)
            return
        gens = [u for u in left if any(u in e.free_symbols for e in eqs)]
        basis = sp.groebner(eqs, *gens, order="lex", domain=_domain(self.params))
        polys = [_numerator(g) for g in basis.exprs]
        if any(not (p.free_symbols - self.pset) for p in polys):
            return  # basis {1}: no solution in this branch
        # the element whose irreducible factors are easiest to solve (linear first)
        best = None
        for g in polys:
            _, factors = sp.factor_list(g)
            parts = [sp.expand(f) for f, _ in factors if f.free_symbols - self.pset]
            score = max(min(self._key(f, x) for x in f.free_symbols - self.pset) for f in parts)
            score = (score, len(parts), len(g.free_symbols - self.pset))
            if best is None or score < best[0]:
                best = (score, parts)
        for f in dict.fromkeys(best[1]):
            try:
                self._solve_factor(f, polys, subs, conds, depth)
            except sp.PolynomialError:
                self.unsolved.append(polys)

    def _solve_factor(self, f, polys, subs, conds, depth):
        cand = [x for x in self.unknowns if x in f.free_symbols]
        x = min(cand, key=lambda v: self._key(f, v))
        d = sp.degree(f, x)
        lc = sp.Poly(f, x).LC()
        rest = [p for p in polys if p != f]
        lc_unknowns = bool(lc.free_symbols - self.pset)
        found = len(self.out)
        new_conds = list(conds)
        if not lc.is_number:
            new_conds.append(lc)
        if d == 1:
            roots = [sp.cancel(-(f - lc * x) / lc)]
        elif f.free_symbols - {x}:
            try:
                roots = sp.solve(f, x)
            except NotImplementedError:
                roots = []
            if len(roots) < d and sp.degree(f, x) > 4:
                self.unsolved.append([f, *rest])
                return
        else:
            roots = list(sp.roots(sp.Poly(f, x), multiple=True))
            if len(roots) < d:
                roots = sp.Poly(f, x).all_roots()
        for r in dict.fromkeys(roots):
            new = {k: _tidy(v.subs(x, r)) for k, v in subs.items()}
            new[x] = _tidy(r)
            self.run(rest, new, new_conds, depth + 1)
        if lc_unknowns and (self.complete or len(self.out) == found):
            # the special case lc = 0 (then f's lower part must vanish too)
            self.run([*rest, lc, sp.expand(f - lc * x**d)], subs, conds, depth + 1)

    def _emit(self, subs, conds, free):
        values = dict(subs)
        self.out.append(Branch(values, tuple(free), [c.subs(subs) for c in conds]))


def solve_system(
    equations, unknowns, params=(), denominators=(), complete: bool = False
) -> PolySystem:
    """All solution components of ``equations = 0`` in ``unknowns``; see the module docstring.

    Each returned branch is checked: the equations vanish identically (in the
    free unknowns and parameters) and the denominators do not.
    """
    solver = _Solver(unknowns, params, complete)
    solver.run([sp.expand(e) for e in equations], {}, [])
    out = []
    seen = set()
    for br in solver.out:
        if any(_is_zero(d.subs(br.values)) for d in denominators):
            continue
        if any(_is_zero(c) for c in br.conditions):
            continue
        if not _verified(equations, br):
            raise AssertionError(f"internal error: a solution {br.values} fails the equations")
        key = tuple(sorted((str(k), sp.srepr(v)) for k, v in br.values.items()))
        if key in seen:
            continue
        seen.add(key)
        conds = br.conditions + [d.subs(br.values) for d in denominators]
        br.conditions = list(dict.fromkeys(f for c in conds for f in _factors(c)))
        out.append(br)
    return PolySystem(_drop_special_cases(out), solver.unsolved)


def _factors(expr) -> list:
    """The distinct non-constant factors of a non-vanishing condition (constants dropped)."""
    expr = sp.together(expr)
    if not expr.free_symbols:
        return []
    if expr.is_rational_function():
        num, den = sp.fraction(sp.cancel(expr))
        return [f for part in (num, den) for f, _ in sp.factor_list(part)[1] if f.free_symbols]
    return [expr]


def _verified(equations, br: Branch) -> bool:
    """The equations vanish on the branch: identically for rational values, else at points.

    Values that are rational functions are checked identically (cancellation).
    Values with radicals are checked exactly at three random rational points
    of the free unknowns and parameters (a non-zero algebraic function vanishes
    at random points with probability 0: Schwartz–Zippel), each by
    ``_is_zero``.
    """
    values = br.values
    if all(v.is_rational_function() for v in values.values()):
        return all(_is_zero(e.subs(values)) for e in equations)
    import random

    rng = random.Random(0)
    free = sorted(set().union(*(v.free_symbols for v in values.values())), key=str)
    for _ in range(3):
        point = {u: sp.Rational(rng.randint(-97, 97), rng.randint(1, 89)) for u in free}
        vals = {k: v.subs(point) for k, v in values.items()}
        if any(v.has(sp.zoo, sp.nan) for v in vals.values()):
            continue
        for e in equations:
            if not _is_zero(e.subs(point).subs(vals)):
                return False
    return True


def _drop_special_cases(branches):
    """Drop a component that is a special case of another (its values fit the other's form)."""
    keep = []
    for i, b in enumerate(branches):
        special = False
        for j, a in enumerate(branches):
            if i == j or len(a.free) <= len(b.free):
                continue
            # b is a special case of a if substituting b's values into a's reproduces b
            point = {u: b.values.get(u, u) for u in a.free}
            if any(_is_zero(c.subs(point)) for c in a.conditions):
                continue
            if all(_is_zero(v.subs(point) - b.values.get(u, u)) for u, v in a.values.items()):
                special = True
                break
        if not special:
            keep.append(b)
    return keep
