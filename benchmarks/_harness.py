"""Shared by the benchmark scripts: one measurement in a fresh Python process."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run_json(cmd: list[str], timeout: float, env: dict | None = None, cwd=None) -> dict | None:
    """Run ``cmd`` (``env``: variables added to this process's); its last stdout line is JSON.

    None on time-out; a failing child raises with its stderr.
    """
    full_env = None if env is None else {**os.environ, **env}
    try:
        res = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=full_env,
            cwd=None if cwd is None else str(cwd),
        )
    except subprocess.TimeoutExpired:
        return None
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_child(script: str, args: list[str], timeout: float, env: dict | None = None) -> dict | None:
    """Run ``script --child *args``; its last stdout line is JSON. None on time-out."""
    return run_json([sys.executable, script, "--child", *args], timeout, env)


def peak_rss_kib() -> int:
    """Peak resident memory of this process in KiB.

    ``ru_maxrss`` of a process started by fork + exec starts from the parent's
    resident size (Linux carries the high-water mark across exec), which would
    hide the growth of a small child behind a large driver; ``VmHWM`` in
    /proc/self/status is the peak of this process image alone. Use it where it
    exists and fall back to ``ru_maxrss`` elsewhere.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def cli_table(
    commands: dict[str, list[str]],
    trees: list[tuple[str, str]],
    repeats: int,
    plain: dict[str, list[str]] | None = None,
) -> None:
    """Print median wall and CPU seconds of whole processes, cold and warm, per checkout.

    ``commands``: label -> ``python -m bea.cli`` arguments (``{tmp}`` is a scratch
    folder). *Cold*: fresh, empty caches per run (``BEA_CACHE_DIR`` for bea's
    symbolic cache, ``BEA_JAX_CACHE_DIR`` for JAX's compilation cache and the
    stored sweep kernels). *Warm*: the caches of an earlier run of the same
    command in the same checkout. ``plain``: label -> ``python`` arguments
    timed once per repeat without caches (imports). ``trees``: (label,
    checkout) pairs, run with ``PYTHONPATH=checkout`` in the same interleaved
    loop so that every checkout sees the same load. CPU time is user + system
    of the child (``RUSAGE_CHILDREN``): on a shared machine it moves far less
    than wall time.
    """
    import os
    import resource
    import statistics
    import tempfile
    import time

    times: dict = {}

    def run(cmd, env, root):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        out = subprocess.run(cmd, env=env, capture_output=True, cwd=root)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if out.returncode != 0:
            raise SystemExit(f"{cmd} failed in {root}:\n{out.stderr.decode()[-2000:]}")
        return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime

    def record(key, wall, cpu):
        times.setdefault((*key, "wall"), []).append(wall)
        times.setdefault((*key, "cpu"), []).append(cpu)

    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            for k, (label, root) in enumerate(trees):
                base = dict(os.environ, PYTHONPATH=root)
                base.pop("JAX_COMPILATION_CACHE_DIR", None)
                for name, argv in (plain or {}).items():
                    record((label, name, "-"), *run([sys.executable, *argv], base, root))
                for c, (name, argv) in enumerate(commands.items()):
                    cmd = [sys.executable, "-m", "bea.cli", *(a.format(tmp=tmp) for a in argv)]
                    for state in ("cold", "warm"):
                        cache = os.path.join(
                            tmp, f"{state}-{k}-{c}" + (f"-{r}" if state == "cold" else "")
                        )
                        env = dict(base, BEA_CACHE_DIR=cache + "/bea")
                        env["BEA_JAX_CACHE_DIR"] = cache + "/jax"
                        if state == "warm" and r == 0:  # fill the warm caches first
                            run(cmd, env, root)
                        record((label, name, state), *run(cmd, env, root))
    print(
        f"whole processes, medians of {repeats} (interleaved; wall and CPU = user + system, s; "
        "the machine is shared: CPU time is the steadier figure)"
    )
    head = (
        f"{'command':<32} {'checkout':<10} {'cold wall':>9} {'cold CPU':>9} "
        f"{'warm wall':>9} {'warm CPU':>9}"
    )
    print(head)
    print("-" * len(head))
    for name in plain or {}:
        for label, _ in trees:
            cells = [statistics.median(times[(label, name, "-", kind)]) for kind in ("wall", "cpu")]
            print(f"{name:<32} {label:<10} " + " ".join(f"{c:>9.2f}" for c in cells))
    for name in commands:
        for label, _ in trees:
            cells = [
                statistics.median(times[(label, name, state, kind)])
                for state in ("cold", "warm")
                for kind in ("wall", "cpu")
            ]
            print(f"{name:<32} {label:<10} " + " ".join(f"{c:>9.2f}" for c in cells))
