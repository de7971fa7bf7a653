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


def peak_rss_kib() -> int:
    """Peak resident memory of this process in KiB.

    ``ru_maxrss`` of a process started by fork + exec starts from the parent's
    resident size (Linux carries the high-water mark across exec), which would
    hide the growth of a small child behind a large driver; ``VmHWM`` in
    /proc/self/status is the peak of this process image alone. Use it where it
    exists and fall back to ``ru_maxrss`` elsewhere.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
