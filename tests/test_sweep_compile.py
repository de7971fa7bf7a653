"""Compile once: kernels reused across sweeps of one problem, JAX's persistent cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import diffrax
import jax.numpy as jnp
import numpy as np
import pytest

import bea
import numerics
from numerics import _sweep


def _loss(x):
    return jnp.sum(jnp.log(jnp.cosh(x))) + 0.3 * x[0] * x[1]


def test_one_compile_serves_other_step_sizes_and_horizons():
    method, x0 = bea.gd(), jnp.array([0.8, -0.5])
    first = numerics.agreement(method, _loss, x0, orders=(0, 1, 2))
    assert first.timings["compile"] > 0
    again = numerics.agreement(
        method, _loss, x0, orders=(0, 1, 2), step_sizes=[0.2, 0.1, 0.05, 0.04], horizon=1.6
    )
    assert again.timings["trace"] == 0 and again.timings["compile"] == 0  # no new compile
    # the reused kernel computes what a fresh one does
    _sweep._KERNELS.clear()
    fresh = numerics.agreement(
        bea.gd(), _loss, x0, orders=(0, 1, 2), step_sizes=[0.2, 0.1, 0.05, 0.04], horizon=1.6
    )
    assert fresh.timings["compile"] > 0
    for p in (0, 1, 2):
        np.testing.assert_array_equal(again.errors[p], fresh.errors[p])
    assert again.passed == fresh.passed


def test_solver_instance_and_bad_name():
    kw = dict(orders=(0, 1), step_sizes=[0.1, 0.05, 0.025], check_range=False)
    by_name = numerics.agreement(bea.gd(), _loss, jnp.array([0.8, -0.5]), solver="tsit5", **kw)
    solver = diffrax.Tsit5()
    by_instance = numerics.agreement(bea.gd(), _loss, jnp.array([0.8, -0.5]), solver=solver, **kw)
    for p in (0, 1):  # the same solver either way
        np.testing.assert_array_equal(by_name.errors[p], by_instance.errors[p])
    with pytest.raises(ValueError, match="solver must be one of"):
        numerics.agreement(bea.gd(), _loss, jnp.array([0.8, -0.5]), orders=(0,), solver="euler")


def test_persistent_cache_switches(monkeypatch, tmp_path):
    monkeypatch.setenv("BEA_JAX_CACHE", "off")
    assert numerics.persistent_cache_dir() is None
    monkeypatch.delenv("BEA_JAX_CACHE")
    monkeypatch.setenv("BEA_JAX_CACHE_DIR", str(tmp_path / "x"))
    assert numerics.persistent_cache_dir() == tmp_path / "x"


_CHILD = textwrap.dedent(
    """
    import json, jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp, bea, numerics
    r = numerics.agreement(bea.gd(), lambda x: jnp.sum(jnp.log(jnp.cosh(x))),
                           jnp.array([0.8, -0.5]), orders=(0, 1), check_range=False)
    print(json.dumps({"dir": str(numerics.enable_persistent_cache()), "slopes": r.slopes}))
    """
)


@pytest.mark.slow  # two fresh processes with JAX (10-40 s on a shared machine)
def test_persistent_cache_in_a_fresh_process(tmp_path):
    cache = tmp_path / "jax-cache"
    env = dict(os.environ, BEA_JAX_CACHE_DIR=str(cache))
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["dir"] == str(cache)
    # the sweep kernel: stored traced (jax.export) with its compiled executable beside it,
    # and compiled from its trace through JAX's cache
    assert len(list((cache / "bea-exported").glob("*.jaxexport"))) == 1
    assert len(list((cache / "bea-exported").glob("*.jaxexec"))) == 1
    assert any(p.name.startswith("jit_joint-") for p in cache.iterdir())
    env["BEA_JAX_CACHE"] = "0"
    off = tmp_path / "off"
    env["BEA_JAX_CACHE_DIR"] = str(off)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1])["dir"] == "None"
    assert not off.exists()


def test_compiler_options_compile_their_own_kernel():
    # options are part of the kernel's key: level 0 compiles anew and agrees with the default
    # kernel to rounding (a few units in the last place of x, far below the errors measured)
    kw = dict(orders=(0, 1), step_sizes=[0.2, 0.1, 0.05], check_range=False)
    x0 = jnp.array([0.7, -0.4])
    default = numerics.agreement(bea.gd(), _loss, x0, **kw)
    fast = numerics.agreement(
        bea.gd(), _loss, x0, compiler_options={"xla_backend_optimization_level": 0}, **kw
    )
    assert fast.timings["compile"] > 0  # not the default kernel again
    for p in (0, 1):
        np.testing.assert_allclose(fast.errors[p], default.errors[p], rtol=0, atol=1e-14)
    assert fast.passed == default.passed
