"""Whole ``bea demo`` processes, cold and warm, before and after; and ``--fast`` beside them.

Each run is a fresh process (``python -m bea.cli demo --out-dir TMP``, JAX
start-up included). *Cold*: empty caches (a fresh ``BEA_CACHE_DIR`` and
``BEA_JAX_CACHE_DIR`` per run); *warm*: the caches of an earlier run (JAX's
compilation cache, the stored sweep kernels and their executables, bea's
symbolic cache). Wall and CPU (user + system) seconds, medians of
``--repeats`` runs, interleaved so that every variant sees the same load; on
a shared machine the CPU figure is the steadier one. ``--fast`` derives and
writes the same files but sweeps orders 0–2 on three step sizes instead of
orders 0–3 on eight (``bea.cli._main._DEMO_FAST``). ``--before PATH`` times another checkout (with
``PYTHONPATH`` set to it) in the same loop.

Usage::

    python benchmarks/demo.py [--repeats 3] [--before /tmp/base]
"""

from __future__ import annotations

import argparse
import os

from _harness import cli_table

_COMMANDS = {
    "bea demo": ["demo", "--out-dir", "{tmp}/demo"],
    "bea demo --fast": ["demo", "--fast", "--out-dir", "{tmp}/demo-fast"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before", default=None, help="another checkout to time alongside")
    args = parser.parse_args()
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    trees = [("after", here)]
    if args.before:
        trees.insert(0, ("before", os.path.abspath(args.before)))
    cli_table(_COMMANDS, trees, args.repeats)


if __name__ == "__main__":
    main()
