r"""Optimizer programs in coordinates: the underlying one-step map, order by order in h.

The update rule of a ``bea.Optimizer`` is run on ``HPoint`` objects
(points of a fixed-dimensional space whose coordinates are truncated series in
``h``) with ``step(y, k) = −h ∇L_k(y)``. This is independent of the rooted-tree
engine and needs of the rule only ``+``, ``−``, scalar ``*`` and ``step``.

Methods with memory. A rule ``(x, s) ↦ (x', s')`` with state ``s = (s_1, …)``
has an underlying one-step map Φ and state maps S_i with

    Φ(x) = x + Σ_{j≥1} h^j φ_j(x),   S_i(x) = e_i x + Σ_{j≥1} h^j s_ij(x),

x' = Φ(x) when s = S(x), and s' = S(Φ(x)); e_i is the coefficient of x in
``init(x)``. At each order j the unknowns U = (φ_j, s_1j, …) solve, component
by component, the linear system M U = rhs with

    M = [[1, −A_x], [e, I − A_S]],

A = (A_x; A_S) the linear part of the rule in its state. The right-hand side
is the h^j coefficient of the rule's output with the order-j unknowns set to
0, less (for the state rows) the h^j coefficient of S_i(Φ(x)) without e_i φ_j,
found by Taylor expansion of each known s_ij' about x. det M = 0 (β = 1 for
heavy ball) means there is no underlying one-step method.

The modified field is that of Φ (``bea.coordinates._hseries.modified_field``),
divided by ``opt.steps``; with ``opt.average`` Φ is first averaged over all
orderings of the losses (the expected map of random reshuffling).

Conventions: f = −∇L; the result f̃ carries no factor h, f̃ = Σ_{k≤order} h^k f_k,
and the time-h flow of f̃ reproduces Φ to O(h^{order+2}). Coefficients are exact
(rationals, or rational functions of symbolic hyperparameters).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import sympy
from sympy import S

from .._inputs import as_variables, check_order, exact, player_fields, variable_groups
from .._inputs import h as _default_h
from ..methods._base import Method
from ..methods._programs import inconsistent_error, memory_matrix, state_count_error
from ._hseries import HPoint, _expand, gradient_step, modified_field

__all__ = ["coordinate_modified_equation", "underlying_map"]


# --------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------


def _is_scalar(loss) -> bool:
    return isinstance(loss, sympy.Expr) and not isinstance(loss, sympy.MatrixBase)


def _fields(opt, losses, variables):
    """(flat variables, groups or None, one field −∇L_k (a list of expressions) per loss)."""
    colours = opt.colours
    groups = variable_groups(variables)
    if groups is not None:
        flat = tuple(v for g in groups for v in g)
        matrices = player_fields(losses, groups, flat, colours)
        fields = [[exact(e) for e in m] for m in matrices]
        return flat, groups, fields
    flat = tuple(variables) if isinstance(variables, (list, tuple)) else (variables,)
    if colours > 1:
        if not isinstance(losses, (list, tuple)) or len(losses) != colours:
            raise ValueError(
                f"{opt!r} uses {colours} losses: pass a list of {colours} losses or fields "
                f"(one per colour), got {losses!r}"
            )
        return flat, None, [_one_field(L, flat) for L in losses]
    if isinstance(losses, (list, tuple)) and len(losses) == 1 and len(flat) != 1:
        losses = losses[0]
    if isinstance(losses, (list, tuple)) and len(flat) == 1 and len(losses) != 1:
        raise ValueError(f"{opt!r} uses one loss, got {len(losses)}: {losses!r}")
    return flat, None, [_one_field(losses, flat)]


def _one_field(loss, flat) -> list | sympy.Expr:
    """A scalar loss is kept as is (its step is ``gradient_step``); a field as a list."""
    if _is_scalar(loss):
        return exact(loss)
    if isinstance(loss, (int, float)):
        raise ValueError(f"a loss must be a sympy expression in the variables, got {loss!r}")
    entries = list(loss)
    if len(entries) != len(flat):
        raise ValueError(
            f"a vector field needs one entry per variable ({len(flat)}), got {len(entries)}"
        )
    return [exact(e) for e in entries]


def _field_step(field: list, variables, h, order: int) -> Callable[[HPoint], HPoint]:
    """y ↦ h·f(y) on HPoints truncated after h^order (f a list of expressions)."""

    def step(point: HPoint) -> HPoint:
        if order == 0:
            return point._new([[S.Zero] for _ in variables])
        rows = []
        for g in field:
            if g is S.Zero:
                rows.append([S.Zero] * (order + 1))
                continue
            rows.append([S.Zero, *point._evaluate_series(g, order - 1)])
        return point._new(rows)

    return step


def _make_step(field, variables, h, order: int) -> Callable[[HPoint], HPoint]:
    if isinstance(field, sympy.Expr):
        return gradient_step(field, variables, h, order)
    return _field_step(field, variables, h, order)


def _factory(maker, field, variables, h):
    return lambda n: maker(field, variables, h, n)


def _constant_step(symbol, variables, h, order: int) -> Callable[[HPoint], HPoint]:
    """y ↦ h·symbol·(1, …, 1): a constant field, to read off how a rule uses each step."""

    def step(point: HPoint) -> HPoint:
        row = [S.Zero] * (order + 1)
        if order >= 1:
            row[1] = symbol
        return point._new([list(row) for _ in variables])

    return step


def _call(opt, x, state, step, hyper):
    out = opt.rule(x, state, step, **hyper)
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], (tuple, list)):
        x_new, s_new = out[0], tuple(out[1])
    elif isinstance(out, HPoint):
        x_new, s_new = out, ()
    else:
        raise TypeError(
            "an update rule must return x_new or (x_new, new_state) with new_state a tuple; "
            f"got {type(out).__name__}"
        )
    bad = [type(p).__name__ for p in (x_new, *s_new) if not isinstance(p, HPoint)]
    if bad:
        raise TypeError(
            f"{opt.name}: the update rule returned {', '.join(bad)} where a point was expected; "
            "build x_new and the state from x, the state and step(...) with + - and scalar *"
        )
    return x_new, s_new


# --------------------------------------------------------------------------
# the solver
# --------------------------------------------------------------------------


def _run(opt, steps_at, state_rows, variables, h, n, hyper, k):
    """Run the rule on points truncated after h^n; state given as coefficient rows."""
    x = HPoint.identity(variables, h, n)
    state = tuple(x._new([list(r[: n + 1]) for r in rows]) for rows in state_rows)
    colours = len(steps_at)

    def step(y, c=0):
        if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < colours:
            raise ValueError(f"step(y, k): k must be an int in 0..{colours - 1}, got {c!r}")
        return steps_at[c](y)

    x_new, s_new = _call(opt, x, state, step, hyper)
    if len(s_new) != k:
        raise state_count_error(opt.name, len(s_new), k)
    return x_new, s_new


def _scalar_of(point: HPoint, variables, j: int, units, what: str):
    """The factor a with point's h^j coefficient = a·units[r] in every component r."""
    values = {sympy.cancel(sympy.expand(row[j]) / u) for row, u in zip(point.coefficients, units)}
    if len(values) != 1 or any(v.free_symbols & set(variables) for v in values):
        raise ValueError(
            f"{what}: the rule does not act on its state by + - and scalar * (component-wise "
            f"factors {sorted(map(str, values))}); the coordinate solver needs a state that "
            "enters linearly"
        )
    return values.pop()


def _linear_system(opt, hyper, variables, h, colours, e, k):
    """M = [[1, −A_x], [e, I − A_S]] and checks at h = 0."""
    zero_steps = [_constant_step(S.Zero, variables, h, 1) for _ in range(colours)]
    base_rows = [[[ei * v, S.Zero] for v in variables] for ei in e]
    x0, s0 = _run(opt, zero_steps, base_rows, variables, h, 1, hyper, k)
    moved = _scalar_of(x0, variables, 0, variables, opt.name)
    # the h^0 part must be x itself
    if any(sympy.expand(row[0] - v) != 0 for row, v in zip(x0.coefficients, variables)):
        raise inconsistent_error(
            opt.name, f"the coefficients of x in x_new add up to {moved}, expected 1"
        )
    for i, s in enumerate(s0):
        got = [sympy.expand(row[0] - e[i] * v) for row, v in zip(s.coefficients, variables)]
        if any(g != 0 for g in got):
            raise ValueError(
                f"{opt.name}: state {i} starts as {e[i]}·x (from init) but the rule maps it to "
                f"{s.coefficient(0).T}; the state must be stationary at h = 0"
            )
    # a perturbation h·(p_1, …, p_d) of one state entry, with distinct p_r, reads off A
    units = [sympy.Dummy(f"p{r}") for r in range(len(variables))]
    A = sympy.zeros(k + 1, k)
    for j in range(k):
        rows = [[list(r) for r in b] for b in base_rows]
        rows[j] = [[r[0], u] for r, u in zip(rows[j], units)]
        x1, s1 = _run(opt, zero_steps, rows, variables, h, 1, hyper, k)
        A[0, j] = _scalar_of(x1, variables, 1, units, opt.name)
        for i in range(k):
            A[i + 1, j] = _scalar_of(s1[i], variables, 1, units, opt.name)
    return memory_matrix(opt, A, e).inv().applyfunc(sympy.cancel)


def _init_factors(opt, variables, h, hyper) -> list:
    """e_i with init(x) = (e_1 x, e_2 x, …)."""
    x = HPoint.identity(variables, h, 0)
    init = opt.init(x)
    if not isinstance(init, (tuple, list)):
        raise TypeError(f"init(x) must return a tuple of points, got {type(init).__name__}")
    e = []
    for i, s in enumerate(init):
        if not isinstance(s, HPoint):
            raise TypeError(
                "init(x) must build the state from x with + - and scalars (e.g. (x,) or "
                f"(0*x,)); got {type(s).__name__}"
            )
        e.append(_scalar_of_init(s, variables, i))
    return e


def _scalar_of_init(s: HPoint, variables, i: int):
    values = set()
    for row, v in zip(s.coefficients, variables):
        values.add(sympy.cancel(sympy.expand(row[0]) / v))
    if len(values) != 1 or any(c.free_symbols & set(variables) for c in values):
        raise ValueError(
            f"init(x)[{i}] must be a scalar multiple of x (e.g. x or 0*x); got {s.coefficient(0).T}"
        )
    return values.pop()


def _solve(opt, step_factories, variables, h, N, hyper) -> list[list]:
    """Rows of Φ's coefficients [x_r, φ_1r, …, φ_Nr]; ``step_factories[c](n)`` is step c
    acting on points truncated after h^n."""
    colours = len(step_factories)
    e = _init_factors(opt, variables, h, hyper)
    k = len(e)
    minv = _linear_system(opt, hyper, variables, h, colours, e, k)
    d = len(variables)
    phi = [[v] + [S.Zero] * N for v in variables]
    state = [[[ei * v] + [S.Zero] * N for v in variables] for ei in e]
    for n in range(1, N + 1):
        steps_at = [make(n) for make in step_factories]
        x_new, s_new = _run(opt, steps_at, state, variables, h, n, hyper, k)
        # Φ known through h^{n−1}: S_i(Φ(x)) at h^n, less e_i φ_n
        shift = HPoint([[v, *row[1:n], S.Zero] for v, row in zip(variables, phi)], variables, h, n)
        comp = [[S.Zero] * d for _ in range(k)]
        for i in range(k):
            for jp in range(1, n):
                for r in range(d):
                    c = state[i][r][jp]
                    if c is S.Zero:
                        continue
                    comp[i][r] += shift._evaluate_series(c, n - jp)[n - jp]
        for r in range(d):
            rhs = [x_new.coefficients[r][n]]
            for i in range(k):
                rhs.append(s_new[i].coefficients[r][n] - comp[i][r])
            sol = [
                _expand(sympy.Add(*(minv[a, b] * rhs[b] for b in range(k + 1) if minv[a, b] != 0)))
                for a in range(k + 1)
            ]
            phi[r][n] = _normal(sol[0], variables, h)
            for i in range(k):
                state[i][r][n] = _normal(sol[i + 1], variables, h)
    return phi


def _normal(expr, variables, h) -> sympy.Expr:
    """Expand, then bring the coefficient of each monomial in the variables to lowest terms."""
    if not expr.free_symbols - set(variables) - {h}:
        return _expand(expr)
    expr = sympy.expand(expr)
    groups: dict = {}
    for term in sympy.Add.make_args(expr):
        coeff, rest = term.as_independent(*variables, h, as_Add=False)
        groups[rest] = groups.get(rest, S.Zero) + coeff
    return sympy.Add(*(sympy.cancel(c) * rest for rest, c in groups.items()))


def _check_consistent(opt, variables, h, hyper, colours: int) -> None:
    """The rule moves x by Σ_c a_c h f_c + O(h²) with each a_c > 0 (≠ 0 if symbolic)."""
    ts = [sympy.Dummy(f"t{c}") for c in range(colours)]
    factories = [_factory(_constant_step, t, variables, h) for t in ts]
    rows = _solve(opt, factories, variables, h, 1, hyper)
    first = sympy.expand(rows[0][1])
    for c, t in enumerate(ts):
        a = sympy.cancel(first.coeff(t))
        if a == 0 or (a.is_number and a < 0):
            raise ValueError(
                f"{opt!r} is not consistent with gradient descent at h → 0: one step moves x "
                f"by {a}·h·f{'_' + str(c) if colours > 1 else ''} + O(h²), expected a positive "
                "multiple. Check the signs (step(y) = −h∇L(y)) and that every loss is used."
            )


# --------------------------------------------------------------------------
# public entry points
# --------------------------------------------------------------------------


def underlying_map(
    opt: Method, losses: Any, variables: Any, order: int, h: sympy.Symbol = _default_h
) -> HPoint:
    r"""The underlying one-step map Φ(x) = x + Σ_{j=1}^{order} h^j φ_j(x) of ``opt``.

    ``opt`` is a ``bea.Optimizer``; its rule runs on ``HPoint`` with
    ``step(y, k) = −h∇L_k(y)`` (for grouped ``variables``, player k's step
    moves only player k's variables). For ``opt.average`` the map is averaged
    over all orderings of the losses. Not divided by ``opt.steps``: Φ is one
    call of the rule (an epoch for reshuffled SGD).

    >>> import sympy, bea
    >>> from bea.optimizers import heavy_ball
    >>> x = sympy.Symbol("x")
    >>> beta = sympy.Rational(1, 2)
    >>> underlying_map(heavy_ball(beta), x**2 / 2, [x], 1).to_matrix()  # x − h x/(1 − β)
    Matrix([[-2*h*x + x]])
    """
    order = check_order(order)
    if order < 1:
        raise ValueError(f"order must be >= 1 for the one-step map, got {order}")
    if not isinstance(opt, Method):
        raise TypeError(
            f"expected a bea method with an update rule (bea.optimizers.heavy_ball(0.9), "
            f"bea.Optimizer(rule), an explicit Runge–Kutta method), got {opt!r}"
        )
    try:
        opt = opt.program()
    except ValueError as exc:
        raise TypeError(f"the coordinate engine runs update rules (bea.Optimizer): {exc}") from None
    flat, _, fields = _fields(opt, losses, variables)
    flat = as_variables(flat, h)
    hyper = opt._exact_hyper()
    colours = len(fields)
    _check_consistent(opt, flat, h, hyper, colours)
    if opt.average and colours > 1:
        perms = list(itertools.permutations(range(colours)))
        total = None
        for p in perms:
            factories = [_factory(_make_step, fields[p[c]], flat, h) for c in range(colours)]
            rows = _solve(opt, factories, flat, h, order, hyper)
            total = (
                rows
                if total is None
                else [[a + b for a, b in zip(r, s)] for r, s in zip(total, rows)]
            )
        weight = sympy.Rational(1, len(perms))
        assert total is not None  # at least one ordering
        rows = [
            [v] + [_normal(weight * c, flat, h) for c in row[1:]] for v, row in zip(flat, total)
        ]
    else:
        factories = [_factory(_make_step, f, flat, h) for f in fields]
        rows = _solve(opt, factories, flat, h, order, hyper)
    return HPoint(rows, flat, h, order)


def coordinate_modified_equation(
    opt: Method, losses: Any, variables: Any, order: int, h: sympy.Symbol = _default_h
) -> sympy.Matrix | list[sympy.Matrix]:
    r"""The modified field f̃ = Σ_{k=0}^{order} h^k f_k of an optimizer, in coordinates.

    The optimizer's update rule runs on ``HPoint`` (coordinates are
    truncated series in h); the underlying one-step map Φ and the state maps
    are solved order by order (see the module docstring), and f̃ is the
    modified field of Φ divided by ``opt.steps``: the time-h flow of
    ``opt.steps``·f̃ reproduces Φ to O(h^{order+2}).

    Conventions as in ``bea.ModifiedEquation.on``: f = −∇L, no factor h on
    f̃, ``losses`` a scalar sympy expression (or a vector field, a Matrix), a
    list with one per loss for optimizers with several, and for games
    ``variables`` grouped by player (``[[phi...], [theta...]]``): player c's
    field is −∇_{own variables} L_c and the result is a list with one column
    Matrix per player. Losses may be undefined functions,
    ``sympy.Function("L")(x, y)``. Coefficients are exact; those involving
    symbolic hyperparameters are rational functions brought to lowest terms
    monomial by monomial.

    >>> import sympy, bea
    >>> x = sympy.Symbol("x")
    >>> coordinate_modified_equation(bea.optimizers.gd(), x**3 / 3, [x], 1)  # f − h/2 f'f
    Matrix([[-h*x**3 - x**2]])

    References: Hairer, Lubich, Wanner, *Geometric Numerical Integration*,
    Sec. IX.1 (modified equations) and XV.2 (underlying one-step method of
    multistep methods).
    """
    order = check_order(order)
    flat, groups, _ = _fields(opt, losses, variables)
    flat = as_variables(flat, h)
    phi = underlying_map(opt, losses, variables, order + 1, h)
    field = modified_field(phi, flat, h, order)
    steps = opt.steps
    field = field.applyfunc(lambda e: _normal(e / steps, flat, h))
    if groups is None:
        return field
    out, start = [], 0
    for g in groups:
        out.append(field[start : start + len(g), :])
        start += len(g)
    return out
