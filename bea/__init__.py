"""bea: backward error analysis of optimizers.

Derive the modified equation of an optimizer to any order in the step size h,
exactly, with rooted trees and B-series.

Conventions: f = −∇L; a B-series is B(a, y) = a(∅) y + Σ_t h^{|t|} a(t)/σ(t) F(t)(y);
the modified field is h f̃ = Σ_t h^{|t|} ω(t)/σ(t) F(t) with ω = log of the
method's series.
"""

from . import coordinates as coordinates
from . import optimizers as optimizers
from ._adaptive import AdaptiveModifiedEquation as AdaptiveModifiedEquation
from ._differentials import ElementaryDifferentials as ElementaryDifferentials
from ._differentials import differential_latex as differential_latex
from ._differentials import differential_text as differential_text
from ._loss import ModifiedLoss as ModifiedLoss
from ._loss import modified_loss as modified_loss
from ._methods import Method as Method
from ._methods import RungeKutta as RungeKutta
from ._methods import explicit_midpoint as explicit_midpoint
from ._methods import gd as gd
from ._methods import heun as heun
from ._methods import implicit_euler as implicit_euler
from ._methods import implicit_midpoint as implicit_midpoint
from ._methods import rk4 as rk4
from ._methods import runge_kutta as runge_kutta
from ._modified import ModifiedEquation as ModifiedEquation
from ._modified import ModifyingField as ModifyingField
from ._modified import h as h
from ._modified import modified_equation as modified_equation
from ._modified import modifying_integrator as modifying_integrator
from ._programs import Optimizer as Optimizer
from ._programs import optimizer as optimizer
from ._series import BSeries as BSeries
from ._series import exact_flow as exact_flow
from ._series import lie_derivative as lie_derivative
from ._trees import FreeTree as FreeTree
from ._trees import RootedTree as RootedTree
from ._trees import butcher_product as butcher_product
from ._trees import count_free_trees as count_free_trees
from ._trees import count_trees as count_trees
from ._trees import free_trees as free_trees
from ._trees import tree as tree
from ._trees import trees as trees

__version__ = "0.1.0"
