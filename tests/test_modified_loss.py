"""Tests for modified losses (bea.results._loss) against independent oracles.

Oracles: the coordinate backend (bea.coordinates._hseries, no trees involved) for the
full modified field; the matrix-logarithm series for quadratic losses; sympy
derivatives for curls and gradients; a brute-force tensor contraction over the
edges of a free tree for S(τ). Every comparison is exact:
``sympy.expand(a - b) == 0``, with ``cancel`` where rational functions appear.
"""

from __future__ import annotations

import itertools

import pytest
import sympy
from exact_checks import coefficient, matrix_is_zero, rk4_points, truncate
from exact_checks import is_zero_normal as is_zero

import bea
from bea.coordinates import _hseries as coords
from bea.results._loss import (
    gradient_latex,
    gradient_text,
    index_notation,
    scalar_latex,
    scalar_text,
    scalar_value,
)

h = bea.h
x, y = sympy.symbols("x y")


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------


def grad(expr, variables):
    return sympy.Matrix([sympy.diff(expr, v) for v in variables])


def curl2(field, variables):
    """∂f_x/∂y − ∂f_y/∂x of a 2-D field."""
    a, b = variables
    return sympy.diff(field[0], b) - sympy.diff(field[1], a)


def symbols(d):
    return list(sympy.symbols(f"x1:{d + 1}"))


def generic_loss(variables):
    return sympy.Function("L")(*variables)


def gradient_loss(terms, loss, variables):
    """Σ c(τ) S(τ) over (τ, c) pairs."""
    return sympy.Add(*[c * scalar_value(tau, loss, variables) for tau, c in terms])


# coordinate-side one-step maps --------------------------------------------------


def gd_map(loss, variables):
    return sympy.Matrix(variables) - h * grad(loss, variables)


def heun_points(loss, variables, order):
    step = coords.gradient_step(loss, variables, h, order)
    p = coords.HPoint.identity(variables, h, order)
    k1 = step(p)
    k2 = step(p + k1)
    return p + (k1 + k2) / 2


def implicit_midpoint_points(loss, variables, order):
    """y = x + step((x + y)/2), solved by fixed-point iteration (one order per sweep)."""
    step = coords.gradient_step(loss, variables, h, order)
    p = coords.HPoint.identity(variables, h, order)
    q = p
    for _ in range(order + 1):
        q = p + step((p + q) / 2)
    return q


def rk4_matrix(loss, variables):
    """RK4 as a Matrix in h, stages by substitution into ∇L of a concrete loss."""
    g = grad(loss, variables)
    xv = sympy.Matrix(variables)

    def at(point):
        return g.subs(list(zip(variables, point)), simultaneous=True)

    k1 = g
    k2 = at(xv - h / 2 * k1)
    k3 = at(xv - h / 2 * k2)
    k4 = at(xv - h * k3)
    return xv - h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def coordinate_field(method, loss, variables, order, route="points"):
    if method == "gd":
        return coords.modified_field(gd_map(loss, variables), variables, h, order)
    if method == "rk4" and route == "matrix":
        return coords.modified_field(rk4_matrix(loss, variables), variables, h, order)
    build = {"rk4": rk4_points, "heun": heun_points, "implicit_midpoint": implicit_midpoint_points}
    return coords.modified_field(build[method](loss, variables, order + 1), variables, h, order)


METHODS = {
    "gd": bea.gd,
    "rk4": bea.rk4,
    "heun": bea.heun,
    "implicit_midpoint": bea.implicit_midpoint,
}


def check_against_coordinates(method, loss, variables, order, route="points"):
    expected = coordinate_field(method, loss, variables, order, route)
    field = bea.modified_equation(METHODS[method](), order).on(loss, variables)
    assert matrix_is_zero(field - expected)
    ml = bea.modified_loss(METHODS[method](), order)
    g = min(ml.gradient_order, order)
    # through the gradient order the field is −∇ of the modified loss
    assert matrix_is_zero(-grad(ml.on(loss, variables), variables) - truncate(expected, g))
    return ml


# ----------------------------------------------------------------------------
# tree engine against the coordinate backend
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 2, 3])
def test_gd_generic_loss_matches_coordinates_through_order_4(d):
    variables = symbols(d)
    ml = check_against_coordinates("gd", generic_loss(variables), variables, 4)
    assert ml.gradient_order == 1


@pytest.mark.parametrize(
    ("d", "order"),
    [(1, 4), (2, 4), (3, 3), (3, 4)],
)
def test_rk4_generic_loss_matches_coordinates(d, order):
    variables = symbols(d)
    ml = check_against_coordinates("rk4", generic_loss(variables), variables, order)
    # RK4 is of order 4: f̃ = −∇L + O(h⁴), a gradient through h³ and not at h⁴
    assert ml.gradient_order == min(order, 3)
    assert ml.loss_text() == "L"


@pytest.mark.parametrize("method", ["heun", "implicit_midpoint"])
def test_second_order_methods_generic_loss_match_coordinates(method):
    variables = symbols(2)
    check_against_coordinates(method, generic_loss(variables), variables, 3)


def test_rk4_generic_loss_substitution_route():
    # the map built with ∇L on a fresh symbol and .subs: the Subs objects sympy
    # makes are bound on y1, so they do not capture x1 (see expand_in_h)
    (x1,) = symbols(1)
    ys = sympy.symbols("y1")
    g = sympy.Function("L")(ys).diff(ys)

    def at(point):
        return g.subs(ys, point)

    k1 = at(x1)
    k2 = at(x1 - h / 2 * k1)
    k3 = at(x1 - h / 2 * k2)
    k4 = at(x1 - h * k3)
    phi = sympy.Matrix([x1 - h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)])
    expected = coords.modified_field(phi, [x1], h, 5)
    field = bea.modified_equation(bea.rk4(), 5).on(sympy.Function("L")(x1), [x1])
    assert matrix_is_zero(field - expected)
    assert not matrix_is_zero(coefficient(field, 4))


CONCRETE_LOSSES = {
    "polynomial": lambda a, b: a**4 / 4 - a**2 * b + 3 * b**2 / 2 + a * b**3,
    "exp-log": lambda a, b: sympy.exp(a - b) + sympy.log(1 + a**2) + b**2 / 2,
    "trig": lambda a, b: sympy.sin(a) * sympy.cos(b) + a**2 / 2,
}


@pytest.mark.parametrize("name", list(CONCRETE_LOSSES))
@pytest.mark.parametrize("method", ["gd", "rk4"])
def test_concrete_losses_match_coordinates(method, name):
    loss = CONCRETE_LOSSES[name](x, y)
    check_against_coordinates(method, loss, [x, y], 4, route="matrix")


def test_concrete_loss_in_three_dimensions():
    variables = symbols(3)
    a, b, c = variables
    loss = a**2 * b + sympy.exp(c) * b + sympy.cos(a - c)
    check_against_coordinates("gd", loss, variables, 3)


# ----------------------------------------------------------------------------
# quadratic losses: the matrix-logarithm oracle
# ----------------------------------------------------------------------------

QUADRATICS = {
    "2x2": sympy.Matrix([[2, 1], [1, 3]]),
    "3x3": sympy.Matrix([[4, 1, 0], [1, 3, 1], [0, 1, 2]]),
}


def log_series_loss(A, xv, order):
    """−(1/(2h)) xᵀ log(I − hA) x through h^order: Σ_k h^{k−1} xᵀA^k x/(2k)."""
    return sum(
        (
            sympy.Rational(1, 2 * k) * h ** (k - 1) * (xv.T * A**k * xv)[0]
            for k in range(1, order + 2)
        ),
        sympy.Integer(0),
    )


@pytest.mark.parametrize("name", list(QUADRATICS))
def test_gd_quadratic_field_is_matrix_log_through_order_8(name):
    A = QUADRATICS[name]
    assert A.is_symmetric() and all(ev > 0 for ev in A.eigenvals())
    variables = symbols(A.rows)
    xv = sympy.Matrix(variables)
    loss = (xv.T * A * xv)[0] / 2
    order = 8
    exact = log_series_loss(A, xv, order)
    # independent form of the field: (1/h) log(I − hA) x = −Σ_k h^{k−1} A^k x / k
    field_oracle = -sum(
        (h ** (k - 1) * A**k * xv / k for k in range(1, order + 2)), sympy.zeros(A.rows, 1)
    )
    assert matrix_is_zero(-grad(exact, variables) - field_oracle)

    field = bea.modified_equation(bea.gd(), order).on(loss, variables)
    assert matrix_is_zero(field - field_oracle)

    ml = bea.modified_loss(bea.gd(), order)
    # gradient_order describes generic losses: 1 for GD, even on a quadratic
    assert ml.gradient_order == 1
    assert is_zero(ml.on(loss, variables) - truncate(sympy.Matrix([exact]), 1)[0])

    # the split reconstructs the full field at every order
    projected = sympy.Add(
        *[h**k * gradient_loss(ml.split(k)[0], loss, variables) for k in range(order + 1)]
    )
    remainder = ml.remainder_on(loss, variables)
    assert matrix_is_zero(-grad(projected, variables) + remainder - field)
    # the leaf-average split is exact on quadratics: the remainder vanishes and
    # the projected loss is the whole series −(1/2h) xᵀ log(I − hA) x
    assert matrix_is_zero(remainder)
    assert is_zero(projected - exact)


def test_gd_split_at_h2_has_a_third_derivative_remainder():
    """Leaf average on the path •—•—•: ω̄ = ω([[•]]) = 1/3, c = ω̄/σ = 1/6, and the
    remainder r([•,•]) = 1/6 − 1/3 = −1/6 gives h² (−1/6)/2 f''(f,f) = h²/12 ∇³L[∇L,∇L]."""
    A = QUADRATICS["2x2"]
    variables = symbols(2)
    xv = sympy.Matrix(variables)
    loss = (xv.T * A * xv)[0] / 2
    ml = bea.modified_loss(bea.gd(), 2)
    grad_part, rem = ml.split(2)
    assert grad_part == [(bea.FreeTree("[[],[]]"), sympy.Rational(1, 6))]
    assert dict(rem) == {bea.tree("[[],[]]"): sympy.Rational(-1, 6)}
    assert matrix_is_zero(ml.remainder_on(loss, variables))


# ----------------------------------------------------------------------------
# gradient structure on an explicit 2-D example (sympy derivatives)
# ----------------------------------------------------------------------------

EXAMPLE = x**4 / 4 + x * y**2 + sympy.sin(y)


def test_h1_field_is_curl_free_and_h2_field_is_not():
    field = bea.modified_equation(bea.gd(), 3).on(EXAMPLE, [x, y])
    assert matrix_is_zero(field - coordinate_field("gd", EXAMPLE, [x, y], 3))
    assert is_zero(curl2(coefficient(field, 0), [x, y]))
    assert is_zero(curl2(coefficient(field, 1), [x, y]))
    assert not is_zero(curl2(coefficient(field, 2), [x, y]))
    assert not is_zero(curl2(coefficient(field, 3), [x, y]))

    ml = bea.modified_loss(bea.gd(), 3)
    assert ml.gradient_order == 1
    assert [ml.is_gradient(k) for k in range(4)] == [True, True, False, False]
    loss = ml.on(EXAMPLE, [x, y])
    assert is_zero(coefficient(loss, 0) - EXAMPLE)
    assert matrix_is_zero(-grad(coefficient(loss, 1), [x, y]) - coefficient(field, 1))
    # by hand: h/4 ‖∇L‖² with ∇L = (x³ + y², 2xy + cos y)
    by_hand = ((x**3 + y**2) ** 2 + (2 * x * y + sympy.cos(y)) ** 2) / 4
    assert is_zero(coefficient(loss, 1) - by_hand)


@pytest.mark.parametrize("k", [2, 3])
def test_split_is_gradient_plus_curly_remainder(k):
    field = bea.modified_equation(bea.gd(), 3).on(EXAMPLE, [x, y])
    ml = bea.modified_loss(bea.gd(), 3)
    grad_part, rem = ml.split(k)
    assert grad_part and rem
    potential = gradient_loss(grad_part, EXAMPLE, [x, y])
    remainder = coefficient(ml.remainder_on(EXAMPLE, [x, y]), k)
    assert matrix_is_zero(-grad(potential, [x, y]) + remainder - coefficient(field, k))
    assert not is_zero(curl2(remainder, [x, y]))
    # the remainder vanishes on average over the leaf rootings (weights 1/σ) of
    # every free tree
    by_tree: dict = {}
    for t, r in rem:
        if len(t.children) <= 1:
            by_tree.setdefault(bea.FreeTree(t), []).append(r / t.symmetry())
    assert all(sum(v) == 0 for v in by_tree.values())


def test_split_at_gradient_orders_has_no_remainder():
    ml = bea.modified_loss(bea.gd(), 3)
    for k in (0, 1):
        grad_part, rem = ml.split(k)
        assert rem == []
        assert grad_part == [t for t in ml.loss_terms() if len(t[0]) == k + 1]
    assert ml.remainder_terms() == ml.split(2)[1] + ml.split(3)[1]
    assert matrix_is_zero(truncate(ml.remainder_on(EXAMPLE, [x, y]), 1))


# ----------------------------------------------------------------------------
# the key identity ∇(S(τ)/σ(τ)) = Σ_{rootings t} G(t)/σ(t)
# ----------------------------------------------------------------------------

# all partial derivatives up to order 5 are non-zero (x³y³ gives the mixed ones)
IDENTITY_LOSS = x**3 * y**3 / 36 + sympy.sin(x) + sympy.exp(y)


def contraction(tau, loss, variables):
    """S(τ) by brute force: sum over an index per edge of Π_nodes ∂^{deg}L."""
    g = tau.to_networkx()
    edges = list(g.edges())
    position = {frozenset(e): i for i, e in enumerate(edges)}
    if not edges:
        return loss
    total = sympy.Integer(0)
    for idx in itertools.product(range(len(variables)), repeat=len(edges)):
        term = sympy.Integer(1)
        for v in g.nodes:
            wrt = [variables[idx[position[frozenset((v, w))]]] for w in g.neighbors(v)]
            term *= sympy.diff(loss, *wrt)
        total += term
    return total


@pytest.mark.parametrize("n", range(1, 7))
def test_gradient_of_free_tree_scalar_is_sum_over_rootings(n):
    variables = [x, y]
    diffs = bea.ElementaryDifferentials([grad(IDENTITY_LOSS, variables)], variables)
    for tau in bea.free_trees(n):
        s = scalar_value(tau, IDENTITY_LOSS, variables)
        assert is_zero(s - contraction(tau, IDENTITY_LOSS, variables)), tau
        lhs = grad(s / tau.symmetry(), variables)
        rhs = sympy.zeros(2, 1)
        for t in tau.rootings():
            rhs += diffs(t) / t.symmetry()
        assert matrix_is_zero(lhs - rhs), tau


def test_rootings_weights_are_orbit_sizes():
    # orbit-stabiliser: rooting t occurs at σ(τ)/σ(t) of the |τ| vertices
    for n in range(1, 8):
        for tau in bea.free_trees(n):
            assert sum(sympy.Rational(tau.symmetry(), t.symmetry()) for t in tau.rootings()) == n


# ----------------------------------------------------------------------------
# golden text and LaTeX
# ----------------------------------------------------------------------------

GD_TEXT = {
    0: "L̃ = L + O(h¹)\nf̃ = −∇L̃ at h⁰",
    1: "L̃ = L + h/4 ‖∇L‖² + O(h²)\nf̃ = −∇L̃ through h¹",
    2: "L̃ = L + h/4 ‖∇L‖²\nf̃ = −∇L̃ through h¹\nh²: NOT a gradient flow; f̃ term = −∇[h²/6 ∇Lᵀ∇²L∇L] + remainder [h²/12 ∇³L[∇L,∇L]]\n(remainder: vector-field terms; + O(h³))",
    3: "L̃ = L + h/4 ‖∇L‖²\nf̃ = −∇L̃ through h¹\nh²: NOT a gradient flow; f̃ term = −∇[h²/6 ∇Lᵀ∇²L∇L] + remainder [h²/12 ∇³L[∇L,∇L]]\nh³: NOT a gradient flow; f̃ term = −∇[h³(1/36 ∇³L[∇L,∇L,∇L] + 1/8 ‖∇²L∇L‖²)] + remainder [h³(1/36 ∇⁴L[∇L,∇L,∇L] + 1/6 ∇³L[∇²L∇L,∇L])]\n(remainder: vector-field terms; + O(h⁴))",
}

# checked by hand: h² gradient part h²/6 ∇Lᵀ∇²L∇L, remainder h²/12 ∇³L[∇L,∇L];
# h³: 1/36 ∇³L[∇L,∇L,∇L] + 1/8 ‖∇²L∇L‖² (the quadratic series gives 1/8), remainder
# 1/36 ∇⁴L[∇L,∇L,∇L] + 1/6 ∇³L[∇²L∇L,∇L]
GD_LATEX = {
    0: "\\begin{aligned}\\tilde L &= L + \\mathcal{O}(h^{1})\\end{aligned}",
    1: "\\begin{aligned}\\tilde L &= L + \\frac{h}{4} \\|\\nabla L\\|^{2} + \\mathcal{O}(h^{2})\\end{aligned}",
    2: "\\begin{aligned}\\tilde L &= L + \\frac{h}{4} \\|\\nabla L\\|^{2} \\\\ \\tilde f_{2} &= -\\nabla\\left[\\frac{h^{2}}{6} \\nabla L^{\\top}\\nabla^{2} L\\nabla L\\right] + \\underbrace{\\frac{h^{2}}{12} \\nabla^{3} L[\\nabla L,\\nabla L]}_{\\text{not a gradient}}\\end{aligned}",
    3: "\\begin{aligned}\\tilde L &= L + \\frac{h}{4} \\|\\nabla L\\|^{2} \\\\ \\tilde f_{2} &= -\\nabla\\left[\\frac{h^{2}}{6} \\nabla L^{\\top}\\nabla^{2} L\\nabla L\\right] + \\underbrace{\\frac{h^{2}}{12} \\nabla^{3} L[\\nabla L,\\nabla L]}_{\\text{not a gradient}} \\\\ \\tilde f_{3} &= -\\nabla\\left[h^{3}\\left(\\frac{1}{36} \\nabla^{3} L[\\nabla L,\\nabla L,\\nabla L] + \\frac{1}{8} \\|\\nabla^{2} L\\nabla L\\|^{2}\\right)\\right] + \\underbrace{h^{3}\\left(\\frac{1}{36} \\nabla^{4} L[\\nabla L,\\nabla L,\\nabla L] + \\frac{1}{6} \\nabla^{3} L[\\nabla^{2} L\\nabla L,\\nabla L]\\right)}_{\\text{not a gradient}}\\end{aligned}",
}


@pytest.mark.parametrize("order", [0, 1, 2, 3])
def test_gd_golden_output(order):
    ml = bea.modified_loss(bea.gd(), order)
    assert str(ml) == ml.text() == GD_TEXT[order]
    assert ml.latex() == GD_LATEX[order]
    assert ml._repr_latex_() == "$$" + GD_LATEX[order] + "$$"
    if order == 0:
        assert ml.loss_text() == "L"
        assert ml.loss_latex() == "L"
        assert ml.index_notation() == "L"
    else:
        assert ml.loss_text() == "L + h/4 ‖∇L‖²"
        assert ml.loss_latex() == "L + \\frac{h}{4} \\|\\nabla L\\|^{2}"
        assert ml.index_notation() == "L + h/4 L_i L_i"
    assert [(str(t), c) for t, c in ml.loss_terms()] == [
        ("{[]}", 1),
        ("{[[]]}", sympy.Rational(1, 4)),
    ][: order + 1]


def test_gd_golden_split_coefficients():
    ml = bea.modified_loss(bea.gd(), 3)
    R = sympy.Rational
    # leaf averages: ω̄(path3) = ω([[•]]) = 1/3, ω̄(star4) = ω([[•,•]]) = −1/6,
    # ω̄(path4) = ω([[[•]]]) = −1/4; c = (−1)^k ω̄/σ(τ)
    assert ml.split(2) == (
        [(bea.FreeTree("[[],[]]"), R(1, 6))],
        [(bea.tree("[[],[]]"), R(-1, 6))],
    )
    grad3, rem3 = ml.split(3)
    assert dict(grad3) == {
        bea.FreeTree("[[],[],[]]"): R(1, 36),
        bea.FreeTree("[[[]],[]]"): R(1, 8),
    }
    assert dict(rem3) == {
        bea.tree("[[],[],[]]"): R(1, 6),
        bea.tree("[[[]],[]]"): R(1, 6),
    }


SCALARS = {
    "[]": ("L", "L", "L"),
    "[[]]": ("‖∇L‖²", "\\|\\nabla L\\|^{2}", "L_i L_i"),
    "[[],[]]": ("∇Lᵀ∇²L∇L", "\\nabla L^{\\top}\\nabla^{2} L\\nabla L", "L_i L_ij L_j"),
    "[[],[],[]]": (
        "∇³L[∇L,∇L,∇L]",
        "\\nabla^{3} L[\\nabla L,\\nabla L,\\nabla L]",
        "L_i L_ijk L_j L_k",
    ),
    "[[[]],[]]": ("‖∇²L∇L‖²", "\\|\\nabla^{2} L\\nabla L\\|^{2}", "L_i L_ij L_jk L_k"),
    "[[[]],[],[]]": (
        "∇²L∇L·∇³L[∇L,∇L]",
        "\\nabla^{2} L\\nabla L \\cdot \\nabla^{3} L[\\nabla L,\\nabla L]",
        "L_i L_ijk L_j L_kl L_l",
    ),
    "[[[]],[[]]]": (
        "∇²L[∇²L∇L,∇²L∇L]",
        "\\nabla^{2} L[\\nabla^{2} L\\nabla L,\\nabla^{2} L\\nabla L]",
        "L_k L_ik L_ij L_jl L_l",
    ),
    "[[[],[]],[],[]]": (
        "‖∇³L[∇L,∇L]‖²",
        "\\|\\nabla^{3} L[\\nabla L,\\nabla L]\\|^{2}",
        "L_i L_ijk L_j L_klm L_l L_m",
    ),
}


@pytest.mark.parametrize("text", list(SCALARS))
def test_scalar_rendering(text):
    tau = bea.FreeTree(text)
    plain, latex, index = SCALARS[text]
    assert scalar_text(tau) == plain
    assert scalar_latex(tau) == latex
    assert index_notation(tau) == index


def test_gradient_rendering():
    assert gradient_text(bea.tree("[]")) == "∇L"
    assert gradient_text(bea.tree("[[]]")) == "∇²L∇L"
    assert gradient_text(bea.tree("[[],[[]]]")) == "∇³L[∇²L∇L,∇L]"
    assert gradient_latex(bea.tree("[[],[]]")) == "\\nabla^{3} L[\\nabla L,\\nabla L]"


def test_heavy_ball_golden_loss_text():
    beta = sympy.Symbol("beta")
    ml = bea.modified_loss(bea.optimizers.heavy_ball(), 1)
    assert ml.gradient_order == 1
    assert ml.loss_text() == "(-1/(beta - 1)) L + (-(beta + 1)/(4*(beta - 1)**3)) h ‖∇L‖²"
    # Kovachki & Stuart; Ghosh et al.: L/(1−β) + h(1+β)/(4(1−β)³) ‖∇L‖²
    (t0, c0), (t1, c1) = ml.loss_terms()
    assert (str(t0), str(t1)) == ("{[]}", "{[[]]}")
    assert sympy.cancel(c0 - 1 / (1 - beta)) == 0
    assert sympy.cancel(c1 - (1 + beta) / (4 * (1 - beta) ** 3)) == 0


# ----------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------

LOSS = x**2 + x * y


@pytest.fixture(scope="module")
def ml2():
    return bea.modified_loss(bea.gd(), 2)


@pytest.mark.parametrize(
    "variables",
    [["x", "y"], [x, 2], [x + y, y], [x, x], []],
    ids=["strings", "number", "expression", "duplicate", "empty"],
)
def test_bad_variables_raise(ml2, variables):
    with pytest.raises(ValueError, match="variables"):
        ml2.on(LOSS, variables)
    with pytest.raises(ValueError, match="variables"):
        ml2.remainder_on(LOSS, variables)
    with pytest.raises(ValueError, match="variables"):
        bea.modified_equation(bea.gd(), 2).on(LOSS, variables)
    with pytest.raises(ValueError, match="variables"):
        scalar_value(bea.FreeTree("[[]]"), LOSS, variables)


def test_step_size_among_variables_raises(ml2):
    with pytest.raises(ValueError):
        ml2.on(LOSS, [x, h])


def test_step_size_among_variables_raises_for_modified_equation():
    with pytest.raises(ValueError):
        bea.modified_equation(bea.gd(), 1).on(LOSS, [x, h])


@pytest.mark.parametrize(
    "loss",
    [sympy.Matrix([LOSS, LOSS]), [LOSS, LOSS], 3, 3.0, "x**2", True, sympy.Eq(x, y)],
    ids=["matrix", "list-of-2", "int", "float", "string", "bool", "equation"],
)
def test_non_scalar_loss_raises(ml2, loss):
    with pytest.raises(ValueError, match="loss"):
        ml2.on(loss, [x, y])
    with pytest.raises(ValueError, match="loss"):
        ml2.remainder_on(loss, [x, y])


@pytest.mark.parametrize(
    "loss",
    [sympy.Matrix([LOSS, LOSS, LOSS]), [LOSS, LOSS, LOSS], 3],
    ids=["matrix-3", "list-3", "int"],
)
def test_modified_equation_bad_loss_raises(loss):
    with pytest.raises(ValueError):
        bea.modified_equation(bea.gd(), 2).on(loss, [x, y])


def test_scalar_value_rejects_matrix_loss():
    with pytest.raises(ValueError):
        scalar_value(bea.FreeTree("[[]]"), sympy.Matrix([x**2, x**2]), [x, y])


def test_scalar_value_rejects_number_loss():
    with pytest.raises(ValueError):
        scalar_value(bea.FreeTree("[]"), 3, [x, y])


@pytest.mark.parametrize("order", [-1, 1.5, 2.0, "2", True, None])
def test_bad_order_raises(order):
    with pytest.raises(ValueError, match="order"):
        bea.modified_loss(bea.gd(), order)


def test_split_beyond_order_raises(ml2):
    with pytest.raises(ValueError, match="beyond"):
        ml2.split(3)
    with pytest.raises(ValueError, match="beyond"):
        ml2.is_gradient(3)
    with pytest.raises(ValueError):
        ml2.split(-1)
    with pytest.raises(ValueError):
        ml2.split(1.0)


def test_coloured_loss_needs_one_loss_per_colour():
    ml = bea.modified_loss(bea.optimizers.reshuffled_sgd(2), 1)
    with pytest.raises(ValueError, match="2"):
        ml.on(LOSS, [x, y])
