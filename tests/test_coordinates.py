"""Tests for the coordinate backend (bea.coordinates._hseries).

Every check compares exact sympy expressions, ``sympy.expand(a - b) == 0``,
against an oracle computed independently: Jacobians and Hessians built with
sympy's own ``diff``, matrix-logarithm series, ``sympy.series``, and the
defining property of the modified field (its time-h flow reproduces the map).
"""

from __future__ import annotations

import random
from fractions import Fraction

import exact_checks
import pytest
import sympy
from exact_checks import is_zero_normal as is_zero
from exact_checks import matrix_is_zero, rk4_points
from hypothesis import given, settings
from hypothesis import strategies as st

from bea.coordinates import _hseries as coords

h = sympy.Symbol("h")
x1, x2 = sympy.symbols("x1 x2")
X2 = [x1, x2]
Y2 = sympy.symbols("y1 y2")


def coefficient(m, k):
    """h^k coefficient of a Matrix whose entries are polynomials in h (this file's h)."""
    return exact_checks.coefficient(m, k, step=h)


def truncate(m, order):
    """Drop powers of h above ``order`` from a Matrix of polynomials in h (this file's h)."""
    return exact_checks.truncate(m, order, step=h)


def gradient(loss, variables):
    return sympy.Matrix([loss.diff(v) for v in variables])


def gradient_at(loss_name, point):
    """nabla L evaluated at ``point`` for an undefined L, built on separate symbols."""
    ys = Y2[: len(point)]
    g = gradient(sympy.Function(loss_name)(*ys), ys)
    return g.subs(list(zip(ys, point, strict=True)))


def second_order_term(f, variables):
    """f''(f, f)_i = sum_jk d_j d_k f_i f_j f_k."""
    d = len(variables)
    return sympy.Matrix(
        [
            sum(
                f[i].diff(variables[j], variables[k]) * f[j] * f[k]
                for j in range(d)
                for k in range(d)
            )
            for i in range(d)
        ]
    )


# --------------------------------------------------------------------------
# gradient descent on a generic loss
# --------------------------------------------------------------------------


@pytest.mark.parametrize("variables", [[x1], X2], ids=["d=1", "d=2"])
def test_gd_generic_loss_first_and_second_order(variables):
    L = sympy.Function("L")(*variables)
    g = gradient(L, variables)
    x = sympy.Matrix(variables)
    ft = coords.modified_field(x - h * g, variables, h, 2)

    f = -g
    J = f.jacobian(variables)
    hessian = sympy.hessian(L, variables)
    assert matrix_is_zero(coefficient(ft, 0) - f)
    assert matrix_is_zero(coefficient(ft, 1) - (-sympy.Rational(1, 2) * hessian * g))
    # f_1 = -1/4 grad |grad L|^2  (implicit gradient regularisation)
    assert matrix_is_zero(coefficient(ft, 1) + gradient((g.T * g)[0], variables) / 4)
    expected_f2 = second_order_term(f, variables) / 12 + J * J * f / 3
    assert matrix_is_zero(coefficient(ft, 2) - expected_f2)


def test_gd_hpoint_route_matches_matrix_route():
    L = sympy.Function("L")(*X2)
    order = 3
    step = coords.gradient_step(L, X2, h, order + 1)
    x = coords.HPoint.identity(X2, h, order + 1)
    from_points = coords.modified_field(x + step(x), X2, h, order)
    from_matrix = coords.modified_field(sympy.Matrix(X2) - h * gradient(L, X2), X2, h, order)
    assert matrix_is_zero(from_points - from_matrix)


def _rk4_matrix(loss_name):
    x = sympy.Matrix(X2)
    k1 = gradient_at(loss_name, x)
    k2 = gradient_at(loss_name, x - h / 2 * k1)
    k3 = gradient_at(loss_name, x - h / 2 * k2)
    k4 = gradient_at(loss_name, x - h * k3)
    return x - h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def test_rk4_is_fourth_order_on_generic_loss():
    # RK4 applied to x' = -grad L: f_1 = f_2 = f_3 = 0 and f_4 != 0.
    L = sympy.Function("L")(*X2)
    ft = coords.modified_field(rk4_points(L, X2, 5, step=h), X2, h, 4)
    assert matrix_is_zero(coefficient(ft, 0) + gradient(L, X2))
    for k in (1, 2, 3):
        assert matrix_is_zero(coefficient(ft, k))
    assert not matrix_is_zero(coefficient(ft, 4))


def test_rk4_expand_in_h_route_matches_points():
    # Non-polynomial map (nested evaluations of an undefined L) through expand_in_h.
    L = sympy.Function("L")(*X2)
    from_matrix = coords.modified_field(_rk4_matrix("L"), X2, h, 4)
    from_points = coords.modified_field(rk4_points(L, X2, 5, step=h), X2, h, 4)
    assert matrix_is_zero(from_matrix - from_points)


def test_extragradient_expand_in_h_matches_points():
    L = sympy.Function("L")(*X2)
    x = sympy.Matrix(X2)
    phi = x - h * gradient_at("L", x - h * gradient(L, X2))
    step = coords.gradient_step(L, X2, h, 4)
    p = coords.HPoint.identity(X2, h, 4)
    assert matrix_is_zero(
        coords.modified_field(phi, X2, h, 3)
        - coords.modified_field(p + step(p + step(p)), X2, h, 3)
    )


# --------------------------------------------------------------------------
# linear field: closed-form matrix logarithm
# --------------------------------------------------------------------------


def test_explicit_euler_on_linear_field_is_matrix_log():
    A = sympy.Matrix([[1, 2], [-3, 4]])
    x = sympy.Matrix(X2)
    order = 5
    ft = coords.modified_field((sympy.eye(2) + h * A) * x, X2, h, order)
    # (1/h) log(I + hA) x = sum_{k>=1} (-1)^{k+1} h^{k-1} A^k x / k
    expected = sympy.zeros(2, 1)
    for k in range(1, order + 2):
        expected += sympy.Rational((-1) ** (k + 1), k) * h ** (k - 1) * A**k * x
    assert matrix_is_zero(ft - expected)


def test_quadratic_loss_gd_closed_form():
    # GD on L = x^T A x / 2 is explicit Euler on f = -A x: (1/h) log(I - hA) x.
    A = sympy.Matrix([[2, 1], [1, 3]])
    x = sympy.Matrix(X2)
    L = (x.T * A * x)[0] / 2
    ft = coords.modified_field(x - h * gradient(L, X2), X2, h, 3)
    expected = sum(
        (-sympy.Rational(1, k) * h ** (k - 1) * A**k * x for k in range(1, 5)),
        sympy.zeros(2, 1),
    )
    assert matrix_is_zero(ft - expected)


# --------------------------------------------------------------------------
# round trip and the flow property
# --------------------------------------------------------------------------


def _random_polynomial_field(rng, variables, degree, h_degree):
    monomials = (
        [x1**a * x2**b for a in range(degree + 1) for b in range(degree + 1 - a)]
        if len(variables) == 2
        else [variables[0] ** a for a in range(degree + 1)]
    )
    return sympy.Matrix(
        [
            sum(rng.randint(-3, 3) * h**j * m for j in range(h_degree + 1) for m in monomials)
            for _ in variables
        ]
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_round_trip_flow_then_modified_field(seed):
    rng = random.Random(seed)
    g = _random_polynomial_field(rng, X2, degree=2, h_degree=1)
    order = 3
    phi = coords.flow_map(g, X2, h, order + 1)
    assert matrix_is_zero(coords.modified_field(phi, X2, h, order) - truncate(g, order))


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(-4, 4), min_size=4, max_size=4), st.integers(0, 3))
def test_round_trip_one_dimensional(coeffs, order):
    x = x1
    g = sympy.Matrix([sum(c * x**k for k, c in enumerate(coeffs[:3])) + coeffs[3] * h * x])
    phi = coords.flow_map(g, [x], h, order + 1)
    assert matrix_is_zero(coords.modified_field(phi, [x], h, order) - truncate(g, order))


def test_flow_map_of_linear_field_is_exponential():
    A = sympy.Matrix([[0, 1], [-1, 0]])
    x = sympy.Matrix(X2)
    phi = coords.flow_map(A * x, X2, h, 4)
    expected = sum((h**k / sympy.factorial(k) * A**k * x for k in range(5)), sympy.zeros(2, 1))
    assert matrix_is_zero(phi - expected)


@pytest.mark.parametrize(
    "loss",
    [
        sympy.exp(x1) + sympy.log(1 + x2**2),
        sympy.sin(x1) * sympy.cos(x2),
    ],
    ids=["exp-log", "trig"],
)
def test_concrete_loss_flow_reproduces_gd(loss):
    order = 3
    x = sympy.Matrix(X2)
    phi = x - h * gradient(loss, X2)
    ft = coords.modified_field(phi, X2, h, order)
    # flow of the truncated modified field minus the map is O(h^(order+2))
    flow = coords.flow_map(ft, X2, h, order + 1)
    assert matrix_is_zero(flow - phi)
    # and the first neglected term of the field is genuinely needed
    flow_more = coords.flow_map(ft, X2, h, order + 2)
    assert not matrix_is_zero(coefficient(flow_more - phi, order + 2))


# --------------------------------------------------------------------------
# taylor_at, expand_in_h, HPoint
# --------------------------------------------------------------------------


def test_taylor_at_concrete_matches_sympy_series():
    expr = sympy.exp(x1) * sympy.sin(x2) + sympy.log(1 + x1**2)
    shift = [h - 2 * h**2, 3 * h]
    got = coords.taylor_at(expr, X2, shift, h, 4)
    oracle = sympy.series(expr.subs({x1: x1 + shift[0], x2: x2 + shift[1]}), h, 0, 5).removeO()
    assert is_zero(got - oracle)


def test_taylor_at_undefined_function():
    L = sympy.Function("L")(*X2)
    a, b = sympy.symbols("a b")
    got = coords.taylor_at(L, X2, [a * h, b * h**2], h, 2)
    expected = L + h * a * L.diff(x1) + h**2 * (b * L.diff(x2) + a**2 * L.diff(x1, 2) / 2)
    assert is_zero(got - expected)
    assert got.has(sympy.Derivative)


def test_taylor_at_polynomial_in_h_expression():
    got = coords.taylor_at(h * x1**2 + x2, X2, [h, h**2], h, 3)
    expected = h * (x1 + h) ** 2 + x2 + h**2
    assert is_zero(got - truncate(sympy.Matrix([expected]), 3)[0])


def test_expand_in_h_matches_sympy_series():
    expr = sympy.exp(sympy.sin(h * x1)) / (1 + h * x2) + sympy.sqrt(1 + h) * sympy.cos(x1 + h**2)
    got = coords.expand_in_h(expr, h, 4)
    assert is_zero(got - sympy.series(expr, h, 0, 5).removeO())


def test_expand_in_h_undefined_function_nested():
    L = sympy.Function("L")
    g = sympy.Function("g")(x1)
    got = coords.expand_in_h(L(x1 - h * g), h, 2)
    expected = L(x1) - h * g * L(x1).diff(x1) + h**2 * g**2 * L(x1).diff(x1, 2) / 2
    assert is_zero(got - expected)


def test_hpoint_arithmetic_and_exact_scalars():
    p = coords.HPoint.identity(X2, h, 2)
    q = coords.HPoint.from_expressions([x1 + h, x2 * (1 + h) ** 3], X2, h, 2)
    r = 0.5 * p + Fraction(1, 3) * (q - p) - sympy.Symbol("beta") * h * p / 2
    m = r.to_matrix()
    beta = sympy.Symbol("beta")
    expected0 = x1 / 2 + h / 3 - beta * h * x1 / 2
    expected1 = x2 / 2 + (3 * h + 3 * h**2) * x2 / 3 - beta * h * x2 / 2
    assert is_zero(m[0] - expected0)
    assert is_zero(m[1] - expected1)
    assert not m.has(sympy.Float)


def test_hpoint_evaluate_apply_and_product():
    q = coords.HPoint.from_expressions([x1 + h * x2, 1 + h], X2, h, 3)
    value = q.evaluate(sympy.exp(x1) * x2)
    oracle = sympy.series(sympy.exp(x1 + h * x2) * (1 + h), h, 0, 4).removeO()
    assert is_zero(value - oracle)
    root = q.apply(sympy.sqrt).to_matrix()
    assert is_zero(root[1] - sympy.series(sympy.sqrt(1 + h), h, 0, 4).removeO())
    squared = (q * q).to_matrix()
    assert is_zero(squared[1] - (1 + 2 * h + h**2))


def test_float_input_read_as_decimal():
    ft = coords.modified_field(sympy.Matrix([x1 - 0.1 * h * x1]), [x1], h, 1)
    assert not ft.has(sympy.Float)
    assert is_zero(ft[0] - (-x1 / 10 - h * x1 / 200))


# --------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------


def test_non_identity_map_rejected():
    with pytest.raises(ValueError, match=r"x \+ O\(h\)") as info:
        coords.modified_field(sympy.Matrix([2 * x1 + h, x2]), X2, h, 2)
    assert "2*x1" in str(info.value)
    assert "identity" in str(info.value)


def test_negative_or_non_int_order_rejected():
    with pytest.raises(ValueError, match="non-negative int, got -1"):
        coords.modified_field(sympy.Matrix([x1 - h]), [x1], h, -1)
    with pytest.raises(ValueError, match="non-negative int"):
        coords.modified_field(sympy.Matrix([x1 - h]), [x1], h, 2.0)


def test_duplicate_variables_rejected():
    with pytest.raises(ValueError, match=r"distinct variables.*x1"):
        coords.modified_field(sympy.Matrix([x1 - h, x1]), [x1, x1], h, 1)
    with pytest.raises(ValueError, match="Symbols"):
        coords.modified_field(sympy.Matrix([x1 - h]), [x1 + 1], h, 1)


def test_wrong_shape_rejected():
    with pytest.raises(ValueError, match=r"shape \(2, 1\)"):
        coords.modified_field(sympy.Matrix([[x1, x2], [x1, x2]]), X2, h, 1)
    with pytest.raises(ValueError, match="2 entries"):
        coords.modified_field([x1], X2, h, 1)


def test_taylor_at_bad_shift_rejected():
    with pytest.raises(ValueError, match=r"O\(h\)"):
        coords.taylor_at(x1**2, [x1], [1 + h], h, 2)
    with pytest.raises(ValueError, match="polynomial in h"):
        coords.taylor_at(sympy.exp(h) * x1, [x1], [h], h, 2)


def test_hpoint_rejects_variable_dependent_scalar():
    p = coords.HPoint.identity(X2, h, 1)
    with pytest.raises(ValueError, match="free of the variables"):
        _ = x1 * p


@pytest.mark.slow
def test_gd_generic_loss_flow_property_order_four():
    L = sympy.Function("L")(*X2)
    x = sympy.Matrix(X2)
    phi = x - h * gradient(L, X2)
    ft = coords.modified_field(phi, X2, h, 4)
    assert matrix_is_zero(coords.flow_map(ft, X2, h, 5) - phi)
