"""Start-up stays light: what ``bea --help`` and ``import bea`` load (checked in sys.modules).

Each check runs in a fresh interpreter, so that nothing imported by other
tests is counted.
"""

from __future__ import annotations

import ast
import json
import pathlib
import subprocess
import sys

import bea

ROOT = pathlib.Path(__file__).resolve().parents[1]
HEAVY = ("sympy", "networkx", "jax", "numpy")


def _loaded(code: str) -> dict[str, bool]:
    probe = code + (
        f"\nimport sys, json\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_help_and_version_import_nothing_heavy():
    for flag in ("--help", "--version"):
        code = (
            "import contextlib, io\n"
            "from bea.cli import main\n"
            "try:\n"
            "    with contextlib.redirect_stdout(io.StringIO()):\n"
            f"        main([{flag!r}])\n"
            "except SystemExit:\n"
            "    pass\n"
        )
        loaded = _loaded(code)
        assert not any(loaded.values()), (flag, loaded)


def test_import_bea_imports_no_jax_and_loads_names_on_use():
    assert _loaded("import bea") == dict.fromkeys(HEAVY, False)
    used = _loaded("import bea\nbea.modified_loss(bea.gd(), 1)")
    assert used["sympy"] and not used["jax"]


def test_the_lazy_exports_match_the_typed_reexports():
    # bea/__init__.py lists each public name twice: in _EXPORTS (loaded on use) and in its
    # TYPE_CHECKING block (for type checkers); both must name the same objects
    tree = ast.parse((ROOT / "bea" / "__init__.py").read_text())
    typed = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            for alias in node.names:
                typed[alias.asname or alias.name] = "." + (node.module or alias.name)
    typed.pop("__version__")
    lazy = {**bea._EXPORTS, **{m: "." + m for m in bea._SUBMODULES}}
    assert typed == lazy
    for name in bea.__all__:
        assert getattr(bea, name) is not None
    assert set(dir(bea)) >= set(bea.__all__)


def test_the_catalog_names_resolve():
    import bea.optimizers as catalog

    for name in catalog.__all__:
        assert isinstance(getattr(catalog, name), type(lambda: None))
    assert sorted(catalog.__all__) == catalog.__all__


def test_import_numerics_is_light_and_loads_names_on_use():
    # ``import numerics`` costs no more than JAX's own import (issue 16): nothing heavy loads
    # until a name is used
    assert _loaded("import numerics") == dict.fromkeys(HEAVY, False)
    used = _loaded("import numerics\nnumerics.agreement")
    assert used["jax"] and used["sympy"]


def test_the_numerics_lazy_exports_match_the_typed_reexports():
    import numerics

    tree = ast.parse((ROOT / "numerics" / "__init__.py").read_text())
    typed = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            for alias in node.names:
                typed[alias.asname or alias.name] = "." + (node.module or alias.name)
    assert typed == numerics._EXPORTS
    for name in numerics.__all__:
        assert getattr(numerics, name) is not None
    assert set(dir(numerics)) >= set(numerics.__all__)
