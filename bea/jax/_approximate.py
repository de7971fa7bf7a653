"""APPROXIMATE modified fields from a few optimizer steps (cheap, for training-time use).

Not exact: for the exact truncated field use ``bea.jax.modified_field``.

Idea
----
The iterates y_j = Φ_h^j(y_0) of a one-step method lie (asymptotically) on the
flow of its modified field f̃: y_j = y(jh). For a smooth curve the shift by h
is E = exp(hD), so hD = log(1 + Δ) with the forward difference Δy_j = y_{j+1} − y_j
(Newton's series), and

    h f̃(y_0) = h y'(0) = Σ_{k=1}^{p+1} (−1)^{k+1} Δ^k y_0 / k + O(h^{p+2}).

With the truncation f̃ − f̃_p = O(h^{p+1}) of the modified field through h^p,

    f̃_p(y_0) = (1/h) Σ_{k=1}^{p+1} (−1)^{k+1} Δ^k y_0 / k + O(h^{p+1}):

p + 1 steps give the order-p field up to an error of the order of its first
omitted term. For gradient descent, y_{j+1} = y_j − h∇L(y_j), the sum
collapses to p + 1 gradients and exact rational weights, with no division by h:

    f̃_p(y_0) ≈ −Σ_{i=0}^{p} w_i ∇L(y_i),   w_i = Σ_{j>i} c_j,
    Σ_k (−1)^{k+1} Δ^k y_0 / k = Σ_j c_j y_j,

e.g. order 1: −(3/2 ∇L(y_0) − 1/2 ∇L(y_1)) = −∇L − h/2 ∇²L∇L + O(h²). At h = 0
it is −∇L (Σ_i w_i = 1).

Cost and error
--------------
p + 1 gradient evaluations one after the other and three parameter-sized
vectors: on the MLP of ``benchmarks/codegen.py`` (1.1M parameters, batch 512,
float64, CPU) orders 1–4 cost 2.0, 3.0, 4.0, 5.0× the flops and 1.3, 1.6, 1.9,
2.2× the memory of one gradient (the exact field: 3.0–41× flops, 2.4–21×
memory). The error is C·h^{p+1}, with the (p+2)-th derivative of the
interpolating flow in C: a large constant. Measured there (``‖approx − exact‖``
over ``‖exact‖`` / over the size of the exact field's h^p term):

    h = 0.1:   order 1 1.1e-1 / 0.29,  order 2 3.1e-1 / 0.71,  order 4 7.0e-1 / 1.3
    h = 0.01:  order 1 1.6e-3 / 0.03,  order 2 1.2e-3 / 0.15,  order 4 4.3e-4 / 1.0

so at order p the approximation error is of the size of the h^p term itself
for p ≥ 3 on that network: beyond order 2 it adds little over the exact
field of order p − 1. On a 2-D test problem the fitted slopes are p + 1
(``tests/test_jax_approximate.py``); on a quadratic loss it is exact (the
iterates are (I − hA)^j y_0 and the differences give the truncated
log(I − hA)/h). Use it where an O(h^{p+1}) error is acceptable, e.g. as a
training-time regulariser; use ``bea.jax.modified_field`` for analysis.

References: Hairer, Lubich & Wanner, *Geometric Numerical Integration*, §IX.1
(the modified equation); Newton's forward-difference series for the derivative
(the logarithm of the shift operator), e.g. Hildebrand, *Introduction to
Numerical Analysis*, §5.
"""

from __future__ import annotations

from fractions import Fraction
from math import comb

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from .._dispatch import as_method
from .._inputs import check_order
from ._codegen import _check_h, _check_loss_fn, _checked_loss

__all__ = ["approximate_field", "difference_weights"]


def difference_weights(order: int) -> tuple[list[Fraction], list[Fraction]]:
    """Exact weights ``(c, w)`` of the approximation through h^order.

    ``c[j]`` (j = 0..order+1): Σ_{k=1}^{order+1} (−1)^{k+1} Δ^k y_0 / k = Σ_j c[j] y_j;
    ``w[i]`` (i = 0..order): w[i] = Σ_{j>i} c[j], the weights of the gradients in
    f̃_order ≈ −Σ_i w[i] ∇L(y_i) for gradient descent.

    >>> c, w = difference_weights(1)
    >>> [str(v) for v in c], [str(v) for v in w]
    (['-3/2', '2', '-1/2'], ['3/2', '-1/2'])
    """
    order = check_order(order)
    n = order + 1
    c = [Fraction(0)] * (n + 1)
    for k in range(1, n + 1):
        for j in range(k + 1):
            c[j] += Fraction((-1) ** (k + 1), k) * (-1) ** (k - j) * comb(k, j)
    w = [sum(c[i + 1 :], Fraction(0)) for i in range(n)]
    return c, w


def approximate_field(loss_fn, order: int, h, method=None):
    """APPROXIMATE modified field through h^order from order + 1 optimizer steps.

    Returns ``(params, *args) -> pytree`` shaped like params, approximating
    f̃_order = Σ_{|t| ≤ order+1} h^{|t|−1} ω(t)/σ(t) F(t) (f = −∇L) up to an
    error O(h^{order+1}) (see the module docstring): it is not the exact
    truncated field of ``bea.jax.modified_field``, it differs from it in
    the first omitted order.

    Parameters
    ----------
    loss_fn
        callable ``(params, *args) -> scalar`` (params: any pytree of float
        arrays; extra args such as a batch are passed through).
    order
        int ≥ 0 (order 0 returns −∇L exactly).
    h
        positive finite step size (a number or a scalar array; jit/vmap over it).
    method
        None for gradient descent (order + 1 gradients, no division by h); or a
        one-step method without state whose update rule ``method.jax(grads, h)``
        runs on flat arrays (``bea.heun()``, ``bea.rk4()``): then
        (1/h) Σ_j c_j (y_j − y_0) over order + 1 steps.

    Returns
    -------
    callable
        ``(params, *args) -> pytree`` shaped like params; jittable and
        vmappable.

    Examples
    --------
    >>> import jax.numpy as jnp, bea.jax
    >>> f = bea.jax.approximate_field(lambda x: jnp.sum(x**2) / 2, order=1, h=0.1)
    >>> f(jnp.array([1.0]))  # −3/2·1 + 1/2·(1 − 0.1) = −1.05 = −x − h/2·x (exact here)
    Array([-1.05], dtype=float32)
    """
    _check_loss_fn(loss_fn)
    order = check_order(order)
    h = _check_h(h)
    c, w = difference_weights(order)
    checked = _checked_loss(loss_fn)
    grad = jax.grad(checked)

    if method is None:

        def gd_field(params, *args):
            tree = jax.tree_util
            y = params
            total = None
            for i in range(order + 1):
                g = grad(y, *args)
                wi = float(w[i])
                term = tree.tree_map(lambda a, wi=wi: -wi * a, g)
                total = term if total is None else tree.tree_map(jnp.add, total, term)
                if i < order:
                    y = tree.tree_map(lambda a, b: a - h * b, y, g)
            return total

        return gd_field

    method = as_method(method)
    if method.kind.memory or method.kind.losses > 1 or method.kind.steps > 1:
        raise ValueError(
            f"{method!r} carries state, several losses or several steps per call: its first "
            "iterates do not lie on one modified flow, so differences of them do not approximate "
            "the field; use method=None (gradient descent) or a one-step method without state "
            "(bea.heun(), bea.rk4(), ...), or bea.jax.modified_field for the exact field"
        )

    def field(params, *args):
        flat0, unravel = ravel_pytree(params)

        def flat_grad(v):
            return ravel_pytree(grad(unravel(v), *args))[0]

        init, update = method.jax([flat_grad], h)
        state = tuple(init(flat0))
        y, total = flat0, jnp.zeros_like(flat0)
        for j in range(1, order + 2):
            y, state = update(y, state)
            state = tuple(state)
            total = total + float(c[j]) * (y - flat0)
        return unravel(total / h)

    return field
