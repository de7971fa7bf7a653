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

Importing ``numerics`` imports JAX; ``bea`` itself does not.
"""

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
