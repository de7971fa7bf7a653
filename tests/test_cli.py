"""The ``bea`` command line, end to end.

Most runs call ``bea.cli.main`` in-process (capsys); one subprocess run of
``python -m bea.cli`` (and of the ``bea`` console script where installed)
shows that user errors print one message and no traceback. Exact results are
compared with the library API called directly.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import jax.numpy as jnp
import pytest
import sympy as sp

import bea
import bea.optimizers as opt
from bea.cli import _main as _cli
from bea.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(code, err, *fragments):
    assert code == 2, err
    assert err.startswith("bea") or err.startswith("usage"), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


# --------------------------------------------------------------------------- derive


def test_derive_gd_text(capsys):
    code, out, err = run(capsys, "derive", "gd", "--order", "2")
    assert code == 0, err
    assert out.strip() == str(bea.modified_equation(opt.gd(), 2))
    assert "f'f" in out


def test_derive_json_matches_the_api(capsys):
    code, out, _ = run(
        capsys, "derive", "heavy_ball", "--beta", "0.9", "--order", "2", "--format", "json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["optimizer"] == "heavy_ball"
    assert data["hyperparameters"] == {"beta": "9/10"}
    me = bea.modified_equation(opt.heavy_ball(sp.Rational(9, 10)), 2)
    expected = {str(t): str(c) for t, c in me}
    assert {term["tree"]: term["omega"] for term in data["terms"]} == expected


def test_derive_symbolic_hyperparameter_and_latex(capsys):
    code, out, _ = run(
        capsys, "derive", "heavy_ball", "--beta", "beta", "--order", "1", "--format", "latex"
    )
    assert code == 0
    assert out.strip() == bea.modified_equation(opt.heavy_ball(), 1).latex()
    assert "beta" in out


def test_derive_negative_hyperparameter_value(capsys):
    code, out, _ = run(
        capsys, "derive", "heavy_ball", "--beta", "-0.5", "--order", "1", "--format", "json"
    )
    assert code == 0
    assert json.loads(out)["hyperparameters"] == {"beta": "-1/2"}


def test_derive_on_a_loss_per_component(capsys):
    code, out, _ = run(
        capsys, "derive", "gd", "--order", "2", "--loss", "x**4/4 + x*y**2", "--format", "json"
    )
    assert code == 0
    data = json.loads(out)
    x, y = sp.symbols("x y", real=True)
    field = bea.modified_equation(opt.gd(), 2).on(x**4 / 4 + x * y**2, [x, y])
    assert data["variables"] == ["x", "y"]
    for v, component in zip("xy", field):
        got = sp.sympify(data["field"][v], locals={"x": x, "y": y, "h": bea.h})
        assert sp.expand(got - component) == 0


def test_derive_vars_order_and_text(capsys):
    code, out, _ = run(
        capsys, "derive", "gd", "--order", "1", "--loss", "y**2 + x", "--vars", "y,x"
    )
    assert code == 0
    assert out.index("f̃[y]") < out.index("f̃[x]")


def test_derive_coordinatewise_needs_a_loss(capsys):
    code, _, err = run(capsys, "derive", "adam", "--order", "1")
    assert_user_error(code, err, "coordinate by coordinate", "--loss")


def test_derive_sign_descent_on_a_loss(capsys):
    code, out, _ = run(
        capsys, "derive", "sign_gd", "--order", "2", "--loss", "quartic", "--format", "json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["field"] == {"x": "-σ1", "y": "-σ2"}
    assert set(data["signs"]) == {"σ1", "σ2"}


def test_derive_game_with_players(capsys):
    code, out, _ = run(
        capsys,
        "derive",
        "simultaneous_gd",
        "--order",
        "1",
        "--loss",
        "x*y",
        "--loss",
        "-x*y",
        "--players",
        "x;y",
        "--format",
        "json",
    )
    assert code == 0
    data = json.loads(out)
    x, y = sp.symbols("x y", real=True)
    # f_x = −∂_x(xy) = −y, f_y = −∂_y(−xy) = x; first order −h/2 (f'f) per player
    got = {v: sp.sympify(e, locals={"x": x, "y": y, "h": bea.h}) for v, e in data["field"].items()}
    assert sp.expand(got["x"] - (-y + bea.h * x / 2)) == 0
    assert sp.expand(got["y"] - (x + bea.h * y / 2)) == 0


def test_derive_runge_kutta_tableau_equals_heun(capsys):
    code, out, _ = run(
        capsys,
        "derive",
        "runge_kutta",
        "--A",
        "0,0;1,0",
        "--b",
        "1/2,1/2",
        "--order",
        "3",
        "--format",
        "json",
    )
    assert code == 0
    terms = {t["tree"]: t["omega"] for t in json.loads(out)["terms"]}
    assert terms == {str(t): str(c) for t, c in bea.modified_equation(bea.heun(), 3)}


def test_derive_announces_long_derivations(capsys):
    code, _, err = run(capsys, "derive", "gd", "--order", "8", "--format", "json")
    assert code == 0
    assert "deriving" in err


# --------------------------------------------------------------------------- loss


def test_loss_json(capsys):
    code, out, _ = run(capsys, "loss", "gd", "--order", "2", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["gradient_order"] == 1
    assert [(t["free_tree"], t["coefficient"]) for t in data["loss_terms"]] == [
        ("{[]}", "1"),
        ("{[[]]}", "1/4"),
    ]
    assert data["remainder_terms"] and all(t["order"] == 2 for t in data["remainder_terms"])


def test_loss_text_latex_and_concrete(capsys):
    code, out, _ = run(capsys, "loss", "gd", "--order", "3")
    assert code == 0 and "L̃ = L + h/4 ‖∇L‖²" in out and "NOT a gradient" in out
    code, out, _ = run(capsys, "loss", "gd", "--order", "1", "--format", "latex")
    assert code == 0 and out.startswith("\\begin{aligned}")
    code, out, _ = run(
        capsys, "loss", "gd", "--order", "1", "--loss", "x**2/2 + y**4", "--format", "json"
    )
    x, y = sp.symbols("x y", real=True)
    got = sp.sympify(json.loads(out)["modified_loss"], locals={"x": x, "y": y, "h": bea.h})
    expected = bea.modified_loss(opt.gd(), 1).on(x**2 / 2 + y**4, [x, y])
    assert sp.expand(got - expected) == 0


def test_loss_minibatches_infer_m(capsys):
    code, out, err = run(
        capsys, "loss", "reshuffled_sgd", "--order", "1", "--loss", "x**2;(x-y)**2"
    )
    assert code == 0, err
    assert "L̃ =" in out


def test_loss_rejects_coordinatewise(capsys):
    code, _, err = run(capsys, "loss", "rmsprop", "--order", "1")
    assert_user_error(code, err, "coordinate by coordinate")


# --------------------------------------------------------------------------- codegen


def test_codegen_stdout_execs(capsys):
    code, out, _ = run(capsys, "codegen", "gd", "--order", "1", "--kind", "loss")
    assert code == 0
    namespace: dict = {}
    exec(compile(out, "<bea codegen>", "exec"), namespace)
    value = namespace["modified_loss"](lambda p: jnp.sum(p**2), 0.5)(jnp.array([1.0]))
    assert float(value) == pytest.approx(1.5)  # L + h/4 ‖∇L‖² = 1 + 0.5/4·4


def test_codegen_to_file(capsys, tmp_path):
    path = tmp_path / "field.py"
    code, out, err = run(capsys, "codegen", "heavy_ball", "--order", "2", "--out", str(path))
    assert code == 0 and out == "" and str(path) in err
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    assert callable(namespace["modified_field"])


def test_codegen_beyond_the_gradient_order(capsys):
    code, _, err = run(capsys, "codegen", "gd", "--order", "3", "--kind", "loss")
    assert_user_error(code, err, "gradient order 1")


def test_codegen_hyperparameter_k_is_not_kind(capsys):
    # "--k" is alternating_gd's k, not an abbreviation of --kind
    code, _, err = run(capsys, "codegen", "alternating_gd", "--k", "2", "--order", "1")
    assert_user_error(code, err, "one loss")


# --------------------------------------------------------------------------- verify


def test_verify_json_plot_and_progress(capsys, tmp_path):
    plot, report = tmp_path / "a.png", tmp_path / "a.json"
    code, out, err = run(
        capsys,
        "verify",
        "gd",
        "--loss",
        "logcosh",
        "--orders",
        "0,1,2",
        "--steps",
        "0.2,0.1,0.05",
        "--format",
        "json",
        "--plot",
        str(plot),
        "--json",
        str(report),
        "--progress",
    )
    assert code == 0, err
    data = json.loads(out)
    assert all(data["passed"].values())
    assert [round(data["slopes"][p]) for p in "012"] == [1, 2, 3]
    assert plot.stat().st_size > 0 and json.loads(report.read_text())["orders"] == [0, 1, 2]
    assert "agreement" in err  # the progress bar


def test_verify_expression_table_and_negative_start(capsys):
    code, out, err = run(
        capsys,
        "verify",
        "rk4",
        "--loss",
        "x**4/4 + y**2/2",
        "--x0",
        "-0.5,0.3",
        "--orders",
        "4",
        "--steps",
        "0.2,0.15,0.1",
    )
    assert code == 0, err
    assert "slope" in out and "x0 = [-0.5, 0.3]" in out


def test_verify_failing_slope_exits_1(capsys):
    # h·λmax ≥ 1 on the bowl: no real modified flow, so no usable step size
    code, _, err = run(
        capsys,
        "verify",
        "gd",
        "--loss",
        "bowl",
        "--orders",
        "0",
        "--steps",
        "0.3,0.2,0.15",
        "--horizon",
        "3",
    )
    assert code == 1
    assert "slope check failed" in err and "Traceback" not in err


def test_verify_lists_losses(capsys):
    code, out, _ = run(capsys, "verify", "--list-losses")
    assert code == 0
    for name in ("quartic", "rosenbrock", "logcosh", "bowl"):
        assert name in out


def test_verify_needs_numeric_hyperparameters(capsys):
    code, _, err = run(capsys, "verify", "heavy_ball", "--loss", "logcosh")
    assert_user_error(code, err, "--beta")


# --------------------------------------------------------------------------- demo


def test_demo_fast(capsys, tmp_path):
    code, out, err = run(capsys, "demo", "--fast", "--out-dir", str(tmp_path))
    assert code == 0, err
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {
        "gd_modified_field_order2.py",
        "gd_modified_loss_order1.py",
        "agreement.png",
        "agreement.json",
    }
    assert "L + h/4 ‖∇L‖²" in out and "Summary" in out
    data = json.loads((tmp_path / "agreement.json").read_text())
    assert all(data["passed"].values())
    # --fast sweeps fewer orders and step sizes than the default (benchmarks/demo.py times both)
    fast_orders, fast_steps = _cli._DEMO_FAST
    full_orders, full_steps = _cli._DEMO_FULL
    assert data["orders"] == list(fast_orders) == [0, 1, 2]
    assert len(data["step_sizes"]) == len(fast_steps) == 3
    assert len(full_orders) == 4 and full_steps is None  # numerics' default: eight step sizes
    assert data["loss"] == "log(cosh(x)) + log(cosh(y))" and data["x0"] == [0.8, -0.5]


# --------------------------------------------------------------------------- errors


def test_malicious_expression_is_not_executed(capsys, tmp_path):
    marker = tmp_path / "pwned"
    payload = f"__import__('os').system('touch {marker}')"
    code, _, err = run(capsys, "derive", "gd", "--loss", payload)
    assert_user_error(code, err)
    assert not marker.exists()
    code, _, err = run(capsys, "derive", "heavy_ball", "--beta", payload)
    assert_user_error(code, err, "--beta")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["derive", "nosuch"], ["unknown optimizer 'nosuch'", "heavy_ball", "rk4"]),
        (["derive", "heavy_bal"], ["did you mean 'heavy_ball'"]),
        (["derive", "gd", "--loss", "x**"], ["loss 'x**'", "^"]),
        (["derive", "gd", "--loss", "2x"], ["loss '2x'"]),
        (["derive", "gd", "--order", "-1"], ["non-negative"]),
        (["loss", "gd", "--order", "two"], ["non-negative"]),
        (["derive", "heavy_ball", "--gamma", "0.9"], ["no hyperparameter --gamma", "--beta"]),
        (["derive", "adam", "--beta3", "0.9", "--loss", "x"], ["--beta1, --beta2, --eps"]),
        (["derive", "heavy_ball", "--beta", "1"], ["beta = 1"]),
        (["derive", "heavy_ball", "--beta", "x + 1"], ["--beta"]),
        (["derive", "heavy_ball", "--beta"], ["--beta needs a value"]),
        (["derive", "alternating_gd", "--m", "1.5"], ["--m: expected an integer"]),
        (["derive", "reshuffled_sgd"], ["reshuffled_sgd needs --m"]),
        (["derive", "gd", "--loss", "x;y"], ["gd takes one loss, got 2"]),
        (["derive", "gd", "--loss", "x + h"], ["step-size symbol"]),
        (["verify", "gd", "--loss", "quartic", "--x0", "1,2,3"], ["3 values", "2 variables"]),
        (["verify", "gd"], ["no loss given"]),
        (["verify", "gd", "--loss", "quartic", "--steps", "0.1,-1,0.2"], ["positive"]),
        # coordinate-wise optimizers are verified too; symbolic hyperparameters need values
        (["verify", "adam", "--loss", "quartic"], ["give its hyperparameters", "--beta1"]),
        (["codegen", "sign_gd"], ["coordinate by coordinate"]),
        (["frobnicate"], ["invalid choice", "derive", "verify"]),
        (["derive", "gd", "--format", "yaml"], ["invalid choice"]),
    ],
)
def test_user_errors(capsys, argv, fragments):
    code, _, err = run(capsys, *argv)
    assert_user_error(code, err, *fragments)


def test_no_command_prints_help(capsys):
    code, _, err = run(capsys)
    assert code == 2 and "derive" in err


def test_help_shows_examples(capsys):
    for command in ("derive", "loss", "codegen", "verify", "demo"):
        code, out, _ = run(capsys, command, "--help")
        assert code == 0 and "examples:" in out and f"bea {command}" in out


def test_unexpected_errors_exit_70_with_a_traceback(capsys, monkeypatch):
    def boom(args, hyper):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(_cli, "_cmd_derive", boom)
    code, _, err = run(capsys, "derive", "gd")
    assert code == _cli.EXIT_INTERNAL == 70
    assert "internal error: RuntimeError: kaboom" in err and "Traceback" in err
    assert "bug in bea" in err


def _subprocess_commands():
    commands = [[sys.executable, "-m", "bea.cli"]]
    script = shutil.which("bea")
    if script is not None:
        commands.append([script])
    return commands


@pytest.mark.parametrize("prefix", _subprocess_commands(), ids=lambda c: os.path.basename(c[-1]))
def test_subprocess_error_has_no_traceback(prefix):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    bad = subprocess.run(
        [*prefix, "derive", "gd", "--loss", "__import__('os')"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("bea: error:") and "Traceback" not in bad.stderr
    good = subprocess.run(
        [*prefix, "derive", "gd", "--order", "1", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["order"] == 1


def test_derive_adam_prints_a_readable_field(capsys):
    # it printed two lines of 7,000+ characters of nested Abs()
    code, out, _ = run(capsys, "derive", "adam", "--order", "1", "--loss", "quartic")
    assert code == 0
    assert len(out) < 2000 and "Abs" not in out
    assert "σ1 = sign(g1)" in out and "H11 = " in out


def test_verify_runs_a_coordinatewise_optimizer(capsys):
    code, out, _ = run(
        capsys,
        "verify",
        "normalized_gd",
        "--loss",
        "x**4/4 + x*y/2 + y**2/2 + x",
        "--x0",
        "0.6,-0.4",
        "--orders",
        "0,1",
        "--steps",
        "0.01,0.005,0.0025",
        "--horizon",
        "0.5",
    )
    assert code == 0, out
    assert "yes" in out
