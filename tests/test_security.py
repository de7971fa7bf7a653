"""Nothing given by a user runs as code: method names, hyperparameter strings,
generated function names (issue 17, items 1-3).

Payloads write a sentinel file; every test asserts the file was not created.
"""

from __future__ import annotations

import ast
import pathlib

import jax.numpy as jnp
import pytest
import sympy as sp

import bea
import bea.jax
from bea.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _payload(sentinel: pathlib.Path) -> str:
    return f"__import__('pathlib').Path({str(sentinel)!r}).write_text('PWNED')"


def _quadratic(x):
    return 0.5 * jnp.sum(x**2)


@pytest.mark.parametrize(
    "template",
    [
        'heun"""\n{p}\n"""',
        "heun'''\n{p}\n'''",
        'heun\\"""\n{p}\n"""',
        'x"""; {p}; """',
        'heun"""\r{p}\r"""',
        'heun"""\u2028{p}\u2028"""',
        'ends with a quote"',
        "trailing backslash \\",
    ],
)
def test_method_name_cannot_inject_code(tmp_path, template):
    sentinel = tmp_path / "sentinel"
    name = template.format(p=_payload(sentinel))
    method = bea.runge_kutta([[0, 0], [1, 0]], [sp.Rational(1, 2), sp.Rational(1, 2)], name=name)
    field = bea.jax.modified_field(_quadratic, method, 1, 0.1)
    # Heun has order 2: its h¹ term vanishes, so f̃ = f = -x on L = x²/2
    assert float(field(jnp.array([1.0]))[0]) == pytest.approx(-1.0, abs=1e-15)
    loss = bea.jax.modified_loss(_quadratic, method, 1, 0.1)
    float(loss(jnp.array([1.0])))
    source = bea.jax.module_source(method, 2)
    namespace: dict = {}
    exec(compile(source, "generated", "exec"), namespace)  # the module runs as text only
    assert not sentinel.exists()
    tree = ast.parse(source)
    kinds = [type(s).__name__ for s in tree.body]
    assert kinds[:3] == ["Expr", "Import", "Import"]
    assert set(kinds[3:]) == {"FunctionDef"}
    assert name in ast.get_docstring(tree, clean=False)  # the name is kept, as text


def test_hyperparameter_strings_are_not_evaluated(tmp_path):
    sentinel = tmp_path / "sentinel"
    payload = _payload(sentinel) + " or 0.5"
    with pytest.raises(TypeError, match="strings are not evaluated"):
        bea.jax.modified_field(
            _quadratic, bea.optimizers.heavy_ball(), 1, 0.1, hyperparameters={"beta": payload}
        )
    with pytest.raises(TypeError, match="strings are not evaluated"):
        bea.jax.modified_loss(
            _quadratic, bea.optimizers.heavy_ball(), 1, 0.1, hyperparameters={"beta": payload}
        )
    assert not sentinel.exists()


def test_hyperparameter_strings_are_not_evaluated_in_the_engine(tmp_path):
    sentinel = tmp_path / "sentinel"
    with pytest.raises((TypeError, ValueError)):
        bea.optimizers.heavy_ball(beta=_payload(sentinel) + " or 0.5")
    with pytest.raises((TypeError, ValueError)):
        bea.runge_kutta([[0]], [_payload(sentinel) + " or 1"])
    assert not sentinel.exists()


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("class", "keyword"),
        ("match", "keyword"),
        ("jax", "taken"),
        ("jnp", "taken"),
        ("_vdot", "taken"),
        ("h", "taken"),
        ("sum", "builtin"),
        ("print", "builtin"),
        ("my field", "identifier"),
        ("1abc", "identifier"),
        ("f;import os", "identifier"),
        ("", "identifier"),
        ("fé", "identifier"),
    ],
)
def test_bad_function_names_are_rejected(name, why):
    with pytest.raises(ValueError, match=why):
        bea.jax.module_source(bea.gd(), 1, name=name)


@pytest.mark.parametrize("name", ["class", "jax", "sum", "x-y"])
def test_cli_rejects_bad_function_names(tmp_path, capsys, name):
    out = tmp_path / "f.py"
    code = main(["codegen", "gd", "--order", "2", "--function-name", name, "--out", str(out)])
    assert code == 2
    assert "function name" in capsys.readouterr().err
    assert not out.exists()


def test_cli_good_function_name_compiles(tmp_path):
    out = tmp_path / "f.py"
    assert main(["codegen", "gd", "--order", "2", "--function-name", "gd2", "--out", str(out)]) == 0
    namespace: dict = {}
    exec(compile(out.read_text(), str(out), "exec"), namespace)
    assert callable(namespace["gd2"])


# --------------------------------------------------------------------------- scan

#: exec/compile call sites that run source the package generated itself (built
#: from printer nodes with escaped text and validated names), by file and function
_EXEC_ALLOWED = {
    ("bea/jax/_codegen.py", "_compile"),
    ("bea/cli/_main.py", "_cmd_demo"),
}
_NEVER = {"eval", "parse_expr", "parse_latex", "lambdastr"}


def _calls(path: pathlib.Path):
    tree = ast.parse(path.read_text(), str(path))
    stack = [(tree, "<module>")]
    while stack:
        node, where = stack.pop()
        for child in ast.iter_child_nodes(node):
            inner = (
                child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else where
            )
            if isinstance(child, ast.Call):
                func = child.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                yield name, child, where
            stack.append((child, inner))


def _package_files():
    for folder in ("bea", "numerics"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_package_never_evaluates_strings():
    """No eval; sympify only with strict=True (which refuses strings); exec only on own code."""
    problems = []
    for path in _package_files():
        rel = path.relative_to(ROOT).as_posix()
        for name, call, where in _calls(path):
            line = f"{rel}:{call.lineno} {name}(...) in {where}"
            if name in _NEVER:
                problems.append(line)
            elif name == "sympify" or (name == "S" and call.args):
                strict = any(
                    k.arg == "strict"
                    and isinstance(k.value, ast.Constant)
                    and k.value.value is True
                    for k in call.keywords
                )
                if not strict:
                    problems.append(line + ": pass strict=True (strings are then refused)")
            elif name in ("exec", "compile") and isinstance(call.func, ast.Name):
                if (rel, where) not in _EXEC_ALLOWED:
                    problems.append(line)
        text = path.read_text()
        if "sympy.parsing" in text or "from sympy import parse" in text:
            problems.append(f"{rel}: imports sympy's string parser")
    assert not problems, "\n".join(problems)


def test_scan_catches_a_non_strict_sympify(tmp_path):
    """The scan itself finds what it forbids (a check that cannot fail is no check)."""
    bad = tmp_path / "bad.py"
    bad.write_text("import sympy as sp\ndef f(x):\n    return sp.sympify(x) + eval(x)\n")
    names = {name for name, _, _ in _calls(bad)}
    assert {"sympify", "eval"} <= names


def test_strict_sympify_refuses_strings(tmp_path):
    sentinel = tmp_path / "sentinel"
    with pytest.raises(sp.SympifyError):
        sp.sympify(_payload(sentinel), strict=True)
    assert not sentinel.exists()


@pytest.mark.parametrize(
    "extra",
    [
        "import os\n",
        "from os import system\n",
        "x = __import__('os')\n",
        "def f():\n    return 'text'\n",
    ],
)
def test_generated_module_shape_is_checked_before_exec(tmp_path, extra):
    """The second line of defence refuses a module with anything but its own shape."""
    from bea.jax._codegen import _check_generated, _compile

    source = bea.jax.module_source(bea.gd(), 1)
    _check_generated(source)  # the real module passes
    with pytest.raises(RuntimeError, match="not run"):
        _compile(source + "\n" + extra, "modified_field")
