"""Rooted trees, coloured rooted trees and free trees.

Conventions
-----------
A rooted tree t is written in bracket notation: ``[]`` is the single node •,
``[t1,...,tm]`` is the tree whose root has children t1..tm (in any order).
In the B-series literature this is t = [t1,...,tm] (Butcher's notation).

* ``|t|``      number of nodes (``len(t)`` / ``t.order``)
* ``σ(t)``     symmetry: the number of automorphisms of t that fix the root
* ``γ(t)``     density: γ(•) = 1, γ([t1..tm]) = |t| Π γ(ti)

For several vector fields (mini-batch losses, players of a game) nodes carry a
*colour* k = 0, 1, 2, ...; colour 0 is written without a label, colour k > 0
as a prefix, so ``1[[]]`` is a root of colour 1 with one child of colour 0.

A *free* tree is an unrooted tree; its rootings are the rooted trees obtained
by choosing a root, and its symmetry σ(τ) is the size of its automorphism group.

Internally every tree of a given size has an integer id in a ``TreeTable``
(one table per number of colours, grown on demand); a tree is the multiset of
its children's ids plus its root colour. The public ``RootedTree`` is a
canonical, immutable, hashable value built from nested tuples.
"""

from __future__ import annotations

import math
from bisect import insort
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .._inputs import check_order

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "FreeTree",
    "RootedTree",
    "TreeTable",
    "butcher_product",
    "count_free_trees",
    "count_trees",
    "free_trees",
    "table",
    "tree",
    "trees",
]


# ----------------------------------------------------------------------------
# Tree tables: integer ids, enumeration, symmetry, density, cuts
# ----------------------------------------------------------------------------


class TreeTable:
    """All (coloured) rooted trees up to some size, with integer ids.

    Ids are assigned by increasing size, so the trees with ``n`` nodes are the
    contiguous range ``table.ids(n)``. A tree is stored as its root colour and
    the sorted tuple of its children's ids. The table grows on demand
    (``extend``); existing ids never change.
    """

    def __init__(self, colours: int = 1):
        if not isinstance(colours, int) or colours < 1:
            raise ValueError(f"colours must be a positive int, got {colours!r}")
        self.colours = colours
        self.size: list[int] = []
        self.colour: list[int] = []
        self.children: list[tuple[int, ...]] = []
        self.sigma: list[int] = []
        self.gamma: list[int] = []
        self.height: list[int] = []
        self.index: dict[tuple[int, tuple[int, ...]], int] = {}
        self._starts: list[int] = [0, 0]  # ids of size n are range(_starts[n], _starts[n+1])
        self._cuts: list[tuple[tuple[int, int, int], ...]] = []
        self._keys: list[tuple] = []
        self._free: list[int] = []  # union-find parent for rootings of the same free tree
        self._classes: dict[int, dict[int, list[int]]] = {}
        self.max_size = 0
        self._admitted = 0  # sizes whose tree count passed the budget check (admit)

    # -- growth -------------------------------------------------------------
    def extend(self, n: int) -> TreeTable:
        """Make sure every tree with at most ``n`` nodes has an id.

        Refuses (``bea.bseries._budget.TooManyTrees``, a ValueError) to grow
        past the tree limit of ``bea.bseries._budget``, checked from the known
        counts before anything is enumerated.
        """
        if n <= self.max_size:
            return self
        from ._budget import check_size, progress_wanted

        if n <= self._admitted:  # checked by admit() when a series of this size was made
            total = self.count_upto(n)
        else:
            total = check_size(n, self.colours, what=f"a table of trees with up to {n} nodes")
        bar = None
        if progress_wanted() and total - len(self.size) > 20_000:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=len(self.size), unit="tree", desc="trees", leave=False)
        try:
            while self.max_size < n:
                self._add_size(self.max_size + 1)
                if bar is not None:
                    bar.update(len(self.size) - bar.n)
        finally:
            if bar is not None:
                bar.close()
        return self

    def admit(self, n: int) -> TreeTable:
        """Check the tree limit for ``n`` nodes now, without growing the table.

        For series built without the Python table (the integer-array kernel): a
        later ``extend`` to ``n`` (printing the series, say, outside
        ``allow_trees``) is then not refused again.
        """
        if n > max(self._admitted, self.max_size):
            from ._budget import check_size

            check_size(n, self.colours, what=f"a table of trees with up to {n} nodes")
            self._admitted = n
        return self

    def _multisets(self, total: int, start: int) -> Iterator[tuple[int, ...]]:
        if total == 0:
            yield ()
            return
        stop = self._starts[total + 1] if total + 1 < len(self._starts) else len(self.size)
        size = self.size
        for i in range(start, stop):
            s = size[i]
            if s > total:
                break
            for rest in self._multisets(total - s, i):
                yield (i, *rest)

    def _add_size(self, n: int) -> None:
        children_sets = list(self._multisets(n - 1, 0))
        for c in range(self.colours):
            for ch in children_sets:
                self._new(c, ch, n)
        self.max_size = n
        self._starts.append(len(self.size))

    def _new(self, colour: int, ch: tuple[int, ...], n: int) -> int:
        i = len(self.size)
        self.size.append(n)
        self.colour.append(colour)
        self.children.append(ch)
        self.index[(colour, ch)] = i
        sigma = 1
        gamma = n
        height = 1
        run = 0
        prev = -1
        for c in ch:
            gamma *= self.gamma[c]
            sigma *= self.sigma[c]
            height = max(height, self.height[c] + 1)
            run = run + 1 if c == prev else 1
            sigma *= run  # accumulates k! for each run of equal children
            prev = c
        self.sigma.append(sigma)
        self.gamma.append(gamma)
        self.height.append(height)
        self._free.append(i)
        return i

    # -- queries --------------------------------------------------------------
    def ids(self, n: int) -> range:
        """Ids of the trees with exactly ``n`` nodes."""
        self.extend(n)
        return range(self._starts[n], self._starts[n + 1])

    def count_upto(self, n: int) -> int:
        """Number of trees with at most ``n`` nodes, without growing the table if avoidable."""
        if n <= self.max_size:
            return self._starts[n + 1]
        from ._kernel import MAX_NODES, tree_arrays

        if self.colours == 1 and n <= MAX_NODES:
            return tree_arrays(n).count_upto(n)
        return len(self.upto(n))

    def upto(self, n: int) -> range:
        """Ids of the trees with at most ``n`` nodes."""
        self.extend(n)
        return range(0, self._starts[n + 1])

    def lookup(self, colour: int, children: tuple[int, ...]) -> int:
        return self.index[(colour, children)]

    def graft(self, colour: int, children) -> int:
        """Id of the tree with the given root colour and children ids (any order)."""
        ch = tuple(sorted(children))
        n = 1 + sum(self.size[c] for c in ch)
        self.extend(n)
        return self.index[(colour, ch)]

    def cuts(self, i: int) -> tuple[tuple[int, int, int], ...]:
        """Single-edge cuts of tree ``i`` as ``(u, s, m)`` triples.

        Cutting one edge of t leaves the cut-off subtree u (the part above the
        edge) and the part s that keeps the root; m counts the edges of one
        labelled representative of t that give this pair.
        """
        cuts = self._cuts
        while len(cuts) <= i:
            cuts.append(self._make_cuts(len(cuts)))
        return cuts[i]

    def _make_cuts(self, i: int) -> tuple[tuple[int, int, int], ...]:
        ch = self.children[i]
        if not ch:
            return ()
        col = self.colour[i]
        acc: dict[tuple[int, int], int] = {}
        index = self.index
        prev = -1
        for j, c in enumerate(ch):
            if c == prev:
                continue
            prev = c
            k = ch.count(c)
            rest = ch[:j] + ch[j + 1 :]
            key = (c, index[(col, rest)])
            acc[key] = acc.get(key, 0) + k
            for u, s2, m in self.cuts(c):
                new = list(rest)
                insort(new, s2)
                key = (u, index[(col, tuple(new))])
                acc[key] = acc.get(key, 0) + k * m
        return tuple((u, s, m) for (u, s), m in acc.items())

    def key(self, i: int) -> tuple:
        """Canonical nested-tuple key of tree ``i`` (see ``RootedTree``)."""
        keys = self._keys
        while len(keys) <= i:
            j = len(keys)
            kids = tuple(sorted((keys[c] for c in self.children[j]), reverse=True))
            keys.append((self.colour[j], kids))
        return keys[i]

    def id_of(self, key: tuple) -> int:
        colour, kids = key
        if colour >= self.colours:
            raise ValueError(
                f"tree has colour {colour} but this table has {self.colours} colour(s)"
            )
        return self.graft(colour, (self.id_of(k) for k in kids))

    def tree(self, i: int) -> RootedTree:
        return RootedTree._from_key(self.key(i))

    # -- free trees -------------------------------------------------------------
    def _find(self, i: int) -> int:
        parent = self._free
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def free_class(self, i: int) -> int:
        """A representative id shared by all rootings of the free tree of ``i``.

        Two rooted trees belong to the same free tree iff one is obtained from
        the other by moving the root along edges; we join each tree with its
        re-rootings at the root's children (union-find), size by size.
        """
        n = self.size[i]
        self._join_rootings(n)
        return self._find(i)

    _joined = 0

    def _join_rootings(self, n: int) -> None:
        if self._joined >= n:
            return
        for m in range(self._joined + 1, n + 1):
            for i in self.ids(m):
                ch = self.children[i]
                prev = -1
                for j, c in enumerate(ch):
                    if c == prev:
                        continue
                    prev = c
                    rest = self.index[(self.colour[i], ch[:j] + ch[j + 1 :])]
                    other = self.graft(self.colour[c], (*self.children[c], rest))
                    a, b = self._find(i), self._find(other)
                    if a != b:
                        self._free[max(a, b)] = min(a, b)
        self._joined = n

    def free_classes(self, n: int) -> dict[int, list[int]]:
        """Rootings of every free tree with ``n`` nodes: representative → ids."""
        cache = self._classes
        if n not in cache:
            groups: dict[int, list[int]] = {}
            for j in self.ids(n):
                groups.setdefault(self.free_class(j), []).append(j)
            cache[n] = groups
        return cache[n]

    def rootings(self, i: int) -> list[int]:
        """Ids of the distinct rootings of the free tree underlying tree ``i``."""
        return self.free_classes(self.size[i])[self.free_class(i)]

    def canonical_rooting(self, i: int) -> int:
        """The rooting of least height, then least key: the free tree's canonical form."""
        return min(self.rootings(i), key=lambda j: (self.height[j], self.key(j)))

    def to_graph(self, i: int) -> nx.DiGraph:
        import networkx as nx  # graph views only: loaded on use

        g = nx.DiGraph(root=0)
        stack = [(i, None)]
        while stack:
            t, parent = stack.pop()
            v = g.number_of_nodes()
            g.add_node(v, colour=self.colour[t])
            if parent is not None:
                g.add_edge(parent, v)
            stack.extend((c, v) for c in reversed(self.children[t]))
        return g


_TABLES: dict[int, TreeTable] = {}


def table(colours: int = 1) -> TreeTable:
    """The shared ``TreeTable`` for ``colours`` colours."""
    t = _TABLES.get(colours)
    if t is None:
        t = _TABLES[colours] = TreeTable(colours)
    return t


# ----------------------------------------------------------------------------
# Public value types
# ----------------------------------------------------------------------------


def _key_str(key: tuple) -> str:
    colour, kids = key
    label = str(colour) if colour else ""
    return label + "[" + ",".join(_key_str(k) for k in kids) + "]"


def _key_latex(key: tuple) -> str:
    """Butcher's notation: • for a leaf, [t1,…,tm] for a root with children; colour k as _k."""
    colour, kids = key
    label = f"_{{{colour}}}" if colour else ""
    if not kids:
        return "\\bullet" + label
    return "[" + ",".join(_key_latex(k) for k in kids) + "]" + label


def _key_size(key: tuple) -> int:
    return 1 + sum(_key_size(k) for k in key[1])


def _key_colours(key: tuple) -> int:
    return max([key[0], *(_key_colours(k) for k in key[1])])


class RootedTree:
    """A rooted tree, canonical, immutable and hashable.

    Build one with ``tree`` from bracket notation (``tree("[[],[]]")``),
    from a networkx graph (``from_networkx``), or with
    ``butcher_product``. Two trees that differ only in the order of
    children are the same value: ``tree("[[[]],[]]") == tree("[[],[[]]]")``.

    Examples
    --------
    >>> t = tree("[[],[]]")
    >>> len(t), t.symmetry(), t.density()
    (3, 2, 3)
    """

    __slots__ = ("_hash", "_key")
    _key: tuple
    _hash: int

    def __init__(self, text: str | RootedTree) -> None:
        if isinstance(text, RootedTree):
            key = text._key
        elif isinstance(text, str):
            key = _parse(text)
        else:
            raise TypeError(
                f"RootedTree expects a bracket string such as '[[],[]]', got {type(text).__name__}"
            )
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_hash", hash(key))

    @classmethod
    def _from_key(cls, key: tuple) -> RootedTree:
        obj = object.__new__(cls)
        object.__setattr__(obj, "_key", key)
        object.__setattr__(obj, "_hash", hash(key))
        return obj

    def __setattr__(self, name, value):
        raise AttributeError("RootedTree is immutable")

    def __reduce__(self):
        return (RootedTree, (str(self),))

    # identity
    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        return isinstance(other, RootedTree) and self._key == other._key

    def __lt__(self, other: RootedTree) -> bool:
        return (len(self), self._key) < (len(other), other._key)

    def __str__(self) -> str:
        return _key_str(self._key)

    def __repr__(self) -> str:
        return f"tree({str(self)!r})"

    def latex(self) -> str:
        """Butcher's notation in LaTeX: ``tree("[[],[]]").latex()`` is ``[\\bullet,\\bullet]``.

        A leaf is •, a root with children t1..tm is [t1,…,tm]; a node of
        colour k > 0 carries the subscript k (``tree("1[]")`` is •₁).
        ``sympy.latex(t)`` gives the same.

        Examples
        --------
        >>> tree("[[[]]]").latex()
        '[[\\bullet]]'
        """
        return _key_latex(self._key)

    def _latex(self, printer=None) -> str:
        return self.latex()

    def _repr_latex_(self) -> str:
        return f"${self.latex()}$"

    def __len__(self) -> int:
        return _key_size(self._key)

    # structure
    @property
    def order(self) -> int:
        """Number of nodes |t|."""
        return len(self)

    @property
    def colour(self) -> int:
        """Colour of the root (0 for uncoloured trees)."""
        return self._key[0]

    @property
    def children(self) -> tuple[RootedTree, ...]:
        """The subtrees hanging from the root, in canonical order."""
        return tuple(RootedTree._from_key(k) for k in self._key[1])

    @property
    def colours(self) -> int:
        """Smallest number of colours that can hold this tree (1 + largest colour)."""
        return _key_colours(self._key) + 1

    def _id(self, tab: TreeTable | None = None) -> int:
        tab = tab or table(self.colours)
        return tab.id_of(self._key)

    def symmetry(self) -> int:
        """σ(t): number of root-fixing automorphisms."""
        kids = self._key[1]
        s = 1
        for k in set(kids):
            m = kids.count(k)
            s *= RootedTree._from_key(k).symmetry() ** m * math.factorial(m)
        return s

    def density(self) -> int:
        """γ(t) = |t| Π γ(children)."""
        return len(self) * math.prod(c.density() for c in self.children)

    sigma = symmetry
    gamma = density

    def height(self) -> int:
        return 1 + max((c.height() for c in self.children), default=0)

    def to_networkx(self) -> nx.DiGraph:
        """The tree as a networkx DiGraph, edges parent → child, root node 0.

        Node attribute ``colour`` holds the colour; ``graph['root']`` is 0.
        """

        tab = table(self.colours)
        return tab.to_graph(self._id(tab))

    @classmethod
    def from_networkx(cls, graph: nx.Graph, root=None) -> RootedTree:
        """Build a rooted tree from a networkx tree.

        ``graph`` may be a DiGraph whose edges point away from the root (an
        arborescence; the root is found) or an undirected tree with ``root``
        given. A ``colour`` node attribute is honoured (default 0).
        """
        import networkx as nx  # graph views only: loaded on use

        if graph.number_of_nodes() == 0:
            raise ValueError("expected a non-empty tree, got a graph with no nodes")
        if graph.is_directed():
            if not nx.is_arborescence(graph):
                raise ValueError(
                    "expected a directed tree with edges pointing away from the root "
                    "(an arborescence); got a graph that is not one"
                )
            if root is None:
                root = next(v for v, d in graph.in_degree() if d == 0)
            succ = graph.successors
        else:
            if not nx.is_tree(graph):
                raise ValueError("expected an undirected tree (connected, acyclic)")
            if root is None:
                raise ValueError("an undirected tree needs root=...: which node is the root?")
            bfs = nx.bfs_tree(graph, root)
            succ = bfs.successors

        def build(v):
            col = graph.nodes[v].get("colour", 0)
            if not isinstance(col, int) or col < 0:
                raise ValueError(f"node colours must be non-negative ints, got {col!r}")
            kids = tuple(sorted((build(w) for w in succ(v)), reverse=True))
            return (col, kids)

        return cls._from_key(build(root))


#: Deepest nesting accepted by ``tree`` (far above any order the engine reaches).
MAX_TREE_DEPTH = 200


def _parse(text: str) -> tuple:
    """Parse bracket notation into a canonical key; ValueError on bad input."""
    s = "".join(text.split())
    pos = 0
    depth = 0

    def fail(msg: str):
        start = max(0, pos - 40)
        shown = (
            ("..." if start else "") + s[start : pos + 40] + ("..." if pos + 40 < len(s) else "")
        )
        caret = " " * (pos - start + (3 if start else 0)) + "^"
        quoted = repr(text) if len(text) <= 80 else f"of {len(text)} characters"
        raise ValueError(
            f"malformed tree {quoted}: {msg}\n  {shown}\n  {caret}\n"
            "expected bracket notation such as '[]' (one node), '[[]]' or '[[],[[]]]'"
            " (a node is '[' children separated by ',' ']'; an optional integer"
            " prefix gives a colour, e.g. '1[[]]')"
        )

    def node():
        nonlocal pos, depth
        depth += 1
        if depth > MAX_TREE_DEPTH:
            fail(f"nested more than {MAX_TREE_DEPTH} levels deep (a tree of that height)")
        start = pos
        while pos < len(s) and s[pos].isdigit():
            pos += 1
        if pos - start > 6:
            fail("colour has more than 6 digits")
        colour = int(s[start:pos]) if pos > start else 0
        if pos >= len(s) or s[pos] != "[":
            fail("expected '['")
        pos += 1
        kids = []
        if pos < len(s) and s[pos] == "]":
            pos += 1
            depth -= 1
            return (colour, ())
        while True:
            kids.append(node())
            if pos < len(s) and s[pos] == ",":
                pos += 1
                continue
            if pos < len(s) and s[pos] == "]":
                pos += 1
                break
            fail("expected ',' or ']'")
        depth -= 1
        return (colour, tuple(sorted(kids, reverse=True)))

    if not s:
        fail("empty string")
    key = node()
    if pos != len(s):
        fail("unexpected text after the tree")
    return key


def tree(text: str) -> RootedTree:
    """Parse a rooted tree from bracket notation.

    ``[]`` is the single node •, ``[[]]`` the two-node tree [•], ``[[],[]]``
    the cherry [•,•]. Children may be given in any order; the result is
    canonical. An integer before a bracket gives that node a colour.

    >>> str(tree("[ [], [[]] ]"))
    '[[[]],[]]'
    """
    return RootedTree(text)


def butcher_product(t: RootedTree, u: RootedTree) -> RootedTree:
    """t ∘ u: graft u onto the root of t as one more child."""
    kids = tuple(sorted((*t._key[1], u._key), reverse=True))
    return RootedTree._from_key((t._key[0], kids))


def trees(n: int, colours: int = 1) -> list[RootedTree]:
    """All rooted trees with exactly ``n`` nodes (``colours`` colours)."""
    check_order(n)
    if n == 0:
        return []
    tab = table(colours)
    return [tab.tree(i) for i in tab.ids(n)]


def count_trees(n: int, colours: int = 1) -> int:
    """Number of rooted trees with ``n`` nodes (OEIS A000081 for one colour), n ≤ 400.

    Computed from the Euler-transform recurrence (``bea.bseries._budget``),
    without enumerating the trees.
    """
    from ._budget import tree_count

    check_order(n)
    return tree_count(n, colours)  # from the recurrence: nothing is enumerated


class FreeTree:
    """An unrooted tree, canonical and hashable.

    Its canonical form is the rooting of least height (a rooting at a centre)
    with the smallest key; ``str`` prints that rooting in braces, e.g. the
    path with three nodes is ``{[[],[]]}``.
    """

    __slots__ = ("_hash", "_key")
    _key: tuple
    _hash: int

    def __init__(self, rooted: RootedTree | str) -> None:
        t = rooted if isinstance(rooted, RootedTree) else tree(rooted.strip("{}"))
        tab = table(t.colours)
        self._set(tab.key(tab.canonical_rooting(t._id(tab))))

    def _set(self, key: tuple) -> None:
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_hash", hash(("free", key)))

    @classmethod
    def _from_key(cls, key: tuple) -> FreeTree:
        obj = object.__new__(cls)
        obj._set(key)
        return obj

    def __setattr__(self, name, value):
        raise AttributeError("FreeTree is immutable")

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        return isinstance(other, FreeTree) and self._key == other._key

    def __lt__(self, other: FreeTree) -> bool:
        return (len(self), self._key) < (len(other), other._key)

    def __len__(self):
        return _key_size(self._key)

    def __str__(self):
        return "{" + _key_str(self._key) + "}"

    def __repr__(self):
        return f"FreeTree({_key_str(self._key)!r})"

    def latex(self) -> str:
        """Butcher's notation of the canonical rooting in braces: ``\\{[\\bullet]\\}`` for •—•.

        ``sympy.latex(tau)`` gives the same.

        Examples
        --------
        >>> FreeTree("[[]]").latex()
        '\\{[\\bullet]\\}'
        """
        return "\\{" + _key_latex(self._key) + "\\}"

    def _latex(self, printer=None) -> str:
        return self.latex()

    def _repr_latex_(self) -> str:
        return f"${self.latex()}$"

    @property
    def order(self) -> int:
        return len(self)

    def center_rooting(self) -> RootedTree:
        """The canonical rooting (at a centre)."""
        return RootedTree._from_key(self._key)

    def rootings(self) -> list[RootedTree]:
        """The distinct rooted trees obtained by choosing a root."""
        tab = table(_key_colours(self._key) + 1)
        return [tab.tree(j) for j in tab.rootings(tab.id_of(self._key))]

    def symmetry(self) -> int:
        """σ(τ) = |Aut(τ)|.

        Orbit–stabiliser: a rooting t at vertex v has σ(t) = |Stab(v)|, so
        n = Σ_{distinct rootings} |Aut|/σ(t).
        """
        from fractions import Fraction

        total = sum((Fraction(1, r.symmetry()) for r in self.rootings()), Fraction(0))
        aut = len(self) / total
        assert aut.denominator == 1
        return int(aut)

    sigma = symmetry

    def to_networkx(self) -> nx.Graph:

        return self.center_rooting().to_networkx().to_undirected()

    @classmethod
    def from_networkx(cls, graph: nx.Graph) -> FreeTree:
        import networkx as nx  # graph views only: loaded on use

        if graph.is_directed():
            graph = graph.to_undirected()
        if graph.number_of_nodes() == 0 or not nx.is_tree(graph):
            raise ValueError("expected a non-empty undirected tree (connected, acyclic)")
        return cls(RootedTree.from_networkx(graph, root=next(iter(graph.nodes))))


def free_trees(n: int, colours: int = 1) -> list[FreeTree]:
    """All free (unrooted) trees with ``n`` nodes (OEIS A000055 for one colour)."""
    check_order(n)
    if n == 0:
        return []
    tab = table(colours)
    return sorted(
        FreeTree._from_key(tab.key(tab.canonical_rooting(members[0])))
        for members in tab.free_classes(n).values()
    )


def count_free_trees(n: int, colours: int = 1) -> int:
    """Number of free trees with ``n`` nodes."""
    check_order(n)
    if n == 0:
        return 0
    return len(table(colours).free_classes(n))
