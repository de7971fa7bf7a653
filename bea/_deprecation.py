"""Deprecated names: each warns once per process, then behaves as its replacement."""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["renamed_keyword", "warn_once"]

_warned: set[str] = set()


def warn_once(old: str, new: str) -> None:
    """A DeprecationWarning ``old is deprecated; use new`` the first time only."""
    if old in _warned:
        return
    _warned.add(old)
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release; use {new}",
        DeprecationWarning,
        stacklevel=3,
    )


def renamed_keyword(where: str, old: str, new: str, old_value: Any, new_value: Any) -> Any:
    """The value of a keyword renamed from ``old`` to ``new`` (``old`` warns once)."""
    if old_value is None:
        return new_value
    if new_value is not None:
        raise TypeError(f"{where}: pass {new}= only ({old}= is its deprecated name), not both")
    warn_once(f"{where}({old}=...)", f"{where}({new}=...)")
    return old_value
