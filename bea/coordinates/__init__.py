"""The coordinate backend: modified equations of one-step maps written in coordinates.

An independent derivation that works directly with sympy in a fixed dimension
d: expand a one-step map Φ_h(x) in h and solve the Lie-series equation for the
modified field f̃ = f_0 + h f_1 + … order by order, so that the exact time-h
flow of f̃ (truncated after h^p) matches Φ_h to O(h^{p+2}). It cross-checks the
tree engine and analyses maps that are not B-series (coordinate-wise
optimizers).

* ``modified_field`` — f̃ of a map given as a sympy Matrix in x and h.
* ``flow_map`` — the truncated time-h flow of a field.
* ``taylor_at``, ``expand_in_h`` — exact expansions in h.
* ``coordinate_modified_equation``, ``underlying_map`` — the same for
  optimizer update rules (``bea.Optimizer``), methods with memory included.
* ``HPoint``, ``gradient_step`` — points whose coordinates are
  truncated series in h, on which optimizer update rules run.
"""

from ._hseries import HPoint as HPoint
from ._hseries import expand_in_h as expand_in_h
from ._hseries import flow_map as flow_map
from ._hseries import gradient_step as gradient_step
from ._hseries import modified_field as modified_field
from ._hseries import taylor_at as taylor_at
from ._programs import coordinate_modified_equation as coordinate_modified_equation
from ._programs import underlying_map as underlying_map
