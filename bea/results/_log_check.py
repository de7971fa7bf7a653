"""Checks that a cached modified equation really is the log of its method's series.

The disk cache (``bea._cache``) proves only that an entry is
self-consistent. Before a cached ω = log(a) is used, ``checked_log``
checks its schema (a list of exact rationals as text, one per tree, of
bounded length, and the number of trees per size of the table it belongs to)
and its meaning, with invariants that hold for the log of any B-series a with
a(∅) = 1 (normalisation B(a, y) = a(∅) y + Σ h^{|t|} a(t)/σ(t) F(t)(y)):

* ω(•) = a(•) for every one-node tree;
* every tree with at most ``SPOT_NODES`` nodes agrees with ω recomputed
  from a (``a.truncate(SPOT_NODES).log()``);
* **linear fields**, all orders: with every field f = A y, F(t) = Aⁿ y for the
  tall trees t (the chains) of n nodes and 0 otherwise, so the series is
  R(hA) y with R(z) = 1 + Σ_n T_n(a) zⁿ, T_n(x) = Σ_{chains t, |t| = n} x(t),
  and the modified field gives Σ_n T_n(ω) zⁿ = log R(z) (Hairer, Lubich,
  Wanner, *Geometric Numerical Integration*, ch. IX: the modified equation of
  a linear problem);
* **the scalar field e^y**, all orders: with f(y) = e^y, F(t) = e^{|t| y} for
  every tree, so with u = h e^y the method is y ↦ y + Σ S_n(a) uⁿ and the
  modified field h f̃ = W(u) = Σ S_n(ω) uⁿ, S_n(x) = Σ_{|t| = n} x(t)/σ(t).
  The time-one flow of W d/dy is exp(W d/dy) y = y + Σ_{k≥1} (W D)^{k−1} W / k!
  with D = u d/du (d/dy acts on functions of u as u d/du); it must equal the
  method's map through uᴺ.

With several fields (colours), both projections set all fields equal and sum
over colourings. The last two touch every order with one aggregate each;
rewriting coefficients so that all four still hold means solving these
equations on purpose.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from fractions import Fraction

from ..bseries._series import BSeries

__all__ = ["SPOT_NODES", "checked_log", "log_payload"]

#: Trees with at most this many nodes are recomputed and compared exactly.
SPOT_NODES = 6
#: Longest accepted coefficient text (numerator and denominator together).
MAX_COEFFICIENT_CHARS = 2000
_RATIONAL = re.compile(r"-?[0-9]+(?:/[0-9]*[1-9][0-9]*)?\Z", re.ASCII)


def _counts(series: BSeries) -> list[int]:
    return [len(series.table.ids(n)) for n in range(1, series.max_nodes + 1)]


def log_payload(omega: BSeries) -> dict:
    """The cache payload of ω: coefficients as exact text and the tree counts per size."""
    return {"coefficients": [str(v) for v in omega.coeffs], "counts": _counts(omega)}


def checked_log(series: BSeries, payload: object, parse: Callable[[str], object]) -> BSeries:
    """ω from a cached ``payload`` for the log of ``series``, after checking it.

    ``parse`` turns one coefficient text (``"-1/12"``) into an element of
    ``series.domain``. Raises ``ValueError`` (or ``TypeError``) naming the first
    check that fails; the cache then treats the entry as invalid.
    """
    if not isinstance(payload, dict) or set(payload) != {"coefficients", "counts"}:
        raise ValueError("expected a dict with the keys 'coefficients' and 'counts'")
    texts, counts = payload["coefficients"], payload["counts"]
    if counts != _counts(series):
        raise ValueError(f"tree counts {str(counts)[:60]} are not those of this table")
    if not isinstance(texts, list) or len(texts) != len(series.coeffs):
        got = len(texts) if isinstance(texts, list) else type(texts).__name__
        raise ValueError(f"expected {len(series.coeffs)} coefficients, got {got}")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or len(text) > MAX_COEFFICIENT_CHARS:
            raise ValueError(f"coefficient {i} is not a short string: {str(text)[:40]!r}")
        if not _RATIONAL.match(text):
            raise ValueError(f"coefficient {i} is not an exact rational: {text[:40]!r}")
    omega = BSeries(
        series.table, series.domain, [parse(t) for t in texts], series.domain.zero, series.max_nodes
    )
    check_log(series, omega)
    return omega


def check_log(a: BSeries, omega: BSeries) -> None:
    """Raise ValueError unless ω passes the invariants of log(a) listed in the module doc."""
    tab, n = a.table, a.max_nodes
    if a.empty != 1 or len(omega.coeffs) != len(a.coeffs):
        raise ValueError("not comparable with the method's series")
    for i in tab.ids(1):
        if omega.coeffs[i] != a.coeffs[i]:
            raise ValueError(f"ω(•) = {omega.coeffs[i]} but a(•) = {a.coeffs[i]}")
    spot = a.truncate(min(n, SPOT_NODES)).log()
    for i, value in enumerate(spot.coeffs):
        if omega.coeffs[i] != value:
            raise ValueError(f"ω({tab.tree(i)}) = {omega.coeffs[i]}, recomputed {value}")
    tall_a, sums_a = _projections(a)
    tall_w, sums_w = _projections(omega)
    if _log_series(tall_a) != tall_w:
        raise ValueError("the chains (linear fields) do not give log R(z)")
    if _flow_series(sums_w) != sums_a:
        raise ValueError("the scalar field e^y does not give the method's map")


def _fraction(value) -> Fraction:
    return Fraction(str(value))


def _projections(s: BSeries) -> tuple[list[Fraction], list[Fraction]]:
    """T_n and S_n (module doc) for n = 0..N; T_0 = a(∅), S_0 = 0."""
    tab = s.table
    tall = [_fraction(s.empty)]
    sums = [Fraction(0)]
    for size in range(1, s.max_nodes + 1):
        by_sigma: dict[int, list] = {}
        chains = []
        for i in tab.ids(size):
            by_sigma.setdefault(tab.sigma[i], []).append(s.coeffs[i])
            if tab.height[i] == size:
                chains.append(s.coeffs[i])
        tall.append(sum((_fraction(v) for v in chains), Fraction(0)))
        total = Fraction(0)
        for sigma, values in by_sigma.items():
            total += Fraction(_fraction(sum(values[1:], values[0])), sigma)
        sums.append(total)
    return tall, sums


def _mul(x: list[Fraction], y: list[Fraction]) -> list[Fraction]:
    n = len(x)
    return [sum((x[k] * y[m - k] for k in range(m + 1)), Fraction(0)) for m in range(n)]


def _log_series(r: list[Fraction]) -> list[Fraction]:
    """log R for R = r_0 + r_1 z + ... with r_0 = 1: n l_n = n r_n − Σ_{k<n} k l_k r_{n−k}."""
    out = [Fraction(0)] * len(r)
    for m in range(1, len(r)):
        acc = m * r[m] - sum((k * out[k] * r[m - k] for k in range(1, m)), Fraction(0))
        out[m] = acc / m
    return out


def _flow_series(w: list[Fraction]) -> list[Fraction]:
    """Σ_n S_n uⁿ of the time-one flow of W d/dy with u = h e^y, plus S_0 = 0 (module doc)."""
    out = list(w)
    term = list(w)
    for k in range(2, len(w)):
        term = _mul(w, [m * c for m, c in enumerate(term)])  # (W D) term
        out = [o + t / math.factorial(k) for o, t in zip(out, term)]
    return out
