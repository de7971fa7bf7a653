"""Shared by the benchmark scripts: one measurement in a fresh Python process."""

from __future__ import annotations

import json
import subprocess
import sys


def run_child(script: str, args: list[str], timeout: float) -> dict | None:
    """Run ``script --child *args``; its last stdout line is JSON. None on time-out."""
    cmd = [sys.executable, script, "--child", *args]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])
