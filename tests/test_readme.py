"""The README's "Two commands" work as written, for a new user with a fresh clone.

* ``test_two_commands`` reads the two commands and checks that ``.ci/run`` runs
  the second.
* ``test_fresh_clone_fast`` clones the committed HEAD, installs it into a venv
  that sees this interpreter's packages (no downloads) and runs
  ``bea demo --fast`` there.
* ``test_fresh_clone_new_user`` (slow, needs PyPI) does what a new user does:
  clone, fresh venv, the first command (install + ``bea demo``), then the
  second command's install and a bounded pytest run.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def two_commands() -> list[str]:
    """The bash commands of the README's "Two commands" section, in order."""
    text = (ROOT / "README.md").read_text()
    match = re.search(r"^## Two commands\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, "README.md has no '## Two commands' section"
    blocks = re.findall(r"```bash\n(.*?)```", match.group(1), re.S)
    return [b.strip() for b in blocks]


def _words(command: str) -> list[list[str]]:
    """The words of each ``&&``-joined part, without pip's verbosity flags (-q, --quiet)."""
    parts = []
    for part in command.split("&&"):
        words = shlex.split(part)
        if "pip" in words:
            words = [w for w in words if w not in ("-q", "--quiet")]
        parts.append(words)
    return parts


def test_two_commands():
    first, second = two_commands()
    assert "pip install" in first and first.rstrip().endswith("bea demo")
    assert "'.[test]'" in second and "pytest" in second
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    ci = [line for line in lines if not line.startswith(("set ", "cd "))]
    assert len(ci) == 1, f".ci/run should run one command, found {ci}"
    # pip's verbosity flags aside, .ci/run is the README's second command
    assert _words(ci[0]) == _words(second)


def _clone(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    top = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--show-toplevel"],
        capture_output=True,
        text=True,
    )
    if top.returncode != 0:
        pytest.skip(f"{ROOT} is not a git checkout")
    clone = tmp_path / "bea-clone"
    subprocess.run(
        ["git", "clone", "--quiet", top.stdout.strip(), str(clone)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return clone


def _venv(path: Path, *flags: str) -> dict[str, str]:
    subprocess.run([sys.executable, "-m", "venv", *flags, str(path)], check=True, timeout=300)
    bindir = path / ("Scripts" if os.name == "nt" else "bin")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["VIRTUAL_ENV"] = str(path)
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.pop("BEA_CACHE_DIR", None)
    return env


def _bash(command: str, cwd: Path, env: dict[str, str], timeout: float):
    result = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{command}"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, (
        f"{command!r} failed ({result.returncode})\n--- stdout\n{result.stdout[-4000:]}"
        f"\n--- stderr\n{result.stderr[-4000:]}"
    )
    return result


def test_fresh_clone_fast(tmp_path):
    """Clone HEAD, install it into a venv over this interpreter's packages
    (``--no-deps --no-build-isolation``: nothing is downloaded) and run ``bea demo --fast``.

    The install is editable (``-e``) where hatchling's editable backend
    (the ``editables`` package) is importable, a regular wheel install otherwise.
    """
    if importlib.util.find_spec("hatchling") is None:
        pytest.skip("hatchling is not importable, so the clone cannot be built offline")
    editable = "-e " if importlib.util.find_spec("editables") is not None else ""
    clone = _clone(tmp_path)
    env = _venv(tmp_path / "venv", "--system-site-packages")
    _bash(
        "python -m pip install -q --no-deps --no-build-isolation "
        f"{editable}{shlex.quote(str(clone))}",
        tmp_path,
        env,
        300,
    )
    where = _bash('python -c "import bea; print(bea.__file__)"', tmp_path, env, 120)
    installed = Path(where.stdout.strip()).resolve()
    assert installed.is_relative_to(clone.resolve() if editable else (tmp_path / "venv").resolve())
    out_dir = tmp_path / "demo"
    demo = _bash(f"bea demo --fast --out-dir {shlex.quote(str(out_dir))}", tmp_path, env, 300)
    assert "Summary" in demo.stdout
    assert (out_dir / "agreement.png").is_file()
    assert (out_dir / "gd_modified_field_order2.py").is_file()


@pytest.mark.slow
def test_fresh_clone_new_user(tmp_path):
    """What a new user does, in a fresh venv with packages from PyPI.

    Runs the README's first command exactly. The second command's install part
    runs exactly; its pytest part is bounded: ``pytest -q --co`` (every test
    module imports in the fresh environment) and then ``pytest -q -x
    tests/test_cli.py`` instead of the full suite, which takes too long here.
    """
    first, second = two_commands()
    clone = _clone(tmp_path)
    env = _venv(tmp_path / "venv")
    start = time.perf_counter()
    demo = _bash(first, clone, env, 3600)
    assert "Summary" in demo.stdout
    assert (clone / "bea-demo" / "agreement.png").is_file()
    install, _, pytest_part = second.rpartition("&&")
    assert "pytest" in pytest_part
    _bash(install.strip(), clone, env, 3600)
    collected = _bash("python3 -m pytest -q --co", clone, env, 900)
    assert "error" not in collected.stdout.lower().splitlines()[-1]
    _bash("python3 -m pytest -q -x -p no:cacheprovider tests/test_cli.py", clone, env, 900)
    print(f"fresh-clone run: {time.perf_counter() - start:.0f} s")
