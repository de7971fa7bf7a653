"""Griffe extension for the API pages: render doctests in docstring bodies as code.

Docstrings here put short doctests (``>>>`` lines and their output) in the
description as well as in numpy ``Examples`` sections. Markdown reads a bare
``>>>`` run as nested block quotes and its output as link syntax, so this
extension wraps every doctest run outside an ``Examples`` section in a
``pycon`` fence before the docstring is parsed.
"""

from __future__ import annotations

import re

import griffe

_HEADER = re.compile(r"^\s*-{3,}\s*$")


def fence_doctests(text: str) -> str:
    """Wrap each doctest run (``>>>`` lines plus output up to a blank line) in a fence.

    Lines inside existing fences and the body of an ``Examples`` section are
    left as they are (the numpy parser renders those itself).
    """
    lines = text.split("\n")
    out: list[str] = []
    in_fence = False
    in_examples = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if i + 1 < len(lines) and _HEADER.match(lines[i + 1]) and stripped:
            in_examples = stripped.lower() in ("examples", "example")
        if stripped.startswith("```"):
            in_fence = not in_fence
        if not in_fence and not in_examples and stripped.startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            out.append(f"{indent}```pycon")
            out.extend(block)
            out.append(f"{indent}```")
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Fence doctests in the description part of every docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
