"""The disk cache never returns a wrong answer and never wedges (issue 17, items 7-8).

Entries are attacked as a user with write access to the cache directory could:
rewritten coefficients with a recomputed digest, malformed payloads, special
files (FIFO, links to /dev/zero, huge sparse files, directories) in place of
entries and locks, and leftovers of killed writers; plus a fuzz test of random
corruptions of a valid entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import time
import warnings
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bea
from bea._cache import ORPHAN_AGE, CacheWarning, DiskCache
from bea.bseries._trees import table
from bea.cli import main

ORDER = 8  # 9 nodes: the smallest cached size (CACHE_MIN_NODES)


@contextlib.contextmanager
def deadline(seconds: float):
    """Fail instead of hanging: SIGALRM raises after ``seconds``."""

    def alarm(signum, frame):
        raise TimeoutError(f"took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv("BEA_CACHE_DIR", str(directory))
    monkeypatch.delenv("BEA_CACHE", raising=False)
    return directory


@pytest.fixture(scope="module")
def reference():
    """gd's modified equation through h^8, computed without the cache."""
    import bea.results._equation as eq

    saved, eq.CACHE_MIN_NODES = eq.CACHE_MIN_NODES, 10**9
    try:
        return list(bea.modified_equation(bea.gd(), ORDER))
    finally:
        eq.CACHE_MIN_NODES = saved


def _entry(cache_dir: Path) -> Path:
    (path,) = [p for p in cache_dir.iterdir() if p.suffix == ".json"]
    return path


def _derive(expect_warning: bool | None = True):
    """The modified equation, recording cache warnings (True: at least one expected)."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always", CacheWarning)
        with deadline(20):
            result = list(bea.modified_equation(bea.gd(), ORDER))
    caught = [w for w in record if issubclass(w.category, CacheWarning)]
    if expect_warning is not None:
        assert bool(caught) == expect_warning, [str(w.message) for w in caught]
    return result


def _rewrite(path: Path, change) -> None:
    """Change the payload and recompute the digest, as someone editing the file would."""
    entry = json.loads(path.read_text())
    change(entry["payload"])
    text = json.dumps(entry["payload"], sort_keys=True, separators=(",", ":"))
    entry["sha256"] = hashlib.sha256(text.encode()).hexdigest()
    path.write_text(json.dumps(entry))


def _omega(payload) -> list:
    return payload["coefficients"]


# --------------------------------------------------------------------------- item 7


def test_valid_entry_is_a_hit(cache_dir, reference):
    assert _derive(False) == reference
    assert _derive(False) == reference


def _tall_tree_index(n: int) -> int:
    tab = table(1)
    return next(i for i in tab.ids(n) if tab.height[i] == n)


def _bushy_index(n: int) -> int:
    tab = table(1)
    return next(i for i in tab.ids(n) if tab.height[i] == 2)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda p: _omega(p).__setitem__(_bushy_index(9), "1/7"), id="bushy-9"),
        pytest.param(lambda p: _omega(p).__setitem__(_tall_tree_index(9), "1/7"), id="tall-9"),
        pytest.param(lambda p: _omega(p).__setitem__(-1, "0"), id="last-tree"),
        pytest.param(lambda p: _omega(p).__setitem__(3, "1/5"), id="small-tree"),
        pytest.param(lambda p: _omega(p).__setitem__(0, "2"), id="omega-dot"),
        pytest.param(lambda p: _omega(p).__setitem__(7, 5), id="int"),
        pytest.param(lambda p: _omega(p).__setitem__(7, "abc"), id="abc"),
        pytest.param(lambda p: _omega(p).__setitem__(7, "1/0"), id="1/0"),
        pytest.param(lambda p: _omega(p).__setitem__(7, "1/-3"), id="negative-denominator"),
        pytest.param(lambda p: _omega(p).__setitem__(7, "0x10"), id="hex"),
        pytest.param(lambda p: _omega(p).__setitem__(7, "9" * 5000), id="5000-digits"),
        pytest.param(lambda p: _omega(p).__setitem__(7, None), id="null"),
        pytest.param(lambda p: _omega(p).pop(), id="one-short"),
        pytest.param(lambda p: _omega(p).append("0"), id="one-long"),
        pytest.param(lambda p: p.pop("coefficients"), id="key-missing"),
        pytest.param(lambda p: p.pop("counts"), id="counts-missing"),
        pytest.param(lambda p: p["counts"].__setitem__(2, 3), id="wrong-table"),
        pytest.param(lambda p: p.__setitem__("extra", 1), id="extra-key"),
        pytest.param(lambda p: p.__setitem__("coefficients", "1/2"), id="not-a-list"),
    ],
)
def test_rewritten_entry_is_not_trusted(cache_dir, reference, change):
    _derive(False)
    path = _entry(cache_dir)
    _rewrite(path, change)
    assert _derive(True) == reference  # reported, removed, recomputed
    assert _derive(False) == reference  # and rewritten valid


def test_swapped_coefficients_of_one_size_are_caught(cache_dir, reference):
    """Two trees of 9 nodes exchanged keep every per-size sum except the weighted ones."""
    _derive(False)
    tab = table(1)
    ids = list(tab.ids(9))
    entry = json.loads(_entry(cache_dir).read_text())
    values = _omega(entry["payload"])
    i, j = next(
        (i, j)
        for i in ids
        for j in ids
        if Fraction(values[i]) != Fraction(values[j]) and tab.sigma[i] != tab.sigma[j]
    )

    def swap(p):
        p["coefficients"][i], p["coefficients"][j] = p["coefficients"][j], p["coefficients"][i]

    _rewrite(_entry(cache_dir), swap)
    assert _derive(True) == reference


# --------------------------------------------------------------------------- item 8


def test_fifo_in_place_of_an_entry_does_not_block(cache_dir, reference):
    _derive(False)
    path = _entry(cache_dir)
    path.unlink()
    os.mkfifo(path)
    assert _derive(True) == reference
    assert path.is_file() and not path.is_symlink()


def test_link_to_dev_zero_is_not_followed(cache_dir, reference):
    _derive(False)
    path = _entry(cache_dir)
    path.unlink()
    path.symlink_to("/dev/zero")
    assert _derive(True) == reference
    assert path.is_file() and not path.is_symlink()


def test_link_to_a_valid_entry_elsewhere_is_not_followed(cache_dir, tmp_path, reference):
    _derive(False)
    path = _entry(cache_dir)
    outside = tmp_path / "outside.json"
    path.rename(outside)
    path.symlink_to(outside)
    before = outside.read_bytes()
    assert _derive(True) == reference
    assert outside.read_bytes() == before  # the target is never touched


def test_huge_sparse_file_is_not_read(cache_dir, reference):
    _derive(False)
    path = _entry(cache_dir)
    with open(path, "r+b") as f:
        f.truncate(1_500_000_000)  # sparse: no disk space used
    start = time.perf_counter()
    assert _derive(True) == reference
    assert time.perf_counter() - start < 10
    assert path.stat().st_size < 1_000_000


def test_size_cap_is_applied_before_reading(tmp_path):
    cache = DiskCache(tmp_path, enabled=True, max_bytes=100)
    key = {"kind": "example"}
    cache.put(key, {"data": "x" * 200})
    with pytest.warns(CacheWarning, match="more than 100"):
        assert cache.get(key) is None


def test_directory_in_place_of_an_entry_keeps_the_cache_on(tmp_path, reference):
    cache = DiskCache(tmp_path, enabled=True)
    key, other = {"kind": "a"}, {"kind": "b"}
    cache.path_for(key).mkdir()
    with pytest.warns(CacheWarning, match="a directory is in its place"):
        assert cache.get_or_compute(key, lambda: [1]) == [1]
    assert cache.active
    assert cache.get_or_compute(other, lambda: [2]) == [2]
    assert cache.get(other) == [2]  # other keys are still cached


def test_orphan_temporary_files_are_removed_by_the_next_store(tmp_path):
    cache = DiskCache(tmp_path, enabled=True)
    old = tmp_path / f".{'a' * 64}.killed.tmp"
    fresh = tmp_path / f".{'b' * 64}.writing.tmp"
    for p in (old, fresh):
        p.write_text("partial")
    stamp = time.time() - ORPHAN_AGE - 10
    os.utime(old, (stamp, stamp))
    cache.put({"kind": "x"}, [1])
    assert not old.exists()
    assert fresh.exists()  # a concurrent writer's file is left alone


def test_lock_file_link_is_not_followed(tmp_path):
    cache = DiskCache(tmp_path / "c", enabled=True)
    key = {"kind": "locked"}
    target = tmp_path / "victim"
    lock = cache.path_for(key).with_suffix(".lock")
    lock.parent.mkdir()
    lock.symlink_to(target)
    assert cache.get_or_compute(key, lambda: [3]) == [3]
    assert not target.exists()  # not created through the link
    assert not lock.is_symlink()
    assert cache.get(key) == [3]


def test_lock_in_place_of_a_fifo_or_directory_does_not_block(tmp_path):
    cache = DiskCache(tmp_path, enabled=True)
    for kind, make in (("fifo", os.mkfifo), ("dir", os.mkdir)):
        key = {"kind": kind}
        make(cache.path_for(key).with_suffix(".lock"))
        with deadline(10):
            assert cache.get_or_compute(key, lambda kind=kind: [kind]) == [kind]
        assert cache.active


def test_cli_cache_info_and_clear(cache_dir, capsys):
    _derive(False)
    assert main(["cache", "info", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["directory"] == str(cache_dir)
    assert info["entries"] == 1 and info["bytes"] == _entry(cache_dir).stat().st_size
    assert main(["cache", "clear"]) == 0
    assert "removed 2 file(s)" in capsys.readouterr().out  # the entry and its lock
    assert main(["cache", "info"]) == 0
    assert "entries    0 (0 bytes)" in capsys.readouterr().out
    assert main(["cache", "bogus"]) == 2


# --------------------------------------------------------------------------- fuzz

_corruption = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("coefficient"), st.integers(0, 10**6), st.integers(-50, 50)),
    st.tuples(st.just("denominator"), st.integers(0, 10**6), st.integers(1, 50)),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize=True,
)
@given(corruptions=st.lists(_corruption, min_size=1, max_size=3))
def test_fuzz_corrupted_entries_never_give_a_wrong_answer(cache_dir, reference, corruptions):
    """Random byte flips, truncations and insertions, and meaning changes with the
    digest recomputed: the answer is always the reference, and nothing hangs."""
    _derive(None)  # (re)creates a valid entry
    path = _entry(cache_dir)
    raw = bytearray(path.read_bytes())
    for kind, where, value in corruptions:
        if kind in ("coefficient", "denominator"):
            try:
                coeffs = json.loads(bytes(raw))["payload"]["coefficients"]
                old = Fraction(coeffs[where % len(coeffs)])
            except (ValueError, KeyError, TypeError, IndexError, ZeroDivisionError):
                continue  # an earlier byte corruption broke the file already
            i = where % len(coeffs)
            new = Fraction(value) if kind == "coefficient" else old / value
            _rewrite(path, lambda p, i=i, new=new: p["coefficients"].__setitem__(i, str(new)))
            raw = bytearray(path.read_bytes())
        elif kind == "flip":
            raw[where % len(raw)] ^= value
        elif kind == "truncate":
            del raw[where % len(raw) :]
        else:
            raw.insert(where % (len(raw) + 1), value)
        path.write_bytes(bytes(raw))
    assert _derive(None) == reference
    assert _derive(False) == reference  # whatever happened, the entry is valid again


def test_cli_cache_clear_removes_compiled_programs_only_in_beas_folder(
    tmp_path, monkeypatch, capsys
):
    jax_dir = tmp_path / "jax"
    (jax_dir / "bea-exported").mkdir(parents=True)
    (jax_dir / "jit_kernel-abc-cache").write_bytes(b"x" * 10)
    (jax_dir / "bea-exported" / "kernel.bin").write_bytes(b"y" * 5)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"z")
    (jax_dir / "link.bin").symlink_to(outside)
    monkeypatch.setenv("BEA_JAX_CACHE_DIR", str(jax_dir))
    assert main(["cache", "info", "--format", "json"]) == 0
    compiled = json.loads(capsys.readouterr().out)["compiled"]
    assert compiled == {"directory": str(jax_dir), "files": 2, "bytes": 15}
    assert main(["cache", "clear"]) == 0
    assert f"removed 2 compiled program(s) from {jax_dir}" in capsys.readouterr().out
    assert outside.read_bytes() == b"z" and (jax_dir / "link.bin").is_symlink()
    assert main(["cache", "info"]) == 0
    assert "compiled   0 file(s), 0 bytes" in capsys.readouterr().out
    monkeypatch.setenv("BEA_JAX_CACHE", "0")
    assert main(["cache", "info"]) == 0
    assert "compiled   off (BEA_JAX_CACHE=0)" in capsys.readouterr().out
