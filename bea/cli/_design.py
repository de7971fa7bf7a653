"""``bea design``: solve a family's unknown coefficients for a target modified loss."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

__all__ = ["FAMILIES", "add_design_command"]

#: family name → (description, its options)
FAMILIES = {
    "explicit": "s-stage explicit gradient schemes x + Σ b_i k_i, k_i = step(x + Σ a_ij k_j) "
    "(--stages s, default 2)",
    "momentum": "x + β(x − x₋) + α step(x + γ(x − x₋)) (fix any of --alpha --beta --gamma)",
    "lookahead": "x + Σ w_i (y_i − x), y_i = i gradient steps ahead (--k k, default 2)",
    "usam": "x + step(x − c step(x)), unnormalised SAM with ρ = c·h (fix --c or leave it)",
}


def _value(text: str | None):
    if text is None:
        return None
    from .._parse import parse_symbol

    return parse_symbol(text)


def _family(args):
    import bea

    if args.family == "explicit":
        return bea.families.explicit(args.stages)
    if args.family == "momentum":
        return bea.families.momentum(_value(args.alpha), _value(args.beta), _value(args.gamma))
    if args.family == "lookahead":
        return bea.families.lookahead(args.k)
    return bea.families.usam(_value(args.c))


def _design(args, hyper):
    import bea

    if hyper:
        names = ", ".join(f"--{k}" for k in hyper)
        raise ValueError(f"bea design does not take {names}; see bea design --help")
    family = _family(args)
    unknowns = [u.strip() for u in args.unknowns.split(",")] if args.unknowns else None
    return bea.design(
        family,
        order=args.order,
        target=args.target,
        gradient_order=args.gradient_order,
        unknowns=unknowns,
        objective=args.objective,
        complete=args.complete,
    )


def _cmd_design(args, hyper, user_error: type[Exception]) -> int:
    try:
        result = _design(args, hyper)
    except (ValueError, TypeError) as exc:  # bad input: a message, exit status 2
        raise user_error(str(exc)) from None
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    elif args.format == "latex":
        print(result.latex())
    else:
        print(result.text())
    return 0


def add_design_command(
    command: Callable, order_type: Callable, formats: tuple, user_error: type[Exception]
) -> None:
    """Register ``bea design`` with the CLI's ``command(name, help, description, epilog, func)``."""
    families = "\n".join(f"  {k:10s} {v}" for k, v in FAMILIES.items())
    ds = command(
        "design",
        "solve a family of optimizers for a target modified loss",
        "Find the members of a family whose modified loss is the target through h^order\n"
        "(L̃ = Σ_τ h^(|τ|−1) c(τ) S(τ), f = −∇L), exactly; or prove with a Gröbner basis\n"
        "{1} that there is none. Targets are loss expressions in L, h, |grad L|^2,\n"
        "grad L.hess L.grad L, S[tree] and parameters, or JSON {tree: coefficient}.\n\n"
        "families:\n" + families,
        "  bea design explicit --stages 2 --order 1 --target 'L + 3/7*h*|grad L|^2'\n"
        "  bea design explicit --stages 1 --gradient-order 2      # no: a proof\n"
        "  bea design usam --order 1 --target 'L + lam*h*|grad L|^2' --unknowns c,lam\n"
        "  bea design explicit --order 1 --objective next_order   # Ralston's method\n"
        '  bea design momentum --beta 1/2 --order 1 --target \'{"[]": 1, "[[]]": "1/4"}\'',
        lambda args, hyper: _cmd_design(args, hyper, user_error),
    )
    ds.add_argument("family", choices=sorted(FAMILIES), help="the family (see above)")
    ds.add_argument("--order", type=order_type, default=None, help="order p of the target")
    ds.add_argument("--target", default=None, help="the target loss (default: L)")
    ds.add_argument(
        "--gradient-order", type=order_type, default=None, help="f̃ a gradient through h^k"
    )
    ds.add_argument("--unknowns", metavar="a,b", help="symbols to solve for (default: all)")
    ds.add_argument("--objective", choices=("next_order",), help="minimise among solutions")
    ds.add_argument("--complete", action="store_true", help="explore every special case")
    ds.add_argument("--format", choices=formats, default="text", help="output format")
    ds.add_argument("--stages", type=int, default=2, help="explicit: number of stages")
    ds.add_argument("--k", type=int, default=2, help="lookahead: gradient steps ahead")
    for name in ("alpha", "beta", "gamma", "c"):
        ds.add_argument(f"--{name}", default=None, help=argparse.SUPPRESS)
