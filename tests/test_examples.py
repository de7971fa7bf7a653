"""The example scripts run in their fast mode and print their key results.

Each script is run as ``python examples/<name>.py --fast`` in a subprocess
(the interpreter running the tests); it must exit with status 0 and print the
line that carries its result. The scripts assert their own checks (exact
coefficients, curls, fitted orders), so exit status 0 means those held.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

CASES = {
    "derive_gd.py": ["L̃ = L + h/4 ‖∇L‖²", "h^4: False", r"\tilde f = f - \frac{h}{2} f'f"],
    "implicit_regularization.py": [
        "curl check: h¹ term is a gradient, h² term is not",
        "fitted orders: flow of L 1.0",
    ],
    "sgd_reshuffling.py": [
        "m = 2: L̃ = 1/2 L₀ + 1/2 L₁ + h(1/8 ‖∇L₀‖² + 1/8 ‖∇L₁‖²)",
        "h/(4m) Σ_k ‖∇L_k − ∇C‖²: check passed",
    ],
    "heavy_ball.py": [
        "L̃ = (-1/(beta - 1)) L + (-(beta + 1)/(4*(beta - 1)**3)) h ‖∇L‖²",
        "β = 0 reduces to gradient descent through h^3: check passed",
    ],
    "custom_optimizer.py": [
        "L̃ = (alpha) L + (alpha**2/2 - alpha/4) h ‖∇L‖²",
        "fitted order, modified field through h^2:",
    ],
}


@pytest.mark.parametrize("script", sorted(CASES))
def test_example_runs(script: str):
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--fast"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for line in CASES[script]:
        assert line in proc.stdout, f"{script}: expected {line!r} in its output"


def test_examples_present():
    owned = set(CASES)
    present = {p.name for p in EXAMPLES.glob("*.py")}
    assert owned <= present


def test_barrett_dherin_plane_writes_its_figure(tmp_path):
    out = tmp_path / "plane.png"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "barrett_dherin_plane.py"), "--fast", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert out.stat().st_size > 10_000 and out.read_bytes()[:4] == b"\x89PNG"
    # every start: the order-1 modified flow is closer to GD than gradient flow
    rows = [r.split() for r in proc.stdout.splitlines() if r.strip().startswith("(")]
    assert rows
    for row in rows:
        d0, d1 = float(row[-2]), float(row[-1])
        assert d1 < d0
