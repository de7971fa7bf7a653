"""The integer-array tree kernel against the pure-Python engine and independent recursions.

The kernel (``bea.bseries._kernel``) rebuilds the tree table, the single-edge
cuts, the log of a series over QQ and Runge–Kutta elementary weights with
arrays; every value must be *exactly* the one of the pure-Python code it
replaces on the hot path (``TreeTable``, ``_log_exp``), which stays in the
package as the reference and as the path for rational-function coefficients.
"""

import collections
import functools
import random
from fractions import Fraction

import flint
import pytest
import sympy as sp

import bea
from bea.bseries import _kernel
from bea.bseries._series import (
    BSeries,
    _log_exp,
    _log_kernel,
    _log_python,
    _unify,
    exact_flow,
    substitute_at,
)
from bea.bseries._trees import TreeTable, table
from bea.results._equation import _modifying_runge_kutta

beta = sp.Symbol("beta")


def test_array_table_is_the_tree_table():
    N = 11
    arrays = _kernel.TreeArrays().extend(N)
    ref = TreeTable(1).extend(N)  # a fresh table: built by the Python enumeration
    # A000081 summed: 1 + 1 + 2 + 4 + 9 + 20 + 48 + 115 + 286 + 719 + 1842 = 3047
    assert arrays.count_upto(N) == len(ref.size) == 3047
    for i in range(len(ref.size)):
        assert arrays.children(i) == ref.children[i]
        assert (arrays.sigma[i], arrays.gamma[i], arrays.height[i]) == (
            ref.sigma[i],
            ref.gamma[i],
            ref.height[i],
        )
        n = ref.size[i]
        if n > 1:
            row = i - arrays.starts[n]
            cuts = collections.Counter(
                zip(arrays.cut_u[n][row].tolist(), arrays.cut_s[n][row].tolist())
            )
            assert dict(cuts) == {(u, s): m for u, s, m in ref.cuts(i)}


def _kernel_and_reference(series):
    new = _log_kernel(series)
    old = _log_exp(series, log=True)  # the c_k recursion on Python scalars
    return new.coeffs, old.coeffs


@pytest.mark.parametrize("method", [bea.gd(), bea.rk4(), bea.heun(), bea.implicit_midpoint()])
def test_log_kernel_equals_the_python_log(method):
    new, old = _kernel_and_reference(method.bseries(10))
    assert len(new) == 1205 and new == old


@pytest.mark.slow
@pytest.mark.parametrize("method", [bea.gd(), bea.rk4()])
def test_log_kernel_equals_the_python_log_at_11_nodes(method):
    new, old = _kernel_and_reference(method.bseries(11))
    assert new == old


def test_log_kernel_on_numeric_heavy_ball():
    # denominators 10^k and (1 − β)^k: the scale d and the prime count are exercised
    series = bea.optimizers.heavy_ball(beta=Fraction(9, 10)).bseries(9)
    new, old = _kernel_and_reference(series)
    assert new == old


def test_log_kernel_on_arbitrary_rationals():
    # numerators beyond 64 bits, unrelated denominators, negative values
    rng = random.Random(16)
    N = 8
    count = sum(bea.count_trees(n) for n in range(1, N + 1))
    values = [
        flint.fmpq(rng.randint(-(10**25), 10**25), rng.choice([1, 3, 7, 12, 10**9 + 7, 2**40]))
        for _ in range(count)
    ]
    series = BSeries(table(1), sp.QQ, values, sp.QQ.one, N)
    new, old = _kernel_and_reference(series)
    assert new == old


def _weights_by_recursion(A, b, t):
    """Φ(t) = Σ b_i u_i(t), u_i([t1..tm]) = Π_k Σ_j a_ij u_j(t_k), on the public tree type."""
    s = len(b)

    @functools.cache
    def u(tree):
        out = []
        for i in range(s):
            v = sp.Integer(1)
            for c in tree.children:
                uc = u(c)
                v *= sum(A[i][j] * uc[j] for j in range(s))
            out.append(v)
        return out

    ut = u(t)
    return sum(b[i] * ut[i] for i in range(s))


@pytest.mark.parametrize(
    "A, b",
    [
        (
            [[0, 0, 0, 0], [sp.S.Half, 0, 0, 0], [0, sp.S.Half, 0, 0], [0, 0, 1, 0]],
            [sp.Rational(1, 6), sp.Rational(1, 3), sp.Rational(1, 3), sp.Rational(1, 6)],
        ),
        # large entries: the integer recursion leaves int64 for Python integers
        (
            [[sp.Rational(10**7, 3), 0], [sp.Rational(-5, 7), sp.Rational(10**6, 11)]],
            [sp.Rational(1, 2), sp.Rational(1, 2)],
        ),
    ],
)
def test_runge_kutta_weights_equal_the_recursion(A, b):
    N = 7
    series = bea.runge_kutta(A, b).bseries(N)
    for n in range(1, N + 1):
        for t in bea.trees(n):
            assert series[t] == _weights_by_recursion(A, b, t), t


@pytest.mark.parametrize("name", ["heavy_ball", "nesterov"])
def test_python_log_equals_the_ck_recursion_with_symbolic_beta(name):
    series = getattr(bea.optimizers, name)(beta=beta).bseries(8)
    assert _log_python(series).coeffs == _log_exp(series, log=True).coeffs


@pytest.mark.slow
@pytest.mark.parametrize("name", ["heavy_ball", "nesterov"])
def test_python_log_equals_the_ck_recursion_with_symbolic_beta_at_11_nodes(name):
    series = getattr(bea.optimizers, name)(beta=beta).bseries(11)
    assert _log_python(series).coeffs == _log_exp(series, log=True).coeffs


@pytest.mark.parametrize("name", ["heavy_ball", "nesterov"])
def test_symbolic_beta_at_a_value_equals_the_rational_kernel(name):
    # rational-function arithmetic (FLINT polynomials) against the modular kernel over QQ
    order = 7
    symbolic = bea.modified_equation(getattr(bea.optimizers, name)(beta=beta), order)
    numeric = bea.modified_equation(getattr(bea.optimizers, name)(beta=Fraction(9, 10)), order)
    for n in range(1, order + 2):
        for t in bea.trees(n):
            sym = symbolic.coefficient(t).subs(beta, sp.Rational(9, 10))
            assert sym == numeric.coefficient(t), t


def test_rational_function_arithmetic_stays_canonical():
    from bea.bseries._ratfunc import RationalFunctionField

    x, y = sp.symbols("x y")
    field = RationalFunctionField({x, y})
    rng = random.Random(3)

    def rand():
        num = sum(rng.randint(-3, 3) * x**i * y**j for i in range(3) for j in range(2))
        den = (1 - x) ** rng.randint(0, 3) * (1 + y) ** rng.randint(0, 2) * rng.randint(1, 4)
        return num / den

    for _ in range(20):
        p, q = rand(), rand()
        fp, fq = field.from_sympy(p), field.from_sympy(q)
        for got, want in ((fp + fq, p + q), (fp * fq, p * q), (fp - fq, p - q)):
            expected = field.from_sympy(want)  # sympy's fraction, reduced by normal()
            assert got == expected  # sums may be unreduced here: cross-multiplied
            got._reduce()
            assert (got.num, got.den) == (expected.num, expected.den)  # the canonical form
            if got:
                assert got.num.gcd(got.den).is_one()
                assert got.den.leading_coefficient() == 1
            assert hash(got) == hash(expected)


@pytest.mark.parametrize("method", [bea.gd(), bea.heun(), bea.rk4(), bea.implicit_midpoint()])
def test_modifying_integrator_through_stages_equals_the_substitution_law(method):
    N = 8
    a, goal = _unify(method.bseries(N), exact_flow(N))
    dom = a.domain
    law = BSeries.zero(N, 1, dom)._drafted()  # filled tree by tree
    inv = dom.one / a.coeffs[0]
    for i in range(len(law.coeffs)):
        law.coeffs[i] = (goal.coeffs[i] - substitute_at(law, a, i)) * inv
    assert _modifying_runge_kutta(method, goal).coeffs == law._frozen().coeffs


def test_modifying_integrator_of_gd_at_12_nodes_is_the_exact_flow():
    # explicit Euler applied to f̂ is y + h f̂: β̂(t) = 1/γ(t) on every tree
    mi = bea.modifying_integrator(bea.gd(), order=11)
    for t in bea.trees(12):
        assert mi.coefficient(t) == sp.Rational(1, t.density())


def test_kernel_docstring_examples():
    import doctest

    failures, tried = doctest.testmod(_kernel)
    assert tried >= 2 and failures == 0
