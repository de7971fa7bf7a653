"""Elementary differentials: on concrete sympy fields, and as text.

F(•) = f, F([t1..tm]) = f^{(m)}(F(t1), ..., F(tm)): the m-th derivative of f,
a symmetric m-linear map, applied to the children's differentials. For a
coloured tree the node of colour k uses the k-th field f_k.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from ._trees import RootedTree

__all__ = [
    "ElementaryDifferentials",
    "as_field",
    "differential_latex",
    "differential_text",
]


def as_field(field, variables: tuple[sp.Symbol, ...], what: str = "field") -> sp.Matrix:
    """A column Matrix with one component per variable."""
    if isinstance(field, sp.MatrixBase):
        m = sp.Matrix(field)
        if m.cols != 1 and m.rows == 1:
            m = m.T
    else:
        try:
            m = sp.Matrix([sp.sympify(c, strict=True) for c in field])
        except (TypeError, sp.SympifyError) as exc:
            raise ValueError(
                f"{what} must be a sympy Matrix or a sequence of sympy expressions, got {field!r}"
            ) from exc
    if m.shape != (len(variables), 1):
        raise ValueError(
            f"{what} must have one component per variable: expected shape "
            f"({len(variables)}, 1) for variables {variables}, got {m.shape}"
        )
    return m


class ElementaryDifferentials:
    """F(t) for one or several concrete vector fields, memoised by tree.

    ``fields`` is a sequence of column Matrices (one per colour), each with one
    component per variable. Multilinear derivatives are computed from cached
    partial derivatives; shared subtrees are computed once.
    """

    def __init__(self, fields: Sequence[sp.Matrix], variables: Sequence[sp.Symbol]) -> None:
        self.variables = tuple(variables)
        self.fields = [sp.Matrix(f) for f in fields]
        self._memo: dict[tuple, sp.Matrix] = {}
        self._partials: dict[tuple[int, int, tuple[int, ...]], sp.Expr] = {}

    def _partial(self, colour: int, comp: int, idx: tuple[int, ...]) -> sp.Expr:
        key = (colour, comp, idx)
        p = self._partials.get(key)
        if p is None:
            if not idx:
                p = self.fields[colour][comp]
            else:
                p = sp.diff(self._partial(colour, comp, idx[:-1]), self.variables[idx[-1]])
            self._partials[key] = p
        return p

    def __call__(self, t: RootedTree) -> sp.Matrix:
        return self._eval(t._key)

    def _eval(self, key: tuple) -> sp.Matrix:
        memo = self._memo
        if key in memo:
            return memo[key]
        colour, kids = key
        if colour >= len(self.fields):
            raise ValueError(
                f"tree uses colour {colour} but only {len(self.fields)} field(s) were given"
            )
        d = len(self.variables)
        vecs = [self._eval(k) for k in kids]
        out = []
        for comp in range(d):
            out.append(self._contract(colour, comp, vecs, ()))
        res = sp.Matrix(out)
        memo[key] = res
        return res

    def _contract(self, colour, comp, vecs, idx) -> sp.Expr:
        if len(idx) == len(vecs):
            return self._partial(colour, comp, tuple(sorted(idx)))
        v = vecs[len(idx)]
        total = sp.S.Zero
        for j in range(len(self.variables)):
            if v[j] != 0:
                total += v[j] * self._contract(colour, comp, vecs, (*idx, j))
        return total


def _f(colour: int, coloured: bool, latex: bool) -> str:
    if not coloured:
        return "f"
    return f"f_{{{colour}}}" if latex else f"f{_SUB[colour]}" if colour < 10 else f"f_{colour}"


_SUB = "₀₁₂₃₄₅₆₇₈₉"


def _primes(m: int, latex: bool) -> str:
    if m <= 3:
        return "'" * m
    return f"^{{({m})}}" if latex else f"^({m})"


def _diff_str(key: tuple, coloured: bool, latex: bool) -> str:
    colour, kids = key
    f = _f(colour, coloured, latex)
    if not kids:
        return f
    inner = [_diff_str(k, coloured, latex) for k in kids]
    if len(kids) == 1:
        return f + _primes(1, latex) + inner[0]
    return f + _primes(len(kids), latex) + "(" + ",".join(inner) + ")"


def differential_text(t: RootedTree, coloured: bool = False) -> str:
    """F(t) in the usual notation: f, f'f, f''(f,f), f'f'f, f'''(f,f,f), ...

    >>> from bea import tree
    >>> differential_text(tree("[[[]],[]]"))
    "f''(f'f,f)"
    """
    return _diff_str(t._key, coloured, latex=False)


def differential_latex(t: RootedTree, coloured: bool = False) -> str:
    """F(t) in LaTeX."""
    return _diff_str(t._key, coloured, latex=True)
