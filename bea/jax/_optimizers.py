"""Optimizers in JAX: modifying integrators as optimizers, and optax transformations.

Conventions
-----------
f = −∇L. An optimizer program (``bea.optimizers.*``, ``bea.Optimizer``)
is an update rule over points in which ``step(y)`` is one gradient step
−h∇L(y); explicit Runge–Kutta methods (``bea.gd()``, ``bea.rk4()``) are the
rule x⁺ = x + Σ b_i k_i, k_i = step(x + Σ_j a_ij k_j).

Modifying optimizers. ``bea.modifying_integrator(method, p, target)`` is the
field f̂ with h f̂ = Σ_{|t| ≤ p+1} h^{|t|} β̂(t)/σ(t) F(t) such that the method
applied to f̂ has the target flow to O(h^{p+2}) per step. Running the rule
with ``step(y) = h f̂(y)`` is then an optimizer whose modified flow is the
target flow through h^p: with the default target (the exact flow of f) it
cancels the method's implicit regularisation (gradient descent follows the
plain gradient flow of L to O(h^{p+1}) over a fixed horizon); with the field
series of L + λh‖∇L‖² (``BSeries.from_dict({"[]": 1, "[[]]": -2*lam}, p+1)``,
since −∇(λh‖∇L‖²) = −2λh ∇²L∇L = −2λh f'f) it follows that regularised flow.
For gradient descent and p = 1, f̂ = f + h/2 f'f, so x⁺ = x − h∇L + h²/2 ∇²L∇L.

optax. ``as_optax`` runs any of these as an ``optax`` gradient
transformation: the update is x⁺ − x. optax hands a transformation the
gradient at the current parameters only, so rules that evaluate ∇L elsewhere
(Nesterov's look-ahead, extragradient, USAM, Runge–Kutta stages, modifying
optimizers, which need derivatives of ∇L) need ``loss_fn`` and are
``optax.GradientTransformationExtraArgs`` whose extra keyword arguments are
passed to ``loss_fn``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import sympy as sp

from .._deprecation import renamed_keyword
from .._dispatch import as_method
from .._dispatch import modifying_integrator as _modifying_integrator
from .._inputs import check_order
from ..methods._programs import Optimizer
from ._codegen import _check_h, _check_loss_fn, _equation_field

__all__ = ["JaxOptimizer", "ModifyingOptimizer", "as_optax", "modifying_optimizer"]


# ----------------------------------------------------------------------------
# Points: pytrees with the arithmetic of the update rules
# ----------------------------------------------------------------------------


def _scalar(c):
    if isinstance(c, sp.Basic):
        if c.free_symbols:
            raise ValueError(
                f"a coefficient of the update rule is symbolic ({c}); give the optimizer's "
                "hyperparameters values, e.g. as_optax(bea.optimizers.heavy_ball(), h, beta=0.9)"
            )
        return float(c)
    return c


class _Point:
    """A pytree with + − and scalar * /, so that update rules run on any parameters."""

    __slots__ = ("tree",)
    __array_priority__ = 1000  # numpy scalars defer to our reflected operators

    def __init__(self, tree):
        self.tree = tree

    def _zip(self, other, fn):
        if isinstance(other, _Point):
            return _Point(jax.tree_util.tree_map(fn, self.tree, other.tree))
        if isinstance(other, (numbers.Number, sp.Basic)) and _scalar(other) == 0:
            return self  # 0*x + ... in a rule's init
        return NotImplemented

    def __add__(self, other):
        return self._zip(other, lambda a, b: a + b)

    __radd__ = __add__

    def __sub__(self, other):
        return self._zip(other, lambda a, b: a - b)

    def __rsub__(self, other):
        return (-self).__add__(other)

    def __neg__(self):
        return _Point(jax.tree_util.tree_map(lambda a: -a, self.tree))

    def __mul__(self, c):
        if isinstance(c, _Point):
            return NotImplemented
        c = _scalar(c)
        return _Point(jax.tree_util.tree_map(lambda a: c * a, self.tree))

    __rmul__ = __mul__

    def __truediv__(self, c):
        c = _scalar(c)
        return _Point(jax.tree_util.tree_map(lambda a: a / c, self.tree))


def _wrap(tree):
    return _Point(tree)


def _unwrap(x):
    if isinstance(x, _Point):
        return x.tree
    raise TypeError(
        f"the update rule returned {type(x).__name__}; it must build points from x, the state "
        "and step(...) with + - and scalar *"
    )


def _as_program(method) -> Optimizer:
    """An update-rule program for ``method`` (explicit Runge–Kutta tableaux become rules)."""
    return as_method(method).program()


def _hyper(program: Optimizer, values: dict) -> dict:
    return program.numeric_hyperparameters(**values)


def _run_rule(program: Optimizer, hyper: dict, x, state: tuple, step):
    """One update x ↦ x⁺ of the rule on pytrees; ``step(y_tree, is_current)`` → step tree."""
    px = _wrap(x)

    def point_step(y, k=0):
        if k != 0:
            raise ValueError(
                f"{program.name} uses several losses (step(y, {k})); an optax transformation "
                "transforms one gradient"
            )
        return _wrap(step(_unwrap(y), y is px))

    out = program._call(px, tuple(_wrap(s) for s in state), point_step, hyper)
    x_new, new_state = out
    return _unwrap(x_new), tuple(_unwrap(s) for s in new_state)


def _init_state(program: Optimizer, x) -> tuple:
    state = program.init(_wrap(x))
    return tuple(_unwrap(s) for s in state)


def _needs_loss(program: Optimizer, hyper: dict) -> bool:
    """Whether the rule evaluates ∇L anywhere but at the current point (probed once)."""
    elsewhere = []

    def step(y, at_x):
        elsewhere.append(not at_x)
        return y

    x = jnp.zeros(1)
    _run_rule(program, hyper, x, _init_state(program, x), step)
    return any(elsewhere)


# ----------------------------------------------------------------------------
# Generated optimizers
# ----------------------------------------------------------------------------


class JaxOptimizer(NamedTuple):
    """``(init, update)`` of an optimizer on pytrees, as ``Optimizer.jax`` returns.

    ``init(params) -> state`` (a tuple of pytrees), ``update(params, state, *args)
    -> (new_params, new_state)``; ``args`` are passed to the loss.
    """

    init: Any
    update: Any


class ModifyingOptimizer(NamedTuple):
    """A modifying integrator run as an optimizer (see ``modifying_optimizer``).

    Unpacks as ``init, update = ...`` (the pair of ``JaxOptimizer``);
    ``field`` is f̂ as a generated JAX function (``.source``, ``.cost``),
    ``coefficients`` the ``bea.ModifyingField`` β̂.
    """

    init: Any
    update: Any
    field: Any
    coefficients: Any
    program: Optimizer
    h: Any
    hyper: dict
    loss_fn: Any
    factory: Any
    field_hyper: dict

    def __iter__(self):  # ``init, update = modifying_optimizer(...)``
        return iter((self.init, self.update))


def modifying_optimizer(
    loss_fn, method=None, order: int = 1, target=None, *, h, hyperparameters=None, params=None
):
    """An optimizer whose modified flow is a chosen target flow through h^order.

    The method's update rule is run with ``step(y) = h f̂(y)`` in place of
    −h∇L(y), where f̂ is the modifying field (``bea.modifying_integrator``):

        h f̂ = Σ_{|t| ≤ order+1} h^{|t|} β̂(t)/σ(t) F(t),   f = −∇L,

    with β̂ ⋆ a = exp(ω_target) (a the method's B-series, ⋆ the substitution
    law), evaluated by generated code (jvps of ∇L, no Hessian). One step then
    agrees with the exact target flow over time h to O(h^{order+2}), and the
    iterates at a fixed horizon to O(h^{order+1}). For gradient descent:

        order 1: x⁺ = x + h f + h²/2 f'f     = x − h∇L + h²/2 ∇²L∇L,
        order 2: adds h³(1/6 f''(f,f) + 1/6 f'f'f)  (the Taylor method of the flow).

    Parameters
    ----------
    loss_fn
        callable ``(params, *args) -> scalar`` (params any pytree of floats).
    method
        an explicit method or optimizer program; default ``bea.gd()``.
        Methods with state (heavy ball) follow the target through their
        underlying one-step method.
    order
        int ≥ 0, the highest power of h corrected.
    target
        None (the gradient flow of L), a field B-series ω_target with
        ω(∅) = 0 (h f_target = Σ h^{|t|} ω(t)/σ(t) F(t)), e.g. for the flow of
        L + λh‖∇L‖²: ``bea.BSeries.from_dict({"[]": 1, "[[]]": -2*lam}, order+1)``,
        or a ``bea.ModifiedEquation``.
    h
        positive step size.
    hyperparameters
        values of symbolic method hyperparameters, e.g. ``{"beta": 0.9}``
        (``params=`` is its deprecated name).

    Returns
    -------
    ``ModifyingOptimizer``; ``init, update = modifying_optimizer(...)``
    with ``update(x, state, *args) -> (x_new, state)``. For optax use
    ``bea.jax.as_optax(modifying_optimizer(...))``.

    Examples
    --------
    >>> import jax.numpy as jnp, bea, bea.jax
    >>> init, update = bea.jax.modifying_optimizer(
    ...     lambda x: jnp.sum(x**2) / 2, bea.gd(), order=1, h=0.1)
    >>> x = jnp.array([1.0])
    >>> update(x, init(x))[0]  # x − h x + h²/2 x = (1 − h + h²/2) x, exp(−h) to O(h³)
    Array([0.905], dtype=float32)

    References
    ----------
    Chartier, Hairer, Vilmart, *Numerical integrators based on modified
    differential equations*, Math. Comp. 76 (2007).
    """
    import bea

    method = bea.gd() if method is None else method
    order = check_order(order)
    h = _check_h(h)
    program = _as_program(method)
    coefficients = _modifying_integrator(method, order, target)
    params = renamed_keyword(
        "bea.jax.modifying_optimizer", "params", "hyperparameters", params, hyperparameters
    )
    values = dict(params or {})
    field, factory, field_hyper = _equation_field(
        coefficients,
        loss_fn,
        h,
        values,
        title=f"Modifying field of {program.name} through h^{order}, in JAX.",
        symbol="f̂",
    )
    hyper = _hyper(
        program,
        {(k.name if isinstance(k, sp.Symbol) else k): v for k, v in values.items()}
        if program.hyperparameters
        else {},
    )

    def init(x):
        return _init_state(program, x)

    def update(x, state, *args):
        def step(y, at_x):
            fy = field(y, *args)
            return jax.tree_util.tree_map(lambda a: h * a, fy)

        return _run_rule(program, hyper, x, tuple(state), step)

    return ModifyingOptimizer(
        init, update, field, coefficients, program, h, hyper, loss_fn, factory, field_hyper
    )


# ----------------------------------------------------------------------------
# optax
# ----------------------------------------------------------------------------


class BeaOptaxState(NamedTuple):
    """optax state of ``as_optax``: the rule's state (previous iterates, momenta)."""

    inner: tuple


def _check_single_loss(program: Optimizer):
    if program.colours > 1 or program.steps > 1:
        raise ValueError(
            f"{program!r} uses {program.colours} losses or fields per call; an optax "
            "transformation transforms the gradient of one loss. Reshuffled SGD is plain "
            "gradient descent fed the mini-batch gradients in a shuffled order: use "
            "as_optax(bea.optimizers.gd(), h) and loop over the batches. Simultaneous "
            "gradient play is gradient descent on the joint field (∇_φL_0, ratio·∇_θL_1): "
            "pass that as the gradient to as_optax(bea.optimizers.gd(), h). Alternating play "
            "needs the second player's gradient after the first has moved: write the loop."
        )


def as_optax(opt, learning_rate=None, *, loss_fn=None, **hyper):
    """An optimizer program, method or modifying optimizer as an optax transformation.

    The update is x⁺ − x for the rule's x⁺ (so ``optax.apply_updates`` gives
    x⁺); the rule's state (previous iterate, momentum) is the optax state.
    Gradient steps at the current parameters, −h·g, use the gradient optax
    passes in; steps elsewhere call ``jax.grad(loss_fn)``.

    Which rules need ``loss_fn``: those that take a gradient away from the
    current point — Nesterov (look-ahead point), extragradient, USAM,
    Runge–Kutta stages after the first (``bea.rk4()``), and every modifying
    optimizer (its field needs derivatives of ∇L). gd, heavy_ball and
    ema_momentum do not. Requesting one of the former without ``loss_fn``
    raises a ValueError. With ``loss_fn`` the result is an
    ``optax.GradientTransformationExtraArgs``: ``update(updates, state, params,
    **extra_args)`` passes ``extra_args`` (a batch, say) to ``loss_fn`` as
    keyword arguments, ``loss_fn(params, **extra_args)``; ``params`` is
    required.

    Several losses. optax transforms the gradient of one loss, so rules over
    several losses (``reshuffled_sgd``, ``simultaneous_gd``,
    ``alternating_gd``) are refused with the way to write them: reshuffled
    SGD is gd fed shuffled mini-batch gradients; simultaneous play is gd on
    the joint field; alternating play needs a hand-written loop.

    Parameters
    ----------
    opt
        ``bea.optimizers.*`` / ``bea.Optimizer``, an explicit
        ``bea.RungeKutta`` (``bea.gd()``, ``bea.rk4()``), or the result of
        ``modifying_optimizer`` (its step size and loss are its own).
    learning_rate
        the step size h (a positive number).
    loss_fn
        ``(params, **extra_args) -> scalar``, for rules that need it.
    **hyper
        values of symbolic hyperparameters, e.g. ``beta=0.9``.

    Examples
    --------
    >>> import jax.numpy as jnp, optax, bea, bea.jax
    >>> tx = bea.jax.as_optax(bea.optimizers.heavy_ball(0.5), learning_rate=0.1)
    >>> x = jnp.array([1.0]); state = tx.init(x)
    >>> u, state = tx.update(2 * x, state, x)  # gradient of x²: x⁺ = x − 0.1·2x
    >>> optax.apply_updates(x, u)
    Array([0.8], dtype=float32)
    """
    import optax

    if isinstance(opt, ModifyingOptimizer):
        return _modifying_optax(opt, learning_rate, loss_fn, hyper)
    program = _as_program(opt)
    _check_single_loss(program)
    if learning_rate is None:
        raise ValueError("as_optax needs the step size: as_optax(opt, learning_rate=0.1)")
    h = _check_h(learning_rate)
    values = _hyper(program, hyper)
    if program.coordinatewise:
        return _coordinatewise_optax(program, h, values, loss_fn)
    needs_loss = _needs_loss(program, values)
    if needs_loss and loss_fn is None:
        raise ValueError(
            f"{program!r} evaluates the gradient away from the current parameters (a "
            "look-ahead or stage point), which the gradient optax passes in cannot give. "
            f"Pass the loss: as_optax(opt, {learning_rate!r}, loss_fn=loss) with "
            "loss(params, **extra_args) -> scalar, and call update(grads, state, params, "
            "**extra_args)."
        )
    if loss_fn is not None:
        _check_loss_fn(loss_fn)
    grad_fn = jax.grad(loss_fn) if loss_fn is not None else None

    def init_fn(params):
        return BeaOptaxState(_init_state(program, params))

    def update_fn(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(
                f"as_optax({program!r}) needs the current parameters: "
                "tx.update(grads, state, params)"
            )

        def step(y, at_x):
            g = updates if at_x else grad_fn(y, **extra_args)
            return jax.tree_util.tree_map(lambda a: -h * a, g)

        x_new, new_state = _run_rule(program, values, params, tuple(state.inner), step)
        delta = jax.tree_util.tree_map(lambda a, b: a - b, x_new, params)
        return delta, BeaOptaxState(new_state)

    if needs_loss or loss_fn is not None:
        return optax.GradientTransformationExtraArgs(init_fn, update_fn)
    return optax.GradientTransformation(init_fn, update_fn)


def _flat_rule(program: Optimizer, values: dict, h, x, state: tuple, grad):
    """One update of a coordinate-wise rule on flat arrays (``grad(y, at_x)`` → ∇L(y))."""

    def g(y):
        return grad(y, y is x)

    def step(y, k=0):
        return -h * g(y)

    extra = {"grad": g, "ops": jnp, "h": h}
    extra = {k: v for k, v in extra.items() if k in program.extras}
    return program._call(x, tuple(state), step, {**values, **extra})


def _coordinatewise_optax(program: Optimizer, h, values: dict, loss_fn):
    """A coordinate-wise rule (sign, RMSProp, Adam, Lion, Muon, …) as an optax transformation.

    The rule runs on the parameters raveled into one flat vector (its
    coordinate-wise operations, norms and, for matrix rules, reshapes act on
    that vector); gradients away from the current point call ``jax.grad(loss_fn)``.
    """
    import optax
    from jax.flatten_util import ravel_pytree

    # matrix rules (Muon) declare their parameter's shape as hyperparameters rows, cols
    probe = jnp.ones(math.prod((values.get("rows", 1), values.get("cols", 2))))
    elsewhere = []

    def probe_grad(y, at_x):
        elsewhere.append(not at_x)
        return y

    _flat_rule(program, values, h, probe, tuple(program.init(probe)), probe_grad)
    needs_loss = any(elsewhere)
    if needs_loss and loss_fn is None:
        raise ValueError(
            f"{program!r} evaluates the gradient away from the current parameters (an ascent "
            "or look-ahead point), which the gradient optax passes in cannot give. Pass the "
            f"loss: as_optax(opt, {h!r}, loss_fn=loss) and call update(grads, state, params)."
        )
    if loss_fn is not None:
        _check_loss_fn(loss_fn)

    def init_fn(params):
        flat, _ = ravel_pytree(params)
        return BeaOptaxState(tuple(program.init(flat)))

    def update_fn(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(
                f"as_optax({program!r}) needs the current parameters: "
                "tx.update(grads, state, params)"
            )
        flat, unravel = ravel_pytree(params)
        g_flat, _ = ravel_pytree(updates)

        def grad(y, at_x):
            if at_x:
                return g_flat
            return ravel_pytree(jax.grad(loss_fn)(unravel(y), **extra_args))[0]

        x_new, new_state = _flat_rule(program, values, h, flat, tuple(state.inner), grad)
        return unravel(x_new - flat), BeaOptaxState(tuple(new_state))

    if needs_loss or loss_fn is not None:
        return optax.GradientTransformationExtraArgs(init_fn, update_fn)
    return optax.GradientTransformation(init_fn, update_fn)


def _modifying_optax(mod: ModifyingOptimizer, learning_rate, loss_fn, hyper):
    import optax

    if learning_rate is not None and learning_rate != mod.h:
        raise ValueError(
            f"the modifying optimizer was built for h = {mod.h}, got learning_rate="
            f"{learning_rate!r}; its coefficients depend on h, so build it again with h="
            f"{learning_rate!r}"
        )
    if hyper:
        raise ValueError(
            "give a modifying optimizer's hyperparameters to modifying_optimizer(params=...)"
        )
    loss = loss_fn if loss_fn is not None else mod.loss_fn
    h = mod.h

    def init_fn(params):
        return BeaOptaxState(mod.init(params))

    def update_fn(updates, state, params=None, **extra_args):
        del updates  # f̂ needs derivatives of ∇L: it is evaluated from the loss
        if params is None:
            raise ValueError("a modifying optimizer needs the parameters: update(g, state, params)")
        field = mod.factory(lambda p: loss(p, **extra_args), h, **mod.field_hyper)

        def step(y, at_x):
            return jax.tree_util.tree_map(lambda a: h * a, field(y))

        x_new, new_state = _run_rule(mod.program, mod.hyper, params, tuple(state.inner), step)
        delta = jax.tree_util.tree_map(lambda a, b: a - b, x_new, params)
        return delta, BeaOptaxState(new_state)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
