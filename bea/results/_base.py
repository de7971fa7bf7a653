"""The one contract every modified-equation result follows.

Whatever engine derived it (trees, coordinates, …), a result knows its
method and order, lists its terms, evaluates on a concrete loss with
``Result.on`` (a pure function of its arguments: no state is kept between
calls), and prints as text, LaTeX (``_repr_latex_``, and ``sympy.latex(result)``
through ``_latex``) and a JSON-ready dict.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..methods._base import Method

__all__ = ["Result"]


class Result(abc.ABC):
    """Base class of modified equations, modified losses and their relatives.

    Attributes
    ----------
    method
        the ``bea.Method`` analysed (``None`` for a result built
        directly from a series).
    order
        the truncation order p: the result is known through h^p.
    """

    method: Method | None
    order: int

    @abc.abstractmethod
    def terms(self, k: int | None = None) -> list[tuple[Any, Any]]:
        """The (term, coefficient) pairs, all of them or those of h^k."""

    @abc.abstractmethod
    def on(self, loss: Any, variables: Any, h: Any = None) -> Any:
        """The result on a concrete loss (or field) in the given variables."""

    @abc.abstractmethod
    def text(self) -> str:
        """Plain text."""

    @abc.abstractmethod
    def latex(self) -> str:
        """LaTeX (without delimiters)."""

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: method, order, normalisation, terms, text."""

    def _method_name(self) -> str | None:
        return self.method.name if self.method is not None else None

    def _repr_latex_(self) -> str:
        return "$" + self.latex() + "$"

    def _latex(self, printer: Any = None) -> str:
        """``sympy.latex(result)``."""
        return self.latex()
