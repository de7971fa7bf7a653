"""The one-step method Φ and state maps S of rules with memory (``bea.methods._programs``).

Φ and S are solved tree by tree with S∘Φ from the Lie series of ω = log Φ and
scalars num/D^e over a fixed denominator D (``PowerDenominators``). Checked
against code that shares neither:

* the invariance of the manifold, with the rule run on B-series and S∘Φ by
  the composition of ``BSeries.__matmul__`` (prunings, HLW Theorem III.1.10);
* the logarithm found along with Φ against the c_k recursion of ``exp``/``log``
  (``_log_exp``) on a copy of Φ;
* the same solve on the rational function field itself (``ExactScalars``), and
  the fallback to it when a denominator is outside D;
* (slow) the coordinate engine, which solves Φ order by order in h on a
  1-D polynomial loss.
"""

from __future__ import annotations

import pytest
import sympy as sp
from exact_checks import is_zero, x

import bea
from bea import optimizers as O
from bea.bseries import _series
from bea.bseries._ratfunc import NotCovered, PowerDenominators, RationalFunctionField
from bea.bseries._series import BSeries, ExactScalars
from bea.coordinates._programs import coordinate_modified_equation
from bea.methods import _programs

BETA = sp.Symbol("beta")
GAMMA = sp.Symbol("gamma")


def _two_states(x, state, step, beta, gamma):
    x1, x2 = state
    y = x + beta * (x - x1) + gamma * (x1 - x2)
    return y + step(y) + gamma * step(x1), (x, x1)


def _constant_in_rule(x, state, step, beta):
    (xp,) = state
    return x + beta / (1 + beta) * (x - xp) + step(x) / (1 + beta), (x,)


RULES = {
    "heavy_ball": lambda: O.heavy_ball(),
    "nesterov": lambda: O.nesterov(),
    "ema_momentum": lambda: O.ema_momentum(),
    "heavy_ball_rational": lambda: O.heavy_ball(1 / (1 + GAMMA)),
    "nesterov_numeric": lambda: O.nesterov(sp.Rational(9, 10)),
    "two_states": lambda: bea.Optimizer(
        _two_states, lambda x: (x, x), name="two_states", beta=BETA, gamma=GAMMA
    ),
    "constant_in_rule": lambda: bea.Optimizer(
        _constant_in_rule, lambda x: (x,), name="constant_in_rule", beta=BETA
    ),
}


def _fresh(s: BSeries) -> BSeries:
    """The same coefficients without the logarithm remembered by the solver."""
    return BSeries(s.table, s.domain, s.coeffs, s.empty, s.max_nodes)


@pytest.mark.parametrize("name", RULES)
def test_state_maps_are_invariant_under_the_rule(name):
    # (x, S(x)) ↦ (Φ(x), S(Φ(x))): the rule run on B-series from the solved state
    # gives Φ and S∘Φ, the latter composed by prunings (not by the Lie series)
    opt = RULES[name]()
    N = 6 if name == "two_states" else 7
    phi = opt.bseries(N)
    states = opt.state_series(N)
    assert states
    x0 = BSeries.identity(N, opt.colours)
    x_new, s_new = opt.rule(x0, states, lambda y, c=0: y.hf(c), **opt._exact_hyper())
    assert x_new == phi
    for s, s_next in zip(states, s_new):
        assert s_next == s @ phi
    # not vacuous: the state is not the identity and Φ is not a one-tree series
    assert states[0] != x0 and sum(1 for _ in phi.items()) > 10


@pytest.mark.parametrize("name", ["heavy_ball", "nesterov", "two_states", "nesterov_numeric"])
def test_log_found_with_phi_is_its_logarithm(name):
    phi = RULES[name]().bseries(7 if name == "two_states" else 8)
    assert phi._known_log is not None
    assert phi.log() == _series._log_exp(_fresh(phi), log=True)


@pytest.mark.parametrize("name", ["heavy_ball", "nesterov", "two_states"])
def test_fixed_denominator_scalars_change_nothing(name, monkeypatch):
    N = 6 if name == "two_states" else 7
    fast = RULES[name]()
    phi, states = fast.bseries(N), fast.state_series(N)
    monkeypatch.setattr(_programs, "loop_scalars", lambda dom, values: ExactScalars(dom))
    plain = RULES[name]()
    assert plain.bseries(N) == phi
    assert plain.state_series(N) == states
    assert plain.bseries(N).log() == phi.log()


def test_a_denominator_outside_D_falls_back_to_the_field(monkeypatch):
    # a ring whose D misses 1 − β: lifting M⁻¹ raises NotCovered, and the solve reruns
    # on the rational function field with the same result
    N = 6
    expected = O.heavy_ball().bseries(N)
    calls = []

    def narrow(dom, values):
        calls.append(dom)
        return PowerDenominators(dom, [])

    monkeypatch.setattr(_programs, "loop_scalars", narrow)
    got = O.heavy_ball().bseries(N)
    assert calls and got == expected and got.log() == expected.log()


def test_power_denominators_arithmetic():
    F = RationalFunctionField([BETA, GAMMA])
    a = F.from_sympy(1 / (1 - BETA))
    b = F.from_sympy((BETA + GAMMA) / ((1 - BETA) ** 2 * (2 + GAMMA)))
    c = F.from_sympy(GAMMA**2 - sp.Rational(1, 3))
    ring = PowerDenominators(F, [a.den, b.den])
    assert ring.D == F._poly(sp.expand((BETA - 1) * (GAMMA + 2)))
    A, B, C = (ring.lift(v) for v in (a, b, c))
    assert (A.e, B.e, C.e) == (1, 2, 0)
    expr = (A * B - C) * A + B * 3 - (C - A * A)
    value = ring.lower(ring.strip(expr))
    assert value == (a * b - c) * a + b * 3 - (c - a * a)
    want = (BETA + GAMMA) / ((1 - BETA) ** 3 * (2 + GAMMA)) - (GAMMA**2 - sp.Rational(1, 3))
    assert sp.cancel(F.to_sympy(ring.lower(A * B - C)) - want) == 0
    # strip cancels the factors D of a numerator: (1 − β)(2 + γ) / D² = 1/D
    d = ring.lift(F.from_sympy(1 / ((1 - BETA) * (2 + GAMMA))))
    assert ring.strip(_times(d, F, ring, (1 - BETA) * (2 + GAMMA))).e == 0
    with pytest.raises(NotCovered, match="outside"):
        ring.lift(F.from_sympy(1 / (1 + BETA)))


def _times(value, F, ring, expr):
    """value · expr with expr a polynomial (exponent unchanged: D is not cancelled)."""
    return value * ring.lift(F.from_sympy(expr))


@pytest.mark.slow
@pytest.mark.parametrize("factory", [O.heavy_ball, O.nesterov], ids=["heavy_ball", "nesterov"])
def test_symbolic_beta_order_6_against_the_coordinate_engine(factory):
    # independent of trees: the rule run on points whose coordinate is a series in h
    loss = x**4 / 4 - x**3 / 3 + x**2 / 2
    order = 6
    trees = bea.modified_equation(factory(), order).on(loss, [x])
    coords = coordinate_modified_equation(factory(), loss, [x], order)
    assert is_zero(trees[0] - coords[0])
    assert not is_zero(trees[0].subs(bea.h, 0) - coords[0])  # the comparison sees h


def test_ratfunc_examples_run():
    import doctest

    from bea.bseries import _ratfunc

    failures, tried = doctest.testmod(_ratfunc)
    assert tried >= 3 and failures == 0
