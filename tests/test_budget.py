"""Order and size guards (issue 17, item 5): tree counts known before enumeration."""

from __future__ import annotations

import time

import pytest
import sympy

import bea
from bea.bseries import _budget as budget
from bea.bseries._budget import TooManyTrees, allow_trees, check_size, tree_count, trees_upto
from bea.bseries._trees import TreeTable, table
from bea.cli import main

#: OEIS A000081, rooted trees with n = 1..20 nodes (https://oeis.org/A000081)
A000081 = [1, 1, 2, 4, 9, 20, 48, 115, 286, 719, 1842, 4766, 12486, 32973, 87811]
A000081 += [235381, 634847, 1721159, 4688676, 12826228]


def test_counts_match_oeis():
    assert [tree_count(n) for n in range(1, 21)] == A000081
    assert bea.count_trees(20) == A000081[-1]
    assert trees_upto(16) == sum(A000081[:16]) == 376464


@pytest.mark.parametrize("colours", [1, 2, 3])
def test_counts_match_enumeration(colours):
    """The recurrence against the table's own enumeration (multisets of children)."""
    tab = TreeTable(colours)
    for n in range(1, 7 if colours < 3 else 6):
        assert tree_count(n, colours) == len(tab.ids(n))


def test_huge_orders_are_refused_at_once():
    before = table(1).max_size
    start = time.perf_counter()
    with pytest.raises(TooManyTrees, match=r"about 10\^\d+ trees.*max_trees=N"):
        bea.modified_equation(bea.gd(), order=10**6)
    with pytest.raises(ValueError, match=r"1,547,867,058,882 trees.*--force"):
        bea.modified_equation(bea.gd(), order=30)
    with pytest.raises(ValueError, match="max_trees"):
        bea.modified_loss(bea.gd(), order=25)
    assert time.perf_counter() - start < 2
    assert table(1).max_size == before  # nothing was enumerated


def test_many_loss_fields_are_refused():
    with pytest.raises(TooManyTrees, match=r"100000 colours.*10,000,100,000 trees"):
        bea.modified_equation(bea.optimizers.reshuffled_sgd(100000), order=1)


def test_table_itself_is_guarded():
    with pytest.raises(TooManyTrees, match="up to 30 nodes"):
        bea.trees(30)
    with pytest.raises(TooManyTrees):
        TreeTable(5).extend(9)


def test_max_trees_raises_and_lowers_the_limit():
    # trees with up to 6 nodes: 1 + 1 + 2 + 4 + 9 + 20 = 37
    with pytest.raises(TooManyTrees, match=r"37 trees.*limit is 36"):
        bea.modified_equation(bea.gd(), order=5, max_trees=36)
    me = bea.modified_equation(bea.gd(), order=5, max_trees=37)
    assert me.coefficient("[[]]") == sympy.Rational(-1, 2)
    with pytest.raises(ValueError, match="positive int"):
        bea.modified_equation(bea.gd(), order=2, max_trees=0)
    with pytest.raises(TooManyTrees):
        check_size(6, max_trees=36)
    assert check_size(6, max_trees=37) == 37


def test_limit_in_a_block(monkeypatch):
    monkeypatch.setattr(budget, "MAX_TREES", 30)
    with pytest.raises(TooManyTrees):
        check_size(6)
    with allow_trees(100):
        assert check_size(6) == 37
        assert TreeTable(1).extend(6).max_size == 6
    with pytest.raises(TooManyTrees):
        TreeTable(1).extend(6)


def test_progress_during_enumeration(capsys):
    # two colours, up to 8 nodes: 24 314 trees, above the 20 000 that show a bar
    with allow_trees(None, progress=True):
        TreeTable(2).extend(8)
    assert "trees" in capsys.readouterr().err


def test_cli_refuses_and_force_allows(monkeypatch, capsys):
    assert main(["derive", "gd", "--order", "30"]) == 2
    err = capsys.readouterr().err
    assert "1,547,867,058,882 trees" in err and "--force" in err
    assert main(["derive", "reshuffled_sgd", "--m", "100000", "--order", "1"]) == 2
    assert "100000 colours" in capsys.readouterr().err
    monkeypatch.setattr(budget, "MAX_TREES", 30)  # order 5 needs 37 trees
    for command in (["derive", "gd"], ["loss", "gd"], ["codegen", "gd"]):
        assert main([*command, "--order", "5"]) == 2
        assert "limit is 30 trees" in capsys.readouterr().err
        assert main([*command, "--order", "5", "--force"]) == 0
        capsys.readouterr()
