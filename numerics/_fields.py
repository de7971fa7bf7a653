"""Problems: the gradient functions an optimizer iterates and the modified fields it follows.

Conventions
-----------
f = −∇L (for several losses or players, f_c = −∇L_c restricted to player c's
variables). The modified field through h^p is

    f̃_p = Σ_{|t| ≤ p+1} h^{|t|−1} ω(t)/σ(t) F(t),   F(•_c) = f_c,
    F([t1..tm]_c) = f_c^{(m)}(F(t1), …, F(tm)),

with ω(t) from ``bea.modified_equation(method, p)`` (exact rationals, rounded
to floats here). Order 0 is the gradient flow scaled by the method's leading
coefficient (f/(1−β) for heavy ball).

A *problem* bundles what a sweep needs, on flat float vectors:

* ``grads``: one function per colour, ``step(y, k) = −h·grads[k](y)`` in the
  optimizer's update rule (``method.jax(grads, h)``);
* ``field(order, h)``: the modified field f̃_order as a function of y, for a
  possibly traced step size h.

Three ways to get one: a JAX loss (``bea.jax.modified_field`` generates the
field), several JAX losses or player gradients (``tree_field``, nested
jvps over coloured trees), or a sympy loss (``SympyLoss``: the exact
field of ``bea.modified_equation(method, p).on(L, variables)`` lambdified to
JAX, or to mpmath for the high-precision path).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import sympy as sp
from jax.flatten_util import ravel_pytree

import bea
from bea import as_method
from bea._smooth import check_smooth

__all__ = ["Problem", "SympyLoss", "make_problem", "tree_field"]


def _omega_floats(method, order: int) -> list[tuple[bea.RootedTree, float]]:
    """(tree, ω(t)/σ(t)) for the non-zero terms of the order-``order`` modified field."""
    me = bea.modified_equation(method, order)
    if not isinstance(me, bea.ModifiedEquation):
        raise ValueError(
            f"{method!r} is coordinate-wise: its modified field has no tree form to evaluate "
            "here; derive it on a sympy loss with bea.modified_equation(opt, p).on(loss, vars)"
        )
    out = []
    for t, c in me:
        value = sp.sympify(c, strict=True) / t.symmetry()
        if value.free_symbols:
            names = ", ".join(sorted(s.name for s in value.free_symbols))
            raise ValueError(
                f"the modified field of {method!r} depends on the symbols {names}; give them "
                f"values first, e.g. method.with_values({names.split(', ')[0]}=0.9)"
            )
        out.append((t, float(value)))
    return out


def tree_field(method, order: int, fields: Sequence[Callable], h) -> Callable:
    """The modified field f̃_order of ``method`` on concrete vector fields, in JAX.

    Normalisation: f̃ = Σ_{|t| ≤ order+1} h^{|t|−1} ω(t)/σ(t) F(t), with
    F(•_c) = fields[c] and F([t1..tm]_c) = D^m fields[c](y)[F(t1), …, F(tm)]
    evaluated by m nested ``jax.jvp`` (no Jacobian is formed). Works for
    coloured trees (several losses, two-player games); every elementary
    differential is computed once per call.

    Parameters
    ----------
    method
        a bea method (``bea.gd()``, ``bea.optimizers.simultaneous_gd()``, …)
        with numeric hyperparameters.
    order
        int ≥ 0.
    fields
        one vector field per colour, f_c = −∇L_c (players: zero outside
        their own variables), each ``y -> array`` on flat vectors.
    h
        step size (a float or a traced scalar).

    Examples
    --------
    >>> import jax.numpy as jnp, bea
    >>> f = tree_field(bea.gd(), 1, [lambda y: -y], 0.1)  # f = −y, f'f = y
    >>> f(jnp.array([2.0]))  # −y − h/2·y
    Array([-2.1], dtype=float32)
    """
    terms = _omega_floats(method, order)
    fields = list(fields)
    colours = max([t.colours for t, _ in terms] + [1])
    if len(fields) < colours:
        raise ValueError(
            f"{method!r} uses {colours} vector fields, got {len(fields)}; pass one per loss"
        )

    def deriv(fc, y, directions):
        # D^m fc(y)[d1, ..., dm] by nested jvps
        g = fc
        for d in directions:
            g = (lambda g_, d_: lambda z: jax.jvp(g_, (z,), (d_,))[1])(g, d)
        return g(y)

    def evaluate(y):
        memo: dict = {}

        def F(t):
            if t in memo:
                return memo[t]
            kids = [F(u) for u in t.children]
            value = deriv(fields[t.colour], y, kids)
            memo[t] = value
            return value

        total = jnp.zeros_like(y)
        for t, w in terms:
            total = total + (h ** (len(t) - 1) * w) * F(t)
        return total

    return evaluate


@dataclass
class Problem:
    """What a sweep needs, on flat float vectors.

    ``grads[k](y)``: the k-th gradient (``step(y, k) = −h·grads[k](y)``);
    ``field(order, h)``: the modified field through h^order as ``y -> array``;
    ``unravel``: flat vector → the user's pytree (identity for arrays).
    ``key``: what identifies the problem's functions (sympy expressions, or the
    ids of the user's functions, kept alive in ``refs``), for caching the
    compiled sweep kernels of a process.
    ``field_text(order)``: text naming ``field(order, ·)`` in every process
    alike without building it (sympy losses: the loss and the exact
    coefficients), or None: the sweep then names the field by its jaxpr.
    """

    grads: list[Callable]
    field: Callable[[int, object], Callable]
    unravel: Callable = lambda v: v
    description: str = ""
    key: tuple = ()
    refs: tuple = ()
    field_text: Callable[[int], str | None] | None = None


def _flat(fn, unravel):
    def flat_fn(v):
        return ravel_pytree(fn(unravel(v)))[0]

    return flat_fn


class SympyLoss:
    """A loss (or several) given as sympy expressions in named variables.

    The exact modified field ``bea.modified_equation(method, p).on(loss, variables)``
    is lambdified once per order with the step size as an argument, to JAX
    (``modules="jax"``) or to mpmath (``mp_field``). Gradients are exact
    derivatives, lambdified likewise.

    Parameters
    ----------
    loss
        a scalar sympy expression, or a list (one per mini-batch loss or player).
    variables
        list of sympy symbols; for a game, one list per player
        (``[[phi], [theta]]``): player c's gradient is ∇L_c in its own
        variables and zero elsewhere.

    Examples
    --------
    >>> import sympy as sp, bea
    >>> x, y = sp.symbols("x y")
    >>> problem = SympyLoss((x**2 + 2*y**2) / 2, [x, y])
    >>> problem.flat_variables
    [x, y]
    """

    def __init__(self, loss, variables):
        grouped = (
            isinstance(variables, (list, tuple))
            and len(variables) > 0
            and all(isinstance(g, (list, tuple)) for g in variables)
        )
        self.groups = [list(g) for g in variables] if grouped else None
        self.flat_variables = [v for g in variables for v in g] if grouped else list(variables)
        for v in self.flat_variables:
            if not isinstance(v, sp.Symbol):
                raise ValueError(f"variables must be sympy Symbols, got {v!r} ({type(v).__name__})")
        self.losses = list(loss) if isinstance(loss, (list, tuple)) else [loss]
        for L in self.losses:
            if not isinstance(L, sp.Expr) or isinstance(L, sp.MatrixBase):
                raise ValueError(f"each loss must be a scalar sympy expression, got {L!r}")
            check_smooth(L, self.flat_variables)
        if self.groups is not None and len(self.groups) != len(self.losses):
            raise ValueError(
                f"a game needs one loss per player: {len(self.groups)} variable groups but "
                f"{len(self.losses)} losses"
            )
        self.loss = loss
        self._cache: dict = {}

    def text(self) -> str:
        """The loss as text: one expression, or several separated by '; '."""
        return "; ".join(str(L) for L in self.losses)

    def gradient_exprs(self) -> list[sp.Matrix]:
        """∇L_k as column matrices (players: zero outside their own variables)."""
        out = []
        for k, L in enumerate(self.losses):
            own = set(self.groups[k]) if self.groups is not None else None
            out.append(
                sp.Matrix(
                    [
                        sp.diff(L, v) if own is None or v in own else sp.Integer(0)
                        for v in self.flat_variables
                    ]
                )
            )
        return out

    def field_expr(self, method, order: int) -> sp.Matrix:
        """f̃ through h^order as a column matrix in the variables and ``bea.h``."""
        key = ("expr", id(method), repr(method), order)
        if key not in self._cache:
            me = bea.modified_equation(method, order)
            variables = self.groups if self.groups is not None else self.flat_variables
            loss = self.losses if len(self.losses) > 1 else self.losses[0]
            out = me.on(loss, variables)
            if self.groups is not None:
                out = sp.Matrix.vstack(*out)
            self._cache[key] = (method, out)
        return self._cache[key][1]

    def _lambdify(self, exprs, with_h: bool, modules):
        args = [*self.flat_variables, bea.h] if with_h else list(self.flat_variables)
        return sp.lambdify(args, list(exprs), modules=modules, cse=True)

    # -- JAX --------------------------------------------------------------------
    def problem(self, method) -> Problem:
        """The ``Problem`` of this loss under ``method``, in JAX."""
        grads = []
        for g in self.gradient_exprs():
            fn = self._lambdify(g, False, "jax")
            grads.append(_vectorised(fn))

        fields: dict[int, Callable] = {}

        def make(order: int, h):
            if order not in fields:
                fields[order] = self._lambdify(self.field_expr(method, order), True, "jax")
            fn = fields[order]

            def evaluate(y):
                out = fn(*[y[i] for i in range(y.shape[0])], h)
                return jnp.stack([jnp.broadcast_to(jnp.asarray(o, y.dtype), ()) for o in out])

            return evaluate

        key = (
            "sympy",
            tuple(sp.srepr(L) for L in self.losses),
            tuple(v.name for v in self.flat_variables),
            None if self.groups is None else tuple(len(g) for g in self.groups),
        )

        def field_text(order: int) -> str | None:
            # the field is lambdify(modified_equation(method, order).on(loss)): named by the
            # loss and the exact coefficients (the code that joins them is in the fingerprint)
            me = bea.modified_equation(method, order)
            if type(me) is not bea.ModifiedEquation:  # other results: named by their jaxpr
                return None
            return repr((key, order, [(repr(t), str(c)) for t, c in me]))

        return Problem(
            grads, make, description=f"sympy loss {self.loss}", key=key, field_text=field_text
        )

    # -- mpmath -----------------------------------------------------------------
    def mp_gradients(self) -> list[Callable]:
        """∇L_k as functions of a list of mpf, returning lists of mpf."""
        return [self._lambdify(g, False, "mpmath") for g in self.gradient_exprs()]

    def mp_field(self, method, order: int) -> Callable:
        """f̃ through h^order as ``(y: list[mpf], h: mpf) -> list[mpf]``."""
        key = ("mp", id(method), repr(method), order)
        if key not in self._cache:
            self._cache[key] = (
                method,
                self._lambdify(self.field_expr(method, order), True, "mpmath"),
            )
        fn = self._cache[key][1]
        return lambda y, h: fn(*y, h)


def _negated(g):
    return lambda y: -g(y)


def _vectorised(fn):
    def evaluate(y):
        out = fn(*[y[i] for i in range(y.shape[0])])
        return jnp.stack([jnp.broadcast_to(jnp.asarray(o, y.dtype), ()) for o in out])

    return evaluate


def make_problem(method, loss, params0, *, grads=None, field=None) -> tuple[Problem, jnp.ndarray]:
    """Normalise the ways of describing a problem to a ``Problem`` on flat vectors.

    ``loss``: a JAX loss ``params -> scalar`` (field from ``bea.jax.modified_field``),
    a list of JAX losses (one per colour; field by ``tree_field``), a
    ``SympyLoss``, or None when ``grads`` and ``field`` are given.
    ``grads``: overrides the gradients (list, one per colour, on params pytrees).
    ``field``: overrides the modified field, ``field(order, h) -> (params -> pytree)``.
    Returns the problem and params0 flattened.
    """
    method = as_method(method)
    flat0, unravel = ravel_pytree(params0)
    flat0 = jnp.asarray(flat0)
    if not jnp.issubdtype(flat0.dtype, jnp.floating):
        raise ValueError(
            f"params0 must hold floating arrays, got dtype {flat0.dtype}; e.g. jnp.asarray(x0, "
            "jnp.float64)"
        )
    colours = method.colours
    if isinstance(loss, SympyLoss):
        base = loss.problem(method)
        if len(base.grads) != colours:
            raise ValueError(
                f"{method!r} uses {colours} losses, the SympyLoss has {len(base.grads)}"
            )
        g_list, f_make = base.grads, base.field
        desc = base.description
    else:
        if grads is not None:
            g_user = list(grads) if isinstance(grads, (list, tuple)) else [grads]
            g_list = [_flat(g, unravel) for g in g_user]
        elif loss is None:
            raise ValueError("give a loss, or both grads= and field=")
        else:
            losses = list(loss) if isinstance(loss, (list, tuple)) else [loss]
            for L in losses:
                if not callable(L):
                    raise TypeError(
                        f"loss must be a function params -> scalar (or a list of them, or a "
                        f"numerics.SympyLoss), got {type(L).__name__}"
                    )
            g_list = [_flat(jax.grad(L), unravel) for L in losses]
        if len(g_list) != colours:
            raise ValueError(
                f"{method!r} uses {colours} gradient function(s), got {len(g_list)}: pass a list "
                f"of {colours} losses or grads=[...]"
            )
        desc = "JAX loss"
        if field is not None:
            user = field

            def f_make(order, h):
                return _flat(user(order, h), unravel)

            desc = "user field"
        elif colours == 1 and loss is not None and grads is None and callable(loss):
            import bea.jax  # JAX code generation lives there

            L0 = loss

            def f_make(order, h):
                return _flat(bea.jax.modified_field(L0, method, order, h), unravel)

            desc = "JAX loss, field by bea.jax.modified_field"
        else:
            g_fixed = list(g_list)

            def f_make(order, h):
                return tree_field(method, order, [_negated(g) for g in g_fixed], h)

            desc = "field by nested jvps over coloured trees"
    refs: tuple
    if isinstance(loss, SympyLoss):
        key, refs = base.key, ()
    else:
        refs = (loss, grads, field)
        key = ("functions", *(id(r) for r in refs))
    structure = jax.tree_util.tree_structure(params0)
    shapes = tuple(
        (jnp.shape(a), str(jnp.result_type(a))) for a in jax.tree_util.tree_leaves(params0)
    )
    key = (*key, str(structure), shapes)
    text = base.field_text if isinstance(loss, SympyLoss) else None
    return Problem(g_list, f_make, unravel, desc, key=key, refs=refs, field_text=text), flat0
