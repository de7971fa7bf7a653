"""The on-disk cache behind high-order modified equations."""

import json

import pytest

import bea
from bea._cache import CacheWarning
from bea.bseries._series import BSeries
from bea.results._log_check import SPOT_NODES

ORDER = 9  # trees with up to 10 nodes: above the caching threshold


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("BEA_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("BEA_CACHE", raising=False)
    return tmp_path


def _files(d):
    return sorted(p for p in d.iterdir() if p.suffix == ".json")


def test_second_derivation_reads_the_cache(cache_dir, monkeypatch):
    first = bea.modified_equation(bea.gd(), ORDER)
    assert len(_files(cache_dir)) == 1

    log = BSeries.log

    def boom(self, progress=False):  # the read check recomputes only the smallest trees
        if self.max_nodes > SPOT_NODES:
            raise AssertionError("recomputed although cached")
        return log(self, progress)

    monkeypatch.setattr(BSeries, "log", boom)
    second = bea.modified_equation(bea.gd(), ORDER)
    assert list(first) == list(second)


def test_corrupted_cache_is_reported_and_recomputed(cache_dir):
    reference = list(bea.modified_equation(bea.rk4(), ORDER))
    (path,) = _files(cache_dir)
    data = json.loads(path.read_text())
    data["payload"]["coefficients"][5] = "1/7"  # tampered, digest now stale
    path.write_text(json.dumps(data))
    with pytest.warns(CacheWarning):
        again = list(bea.modified_equation(bea.rk4(), ORDER))
    assert again == reference
    # rewritten valid
    assert json.loads(path.read_text())["payload"]["coefficients"][5] != "1/7"


def test_truncated_cache_file_is_recomputed(cache_dir):
    reference = list(bea.modified_equation(bea.gd(), ORDER))
    (path,) = _files(cache_dir)
    path.write_text(path.read_text()[: len(path.read_text()) // 2])
    with pytest.warns(CacheWarning):
        assert list(bea.modified_equation(bea.gd(), ORDER)) == reference


def test_cache_can_be_turned_off(cache_dir, monkeypatch):
    monkeypatch.setenv("BEA_CACHE", "0")
    bea.modified_equation(bea.gd(), ORDER)
    assert _files(cache_dir) == []


def test_symbolic_series_are_not_cached(cache_dir):
    bea.modified_equation(bea.optimizers.heavy_ball(), ORDER - 4)
    assert _files(cache_dir) == []
