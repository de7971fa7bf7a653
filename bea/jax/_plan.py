"""Evaluation plans: which derivatives of ∇L a modified field or loss needs.

A plan is a straight-line program over vectors (pytrees shaped like the
parameters) with these kinds of step:

``hvp``     v ↦ ∇²L·v, a jvp of ∇L at the point;
``dfun``    defines p ↦ ∇^{k+1}L(p)[a1, ..., ak, ·] by k nested jvps of ∇L;
``deriv``   ∇^{m+1}L[a1, ..., a_{m−1}, w, ·] = jvp of a ``dfun`` along w (m ≥ 2);
``lin``     a linear combination Σ c_i v_i with c_i = r_i h^{k_i};
``vfun``    defines (p, v) ↦ ∇^{k+2}L(p)[a1, ..., ak, v, ·] (a jvp of a ``dfun``);
``fused``   ∇^{m+1}L[a1, ..., a_{m−1}, a, u, ·] + ∇^{m}L[a1, ..., a_{m−1}, w, ·] as one
            jvp of a ``vfun`` at (params, a) along (u, w);
``dot``     a full contraction a·b (only in losses);
``jet``     y_k = d^k/ds^k ∇L(x(s)) at s = 0 along the curve
            x(s) = x + Σ_j s^j/j! a_j (one ``jax.experimental.jet``; see ``_taylor``);
``zero``    the zero vector (a Taylor coefficient left out).

It is built from the exact coefficients by multilinearity. With
F(t) = (−1)^{|t|} G(t), G(•) = g = ∇L and G([t1..tm]) = ∇^{m+1}L[G(t1), ..., G(tm), ·],
a sum Σ_t c_t G(t) over trees whose roots have m children is grouped by the
m − 1 smallest children ("fixed") and the derivative is taken once per group
along the combined largest children ("free"):

    Σ_t c_t ∇^{m+1}L[fixed, G(u_t), ·] = ∇^{m+1}L[fixed, Σ_t c_t G(u_t), ·],

recursively. Derivatives of consecutive orders in one sum share a pass
(``fuse``): cA ∇^{k+2}L[F, X, ·] + cB ∇^{k+3}L[F, a, Y, ·] is cB times one jvp
of (p, v) ↦ ∇^{k+2}L(p)[F, v, ·] at (params, a) along (Y, cA/cB · X), a pass of
its own even when ∇^{k+2}L[F, a, ·] is also needed (with the checkpointed loss
of ``_codegen``, sharing that primal through one ``jax.linearize`` measured more
memory and more flops). Every tree vector G(t), every combination and every
derivative function is computed once (memoised by its inputs). A modified loss
L̃ = Σ_τ h^{|τ|−1} c(τ) S(τ) uses S(τ) = ∇L·G(t_τ), with t_τ the tree left when
a leaf of τ is cut off (rooted at the leaf's neighbour), so
L̃ = c(•) L + ∇L·Σ_τ h^{|τ|−1} c(τ) G(t_τ): one combination and one dot product.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from .._inputs import exact
from ..bseries._trees import FreeTree, RootedTree
from ..results._loss import gradient_text
from ..results._render import superscript
from ._taylor import taylor_field_program

__all__ = ["Plan", "field_plan", "loss_plan"]


@dataclass
class Step:
    kind: str  # "hvp" | "dfun" | "deriv" | "vfun" | "fused" | "lin" | "dot" | "jet" | "zero"
    out: str
    args: tuple = ()
    coefficients: tuple = ()  # for "lin": ((r, k), ...) matching args
    order: int = 0  # derivative order m of ∇^{m+1}L for "hvp"/"deriv"
    label: str = ""


@dataclass
class Plan:
    """A straight-line program; ``result`` names the returned vector."""

    kind: str  # "field" | "loss"
    steps: list = field(default_factory=list)
    result: str = ""
    value_coefficient: tuple[sp.Expr, int] | None = None  # (r, 0) multiplying L in a loss
    symbols: tuple = ()

    def cost(self) -> dict:
        """Counts of each kind of derivative step: {"hvp": n, "deriv2": n, ...}."""
        out: dict[str, int] = {"grad": 1, "hvp": 0}
        for s in self.steps:
            if s.kind == "hvp":
                out["hvp"] += 1
            elif s.kind == "deriv":
                key = f"deriv{s.order}"
                out[key] = out.get(key, 0) + 1
            elif s.kind == "fused":
                key = f"fused{s.order}"
                out[key] = out.get(key, 0) + 1
            elif s.kind == "dfun":
                key = f"dfun{s.order}"
                out[key] = out.get(key, 0) + 1
            elif s.kind == "jet":
                key = f"jet{len(s.args)}"
                out[key] = out.get(key, 0) + 1
        return out

    @property
    def uses_jets(self) -> bool:
        return any(s.kind == "jet" for s in self.steps)

    @property
    def uses_hvp(self) -> bool:
        return any(s.kind == "hvp" for s in self.steps)

    def gradient_form(self) -> tuple | None:
        """``(a, b)`` when the field is a∇L + b∇²L∇L, else None.

        Such a field (every field through h¹) is ∇(aL + b/2 ‖∇L‖²): the code
        generator then takes it as one gradient of that scalar, reverse over
        reverse, which on the cost model's MLP measured less time and memory than
        ∇L and a separate forward-over-reverse HVP, at the same flops.
        Coefficients are ``(r, k)`` pairs meaning r·h^k.
        """
        if self.kind != "field" or [s.kind for s in self.steps] != ["hvp", "lin"]:
            return None
        hvp, lin = self.steps
        if (
            hvp.args != ("g",)
            or lin.out != self.result
            or sorted(lin.args) != sorted(("g", hvp.out))
        ):
            return None
        coefficients = dict(zip(lin.args, lin.coefficients))
        return coefficients["g"], coefficients[hvp.out]


def _by_size(t: RootedTree):
    return (len(t), t._key)


class _Planner:
    def __init__(self, kind: str):
        self.plan = Plan(kind)
        self.names = 0
        self.tree_names: dict[RootedTree, str] = {RootedTree("[]"): "g"}
        self.combos: dict[frozenset, str] = {}
        self.derivs: dict[tuple, str] = {}
        self.dfuns: dict[tuple, str] = {}
        self.labels: dict[str, str] = {"g": "∇L"}

    def _new(self) -> str:
        self.names += 1
        return f"v{self.names}"

    # -- single trees ---------------------------------------------------------------
    def tree(self, t: RootedTree) -> str:
        """Name of the vector G(t)."""
        name = self.tree_names.get(t)
        if name is None:
            kids = sorted(t.children, key=_by_size)
            fixed = tuple(self.tree(c) for c in kids[:-1])
            name = self.deriv(fixed, self.tree(kids[-1]), label=gradient_text(t))
            self.tree_names[t] = name
        return name

    def deriv(self, fixed: tuple, free: str, label: str = "") -> str:
        """Name of ∇^{m+1}L[fixed..., free, ·] with m = len(fixed) + 1."""
        key = (fixed, free)
        name = self.derivs.get(key)
        if name is not None:
            return name
        name = self._new()
        m = len(fixed) + 1
        if not label:
            args = ", ".join(self.labels[a] for a in (*fixed, free))
            label = f"∇{superscript(m + 1)}L[{args}]" if m > 1 else f"∇²L·{self.labels[free]}"
        if m == 1:
            self.plan.steps.append(Step("hvp", name, (free,), order=1, label=label))
        else:
            fn = self.dfun(fixed)
            self.plan.steps.append(Step("deriv", name, (fn, free), order=m, label=label))
        self.derivs[key] = name
        self.labels[name] = label
        return name

    def dfun(self, fixed: tuple) -> str:
        """Name of the function p ↦ ∇^{k+1}L(p)[fixed..., ·], k = len(fixed)."""
        name = self.dfuns.get(fixed)
        if name is None:
            inner = "grad_at" if len(fixed) == 1 else self.dfun(fixed[:-1])
            name = "d_" + "_".join(fixed)
            args = ", ".join(self.labels[a] for a in fixed)
            label = f"p ↦ ∇{superscript(len(fixed) + 1)}L(p)[{args}]"
            self.plan.steps.append(
                Step("dfun", name, (inner, fixed[-1]), order=len(fixed), label=label)
            )
            self.dfuns[fixed] = name
        return name

    def vfun(self, fixed: tuple) -> str:
        """Name of the function (p, v) ↦ ∇^{k+2}L(p)[fixed..., v, ·], k = len(fixed)."""
        name = "dv" + "".join("_" + a for a in fixed)
        if name not in self.dfuns.values():
            inner = self.dfun(fixed) if fixed else "grad_at"
            args = ", ".join([*(self.labels[a] for a in fixed), "v"])
            label = f"(p, v) ↦ ∇{superscript(len(fixed) + 2)}L(p)[{args}]"
            self.plan.steps.append(Step("vfun", name, (inner,), order=len(fixed), label=label))
            self.dfuns[("vfun", *fixed)] = name
        return name

    def _lin(self, vector: str, coefficient: tuple) -> str:
        """Name of ``r h^k · vector`` for ``coefficient = (r, k)``."""
        name = self._new()
        self.plan.steps.append(Step("lin", name, (vector,), coefficients=(coefficient,)))
        self.labels[name] = name
        return name

    def fuse(self, pending: list) -> list:
        """Parts c·∇^{m+1}L[fixed..., free, ·] of a sum, pairing derivatives to save passes.

        Two terms cA ∇^{k+2}L[F, X, ·] + cB ∇^{k+3}L[F, a, Y, ·] are one jvp of
        Φ(p, v) = ∇^{k+2}L(p)[F, v, ·] at (params, a) along (Y, cA/cB X), times cB:
        the derivative along X rides on the tangent of v. With Y = a the outer
        tangent repeats the inner one, which XLA merges. The factor taken out is
        the one with the lower power of h, so no coefficient divides by h and the
        code is finite at h = 0: cA times the jvp along (cB/cA Y, X), or, when
        Y = a, ±cA times the jvp at (params, ρa) along (ρa, ±X) with
        ρ² = |cB/cA| (a half-integer power of h), which keeps the inner and
        outer tangents one vector. Pairs are fused only when neither derivative exists yet and the
        factor divided by is a number (no method parameters).
        """
        out: list[tuple[tuple, str]] = []
        used: set[int] = set()
        for i, (c_b, fixed_b, free_b) in enumerate(pending):
            if i in used or not fixed_b or (fixed_b, free_b) in self.derivs:
                continue
            if sp.sympify(c_b[0], strict=True).free_symbols:
                continue
            for j, (c_a, fixed_a, free_a) in enumerate(pending):
                if j in used or j == i or fixed_a != fixed_b[:-1]:
                    continue
                if (fixed_a, free_a) in self.derivs:
                    continue
                ratio = (
                    sp.sympify(c_a[0], strict=True) / sp.sympify(c_b[0], strict=True),
                    c_a[1] - c_b[1],
                )
                if ratio[1] < 0 and sp.sympify(c_a[0], strict=True).free_symbols:
                    continue  # no exact numeric factor to take out without 1/h
                used |= {i, j}
                a = fixed_b[-1]
                w, y, outer, primal = free_a, free_b, c_b, a
                if ratio[1] < 0:  # take out the lower power of h: finite at h = 0
                    outer = c_a
                    q, k = 1 / ratio[0], -ratio[1]  # cB/cA = q h^k, k > 0
                    if free_b == a:
                        # cA(∇²[X] + q h^k ∇³[a, a]) = ±cA(∇²[±X] + ∇³[ρa, ρa]), ρ² = |q| h^k:
                        # primal and tangent stay one vector, as in the form without ρ
                        if q < 0:
                            outer = (-c_a[0], c_a[1])
                            w = self._lin(free_a, (-1, 0))
                        primal = y = self._lin(a, (sp.sqrt(abs(q)), sp.Rational(k, 2)))
                    else:
                        y = self._lin(free_b, (q, k))
                elif ratio != (1, 0):
                    w = self._lin(free_a, ratio)
                fn = self.vfun(fixed_a)
                name = self._new()
                m = len(fixed_b) + 1
                args = ", ".join(self.labels[x] for x in (*fixed_b[:-1], primal, y))
                inner = ", ".join([*(self.labels[x] for x in fixed_a), self.labels[w]])
                label = f"∇{superscript(m + 1)}L[{args}] + ∇{superscript(m)}L[{inner}]"
                self.plan.steps.append(
                    Step("fused", name, (fn, primal, y, w), order=m, label=label)
                )
                self.labels[name] = name
                out.append((outer, name))
                break
        for i, (c, fixed, free) in enumerate(pending):
            if i not in used:
                out.append((c, self.deriv(fixed, free)))
        return out

    # -- combinations ---------------------------------------------------------------
    def combo(self, terms: dict[RootedTree, tuple]) -> str:
        """Name of Σ_t r_t h^{k_t} G(t) for ``terms = {t: (r_t, k_t)}``."""
        terms = {t: c for t, c in terms.items() if c[0] != 0}
        if not terms:
            raise ValueError("empty combination")
        key = frozenset(terms.items())
        if key in self.combos:
            return self.combos[key]
        if len(terms) == 1:
            ((t, c),) = terms.items()
            if c == (1, 0):
                return self.tree(t)
        parts: list[tuple[tuple, str]] = []
        groups: dict[tuple, dict[RootedTree, tuple]] = {}
        for t in sorted(terms, key=_by_size):
            c = terms[t]
            if len(t) == 1:
                parts.append((c, "g"))
                continue
            kids = sorted(t.children, key=_by_size)
            fixed = tuple(kids[:-1])
            groups.setdefault(fixed, {})[kids[-1]] = c
        pending: list[tuple[tuple, tuple, str]] = []
        for fixed, free in groups.items():
            fixed_names = tuple(self.tree(u) for u in fixed)
            if len(free) == 1:
                ((u, c),) = free.items()
                pending.append((c, fixed_names, self.tree(u)))
            else:
                pending.append(((1, 0), fixed_names, self.combo(free)))
        parts += self.fuse(pending)
        if len(parts) == 1 and parts[0][0] == (1, 0):
            name = parts[0][1]
        else:
            name = self._new()
            self.plan.steps.append(
                Step(
                    "lin",
                    name,
                    tuple(n for _, n in parts),
                    coefficients=tuple(c for c, _ in parts),
                )
            )
            self.labels[name] = name
        self.combos[key] = name
        return name


def field_plan(equation, taylor: bool = True) -> Plan:
    """Plan for f̃ = Σ_t h^{|t|−1} ω(t)/σ(t) (−1)^{|t|} G(t) (``equation``: a ModifiedEquation).

    With ``taylor`` the plan is the Taylor-mode one of ``_taylor`` where that
    exists (order 4, see ``taylor_field_program``), else the nested-jvp plan.
    """
    program = taylor_field_program(equation) if taylor else None
    if program is not None:
        return _taylor_plan(program, equation)
    planner = _Planner("field")
    terms: dict[RootedTree, tuple] = {}
    symbols: set = set()
    for t, omega in equation:
        omega = exact(omega)
        if omega == 0:
            continue
        if t.colours > 1:
            raise NotImplementedError(
                "code generation handles one loss (uncoloured trees); this method's series "
                f"has coloured tree {t}"
            )
        symbols |= omega.free_symbols
        terms[t] = (sp.Integer(-1) ** len(t) * omega / t.symmetry(), len(t) - 1)
    planner.plan.result = planner.combo(terms) if terms else ""
    planner.plan.symbols = tuple(sorted(symbols, key=lambda s: s.name))
    return planner.plan


def _leaf_cut(tau: FreeTree) -> RootedTree:
    """The rooted tree left by cutting a leaf off τ (|τ| ≥ 2), of least height."""
    best = None
    for r in tau.rootings():
        if len(r.children) == 1:
            (t,) = r.children
            if best is None or (t.height(), t._key) < (best.height(), best._key):
                best = t
    assert best is not None
    return best


def loss_plan(terms) -> Plan:
    """Plan for L̃ = Σ_τ h^{|τ|−1} c(τ) S(τ) from ``terms = [(τ, c(τ)), ...]``."""
    planner = _Planner("loss")
    vector: dict[RootedTree, tuple] = {}
    symbols: set = set()
    for tau, c in terms:
        c = exact(c)
        if c == 0:
            continue
        symbols |= c.free_symbols
        if len(tau) == 1:
            planner.plan.value_coefficient = (c, 0)
        else:
            vector[_leaf_cut(tau)] = (c, len(tau) - 1)
    if vector:
        v = planner.combo(vector)
        planner.plan.steps.append(Step("dot", "s", ("g", v), label=f"∇L·{planner.labels[v]}"))
        planner.plan.result = "s"
    planner.plan.symbols = tuple(sorted(symbols, key=lambda s: s.name))
    return planner.plan


def _taylor_plan(program, equation) -> Plan:
    """The steps of a ``TaylorProgram``: jets, linear combinations and the field."""
    plan = Plan("field")
    names = {"g": "g"}
    labels = {"g": "∇L", "zero": "0"}
    count = 0
    for name, kind, data in program.vectors:
        count += 1
        out = f"v{count}"
        names[name] = out
        if kind == "lin" and len(data) == 1 and data[0][0] == 1:
            names[name] = names[data[0][1]]
            count -= 1
            continue
        if kind == "lin":
            plan.steps.append(
                Step(
                    "lin",
                    out,
                    tuple(names[v] for _, v in data),
                    coefficients=tuple((r, 0) for r, _ in data),
                )
            )
        else:
            if "zero" in data and "zero" not in names:
                names["zero"] = "v0"
                plan.steps.append(Step("zero", "v0", label="0"))
            k = len(data)
            args = " + ".join(f"s{superscript(j)}/{j}! {names[v]}" for j, v in enumerate(data, 1))
            label = f"d{superscript(k)}/ds{superscript(k)} ∇L(params + {args}) at s = 0"
            plan.steps.append(Step("jet", out, tuple(names[v] for v in data), label=label))
        labels[out] = out
    terms = [(r, n - 1, names[v]) for n, part in program.field.items() for r, v in part]
    count += 1
    plan.result = f"v{count}"
    plan.steps.append(
        Step(
            "lin",
            plan.result,
            tuple(v for _, _, v in terms),
            coefficients=tuple((r, k) for r, k, _ in terms),
            label="f̃ = Σ_n h^(n−1) f_n",
        )
    )
    symbols: set = set()
    for _, omega in equation:
        symbols |= exact(omega).free_symbols
    plan.symbols = tuple(sorted(symbols, key=lambda s: s.name))
    return plan
