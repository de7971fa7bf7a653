"""Modified losses: the gradient structure of a modified equation, order by order.

For f = −∇L the elementary differentials are contractions of the derivative
tensors of L: F(t) = (−1)^{|t|} G(t) with G(•) = ∇L and
G([t1..tm]) = ∇^{m+1}L[G(t1), ..., G(tm), ·] (each node of degree k carries
∇^k L; the root keeps one index free). A free tree τ gives the scalar S(τ), the
full contraction: S(•) = L, S(•—•) = ‖∇L‖², S(•—•—•) = ∇Lᵀ∇²L∇L, … and

    ∇(S(τ)/σ(τ)) = Σ_{rootings t of τ} G(t)/σ(t).

Hence the h^k part of h f̃ = Σ h^{|t|} ω(t)/σ(t) F(t) is a gradient iff ω is
constant on the rootings of every free tree τ with k+1 nodes, and then

    L̃ = Σ_τ h^{|τ|−1} c(τ) S(τ),   c(τ) = (−1)^{|τ|−1} ω(τ)/σ(τ),   f̃ = −∇L̃.

For gradient descent c(•) = 1 and c(•—•) = 1/4: L̃ = L + h/4 ‖∇L‖² + O(h²)
(Barrett & Dherin 2021), and the h² part is not a gradient.

Canonical split at any order: the *gradient part* of ω on a free tree τ is
the average of ω over the *leaves* of τ (each leaf rooting t weighted by its
orbit size, ∝ 1/σ(t); for τ = • the single rooting):

    ω̄(τ) = Σ_{leaf rootings t} ω(t)/σ(t) / Σ_{leaf rootings t} 1/σ(t),

and the *remainder* is r(t) = ω(t) − ω̄(τ(t)). Then f̃ = −∇L̃_ḡ + R with L̃_ḡ
built from ω̄ as above and R = Σ h^{|t|−1} r(t)/σ(t) F(t). The remainder
vanishes iff the order is a gradient, and on every quadratic loss: there only
the chains [[…[•]…]] (paths rooted at a leaf) survive, and r = 0 on them, so
L̃_ḡ is exact on quadratics (−(1/2h) xᵀ log(I − hA) x for GD). For GD at h²,
L̃_ḡ gains h²/6 ∇Lᵀ∇²L∇L and R = h²/12 ∇³L[∇L,∇L]: third derivatives only.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import sympy as sp

from .._inputs import as_variables, check_order, h, no_step_symbol
from ..bseries._differentials import ElementaryDifferentials
from ..bseries._trees import FreeTree, RootedTree
from ._base import Result
from ._equation import ModifiedEquation
from ._render import render_latex, render_text, superscript

__all__ = [
    "ModifiedLoss",
    "gradient_latex",
    "gradient_text",
    "index_notation",
    "scalar_latex",
    "scalar_text",
]


class _SympyOrders(list):
    """Per-order entries in a coefficient domain, converted to sympy on first access."""

    def __init__(self, domain):
        super().__init__()
        self._domain = domain
        self._done: set[int] = set()

    def __getitem__(self, k):
        entries = super().__getitem__(k)
        if isinstance(k, int) and k not in self._done:
            to = self._domain.to_sympy
            entries[:] = [
                (tau, to(mean), [(t, to(o), to(r)) for t, o, r in rem])
                for tau, mean, rem in entries
            ]
            self._done.add(k)
        return entries


class ModifiedLoss(Result):
    """The modified loss of a method, and the non-gradient remainder beyond it.

    Normalisation: L̃ = Σ_τ h^{|τ|−1} c(τ) S(τ) over free trees τ, with S the
    full contraction (S(•) = L, S(•—•) = ‖∇L‖², …) and
    c(τ) = (−1)^{|τ|−1} ω(τ)/σ(τ) in terms of the modified-equation
    coefficients ω (h f̃ = Σ h^{|t|} ω(t)/σ(t) F(t)). f̃ = −∇L̃ through
    ``gradient_order``; beyond it ``split`` gives each order's gradient
    part and remainder.

    >>> import bea
    >>> ml = bea.modified_loss(bea.gd(), order=2)
    >>> ml.gradient_order
    1
    >>> print(ml.loss_text())
    L + h/4 ‖∇L‖²
    """

    def __init__(self, equation: ModifiedEquation) -> None:
        self.equation = equation
        self.method = equation.method
        self.order = equation.order
        series = equation.series
        tab = series.table
        dom = series.domain
        self._tab = tab
        # per order: list of (free tree, mean ω̄, [(rooting, ω, remainder)]), kept in the
        # coefficient domain and converted to sympy when an order is first read
        self._orders = _SympyOrders(dom)
        self._gradient: list[bool] = []
        for k in range(self.order + 1):
            entries = []
            exact = True
            for members in tab.free_classes(k + 1).values():
                omegas = [series.coeffs[j] for j in members]
                # leaf rootings only, each weighted by its orbit size (∝ 1/σ)
                weights = [
                    dom.convert(Fraction(1 if len(tab.children[j]) <= 1 else 0, tab.sigma[j]))
                    for j in members
                ]
                total_w = sum(weights, dom.zero)
                mean = sum((w * o for w, o in zip(weights, omegas)), dom.zero) / total_w
                rem = [(tab.tree(j), o, o - mean) for j, o in zip(members, omegas)]
                if any(o != omegas[0] for o in omegas):
                    exact = False
                rep = tab.canonical_rooting(members[0])
                entries.append((FreeTree._from_key(tab.key(rep)), mean, rem))
            entries.sort(key=lambda e: e[0])
            self._orders.append(entries)
            self._gradient.append(exact)
        g = -1
        while g + 1 <= self.order and self._gradient[g + 1]:
            g += 1
        #: Highest k such that f̃ is a gradient through h^k (−1 if not even at h⁰).
        self.gradient_order = g

    # -- structure ---------------------------------------------------------------
    def is_gradient(self, k: int) -> bool:
        """Whether the h^k part of f̃ is a gradient field (for every loss)."""
        check_order(k, "k")
        if k > self.order:
            raise ValueError(f"order {k} is beyond this result's order {self.order}")
        return self._gradient[k]

    def loss_terms(self) -> list[tuple[FreeTree, sp.Expr]]:
        """(τ, c(τ)) with L̃ = Σ h^{|τ|−1} c(τ) S(τ), through ``gradient_order``.

        c(τ) = (−1)^{|τ|−1} ω(τ)/σ(τ); zero terms are left out.
        """
        return self._terms_upto(self.gradient_order)

    def terms(self, k: int | None = None) -> list[tuple[FreeTree, sp.Expr]]:
        """(τ, c(τ)) of the modified loss, all of them or those of h^k (|τ| = k + 1).

        Normalisation L̃ = Σ h^{|τ|−1} c(τ) S(τ), through ``gradient_order``.
        """
        return [(t, c) for t, c in self.loss_terms() if k is None or len(t) == k + 1]

    def to_dict(self) -> dict:
        """JSON-ready: method, order, gradient order, loss terms, remainder terms, text.

        ``remainder_terms`` (beyond the gradient order) and, per non-gradient
        order, its gradient part and remainder; the normalisations are stated
        in the dict itself.
        """
        coloured = self.equation.colours > 1

        def remainder_term(t: RootedTree, r: sp.Expr) -> dict:
            return {
                "tree": str(t),
                "coefficient": str(r),
                "order": len(t) - 1,
                "gradient_coefficient": str((-1) ** len(t) * r / t.symmetry()),
                "text": gradient_text(t, coloured),
            }

        return {
            "method": self._method_name(),
            "order": self.order,
            "gradient_order": self.gradient_order,
            "normalisation": "L̃ = Σ_τ h^(|τ|−1) c(τ) S(τ); f̃ = −∇L̃ through the gradient order",
            "loss_text": self.loss_text() if self.gradient_order >= 0 else None,
            "loss_terms": [
                {"free_tree": str(t), "coefficient": str(c), "order": len(t) - 1}
                for t, c in self.loss_terms()
            ],
            "remainder_normalisation": (
                "beyond the gradient order f̃ = −∇[Σ_τ h^(|τ|−1) c(τ) S(τ)] + Σ_t h^(|t|−1) "
                "r(t)/σ(t) F(t) per order; 'coefficient' is r(t) (F(t): elementary differential "
                "of f = −∇L); 'gradient_coefficient' is (−1)^|t| r(t)/σ(t), the factor of the "
                "contraction G(t) of ∇L-tensors (F(t) = (−1)^|t| G(t)), as the text shows it"
            ),
            "remainder_terms": [remainder_term(t, c) for t, c in self.remainder_terms()],
            "non_gradient_orders": [
                {
                    "order": k,
                    "gradient_part": [
                        {
                            "free_tree": str(tau),
                            "coefficient": str(c),
                            "text": scalar_text(tau, coloured),
                        }
                        for tau, c in self.split(k)[0]
                    ],
                    "remainder_terms": [remainder_term(t, r) for t, r in self.split(k)[1]],
                }
                for k in range(self.gradient_order + 1, self.order + 1)
            ],
            "text": self.text(),
        }

    def _terms_upto(self, top: int) -> list[tuple[FreeTree, sp.Expr]]:
        out = []
        for k in range(top + 1):
            for tau, mean, _ in self._orders[k]:
                c = (-1) ** k * mean / tau.symmetry()
                if c != 0:
                    out.append((tau, sp.nsimplify(c) if c.is_Float else c))
        return out

    def split(self, k: int) -> tuple[list, list]:
        """The canonical split of the h^k part of f̃: ``(gradient, remainder)``.

        ``gradient``: list of (τ, c(τ)) with the h^k field part −∇(h^k Σ c(τ)S(τ))
        from the leaf average ω̄; ``remainder``: list of (t, r(t)) with the
        field part Σ h^k r(t)/σ(t) F(t), r = ω − ω̄ (empty iff order k is a
        gradient). See the module docstring.
        """
        check_order(k, "k")
        if k > self.order:
            raise ValueError(f"order {k} is beyond this result's order {self.order}")
        grad: list = []
        rem: list = []
        for tau, mean, members in self._orders[k]:
            c = (-1) ** k * mean / tau.symmetry()
            if c != 0:
                grad.append((tau, c))
            rem.extend((t, r) for t, _, r in members if r != 0)
        return grad, rem

    def remainder_terms(self) -> list[tuple[RootedTree, sp.Expr]]:
        """(t, r(t)) for every order: f̃ = −∇L̃_ḡ + Σ h^{|t|−1} r(t)/σ(t) F(t)."""
        out = []
        for k in range(self.order + 1):
            out.extend(self.split(k)[1])
        return out

    def hessian_metric_form(self, k: int) -> bool:
        """Whether the h^k field lies in the span of (∇²L)^j ∇S(τ), j + |τ| = k + 1.

        A field −P_h ∇L̃_h with P_h = Σ_j p_j h^j (∇²L)^j (a symmetric series
        in the Hessian) has, at h^k, terms (∇²L)^j ∇S(τ) with j + |τ| − 1 = k.
        This checks the *relaxed* condition that the h^k part is any linear
        combination of those (necessary for a metric form). Through h³ it
        holds for every B-series method (non-uniquely); at h⁴ the span has
        rank 7 among the 9 rooted trees with 5 nodes and gradient descent,
        heavy ball and RK4 all fall outside it, so no metric form of this
        kind exists at every order — the leaf-average split of
        ``split`` is the canonical decomposition instead.
        """
        check_order(k, "k")
        if k > self.order:
            raise ValueError(f"order {k} is beyond this result's order {self.order}")
        if self.equation.colours != 1:
            raise NotImplementedError("metric forms are analysed for one loss only")
        tab = self._tab
        series = self.equation.series
        n = k + 1
        ids = list(tab.ids(n))
        pos = {t: i for i, t in enumerate(ids)}
        gens = []
        for j in range(k + 1):
            for members in tab.free_classes(n - j).values():
                v = [0] * len(ids)
                for t in members:
                    for _ in range(j):
                        t = tab.graft(0, [t])  # (∇²L)·G(t) = G([t])
                    v[pos[t]] += 1
                gens.append(v)
        # field in the G basis: Σ_t (−1)^{|t|} ω(t)/σ(t) G(t)
        target = sp.Matrix([(-1) ** n * series.domain.to_sympy(series.coeffs[t]) for t in ids])
        G = sp.Matrix(gens).T
        return G.rank() == G.row_join(target).rank()

    # -- concrete evaluation --------------------------------------------------
    def on(self, loss: Any, variables: Any, h: sp.Symbol = h) -> sp.Expr:
        """L̃ on a concrete sympy loss, through ``gradient_order`` (a polynomial in h).

        For several losses (mini-batches) pass a list, one per colour.
        """
        no_step_symbol(variables, h)
        variables = as_variables(variables)
        losses = _losses(loss, variables, self.equation.colours)
        ev = _Scalars(losses, variables)
        return sp.Add(*[h ** (len(tau) - 1) * c * ev(tau) for tau, c in self.loss_terms()])

    def remainder_on(self, loss: Any, variables: Any, h: sp.Symbol = h) -> sp.Matrix:
        """The non-gradient remainder R (a column Matrix in h) on a concrete loss."""
        no_step_symbol(variables, h)
        variables = as_variables(variables)
        losses = _losses(loss, variables, self.equation.colours)
        fields = [-sp.Matrix([sp.diff(L, v) for v in variables]) for L in losses]
        diffs = ElementaryDifferentials(fields, variables)
        out = sp.zeros(len(variables), 1)
        for t, r in self.remainder_terms():
            out += h ** (len(t) - 1) * r / t.symmetry() * diffs(t)
        return out

    # -- rendering ------------------------------------------------------------------
    def _loss_groups(self, latex: bool, top: int):
        coloured = self.equation.colours > 1
        fmt = scalar_latex if latex else scalar_text
        groups = []
        for k in range(top + 1):
            terms = [
                ((-1) ** k * mean / tau.symmetry(), fmt(tau, coloured))
                for tau, mean, _ in self._orders[k]
            ]
            groups.append((k, terms))
        return groups

    def _remainder_groups(self, latex: bool, k: int):
        coloured = self.equation.colours > 1
        fmt = gradient_latex if latex else gradient_text
        _, rem = self.split(k)
        # F(t) = (−1)^{|t|} G(t)
        return [(k, [((-1) ** len(t) * r / t.symmetry(), fmt(t, coloured)) for t, r in rem])]

    def loss_text(self) -> str:
        """L̃ through the gradient order, e.g. ``L + h/4 ‖∇L‖²``."""
        return render_text(self._loss_groups(False, self.gradient_order))

    def loss_latex(self) -> str:
        return render_latex(self._loss_groups(True, self.gradient_order))

    def text(self) -> str:
        """Readable summary: the loss, then each non-gradient order as field terms."""
        g = self.gradient_order
        lines = []
        if g >= 0:
            tail = f" + O(h{superscript(g + 1)})" if g == self.order else ""
            lines.append(f"L̃ = {self.loss_text()}{tail}")
            lines.append(f"f̃ = −∇L̃ through h{superscript(g)}" if g else "f̃ = −∇L̃ at h⁰")
        else:
            lines.append("no modified loss: the h⁰ term is not a gradient")
        for k in range(g + 1, self.order + 1):
            grad = render_text(self._loss_groups(False, k)[k:])
            rem = render_text(self._remainder_groups(False, k))
            lines.append(
                f"h{superscript(k)}: NOT a gradient flow; f̃ term = −∇[{grad}] + remainder [{rem}]"
            )
        if g < self.order:
            lines.append(f"(remainder: vector-field terms; + O(h{superscript(self.order + 1)}))")
        return "\n".join(lines)

    def latex(self) -> str:
        """LaTeX: an ``aligned`` block with the loss and each non-gradient order."""
        g = self.gradient_order
        rows = []
        if g >= 0:
            tail = f" + \\mathcal{{O}}(h^{{{g + 1}}})" if g == self.order else ""
            rows.append(f"\\tilde L &= {self.loss_latex()}{tail}")
        for k in range(g + 1, self.order + 1):
            grad = render_latex(self._loss_groups(True, k)[k:])
            rem = render_latex(self._remainder_groups(True, k))
            rows.append(
                f"\\tilde f_{{{k}}} &= -\\nabla\\left[{grad}\\right] + "
                f"\\underbrace{{{rem}}}_{{\\text{{not a gradient}}}}"
            )
        return "\\begin{aligned}" + " \\\\ ".join(rows) + "\\end{aligned}"

    def _repr_latex_(self) -> str:
        return "$$" + self.latex() + "$$"

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        method = self.equation.method
        name = method.name if method is not None else None
        return (
            f"<ModifiedLoss of {name or 'a method'} through h^{self.order}, "
            f"gradient through h^{self.gradient_order}: {self.loss_text()}>"
        )

    def index_notation(self) -> str:
        """L̃ in Einstein notation: ``L + h/4 L_i L_i + …`` (through the gradient order)."""
        groups = []
        coloured = self.equation.colours > 1
        for k in range(self.gradient_order + 1):
            groups.append(
                (
                    k,
                    [
                        ((-1) ** k * mean / tau.symmetry(), index_notation(tau, coloured))
                        for tau, mean, _ in self._orders[k]
                    ],
                )
            )
        return render_text(groups)


def _losses(loss, variables, colours: int) -> list[sp.Expr]:
    items = loss if isinstance(loss, (list, tuple)) else [loss]
    if len(items) != colours:
        raise ValueError(
            f"this result involves {colours} loss(es): pass {'a list of ' if colours > 1 else ''}"
            f"{colours} scalar sympy expression(s), got {len(items)}"
        )
    out = []
    for L in items:
        if isinstance(L, sp.MatrixBase) or not isinstance(L, sp.Expr):
            raise ValueError(
                f"a loss must be a scalar sympy expression in the variables {variables}, "
                f"got {L!r} ({type(L).__name__})"
            )
        out.append(L)
    return out


# ----------------------------------------------------------------------------
# Scalars S(τ) on concrete losses
# ----------------------------------------------------------------------------


def split_edge(tau: FreeTree) -> tuple[RootedTree, RootedTree] | None:
    """Two rooted trees t_a, t_b left by removing one edge of τ (None for τ = •).

    S(τ) = G(t_a)·G(t_b); τ's centre rooting loses its first child.
    """
    r = tau.center_rooting()
    colour, kids = r._key
    if not kids:
        return None
    return RootedTree._from_key(kids[0]), RootedTree._from_key((colour, kids[1:]))


class _Scalars:
    def __init__(self, losses, variables):
        self.losses = losses
        grads = [sp.Matrix([sp.diff(L, v) for v in variables]) for L in losses]
        self.G = ElementaryDifferentials(grads, variables)

    def __call__(self, tau: FreeTree) -> sp.Expr:
        parts = split_edge(tau)
        if parts is None:
            return self.losses[tau.center_rooting().colour]
        a, b = parts
        return (self.G(a).T * self.G(b))[0, 0]


def scalar_value(tau: FreeTree, loss, variables) -> sp.Expr:
    """S(τ) for a concrete sympy loss (or list of losses for coloured trees)."""
    variables = as_variables(variables)
    colours = tau.center_rooting().colours
    items = loss if isinstance(loss, (list, tuple)) else [loss]
    losses = _losses(
        items if colours > 1 else items[:1] if len(items) == 1 else items,
        variables,
        colours if colours > 1 else len(items),
    )
    if colours == 1 and len(losses) != 1:
        raise ValueError(f"S(τ) of a one-colour tree takes one loss, got {len(losses)}")
    return _Scalars(losses, variables)(tau)


# ----------------------------------------------------------------------------
# Tensor notation
# ----------------------------------------------------------------------------

_SUBS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _L(colour: int, coloured: bool, latex: bool) -> str:
    if not coloured:
        return "L"
    return f"L_{{{colour}}}" if latex else "L" + str(colour).translate(_SUBS)


def _nabla(k: int, colour: int, coloured: bool, latex: bool) -> str:
    L = _L(colour, coloured, latex)
    if latex:
        return "\\nabla " + L if k == 1 else f"\\nabla^{{{k}}} " + L
    return "∇" + L if k == 1 else "∇" + superscript(k) + L


def _g(key: tuple, coloured: bool, latex: bool) -> str:
    colour, kids = key
    if not kids:
        return _nabla(1, colour, coloured, latex)
    if len(kids) == 1:
        return _nabla(2, colour, coloured, latex) + _g(kids[0], coloured, latex)
    inner = ",".join(_g(k, coloured, latex) for k in kids)
    return _nabla(len(kids) + 1, colour, coloured, latex) + "[" + inner + "]"


def gradient_text(t: RootedTree, coloured: bool = False) -> str:
    """G(t) in tensor notation: ∇L, ∇²L∇L, ∇³L[∇L,∇L], … (F(t) = (−1)^{|t|} G(t))."""
    return _g(t._key, coloured, False)


def gradient_latex(t: RootedTree, coloured: bool = False) -> str:
    return _g(t._key, coloured, True)


def _scalar(tau: FreeTree, coloured: bool, latex: bool) -> str:
    r = tau.center_rooting()
    colour, kids = r._key
    if not kids:
        return _L(colour, coloured, latex)
    # bicentral trees (and •—•): contract across the central edge
    if len(kids) == 1 or _bicentral(tau):
        tall = max(kids, key=lambda k: RootedTree._from_key(k).height())
        rest = list(kids)
        rest.remove(tall)
        a = _g(tall, coloured, latex)
        b = _g((colour, tuple(rest)), coloured, latex)
        if a == b:
            return f"\\|{a}\\|^{{2}}" if latex else f"‖{a}‖²"
        return f"{a} \\cdot {b}" if latex else f"{a}·{b}"
    if len(kids) == 2 and not kids[0][1] and not kids[1][1]:
        a = _g(kids[0], coloured, latex)
        b = _g(kids[1], coloured, latex)
        H = _nabla(2, colour, coloured, latex)
        return f"{a}^{{\\top}}{H}{b}" if latex else f"{a}ᵀ{H}{b}"
    inner = ",".join(_g(k, coloured, latex) for k in kids)
    return _nabla(len(kids), colour, coloured, latex) + "[" + inner + "]"


def _bicentral(tau: FreeTree) -> bool:
    """Whether τ has two centres: its centre rooting has a child as tall as the rest."""
    r = tau.center_rooting()
    kids = r.children
    if len(kids) < 1:
        return False
    heights = sorted((k.height() for k in kids), reverse=True)
    # rooted at a centre of a bicentral tree: the tallest child is strictly taller
    # than the others, and re-rooting at it keeps the height
    return len(heights) == 1 or heights[0] > heights[1]


def scalar_text(tau: FreeTree, coloured: bool = False) -> str:
    """S(τ) in tensor notation: L, ‖∇L‖², ∇Lᵀ∇²L∇L, ∇³L[∇L,∇L,∇L], …"""
    return _scalar(tau, coloured, False)


def scalar_latex(tau: FreeTree, coloured: bool = False) -> str:
    return _scalar(tau, coloured, True)


_INDICES = "ijklmnpqrsuvwabcdefg"


def index_notation(tau: FreeTree, coloured: bool = False) -> str:
    """S(τ) in Einstein notation: each node of degree k is L with k indices.

    >>> from bea import FreeTree
    >>> index_notation(FreeTree("[[],[]]"))
    'L_i L_ij L_j'
    """
    g = tau.to_networkx()
    edges = list(g.edges())
    if len(edges) > len(_INDICES):
        raise ValueError(f"index notation supports at most {len(_INDICES)} edges")
    label = {frozenset(e): _INDICES[i] for i, e in enumerate(edges)}
    # print nodes along a depth-first order from a leaf for readability
    start = min(g.nodes, key=lambda v: (g.degree(v), v)) if len(g) > 1 else next(iter(g.nodes))
    import networkx as nx

    order = list(nx.dfs_preorder_nodes(g, start))
    out = []
    for v in order:
        idx = "".join(label[frozenset((v, w))] for w in g.neighbors(v))
        name = "L"
        if coloured:
            name += str(g.nodes[v].get("colour", 0)).translate(_SUBS)
        out.append(name + ("_" + idx if idx else ""))
    return " ".join(out)
