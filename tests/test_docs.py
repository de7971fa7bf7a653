"""The documentation runs and builds.

1. Every ```python block of docs/*.md and docs/tutorials/*.md is executed, in
   page order, in one fresh namespace per page; so is every one-line ```bash
   block ``bea ...`` (through the command line's entry point). A block
   followed directly by a ```text block documents its output: the text block
   must be exactly what the code prints (trailing whitespace aside), so every
   formula and number shown in the docs is one bea produces. After an
   intended change of output, ``BEA_UPDATE_DOCS=1 pytest tests/test_docs.py``
   rewrites the text blocks from the code.
2. ``mkdocs build --strict`` succeeds (warnings are errors). Skipped, with the
   reason, when mkdocs is not installed (``pip install -e '.[docs]'``).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted([*DOCS.glob("*.md"), *DOCS.glob("tutorials/*.md")])


@dataclass
class Block:
    code: str  # python source (for a ``bea ...`` command line: the equivalent call)
    line: int  # 1-based line of the opening fence
    expected: str | None  # documented output, if a ```text block follows
    output_span: tuple[int, int] | None  # 0-based [start, stop) of the output's lines


def _fences(lines: list[str]):
    """(language, first content line, stop line) of each top-level fenced block."""
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            lang = line[3:].strip().split(" ")[0]
            j = i + 1
            while j < len(lines) and lines[j].rstrip() != "```":
                j += 1
            if j == len(lines):
                raise ValueError(f"unclosed code fence opened at line {i + 1}")
            yield lang, i + 1, j
            i = j + 1
        else:
            i += 1


def blocks(text: str) -> list[Block]:
    """The python blocks of a page, each with the text block that shows its output."""
    lines = text.split("\n")
    fences = list(_fences(lines))
    out = []
    for k, (lang, start, stop) in enumerate(fences):
        body = lines[start:stop]
        if lang == "bash" and len(body) == 1 and body[0].startswith("bea "):
            # a command-line example: run it through the CLI's entry point
            args = shlex.split(body[0])[1:]
            code = f"import bea.cli\nassert bea.cli.main({args!r}) == 0\n"
        elif lang == "python":
            code = "\n".join(body) + "\n"
        else:
            continue
        expected = span = None
        if k + 1 < len(fences) and fences[k + 1][0] == "text":
            _, s2, e2 = fences[k + 1]
            between = lines[stop + 1 : s2 - 1]
            if all(not x.strip() for x in between):
                expected = "\n".join(lines[s2:e2])
                span = (s2, e2)
        out.append(Block(code, start, expected, span))
    return out


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").split("\n"))


def test_pages_exist():
    names = {p.relative_to(DOCS).as_posix() for p in PAGES}
    for page in (
        "index.md",
        "getting-started.md",
        "conventions.md",
        "api.md",
        "references.md",
        "tutorials/implicit-gradient-regularization.md",
        "tutorials/sgd-reshuffling.md",
        "tutorials/heavy-ball.md",
        "tutorials/adding-an-optimizer.md",
        "tutorials/optax.md",
        "tutorials/validate.md",
        "tutorials/linear-network.md",
    ):
        assert page in names


def test_block_parser():
    page = "x\n```python\nprint(1)\n```\n\n```text\n1\n```\n```python\na = 2\n```\n"
    b1, b2 = blocks(page)
    assert (b1.code, b1.expected, b1.output_span) == ("print(1)\n", "1", (6, 7))
    assert (b2.code, b2.expected) == ("a = 2\n", None)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_page_snippets_run(page: Path):
    """Run the page's blocks; with BEA_UPDATE_DOCS=1, rewrite its output blocks instead."""
    update = os.environ.get("BEA_UPDATE_DOCS") == "1"
    text = page.read_text(encoding="utf-8")
    namespace: dict = {"__name__": "__docs__"}
    edits = []
    for block in blocks(text):
        where = f"{page.relative_to(ROOT)}:{block.line}"
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(block.code, where, "exec"), namespace)
        if block.expected is None:
            continue
        if update:
            edits.append((block.output_span, buf.getvalue().rstrip("\n")))
        else:
            assert _normalise(buf.getvalue()) == _normalise(block.expected), (
                f"{where}: the printed output differs from the documented output "
                "(regenerate with BEA_UPDATE_DOCS=1 if the change is intended)"
            )
    if edits:
        lines = text.split("\n")
        for (start, stop), out in reversed(edits):
            lines[start:stop] = out.split("\n") if out else []
        page.write_text("\n".join(lines), encoding="utf-8")


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs not installed: pip install -e '.[docs]'")
    pytest.importorskip(
        "mkdocstrings", reason="mkdocstrings not installed: pip install -e '.[docs]'"
    )
    pytest.importorskip(
        "material", reason="mkdocs-material not installed: pip install -e '.[docs]'"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    site = tmp_path / "site"
    assert (site / "api" / "index.html").exists()
    problems = []
    for page in sorted(site.rglob("*.html")):
        problems += [f"{page.relative_to(site)}: {p}" for p in html_problems(page.read_text())]
    assert not problems, "\n".join(problems[:40])
    # the math renderer is the vendored copy, with its fonts
    mathjax = site / "javascripts" / "vendor" / "mathjax"
    assert (mathjax / "tex-chtml.js").stat().st_size > 500_000
    assert len(list((mathjax / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))) >= 20
    assert (
        'src="../javascripts/vendor/mathjax/tex-chtml.js"'
        in (site / "api" / "index.html").read_text()
    )


#: Sphinx roles that Markdown shows as raw text (``:meth:`x` `` and friends)
ROLE = re.compile(r":(?:py:)?(?:meth|class|func|mod|attr|data|obj|exc|const|math|ref):`")


class _Text(HTMLParser):
    """The text of a page outside code blocks, scripts and styles; the script sources."""

    def __init__(self):
        super().__init__()
        self.open: list[str] = []
        self.prose: list[str] = []  # text not in <pre>, <script>, <style>
        self.scripts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "script" and dict(attrs).get("src"):
            self.scripts.append(dict(attrs)["src"])
        self.open.append(tag)

    def handle_endtag(self, tag):
        while self.open and self.open.pop() != tag:
            pass

    def handle_data(self, data):
        if not {"pre", "script", "style"} & set(self.open):
            self.prose.append(data)


def html_problems(html: str) -> list[str]:
    """Raw Sphinx roles, stray backticks outside code blocks, and scripts loaded from the web."""
    parser = _Text()
    parser.feed(html)
    text = "\n".join(parser.prose)
    out = [f"raw role {m.group(0)!r}" for m in ROLE.finditer(text)]
    out += [
        f"stray backtick near {text[max(0, m.start() - 30) : m.end() + 30]!r}"
        for m in re.finditer("`", text)
    ]
    out += [f"script loaded from the web: {src}" for src in parser.scripts if "//" in src]
    return out


def test_html_problems_finds_roles_backticks_and_cdn_scripts():
    page = (
        "<p>see :meth:`bea.gd` and <code>``x``</code></p><pre>`fine in code`</pre>"
        '<script src="https://unpkg.com/mathjax@3/es5/tex-mml-chtml.js"></script>'
        '<script src="javascripts/vendor/mathjax/tex-chtml.js"></script>'
    )
    problems = html_problems(page)
    assert problems[0] == "raw role ':meth:`'"
    assert sum("stray backtick" in p for p in problems) == 6  # the role's two and ``x``'s four
    assert (
        problems[-1]
        == "script loaded from the web: https://unpkg.com/mathjax@3/es5/tex-mml-chtml.js"
    )
    assert html_problems("<p>clean <code>x</code></p><pre>`a`</pre>") == []


def test_docstrings_have_no_sphinx_roles():
    """One docstring style, the one mkdocstrings renders: ``literals``, no :role:`x`."""
    found = []
    for path in sorted([*(ROOT / "bea").rglob("*.py"), *(ROOT / "numerics").rglob("*.py")]):
        for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if ROLE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{k}: {line.strip()}")
    assert not found, "\n".join(found)
