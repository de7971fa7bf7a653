"""A small syntax tree for generated Python modules, and its printer.

Generated code is built as a tree of the node classes below and rendered by
``PythonPrinter``, which has one ``_print_<Node>`` method per class (the
pattern of sympy's code printers). Nothing is pasted from string templates:
every statement and expression of a generated module is a node.

Nothing user-given is pasted as code. Names (variables, functions, imports,
keywords) must be Python identifiers, optionally dotted, and not keywords;
docstrings and comments are escaped (backslashes, quotes, line breaks and
non-printable characters), and exact coefficients are printed from a whitelist
of sympy node types (integers, rationals, identifier-named symbols, + * / and
integer powers). Anything else raises ``ValueError`` while printing, so a
method named ``'x' + 3 * '"' + '; import os'`` ends up as text in a docstring, never as a
statement.

Example
-------
>>> body = [Assign("y", Call(Name("jax.numpy.sin"), [Name("x")])), Return(Name("y"))]
>>> print(PythonPrinter().doprint(FunctionDef("f", ["x"], body)), end="")
def f(x):
    y = jax.numpy.sin(x)
    return y
"""

from __future__ import annotations

import ast
import keyword
import math
from dataclasses import dataclass, field

import sympy as sp

__all__ = [
    "Assign",
    "Call",
    "Coefficient",
    "Comment",
    "FunctionDef",
    "Import",
    "Index",
    "Keyword",
    "Lambda",
    "Module",
    "Name",
    "PythonPrinter",
    "Return",
    "Scaled",
    "Starred",
    "Sum",
    "TupleExpr",
]


# ----------------------------------------------------------------------------
# Expressions
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Name:
    """A (possibly dotted) name: ``x``, ``jax.jvp``."""

    id: str


@dataclass(frozen=True)
class Starred:
    """``*value`` in a call or a parameter list (a name, or a call in a call)."""

    value: Name | Call


@dataclass(frozen=True)
class Call:
    func: object
    args: list = field(default_factory=list)


@dataclass(frozen=True)
class Keyword:
    """``name=value``, a keyword argument of a ``Call``."""

    name: str
    value: object


@dataclass(frozen=True)
class TupleExpr:
    items: list


@dataclass(frozen=True)
class Index:
    """``value[index]`` with an integer index."""

    value: object
    index: int


@dataclass(frozen=True)
class Lambda:
    params: list
    body: object


@dataclass(frozen=True)
class Coefficient:
    """The number ``r * h**k`` (``r / h**-k`` when k < 0): r an exact sympy number or expression.

    k is an int, or a positive half-integer (``h**1.5``)."""

    r: sp.Expr
    k: int | sp.Rational
    h: str = "h"


@dataclass(frozen=True)
class Scaled:
    """``coefficient * value``."""

    coefficient: Coefficient
    value: object


@dataclass(frozen=True)
class Sum:
    """``a + b + ...`` (a term printed with a leading minus is subtracted)."""

    terms: list


# ----------------------------------------------------------------------------
# Statements
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Comment:
    text: str


@dataclass(frozen=True)
class Assign:
    """``target = value``, with an optional trailing comment."""

    target: object
    value: object
    comment: str = ""


@dataclass(frozen=True)
class Return:
    value: object


@dataclass(frozen=True)
class FunctionDef:
    name: str
    params: list
    body: list
    docstring: str = ""


@dataclass(frozen=True)
class Import:
    module: str
    alias: str = ""


@dataclass(frozen=True)
class Module:
    docstring: str
    imports: list
    body: list


# ----------------------------------------------------------------------------
# Printer
# ----------------------------------------------------------------------------


class PythonPrinter:
    """Render the nodes of this module as Python source (4-space indents)."""

    indent = "    "

    def doprint(self, node, level: int = 0) -> str:
        return self._print(node, level)

    def _print(self, node, level: int = 0) -> str:
        method = getattr(self, "_print_" + type(node).__name__, None)
        if method is None:
            raise TypeError(f"no printer for {type(node).__name__}: {node!r}")
        return method(node, level)

    # -- expressions --------------------------------------------------------------
    def _expr(self, node) -> str:
        if isinstance(node, str):  # a bare string is a name
            return _dotted(node)
        return self._print(node, 0)

    def _print_Name(self, node: Name, level: int) -> str:
        return _dotted(node.id)

    def _print_Starred(self, node: Starred, level: int) -> str:
        return "*" + self._expr(node.value)

    def _print_Call(self, node: Call, level: int) -> str:
        return self._expr(node.func) + "(" + ", ".join(self._expr(a) for a in node.args) + ")"

    def _print_Keyword(self, node: Keyword, level: int) -> str:
        return _identifier(node.name) + "=" + self._expr(node.value)

    def _print_TupleExpr(self, node: TupleExpr, level: int) -> str:
        items = [self._expr(i) for i in node.items]
        return "(" + items[0] + ",)" if len(items) == 1 else "(" + ", ".join(items) + ")"

    def _print_Index(self, node: Index, level: int) -> str:
        return f"{self._expr(node.value)}[{node.index}]"

    def _print_Lambda(self, node: Lambda, level: int) -> str:
        return (
            "lambda " + ", ".join(self._expr(p) for p in node.params) + ": " + self._expr(node.body)
        )

    def _print_Coefficient(self, node: Coefficient, level: int) -> str:
        r = sp.sympify(node.r, strict=True)
        k = sp.Rational(node.k)
        if k.q != 1:  # a half-integer power, h**(3/2): written as a float exponent
            if k <= 0:
                raise ValueError(f"cannot print h**{k}: only positive fractional powers")
            power = f"{node.h}**{float(k)!r}"
            return power if r == 1 else _number(r) + " * " + power
        if node.k < 0:  # r / h**|k|
            power = node.h if node.k == -1 else f"{node.h}**{-node.k}"
            return _number(r) + " / " + power
        power = "" if node.k == 0 else node.h if node.k == 1 else f"{node.h}**{node.k}"
        if not power:
            return _number(r)
        if r == 1:
            return power
        if r == -1:
            return "-" + power
        return _number(r) + " * " + power

    def _print_Scaled(self, node: Scaled, level: int) -> str:
        c = self._print(node.coefficient)
        if c == "1":
            return self._expr(node.value)
        if c == "-1":
            return "-" + self._expr(node.value)
        return c + " * " + self._expr(node.value)

    def _print_Sum(self, node: Sum, level: int) -> str:
        out = ""
        for i, term in enumerate(node.terms):
            s = self._expr(term)
            if i == 0:
                out = s
            elif s.startswith("-"):
                out += " - " + s[1:]
            else:
                out += " + " + s
        return out

    # -- statements ---------------------------------------------------------------
    def _print_Comment(self, node: Comment, level: int) -> str:
        return self.indent * level + "# " + _comment(node.text) + "\n"

    def _print_Assign(self, node: Assign, level: int) -> str:
        if isinstance(node.target, TupleExpr):  # a, b = ...
            target = ", ".join(self._expr(i) for i in node.target.items)
        else:
            target = self._expr(node.target)
        line = self.indent * level + target + " = " + self._expr(node.value)
        if node.comment:
            line += "  # " + _comment(node.comment)
        return line + "\n"

    def _print_Return(self, node: Return, level: int) -> str:
        return self.indent * level + "return " + self._expr(node.value) + "\n"

    def _print_FunctionDef(self, node: FunctionDef, level: int) -> str:
        pad = self.indent * level
        params = ", ".join(self._expr(p) for p in node.params)
        out = f"{pad}def {_identifier(node.name)}({params}):\n"
        if node.docstring:
            out += _docstring(node.docstring, pad + self.indent)
            if node.body and isinstance(node.body[0], FunctionDef):
                out += "\n"
        for i, stmt in enumerate(node.body):
            if (
                isinstance(stmt, FunctionDef)
                and i > 0
                and not isinstance(node.body[i - 1], Comment)
            ):
                out += "\n"
            out += self._print(stmt, level + 1)
            if isinstance(stmt, FunctionDef) and i + 1 < len(node.body):
                out += "\n"
        return out

    def _print_Import(self, node: Import, level: int) -> str:
        alias = f" as {_identifier(node.alias)}" if node.alias else ""
        return self.indent * level + f"import {_dotted(node.module)}{alias}\n"

    def _print_Module(self, node: Module, level: int) -> str:
        out = _docstring(node.docstring, "") + "\n"
        out += "".join(self._print(i) for i in node.imports)
        for stmt in node.body:
            out += "\n\n" + self._print(stmt)
        return out


def _identifier(name: str) -> str:
    """``name`` if it is a Python identifier and not a keyword; ValueError otherwise."""
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(
            f"cannot print {name!r} as a name in generated code: expected a Python identifier "
            "that is not a keyword, such as 'beta' or 'modified_field'"
        )
    return name


def _dotted(name: str) -> str:
    """A dotted name such as ``jax.numpy.sin``, each part an identifier."""
    if not isinstance(name, str):
        raise ValueError(f"cannot print {name!r} as a name in generated code")
    for part in name.split("."):
        _identifier(part)
    return name


def _escape(text: str) -> str:
    """``text`` escaped for the inside of a triple-quoted, non-raw literal (line breaks kept).

    Backslashes and double quotes are escaped, so the literal cannot end early;
    other non-printable characters (``\\r``, ``\\0``, ``\\u2028``, ...) become
    their escapes.
    """
    out = []
    for c in str(text):
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif c == "\n" or c.isprintable():
            out.append(c)
        else:
            out.append(repr(c)[1:-1])
    return "".join(out)


def _comment(text: str) -> str:
    """A one-line comment: line breaks and non-printable characters are escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


_NUMBER_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Pow,
    ast.USub,
    ast.UAdd,
    ast.Load,
)


def _checked_source(text: str, names: set) -> str:
    """``text`` if it is arithmetic on int literals and the given names; ValueError otherwise."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        tree = None
    ok = tree is not None
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.Constant):
            ok = type(node.value) is int
        elif isinstance(node, ast.Name):
            ok = node.id in names
        else:
            ok = isinstance(node, _NUMBER_NODES)
        if not ok:
            break
    if not ok:
        raise ValueError(
            f"cannot print the coefficient {text!r} in generated code: expected exact "
            "arithmetic (+ - * / and integer powers) on integers and method parameters"
        )
    return text


def _number(r: sp.Expr) -> str:
    """An exact coefficient as Python source: ``-1/12``, ``(beta + 1)/4``."""
    if r.is_Integer:
        return str(int(r))
    if r.is_Rational:
        return f"{r.p}/{r.q}"
    if r.is_Symbol:
        return str(r)
    if r.free_symbols and all(
        s.name.isidentifier() and not keyword.iskeyword(s.name) for s in r.free_symbols
    ):
        return "(" + _checked_source(str(r), {s.name for s in r.free_symbols}) + ")"
    value = float(r)
    if not math.isfinite(value):
        raise ValueError(f"cannot print the coefficient {r} = {value} in generated code")
    return repr(value)


def _docstring(text: str, pad: str) -> str:
    lines = _escape(text).strip("\n").split("\n")
    if len(lines) == 1:
        return f'{pad}"""{lines[0]}"""\n'
    body = "\n".join((pad + line) if line.strip() else "" for line in lines[1:])
    return f'{pad}"""{lines[0]}\n{body}\n{pad}"""\n'
