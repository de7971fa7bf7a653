"""The coordinate backend's ring (bea.coordinates._atoms) against sympy itself.

Oracles: ``sympy.expand`` (the ring's sums and products must be the expanded
expression, structurally), ``sympy.diff`` (its derivation), and the tree engine
for a whole modified field on a concrete transcendental loss (the coordinate
backend and the B-series engine share no code).
"""

from __future__ import annotations

import sympy

import bea
from bea.coordinates import _atoms as ring
from bea.coordinates import _hseries as coords
from bea.coordinates._adaptive import is_zero
from bea.coordinates._signs import Sign

x, y, eps, beta = sympy.symbols("x y epsilon beta")
L = sympy.Function("L")(x, y)
g = L.diff(x)
s = Sign(g)

EXPRESSIONS = [
    x**3 * y - 2 * x * y**2 / 3 + 5,
    (x + y) ** 3 * (x - 1),
    g * L.diff(x, y) / (eps + s * g) ** 2,
    beta * g / ((beta - 1) * (eps + s * g)) + s * g**2 / (2 * (eps + s * g) ** 3),
    sympy.log(sympy.cosh(x * y)) / sympy.cosh(x - 1) ** 2 + sympy.sqrt(x**2 + 1),
    s * s * g + s**3 * L.diff(y),
]


def test_round_trip_is_the_expanded_expression():
    # the ring distributes products like the hot-path expand (denominators kept whole);
    # the final expand of the results then gives sympy.expand's form
    for e in EXPRESSIONS:
        back = ring.to_expr(ring.from_expr(e))
        assert back == coords._expand(e), e
        assert coords._final(back) == sympy.expand(e), e


def test_products_are_exact_and_finish_like_sympy_expand():
    for a in EXPRESSIONS:
        for b in EXPRESSIONS[2:4]:
            got = ring.to_expr(ring.mul(ring.from_expr(a), ring.from_expr(b)))
            assert coords._final(got) == sympy.expand(got)
            assert is_zero(got - a * b)


def test_derivation_matches_sympy_diff():
    for e in EXPRESSIONS:
        for v in (x, y):
            got = ring.to_expr(ring.derivative(ring.from_expr(e), v))
            assert is_zero(got - sympy.diff(e, v)), (e, v)


def test_sign_squares_are_reduced_in_the_ring():
    assert ring.from_expr(s * s * g) == ring.from_expr(g)
    assert ring.mul(ring.from_expr(s), ring.from_expr(s * x)) == ring.from_expr(x)
    assert ring.derivative(ring.from_expr(s), x) == {}
    # σ⁻¹ = σ
    assert ring.to_expr(ring.from_expr(1 / (s * g))) == s / g


def test_final_expand_is_sympy_expand_term_by_term():
    e = sympy.Add(*EXPRESSIONS) * (1 + x) + g / (2 * (eps + s * g) ** 3) + sympy.exp(x + y) / 3
    assert coords._final(e) == sympy.expand(e)


def test_gradient_descent_on_a_transcendental_loss_matches_the_tree_engine():
    loss = sympy.log(sympy.cosh(x - 1)) + sympy.log(sympy.cosh(x * y))
    h = bea.h
    coord = bea.coordinates.coordinate_modified_equation(bea.optimizers.gd(), loss, [x, y], 3)
    tree = bea.modified_equation(bea.gd(), 3).on(loss, [x, y])
    for a, b in zip(coord, tree, strict=True):
        assert sympy.cancel(sympy.expand(a - b)) == 0
    assert coord[0].coeff(h, 0) == sympy.expand(-sympy.diff(loss, x))


def test_the_module_examples_run():
    import doctest

    failures, tried = doctest.testmod(ring)
    assert tried > 0 and failures == 0


def test_fast_construction_is_the_expression_sympy_builds(monkeypatch):
    # every ring element of an Adam run, built without flattening, equals (structurally,
    # with the same hash) the expression sympy.Add/sympy.Mul build from the same terms
    seen = []
    original = ring.to_expr

    def spy(p):
        seen.append(p)
        return original(p)

    monkeypatch.setattr(ring, "to_expr", spy)
    xs = sympy.symbols("x1:3")
    bea.modified_equation(bea.optimizers.adam(), 1).on(sympy.Function("L")(*xs), xs)
    bea.modified_equation(bea.optimizers.adam(), 1).on(xs[0] ** 4 / 4 + xs[0] * xs[1], xs)
    fast = 0
    for p in seen:
        built = ring._fast_sum(p) if p else None
        if built is None:
            continue
        fast += 1
        slow = sympy.Add(*[ring._term(m, c) for m, c in p.items()])
        assert (
            built == slow and hash(built) == hash(slow) and sympy.srepr(built) == sympy.srepr(slow)
        )
    assert fast > 50


def test_roots_of_rationals_reduce_as_sympy_does():
    # (√5)² = 5 and 1/√5 = √5/5 in the ring: exact numbers with roots stay a + b√5
    from bea.coordinates import _atoms

    x = sympy.Symbol("x")
    r5, r3 = sympy.sqrt(5), sympy.cbrt(3)
    for expr in (r5 * r5 * x, (r5 + x) ** 3, x / (r5 * x), r3**4 * x, (1 + r5) ** 6):
        p = _atoms.from_expr(expr)
        assert sympy.expand(_atoms.to_expr(p) - expr) == 0
        assert all(0 < e < _atoms._ROOTS[k][1] for m in p for k, e in m if k in _atoms._ROOTS)
    p = _atoms.power(_atoms.from_expr(1 + r5), 8)
    assert len(p) == 2 and sympy.expand(_atoms.to_expr(p) - (1 + r5) ** 8) == 0
    d = _atoms.derivative(_atoms.from_expr(r5 * x**2 / (r5 + x)), x)
    assert sympy.simplify(_atoms.to_expr(d) - sympy.diff(r5 * x**2 / (r5 + x), x)) == 0
