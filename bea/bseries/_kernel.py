"""Integer-array tree kernel: the tree table, single-edge cuts, log and Runge–Kutta weights.

The same rooted trees (one colour) and the same integer ids as
``bea.bseries._trees.TreeTable``, held as numpy arrays, and the two hot
loops of the engine run on them level by level (all trees of one size at once):

* the logarithm ω = log a of a point series a over QQ (the modified field,
  ``BSeries.log``), computed exactly modulo a few word-size primes and
  reconstructed by the Chinese remainder theorem over a proven common
  denominator, with a proven bound on the numerators (so no extra prime is
  needed: the result *is* exact, not probably exact);
* the elementary weights Φ(t) of a Runge–Kutta tableau over QQ, exactly in
  integers after scaling the tableau to integers.

Structure of the table
----------------------
Every tree t ≠ • is t = s ∘ c, the tree s with one more child c grafted onto its
root, where c is the *smallest* child of t (by id) and s is t without that
child. Ids are by size, and within a size by the ascending tuple of children
ids (as in ``TreeTable``), which is lexicographic in (c, s); hence the trees of
size n are, for each c in id order, the trees s of size n − |c| whose smallest
child is ≥ c, a contiguous range of ids. So a whole size is generated with a
few array operations, and σ, γ follow from (s, c):
σ(t) = σ(s) σ(c) k with k the multiplicity of c among the children of t, and
γ(t) = γ(s) γ(c) |t| / |s|.

The single-edge cuts of t = s ∘ c are: the edge to c (leaving c and s); the cuts
(u, c') of c, leaving u and s ∘ c'; the cuts (u, s') of s, leaving u and s' ∘ c.
Each tree of n nodes has exactly n − 1 of them (one per edge of a labelled
representative, repetitions kept), stored as two int32 arrays of shape
(count, n − 1) per size: ``cut_u`` (the cut-off subtree) and ``cut_s`` (the
part keeping the root).

The logarithm
-------------
With c_1 = ω and c_k(t) = Σ_{edges} ω(u) c_{k−1}(s), a = Σ_{k≥1} c_k / k!
(DESIGN.md, speed hint). Writing D_r(s) = Σ_{j≥1} c_j(s)/(j+1+r)!::

    ω(t)   = a(t) − Σ_{edges} ω(u) D_0(s)
    D_r(t) = ω(t)/(r+2)! + Σ_{edges} ω(u) D_{r+1}(s)

A tree of size n is the root part of trees of size at most N only through
D_r with r ≤ N − n − 1, so size n costs (N − n + 1) multiply-adds per edge
instead of n (the largest size, most of the trees, costs one per edge).

Exactness. Scale h by an integer d with d^{|t|} a(t) ∈ Z for all t; then
d^{|t|} ω(t) is a Z-combination of products of a-values divided by k! (k ≤ |t|),
and its p-adic valuation is bounded below by −v_p(n) with v_p from the
recursion (``_valuation_bounds``), so E_n ω(t) ∈ Z for
E_n = d^n Π_{p ≤ n} p^{v_p(n)}. A bound |ω(t)| ≤ B(t) comes from the same
recursion on absolute values in floating point (inflated far beyond its
rounding error). With primes whose product P exceeds 2 E_n B(t), the residue
of E_n ω(t) in (−P/2, P/2) is E_n ω(t) itself.

References: Hairer, Lubich, Wanner, *Geometric Numerical Integration*, III.1
and IX.9; von zur Gathen, Gerhard, *Modern Computer Algebra*, ch. 5 (CRT).
"""

from __future__ import annotations

import math
from functools import reduce

import flint
import numpy as np

__all__ = ["MAX_NODES", "TreeArrays", "log_qq", "rk_weights", "tree_arrays"]

#: Largest tree size the array table supports (12.8 million trees; ids fit int32).
MAX_NODES = 20
_CHUNK = 1 << 20  # elements per temporary array in the level loops


class TreeArrays:
    """All rooted trees (one colour) with at most ``max_nodes`` nodes, as integer arrays.

    Ids are those of ``bea.bseries._trees.table(1)``. Per tree (index =
    id): ``size``, ``first`` (smallest child c, −1 for •), ``rest`` (s with
    t = s ∘ c, −1 for •), ``mult`` (multiplicity of c), ``sigma``, ``gamma``,
    ``height``; ``starts[n]:starts[n+1]`` are the ids of size n; per size n ≥ 2,
    ``cut_u[n]`` and ``cut_s[n]`` (count × (n − 1)) list the single-edge cuts.
    """

    def __init__(self) -> None:
        self.max_nodes = 1
        self.starts = [0, 0, 1]
        self.size = np.array([1], dtype=np.int64)
        self.first = np.array([-1], dtype=np.int64)
        self.rest = np.array([-1], dtype=np.int64)
        self.mult = np.array([0], dtype=np.int64)
        self.sigma = np.array([1], dtype=np.int64)
        self.gamma = np.array([1], dtype=np.int64)
        self.height = np.array([1], dtype=np.int64)
        # id(s ∘ c) = pair_base[pair_off[n] + c] + s for |s ∘ c| = n (c smallest child)
        self.pair_base = np.zeros(0, dtype=np.int64)
        self.pair_off = np.zeros(MAX_NODES + 2, dtype=np.int64)
        self.cut_u: dict[int, np.ndarray] = {}
        self.cut_s: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.size)

    def ids(self, n: int) -> range:
        return range(self.starts[n], self.starts[n + 1])

    def count_upto(self, n: int) -> int:
        return self.starts[n + 1]

    # -- growth ---------------------------------------------------------------
    def extend(self, n: int) -> TreeArrays:
        if n > MAX_NODES:
            raise ValueError(f"the array tree table holds trees of at most {MAX_NODES} nodes")
        while self.max_nodes < n:
            self._grow(self.max_nodes + 1)
        return self

    def _grow(self, n: int) -> None:
        st = self.starts
        size, first, rest = self.size, self.first, self.rest
        T = st[n]  # trees with fewer than n nodes: the candidates c
        cs = np.arange(T, dtype=np.int64)
        m = n - size[:T]
        lo = np.zeros(T, dtype=np.int64)
        hi = np.zeros(T, dtype=np.int64)
        for mm in range(1, n):
            sel = m == mm
            if mm == 1:
                lo[sel], hi[sel] = 0, 1
                continue
            block = first[st[mm] : st[mm + 1]]
            lo[sel] = st[mm] + np.searchsorted(block, cs[sel], side="left")
            hi[sel] = st[mm + 1]
        cnt = hi - lo
        total = int(cnt.sum())
        new_first = np.repeat(cs, cnt)
        offs = np.cumsum(cnt) - cnt
        new_rest = np.arange(total, dtype=np.int64) + np.repeat(lo - offs, cnt)
        same = first[new_rest] == new_first
        new_mult = 1 + np.where(same, self.mult[new_rest], 0)
        new_sigma = self.sigma[new_rest] * self.sigma[new_first] * new_mult
        new_gamma = self.gamma[new_rest] * self.gamma[new_first] * n // size[new_rest]
        new_height = np.maximum(self.height[new_rest], self.height[new_first] + 1)
        new_size = np.full(total, n, dtype=np.int64)
        self.pair_off[n] = len(self.pair_base)
        self.pair_base = np.concatenate([self.pair_base, st[n] + offs - lo])
        self.pair_off[n + 1] = len(self.pair_base)
        # cuts: the edge to c, then the cuts of c, then the cuts of s
        cu = np.empty((total, n - 1), dtype=np.int32)
        cps = np.empty((total, n - 1), dtype=np.int32)
        cu[:, 0] = new_first
        cps[:, 0] = new_rest
        csize = size[new_first]
        for sc in range(2, n):  # trees whose smallest child has sc ≥ 2 nodes
            rows = np.nonzero(csize == sc)[0]
            if len(rows) == 0:
                continue
            c = new_first[rows]
            base = self.starts[sc]
            u = self.cut_u[sc][c - base]
            part = self.cut_s[sc][c - base].astype(np.int64)
            s = np.repeat(new_rest[rows], sc - 1)
            cu[rows, 1:sc] = u
            cps[rows, 1:sc] = self.graft(s, part.ravel()).reshape(len(rows), sc - 1)
        ssize = size[new_rest]
        for ss in range(2, n):
            rows = np.nonzero(ssize == ss)[0]
            if len(rows) == 0:
                continue
            s = new_rest[rows]
            base = self.starts[ss]
            u = self.cut_u[ss][s - base]
            part = self.cut_s[ss][s - base].astype(np.int64)
            c = np.repeat(new_first[rows], ss - 1)
            col = csize[rows]  # the cuts of c fill columns 1 .. |c| − 1
            grafted = self.graft(part.ravel(), c).reshape(len(rows), ss - 1)
            cols = col[:, None] + np.arange(ss - 1)[None, :]
            cu[rows[:, None], cols] = u
            cps[rows[:, None], cols] = grafted
        self.size = np.concatenate([size, new_size])
        self.first = np.concatenate([first, new_first])
        self.rest = np.concatenate([rest, new_rest])
        self.mult = np.concatenate([self.mult, new_mult])
        self.sigma = np.concatenate([self.sigma, new_sigma])
        self.gamma = np.concatenate([self.gamma, new_gamma])
        self.height = np.concatenate([self.height, new_height])
        self.cut_u[n] = cu
        self.cut_s[n] = cps
        self.starts.append(st[-1] + total)
        self.max_nodes = n

    # -- lookups --------------------------------------------------------------
    def pair(self, c: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Ids of s ∘ c for arrays with c ≤ every child of s (c the smallest child)."""
        n = self.size[c] + self.size[s]
        return self.pair_base[self.pair_off[n] + c] + s

    def graft(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Ids of x ∘ y (y grafted onto the root of x), for arrays of ids."""
        out = np.empty(len(x), dtype=np.int64)
        active = np.arange(len(x))
        xa, ya = x, y
        peeled = []
        first, rest = self.first, self.rest
        while len(active):
            fx = first[xa]
            done = (fx < 0) | (ya <= fx)
            out[active[done]] = self.pair(ya[done], xa[done])
            keep = ~done
            active, fx = active[keep], fx[keep]
            peeled.append((active, fx))
            xa, ya = rest[xa[keep]], ya[keep]
        for idx, f in reversed(peeled):
            if len(idx):
                out[idx] = self.pair(f, out[idx])
        return out

    def children(self, i: int) -> tuple[int, ...]:
        """Children ids of tree ``i``, ascending (as ``TreeTable.children``)."""
        out = []
        while self.first[i] >= 0:
            out.append(int(self.first[i]))
            i = int(self.rest[i])
        return tuple(out)


_ARRAYS = TreeArrays()


def tree_arrays(n: int) -> TreeArrays:
    """The shared ``TreeArrays``, extended to trees with ``n`` nodes.

    Growth is checked against the tree limit of ``bea.bseries._budget``, as
    ``TreeTable.extend`` is.
    """
    if n > _ARRAYS.max_nodes:
        from ._budget import check_size

        check_size(n, 1, what=f"a table of trees with up to {n} nodes")
    return _ARRAYS.extend(n)


# ----------------------------------------------------------------------------
# Modular arithmetic
# ----------------------------------------------------------------------------


#: primes below 2^29: a sum of MAX_NODES − 1 products of two residues fits int64
_PRIME_BITS = 29


def _primes(count: int, avoid: int = 1) -> list[int]:
    """``count`` primes below 2^29, largest first, none dividing ``avoid``."""
    out: list[int] = []
    p = 1 << _PRIME_BITS
    while len(out) < count:
        p = _prev(p)
        if avoid % p:
            out.append(p)
    return out


def _prev(p: int) -> int:
    p -= 1
    while not flint.fmpz(p).is_prime():
        p -= 1
    return p


def _mod(values: list[int], p: np.ndarray) -> np.ndarray:
    """Python ints reduced modulo each prime: array (len(p), len(values))."""
    try:
        arr = np.array(values, dtype=np.int64)
        return arr[None, :] % p
    except OverflowError:
        arr = np.array(values, dtype=object)
        return np.stack([(arr % int(q)).astype(np.int64) for q in p[:, 0]])


def _inverse(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    """x^(p−2) mod p elementwise (x coprime to p)."""
    result = np.ones_like(x)
    base = x % p
    e = p - 2  # shape (P, 1)
    top = int(e.max()).bit_length()
    for bit in range(top):
        use = (e >> bit) & 1
        result = np.where(use == 1, result * base % p, result)
        base = base * base % p
    return result


def _residues(nums: list[int], dens: list[int], p: np.ndarray) -> np.ndarray:
    """nums[t]/dens[t] modulo each prime (the denominators are few: invert each once)."""
    distinct = sorted(set(dens))
    where = {q: i for i, q in enumerate(distinct)}
    index = np.array([where[q] for q in dens], dtype=np.int64)
    inv = np.array([[pow(q, -1, int(pr)) for q in distinct] for pr in p[:, 0]], dtype=np.int64)
    return _mod(nums, p) * inv[:, index] % p


def _crt_small(res: np.ndarray, primes: list[int]) -> list[int]:
    """As ``_crt`` for results below 2^61 in absolute value, in int64 (one or two primes).

    Symmetric digits: x = d_1 + p_1 d_2 with |d_1| ≤ p_1/2, so |p_1 d_2| ≤ |x| + p_1/2.
    """
    p1 = primes[0]
    d1 = np.where(res[0] > p1 // 2, res[0] - p1, res[0])
    if len(primes) == 1:
        return d1.tolist()
    p2 = primes[1]
    inv = pow(p1, -1, p2)
    d2 = (res[1] - d1) % p2 * inv % p2
    d2 = np.where(d2 > p2 // 2, d2 - p2, d2)
    return (d1 + p1 * d2).tolist()


def _crt(res: np.ndarray, primes: list[int]) -> list[int]:
    """Integers in (−P/2, P/2) with the given residues (Garner), P = Π primes."""
    P = len(primes)
    digits = [res[0]]
    for i in range(1, P):
        pi = primes[i]
        v = digits[0] % pi
        radix = 1
        for j in range(1, i):
            radix = radix * primes[j - 1] % pi
            v = (v + digits[j] * radix) % pi
        radix = radix * primes[i - 1] % pi
        inv = pow(radix, pi - 2, pi)
        digits.append((res[i] - v) % pi * inv % pi)
    acc = digits[-1].astype(object)
    for i in range(P - 2, -1, -1):
        acc = acc * primes[i] + digits[i].astype(object)
    modulus = math.prod(primes)
    half = modulus // 2
    return [int(v) - modulus if v > half else int(v) for v in acc]


# ----------------------------------------------------------------------------
# The logarithm
# ----------------------------------------------------------------------------


def _valuation_bounds(N: int) -> dict[int, list[int]]:
    """For each prime p ≤ N: v[n] with p^{v[n]} d^n ω(t) p-integral for |t| = n.

    (d^{|t|} a(t) integral.) v[1] = 0 and v[n] = max(0, max_k V_k(n) + v_p(k!)),
    V_k(n) the largest Σ v[n_i] over the compositions n = n_1 + … + n_k, because
    c_k(t) is a Z-combination of products ω(u_1)···ω(u_k) with Σ|u_i| = |t|.
    """
    out = {}
    for p in range(2, N + 1):
        if not flint.fmpz(p).is_prime():
            continue
        vfact = [0] * (N + 1)
        for k in range(1, N + 1):
            j, e = k, 0
            while j % p == 0:
                j //= p
                e += 1
            vfact[k] = vfact[k - 1] + e
        v = [0] * (N + 1)
        # V[k][n]: largest Σ v(n_i) over compositions of n into k parts
        V = [[-(10**9)] * (N + 1) for _ in range(N + 1)]
        V[0][0] = 0
        for n in range(1, N + 1):
            best = 0
            for k in range(2, n + 1):
                cand = max(v[m] + V[k - 1][n - m] for m in range(1, n - k + 2))
                V[k][n] = cand
                best = max(best, cand + vfact[k])
            v[n] = best
            V[1][n] = v[n]
        out[p] = v
    return out


def _scale(nums: list[int], dens: list[int], sizes: np.ndarray) -> int:
    """An integer d ≥ 1 with d^{|t|} a(t) ∈ Z for every tree."""
    pairs = {(q, int(n)) for q, n in zip(dens, sizes.tolist()) if q != 1}
    if not pairs:
        return 1
    small = reduce(math.lcm, (q for q, n in pairs if n <= 3), 1)
    for d in (small, reduce(math.lcm, (q for q, _ in pairs), 1)):
        if all(pow(d, n, q) == 0 for q, n in pairs):
            return d
    raise AssertionError("unreachable: the lcm of all denominators always works")


def _level_loop(arrays: TreeArrays, a: np.ndarray, N: int, mod, invfact: np.ndarray):
    """ω from a (shape (P, T)), exactly modulo the primes ``mod`` (P, 1) or on floats if None.

    Implements the D_r recursion of the module docstring; ``invfact[r]`` is 1/r!
    (modulo each prime, or as a float).
    """
    P, T = a.shape
    dtype = a.dtype
    omega = np.zeros((P, T), dtype=dtype)
    # D_r(t) for r < N − |t|, flat: slot off[t] + r
    small = arrays.starts[N]
    slots = np.maximum(N - arrays.size[:small], 0)
    off = np.concatenate([[0], np.cumsum(slots)])
    D = np.zeros((P, int(off[-1])), dtype=dtype)

    def reduce_(x):
        return x if mod is None else x % mod.reshape((P,) + (1,) * (x.ndim - 1))

    omega[:, 0] = a[:, 0]
    if N > 1:
        D[:, off[0] : off[0] + N - 1] = reduce_(omega[:, :1] * invfact[:, 2 : N + 1])
    for n in range(2, N + 1):
        start, stop = arrays.starts[n], arrays.starts[n + 1]
        U, S = arrays.cut_u[n], arrays.cut_s[n]
        R = N - n + 1  # X_r for r = 0 .. N − n
        step = max(1, _CHUNK // (P * R * (n - 1)))
        for lo in range(0, stop - start, step):
            hi = min(lo + step, stop - start)
            u, s = U[lo:hi], S[lo:hi]
            W = omega[:, u]  # (P, m, n−1)
            base = off[s]
            X = np.empty((P, R, hi - lo), dtype=dtype)
            for r in range(R):
                X[:, r] = reduce_((W * D[:, base + r]).sum(axis=-1))
            ids = slice(start + lo, start + hi)
            # on floats (the bound) |ω| ≤ |a| + Σ|ω(u)||D_0(s)|
            w = a[:, ids] + X[:, 0] if mod is None else reduce_(a[:, ids] - X[:, 0])
            omega[:, ids] = w
            if n < N:
                rr = np.arange(N - n)
                dst = off[start + lo : start + hi][None, :] + rr[:, None]  # (N−n, m)
                vals = reduce_(w[:, None, :] * invfact[:, 2 + rr][:, :, None] + X[:, 1:])
                D[:, dst] = vals
    return omega


def log_qq(nums: list[int], dens: list[int], N: int) -> tuple[list[int], list[int]]:
    """Exact ω = log a on all trees with at most N nodes, a(t) = nums[t]/dens[t] (a(∅) = 1).

    Returns numerators and denominators (not reduced) of ω(t), id by id
    (normalisation of ``BSeries``: h f̃ = Σ h^{|t|} ω(t)/σ(t) F(t)). Explicit
    Euler (a(•) = 1, else 0) on •, [•], [•,•], [[•]]:

    >>> nums, dens = log_qq([1, 0, 0, 0], [1, 1, 1, 1], 3)
    >>> [str(flint.fmpq(n, d)) for n, d in zip(nums, dens)]
    ['1', '-1/2', '1/6', '1/3']
    """
    arrays = tree_arrays(N)
    T = arrays.count_upto(N)
    sizes = arrays.size[:T]
    # the bound, on floats
    try:
        absa = np.abs(np.array(nums, dtype=np.int64)) / np.array(dens, dtype=np.int64)
    except OverflowError:
        absa = np.array([abs(x) / q for x, q in zip(nums, dens)], dtype=np.float64)
    absa = absa[None, :] * (1 + 1e-12)  # above the rounding of the quotients
    finv = np.array([[1.0 / math.factorial(k) for k in range(N + 2)]])
    bound = _level_loop(arrays, absa, N, None, finv)[0] * (1 + 1e-6)
    d = _scale(nums, dens, sizes)
    v = _valuation_bounds(N)
    E = [d**n * math.prod(p ** v[p][n] for p in v) for n in range(N + 1)]
    need = [0] * (N + 1)  # bits of 2 E_n max|ω| for each size, with a margin
    for n in range(1, N + 1):
        b = float(bound[arrays.starts[n] : arrays.starts[n + 1]].max())
        need[n] = E[n].bit_length() + max(0, math.frexp(b)[1]) + 2
    avoid = reduce(math.lcm, set(dens), 1)
    primes = _primes(max(1, -(-max(need) // (_PRIME_BITS - 1))), avoid)
    while sum(math.log2(p) for p in primes) < max(need):
        primes = _primes(len(primes) + 1, avoid)
    pcol = np.array(primes, dtype=np.int64)[:, None]
    a = _residues(nums, dens, pcol)
    fact = np.array([[math.factorial(k) % p for k in range(N + 2)] for p in primes])
    invfact = _inverse(fact, pcol)
    omega = _level_loop(arrays, a, N, pcol, invfact)
    out_n: list[int] = []
    out_d: list[int] = []
    for n in range(1, N + 1):
        ids = slice(arrays.starts[n], arrays.starts[n + 1])
        k = 1
        while sum(math.log2(p) for p in primes[:k]) < need[n]:
            k += 1
        En = np.array([E[n] % p for p in primes[:k]], dtype=np.int64)[:, None]
        res = omega[:k, ids] * En % pcol[:k]
        small = k <= 2 and need[n] <= 61
        level = _crt_small(res, primes[:k]) if small else _crt(res, primes[:k])
        g = math.gcd(E[n], *level)  # one common factor for the size: smaller gcds later
        out_n.extend([x // g for x in level] if g > 1 else level)
        out_d.extend([E[n] // g] * len(level))
    return out_n, out_d


# ----------------------------------------------------------------------------
# Runge–Kutta elementary weights
# ----------------------------------------------------------------------------


def rk_weights(
    A: list[list[flint.fmpq]], b: list[flint.fmpq], N: int
) -> tuple[list[int], list[int]]:
    """Elementary weights Φ(t) = Σ_i b_i u_i(t) on all trees with at most N nodes.

    u_i(•) = 1, u_i(s ∘ c) = u_i(s) g_i(c), g_i = Σ_j a_ij u_j (HLW III.1.2), in
    integers: with d the common denominator of the tableau, A' = dA, b' = db,
    u'_i(t) = d^{|t|−1} u_i(t) satisfies the same recursion with g' = A'u', and
    Φ(t) = (Σ_i b'_i u'_i(t)) / d^{|t|}. Returns numerators and denominators.
    The explicit midpoint rule on •, [•], [•,•], [[•]] (Φ = 1, 1/2, 1/4, 0):

    >>> half = flint.fmpq(1, 2)
    >>> nums, dens = rk_weights([[0, 0], [half, 0]], [0, 1], 3)
    >>> [str(flint.fmpq(n, d)) for n, d in zip(nums, dens)]
    ['1', '1/2', '1/4', '0']
    """
    arrays = tree_arrays(N)
    T = arrays.count_upto(N)
    A = [[flint.fmpq(x) for x in row] for row in A]
    b = [flint.fmpq(x) for x in b]
    s = len(b)
    entries = [x for row in A for x in row] + list(b)
    d = reduce(math.lcm, (int(x.q) for x in entries), 1)
    Ai = [[int((x * d).p) for x in row] for row in A]
    bi = [int((x * d).p) for x in b]
    big = max(1, max(abs(x) for x in [*(y for row in Ai for y in row), *bi]))
    fits = N * math.log2(s * big + 1) + 2 < 62
    dtype = np.int64 if fits else object
    u = np.zeros((s, T), dtype=dtype)
    g = np.zeros((s, T), dtype=dtype)
    Am = np.array(Ai, dtype=dtype)
    u[:, 0] = 1
    g[:, 0] = Am.sum(axis=1)
    first, rest = arrays.first, arrays.rest
    for n in range(2, N + 1):
        ids = slice(arrays.starts[n], arrays.starts[n + 1])
        un = u[:, rest[ids]] * g[:, first[ids]]
        u[:, ids] = un
        g[:, ids] = Am.dot(un)
    phi = np.array(bi, dtype=dtype).dot(u)
    nums = [int(x) for x in phi]
    sizes = arrays.size[:T].tolist()
    pw = [d**n for n in range(N + 1)]
    return nums, [pw[n] for n in sizes]
