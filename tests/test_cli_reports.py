"""The command line refuses what it cannot do before working, and reports what it did.

Regression tests: non-smooth losses are refused with a reason; ``--plot`` and
``--json`` are checked before the sweep; a symbolic Runge–Kutta tableau goes
through the catalog; only the command line's own validated user errors exit 2
(bugs exit 70 with a traceback); the loss JSON carries the gradient part of
non-gradient orders and states how ``remainder_terms`` are normalised (checked
against the modified equation on a concrete loss); agreement JSON carries the
loss and x0; help texts and reports explain themselves.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sympy as sp

import bea
from bea.bseries._differentials import ElementaryDifferentials
from bea.cli import _main as _cli
from bea.cli import main
from bea.results._loss import scalar_value

ROOT = Path(__file__).resolve().parents[1]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- item 10


@pytest.mark.parametrize("loss", ["max(x, y)**2", "abs(x)**3 + y**2", "min(x, 1) + y**2"])
@pytest.mark.parametrize("command", ["verify", "derive", "loss"])
def test_non_smooth_losses_are_refused(capsys, command, loss):
    code, _, err = run(capsys, command, "gd", "--loss", loss)
    assert code == 2, err
    assert err.startswith("bea: error:") and "not smooth" in err and "smooth surrogate" in err
    assert "DiracDelta" not in err and "Traceback" not in err


# --------------------------------------------------------------------------- item 12


@pytest.fixture
def no_sweep(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the sweep ran before the outputs were checked")

    monkeypatch.setattr(_cli, "_run_agreement", refuse)


def test_outputs_are_checked_before_the_sweep(capsys, tmp_path, no_sweep):
    a_file = tmp_path / "file.txt"
    a_file.write_text("")
    for flag, path, fragment in (
        ("--plot", tmp_path / "missing" / "a.png", "does not exist"),
        ("--json", tmp_path / "missing" / "a.json", "does not exist"),
        ("--json", a_file / "a.json", "does not exist"),
        ("--plot", tmp_path, "is a folder"),
    ):
        code, _, err = run(capsys, "verify", "gd", "--loss", "quartic", flag, str(path))
        assert code == 2 and flag in err and fragment in err, err


def test_codegen_out_is_checked_before_generating(capsys, tmp_path, monkeypatch):
    import bea.jax

    monkeypatch.setattr(bea.jax, "module_source", lambda *a, **k: pytest.fail("generated"))
    code, _, err = run(capsys, "codegen", "gd", "--out", str(tmp_path / "no" / "m.py"))
    assert code == 2 and "does not exist" in err


def test_symbolic_tableau_through_the_catalog(capsys):
    """bea derive runge_kutta --A '0,0;q,0' --b '1/2,1/2' (was AttributeError … alias)."""
    code, out, err = run(
        capsys, "derive", "runge_kutta", "--A", "0,0;q,0", "--b", "1/2,1/2", "--format", "json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["hyperparameters"] == {"A": "0,0;q,0", "b": "1/2,1/2"}
    # against the elementary weights of the tableau (RungeKutta.bseries, not the program)
    q = sp.Symbol("q", real=True)
    half = sp.Rational(1, 2)
    me = bea.modified_equation(bea.RungeKutta([[0, 0], [q, 0]], [half, half]), 2)
    got = {t["tree"]: sp.sympify(t["omega"]) for t in data["terms"]}
    assert set(got) == {str(t) for t, _ in me}
    for t, c in me:
        assert sp.simplify(got[str(t)] - c.subs(q, sp.Symbol("q"))) == 0
    assert sp.simplify(got["[[]]"] - (sp.Symbol("q") - 1) / 2) == 0  # ω([•]) = (q − 1)/2


def test_symbolic_tableau_cannot_be_verified(capsys):
    code, _, err = run(
        capsys, "verify", "runge_kutta", "--A", "0,0;q,0", "--b", "1/2,1/2", "--loss", "quartic"
    )
    assert code == 2 and "the tableau has the symbols q" in err


def test_library_value_errors_that_are_bugs_are_internal_errors(capsys, monkeypatch):
    """A ValueError raised where no user input is validated is a bug: exit 70, traceback."""

    def broken(*args, **kwargs):
        raise ValueError("an internal inconsistency")

    monkeypatch.setattr(_cli, "_tidy", broken)
    code, _, err = run(capsys, "derive", "gd", "--order", "1", "--loss", "x**2")
    assert code == _cli.EXIT_INTERNAL
    assert "Traceback" in err and "internal error: ValueError" in err


def test_validated_user_errors_still_exit_2(capsys):
    code, _, err = run(capsys, "derive", "heavy_ball", "--beta", "1")
    assert code == 2 and err.count("heavy_ball:") == 1 and "beta = 1" in err
    code, _, err = run(capsys, "derive", "runge_kutta", "--A", "0,0;1", "--b", "1")
    assert code == 2 and "must be square" in err and "--A '0,0;1,0'" in err
    code, _, err = run(capsys, "verify", "gd", "--loss", "quartic", "--steps", "0.1,0.1001,0.1002")
    assert code == 2 and "distinct step counts" in err


# --------------------------------------------------------------------------- item 16


def test_loss_json_gradient_parts_and_remainder_normalisation(capsys):
    """The JSON's parts rebuild f̃ at every non-gradient order on a concrete loss.

    At order k: f̃_k = −∇[Σ_τ c(τ) S(τ)] + Σ_t r(t)/σ(t) F(t) with the JSON's
    c(τ) (gradient_part) and r(t) (remainder 'coefficient'), against the h^k
    coefficient of bea.modified_equation(...).on(L) computed independently of
    the split; and 'gradient_coefficient' (−1)^|t| r/σ is what the text shows.
    """
    code, out, _ = run(capsys, "loss", "gd", "--order", "3", "--format", "json")
    assert code == 0
    data = json.loads(out)
    stated = data["remainder_normalisation"]
    assert "r(t)/σ(t) F(t)" in stated and "(−1)^|t| r(t)/σ(t)" in stated
    x, y = sp.symbols("x y", real=True)
    L = x**4 / 4 + x * y**2 + sp.cos(y)
    me = bea.modified_equation(bea.gd(), 3).on(L, [x, y]).applyfunc(sp.expand)
    fields = [-sp.Matrix([sp.diff(L, v) for v in (x, y)])]
    F = ElementaryDifferentials(fields, [x, y])
    assert [o["order"] for o in data["non_gradient_orders"]] == [2, 3]
    for entry in data["non_gradient_orders"]:
        k = entry["order"]
        potential = sum(
            sp.Rational(g["coefficient"])
            * scalar_value(bea.FreeTree(g["free_tree"][1:-1]), L, [x, y])
            for g in entry["gradient_part"]
        )
        rebuilt = -sp.Matrix([sp.diff(potential, v) for v in (x, y)])
        for r in entry["remainder_terms"]:
            t = bea.tree(r["tree"])
            rebuilt += sp.Rational(r["coefficient"]) / t.symmetry() * F(t)
            assert (
                sp.Rational(r["gradient_coefficient"])
                == (-1) ** len(t) * sp.Rational(r["coefficient"]) / t.symmetry()
            )
            assert r["text"] in data["text"]
        expected = sp.Matrix([e.coeff(bea.h, k) for e in me])
        assert (rebuilt - expected).applyfunc(lambda e: sp.simplify(e)) == sp.zeros(2, 1)
    # the text and the JSON show the same number for the same term (1/12 at h² for gd)
    (term,) = data["non_gradient_orders"][0]["remainder_terms"]
    assert term["coefficient"] == "-1/6" and term["gradient_coefficient"] == "1/12"
    assert "h²/12 ∇³L[∇L,∇L]" in data["text"]


def test_agreement_json_has_the_loss_and_x0(capsys, tmp_path):
    """bea verify heavy_ball --beta 0.5 --loss quartic --orders 0,1,2 passes (item 11 too)."""
    path = tmp_path / "agreement.json"
    code, out, err = run(
        capsys, "verify", "heavy_ball", "--beta", "0.5", "--loss", "quartic", "--orders", "0,1,2",
        "--json", str(path),
    )  # fmt: skip
    assert code == 0, out + err
    data = json.loads(path.read_text())
    assert data["loss"] == "x**4/4 + x*y**2/2 + y**2/2" and data["x0"] == [0.8, -0.5]
    assert data["method"] == "heavy_ball(beta=1/2)"
    assert "iterates diverged" not in out
    # item 18: the report explains λmax and the device line
    assert "largest Hessian eigenvalue at the start" in out
    assert "computed on 1 JAX device: cpu" in out


# --------------------------------------------------------------------------- item 18


def test_help_shows_the_tableau_syntax_and_kind(capsys):
    code, out, _ = run(capsys, "derive", "--help")
    assert code == 0 and "--A '0,0;1,0' --b '1/2,1/2'" in " ".join(out.split())
    code, out, _ = run(capsys, "codegen", "--help")
    assert code == 0 and "the modified loss L̃" in " ".join(out.split())


def test_methods_print_as_the_call_that_builds_them():
    assert repr(bea.gd()) == repr(bea.optimizers.gd()) == "gd()"
    assert repr(bea.rk4()) == "rk4()"
    assert repr(bea.optimizers.heavy_ball(sp.Rational(1, 2))) == "heavy_ball(beta=1/2)"


def test_gitignore_has_the_demo_folder():
    lines = (ROOT / ".gitignore").read_text().split()
    assert "bea-demo/" in lines


def test_readme_says_how_long_the_suite_takes():
    text = (ROOT / "README.md").read_text()
    assert re.search(r"test suite takes about \d+", text), "README: say how long the suite takes"


def test_the_test_extra_installs_hatchling():
    """tests/test_readme.py builds a fresh clone offline with hatchling: it must not skip."""
    text = (ROOT / "pyproject.toml").read_text()
    test_extra = re.search(r"^test = \[(.*?)^\]", text, re.S | re.M)  # Python 3.10: no tomllib
    assert test_extra and re.search(r'"hatchling\b', test_extra.group(1))
    import hatchling  # noqa: F401  (installed by the test extra)
