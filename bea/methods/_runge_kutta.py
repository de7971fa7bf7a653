"""Runge–Kutta methods from their Butcher tableau, explicit Euler (gradient descent) first.

A Runge–Kutta method is a ``bea.Method`` of kind ``Engine.TREES``: its
``bseries(max_nodes)`` is the series of one step,
B(a, y) = a(∅) y + Σ h^{|t|} a(t)/σ(t) F(t)(y), with f = −∇L for optimizers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flint
import sympy as sp
from sympy.polys.domains import QQ

from .._inputs import check_order, exact
from ..bseries._kernel import MAX_NODES, rk_weights
from ..bseries._series import BSeries, _from_sympy_list, qq_values
from ..bseries._trees import table
from ._base import Kind, Method
from ._programs import Optimizer

_KIND = Kind()

__all__ = [
    "RungeKutta",
    "explicit_midpoint",
    "gd",
    "heun",
    "implicit_euler",
    "implicit_midpoint",
    "rk4",
    "runge_kutta",
]


class RungeKutta(Method):
    """A Runge–Kutta method from its Butcher tableau (explicit or implicit).

    Stages Y_i = y + h Σ_j a_ij f(Y_j), step y₁ = y + h Σ_i b_i f(Y_i).
    Entries may be ints, Fractions, floats (read as the decimal they print as)
    or sympy expressions in symbols (the coefficients are then exact rational
    functions of those symbols). ``c`` is optional; if given it must equal the
    row sums of A.

    Its B-series has a(∅) = 1 and a(t) = Φ(t) = Σ_i b_i u_i(t), the elementary
    weights, with u_i(•) = 1, u_i([t1..tm]) = Π_k g_i(t_k), g_i = Σ_j a_ij u_j
    (HLW III.1.2); implicit methods are solved tree by tree the same way.
    """

    def __init__(self, A: Any, b: Any, c: Any = None, name: str = "runge_kutta") -> None:
        A_rows = _as_rows(A, "A")
        s = len(A_rows)
        if s == 0:
            raise ValueError("the Butcher tableau needs at least one stage; got an empty A")
        for i, row in enumerate(A_rows):
            if len(row) != s:
                raise ValueError(
                    f"A must be square: expected {s} entries in row {i}, got {len(row)}. "
                    "Pass A as a list of s rows of s entries each."
                )
        b_list = _as_vector(b, "b")
        if len(b_list) != s:
            raise ValueError(f"b must have one entry per stage: expected {s}, got {len(b_list)}")
        self.A = sp.Matrix(s, s, [exact(x) for row in A_rows for x in row])
        self.b = sp.Matrix([exact(x) for x in b_list])
        sums = [sp.simplify(sum(self.A.row(i))) for i in range(s)]
        if c is not None:
            c_list = _as_vector(c, "c")
            if len(c_list) != s:
                raise ValueError(
                    f"c must have one entry per stage: expected {s}, got {len(c_list)}"
                )
            for i, (ci, si) in enumerate(zip(c_list, sums)):
                if sp.simplify(exact(ci) - si) != 0:
                    raise ValueError(
                        f"c[{i}] = {ci} but row {i} of A sums to {si}; c must be the row sums "
                        "of A (or omit c)"
                    )
        self.c = sp.Matrix(sums)
        self.stages = s
        self.name = name
        self.explicit = all(self.A[i, j] == 0 for i in range(s) for j in range(i, s))

    @property
    def kind(self) -> Kind:
        """A one-step B-series method on one field (``Engine.TREES``)."""
        return _KIND

    def bseries(self, max_nodes: int) -> BSeries:
        check_order(max_nodes, "max_nodes")
        s = self.stages
        entries = [*self.A, *self.b]
        dom, vals = _from_sympy_list(entries)
        A = [vals[i * s : (i + 1) * s] for i in range(s)]
        b = vals[s * s :]
        tab = table(1)
        if dom == QQ and 1 <= max_nodes <= MAX_NODES:
            # exact integer arrays, level by level (bea.bseries._kernel.rk_weights)
            def fq(x):
                return flint.fmpq(int(x.numerator), int(x.denominator))

            tab.admit(max_nodes)  # the tree limit, as if the table grew here
            nums, dens = rk_weights(
                [[fq(x) for x in row] for row in A], [fq(x) for x in b], max_nodes
            )
            return BSeries(tab, dom, qq_values(nums, dens), dom.one, max_nodes)
        zero, one = dom.zero, dom.one
        ids = tab.upto(max_nodes)
        g = [[zero] * len(ids) for _ in range(s)]  # stage series g_i(t)
        out = [zero] * len(ids)
        children = tab.children
        for t in ids:
            u = []
            for i in range(s):
                v = one
                for ch in children[t]:
                    v = v * g[i][ch]
                u.append(v)
            for i in range(s):
                g[i][t] = sum((A[i][j] * u[j] for j in range(s)), zero)
            out[t] = sum((b[i] * u[i] for i in range(s)), zero)
        return BSeries(tab, dom, out, one, max_nodes)

    @property
    def symbols(self) -> set[sp.Symbol]:
        """The free symbols of the tableau."""
        return {s for s in (self.A.free_symbols | self.b.free_symbols) if isinstance(s, sp.Symbol)}

    def with_values(self, **values: Any) -> RungeKutta:
        """The same tableau with its symbols given values (``q=1/2``; floats read as decimals)."""
        known = {s.name: s for s in self.symbols}
        unknown = set(values) - set(known)
        if unknown:
            raise ValueError(
                f"{self.name} has symbols {sorted(known) or 'none'}; got values for "
                f"{sorted(unknown)}"
            )
        subs = {known[k]: exact(v) for k, v in values.items()}
        return RungeKutta(self.A.subs(subs), self.b.subs(subs), name=self.name)

    def program(self) -> Optimizer:
        """This explicit method as an update rule (``as_optimizer``)."""
        if not self.explicit:
            raise ValueError(
                f"{self!r} is implicit: its stages solve equations, which an update rule on "
                "arrays does not do. Use an explicit method (bea.gd(), bea.rk4(), "
                "bea.runge_kutta(A, b) with A strictly lower triangular)."
            )
        return self.as_optimizer()

    def as_optimizer(self, number: Callable | None = None) -> Optimizer:
        """This explicit method as an update rule (a ``bea.Optimizer``).

        k_i = step(x + Σ_j a_ij k_j), x⁺ = x + Σ_i b_i k_i. ``number`` converts
        the tableau entries for the points the rule runs on; by default they
        stay exact for series and coordinate points and become floats for
        arrays.
        """
        if not self.explicit:
            raise ValueError(
                f"{self.name} is implicit: its stages cannot be written as an explicit rule"
            )
        s = self.stages
        A = [[self.A[i, j] for j in range(s)] for i in range(s)]
        b = [self.b[i] for i in range(s)]

        def rule(x, state, step):
            num = number or _numeric_for(x)
            ks = []
            for i in range(s):
                y = x
                for j in range(i):
                    if A[i][j] != 0:
                        y = y + num(A[i][j]) * ks[j]
                ks.append(step(y))
            out = x
            for i in range(s):
                if b[i] != 0:
                    out = out + num(b[i]) * ks[i]
            return out

        return Optimizer(
            rule, name=self.name, doc=f"Explicit Runge–Kutta method {self.name} ({s} stages)."
        )

    def jax(self, grads: Any, h: float, iterations: int = 50, **values: Any) -> tuple:
        """(init, update) on arrays: one step of the method on f = −∇L.

        Explicit tableaux run stage by stage (``as_optimizer``); implicit
        ones by ``iterations`` fixed-point sweeps of the stage equations
        (contractive for h·Lip(∇L)·max|a_ij|·s < 1). The state is empty.
        """
        if values:
            return self.with_values(**values).jax(grads, h, iterations)
        if self.A.free_symbols or self.b.free_symbols:
            raise ValueError(f"{self.name} has symbolic entries; substitute numbers first")
        if self.explicit:
            return self.as_optimizer().jax(grads, h)
        grad = grads[0] if isinstance(grads, (list, tuple)) else grads
        s = self.stages
        A = [[float(self.A[i, j]) for j in range(s)] for i in range(s)]
        b = [float(v) for v in self.b]

        def update(x, state):
            ks = [-h * grad(x)] * s
            for _ in range(iterations):
                stages = []
                for i in range(s):
                    y = x
                    for j in range(s):
                        if A[i][j] != 0:
                            y = y + A[i][j] * ks[j]
                    stages.append(y)
                ks = [-h * grad(y) for y in stages]
            new = x
            for i in range(s):
                if b[i] != 0:
                    new = new + b[i] * ks[i]
            return new, state

        return (lambda x: ()), update

    def __repr__(self) -> str:
        # the call that builds it, as the optimizers print: gd(), rk4()
        if self.name != "runge_kutta":
            return self.name if self.name.endswith(")") else f"{self.name}()"
        return f"RungeKutta(stages={self.stages})"


def _as_rows(A, name):
    if isinstance(A, sp.MatrixBase):
        return [list(A.row(i)) for i in range(A.rows)]
    try:
        rows = [list(r) for r in A]
    except TypeError as exc:
        raise ValueError(f"{name} must be a sequence of rows (a square matrix), got {A!r}") from exc
    return rows


def _as_vector(v, name) -> list:
    if isinstance(v, sp.MatrixBase):
        return list(v)
    try:
        return list(v)
    except TypeError as exc:
        raise ValueError(f"{name} must be a sequence of numbers, got {v!r}") from exc


def _numeric_for(x):
    """Scalars as exact sympy numbers, or as floats when the points are arrays."""
    if hasattr(x, "dtype") or isinstance(x, float):

        def num(c):
            try:
                return float(c)
            except TypeError as exc:
                raise ValueError(
                    f"tableau entry {c} is symbolic; substitute numbers to run on arrays"
                ) from exc

        return num
    return lambda c: c


def runge_kutta(A: Any, b: Any, c: Any = None, name: str = "runge_kutta") -> RungeKutta:
    """A Runge–Kutta method from its Butcher tableau; see ``RungeKutta``."""
    return RungeKutta(A, b, c, name=name)


def gd(schedule: Any = None) -> Method:
    """Gradient descent θ ← θ − h∇L(θ): explicit Euler on f = −∇L.

    Its series: a(•) = 1, 0 on every other tree. Modified field
    f̃ = f − h/2 f'f + h²(1/12 f''(f,f) + 1/3 f'f'f) + O(h³).
    ``schedule``: a sympy expression η(t) in ``bea.t`` for the step h·η(t_n),
    t_n = n·h (see ``bea.optimizers.scheduled``).
    """
    method = RungeKutta([[0]], [1], name="gd")
    if schedule is None:
        return method
    from ._training import scheduled

    return scheduled(method, schedule)


def explicit_midpoint() -> RungeKutta:
    """Explicit midpoint rule (order 2)."""
    h = sp.Rational(1, 2)
    return RungeKutta([[0, 0], [h, 0]], [0, 1], name="explicit_midpoint")


def heun() -> RungeKutta:
    """Heun's method (explicit trapezoidal rule, order 2)."""
    h = sp.Rational(1, 2)
    return RungeKutta([[0, 0], [1, 0]], [h, h], name="heun")


def rk4() -> RungeKutta:
    """The classical fourth-order Runge–Kutta method."""
    h = sp.Rational(1, 2)
    A = [[0, 0, 0, 0], [h, 0, 0, 0], [0, h, 0, 0], [0, 0, 1, 0]]
    b = [sp.Rational(1, 6), sp.Rational(1, 3), sp.Rational(1, 3), sp.Rational(1, 6)]
    return RungeKutta(A, b, name="rk4")


def implicit_midpoint() -> RungeKutta:
    """Implicit midpoint rule (symmetric, order 2)."""
    return RungeKutta([[sp.Rational(1, 2)]], [1], name="implicit_midpoint")


def implicit_euler() -> RungeKutta:
    """Implicit (backward) Euler."""
    return RungeKutta([[1]], [1], name="implicit_euler")
