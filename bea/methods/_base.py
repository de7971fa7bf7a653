"""The method protocol: what a method is, and what kind of analysis it admits.

Every method (a Runge–Kutta tableau, an optimizer program, a designed or
stochastic method) is a ``Method``. It *declares* its ``Kind``; no
part of bea guesses it from attribute names or from a rule's signature. The
dispatcher (``bea._dispatch``) reads the kind and picks the engine:

=================  ===========================================================
``Engine.TREES``    B-series methods: ``bseries(max_nodes)`` gives the series
                    of one step, B(a, y) = a(∅) y + Σ h^{|t|} a(t)/σ(t) F(t)(y),
                    f = −∇L; the modified equation is ω = log a (trees).
``Engine.COORDINATES``  coordinate-wise maps (sign, RMSProp, Adam, …): no
                    B-series; derived in coordinates on a concrete loss.
=================  ===========================================================

The other axes of ``Kind`` (several losses, averaging over orderings,
steps per call, memory, noise) are independent of the engine.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sympy as sp

if TYPE_CHECKING:
    from ..bseries._series import BSeries
    from ._programs import Optimizer

__all__ = ["Engine", "Kind", "Method", "NoiseModel"]


class Engine(enum.Enum):
    """Which engine derives a method's modified equation."""

    #: B-series (rooted trees): exact, loss-free, any order.
    TREES = "trees"
    #: the coordinate backend: a fixed dimension, on a concrete loss.
    COORDINATES = "coordinates"
    #: a schedule h·η(t): the autonomous extended map in (x, t) (``bea.methods._training``).
    SCHEDULED = "scheduled"


class NoiseModel(abc.ABC):
    """How a stochastic method samples its gradient (see ``bea.methods._noise``).

    The concrete models are ``bea.Minibatch`` and ``bea.GradientOracle``;
    a method declares one on its ``Kind`` (``kind.noise``).
    """

    @abc.abstractmethod
    def covariance_factor(self, n: Any = None) -> sp.Expr:
        """κ with Cov(sampled gradient) = κ·Σ (Σ the covariance of one example's gradient)."""

    @abc.abstractmethod
    def text(self) -> str:
        """A short description for printing."""


@dataclass(frozen=True)
class Kind:
    """What kind of analysis a method admits, declared by the method itself.

    Attributes
    ----------
    engine
        the engine for its modified equation (``Engine``).
    losses
        how many loss fields (mini-batches, players) one call steps along;
        ``step(y, k)`` uses the k-th, k < losses (coloured trees when > 1).
    average
        the analysed map is the expectation over all relabellings of the
        losses (random reshuffling), not one fixed ordering.
    steps
        gradient steps (iterates) per call; the modified field is divided
        by it so that the n-th iterate sits at time t = n·h.
    memory
        the method carries a state (previous iterates, momenta) between
        calls; it is analysed through its underlying one-step method.
    noise
        how each call samples its gradient (a ``NoiseModel``), or
        ``None`` for a deterministic method; stochastic modified equations need one.
    """

    engine: Engine = Engine.TREES
    losses: int = 1
    average: bool = False
    steps: int = 1
    memory: bool = False
    noise: NoiseModel | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.engine, Engine):
            raise TypeError(f"Kind.engine must be a bea Engine, got {self.engine!r}")
        if self.noise is not None and not isinstance(self.noise, NoiseModel):
            raise TypeError(
                f"Kind.noise must be a bea NoiseModel (bea.Minibatch(...), "
                f"bea.GradientOracle(...)) or None, got {self.noise!r}"
            )
        for name in ("losses", "steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Kind.{name} must be an int >= 1, got {value!r}")
        if self.engine is Engine.COORDINATES and self.losses != 1:
            raise ValueError(
                "coordinate-wise methods are supported for one loss (losses=1); "
                f"got losses={self.losses}"
            )

    @property
    def losses_list(self) -> bool:
        """Whether ``.on`` takes a list of losses (one per mini-batch or player)."""
        return self.average or self.losses > 1


class Method(abc.ABC):
    """A one-step method or optimizer, with its declared ``Kind``.

    Subclasses set ``name``, return their kind from ``kind``, and
    provide what their engine needs: ``bseries`` for ``Engine.TREES``,
    ``program`` (an update rule over points) for the coordinate engine and
    for running on arrays.
    """

    name: str = "method"

    @property
    @abc.abstractmethod
    def kind(self) -> Kind:
        """What analysis the method admits (declared, never guessed)."""

    # -- the axes of the kind, read directly --------------------------------------
    @property
    def colours(self) -> int:
        """Number of loss fields (``kind.losses``)."""
        return self.kind.losses

    @property
    def steps(self) -> int:
        """Gradient steps per call (``kind.steps``)."""
        return self.kind.steps

    @property
    def average(self) -> bool:
        """Average over relabellings of the losses (``kind.average``)."""
        return self.kind.average

    @property
    def losses_list(self) -> bool:
        """``.on`` takes a list of losses, one per mini-batch or player, even for one."""
        return self.kind.losses_list

    @property
    def coordinatewise(self) -> bool:
        """Analysed in coordinates only (``kind.engine is Engine.COORDINATES``)."""
        return self.kind.engine is Engine.COORDINATES

    @property
    def hyperparameters(self) -> Mapping[str, Any]:
        """Named hyperparameters (numbers or sympy expressions); none by default."""
        return {}

    @property
    def symbols(self) -> set[sp.Symbol]:
        """The free sympy symbols of the hyperparameters."""
        out: set[sp.Symbol] = set()
        for v in self.hyperparameters.values():
            if isinstance(v, sp.Basic):
                out |= {s for s in v.free_symbols if isinstance(s, sp.Symbol)}
        return out

    # -- what the engines use ------------------------------------------------------
    def bseries(self, max_nodes: int) -> BSeries:
        """The B-series of one step on trees with at most ``max_nodes`` nodes.

        Normalisation B(a, y) = a(∅) y + Σ h^{|t|} a(t)/σ(t) F(t)(y), f = −∇L.
        Only methods of kind ``Engine.TREES`` have one.
        """
        raise ValueError(
            f"{self!r} is not a B-series method (its kind is {self.kind.engine.value}); "
            "derive its modified equation with bea.modified_equation(method, order).on(loss, "
            "variables)"
        )

    def program(self) -> Optimizer:
        """The method as an update rule over points (``bea.Optimizer``)."""
        raise ValueError(f"{self!r} cannot be written as an update rule over points")

    def jax(self, grads: Callable | list[Callable], h: float, **values: Any) -> tuple:
        """``(init, update)`` on arrays: one call of the method with step ``h``."""
        return self.program().jax(grads, h, **values)

    def __repr__(self) -> str:
        return self.name
