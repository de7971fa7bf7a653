"""Tests for bea._cache: the integrity-checked JSON disk cache."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import time
import warnings
from pathlib import Path

import platformdirs
import pytest
import sympy

import bea._cache as cache_module
from bea._cache import CACHE_FORMAT_VERSION, CacheWarning, DiskCache, default_cache

KEY = {"kind": "modified_equation", "method": "rk4", "order": 12}
PAYLOAD = {"coefficients": ["1/2", "-1/12", "1/24"], "order": 12, "exact": True}


class Counter:
    """A compute function that counts its calls."""

    def __init__(self, payload=PAYLOAD):
        self.calls = 0
        self.payload = payload

    def __call__(self):
        self.calls += 1
        return self.payload


@pytest.fixture
def cache(tmp_path):
    return DiskCache(tmp_path / "cache", enabled=True)


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def assert_valid_file(path: Path, key, payload) -> None:
    entry = json.loads(path.read_text())
    assert entry["format"] == "bea-cache"
    assert entry["version"] == CACHE_FORMAT_VERSION
    assert entry["key"] == key
    assert entry["payload"] == payload
    assert entry["sha256"] == hashlib.sha256(canonical(payload).encode()).hexdigest()


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# --------------------------------------------------------------------------- basics


def test_round_trip(cache):
    assert cache.get(KEY) is None
    cache.put(KEY, PAYLOAD)
    assert cache.get(KEY) == PAYLOAD
    assert cache.get(dict(reversed(list(KEY.items())))) == PAYLOAD  # key order is irrelevant
    assert cache.get({**KEY, "order": 11}) is None
    assert_valid_file(cache.path_for(KEY), KEY, PAYLOAD)
    assert leftovers(cache.directory) == []


def test_get_or_compute_computes_once(cache):
    compute = Counter()
    assert cache.get_or_compute(KEY, compute) == PAYLOAD
    assert cache.get_or_compute(KEY, compute) == PAYLOAD
    assert compute.calls == 1
    assert DiskCache(cache.directory).get_or_compute(KEY, compute) == PAYLOAD
    assert compute.calls == 1


def test_payload_is_returned_as_its_json_round_trip(cache):
    compute = Counter({"pairs": ((1, 2), (3, 4)), "none": None, "x": 0.1})
    expected = {"pairs": [[1, 2], [3, 4]], "none": None, "x": 0.1}
    assert cache.get_or_compute(KEY, compute) == expected  # miss
    assert cache.get_or_compute(KEY, compute) == expected  # hit
    assert compute.calls == 1


def test_null_payload_is_cached_by_get_or_compute(cache):
    compute = Counter(None)
    assert cache.get_or_compute(KEY, compute) is None
    assert cache.get_or_compute(KEY, compute) is None
    assert compute.calls == 1


def test_path_for(cache):
    digest = hashlib.sha256(canonical(KEY).encode()).hexdigest()
    assert cache.path_for(KEY) == cache.directory / f"{digest}.json"
    assert cache.path_for({"order": 12, "method": "rk4", "kind": "modified_equation"}) == (
        cache.path_for(KEY)
    )
    assert cache.path_for({**KEY, "order": 13}) != cache.path_for(KEY)


def test_compute_errors_propagate_and_release_the_lock(cache):
    def fail():
        raise RuntimeError("derivation failed")

    with pytest.raises(RuntimeError, match="derivation failed"):
        cache.get_or_compute(KEY, fail)
    assert cache.get(KEY) is None
    assert cache.get_or_compute(KEY, Counter()) == PAYLOAD  # not deadlocked


def test_clear_removes_only_cache_files(cache):
    cache.put(KEY, PAYLOAD)
    cache.get_or_compute({"kind": "other"}, Counter())
    stray = cache.directory / f".{'0' * 64}.abc.tmp"
    stray.write_text("partial")
    mine = cache.directory / "notes.txt"
    mine.write_text("keep me")
    assert cache.clear() == 4  # two entries, one lock file, one temporary file
    assert sorted(p.name for p in cache.directory.iterdir()) == ["notes.txt"]
    assert cache.get(KEY) is None
    assert DiskCache(cache.directory / "missing").clear() == 0


# --------------------------------------------------------------------------- environment


def test_environment_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("BEA_CACHE_DIR", str(tmp_path / "from_env"))
    monkeypatch.delenv("BEA_CACHE", raising=False)
    cache = DiskCache()
    assert cache.directory == tmp_path / "from_env"
    assert cache.enabled
    cache.put(KEY, PAYLOAD)
    assert (tmp_path / "from_env" / cache.path_for(KEY).name).exists()
    assert default_cache().directory == tmp_path / "from_env"
    assert default_cache().get(KEY) == PAYLOAD


def test_default_directory(monkeypatch):
    monkeypatch.delenv("BEA_CACHE_DIR", raising=False)
    assert DiskCache().directory == Path(platformdirs.user_cache_dir("bea"))


@pytest.mark.parametrize("value", ["0", "off", "OFF", "false", "no", " 0 "])
def test_disabled_by_environment(tmp_path, monkeypatch, value):
    monkeypatch.setenv("BEA_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("BEA_CACHE", value)
    cache = default_cache()
    assert not cache.enabled
    compute = Counter()
    assert cache.get_or_compute(KEY, compute) == PAYLOAD
    assert cache.get_or_compute(KEY, compute) == PAYLOAD
    assert compute.calls == 2
    cache.put(KEY, PAYLOAD)
    assert cache.get(KEY) is None
    assert not (tmp_path / "c").exists()
    assert DiskCache(enabled=True).enabled  # an explicit argument wins


def test_enabled_values(monkeypatch):
    for value in ("1", "on", "yes", ""):
        monkeypatch.setenv("BEA_CACHE", value)
        assert DiskCache().enabled


def test_default_cache_is_shared_per_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("BEA_CACHE_DIR", str(tmp_path / "a"))
    first = default_cache()
    assert default_cache() is first
    monkeypatch.setenv("BEA_CACHE_DIR", str(tmp_path / "b"))
    assert default_cache() is not first
    assert default_cache().directory == tmp_path / "b"


# --------------------------------------------------------------------------- validation


def test_non_json_payload_is_a_type_error(cache):
    bad = {"coefficients": ["1/2", sympy.Rational(1, 12)]}
    with pytest.raises(TypeError, match=r"payload\['coefficients'\]\[1\] is a sympy") as info:
        cache.put(KEY, bad)
    assert "str(...)" in str(info.value)
    with pytest.raises(TypeError, match="computed payload"):
        cache.get_or_compute(KEY, lambda: bad)
    with pytest.raises(TypeError, match=r"is a builtins\.set"):
        DiskCache(cache.directory, enabled=False).put(KEY, {1, 2})  # checked even if disabled
    with pytest.raises(TypeError, match="keys must be str"):
        cache.put(KEY, {1: "a"})
    with pytest.raises(ValueError, match="JSON cannot represent"):
        cache.put(KEY, [float("nan")])
    assert cache.get(KEY) is None  # nothing was stored


def test_bad_keys(cache):
    with pytest.raises(TypeError, match="must be a dict"):
        cache.get(["modified_equation", 12])
    with pytest.raises(TypeError, match=r"key\['method'\]"):
        cache.path_for({"method": object()})
    with pytest.raises(TypeError, match="must be a dict"):
        cache.get_or_compute("key", Counter())


# --------------------------------------------------------------------------- integrity


def test_truncated_file_is_detected_and_rewritten(cache):
    cache.put(KEY, PAYLOAD)
    path = cache.path_for(KEY)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    compute = Counter()
    with pytest.warns(CacheWarning, match=re.escape(str(path)) + ".*not valid JSON"):
        assert cache.get_or_compute(KEY, compute) == PAYLOAD
    assert compute.calls == 1
    assert_valid_file(path, KEY, PAYLOAD)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.get(KEY) == PAYLOAD


def test_modified_payload_is_detected(cache):
    cache.put(KEY, PAYLOAD)
    path = cache.path_for(KEY)
    path.write_text(path.read_text().replace("-1/12", "-1/13"))
    assert json.loads(path.read_text())["payload"]["coefficients"][1] == "-1/13"
    with pytest.warns(CacheWarning, match="does not match its sha256 digest"):
        assert cache.get(KEY) is None
    assert not path.exists()  # removed, never trusted


def test_flipped_byte_is_detected(cache):
    cache.put(KEY, PAYLOAD)
    path = cache.path_for(KEY)
    data = bytearray(path.read_bytes())
    position = data.index(b"-1/12") + 3
    data[position] ^= 0x01  # '1' -> '0'
    path.write_bytes(bytes(data))
    with pytest.warns(CacheWarning, match="sha256"):
        assert cache.get_or_compute(KEY, Counter()) == PAYLOAD
    assert_valid_file(path, KEY, PAYLOAD)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (b'{"hello": 1}', "not a bea-cache file"),
        (b"[1, 2]", "not a bea-cache file"),
        (b'{"format": "bea-cache", "version": "1"}', "invalid version"),
        (b'{"format": "bea-cache", "version": 1, "key": {}}', "missing field"),
        (
            b'{"format": "bea-cache", "version": 1, "key": %s, "sha256": "", "payload": NaN}'
            % canonical(KEY).encode(),
            "invalid content",
        ),
    ],
)
def test_invalid_files_are_rejected(cache, content, reason):
    path = cache.path_for(KEY)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.warns(CacheWarning, match=reason):
        assert cache.get(KEY) is None
    assert not path.exists()


def test_other_version_is_a_silent_miss_and_overwritten(cache):
    cache.put(KEY, {"old": True})
    path = cache.path_for(KEY)
    entry = json.loads(path.read_text())
    entry["version"] = CACHE_FORMAT_VERSION + 1
    path.write_text(json.dumps(entry))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.get(KEY) is None
        compute = Counter()
        assert cache.get_or_compute(KEY, compute) == PAYLOAD
    assert compute.calls == 1
    assert_valid_file(path, KEY, PAYLOAD)


def test_stored_key_must_match(cache):
    other = {"kind": "modified_equation", "method": "gd", "order": 12}
    cache.put(other, {"not": "mine"})
    path = cache.path_for(KEY)
    cache.path_for(other).rename(path)  # a file under the wrong name, with a valid digest
    with pytest.warns(CacheWarning, match="stores the key"):
        assert cache.get(KEY) is None
    assert not path.exists()
    assert cache.get_or_compute(KEY, Counter()) == PAYLOAD


# --------------------------------------------------------------------------- failures


def test_unwritable_directory_warns_once(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    cache = DiskCache(blocker / "cache", enabled=True)
    compute = Counter()
    with pytest.warns(CacheWarning, match="continuing without the disk cache") as record:
        assert cache.get_or_compute(KEY, compute) == PAYLOAD
    assert len(record) == 1
    assert str(blocker) in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.get_or_compute(KEY, compute) == PAYLOAD
        cache.put(KEY, PAYLOAD)
        assert cache.get(KEY) is None
    assert compute.calls == 2
    assert not cache.active


def test_failed_write_leaves_no_temporary_file(cache, monkeypatch):
    cache.put(KEY, PAYLOAD)

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_module.os, "fsync", broken_fsync)
    with pytest.warns(CacheWarning, match="No space left"):
        cache.put(KEY, {"new": True})
    assert leftovers(cache.directory) == []
    assert_valid_file(cache.path_for(KEY), KEY, PAYLOAD)  # the old file is intact


def test_many_writes_leave_no_temporary_files(cache):
    for i in range(20):
        cache.put(KEY, {"i": i})
        cache.put({"n": i}, [i] * i)
    assert leftovers(cache.directory) == []
    assert cache.get(KEY) == {"i": 19}
    assert len(list(cache.directory.glob("*.json"))) == 21


# --------------------------------------------------------------------------- concurrency
# Workers run in fresh interpreters (spawn): they must be module-level functions.

N_PROCESSES = 4


def _ready(_):
    time.sleep(0.05)
    return os.getpid()


def _compute_worker(args):
    directory, counter, start_at = args

    def compute():
        with open(counter, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(0.3)
        return {**PAYLOAD, "computed_by": os.getpid()}

    time.sleep(max(0.0, start_at - time.time()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return DiskCache(directory, enabled=True).get_or_compute(KEY, compute)


def _put_worker(args):
    directory, writer, rounds, start_at = args
    cache = DiskCache(directory, enabled=True)
    time.sleep(max(0.0, start_at - time.time()))
    bad_reads = []
    for i in range(rounds):
        cache.put(KEY, {"writer": writer, "round": i, "data": [writer * 1000 + i] * 200})
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                value = cache.get(KEY)
            except CacheWarning as exc:
                bad_reads.append(str(exc))
                continue
        if value is None or value["data"] != [value["writer"] * 1000 + value["round"]] * 200:
            bad_reads.append(repr(value))
    return bad_reads


@pytest.fixture(scope="module")
def pool():
    context = multiprocessing.get_context("spawn")
    with context.Pool(N_PROCESSES) as workers:
        workers.map(_ready, range(4 * N_PROCESSES), chunksize=1)  # start and import first
        yield workers


@pytest.mark.skipif(cache_module.fcntl is None, reason="needs fcntl.flock")
def test_concurrent_get_or_compute_computes_once(tmp_path, pool):
    directory = tmp_path / "cache"
    counter = tmp_path / "counter.txt"
    start_at = time.time() + 0.3
    results = pool.map(_compute_worker, [(directory, counter, start_at)] * N_PROCESSES, chunksize=1)
    assert len(results) == N_PROCESSES
    assert all(result == results[0] for result in results)
    assert len(counter.read_text().splitlines()) == 1  # computed exactly once
    assert results[0]["computed_by"] == int(counter.read_text())
    assert_valid_file(DiskCache(directory).path_for(KEY), KEY, results[0])
    assert leftovers(directory) == []


def test_concurrent_puts_end_in_one_valid_file(tmp_path, pool):
    directory = tmp_path / "cache"
    start_at = time.time() + 0.3
    rounds = 25
    bad = pool.map(
        _put_worker,
        [(directory, writer, rounds, start_at) for writer in range(N_PROCESSES)],
        chunksize=1,
    )
    assert bad == [[]] * N_PROCESSES  # no reader ever saw a partial or invalid file
    files = list(directory.iterdir())
    assert [p.name for p in files] == [DiskCache(directory).path_for(KEY).name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = DiskCache(directory, enabled=True).get(KEY)
    assert value["round"] == rounds - 1
    assert value["data"] == [value["writer"] * 1000 + value["round"]] * 200
