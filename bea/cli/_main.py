"""The ``bea`` command line.

Examples::

    bea demo                                   # the built-in default job
    bea derive gd --order 4                    # modified equation of gradient descent
    bea derive heavy_ball --beta 0.9 --order 2 --loss 'x**4/4 + y**2' --format latex
    bea derive adam --beta1 0.9 --beta2 0.999 --eps 1e-8 --order 1 --loss quartic
    bea loss gd --order 3 --format json        # modified loss and non-gradient remainder
    bea codegen gd --order 2 --kind field --out gd_field.py
    bea verify gd --loss logcosh --orders 0,1,2,3 --plot agreement.png

Every optimizer of ``bea.optimizers`` (and the Runge–Kutta methods ``rk4``,
``heun``, ``explicit_midpoint``, ``implicit_midpoint``, ``implicit_euler``) is
available by name; its keyword arguments are options (``--beta 0.9`` or the
symbol ``--beta beta``). Losses are built-in names (``bea verify --list-losses``)
or expressions read by ``bea._parse.parse_expression``; nothing typed on the
command line is evaluated as Python.

Exit status: 0 done; 1 a numerical check failed (``verify``, ``demo``); 2 a user
error, printed as one line ``bea: error: …`` on stderr (only what the command
line itself validated: arguments, losses, hyperparameters, the method they
build); 70 an internal error, i.e. a bug in bea, printed with its traceback.
"""

from __future__ import annotations

import argparse
import difflib
import inspect
import json
import math
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

__all__ = ["main"]

#: Runge–Kutta methods exported by ``bea`` (the catalog is ``bea.optimizers.__all__``).
_RK_METHODS = ("explicit_midpoint", "heun", "implicit_euler", "implicit_midpoint", "rk4")

#: announce the derivation on stderr from this order on
_SLOW_ORDER = 8

_FORMATS = ("text", "latex", "json")


class CLIError(Exception):
    """A user error: printed as one message, exit status 2, no traceback."""


#: exit status of an internal error (a bug), as EX_SOFTWARE of sysexits.h
EXIT_INTERNAL = 70


class _UserInput:
    """Context: a ValueError (or NotImplementedError) raised here is the user's: a ``CLIError``.

    Used around the library calls that validate what the user typed (building
    the method from its hyperparameters, deriving its series: consistency, a
    one-step method); a ValueError anywhere else is a bug and exits with
    ``EXIT_INTERNAL`` and a traceback.
    """

    def __init__(self, what: str):
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        user = issubclass(kind, (ValueError, NotImplementedError)) if kind is not None else False
        if user and not isinstance(exc, CLIError):
            text = str(exc)
            raise CLIError(text if text.startswith(self.what) else f"{self.what}: {text}") from exc
        return False


# --------------------------------------------------------------------------- losses


@dataclass(frozen=True)
class _Builtin:
    expr: str
    x0: tuple[float, ...]
    doc: str
    steps: tuple[float, ...] | None = None  # None: numerics.agreement's default
    horizon: float = 1.0
    players: str | None = None


_BUILTINS: dict[str, _Builtin] = {
    "logcosh": _Builtin(
        "log(cosh(x)) + log(cosh(y))", (0.8, -0.5), "separable log-cosh, smooth and convex"
    ),
    "quartic": _Builtin(
        "x**4/4 + x*y**2/2 + y**2/2", (0.8, -0.5), "non-separable polynomial, cubic gradient"
    ),
    "bowl": _Builtin(
        "(x**2 + 10*y**2)/2",
        (1.0, 0.5),
        "ill-conditioned quadratic (curvatures 1 and 10)",
        steps=(0.01, 0.008, 0.006, 0.004, 0.003),
        horizon=0.25,
    ),
    "rosenbrock": _Builtin(
        "(1 - x)**2 + 100*(y - x**2)**2",
        (0.5, 0.4),
        "Rosenbrock's valley (curvature ~400: small steps)",
        steps=(0.0004, 0.0003, 0.0002, 0.0001),
        horizon=0.02,
    ),
    "minibatch": _Builtin(
        "log(cosh(x - 1)) + y**2/2; log(cosh(x + 1)) + (y - 1)**2/2",
        (0.5, 0.5),
        "two mini-batch losses (reshuffled_sgd)",
        steps=(0.02, 0.015, 0.01, 0.0075, 0.005),
    ),
    "game": _Builtin(
        "x**2/2 + x*y; y**2/2 - x*y",
        (0.5, 0.5),
        "two-player game, players x and y (simultaneous_gd, alternating_gd)",
        players="x;y",
    ),
}


def _losses_help() -> str:
    width = max(map(len, _BUILTINS))
    return "\n".join(
        f"  {name:<{width}}  {b.expr}\n  {'':<{width}}  ({b.doc})" for name, b in _BUILTINS.items()
    )


@dataclass
class _Loss:
    """Parsed losses: one sympy expression per loss, and the variables."""

    text: str
    exprs: list  # sympy expressions
    flat: list  # sympy symbols, in order
    groups: list | None  # one list of symbols per player (games)
    builtin: _Builtin | None

    def loss_for(self, method):
        """One expression, or a list for methods with several losses (mini-batches, players)."""
        several = method.losses_list
        return list(self.exprs) if several or len(self.exprs) > 1 else self.exprs[0]

    @property
    def variables(self):
        return self.groups if self.groups is not None else self.flat


def _names(text: str, what: str) -> list[str]:
    names = [v.strip() for v in text.split(",")]
    if not all(names):
        raise CLIError(f"{what}: expected comma-separated names such as 'x,y', got {text!r}")
    return names


def _parse_losses(items: list[str] | None, vars_text: str | None, players: str | None) -> _Loss:
    from .._parse import parse_expression
    from .._smooth import check_smooth

    if not items:
        raise CLIError("no loss given: pass --loss EXPR or a built-in name such as --loss quartic")
    builtin = None
    if len(items) == 1 and items[0].strip() in _BUILTINS:
        builtin = _BUILTINS[items[0].strip()]
        texts = [s.strip() for s in builtin.expr.split(";")]
        if players is None:
            players = builtin.players
    else:
        texts = [s.strip() for item in items for s in item.split(";")]
    if not all(texts):
        raise CLIError(f"empty loss in {';'.join(items)!r}: separate several losses with ';'")
    groups_names = None
    fixed = None
    if players is not None:
        groups_names = [_names(g, "--players") for g in players.split(";")]
        fixed = [n for g in groups_names for n in g]
        if vars_text is not None and _names(vars_text, "--vars") != fixed:
            raise CLIError("--vars and --players disagree; give only --players for a game")
    elif vars_text is not None:
        fixed = _names(vars_text, "--vars")
    exprs, seen = [], {}
    for k, text in enumerate(texts):
        try:
            expr, symbols = parse_expression(text, variables=fixed)
        except ValueError as exc:
            where = f"loss {k + 1} " if len(texts) > 1 else "loss "
            raise CLIError(f"{where}{text!r}: {exc}") from None
        try:
            check_smooth(expr, symbols, "the loss" if len(texts) == 1 else f"loss {k + 1}")
        except ValueError as exc:
            raise CLIError(str(exc)) from None
        exprs.append(expr)
        for s in symbols:
            seen[s.name] = s
    flat = [seen[n] for n in (fixed if fixed is not None else sorted(seen))]
    if "h" in seen:
        raise CLIError(
            f"the loss {';'.join(texts)!r} uses the name 'h', the step-size symbol of every "
            "result; name the variable differently"
        )
    if not flat:
        raise CLIError(f"the loss {';'.join(texts)!r} has no variables")
    groups = None
    if groups_names is not None:
        groups = [[seen[n] for n in g] for g in groups_names]
    return _Loss(";".join(texts), exprs, flat, groups, builtin)


# --------------------------------------------------------------------------- optimizers


def _catalog() -> dict:
    import bea
    import bea.optimizers as catalog

    out = {name: getattr(catalog, name) for name in catalog.__all__}
    # combinators take an optimizer, not numbers: not named on the command line
    for name in ("weight_decay", "scheduled"):
        out.pop(name, None)
    for name in _RK_METHODS:
        out.setdefault(name, getattr(bea, name))
    return out


def _lookup(name: str):
    catalog = _catalog()
    key = name.strip().lower().replace("-", "_")
    if key not in catalog:
        close = difflib.get_close_matches(key, list(catalog), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise CLIError(f"unknown optimizer {name!r}{hint}; available: {', '.join(sorted(catalog))}")
    return key, catalog[key]


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _matrix_rows(text: str, flag: str) -> list[list]:
    from .._parse import parse_symbol

    rows = []
    for row in text.split(";"):
        entries = []
        for entry in row.split(","):
            try:
                entries.append(parse_symbol(entry))
            except ValueError as exc:
                raise CLIError(f"{flag}: entry {entry.strip()!r}: {exc}") from None
        rows.append(entries)
    return rows


def _convert(key: str, param: inspect.Parameter, text: str):
    from .._parse import parse_symbol

    flag = f"--{param.name}"
    if key == "runge_kutta" and param.name in ("A", "b", "c"):
        rows = _matrix_rows(text, flag)
        if param.name == "A":
            if any(len(r) != len(rows) for r in rows):
                raise CLIError(
                    f"{flag} {text!r}: the tableau must be square ({len(rows)} rows, so "
                    f"{len(rows)} entries in each). {_TABLEAU_SYNTAX}"
                )
            return rows
        if len(rows) != 1:
            raise CLIError(
                f"{flag} {text!r}: expected one comma-separated row such as '1/2,1/2'. "
                f"{_TABLEAU_SYNTAX}"
            )
        return rows[0]
    if isinstance(param.default, bool):
        value = text.strip().lower()
        if value in _TRUE + _FALSE:
            return value in _TRUE
        raise CLIError(f"{flag}: expected true or false, got {text!r}")
    if param.annotation in ("int", int):
        try:
            return int(text)
        except ValueError:
            raise CLIError(f"{flag}: expected an integer, got {text!r}") from None
    if param.annotation in ("str", str):
        if not text.isidentifier():
            raise CLIError(f"{flag}: expected a name such as 'my_method', got {text!r}")
        return text
    try:
        return parse_symbol(text)
    except ValueError as exc:
        raise CLIError(f"{flag}: {exc}") from None


def _method(name: str, hyper: dict[str, str], n_losses: int | None = None):
    """(key, method, {name: value text}) from the optimizer's name and ``--NAME VALUE`` pairs."""
    key, factory = _lookup(name)
    params = inspect.signature(factory).parameters
    kwargs = {}
    for pname, text in hyper.items():
        if pname not in params:
            valid = ", ".join(f"--{p}" for p in params) or "none"
            raise CLIError(f"{key} has no hyperparameter --{pname}; its hyperparameters: {valid}")
        kwargs[pname] = _convert(key, params[pname], text)
    missing = [p for p, v in params.items() if v.default is v.empty and p not in kwargs]
    if key == "reshuffled_sgd" and missing == ["m"] and n_losses:
        kwargs["m"] = n_losses  # one mini-batch per loss
        missing = []
    if missing:
        example = " ".join(f"--{p} VALUE" for p in missing)
        raise CLIError(f"{key} needs {example}")
    with _UserInput(key):
        method = factory(**kwargs)
    return key, method, {k: _shown(v) for k, v in kwargs.items()}


def _shown(value) -> str:
    """A hyperparameter as typed back: a tableau as '0,0;1,0', a row as '1/2,1/2'."""
    if isinstance(value, list) and value and isinstance(value[0], list):
        return ";".join(",".join(str(v) for v in row) for row in value)
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _check_losses(key: str, method, loss: _Loss | None) -> None:
    """One loss per colour (mini-batch or player) of the method."""
    if loss is None:
        return
    colours = method.colours
    if len(loss.exprs) != colours:
        what = "one loss" if colours == 1 else f"{colours} losses separated by ';'"
        raise CLIError(f"{key} takes {what}, got {len(loss.exprs)}: {loss.text!r}")
    if loss.groups is not None and len(loss.groups) != colours:
        raise CLIError(
            f"--players lists {len(loss.groups)} players but {key} has {colours}; "
            "separate the players' variables with ';', e.g. --players 'x;y'"
        )


def _symbols_of(key: str, method, hyper: dict[str, str]) -> list[str]:
    """The symbols of the method: its hyperparameters' and those typed in a tableau."""
    names = {s.name for s in method.symbols}
    if key == "runge_kutta":
        for flag in ("A", "b", "c"):
            if flag in hyper:
                for row in _matrix_rows(hyper[flag], f"--{flag}"):
                    names |= {s.name for v in row for s in v.free_symbols}
    return sorted(names)


# --------------------------------------------------------------------------- helpers


def _announce(order: int, what: str) -> bool:
    """Say on stderr that a long derivation starts; True when a progress bar is wanted."""
    if order < _SLOW_ORDER:
        return False
    print(f"deriving {what} through h^{order} …", file=sys.stderr, flush=True)
    return True


def _tidy(expr, variables):
    """f̃ or L̃ collected by powers of h when it is a polynomial (as derived otherwise)."""
    import sympy as sp

    import bea

    if not expr.is_polynomial(*variables, bea.h) or sp.count_ops(expr) > 5000:
        return expr
    return sp.collect(sp.expand(expr), bea.h)


def _components(field, loss: _Loss) -> list:
    """(variable, component) pairs of a concrete modified field (games: one block per player)."""
    if isinstance(field, list):  # games
        assert loss.groups is not None
        pairs: list = []
        for block, group in zip(field, loss.groups):
            pairs.extend(zip(group, list(block)))
        return pairs
    return list(zip(loss.flat, list(field)))


def _emit(text: str, out: str | None) -> None:
    if out is None:
        print(text)
        return
    path = Path(out)
    try:
        path.write_text(text + ("" if text.endswith("\n") else "\n"))
    except OSError as exc:
        raise CLIError(f"cannot write {out}: {exc.strerror}") from None
    print(f"wrote {path}", file=sys.stderr)


def _check_output(path_text: str, flag: str) -> None:
    """Fail now, before any work, if ``path_text`` cannot be written."""
    path = Path(path_text)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise CLIError(f"{flag} {path_text}: is a folder; give a file name, e.g. {path}/out")
    if not parent.is_dir():
        raise CLIError(
            f"{flag} {path_text}: the folder {parent} does not exist; create it first "
            f"(mkdir -p {parent}) or write elsewhere"
        )
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise CLIError(f"{flag} {path_text}: not writable; choose another place")


def _float_list(text: str, flag: str, positive: bool = False) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise CLIError(f"{flag}: expected comma-separated numbers, got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise CLIError(f"{flag}: expected finite numbers, got {text!r}")
    if positive and not all(v > 0 for v in values):
        raise CLIError(f"{flag}: expected positive numbers, got {text!r}")
    return values


def _int_list(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise CLIError(
            f"{flag}: expected comma-separated non-negative integers, got {text!r}"
        ) from None
    if any(v < 0 for v in values):
        raise CLIError(f"{flag}: orders must be non-negative, got {text!r}")
    return values


def _coordinatewise_error(key: str, command: str) -> CLIError:
    return CLIError(
        f"{key} acts coordinate by coordinate: its modified flow is a preconditioned field, "
        f"not a gradient flow, and is derived on a concrete loss; '{command}' does not apply. "
        f"Use: bea derive {key} --order 1 --loss 'x**4/4 + y**2/2'"
    )


# --------------------------------------------------------------------------- commands


def _cmd_derive(args, hyper) -> int:
    import sympy as sp

    import bea

    loss = None
    if args.loss:
        loss = _parse_losses(args.loss, args.vars, args.players)
    elif args.players:
        raise CLIError("--players needs --loss 'EXPR1;EXPR2'")
    key, method, values = _method(args.optimizer, hyper, len(loss.exprs) if loss else None)
    _check_losses(key, method, loss)
    coordinatewise = method.coordinatewise
    if coordinatewise and loss is None:
        raise CLIError(
            f"{key} acts coordinate by coordinate: its modified equation is derived on a "
            f"concrete loss; add --loss EXPR, e.g. bea derive {key} --order "
            f"{args.order} --loss 'x**4/4 + y**2/2'"
        )
    progress = _announce(args.order, f"the modified equation of {key}")
    with _UserInput(key):
        me = bea.modified_equation(
            method,
            args.order,
            progress=progress and not coordinatewise,
            max_trees=_max_trees(args),
        )
    field = None
    if loss is not None and isinstance(me, bea.AdaptiveModifiedEquation):
        readable = me.describe(loss.loss_for(method), loss.variables)
        return _print_coordinatewise(readable, key, values, args.format)
    if loss is not None:
        field = me.on(loss.loss_for(method), loss.variables)
        pairs = [(v, _tidy(c, loss.flat)) for v, c in _components(field, loss)]
    out = {
        "optimizer": key,
        "hyperparameters": values,
        "order": args.order,
        "normalisation": "h f̃ = Σ_t h^|t| ω(t)/σ(t) F(t), f = −∇L",
    }
    if args.format == "json":
        if isinstance(me, bea.ModifiedEquation):
            data = me.to_dict()
            out["terms"], out["text"] = data["terms"], data["text"]
        if loss is not None:
            out["loss"] = [str(e) for e in loss.exprs]
            out["variables"] = [v.name for v in loss.flat]
            out["field"] = {v.name: str(c) for v, c in pairs}
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    latex = args.format == "latex"
    if not coordinatewise:
        print(me.latex() if latex else me)
    if loss is None:
        return 0
    if not coordinatewise:
        print()
    shown = ", ".join(sp.latex(e) if latex else str(e) for e in loss.exprs)
    print(
        f"% on L = {shown}, through h^{args.order}"
        if latex
        else f"on L = {shown} (variables {', '.join(v.name for v in loss.flat)}), "
        f"through h^{args.order}:"
    )
    for v, c in pairs:
        if latex:
            print(f"\\tilde f_{{{sp.latex(v)}}} = {sp.latex(c)} \\\\")
        else:
            print(f"  f̃[{v.name}] = {c}")
    return 0


def _print_coordinatewise(readable, key: str, values, fmt: str) -> int:
    """A coordinate-wise field: per coordinate, h^k coefficients with σ_i = sign(∂_iL)."""
    if fmt == "json":
        out = {"optimizer": key, "hyperparameters": values, **readable.to_dict()}
        out["signs"] = {n: m for n, m in out["names"].items() if n.startswith("σ")}
        out["field"] = {
            v: " + ".join(
                c if k == "h^0" else f"{k.replace('^', '**')}*({c})"
                for k, c in row.items()
                if c != "0"
            )
            or "0"
            for v, row in out["field"].items()
        }
        print(json.dumps(out, indent=2, ensure_ascii=False))
    elif fmt == "latex":
        print(readable.latex())
    else:
        print(readable.text())
    return 0


def _cmd_loss(args, hyper) -> int:
    import sympy as sp

    import bea

    loss = _parse_losses(args.loss, args.vars, None) if args.loss else None
    key, method, values = _method(args.optimizer, hyper, len(loss.exprs) if loss else None)
    if method.coordinatewise:
        raise _coordinatewise_error(key, "bea loss")
    _check_losses(key, method, loss)
    progress = _announce(args.order, f"the modified loss of {key}")
    with _UserInput(key):
        me = bea.modified_equation(
            method, args.order, progress=progress, max_trees=_max_trees(args)
        )
        if not isinstance(me, bea.ModifiedEquation):
            raise CLIError(f"{key} has no modified loss in tree form")
        ml = bea.ModifiedLoss(me)
    concrete = (
        _tidy(ml.on(loss.loss_for(method), loss.flat), loss.flat) if loss is not None else None
    )
    if args.format == "json":
        out = {"optimizer": key, "hyperparameters": values, **ml.to_dict()}
        if loss is not None:
            out["loss"] = [str(e) for e in loss.exprs]
            out["variables"] = [v.name for v in loss.flat]
            out["modified_loss"] = str(concrete)
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    latex = args.format == "latex"
    print(ml.latex() if latex else ml)
    if loss is not None:
        shown = ", ".join(str(e) for e in loss.exprs)
        if latex:
            print(f"\\tilde L = {sp.latex(concrete)}")
        else:
            print(f"\non L = {shown}, through h^{ml.gradient_order} (the gradient order):")
            print(f"  L̃ = {concrete}")
    return 0


def _cmd_codegen(args, hyper) -> int:
    import bea.jax
    from bea.jax._codegen import check_function_name

    from ..bseries._budget import allow_trees

    if args.function_name is not None:
        with _UserInput("--function-name"):
            check_function_name(args.function_name)  # before any derivation
    key, method, _ = _method(args.optimizer, hyper)
    if method.coordinatewise:
        raise _coordinatewise_error(key, "bea codegen")
    _announce(args.order, f"the modified {args.kind} of {key}")
    if args.out is not None:
        _check_output(args.out, "--out")
    with allow_trees(_max_trees(args)), _UserInput(key):  # the method and the function name
        source = bea.jax.module_source(method, args.order, kind=args.kind, name=args.function_name)
    _emit(source, args.out)
    return 0


def _default_x0(n: int) -> list[float]:
    base = (0.5, -0.3, 0.4, -0.2, 0.3, -0.1)
    return [base[i % len(base)] for i in range(n)]


def _jax_x64():
    """Import JAX with float64 on and the persistent compilation cache enabled."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import numerics

    numerics.enable_persistent_cache()
    return jax


def _timings_line(report) -> str:
    t = report.timings
    return (
        f"sweep {report.wall_time:.1f} s: trace {t.get('trace', 0.0):.2f} s, "
        f"compile {t.get('compile', 0.0):.2f} s, run {t.get('run', 0.0):.2f} s"
    )


#: XLA options for the CLI's sweeps on CPU: their problems are small (a few variables), so
#: compiling takes longer than running; level 0 compiles about 40 % faster (benchmarks/agreement.py)
_CLI_COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}


#: the CLI's reference flows: Dopri8's formula in fixed steps checked by step doubling,
#: adaptive Dopri8 (diffrax) for the lanes that fail the check
#: (``numerics.agreement(solver="dopri8-fixed")``); where the check passes it skips importing,
#: tracing and compiling diffrax, about 2 s of a cold ``bea verify`` (benchmarks/agreement.py)
_CLI_SOLVER = "dopri8-fixed"


def _run_agreement(method, loss: _Loss, x0, orders, steps, horizon, progress: bool):
    jax = _jax_x64()
    import numpy as np

    import numerics

    problem = numerics.SympyLoss(loss.loss_for(method), loss.variables)
    return numerics.agreement(
        method,
        problem,
        np.asarray(x0, dtype=np.float64),
        orders=tuple(orders),
        step_sizes=steps,
        horizon=horizon,
        progress=progress,
        compiler_options=_CLI_COMPILER_OPTIONS if jax.default_backend() == "cpu" else None,
        solver=_CLI_SOLVER,
    )


def _slopes_line(report) -> str:
    cells = []
    for p in report.orders:
        s = report.slopes[p]
        shown = f"{s:.2f}" if math.isfinite(s) else "--"
        cells.append(
            f"order {p}: {shown} (expected {p + 1}, {'ok' if report.passed[p] else 'FAIL'})"
        )
    return "; ".join(cells)


def _cmd_verify(args, hyper) -> int:
    if args.list_losses:
        print("built-in losses (--loss NAME):\n" + _losses_help())
        return 0
    if args.optimizer is None:
        raise CLIError("verify needs an optimizer, e.g. bea verify gd --loss logcosh")
    loss = _parse_losses(args.loss, args.vars, args.players)
    key, method, _ = _method(args.optimizer, hyper, len(loss.exprs))
    _check_losses(key, method, loss)
    symbolic = _symbols_of(key, method, hyper)
    if symbolic and key == "runge_kutta":
        raise CLIError(
            f"verify runs runge_kutta on numbers: the tableau has the symbols "
            f"{', '.join(symbolic)}; give numeric entries, e.g. --A '0,0;1,0' --b '1/2,1/2'"
        )
    if symbolic:
        example = " ".join(f"--{n} 0.5" for n in symbolic)
        raise CLIError(
            f"verify runs {key} on numbers: give its hyperparameters {', '.join(symbolic)} "
            f"values, e.g. {example}"
        )
    n = len(loss.flat)
    if args.x0 is not None:
        x0 = _float_list(args.x0, "--x0")
    elif loss.builtin is not None:
        x0 = list(loss.builtin.x0)
    else:
        x0 = _default_x0(n)
    if len(x0) != n:
        names = ", ".join(v.name for v in loss.flat)
        raise CLIError(f"--x0 has {len(x0)} values but the loss has {n} variables ({names})")
    orders = _int_list(args.orders, "--orders")
    steps: list[float] | None
    if args.steps is not None:
        steps = _float_list(args.steps, "--steps", positive=True)
        if len(steps) < 3:
            raise CLIError("--steps: give at least 3 step sizes to fit a slope")
    else:
        steps = list(loss.builtin.steps) if loss.builtin and loss.builtin.steps else None
    if args.horizon is not None:
        horizon = args.horizon
    else:
        horizon = loss.builtin.horizon if loss.builtin else 1.0
    if not (math.isfinite(horizon) and horizon > 0):
        raise CLIError(f"--horizon must be a positive number, got {horizon}")
    if steps is not None:
        counts = {max(1, round(horizon / (hv * method.steps))) for hv in steps}
        if len(counts) < 3:
            raise CLIError(
                f"--steps {args.steps}: at horizon T = {horizon:g} these give only "
                f"{len(counts)} distinct step counts T/h; give at least 3 step sizes that "
                "differ more, or a longer --horizon"
            )
    for flag, out in (("--json", args.json), ("--plot", args.plot)):
        if out is not None:
            _check_output(out, flag)
    t0 = time.perf_counter()
    report = _run_agreement(method, loss, x0, orders, steps, horizon, args.progress)
    if args.format == "json":
        print(report.to_json())
    else:
        print(report.table())
        print(f"({time.perf_counter() - t0:.1f} s; {_timings_line(report)})")
    if args.json:
        report.to_json(args.json)
        print(f"wrote {args.json}", file=sys.stderr)
    if args.plot:
        report.plot(args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    if not report.ok:
        print(f"bea: verify: slope check failed: {_slopes_line(report)}", file=sys.stderr)
        return 1
    return 0


#: the demo's sweep, (orders, step sizes): the default, and --fast (the order-3 flow and five
#: step sizes fewer: about 1.5 s less compilation and run time, see benchmarks/demo.py)
_DEMO_FULL: tuple[tuple[int, ...], tuple[float, ...] | None] = ((0, 1, 2, 3), None)
_DEMO_FAST: tuple[tuple[int, ...], tuple[float, ...] | None] = ((0, 1, 2), (0.2, 0.1, 0.05))


def _cmd_demo(args, hyper) -> int:
    jax = _jax_x64()
    import jax.numpy as jnp

    import bea
    import bea.jax

    t0 = time.perf_counter()
    out_dir = Path(args.out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot create {out_dir}: {exc.strerror}") from None
    gd = bea.gd()

    print("1. Gradient descent θ ← θ − h∇L(θ) (f = −∇L) follows the flow of a modified loss:\n")
    ml = bea.modified_loss(gd, order=3)
    print(ml)

    print("\n2. JAX code for the modified field (order 2) and the modified loss (order 1):")
    written = []
    for kind, order in (("field", 2), ("loss", 1)):
        path = out_dir / f"gd_modified_{kind}_order{order}.py"
        path.write_text(bea.jax.module_source(gd, order, kind=kind))
        written.append(path)
        print(f"   {path}")
    # the generated loss module against the exact modified loss on log-cosh
    builtin = _BUILTINS["logcosh"]
    loss = _parse_losses(["logcosh"], None, None)
    namespace: dict = {}
    exec(compile(written[1].read_text(), str(written[1]), "exec"), namespace)
    h_value, x0 = 0.1, list(builtin.x0)
    generated = namespace["modified_loss"](lambda p: jnp.sum(jnp.log(jnp.cosh(p))), h_value)
    got = float(jax.jit(generated)(jnp.asarray(x0)))  # one compiled call, not op by op
    exact_expr = bea.modified_loss(gd, order=1).on(loss.loss_for(gd), loss.flat)
    exact = float(exact_expr.subs({bea.h: h_value, **dict(zip(loss.flat, x0))}))
    print(
        f"   check: generated L̃(x0) = {got:.15g}, exact {exact:.15g} "
        f"(h = {h_value}, L = {builtin.expr}, x0 = {tuple(x0)})"
    )

    orders, steps = _DEMO_FAST if args.fast else _DEMO_FULL
    print(f"\n3. Iterates against the truncated modified flows on L = {builtin.expr}:")
    report = _run_agreement(gd, loss, x0, orders, steps, builtin.horizon, False)
    print(report.table())
    plot = out_dir / "agreement.png"
    report.plot(plot)
    data = out_dir / "agreement.json"
    report.to_json(data)
    written += [plot, data]

    print("\nSummary")
    print(f"  slopes: {_slopes_line(report)}")
    print(f"  files:  {', '.join(str(p) for p in written)}")
    print(f"  time:   {time.perf_counter() - t0:.1f} s ({_timings_line(report)})")
    if abs(got - exact) > 1e-9 * max(1.0, abs(exact)):
        print(
            "bea: demo: the generated modified loss disagrees with the exact one", file=sys.stderr
        )
        return 1
    if not report.ok:
        print("bea: demo: an order failed its slope check", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------- parser


def _cmd_cache(args, hyper) -> int:
    from numerics._compile import clear_compiled_cache, compiled_cache_info, persistent_cache_dir

    from .._cache import default_cache

    cache = default_cache()
    if args.action == "clear":
        removed = cache.clear()
        print(f"removed {removed} file(s) from {cache.directory}")
        folder = persistent_cache_dir()  # None: switched off (BEA_JAX_CACHE=0)
        removed = clear_compiled_cache()
        if folder is not None:
            print(f"removed {removed} compiled program(s) from {folder}")
        return 0
    info = cache.info()
    compiled = compiled_cache_info()
    if args.format == "json":
        print(json.dumps({**info, "compiled": compiled}, indent=2))
        return 0
    state = "on" if info["active"] else "off (BEA_CACHE=0)" if not info["enabled"] else "unusable"
    where = "from BEA_CACHE_DIR" if os.environ.get("BEA_CACHE_DIR") else "set BEA_CACHE_DIR to move"
    print(f"directory  {info['directory']} ({where})")
    print(f"state      {state}")
    print(f"entries    {info['entries']} ({info['bytes']} bytes)")
    print(f"locks      {info['locks']}")
    print(f"temporary  {info['temporary']} (left by interrupted writes; removed by 'clear')")
    if info["other"]:
        print(
            f"other      {info['other']} (not regular files; 'clear' removes all but directories)"
        )
    if compiled["directory"] is None:
        print("compiled   off (BEA_JAX_CACHE=0)")
    else:
        print(
            f"compiled   {compiled['files']} file(s), {compiled['bytes']} bytes in "
            f"{compiled['directory']} (JAX programs and stored sweep kernels; 'clear' removes them)"
        )
    return 0


def _version() -> str:
    from .._version import __version__

    return __version__


def _order(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"order must be a non-negative integer, got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"order must be a non-negative integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


#: how a Butcher tableau is typed (help and errors)
_TABLEAU_SYNTAX = (
    "runge_kutta takes its Butcher tableau as --A with rows separated by ';' and entries by "
    "',' (numbers or symbols), --b as one row and optionally --c, e.g. "
    "bea derive runge_kutta --A '0,0;1,0' --b '1/2,1/2' (Heun)"
)

_OPTIMIZER_HELP = (
    "optimizer: {names}. Hyperparameters are options named after the catalog function's "
    "arguments, e.g. --beta 0.9 (exact: read as 9/10) or --beta beta (a symbol); "
    "an unknown one lists the valid ones. " + _TABLEAU_SYNTAX.replace("%", "%%") + "."
)

_LOSS_HELP = (
    "a built-in loss name or an expression such as 'x**4/4 + sin(y)' (variables in sorted "
    "order unless --vars); several losses as 'EXPR1;EXPR2' or a repeated --loss"
)


def _derivation_arguments(parser: argparse.ArgumentParser, names: str) -> None:
    """The arguments ``derive`` and ``loss`` share: optimizer, order, format, loss, vars."""
    parser.add_argument("optimizer", help=_OPTIMIZER_HELP.format(names=names))
    parser.add_argument("--order", type=_order, default=2, help="highest power of h (default 2)")
    parser.add_argument("--format", choices=_FORMATS, default="text", help="output format")
    parser.add_argument("--loss", action="append", metavar="EXPR", help=_LOSS_HELP)
    parser.add_argument("--vars", metavar="x,y", help="the variables, in this order")
    parser.add_argument("--force", action="store_true", help=_FORCE_HELP)


_FORCE_HELP = (
    "derive even when it needs more trees than the default limit (order 14 for one loss); "
    "without it, such orders are refused with the tree count and a cost estimate"
)


def _max_trees(args) -> int | None:
    """No limit on the trees enumerated with --force; else the default limit."""
    return sys.maxsize if args.force else None


def _parser() -> tuple[argparse.ArgumentParser, dict[str, dict[str, bool]]]:
    """The parser, and per command its option strings (True: the option takes a value)."""
    import bea.optimizers as catalog  # the names only: the entries load on first use

    names = ", ".join(sorted({*catalog.__all__, *_RK_METHODS}))
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="also show the traceback of user errors (internal errors always show it)",
    )
    p = argparse.ArgumentParser(
        prog="bea",
        description="Backward error analysis of optimizers: modified equations and losses, "
        "JAX code, numerical checks.",
        epilog="examples:\n"
        "  bea demo\n"
        "  bea derive gd --order 4\n"
        "  bea loss heavy_ball --beta 0.9 --order 2 --format latex\n"
        "  bea verify gd --loss quartic --plot agreement.png\n\n"
        "Run 'bea COMMAND --help' for the options of each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    p.add_argument("--debug", action="store_true", help="also show the traceback of user errors")
    p.add_argument("--version", action="version", version=f"bea {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    options: dict[str, dict[str, bool]] = {}

    def command(name, help, description, epilog, func):
        sp_ = sub.add_parser(
            name,
            help=help,
            description=description,
            epilog="examples:\n" + epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[common],
            allow_abbrev=False,
        )
        sp_.set_defaults(func=func)
        return sp_

    def opt_record(parser, name):
        options[name] = {
            s: action.nargs != 0 for action in parser._actions for s in action.option_strings
        }

    # derive
    d = command(
        "derive",
        "modified equation of an optimizer",
        "Print the modified equation f̃ of an optimizer through h^order (f = −∇L;\n"
        "h f̃ = Σ_t h^|t| ω(t)/σ(t) F(t)). With --loss, also f̃ on that loss, per\n"
        "component. Coordinate-wise optimizers (sign_gd, rmsprop, adam) need --loss.",
        "  bea derive gd --order 4\n"
        "  bea derive rk4 --order 5 --format latex\n"
        "  bea derive heavy_ball --beta 0.9 --order 2 --loss 'x**4/4 + y**2/2'\n"
        "  bea derive adam --beta1 0.9 --beta2 0.999 --eps 1e-8 --order 1 --loss quartic\n"
        "  bea derive simultaneous_gd --order 1 --loss 'x*y;-x*y' --players 'x;y'\n"
        "  bea derive runge_kutta --A '0,0;q,0' --b '1/2,1/2' --order 2\n\n"
        "built-in losses:\n" + _losses_help(),
        _cmd_derive,
    )
    _derivation_arguments(d, names)
    d.add_argument("--players", metavar="'p;q'", help="games: each player's variables")

    # loss
    lo = command(
        "loss",
        "modified loss and non-gradient remainder",
        "Print the modified loss L̃ (f̃ = −∇L̃ through the gradient order) and, beyond\n"
        "it, the non-gradient terms. With --loss, also L̃ on that loss.",
        "  bea loss gd --order 3\n"
        "  bea loss rk4 --order 5 --format json\n"
        "  bea loss usam --c 1/2 --order 2 --loss rosenbrock\n"
        "  bea loss reshuffled_sgd --order 1 --loss 'x**2;(x-y)**2'",
        _cmd_loss,
    )
    _derivation_arguments(lo, names)

    # codegen
    cg = command(
        "codegen",
        "standalone JAX module of a modified field or loss",
        "Write a Python module (it imports only jax) defining\n"
        "modified_field(loss_fn, h, *hyperparameters) -> (params -> f̃(params)) or\n"
        "modified_loss(loss_fn, h, *hyperparameters) -> (params -> L̃(params)).",
        "  bea codegen gd --order 2 --kind field --out gd_field.py\n"
        "  bea codegen heavy_ball --order 1 --kind loss      # beta becomes an argument\n"
        "  bea codegen rk4 --order 5",
        _cmd_codegen,
    )
    cg.add_argument("optimizer", help=_OPTIMIZER_HELP.format(names=names))
    cg.add_argument("--order", type=_order, default=2, help="highest power of h (default 2)")
    cg.add_argument(
        "--kind",
        choices=("field", "loss"),
        default="field",
        help="field: the modified field f̃ (any method, any order); loss: the modified loss L̃ "
        "(only through the method's gradient order, e.g. 1 for gd) (default field)",
    )
    cg.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    cg.add_argument(
        "--function-name", metavar="NAME", default=None, help="the generated function's name"
    )
    cg.add_argument("--force", action="store_true", help=_FORCE_HELP)

    # verify
    ve = command(
        "verify",
        "check numerically that iterates follow the modified flows",
        "Run the optimizer and its truncated modified flows (orders p) on a loss, for\n"
        "several step sizes h at a fixed horizon T, and fit log error against log h:\n"
        "the slope must be p + 1. Exit status 1 when an order fails.",
        "  bea verify gd --loss logcosh\n"
        "  bea verify heavy_ball --beta 0.5 --loss logcosh --orders 0,1,2\n"
        "  bea verify rk4 --loss 'x**4/4 + y**2' --x0 0.5,-0.3 --steps 0.2,0.1,0.05\n"
        "  bea verify reshuffled_sgd --loss minibatch --plot agreement.png --json agreement.json\n"
        "  bea verify simultaneous_gd --loss game\n"
        "  bea verify --list-losses\n\n"
        "built-in losses:\n" + _losses_help(),
        _cmd_verify,
    )
    ve.add_argument("optimizer", nargs="?", help=_OPTIMIZER_HELP.format(names=names))
    ve.add_argument("--loss", action="append", metavar="EXPR", help=_LOSS_HELP)
    ve.add_argument("--vars", metavar="x,y", help="the variables, in this order")
    ve.add_argument("--players", metavar="'p;q'", help="games: each player's variables")
    ve.add_argument("--x0", metavar="0.5,-0.3", help="the start (default per loss)")
    ve.add_argument("--orders", default="0,1,2,3", metavar="0,1,2,3", help="orders p")
    ve.add_argument("--steps", metavar="0.1,0.05,...", help="step sizes h (at least 3)")
    ve.add_argument("--horizon", type=_positive_float, metavar="T", help="time T (default 1)")
    ve.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    ve.add_argument("--plot", metavar="FILE.png", help="write the log-log plot")
    ve.add_argument("--json", metavar="FILE.json", help="write the report as JSON")
    ve.add_argument("--progress", action="store_true", help="show a progress bar")
    ve.add_argument("--list-losses", action="store_true", help="list the built-in losses")

    # demo
    de = command(
        "demo",
        "the built-in default job",
        "Derive gradient descent's modified loss through h^3, write JAX modules for its\n"
        "modified field (order 2) and loss (order 1), check the agreement slopes of\n"
        "orders 0-3 on log-cosh and plot them (--fast: orders 0-2, three step sizes).",
        "  bea demo\n  bea demo --out-dir /tmp/bea-demo --fast",
        _cmd_demo,
    )
    de.add_argument("--out-dir", default="bea-demo", help="where to write (default ./bea-demo)")
    de.add_argument(
        "--fast",
        action="store_true",
        help="a quicker check: orders 0-2 on three step sizes instead of orders 0-3 on eight",
    )

    # cache
    ca = command(
        "cache",
        "show or clear the disk caches of derivations and compiled sweeps",
        "Show where the disk cache of high-order derivations lives and what it holds\n"
        "(info), or remove its files (clear). BEA_CACHE_DIR moves it; BEA_CACHE=0\n"
        "turns it off. Invalid entries are detected, removed and recomputed on read.\n"
        "The compiled JAX programs and stored sweep kernels (BEA_JAX_CACHE_DIR;\n"
        "BEA_JAX_CACHE=0 turns them off) are listed and cleared with it.",
        "  bea cache info\n  bea cache info --format json\n  bea cache clear",
        _cmd_cache,
    )
    ca.add_argument("action", choices=("info", "clear"), help="what to do")
    ca.add_argument("--format", choices=("text", "json"), default="text", help="output format")

    # design
    from ._design import add_design_command

    add_design_command(command, _order, _FORMATS, CLIError)

    for name, parser in (("derive", d), ("loss", lo), ("codegen", cg), ("verify", ve)):
        opt_record(parser, name)
    return p, options


def _split_hyperparameters(argv: list[str], options: dict[str, dict[str, bool]]):
    """Take ``--NAME VALUE`` pairs that are not options of the command out of ``argv``.

    Values of known options are attached with ``=`` so that argparse reads values
    starting with '-' (``--x0 -0.5,0.3``, ``--beta -0.5``) as values.
    """
    i = next((k for k, token in enumerate(argv) if not token.startswith("-")), None)
    known = options.get(argv[i]) if i is not None else None
    if known is None or i is None:
        return argv, {}
    head, rest = argv[: i + 1], argv[i + 1 :]
    kept, hyper = [], {}
    j = 0
    while j < len(rest):
        tok = rest[j]
        if tok == "--":
            kept.extend(rest[j:])
            break
        if not tok.startswith("--") or tok == "--":
            kept.append(tok)
            j += 1
            continue
        flag, eq, value = tok.partition("=")
        if flag in known:
            if known[flag] and not eq and j + 1 < len(rest):
                kept.append(f"{flag}={rest[j + 1]}")
                j += 2
            else:
                kept.append(tok)
                j += 1
            continue
        name = flag[2:].replace("-", "_")
        if not eq:
            if j + 1 >= len(rest):
                raise CLIError(f"{flag} needs a value, e.g. {flag} 0.9")
            value = rest[j + 1]
            j += 2
        else:
            j += 1
        if name in hyper:
            raise CLIError(f"{flag} is given twice")
        hyper[name] = value
    return head + kept, hyper


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 failed check, 2 user error).

    Exact results may hold integers beyond Python's 4300-digit printing limit
    (``99999**1000*x**2``); inputs are bounded by the parser, so the limit is
    lifted while the command runs.
    """
    limit = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else None
    if limit is not None:
        sys.set_int_max_str_digits(0)
    try:
        return _main(argv)
    finally:
        if limit is not None:
            sys.set_int_max_str_digits(limit)


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        parser, options = _parser()
        argv, hyper = _split_hyperparameters(argv, options)
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, or a usage error already printed by argparse
            return exc.code if isinstance(exc.code, int) else 2
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return 2
        if hyper and args.command not in options:
            raise CLIError(f"{args.command} takes no hyperparameters")
        return args.func(args, hyper)
    except KeyboardInterrupt:
        print("bea: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except CLIError as exc:
        if debug:
            traceback.print_exc()
        print(f"bea: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # not the user's mistake: a bug, shown as one
        traceback.print_exc()
        print(
            f"bea: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in bea, not a problem with your input; please report it with the "
            "command line and the traceback above.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
