"""Size guards: how many trees a derivation enumerates, said before it starts.

Every exact derivation through h^p enumerates all rooted trees with at most
p + 1 nodes (coloured with one colour per loss field), and their number grows
like 2.96^n: there are 1, 1, 2, 4, 9, 20, 48, 115, 286, 719, ... rooted trees
with n = 1, 2, ... nodes (OEIS A000081). With c colours the counts follow the
same recurrence, the Euler transform

    a(1) = c,   a(n+1) = (1/n) Σ_{k=1..n} (Σ_{d|k} d a(d)) a(n−k+1)

(Cayley 1857; OEIS A000081 for c = 1, A038055 for c = 2), so the size of a
derivation is known exactly before anything is enumerated.

A table of trees that would grow past ``MAX_TREES`` trees is refused with
a ValueError that gives the count and an estimate of memory and time, unless
the caller asks for it explicitly: ``max_trees=`` in
``bea.modified_equation`` / ``bea.modified_loss``, or ``--force`` on the
command line. ``MAX_TREES`` = 200 000 allows one loss field through
order 13 of any method (up to 14 nodes: 53 272 trees, a few seconds) and
order 14 (141 083 trees; gradient descent takes seconds, heavy ball about a
minute and 1.3 GB measured on one CPU core); order 15 needs 376 464 trees.

>>> tree_count(5), trees_upto(5), tree_count(3, colours=2)
(9, 17, 14)
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator

__all__ = [
    "BYTES_PER_TREE",
    "MAX_TREES",
    "SECONDS_PER_TREE",
    "TooManyTrees",
    "allow_trees",
    "check_size",
    "tree_count",
    "trees_upto",
]

#: Largest tree table built without an explicit ``max_trees=`` (or ``--force``).
MAX_TREES = 200_000
#: Rough cost per tree of a derivation with memory (heavy ball, order 14, one CPU
#: core: 1.26 GB and 66 s for 141 083 trees); gradient descent needs less.
BYTES_PER_TREE = 9_000
SECONDS_PER_TREE = 5e-4
_EXACT_UP_TO = 400  # nodes; beyond, counts are only bounded below

_limit: contextvars.ContextVar[int | None] = contextvars.ContextVar("bea_max_trees", default=None)
_progress: contextvars.ContextVar[bool] = contextvars.ContextVar("bea_progress", default=False)


class TooManyTrees(ValueError):
    """A derivation would enumerate more trees than allowed; the message says how many."""


def _counts(n: int, colours: int, stop: int | None = None) -> list[int]:
    """[a(1), ..., a(n)]; stops early once the running total exceeds ``stop``."""
    a = [0, colours]
    s = [0, colours]  # s(k) = Σ_{d|k} d a(d)
    total = colours
    for m in range(1, n):
        a.append(sum(s[k] * a[m - k + 1] for k in range(1, m + 1)) // m)
        k = m + 1
        s.append(sum(d * a[d] for d in range(1, k + 1) if k % d == 0))
        total += a[-1]
        if stop is not None and total > stop:
            break
    return a[1 : n + 1]


def _check_args(n, colours) -> tuple[int, int]:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    if isinstance(colours, bool) or not isinstance(colours, int) or colours < 1:
        raise ValueError(f"colours must be a positive int, got {colours!r}")
    return n, colours


def tree_count(n: int, colours: int = 1) -> int:
    """Number of rooted trees with exactly ``n`` nodes and ``colours`` colours (A000081)."""
    n, colours = _check_args(n, colours)
    if n > _EXACT_UP_TO:
        raise ValueError(f"counts are computed up to n = {_EXACT_UP_TO}, got {n}")
    return _counts(n, colours)[-1] if n else 0


def trees_upto(n: int, colours: int = 1) -> int:
    """Number of rooted trees with 1 to ``n`` nodes and ``colours`` colours."""
    n, colours = _check_args(n, colours)
    if n > _EXACT_UP_TO:
        raise ValueError(f"counts are computed up to n = {_EXACT_UP_TO}, got {n}")
    return sum(_counts(n, colours))


def _size(n: int, colours: int) -> tuple[int, bool]:
    """(number of trees with ≤ n nodes, True), or (a lower bound, False) beyond the exact range."""
    if n <= _EXACT_UP_TO:
        return sum(_counts(n, colours)), True
    return sum(_counts(_EXACT_UP_TO, colours)), False


def _human(nbytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if nbytes < 1000:
            return f"{nbytes:.0f} {unit}"
        nbytes /= 1000
    return f"{nbytes:.0e} EB"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0e} days"


def check_size(
    max_nodes: int, colours: int = 1, max_trees: int | None = None, what: str = "this derivation"
) -> int:
    """Raise ``TooManyTrees`` if trees with ≤ ``max_nodes`` nodes exceed the limit.

    The limit is ``max_trees`` if given, else the one set by ``allow_trees``,
    else ``MAX_TREES``. Returns the number of trees.
    """
    limit = _effective(max_trees)
    total, exact = _size(max_nodes, colours)
    if total <= limit:
        return total
    fields = f" with {colours} colours (one per loss field)" if colours > 1 else ""
    if exact:
        cost = (
            f"{total:,} trees (OEIS A000081 and its coloured analogues), roughly "
            f"{_human(total * BYTES_PER_TREE)} of memory and "
            f"{_duration(total * SECONDS_PER_TREE)} at {BYTES_PER_TREE} bytes and "
            f"{SECONDS_PER_TREE * 1e3:g} ms per tree"
        )
    else:  # Otter's asymptotics for one colour: a(n) ~ 0.4399 2.9558^n n^(-3/2)
        exponent = math.log10(0.4399237) + max_nodes * math.log10(2.9557653)
        exponent -= 1.5 * math.log10(max_nodes)
        size = f"about 10^{exponent:.0f}" if colours == 1 else f"more than {total:.1e}"
        cost = f"{size} trees, far beyond any memory"
    raise TooManyTrees(
        f"{what} needs every rooted tree{fields} with up to {max_nodes} nodes: {cost}. "
        f"The limit is {limit:,} trees; lower the order, or allow more explicitly with "
        "max_trees=N (bea.modified_equation, bea.modified_loss) or --force on the command line"
    )


def _effective(max_trees: int | None) -> int:
    if max_trees is not None:
        if isinstance(max_trees, bool) or not isinstance(max_trees, int) or max_trees < 1:
            raise ValueError(f"max_trees must be a positive int, got {max_trees!r}")
        return max_trees
    limit = _limit.get()
    return MAX_TREES if limit is None else limit


@contextlib.contextmanager
def allow_trees(max_trees: int | None, progress: bool = False) -> Iterator[None]:
    """Within the block, tree tables may grow to ``max_trees`` trees (None: unchanged).

    ``progress=True`` shows a progress bar while large tables are enumerated.
    """
    token = _limit.set(_effective(max_trees)) if max_trees is not None else None
    shown = _progress.set(progress)
    try:
        yield
    finally:
        _progress.reset(shown)
        if token is not None:
            _limit.reset(token)


def current_limit() -> int:
    """The tree limit in force here (``allow_trees``, else ``MAX_TREES``)."""
    return _effective(None)


def progress_wanted() -> bool:
    return _progress.get()
