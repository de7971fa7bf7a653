"""JAX code generation for modified fields and modified losses.

Imports JAX (``bea`` itself does not): use ``import bea.jax``.

Conventions: f = −∇L; f̃ = Σ_t h^{|t|−1} ω(t)/σ(t) F(t) (the modified field);
L̃ = Σ_τ h^{|τ|−1} c(τ) S(τ) (the modified loss, f̃ = −∇L̃ through the
method's gradient order). See ``bea.jax._codegen`` for how they are evaluated
and what they cost.

``approximate_field`` is an APPROXIMATE field for training-time use: the
differences of order + 1 optimizer steps, h f̃ ≈ Σ_{k≤p+1} (−1)^{k+1} Δ^k y / k,
within O(h^{p+1}) of the exact truncated field (see ``bea.jax._approximate``).

Optimizers: ``modifying_optimizer`` runs a method on its modifying field f̂
(h f̂ = Σ_t h^{|t|} β̂(t)/σ(t) F(t), ``bea.modifying_integrator``) so that its
modified flow is a chosen target flow through h^p; ``as_optax`` turns optimizer
programs, explicit Runge–Kutta methods and modifying optimizers into optax
gradient transformations (see ``bea.jax._optimizers``).
"""

from ._approximate import approximate_field as approximate_field
from ._approximate import difference_weights as difference_weights
from ._codegen import modified_field as modified_field
from ._codegen import modified_loss as modified_loss
from ._codegen import module_source as module_source
from ._codegen import plan_cost as plan_cost
from ._optimizers import BeaOptaxState as BeaOptaxState
from ._optimizers import JaxOptimizer as JaxOptimizer
from ._optimizers import ModifyingOptimizer as ModifyingOptimizer
from ._optimizers import as_optax as as_optax
from ._optimizers import modifying_optimizer as modifying_optimizer
