"""The optimizer catalog: each entry is one update rule (see ``bea.Optimizer``).

Every rule is written once over points: ``step(y)`` is −h∇L(y) (``step(y, k)``
the k-th loss or player), the state carries previous iterates or momenta.
The same function gives the B-series (``bea.modified_equation(opt, order)``)
and the iteration on arrays (``opt.jax(grad_fn, h)``).

Hyperparameters may be numbers (floats are read as the decimal they print as)
or sympy symbols; coefficients are then exact rational functions of them.

The entries live in ``bea.methods._catalog`` and load on first use, so that
listing them (``bea.optimizers.__all__``, ``bea --help``) imports nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: the catalog, by name (each a factory returning a bea.Method)
__all__ = [
    "adam",
    "alternating_gd",
    "ema_momentum",
    "extragradient",
    "gd",
    "heavy_ball",
    "lion",
    "muon",
    "nesterov",
    "normalized_gd",
    "normalized_sam",
    "reshuffled_sgd",
    "rmsprop",
    "runge_kutta",
    "scheduled",
    "sgd",
    "sign_gd",
    "simultaneous_gd",
    "usam",
    "weight_decay",
]

#: default symbolic hyperparameters
_SYMBOLS = ("BETA", "BETA1", "BETA2", "EPS", "C")


def __getattr__(name: str) -> Any:
    if name not in __all__ and name not in _SYMBOLS:
        raise AttributeError(f"module 'bea.optimizers' has no attribute {name!r}")
    value = getattr(importlib.import_module("bea.methods._catalog"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_SYMBOLS))


if TYPE_CHECKING:
    from .methods._catalog import BETA as BETA
    from .methods._catalog import BETA1 as BETA1
    from .methods._catalog import BETA2 as BETA2
    from .methods._catalog import EPS as EPS
    from .methods._catalog import C as C
    from .methods._catalog import adam as adam
    from .methods._catalog import alternating_gd as alternating_gd
    from .methods._catalog import ema_momentum as ema_momentum
    from .methods._catalog import extragradient as extragradient
    from .methods._catalog import gd as gd
    from .methods._catalog import heavy_ball as heavy_ball
    from .methods._catalog import lion as lion
    from .methods._catalog import muon as muon
    from .methods._catalog import nesterov as nesterov
    from .methods._catalog import normalized_gd as normalized_gd
    from .methods._catalog import normalized_sam as normalized_sam
    from .methods._catalog import reshuffled_sgd as reshuffled_sgd
    from .methods._catalog import rmsprop as rmsprop
    from .methods._catalog import runge_kutta as runge_kutta
    from .methods._catalog import scheduled as scheduled
    from .methods._catalog import sgd as sgd
    from .methods._catalog import sign_gd as sign_gd
    from .methods._catalog import simultaneous_gd as simultaneous_gd
    from .methods._catalog import usam as usam
    from .methods._catalog import weight_decay as weight_decay
