"""Optimizer design: families with unknown coefficients, solved for a target modified loss."""

from ._design import Condition as Condition
from ._design import Design as Design
from ._design import design as design
