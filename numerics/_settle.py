"""Starting a method with state on its invariant manifold, without integrating any flow.

A method with memory (heavy ball, Nesterov, EMA momentum, Adam) iterates
(x, s) ↦ (x', s'). Its modified equation describes the *underlying one-step
method* Φ, whose iterates lie on the invariant manifold s = S(x) of the
iteration. The engine solves the state maps S_i as B-series together with Φ
(``bea.Optimizer.state_series``):

    S_i(x) = S_i(∅)·x + Σ_{|t| ≤ N} h^{|t|} S_i(t)/σ(t) F(t)(x),   f = −∇L,

so the state on the manifold over any start x0 is evaluated directly, by
nested ``jax.jvp`` of the fields (no Jacobian is formed), and the iteration
started at (x0, S(x0)) is on the manifold up to O(h^{N+1}). Nothing is
integrated backwards, so a flow that blows up backwards in time (a quartic
loss: the backward gradient flow of x⁴/4 leaves every bounded set in finite
time) does not matter.

Coordinate-wise methods (RMSProp, Adam, Lion, Muon, weight decay wrappers:
``Engine.COORDINATES``) have no state-map B-series. On a loss given in sympy
(``numerics.SympyLoss``) the coordinate engine solves their state maps
together with Φ as exact series in h (``bea.coordinates._adaptive``,
``AdaptiveModifiedEquation.state_maps``):

    S_i(x)_r = s_i0r(x) + h·s_i1r(x) + … + h^{N}·s_iNr(x),

(e.g. Adam: m = ∇L + O(h), v = (∇L)² + O(h)), lambdified to JAX with the
signs σ(u) as ``jnp.sign``; ``coordinate_state`` evaluates them at x0 and h,
so the iteration starts on the manifold up to O(h^{N+1}).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import sympy as sp

import bea

__all__ = ["coordinate_state", "manifold_state"]


def _terms(series) -> tuple[float, list[tuple[object, float]]]:
    """(S(∅), [(t, S(t)/σ(t)) for the non-zero terms]) of one state map, as floats."""
    empty = series.domain.to_sympy(series.empty)
    out = []
    for t, c in series.items():
        value = sp.Integer(1) * c / t.symmetry()
        if value != 0:
            out.append((t, float(value)))
    return float(empty), out


def manifold_state(method: bea.Optimizer, fields: Sequence[Callable], max_nodes: int) -> Callable:
    """``state(y, h) -> tuple``: the method's state on its invariant manifold over y.

    Parameters
    ----------
    method
        a ``bea.Optimizer`` with numeric hyperparameters and state.
    fields
        one vector field per colour, f_c = −∇L_c, each ``y -> array`` on
        flat vectors.
    max_nodes
        truncation of the state maps (trees of at most this many
        nodes); the state is exact up to O(h^{max_nodes+1}).

    Examples
    --------
    >>> import jax.numpy as jnp, bea
    >>> state = manifold_state(bea.optimizers.heavy_ball(0), [lambda y: -y], 2)
    >>> state(jnp.array([1.0]), 0.1)  # β = 0 is GD: x_prev = x/(1 − h) = 1 + h + h² + …
    (Array([1.11], dtype=float32),)
    """
    maps = [_terms(s) for s in method.state_series(max_nodes)]
    fields = list(fields)

    def deriv(fc, y, directions):
        g = fc
        for d in directions:
            g = (lambda g_, d_: lambda z: jax.jvp(g_, (z,), (d_,))[1])(g, d)
        return g(y)

    def state(y, h):
        memo: dict = {}

        def F(t):
            if t not in memo:
                memo[t] = deriv(fields[t.colour], y, [F(u) for u in t.children])
            return memo[t]

        out = []
        for empty, terms in maps:
            total = empty * y
            for t, w in terms:
                total = total + (h ** len(t) * w) * F(t)
            out.append(total)
        return tuple(out)

    return state


def coordinate_state(method, loss, order: int) -> Callable:
    """``state(y, h) -> tuple``: a coordinate-wise method's state on its invariant manifold.

    Parameters
    ----------
    method
        a coordinate-wise bea method (``method.kind.engine is Engine.COORDINATES``)
        with numeric hyperparameters and state.
    loss
        a ``numerics.SympyLoss`` with one loss.
    order
        the state maps are those of ``bea.modified_equation(method, order)``,
        series through h^{order+1}: the state is exact up to O(h^{order+2}).

    Each state is a flat vector with one entry per variable (the layout of
    ``method.jax``): S_i(y)_r = Σ_{j ≤ order+1} h^j s_ijr(y), the exact
    coefficients of the coordinate engine, signs σ(u) evaluated as sign(u).

    Examples
    --------
    >>> import jax.numpy as jnp, sympy, bea, numerics
    >>> x = sympy.Symbol("x")
    >>> loss = numerics.SympyLoss(x**2 / 2, [x])
    >>> state = coordinate_state(bea.optimizers.rmsprop(0.5, 0), loss, 0)
    >>> state(jnp.array([2.0]), 0.1)  # v = L′² + h·2|L′|L″/(1 − β) = 4 + 0.1·8
    (Array([4.8], dtype=float32),)
    """
    variables = list(loss.flat_variables)
    me = bea.modified_equation(method, order)
    if not isinstance(me, bea.AdaptiveModifiedEquation):
        raise TypeError(f"coordinate_state takes a coordinate-wise method, got {method!r}")
    maps = me.state_maps(loss.losses[0], variables)
    args = [*variables, bea.h]
    fns = [sp.lambdify(args, list(m), modules="jax", cse=True) for m in maps]

    def state(y, h):
        values = [y[i] for i in range(y.shape[0])]
        out = []
        for fn in fns:
            entries = fn(*values, h)
            out.append(jnp.stack([jnp.broadcast_to(jnp.asarray(e, y.dtype), ()) for e in entries]))
        return tuple(out)

    return state
