"""The architecture, checked from the source: layers without import circles, one dispatcher.

* The module import graph of ``bea`` and ``numerics`` (every import that runs,
  at module level or inside a function; ``if TYPE_CHECKING:`` imports are for
  annotations and never run) is acyclic: no module reaches itself again.
* Methods are never probed for attributes (``getattr(method, ...)``,
  ``hasattr(method, ...)``) outside the dispatcher: what engines need is on the
  :class:`bea.Method` protocol, and a method declares its kind.
* The method protocol and the result contract are the ones the engines use.
"""

from __future__ import annotations

import ast
import importlib
import pathlib

import networkx as nx
import pytest
import sympy

import bea

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("bea", "numerics")


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _import_graph() -> nx.DiGraph:
    modules = _modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        typing_only = {
            id(n)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for stmt in block.body
            for n in ast.walk(stmt)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue  # annotations only: never executed
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node)
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            for target in targets:
                # the longest known module that the import names
                parts = target.split(".")
                while parts and ".".join(parts) not in modules:
                    parts.pop()
                if parts:
                    dep = ".".join(parts)
                    # a package's own __init__ importing its submodules is not a circle
                    if dep != name and not name.startswith(dep + "."):
                        graph.add_edge(name, dep)
    return graph


def test_import_graph_is_acyclic():
    graph = _import_graph()
    assert graph.number_of_edges() > 50  # the graph is really built
    cycles = list(nx.simple_cycles(graph))
    assert cycles == [], "import circles: " + "; ".join(" -> ".join(c) for c in cycles[:5])


def test_the_layers_point_one_way():
    graph = _import_graph()

    def reaches(a: str, b: str) -> bool:
        return any(
            nx.has_path(graph, u, v)
            for u in graph
            if u == a or u.startswith(a + ".")
            for v in graph
            if v == b or v.startswith(b + ".")
        )

    # engines and values below; the dispatcher, the CLI and code generation above
    assert not reaches("bea.bseries", "bea.methods")
    assert not reaches("bea.methods", "bea.coordinates")
    assert not reaches("bea.coordinates", "bea.results")
    assert not reaches("bea.results", "bea._dispatch")
    assert not reaches("bea.bseries", "bea.jax")
    assert reaches("bea._dispatch", "bea.results")
    assert reaches("bea.jax", "bea._dispatch")


_METHOD_NAMES = {"method", "opt", "program", "optimizer", "m", "family"}


def _probes(path: pathlib.Path) -> list[str]:
    out = []
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and node.args
        ):
            first = node.args[0]
            name = None
            if isinstance(first, ast.Name):
                name = first.id
            elif isinstance(first, ast.Attribute) and first.attr in _METHOD_NAMES:
                name = first.attr
            if name in _METHOD_NAMES:
                out.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    return out


def test_no_method_probing_outside_the_dispatcher():
    found = []
    for name, path in _modules().items():
        if name != "bea._dispatch":
            found += _probes(path)
    assert found == []


def test_the_probe_scanner_finds_probes(tmp_path):
    # the scanner itself: a file with the forbidden patterns is caught
    bad = ROOT / "bea" / "_probe_example_for_test.py"
    try:
        bad.write_text(
            "def f(method, x):\n"
            "    a = getattr(method, 'colours', 1)\n"
            "    b = hasattr(x.method, 'bseries')\n"
            "    return getattr(x, 'name', None)\n"
        )
        found = _probes(bad)
    finally:
        bad.unlink()
    assert len(found) == 2 and "getattr(method, 'colours', 1)" in found[0]


@pytest.mark.parametrize(
    "factory, engine",
    [
        (bea.gd, bea.Engine.TREES),
        (bea.rk4, bea.Engine.TREES),
        (lambda: bea.optimizers.heavy_ball(0.5), bea.Engine.TREES),
        (lambda: bea.optimizers.reshuffled_sgd(2), bea.Engine.TREES),
        (lambda: bea.optimizers.adam(0.9, 0.999, 0), bea.Engine.COORDINATES),
        (bea.optimizers.sign_gd, bea.Engine.COORDINATES),
    ],
)
def test_every_method_declares_its_kind(factory, engine):
    method = factory()
    assert isinstance(method, bea.Method)
    assert method.kind.engine is engine
    result = bea.modified_equation(method, 1)
    assert isinstance(result, bea.Result)
    assert result.order == 1 and result.method is method
    assert isinstance(result.to_dict(), dict)


def test_the_kind_is_declared_not_guessed():
    def rule(x, state, step, *, grad, ops, h):
        return x - h * ops.sign(grad(x)), ()

    with pytest.raises(ValueError, match="coordinatewise=True"):
        bea.Optimizer(rule)
    opt = bea.Optimizer(rule, coordinatewise=True, name="my_sign")
    assert opt.kind.engine is bea.Engine.COORDINATES
    x = sympy.Symbol("x")
    # sign descent moves by h·sign(−∂L) per step: f̃ = −σ exactly (no h-corrections)
    field = bea.modified_equation(opt, 2).on(x**2 / 2 + x, [x])
    (sigma,) = bea.AdaptiveModifiedEquation.signs(field)  # σ(u), u = ∂L, a sympy function
    assert sympy.expand(field[0] + sigma) == 0


def test_kind_rejects_bad_values():
    with pytest.raises(ValueError, match="losses must be an int >= 1"):
        bea.Kind(losses=0)
    with pytest.raises(TypeError, match="Engine"):
        bea.Kind(engine="trees")
    with pytest.raises(ValueError, match="one loss"):
        bea.Kind(engine=bea.Engine.COORDINATES, losses=2)


def test_dispatcher_rejects_non_methods_with_the_fix():
    with pytest.raises(TypeError, match=r"must be called: bea.gd\(\)"):
        bea.modified_equation(bea.gd, 1)
    with pytest.raises(TypeError, match=r"bea\.Method"):
        bea.modified_loss("gd", 1)


def test_one_gd_and_one_runge_kutta():
    assert bea.optimizers.gd is bea.gd
    assert bea.optimizers.runge_kutta is bea.runge_kutta
    # a tableau runs everywhere a program does: its rule is the tableau's stages
    rk = bea.runge_kutta([[0, 0], [1, 0]], [sympy.Rational(1, 2)] * 2)
    assert bea.modified_equation(rk, 2).coefficient("[[]]") == 0


def test_hyperparameters_are_read_only():
    hb = bea.optimizers.heavy_ball(0.5)
    with pytest.raises(TypeError):
        hb.hyperparameters["beta"] = 0.9  # type: ignore[index]
    assert hb.with_values(beta=0.25).hyperparameters["beta"] == 0.25


def test_results_print_through_sympy_latex():
    me = bea.modified_equation(bea.gd(), 1)
    assert sympy.latex(me) == me.latex()
    ml = bea.modified_loss(bea.gd(), 1)
    assert sympy.latex(ml) == ml.latex()


def test_public_modules_import_in_any_order():
    # each layer imports on its own (no hidden dependence on import order)
    for name in ("bea.bseries._trees", "bea.methods._base", "bea.results._base", "bea._inputs"):
        importlib.import_module(name)


def test_values_are_not_mutated_after_construction():
    # a B-series' coefficients are a tuple, and the series refuses new attributes
    series = bea.gd().bseries(3)
    assert isinstance(series.coeffs, tuple)
    with pytest.raises(AttributeError, match="immutable"):
        series.coeffs = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        series.coeffs[0] = 2  # type: ignore[index]
    # the method's hyperparameters are a read-only mapping; its kind is frozen
    with pytest.raises(AttributeError):
        bea.optimizers.heavy_ball(0.5).kind.losses = 2  # type: ignore[misc]


def test_generated_functions_carry_source_and_cost_fixed():
    pytest.importorskip("jax")
    import jax.numpy as jnp

    import bea.jax

    field = bea.jax.modified_field(lambda x: jnp.sum(x**4) / 4, bea.gd(), order=1, h=0.1)
    assert "def modified_field" in field.source and field.cost
    assert float(field(jnp.array([1.0]))[0]) == pytest.approx(-1.15, rel=1e-6)  # −x³ − h/2·3x⁵
    with pytest.raises(AttributeError, match="immutable"):
        field.source = "print(1)"


def test_one_point_type_in_the_coordinate_world():
    # the coordinate-wise engine runs its rules on HPoint, the same points as optimizer programs
    from bea.coordinates import _adaptive, _hseries

    assert not [n for n in vars(_adaptive) if "Point" in n and n != "HPoint"]
    x = sympy.Symbol("x")
    p = _hseries.HPoint.identity([x], bea.h, 2)
    # scalars add to every coordinate; points divide and take powers coordinate-wise
    assert sympy.simplify(((1 + p) / p).to_matrix()[0] - (1 + x) / x) == 0
    assert (p**3).to_matrix()[0] == x**3 and (2 - p).to_matrix()[0] == 2 - x
