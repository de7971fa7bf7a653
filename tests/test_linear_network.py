"""Gradient descent on a two-layer linear network: the closed forms of docs/tutorials/linear-network.md.

L = ½‖W₂W₁ − Φ‖²_F (whitened inputs), R = W₂W₁ − Φ. Claims, each checked
against something other than bea's own expansion:

1. L̃ = L + h/4 (‖W₂ᵀR‖² + ‖RW₁ᵀ‖²) + O(h²): bea's modified loss on
   symbolic matrices equals this expression built from the hand-computed
   gradients ∇_{W₁}L = W₂ᵀR, ∇_{W₂}L = RW₁ᵀ.
2. One GD step changes the imbalance D = W₁W₁ᵀ − W₂ᵀW₂ by exactly
   h²(W₂ᵀRRᵀW₂ − W₁RᵀRW₁ᵀ) (the iterates themselves, random matrices; an
   identity of polynomials, so float rounding is the only error).
3. With one input and one output, D⁺ = (1 − h²r²)D exactly, and along the
   first-order modified flow Ḋ = −h r² D (the h¹ part; the h⁰ part, gradient
   flow, conserves D, Arora, Cohen & Hazan 2018).
4. Numerically, the imbalance of the GD iterates at T = 2 differs from the
   gradient flow's by O(h) and from the first-order modified flow's by
   O(h²): fitted slopes 1 and 2 (±0.2).

Reference: Gidel, Bach, Lacoste-Julien, NeurIPS 2019.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import bea

h = bea.h


def _matrices(d, k, m):
    W1 = sp.Matrix(k, d, lambda i, j: sp.Symbol(f"u{i}{j}", real=True))
    W2 = sp.Matrix(m, k, lambda i, j: sp.Symbol(f"v{i}{j}", real=True))
    return W1, W2


def _fro2(M):
    return sum(e**2 for e in M)


def test_modified_loss_closed_form_matrices():
    d, k, m = 2, 2, 1
    W1, W2 = _matrices(d, k, m)
    Phi = sp.Matrix([[1, -2]])
    R = W2 * W1 - Phi
    L = _fro2(R) / 2
    params = [*W1, *W2]
    got = bea.modified_loss(bea.gd(), order=1).on(L, params)
    closed = L + h / 4 * (_fro2(W2.T * R) + _fro2(R * W1.T))
    assert sp.expand(got - closed) == 0


def test_one_step_imbalance_identity_random_matrices():
    rng = np.random.default_rng(0)
    d, k, m, hv = 3, 4, 2, 0.07
    W1, W2 = rng.normal(size=(k, d)), rng.normal(size=(m, k))
    Phi = rng.normal(size=(m, d))
    R = W2 @ W1 - Phi
    W1n, W2n = W1 - hv * W2.T @ R, W2 - hv * R @ W1.T  # one GD step on ½‖R‖²
    D = W1 @ W1.T - W2.T @ W2
    Dn = W1n @ W1n.T - W2n.T @ W2n
    predicted = hv**2 * (W2.T @ R @ R.T @ W2 - W1 @ R.T @ R @ W1.T)
    np.testing.assert_allclose(Dn - D, predicted, rtol=0, atol=1e-13)  # O(10 ε) entries


def test_scalar_output_imbalance_exact():
    a = sp.symbols("a1:3", real=True)
    b = sp.symbols("b1:3", real=True)
    params = [*a, *b]
    r = a[0] * b[0] + a[1] * b[1] - 2
    L = r**2 / 2
    D = sp.Matrix(2, 2, lambda i, j: a[i] * a[j] - b[i] * b[j])
    step = [v - h * sp.diff(L, v) for v in params]
    D_next = sp.Matrix(2, 2, lambda i, j: step[i] * step[j] - step[2 + i] * step[2 + j])
    assert (D_next - (1 - h**2 * r**2) * D).applyfunc(sp.expand) == sp.zeros(2, 2)
    field = bea.modified_equation(bea.gd(), order=1).on(L, params)
    rate = D.applyfunc(lambda e: sp.expand(sum(sp.diff(e, v) * f for v, f in zip(params, field))))
    assert rate.applyfunc(lambda e: e.coeff(h, 0)) == sp.zeros(2, 2)
    assert (rate.applyfunc(lambda e: e.coeff(h, 1)) + r**2 * D).applyfunc(sp.expand) == sp.zeros(
        2, 2
    )
    # L̃ = ½ r² (1 + h/2 (‖a‖² + ‖b‖²))
    ml = bea.modified_loss(bea.gd(), order=1).on(L, params)
    assert sp.expand(ml - r**2 / 2 * (1 + h / 2 * sum(v**2 for v in params))) == 0


def test_imbalance_of_the_iterates_follows_the_modified_flow():
    a = sp.symbols("a1:3", real=True)
    b = sp.symbols("b1:3", real=True)
    params = [*a, *b]
    r = a[0] * b[0] + a[1] * b[1] - 2
    L = r**2 / 2
    grad = sp.lambdify([params], [sp.diff(L, v) for v in params])
    modified = sp.lambdify([params, h], list(bea.modified_equation(bea.gd(), 1).on(L, params)))

    def imbalance(v):
        return np.outer(v[:2], v[:2]) - np.outer(v[2:], v[2:])

    def flow(v, hv, T, steps=3000):  # RK4, error ~ (T/steps)^4 ≈ 2e-13, far below the O(h²)
        v = np.array(v, float)
        dt = T / steps

        def F(u):
            return np.array(modified(u, hv), float)

        for _ in range(steps):
            k1 = F(v)
            k2 = F(v + dt / 2 * k1)
            k3 = F(v + dt / 2 * k2)
            k4 = F(v + dt * k3)
            v = v + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return v

    v0, T = np.array([0.1, 0.8, 1.0, 0.3]), 2.0
    hs = np.array([0.04, 0.02, 0.01])
    gf, mf = [], []
    for hv in hs:
        v = v0.copy()
        for _ in range(round(T / hv)):
            v = v - hv * np.array(grad(v), float)
        gf.append(np.linalg.norm(imbalance(v) - imbalance(v0)))
        mf.append(np.linalg.norm(imbalance(v) - imbalance(flow(v0, hv, T))))
    assert np.polyfit(np.log(hs), np.log(gf), 1)[0] == pytest.approx(1, abs=0.2)
    assert np.polyfit(np.log(hs), np.log(mf), 1)[0] == pytest.approx(2, abs=0.2)
