"""Muon on a 2×2 parameter: as an optax transformation, and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bea
import bea.jax

A = jnp.array([[1.0, 0.3], [-0.2, 2.0]])


def loss(w):
    W = w.reshape(2, 2)
    return jnp.sum((W - A) ** 2) / 2 + jnp.sum(W**4) / 12


def test_muon_as_optax_matches_the_rule():
    jax.config.update("jax_enable_x64", True)
    opt = bea.optimizers.muon((2, 2))
    tx = bea.jax.as_optax(opt, 0.02)
    init, update = opt.jax(jax.grad(loss), 0.02)
    w = q = jnp.array([0.4, 0.2, 0.1, 0.9])
    state, s = tx.init(w), init(q)
    for _ in range(3):
        u, state = tx.update(jax.grad(loss)(w), state, w)
        w = w + u
        q, s = update(q, s)
    np.testing.assert_allclose(np.asarray(w), np.asarray(q), rtol=0, atol=1e-12)


def test_muon_bad_input():
    with pytest.raises(ValueError, match="matrix parameter"):
        bea.optimizers.muon((4,))
    with pytest.raises(ValueError, match="matrix parameter"):
        bea.optimizers.muon((1, 3))
    with pytest.raises(ValueError, match="closed form"):
        bea.optimizers.muon((3, 3), polar=True)
    with pytest.raises(ValueError, match="ns_steps"):
        bea.optimizers.muon((2, 2), ns_steps=0)
