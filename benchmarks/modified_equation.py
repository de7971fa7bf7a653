"""Benchmark: the modified equation of explicit Euler (GD) and RK4, exactly.

For each method and n = 4 … max_n, time and peak memory to compute ω(t) on
every rooted tree with at most n nodes, i.e. ``bea.modified_equation(method,
order=n - 1)``, including the construction of the tree table. Each
measurement runs in a fresh Python process, so no cache carries over; peak
memory is the child's peak resident size after the computation minus its
value right after the imports (``VmHWM`` where /proc exists, else
``ru_maxrss``; see ``_harness.peak_rss_kib``).

Beside bea, the same quantity with ``kauri`` 2.3 (exact ``Fraction``
arithmetic: the Runge–Kutta tableau is given as Fractions and the log is
taken against the exact weights 1/γ(t) as Fractions), for the sizes it
finishes within ``--kauri-timeout`` seconds; larger sizes are skipped after
the first time-out. Both libraries use the normalisation
h f̃ = Σ_t h^{|t|} ω(t)/σ(t) F(t); before timing, the script asserts that
they agree exactly on every tree with at most 6 nodes.

Usage::

    python benchmarks/modified_equation.py [--max-n 15] [--methods gd,rk4]
                                           [--kauri-timeout 60]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from fractions import Fraction
from pathlib import Path

from _harness import peak_rss_kib, run_child

# run from a source checkout without installing: the repository root holds bea/
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

METHODS = ("gd", "rk4")
CHECK_NODES = 6
TARGETS = {8: 0.05, 12: 3.0, 14: 60.0}
MEMORY_TARGET_MIB = 2048.0


# ----------------------------------------------------------------------------
# The computations (run in the child process)
# ----------------------------------------------------------------------------


def _kauri_tableau(method: str):
    half, sixth, third = Fraction(1, 2), Fraction(1, 6), Fraction(1, 3)
    z = Fraction(0)
    if method == "gd":
        return [[z]], [Fraction(1)]
    if method == "rk4":
        A = [[z, z, z, z], [half, z, z, z], [z, half, z, z], [z, z, Fraction(1), z]]
        return A, [sixth, third, third, sixth]
    raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")


def _bea_method(method: str):
    import bea

    if method == "gd":
        return bea.gd()
    if method == "rk4":
        return bea.rk4()
    raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")


def bea_omega(method: str, n: int) -> dict[str, Fraction]:
    """ω(t) for |t| ≤ n from bea, keyed by the canonical bracket string."""
    import bea

    me = bea.modified_equation(_bea_method(method), order=n - 1)
    out = {}
    for k in range(1, n + 1):
        for t in bea.trees(k):
            c = me.coefficient(t)
            out[str(t)] = Fraction(int(c.p), int(c.q))
    return out


def kauri_omega(method: str, n: int) -> dict[str, Fraction]:
    """ω(t) for |t| ≤ n from kauri, keyed by bea's canonical bracket string.

    kauri's ``Map.log`` is φ ⋆ (e ∘ S_CEM) with e(t) = 1/t!; its built-in e
    uses floats, so the exact weights are rebuilt with Fractions here.
    """
    import kauri as kr
    from kauri.cem.cem import antipode_impl

    import bea

    A, b = _kauri_tableau(method)
    phi = kr.RK(A, b).elementary_weights_map()
    exact = kr.Map(lambda t: Fraction(1, t.factorial()))
    omega = phi ^ (exact & kr.Map(antipode_impl))
    out = {}
    for t in kr.trees_up_to_order(n):
        if t.nodes() == 0:
            continue
        out[str(bea.tree(str(t)))] = Fraction(omega(t))
    return out


def _child(lib: str, method: str, n: int) -> None:
    if lib == "bea":
        import bea

        def run():
            bea.modified_equation(_bea_method(method), order=n - 1)

    elif lib == "kauri":
        import kauri  # noqa: F401  (imported before the baseline is taken)

        A, b = _kauri_tableau(method)

        def run():
            import kauri as kr
            from kauri.cem.cem import antipode_impl

            phi = kr.RK(A, b).elementary_weights_map()
            exact = kr.Map(lambda t: Fraction(1, t.factorial()))
            omega = phi ^ (exact & kr.Map(antipode_impl))
            for t in kr.trees_up_to_order(n):
                omega(t)

    else:
        raise ValueError(f"unknown library {lib!r}")
    base = peak_rss_kib()
    t0 = time.perf_counter()
    run()
    elapsed = time.perf_counter() - t0
    peak = peak_rss_kib()
    print(json.dumps({"time": elapsed, "mem_mib": (peak - base) / 1024.0}))


# ----------------------------------------------------------------------------
# The driver
# ----------------------------------------------------------------------------


def measure(lib: str, method: str, n: int, timeout: float) -> dict | None:
    """Run one measurement in a fresh process; None on time-out."""
    return run_child(__file__, [lib, method, str(n)], timeout)


def check_agreement(methods) -> None:
    for m in methods:
        ours, theirs = bea_omega(m, CHECK_NODES), kauri_omega(m, CHECK_NODES)
        assert ours.keys() == theirs.keys(), (m, ours.keys() ^ theirs.keys())
        bad = {t: (ours[t], theirs[t]) for t in ours if ours[t] != theirs[t]}
        assert not bad, f"bea and kauri disagree for {m}: {bad}"
        print(
            f"# {m}: bea and kauri agree exactly on all {len(ours)} trees with ≤ {CHECK_NODES} "
            "nodes"
        )


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--max-n", type=int, default=15, help="largest tree size n (default 15)")
    p.add_argument("--min-n", type=int, default=4, help="smallest tree size n (default 4)")
    p.add_argument("--methods", default="gd,rk4", help="comma-separated subset of gd,rk4")
    p.add_argument(
        "--kauri-timeout",
        type=float,
        default=60.0,
        help="seconds per kauri measurement; larger n are skipped after a time-out",
    )
    p.add_argument("--bea-timeout", type=float, default=600.0, help="seconds per bea measurement")
    p.add_argument("--child", nargs=3, metavar=("LIB", "METHOD", "N"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        lib, method, n = args.child
        _child(lib, method, int(n))
        return
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        if m not in METHODS:
            p.error(f"--methods: expected a subset of {','.join(METHODS)}, got {m!r}")

    import bea

    check_agreement(methods)
    print(
        f"# targets: n=8 ≤ {TARGETS[8]} s, n=12 ≤ {TARGETS[12]} s, n=14 ≤ {TARGETS[14]} s, "
        f"peak memory ≤ {MEMORY_TARGET_MIB / 1024:.0f} GiB"
    )
    header = (
        f"{'method':<6} {'n':>3} {'#trees':>7} {'bea s':>9} {'bea MiB':>8} "
        f"{'kauri s':>9} {'kauri MiB':>9} {'kauri/bea':>9}  target"
    )
    print(header)
    print("-" * len(header))
    for m in methods:
        kauri_running = True
        for n in range(args.min_n, args.max_n + 1):
            ntrees = sum(bea.count_trees(k) for k in range(1, n + 1))
            ours = measure("bea", m, n, args.bea_timeout)
            theirs, kcol = None, f"{'—':>9}"
            if kauri_running:
                theirs = measure("kauri", m, n, args.kauri_timeout)
                if theirs is None:
                    kauri_running = False
                    kcol = f"{'>' + str(int(args.kauri_timeout)):>9}"
                else:
                    kcol = f"{theirs['time']:9.4f}"
            bt = None if ours is None else ours["time"]
            bcol = f"{'>' + str(int(args.bea_timeout)):>9}" if ours is None else f"{bt:9.4f}"
            bmem = f"{ours['mem_mib']:8.1f}" if ours else f"{'—':>8}"
            kmem = f"{theirs['mem_mib']:9.1f}" if theirs else f"{'—':>9}"
            ratio = f"{theirs['time'] / bt:9.1f}" if theirs and bt else f"{'—':>9}"
            target = ""
            if n in TARGETS:
                ok = bt is not None and bt <= TARGETS[n]
                target = f"≤ {TARGETS[n]:g} s {'ok' if ok else 'MISSED'}"
            if ours is not None:
                ok = ours["mem_mib"] <= MEMORY_TARGET_MIB
                target += ("; " if target else "") + f"mem {'ok' if ok else 'MISSED'}"
            print(
                f"{m:<6} {n:>3} {ntrees:>7} {bcol} {bmem} {kcol} {kmem} {ratio}  {target}",
                flush=True,
            )


if __name__ == "__main__":
    main()
