"""Every catalog optimizer runs as an optax transformation and in numerics.agreement."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import sympy as sp

import bea
import bea.jax
import numerics

O = bea.optimizers
x, y = sp.symbols("x y")
LOSS = x**4 / 4 + x * y / 2 + y**2 / 2 + x


def jloss(p):
    return p[0] ** 4 / 4 + p[0] * p[1] / 2 + p[1] ** 2 / 2 + p[0]


#: every one-loss catalog entry (several-loss rules are refused by optax, see test_jax_optimizers)
CATALOG = {
    "gd": lambda: O.gd(),
    "gd_schedule": lambda: O.gd(schedule=1 / (1 + bea.t)),
    "heavy_ball": lambda: O.heavy_ball(0.5),
    "ema_momentum": lambda: O.ema_momentum(0.5),
    "nesterov": lambda: O.nesterov(0.5),
    "heavy_ball_schedule": lambda: O.heavy_ball(beta=(1 + bea.t) / 2),
    "extragradient": lambda: O.extragradient(),
    "usam": lambda: O.usam(0.5),
    "runge_kutta": lambda: O.runge_kutta([[0, 0], [1, 0]], [0.5, 0.5]),
    "sign_gd": lambda: O.sign_gd(),
    "rmsprop": lambda: O.rmsprop(0.5, 0.1),
    "adam": lambda: O.adam(0.5, 0.6, 0.1),
    "adam_bias_correction": lambda: O.adam(0.5, 0.6, 0.1, bias_correction=True),
    "adamw": lambda: O.weight_decay(O.adam(0.5, 0.6, 0.1), 0.5),
    "heavy_ball_coupled_decay": lambda: O.weight_decay(O.heavy_ball(0.5), 0.5, decoupled=False),
    "lion": lambda: O.lion(0.5, 0.6),
    "lion_decay": lambda: O.lion(0.5, 0.6, 0.3),
    "normalized_sam": lambda: O.normalized_sam(0.5),
    "normalized_gd": lambda: O.normalized_gd(),
    "normalized_gd_schedule": lambda: O.normalized_gd(1 / (1 + bea.t)),
}


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_as_optax_reproduces_the_rule(name):
    opt = CATALOG[name]()
    tx = bea.jax.as_optax(opt, 0.05, loss_fn=jloss)
    assert isinstance(tx, optax.GradientTransformationExtraArgs)
    p = jnp.array([0.7, -0.4])
    state = tx.init(p)
    init, update = opt.jax(jax.grad(jloss), 0.05)
    q = jnp.array([0.7, -0.4])
    s = init(q)
    for _ in range(4):
        u, state = tx.update(jax.grad(jloss)(p), state, p)
        p = optax.apply_updates(p, u)
        q, s = update(q, s)
    np.testing.assert_allclose(np.asarray(p), np.asarray(q), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["adam", "rmsprop", "sign_gd"])
def test_coordinatewise_as_optax_without_a_loss(name):
    # the reproducer: as_optax(adam(0.9, 0.999, 1e-8), 0.05) raised a TypeError
    opt = {"adam": O.adam(0.9, 0.999, 1e-8), "rmsprop": O.rmsprop(0.9, 1e-8)}.get(name, O.sign_gd())
    tx = bea.jax.as_optax(opt, 0.05)
    assert isinstance(tx, optax.GradientTransformation)
    params = {"w": jnp.array([1.0, -2.0]), "b": jnp.array(0.5)}
    state = tx.init(params)
    grads = jax.tree_util.tree_map(lambda a: 2 * a, params)
    updates, state = tx.update(grads, state, params)
    if name == "sign_gd":
        np.testing.assert_allclose(updates["w"], [-0.05, 0.05])
    assert jax.tree_util.tree_structure(updates) == jax.tree_util.tree_structure(params)


def test_lookahead_coordinatewise_rule_needs_the_loss():
    with pytest.raises(ValueError, match="loss_fn"):
        bea.jax.as_optax(O.normalized_sam(0.5), 0.05)


#: slope 1 at order 0 and 2 at order 1; translations and affine maps are exact (errors at
#: rounding); schedules have non-autonomous flows (checked in test_training_numerics.py)
EXACT = {"sign_gd", "lion"}
AGREEMENT = sorted(
    set(CATALOG) - {"gd_schedule", "heavy_ball_schedule", "normalized_gd_schedule", "lion_decay"}
)


@pytest.mark.parametrize(
    "name",
    [n if n == "normalized_gd" else pytest.param(n, marks=pytest.mark.slow) for n in AGREEMENT],
)
def test_agreement(name):
    jax.config.update("jax_enable_x64", True)
    opt = CATALOG[name]()
    # a quadratic on which no gradient coordinate changes sign over the run (signs
    # constant: the regime of the coordinate-wise analysis)
    problem = numerics.SympyLoss((x - 2) ** 2 / 2 + (y + 1) ** 2 / 4 + x * y / 10, [x, y])
    r = numerics.agreement(
        opt,
        problem,
        jnp.array([0.0, 0.0]),
        orders=(0, 1),
        horizon=0.5,
        step_sizes=[0.01, 0.005, 0.0025, 0.00125],
    )
    if name in EXACT:
        # the modified equation is exact: only rounding remains (tolerance: 1e3·ε·scale)
        assert all(np.all(np.asarray(r.errors[p]) < 1e-11) for p in (0, 1))
    else:
        assert abs(r.slopes[1] - 2) < 0.25, r.table()
