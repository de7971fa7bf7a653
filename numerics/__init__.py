"""numerics: numerical validation of modified equations (trajectory agreement).

Iterate an optimizer in JAX (float64), integrate its truncated modified flows
with diffrax, sweep the step size h at a fixed horizon T = n·h and fit the
order of agreement: the flow of the modified field through h^p must match the
iterates to O(h^{p+1}). An mpmath path checks orders where float64 has no
room; sweeps shard over devices with ``jax.shard_map``. One compiled kernel per
problem and set of orders serves every step size and horizon; compiled
kernels persist across processes in JAX's compilation cache (``<user
cache>/bea/jax``; ``BEA_JAX_CACHE=0`` switches it off, see
``numerics.enable_persistent_cache``).

Conventions: f = −∇L; f̃_p = Σ_{|t| ≤ p+1} h^{|t|−1} ω(t)/σ(t) F(t) with ω
from ``bea.modified_equation(method, p)``.

Importing ``numerics`` is light: every public name below loads its module
(and with it JAX, and sympy for the symbolic problems) on first use, so
``import numerics`` costs no more than Python's start. The names and their
modules are listed once in ``_EXPORTS``; the ``TYPE_CHECKING`` block repeats
them as plain re-exports for type checkers (a test keeps the two equal).
``bea`` itself never imports JAX.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "enable_persistent_cache": "._compile",
    "persistent_cache_dir": "._compile",
    "Problem": "._fields",
    "SympyLoss": "._fields",
    "make_problem": "._fields",
    "tree_field": "._fields",
    "digits_mlp": "._models",
    "tanh_regression": "._models",
    "agreement_mp": "._mp",
    "gbs_solve": "._mp",
    "Failure": "._report",
    "Report": "._report",
    "fit_slope": "._report",
    "agreement": "._sweep",
    "estimate_lambda_max": "._sweep",
    "linear_multipliers": "._sweep",
    "WeakReport": "._weak",
    "weak_agreement": "._weak",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'numerics' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from ._compile import enable_persistent_cache as enable_persistent_cache
    from ._compile import persistent_cache_dir as persistent_cache_dir
    from ._fields import Problem as Problem
    from ._fields import SympyLoss as SympyLoss
    from ._fields import make_problem as make_problem
    from ._fields import tree_field as tree_field
    from ._models import digits_mlp as digits_mlp
    from ._models import tanh_regression as tanh_regression
    from ._mp import agreement_mp as agreement_mp
    from ._mp import gbs_solve as gbs_solve
    from ._report import Failure as Failure
    from ._report import Report as Report
    from ._report import fit_slope as fit_slope
    from ._sweep import agreement as agreement
    from ._sweep import estimate_lambda_max as estimate_lambda_max
    from ._sweep import linear_multipliers as linear_multipliers
    from ._weak import WeakReport as WeakReport
    from ._weak import weak_agreement as weak_agreement
