"""Readable text and LaTeX for truncated series in powers of h.

A series is given as groups ``(k, [(coefficient, term), ...])``: the terms
multiplying h^k. Coefficients are sympy numbers or expressions; terms are
already-rendered strings (``f'f``, ``‖∇L‖²``, ...).
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

__all__ = ["render_latex", "render_text"]

_SUP = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def superscript(k: int) -> str:
    """``k`` in Unicode superscript digits: 12 → ¹², -1 → ⁻¹."""
    return str(k).translate(_SUP)


def _hpow(k: int, latex: bool, h: str = "h") -> str:
    if k == 0:
        return ""
    if k == 1:
        return h
    return f"{h}^{{{k}}}" if latex else h + superscript(k)


def _is_rational(c: sp.Expr) -> bool:
    return isinstance(c, sp.Rational)


def _coef_text(c: sp.Expr, latex: bool) -> tuple[str, str]:
    """(sign, magnitude) with magnitude '' for 1."""
    if _is_rational(c):
        sign = "-" if c < 0 else "+"
        a = abs(c)
        if a == 1:
            return sign, ""
        if latex:
            return sign, (f"\\frac{{{a.p}}}{{{a.q}}}" if a.q != 1 else f"{a.p}")
        return sign, str(a)
    if sp.denom(sp.together(c)).free_symbols:
        c = sp.factor(c)  # rational functions read best factored
    body = sp.latex(c) if latex else str(c)
    return "+", (f"\\left({body}\\right)" if latex else f"({body})")


def _join(parts: list[tuple[str, str]]) -> str:
    out = ""
    for i, (sign, body) in enumerate(parts):
        if i == 0:
            out = ("-" if sign == "-" else "") + body
        else:
            out += f" {sign} {body}"
    return out


def _single(k: int, c: sp.Expr, term: str, latex: bool, h: str) -> tuple[str, str]:
    sign, mag = _coef_text(c, latex)
    hp = _hpow(k, latex, h)
    if _is_rational(c) and mag and not latex and abs(c).q != 1:
        a = abs(c)
        num = "" if a.p == 1 else str(a.p)
        lead = f"{num}{hp}/{a.q}" if hp else f"{a.p}/{a.q}"
        return sign, f"{lead} {term}".strip()
    if _is_rational(c) and mag and latex and abs(c).q != 1:
        a = abs(c)
        num = hp if a.p == 1 else f"{a.p}{hp}"
        lead = f"\\frac{{{num or '1'}}}{{{a.q}}}"
        return sign, f"{lead} {term}".strip()
    pieces = [p for p in (mag, hp, term) if p]
    return sign, " ".join(pieces) if pieces else "1"


def _render(groups, order: int | None, latex: bool, h: str) -> str:
    parts: list[tuple[str, str]] = []
    for k, terms in groups:
        terms = [
            (sp.sympify(c, strict=True), t) for c, t in terms if sp.sympify(c, strict=True) != 0
        ]
        if not terms:
            continue
        if len(terms) == 1:
            parts.append(_single(k, terms[0][0], terms[0][1], latex, h))
            continue
        inner = _join([_single(0, c, t, latex, h) for c, t in terms])
        hp = _hpow(k, latex, h)
        if not hp:
            parts.extend(_single(0, c, t, latex, h) for c, t in terms)
            continue
        body = f"{hp}\\left({inner}\\right)" if latex else f"{hp}({inner})"
        parts.append(("+", body))
    text = _join(parts) if parts else "0"
    if order is not None:
        o = _hpow(order + 1, latex, h)
        text += f" + \\mathcal{{O}}({o})" if latex else f" + O({o})"
    return text


def render_text(groups: Sequence, order: int | None = None, h: str = "h") -> str:
    """Plain-text rendering: ``f - h/2 f'f + h²(1/12 f''(f,f) + 1/3 f'f'f) + O(h³)``."""
    return _render(groups, order, latex=False, h=h)


def render_latex(groups: Sequence, order: int | None = None, h: str = "h") -> str:
    """LaTeX rendering of the same series."""
    return _render(groups, order, latex=True, h=h)
