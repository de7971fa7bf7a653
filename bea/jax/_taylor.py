"""Taylor-mode plans: a modified field through h⁴ from a few Taylor jets of ∇L with feedback.

Conventions
-----------
G(•) = g = ∇L, G([t1..tm]) = ∇^{m+1}L[G(t1), ..., G(tm), ·]; the field is
f̃ = Σ_n h^{n−1} f_n with f_n = Σ_{|t| = n} c(t) G(t) (``field_plan``).

A *curve* through the parameters x is x(s) = x + Σ_{j=1}^k s^j/j! x_j. Its
jet (``jax.experimental.jet``, factorial scaled) returns the derivatives
y_j = d^j/ds^j ∇L(x(s)) at s = 0, given by Faà di Bruno's formula over the set
partitions π of {1, ..., j}:

    y_j = Σ_π ∇^{|π|+1}L[x_{|B|} : B ∈ π],

so y_1 = ∇²L x_1, y_2 = ∇³L[x_1, x_1] + ∇²L x_2,
y_3 = ∇⁴L[x_1, x_1, x_1] + 3∇³L[x_1, x_2] + ∇²L x_3, ... A coefficient x_j may
be any combination of vectors known before degree j, outputs of lower degree
of the same or other curves included ("feedback", as in Taylor-mode ODE
solvers, Griewank & Walther 2008, ch. 13): y_j then holds the elementary
differentials of all trees of j + 1 nodes that the curve reaches, each lower
coefficient computed once for all of them (XLA merges the lower degrees that
the successive jets of one curve repeat).

The order-4 plan
----------------
With H = ∇²L, T = ∇³L, D4 = ∇⁴L, D5 = ∇⁵L and β a number:

* curve A: x_1 = g, x_2 = β Hg, x_3 = x3A, x_4 = x4A (degree 4);
* curve B: x_1 = g, x_2 = 0, x_3 = x3B (degree 3), so that
  y2A − y2B = β HHg, y2B = T[g, g] and y3A − y3B = 3β T[g, Hg] + H(x3A − x3B);
* curve C: x_1 = Hg (degree 2): y2C = T[Hg, Hg];
* curve D (only if needed): x_1 = HHg: y1D = HHHg.

Then f_5 = μ y4A + τ y2C, where y4A = D5[g⁴] + 6β D4[g, g, Hg] + 3β² T[Hg, Hg]
+ 4 T[g, x3A] + H x4A: μ is the coefficient of D5[g⁴], β matches D4[g, g, Hg],
τ the rest of T[Hg, Hg], x3A the terms T[g, ·] and x4A ∈ span(y3A, y3B, y1D)
the terms H·(·); f_4 = n1 y3A + n2 y3B + n3 y1D; f_3, f_2, f_1 are
combinations of y2B, HHg, Hg and g. The unknowns follow from a 4 × 4 linear
system; the plan is used only when every number divided by is a nonzero
number (no method parameter), and it is checked by expanding it back into
trees (``expand``) before use. For gradient descent β = 1, and the D curve is
not needed.

>>> import bea
>>> from bea.jax._taylor import taylor_field_program
>>> program = taylor_field_program(bea.modified_equation(bea.gd(), 4))
>>> program.beta
1
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

import sympy as sp

from ..bseries._trees import RootedTree

__all__ = ["TaylorProgram", "expand", "jet_outputs", "taylor_field_program"]

Vec = dict  # RootedTree -> sympy coefficient: Σ_t c_t G(t)

LEAF = RootedTree("[]")


def graft(children) -> RootedTree:
    """The tree [t1..tm] with the given children."""
    return RootedTree("[" + ",".join(str(c) for c in children) + "]")


def add(*terms: tuple) -> Vec:
    """Σ r_i v_i for ``terms = ((r_i, v_i), ...)``, zero coefficients dropped."""
    out: Vec = {}
    for r, v in terms:
        for t, c in v.items():
            out[t] = out.get(t, 0) + r * c
    return {t: sp.cancel(c) for t, c in out.items() if sp.cancel(c) != 0}


def derivative(args: list) -> Vec:
    """∇^{m+1}L[v_1, ..., v_m, ·] of combinations v_i = Σ c_t G(t), by multilinearity."""
    out: Vec = {}
    for choice in product(*(list(v.items()) for v in args)):
        coefficient = sp.Integer(1)
        for _, c in choice:
            coefficient *= c
        t = graft([u for u, _ in choice])
        out[t] = out.get(t, 0) + coefficient
    return {t: c for t, c in out.items() if c != 0}


def _set_partitions(items: list):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for partition in _set_partitions(rest):
        yield [[first], *partition]
        for i in range(len(partition)):
            yield [*partition[:i], [first, *partition[i]], *partition[i + 1 :]]


def jet_outputs(series: list) -> list:
    """[y_1, ..., y_k] for the curve with coefficients ``series = [x_1, ..., x_k]``."""
    outs = []
    for j in range(1, len(series) + 1):
        total: Vec = {}
        for partition in _set_partitions(list(range(j))):
            args = [series[len(block) - 1] for block in partition]
            if any(not a for a in args):
                continue
            total = add((1, total), (1, derivative(args)))
        outs.append(total)
    return outs


@dataclass
class TaylorProgram:
    """Vectors computed in order; ``field[n]`` = f_n as ((r, name), ...)."""

    beta: sp.Expr
    vectors: list = field(default_factory=list)  # (name, kind, data)
    field: dict = field(default_factory=dict)  # n -> ((r, name), ...)


def expand(program: TaylorProgram) -> dict:
    """The trees of each f_n that ``program`` computes: {n: Vec}, from its steps alone."""
    value: dict[str, Vec] = {"g": {LEAF: sp.Integer(1)}, "zero": {}}
    for name, kind, data in program.vectors:
        if kind == "lin":
            value[name] = add(*((r, value[v]) for r, v in data))
        else:  # "jet": data = names of x_1..x_k; the vector is y_k
            value[name] = jet_outputs([value[v] for v in data])[-1]
    return {n: add(*((r, value[v]) for r, v in terms)) for n, terms in program.field.items()}


def _prune(program: TaylorProgram) -> None:
    """Drop zero terms, and vectors that nothing uses (last to first)."""
    program.field = {
        n: tuple((r, v) for r, v in terms if r != 0) for n, terms in program.field.items()
    }
    used = {v for terms in program.field.values() for _, v in terms}
    kept = []
    for name, kind, data in reversed(program.vectors):
        if name not in used:
            continue
        if kind == "lin":
            data = tuple((r, v) for r, v in data if r != 0)
            used |= {v for _, v in data}
        else:
            used |= set(data)
        kept.append((name, kind, data))
    program.vectors = kept[::-1]


def _number(x) -> bool:
    x = sp.sympify(x, strict=True)
    return not x.free_symbols and x != 0


def taylor_field_program(equation) -> TaylorProgram | None:
    """The order-4 Taylor program for ``equation`` (a ModifiedEquation through h⁴), or None.

    None when the field has coloured trees, is not of order 4, or the
    construction would divide by zero or by a method parameter.
    """
    if equation.order != 4:
        return None
    target: dict[int, Vec] = {n: {} for n in range(1, 6)}
    for t, omega in equation:
        omega = sp.sympify(omega, strict=True)
        if omega == 0:
            continue
        if t.colours > 1:
            return None
        target[len(t)][t] = sp.Integer(-1) ** len(t) * omega / t.symmetry()
    T = RootedTree
    g, hg = T("[]"), T("[[]]")
    tgg, hhg = T("[[],[]]"), T("[[[]]]")
    d4, tghg, htgg, hhhg = T("[[],[],[]]"), T("[[[]],[]]"), T("[[[],[]]]"), T("[[[[]]]]")
    f5 = target[5]
    e1 = f5.get(T("[[],[],[],[]]"), 0)
    e2 = f5.get(T("[[[]],[],[]]"), 0)
    e5 = f5.get(T("[[[]],[[]]]"), 0)
    if not _number(e1) or not _number(e2):
        return None
    mu = e1
    beta = sp.cancel(e2 / (6 * mu))
    tau = sp.cancel(e5 - 3 * beta**2 * mu)
    # T[g, ·] terms of f5: 4μ x3A
    x3a = {
        tgg: sp.cancel(f5.get(T("[[[],[]],[]]"), 0) / (4 * mu)),
        hhg: sp.cancel(f5.get(T("[[[[]]],[]]"), 0) / (4 * mu)),
    }
    # f4 = n1 y3A + n2 y3B + n3 y1D: D4 and T[g, Hg] parts fix n1, n2
    f4 = target[4]
    n1 = sp.cancel(f4.get(tghg, 0) / (3 * beta))
    n2 = sp.cancel(f4.get(d4, 0) - n1)
    # H-part of f5 = μ H x4A, x4A = r1 y3A + r2 y3B + r3 y1D
    r1 = sp.cancel(f5.get(T("[[[[]],[]]]"), 0) / (3 * beta * mu))
    r2 = sp.cancel(f5.get(T("[[[],[],[]]]"), 0) / mu - r1)
    # the rest: V3-parts (coefficients of HT[g,g] and HHHg after one H)
    q1, q2, n3, r3 = sp.symbols("q1 q2 n3 r3")
    eqs = [
        n1 * x3a[tgg] + n2 * q1 - f4.get(htgg, 0),
        n1 * x3a[hhg] + n2 * q2 + n3 - f4.get(hhhg, 0),
        r1 * x3a[tgg] + r2 * q1 - f5.get(T("[[[[],[]]]]"), 0) / mu,
        r1 * x3a[hhg] + r2 * q2 + r3 - f5.get(T("[[[[[]]]]]"), 0) / mu,
    ]
    matrix, rhs = sp.linear_eq_to_matrix(eqs, [q1, q2, n3, r3])
    if any(not _number(x) for x in (beta, 3 * beta * mu)):
        return None
    # n2 or r2 may vanish (then q is free: take it 0); solve by least unknowns
    solution = sp.linsolve((matrix, rhs), [q1, q2, n3, r3])
    if not solution:
        return None
    (values,) = solution
    free = set().union(*(sp.sympify(v, strict=True).free_symbols for v in values)) & {
        q1,
        q2,
        n3,
        r3,
    }
    values = [sp.cancel(sp.sympify(v, strict=True).subs({s: 0 for s in free})) for v in values]
    q1v, q2v, n3v, r3v = values
    for v in (*values, n1, n2, r1, r2, tau, *x3a.values()):
        if any(s in (q1, q2, n3, r3) for s in sp.sympify(v, strict=True).free_symbols):
            return None
        if sp.denom(sp.together(v)).free_symbols:
            return None
    p = TaylorProgram(beta=beta)
    vec = p.vectors
    vec.append(("y1", "jet", ("g",)))  # Hg
    vec.append(("x2a", "lin", ((beta, "y1"),)))
    vec.append(("y2a", "jet", ("g", "x2a")))  # T[g,g] + β HHg
    vec.append(("y2b", "jet", ("g", "zero")))  # T[g,g]
    vec.append(("hhg", "lin", ((1 / beta, "y2a"), (-1 / beta, "y2b"))))  # HHg
    vec.append(("x3a", "lin", ((x3a[tgg], "y2b"), (x3a[hhg], "hhg"))))
    vec.append(("x3b", "lin", ((q1v, "y2b"), (q2v, "hhg"))))
    vec.append(("y3a", "jet", ("g", "x2a", "x3a")))
    vec.append(("y3b", "jet", ("g", "zero", "x3b")))
    needs_d = n3v != 0 or r3v != 0
    if needs_d:
        vec.append(("y1d", "jet", ("hhg",)))  # HHHg
    x4a = [(r1, "y3a"), (r2, "y3b")] + ([(r3v, "y1d")] if needs_d else [])
    vec.append(("x4a", "lin", tuple(x4a)))
    vec.append(("y4a", "jet", ("g", "x2a", "x3a", "x4a")))
    if tau != 0:
        vec.append(("y2c", "jet", ("y1", "zero")))  # T[Hg, Hg]
    p.field = {
        1: ((target[1].get(g, 0), "g"),),
        2: ((target[2].get(hg, 0), "y1"),),
        3: ((target[3].get(tgg, 0), "y2b"), (target[3].get(hhg, 0), "hhg")),
        4: ((n1, "y3a"), (n2, "y3b")) + (((n3v, "y1d"),) if needs_d else ()),
        5: ((mu, "y4a"),) + (((tau, "y2c"),) if tau != 0 else ()),
    }
    _prune(p)
    got = expand(p)
    for n in range(1, 6):
        if add((1, got[n]), (-1, target[n])):
            return None  # the construction does not reach this field
    return p
