"""Types: the public API is annotated and the type checker (mypy) passes on bea and numerics.

``bea`` ships ``py.typed``; mypy's configuration is in pyproject.toml
([tool.mypy]: files bea and numerics).
"""

from __future__ import annotations

import inspect
import pathlib
import shutil
import subprocess
import sys

import pytest

import bea
import bea.coordinates
import bea.optimizers

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _public_callables():
    modules = [
        (bea, bea.__all__),
        (bea.optimizers, bea.optimizers.__all__),
        (bea.coordinates, [n for n in vars(bea.coordinates) if not n.startswith("_")]),
    ]
    for module, names in modules:
        for name in names:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                yield f"{module.__name__}.{name}", obj
            elif inspect.isclass(obj) and obj.__module__.startswith("bea"):
                for attr, fn in vars(obj).items():
                    if inspect.isfunction(fn) and (not attr.startswith("_") or attr == "__init__"):
                        yield f"{module.__name__}.{name}.{attr}", fn


def _missing(name, fn) -> list[str]:
    out = []
    sig = inspect.signature(fn)
    for p in sig.parameters.values():
        if p.name not in ("self", "cls") and p.annotation is inspect.Parameter.empty:
            out.append(f"{name}: parameter {p.name}")
    if sig.return_annotation is inspect.Signature.empty:
        out.append(f"{name}: return")
    return out


def test_the_public_api_is_annotated():
    found = [m for name, fn in _public_callables() for m in _missing(name, fn)]
    assert len(list(_public_callables())) > 60  # the walk really sees the API
    assert found == []


def test_py_typed_ships():
    assert (ROOT / "bea" / "py.typed").exists()


def test_mypy_passes():
    if shutil.which("mypy") is None and not _has_module("mypy"):
        pytest.fail("mypy is not installed: pip install -e '.[test]'")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None
