"""Traced sweep kernels kept on disk (``numerics._compile.ExportStore``), found without tracing.

A sweep names its program in text that is the same in every process (the jaxprs
of the update rule, the fields and the manifold start, or a sympy problem's
loss and exact coefficients; the solver settings; versions and source); a
later sweep with that text loads the exported program instead of tracing the
kernel. The checks: the loaded program computes bit for bit what a traced one
does, diffrax is not traced for it, the compiled executable kept beside it
is loaded without lowering (and a damaged one replaced), the text separates what differs and is
equal for what does not, a damaged file is replaced, ``BEA_JAX_CACHE=0``
stores nothing, and (slow) a fresh process finds the program and does not
import diffrax.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

import bea
import numerics
from numerics import _compile, _sweep

X0 = jnp.array([0.8, -0.5])
KW = dict(orders=(0, 1), step_sizes=[0.2, 0.1, 0.05], check_range=False)


def _sympy_loss(scale=1):
    x, y = sp.symbols("x y")
    return numerics.SympyLoss(sp.log(sp.cosh(x)) + scale * sp.log(sp.cosh(y)), [x, y])


def _stored():
    directory = _compile.export_store().directory
    return sorted(directory.glob("*.jaxexport")) if directory.exists() else []


def test_a_stored_kernel_is_loaded_untraced_and_computes_the_same(monkeypatch):
    first = numerics.agreement(bea.gd(), _sympy_loss(), X0, **KW)
    stored = _stored()
    assert stored  # the traced kernel was exported
    _sweep._KERNELS.clear()

    def traced(*args, **kwargs):
        raise AssertionError("the kernel was traced although it is stored")

    monkeypatch.setattr(diffrax, "diffeqsolve", traced)
    again = numerics.agreement(bea.gd(), _sympy_loss(), X0, **KW)
    assert _stored() == stored  # found, nothing new written
    for p in KW["orders"]:
        np.testing.assert_array_equal(again.errors[p], first.errors[p])
    assert again.passed == first.passed


def _executables():
    directory = _compile.export_store().directory
    return sorted(directory.glob("*.jaxexec")) if directory.exists() else []


def test_the_compiled_executable_is_kept_and_loaded_without_lowering(monkeypatch):
    before = set(_executables())
    first = numerics.agreement(bea.gd(), _sympy_loss(5), X0, **KW)
    (path,) = set(_executables()) - before  # kept beside the stored program
    _sweep._KERNELS.clear()

    def lowered(self, placed):
        raise AssertionError("the program was lowered although its executable is kept")

    with monkeypatch.context() as m:
        m.setattr(_sweep._Runner, "_lower", lowered)
        again = numerics.agreement(bea.gd(), _sympy_loss(5), X0, **KW)
    for p in KW["orders"]:
        np.testing.assert_array_equal(again.errors[p], first.errors[p])
    # a damaged executable is compiled again, computes the same and is replaced
    path.write_bytes(b"not an executable")
    _sweep._KERNELS.clear()
    third = numerics.agreement(bea.gd(), _sympy_loss(5), X0, **KW)
    assert path.read_bytes() != b"not an executable"
    for p in KW["orders"]:
        np.testing.assert_array_equal(third.errors[p], first.errors[p])


def test_the_program_text_separates_what_differs():
    def text(method, loss, orders=(0, 1)):
        problem, flat = numerics.make_problem(method, loss, X0)
        return _sweep._program_text(method, problem, orders, None, flat.shape[0])

    base = text(bea.gd(), _sympy_loss())
    assert base is not None and base == text(bea.gd(), _sympy_loss())  # new objects, same text
    assert text(bea.gd(), _sympy_loss(2)) != base  # another loss
    assert text(bea.gd(), _sympy_loss(), (0, 1, 2)) != base  # another order
    assert text(bea.optimizers.runge_kutta([[0, 0], [1, 0]], [0.5, 0.5]), _sympy_loss()) != base

    # JAX losses are named by their jaxprs: the same function written twice agrees, a
    # changed constant does not
    def loss_a(x):
        return jnp.sum(jnp.log(jnp.cosh(x))) + 0.3 * x[0] * x[1]

    def loss_b(x):
        return jnp.sum(jnp.log(jnp.cosh(x))) + 0.3 * x[0] * x[1]

    def loss_c(x):
        return jnp.sum(jnp.log(jnp.cosh(x))) + 0.4 * x[0] * x[1]

    a = text(bea.gd(), loss_a)
    assert a is not None and a == text(bea.gd(), loss_b) and a != text(bea.gd(), loss_c)
    hb = bea.optimizers.heavy_ball(0.5)
    assert text(hb, loss_a) != text(bea.optimizers.heavy_ball(0.6), loss_a)


def test_a_damaged_file_is_replaced():
    before = set(_stored())
    first = numerics.agreement(bea.gd(), _sympy_loss(3), X0, **KW)
    (path,) = set(_stored()) - before
    path.write_bytes(b"not a program")
    _sweep._KERNELS.clear()
    again = numerics.agreement(bea.gd(), _sympy_loss(3), X0, **KW)
    assert path.read_bytes() != b"not a program"  # exported again, in its place
    for p in KW["orders"]:
        np.testing.assert_array_equal(again.errors[p], first.errors[p])


def test_a_program_export_refuses_is_traced_as_before():
    # a host callback in the loss: jax.export refuses it, the sweep lowers the kernel itself
    def loss(x):
        jax.debug.callback(lambda v: None, x)
        return jnp.sum(jnp.log(jnp.cosh(x)))

    before = set(_stored())
    r = numerics.agreement(bea.gd(), loss, X0, **KW)
    assert r.passed == {0: True, 1: True} and set(_stored()) == before


def test_switched_off_nothing_is_stored(monkeypatch, tmp_path):
    monkeypatch.setenv("BEA_JAX_CACHE", "0")
    assert _compile.export_store().directory is None
    exported = []
    got = _compile.ExportStore(None).get_or_export("key", lambda: exported.append(1) or 7, bool)
    assert got == 7 and exported == [1]


_CHILD = textwrap.dedent(
    """
    import json, sys, jax
    jax.config.update("jax_enable_x64", True)
    import sympy as sp, numpy as np, bea, numerics
    x, y = sp.symbols("x y")
    loss = numerics.SympyLoss(sp.log(sp.cosh(x)) + sp.log(sp.cosh(y)), [x, y])
    r = numerics.agreement(bea.gd(), loss, np.array([0.8, -0.5]), orders=(0, 1, 2))
    print(json.dumps({"errors": {p: r.errors[p].tolist() for p in r.orders},
                      "diffrax": "diffrax" in sys.modules}))
    """
)


@pytest.mark.slow  # two fresh processes with JAX (10-40 s on a shared machine)
def test_a_fresh_process_loads_the_stored_kernel(tmp_path):
    env = dict(os.environ, BEA_JAX_CACHE_DIR=str(tmp_path / "jax"))
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    runs = []
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=600
        )
        assert out.returncode == 0, out.stderr[-3000:]
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert runs[0]["diffrax"] and not runs[1]["diffrax"]  # the second one traced nothing
    assert runs[0]["errors"] == runs[1]["errors"]
    assert len(list((tmp_path / "jax" / "bea-exported").glob("*.jaxexport"))) == 1
    assert len(list((tmp_path / "jax" / "bea-exported").glob("*.jaxexec"))) == 1
