"""The ``bea`` command line.

Examples::

    bea demo                         # the built-in default job
    bea derive gd --order 4          # modified equation of gradient descent
    bea derive rk4 --order 5 --format latex
    bea loss gd --order 3            # modified loss and non-gradient remainder
"""

from __future__ import annotations

import argparse
import json
import sys
import time

__all__ = ["main"]

_METHODS = {
    "gd": "gd",
    "rk4": "rk4",
    "heun": "heun",
    "explicit_midpoint": "explicit_midpoint",
    "implicit_midpoint": "implicit_midpoint",
    "implicit_euler": "implicit_euler",
}


class CLIError(Exception):
    """A user error: printed as one message, exit status 2, no traceback."""


def _method(name: str):
    import bea

    key = name.strip().lower().replace("-", "_")
    if key not in _METHODS:
        raise CLIError(f"unknown optimizer {name!r}; available: {', '.join(sorted(_METHODS))}")
    return getattr(bea, _METHODS[key])()


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


def _cmd_derive(args) -> int:
    import bea

    me = bea.modified_equation(_method(args.optimizer), order=args.order)
    if args.format == "latex":
        print(me.latex())
    elif args.format == "json":
        terms = [
            {"tree": str(t), "omega": str(c), "sigma": t.symmetry(), "order": len(t) - 1}
            for t, c in me
        ]
        print(json.dumps({"optimizer": args.optimizer, "order": args.order, "terms": terms}))
    else:
        print(me)
    return 0


def _cmd_loss(args) -> int:
    import bea

    ml = bea.modified_loss(_method(args.optimizer), order=args.order)
    if args.format == "latex":
        print(ml.latex())
    elif args.format == "json":
        out = {
            "optimizer": args.optimizer,
            "order": args.order,
            "gradient_order": ml.gradient_order,
            "loss": [{"free_tree": str(t), "coefficient": str(c)} for t, c in ml.loss_terms()],
            "remainder": [{"tree": str(t), "coefficient": str(c)} for t, c in ml.remainder_terms()],
        }
        print(json.dumps(out))
    else:
        print(ml)
    return 0


def _cmd_demo(args) -> int:
    import bea

    t0 = time.perf_counter()
    me = bea.modified_equation(bea.gd(), order=4)
    print("Gradient descent θ ← θ − h∇L(θ), f = −∇L. Its modified equation:\n")
    print(me)
    ml = bea.modified_loss(bea.gd(), order=3)
    print("\nModified loss (gradient structure order by order):\n")
    print(ml)
    print(f"\n(derived exactly in {time.perf_counter() - t0:.2f} s)")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bea",
        description="Backward error analysis of optimizers: modified equations and losses.",
        epilog="Run 'bea demo' for the built-in default job; 'bea COMMAND --help' for details.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    d = sub.add_parser(
        "derive",
        help="modified equation of an optimizer",
        description="Print the modified equation f̃ of an optimizer through h^order.",
        epilog="examples:\n  bea derive gd --order 4\n  bea derive rk4 --order 5 --format latex",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d.add_argument("optimizer", help=f"one of: {', '.join(sorted(_METHODS))}")
    d.add_argument("--order", type=_order, default=2, help="highest power of h (default 2)")
    d.add_argument("--format", choices=("text", "latex", "json"), default="text")
    d.set_defaults(func=_cmd_derive)

    lo = sub.add_parser(
        "loss",
        help="modified loss and non-gradient remainder",
        description="Print the modified loss L̃ and, beyond its order, the non-gradient terms.",
        epilog="examples:\n  bea loss gd --order 3\n  bea loss rk4 --order 5 --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lo.add_argument("optimizer", help=f"one of: {', '.join(sorted(_METHODS))}")
    lo.add_argument("--order", type=_order, default=2, help="highest power of h (default 2)")
    lo.add_argument("--format", choices=("text", "latex", "json"), default="text")
    lo.set_defaults(func=_cmd_loss)

    de = sub.add_parser(
        "demo",
        help="the built-in default job",
        description="Derive gradient descent's modified equation and modified loss.",
    )
    de.set_defaults(func=_cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (CLIError, ValueError) as exc:
        print(f"bea: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
