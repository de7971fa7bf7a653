"""Optimizers as programs: one update rule, analysed as a B-series and run in JAX.

An optimizer is a plain Python update rule over *points*::

    def rule(x, state, step, *, beta):
        (x_prev,) = state
        y = x + beta * (x - x_prev)
        return y + step(y), (x,)

``step(y)`` is one gradient step −h∇L(y) (``step(y, k)`` uses the k-th loss or
field), ``state`` a tuple of extra points or displacements carried from one
iteration to the next (previous iterates, momenta), and ``init(x)`` gives the
state at the start. Run on B-series the rule yields the method's series; run
on JAX arrays it *is* the optimizer (``Optimizer.jax``).

Methods with memory. The iteration (x, s) ↦ (x', s') has, for consistent rules
with a non-singular linear part, an *underlying one-step method* Φ and state
maps S_i with x' = Φ(x), s_i = S_i(x), S_i(Φ(x)) = s_i' (an invariant manifold
that attracts the iterates when the parasitic modes decay, e.g. |β| < 1 for
heavy-ball). Φ and S_i are solved as B-series tree by tree: at every tree t,
the unknowns (Φ(t), S_1(t), …) satisfy one linear system with the same matrix

    [[1, −A_x], [S(∅), I − A_S]]

(A the linear part of the rule in the state), whose singularity (β = 1 for
heavy-ball) means there is no underlying one-step method. The modified
equation of the optimizer is that of Φ. The compositions S_i∘Φ on the right
are Lie series in ω = log Φ, solved along with Φ (so the modified field comes
out of the same pass); with symbolic hyperparameters the coefficients are
handled as num/D^e over the fixed denominator D of M⁻¹ and the rule's
constants (for heavy ball D = 1 − β), see ``_solve_trees``.

Time is measured so that the n-th iterate sits at t = n·h: a rule that makes
``steps`` gradient steps per call (an epoch of mini-batch SGD) has its
modified field divided by ``steps``.
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Callable, Mapping
from fractions import Fraction
from types import MappingProxyType
from typing import Any

import sympy as sp

from .._inputs import check_order, exact
from ..bseries._ratfunc import NotCovered
from ..bseries._series import (
    BSeries,
    ExactScalars,
    _from_sympy_list,
    loop_scalars,
    unify_domains,
)
from ._base import Engine, Kind, Method

__all__ = ["Optimizer", "optimizer"]


class Optimizer(Method):
    """An optimizer written once as an update rule over points.

    Run on B-series "points" the rule gives the method's series, with the
    normalisation B(a, y) = a(∅) y + Σ h^{|t|} a(t)/σ(t) F(t); run on arrays
    (``jax``) it is the optimizer. Coordinate-wise rules (sign, RMSProp,
    Adam) ask for the keywords ``grad``, ``ops`` and ``h`` and are analysed in
    coordinates (see ``bea.coordinates._adaptive``).

    Parameters
    ----------
    rule
        callable ``rule(x, state, step, **hyperparameters) -> (x_new, new_state)``
        (a rule without state may return ``x_new`` alone).
    init
        callable ``init(x) -> state`` (a tuple); default: no state.
    name : str
    colours
        number of losses / vector fields the rule uses (``step(y, k)``,
        k < colours).
    steps
        gradient steps per call (the modified field is divided by it).
    average
        for several losses, average the one-step series over all
        relabellings of the losses (random reshuffling: the expected map).
    hyperparameters
        values passed to ``rule`` as keywords; numbers or
        sympy symbols (coefficients are then exact rational functions of them).
    check
        callable ``check(**hyperparameters)`` raising ``ValueError`` for
        values outside the method's domain (e.g. β = 1 for heavy ball); it runs
        on construction and again when symbols are given values
        (``check_values``, ``with_values``, ``numeric_hyperparameters``).
    """

    def __init__(
        self,
        rule: Callable,
        init: Callable | None = None,
        *,
        name: str | None = None,
        colours: int = 1,
        steps: int = 1,
        average: bool = False,
        coordinatewise: bool = False,
        doc: str | None = None,
        check: Callable[..., None] | None = None,
        **hyperparameters: Any,
    ) -> None:
        if not callable(rule):
            raise TypeError(f"rule must be callable, got {rule!r}")
        if isinstance(colours, bool) or not isinstance(colours, int) or colours < 1:
            raise ValueError(f"colours must be a positive int, got {colours!r}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be a positive int, got {steps!r}")
        if not isinstance(coordinatewise, bool):
            raise TypeError(f"coordinatewise must be True or False, got {coordinatewise!r}")
        extras = _extra_keywords(rule)
        if extras and not coordinatewise:
            raise ValueError(
                f"the rule {getattr(rule, '__name__', rule)!r} asks for "
                f"{', '.join(sorted(extras))}: a coordinate-wise rule. Declare it with "
                "bea.Optimizer(rule, ..., coordinatewise=True); it is then analysed in "
                "coordinates"
            )
        if coordinatewise and colours != 1:
            raise ValueError("coordinate-wise optimizers are supported for one loss (colours=1)")
        self.rule = rule
        self.init = init or _no_state
        self.name: str = name or str(getattr(rule, "__name__", "optimizer"))
        self._kind = Kind(
            engine=Engine.COORDINATES if coordinatewise else Engine.TREES,
            losses=colours,
            average=average,
            steps=steps,
            memory=init is not None,
        )
        self._hyper = MappingProxyType(dict(hyperparameters))
        #: the extra keywords (grad, ops, h) a coordinate-wise rule asks for
        self.extras = frozenset(extras)
        self._check = check
        if check is not None:
            check(**self._hyper)
        self.__doc__ = doc or rule.__doc__
        self._cache: dict[int, BSeries] = {}
        self._states: dict[int, tuple[BSeries, ...]] = {}

    @property
    def kind(self) -> Kind:
        """Declared at construction: engine (trees or coordinates), losses, steps, memory."""
        return self._kind

    @property
    def hyperparameters(self) -> Mapping[str, Any]:
        """The values passed to the rule as keywords (read-only)."""
        return self._hyper

    def program(self) -> Optimizer:
        """The update rule itself."""
        return self

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v}" for k, v in self.hyperparameters.items())
        if not hp and self.name.endswith(")"):
            return self.name
        return f"{self.name}({hp})"

    def with_values(self, **values: Any) -> Optimizer:
        """The same optimizer with symbolic hyperparameters given values."""
        subs = {sp.Symbol(k) if isinstance(k, str) else k: v for k, v in values.items()}
        hp = {}
        for k, v in self.hyperparameters.items():
            if isinstance(v, sp.Basic):
                v = v.subs(
                    {s: subs[s.name] for s in v.free_symbols if s.name in subs}
                    | {s: subs[s] for s in v.free_symbols if s in subs}
                )
            hp[k] = values.get(k, v)
        return Optimizer(
            self.rule,
            self.init,
            name=self.name,
            colours=self.colours,
            steps=self.steps,
            average=self.average,
            coordinatewise=self.coordinatewise,
            doc=self.__doc__,
            check=self._check,
            **hp,
        )

    def check_values(self, values: dict) -> None:
        """Check that giving the symbols these values keeps the method valid.

        ``values`` maps symbols or symbol names to numbers (``{"beta": 0.9}``);
        the hyperparameters with the symbols replaced go through the method's
        own check, so ``heavy_ball(beta)`` with ``{"beta": 1.0}`` raises the
        ValueError that ``heavy_ball(beta=1)`` raises.
        """
        if self._check is None:
            return
        by_name = {(k.name if isinstance(k, sp.Symbol) else str(k)): v for k, v in values.items()}
        hp = {}
        for k, v in self.hyperparameters.items():
            if isinstance(v, sp.Basic) and v.free_symbols:
                known = {s: exact(by_name[s.name]) for s in v.free_symbols if s.name in by_name}
                v = v.xreplace(known)
            hp[k] = v
        self._check(**hp)

    # -- analysis ------------------------------------------------------------------
    def _exact_hyper(self) -> dict:
        return {
            k: v if isinstance(v, (int, str, bool)) or v is None else exact(v)
            for k, v in self.hyperparameters.items()
        }

    def _call(self, x, state, step, hyper):
        out = self.rule(x, state, step, **hyper)
        if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], (tuple, list)):
            return out[0], tuple(out[1])
        if isinstance(out, BSeries) or not isinstance(out, tuple):
            return out, ()
        raise TypeError(
            "an update rule must return x_new or (x_new, new_state) with new_state a tuple; "
            f"got {type(out).__name__}"
        )

    def bseries(self, max_nodes: int) -> BSeries:
        """The B-series of the underlying one-step method (an epoch for ``steps`` > 1)."""
        check_order(max_nodes, "max_nodes")
        if self.coordinatewise:
            raise ValueError(
                f"{self!r} acts coordinate by coordinate ({', '.join(sorted(self.extras))} in its "
                "rule): it is not a B-series method. Its modified equation is derived in "
                "coordinates: bea.modified_equation(opt, order).on(loss, variables)"
            )
        if max_nodes in self._cache:
            return self._cache[max_nodes]
        series, states = _solve(self, max_nodes)
        self._states[max_nodes] = states
        if self.average and self.colours > 1:
            series = _average_colours(series)
        _check_consistent(self, series)
        self._cache[max_nodes] = series
        return series

    def state_series(self, max_nodes: int) -> tuple[BSeries, ...]:
        """The state maps S_i of the underlying one-step method, one B-series per state entry.

        On the invariant manifold of the iteration the state is a function of
        x: s_i = S_i(x) = S_i(∅)·x + Σ_t h^{|t|} S_i(t)/σ(t) F(t)(x) (f = −∇L,
        the normalisation of ``bseries``), solved tree by tree together
        with the one-step method Φ; S_i(Φ(x)) is the state after one more
        iteration. Starting the iteration at (x0, S(x0)) instead of
        (x0, init(x0)) puts it on the manifold up to O(h^{max_nodes+1}), with
        no transient. An empty tuple for rules without state.

        For heavy ball the state is the previous iterate, S = Φ⁻¹: on
        f(y) = −λy, S(x) = x/μ with μ = 1 − hλ + O(h²) the principal root of
        μ² − (1 + β − hλ)μ + β = 0.

        Examples
        --------
        >>> import bea
        >>> (S,) = bea.optimizers.heavy_ball(0).state_series(2)
        >>> S["[]"], S["[[]]"]  # x_prev = Φ⁻¹(x) = x − h f + h² f'f + …  (β = 0: GD)
        (-1, 1)
        """
        check_order(max_nodes, "max_nodes")
        if self.average and self.colours > 1 and self.init(BSeries.identity(1, self.colours)):
            raise ValueError(
                f"{self!r} averages over orderings of its losses and has a state: the state "
                "maps of the averaged map are not those of one ordering; none are defined"
            )
        if max_nodes not in self._states:
            self.bseries(max_nodes)
        return self._states[max_nodes]

    # -- execution -----------------------------------------------------------------
    def numeric_hyperparameters(self, **values: Any) -> dict:
        """Hyperparameters as numbers for arrays: symbols need ``values`` (``beta=0.9``)."""
        unknown = set(values) - set(self.hyperparameters)
        if unknown:
            raise ValueError(
                f"{self.name} has hyperparameters {sorted(self.hyperparameters) or 'none'}; "
                f"got values for {sorted(unknown)}"
            )
        out = {}
        for k, v in self.hyperparameters.items():
            v = values.get(k, v)
            if isinstance(v, sp.Basic) and not isinstance(v, sp.logic.boolalg.BooleanAtom):
                if v.free_symbols:
                    raise ValueError(
                        f"hyperparameter {k} = {v} of {self.name} is symbolic; give it a value, "
                        f"e.g. {k}=0.9"
                    )
                v = float(v)
            out[k] = v
        if self._check is not None:
            self._check(**out)
        return out

    def jax(self, grads: Callable | list[Callable], h: float, **values: Any) -> tuple:
        """(init, update) functions on JAX arrays (or any array type).

        ``grads``: the gradient function ∇L (or a list, one per loss/field);
        ``update(x, state) -> (x_new, new_state)`` is the rule with
        ``step(y, k) = −h·grads[k](y)``. Symbolic hyperparameters need
        numeric ``values``.
        """
        grads = list(grads) if isinstance(grads, (list, tuple)) else [grads]
        if len(grads) != self.colours:
            raise ValueError(
                f"{self.name} uses {self.colours} gradient function(s), got {len(grads)}"
            )
        hyper = self.numeric_hyperparameters(**values)

        def step(y, k=0):
            return -h * grads[k](y)

        extra = {}
        if self.coordinatewise:
            import jax.numpy as jnp

            extra = {"grad": grads[0], "ops": jnp, "h": h}
            extra = {k: v for k, v in extra.items() if k in self.extras}

        def update(x, state):
            return self._call(x, tuple(state), step, {**hyper, **extra})

        def init(x):
            return tuple(self.init(x))

        return init, update


def _no_state(x: Any) -> tuple:
    return ()


_EXTRAS = ("grad", "ops", "h")


def _extra_keywords(rule: Callable) -> set[str]:
    """The coordinate-wise keywords (grad, ops, h) the rule's signature asks for."""
    try:
        params = inspect.signature(rule).parameters
    except (TypeError, ValueError):
        return set()
    return {name for name in _EXTRAS if name in params}


def optimizer(init: Callable | None = None, **kwargs: Any) -> Callable[[Callable], Optimizer]:
    """Decorator: ``@bea.optimizer(init=lambda x: (x,))`` turns a rule into an Optimizer."""

    def wrap(rule):
        return Optimizer(rule, init, **kwargs)

    return wrap


# ----------------------------------------------------------------------------
# Solving for the underlying one-step method
# ----------------------------------------------------------------------------


def _solve(opt: Optimizer, N: int) -> tuple[BSeries, tuple[BSeries, ...]]:
    """The one-step method Φ and the state maps S_i (see ``Optimizer.state_series``)."""
    hyper = opt._exact_hyper()
    colours = opt.colours
    ident = BSeries.identity(N, colours)
    init_state = tuple(opt.init(ident))
    for s in init_state:
        if not isinstance(s, BSeries):
            raise TypeError(
                "init(x) must build the state from x with + - and scalars (e.g. (x,) or "
                f"(0*x,)); got {type(s).__name__}"
            )
    k = len(init_state)
    S_empty = [s.domain.to_sympy(s.empty) for s in init_state]

    def step(y, c=0):
        if not isinstance(c, int) or not 0 <= c < colours:
            raise ValueError(f"step(y, k): k must be an int in 0..{colours - 1}, got {c!r}")
        return y.hf(c)

    def run(state, n=N, ident=ident):
        x = ident if n == N else ident.truncate(n)
        x_new, s_new = checked_series_output(opt, *opt._call(x, state, step, hyper), k)
        return x_new, s_new

    def fresh(e):
        return BSeries.from_dict({}, N, empty=e, colours=colours)

    # the linear part A of the rule in the state, probed at the tree •
    base = tuple(fresh(e) for e in S_empty)
    x0, s0 = run(base)
    unit = BSeries.from_dict({"[]": 1}, N, colours=colours)
    A = sp.zeros(k + 1, k)
    for j in range(k):
        probe = list(base)
        probe[j] = base[j] + unit
        x1, s1 = run(tuple(p.truncate(1) for p in probe), 1)  # A needs the tree • only
        A[0, j] = x1["[]"] - x0["[]"]
        for i in range(k):
            A[i + 1, j] = s1[i]["[]"] - s0[i]["[]"]
    # consistency at h = 0 (the empty tree)
    moved = x0.domain.to_sympy(x0.empty)
    if sp.simplify(moved - 1) != 0:
        raise inconsistent_error(
            opt.name, f"the coefficients of x in x_new add up to {moved}, expected 1"
        )
    for i, s in enumerate(s0):
        got = s.domain.to_sympy(s.empty)
        if sp.simplify(got - S_empty[i]) != 0:
            raise ValueError(
                f"{opt.name}: state {i} starts as {S_empty[i]}·x (from init) but the rule "
                f"maps it to {got}·x; the state must be stationary at h = 0"
            )
    Minv = memory_matrix(opt, A, S_empty).inv()
    dom, vals = _from_sympy_list([*Minv, *hyper_values(hyper), *S_empty])
    # symbols the rule brings in itself (a symbolic Runge–Kutta tableau) join the domain
    dom = unify_domains(dom, x0.domain, *(s.domain for s in s0))
    vals = [dom.convert(v) for v in vals]
    # every coefficient is built from these and the rule's own constants (seen in x0, s0)
    known = [*vals, *x0.to_domain(dom).coeffs, *(c for s in s0 for c in s.to_domain(dom).coeffs)]
    ring = loop_scalars(dom, known)
    minv = vals[: (k + 1) ** 2]
    try:
        return _solve_trees(N, k, minv, S_empty, dom, ring, run, colours)
    except NotCovered:
        # a denominator outside the expected factors: the same recursion on the field itself
        return _solve_trees(N, k, minv, S_empty, dom, ExactScalars(dom), run, colours)


def _solve_trees(N, k, minv, S_empty, dom, ring, run, colours):
    """Φ and S_1..S_k tree by tree, with S_i∘Φ from the Lie series of log Φ.

    With ω = log Φ (Φ = exp(ω), ``BSeries.log``) and L c = c'·B(ω) (the Lie
    derivative, (L c)(t) = c(∅) ω(t) + Σ_{edges} ω(u) c(s)), the composition is
    the Lie series S∘Φ = Σ_{j≥0} L^j S / j!. With Q_j = L^j S and
    H_r(t) = Σ_{j≥1} Q_j(t)/(j+1+r)!, as for the logarithm::

        (S∘Φ)(t) = S(t) + Q_1(t) + Σ_{edges} ω(u) H_0(s),
        Q_1(t)   = S(∅) ω(t) + Σ_{edges} ω(u) S(s),
        H_r(t)   = Q_1(t)/(r+2)! + Σ_{edges} ω(u) H_{r+1}(s),

    and ω(t) = Φ(t) − Σ_{edges} ω(u) D_0(s) with the D_r of the logarithm
    (``bea.bseries._series._log_python``): a tree of n nodes costs
    (N − n + 1)(k + 1) products per edge, against one per pruning (root subtree)
    for the composition by prunings (HLW III.1.4). Scalars: ``ring``
    (``loop_scalars``). Returns (Φ, (S_1, …, S_k)).
    """
    lift, lower, strip = ring.lift, ring.lower, ring.strip
    zero = ring.zero
    mv = [lift(v) for v in minv]
    se = [lift(dom.convert(e)) for e in S_empty]
    invfact = [ring.convert(Fraction(1, math.factorial(j))) for j in range(N + 2)]
    point = BSeries.identity(N, colours, dom)  # x, in the coefficient domain
    phi = point._drafted()
    S = [
        BSeries.from_dict({}, N, empty=e, colours=colours).to_domain(dom)._drafted()
        for e in S_empty
    ]
    tab = phi.table.extend(N)
    T = len(phi.coeffs)
    cuts = tab.cuts
    omega = [zero] * T
    Sv = [[zero] * T for _ in range(k)]
    D: list = [None] * T  # D_r(t), r < N − |t|
    H: list = [[None] * T for _ in range(k)]  # H_r(t) of each state, r < N − |t|
    rows = range(k + 1)
    if not k:
        # no state, no composition: Φ is the rule's output (its log is left to BSeries.log,
        # which runs on the integer kernel over QQ)
        x_new, _ = run((), N, point)
        return x_new.to_domain(dom), ()
    for n in range(1, N + 1):
        x_new, s_new = run(tuple(s.truncate(n) for s in S), n, point)
        xc = x_new.to_domain(dom).coeffs
        sc = [s.to_domain(dom).coeffs for s in s_new]
        R = N - n + 1
        for t in tab.ids(n):
            X = [zero] * R
            P = [zero] * k
            Y = [[zero] * R for _ in range(k)]
            for u, s, m in cuts(t):
                wu = omega[u]
                if not wu:
                    continue
                w = wu * m
                Ds = D[s]
                X = [x + w * y if y else x for x, y in zip(X, Ds)]
                for i in range(k):
                    v = Sv[i][s]
                    if v:
                        P[i] += w * v
                    Y[i] = [x + w * y if y else x for x, y in zip(Y[i], H[i][s])]
            # S_i∘Φ at t less S_i(t) + S_i(∅)Φ(t) (the unknowns): −S_i(∅) X_0 + P_i + Y_i,0
            rhs = [lift(xc[t])]
            for i in range(k):
                rhs.append(lift(sc[i][t]) - (P[i] + Y[i][0] - se[i] * X[0]))
            sol = [strip(sum((mv[r * (k + 1) + c] * rhs[c] for c in rows), zero)) for r in rows]
            w = strip(sol[0] - X[0])
            omega[t] = w
            phi.coeffs[t] = lower(sol[0])
            more = range(N - n)
            if n < N:
                D[t] = [w * invfact[r + 2] + X[r + 1] for r in more]
            for i in range(k):
                Sv[i][t] = sol[i + 1]
                S[i].coeffs[t] = lower(sol[i + 1])
                if n < N:
                    q1 = se[i] * w + P[i]
                    H[i][t] = [q1 * invfact[r + 2] + Y[i][r + 1] for r in more]
    log = BSeries(tab, dom, [lower(w) for w in omega], dom.zero, N)
    return phi._frozen(log), tuple(s._frozen() for s in S)


def checked_series_output(opt, x_new, s_new, k: int) -> tuple:
    """(x_new, new state as a tuple) of a rule run on B-series, or the error naming the fix."""
    if not isinstance(x_new, BSeries):
        raise TypeError(
            f"the update rule returned {type(x_new).__name__}; it must return a point built "
            "from x, the state and step(...) with + - and scalar *"
        )
    if len(s_new) != k:
        raise state_count_error(opt.name, len(s_new), k)
    return x_new, tuple(s_new)


def state_count_error(name: str, got: int, k: int) -> ValueError:
    """The one message for a rule whose new state has the wrong number of entries."""
    return ValueError(
        f"{name}: the rule returned {got} state entries; init gave {k}. "
        "Return (x_new, (s_1, ..., s_k)) with as many entries as init(x)"
    )


def inconsistent_error(name: str, detail: str) -> ValueError:
    """The one message for a rule that is not x + O(h) (any engine)."""
    return ValueError(
        f"{name}: the update is not x + O(h): {detail}. A rule consistent with gradient "
        "descent returns x (or a combination of x and the state with weights adding to 1) "
        "plus steps."
    )


def memory_matrix(opt, A: sp.Matrix, e) -> sp.Matrix:
    """M = [[1, −A_x], [e, I − A_S]]: the linear system for Φ(t) and the states at every order.

    ``A`` is the (k+1)×k linear part of the rule in its state (row 0: x_new,
    rows 1..k: the new states), ``e`` the coefficients of x in the states.
    Raises ValueError if M is singular (no underlying one-step method).
    """
    k = len(e)
    M = sp.zeros(k + 1, k + 1)
    M[0, 0] = 1
    for j in range(k):
        M[0, j + 1] = -A[0, j]
    for i in range(k):
        M[i + 1, 0] = e[i]
        for j in range(k):
            M[i + 1, j + 1] = (1 if i == j else 0) - A[i + 1, j]
    if sp.cancel(M.det()) == 0:
        raise ValueError(
            f"{opt!r} has no underlying one-step method: the linear part of the iteration "
            "in its state is singular (det = 0). For heavy-ball and Nesterov this is β = 1; "
            "choose |β| < 1."
        )
    return M


def hyper_values(hyper: dict) -> list:
    return [v for v in hyper.values() if isinstance(v, sp.Basic)]


def _average_colours(series: BSeries) -> BSeries:
    """Average the coefficients over all permutations of the colours."""
    tab = series.table
    m = tab.colours
    dom = series.domain
    perms = list(itertools.permutations(range(m)))
    out = [dom.zero] * len(series.coeffs)

    def relabel(key, p):
        colour, kids = key
        return (p[colour], tuple(sorted((relabel(k, p) for k in kids), reverse=True)))

    inv = dom.convert(sp.Rational(1, len(perms)))
    for i, v in enumerate(series.coeffs):
        if not v:
            continue
        key = tab.key(i)
        for p in perms:
            j = tab.id_of(relabel(key, p))
            out[j] += v * inv
    return BSeries(tab, dom, out, series.empty, series.max_nodes)


def _check_consistent(opt: Optimizer, series: BSeries) -> None:
    """The rule must move x along each field at h → 0: a(•_c) ≠ 0 (> 0 when numeric)."""
    tab = series.table
    for c in range(tab.colours):
        v = series.domain.to_sympy(series.coeffs[tab.lookup(c, ())])
        bad = v == 0 or (v.is_number and v < 0)
        if bad:
            raise ValueError(
                f"{opt!r} is not consistent with gradient descent at h → 0: one step moves x "
                f"by {v}·h·f{'_' + str(c) if tab.colours > 1 else ''} + O(h²), expected a "
                "positive multiple. Check the signs (step(y) = −h∇L(y)) and that every loss is "
                "used."
            )
