"""Hyperparameter schedules (β(t), η(t)) on methods with memory: B-series with moving coefficients.

A rule run with hyperparameters q(t_n), t_n = n·h (a momentum schedule β(t),
a step schedule η(t)), is autonomous in (x, t, s): x' = rule(x, s; q(t)),
s' = new state, t' = t + h. With q fixed as h → 0 its invariant manifold
s = S(x, t) and its underlying one-step map x' = Φ(x, t) depend on t; as
B-series in f = −∇L their coefficients are functions of t and carry an
extra power series in h from the time shift S(·, t + h) = Σ_k h^k ∂_t^k S/k!:

    Φ(x, t) = x + Σ_τ Σ_{j≥0} h^{|τ|+j} φ_j(τ)(t)/σ(τ) F(τ)(x)

(the same for S). The coefficients live in QQ(q, q′, q″, …, e): q^{(k)} are
*jet* symbols, e marks the extra powers of h, and ∂_t is the derivation
q^{(k)} ↦ q^{(k+1)}. The equations x' = Φ(x, t), s' = S(Φ(x, t), t + h) are
solved by total degree g = |τ| + j: at every (τ, j) the unknowns
(φ_j(τ), S_j(τ)) satisfy the linear system of the constant-β engine
(``bea.methods._programs.memory_matrix``), with β = q(t) at the current time.

The modified field is that of the extended map (x, t) ↦ (Φ(x, t), t + h):
the flow of (f̃(x, t), 1) is exp(h𝓛) with h𝓛c = (ω ▷ c) + e·∂_t c (the tree
Lie derivative plus the time derivative of the coefficients), and ω is solved
from exp(h𝓛)x = Φ degree by degree. Its x-part is
f̃ = Σ_τ Σ_j h^{|τ|−1+j} ω_j(τ)(t)/σ(τ) F(τ).

Heavy ball x' = x − h∇L + β(t)(x − x_prev), first order (hand check:
insert x_{n±1} = x(t ± h) and expand):

    f̃ = −∇L/(1−β) − h(1+β)/(2(1−β)³)·(∇²L∇L − β′∇L) + O(h²).

References: Hairer, Lubich, Wanner, *Geometric Numerical Integration*, IX
(modified equations; non-autonomous systems by adding t' = 1); Kovachki &
Stuart (2021) and Ghosh et al. (2023) for constant β.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import sympy as sp

from ..bseries._ratfunc import RF, RationalFunctionField
from ..bseries._series import BSeries, lie_derivative
from ._programs import Optimizer, checked_series_output, inconsistent_error, memory_matrix

__all__ = ["MovingSeries", "moving_solve"]

#: the key of the step schedule η(t) among the scheduled quantities
STEP = "step"


class _Jets:
    """The coefficient field QQ(q^{(k)}, …, e, other symbols) and its derivation ∂_t."""

    def __init__(self, names, depth: int, others) -> None:
        self.names = tuple(names)
        self.depth = depth
        #: jets[name][k] stands for the k-th time derivative of the scheduled quantity
        self.jets = {n: [sp.Symbol(f"{n}'{k}") for k in range(depth + 1)] for n in self.names}
        self.e = sp.Symbol("h'e")
        symbols = {self.e, *(s for js in self.jets.values() for s in js), *others}
        self.dom = RationalFunctionField(symbols)
        index = {s: i for i, s in enumerate(self.dom.symbols)}
        self._ie = index[self.e]
        self._chain = [
            (index[js[k]], index[js[k + 1]]) for js in self.jets.values() for k in range(depth)
        ]
        self._gens = self.dom.ctx.gens()

    def _dpoly(self, p):
        out = self.dom._zero_poly
        for i, j in self._chain:
            d = p.derivative(i)
            if not d.is_zero():
                out = out + d * self._gens[j]
        return out

    def d(self, v: RF) -> RF:
        """∂_t v: q^{(k)} ↦ q^{(k+1)} (the top jet must not occur: depth is checked)."""
        v = self.dom.convert(v)._reduce()
        n, den = v.num, v.den
        top = [self.dom.symbols.index(js[-1]) for js in self.jets.values()]
        if any(n.degrees()[i] > 0 or den.degrees()[i] > 0 for i in top):
            raise AssertionError("jet depth exceeded")  # pragma: no cover - internal bound
        dn, dd = self._dpoly(n), self._dpoly(den)
        if dd.is_zero():
            return RF(self.dom, dn, den).normal()
        return RF(self.dom, dn * den - n * dd, den * den).normal()

    def part(self, v: RF, j: int) -> RF:
        """The coefficient of e^j in v (v is a polynomial in e over the other symbols)."""
        v = self.dom.convert(v)._reduce()
        if v.den.degrees()[self._ie] > 0:
            raise AssertionError("e in a denominator")  # pragma: no cover - internal
        ie = self._ie
        terms = {}
        for monom, c in v.num.to_dict().items():
            if monom[ie] == j:
                m = list(monom)
                m[ie] = 0
                terms[tuple(m)] = c
        return RF(self.dom, self.dom.ctx.from_dict(terms), v.den).normal()

    def truncate(self, v: RF, top: int) -> RF:
        """v with the powers e^j, j > top, dropped."""
        v = self.dom.convert(v)._reduce()
        ie = self._ie
        if v.num.is_zero() or v.num.degrees()[ie] <= top:
            return v
        terms = {m: c for m, c in v.num.to_dict().items() if m[ie] <= top}
        return RF(self.dom, self.dom.ctx.from_dict(terms), v.den).normal()

    def e_power(self, j: int) -> RF:
        return self.dom.convert(self.e**j)


class MovingSeries:
    """Φ, the state maps and ω of a scheduled method, as B-series with moving coefficients.

    ``omega``, ``phi`` and ``states`` are ``BSeries`` over ``jets.dom``; the
    coefficient of a tree τ is a polynomial in the marker e of degree at most
    ``max_nodes − |τ|`` (e^j is an extra h^j). ``coefficient(series, τ, j)``
    reads φ_j(τ) etc. as sympy in the jet symbols; ``in_time`` replaces the
    jets by the derivatives of the schedules.
    """

    def __init__(self, jets: _Jets, phi, states, omega, max_nodes: int) -> None:
        self.jets = jets
        self.phi = phi
        self.states = states
        self.omega = omega
        self.max_nodes = max_nodes

    def coefficient(self, series: BSeries, tree_id: int, j: int) -> sp.Expr:
        return self.jets.dom.to_sympy(self.jets.part(series.coeffs[tree_id], j))

    def in_time(self, expr: sp.Expr, schedules: Mapping[str, sp.Expr], t: sp.Symbol) -> sp.Expr:
        """expr with each jet q^{(k)} replaced by the k-th derivative of its schedule in t."""
        subs = {}
        for name, js in self.jets.jets.items():
            for k, s in enumerate(js):
                subs[s] = sp.diff(schedules[name], t, k)
        return expr.xreplace(subs)

    def terms(self, series: BSeries):
        """(tree id, j, coefficient) of the non-zero parts, by total degree |τ| + j."""
        tab = series.table
        out = []
        for g in range(1, self.max_nodes + 1):
            for n in range(1, g + 1):
                for i in tab.ids(n):
                    c = self.coefficient(series, i, g - n)
                    if c != 0:
                        out.append((i, g - n, c))
        return out


def moving_solve(
    opt: Optimizer, scheduled: tuple[str, ...], step_scheduled: bool, max_nodes: int
) -> MovingSeries:
    """Solve Φ, S and ω of ``opt`` with the hyperparameters ``scheduled`` (and η) moving in t.

    ``max_nodes`` = order + 1; every coefficient is exact through total degree
    ``max_nodes``. The jets stand for the schedules at the current time t_n.
    """
    N = max_nodes
    names = (*scheduled, *((STEP,) if step_scheduled else ()))
    hyper = opt._exact_hyper()
    others = set()
    for k, v in hyper.items():
        if k not in scheduled and isinstance(v, sp.Basic):
            others |= {s for s in v.free_symbols if isinstance(s, sp.Symbol)}
    jets = _Jets(names, N + 1, others)
    dom = jets.dom
    J = jets.jets
    for k in scheduled:
        hyper[k] = J[k][0]
    eta = J[STEP][0] if step_scheduled else None

    tab = BSeries.identity(N, 1, dom).table.extend(N)
    ident = BSeries.identity(N, 1, dom)
    init_state = tuple(opt.init(ident))
    k = len(init_state)
    S_empty = [s.domain.to_sympy(s.empty) for s in init_state]

    def step(y, c=0):
        if c != 0:
            raise ValueError("schedules are supported for one-loss optimizers: step(y)")
        s = y.hf(0)
        return s if eta is None else s * eta

    def run(state):
        x_new, s_new = checked_series_output(opt, *opt._call(ident, state, step, hyper), k)
        return x_new.to_domain(dom), [s.to_domain(dom) for s in s_new]

    def series(coeffs, empty):
        return BSeries(tab, dom, list(coeffs), dom.convert(empty), N)

    zero = [dom.zero] * len(tab.upto(N))
    # the linear part A of the rule in the state, probed at the tree •
    base = [series(zero, c) for c in S_empty]
    x0, s0 = run(base)
    moved = dom.to_sympy(x0.empty)
    if sp.simplify(moved - 1) != 0:
        raise inconsistent_error(
            opt.name, f"the coefficients of x in x_new add up to {moved}, expected 1"
        )
    bullet = tab.lookup(0, ())
    unit = series([dom.one if i == bullet else dom.zero for i in range(len(zero))], 0)
    A = sp.zeros(k + 1, k)
    for col in range(k):
        probe = list(base)
        probe[col] = base[col] + unit
        x1, s1 = run(probe)
        A[0, col] = dom.to_sympy(x1.coeffs[bullet] - x0.coeffs[bullet])
        for i in range(k):
            A[i + 1, col] = dom.to_sympy(s1[i].coeffs[bullet] - s0[i].coeffs[bullet])
    minv = [dom.convert(sp.cancel(v)) for v in memory_matrix(opt, A, S_empty).inv()]

    sizes = {i: n for n in range(1, N + 1) for i in tab.ids(n)}
    phi_c = list(zero)
    S_c = [list(zero) for _ in range(k)]

    def shifted(coeffs, empty):
        """The series of S(·, t + h): each coefficient c ↦ Σ_k e^k ∂_t^k c / k!."""
        out = []
        for i, c in enumerate(coeffs):
            top = N - sizes[i]
            total, term = c, c
            for m in range(1, top + 1):
                # only the parts of e-degree <= top - m survive the factor e^m
                term = jets.d(jets.truncate(term, top - m))
                if not term:
                    break
                weight = dom.convert(sp.Rational(1, math.factorial(m)))
                total = total + term * jets.e_power(m) * weight
            out.append(jets.truncate(total, top))
        return series(out, empty)

    def residuals():
        phi = series(phi_c, 1)
        states = [series(S_c[i], S_empty[i]) for i in range(k)]
        x_new, s_new = run(states)
        rx = [a - b for a, b in zip(x_new.coeffs, phi.coeffs)]
        rs = []
        for i in range(k):
            comp = shifted(S_c[i], S_empty[i]) @ phi
            rs.append([a - b for a, b in zip(s_new[i].coeffs, comp.coeffs)])
        return rx, rs

    for g in range(1, N + 1):
        rx, rs = residuals()
        for i, n in sizes.items():
            if n > g:
                continue
            j = g - n
            rhs = [jets.part(rx[i], j)] + [jets.part(rs[m][i], j) for m in range(k)]
            ej = jets.e_power(j)
            for r in range(k + 1):
                v = sum((minv[r * (k + 1) + c] * rhs[c] for c in range(k + 1)), dom.zero)
                if not v:
                    continue
                if r == 0:
                    phi_c[i] = phi_c[i] + v * ej
                else:
                    S_c[r - 1][i] = S_c[r - 1][i] + v * ej
    # the equations hold through total degree N (a check of the linearisation above)
    rx, rs = residuals()
    for i, n in sizes.items():
        for j in range(N - n + 1):
            if jets.part(rx[i], j) or any(jets.part(r[i], j) for r in rs):
                raise AssertionError(  # pragma: no cover - internal consistency
                    f"{opt!r}: the moving-coefficient solve left a residual at a tree of "
                    f"{n} nodes, h-power {j}"
                )
    phi = series(phi_c, 1)
    states = tuple(series(S_c[i], S_empty[i]) for i in range(k))
    return MovingSeries(jets, phi, states, _moving_log(jets, phi, sizes, N), N)


def _moving_log(jets: _Jets, phi: BSeries, sizes, N: int) -> BSeries:
    """ω with exp(h𝓛)x = Φ, h𝓛c = (ω ▷ c) + e ∂_t c (the flow of (f̃(x, t), 1))."""
    dom = jets.dom
    tab = phi.table
    e = dom.convert(jets.e)

    def trunc(c: BSeries) -> BSeries:
        vals = [jets.truncate(v, N - sizes[i]) for i, v in enumerate(c.coeffs)]
        return BSeries(tab, dom, vals, c.empty, N)

    def d(c: BSeries) -> BSeries:
        vals = [jets.d(jets.truncate(v, N - sizes[i] - 1)) * e for i, v in enumerate(c.coeffs)]
        return BSeries(tab, dom, vals, dom.zero, N)

    ident = BSeries.identity(N, 1, dom)
    target = phi - ident
    omega = target
    for _ in range(N):
        term, flow = ident, BSeries.zero(N, 1, dom)
        for m in range(1, N + 1):
            term = trunc(lie_derivative(omega, term) + d(term)) * sp.Rational(1, m)
            flow = flow + term
        omega = trunc(omega + (target - flow))
    # final check: the flow of ω reproduces Φ through total degree N
    term, flow = ident, BSeries.zero(N, 1, dom)
    for m in range(1, N + 1):
        term = trunc(lie_derivative(omega, term) + d(term)) * sp.Rational(1, m)
        flow = flow + term
    if any(trunc(target - flow).coeffs):
        raise AssertionError("the moving-coefficient log did not converge")  # pragma: no cover
    return omega
