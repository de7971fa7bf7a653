"""Generated optimizers: modifying optimizers follow their target flow; optax reproduces rules."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import bea
import bea.jax
from bea import optimizers as O

jax.config.update("jax_enable_x64", True)


def loss(x):
    """A smooth, non-quadratic 2-D loss (every elementary differential is non-zero)."""
    return 0.5 * x[0] ** 2 + x[1] ** 2 + 0.3 * x[0] ** 2 * x[1] + 0.1 * jnp.cos(x[0] + x[1])


X0 = jnp.array([0.7, -0.4])
grad = jax.grad(loss)


def _target_field(lam, h):
    """f_T = −∇L − 2λh ∇²L∇L: the gradient flow of L + λh‖∇L‖²."""

    def f(x):
        g = grad(x)
        return -g - 2 * lam * h * jax.jvp(grad, (x,), (g,))[1]

    return f


def _flow(f, x, t, substeps):
    """RK4, ``substeps`` steps over [0, t]: error ~ (t/substeps)^4, far below what is measured."""
    dt = t / substeps

    def body(_, y):
        k1 = f(y)
        k2 = f(y + dt / 2 * k1)
        k3 = f(y + dt / 2 * k2)
        k4 = f(y + dt * k3)
        return y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

    return jax.lax.fori_loop(0, substeps, body, x)


def _target(p, lam):
    if lam == 0:
        return None
    return bea.BSeries.from_dict({"[]": 1, "[[]]": -2 * lam}, p + 1)


def _slope(hs, errors):
    return np.polyfit(np.log(hs), np.log(errors), 1)[0]


LAMBDAS = [0, 0.5]


@pytest.mark.parametrize("lam", LAMBDAS, ids=["gradient_flow", "regularised"])
@pytest.mark.parametrize("p", [1, 2])
def test_modifying_optimizer_local_error(p, lam):
    """One step from X0 against the exact target flow over time h: error ~ h^(p+2)."""
    hs = np.array([0.2, 0.1, 0.05, 0.025])
    errors = []
    for h in hs:
        init, update = bea.jax.modifying_optimizer(
            loss, bea.gd(), order=p, target=_target(p, lam), h=h
        )
        x1, _ = update(X0, init(X0))
        exact = _flow(_target_field(lam, h), X0, h, 200)
        errors.append(float(jnp.linalg.norm(x1 - exact)))
    assert abs(_slope(hs, errors) - (p + 2)) < 0.3, errors
    # and the plain method does not follow it (its local error is ~h²)
    if lam == 0:
        plain = X0 - hs[-1] * grad(X0)
        assert float(jnp.linalg.norm(plain - _flow(_target_field(0, hs[-1]), X0, hs[-1], 200))) > (
            10 * errors[-1]
        )


@pytest.mark.parametrize("lam", LAMBDAS, ids=["gradient_flow", "regularised"])
@pytest.mark.parametrize("p", [1, 2])
def test_modifying_optimizer_global_error(p, lam):
    """n = T/h steps against the target flow at T = 1: error ~ h^(p+1)."""
    T = 1.0
    hs = np.array([0.1, 0.05, 0.025, 0.0125])
    errors = []
    for h in hs:
        n = round(T / h)
        mod = bea.jax.modifying_optimizer(loss, bea.gd(), order=p, target=_target(p, lam), h=h)
        x = jax.lax.fori_loop(0, n, lambda _, y, mod=mod: mod.update(y, ())[0], X0)
        exact = _flow(_target_field(lam, h), X0, T, 4000)
        errors.append(float(jnp.linalg.norm(x - exact)))
    assert abs(_slope(hs, errors) - (p + 1)) < 0.3, errors


def test_modifying_optimizer_order_one_is_taylor_step():
    """GD, order 1: x⁺ = x − h∇L + h²/2 ∇²L∇L exactly (the Taylor step of the flow)."""
    h = 0.1
    init, update = bea.jax.modifying_optimizer(loss, bea.gd(), order=1, h=h)
    g = grad(X0)
    expected = X0 - h * g + h**2 / 2 * jax.jvp(grad, (X0,), (g,))[1]
    np.testing.assert_allclose(update(X0, init(X0))[0], expected, rtol=1e-15, atol=1e-16)


def test_modifying_optimizer_with_another_method():
    """Heun with its modifying field (order 3): one step matches the flow to O(h^5)."""
    hs = np.array([0.2, 0.1, 0.05])
    errors = []
    for h in hs:
        init, update = bea.jax.modifying_optimizer(loss, bea.heun(), order=3, h=h)
        x1, _ = update(X0, init(X0))
        errors.append(float(jnp.linalg.norm(x1 - _flow(_target_field(0, h), X0, h, 400))))
    assert abs(_slope(hs, errors) - 5) < 0.3, errors


# ----------------------------------------------------------------------------
# optax
# ----------------------------------------------------------------------------

CASES = {
    "gd": (O.gd(), {}),
    "heavy_ball": (O.heavy_ball(0.5), {}),
    "heavy_ball_symbolic": (O.heavy_ball(), {"beta": 0.5}),
    "nesterov": (O.nesterov(0.5), {}),
    "ema_momentum": (O.ema_momentum(0.5), {}),
    "extragradient": (O.extragradient(), {}),
    "usam": (O.usam(0.5), {}),
    "rk4": (bea.rk4(), {}),
}
NEEDS_LOSS = {"nesterov", "extragradient", "usam", "rk4"}


def _reference(opt, h, values):
    program = O.runge_kutta(opt.A, opt.b) if isinstance(opt, bea.RungeKutta) else opt
    return program.jax(grad, h, **values)


@pytest.mark.parametrize("name", sorted(CASES))
def test_optax_reproduces_iterates(name):
    opt, values = CASES[name]
    h, steps = 0.1, 25
    init, update = _reference(opt, h, values)
    kwargs = {"loss_fn": loss} if name in NEEDS_LOSS else {}
    tx = bea.jax.as_optax(opt, learning_rate=h, **kwargs, **values)
    x, s = X0, init(X0)
    y, state = X0, tx.init(X0)
    tx_update = jax.jit(tx.update)
    for _ in range(steps):
        x, s = update(x, s)
        updates, state = tx_update(grad(y), state, y)
        y = optax.apply_updates(y, updates)
        np.testing.assert_allclose(y, x, rtol=0, atol=1e-13)
    assert float(jnp.linalg.norm(y - X0)) > 0.1  # it moved


@pytest.mark.parametrize("name", sorted(NEEDS_LOSS))
def test_optax_without_loss_is_refused(name):
    opt, values = CASES[name]
    with pytest.raises(ValueError, match="loss_fn=loss"):
        bea.jax.as_optax(opt, 0.1, **values)


def test_optax_modifying_optimizer_reproduces_iterates():
    h = 0.05
    mod = bea.jax.modifying_optimizer(loss, bea.gd(), order=2, h=h)
    init, update = mod
    tx = bea.jax.as_optax(mod)
    x, s = X0, init(X0)
    y, state = X0, tx.init(X0)
    for _ in range(20):
        x, s = update(x, s)
        updates, state = tx.update(grad(y), state, y)
        y = optax.apply_updates(y, updates)
    np.testing.assert_allclose(y, x, rtol=0, atol=1e-13)
    with pytest.raises(ValueError, match="built for h"):
        bea.jax.as_optax(mod, learning_rate=0.1)


def test_optax_extra_args_reach_the_loss():
    """A batch passed as an extra keyword argument is the loss's argument."""

    def batch_loss(x, batch):
        return jnp.sum((x - batch) ** 2)

    tx = bea.jax.as_optax(O.nesterov(0.5), 0.1, loss_fn=batch_loss)
    x = jnp.array([1.0, 2.0])
    batch = jnp.array([0.5, 0.5])
    state = tx.init(x)
    g = jax.grad(batch_loss)(x, batch)
    updates, state = tx.update(g, state, x, batch=batch)
    # first step: x_prev = x, so y = x and x⁺ = x − 0.1·2(x − batch)
    np.testing.assert_allclose(optax.apply_updates(x, updates), x - 0.2 * (x - batch), rtol=1e-15)
    chained = optax.chain(tx, optax.scale(1.0))
    updates, _ = chained.update(g, chained.init(x), x, batch=batch)
    np.testing.assert_allclose(optax.apply_updates(x, updates), x - 0.2 * (x - batch), rtol=1e-15)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_optax_pytree_params_and_dtype(dtype):
    params = {"w": jnp.array([[0.3, -0.2]], dtype), "b": jnp.array([0.1], dtype)}

    def tree_loss(p):
        return jnp.sum(jnp.tanh(p["w"]) ** 2) + jnp.sum(p["b"] ** 4)

    for opt, kwargs in [(O.ema_momentum(0.9), {}), (bea.rk4(), {"loss_fn": tree_loss})]:
        tx = bea.jax.as_optax(opt, 0.1, **kwargs)
        state = tx.init(params)
        p = params
        for _ in range(3):
            updates, state = tx.update(jax.grad(tree_loss)(p), state, p)
            p = optax.apply_updates(p, updates)
        assert all(leaf.dtype == dtype for leaf in jax.tree_util.tree_leaves((p, state)))
    mod = bea.jax.modifying_optimizer(tree_loss, bea.gd(), order=2, h=0.1)
    new, _ = mod.update(params, mod.init(params))
    assert all(leaf.dtype == dtype for leaf in jax.tree_util.tree_leaves(new))


def test_optax_several_losses_are_refused_with_guidance():
    for opt in [O.reshuffled_sgd(3), O.simultaneous_gd(), O.alternating_gd()]:
        with pytest.raises(ValueError, match="one loss"):
            bea.jax.as_optax(opt, 0.1)


def test_bad_input():
    with pytest.raises(ValueError, match="symbolic"):
        bea.jax.as_optax(O.heavy_ball(), 0.1)
    with pytest.raises(ValueError, match="hyperparameters"):
        bea.jax.as_optax(O.gd(), 0.1, beta=0.5)
    with pytest.raises(ValueError, match="implicit"):
        bea.jax.as_optax(bea.implicit_euler(), 0.1, loss_fn=loss)
    with pytest.raises(TypeError, match="optimizer program"):
        bea.jax.as_optax("adam", 0.1)
    with pytest.raises(ValueError, match="positive"):
        bea.jax.as_optax(O.gd(), -0.1)
    with pytest.raises(ValueError, match="learning_rate"):
        bea.jax.as_optax(O.gd())
    with pytest.raises(ValueError, match="order"):
        bea.jax.modifying_optimizer(loss, bea.gd(), order=-1, h=0.1)
