"""Wall time of order-of-agreement sweeps, on one device and sharded over four.

Each sweep: 8 step sizes × orders 0–3, gradient descent, float64, one start;
the iterates and the four modified flows (diffrax Dopri8, rtol = atol = 1e-13)
in one vmapped kernel. Problems: two smooth 2-D losses and an MLP on
scikit-learn's digits (16 pooled inputs, width 8: 226 parameters).

The sweep on 1 device and on 4 devices runs in separate processes: on CPU the
four devices are host devices forced with
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (set before JAX starts);
on GPU the script shards over as many GPUs as exist, up to four. Columns:
``compile`` (tracing, lowering and XLA compilation of the sweep kernel), ``run`` (the
compiled kernel), ``total`` (the whole ``numerics.agreement`` call, including
the λmax estimate and code generation), and the fitted slopes (expected 1, 2,
3, 4). Timings are the best of ``--repeats`` calls.

``--cli`` instead times whole ``bea verify gd --loss logcosh`` and ``bea demo``
processes, and ``import numerics`` next to ``import jax`` (wall clock and CPU
time, medians of ``--repeats`` runs, interleaved; CPU time moves less than
wall time on a shared machine): *cold* with empty caches (a fresh
``BEA_CACHE_DIR`` and ``BEA_JAX_CACHE_DIR`` per run) and *warm* (the caches of
a previous run: JAX's compilation cache, the stored sweep kernels and their
compiled executables, and bea's symbolic cache). ``--before PATH`` runs the
same commands from another checkout (e.g. ``git worktree add /tmp/base
main``) in the same loop, with ``PYTHONPATH`` set to it, for before/after
figures measured side by side.

Usage::

    python benchmarks/agreement.py [--device cpu|gpu] [--repeats 2]
    python benchmarks/agreement.py --cli [--repeats 3] [--before /tmp/base]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys


def _problems():
    import jax.numpy as jnp

    import numerics

    def logcosh(x):
        return jnp.sum(jnp.log(jnp.cosh(x))) + 0.3 * x[0] * x[1]

    def two_param(x):
        return (1 - x[0] * x[1]) ** 2 / 2 + (x[0] ** 2 + x[1] ** 2) / 20

    mlp, mlp0 = numerics.digits_mlp(n_samples=64, width=8)
    return [
        ("log-cosh 2-D", logcosh, jnp.array([0.8, -0.5]), (0.1, 0.01), 1.0),
        ("(1-ab)^2 2-D", two_param, jnp.array([0.6, 0.3]), (0.1, 0.01), 1.0),
        ("digits MLP", mlp, mlp0, (0.4, 0.05), 2.0),
    ]


def worker(device: str, devices: int, repeats: int) -> None:
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    import bea
    import numerics

    for name, loss, x0, (h_hi, h_lo), T in _problems():
        best = None
        for _ in range(repeats):
            r = numerics.agreement(
                bea.gd(),
                loss,
                x0,
                orders=(0, 1, 2, 3),
                step_sizes=np.geomspace(h_hi, h_lo, 8),
                horizon=T,
                device=device,
                devices=devices,
            )
            row = {
                "problem": name,
                "params": int(sum(np.size(v) for v in jax.tree_util.tree_leaves(x0))),
                "devices": r.devices,
                "device": r.device,
                "compile": r.timings.get("trace", 0.0) + r.timings["compile"],
                "run": r.timings["run"],
                "total": r.wall_time,
                "slopes": [r.slopes[p] for p in (0, 1, 2, 3)],
            }
            if best is None or row["total"] < best["total"]:
                best = row
        print(json.dumps(best), flush=True)


_COMMANDS = {
    "bea verify gd --loss logcosh": ["verify", "gd", "--loss", "logcosh"],
    "bea demo": ["demo", "--out-dir", "{tmp}/demo"],
}
_IMPORTS = {
    "import jax": ["-c", "import jax"],
    "import numerics": ["-c", "import numerics"],
    "import numerics; .agreement": ["-c", "import numerics; numerics.agreement"],
}


def cli_rows(repeats: int, before: str | None) -> None:
    """Median wall and CPU time of whole CLI processes, cold and warm, here and before."""
    from _harness import cli_table

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    trees = [("after", here)]
    if before:
        trees.insert(0, ("before", os.path.abspath(before)))
    cli_table(_COMMANDS, trees, repeats, plain=_IMPORTS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="jax platform: cpu or gpu")
    parser.add_argument("--repeats", type=int, default=None, help="default 2; 3 with --cli")
    parser.add_argument("--cli", action="store_true", help="time whole CLI processes instead")
    parser.add_argument(
        "--before", "--compare", default=None, help="another checkout to time alongside (--cli)"
    )
    parser.add_argument("--worker-devices", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeats is None:
        args.repeats = 3 if args.cli else 2
    if args.cli:
        cli_rows(args.repeats, args.before)
        return
    if args.worker_devices is not None:
        worker(args.device, args.worker_devices, args.repeats)
        return

    rows = []
    for k in (1, 4):
        env = dict(os.environ)
        if args.device == "cpu":
            env["XLA_FLAGS"] = (
                env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={k}"
            ).strip()
            env["JAX_PLATFORMS"] = "cpu"
        else:
            probe = subprocess.run(
                [sys.executable, "-c", f"import jax; print(len(jax.devices('{args.device}')))"],
                capture_output=True,
                text=True,
                env=env,
            )
            available = int(probe.stdout.strip() or 0)
            if k > available:
                print(f"skipping {k} devices: {available} {args.device} device(s) available")
                continue
        cmd = [
            sys.executable,
            __file__,
            "--device",
            args.device,
            "--repeats",
            str(args.repeats),
            "--worker-devices",
            str(k),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if out.returncode != 0:
            print(out.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"worker with {k} device(s) failed")
        rows += [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]

    if rows:
        print(f"device: {rows[0]['device']}; 8 step sizes x orders 0-3, GD, float64")
    head = (
        f"{'problem':<14} {'params':>6} {'devices':>7} {'compile s':>9} {'run s':>7} "
        f"{'total s':>8}  slopes (expected 1 2 3 4)"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        slopes = " ".join(f"{s:.2f}" for s in r["slopes"])
        print(
            f"{r['problem']:<14} {r['params']:>6} {r['devices']:>7} {r['compile']:>9.2f} "
            f"{r['run']:>7.3f} {r['total']:>8.2f}  {slopes}"
        )


if __name__ == "__main__":
    main()
