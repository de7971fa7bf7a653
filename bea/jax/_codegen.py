"""JAX code for modified fields and modified losses.

Conventions
-----------
f = −∇L. The modified field through h^p is

    f̃ = Σ_{|t| ≤ p+1} h^{|t|−1} ω(t)/σ(t) F(t),   F(•) = f,
    F([t1..tm]) = f^{(m)}(F(t1), ..., F(tm)),

and, through the method's gradient order, f̃ = −∇L̃ with the modified loss
L̃ = Σ_τ h^{|τ|−1} c(τ) S(τ) over free trees τ (S(•) = L, S(•—•) = ‖∇L‖², …).
For gradient descent f̃ = f − h/2 f'f + O(h²) and L̃ = L + h/4 ‖∇L‖² + O(h²).

How it is evaluated
-------------------
F(t) = (−1)^{|t|} G(t) with G(•) = g = ∇L and
G([t1..tm]) = ∇^{m+1}L[G(t1), ..., G(tm), ·]. Every such term is a directional
derivative of ∇L, never a Hessian:

* m = 1 (a Hessian-vector product) is ``jax.jvp`` of ∇L (forward over
  reverse); m ≥ 2 is a ``jax.jvp`` of p ↦ ∇^mL(p)[a1, ..., a_{m−1}, ·]
  (nested jvps). Under ``jax.jit`` XLA merges the primal passes that these
  jvps repeat, so jit the result;
* a field a∇L + b∇²L∇L (every field through h¹) is the gradient of the
  scalar aL + b/2 ‖∇L‖², taken as one ``jax.grad`` of it (reverse over
  reverse, ``Plan.gradient_form``): the same flops as ∇L plus a separate HVP,
  but on the MLP below 6 % less memory and 5–15 % less time;
* sums over trees use multilinearity: trees with the same fixed children
  share one derivative along the combined remaining child (see ``_plan``).
  Every tree vector, combination and derivative function is built once;
* derivatives of consecutive orders in one sum share a pass:
  cA ∇^{k+2}L[F, X, ·] + cB ∇^{k+3}L[F, a, Y, ·] is cB times one jvp of
  Φ(p, v) = ∇^{k+2}L(p)[F, v, ·] at (params, a) along (Y, cA/cB·X). The
  factor taken out is the one with the lower power of h, so no coefficient
  divides by h and the code is finite at h = 0 (a traced h = 0 under vmap, or
  h = 1e-300). For gradient descent at order 2 everything beyond −g is one
  such jvp after one HVP: ∇³L[g, −h²/12 g] + ∇²L(−h/2 g − h²/3 ∇²Lg);
* when the plan nests jvps beyond HVPs, the loss is wrapped in
  ``jax.checkpoint`` with the ``everything_saveable`` policy: nothing is
  recomputed, but XLA no longer merges common subexpressions across the
  nested passes, which on the MLP of the cost model below cut memory and
  flops. With it, Φ(params, a) (∇²L∇L for gradient descent) is best a
  separate HVP: taking it as the primal of one ``jax.linearize`` of Φ shared
  by the fused products keeps that linearisation's residuals alive and
  measured more memory and flops (without the checkpoint it measured fewer
  flops, but the most memory);
* Scalars S(τ) are dot products ∇L·G(t) (t: τ with a leaf cut off), so
  L̃ = c(•) L + ∇L·V with one combined vector V;
* fields through h⁴ (``evaluation="auto"``, the default, or ``"taylor"``) are Taylor mode
  instead (``_taylor``): jets of ∇L (``jax.experimental.jet``) along three
  curves through params whose higher Taylor coefficients are combinations of
  the lower outputs (feedback), so every lower coefficient is computed once
  for all the trees that contain it. For gradient descent: one curve of
  degree 4 (x_1 = ∇L, x_2 = ∇²L∇L, ...), one of degree 3 (x_2 = 0) and one of
  degree 2 along ∇²L∇L. The plan is expanded back into trees and compared
  exactly with the modified equation before use; where no such plan exists
  (other orders, coefficients that would divide by a method parameter) the
  nested jvps above are used. jet has no rule for some primitives (for
  example ``lax.scan``, ``jax.nn.relu``): ``"auto"`` then falls back to the
  nested plan when the field is first traced, ``"taylor"`` raises a
  ValueError; ``evaluation="nested"`` uses nested jvps everywhere.

Cost model. Derivative steps of the gradient-descent field (``plan_cost``):
order 1: grad + 1 HVP; order 2: grad + 1 HVP + 1 fused product; order 3: the
same with 2 fused products; order 4 (Taylor mode): grad + jets of degree 1, 2,
2, 2, 3, 3, 4 (one new coefficient each; nested: grad + 1 HVP + 4 fused ∇³L
products + 1 fused ∇⁴L + 1 ∇³L + 1 ∇⁴L). On a 1.1M-parameter MLP
(``benchmarks/codegen.py``, CPU, ratios to one jitted gradient, float64) XLA
counts 2.96× the gradient's flops at order 1, 7.2× at order 2, 12.7× at order
3 and 25.0× at order 4 (nested: 40.7×), and its memory estimate is 2.4×,
4.5×, 7.5×, 16.6× (nested: 21.1×); CPU time 3.2×, 7.4×, 12.4×, 25× (nested
33×). The three curves cost 25.7× when their inputs are given (no feedback):
the feedback itself is free, and the rest is what ``jax.experimental.jet``
spends on a degree-k curve (10.6× for one straight degree-4 jet, 12.6× for a
curve). At orders 2 and 3 Taylor mode measured more: 6.6× flops but 5.1×
memory and the same time at order 2 (two jets of one curve), 15.8× flops at
order 3 (two curves of degree 3: the h³ term of gradient descent has no
∇⁴L[g, g, g], which any degree-3 jet along ∇L carries), so those orders keep
the nested plan. Earlier variants of the nested plan: the form that took out
the higher power of h (and divided by h², not finite at
h = 0) counted 6.2×, 11.4×, 36.5× flops and 4.3×, 6.7×, 19.3× memory at
orders 2–4, measured side by side; one shared linearisation without the
checkpoint counted 7.2×, 12.4×, 39.3× flops and 5.6×, 7.5×, 21.5× memory.
Wall time follows the flops: ≈ 3.0×, 7.0×, 12.5×, 28–34× (noisy on a
shared machine).
At order 1 the flops are a floor: for a dense layer an exact ∇²L·v costs
two gradients' matrix products whichever way it is taken. Peak memory depends
on XLA's scheduler as much as on the code: with
``XLA_FLAGS=--xla_cpu_enable_concurrency_optimized_scheduler=false`` (CPU,
memory-first scheduling; ``benchmarks/codegen.py --memory-scheduler``) the
estimates at orders 1–4 were 2.5×, 4.0×, 5.8×, 12.5× (with the form above
that divided by h²), at the same speed; at order 4 Taylor mode measured 15.8×
there and the nested plan 12.6× (but 1.5× the time).

Memory stays O(n): a handful of parameter-sized vectors plus the
intermediates of one nested forward-over-reverse pass (in Taylor mode, of
the jets: their intermediates carry one array per Taylor coefficient).

Where an error O(h^{p+1}) is acceptable (training-time use),
``bea.jax.approximate_field`` is far cheaper: p + 1 gradient steps and
Newton's differences, 5.0× a gradient's flops and 2.2× its memory at order 4
on the same MLP, at an error of the size of the h^4 term (see there).

The callables are the generated standalone module (``module_source``)
executed into a namespace, as sympy's ``lambdify`` does: what is printed is
what runs.

Example
-------
>>> import jax, jax.numpy as jnp, bea, bea.jax
>>> loss = lambda x: 0.5 * jnp.sum(x**2)  # f = -x, f'f = x
>>> field = bea.jax.modified_field(loss, bea.gd(), order=1, h=0.1)
>>> field(jnp.array([1.0, 2.0]))  # -x - h/2 x
Array([-1.05, -2.1 ], dtype=float32)
"""

from __future__ import annotations

import ast
import builtins
import functools
import keyword
import math
import numbers
import re
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from .._deprecation import renamed_keyword
from .._dispatch import as_method
from .._dispatch import modified_equation as _bea_modified_equation
from .._dispatch import modified_loss as _bea_modified_loss
from .._inputs import check_order
from ..methods._base import Engine
from ..methods._programs import Optimizer
from ..results._render import superscript
from ._plan import Plan, field_plan, loss_plan
from ._printer import (
    Assign,
    Call,
    Coefficient,
    FunctionDef,
    Import,
    Index,
    Keyword,
    Lambda,
    Module,
    Name,
    PythonPrinter,
    Return,
    Scaled,
    Starred,
    Sum,
    TupleExpr,
)

__all__ = [
    "check_function_name",
    "modified_field",
    "modified_loss",
    "module_source",
    "plan_cost",
]


# ----------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------


def _check_h(h):
    if isinstance(h, bool):
        raise ValueError(f"h must be a positive step size, got {h!r}")
    if isinstance(h, numbers.Real):
        if not (h > 0 and math.isfinite(h)):
            raise ValueError(f"h must be a positive finite step size, got h={h!r}; e.g. h=0.1")
        return h
    if isinstance(h, jax.core.Tracer):
        return h
    try:
        arr = jnp.asarray(h)
    except TypeError as err:
        raise ValueError(f"h must be a positive step size (a number), got {h!r}") from err
    if arr.shape != ():
        raise ValueError(
            f"h must be a scalar step size, got an array of shape {arr.shape}; to sweep several "
            "step sizes, jax.vmap over h"
        )
    if not bool((arr > 0) & jnp.isfinite(arr)):
        raise ValueError(f"h must be a positive finite step size, got h={h!r}")
    return h


def _check_method(method):
    method = as_method(method)
    if method.kind.engine is Engine.COORDINATES:
        raise ValueError(
            f"{method!r} acts coordinate by coordinate (sign, RMSProp, Adam): its modified "
            "equation is not a B-series, so it has no tree form to generate JAX code from. "
            "Derive its modified flow on a concrete loss with "
            "bea.modified_equation(method, order).on(loss, variables), or run the optimizer "
            "itself with bea.jax.as_optax(method, learning_rate)"
        )
    return method


def check_function_name(name: str) -> str:
    """``name`` if it can name the generated function; ValueError saying why otherwise.

    It must be a Python identifier that is not a keyword (``class``), not a
    builtin (``sum``, ``print``: the module would shadow it, and the generated
    code calls ``sum``) and not a name the module defines or imports (``jax``,
    ``jnp``, ``_vdot``) or uses for its arguments and locals (``h``,
    ``loss_fn``, ...).

    >>> check_function_name("gd_field")
    'gd_field'
    """
    if not isinstance(name, str):
        raise TypeError(f"the function name must be a str, got {type(name).__name__}: {name!r}")
    fix = "choose another name, e.g. 'gd_field'"
    if not name.isidentifier() or not name.isascii():
        raise ValueError(
            f"the function name must be a Python identifier (letters, digits, '_'; not "
            f"starting with a digit), got {name!r}; {fix}"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise ValueError(f"the function name {name!r} is a Python keyword; {fix}")
    if name in dir(builtins):
        raise ValueError(
            f"the function name {name!r} would shadow the Python builtin {name}(); {fix}"
        )
    if name in _RESERVED or re.fullmatch(_TAKEN, name):
        raise ValueError(
            f"the function name {name!r} is taken by the generated module (its imports jax "
            f"and jnp, the helper _vdot, arguments and locals); {fix}"
        )
    return name


def _check_loss_fn(loss_fn):
    if not callable(loss_fn):
        raise TypeError(
            f"loss_fn must be a function params -> scalar loss, got {type(loss_fn).__name__}"
        )


def _checked_loss(loss_fn):
    """loss_fn, checked (once per trace) to return a real scalar."""

    def checked(params, *args):
        shape = jax.eval_shape(loss_fn, params, *args)
        if not hasattr(shape, "shape") or shape.shape != () or not _is_float(shape.dtype):
            got = (
                f"shape {shape.shape} and dtype {shape.dtype}"
                if hasattr(shape, "shape")
                else type(shape).__name__
            )
            raise ValueError(
                "loss_fn must return a real scalar (shape () and a floating dtype), got "
                f"{got}; reduce it, e.g. `lambda p: jnp.mean(per_example_loss(p))`"
            )
        return loss_fn(params, *args)

    return checked


def _is_float(dtype) -> bool:
    return jnp.issubdtype(dtype, jnp.floating)


def _hyper_value(name: str, value) -> float:
    """A real, finite number for the method parameter ``name``; strings are never evaluated."""
    if isinstance(value, sp.Basic):
        number = value.is_number and value.is_real is not False
        value = float(value) if number and value.is_finite is not False else None
    elif isinstance(value, (str, bytes)):
        raise TypeError(
            f"hyperparameters[{name!r}] is the string {value!r}; give a number, e.g. "
            f"hyperparameters={{{name!r}: 0.9}} (strings are not evaluated)"
        )
    elif isinstance(value, bool) or not isinstance(
        value, (numbers.Real, np.number, np.ndarray, jax.Array)
    ):
        raise TypeError(
            f"hyperparameters[{name!r}] must be a real number, got {type(value).__name__} "
            f"{value!r}; e.g. hyperparameters={{{name!r}: 0.9}}"
        )
    else:
        arr = np.asarray(value)
        if arr.shape != () or not (
            np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
        ):
            raise TypeError(f"hyperparameters[{name!r}] must be a real scalar, got {value!r}")
        value = float(arr)
    if value is None or not math.isfinite(value):
        raise ValueError(f"hyperparameters[{name!r}] must be a finite real number, got {value!r}")
    return value


def _hyper_values(symbols, params, method=None) -> dict[str, float]:
    """Numeric values for the symbolic method parameters, by symbol name.

    Values are numbers (int, float, numpy or exact sympy numbers); they go
    through the method's own hyperparameter check, so ``{"beta": 1.0}`` for
    heavy ball raises the ValueError that ``bea.optimizers.heavy_ball(1)`` does.
    """
    if params is not None and not isinstance(params, Mapping):
        raise TypeError(f"hyperparameters must be a dict such as {{'beta': 0.9}}, got {params!r}")
    params = dict(params or {})
    named = {}
    for key, value in params.items():
        name = key.name if isinstance(key, sp.Symbol) else str(key)
        named[name] = value
    missing = [s.name for s in symbols if s.name not in named]
    if missing:
        raise ValueError(
            f"the method's coefficients depend on {', '.join(missing)}; give their values, e.g. "
            f"hyperparameters={{{', '.join(repr(m) + ': 0.9' for m in missing)}}}"
        )
    unknown = set(named) - {s.name for s in symbols}
    if unknown:
        raise ValueError(
            f"hyperparameters names {sorted(unknown)}, which the method's coefficients do not use "
            f"(they use {[s.name for s in symbols] or 'no symbols'})"
        )
    values = {s.name: _hyper_value(s.name, named[s.name]) for s in symbols}
    if isinstance(method, Optimizer):
        method.check_values(values)
    return values


# ----------------------------------------------------------------------------
# Plans → syntax trees
# ----------------------------------------------------------------------------


def _tree_map(fn, *args):
    return Call(Name("jax.tree_util.tree_map"), [fn, *args])


def _jvp(fn: str, direction: str):
    call = Call(Name("jax.jvp"), [Name(fn), TupleExpr([Name("p")]), TupleExpr([Name(direction)])])
    return Index(call, 1)


_VARS = "abcdefghijklmnopqrstuvwxyz"


def _lin_expr(step, h: str, taken: frozenset = frozenset()):
    free = [c for c in _VARS if c not in taken and c != h]  # h is read inside the lambda
    vs = [free[i] if i < len(free) else f"a{i}" for i in range(len(step.args))]
    terms = [Scaled(Coefficient(r, k, h), Name(v)) for (r, k), v in zip(step.coefficients, vs)]
    lam = Lambda([Name(v) for v in vs], Sum(terms))
    return _tree_map(lam, *[Name(a) for a in step.args])


def _body(plan: Plan, h: str) -> list:
    taken = frozenset(s.name for s in plan.symbols)
    """Statements computing ``plan`` inside ``def field(params, *args)``."""
    body: list = []
    loss = plan.kind == "loss"
    needs_grad_at = any(s.kind in ("dfun", "hvp", "vfun", "jet") for s in plan.steps)
    if loss:
        body.append(
            FunctionDef(
                "value_and_grad_at",
                [Name("p")],
                [Return(Call(Name("value_and_grad_fn"), [Name("p"), Starred(Name("args"))]))],
            )
        )
        if needs_grad_at:
            body.append(
                FunctionDef(
                    "grad_at",
                    [Name("p")],
                    [Return(Index(Call(Name("value_and_grad_at"), [Name("p")]), 1))],
                )
            )
        body.append(
            Assign(
                TupleExpr([Name("value"), Name("g")]),
                Call(Name("value_and_grad_at"), [Name("params")]),
            )
        )
    else:
        body.append(
            FunctionDef(
                "grad_at",
                [Name("p")],
                [Return(Call(Name("grad_fn"), [Name("p"), Starred(Name("args"))]))],
            )
        )
        body.append(Assign(Name("g"), Call(Name("grad_at"), [Name("params")])))
    if plan.uses_hvp:
        jvp = Call(
            Name("jax.jvp"), [Name("grad_at"), TupleExpr([Name("params")]), TupleExpr([Name("v")])]
        )
        body.append(
            FunctionDef(
                "hvp",
                [Name("v")],
                [Return(Index(jvp, 1))],
                docstring="∇²L·v (forward over reverse; jit merges the repeated primal passes).",
            )
        )
    for step in plan.steps:
        if step.kind == "hvp":
            body.append(Assign(Name(step.out), Call(Name("hvp"), [Name(step.args[0])]), step.label))
        elif step.kind == "dfun":
            inner, direction = step.args
            body.append(
                FunctionDef(
                    step.out, [Name("p")], [Return(_jvp(inner, direction))], docstring=step.label
                )
            )
        elif step.kind == "vfun":
            (inner,) = step.args
            call = Call(
                Name("jax.jvp"), [Name(inner), TupleExpr([Name("p")]), TupleExpr([Name("v")])]
            )
            body.append(
                FunctionDef(
                    step.out, [Name("p"), Name("v")], [Return(Index(call, 1))], docstring=step.label
                )
            )
        elif step.kind == "fused":
            fn, a, u, w = step.args
            call = Call(
                Name("jax.jvp"),
                [Name(fn), TupleExpr([Name("params"), Name(a)]), TupleExpr([Name(u), Name(w)])],
            )
            body.append(Assign(Name(step.out), Index(call, 1), step.label))
        elif step.kind == "deriv":
            fn, free = step.args
            call = Call(
                Name("jax.jvp"),
                [Name(fn), TupleExpr([Name("params")]), TupleExpr([Name(free)])],
            )
            body.append(Assign(Name(step.out), Index(call, 1), step.label))
        elif step.kind == "lin":
            body.append(Assign(Name(step.out), _lin_expr(step, h, taken), step.label))
        elif step.kind == "jet":
            series = TupleExpr([Name(a) for a in step.args])
            call = Call(Name("_jet"), [Name("grad_at"), Name("params"), series])
            body.append(Assign(Name(step.out), Index(call, len(step.args) - 1), step.label))
        elif step.kind == "zero":
            body.append(Assign(Name(step.out), _tree_map(Name("jnp.zeros_like"), Name("g"))))
        elif step.kind == "dot":
            a, b = step.args
            body.append(Assign(Name(step.out), Call(Name("_vdot"), [Name(a), Name(b)]), step.label))
        else:  # pragma: no cover
            raise AssertionError(step.kind)
    if loss:
        terms: list[Scaled | Name] = []
        if plan.value_coefficient is not None:
            r, k = plan.value_coefficient
            terms.append(Scaled(Coefficient(r, k, h), Name("value")))
        if plan.result:
            terms.append(Name(plan.result))
        body.append(Return(Sum(terms) if terms else Call(Name("jnp.zeros_like"), [Name("value")])))
    else:
        if plan.result:
            body.append(Return(Name(plan.result)))
        else:
            body.append(Return(_tree_map(Name("jnp.zeros_like"), Name("g"))))
    return body


def _potential_body(form: tuple, h: str) -> list:
    """Statements of ``def field(params, *args)`` for a field a∇L + b∇²L∇L = ∇Φ."""
    (ra, ka), (rb, kb) = form
    half_b = Coefficient(sp.factor(sp.sympify(rb, strict=True) / 2), kb, h)
    phi = Sum(
        [
            Scaled(Coefficient(ra, ka, h), Name("value")),
            Scaled(half_b, Call(Name("_vdot"), [Name("g"), Name("g")])),
        ]
    )
    value_and_grad = Call(Name("value_and_grad_fn"), [Name("p"), Starred(Name("args"))])
    potential = FunctionDef(
        "potential",
        [Name("p")],
        [Assign(TupleExpr([Name("value"), Name("g")]), value_and_grad), Return(phi)],
        docstring=(
            "Φ(p) with ∇Φ = f̃: a∇L + b∇²L∇L is the gradient of aL + b/2 ‖∇L‖²,\n"
            "taken reverse over reverse (no separate Hessian-vector product)."
        ),
    )
    grad = Call(Call(Name("jax.grad"), [Name("potential")]), [Name("params")])
    return [potential, Return(grad)]


_VDOT = FunctionDef(
    "_vdot",
    [Name("a"), Name("b")],
    [
        Return(
            Call(
                Name("sum"),
                [
                    Call(
                        Name("jax.tree_util.tree_leaves"),
                        [_tree_map(Name("jnp.vdot"), Name("a"), Name("b"))],
                    )
                ],
            )
        )
    ],
    docstring="Full contraction a·b of two pytrees of the same structure.",
)


def _tree_util(name: str) -> Name:
    return Name("jax.tree_util." + name)


_JET = FunctionDef(
    "_jet",
    [Name("fn"), Name("params"), Name("series")],
    [
        Assign(
            TupleExpr([Name("leaves"), Name("treedef")]),
            Call(_tree_util("tree_flatten"), [Name("params")]),
        ),
        FunctionDef(
            "flat",
            [Starred(Name("parts"))],
            [
                Return(
                    Call(
                        _tree_util("tree_leaves"),
                        [
                            Call(
                                Name("fn"),
                                [
                                    Call(
                                        _tree_util("tree_unflatten"),
                                        [Name("treedef"), Name("parts")],
                                    )
                                ],
                            )
                        ],
                    )
                )
            ],
        ),
        Assign(
            Name("terms"),
            Call(
                Name("list"),
                [
                    Call(
                        Name("map"),
                        [
                            Name("list"),
                            Call(
                                Name("zip"),
                                [
                                    Starred(
                                        Call(
                                            Name("map"), [_tree_util("tree_leaves"), Name("series")]
                                        )
                                    )
                                ],
                            ),
                        ],
                    )
                ],
            ),
        ),
        Assign(
            Name("out"),
            Index(
                Call(
                    Name("jax.experimental.jet.jet"), [Name("flat"), Name("leaves"), Name("terms")]
                ),
                1,
            ),
        ),
        Return(
            Call(
                Name("list"),
                [
                    Call(
                        Name("map"),
                        [
                            Lambda(
                                [Name("c")],
                                Call(_tree_util("tree_unflatten"), [Name("treedef"), Name("c")]),
                            ),
                            Call(Name("zip"), [Starred(Name("out"))]),
                        ],
                    )
                ],
            )
        ),
    ],
    docstring=(
        "[y_1, ..., y_k]: y_j = d^j/ds^j fn(params + Σ_i s^i/i! series[i−1]) at s = 0.\n\n"
        "One Taylor-mode pass (jax.experimental.jet, factorial scaled) over the leaves of\n"
        "the pytree params; fn maps params to a pytree of the same structure."
    ),
)


_RESERVED = frozenset(
    "h loss_fn jax jnp g p v s params args value lin hvp grad_fn grad_at value_and_grad_fn "
    "checkpointed_loss_fn "
    "value_and_grad_at field loss sum _vdot _jet".split()
)


_TAKEN = r"v\d+|d_\w*|dv(_\w*)?|a\d+"  # names of generated vectors and functions


def _nested(plan: Plan) -> bool:
    """Whether the plan takes derivatives of ∇L beyond Hessian-vector products."""
    return any(s.kind in ("dfun", "vfun", "deriv", "fused") for s in plan.steps)


def _method_name(method) -> str:
    return method.name


def _module(
    plan: Plan,
    formula: str,
    method,
    order: int,
    kind: str,
    name: str,
    title: str = "",
    symbol: str = "f̃",
) -> Module:
    symbols = [s.name for s in plan.symbols]
    for s in symbols:
        if not s.isidentifier() or s in _RESERVED or re.fullmatch(_TAKEN, s):
            raise ValueError(
                f"method parameter {s!r} cannot be used as an argument name of the generated "
                "code (it is not an identifier or is taken); rename the sympy symbol, e.g. "
                f"sympy.Symbol({s + '_'!r})"
            )
    params = [Name("loss_fn"), Name("h"), *(Name(s) for s in symbols)]
    what = "field" if kind == "field" else "loss"
    hyper = "".join(f", {s}" for s in symbols)
    doc_common = (
        "Conventions: f = −∇L; F(•) = f, F([t1..tm]) = f^(m)(F(t1), ..., F(tm));\n"
        "F(t) = (−1)^|t| G(t) with G(•) = ∇L, G([t1..tm]) = ∇^(m+1)L[G(t1), ..., G(tm), ·].\n"
        "Derivatives of ∇L are Hessian-vector products and nested jvps; no Hessian\n"
        "is formed.\n"
    )
    differentiated = Name("loss_fn")
    prelude = []
    if plan.uses_jets:
        doc_common = doc_common.replace(
            "Derivatives of ∇L are Hessian-vector products and nested jvps; no Hessian\nis formed.",
            "Derivatives of ∇L are Taylor coefficients of ∇L along curves through params\n"
            "(jax.experimental.jet, lower coefficients shared); no Hessian is formed.",
        )
    elif _nested(plan):
        differentiated = Name("checkpointed_loss_fn")
        policy = Name("jax.checkpoint_policies.everything_saveable")
        checkpoint = Call(
            Name("jax.checkpoint"),
            [
                Lambda([Name("q")], Call(Name("loss_fn"), [Name("q"), Starred(Name("args"))])),
                Keyword("policy", Name("policy")),
            ],
        )
        prelude = [
            FunctionDef(
                differentiated.id,
                [Name("p"), Starred(Name("args"))],
                [Assign(Name("policy"), policy), Return(Call(checkpoint, [Name("p")]))],
                docstring=(
                    "loss_fn(p, *args) under jax.checkpoint, everything saved (nothing is\n"
                    "recomputed): it only stops XLA's common-subexpression elimination\n"
                    "across the nested jvps, which measured less memory and fewer flops."
                ),
            )
        ]
    potential = plan.gradient_form()
    if kind == "field":
        title = title or f"Modified field of {_method_name(method)} through h^{order}, in JAX."
        formula_block = f"    {symbol} = {formula}\n"
        inner_doc = f"{symbol}(params) as a pytree shaped like params."
        outer_doc = (
            f"Return params -> {symbol}(params) for the loss `loss_fn(params, *args)` and step "
            f"h.\n\n{symbol} = {formula}"
        )
    else:
        title = f"Modified loss of {_method_name(method)} through h^{order}, in JAX."
        formula_block = (
            f"    L̃ = {formula}\n\nf̃ = −∇L̃ through h^{order} (the flow of L̃ follows the method).\n"
        )
        inner_doc = "L̃(params), a scalar."
        outer_doc = (
            f"Return params -> L̃(params) for the loss `loss_fn(params, *args)` and step h.\n\n"
            f"L̃ = {formula}"
        )
    if kind == "loss" or potential is not None:  # the body reads the value of L too
        value_and_grad = Assign(
            Name("value_and_grad_fn"), Call(Name("jax.value_and_grad"), [differentiated])
        )
    else:
        value_and_grad = Assign(Name("grad_fn"), Call(Name("jax.grad"), [differentiated]))
    docstring = (
        f"{title}\n\n{formula_block}\n{doc_common}\n"
        f"Generated by bea.jax.module_source(method, order={order}, kind={kind!r}); "
        "needs only jax.\n"
        f"Use: {name}(loss_fn, h{hyper})(params, *args)\n"
    )
    statements = _body(plan, "h") if potential is None else _potential_body(potential, "h")
    inner = FunctionDef(what, [Name("params"), Starred(Name("args"))], statements, inner_doc)
    outer = FunctionDef(
        name, params, [*prelude, value_and_grad, inner, Return(Name(what))], docstring=outer_doc
    )
    dots = potential is not None or any(s.kind == "dot" for s in plan.steps)
    body = ([_VDOT] if dots else []) + ([_JET] if plan.uses_jets else []) + [outer]
    imports = [Import("jax"), Import("jax.numpy", "jnp")]
    if plan.uses_jets:
        imports.append(Import("jax.experimental.jet"))
    return Module(docstring, imports, body)


# ----------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------


_EVALUATIONS = ("auto", "taylor", "nested")


def _check_evaluation(evaluation) -> bool:
    """True for Taylor mode ("auto" or "taylor"); ValueError for anything but the three names."""
    if evaluation not in _EVALUATIONS:
        raise ValueError(
            f'evaluation must be "auto" (Taylor-mode jets where a Taylor plan exists, nested '
            f'jvps where loss_fn has a primitive without a jet rule; the default), "taylor" '
            f'(Taylor mode, an error on such a primitive) or "nested" (nested jvps only), '
            f"got {evaluation!r}"
        )
    return evaluation != "nested"


def _field_parts(method, order, evaluation="auto"):
    taylor = _check_evaluation(evaluation)
    _check_method(method)
    order = check_order(order)
    me = _bea_modified_equation(method, order=order)
    return field_plan(me, taylor=taylor), me.text()


def _loss_parts(method, order):
    _check_method(method)
    order = check_order(order)
    ml = _bea_modified_loss(method, order=order)
    if ml.gradient_order < order:
        name = _method_name(method)
        raise ValueError(
            f"the modified field of {name} is a gradient only through h^{ml.gradient_order} "
            f"(gradient order {ml.gradient_order}), so there is no modified loss of order "
            f"{order}. Ask for order<={ml.gradient_order}, or use "
            f"bea.jax.modified_field(loss_fn, method, order={order}, h=h) for the full field."
        )
    text = ml.loss_text() + f" + O(h{superscript(order + 1)})"
    return loss_plan(ml.loss_terms()), text


def module_source(
    method, order: int, kind: str = "field", name: str | None = None, evaluation: str = "auto"
) -> str:
    """Source of a standalone Python module evaluating a modified field or loss.

    The module imports only jax and defines ``name(loss_fn, h, *method_params)``
    returning ``params -> f̃(params)`` (``kind="field"``, a pytree like params) or
    ``params -> L̃(params)`` (``kind="loss"``, a scalar); the formula is in its
    docstring. Normalisation: f̃ = Σ_t h^{|t|−1} ω(t)/σ(t) F(t) through h^order,
    L̃ = Σ_τ h^{|τ|−1} c(τ) S(τ) through h^order ≤ the gradient order, f = −∇L.
    Symbolic method parameters (β, ...) become arguments after ``h``.

    Parameters
    ----------
    method
        a bea method, e.g. ``bea.gd()``, ``bea.rk4()``.
    order
        int ≥ 0, the highest power of h kept.
    kind
        ``"field"`` or ``"loss"``.
    name
        the generated function's name (default ``"modified_field"`` /
        ``"modified_loss"``).
    evaluation
        ``"auto"`` (default) or ``"taylor"``: Taylor-mode jets of ∇L where a
        Taylor plan exists (fields through h⁴, see ``bea.jax._taylor``), nested
        jvps elsewhere (the printed module is the Taylor one; the fallback of
        ``"auto"`` happens in ``modified_field``); ``"nested"``: nested jvps
        only (no ``jax.experimental.jet``).

    Examples
    --------
    >>> import bea, bea.jax
    >>> src = bea.jax.module_source(bea.gd(), order=1, kind="loss")
    >>> ns = {}
    >>> exec(src, ns)
    >>> import jax.numpy as jnp
    >>> float(ns["modified_loss"](lambda x: jnp.sum(x**2), 0.5)(jnp.array([1.0])))  # 1 + 0.5/4*4
    1.5
    """
    if kind not in ("field", "loss"):
        raise ValueError(f'kind must be "field" or "loss", got {kind!r}')
    name = check_function_name(f"modified_{kind}" if name is None else name)
    order = check_order(order)
    if kind == "field":
        plan, formula = _field_parts(method, order, evaluation)
    else:
        _check_evaluation(evaluation)
        plan, formula = _loss_parts(method, order)
    return PythonPrinter().doprint(_module(plan, formula, method, order, kind, name))


def _check_generated(source: str) -> None:
    """Refuse to run ``source`` unless it has the shape of a generated module.

    A second line of defence behind the printer's escaping: the module may hold
    only its docstring, ``import jax`` / ``import jax.numpy as jnp`` and function
    definitions, and string constants only as docstrings.
    """
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    problems = [
        type(stmt).__name__
        for stmt in tree.body
        if not isinstance(stmt, (ast.Import, ast.FunctionDef))
        and not (isinstance(stmt, ast.Expr) and id(stmt.value) in docstrings)
    ]
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            if id(node) not in docstrings:
                problems.append(f"string constant {node.value!r}")
        elif isinstance(node, ast.ImportFrom):
            problems.append("from-import")
        elif isinstance(node, ast.Import):
            allowed = ("jax", "jax.numpy", "jax.experimental.jet")
            problems += [a.name for a in node.names if a.name not in allowed]
    if problems:  # the printer escapes everything first: never reached by user input
        raise RuntimeError(f"generated code has unexpected content ({problems[:3]}); not run")


class GeneratedFunction:
    """A generated JAX function with its module source and derivative cost, fixed at creation.

    Calling it calls the generated function (jittable, vmappable,
    differentiable); ``source`` is the readable module it was compiled from
    and ``cost`` the derivative steps of its plan. Attributes cannot be
    changed after construction.
    """

    __slots__ = ("__weakref__", "__wrapped__", "cost", "source")  # jax.jit keeps a weakref
    __wrapped__: Any
    cost: Any
    source: str

    def __init__(self, fn: Any, source: str, cost: Any) -> None:
        object.__setattr__(self, "__wrapped__", fn)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "cost", cost)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__wrapped__(*args, **kwargs)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a generated function is immutable")

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]
        return self.__wrapped__.__doc__

    def __repr__(self) -> str:
        return f"<bea.jax generated {self.__wrapped__.__name__}: {self.cost}>"


def _compile(source: str, name: str):
    _check_generated(source)
    namespace: dict = {}
    exec(compile(source, f"<bea.jax generated {name}>", "exec"), namespace)
    return namespace[name]


def _build(kind, loss_fn, method, order, h, params, evaluation="auto"):
    _check_loss_fn(loss_fn)
    order = check_order(order)
    h = _check_h(h)
    if kind == "field":
        plan, formula = _field_parts(method, order, evaluation)
    else:
        plan, formula = _loss_parts(method, order)
    name = f"modified_{kind}"
    source = PythonPrinter().doprint(_module(plan, formula, method, order, kind, name))
    hyper = _hyper_values(plan.symbols, params, method)
    fn = _compile(source, name)(_checked_loss(loss_fn), h, **hyper)
    if plan.uses_jets and evaluation == "auto":
        fn = _nested_on_jet_failures(
            fn, lambda: _build(kind, loss_fn, method, order, h, params, "nested")
        )
    elif plan.uses_jets:
        fn = _explain_jet_failures(fn)
    return GeneratedFunction(fn, source, plan.cost())


def _raised_in_jet(err: BaseException) -> bool:
    """Whether ``err`` was raised inside jax.experimental.jet (a primitive without a rule)."""
    tb = err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.replace("\\", "/").endswith("experimental/jet.py"):
            return True
        tb = tb.tb_next
    return False


def _nested_on_jet_failures(fn, nested):
    """``fn``, or the nested-jvp field ``nested()`` once jet has failed on loss_fn.

    A primitive without a jet rule fails while the field is traced (before
    any number is computed), so the fallback gives the same field; once it
    has failed, every later call goes to the nested field directly.
    """
    fallback: list = []

    @functools.wraps(fn)
    def field(*args, **kwargs):
        if fallback:
            return fallback[0](*args, **kwargs)
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            if not _raised_in_jet(err):
                raise
            fallback.append(nested())
            return fallback[0](*args, **kwargs)

    return field


def _explain_jet_failures(fn):
    """``fn``, turning a failure inside ``jax.experimental.jet`` into a ValueError with the fix."""

    @functools.wraps(fn)
    def field(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            if not _raised_in_jet(err):
                raise
            raise ValueError(
                "the Taylor-mode field runs loss_fn's gradient through jax.experimental.jet, "
                f"which failed on it ({type(err).__name__}: {str(err)[:200]}); some primitives "
                "(lax.scan, custom_jvp functions such as jax.nn.relu or jax.nn.softplus) have no "
                "jet rule. Build the field with evaluation='nested' (nested jvps) or 'auto', e.g. "
                "bea.jax.modified_field(loss_fn, method, order, h, evaluation='nested')"
            ) from err

    return field


def modified_field(
    loss_fn, method, order: int, h, hyperparameters=None, *, params=None, evaluation="auto"
):
    """The modified field f̃ of ``method`` on ``loss_fn`` through h^order, as a JAX function.

    Normalisation: f̃ = Σ_{|t| ≤ order+1} h^{|t|−1} ω(t)/σ(t) F(t), f = −∇L,
    F(•) = f, F([t1..tm]) = f^{(m)}(F(t1), ..., F(tm)); for gradient descent
    f̃ = f − h/2 f'f + h²(1/12 f''(f,f) + 1/3 f'f'f) + O(h³). The float
    coefficients are rounded from the exact ones.

    Parameters
    ----------
    loss_fn
        callable ``(params, *args) -> scalar`` (params: any pytree of float
        arrays; extra args such as a batch are passed through).
    method
        a bea method (``bea.gd()``, ``bea.rk4()``, ``bea.runge_kutta(A, b)``, ...).
    order
        int ≥ 0.
    h
        positive step size (a number, or a scalar array to vmap over).
    hyperparameters
        values for the method's symbolic hyperparameters,
        ``{"beta": 0.9}`` or ``{sympy.Symbol("beta"): 0.9}``; None when it has
        none (equivalently pass ``method.with_values(beta=0.9)``). ``params=``
        is its deprecated name.
    evaluation
        ``"auto"`` (default) evaluates the field through h⁴ with Taylor-mode
        jets of ∇L where a Taylor plan exists (``jax.experimental.jet``: at
        order 4 on the MLP of the cost model 0.6× the flops of nested jvps),
        other orders with nested jvps, and falls back to nested jvps when a
        primitive of ``loss_fn`` has no jet rule (``lax.scan``,
        ``jax.nn.relu``); ``"taylor"`` raises a ValueError naming this
        option instead of falling back; ``"nested"`` uses nested jvps at
        every order. All give the same field (to rounding).

    Returns
    -------
    callable
        ``(params, *args) -> pytree`` shaped like params; jittable and
        vmappable. ``.source`` holds the generated module and ``.cost`` the
        derivative steps (see the module docstring for the cost model).

    Examples
    --------
    >>> import jax.numpy as jnp, bea, bea.jax
    >>> f = bea.jax.modified_field(lambda x: jnp.sum(x**4) / 4, bea.gd(), order=1, h=0.1)
    >>> f(jnp.array([1.0]))  # -x³ - h/2 (3x²)(x³) = -1 - 0.15
    Array([-1.15], dtype=float32)
    """
    hyper = renamed_keyword(
        "bea.jax.modified_field", "params", "hyperparameters", params, hyperparameters
    )
    return _build("field", loss_fn, method, order, h, hyper, evaluation)


def modified_loss(loss_fn, method, order: int, h, hyperparameters=None, *, params=None):
    """The modified loss L̃ of ``method`` on ``loss_fn`` through h^order, as a JAX function.

    Normalisation: L̃ = Σ_τ h^{|τ|−1} c(τ) S(τ) over free trees with at most
    order + 1 nodes, S(•) = L, S(•—•) = ‖∇L‖², ...; f̃ = −∇L̃ through h^order.
    For gradient descent L̃ = L + h/4 ‖∇L‖² + O(h²) (Barrett & Dherin 2021).
    Only orders up to the method's gradient order exist (1 for gradient
    descent, 3 for RK4); beyond it a ValueError says so.

    Parameters are those of ``modified_field``. The result maps
    ``(params, *args)`` to a scalar and is differentiable (``jax.grad``),
    jittable and vmappable.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, bea, bea.jax
    >>> Lt = bea.jax.modified_loss(lambda x: jnp.sum(x**2) / 2, bea.gd(), order=1, h=0.5)
    >>> float(Lt(jnp.array([2.0])))  # 2 + 0.5/4 * 4
    2.5
    """
    hyper = renamed_keyword(
        "bea.jax.modified_loss", "params", "hyperparameters", params, hyperparameters
    )
    return _build("loss", loss_fn, method, order, h, hyper)


def _equation_field(equation, loss_fn, h, params, title: str, symbol: str = "f̃"):
    """A generated field for any field series ``equation`` (iterating (t, ω(t)))."""
    _check_loss_fn(loss_fn)
    h = _check_h(h)
    plan = field_plan(equation, taylor=False)  # runs inside optimizers: any loss_fn
    name = "modified_field"
    module = _module(
        plan,
        equation.text(),
        equation.method,
        equation.order,
        "field",
        name,
        title=title,
        symbol=symbol,
    )
    source = PythonPrinter().doprint(module)
    hyper = _hyper_values(plan.symbols, params, equation.method)
    factory = _compile(source, name)
    fn = factory(_checked_loss(loss_fn), h, **hyper)
    return GeneratedFunction(fn, source, plan.cost()), factory, hyper


def plan_cost(method, order: int, kind: str = "field", evaluation: str = "auto") -> dict:
    """Derivative steps of the generated code.

    ``{"grad": 1, "hvp": n1, "deriv2": n2, ...}``: ``hvp`` Hessian-vector
    products (a jvp of ∇L), ``deriv<m>``
    derivatives ∇^{m+1}L[a1, ..., am, ·] taken as a jvp of a nested-jvp
    function, ``fused<m>`` one product ∇^{m+1}L[..., a, u, ·] + ∇^{m}L[..., w, ·]
    (one jvp of a nested-jvp function), and ``dfun<k>`` the
    nested-jvp functions defined (k nested jvps each); in Taylor mode
    ``jet<k>`` counts the jets of degree k (one Taylor coefficient y_k each, the
    lower ones shared with the jets before it along the same curve).
    """
    if kind == "field":
        plan, _ = _field_parts(method, order, evaluation)
    else:
        _check_evaluation(evaluation)
        plan, _ = _loss_parts(method, order)
    return plan.cost()
