"""Exact B-series and their algebra.

Normalisation (used by every function in this module that takes or returns
coefficients)::

    B(a, y) = a(∅) y + Σ_{1 ≤ |t| ≤ N} h^{|t|} a(t)/σ(t) F(t)(y)

with F(t) the elementary differential of the rooted tree t (F(•) = f,
F([t1..tm]) = f^{(m)}(F(t1), ..., F(tm))), σ(t) its symmetry and N the
truncation (``max_nodes``). A series with a(∅) = 1 is a *point* (a map near
the identity, such as one step of a method); one with a(∅) = 0 is a
*displacement* or a *field*: a modified field h f̃ = Σ h^{|t|} ω(t)/σ(t) F(t)
is stored as the series ω with ω(∅) = 0.

The exact flow of f has a(t) = 1/γ(t); explicit Euler has a(•) = 1 and 0 on
every other tree.

Coefficients are exact: elements of a sympy polys domain, ``QQ`` (backed by
python-flint or gmpy2 where installed) or a rational function field
``QQ(β, ...)`` when method parameters are symbols. Python floats are read as
the decimal they print as (``0.9`` is 9/10); they never enter the arithmetic.

References: Hairer, Lubich, Wanner, *Geometric Numerical Integration*, III.1
and IX.9; Chartier, Hairer, Vilmart (2010), *Algebraic structures of B-series*.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from typing import Any

import flint
import sympy as sp
from sympy.polys.domains import QQ
from sympy.polys.domains.domain import Domain

from .._inputs import check_order, exact
from ._kernel import MAX_NODES, log_qq
from ._ratfunc import PowerDenominators, RationalFunctionField
from ._trees import RootedTree, TreeTable, table

__all__ = [
    "BSeries",
    "exact_flow",
    "lie_derivative",
    "to_domain_value",
    "unify_domains",
]


# ----------------------------------------------------------------------------
# Exact scalars
# ----------------------------------------------------------------------------


def _domain_of(expr: sp.Expr) -> Domain:
    syms = expr.free_symbols
    if not syms:
        return QQ
    return RationalFunctionField(syms)


def unify_domains(*domains: Domain) -> Domain:
    """The smallest domain holding all of ``domains``: QQ, or QQ(symbols).

    QQ(symbols) is a ``bea.bseries._ratfunc.RationalFunctionField`` (FLINT
    polynomials); sympy fraction fields given by callers are mapped onto it.
    """
    syms: set = set()
    for d in domains:
        if d is None or d == QQ:
            continue
        gens = getattr(d, "symbols", None) or getattr(d, "gens", None)
        if not gens:
            raise TypeError(f"unsupported coefficient domain {d!r}")
        syms |= {sp.sympify(g, strict=True) for g in gens}
    return RationalFunctionField(syms) if syms else QQ


def _from_sympy_list(values) -> tuple[Domain, list]:
    """Convert exact values to elements of one common domain."""
    exprs = [exact(v) for v in values]
    dom = QQ
    for x in exprs:
        if x.free_symbols:
            dom = unify_domains(dom, _domain_of(x))
    try:
        return dom, [dom.from_sympy(x) for x in exprs]
    except Exception as exc:
        raise ValueError(
            f"coefficients must be rational functions of their symbols; got {values!r} ({exc})"
        ) from exc


def to_domain_value(value, domain: Domain | None = None):
    """Convert a user scalar to ``(domain, element)``, enlarging ``domain`` if needed."""
    expr = exact(value)
    dom = unify_domains(domain or QQ, _domain_of(expr))
    try:
        return dom, dom.from_sympy(expr)
    except Exception as exc:  # sympy raises CoercionFailed and friends
        raise ValueError(
            f"cannot use {value!r} as an exact coefficient: it is not a rational function of "
            f"its symbols ({exc}). Use rationals and symbols, e.g. sympy.Rational(9, 10) or "
            "sympy.Symbol('beta')."
        ) from exc


# ----------------------------------------------------------------------------
# The series type
# ----------------------------------------------------------------------------


class BSeries:
    """A truncated B-series with exact coefficients.

    ``B(a, y) = a(∅) y + Σ_{1≤|t|≤N} h^{|t|} a(t)/σ(t) F(t)(y)``.

    Build one with ``from_function``, ``from_dict``, ``exact_flow``
    or from a method (``method.bseries(N)``). Index it with a tree (or a
    bracket string) to get a sympy number: ``series["[[]]"]``; ``series.empty``
    is a(∅). Arithmetic: ``+``, ``-``, scalar ``*`` (linear combinations of
    points and displacements), ``outer @ inner`` (composition of maps,
    ``B(outer, B(inner, y))``), ``inverse``, ``log``, ``exp``.
    """

    __slots__ = ("_known_log", "coeffs", "domain", "empty", "max_nodes", "table")
    table: TreeTable
    domain: Domain
    coeffs: Any  # a tuple (a list only in a draft being solved for)
    empty: Any
    max_nodes: int
    _known_log: BSeries | None  # ω = log of this point, when a solver found it with it

    def __init__(
        self, tab: TreeTable, domain: Domain, coeffs: Sequence, empty: Any, max_nodes: int
    ) -> None:
        _set = object.__setattr__
        _set(self, "table", tab)
        _set(self, "domain", domain)
        _set(self, "coeffs", tuple(coeffs))
        _set(self, "empty", empty)
        _set(self, "max_nodes", max_nodes)
        _set(self, "_known_log", None)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            "a BSeries is immutable: build a new one (its coefficients are a tuple)"
        )

    @classmethod
    def _draft(cls, tab: TreeTable, domain: Domain, coeffs: list, empty: Any, max_nodes: int):
        """A series being solved for: its coefficient *list* is filled in place, tree by tree.

        Solvers read the trees already found through it (prunings, substitution);
        ``_frozen()`` turns it into an ordinary, immutable series. Internal.
        """
        obj = cls.__new__(cls)
        _set = object.__setattr__
        _set(obj, "table", tab)
        _set(obj, "domain", domain)
        _set(obj, "coeffs", coeffs)
        _set(obj, "empty", empty)
        _set(obj, "max_nodes", max_nodes)
        _set(obj, "_known_log", None)
        return obj

    def _drafted(self) -> BSeries:
        """A draft holding a copy of this series' coefficients."""
        return BSeries._draft(
            self.table, self.domain, list(self.coeffs), self.empty, self.max_nodes
        )

    def _frozen(self, log: BSeries | None = None) -> BSeries:
        """The immutable series of a draft; ``log``, if given, is its logarithm, found with it.

        A solver that computes ω = log a along with a (``bea.methods._programs``)
        hands it over here, and ``log()`` then returns it instead of
        recomputing it.
        """
        out = BSeries(self.table, self.domain, self.coeffs, self.empty, self.max_nodes)
        if log is not None:
            object.__setattr__(out, "_known_log", log)
        return out

    # -- construction ---------------------------------------------------------
    @classmethod
    def from_function(
        cls, fn: Callable[[RootedTree], object], max_nodes: int, empty=0, colours: int = 1
    ) -> BSeries:
        """The series with a(t) = fn(t) for every tree with at most ``max_nodes`` nodes."""
        check_order(max_nodes, "max_nodes")
        tab = table(colours)
        values = [fn(tab.tree(i)) for i in tab.upto(max_nodes)]
        return cls._from_values(tab, values, empty, max_nodes)

    @classmethod
    def from_dict(
        cls, values: dict, max_nodes: int, empty=0, colours: int | None = None
    ) -> BSeries:
        """The series with the given coefficients (trees or bracket strings), 0 elsewhere."""
        check_order(max_nodes, "max_nodes")
        keyed = {(RootedTree(k) if isinstance(k, str) else k): v for k, v in values.items()}
        for k in keyed:
            if not isinstance(k, RootedTree):
                raise TypeError(f"keys must be RootedTree or bracket strings, got {k!r}")
            if len(k) > max_nodes:
                raise ValueError(
                    f"tree {k} has {len(k)} nodes but max_nodes={max_nodes}; raise max_nodes"
                )
        colours = colours or max([1, *(k.colours for k in keyed)])
        tab = table(colours)
        vals = [0] * len(tab.upto(max_nodes))
        for k, v in keyed.items():
            vals[k._id(tab)] = v
        return cls._from_values(tab, vals, empty, max_nodes)

    @classmethod
    def _from_values(cls, tab, values, empty, max_nodes) -> BSeries:
        dom, vals = _from_sympy_list([*values, empty])
        return cls(tab, dom, vals[:-1], vals[-1], max_nodes)

    @classmethod
    def zero(cls, max_nodes: int, colours: int = 1, domain: Domain = QQ, empty=0) -> BSeries:
        tab = table(colours)
        n = len(tab.upto(max_nodes))
        return cls(tab, domain, [domain.zero] * n, domain.convert(empty), max_nodes)

    @classmethod
    def identity(cls, max_nodes: int, colours: int = 1, domain: Domain = QQ) -> BSeries:
        """The identity map y ↦ y: a(∅) = 1, all else 0."""
        return cls.zero(max_nodes, colours, domain, empty=1)

    # -- access ---------------------------------------------------------------
    @property
    def colours(self) -> int:
        return self.table.colours

    def __getitem__(self, t) -> sp.Expr:
        t = RootedTree(t) if isinstance(t, str) else t
        if len(t) > self.max_nodes:
            raise KeyError(f"{t} has {len(t)} nodes; this series is truncated at {self.max_nodes}")
        return self.domain.to_sympy(self.coeffs[t._id(self.table)])

    def coefficient(self, t: RootedTree | str) -> sp.Expr:
        """a(t) as a sympy number or expression (normalisation: see the class docstring)."""
        return self[t]

    def items(self) -> Iterator[tuple[RootedTree, sp.Expr]]:
        """(tree, coefficient) pairs with a non-zero coefficient, by increasing size."""
        to = self.domain.to_sympy
        tab = self.table.extend(self.max_nodes)
        for i, v in enumerate(self.coeffs):
            if v:
                yield tab.tree(i), to(v)

    def __iter__(self):
        return self.items()

    def truncate(self, max_nodes: int) -> BSeries:
        check_order(max_nodes, "max_nodes")
        if max_nodes > self.max_nodes:
            raise ValueError(
                f"cannot extend a series truncated at {self.max_nodes} nodes to {max_nodes}"
            )
        n = self.table.count_upto(max_nodes)
        return BSeries(self.table, self.domain, self.coeffs[:n], self.empty, max_nodes)

    def __repr__(self) -> str:
        shown = list(itertools.islice(self.items(), 7))
        terms = ", ".join(f"{t}: {v}" for t, v in shown[:6])
        more = ", ..." if len(shown) > 6 else ""
        return (
            f"BSeries(∅: {self.domain.to_sympy(self.empty)}, {{{terms}{more}}}, "
            f"max_nodes={self.max_nodes})"
        )

    def __eq__(self, other) -> bool:
        if not isinstance(other, BSeries):
            return NotImplemented
        if self.max_nodes != other.max_nodes or self.colours != other.colours:
            return False
        a, b = _unify(self, other)
        return a.empty == b.empty and a.coeffs == b.coeffs

    __hash__ = None  # type: ignore[assignment]

    # -- domains --------------------------------------------------------------
    def to_domain(self, domain: Domain) -> BSeries:
        if domain == self.domain:
            return self
        conv = domain.convert_from
        src = self.domain
        return BSeries(
            self.table,
            domain,
            [conv(v, src) for v in self.coeffs],
            conv(self.empty, src),
            self.max_nodes,
        )

    def _lift_colours(self, colours: int) -> BSeries:
        if colours == self.colours:
            return self
        tab = table(colours)
        zero = self.domain.zero
        vals = [zero] * len(tab.upto(self.max_nodes))
        old = self.table.extend(self.max_nodes)
        for i, v in enumerate(self.coeffs):
            if v:
                vals[tab.id_of(old.key(i))] = v
        return BSeries(tab, self.domain, vals, self.empty, self.max_nodes)

    # -- linear structure -------------------------------------------------------
    def __add__(self, other: BSeries) -> BSeries:
        if not isinstance(other, BSeries):
            return NotImplemented
        a, b = _unify(self, other)
        return BSeries(
            a.table,
            a.domain,
            [x + y for x, y in zip(a.coeffs, b.coeffs)],
            a.empty + b.empty,
            a.max_nodes,
        )

    def __neg__(self) -> BSeries:
        return BSeries(
            self.table, self.domain, [-x for x in self.coeffs], -self.empty, self.max_nodes
        )

    def __sub__(self, other: BSeries) -> BSeries:
        if not isinstance(other, BSeries):
            return NotImplemented
        return self + (-other)

    def __mul__(self, scalar) -> BSeries:
        if isinstance(scalar, BSeries):
            return NotImplemented
        dom, c = to_domain_value(scalar, self.domain)
        s = self.to_domain(dom)
        return BSeries(s.table, dom, [c * x for x in s.coeffs], c * s.empty, s.max_nodes)

    __rmul__ = __mul__

    def __truediv__(self, scalar) -> BSeries:
        dom, c = to_domain_value(scalar, self.domain)
        if not c:
            raise ZeroDivisionError("division of a B-series by zero")
        return self * dom.to_sympy(dom.one / c)

    # -- the field evaluated on a series ---------------------------------------
    def hf(self, colour: int = 0) -> BSeries:
        """The series of h f(B(a, y)) (colour ``colour``'s field for coloured series).

        (h f∘a)(∅) = 0, (•) = a(∅), ([t1..tm]) = a(t1)···a(tm) on trees whose
        root has the given colour, 0 on the others.
        """
        tab, dom = self.table.extend(self.max_nodes), self.domain
        if not 0 <= colour < tab.colours:
            raise ValueError(f"colour must be in 0..{tab.colours - 1}, got {colour}")
        a = self.coeffs
        one = dom.one
        out = [dom.zero] * len(a)
        children, col = tab.children, tab.colour
        for i in range(len(a)):
            if col[i] != colour:
                continue
            v = self.empty if not children[i] else one
            for c in children[i]:
                v = v * a[c]
                if not v:
                    break
            out[i] = v
        return BSeries(tab, dom, out, dom.zero, self.max_nodes)

    # -- composition -------------------------------------------------------------
    def __matmul__(self, inner: BSeries) -> BSeries:
        """``outer @ inner``: the series of y ↦ B(outer, B(inner, y)).

        (outer @ inner)(t) = outer(∅) inner(t) + Σ_s outer(s) Π_{u ∈ t∖s} inner(u),
        summed over the non-empty subtrees s of t that contain the root (all
        of them, in one labelled representative); t∖s is the forest left over.
        ``inner`` must be a point (inner(∅) = 1). HLW Theorem III.1.10.
        """
        if not isinstance(inner, BSeries):
            return NotImplemented
        outer, inner = _unify(self, inner)
        _require_point(inner, "the inner series of a composition")
        prunings = _Prunings(inner)
        dom = outer.domain
        b = outer.coeffs
        out = []
        for i, ai in enumerate(inner.coeffs):
            v = outer.empty * ai
            for s, w in prunings.of(i).items():
                v += w * b[s]
            out.append(v)
        return BSeries(outer.table, dom, out, outer.empty, outer.max_nodes)

    def inverse(self) -> BSeries:
        """The series of the inverse map: ``a.inverse() @ a`` is the identity."""
        _require_point(self, "inverse()")
        prunings = _Prunings(self)
        dom = self.domain
        c = [dom.zero] * len(self.coeffs)
        for i, ai in enumerate(self.coeffs):
            v = -ai
            for s, w in prunings.of(i).items():
                if s != i:
                    v -= w * c[s]
            c[i] = v
        return BSeries(self.table, dom, c, dom.one, self.max_nodes)

    # -- log / exp ------------------------------------------------------------------
    def log(self, progress: bool = False) -> BSeries:
        """The modified field ω of a point a: ``exp(ω) = a`` (ω(∅) = 0).

        h f̃ = Σ h^{|t|} ω(t)/σ(t) F(t) is the field whose exact time-h flow is
        B(a, y). Solved tree by tree from
        a = Σ_{k≥1} (ω▷)^{k-1} ω / k!, with (b▷c)(t) = Σ_{edges e} b(u_e) c(s_e)
        the Lie derivative (u_e the cut-off subtree, s_e the part with the root).
        Over QQ (one colour, at most 20 nodes) it runs on the integer-array kernel
        of ``bea.bseries._kernel``: all trees of one size at once, exactly modulo a
        few primes, reconstructed over a proven common denominator. Otherwise
        (rational functions of parameters, coloured trees) on Python scalars, by
        the same recursion: a tree of size n costs N − n + 1 products per cut.

        >>> import bea
        >>> bea.gd().bseries(3).log()["[[]]"]
        -1/2
        """
        _require_point(self, "log()")
        if self._known_log is not None:
            return self._known_log
        if _kernel_applies(self):
            return _log_kernel(self)
        return _log_python(self, progress=progress)

    def exp(self) -> BSeries:
        """The time-h flow of the field ω (ω(∅) must be 0): a point series."""
        if self.empty:
            raise ValueError(
                "exp() expects a field series (coefficient of the empty tree 0), got "
                f"a(∅) = {self.domain.to_sympy(self.empty)}"
            )
        return _log_exp(self, log=False)

    def substitute(self, method: BSeries) -> BSeries:
        """``b.substitute(a)`` is b ⋆ a: the series of the method a applied to the field B(b)/h.

        (b ⋆ a)(t) = Σ_p a(χ_p(t)) Π_{δ∈p} b(δ), summed over the partitions p
        of t into subtrees (each subset of edges of a labelled representative
        removed), χ_p(t) the skeleton obtained by contracting every part to a
        node. ``b`` must be a field (b(∅) = 0). Chartier, Hairer, Vilmart
        (2010), Definition 3.3. Cost grows as 2^{|t|-1} per tree.
        """
        if self.empty:
            raise ValueError("substitute() needs a field series b with b(∅) = 0")
        b, a = _unify(self, method)
        if b.colours != 1:
            raise NotImplementedError("substitution of coloured series is not supported")
        return _substitute(b, a)


def _require_point(s: BSeries, what: str) -> None:
    if s.empty != s.domain.one:
        raise ValueError(
            f"{what} needs a point series (coefficient of the empty tree 1, a map near the "
            f"identity), got a(∅) = {s.domain.to_sympy(s.empty)}"
        )


def _unify(a: BSeries, b: BSeries) -> tuple[BSeries, BSeries]:
    if a.max_nodes != b.max_nodes:
        n = min(a.max_nodes, b.max_nodes)
        a, b = a.truncate(n), b.truncate(n)
    if a.colours != b.colours:
        c = max(a.colours, b.colours)
        a, b = a._lift_colours(c), b._lift_colours(c)
    if a.domain != b.domain:
        dom = unify_domains(a.domain, b.domain)
        a, b = a.to_domain(dom), b.to_domain(dom)
    return a, b


def exact_flow(max_nodes: int, colours: int = 1) -> BSeries:
    """The exact time-h flow of f: a(∅) = 1, a(t) = 1/γ(t) (one colour only)."""
    check_order(max_nodes, "max_nodes")
    if colours != 1:
        raise ValueError("the exact flow is defined here for one field (colours=1)")
    tab = table(1)
    ids = tab.upto(max_nodes)
    dom = QQ
    vals = [dom.convert(Fraction(1, tab.gamma[i])) for i in ids]
    return BSeries(tab, dom, vals, dom.one, max_nodes)


def lie_derivative(b: BSeries, c: BSeries) -> BSeries:
    """(b ▷ c)(t) = Σ_{edges e} b(u_e) c(s_e): the series of c'(y)·B(b, y).

    The derivative of the displacement B(c) − c(∅)y along the field B(b)
    (b(∅) must be 0); u_e is the subtree cut off by edge e, s_e the part that
    keeps the root.
    """
    b, c = _unify(b, c)
    if b.empty:
        raise ValueError("lie_derivative(b, c) needs a field b with b(∅) = 0")
    tab, dom = b.table.extend(b.max_nodes), b.domain
    out = [dom.zero] * len(b.coeffs)
    bc, cc = b.coeffs, c.coeffs
    for i in range(len(out)):
        v = dom.zero
        for u, s, m in tab.cuts(i):
            v += m * bc[u] * cc[s]
        out[i] = v
    # the term of the empty tree of c: c(∅) y differentiates to c(∅) B(b)
    if c.empty:
        out = [x + c.empty * y for x, y in zip(out, bc)]
    return BSeries(tab, dom, out, dom.zero, b.max_nodes)


# ----------------------------------------------------------------------------
# log and exp: the c_k recursion
# ----------------------------------------------------------------------------


def _kernel_applies(s: BSeries) -> bool:
    """Whether the integer-array kernel (``_kernel``) computes this series' log exactly."""
    return s.domain == QQ and s.colours == 1 and 1 <= s.max_nodes <= MAX_NODES


def qq_parts(values) -> tuple[list[int], list[int]]:
    """Numerators and denominators (Python ints) of elements of sympy's QQ."""
    return [int(x.numerator) for x in values], [int(x.denominator) for x in values]


def qq_values(nums: list[int], dens: list[int]) -> list:
    """Elements of sympy's QQ (flint.fmpq under python-flint ground types)."""
    make = flint.fmpq if QQ.dtype is flint.fmpq else QQ
    zero = QQ.zero
    return [make(n, d) if n else zero for n, d in zip(nums, dens)]


def _log_kernel(s: BSeries) -> BSeries:
    """log of a point series over QQ on the integer-array kernel (same values as _log_exp)."""
    s.table.admit(s.max_nodes)
    nums, dens = qq_parts(s.coeffs)
    on, od = log_qq(nums, dens, s.max_nodes)
    return BSeries(s.table, QQ, qq_values(on, od), QQ.zero, s.max_nodes)


class ExactScalars:
    """The hot loops' view of a domain whose elements are used as they are (QQ, or a fallback).

    Same interface as ``bea.bseries._ratfunc.PowerDenominators``: ``zero``,
    ``convert`` (constants), ``lift`` / ``lower`` (to and from the domain's
    elements) and ``strip`` (a cheaper representative), here all identities.
    """

    def __init__(self, domain: Domain) -> None:
        self.zero = domain.zero
        self.convert = domain.convert

    @staticmethod
    def lift(x):
        return x

    lower = strip = lift


def loop_scalars(domain: Domain, values) -> ExactScalars | PowerDenominators:
    """Scalars for a recursion over ``values`` (elements of ``domain``) and their products.

    Over QQ(params): num/D^e with D the radical of the values' denominators
    (``PowerDenominators``: sums and products without gcds); over QQ the
    elements themselves.
    """
    if isinstance(domain, RationalFunctionField):
        return PowerDenominators(domain, [v.den for v in values])
    return ExactScalars(domain)


def _log_python(s: BSeries, progress: bool = False) -> BSeries:
    """log on Python scalars (any domain), by the D_r recursion of ``bea.bseries._kernel``.

    ω(t) = a(t) − Σ_{edges} ω(u) D_0(s) and D_r(t) = ω(t)/(r+2)! + Σ_{edges} ω(u) D_{r+1}(s),
    D_r(s) = Σ_{j≥1} c_j(s)/(j+1+r)!: a tree of size n needs D_r only for r ≤ N − n,
    so the trees of the largest size (most of them) cost one product per cut.
    Over QQ(params) the recursion runs on num/D^e (``loop_scalars``).
    """
    tab, dom = s.table.extend(s.max_nodes), s.domain
    N = s.max_nodes
    ring = loop_scalars(dom, s.coeffs)
    given = [ring.lift(v) for v in s.coeffs]
    zero = ring.zero
    n_all = len(given)
    size, cuts = tab.size, tab.cuts
    invfact = [ring.convert(Fraction(1, math.factorial(k))) for k in range(N + 2)]
    omega = [zero] * n_all
    D: list = [None] * n_all
    bar = _TreeProgress(progress, n_all, size)
    for i in range(n_all):
        bar.at(i)
        n = size[i]
        R = N - n + 1
        X = [zero] * R
        for u, sid, m in cuts(i):
            bu = omega[u]
            if not bu:
                continue
            w = bu * m
            Ds = D[sid]
            X = [x + w * y if y else x for x, y in zip(X, Ds)]
        w = ring.strip(given[i] - X[0])
        omega[i] = w
        if n < N:
            D[i] = [w * invfact[r + 2] + X[r + 1] for r in range(N - n)]
    bar.close()
    return BSeries(tab, dom, [ring.lower(w) for w in omega], dom.zero, N)


def _log_exp(s: BSeries, log: bool, progress: bool = False) -> BSeries:
    """Shared recursion of log and exp.

    With c_1 = ω and c_k = ω ▷ c_{k-1}, the point is a = Σ_k c_k / k!, and
    c_k(t) (k ≥ 2) needs ω and c_{k-1} on smaller trees only. For log the
    unknown is ω(t) = a(t) − Σ_{k≥2} c_k(t)/k!; for exp it is a(t).
    """
    tab, dom = s.table.extend(s.max_nodes), s.domain
    given = s.coeffs
    zero = dom.zero
    n_all = len(given)
    size, cuts = tab.size, tab.cuts
    invfact = [dom.convert(Fraction(1, math.factorial(k))) for k in range(s.max_nodes + 2)]
    omega = given if not log else [zero] * n_all
    point = [zero] * n_all
    C: list = [None] * n_all  # C[t] = [c_1(t), ..., c_|t|(t)]
    bar = _TreeProgress(progress, n_all, size)
    for i in range(n_all):
        bar.at(i)
        n = size[i]
        acc = [zero] * (n - 1)
        for u, sid, m in cuts(i):
            bu = omega[u]
            if not bu:
                continue
            w = bu * m
            Cs = C[sid]
            acc[: len(Cs)] = [x + w * y for x, y in zip(acc, Cs)]
        tail = zero
        for j in range(n - 1):
            if acc[j]:
                tail += acc[j] * invfact[j + 2]
        if log:
            omega[i] = given[i] - tail
        else:
            point[i] = given[i] + tail
        C[i] = [omega[i], *acc]
    bar.close()
    if log:
        return BSeries(tab, dom, omega, zero, s.max_nodes)
    return BSeries(tab, dom, point, dom.one, s.max_nodes)


# ----------------------------------------------------------------------------
# Composition: prunings
# ----------------------------------------------------------------------------


class _TreeProgress:
    """A progress bar over the trees of a table, advanced once per size (off by default)."""

    def __init__(self, on: bool, total: int, size: Sequence[int]) -> None:
        self.size, self.total, self.bar = size, total, None
        if on:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="tree", desc="log of the B-series", leave=False)

    def at(self, i: int) -> None:
        bar = self.bar
        if bar is not None and (i + 1 == self.total or self.size[i + 1] != self.size[i]):
            bar.update(i + 1 - bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Prunings:
    """For each tree t, the map s ↦ Σ Π_{u∈t∖s} a(u) over root subtrees s of t."""

    def __init__(self, inner: BSeries):
        inner.table.extend(inner.max_nodes)
        self.s = inner
        self.memo: dict[int, dict[int, Any]] = {}

    def of(self, i: int) -> dict[int, Any]:
        memo = self.memo
        if i in memo:
            return memo[i]
        tab = self.s.table
        a = self.s.coeffs
        dom = self.s.domain
        cur: dict[tuple[int, ...], Any] = {(): dom.one}
        for c in tab.children[i]:
            sub = self.of(c)
            ac = a[c]
            new: dict[tuple[int, ...], Any] = {}
            for kept, w in cur.items():
                if ac:
                    new[kept] = new.get(kept, dom.zero) + w * ac
                for sc, wc in sub.items():
                    key = tuple(sorted((*kept, sc)))
                    new[key] = new.get(key, dom.zero) + w * wc
            cur = new
        col = tab.colour[i]
        out = {tab.lookup(col, kept): w for kept, w in cur.items() if w}
        memo[i] = out
        return out


# ----------------------------------------------------------------------------
# Substitution
# ----------------------------------------------------------------------------


def _substitute(b: BSeries, a: BSeries) -> BSeries:
    tab, dom = b.table.extend(b.max_nodes), b.domain
    out = [substitute_at(b, a, i) for i in range(len(b.coeffs))]
    return BSeries(tab, dom, out, a.empty, b.max_nodes)


def substitute_at(b: BSeries, a: BSeries, i: int):
    """(b ⋆ a)(t) for the tree with id ``i`` (see ``BSeries.substitute``)."""
    tab, dom = b.table, b.domain
    bc, ac = b.coeffs, a.coeffs
    parent, kids_of = _labelled(tab, i)
    n = len(parent)
    total = dom.zero
    for mask in range(1 << (n - 1)):
        # bit v-1 set: the edge (parent[v], v) is removed
        part_root = [0] * n
        for v in range(1, n):
            part_root[v] = v if (mask >> (v - 1)) & 1 else part_root[parent[v]]
        ids = [0] * n  # id of the part-subtree hanging at v (within its part)
        for v in range(n - 1, -1, -1):
            ids[v] = tab.graft(0, [ids[w] for w in kids_of[v] if not (mask >> (w - 1)) & 1])
        w = dom.one
        roots = [v for v in range(n) if part_root[v] == v]
        for r in roots:
            w *= bc[ids[r]]
            if not w:
                break
        if not w:
            continue
        # skeleton: parts as nodes; the parent part of r is the part of parent[r]
        sk: dict[int, int] = {}
        for r in reversed(roots):
            sk[r] = tab.graft(0, [sk[q] for q in roots if q != 0 and part_root[parent[q]] == r])
        total += w * ac[sk[0]]
    return total


def _labelled(tab: TreeTable, i: int) -> tuple[list[int], list[list[int]]]:
    """A labelled representative in pre-order: parent list and children lists."""
    parent = [-1]
    kids: list[list[int]] = [[]]
    stack = [(i, 0)]
    while stack:
        t, v = stack.pop()
        for c in tab.children[t]:
            w = len(parent)
            parent.append(v)
            kids.append([])
            kids[v].append(w)
            stack.append((c, w))
    return parent, kids
