"""Small test problems: a 50-parameter tanh regression and an MLP on scikit-learn digits."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["digits_mlp", "tanh_regression"]


def tanh_regression(n_params: int = 50, n_samples: int = 40, seed: int = 0):
    """Least squares of a tanh model: L(w) = 1/(2N) Σ_i (tanh(x_i·w) − y_i)².

    Inputs x_i ~ N(0, I/n_params), targets from a random teacher plus noise.
    Returns ``(loss_fn, w0)`` with w0 of shape (n_params,), float64.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_params)) / np.sqrt(n_params)
    teacher = rng.normal(size=n_params)
    y = np.tanh(X @ teacher) + 0.1 * rng.normal(size=n_samples)
    X, y = jnp.asarray(X), jnp.asarray(y)

    def loss_fn(w):
        return 0.5 * jnp.mean((jnp.tanh(X @ w) - y) ** 2)

    w0 = jnp.asarray(rng.normal(size=n_params))
    return loss_fn, w0


def digits_mlp(n_samples: int = 64, width: int = 8, n_inputs: int = 16, seed: int = 0):
    """A one-hidden-layer tanh MLP with softmax cross-entropy on scikit-learn's digits.

    The 8×8 images (``sklearn.datasets.load_digits``, bundled, no download) are
    scaled to [0, 1] and average-pooled to 4×4 = 16 inputs (``n_inputs=64``
    keeps full resolution); the first ``n_samples`` are used. Parameters
    ``{"W1", "b1", "W2", "b2"}`` with Glorot-scaled random weights.
    Returns ``(loss_fn, params0)``.
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    X = data.images[:n_samples] / 16.0
    if n_inputs == 16:
        X = X.reshape(n_samples, 4, 2, 4, 2).mean(axis=(2, 4))
    elif n_inputs != 64:
        raise ValueError(f"n_inputs must be 16 (pooled) or 64 (full images), got {n_inputs}")
    X = jnp.asarray(X.reshape(n_samples, -1))
    labels = jnp.asarray(data.target[:n_samples])
    rng = np.random.default_rng(seed)
    params0 = {
        "W1": jnp.asarray(rng.normal(size=(X.shape[1], width)) / np.sqrt(X.shape[1])),
        "b1": jnp.zeros(width),
        "W2": jnp.asarray(rng.normal(size=(width, 10)) / np.sqrt(width)),
        "b2": jnp.zeros(10),
    }

    def loss_fn(p):
        hidden = jnp.tanh(X @ p["W1"] + p["b1"])
        logits = hidden @ p["W2"] + p["b2"]
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))

    return loss_fn, params0
