"""The pointwise expansion of a coordinate-wise rule with state equals the symbolic engine's."""

import pytest
import sympy as sp

import bea
from bea.coordinates._pointwise import pointwise_field, pointwise_map

O = bea.optimizers
R = sp.Rational
x, y = sp.symbols("x y")
LOSS = (x - 2) ** 2 / 2 + (y + 1) ** 2 / 4 + x * y / 10 + x**4 / 12
POINT = [R(1, 3), R(-1, 5)]


@pytest.mark.parametrize(
    "opt",
    [O.rmsprop(R(1, 2), R(1, 10)), O.adam(R(1, 2), R(3, 5), R(1, 10)), O.lion(R(1, 2), R(3, 5))],
    ids=["rmsprop", "adam", "lion"],
)
def test_pointwise_field_equals_the_coordinate_engine(opt):
    # oracle: bea.modified_equation(opt, 1).on(L, vars), derived symbolically, at the point
    f0, f1 = pointwise_field(opt, LOSS, [x, y], POINT)
    ref = bea.modified_equation(opt, 1).on(LOSS, [x, y]).subs({x: POINT[0], y: POINT[1]})
    for r in range(2):
        assert sp.radsimp(sp.expand(ref[r] - f0[r] - bea.h * f1[r])) == 0


def test_stationary_state_and_map():
    # Adam at ε = 0 in 1-D on L = x²/2 + x: m = g, v = g², Φ(x) = x − hσ exactly at h¹
    (rows,), states = pointwise_map(O.adam(R(1, 2), R(1, 2), 0), x**2 / 2 + x, [x], [R(1, 2)])
    assert states == [[R(3, 2)], [R(9, 4)]] and rows[0][1] == -1


def test_rules_outside_the_pointwise_form_are_refused():
    with pytest.raises(ValueError, match="h² term of the update depends"):
        pointwise_field(O.weight_decay(O.heavy_ball(R(1, 2)), R(1, 2), False), LOSS, [x, y], POINT)
    with pytest.raises(ValueError, match="no state"):
        pointwise_field(O.sign_gd(), LOSS, [x, y], POINT)
