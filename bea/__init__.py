"""bea: backward error analysis of optimizers.

Derive the modified equation of an optimizer to any order in the step size h,
exactly, with rooted trees and B-series.

Conventions: f = −∇L; a B-series is B(a, y) = a(∅) y + Σ_t h^{|t|} a(t)/σ(t) F(t)(y);
the modified field is h f̃ = Σ_t h^{|t|} ω(t)/σ(t) F(t) with ω = log of the
method's series.

Importing ``bea`` is light: every public name below loads its module on first
use (``bea --help`` imports neither sympy nor networkx, and nothing here
imports JAX; ``bea.jax`` and ``numerics`` do). The names and their modules are
listed once in ``_EXPORTS``; the ``TYPE_CHECKING`` block repeats them as plain
re-exports for type checkers (a test keeps the two equal).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "AdaptiveModifiedEquation": ".results._coordinatewise",
    "as_method": "._dispatch",
    "BSeries": ".bseries._series",
    "butcher_product": ".bseries._trees",
    "count_free_trees": ".bseries._trees",
    "count_trees": ".bseries._trees",
    "Design": ".designer._design",
    "design": ".designer._design",
    "differential_latex": ".bseries._differentials",
    "differential_text": ".bseries._differentials",
    "ElementaryDifferentials": ".bseries._differentials",
    "Engine": ".methods._base",
    "exact_flow": ".bseries._series",
    "explicit_midpoint": ".methods._runge_kutta",
    "free_trees": ".bseries._trees",
    "FreeTree": ".bseries._trees",
    "GradientOracle": ".methods._noise",
    "gd": ".methods._runge_kutta",
    "h": "._inputs",
    "heun": ".methods._runge_kutta",
    "implicit_euler": ".methods._runge_kutta",
    "implicit_midpoint": ".methods._runge_kutta",
    "Kind": ".methods._base",
    "lie_derivative": ".bseries._series",
    "Method": ".methods._base",
    "Minibatch": ".methods._noise",
    "modified_equation": "._dispatch",
    "modified_loss": "._dispatch",
    "ModifiedEquation": ".results._equation",
    "ModifiedLoss": ".results._loss",
    "modifying_integrator": "._dispatch",
    "ModifyingField": ".results._equation",
    "MuonField": ".results._muon",
    "MuonModifiedEquation": ".results._muon",
    "NoiseModel": ".methods._base",
    "Optimizer": ".methods._programs",
    "optimizer": ".methods._programs",
    "Result": ".results._base",
    "rk4": ".methods._runge_kutta",
    "RootedTree": ".bseries._trees",
    "runge_kutta": ".methods._runge_kutta",
    "RungeKutta": ".methods._runge_kutta",
    "SDEOnProblem": ".stochastic._sme",
    "AdaptiveSDE": ".stochastic._malladi",
    "AdaptiveSDEOnProblem": ".stochastic._malladi",
    "ScaledGradientOracle": ".stochastic._malladi",
    "stochastic_modified_equation": "._dispatch",
    "StochasticMethod": ".methods._noise",
    "StochasticModifiedEquation": ".stochastic._sme",
    "t": ".methods._training",
    "tree": ".bseries._trees",
    "trees": ".bseries._trees",
    "with_noise": ".methods._noise",
}

#: public subpackages and modules
_SUBMODULES = ("coordinates", "families", "optimizers")

__all__ = sorted([*_EXPORTS, *_SUBMODULES, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bea' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from . import coordinates as coordinates
    from . import families as families
    from . import optimizers as optimizers
    from ._dispatch import as_method as as_method
    from ._dispatch import modified_equation as modified_equation
    from ._dispatch import modified_loss as modified_loss
    from ._dispatch import modifying_integrator as modifying_integrator
    from ._dispatch import stochastic_modified_equation as stochastic_modified_equation
    from ._inputs import h as h
    from .bseries._differentials import ElementaryDifferentials as ElementaryDifferentials
    from .bseries._differentials import differential_latex as differential_latex
    from .bseries._differentials import differential_text as differential_text
    from .bseries._series import BSeries as BSeries
    from .bseries._series import exact_flow as exact_flow
    from .bseries._series import lie_derivative as lie_derivative
    from .bseries._trees import FreeTree as FreeTree
    from .bseries._trees import RootedTree as RootedTree
    from .bseries._trees import butcher_product as butcher_product
    from .bseries._trees import count_free_trees as count_free_trees
    from .bseries._trees import count_trees as count_trees
    from .bseries._trees import free_trees as free_trees
    from .bseries._trees import tree as tree
    from .bseries._trees import trees as trees
    from .designer._design import Design as Design
    from .designer._design import design as design
    from .methods._base import Engine as Engine
    from .methods._base import Kind as Kind
    from .methods._base import Method as Method
    from .methods._base import NoiseModel as NoiseModel
    from .methods._noise import GradientOracle as GradientOracle
    from .methods._noise import Minibatch as Minibatch
    from .methods._noise import StochasticMethod as StochasticMethod
    from .methods._noise import with_noise as with_noise
    from .methods._programs import Optimizer as Optimizer
    from .methods._programs import optimizer as optimizer
    from .methods._runge_kutta import RungeKutta as RungeKutta
    from .methods._runge_kutta import explicit_midpoint as explicit_midpoint
    from .methods._runge_kutta import gd as gd
    from .methods._runge_kutta import heun as heun
    from .methods._runge_kutta import implicit_euler as implicit_euler
    from .methods._runge_kutta import implicit_midpoint as implicit_midpoint
    from .methods._runge_kutta import rk4 as rk4
    from .methods._runge_kutta import runge_kutta as runge_kutta
    from .methods._training import t as t
    from .results._base import Result as Result
    from .results._coordinatewise import AdaptiveModifiedEquation as AdaptiveModifiedEquation
    from .results._equation import ModifiedEquation as ModifiedEquation
    from .results._equation import ModifyingField as ModifyingField
    from .results._loss import ModifiedLoss as ModifiedLoss
    from .results._muon import MuonField as MuonField
    from .results._muon import MuonModifiedEquation as MuonModifiedEquation
    from .stochastic._malladi import AdaptiveSDE as AdaptiveSDE
    from .stochastic._malladi import AdaptiveSDEOnProblem as AdaptiveSDEOnProblem
    from .stochastic._malladi import ScaledGradientOracle as ScaledGradientOracle
    from .stochastic._sme import SDEOnProblem as SDEOnProblem
    from .stochastic._sme import StochasticModifiedEquation as StochasticModifiedEquation
