"""Order-of-agreement sweeps: optimizer iterates against truncated modified flows.

For step sizes h_i at a fixed horizon T = n_i·h_i the sweep runs the
optimizer's own update rule (``method.jax(grads, h)``, the rule the engine
analysed) for n_i steps, integrates the modified field through h^p with
diffrax from the same start to time T, and records the global error
‖x_{n_i} − y_p(T)‖₂. Backward error analysis predicts C_p·h^{p+1}; the report
fits the slope of log error against log h.

Design choices
--------------
* **Vectorising over h.** n_i = T/h_i differs per step size, so the scans
  cannot be stacked directly. Each lane (start, h) runs ``lax.fori_loop`` with
  a traced trip count; under ``jax.vmap`` JAX turns the loop into one
  ``while_loop`` that runs until the longest lane is done and freezes the
  finished lanes with a select (a mask). The work is lanes × max n.
  ``chunk=1`` runs the lanes one at a time through the same compiled kernel
  instead (work Σ n, serial) and gives a finer progress bar. The ODE solves
  are vmapped the same way (diffrax's adaptive loop is a while loop too; every
  lane keeps its own step sequence), one solve for all orders.
* **Reference flows.** diffrax (adaptive Dopri8, rtol = atol = 1e-13 by
  default), or ``solver="dopri8-fixed"``: Dopri8's 8th-order formula
  (``numerics._dopri8``) in 256 fixed steps with a step-doubling check per lane
  (the 128-step solution; estimate ‖y_256 − y_128‖/255 at most rtol·‖y‖ +
  atol), and adaptive Dopri8 for the lanes that fail it. The fixed-step solve
  needs no diffrax: for the small problems of ``bea verify`` it traces and
  compiles in about a third of adaptive Dopri8's time (diffrax's import of
  0.44 s aside), with the same errors to the floor (tests/test_sweep_fixed.py;
  on ``bea verify reshuffled_sgd --loss minibatch`` an error of 7.63e-13, 3.4
  times the floor, reads 7.66e-13: adaptive Dopri8's own error there, 3e-15,
  while fixed steps of 128, 256 and 512 agree to 1e-16).
* **Compile once.** The start, h, the step counts n and K and the horizon T
  are arguments of the compiled kernel, never constants of its trace; lanes
  are padded to a multiple of 8. The compiled kernel is kept per process
  (keyed by the method and loss objects, the orders, the solver settings and
  the devices), so further sweeps of the same problem with other step sizes
  or horizons neither trace nor compile; across processes JAX's persistent
  compilation cache (``numerics._compile``: ``<user cache>/bea/jax``,
  ``BEA_JAX_CACHE=0`` switches it off) serves the compiled executable, and
  the traced kernel itself is stored beside it with ``jax.export`` under text
  that names the program in every process (``_program_text``), so a later
  process neither traces the kernel nor imports diffrax. The curvature
  estimate and the check of the start are one compiled call each.
  ``Report.timings`` separates ``trace`` (tracing and lowering, or loading the
  stored kernel), ``compile`` (XLA, or loading from the persistent cache) and
  ``run``.
* **Methods with state** (heavy ball, Nesterov, EMA momentum). The modified
  equation describes the *underlying one-step method*, whose iterates lie on
  an invariant manifold of (x, state). Starting from ``init(x0)`` puts the
  iteration off that manifold by O(h). The default ``start="manifold"``
  starts at (x0, S(x0)) instead, S the state maps of the one-step method,
  solved as B-series with it (``bea.Optimizer.state_series``, truncated at
  max(orders) + 3 nodes) and evaluated at x0 by nested jvps: the iteration is
  on the manifold up to O(h^{p+4}) from the first step, for every h, and no
  flow is integrated backwards (a backward flow from x0 can blow up in finite
  time: it does on a quartic). Coordinate-wise methods (RMSProp, Adam, Lion,
  Muon, weight decay: ``Engine.COORDINATES``) have no state-map B-series; on a
  ``SympyLoss`` their state maps come from the coordinate engine as exact
  series in h through h^{p+1} (``AdaptiveModifiedEquation.state_maps``,
  lambdified), so they too start on the manifold, up to O(h^{p+2}); on a JAX
  loss they fall back to the transient start. ``Report.start`` says which
  start was used. ``start="transient"`` starts at init(x0) and
  discards a transient of K steps, the deviation decaying like ρ^k with ρ the
  largest parasitic multiplier of the rule (β for heavy ball), K with ρ^K
  below float64 rounding (computed from the rule's linearisation;
  ``transient=`` overrides); the flow then starts at x_K, a different point
  for each h. That start is a poor one for measuring slopes whenever K·h is
  not small against T: the sweep then compares different pieces of the
  trajectory (for heavy ball with coupled weight decay, β = λ = 1/2, T = 1/2:
  K = 66, so K·h = 0.66 > T at h = 0.01, and the fitted slopes were 0.28 and
  1.22 instead of 1 and 2); the report says so.
* **Several losses** (reshuffled SGD, ``method.average``): the iterated map is
  the *expected* epoch map, the average of the epoch over all m! orderings of
  the losses — the map whose series the engine averages. (The mean of random
  epochs differs from it at second order; this is the map the theory describes.)
* **Range of the series.** On a quadratic with curvature λ, GD's modified flow
  (1/h)·log(1 − hλ) is real only for hλ < 1; in general the principal
  multiplier of the rule on the linear test problem ∇L(y) = λy must be real,
  positive and dominant. λmax is supplied or estimated by power iteration with
  Hessian-vector products at the start; step sizes outside the range are
  flagged and left out of the fit (still measured).
* **Floor.** Errors below ``floor_factor``·ε·scale (ε the float64 epsilon,
  scale = max(1, ‖y(T)‖)), or below 100·(rtol + atol)·scale, measure rounding
  and solver tolerance, not truncation; they are excluded from the fit and
  listed.
* **Failures are reported, not raised**: non-finite or divergent iterates,
  step sizes beyond the range, failed ODE solves (``throw=False``,
  ``sol.result`` checked per lane) each appear in ``Report.failures`` with the
  reason; the rest of the sweep completes.

Devices
-------
``device="cpu" | "gpu" | "tpu"`` picks the platform (default: JAX's default).
``devices=k`` (or a list of devices) shards the lanes (starts × step sizes)
over k devices with ``jax.shard_map`` on a one-axis mesh; each device runs its
own vmapped loops, so sharded and unsharded sweeps compute the same numbers.
On CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (set before JAX
starts) gives four host devices. Several hosts: call
``jax.distributed.initialize(coordinator_address, num_processes, process_id)``
on every host before anything else; ``jax.devices()`` then lists the devices of
all hosts and ``devices=len(jax.devices())`` shards over them (every host runs
the same script; results are gathered to each host).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bea import Engine, as_method

from ._compile import KernelCache, enable_persistent_cache, export_store
from ._fields import Problem, SympyLoss, make_problem
from ._report import Failure, Report

__all__ = ["agreement", "estimate_lambda_max", "linear_multipliers"]

EPS64 = float(np.finfo(np.float64).eps)


def _check_x64():
    if not jax.config.jax_enable_x64:
        raise ValueError(
            "agreement sweeps measure errors far below float32 resolution and need float64: "
            "call jax.config.update('jax_enable_x64', True) before creating arrays"
        )


# ----------------------------------------------------------------------------
# The update rule on arrays
# ----------------------------------------------------------------------------


def _program(method):
    """The method as an update rule on arrays (``.jax``; Runge–Kutta methods have one too)."""
    return as_method(method)


def _update_fn(method, grads: list[Callable], h):
    """(init, update) of the method on flat arrays; averaged over orderings when asked."""
    method = _program(method)
    colours = method.colours
    if method.average and colours > 1:
        perms = list(itertools.permutations(range(colours)))
        pairs = [method.jax([grads[p[k]] for k in range(colours)], h) for p in perms]
        init = pairs[0][0]

        def update(x, state):
            outs = [u(x, state) for _, u in pairs]
            mean = jax.tree_util.tree_map(lambda *v: sum(v) / len(v), *outs)
            return mean[0], tuple(mean[1])

        return init, update
    init, update = method.jax(grads, h)
    return init, update


def linear_multipliers(method, hl: float) -> np.ndarray:
    """Eigenvalues of the rule's iteration matrix on the test problem ∇L(y) = λy, at hλ = ``hl``.

    One is the principal multiplier (1 − hλ for GD; it tends to 1 as hλ → 0),
    the others are parasitic (β for heavy ball at hλ = 0). With m losses each
    has gradient λy/m. Returned sorted by decreasing real part. The rule is
    run on NumPy arrays: it is linear here, so its columns on basis vectors
    are its matrix.
    """
    colours = as_method(method).colours
    grads = [lambda y: y / colours] * colours
    init, update = _update_fn(method, grads, float(hl))
    x = np.ones(1)
    k = len(tuple(init(x)))
    dim = 1 + k
    cols = []
    for j in range(dim):
        z = np.zeros(dim)
        z[j] = 1.0
        xx, ss = z[:1], tuple(z[1 + i : 2 + i] for i in range(k))
        x_new, s_new = update(xx, ss)
        cols.append(
            np.concatenate(
                [np.asarray(x_new, float).reshape(1)]
                + [np.asarray(v, float).reshape(1) for v in s_new]
            )
        )
    mu = np.linalg.eigvals(np.stack(cols, axis=1))
    return mu[np.argsort(-mu.real)]


def _in_range(method, hl: float) -> tuple[bool, str]:
    if not math.isfinite(hl):
        return False, (
            f"h·λmax = {hl}: the curvature estimate λmax at the start is not finite, so the "
            "range of the modified series is unknown (is the loss smooth and finite there?)"
        )
    mu = linear_multipliers(method, hl)
    principal = mu[0]
    if abs(principal.imag) > 1e-12 * max(1.0, abs(principal)) or principal.real <= 0:
        return False, (
            f"h·λmax = {hl:.3g}: the rule's principal multiplier on the mode of largest "
            f"curvature is {complex(principal):.3g}, not real positive, so there is no real "
            "modified flow (for GD: h·λmax ≥ 1)"
        )
    if len(mu) > 1 and np.max(np.abs(mu[1:])) >= abs(principal):
        return False, (
            f"h·λmax = {hl:.3g}: a parasitic multiplier ({complex(mu[1]):.3g}) is as large as "
            f"the principal one ({principal.real:.3g}); no attracting one-step method"
        )
    return True, ""


#: default step sizes keep h·λmax below this fraction of the end of the series' range
DEFAULT_RANGE_FRACTION = 0.25


def _range_limit(method, top: float = 1e3) -> float:
    """The smallest h·λ > 0 at which the modified series has no real flow (see ``_in_range``).

    1 for GD (1 − hλ ≤ 0), 1 + β − 2√β for heavy ball (the multipliers turn
    complex); ``top`` when the range extends beyond it (implicit Euler).
    Found by a geometric scan and bisection on the rule's linearisation.
    """
    grid = np.geomspace(1e-6, top, 91)
    bad = next((float(v) for v in grid if not _in_range(method, float(v))[0]), None)
    if bad is None:
        return top
    k = int(np.searchsorted(grid, bad))
    lo = float(grid[k - 1]) if k > 0 else 0.0
    hi = bad
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _in_range(method, mid)[0] else (lo, mid)
    return lo


def _auto_transient(method, hls: Sequence[float], floor_rel: float) -> int:
    mu0 = linear_multipliers(method, 0.0)
    if len(mu0) == 1:
        return 0
    rho = 0.0
    for hl in [0.0, *hls]:
        mu = linear_multipliers(method, hl)
        if len(mu) > 1:
            rho = max(rho, float(np.max(np.abs(mu[1:]))))
    if rho >= 1:
        raise ValueError(
            f"{method!r}: a parasitic multiplier has modulus {rho:.3g} ≥ 1, the state never "
            "settles on the one-step method's invariant manifold; give transient= explicitly"
        )
    if rho == 0:
        return len(mu0)
    return math.ceil(math.log(floor_rel * 1e-3) / math.log(rho)) + 1


def _compiled_call(fn, *args, options: dict | None = None):
    """``jax.jit(fn)(*args)`` compiled with XLA ``options`` (None: JAX's defaults)."""
    return jax.jit(fn).lower(*args).compile(compiler_options=options or None)(*args)


def _nonfinite_start(problem: Problem, X0, options: dict | None = None) -> str:
    """Why no sweep can start at the starts X0 (a gradient not finite there), or "".

    The gradients at every start are evaluated in one compiled call.
    """
    values = _compiled_call(lambda X: [jax.vmap(g)(X) for g in problem.grads], X0, options=options)
    values = [np.asarray(v) for v in values]
    for i, x in enumerate(np.asarray(X0)):
        for k in range(len(problem.grads)):
            value = values[k][i]
            if not np.all(np.isfinite(value)):
                which = f"gradient {k} of the loss" if len(problem.grads) > 1 else "the gradient"
                shown = ", ".join(f"{v:.6g}" for v in np.asarray(x)[:6])
                return (
                    f"{which} is not finite at the start x0 = [{shown}] (it is {value.tolist()}"
                    "): the loss is not smooth there, so nothing was iterated or integrated; "
                    "start elsewhere"
                )
    return ""


def _manifold_start(method, problem: Problem, loss, order: int):
    """(state(y, h), start, note) on the invariant manifold, or (None, "", why not).

    B-series methods: the state maps' B-series through order + 3 nodes
    (``_settle.manifold_state``). Coordinate-wise methods
    (``Engine.COORDINATES``) on a ``SympyLoss``: the coordinate engine's exact
    state maps through h^{order+1} (``_settle.coordinate_state``). ``start``
    names which (``Report.start``), ``note`` says it in a sentence.
    """
    from ._settle import coordinate_state, manifold_state

    if method.kind.engine is Engine.COORDINATES:
        if not isinstance(loss, SympyLoss) or len(loss.losses) != 1:
            return (
                None,
                "",
                (
                    f"{method!r} is coordinate-wise: its state maps come from the coordinate "
                    "engine on a loss given in sympy (numerics.SympyLoss), not on a JAX loss; "
                    "started with a transient instead"
                ),
            )
        return (
            coordinate_state(method, loss, order),
            "manifold (coordinate engine)",
            (
                "methods with state: the iteration starts on the invariant manifold, state "
                "S(x0) from the coordinate engine's exact state maps (series in h through "
                f"h^{order + 1}, error O(h^{order + 2}))"
            ),
        )
    max_nodes = order + 3
    program = method.program()
    try:
        program.state_series(max_nodes)
    except ValueError as err:
        return None, "", f"no state maps ({err}); started with a transient instead"

    def negated(g):
        return lambda y: -g(y)

    fields = [negated(g) for g in problem.grads]
    return (
        manifold_state(program, fields, max_nodes),
        "manifold (state-map B-series)",
        (
            "methods with state: the iteration starts on the one-step method's invariant "
            f"manifold, state S(x0) from the state maps' B-series through {max_nodes} "
            f"nodes (error O(h^{max_nodes + 1}))"
        ),
    )


def estimate_lambda_max(
    grads, x, iterations: int = 100, seed: int = 0, compiler_options: dict | None = None
) -> float:
    """Largest |eigenvalue| of the Jacobian of Σ_k grads_k at ``x`` by power iteration.

    Uses Jacobian-vector products (``jax.jvp``; Hessian-vector products for a
    gradient), never a matrix. For a loss, λmax of the Hessian ∇²L(x). One
    compiled program (``compiler_options``: XLA options for it, as in
    ``agreement``).
    """
    grads = list(grads) if isinstance(grads, (list, tuple)) else [grads]
    x = x if isinstance(x, jax.Array) else np.asarray(x)  # the host's arrays go in as they are

    def total(y):
        return sum(g(y) for g in grads)

    def power(x):  # one compiled program (found in JAX's persistent cache by a later process)
        v = jax.random.normal(jax.random.PRNGKey(seed), x.shape, x.dtype)
        v = v / jnp.linalg.norm(v)

        def body(_, carry):
            v, _ = carry
            w = jax.jvp(total, (x,), (v,))[1]
            nw = jnp.linalg.norm(w)
            return w / jnp.where(nw > 0, nw, 1.0), nw

        return jax.lax.fori_loop(0, iterations, body, (v, jnp.zeros((), x.dtype)))[1]

    return float(_compiled_call(power, x, options=compiler_options))


# ----------------------------------------------------------------------------
# Kernels
# ----------------------------------------------------------------------------


#: the solvers known by name (diffrax classes, imported when a kernel is traced)
_SOLVERS = {"tsit5": "Tsit5", "dopri8": "Dopri8", "dopri5": "Dopri5"}

#: the fixed-step solver checked by step doubling (``_fixed_solve``; no diffrax), and the
#: diffrax solver that takes over the lanes where its check fails
_FIXED, _FIXED_FALLBACK = "dopri8-fixed", "dopri8"

#: steps over the horizon of the coarse fixed-step solution (the fine one takes twice as many)
_FIXED_STEPS = 128


def _check_solver(solver) -> None:
    names = sorted((*_SOLVERS, _FIXED))
    if isinstance(solver, str) and solver.lower() not in names:
        raise ValueError(f"solver must be one of {names} or a diffrax solver, got {solver!r}")


def _is_fixed(solver) -> bool:
    return isinstance(solver, str) and solver.lower() == _FIXED


def _fixed_solve(vector_field, y0, t1, rtol, atol, steps: int = _FIXED_STEPS):
    """Dopri8's 8th-order formula from 0 to t1 in 2·steps and in steps equal steps, checked.

    Returns ``(y, code, number of steps)``: y the solution in 2·steps steps;
    code 0 where the estimate of its error, ‖y_2N − y_N‖/255 (Richardson: the
    global error of an 8th-order method scales as dt⁸, so the coarse one is
    256 times the fine one), is at most rtol·‖y‖ + atol, else 1 (also where y
    is not finite). The 13 stages (``numerics._dopri8``, Prince & Dormand
    1981) run in a loop, so the vector field is traced and compiled once: a
    fraction of what diffrax's adaptive Dopri8 takes to trace and compile.

    >>> import jax, jax.numpy as jnp
    >>> jax.config.update("jax_enable_x64", True)
    >>> y, code, n = _fixed_solve(lambda y: -y, jnp.ones(1), 1.0, 1e-13, 1e-13)
    >>> abs(float(y[0]) - float(jnp.exp(-1.0))) < 1e-14, int(code), int(n)
    (True, 0, 256)
    """
    from . import _dopri8

    a, b = jnp.array(_dopri8.A), jnp.array(_dopri8.B)
    stages = len(_dopri8.B)

    def integrate(n):
        dt = t1 / n

        def step(_, y):
            def stage(i, ks):  # k_i = f(y + dt·Σ_{j<i} a_ij k_j)
                return ks.at[i].set(vector_field(y + dt * jnp.tensordot(a[i], ks, axes=1)))

            ks = jax.lax.fori_loop(0, stages, stage, jnp.zeros((stages, *y.shape), y.dtype))
            return y + dt * jnp.tensordot(b, ks, axes=1)

        return jax.lax.fori_loop(0, n, step, y0)

    coarse, fine = jax.vmap(integrate)(jnp.array([steps, 2 * steps]))
    estimate = jnp.linalg.norm(fine - coarse) / 255.0
    ok = estimate <= rtol * jnp.linalg.norm(fine) + atol  # False for NaN
    return fine, jnp.where(ok, 0, 1).astype(jnp.int32), jnp.asarray(2 * steps)


def _solver(solver):
    if not isinstance(solver, str):
        return solver
    _check_solver(solver)
    import diffrax

    return getattr(diffrax, _SOLVERS[solver.lower()])()


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+|0x[0-9a-fA-F]+")


def _program_text(method, problem: Problem, orders, state_fn, dim: int) -> str | None:
    """Text naming the per-lane program in every process alike, or None where none is found.

    The jaxprs of what the kernel is built from besides the sweep machinery (the
    update rule's ``init`` and one ``update``, the modified fields of every
    order and the manifold start, at a traced h), with their constants; memory
    addresses in printed function objects are dropped. A field the problem
    names itself (``Problem.field_text``: sympy losses) is named by that text
    instead of being built and traced. Together with the solver
    settings, the lane shapes and ``numerics._compile.fingerprint()`` (versions
    and the source of bea and numerics) it keys the traced kernel on disk.
    """

    try:  # a program that does not trace here is traced (and its error reported) later
        named = {p: problem.field_text(p) for p in orders} if problem.field_text else {}
        traced = [p for p in orders if named.get(p) is None]

        def parts(x0, h):
            init, update = _update_fn(method, problem.grads, h)
            s0 = tuple(init(x0))
            fields = [problem.field(p, h)(x0) for p in traced]
            state = state_fn(x0, h) if state_fn is not None else ()
            return s0, update(x0, s0), fields, state

        closed = jax.make_jaxpr(parts)(
            jax.ShapeDtypeStruct((dim,), jnp.float64), jax.ShapeDtypeStruct((), jnp.float64)
        )
    except Exception:
        return None
    digest = hashlib.sha256(_ADDRESS.sub("", str(closed)).encode())
    for p in orders:
        digest.update(f"{p}:{named.get(p)}".encode())
    for c in closed.consts:
        a = np.asarray(c)
        digest.update(f"{a.dtype}{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def _kernels(method, problem: Problem, orders, solver, rtol, atol, max_steps, state_fn):
    """Per-lane functions: the iterates, and the modified flows of all orders at once or one.

    Everything that varies between sweeps of one problem is an argument of the
    per-lane functions, not a constant of their trace: the start x0, the step
    size h, the numbers of steps n and K, and the horizon T. One compiled kernel
    thus serves every set of step sizes, step counts and horizons. diffrax is
    imported when the functions are traced (with ``solver="dopri8-fixed"`` only
    for the redo of lanes that fail its check).
    """

    def iterate(x0, h, n, K, s0=None):
        init, update = _update_fn(method, problem.grads, h)

        def body(_, carry):
            x, s = carry
            x_new, s_new = update(x, s)
            return x_new, tuple(s_new)

        carry = (x0, tuple(init(x0)) if s0 is None else s0)
        xK, sK = jax.lax.fori_loop(0, K, body, carry)
        xN, _ = jax.lax.fori_loop(0, n, body, (xK, sK))
        return xK, xN

    def solve(fields, y0, t1, solver=solver):
        def vector_field(y):
            return jnp.stack([f(yi) for f, yi in zip(fields, y)])

        if _is_fixed(solver):
            return _fixed_solve(vector_field, y0, t1, rtol, atol, _FIXED_STEPS)
        import diffrax

        term = diffrax.ODETerm(lambda t, y, args: vector_field(y))
        sol = diffrax.diffeqsolve(
            term,
            _solver(solver),
            0.0,
            t1,
            None,
            y0,
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
            saveat=diffrax.SaveAt(t1=True),
            max_steps=max_steps,
            throw=False,
        )
        return sol.ys[-1], sol.result._value, sol.stats["num_steps"]

    def joint(x0, h, n, K, T):
        fields = [problem.field(p, h) for p in orders]
        code0 = jnp.zeros((), jnp.int32)
        s0 = None
        if state_fn is not None:
            # methods with state: start on the one-step method's invariant manifold
            s0 = state_fn(x0, h)
            finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(s)) for s in s0]))
            code0 = jnp.where(finite, 0, -1).astype(jnp.int32)
        xK, xN = iterate(x0, h, n, K, s0)
        # one ODE solve for every order: the state stacks one copy of x per order
        yT, code, steps = solve(fields, jnp.stack([xK] * len(orders)), T)
        code = jnp.where(code0 != 0, -1, code)
        return xN, xK, yT, code, steps

    def single(p):  # the redo of a failed joint solve: with diffrax after the fixed-step check
        def run(xK, h, T):
            fallback = _FIXED_FALLBACK if _is_fixed(solver) else solver
            yT, code, steps = solve([problem.field(p, h)], xK[None], T, fallback)
            return yT[0], code, steps

        return run

    return joint, single


class _Runner:
    """vmap a per-lane function, over one device or sharded over several with shard_map.

    Compiled ahead of time once per shape of the lane arrays; calls add the
    seconds spent tracing and lowering (``trace``), compiling or loading the
    executable from JAX's persistent cache (``compile``) and running
    (``run``) to the ``timings`` dict they are given. With a ``stable`` key
    (text naming the program in every process alike, one device) the traced
    program is kept on disk (``numerics._compile.ExportStore``): a later
    process loads it instead of tracing, and compiles it through the same
    wrapper, so JAX's persistent cache serves the executable. The compiled
    executable is kept beside it too (``ExportStore.save_executable``, named
    by the stored program's bytes, the compile options and the device kind):
    a later process loads it and neither lowers the program nor asks JAX's
    cache.
    """

    def __init__(self, fn, devices, stable: str | None = None, options: dict | None = None):
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        self.devices = list(devices)
        self.stable = stable if len(self.devices) == 1 else None
        self.options = dict(options) if options else None
        vf = jax.vmap(fn)
        if len(self.devices) == 1:
            self.fn = jax.jit(vf)
            self.put = lambda a: jax.device_put(a, self.devices[0])
        else:
            mesh = Mesh(np.array(self.devices), ("lanes",))
            spec = PartitionSpec("lanes")
            self.fn = jax.jit(
                jax.shard_map(vf, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)
            )
            sharding = NamedSharding(mesh, spec)
            self.put = lambda a: jax.device_put(a, sharding)
        self.compiled: dict = {}

    def _lower(self, placed):
        if self.stable is None:
            return self.fn.lower(*placed)
        avals = tuple((tuple(a.shape), str(a.dtype)) for a in placed)
        platform = self.devices[0].platform

        made = []

        def export():
            made.append(True)
            return jax.export.export(self.fn, platforms=[platform])(*placed)

        def fits(exported) -> bool:
            got = tuple((tuple(a.shape), str(a.dtype)) for a in exported.in_avals)
            return got == avals and tuple(exported.platforms) == (platform,)

        try:
            exported = export_store().get_or_export(self._stored_key(placed), export, fits)
        except Exception:  # a program jax.export cannot take (host callbacks, ...): as before
            self.stable = None
            return self.fn.lower(*placed)
        if made:  # traced here: lowered from that trace (the executable is kept for later)
            return self.fn.lower(*placed)
        return jax.jit(exported.call).lower(*placed)

    def _stored_key(self, placed) -> str:
        avals = tuple((tuple(a.shape), str(a.dtype)) for a in placed)
        return f"{self.stable}\n{avals}"

    def _context(self) -> str:
        """What the executable depends on besides the stored program: options, device kind."""
        dev = self.devices[0]
        return f"{sorted((self.options or {}).items())!r}\n{dev.platform}\n{dev.device_kind}"

    def __call__(self, *args, timings: dict):
        placed = [self.put(a) for a in args]
        shapes = tuple((a.shape, a.dtype) for a in placed)
        compiled = self.compiled.get(shapes)
        if compiled is None and self.stable is not None:  # the executable kept on disk
            t = time.perf_counter()
            compiled = export_store().load_executable(
                self._stored_key(placed), self._context(), self.devices
            )
            if compiled is not None:
                self.compiled[shapes] = compiled
                timings["compile"] = timings.get("compile", 0.0) + time.perf_counter() - t
        if compiled is None:  # ahead-of-time, so tracing, compiling and running are timed apart
            t = time.perf_counter()
            lowered = self._lower(placed)
            t_lowered = time.perf_counter()
            compiled = self.compiled[shapes] = lowered.compile(compiler_options=self.options)
            timings["trace"] = timings.get("trace", 0.0) + t_lowered - t
            timings["compile"] = timings.get("compile", 0.0) + time.perf_counter() - t_lowered
            if self.stable is not None:
                export_store().save_executable(self._stored_key(placed), self._context(), compiled)
        t = time.perf_counter()
        out = jax.block_until_ready(compiled(*placed))
        timings["run"] = timings.get("run", 0.0) + time.perf_counter() - t
        return jax.tree_util.tree_map(np.asarray, out)


_KERNELS = KernelCache()


def _runner(key, refs, make, devices, stable=None, options=None) -> tuple[_Runner, bool]:
    """The cached runner for ``key`` (True) or a new one from ``make()`` (False).

    ``refs`` are the objects the key names by ``id``: kept alive with the entry.
    ``stable()``: the on-disk key of the program (see ``_Runner``), or None;
    asked only for a new runner. ``options``: XLA compiler options.
    """
    hit = _KERNELS.get(key)
    if hit is not None:
        return hit[0], True
    runner = _Runner(make(), devices, None if stable is None else stable(), options)
    _KERNELS.put(key, (runner, refs))
    return runner, False


def _device_name(dev) -> str:
    """The platform, with the device kind where it says more ("gpu (NVIDIA H200)", "cpu")."""
    kind = str(dev.device_kind)
    return dev.platform if kind.lower() == dev.platform else f"{dev.platform} ({kind})"


def _resolve_devices(device, devices):
    if devices is not None and not isinstance(devices, int):
        devs = list(devices)
        if not devs:
            raise ValueError("devices must be a positive int or a non-empty list of jax devices")
        return devs
    try:
        avail = jax.devices(device) if device is not None else jax.devices()
    except RuntimeError as err:
        raise ValueError(
            f"no {device!r} devices available ({err}); use device='cpu' or install the "
            "matching jaxlib"
        ) from err
    k = 1 if devices is None else devices
    if k < 1 or k > len(avail):
        raise ValueError(
            f"devices={k} but {len(avail)} {avail[0].platform} device(s) are available; on CPU "
            "set XLA_FLAGS=--xla_force_host_platform_device_count=N before JAX starts"
        )
    return avail[:k]


# ----------------------------------------------------------------------------
# The sweep
# ----------------------------------------------------------------------------


def agreement(
    method,
    loss,
    params0=None,
    orders: Sequence[int] = (0, 1, 2, 3),
    step_sizes: Sequence[float] | None = None,
    horizon: float = 1.0,
    *,
    starts: Sequence | None = None,
    grads=None,
    field=None,
    transient: int | None = None,
    start: str = "manifold",
    state: Callable | None = None,
    lambda_max: float | None = None,
    check_range: bool = True,
    solver="dopri8",
    rtol: float = 1e-13,
    atol: float = 1e-13,
    max_steps: int = 20_000,
    tol: float = 0.2,
    floor_factor: float = 1e3,
    divergence: float = 1e8,
    chunk: int | None = None,
    device: str | None = None,
    devices=None,
    progress: bool = False,
    compiler_options: dict | None = None,
) -> Report:
    """Measure how closely an optimizer's iterates follow its truncated modified flows.

    For each order p and step size h (n = T/h iterations; an epoch of m
    mini-batch steps counts m) the global error ‖x_n − y_p(T)‖₂ between the
    iterates and the flow of f̃_p = Σ_{|t| ≤ p+1} h^{|t|−1} ω(t)/σ(t) F(t)
    (f = −∇L, ω from ``bea.modified_equation(method, p)``) is measured; it must
    scale as h^{p+1}. Order 0 is the gradient flow scaled by the method's
    leading coefficient (f/(1−β) for heavy ball).

    Parameters
    ----------
    method
        a bea optimizer with numeric hyperparameters (``bea.gd()``,
        ``bea.optimizers.heavy_ball(0.5)``, …; ``method.with_values(beta=0.9)``).
    loss
        a JAX loss ``params -> scalar`` (modified field from
        ``bea.jax.modified_field``), a list of JAX losses (one per mini-batch /
        colour), a ``numerics.SympyLoss``, or None with ``grads`` and ``field``.
    params0
        the start (any pytree of float64 arrays).
    orders
        truncation orders p to measure.
    step_sizes
        step sizes h; each is rounded so that T/h is an integer
        (default: T/n for 8 values of n from n₀ to 8n₀, n₀ = 10 or more so
        that h·λmax stays within a quarter of the modified series' range:
        hλ < 1 for GD, hλ < 1 + β − 2√β for heavy ball).
    horizon
        T.
    starts
        several starts instead of ``params0`` (the error reported per
        (order, h) is the largest over them; ``errors_per_start`` keeps all).
    grads
        gradient functions overriding ``jax.grad(loss)`` (one per colour,
        on params pytrees): for games, player c's gradient, zero outside its
        own variables.
    field
        ``field(order, h) -> (params -> pytree)``, a modified field
        overriding the generated one (any callable; e.g. from sympy).
    transient
        iterations K discarded before measuring (methods with state);
        default computed from the rule's parasitic multipliers.
    start
        "manifold" (methods with state): start at (params0, S(params0)),
        the state on the one-step method's invariant manifold from the state
        maps' B-series (coordinate-wise methods on a ``SympyLoss``: from the
        coordinate engine's exact state maps), so the measured part starts
        settled at params0 for every h (no transient by default); ``Report.start``
        names the start used; "transient": start at
        init(params0) and discard the transient (the measured part then
        starts at a different point for each h).
    state
        ``state(x, h) -> tuple``: the state to start from at the flat start
        x and step size h (JAX-traceable), overriding ``start``; for a
        closed-form invariant manifold, e.g. ``MuonModifiedEquation.jax_state``
        (``Report.start`` is then "given (state=)").
    lambda_max
        largest Hessian eigenvalue, for the range check; default
        estimated by power iteration at the start(s) (a non-finite value
        flags every step size: the range is unknown).
    check_range
        flag step sizes where the modified series has no real flow.
    solver, rtol, atol, max_steps
        diffrax solver ("tsit5", "dopri8",
        "dopri5" or an instance) and PIDController tolerances; or "dopri8-fixed":
        Dopri8's formula in 256 fixed steps over the horizon, no diffrax,
        checked per lane by step doubling (the solution in 128 steps: the
        error estimate ‖y_256 − y_128‖/255 must be at most rtol·‖y‖ + atol,
        i.e. at the floor); lanes that fail the check are solved again with
        adaptive Dopri8 (diffrax) and a note says so. It traces and compiles
        in a fraction of adaptive Dopri8's time (``bea verify`` and ``bea
        demo`` use it) but takes 3·128 steps of 13 stages whatever the
        problem: for small problems over a moderate horizon.
    tol
        accepted deviation of a fitted slope from p + 1.
    floor_factor
        errors below floor_factor·ε·scale are left out of the fit.
    divergence
        iterates with ‖x‖ > divergence·max(1, ‖x0‖) count as divergent.
    chunk
        lanes per kernel call (None: all at once, vectorised over h).
    device
        "cpu", "gpu", … (None: JAX's default backend).
    devices
        number of devices (or a list) to shard the lanes over.
    progress
        show a tqdm progress bar.
    compiler_options
        XLA compiler options for the sweep's compiled programs (None: JAX's
        defaults), part of every cache key. On CPU,
        ``{"xla_backend_optimization_level": 0}`` compiles the kernel about
        40 % faster and runs it up to twice as slowly, and rounds a few
        floating-point operations differently (errors agree to a few units in
        the last place): worth it where compiling dominates, as for the small
        problems of ``bea verify``.

    Returns
    -------
    Report
        ``.errors[p]`` (array over h), ``.slopes[p]``, ``.passed[p]``,
        ``.failures``, ``.table()``, ``.plot(path)``, ``.to_json()``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, bea, numerics
    >>> jax.config.update("jax_enable_x64", True)
    >>> loss = lambda x: jnp.sum(jnp.log(jnp.cosh(x)))
    >>> r = numerics.agreement(bea.gd(), loss, jnp.array([0.8, -0.5]), orders=(0, 1))
    >>> [round(r.slopes[p]) for p in (0, 1)]
    [1, 2]
    """
    method = as_method(method)
    _check_x64()
    enable_persistent_cache()
    t_start = time.perf_counter()
    orders = tuple(int(p) for p in orders)
    if not orders or any(p < 0 for p in orders):
        raise ValueError(f"orders must be non-negative ints, got {orders}")
    if horizon <= 0:
        raise ValueError(f"horizon must be positive, got {horizon}")
    if method.symbols:
        names = sorted(s.name for s in method.symbols)
        raise ValueError(
            f"{method!r} has symbolic hyperparameters {names}; give them values, e.g. "
            f"agreement(method.with_values({names[0]}=0.9), ...)"
        )
    if starts is None:
        if params0 is None:
            raise ValueError("give params0 (the start) or starts=[...]")
        starts = [params0]
    elif params0 is not None:
        raise ValueError("give either params0 or starts=, not both")
    flats = []
    found: list[Problem] = []
    for s in starts:
        problem_s, flat = make_problem(method, loss, s, grads=grads, field=field)
        found.append(problem_s)
        flats.append(flat)
    if not found:
        raise ValueError("starts= must name at least one starting point")
    problem = found[0]
    if len({f.shape for f in flats}) != 1:
        raise ValueError(f"all starts must have the same shape, got {[f.shape for f in flats]}")
    X0 = np.stack([np.asarray(f, np.float64) for f in flats])  # on the host: no eager ops

    failures: list[Failure] = []
    notes: list[str] = []
    devs = _resolve_devices(device, devices)

    lam = lambda_max
    if check_range and lam is None:
        try:
            estimates = [
                estimate_lambda_max(problem.grads, x, compiler_options=compiler_options) for x in X0
            ]
            lam = float("nan") if any(not math.isfinite(v) for v in estimates) else max(estimates)
        except Exception as err:  # an estimate must not stop the sweep
            notes.append(f"lambda_max not estimated: {type(err).__name__}: {err}")
            lam = None
    if lam is not None and not math.isfinite(lam):
        notes.append(
            f"lambda_max = {lam}: the curvature at the start is not finite (a loss that is not "
            "smooth, or not finite, at params0?); every step size is flagged"
        )

    steps_per_call = method.steps
    if step_sizes is None:
        n_min = 10
        if lam is not None and math.isfinite(lam) and lam > 0:
            # keep h·λmax within a quarter of the series' range (the asymptotic regime)
            limit = _range_limit(method)
            n_min = max(n_min, math.ceil(horizon * lam / (DEFAULT_RANGE_FRACTION * limit)))
            if n_min > 10:
                notes.append(
                    f"default step sizes: h·λmax ≤ {DEFAULT_RANGE_FRACTION:g} × {limit:.3g}, "
                    f"the end of the range of the modified series (λmax = {lam:.4g})"
                )
        ns = np.unique(np.round(np.geomspace(n_min, 8 * n_min, 8)).astype(int))
    else:
        hs_req = np.asarray(step_sizes, dtype=float)
        if hs_req.ndim != 1 or not np.all(hs_req > 0):
            raise ValueError(f"step_sizes must be positive numbers, got {step_sizes!r}")
        ns = np.maximum(1, np.round(horizon / (hs_req * steps_per_call))).astype(int)
    ns = np.array(sorted(set(int(n) for n in ns)))
    hs = horizon / (ns * steps_per_call)
    if len(hs) < 3:
        raise ValueError(
            f"need at least 3 distinct step sizes to fit a slope; got h = {list(hs)} after "
            f"rounding T/h to integers (T = {horizon})"
        )
    described = {
        "method": repr(method),
        "horizon": float(horizon),
        "step_sizes": hs,
        "steps": ns,
        "orders": orders,
        "tol": tol,
        "device": _device_name(devs[0]),
        "devices": len(devs),
        "loss": loss.text() if isinstance(loss, SympyLoss) else problem.description,
        "starts": [[float(v) for v in np.asarray(f)] for f in flats],
    }
    unusable = _nonfinite_start(problem, X0, compiler_options)
    if unusable:  # nothing can be measured from there: say so at once, run nothing
        return Report(
            errors={p: np.full(len(hs), np.nan) for p in orders},
            floor=float(max(floor_factor * EPS64, rtol + atol)),
            failures=[Failure(float(hv), unusable) for hv in hs],
            lambda_max=lam,
            wall_time=time.perf_counter() - t_start,
            notes=notes,
            **described,
        )
    if check_range and lam is not None:
        for hv in hs:
            ok, why = _in_range(method, hv * lam)
            if not ok:
                failures.append(Failure(float(hv), why))

    if start not in ("manifold", "transient"):
        raise ValueError(f"start must be 'manifold' or 'transient', got {start!r}")
    hls = [float(hv * lam) for hv in hs] if lam is not None else []
    hls = [v for v in hls if _in_range(method, v)[0]]
    state_fn, start_used, start_note = None, "", ""
    if state is not None:
        if not callable(state):
            raise TypeError(f"state must be a function (x, h) -> tuple of arrays, got {state!r}")
        state_fn, start_used = state, "given (state=)"
        start_note = "the iteration starts from the given state(x0, h)"
    elif len(linear_multipliers(method, 0.0)) > 1:  # a method with state
        if start == "manifold":
            state_fn, start_used, start_note = _manifold_start(method, problem, loss, max(orders))
            if state_fn is None:
                notes.append(start_note)
        if state_fn is None:
            start_used = "transient"
    if transient is None:
        if state is not None:
            transient = 0
        else:
            auto = _auto_transient(method, hls, EPS64)  # also checks the parasitic modes decay
            transient = 0 if state_fn is not None else auto
    transient = int(transient)
    _check_solver(solver)
    solver_key = solver.lower() if isinstance(solver, str) else id(solver)
    if _is_fixed(solver):
        solver_key = f"{_FIXED}/{_FIXED_STEPS}"
    # one compiled kernel per (problem, orders, solver settings, start, devices): h, n, K and
    # T are data
    kernel_key = (
        id(method),
        problem.key,
        orders,
        solver_key,
        float(rtol),
        float(atol),
        int(max_steps),
        (start_used, id(state)) if state_fn is not None else None,
        tuple(str(d) for d in devs),
        tuple(sorted((compiler_options or {}).items())),
    )
    refs = (method, solver, state, *problem.refs)

    def stable(kind: str) -> str | None:
        """The program named in text (solvers by name only): its traced form is kept on disk."""
        if not isinstance(solver, str) or len(devs) > 1 or export_store().directory is None:
            return None
        text = _program_text(method, problem, orders, state_fn, int(X0.shape[1]))
        if text is None:
            return None
        settings = (orders, solver_key, float(rtol), float(atol), int(max_steps))
        return f"{kind}\n{text}\n{settings!r}"

    def kernels():
        return _kernels(method, problem, orders, solver, rtol, atol, max_steps, state_fn)

    # lanes: every (start, h)
    S, H = len(flats), len(hs)
    lane_x0 = np.repeat(np.asarray(X0), H, axis=0)
    lane_h = np.tile(hs, S)
    lane_n = np.tile(ns, S).astype(np.int64)
    lane_K = np.full(S * H, transient, np.int64)
    L = S * H
    size = -(-L // 8) * 8 if chunk is None else int(chunk)  # lanes in multiples of 8
    if size < 1:
        raise ValueError(f"chunk must be a positive int or None, got {chunk!r}")
    size = -(-size // len(devs)) * len(devs)
    n_chunks = -(-L // size)

    def pad(a):
        extra = n_chunks * size - len(a)
        return np.concatenate([a, np.repeat(a[:1], extra, axis=0)]) if extra else a

    lane_x0, lane_h, lane_n, lane_K = map(pad, (lane_x0, lane_h, lane_n, lane_K))
    lane_T = np.full(len(lane_h), float(horizon))

    run_joint, _ = _runner(
        ("joint", *kernel_key),
        refs,
        lambda: kernels()[0],
        devs,
        lambda: stable("joint"),
        compiler_options,
    )
    timings: dict[str, float] = {"trace": 0.0, "compile": 0.0, "run": 0.0}
    from tqdm.auto import tqdm

    bar = tqdm(total=n_chunks, disable=not progress, desc=f"agreement {method!r}", leave=False)
    P = len(orders)
    xN = np.empty_like(lane_x0)
    xK = np.empty_like(lane_x0)
    yT: Any = np.empty((len(lane_h), P, lane_x0.shape[1]))
    code_all = np.zeros(len(lane_h), np.int64)
    steps_all = np.zeros(len(lane_h), np.int64)
    for c in range(n_chunks):
        sl = slice(c * size, (c + 1) * size)
        xN[sl], xK[sl], yT[sl], code_all[sl], steps_all[sl] = run_joint(
            lane_x0[sl], lane_h[sl], lane_n[sl], lane_K[sl], lane_T[sl], timings=timings
        )
        bar.update()
    bar.close()
    code = {p: code_all.copy() for p in orders}
    nsteps = {p: steps_all.copy() for p in orders}
    yT = {p: yT[:, k] for k, p in enumerate(orders)}

    # a joint solve that failed is redone order by order, so one order's failure stays its own
    redo = np.nonzero((code_all[:L] != 0) & (code_all[:L] != -1))[0]
    if len(redo) and _is_fixed(solver):
        notes.append(
            f"{len(redo)} lane(s) failed the fixed-step check; solved again with "
            f"{_FIXED_FALLBACK} (diffrax), one order at a time"
        )
    elif len(redo):
        notes.append(
            f"{len(redo)} joint solve(s) failed; those lanes were solved again one order at a time"
        )
    if len(redo):
        m = -(-len(redo) // len(devs)) * len(devs)
        idx = np.concatenate([redo, np.repeat(redo[:1], m - len(redo))])
        for p in orders:
            key = ("single", p, *kernel_key)
            runner, _ = _runner(
                key,
                refs,
                lambda p=p: kernels()[1](p),
                devs,
                lambda p=p: stable(f"single {p}"),
                compiler_options,
            )
            y1, c1, s1 = runner(xK[idx], lane_h[idx], lane_T[idx], timings=timings)
            yT[p][redo], code[p][redo], nsteps[p][redo] = (
                y1[: len(redo)],
                c1[: len(redo)],
                s1[: len(redo)],
            )

    # errors and failures
    xN, yT = xN[:L], {p: yT[p][:L] for p in orders}
    x0_norm = np.linalg.norm(lane_x0[:L], axis=1)
    it_norm = np.linalg.norm(xN, axis=1)
    bad_iter = ~np.isfinite(it_norm) | (it_norm > divergence * np.maximum(1.0, x0_norm))
    bad_start = code_all[:L] == -1
    for i in map(int, np.nonzero(bad_start)[0]):
        failures.append(
            Failure(
                float(lane_h[i]),
                "the start's state on the invariant manifold, S(x0) from the state maps' "
                "B-series, is not finite (is the loss smooth and finite at x0?); not iterated",
            )
        )
    flagged_h = set()
    for i in map(int, np.nonzero(bad_iter & ~bad_start)[0]):  # the iterates, not a failed start
        hv = float(lane_h[i])
        if hv in flagged_h:
            continue
        flagged_h.add(hv)
        what = "not finite (NaN/inf)" if not np.isfinite(it_norm[i]) else f"‖x‖ = {it_norm[i]:.3g}"
        failures.append(Failure(hv, f"iterates diverged: after {int(lane_n[i])} steps {what}"))
    err_lanes = {}
    scale_vals = [1.0]
    messages = None
    if np.any((code_all[:L] != 0) & (code_all[:L] != -1)):  # diffrax names the failure
        from diffrax import RESULTS

        messages = getattr(RESULTS, "_index_to_message", None)
    for p in orders:
        e = np.linalg.norm(xN - yT[p], axis=1)
        for i in range(L):
            hv = float(lane_h[i])
            if code[p][i] == -1:  # the start failed: reported once above, for every order
                e[i] = np.nan
            elif code[p][i] != 0:
                msg = messages[code[p][i]] if messages else f"diffrax result {code[p][i]}"
                failures.append(
                    Failure(hv, f"ODE solve failed after {int(nsteps[p][i])} steps: {msg}", p)
                )
                e[i] = np.nan
            elif not np.all(np.isfinite(yT[p][i])):
                failures.append(Failure(hv, "modified flow not finite at T", p))
                e[i] = np.nan
            elif bad_iter[i]:
                e[i] = np.nan
            else:
                scale_vals.append(float(np.linalg.norm(yT[p][i])))
        err_lanes[p] = e.reshape(S, H)
    # one entry per (order, h, reason)
    seen, unique = set(), []
    for f in failures:
        if (f.order, f.h, f.reason) not in seen:
            seen.add((f.order, f.h, f.reason))
            unique.append(f)
    scale = max(scale_vals)
    floor = max(floor_factor * EPS64, rtol + atol) * scale
    # worst case over the starts (NaN, i.e. failed, if any start failed)
    errors = {p: np.max(err_lanes[p], axis=0) for p in orders}
    if state_fn is not None:
        notes.append(start_note)
    if transient:
        notes.append(
            f"methods with state: {transient} iterations discarded, the flow starts at x_K"
        )
        covered = transient * float(np.max(hs))
        if covered > 0.1 * horizon:
            notes.append(
                f"the transient covers time K·h = {covered:.3g} at the largest h (T = "
                f"{horizon:g}): x_K, where the flow starts, moves along the trajectory with h, "
                "so the slopes compare different pieces of it (start on the manifold instead: "
                "start='manifold', with a numerics.SympyLoss for coordinate-wise methods)"
            )
    if method.average and method.colours > 1:
        notes.append("iterated map: the epoch averaged over all orderings of the losses")
    return Report(
        errors=errors,
        floor=float(floor),
        failures=unique,
        transient=transient,
        start=start_used,
        lambda_max=lam,
        wall_time=time.perf_counter() - t_start,
        timings=timings,
        notes=notes,
        errors_per_start=err_lanes if S > 1 else None,
        **described,
    )
