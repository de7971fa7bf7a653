"""Coordinate-wise methods with state start on their invariant manifold in agreement sweeps.

The state maps S_i(x) = Σ_j h^j s_ij(x) come from the coordinate engine
(exact series in h); the oracle is the optimizer's own update rule on arrays:
one step from (x0, S(x0)) must land on the manifold again, s_1 = S(x_1), up
to the truncation of S.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

import bea
import numerics
from numerics._settle import coordinate_state

O = bea.optimizers
x, y = sp.symbols("x y")
LOSS = (x - 2) ** 2 / 2 + (y + 1) ** 2 / 4 + x * y / 10 + x**4 / 12


def _defects(opt, order, hs):
    """max_i ‖s_1,i − S_i(x_1)‖ after one step of the rule from (x0, S(x0)), per h."""
    jax.config.update("jax_enable_x64", True)
    state = coordinate_state(opt, numerics.SympyLoss(LOSS, [x, y]), order)
    grad = sp.lambdify([x, y], [sp.diff(LOSS, v) for v in (x, y)], "jax")

    def g(p):
        return jnp.stack(grad(p[0], p[1]))

    x0 = jnp.array([0.3, -0.2])
    out = []
    for h in hs:
        _, update = opt.jax(g, h)
        x1, s1 = update(x0, state(x0, h))
        out.append(max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(s1, state(x1, h))))
    return np.array(out)


@pytest.mark.parametrize(
    "name, opt",
    [
        ("adam", O.adam(0.5, 0.6, 0.1)),
        ("coupled_decay", O.weight_decay(O.heavy_ball(0.5), 0.5, False)),
    ],
)
@pytest.mark.parametrize("order", [0, 1])
def test_state_maps_are_invariant_under_the_rule(name, opt, order):
    # S is exact through h^{order+1}: the one-step defect is O(h^{order+2}) (a fitted
    # slope within ±0.25; the defect is far above float64 rounding at these h)
    hs = np.array([0.04, 0.02, 0.01])
    d = _defects(opt, order, hs)
    slope = np.polyfit(np.log(hs), np.log(d), 1)[0]
    assert abs(slope - (order + 2)) < 0.25, (name, d, slope)


def test_report_names_the_start():
    jax.config.update("jax_enable_x64", True)
    opt = O.rmsprop(0.5, 0.1)
    kw = dict(orders=(0,), horizon=0.25, step_sizes=[0.02, 0.01, 0.005])
    r = numerics.agreement(opt, numerics.SympyLoss(LOSS, [x, y]), jnp.array([0.3, -0.2]), **kw)
    assert r.start == "manifold (coordinate engine)" and r.transient == 0
    assert r.to_dict()["start"] == r.start and "start: manifold" in r.table()

    def jloss(p):
        return (p[0] - 2) ** 2 / 2 + (p[1] + 1) ** 2 / 4 + p[0] * p[1] / 10 + p[0] ** 4 / 12

    def field(order, h):  # the order-0 field −g/(|g| + ε) of RMSProp on the manifold v = g²
        def f(p):
            g = jax.grad(jloss)(p)
            return -g / (jnp.abs(g) + 0.1)

        return f

    r = numerics.agreement(opt, jloss, jnp.array([0.3, -0.2]), field=field, **kw)
    assert r.start == "transient" and r.transient > 0
    assert any("numerics.SympyLoss" in n for n in r.notes)
