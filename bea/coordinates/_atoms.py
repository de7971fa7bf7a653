r"""Expanded expressions as sparse Laurent polynomials in their atoms (the coordinate ring).

The coordinate backend manipulates expanded sympy expressions: sums of terms
$c \prod_a a^{e_a}$ with a rational $c$ and *atoms* $a$ -- symbols, applied
functions such as ``L(x, y)`` and their ``Derivative`` objects, sign symbols
σ(u) (``bea.coordinates._signs.Sign``), and sums that occur only to negative
powers, such as $(\varepsilon + σ(g)\,g)^{-2}$. On hot paths (Taylor
expansion, products of truncated series, the flow of a field) this module
keeps such an expression as a dict ``{monomial: coefficient}`` instead:

* a monomial is a sorted tuple of ``(atom index, exponent)`` pairs, exponents
  non-zero integers (negative allowed); coefficients are ``flint.fmpq``;
* σ(u)² = 1 is reduced in the ring (the exponent of a sign atom is kept mod 2);
* a root of a positive rational, r^{1/q} (``sqrt(5)``), keeps its exponent in
  0 < e < q: (r^{1/q})^q = r goes into the coefficient, as sympy does, so
  exact numbers with square roots do not grow as polynomials in their roots;
* a sum raised to a negative power becomes one atom, the sum as sympy writes
  it (as in an expanded sympy expression, $1/(2\varepsilon + 2σ g)$ and
  $1/(\varepsilon + σ g)$ are different atoms);
* differentiation is the derivation fixed by the atoms' own derivatives
  (computed once by sympy, cached, mixed partials in canonical order).

The representation is not a normal form for rational functions (a sum and its
inverse atom do not cancel), exactly as an expanded sympy expression is not;
values are always exact. ``to_expr`` gives back the sympy expression (one
``Add`` of ``Mul`` terms, as ``sympy.Add`` builds it).

>>> import sympy
>>> x, e = sympy.symbols("x epsilon")
>>> p = from_expr(x / (e + x) ** 2)
>>> to_expr(derivative(p, x))
-2*x/(epsilon + x)**3 + (epsilon + x)**(-2)
"""

from __future__ import annotations

import functools

import sympy
from flint import fmpq
from sympy import S
from sympy.core.basic import _args_sortkey

from ._signs import Sign

__all__ = ["derivative", "from_expr", "is_zero", "mul", "to_expr"]

# atom registry: index -> sympy atom; kinds: 0 plain, 1 sign (σ² = 1), 2 inverse-base sum,
# 3 root r^(1/q) of a positive rational (exponent kept in 0 < e < q)
_ATOMS: list = []
_INDEX: dict = {}
_KIND: list[int] = []
_PLAIN, _SIGN, _SUM, _ROOT = 0, 1, 2, 3
#: root atoms: index -> (r as fmpq, q)
_ROOTS: dict[int, tuple] = {}

ONE = _ONE = fmpq(1)
_UNIT: tuple = ()


def _atom(expr, kind: int) -> int:
    idx = _INDEX.get(expr)
    if idx is None:
        idx = len(_ATOMS)
        _ATOMS.append(expr)
        _KIND.append(kind)
        _INDEX[expr] = idx
    return idx


def atom_index(expr) -> int:
    """The index of a plain atom (a symbol, say), registering it."""
    return _atom(expr, _SIGN if isinstance(expr, Sign) else _PLAIN)


def _mono_mul(a: tuple, b: tuple) -> tuple:
    """Product of two monomials (sorted ``(index, exponent)`` tuples)."""
    if not a:
        return b
    if not b:
        return a
    out = dict(a)
    for k, e in b:
        v = out.get(k)
        if v is None:
            out[k] = e
            continue
        v += e
        if _KIND[k] == _SIGN:
            v &= 1
        if v:
            out[k] = v
        else:
            del out[k]
    return tuple(sorted(out.items()))


def add_into(acc: dict, p: dict, scale=None) -> None:
    """acc += scale * p (in place)."""
    for m, c in p.items():
        if scale is not None:
            c = c * scale
        v = acc.get(m)
        if v is None:
            acc[m] = c
        else:
            v = v + c
            if v:
                acc[m] = v
            else:
                del acc[m]


def add(a: dict, b: dict) -> dict:
    out = dict(a)
    add_into(out, b)
    return out


def sub(a: dict, b: dict) -> dict:
    out = dict(a)
    add_into(out, b, -_ONE)
    return out


def scale(a: dict, c) -> dict:
    if not c:
        return {}
    return {m: v * c for m, v in a.items()}


def _fold_roots(p: dict) -> dict:
    """p with every root atom's exponent brought into 0 < e < q ((r^{1/q})^q = r)."""

    def folded(m: tuple) -> bool:
        return all(k not in _ROOTS or 0 < e < _ROOTS[k][1] for k, e in m)

    if all(folded(m) for m in p):
        return p
    out: dict = {}
    for m, c in p.items():
        mono = []
        for k, e in m:
            root = _ROOTS.get(k)
            if root is not None:
                whole, e = divmod(e, root[1])
                c = c * root[0] ** whole
            if e:
                mono.append((k, e))
        add_into(out, {tuple(mono): c})
    return out


def mul(a: dict, b: dict) -> dict:
    out = _mul(a, b)
    return _fold_roots(out) if _ROOTS and out else out


def _mul(a: dict, b: dict) -> dict:
    if len(a) > len(b):
        a, b = b, a
    out: dict = {}
    for ma, ca in a.items():
        for mb, cb in b.items():
            m = _mono_mul(ma, mb)
            c = ca * cb
            v = out.get(m)
            if v is None:
                out[m] = c
            else:
                v = v + c
                if v:
                    out[m] = v
                else:
                    del out[m]
    return out


def power(a: dict, n: int) -> dict:
    result = None
    sq = a
    while n:
        if n & 1:
            result = sq if result is None else mul(result, sq)
        n >>= 1
        if n:
            sq = mul(sq, sq)
    return result if result is not None else {_UNIT: _ONE}


def is_zero(a: dict) -> bool:
    return not a


def constant(c) -> dict:
    c = fmpq(c) if not isinstance(c, fmpq) else c
    return {_UNIT: c} if c else {}


# --------------------------------------------------------------------------
# sympy <-> ring
# --------------------------------------------------------------------------


def _rational(c) -> fmpq:
    return fmpq(int(c.p), int(c.q))


def _sum_atom(p: dict, n: int) -> dict:
    """p**n for a sum p and an integer n < 0: one atom, the sum as sympy writes it."""
    base = to_expr(p)
    if not base.is_Add:  # the terms collapsed into one (rare): invert as a product
        q = from_expr(base)
        if len(q) == 1:
            return _invert_term(q, n)
    return {((_atom(base, _SUM), n),): _ONE}


def _invert_term(q: dict, n: int, content=S.One) -> dict:
    ((m, c),) = q.items()
    mono = {}
    for k, e in m:
        v = e * n
        if _KIND[k] == _SIGN:
            v &= 1
        if v:
            mono[k] = v
    coeff = (c * _rational(content)) ** n if content != 1 else c**n
    out = {tuple(sorted(mono.items())): coeff}
    return _fold_roots(out) if _ROOTS else out


_FROM: dict = {}
_FROM_LIMIT = 1 << 16


def from_expr(expr) -> dict:
    """The ring element of an (h-free) sympy expression; expands products and positive powers.

    The returned dict is shared (cached, also for the expressions ``to_expr``
    built): do not mutate it.
    """
    if not isinstance(expr, sympy.Basic):
        expr = sympy.sympify(expr, strict=True)
    p = _FROM.get(expr)
    if p is None:
        p = _from_expr(expr)
        _remember(expr, p)
    return p


def _remember(expr, p: dict) -> None:
    if len(_FROM) >= _FROM_LIMIT:
        _FROM.clear()
    _FROM[expr] = p


def _from_expr(expr) -> dict:
    if expr.is_Rational:
        return constant(_rational(expr)) if expr != 0 else {}
    if expr.is_Add:
        acc: dict = {}
        for t in expr.args:
            add_into(acc, from_expr(t))
        return acc
    if expr.is_Mul:
        acc = {_UNIT: _ONE}
        for f in expr.args:
            acc = mul(acc, from_expr(f))
            if not acc:
                return {}
        return acc
    if expr.is_Pow and expr.exp.is_Integer:
        n = int(expr.exp)
        base = from_expr(expr.base)
        if n > 0:
            return power(base, n)
        if len(base) == 1:
            return _invert_term(base, n)
        return _sum_atom(base, n)
    if isinstance(expr, Sign):
        return {((_atom(expr, _SIGN), 1),): _ONE}
    if (
        expr.is_Pow
        and expr.base.is_Rational
        and expr.base > 0
        and expr.exp.is_Rational
        and expr.exp.p == 1
        and expr.exp.q > 1
    ):
        idx = _atom(expr, _ROOT)
        _ROOTS[idx] = (_rational(expr.base), int(expr.exp.q))
        return {((idx, 1),): _ONE}
    return {((_atom(expr, _PLAIN), 1),): _ONE}


def _rational_expr(c: fmpq):
    num, den = int(c.p), int(c.q)
    return sympy.Integer(num) if den == 1 else sympy.Rational(num, den)


def _term(m: tuple, c: fmpq):
    """The sympy term ``c * prod(atom**e)``, built by ``sympy.Mul``."""
    factors = [_rational_expr(c)]
    for k, e in m:
        a = _ATOMS[k]
        factors.append(a if e == 1 else sympy.Pow(a, e))
    return sympy.Mul(*factors)


@functools.lru_cache(maxsize=1 << 16)
def _factor(k: int, e: int):
    """``atom_k ** e`` if sympy keeps it as that power (else None: build the term with Mul)."""
    a = _ATOMS[k]
    if e == 1:
        return a if a.is_Add is False or _KIND[k] != _SUM else None
    pw = sympy.Pow(a, e)
    if pw.is_Pow and pw.base == a and pw.exp == e:
        return pw
    return None


@functools.lru_cache(maxsize=1 << 16)
def _simple_atom(k: int) -> bool:
    """Whether ``sympy.Mul`` only sorts ``atom_k`` (powers of it do not combine with others).

    Symbols, applied functions other than ``exp``, ``Derivative`` objects,
    sign symbols and sums qualify; numbers (``sqrt(2)``, ``pi``), powers with
    a non-integer exponent and ``exp(...)`` (a power of ``E``) do not.
    """
    a = _ATOMS[k]
    if a.is_number:
        return False
    base, ex = a.as_base_exp()
    return ex == 1 and base == a


def _fast_term(m: tuple, c: fmpq):
    """``_term`` without ``Mul``'s flattening, where that gives the same expression.

    ``Mul`` of a rational and distinct simple factors (``_simple_atom``) only
    sorts the factors (``Basic.compare``) and puts the rational first, which is
    done here directly; anything else returns None.
    """
    factors = []
    for k, e in m:
        if not _simple_atom(k):
            return None
        f = _factor(k, e)
        if f is None:
            return None
        factors.append(f)
    coeff = _rational_expr(c)
    if not factors:
        return coeff
    factors.sort(key=_args_sortkey)
    if coeff is not S.One:
        factors.insert(0, coeff)
    if len(factors) == 1:
        return factors[0]
    return sympy.Mul._from_args(factors, True)


def to_expr(p: dict) -> sympy.Expr:
    """The sympy expression of a ring element (a sum of products of atom powers).

    Equal, as an expression, to ``sympy.Add(*[sympy.Mul(c, *powers) ...])``;
    terms of simple atoms skip the flattening of ``Mul`` and ``Add`` (their
    monomials are distinct, so flattening would only sort them).
    """
    if not p:
        return S.Zero
    expr = _fast_sum(p)
    if expr is None:
        expr = sympy.Add(*[_term(m, c) for m, c in p.items()])
    if expr not in _FROM:
        _remember(expr, p)
    return expr


def _fast_sum(p: dict):
    terms = []
    const = S.Zero
    for m, c in p.items():
        t = _fast_term(m, c)
        if t is None:
            return None
        if not m:
            const = t
        else:
            terms.append(t)
    if not terms:
        return const
    terms.sort(key=_args_sortkey)
    if const is not S.Zero:
        terms.insert(0, const)
    if len(terms) == 1:
        return terms[0]
    return sympy.Add._from_args(terms, True)


def atoms(p: dict) -> list:
    """The atoms (sympy expressions) occurring in p."""
    seen = {k for m in p for k, _ in m}
    return [_ATOMS[k] for k in sorted(seen)]


def needs(p: dict, test) -> bool:
    """Whether ``test(atom)`` holds for an atom of p (cached per atom and test)."""
    seen = set()
    for m in p:
        for k, _ in m:
            if k in seen:
                continue
            seen.add(k)
            key = (k, test)
            hit = _TESTED.get(key)
            if hit is None:
                hit = _TESTED[key] = bool(test(_ATOMS[k]))
            if hit:
                return True
    return False


_TESTED: dict = {}


# --------------------------------------------------------------------------
# derivatives
# --------------------------------------------------------------------------


@functools.lru_cache(maxsize=1 << 16)
def _diff_atom(expr, var):
    return _canonical(expr.diff(var))


def _canonical(expr):
    """Rebuild ``Derivative`` objects through ``diff`` so mixed partials sort canonically."""
    if not expr.has(sympy.Derivative):
        return expr
    reps = {}
    for der in expr.atoms(sympy.Derivative):
        rebuilt = der.expr
        for var, count in der.variable_count:
            rebuilt = rebuilt.diff(var, count)
        if rebuilt != der:
            reps[der] = rebuilt
    return expr.xreplace(reps) if reps else expr


@functools.lru_cache(maxsize=1 << 15)
def _atom_derivative(idx: int, var) -> dict:
    kind = _KIND[idx]
    if kind == _SIGN:
        return {}
    atom = _ATOMS[idx]
    if atom == var:
        return {_UNIT: _ONE}
    if var not in atom.free_symbols:
        return {}
    if kind == _SUM:
        return derivative(from_expr(atom), var)
    return from_expr(sympy.expand(_diff_atom(atom, var)))


def derivative(p: dict, var) -> dict:
    """∂p/∂var (var a sympy Symbol), by the product rule over the atoms."""
    out: dict = {}
    for m, c in p.items():
        for pos, (k, e) in enumerate(m):
            da = _atom_derivative(k, var)
            if not da:
                continue
            if e == 1:
                rest = m[:pos] + m[pos + 1 :]
            else:
                rest = (*m[:pos], (k, e - 1), *m[pos + 1 :])
            ce = c * e
            for md, cd in da.items():
                mm = _mono_mul(rest, md)
                v = out.get(mm)
                cc = ce * cd
                if v is None:
                    out[mm] = cc
                else:
                    v = v + cc
                    if v:
                        out[mm] = v
                    else:
                        del out[mm]
    return _fold_roots(out) if _ROOTS and out else out


def free_atoms_depend(p: dict, var) -> bool:
    """Whether some atom of p depends on var (a cheap test before differentiating)."""
    seen = set()
    for m in p:
        for k, _ in m:
            if k in seen:
                continue
            seen.add(k)
            if _KIND[k] != _SIGN and var in _ATOMS[k].free_symbols:
                return True
    return False
