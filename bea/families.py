"""Families of optimizers with unknown (symbolic) coefficients, for ``bea.design``.

Each is an ordinary ``bea.Method``: its modified equation and modified
loss are exact rational functions of the unknowns. ``step(y)`` is −h∇L(y).
"""

from .designer._families import __all__ as __all__
from .designer._families import explicit as explicit
from .designer._families import lookahead as lookahead
from .designer._families import momentum as momentum
from .designer._families import usam as usam
