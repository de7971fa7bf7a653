"""Design targets: a modified loss through order p, as coefficients on free trees.

Convention (the project's modified-loss normalisation)::

    L̃ = Σ_τ h^{|τ|−1} c(τ) S(τ),      f̃ = −∇L̃,

over free trees τ with at most p + 1 nodes; S(•) = L, S(•—•) = ‖∇L‖²,
S(•—•—•) = ∇Lᵀ∇²L∇L, … (full contractions of the derivative tensors of L).
A target is a mapping from free trees (a ``bea.FreeTree``, or a bracket
string of *any* rooting: ``"[[]]"`` and ``"[[],[]]"``/``"[[[]]]"`` name •—• and
•—•—•) to c(τ); trees left out have c(τ) = 0. ``{"[]": 1, "[[]]": lam}`` is
L + λh‖∇L‖²; ``{"[]": 1}`` is plain gradient flow.

In terms of the modified field h f̃ = Σ_t h^{|t|} ω(t)/σ(t) F(t), the target
is met iff, on every rooting t of every free tree τ,

    ω(t) = (−1)^{|τ|−1} σ(τ) c(τ)

(see ``bea.results._loss``: ∇(S(τ)/σ(τ)) = Σ_{rootings t} G(t)/σ(t) and
F(t) = (−1)^{|t|} G(t)). For GD, c(•—•) = 1/4 and σ(•—•) = 2 give
ω([•]) = −1/2.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import sympy as sp

from .._inputs import exact
from .._parse import parse_expression
from ..bseries._trees import FreeTree, RootedTree, free_trees
from ..results._loss import scalar_text
from ..results._render import render_latex, render_text

__all__ = ["as_target", "parse_target", "target_omega"]

#: free trees whose scalar can be typed in a loss expression (through 4 nodes)
_TYPED_UP_TO = 4


def _free_tree(key: Any) -> FreeTree:
    if isinstance(key, FreeTree):
        tau = key
    elif isinstance(key, RootedTree):
        tau = FreeTree(key)
    elif isinstance(key, str):
        try:
            tau = FreeTree(key.strip())
        except ValueError as exc:
            raise ValueError(
                f"target key {key!r} is not a tree: write a bracket string such as '[]' (•), "
                f"'[[]]' (•—•) or '[[],[]]' (•—•—•), or a bea.FreeTree ({exc})"
            ) from exc
    else:
        raise TypeError(
            f"target keys must be bea.FreeTree, bea.RootedTree or bracket strings such as "
            f"'[[]]'; got {key!r} ({type(key).__name__})"
        )
    if tau.center_rooting().colours > 1:
        raise ValueError(f"design targets are for one loss; {tau} has coloured nodes")
    return tau


def _value(v: Any) -> sp.Expr:
    if isinstance(v, str):
        expr, _ = parse_expression(v)
        return expr
    return exact(v)


def as_target(target: Any, order: int) -> dict[FreeTree, sp.Expr]:
    """The target as {free tree: c(τ)} on all free trees with at most ``order + 1`` nodes.

    ``target`` is None (plain gradient flow, {"[]": 1}), a mapping (keys: free
    trees or bracket strings of any rooting; values: numbers, sympy
    expressions or strings such as ``"3/7"``), or a string (see
    ``parse_target``). Trees left out get c(τ) = 0.

    >>> t = as_target({"[]": 1, "[[]]": "1/4"}, order=2)
    >>> [(str(k), v) for k, v in t.items()]
    [('{[]}', 1), ('{[[]]}', 1/4), ('{[[],[]]}', 0)]
    """
    if target is None:
        target = {"[]": 1}
    if isinstance(target, str):
        target = parse_target(target)
    if not isinstance(target, Mapping):
        raise TypeError(
            "target must be a mapping from free trees to coefficients (e.g. "
            "{'[]': 1, '[[]]': 3/7} for L + 3/7 h‖∇L‖²) or a loss expression such as "
            f"'L + 3/7*h*|grad L|^2'; got {type(target).__name__}"
        )
    given: dict[FreeTree, sp.Expr] = {}
    for key, value in target.items():
        tau = _free_tree(key)
        if len(tau) > order + 1:
            raise ValueError(
                f"target tree {key!r} = {tau} has {len(tau)} nodes: it is an h^{len(tau) - 1} "
                f"term, beyond order={order}. Raise the order to {len(tau) - 1} or leave the "
                "term out"
            )
        if tau in given:
            raise ValueError(f"target names the free tree {tau} twice (as {key!r} and before)")
        given[tau] = _value(value)
    lead = given.get(FreeTree("[]"), sp.Integer(0))
    if lead == 0:
        raise ValueError(
            "the target has c(•) = 0 (no L term): every consistent method follows a multiple of "
            "−∇L at h⁰. Add '[]': 1 (L̃ = L + …)"
        )
    out = {}
    for n in range(1, order + 2):
        for tau in free_trees(n):
            out[tau] = given.get(tau, sp.Integer(0))
    return out


def target_omega(tau: FreeTree, c: sp.Expr) -> sp.Expr:
    """ω on every rooting of τ that realises c(τ): (−1)^{|τ|−1} σ(τ) c(τ)."""
    return (-1) ** (len(tau) - 1) * tau.symmetry() * c


# -- loss expressions --------------------------------------------------------------

_ALIASES = [
    ("‖", "|"),
    ("²", "^2"),
    ("∇", "grad "),
    ("·", "*"),
]


def _scalar_patterns() -> list[tuple[re.Pattern, FreeTree]]:
    """Typed forms of S(τ): the text bea prints, and ASCII spellings."""
    pats: list[tuple[str, FreeTree]] = []
    path2, path3 = FreeTree("[[]]"), FreeTree("[[[]]]")
    path4 = FreeTree("[[[[]]]]")
    words = {
        path2: [r"\|\s*grad\s*L\s*\|\s*\^\s*2", r"\|\s*grad\s*L\s*\|\s*\*\*\s*2"],
        path3: [
            r"grad\s*L\s*\^?T?\s*\.?\s*hess\s*L\s*\.?\s*grad\s*L",
            r"grad\s*Lᵀ\s*grad\s*\^\s*2\s*L\s*grad\s*L",
        ],
        path4: [r"\|\s*hess\s*L\s*\.?\s*grad\s*L\s*\|\s*\^\s*2"],
    }
    for tau, forms in words.items():
        pats.extend((f, tau) for f in forms)
    return [(re.compile(p), t) for p, t in pats]


def _placeholder(i: int) -> str:
    return f"S_tree_{i}_"


def parse_target(text: str) -> dict[FreeTree, sp.Expr]:
    """A target typed as text: a loss expression, or a JSON mapping on free trees.

    Loss expressions use ``L``, ``h`` and scalars of the gradient: ``|grad L|^2``
    (also ``‖∇L‖²``) for •—•, ``grad L.hess L.grad L`` for •—•—•,
    ``|hess L.grad L|^2`` for the 4-node path, and ``S[...]`` with a bracket
    string of any rooting for any free tree (``S[[],[],[]]`` is ∇³L[∇L,∇L,∇L]).
    Each S(τ) must come with h^{|τ|−1}; other names are parameters (symbols).
    A text starting with ``{`` is read as JSON: ``{"[]": 1, "[[]]": "3/7"}``.

    >>> t = parse_target("L + 3/7*h*|grad L|^2")
    >>> sorted((str(k), v) for k, v in t.items())
    [('{[[]]}', 3/7), ('{[]}', 1)]
    """
    if not isinstance(text, str):
        raise TypeError(f"expected a string, got {type(text).__name__}")
    s = text.strip()
    if s.startswith("{"):
        try:
            raw = json.loads(s)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"the target {text!r} starts with '{{' but is not JSON ({exc}); write e.g. "
                '\'{"[]": 1, "[[]]": "3/7"}\''
            ) from exc
        if not isinstance(raw, dict):
            raise ValueError("a JSON target must be an object {tree: coefficient}")
        return {_free_tree(k): _value(str(v)) for k, v in raw.items()}
    for a, b in _ALIASES:
        s = s.replace(a, b)
    taus: list[FreeTree] = []

    def name_of(tau: FreeTree) -> str:
        if tau not in taus:
            taus.append(tau)
        return _placeholder(taus.index(tau))

    # S[bracket string]
    out = []
    i = 0
    while i < len(s):
        if (
            s[i] == "S"
            and i + 1 < len(s)
            and s[i + 1] == "["
            and (i == 0 or not s[i - 1].isalnum())
        ):
            depth = 0
            j = i + 1
            while j < len(s):
                depth += {"[": 1, "]": -1}.get(s[j], 0)
                if depth == 0:
                    break
                j += 1
            if depth != 0:
                raise ValueError(f"unbalanced brackets after S in the target {text!r}")
            out.append(name_of(_free_tree(s[i + 1 : j + 1])))
            i = j + 1
            continue
        out.append(s[i])
        i += 1
    s = "".join(out)
    for pat, tau in _scalar_patterns():
        s = pat.sub(name_of(tau), s)
    s = re.sub(r"(?<![A-Za-z0-9_])L(?![A-Za-z0-9_])", lambda m: name_of(FreeTree("[]")), s)
    if "grad" in s or "hess" in s or "|" in s:
        raise ValueError(
            f"cannot read the target {text!r}: write the scalars as L, |grad L|^2, "
            "grad L.hess L.grad L, |hess L.grad L|^2 or S[tree] (any free tree as a bracket "
            "string), each times h^(nodes−1), e.g. 'L + 3/7*h*|grad L|^2'"
        )
    expr, symbols = parse_expression(s)
    by_name = {sym.name: sym for sym in symbols}
    placeholders = [by_name.get(_placeholder(k)) for k in range(len(taus))]
    present = [p for p in placeholders if p is not None]
    h = by_name.get("h")
    expr = sp.expand(expr)
    coeffs: dict[FreeTree, sp.Expr] = {}
    rest = expr
    for tau, sym in zip(taus, placeholders):
        if sym is None:
            continue
        part = expr.coeff(sym)
        rest = sp.expand(rest - part * sym)
        k = len(tau) - 1
        c = sp.expand(part / h**k) if h is not None else part
        if (h is not None and c.has(h)) or (h is None and k > 0) or part.has(*present):
            raise ValueError(
                f"in the target {text!r} the scalar {scalar_text(tau)} must come with h^{k} "
                f"exactly (the convention L̃ = Σ h^(|τ|−1) c(τ) S(τ)); got {part}·S"
            )
        coeffs[tau] = c
    if rest != 0:
        raise ValueError(
            f"the target {text!r} has terms {rest} that are not a coefficient times a scalar "
            "S(τ) (L, |grad L|^2, …)"
        )
    return coeffs


def target_text(target: Mapping[FreeTree, sp.Expr], latex: bool = False) -> str:
    """The target loss, e.g. ``L + 3h/7 ‖∇L‖²``."""
    from ..results._loss import scalar_latex

    fmt = scalar_latex if latex else scalar_text
    top = max((len(t) for t in target), default=1)
    groups = []
    for n in range(1, top + 1):
        groups.append((n - 1, [(c, fmt(t)) for t, c in sorted(target.items()) if len(t) == n]))
    return render_latex(groups) if latex else render_text(groups)
