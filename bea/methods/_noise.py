"""Noise models: how a stochastic optimizer samples the gradient it steps along.

A stochastic method is a deterministic update rule (gradient descent, heavy
ball, Nesterov, USAM, a user rule) whose gradient ∇L is replaced, at every
call, by a random gradient g with E g = ∇L. Every gradient evaluation inside
one call uses the *same* sample (the same mini-batch: ``step(y)`` is
−h∇L_B(y) with one batch B per call, as in SAM and in Li, Tai & E); calls
draw independent samples.

Two models, both with Cov(g) = κ·Σ:

* ``Minibatch``: L = (1/n) Σ_i L_i over n examples, g = ∇L_B the mean
  gradient of b examples drawn uniformly with replacement (κ = 1/b) or
  without replacement (κ = (n − b)/(b(n − 1)), the finite-population
  correction), Σ = (1/n) Σ_i (∇L_i − ∇L)(∇L_i − ∇L)ᵀ the covariance of one
  example's gradient;
* ``GradientOracle``: a generic unbiased oracle, the gradient of a random
  loss L_γ, with covariance Σ(x)/b; Σ stays symbolic (a tensor field with
  derivatives ∇Σ, like ∇ᵏL) until it is given on a concrete problem.

A method declares its noise on its ``bea.methods._base.Kind``
(``kind.noise``); ``with_noise`` attaches one to any method.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sympy as sp

from ._base import Kind, Method, NoiseModel

if TYPE_CHECKING:
    from ..bseries._series import BSeries
    from ._programs import Optimizer

__all__ = ["GradientOracle", "Minibatch", "NoiseModel", "StochasticMethod", "with_noise"]

#: the number of examples, when it is not known yet
N_EXAMPLES = sp.Symbol("n", positive=True, integer=True)


def _check_batch(batch: Any) -> int:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be an int >= 1 (examples per step), got {batch!r}")
    return batch


@dataclass(frozen=True)
class Minibatch(NoiseModel):
    """Mini-batches of ``batch`` examples drawn uniformly from the n examples of L = (1/n) Σ L_i.

    ``replacement=True``: b independent uniform draws, Cov(∇L_B) = Σ/b.
    ``replacement=False``: a uniformly random b-subset, Cov(∇L_B) =
    (n − b)/(b(n − 1))·Σ (zero for b = n: full-batch gradient descent).
    Σ = (1/n) Σ_i (∇L_i − ∇L)(∇L_i − ∇L)ᵀ.

    >>> import bea
    >>> bea.Minibatch(2, replacement=False).covariance_factor(4)
    1/3
    """

    batch: int = 1
    replacement: bool = True

    def __post_init__(self) -> None:
        _check_batch(self.batch)
        if not isinstance(self.replacement, bool):
            raise TypeError(f"replacement must be True or False, got {self.replacement!r}")

    def check_examples(self, n: int) -> None:
        """A ValueError if a batch cannot be drawn from ``n`` examples."""
        if not self.replacement and self.batch > n:
            raise ValueError(
                f"a mini-batch of {self.batch} examples drawn without replacement needs at least "
                f"{self.batch} examples, got n = {n}; use batch <= {n} or replacement=True"
            )

    def covariance_factor(self, n: Any = None) -> sp.Expr:
        """κ = 1/b with replacement, (n − b)/(b(n − 1)) without (n symbolic if not given)."""
        b = sp.Integer(self.batch)
        if self.replacement:
            return 1 / b
        if n is None:
            n = N_EXAMPLES
        else:
            self.check_examples(int(n))
            n = sp.Integer(n)
            if n == 1:
                return sp.Integer(0)
        return (n - b) / (b * (n - 1))

    def text(self) -> str:
        how = "with" if self.replacement else "without"
        return f"mini-batches of {self.batch} {how} replacement"


@dataclass(frozen=True)
class GradientOracle(NoiseModel):
    """A generic unbiased gradient oracle: g = ∇L_γ with E g = ∇L and Cov g = Σ(x)/b.

    Σ is a symbolic tensor field (printed Σ, ∇tr Σ); give it on a concrete
    problem with ``.on(loss, variables, covariance=Σ)``.

    >>> import bea
    >>> bea.GradientOracle(batch=4).covariance_factor()
    1/4
    """

    batch: int = 1

    def __post_init__(self) -> None:
        _check_batch(self.batch)

    def covariance_factor(self, n: Any = None) -> sp.Expr:
        """κ = 1/b."""
        return 1 / sp.Integer(self.batch)

    def text(self) -> str:
        return f"an unbiased gradient oracle with covariance Σ/{self.batch}"


class StochasticMethod(Method):
    """A method whose every call steps along one sampled gradient (``kind.noise``).

    Everything but the noise is the deterministic method's: its B-series (the
    map for one fixed sample), its update rule and hyperparameters.
    """

    def __init__(self, method: Method, noise: NoiseModel, name: str | None = None) -> None:
        if not isinstance(method, Method):
            raise TypeError(
                f"with_noise expects a bea.Method (bea.gd(), bea.optimizers.heavy_ball(0.9), "
                f"bea.Optimizer(rule)), got {method!r}"
            )
        if not isinstance(noise, NoiseModel):
            raise TypeError(
                f"noise must be a bea.Minibatch(...) or bea.GradientOracle(...), got {noise!r}"
            )
        if method.kind.noise is not None:
            raise ValueError(f"{method!r} already samples its gradient ({method.kind.noise})")
        if method.kind.losses != 1:
            raise ValueError(
                f"{method!r} steps along {method.kind.losses} losses; a noise model replaces the "
                "one loss of a method by a sampled one (use a method with one loss)"
            )
        self.deterministic = method
        self.noise = noise
        self.name = name or f"{method!r} with {noise.text()}"
        self._kind: Kind = dataclasses.replace(method.kind, noise=noise)

    @property
    def kind(self) -> Kind:
        """The deterministic method's kind with ``noise`` set."""
        return self._kind

    @property
    def hyperparameters(self) -> Mapping[str, Any]:
        return self.deterministic.hyperparameters

    def bseries(self, max_nodes: int) -> BSeries:
        """The B-series of one call for one fixed sample (f = −∇L_γ)."""
        return self.deterministic.bseries(max_nodes)

    def program(self) -> Optimizer:
        return self.deterministic.program()


def with_noise(method: Method, noise: NoiseModel | None = None) -> StochasticMethod:
    """``method`` with its gradient sampled by ``noise`` (default: one example per step).

    >>> import bea
    >>> opt = bea.with_noise(bea.optimizers.heavy_ball(0.5), bea.Minibatch(2))
    >>> opt.kind.noise
    Minibatch(batch=2, replacement=True)
    """
    return StochasticMethod(method, Minibatch() if noise is None else noise)
