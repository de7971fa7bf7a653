"""Rooted and free trees: counts, symmetry, density, parsing, networkx views.

References: OEIS A000081 (rooted trees), A000055 (free trees); Hairer, Lubich,
Wanner, *Geometric Numerical Integration*, III.1 (σ, γ).
"""

from __future__ import annotations

import math
import pickle
import random
from fractions import Fraction

import networkx as nx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from networkx.algorithms.isomorphism import DiGraphMatcher, GraphMatcher

import bea
from bea import FreeTree, RootedTree, tree

# OEIS A000081, n = 1..15
A000081 = [1, 1, 2, 4, 9, 20, 48, 115, 286, 719, 1842, 4766, 12486, 32973, 87811]
# OEIS A000055, n = 1..10
A000055 = [1, 1, 1, 2, 3, 6, 11, 23, 47, 106]


def rooted_counts(n_max: int, colours: int) -> list[int]:
    """Rooted trees with nodes of ``colours`` colours, by the Euler-transform recurrence.

    r(1) = k, r(n+1) = (1/n) Σ_{i=1}^{n} (Σ_{d|i} d r(d)) r(n+1-i).
    """
    r = [0, colours]
    for n in range(1, n_max):
        s = sum(
            sum(d * r[d] for d in range(1, i + 1) if i % d == 0) * r[n + 1 - i]
            for i in range(1, n + 1)
        )
        r.append(Fraction(s, n))
    assert all(Fraction(x).denominator == 1 for x in r)
    return [int(x) for x in r[1:]]


def networkx_automorphisms(g: nx.Graph, root=None) -> int:
    """|Aut(g)| (fixing ``root`` when given), by brute-force graph matching."""
    if root is not None:
        g = g.copy()
        nx.set_node_attributes(g, False, "is_root")
        g.nodes[root]["is_root"] = True
        match = GraphMatcher(g, g, node_match=lambda a, b: a["is_root"] == b["is_root"])
    else:
        match = GraphMatcher(g, g)
    return sum(1 for _ in match.isomorphisms_iter())


def subtree_sizes(g: nx.DiGraph) -> list[int]:
    return [1 + len(nx.descendants(g, v)) for v in g.nodes]


def shuffled_string(t: RootedTree, rng: random.Random) -> str:
    """Bracket notation of t with the children of every node in random order."""
    kids = [shuffled_string(c, rng) for c in t.children]
    rng.shuffle(kids)
    return "[" + ",".join(kids) + "]"


# ----------------------------------------------------------------------------
# Counts
# ----------------------------------------------------------------------------


def test_rooted_tree_counts_match_oeis_a000081():
    assert [bea.count_trees(n) for n in range(1, 16)] == A000081
    assert bea.count_trees(0) == 0
    assert bea.trees(0) == []


def test_rooted_tree_counts_match_euler_transform():
    assert rooted_counts(15, 1) == A000081
    for k in (2, 3):
        assert [bea.count_trees(n, colours=k) for n in range(1, 8)] == rooted_counts(7, k)


@pytest.mark.parametrize("n", range(1, 10))
def test_trees_are_distinct_canonical_and_of_the_right_size(n):
    ts = bea.trees(n)
    assert len(ts) == A000081[n - 1]
    assert len(set(ts)) == len(ts)
    assert len({str(t) for t in ts}) == len(ts)
    assert all(len(t) == n and t.order == n for t in ts)
    assert all(tree(str(t)) == t and str(tree(str(t))) == str(t) for t in ts)


@pytest.mark.parametrize("n", range(1, 10))
def test_rooted_trees_equal_all_rootings_of_networkx_free_trees(n):
    expected = (
        {RootedTree.from_networkx(g, root=v) for g in nx.nonisomorphic_trees(n) for v in g.nodes}
        if n > 1
        else {tree("[]")}
    )
    assert set(bea.trees(n)) == expected


def test_free_tree_counts_match_oeis_a000055():
    assert [bea.count_free_trees(n) for n in range(1, 11)] == A000055
    assert [len(bea.free_trees(n)) for n in range(1, 11)] == A000055
    assert bea.count_free_trees(0) == 0


@pytest.mark.parametrize("n", range(2, 11))
def test_free_trees_match_networkx_isomorphism_classes(n):
    ours = bea.free_trees(n)
    theirs = list(nx.nonisomorphic_trees(n))
    assert len(ours) == len(theirs) == A000055[n - 1]
    # every networkx tree maps to one of ours, and different networkx trees to different ones
    assert {FreeTree.from_networkx(g) for g in theirs} == set(ours)
    if n <= 8:
        # our free trees are pairwise non-isomorphic as graphs
        graphs = [f.to_networkx() for f in ours]
        for i, g in enumerate(graphs):
            assert nx.is_tree(g) and g.number_of_nodes() == n
            for g2 in graphs[i + 1 :]:
                assert not nx.is_isomorphic(g, g2)


# ----------------------------------------------------------------------------
# Symmetry and density
# ----------------------------------------------------------------------------

HAND_CHECKED = [
    # tree, σ, γ
    ("[]", 1, 1),
    ("[[]]", 1, 2),
    ("[[],[]]", 2, 3),
    ("[[[]]]", 1, 6),
    ("[[],[],[]]", 6, 4),
    ("[[[]],[]]", 1, 8),
    ("[[[],[]]]", 2, 12),
    ("[[[[]]]]", 1, 24),
    ("[[],[],[],[]]", 24, 5),
    ("[[[]],[[]]]", 2, 20),
    ("[[[],[]],[[],[]]]", 8, 63),
    ("[[[]],[],[]]", 2, 10),
]


@pytest.mark.parametrize(("text", "sigma", "gamma"), HAND_CHECKED)
def test_symmetry_and_density_on_hand_checked_trees(text, sigma, gamma):
    t = tree(text)
    assert t.symmetry() == t.sigma() == sigma
    assert t.density() == t.gamma() == gamma


@pytest.mark.parametrize("n", range(1, 8))
def test_symmetry_is_root_fixing_automorphisms_and_density_is_product_of_subtree_sizes(n):
    for t in bea.trees(n):
        g = t.to_networkx()
        assert t.symmetry() == networkx_automorphisms(g.to_undirected(), root=g.graph["root"])
        assert t.density() == math.prod(subtree_sizes(g))


@pytest.mark.parametrize("n", range(1, 12))
def test_labelled_tree_identities(n):
    ts = bea.trees(n)
    # rooted labelled trees (Cayley): Σ n!/σ(t) = n^(n-1)
    assert sum(Fraction(math.factorial(n), t.symmetry()) for t in ts) == n ** (n - 1)
    # increasing (monotone) labellings, i.e. recursive trees: Σ n!/(σγ) = (n-1)!
    assert sum(
        Fraction(math.factorial(n), t.symmetry() * t.density()) for t in ts
    ) == math.factorial(n - 1)


def test_butcher_product():
    leaf = tree("[]")
    assert bea.butcher_product(leaf, leaf) == tree("[[]]")
    assert bea.butcher_product(tree("[[]]"), leaf) == tree("[[],[]]")
    assert bea.butcher_product(leaf, tree("[[]]")) == tree("[[[]]]")
    for u in bea.trees(3):
        for v in bea.trees(2) + bea.trees(3):
            uv = bea.butcher_product(u, v)
            assert len(uv) == len(u) + len(v)
            # γ(u∘v) = γ(u) γ(v) |u∘v| / |u|
            assert uv.density() * len(u) == u.density() * v.density() * len(uv)
            # u∘v and v∘u are two rootings of one free tree
            assert FreeTree(uv) == FreeTree(bea.butcher_product(v, u))


# ----------------------------------------------------------------------------
# Free trees: automorphisms, rootings, orbit–stabiliser
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(1, 10))
def test_free_tree_symmetry_matches_networkx_automorphisms(n):
    for f in bea.free_trees(n):
        assert f.symmetry() == f.sigma() == networkx_automorphisms(f.to_networkx())


@pytest.mark.parametrize("n", range(1, 9))
def test_rootings_and_orbit_stabiliser(n):
    for f in bea.free_trees(n):
        g = f.to_networkx()
        aut = networkx_automorphisms(g)
        orbits: dict[RootedTree, int] = {}
        for v in g.nodes:
            t = RootedTree.from_networkx(g, root=v)
            orbits[t] = orbits.get(t, 0) + 1
        # the distinct rootings are the vertex orbits of Aut(τ)
        assert set(f.rootings()) == set(orbits)
        assert len(f.rootings()) == len(orbits)
        for t, size in orbits.items():
            assert FreeTree(t) == f
            # |orbit(v)| · |Stab(v)| = |Aut(τ)|, and Stab(v) is σ of the rooting at v
            assert size * t.symmetry() == aut
        assert sum(Fraction(aut, t.symmetry()) for t in orbits) == n


def test_free_tree_examples():
    path3 = FreeTree(tree("[[[]]]"))
    assert path3 == FreeTree(tree("[[],[]]")) == FreeTree("{[[],[]]}")
    assert str(path3) == "{[[],[]]}"
    assert set(path3.rootings()) == {tree("[[[]]]"), tree("[[],[]]")}
    assert path3.symmetry() == 2
    star = FreeTree(tree("[[],[],[]]"))
    assert star.symmetry() == 6 and len(star) == 4
    assert FreeTree(tree("[[[[]]]]")).symmetry() == 2
    assert FreeTree(tree("[[[]],[[]]]")).symmetry() == 2
    assert FreeTree(tree("[[[],[]],[[],[]]]")).symmetry() == 8


# ----------------------------------------------------------------------------
# networkx round trips
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(1, 9))
def test_networkx_round_trips(n):
    rng = random.Random(n)
    for t in bea.trees(n):
        g = t.to_networkx()
        assert isinstance(g, nx.DiGraph) and nx.is_arborescence(g)
        assert g.graph["root"] == 0 and g.in_degree(0) == 0
        assert g.number_of_nodes() == n
        assert RootedTree.from_networkx(g) == t
        assert RootedTree.from_networkx(g.to_undirected(), root=0) == t
        # relabelling the nodes does not matter
        perm = list(range(n))
        rng.shuffle(perm)
        h = nx.relabel_nodes(g, {i: f"v{p}" for i, p in enumerate(perm)})
        assert RootedTree.from_networkx(h) == t
        assert DiGraphMatcher(g, h).is_isomorphic()
    for f in bea.free_trees(n):
        g = f.to_networkx()
        assert not g.is_directed()
        assert FreeTree.from_networkx(g) == f
        perm = list(range(n))
        rng.shuffle(perm)
        assert FreeTree.from_networkx(nx.relabel_nodes(g, dict(enumerate(perm)))) == f


def test_from_networkx_rejects_non_trees():
    with pytest.raises(ValueError, match="no nodes"):
        RootedTree.from_networkx(nx.DiGraph())
    with pytest.raises(ValueError, match="root"):
        RootedTree.from_networkx(nx.path_graph(3))  # undirected without root=
    with pytest.raises(ValueError, match="arborescence"):
        RootedTree.from_networkx(nx.DiGraph([(0, 1), (2, 1)]))
    with pytest.raises(ValueError, match="tree"):
        RootedTree.from_networkx(nx.cycle_graph(3), root=0)
    with pytest.raises(ValueError, match="tree"):
        FreeTree.from_networkx(nx.cycle_graph(4))
    with pytest.raises(ValueError, match="tree"):
        FreeTree.from_networkx(nx.Graph())


# ----------------------------------------------------------------------------
# Parsing and canonical forms
# ----------------------------------------------------------------------------


def test_children_in_any_order_give_one_tree():
    a, b = tree("[[[]],[]]"), tree("[[],[[]]]")
    assert a == b and hash(a) == hash(b) and str(a) == str(b) == "[[[]],[]]"
    assert tree(" [ [] , [[]] ] ") == a
    assert str(tree("[[],[[],[]],[[]]]")) == str(tree("[[[]],[],[[],[]]]"))
    assert repr(a) == "tree('[[[]],[]]')"
    assert tree("[]") != tree("[[]]")
    assert RootedTree(a) == a


@given(n=st.integers(1, 9), data=st.data())
def test_shuffled_bracket_strings_parse_to_the_same_tree(n, data):
    t = data.draw(st.sampled_from(bea.trees(n)))
    rng = data.draw(st.randoms(use_true_random=False))
    s = shuffled_string(t, rng)
    u = tree(s)
    assert u == t and str(u) == str(t) and hash(u) == hash(t)
    assert u.symmetry() == t.symmetry() and u.density() == t.density()


def test_trees_are_immutable_hashable_and_picklable():
    t = tree("[[[]],[]]")
    with pytest.raises(AttributeError):
        t.foo = 1
    assert {t: 1}[tree("[[],[[]]]")] == 1
    assert pickle.loads(pickle.dumps(t)) == t
    f = FreeTree(t)
    with pytest.raises(AttributeError):
        f.foo = 1
    assert {f: 1}[FreeTree(tree("[[[[]]]]"))] == 1


@pytest.mark.parametrize(
    "text", ["[", "[[]", "[]]", "[a]", "", "[[],]", "]", "[][]", "()", "[,[]]", "x", "[[]]]"]
)
def test_malformed_bracket_strings_raise_value_error_naming_them(text):
    with pytest.raises(ValueError, match="malformed tree") as info:
        tree(text)
    msg = str(info.value)
    assert repr(text) in msg
    assert "expected" in msg


def test_non_string_tree_raises_type_error():
    with pytest.raises(TypeError, match="bracket string"):
        RootedTree(3)


@pytest.mark.parametrize("bad", [-1, 1.5, "2", True])
def test_bad_sizes_raise_value_error(bad):
    for fn in (bea.trees, bea.count_trees, bea.free_trees, bea.count_free_trees):
        with pytest.raises(ValueError, match="non-negative int") as info:
            fn(bad)
        assert repr(bad) in str(info.value) or str(bad) in str(info.value)


def test_coloured_trees():
    t = tree("1[[],2[]]")
    assert t.colour == 1 and t.colours == 3 and len(t) == 3
    assert str(t) == str(tree("1[2[],[]]"))
    assert tree("[[]]") != tree("1[[]]") != tree("[1[]]")
    assert all(u.colours <= 2 for u in bea.trees(4, colours=2))
    assert len(bea.trees(3, colours=2)) == rooted_counts(3, 2)[-1] == 14
    assert rooted_counts(6, 2) == [2, 4, 14, 52, 214, 916]  # OEIS A038055
