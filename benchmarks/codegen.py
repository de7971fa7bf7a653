"""Cost of generated modified fields and losses against one gradient.

An MLP 64 → 1024 → 1024 → 10 (tanh, softmax cross-entropy; about 1.1M
parameters) on a batch of scikit-learn's bundled digits. For each function
the script prints the median time of several jitted calls (after a
warm-up, ``block_until_ready``), XLA's memory estimate of the compiled
function (``memory_analysis()``: temporaries + arguments + outputs) and XLA's
flop count (``cost_analysis()``, independent of machine load), all as ratios
to one ``jax.grad`` of the loss, timed interleaved with each row. Times are
CPU time of the process (``time.process_time``, all XLA threads; less
sensitive to other load on a shared machine) unless ``--clock wall``. Check the
load first (``uptime``): times on a shared machine move by 10–20 %, flops do not.

Rows: the gradient-descent modified field at orders 1–4 (``bea.jax``, default
``evaluation="auto"``: Taylor-mode jets at order 4) and, where the plans
differ (order 4), the same field as nested jvps (``evaluation="nested"``, the
plan before Taylor mode) measured in the same run, the
"obvious" order-1 and order-2 fields (separate jvps of grad), and the gradient
of the order-1 modified loss next to the hand-written double-backprop
regulariser ∇(L + h/4 ‖∇L‖²); the APPROXIMATE fields of ``bea.jax.approximate_field``
(differences of p + 1 gradient steps; their error against the exact field is
printed after the table); with ``--jets``, one degree-k Taylor jet of ∇L
(``jax.experimental.jet`` along ∇L), the floor of a Taylor-mode evaluation.

``--memory-scheduler`` compiles every row, the reference included, with XLA's
CPU flag ``--xla_cpu_enable_concurrency_optimized_scheduler=false`` added to
``XLA_FLAGS`` before JAX starts (as a user would set it; passed as a per-jit
``compiler_options`` it measured no effect): the default CPU scheduler orders
work for parallelism, this one for a lower peak memory.

Usage::

    python benchmarks/codegen.py [--dtype float64|float32] [--device cpu|gpu]
                                 [--batch 512] [--repeats 7] [--memory-scheduler] [--jets]
                                 [--clock process|wall] [--only-fields]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    parser.add_argument("--device", default=None, help="jax platform, e.g. cpu or gpu")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--max-order", type=int, default=4)
    parser.add_argument(
        "--error-steps",
        type=lambda text: [float(v) for v in text.split(",")],
        default=[0.1, 0.03, 0.01],
        help="step sizes of the approximate field's error table",
    )
    parser.add_argument("--no-table", action="store_true", help="only the error table")
    parser.add_argument(
        "--clock",
        choices=["process", "wall"],
        default="process",
        help="process: CPU time of all threads (default); wall: elapsed time",
    )
    parser.add_argument(
        "--only-fields",
        action="store_true",
        help="only the exact fields (Taylor and nested) against the gradient",
    )
    parser.add_argument(
        "--jets", action="store_true", help="add rows: one degree-k jet of ∇L (Taylor-mode floors)"
    )
    parser.add_argument(
        "--memory-scheduler",
        action="store_true",
        help="CPU only: compile with the memory-first scheduler (see the module docstring)",
    )
    args = parser.parse_args()
    if args.memory_scheduler:
        if args.device not in (None, "cpu"):
            parser.error(f"--memory-scheduler is a CPU option; got --device {args.device}")
        flag = "--xla_cpu_enable_concurrency_optimized_scheduler=false"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()

    import jax

    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    if args.device:
        jax.config.update("jax_platforms", args.device)
    import jax.flatten_util
    import jax.numpy as jnp
    import numpy as np
    from sklearn.datasets import load_digits

    import bea
    import bea.jax

    dtype = jnp.dtype(args.dtype)
    digits = load_digits()
    inputs = jnp.asarray(digits.data[: args.batch] / 16.0, dtype)
    labels = jax.nn.one_hot(jnp.asarray(digits.target[: args.batch]), 10, dtype=dtype)

    sizes = [64, args.width, args.width, 10]
    keys = jax.random.split(jax.random.PRNGKey(0), len(sizes) - 1)
    params = {
        f"layer{i}": {
            "w": jax.random.normal(k, (a, b), dtype) / np.sqrt(a),
            "b": jnp.zeros((b,), dtype),
        }
        for i, (k, a, b) in enumerate(zip(keys, sizes[:-1], sizes[1:]))
    }
    n = sum(leaf.size for leaf in jax.tree_util.tree_leaves(params))

    def loss(p, x, y):
        for i in range(len(sizes) - 2):
            x = jnp.tanh(x @ p[f"layer{i}"]["w"] + p[f"layer{i}"]["b"])
        last = p[f"layer{len(sizes) - 2}"]
        logits = x @ last["w"] + last["b"]
        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits), axis=-1))

    h = 0.1
    grad = jax.grad(loss)

    def obvious_order1(p, x, y):
        g = grad(p, x, y)
        hg = jax.jvp(lambda q: grad(q, x, y), (p,), (g,))[1]
        return jax.tree_util.tree_map(lambda a, b: -a - h / 2 * b, g, hg)

    def obvious_order2(p, x, y):
        def gr(q):
            return grad(q, x, y)

        g = gr(p)
        hg = jax.jvp(gr, (p,), (g,))[1]
        hhg = jax.jvp(gr, (p,), (hg,))[1]
        d2 = jax.jvp(lambda q: jax.jvp(gr, (q,), (g,))[1], (p,), (g,))[1]
        return jax.tree_util.tree_map(
            lambda a, b, c, d: -a - h / 2 * b - h**2 / 3 * c - h**2 / 12 * d, g, hg, hhg, d2
        )

    def double_backprop(p, x, y):
        def regularised(q):
            g = grad(q, x, y)
            sq = sum(jnp.vdot(a, a) for a in jax.tree_util.tree_leaves(g))
            return loss(q, x, y) + h / 4 * sq

        return jax.grad(regularised)(p)

    rows = [("grad (reference)", grad)]
    for order in range(1, args.max_order + 1):
        rows.append(
            (f"field order {order}", bea.jax.modified_field(loss, bea.gd(), order=order, h=h))
        )
        if bea.jax.plan_cost(bea.gd(), order) != bea.jax.plan_cost(
            bea.gd(), order, evaluation="nested"
        ):  # orders 1-3: one plan either way
            nested = bea.jax.modified_field(loss, bea.gd(), order=order, h=h, evaluation="nested")
            rows.append((f"  nested jvps (before), order {order}", nested))
    rows.append(("obvious field order 1", obvious_order1))
    rows.append(("obvious field order 2", obvious_order2))
    rows.append(
        (
            "grad of loss order 1",
            jax.grad(bea.jax.modified_loss(loss, bea.gd(), order=1, h=h)),
        )
    )
    rows.append(("double backprop ∇(L+h/4|∇L|²)", double_backprop))
    for order in range(1, args.max_order + 1):
        rows.append(
            (f"APPROX field order {order}", bea.jax.approximate_field(loss, order=order, h=h))
        )
    if args.only_fields:
        rows = [r for r in rows if r[0].startswith(("grad (", "field order", "  nested"))]
        args.error_steps = []
    if args.jets:
        for k in range(1, args.max_order + 1):
            rows.append((f"jet of ∇L, degree {k}", _jet_row(grad, k)))

    if args.no_table:
        rows = []
    scheduler = ", memory-first scheduler" if args.memory_scheduler else ""
    print(
        f"MLP {'→'.join(map(str, sizes))}, {n:,} parameters, batch {inputs.shape[0]} digits, "
        f"{args.dtype}, device {jax.devices()[0].platform} ({jax.devices()[0].device_kind})"
        + scheduler
        + f", {args.clock} time"
    )
    print(
        f"{'function':34s} {'time ms':>9s} {'× grad':>7s} {'mem MB':>8s} {'× grad':>7s} "
        f"{'flops × grad':>12s}"
    )
    grad_compiled = jax.jit(grad).lower(params, inputs, labels).compile()
    jax.block_until_ready(grad_compiled(params, inputs, labels))

    clock = time.process_time if args.clock == "process" else time.perf_counter

    def timed(fn):
        t0 = clock()
        jax.block_until_ready(fn(params, inputs, labels))
        return clock() - t0

    base_m = None
    base_flops = _flops(grad_compiled)
    for name, fn in rows:
        compiled = jax.jit(fn).lower(params, inputs, labels).compile()
        mem = compiled.memory_analysis()
        mbytes = (
            mem.temp_size_in_bytes + mem.argument_size_in_bytes + mem.output_size_in_bytes
            if mem is not None
            else float("nan")
        )
        base_m = base_m or mbytes
        jax.block_until_ready(compiled(params, inputs, labels))
        # Interleave with the reference gradient so that both see the same machine load.
        times, grad_times = [], []
        for _ in range(args.repeats):
            grad_times.append(timed(grad_compiled))
            times.append(timed(compiled))
        t, t_grad = statistics.median(times), statistics.median(grad_times)
        print(
            f"{name:34s} {1e3 * t:9.2f} {t / t_grad:7.2f} {mbytes / 1e6:8.1f} "
            f"{mbytes / base_m:7.2f} {_flops(compiled) / base_flops:12.2f}"
        )
    print("derivative steps:", {k: bea.jax.plan_cost(bea.gd(), k) for k in range(1, 5)})
    print(
        "  nested (before):",
        {k: bea.jax.plan_cost(bea.gd(), k, evaluation="nested") for k in range(1, 5)},
    )
    if not args.error_steps:
        return
    print(
        "APPROX field error: ‖approx − exact‖ / ‖exact‖, and / ‖exact − exact_(p−1)‖ (the size "
        "of the h^p term)"
    )

    def at(build, order):
        return jax.jit(lambda p, x, y, step: build(order, step)(p, x, y))

    exact = {
        o: at(lambda k, step: bea.jax.modified_field(loss, bea.gd(), order=k, h=step), o)
        for o in range(args.max_order + 1)
    }
    approx = {
        o: at(lambda k, step: bea.jax.approximate_field(loss, order=k, h=step), o)
        for o in range(1, args.max_order + 1)
    }
    for step in args.error_steps:
        flat = {
            o: jax.flatten_util.ravel_pytree(f(params, inputs, labels, step))[0]
            for o, f in exact.items()
        }
        cells = []
        for order, f in approx.items():
            a = jax.flatten_util.ravel_pytree(f(params, inputs, labels, step))[0]
            err = float(jnp.linalg.norm(a - flat[order]))
            size = float(jnp.linalg.norm(flat[order]))
            term = float(jnp.linalg.norm(flat[order] - flat[order - 1]))
            cells.append(f"order {order}: {err / size:.1e} / {err / term:.1e}")
        print(f"  h = {step:<6g} " + ";  ".join(cells))


def _jet_row(grad, k: int):
    """One degree-k Taylor jet of ∇L along ∇L (jax.experimental.jet): a floor for Taylor mode."""
    import jax.numpy as jnp
    from jax.experimental.jet import jet
    from jax.flatten_util import ravel_pytree

    def fn(p, x, y):
        flat, unravel = ravel_pytree(p)

        def flat_grad(v):
            return ravel_pytree(grad(unravel(v), x, y))[0]

        g = flat_grad(flat)
        _, series = jet(flat_grad, (flat,), ([g] + [jnp.zeros_like(g)] * (k - 1),))
        return series[-1]

    return fn


def _flops(compiled) -> float:
    """XLA's flop count of a compiled function (independent of machine load)."""
    cost = compiled.cost_analysis()
    if isinstance(cost, list):  # older jax: one dict per computation
        cost = cost[0]
    return float(cost.get("flops", float("nan"))) if cost else float("nan")


if __name__ == "__main__":
    main()
