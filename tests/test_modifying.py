"""Modifying integrators: the field that makes a method follow a target flow."""

import pytest
import sympy as sp

import bea
from bea import coordinates as coords

x = sp.Symbol("x")
h = bea.h


def test_gd_modifying_field_matches_the_literature():
    # Explicit Euler (HLW IX.7; Chartier, Hairer, Vilmart 2007):
    # f̂ = f + h/2 f'f + h²/6 (f''(f,f) + f'f'f) + h³/24 (f'''(f,f,f) + 3 f''(f'f,f)
    #     + f'f''(f,f) + f'f'f'f) + O(h⁴)
    mi = bea.modifying_integrator(bea.gd(), order=3)
    expected = {
        "[]": 1,
        "[[]]": sp.Rational(1, 2),
        "[[],[]]": sp.Rational(1, 3),  # ω/σ = 1/6, σ = 2
        "[[[]]]": sp.Rational(1, 6),
        "[[],[],[]]": sp.Rational(1, 4),  # 1/24 · σ = 6
        "[[[]],[]]": sp.Rational(1, 8),
        "[[[],[]]]": sp.Rational(1, 12),  # 1/24 · σ = 2
        "[[[[]]]]": sp.Rational(1, 24),
    }
    for t, v in expected.items():
        assert mi.coefficient(t) == v, t
    assert str(mi).startswith("f̂ = f + h/2 f'f + h²(1/6 f''(f,f) + 1/6 f'f'f)")


@pytest.mark.parametrize("method", [bea.gd(), bea.heun(), bea.rk4(), bea.implicit_midpoint()])
def test_fed_back_through_the_method_it_reproduces_the_exact_flow(method):
    N = 6
    mi = bea.modifying_integrator(method, order=N - 1)
    assert mi.series.substitute(method.bseries(N)) == bea.exact_flow(N)


def test_target_flow_with_a_regulariser_is_reproduced():
    lam = sp.Symbol("lam")
    # gradient flow of L + λ h ‖∇L‖²: f − 2λ h f'f  (f'f = ∇²L∇L for f = −∇L)
    target = bea.BSeries.from_dict({"[]": 1, "[[]]": -2 * lam}, 5)
    mi = bea.modifying_integrator(bea.gd(), order=4, target=target)
    assert mi.coefficient("[[]]") == sp.Rational(1, 2) - 2 * lam
    assert mi.series.substitute(bea.gd().bseries(5)) == target.exp()
    # λ = 0 is the plain gradient flow
    plain = bea.modifying_integrator(bea.gd(), order=4)
    for t, c in plain:
        assert sp.simplify(mi.coefficient(t).subs(lam, 0) - c) == 0


def test_one_gd_step_on_the_modified_field_follows_the_exact_flow_in_coordinates():
    p = 4
    f = sp.Matrix([x**2 + sp.sin(x)])
    fhat = bea.modifying_integrator(bea.gd(), order=p).on(f, [x])
    step = sp.Matrix([x]) + h * fhat
    exact = coords.flow_map(f, [x], h, p + 1)
    diff = sp.expand(sp.series(step[0] - exact[0], h, 0, p + 2).removeO())
    assert diff == 0


def test_bad_targets_are_rejected():
    with pytest.raises(ValueError, match="field B-series"):
        bea.modifying_integrator(bea.gd(), 2, target=bea.exact_flow(3))
    with pytest.raises(ValueError, match="order=3 needs 4"):
        bea.modifying_integrator(bea.gd(), 3, target=bea.BSeries.from_dict({"[]": 1}, 2))
    with pytest.raises(ValueError, match="non-negative"):
        bea.modifying_integrator(bea.gd(), -1)
    with pytest.raises(ValueError, match="one field"):
        bea.modifying_integrator(bea.optimizers.reshuffled_sgd(2), 1)
