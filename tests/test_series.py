"""B-series algebra: composition, inverse, log/exp, substitution, Lie derivative.

Normalisation: B(a, y) = a(∅) y + Σ_t h^{|t|} a(t)/σ(t) F(t)(y). Composition
``outer @ inner`` is the series of y ↦ B(outer, B(inner, y)) (HLW III.1.4);
``b.substitute(a)`` is b ⋆ a (Chartier, Hairer, Vilmart 2010). The brute-force
references below work on labelled networkx trees and share no code with bea's
tree tables.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import networkx as nx
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

import bea
from bea import BSeries, RootedTree, tree

N = 5  # trees with at most N nodes in the random series
TREES = [t for n in range(1, N + 1) for t in bea.trees(n)]

rationals = st.builds(Fraction, st.integers(-6, 6), st.integers(1, 5))  # small exact coefficients


@st.composite
def series(draw, empty=1, max_nodes=N):
    """A random B-series on all trees with at most ``max_nodes`` nodes."""
    ts = [t for n in range(1, max_nodes + 1) for t in bea.trees(n)]
    vals = draw(st.lists(rationals, min_size=len(ts), max_size=len(ts)))
    table = dict(zip(ts, vals))
    return BSeries.from_function(table.__getitem__, max_nodes, empty=empty)


points = series(empty=1)
fields = series(empty=0)


def delta(text: str, max_nodes: int = N, empty=0) -> BSeries:
    return BSeries.from_dict({text: 1}, max_nodes, empty=empty)


# ----------------------------------------------------------------------------
# Independent references on labelled trees
# ----------------------------------------------------------------------------


def _subtree(g: nx.DiGraph, nodes, root) -> RootedTree:
    return RootedTree.from_networkx(g.subgraph(nodes).copy(), root=root)


def brute_compose(outer: BSeries, inner: BSeries, t: RootedTree):
    """(outer @ inner)(t) = outer(∅) inner(t) + Σ_s outer(s) Π_{u ∈ t∖s} inner(u).

    s runs over the subsets of nodes of a labelled t that contain the root and
    are closed under taking parents; t∖s is the forest of the remaining nodes.
    """
    g = t.to_networkx()
    root = g.graph["root"]
    others = [v for v in g.nodes if v != root]
    parent = {v: next(iter(g.predecessors(v))) for v in others}
    total = outer.domain.to_sympy(outer.empty) * inner[t]
    for r in range(len(others) + 1):
        for chosen in itertools.combinations(others, r):
            kept = {root, *chosen}
            if any(parent[v] not in kept for v in chosen):
                continue
            w = outer[_subtree(g, kept, root)]
            for v in others:
                if v not in kept and parent[v] in kept:
                    w *= inner[_subtree(g, {v, *nx.descendants(g, v)}, v)]
            total += w
    return total


def brute_substitute(b: BSeries, a: BSeries, t: RootedTree):
    """(b ⋆ a)(t) = Σ_p a(χ_p(t)) Π_{δ ∈ p} b(δ) over edge subsets of a labelled t."""
    g = t.to_networkx()
    edges = list(g.edges)
    total = sp.Integer(0)
    for r in range(len(edges) + 1):
        for cut in itertools.combinations(edges, r):
            kept = g.copy()
            kept.remove_edges_from(cut)
            parts = list(nx.weakly_connected_components(kept))
            part_of = {v: i for i, p in enumerate(parts) for v in p}
            w = sp.Integer(1)
            for p in parts:
                proot = next(v for v in p if not any(u in p for u in g.predecessors(v)))
                w *= b[_subtree(g, p, proot)]
            skeleton = nx.DiGraph()
            skeleton.add_nodes_from(range(len(parts)))
            skeleton.add_edges_from((part_of[u], part_of[v]) for u, v in cut)
            total += w * a[RootedTree.from_networkx(skeleton)]
    return total


# ----------------------------------------------------------------------------
# Construction and linear structure
# ----------------------------------------------------------------------------


def test_from_dict_indexing_and_items():
    s = BSeries.from_dict({"[]": 1, "[[]]": Fraction(-1, 2), tree("[[],[]]"): 3}, 3, empty=1)
    assert s.empty == 1 and s.max_nodes == 3
    assert s["[]"] == 1 and s[tree("[[]]")] == sp.Rational(-1, 2)
    assert s.coefficient("[[],[]]") == 3 and s["[[[]]]"] == 0
    assert isinstance(s["[[]]"], sp.Rational)
    assert list(s.items()) == [
        (tree("[]"), 1),
        (tree("[[]]"), sp.Rational(-1, 2)),
        (tree("[[],[]]"), 3),
    ]
    with pytest.raises(KeyError, match="truncated"):
        s["[[[[]]]]"]
    with pytest.raises(ValueError, match="max_nodes"):
        BSeries.from_dict({"[[[]]]": 1}, 2)
    # floats are read as the decimal they print as
    assert BSeries.from_dict({"[]": 0.1}, 1)["[]"] == sp.Rational(1, 10)


def test_exact_flow_and_identity():
    e = bea.exact_flow(6)
    assert e.empty == 1
    for n in range(1, 7):
        for t in bea.trees(n):
            assert e[t] == sp.Rational(1, t.density())
    i = BSeries.identity(6)
    assert i.empty == 1 and not list(i.items())
    assert bea.gd().bseries(4) == BSeries.from_dict({"[]": 1}, 4, empty=1)


@given(a=points, b=fields)
def test_linear_structure(a, b):
    for t in TREES[:8]:
        assert (a + b)[t] == a[t] + b[t]
        assert (a - b)[t] == a[t] - b[t]
        assert (3 * a)[t] == 3 * a[t] == (a * 3)[t]
        assert (a / 2)[t] == a[t] / 2
    assert (a + b).empty == 1 and (a - a).empty == 0
    assert a - a == BSeries.zero(N)
    assert a != b and a == a + BSeries.zero(N)


def test_equality_needs_the_same_truncation():
    assert bea.exact_flow(4) != bea.exact_flow(5)
    assert bea.exact_flow(5).truncate(4) == bea.exact_flow(4)
    with pytest.raises(ValueError, match="cannot extend"):
        bea.exact_flow(3).truncate(4)


# ----------------------------------------------------------------------------
# Composition and inverse
# ----------------------------------------------------------------------------


def test_composition_by_hand_on_small_trees():
    x = sp.symbols("a0 a1 a2 a3 a4")
    y = sp.symbols("b1 b2 b3 b4")
    outer = BSeries.from_dict(
        {"[]": x[1], "[[]]": x[2], "[[],[]]": x[3], "[[[]]]": x[4]}, 3, empty=x[0]
    )
    inner = BSeries.from_dict({"[]": y[0], "[[]]": y[1], "[[],[]]": y[2], "[[[]]]": y[3]}, 3, 1)
    c = outer @ inner
    a0, a1, a2, a3, a4 = x
    b1, b2, b3, b4 = y
    assert sp.simplify(c.domain.to_sympy(c.empty) - a0) == 0
    assert sp.simplify(c["[]"] - (a0 * b1 + a1)) == 0
    assert sp.simplify(c["[[]]"] - (a0 * b2 + a1 * b1 + a2)) == 0
    assert sp.simplify(c["[[],[]]"] - (a0 * b3 + a1 * b1**2 + 2 * a2 * b1 + a3)) == 0
    assert sp.simplify(c["[[[]]]"] - (a0 * b4 + a1 * b2 + a2 * b1 + a4)) == 0


@given(a=points, b=points)
def test_composition_matches_brute_force(a, b):
    c = a @ b
    for t in TREES:
        assert c[t] == brute_compose(a, b, t)


@given(a=fields, b=points)
def test_composition_with_a_field_outside_matches_brute_force(a, b):
    c = a @ b
    assert c.empty == 0
    for t in TREES[:8]:
        assert c[t] == brute_compose(a, b, t)


@given(a=points, b=points, c=points)
def test_composition_is_associative(a, b, c):
    assert (a @ b) @ c == a @ (b @ c)


@given(a=points)
def test_identity_and_inverse(a):
    e = BSeries.identity(N)
    assert e @ a == a and a @ e == a
    inv = a.inverse()
    assert inv.empty == 1
    assert inv @ a == e
    assert a @ inv == e
    assert inv.inverse() == a


def test_composition_of_exact_flows_is_the_flow_of_twice_the_field():
    e = bea.exact_flow(7)
    doubled = BSeries.from_function(lambda t: Fraction(2 ** len(t), t.density()), 7, empty=1)
    assert e @ e == doubled
    # the inverse of the exact flow is the flow backwards: a(t) = (-1)^{|t|}/γ(t)
    backwards = BSeries.from_function(lambda t: Fraction((-1) ** len(t), t.density()), 7, 1)
    assert e.inverse() == backwards


def test_composition_and_inverse_need_points():
    f = delta("[]")
    with pytest.raises(ValueError, match="point series"):
        bea.exact_flow(N) @ f
    with pytest.raises(ValueError, match="point series"):
        f.inverse()
    with pytest.raises(ValueError, match="point series"):
        f.log()


# ----------------------------------------------------------------------------
# log and exp
# ----------------------------------------------------------------------------


def test_exact_flow_log_is_the_field_itself():
    for n in (1, 4, 8):
        assert bea.exact_flow(n).log() == delta("[]", n)
        assert delta("[]", n).exp() == bea.exact_flow(n)


@given(a=points)
def test_log_then_exp(a):
    w = a.log()
    assert w.empty == 0
    assert w.exp() == a


@given(w=fields)
def test_exp_then_log(w):
    assert w.exp().log() == w


@given(w=fields)
def test_exp_is_the_sum_of_iterated_lie_derivatives(w):
    # exp(ω) = id + Σ_{k≥1} (ω▷)^{k-1} ω / k!, computed here through lie_derivative
    total = BSeries.identity(N)
    c = w
    for k in range(1, N + 1):
        total = total + c / math.factorial(k)
        c = bea.lie_derivative(w, c)
    assert total == w.exp()


@given(w=fields, s=rationals, r=rationals)
def test_flows_of_one_field_commute_and_add_times(w, s, r):
    # the flows of the commuting fields sω and rω: exp(sω) ∘ exp(rω) = exp((s+r)ω)
    ws, wr = (w * s).exp(), (w * r).exp()
    assert ws @ wr == (w * (s + r)).exp() == wr @ ws
    assert (w * s).exp().inverse() == (w * (-s)).exp()


def test_exp_needs_a_field():
    with pytest.raises(ValueError, match="field"):
        bea.exact_flow(3).exp()


# ----------------------------------------------------------------------------
# Lie derivative and the field on a series
# ----------------------------------------------------------------------------


@given(a=points)
def test_hf_is_composition_with_the_unit_field(a):
    # h f(B(a, y)) = B(δ_•, B(a, y))
    assert a.hf() == delta("[]") @ a
    hf = a.hf()
    assert hf.empty == 0 and hf["[]"] == 1
    assert hf["[[],[]]"] == a["[]"] ** 2
    assert hf["[[[]],[]]"] == a["[[]]"] * a["[]"]


@given(w=fields)
def test_flow_commutes_with_its_field(w):
    # d/dy exp(ω)(y) · B(ω, y) = B(ω, exp(ω)(y)): the field is invariant under its flow
    a = w.exp()
    assert bea.lie_derivative(w, a) == w @ a


def test_exact_flow_solves_the_equation():
    e = bea.exact_flow(7)
    unit = delta("[]", 7)
    assert bea.lie_derivative(unit, e) == e.hf()


@given(b=fields, c=points, s=rationals)
def test_lie_derivative_is_linear_and_matches_single_edge_cuts(b, c, s):
    d = bea.lie_derivative(b, c)
    assert bea.lie_derivative(b * s, c) == d * s
    # by hand: (b▷c)(•) = b(•) c(∅); (b▷c)([•]) = b(•)c(•) + b([•]) c(∅)
    assert d["[]"] == b["[]"]
    assert d["[[]]"] == b["[]"] * c["[]"] + b["[[]]"]
    assert d["[[],[]]"] == 2 * b["[]"] * c["[[]]"] + b["[[],[]]"]
    assert d["[[[]]]"] == b["[]"] * c["[[]]"] + b["[[]]"] * c["[]"] + b["[[[]]]"]


def test_lie_derivative_needs_a_field():
    with pytest.raises(ValueError, match="field"):
        bea.lie_derivative(bea.exact_flow(3), bea.exact_flow(3))


# ----------------------------------------------------------------------------
# Substitution
# ----------------------------------------------------------------------------


@given(b=fields, a=points)
def test_substitution_matches_brute_force(b, a):
    c = b.substitute(a)
    assert c.empty == 1
    for t in TREES[:8]:
        assert c[t] == brute_substitute(b, a, t)


@given(b=fields)
def test_substitution_into_the_exact_flow_is_exp(b):
    assert b.substitute(bea.exact_flow(N)) == b.exp()


@given(b=fields)
def test_substitution_into_euler_adds_the_field(b):
    # explicit Euler applied to the field B(b)/h is y + B(b, y)
    assert b.substitute(bea.gd().bseries(N)) == BSeries.identity(N) + b
    # and δ_• is the unit of substitution
    assert delta("[]").substitute(BSeries.identity(N) + b) == BSeries.identity(N) + b


@given(b=fields, a=points)
def test_log_commutes_with_substitution(b, a):
    assert b.substitute(a).log() == b.substitute(a.log())


@given(b=fields, a1=points, a2=points)
def test_substitution_is_a_homomorphism_for_composition(b, a1, a2):
    assert b.substitute(a1 @ a2) == b.substitute(a1) @ b.substitute(a2)


@given(c=fields, b=fields, a=points)
def test_substitution_is_associative(c, b, a):
    assert c.substitute(b).substitute(a) == c.substitute(b.substitute(a))


def test_substitution_needs_a_field():
    with pytest.raises(ValueError, match="field"):
        bea.exact_flow(3).substitute(bea.exact_flow(3))


# ----------------------------------------------------------------------------
# Symbolic coefficients
# ----------------------------------------------------------------------------


def test_symbolic_coefficients_stay_exact_rational_functions():
    beta = sp.Symbol("beta")
    s = BSeries.from_dict({"[]": 1, "[[]]": beta / (1 - beta)}, 4, empty=1)
    w = s.log()
    assert w.exp() == s
    c = w["[[]]"]
    assert sp.simplify(c - (beta / (1 - beta) - sp.Rational(1, 2))) == 0
    for _t, v in w.items():
        assert v.is_rational_function(beta)
    with pytest.raises(ValueError, match="rational function"):
        BSeries.from_dict({"[]": sp.sin(beta)}, 2)
