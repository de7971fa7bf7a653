"""bea: backward error analysis of optimizers.

Derive the modified equation of an optimizer to any order in the step size h,
exactly, with rooted trees and B-series.

Conventions: f = −∇L; a B-series is B(a, y) = a(∅) y + Σ_t h^{|t|} a(t)/σ(t) F(t)(y);
the modified field is h f̃ = Σ_t h^{|t|} ω(t)/σ(t) F(t) with ω = log of the
method's series.
"""

from . import coordinates as coordinates
from . import optimizers as optimizers
from ._dispatch import as_method as as_method
from ._dispatch import modified_equation as modified_equation
from ._dispatch import modified_loss as modified_loss
from ._dispatch import modifying_integrator as modifying_integrator
from ._inputs import h as h
from ._version import __version__ as __version__
from .methods._base import Engine as Engine
from .methods._base import Kind as Kind
from .methods._base import Method as Method
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
from .results._base import Result as Result
from .results._coordinatewise import AdaptiveModifiedEquation as AdaptiveModifiedEquation
from .results._equation import ModifiedEquation as ModifiedEquation
from .results._equation import ModifyingField as ModifyingField
from .results._loss import ModifiedLoss as ModifiedLoss
from .trees._differentials import ElementaryDifferentials as ElementaryDifferentials
from .trees._differentials import differential_latex as differential_latex
from .trees._differentials import differential_text as differential_text
from .trees._series import BSeries as BSeries
from .trees._series import exact_flow as exact_flow
from .trees._series import lie_derivative as lie_derivative
from .trees._trees import FreeTree as FreeTree
from .trees._trees import RootedTree as RootedTree
from .trees._trees import butcher_product as butcher_product
from .trees._trees import count_free_trees as count_free_trees
from .trees._trees import count_trees as count_trees
from .trees._trees import free_trees as free_trees
from .trees._trees import tree as tree
from .trees._trees import trees as trees
