"""Modified equations of Runge–Kutta methods, checked against independent oracles.

Convention: h f̃ = Σ_t h^{|t|} ω(t)/σ(t) F(t); ``modified_equation(method,
order=p)`` knows the trees with at most p + 1 nodes, and the exact time-h flow
of f̃ then matches one step of the method up to O(h^{p+2}).

The oracle below is written from scratch with sympy: the time-h flow of an
autonomous field by its Taylor series, and one Runge–Kutta step expanded in h
by fixed-point iteration on truncated Taylor polynomials.
"""

from __future__ import annotations

import math

import pytest
import sympy as sp

import bea

x, y, h = sp.symbols("x y h")


# ----------------------------------------------------------------------------
# The oracle (independent of bea)
# ----------------------------------------------------------------------------


def truncate(expr: sp.Expr, K: int) -> sp.Expr:
    """The polynomial part of degree ≤ K in h of ``expr`` (a polynomial in h)."""
    e = sp.expand(expr)
    return sp.Add(*[e.coeff(h, k) * h**k for k in range(K + 1)])


def jacobian_times(v: list[sp.Expr], g: list[sp.Expr], xs) -> list[sp.Expr]:
    """(∂v/∂x) g."""
    return [sum(sp.diff(vi, xj) * gj for xj, gj in zip(xs, g)) for vi in v]


def flow(g: list[sp.Expr], xs, K: int) -> list[sp.Expr]:
    """Time-h flow of x' = g(x, h), truncated at h^K.

    φ_h(x) = x + Σ_{k=1}^{K} h^k/k! (D_g^{k-1} g)(x), D_g v = (∂v/∂x) g.
    """
    out = list(xs)
    term = list(g)
    for k in range(1, K + 1):
        out = [o + h**k / math.factorial(k) * tk for o, tk in zip(out, term)]
        if k < K:
            term = [truncate(c, K - k - 1) for c in jacobian_times(term, g, xs)]
    return [truncate(o, K) for o in out]


def shifted(expr: sp.Expr, xs, deltas, K: int) -> sp.Expr:
    """expr(x + δ) by Taylor's formula, truncated at h^K (each δ_i is O(h))."""
    ds = sp.symbols(f"d0:{len(xs)}")
    total, term = expr, expr
    for m in range(1, K + 1):
        term = sum(d * sp.diff(term, xi) for d, xi in zip(ds, xs)) / m
        total += term
    return truncate(total.subs(dict(zip(ds, deltas)), simultaneous=True), K)


def rk_step(A, b, f: list[sp.Expr], xs, K: int) -> list[sp.Expr]:
    """One step x + h Σ b_i f(Y_i), Y_i = x + h Σ_j a_ij f(Y_j), truncated at h^K."""
    s = len(b)
    stages = [[sp.Integer(0)] * len(xs) for _ in range(s)]  # Y_i − x
    for _ in range(K + 1):  # each sweep fixes one more power of h
        fy = [[shifted(fc, xs, st_, K) for fc in f] for st_ in stages]
        stages = [
            [truncate(h * sum(A[i][j] * fy[j][c] for j in range(s)), K) for c in range(len(xs))]
            for i in range(s)
        ]
    fy = [[shifted(fc, xs, st_, K) for fc in f] for st_ in stages]
    return [truncate(xc + h * sum(b[i] * fy[i][c] for i in range(s)), K) for c, xc in enumerate(xs)]


def defect(method, A, b, f, xs, p: int, field=None) -> list[sp.Expr]:
    """Coefficients of h^0..h^{p+1} in (flow of f̃) − (method step): all 0 if f̃ is right."""
    K = p + 1
    ft = bea.modified_equation(method, order=p).on(f if field is None else field, xs, h=h)
    diff = [sp.expand(a - c) for a, c in zip(flow(list(ft), xs, K), rk_step(A, b, f, xs, K))]
    return [sp.expand(d.coeff(h, k)) for d in diff for k in range(K + 1)]


HALF = sp.Rational(1, 2)
TABLEAUX = {
    "gd": (bea.gd, [[0]], [1]),
    "heun": (bea.heun, [[0, 0], [1, 0]], [HALF, HALF]),
    "explicit_midpoint": (bea.explicit_midpoint, [[0, 0], [HALF, 0]], [0, 1]),
    "rk4": (
        bea.rk4,
        [[0, 0, 0, 0], [HALF, 0, 0, 0], [0, HALF, 0, 0], [0, 0, 1, 0]],
        [sp.Rational(1, 6), sp.Rational(1, 3), sp.Rational(1, 3), sp.Rational(1, 6)],
    ),
    "implicit_midpoint": (bea.implicit_midpoint, [[HALF]], [1]),
    "implicit_euler": (bea.implicit_euler, [[1]], [1]),
}

LOSS = x**4 / 4 + x * y**2 + y**2 / 2
FIELDS_1D = {"quadratic": [x**2 + 1]}
FIELDS_2D = {
    "trigonometric": [sp.sin(y), x * y],
    "polynomial": [x * y + 1, x**2 - y],
    "gradient": [-sp.diff(LOSS, x), -sp.diff(LOSS, y)],
}

CASES = [
    ("gd", "quadratic", 4),
    ("gd", "trigonometric", 3),
    ("gd", "polynomial", 3),
    ("gd", "gradient", 3),
    ("heun", "quadratic", 4),
    ("heun", "polynomial", 3),
    ("explicit_midpoint", "trigonometric", 2),
    ("rk4", "quadratic", 5),
    ("implicit_midpoint", "quadratic", 3),
    ("implicit_midpoint", "polynomial", 2),
    ("implicit_euler", "quadratic", 3),
]


@pytest.mark.parametrize(("name", "field", "p"), CASES)
def test_flow_of_modified_field_matches_the_step(name, field, p):
    make, A, b = TABLEAUX[name]
    f = {**FIELDS_1D, **FIELDS_2D}[field]
    xs = [x] if len(f) == 1 else [x, y]
    assert all(c == 0 for c in defect(make(), A, b, f, xs, p))


def test_loss_input_gives_the_field_minus_gradient():
    _, A, b = TABLEAUX["gd"]
    f = FIELDS_2D["gradient"]
    assert all(c == 0 for c in defect(bea.gd(), A, b, f, [x, y], 3, field=LOSS))


def test_oracle_detects_a_wrong_order():
    # the order-1 field is not enough at h^3: the oracle must see a non-zero defect
    _, A, b = TABLEAUX["gd"]
    f = FIELDS_1D["quadratic"]
    ft = bea.modified_equation(bea.gd(), order=1).on(f, [x], h=h)
    d = sp.expand(flow(list(ft), [x], 3)[0] - rk_step(A, b, f, [x], 3)[0])
    assert [d.coeff(h, k) for k in range(3)] == [0, 0, 0]
    assert d.coeff(h, 3) != 0


# ----------------------------------------------------------------------------
# Linear fields: closed forms
# ----------------------------------------------------------------------------

MAT = sp.Matrix([[1, 2], [-3, 4]])


def matrix_log_series(X: sp.Matrix, K: int) -> sp.Matrix:
    """log(I + X) = Σ_{k≥1} (−1)^{k+1} X^k / k, truncated at h^K (X = O(h))."""
    out = sp.zeros(*X.shape)
    P = sp.eye(X.shape[0])
    for k in range(1, K + 1):
        P = (P * X).applyfunc(lambda e: truncate(e, K))
        out += (-1) ** (k + 1) * P / k
    return out.applyfunc(lambda e: truncate(e, K))


def test_gd_on_a_linear_field_is_the_matrix_logarithm():
    xs = sp.Matrix([x, y])
    order = 6
    ft = bea.modified_equation(bea.gd(), order=order).on(MAT * xs, [x, y], h=h)
    # f̃ = (1/h) log(I + hA) x = Σ_{k≥1} (−1)^{k+1} h^{k−1} A^k x / k, through h^6
    expected = sum(
        ((-1) ** (k + 1) * h ** (k - 1) * MAT**k / k for k in range(1, order + 2)),
        sp.zeros(2, 2),
    )
    assert (ft - expected * xs).applyfunc(sp.expand) == sp.zeros(2, 1)


def test_gd_on_a_quadratic_loss_is_the_matrix_logarithm():
    # L = ½ xᵀQx, f = −Qx, GD step I − hQ: f̃ = (1/h) log(I − hQ) x
    Q = sp.Matrix([[2, 1], [1, 3]])
    xs = sp.Matrix([x, y])
    loss = (xs.T * Q * xs)[0] / 2
    order = 5
    ft = bea.modified_equation(bea.gd(), order=order).on(loss, [x, y], h=h)
    expected = matrix_log_series(-h * Q, order + 1) / h
    assert (ft - expected * xs).applyfunc(sp.expand) == sp.zeros(2, 1)


def test_rk4_on_a_linear_field_is_the_log_of_its_stability_polynomial():
    xs = sp.Matrix([x, y])
    order = 6
    R = sum((h**k * MAT**k / math.factorial(k) for k in range(5)), sp.zeros(2, 2))
    expected = matrix_log_series(R - sp.eye(2), order + 1) / h
    ft = bea.modified_equation(bea.rk4(), order=order).on(MAT * xs, [x, y], h=h)
    assert (ft - expected * xs).applyfunc(sp.expand) == sp.zeros(2, 1)


# ----------------------------------------------------------------------------
# Structure of the coefficients
# ----------------------------------------------------------------------------


def test_gd_known_values():
    me = bea.modified_equation(bea.gd(), order=4)
    assert me.coefficient("[]") == 1
    assert me.coefficient("[[]]") == sp.Rational(-1, 2)
    assert me.coefficient("[[],[]]") == sp.Rational(1, 6)
    assert me.coefficient("[[[]]]") == sp.Rational(1, 3)
    # f̃ = f − h/2 f'f + h²(1/12 f''(f,f) + 1/3 f'f'f) + …: ω/σ
    assert me.coefficient("[[],[]]") / bea.tree("[[],[]]").symmetry() == sp.Rational(1, 12)
    # order 3 (HLW IX.1 / Chartier–Hairer–Vilmart): −1/4 f'f'f'f, −1/6 f'f''(f,f), …
    assert me.coefficient("[[[[]]]]") == sp.Rational(-1, 4)
    assert me.coefficient("[[[],[]]]") == sp.Rational(-1, 6)
    assert me.coefficient("[[[]],[]]") == sp.Rational(-1, 12)
    assert me.coefficient("[[],[],[]]") == 0
    assert dict(me.terms(1)) == {bea.tree("[[]]"): sp.Rational(-1, 2)}
    assert len(me.terms()) == len(list(me)) == 1 + 1 + 2 + 3 + 9  # ω([•,•,•]) = 0
    assert all(isinstance(c, sp.Rational) for _, c in me)


def test_gd_order_one_is_the_implicit_gradient_regulariser():
    # Barrett & Dherin: GD follows −∇(L + h/4 |∇L|²) to O(h²)
    grad = sp.Matrix([sp.diff(LOSS, v) for v in (x, y)])
    reg = LOSS + h / 4 * (grad.T * grad)[0]
    expected = -sp.Matrix([sp.diff(reg, v) for v in (x, y)])
    ft = bea.modified_equation(bea.gd(), order=1).on(LOSS, [x, y], h=h)
    assert (ft - expected).applyfunc(sp.expand) == sp.zeros(2, 1)


def test_gd_order_two_is_not_a_gradient():
    # ω differs on the two rootings of the path with three nodes
    me = bea.modified_equation(bea.gd(), order=2)
    path = bea.FreeTree(bea.tree("[[[]]]"))
    assert len({me.coefficient(t) for t in path.rootings()}) == 2


def test_rk4_agrees_with_the_field_through_h4():
    me = bea.modified_equation(bea.rk4(), order=5)
    assert me.coefficient("[]") == 1
    for n in range(2, 5):
        assert all(me.coefficient(t) == 0 for t in bea.trees(n))
    assert any(me.coefficient(t) != 0 for t in bea.trees(5))
    assert bea.rk4().bseries(4) == bea.exact_flow(4)
    assert bea.rk4().bseries(5) != bea.exact_flow(5)


@pytest.mark.parametrize("make", [bea.heun, bea.explicit_midpoint])
def test_second_order_methods(make):
    me = bea.modified_equation(make(), order=2)
    assert me.coefficient("[]") == 1 and me.coefficient("[[]]") == 0
    assert any(c != 0 for _, c in me.terms(2))


def test_implicit_midpoint_has_only_even_powers_of_h():
    me = bea.modified_equation(bea.implicit_midpoint(), order=7)
    for n in range(2, 9, 2):
        assert all(me.coefficient(t) == 0 for t in bea.trees(n)), n
    assert any(me.coefficient(t) != 0 for t in bea.trees(3))
    assert any(me.coefficient(t) != 0 for t in bea.trees(7))


def _is_symmetric(series: bea.BSeries) -> bool:
    # Φ_h is symmetric iff Φ_h^{-1} = Φ_{−h}, i.e. a^{-1}(t) = (−1)^{|t|} a(t)
    flipped = bea.BSeries.from_function(
        lambda t: (-1) ** len(t) * series[t], series.max_nodes, empty=1
    )
    return series.inverse() == flipped


def test_symmetric_methods():
    assert _is_symmetric(bea.implicit_midpoint().bseries(7))
    assert _is_symmetric(bea.exact_flow(7))
    for make in (bea.gd, bea.heun, bea.explicit_midpoint, bea.rk4, bea.implicit_euler):
        assert not _is_symmetric(make().bseries(7)), make
        me = bea.modified_equation(make(), order=5)
        assert any(me.coefficient(t) != 0 for n in (2, 4, 6) for t in bea.trees(n)), make


def test_implicit_euler_is_the_adjoint_of_explicit_euler():
    # adjoint: f̃*(h) = f̃(−h), i.e. ω*(t) = (−1)^{|t|−1} ω(t)
    ie = bea.modified_equation(bea.implicit_euler(), order=6)
    ee = bea.modified_equation(bea.gd(), order=6)
    for n in range(1, 8):
        for t in bea.trees(n):
            assert ie.coefficient(t) == (-1) ** (n - 1) * ee.coefficient(t)


def test_symbolic_two_stage_family():
    alpha = sp.Symbol("alpha")
    A = [[0, 0], [alpha, 0]]
    b = [1 - 1 / (2 * alpha), 1 / (2 * alpha)]
    order = 4
    fam = bea.modified_equation(bea.runge_kutta(A, b), order=order)
    mid = bea.modified_equation(bea.explicit_midpoint(), order=order)
    heun = bea.modified_equation(bea.heun(), order=order)
    for n in range(1, order + 2):
        for t in bea.trees(n):
            c = fam.coefficient(t)
            assert c.is_rational_function(alpha)
            assert c.free_symbols <= {alpha}
            assert sp.simplify(c.subs(alpha, HALF) - mid.coefficient(t)) == 0
            assert sp.simplify(c.subs(alpha, 1) - heun.coefficient(t)) == 0
    # by hand: second order for every α, ω([•,•]) = α/2 − 1/3, ω([[•]]) = −1/6
    assert fam.coefficient("[[]]") == 0
    assert sp.simplify(fam.coefficient("[[],[]]") - (alpha / 2 - sp.Rational(1, 3))) == 0
    assert fam.coefficient("[[[]]]") == sp.Rational(-1, 6)
    # explicit midpoint (HLW IX.1): f̃ = f + h²(−1/24 f''(f,f) − 1/6 f'f'f) + O(h³)
    assert mid.coefficient("[[],[]]") / 2 == sp.Rational(-1, 24)
    assert mid.coefficient("[[[]]]") == sp.Rational(-1, 6)
    text = bea.modified_equation(bea.runge_kutta(A, b), order=2).text()
    assert text == "f + h²((alpha/4 - 1/6) f''(f,f) - 1/6 f'f'f) + O(h³)"


def test_tableau_accepts_matrices_fractions_floats_and_consistent_c():
    from fractions import Fraction

    m1 = bea.runge_kutta(sp.Matrix([[0, 0], [1, 0]]), [0.5, 0.5], c=[0, 1])
    m2 = bea.runge_kutta([[0, 0], [Fraction(1), 0]], [Fraction(1, 2), Fraction(1, 2)])
    assert m1.bseries(5) == m2.bseries(5) == bea.heun().bseries(5)
    assert bea.heun().explicit and not bea.implicit_midpoint().explicit


# ----------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------

GD2_TEXT = "f̃ = f - h/2 f'f + h²(1/12 f''(f,f) + 1/3 f'f'f) + O(h³)"
GD2_LATEX = (
    r"f - \frac{h}{2} f'f + h^{2}\left(\frac{1}{12} f''(f,f) + \frac{1}{3} f'f'f\right)"
    r" + \mathcal{O}(h^{3})"
)


def test_golden_strings_for_gd():
    me = bea.modified_equation(bea.gd(), order=2)
    assert str(me) == GD2_TEXT
    assert me.text() == GD2_TEXT.removeprefix("f̃ = ")
    assert me.latex() == GD2_LATEX
    assert me._repr_latex_() == "$\\tilde f = " + GD2_LATEX + "$"
    assert repr(me) == (
        "<ModifiedEquation of gd through h^2: f - h/2 f'f + h²(1/12 f''(f,f) + 1/3 f'f'f) + O(h³)>"
    )


def test_rendering_of_order_zero_and_rk4():
    assert str(bea.modified_equation(bea.gd(), order=0)) == "f̃ = f + O(h)"
    text = bea.modified_equation(bea.rk4(), order=4).text()
    assert text.startswith("f + h⁴(") and text.endswith(" + O(h⁵)")


# ----------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("order", [-1, 1.5, "2", True, None])
def test_bad_order_raises_value_error(order):
    with pytest.raises(ValueError, match="order must be a non-negative int") as info:
        bea.modified_equation(bea.gd(), order=order)
    assert repr(order) in str(info.value)


def test_not_a_method_raises_type_error():
    with pytest.raises(TypeError, match="expected a method"):
        bea.modified_equation("gd", order=2)


def test_coefficient_beyond_the_order_raises():
    me = bea.modified_equation(bea.gd(), order=1)
    with pytest.raises(ValueError, match="order=2"):
        me.coefficient("[[],[]]")
    with pytest.raises(ValueError, match="malformed tree"):
        me.coefficient("[[]")


@pytest.mark.parametrize(
    ("A", "b", "c", "match"),
    [
        (
            [[0, 0], [1]],
            [HALF, HALF],
            None,
            r"A must be square: expected 2 entries in row 1, got 1",
        ),
        ([[0, 0, 0], [1, 0, 0]], [HALF, HALF], None, r"A must be square"),
        ([[0, 0], [1, 0]], [1], None, r"b must have one entry per stage: expected 2, got 1"),
        ([[0, 0], [1, 0]], [HALF, HALF], [0, HALF], r"c\[1\] = 1/2 but row 1 of A sums to 1"),
        ([[0, 0], [1, 0]], [HALF, HALF], [0], r"c must have one entry per stage"),
        ([], [], None, r"at least one stage"),
        (3, [1], None, r"A must be a sequence of rows"),
        ([[0]], 1, None, r"b must be a sequence"),
    ],
)
def test_inconsistent_tableaux_raise_value_error(A, b, c, match):
    with pytest.raises(ValueError, match=match):
        bea.runge_kutta(A, b, c)


@pytest.mark.parametrize(
    ("field", "variables", "match"),
    [
        ([x, y], [x], r"expected shape \(1, 1\).*got \(2, 1\)"),
        ([x, y, x], [x, y], r"expected shape \(2, 1\).*got \(3, 1\)"),
        ([x], ["x"], r"variables must be sympy Symbols, got 'x'"),
        ([x], [x + 1], r"variables must be sympy Symbols, got x \+ 1"),
        ([x, y], [x, x], r"variables must be distinct"),
        ([x], [], r"at least one"),
        (3, [x], r"a loss must be a sympy expression"),
        (["not a formula"], [x], r"field must be a sympy Matrix or a sequence"),
    ],
)
def test_on_with_bad_input_raises_value_error(field, variables, match):
    me = bea.modified_equation(bea.gd(), order=1)
    with pytest.raises(ValueError, match=match):
        me.on(field, variables)


def test_on_rejects_a_one_component_field_for_two_variables():
    me = bea.modified_equation(bea.gd(), order=1)
    with pytest.raises(ValueError, match=r"expected shape \(2, 1\).*got \(1, 1\)"):
        me.on([x * y], [x, y])


def test_on_defaults_to_the_package_step_symbol():
    ft = bea.modified_equation(bea.gd(), order=1).on([x**2], [x])
    assert ft == sp.Matrix([x**2 - bea.h * x**3])
