"""The dispatcher: the one place that maps a method's declared kind to its engine.

``modified_equation``, ``modified_loss`` and ``modifying_integrator`` check
their input once (a ``bea.Method``, a valid order), read the method's
``bea.methods._base.Kind`` and call the engine for it. Engines and
results never inspect a method's type or probe it for attributes: what they
need is on the ``bea.methods._base.Method`` protocol.

=====================  =================================  ==============================
kind.engine             modified_equation                  modified_loss
=====================  =================================  ==============================
``Engine.TREES``        ω = log a on trees                 free-tree form (``ModifiedLoss``)
                        (``ModifiedEquation``)
``Engine.COORDINATES``  derived on a concrete loss          no tree form: a clear error
                        (``AdaptiveModifiedEquation``)
=====================  =================================  ==============================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._inputs import check_order
from .bseries._budget import allow_trees, check_size
from .methods._base import Engine, Method
from .results._base import Result
from .results._coordinatewise import AdaptiveModifiedEquation
from .results._equation import (
    ModifiedEquation,
    ModifyingField,
    tree_modified_equation,
    tree_modifying_integrator,
)
from .results._loss import ModifiedLoss
from .results._scheduled import ScheduledModifiedEquation
from .stochastic._malladi import AdaptiveSDE, ScaledGradientOracle, malladi_engine
from .stochastic._sme import StochasticModifiedEquation, sme_engine

__all__ = [
    "as_method",
    "modified_equation",
    "modified_loss",
    "modifying_integrator",
    "stochastic_modified_equation",
]


def as_method(method: Any, what: str = "method") -> Method:
    """``method`` if it is a ``bea.Method``; otherwise a TypeError saying what to pass."""
    if isinstance(method, Method):
        return method
    hint = ""
    if isinstance(method, type) or callable(method):
        hint = (
            " (a factory such as bea.gd or bea.optimizers.heavy_ball must be called: "
            "bea.gd(), bea.optimizers.heavy_ball(0.9))"
        )
    raise TypeError(
        f"expected a {what} (an optimizer program or a Runge–Kutta tableau): a bea.Method "
        f"such as bea.gd(), bea.rk4(), bea.optimizers.heavy_ball(0.9) or bea.Optimizer(rule); "
        f"got {method!r} "
        f"({type(method).__name__}){hint}"
    )


def _coordinate_equation(method: Method, order: int, progress: bool) -> Result:
    return AdaptiveModifiedEquation(method, order)


#: engine → how it derives the modified equation
_EQUATION: dict[Engine, Callable[[Method, int, bool], Result]] = {
    Engine.TREES: tree_modified_equation,
    Engine.COORDINATES: _coordinate_equation,
    Engine.SCHEDULED: lambda method, order, progress: ScheduledModifiedEquation(
        method,  # type: ignore[arg-type]  # Engine.SCHEDULED is declared by Scheduled only
        order,
    ),
}


def modified_equation(
    method: Method, order: int, progress: bool = False, max_trees: int | None = None
) -> Result:
    """The modified equation of ``method`` through h^order.

    For B-series methods (``Engine.TREES``) a ``bea.ModifiedEquation``:
    h f̃ = Σ_t h^{|t|} ω(t)/σ(t) F(t) on all trees with at most ``order + 1``
    nodes, ω = log of the method's B-series divided by ``method.steps`` (the
    n-th iterate sits at t = n·h). High orders of exact-rational series are
    cached on disk (``BEA_CACHE_DIR``; ``BEA_CACHE=0`` turns it off);
    ``progress=True`` shows a progress bar, also while trees are enumerated.
    The tree engine enumerates every tree with up to order + 1 nodes: above
    ``bea.bseries._budget.MAX_TREES`` trees (order 14 for one loss) a
    ValueError gives their number and a cost estimate before anything starts,
    unless ``max_trees`` allows more. For coordinate-wise methods
    (``Engine.COORDINATES``) a ``bea.AdaptiveModifiedEquation``, derived
    on a concrete loss by ``.on(loss, variables)``.

    >>> import bea
    >>> me = bea.modified_equation(bea.gd(), order=2)
    >>> me.coefficient("[[]]"), me.coefficient("[[],[]]"), me.coefficient("[[[]]]")
    (-1/2, 1/6, 1/3)
    """
    check_order(order, "order")
    method = as_method(method)
    if method.kind.engine is Engine.TREES:
        check_size(
            order + 1,
            method.kind.losses,
            max_trees,
            what=f"modified_equation({method!r}, order={order})",
        )
    with allow_trees(max_trees, progress=progress):
        return _EQUATION[method.kind.engine](method, order, progress)


def modified_loss(method: Method, order: int, max_trees: int | None = None) -> ModifiedLoss:
    """The modified loss of ``method`` through h^order (and the remainder beyond).

    Normalisation: L̃ = Σ_τ h^{|τ|−1} c(τ) S(τ), c(τ) = (−1)^{|τ|−1} ω(τ)/σ(τ),
    ω the modified-equation coefficients (h f̃ = Σ h^{|t|} ω(t)/σ(t) F(t)).
    ``max_trees`` raises the limit on the trees enumerated (see
    ``bea.modified_equation``).

    >>> import bea
    >>> ml = bea.modified_loss(bea.gd(), order=1)
    >>> [(str(tau), c) for tau, c in ml.loss_terms()]
    [('{[]}', 1), ('{[[]]}', 1/4)]
    """
    check_order(order, "order")
    method = as_method(method)
    if method.kind.engine is Engine.SCHEDULED:
        raise ValueError(
            f"{method!r} has a schedule: its modified field is non-autonomous; use "
            "bea.modified_equation(opt, order).loss(loss, variables) for L̃(x, t)"
        )
    if method.kind.engine is Engine.COORDINATES:
        raise ValueError(
            f"{method!r} acts coordinate by coordinate: its modified flow is a preconditioned "
            "field, not a gradient flow. Use bea.modified_equation(opt, order).on(loss, vars) "
            "and .preconditioned_gradient(loss, vars) for the form −P∇L̃"
        )
    equation = modified_equation(method, order, max_trees=max_trees)
    assert isinstance(equation, ModifiedEquation)
    return ModifiedLoss(equation)


def modifying_integrator(
    method: Method, order: int, target: ModifiedEquation | Any = None
) -> ModifyingField:
    """The modifying integrator of ``method``: the field f̂ whose numerical flow is the target.

    ``target`` is the field to follow, as a field B-series ω_target (ω(∅) = 0;
    h f_target = Σ h^{|t|} ω(t)/σ(t) F(t)) or a ``ModifiedEquation``;
    by default the exact flow of f itself (ω = δ_•). Returns f̂ with
    h f̂ = Σ h^{|t|} β̂(t)/σ(t) F(t) on trees with at most order + 1 nodes,
    solved tree by tree from β̂ ⋆ a = exp(ω_target) (Chartier, Hairer,
    Vilmart 2007). Only B-series methods with one field and one step per call.

    >>> import bea
    >>> bea.modifying_integrator(bea.gd(), order=1).coefficient("[[]]")
    1/2
    """
    check_order(order, "order")
    method = as_method(method)
    if method.kind.engine is not Engine.TREES:
        raise ValueError(
            f"{method!r} is coordinate-wise: modifying integrators are built from B-series "
            "methods (e.g. bea.gd(), bea.rk4(), bea.optimizers.heavy_ball(0.9))"
        )
    return tree_modifying_integrator(method, order, target)


def stochastic_modified_equation(
    method: Method, order: int | None = None
) -> StochasticModifiedEquation | AdaptiveSDE:
    """The stochastic modified equation dX = b dt + √(h D) dW of a stochastic method.

    ``method`` declares its noise (``method.kind.noise``): ``bea.optimizers.sgd()``
    or ``bea.with_noise(opt, bea.Minibatch(...) | bea.GradientOracle(...))``.
    Weak order p = ``order`` (1 or 2): for smooth test functions φ the one-step
    local weak error |E φ(x₁) − E φ(X_h)| is O(h^{p+1}) and the global weak
    error at a fixed horizon T = n·h is O(h^p). f = −∇L; t = n·h at the n-th
    iterate. See ``bea.StochasticModifiedEquation``.

    >>> import bea
    >>> sme = bea.stochastic_modified_equation(bea.optimizers.sgd(), order=2)
    >>> print(sme.drift_text())
    -∇L - h/4 ∇‖∇L‖² + O(h²)

    With ``bea.ScaledGradientOracle`` noise (σ = σ₀/h) and 1 − β = c·h²,
    ε = ε₀/h, RMSProp and Adam follow an SDE on (θ, state) at time t = n·h²
    (Malladi et al. 2022): a ``bea.AdaptiveSDE``, weak order 1 (the default
    there; ``order=None`` is 2 otherwise).

    References: Li, Tai & E (ICML 2017; JMLR 2019); Malladi, Lyu, Panigrahi &
    Arora (NeurIPS 2022).
    """
    method = as_method(method)
    if isinstance(method.kind.noise, ScaledGradientOracle):
        order = 1 if order is None else order
        check_order(order, "order")
        return malladi_engine(method, order)
    order = 2 if order is None else order
    check_order(order, "order")
    return sme_engine(method, order)
