"""Muon's modified equation through h¹, in closed form (``bea.optimizers.muon``).

Conventions. The parameter W (rows × cols) is flattened row-major to x;
g = ∇L(x), H = ∇²L(x) act on flat vectors. P is the direction Muon steps
along, as a map of the flattened update u:

    P(u) = s·NS(u/(‖u‖_F + ε)),   s = √max(1, rows/cols),

NS the ``ns_steps`` quintic Newton–Schulz iterations with the reference
coefficients (tall matrices transposed first), or the exact polar factor
(``polar=True``). DP(u)[v] is its derivative at u in the direction v.

Derivation (β, ε fixed as h → 0). The momentum lies on an invariant
manifold m = M(x) = g + h·m₁ + O(h²) (the old state, before the step).
Invariance, M(x') = βM(x) + (1 − β)g(x) with x' = x − hP(g) + O(h²), gives
g − hHP(g) + h·m₁ = g + βh·m₁, so m₁ = HP(g)/(1 − β). The new momentum is
βm + (1 − β)g = g + βh·m₁ + O(h²) and the direction used is
u = g + h·c·HP(g) + O(h²), with c = β²/(1 − β) for the Nesterov form
u = (1 − β)g + βm_new and c = β/(1 − β) for u = m_new. Hence

    x' = x − hP(g) − h²c·DP(g)[HP(g)] + O(h³),

and matching the time-h flow of f̃ = f₀ + hf₁ (x' = x + hf₀ + h²(f₁ + ½f₀′f₀),
f₀′f₀ = DP(g)[HP(g)]):

    f̃ = −P(g) − h(c + ½)·DP(g)[HP(g)] + O(h²).

At β = 0 (c = 0) this is the field of the memoryless map x ↦ x − hP(g),
−P − (h/2)P′P, as for any one-step method. P is 0-homogeneous for ε = 0
(DP(g)[g] = 0), which the formula does not need.

Checked exactly against the raw rule expanded in the coordinate backend at
rational points (``bea.coordinates._pointwise``) and numerically (slope 2
of the global error of the order-1 flow) in ``tests/test_muon.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sympy
from sympy import S

from .._inputs import as_variables, check_order, exact
from .._inputs import h as _default_h
from ..coordinates._adaptive import _Context, _SeriesOps
from ..coordinates._hseries import HPoint
from ..methods._base import Method
from ..methods._training import _orthogonalise, _transpose
from ._base import Result

__all__ = ["MuonField", "MuonModifiedEquation"]


def _hyper(method: Method) -> dict:
    hyper = dict(method.hyperparameters)
    needed = {"beta", "rows", "cols", "ns_steps", "polar", "nesterov", "eps"}
    if method.name != "muon" or not needed <= set(hyper):
        raise ValueError(
            f"MuonModifiedEquation takes a Muon optimizer, bea.optimizers.muon((rows, cols), "
            f"beta), got {method!r}; for other coordinate-wise rules use "
            "bea.modified_equation(opt, order).on(loss, variables)"
        )
    return hyper


def _direction(hyper: dict, u: Sequence, v: Sequence | None, exact_coefficients: bool, ops):
    """(P(u), DP(u)[v]) as flat lists (v None: P only), on numbers or JAX scalars.

    Exact (sympy numbers): one pass of the rule's Newton–Schulz code over
    points whose entries are series u + τv through τ¹ (the τ¹ coefficient is
    the directional derivative). Floats/JAX: ``ops`` is jax.numpy and v None.
    """
    rows, cols = int(hyper["rows"]), int(hyper["cols"])
    steps, polar, eps = int(hyper["ns_steps"]), bool(hyper["polar"]), hyper["eps"]
    entries: list
    if exact_coefficients:
        tau = sympy.Dummy("tau")
        ctx = _Context((), tau, 1)
        ops = _SeriesOps(ctx)
        dv = list(v) if v is not None else [S.Zero] * len(u)
        entries = [
            HPoint._raw([[exact(a), exact(b)]], (), tau, 1, ctx.reduce) for a, b in zip(u, dv)
        ]
        eps = exact(eps)
    else:
        entries = list(u)
    G = [entries[i * cols : (i + 1) * cols] for i in range(rows)]
    tall = rows > cols
    if tall:
        G = _transpose(G)
    X = _orthogonalise(G, ops, steps, polar, eps, exact_coefficients)
    if tall:
        X = _transpose(X)
    flat = [e for row in X for e in row]
    scale: Any = 1
    if tall:
        ratio = sympy.Rational(rows, cols)
        scale = sympy.sqrt(ratio) if exact_coefficients else float(ratio) ** 0.5
    if not exact_coefficients:
        return [scale * e for e in flat], None
    P = [sympy.radsimp(scale * e.coefficients[0][0]) for e in flat]
    D = [sympy.radsimp(scale * e.coefficients[0][1]) for e in flat]
    return P, (D if v is not None else None)


class MuonModifiedEquation(Result):
    """Muon's modified equation through h¹: f̃ = −P(g) − h(c + ½)·DP(g)[H P(g)] + O(h²).

    g = ∇L, H = ∇²L on the flattened (row-major) parameter; P(u) =
    √max(1, rows/cols)·NS(u/(‖u‖_F + ε)) the Newton–Schulz (or exact polar)
    direction of the update, DP its derivative; c = β²/(1 − β) for Nesterov
    momentum (the default), β/(1 − β) without. Regime: β and ε fixed as
    h → 0, the transient (decaying like βⁿ) discarded, g ≠ 0 at the point
    (P smooth there; the polar factor needs g of full rank). On the invariant
    manifold the momentum (the state before a step) is
    m = g + h·HP(g)/(1 − β) + O(h²) (``MuonField.state``). Derivation in
    ``bea.results._muon``.

    ``on(loss, variables)`` gives a ``MuonField``: called at a point it
    returns f̃ there exactly (rationals and square roots; the Newton–Schulz
    iterations stay exact because X = G/‖G‖_F has entries rational·1/√r and
    XXᵀ is rational). ``jax_field`` and ``jax_state`` give the same field and
    state on arrays (for ``numerics.agreement``).

    >>> import sympy, bea
    >>> me = bea.MuonModifiedEquation(bea.optimizers.muon((2, 2), sympy.Rational(1, 2)))
    >>> me.c, me.coefficient  # c = β²/(1 − β) = 1/2, c + 1/2 = 1
    (1/2, 1)
    >>> a, b, c, d = sympy.symbols("a b c d")
    >>> L = (a**2 + b**2 + c**2 + d**2) / 2  # g = x and H = I
    >>> f0, f1 = me.on(L, [a, b, c, d]).order_terms([1, 0, 0, 1])  # G = I: X = I/√2
    >>> [round(float(v), 4) for v in f0], f1  # −NS5(I/√2); f₁ = 0: HP(g) ∝ g, DP(g)[g] = 0
    ([-1.1081, 0.0, 0.0, -1.1081], [0, 0, 0, 0])

    References: K. Jordan et al., *Muon: an optimizer for hidden layers in
    neural networks* (2024); Hairer, Lubich, Wanner, *Geometric Numerical
    Integration*, ch. IX (modified equations); the invariant manifold of
    momentum: Kovachki & Stuart (2021).
    """

    def __init__(self, method: Method, order: int = 1) -> None:
        self.hyper = _hyper(method)
        self.method = method
        self.order = check_order(order)
        if self.order > 1:
            raise ValueError(
                f"MuonModifiedEquation is the closed form through h¹, got order={order}; the "
                "h² term is not derived (the generic coordinate engine, "
                "bea.modified_equation(opt, 2).on(loss, variables), is exact but slow here)"
            )
        beta = exact(self.hyper["beta"])
        self.beta = beta
        #: the factor of h·HP(g) in the direction used: β²/(1−β) (Nesterov) or β/(1−β)
        self.c = sympy.cancel(beta**2 / (1 - beta) if self.hyper["nesterov"] else beta / (1 - beta))
        #: the factor of −h·DP(g)[HP(g)] in f̃: c + 1/2
        self.coefficient = sympy.cancel(self.c + S.Half)

    def __repr__(self) -> str:
        return f"<MuonModifiedEquation of {self.method!r} through h^{self.order}>"

    def __str__(self) -> str:
        return self.text()

    # -- the result contract -------------------------------------------------------
    def terms(self, k: int | None = None) -> list:
        """(term, coefficient) pairs: h⁰: ("P(g)", −1); h¹: ("DP(g)[H P(g)]", −(c + ½))."""
        all_terms = [(0, "P(g)", S.NegativeOne)]
        if self.order >= 1:
            all_terms.append((1, "DP(g)[H P(g)]", -self.coefficient))
        if k is not None:
            return [(t, c) for j, t, c in all_terms if j == k]
        return [((j, t), c) for j, t, c in all_terms]

    def _p_text(self) -> str:
        hp = self.hyper
        norm = "‖u‖_F + ε" if exact(hp["eps"]) != 0 else "‖u‖_F"
        inner = f"polar(u/{norm})" if hp["polar"] else f"NS{hp['ns_steps']}(u/({norm}))"
        rows, cols = hp["rows"], hp["cols"]
        scale = f"√({rows}/{cols})·" if rows > cols else ""
        return f"P(u) = {scale}{inner} on the {rows}×{cols} parameter (row-major)"

    def text(self) -> str:
        head = "f̃ = −P(g)"
        if self.order >= 1:
            head += f" − h·({self.coefficient})·DP(g)[H P(g)] + O(h²)"
        else:
            head += " + O(h)"
        form = "β²/(1 − β) (Nesterov)" if self.hyper["nesterov"] else "β/(1 − β)"
        return (
            f"modified field of {self.method!r}:\n  {head}\n  g = ∇L, H = ∇²L, {self._p_text()}, "
            f"DP its derivative; c + 1/2 with c = {form} = {self.c}, β = {self.beta}"
        )

    def latex(self) -> str:
        out = r"\tilde f = -P(g)"
        if self.order >= 1:
            out += (
                r" - h\left(" + sympy.latex(self.coefficient) + r"\right) DP(g)\left[H\,P(g)\right]"
            )
        return out + (r" + O(h^2)" if self.order >= 1 else r" + O(h)")

    def to_dict(self) -> dict:
        return {
            "method": self._method_name(),
            "order": self.order,
            "engine": "closed form (Muon)",
            "normalisation": "f̃ = Σ_k h^k f_k; the time-h flow of f̃ reproduces the step map",
            "terms": {f"h^{j}": {t: str(c)} for (j, t), c in self.terms()},
            "c": str(self.c),
            "P": self._p_text(),
            "text": self.text(),
        }

    def on(self, loss: Any, variables: Any, h: Any = None) -> MuonField:
        """The field on a sympy loss in the flattened variables (evaluated at points)."""
        variables = as_variables(variables)
        size = int(self.hyper["rows"]) * int(self.hyper["cols"])
        if len(variables) != size:
            raise ValueError(
                f"muon on a {self.hyper['rows']}×{self.hyper['cols']} parameter needs {size} "
                f"variables (the entries, row-major), got {len(variables)}"
            )
        if not isinstance(loss, sympy.Expr) or isinstance(loss, sympy.MatrixBase):
            raise ValueError(f"expected one scalar sympy loss, got {loss!r}")
        return MuonField(self, loss, variables, h or _default_h)

    # -- arrays (JAX) ----------------------------------------------------------------
    def _numeric(self, what: str) -> None:
        names = sorted(str(v) for v in self.coefficient.free_symbols)
        if names:
            raise ValueError(
                f"{what} needs numeric hyperparameters, got the symbols {names}: build it from "
                "bea.optimizers.muon(shape, beta=0.95)"
            )

    def _p_jax(self):
        """P on flat arrays with matrix products (one small graph for jit and jvp).

        The same map as the rule's (which works entry by entry): NS with the
        reference coefficients on the normalised (transposed, if tall) matrix,
        or the polar factor UVᵀ of the SVD; then the √max(1, rows/cols) scale.
        """
        import jax.numpy as jnp

        from ..methods._training import NS_COEFFICIENTS

        rows, cols = int(self.hyper["rows"]), int(self.hyper["cols"])
        steps, polar = int(self.hyper["ns_steps"]), bool(self.hyper["polar"])
        eps = float(exact(self.hyper["eps"]))
        a, b, c = (float(v) for v in NS_COEFFICIENTS)
        tall = rows > cols
        scale = (rows / cols) ** 0.5 if tall else 1.0

        def P(u):
            G = u.reshape(rows, cols)
            if tall:
                G = G.T
            if polar:
                U, _, Vt = jnp.linalg.svd(G / jnp.sqrt(jnp.sum(G * G)), full_matrices=False)
                X = U @ Vt
            else:
                X = G / (jnp.sqrt(jnp.sum(G * G)) + eps)
                for _ in range(steps):
                    A = X @ X.T
                    X = a * X + (b * A + c * (A @ A)) @ X
            if tall:
                X = X.T
            return scale * X.reshape(-1)

        return P

    def jax_field(self, loss: Callable, h: float) -> Callable:
        """f̃ on arrays: x ↦ −P(g) − h(c + ½)·DP(g)[HP(g)] (``order`` 0: −P(g)), by jvps.

        ``loss`` maps the flat parameter (rows·cols entries, row-major) to a
        scalar; H·v and DP(g)[v] are Jacobian-vector products.
        """
        import jax

        self._numeric("jax_field")
        P = self._p_jax()
        grad = jax.grad(loss)
        k = float(self.coefficient)
        order = self.order

        def field(x):
            g = grad(x)
            p = P(g)
            if order == 0:
                return -p
            hp = jax.jvp(grad, (x,), (p,))[1]
            return -p - (h * k) * jax.jvp(P, (g,), (hp,))[1]

        return field

    def jax_state(self, loss: Callable) -> Callable:
        """``state(x, h)``: the momentum on the invariant manifold, (g + h·HP(g)/(1 − β),).

        On arrays (the state before a step, as ``method.jax`` carries it); the
        start ``numerics.agreement(..., state=...)`` takes. Error O(h²).
        """
        import jax

        self._numeric("jax_state")
        P = self._p_jax()
        grad = jax.grad(loss)
        w = float(1 / (1 - self.beta))

        def state(x, h):
            g = grad(x)
            return (g + (h * w) * jax.jvp(grad, (x,), (P(g),))[1],)

        return state


class MuonField:
    """Muon's modified field on one sympy loss; call it at a point for exact values.

    ``field(point)`` is the column f̃ = f₀ + h f₁ at the point (``h`` the
    symbol of ``on``); ``order_terms(point)`` gives (f₀, f₁) apart;
    ``state(point)`` the momentum on the invariant manifold through h¹.
    Exact at rational points: numbers in ℚ(√r), r = ‖∇L‖²_F.
    """

    def __init__(self, equation: MuonModifiedEquation, loss: Any, variables: Any, h: Any) -> None:
        self.equation = equation
        self.loss = loss
        self.variables = tuple(variables)
        self.h = h
        self._grad = [sympy.diff(loss, v) for v in self.variables]
        self._hess = sympy.Matrix([[sympy.diff(g, v) for v in self.variables] for g in self._grad])

    def __repr__(self) -> str:
        return f"<MuonField of {self.equation.method!r} on {self.loss}>"

    def _at(self, point):
        values = list(point.values()) if isinstance(point, dict) else list(point)
        if isinstance(point, dict):
            at = {k: exact(v) for k, v in point.items()}
        else:
            if len(values) != len(self.variables):
                raise ValueError(
                    f"expected {len(self.variables)} values (one per variable "
                    f"{', '.join(map(str, self.variables))}), got {len(values)}"
                )
            at = dict(zip(self.variables, [exact(v) for v in values]))
        g = [sympy.sympify(e, strict=True).xreplace(at) for e in self._grad]
        H = self._hess.xreplace(at)
        if all(v == 0 for v in g):
            raise ValueError("∇L vanishes at the point: Muon's direction P(g) is not defined there")
        return g, H

    def order_terms(self, point: Any) -> tuple[list, list]:
        """(f₀, f₁) at the point: f₀ = −P(g), f₁ = −(c + ½)·DP(g)[HP(g)] (exact lists)."""
        g, H = self._at(point)
        hyper = self.equation.hyper
        P, _ = _direction(hyper, g, None, True, None)
        hp = list(H * sympy.Matrix(P))
        _, D = _direction(hyper, g, hp, True, None)
        assert D is not None
        k = self.equation.coefficient
        f0 = [-p for p in P]
        f1 = [sympy.radsimp(-k * e) for e in D] if self.equation.order >= 1 else [S.Zero] * len(g)
        return f0, f1

    def __call__(self, point: Any) -> sympy.Matrix:
        f0, f1 = self.order_terms(point)
        return sympy.Matrix([a + self.h * b for a, b in zip(f0, f1)])

    def state(self, point: Any) -> sympy.Matrix:
        """m = g + h·HP(g)/(1 − β) at the point (the momentum before a step)."""
        g, H = self._at(point)
        P, _ = _direction(self.equation.hyper, g, None, True, None)
        hp = H * sympy.Matrix(P)
        w = 1 / (1 - self.equation.beta)
        return sympy.Matrix([sympy.radsimp(a + self.h * w * b) for a, b in zip(g, hp)])
