"""Safe parsing of user-typed expressions into sympy.

Loss functions and hyperparameters typed on the command line are turned into
sympy objects by a small whitelist parser: a tokenizer followed by a
recursive-descent parser over the grammar

.. code-block:: text

    expression := sum
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := ("+" | "-") unary | power
    power      := primary (("**" | "^") unary)?
    primary    := NUMBER | CONSTANT | VARIABLE
                | FUNCTION "(" expression ("," expression)* ")"
                | "(" expression ")"

so that ``-x**2`` is ``-(x**2)``, ``x**y**z`` is ``x**(y**z)``, ``2**-1`` is
``1/2`` and ``a - b - c`` is ``(a - b) - c``, exactly as in Python.  Nothing in
the input is ever evaluated as Python code: there is no ``eval``, ``exec``,
``compile``, ``ast`` or ``sympify`` on the raw text, every name is looked up in
a fixed table, and anything else (attribute access, indexing, strings,
keywords, ...) is rejected with an ``ExpressionError``.

Numbers are exact: ``0.5`` is ``Rational(1, 2)`` and ``1e-3`` is
``Rational(1, 1000)``; floating point never enters.  Variables are
``sympy.Symbol(name, real=True)``.  Implicit multiplication (``2x``,
``x(y+1)``, ``(a)(b)``) is rejected with a message suggesting the explicit
product.

Limits guard against inputs that would make sympy itself run for hours: the
text length (``max_length``), the nesting depth (``MAX_DEPTH``), numeric
exponents (``MAX_EXPONENT``, so ``x**10**10`` is rejected), the size
of exact numbers produced by powers (``(2**999)**999`` and
``exp(10**9*log(2))`` are rejected instead of being computed), the number of
arguments of ``min``/``max`` (``MAX_ARGUMENTS``: sympy compares them
pairwise) and the wall-clock time of one parse (``MAX_SECONDS``). Sums
and products are built in one step (``Add(*terms)``), so long sums take
linear, not quadratic, time.

Constants must be finite real numbers: ``1/0``, ``log(0)``, ``0**-1``
(non-finite) and ``sqrt(-1)``, ``asin(2)``, ``log(-1)`` (non-real) are
rejected where they occur, and so is a result that is not real for real
variables (``sqrt(-x**2)``).
"""

from __future__ import annotations

import keyword
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sympy

__all__ = [
    "CONSTANT_NAMES",
    "FUNCTION_NAMES",
    "MAX_ARGUMENTS",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_NAME_LENGTH",
    "MAX_SECONDS",
    "ExpressionError",
    "parse_expression",
    "parse_symbol",
]

#: Deepest allowed nesting of parentheses, calls, signs and powers.
MAX_DEPTH = 100
#: Largest allowed magnitude of a numeric exponent (in ``**``, ``^`` and ``1e...``).
MAX_EXPONENT = 1000
#: Longest allowed variable name.
MAX_NAME_LENGTH = 32
#: Most arguments of ``min`` and ``max`` (sympy compares them pairwise).
MAX_ARGUMENTS = 8
#: Longest a single parse may take, in seconds (checked between operations).
MAX_SECONDS = 10.0
# Largest exact number (in bits) a power may produce: about 30 000 decimal digits.
_MAX_RESULT_BITS = 100_000
# Largest number (in bits) whose non-integer power sympy is asked to simplify: sympy
# searches such numbers for perfect powers, which takes very long beyond a few
# thousand bits.
_MAX_ROOT_BITS = 1024
# Longest allowed run of digits in one number literal.
_MAX_LITERAL_DIGITS = 1000


# --------------------------------------------------------------------------- errors


class ExpressionError(ValueError):
    """An expression or name could not be parsed.

    The message says what was expected, what came instead (quoting the input
    with a caret ``^`` under the offending column) and how to fix it.

    Attributes
    ----------
    reason : str
        One-line description of the problem.
    text : str or None
        The input that was being parsed.
    column : int or None
        0-based offset of the offending character in ``text``.
    hint : str or None
        How to fix the input.
    """

    def __init__(
        self,
        reason: str,
        text: str | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.reason = reason
        self.text = text
        self.column = column
        self.hint = hint
        super().__init__(_format_error(reason, text, column, hint))


def _display(text: str) -> str:
    # One printable-ASCII character per input character keeps the caret aligned.
    return "".join(c if " " <= c <= "~" else ("?" if c not in "\t\r\n" else " ") for c in text)


def _format_error(reason: str, text: str | None, column: int | None, hint: str | None) -> str:
    lines = []
    if text is None:
        lines.append(reason)
    else:
        where = "" if column is None else f" at column {column + 1}"
        lines.append(f"{reason}{where}:")
        shown = _display(text)
        caret = column
        width = 30
        if len(shown) > 2 * width + 12:
            centre = len(shown) if column is None else column
            start = max(0, centre - width)
            stop = min(len(shown), centre + width)
            prefix = "..." if start > 0 else ""
            suffix = "..." if stop < len(shown) else ""
            shown = prefix + shown[start:stop] + suffix
            if caret is not None:
                caret = caret - start + len(prefix)
        lines.append("    " + shown)
        if caret is not None:
            lines.append("    " + " " * caret + "^")
    if hint:
        lines.append(hint)
    return "\n".join(lines)


# --------------------------------------------------------------------------- tables


def _sigmoid(a: sympy.Expr) -> sympy.Expr:
    return sympy.Integer(1) / (1 + sympy.exp(-a))


def _softplus(a: sympy.Expr) -> sympy.Expr:
    return sympy.log(1 + sympy.exp(a))


@dataclass(frozen=True)
class _Function:
    arity: int  # number of arguments; -2 means "two or more"
    build: Callable[..., sympy.Expr]
    doc: str
    # Checks the arguments against the size limits before `build` runs.
    guard: Callable[..., None] | None = None


_HALF = sympy.Rational(1, 2)

_FUNCTIONS: dict[str, _Function] = {
    "sin": _Function(1, sympy.sin, "sine"),
    "cos": _Function(1, sympy.cos, "cosine"),
    "tan": _Function(1, sympy.tan, "tangent"),
    "asin": _Function(1, sympy.asin, "inverse sine"),
    "acos": _Function(1, sympy.acos, "inverse cosine"),
    "atan": _Function(1, sympy.atan, "inverse tangent"),
    "atan2": _Function(2, sympy.atan2, "atan2(y, x), angle of the point (x, y)"),
    "sinh": _Function(1, sympy.sinh, "hyperbolic sine"),
    "cosh": _Function(1, sympy.cosh, "hyperbolic cosine"),
    "tanh": _Function(1, sympy.tanh, "hyperbolic tangent"),
    "exp": _Function(1, sympy.exp, "exponential", lambda b, a: _check_exp_argument(a, b)),
    "log": _Function(1, sympy.log, "natural logarithm"),
    "sqrt": _Function(1, sympy.sqrt, "square root", lambda b, a: _check_power(a, _HALF, b)),
    "abs": _Function(1, sympy.Abs, "absolute value"),
    "sigmoid": _Function(1, _sigmoid, "1/(1 + exp(-x))", lambda b, a: _check_exp_argument(-a, b)),
    "softplus": _Function(1, _softplus, "log(1 + exp(x))", lambda b, a: _check_exp_argument(a, b)),
    "max": _Function(-2, sympy.Max, "maximum of two or more arguments"),
    "min": _Function(-2, sympy.Min, "minimum of two or more arguments"),
}

_CONSTANTS: dict[str, sympy.Expr] = {"pi": sympy.pi, "E": sympy.E}

#: Names of the functions accepted by ``parse_expression``.
FUNCTION_NAMES: tuple[str, ...] = tuple(sorted(_FUNCTIONS))
#: Names of the constants accepted by ``parse_expression``.
CONSTANT_NAMES: tuple[str, ...] = tuple(sorted(_CONSTANTS))

_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_NUMBER_RE = re.compile(r"(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?", re.ASCII)
_IDENT_RE = re.compile(r"[A-Za-z0-9_]+")

# Hints for characters that are never part of the grammar.
_CHAR_HINTS = {
    "'": "String literals are not supported; an expression is made of numbers, names, "
    "operators + - * / ** ^, parentheses and function calls.",
    '"': "String literals are not supported; an expression is made of numbers, names, "
    "operators + - * / ** ^, parentheses and function calls.",
    "[": "Brackets are not supported; use parentheses ( ) for grouping.",
    "]": "Brackets are not supported; use parentheses ( ) for grouping.",
    "{": "Braces are not supported; use parentheses ( ) for grouping.",
    "}": "Braces are not supported; use parentheses ( ) for grouping.",
    ".": "Attribute access is not supported; '.' may only appear inside a number such as 0.5.",
    ";": "Write a single expression; ';' is not supported.",
    ":": "Write a single expression; ':' is not supported.",
    "=": "Write the expression only, e.g. 'x**2 + y**2', not an equation or assignment.",
    "%": "The modulo operator is not supported.",
    "!": "Factorials are not supported.",
    "`": "Backticks are not supported.",
}


# --------------------------------------------------------------------------- tokenizer

_NUM, _NAME, _OP, _LPAR, _RPAR, _COMMA, _END = "number", "name", "op", "(", ")", ",", "end"


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int

    def describe(self) -> str:
        if self.kind == _END:
            return "the end of the input"
        return f"{self.kind} {self.text!r}" if self.kind in (_NUM, _NAME) else repr(self.text)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c.isascii() and (c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit())):
            m = _NUMBER_RE.match(text, i)
            assert m is not None and m.end() > i
            j = m.end()
            if j < n and text[j] == ".":
                raise ExpressionError(
                    f"malformed number {text[i : j + 1]!r}",
                    text,
                    j,
                    "A number has at most one decimal point, e.g. 2.5 or 1e-3.",
                )
            tokens.append(_Token(_NUM, text[i:j], i))
            i = j
        elif c.isascii() and (c.isalpha() or c == "_"):
            m = _IDENT_RE.match(text, i)
            assert m is not None
            name = m.group()
            if name.startswith("_"):
                raise ExpressionError(
                    f"invalid name {name!r}",
                    text,
                    i,
                    "Names must start with a letter; names starting with '_' are not allowed.",
                )
            if len(name) > MAX_NAME_LENGTH:
                raise ExpressionError(
                    f"name {name[:12]}... is {len(name)} characters long",
                    text,
                    i,
                    f"Use a name of at most {MAX_NAME_LENGTH} characters.",
                )
            tokens.append(_Token(_NAME, name, i))
            i = m.end()
        elif c == "*":
            if text.startswith("**", i):
                tokens.append(_Token(_OP, "**", i))
                i += 2
            else:
                tokens.append(_Token(_OP, "*", i))
                i += 1
        elif c == "^":
            tokens.append(_Token(_OP, "**", i))
            i += 1
        elif c in "+-/":
            tokens.append(_Token(_OP, c, i))
            i += 1
        elif c == "(":
            tokens.append(_Token(_LPAR, c, i))
            i += 1
        elif c == ")":
            tokens.append(_Token(_RPAR, c, i))
            i += 1
        elif c == ",":
            tokens.append(_Token(_COMMA, c, i))
            i += 1
        else:
            shown = repr(c) if c.isprintable() else f"{c!r} (U+{ord(c):04X})"
            raise ExpressionError(
                f"expected a number, a name, an operator or a parenthesis, got {shown}",
                text,
                i,
                _CHAR_HINTS.get(
                    c,
                    "Allowed are numbers, names, the operators + - * / ** ^, "
                    "parentheses and commas between function arguments.",
                ),
            )
    tokens.append(_Token(_END, "", n))
    return tokens


# --------------------------------------------------------------------------- guards


def _rational_bits(expr: sympy.Expr) -> int:
    # Size of the largest numerator or denominator in `expr`.
    bits = 0
    for r in expr.atoms(sympy.Rational):
        bits = max(bits, abs(r.p).bit_length(), r.q.bit_length())
    return bits


def _root_bits(expr: sympy.Expr) -> int:
    # Total size of the nontrivial numbers in `expr`: sympy multiplies the bases
    # of equal roots (sqrt(a)*sqrt(b) -> sqrt(a*b)), so sizes add up.
    return sum(
        abs(r.p).bit_length() + r.q.bit_length()
        for r in expr.atoms(sympy.Rational)
        if r not in (0, 1, -1)
    )


class _PowerTooLarge(Exception):
    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


class _Budget:
    """Running total of the numbers put under non-integer powers in one parse.

    sympy factors the bases of rational powers (``sqrt(12) -> 2*sqrt(3)``) and
    merges equal roots, which takes very long for large numbers; the total
    size of such bases is therefore bounded.
    """

    __slots__ = ("deadline", "root_bits")

    def __init__(self) -> None:
        self.root_bits = 0
        self.deadline = time.monotonic() + MAX_SECONDS


def _check_power(base: sympy.Expr, exponent: sympy.Expr, budget: _Budget) -> None:
    """Raise `_PowerTooLarge` if ``base**exponent`` could blow up in sympy."""
    if isinstance(exponent, sympy.Rational):
        if abs(exponent) > MAX_EXPONENT:
            shown = str(exponent)
            if len(shown) > 20:
                shown = f"with {len(shown)} digits"
            raise _PowerTooLarge(
                f"exponent {shown} is too large",
                f"Numeric exponents must lie between -{MAX_EXPONENT} and {MAX_EXPONENT}.",
            )
        if exponent.q != 1:
            budget.root_bits += _root_bits(base)
            if budget.root_bits > _MAX_ROOT_BITS:
                digits = int(_MAX_ROOT_BITS * 0.30103)
                raise _PowerTooLarge(
                    "numbers under non-integer powers (roots) are too large",
                    f"The numbers under roots may have about {digits} digits in total.",
                )
        bits = _rational_bits(base) * abs(exponent)
        if bits > _MAX_RESULT_BITS:
            raise _PowerTooLarge(
                f"power would produce an exact number of about {int(bits * 0.30103)} digits",
                "Use smaller numbers or exponents.",
            )
    if base == sympy.E:
        _check_exp_argument(exponent, budget)


def _check_exp_argument(arg: sympy.Expr, budget: _Budget) -> None:
    # sympy rewrites exp(c*log(b)) as b**c, which must obey the same limits.
    for term in sympy.Add.make_args(arg):
        coeff, rest = term.as_coeff_Mul()
        if isinstance(rest, sympy.log):
            _check_power(rest.args[0], coeff, budget)


# --------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str, variables: dict[str, sympy.Symbol] | None) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0
        self.fixed = variables
        self.seen: dict[str, sympy.Symbol] = {}
        self.budget = _Budget()

    # -- helpers

    @property
    def tok(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        tok = self.tokens[self.index]
        self.index += 1
        return tok

    def error(self, reason: str, tok: _Token, hint: str | None = None) -> ExpressionError:
        return ExpressionError(reason, self.text, tok.pos, hint)

    def enter(self, tok: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(
                f"expression is nested more than {MAX_DEPTH} levels deep",
                tok,
                "Simplify the expression: fewer nested parentheses, calls, signs or powers.",
            )

    def leave(self) -> None:
        self.depth -= 1

    # -- grammar

    def parse(self) -> sympy.Expr:
        if self.tok.kind == _END:
            raise ExpressionError(
                "expected an expression, got empty input",
                hint="Type an expression such as 'x**2 + y**2'.",
            )
        expr = self.sum()
        tok = self.tok
        if tok.kind == _RPAR:
            raise self.error("unmatched ')'", tok, "Remove it or add the matching '(' earlier.")
        if tok.kind != _END:
            raise self.unexpected_after_operand(tok)
        expr = self.constant(expr, tok)
        if expr.has(sympy.zoo, sympy.oo, -sympy.oo, sympy.nan):
            raise ExpressionError(
                f"the expression {_short(expr)} is not finite",
                self.text,
                hint="Check for division by zero or log(0); a loss must be finite.",
            )
        if expr.has(sympy.I):
            raise ExpressionError(
                f"the expression {_short(expr)} is not real for real variables",
                self.text,
                hint="A loss must be real: check roots and logarithms of negative quantities.",
            )
        return expr

    def unexpected_after_operand(self, tok: _Token) -> ExpressionError:
        prev = self.tokens[self.index - 1]
        if tok.kind in (_NUM, _NAME, _LPAR):
            left = prev.text if prev.kind in (_NUM, _NAME) else "(...)"
            right = tok.text
            if tok.kind == _LPAR:
                right = "(...)"
            hint = (
                f"Implicit multiplication is not supported; write '{left}*{right}' "
                "with an explicit '*'."
            )
            if prev.kind == _NUM and tok.kind == _NAME and tok.text[0] in "eE":
                hint += " For scientific notation put digits after the 'e', as in 1e-3."
            return self.error(f"expected an operator, got {tok.describe()}", tok, hint)
        if tok.kind == _COMMA:
            return self.error(
                "unexpected ','",
                tok,
                "Commas only separate the arguments of a function such as atan2(y, x).",
            )
        return self.error(
            f"expected an operator, got {tok.describe()}",
            tok,
            "Join terms with one of + - * / ** ^.",
        )

    def sum(self) -> sympy.Expr:
        # One Add of all terms: folding a + b + c + ... term by term re-sorts the
        # growing sum each time (quadratic in its length).
        terms = [self.product()]
        while self.tok.kind == _OP and self.tok.text in "+-":
            op = self.advance().text
            rhs = self.product()
            terms.append(rhs if op == "+" else -rhs)
        return terms[0] if len(terms) == 1 else sympy.Add(*terms)

    def product(self) -> sympy.Expr:
        expr = self.unary()
        while self.tok.kind == _OP and self.tok.text in ("*", "/"):
            tok = self.advance()
            rhs = self.unary()
            if tok.text == "/" and rhs == 0:
                raise self.error(
                    "division by zero", tok, "The divisor is 0; a loss must be finite."
                )
            expr = self.constant(expr * rhs if tok.text == "*" else expr / rhs, tok)
        return expr

    def constant(self, expr: sympy.Expr, tok: _Token) -> sympy.Expr:
        """``expr``, checked to be a finite real number when it has no variables."""
        if time.monotonic() > self.budget.deadline:
            raise self.error(
                f"parsing takes more than {MAX_SECONDS:g} s",
                tok,
                "Simplify or shorten the expression.",
            )
        if expr.free_symbols:
            return expr
        if expr.has(sympy.zoo, sympy.oo, -sympy.oo, sympy.nan):
            raise self.error(
                f"the value here is not finite ({_short(expr)}: "
                f"{'undefined' if expr.has(sympy.nan) else 'infinite'})",
                tok,
                "Check for division by zero, log(0) or 0 to a negative power; "
                "a loss must be finite.",
            )
        value = expr.evalf(15)
        re_part, im_part = value.as_real_imag()
        if im_part != 0 and abs(im_part) > 1e-12 * max(1, abs(re_part)):
            raise self.error(
                f"the constant {_short(expr)} is not real (about {_short(value)})",
                tok,
                "A loss must be real: check roots of negative numbers, log of negative "
                "numbers and asin/acos outside [-1, 1].",
            )
        if not value.is_finite and value.is_finite is not None:
            raise self.error(f"the constant {_short(expr)} is not finite", tok)
        return expr

    def unary(self) -> sympy.Expr:
        tok = self.tok
        if tok.kind == _OP and tok.text in "+-":
            self.advance()
            self.enter(tok)
            operand = self.unary()
            self.leave()
            return -operand if tok.text == "-" else operand
        return self.power()

    def power(self) -> sympy.Expr:
        base = self.primary()
        tok = self.tok
        if tok.kind == _OP and tok.text == "**":
            self.advance()
            self.enter(tok)
            exponent = self.unary()
            self.leave()
            try:
                _check_power(base, exponent, self.budget)
            except _PowerTooLarge as exc:
                raise self.error(exc.reason, tok, exc.hint) from None
            try:
                result = base**exponent
            except (ValueError, TypeError, ArithmeticError) as exc:
                raise self.error(f"cannot evaluate the power: {exc}", tok) from None
            return self.constant(result, tok)
        return base

    def primary(self) -> sympy.Expr:
        tok = self.tok
        if tok.kind == _NUM:
            self.advance()
            return self.number(tok)
        if tok.kind == _NAME:
            self.advance()
            if self.tok.kind == _LPAR:
                return self.call(tok)
            return self.name(tok)
        if tok.kind == _LPAR:
            self.advance()
            self.enter(tok)
            expr = self.sum()
            self.leave()
            self.expect_close(tok)
            return expr
        return self.expected_operand(tok)

    def expected_operand(self, tok: _Token) -> sympy.Expr:
        prev = self.tokens[self.index - 1] if self.index > 0 else None
        after = f" after {prev.text!r}" if prev is not None else ""
        if tok.kind == _END:
            hint = (
                "The expression ends with an operator; complete it or remove the operator."
                if prev is not None and prev.kind == _OP
                else "Complete the expression."
            )
            if prev is not None and prev.kind in (_LPAR, _COMMA):
                hint = "Close the parenthesis after an argument, e.g. 'sin(x)'."
        elif tok.kind == _RPAR:
            hint = "Parentheses must contain an expression, e.g. 'sin(x)' or '(x + 1)'."
        elif tok.kind == _OP and tok.text in ("*", "/", "**"):
            hint = f"Two operators in a row; remove one or put an operand between them{after}."
        else:
            hint = "Put a number, a name or a parenthesised expression here."
        raise self.error(
            f"expected a number, a name or '('{after}, got {tok.describe()}", tok, hint
        )

    def expect_close(self, open_tok: _Token) -> None:
        tok = self.tok
        if tok.kind == _RPAR:
            self.advance()
            return
        if tok.kind == _END:
            raise self.error(
                f"expected ')' to close the '(' at column {open_tok.pos + 1}, "
                "got the end of the input",
                tok,
                "Add the missing ')'.",
            )
        if tok.kind in (_NUM, _NAME, _LPAR):
            raise self.unexpected_after_operand(tok)
        raise self.error(
            f"expected ')' to close the '(' at column {open_tok.pos + 1}, got {tok.describe()}",
            tok,
            "Check the parentheses and commas.",
        )

    def number(self, tok: _Token) -> sympy.Rational:
        m = _NUMBER_RE.fullmatch(tok.text)
        assert m is not None
        whole, frac, exp = m.group(1) or "", m.group(2) or "", m.group(3)
        if len(whole) + len(frac) > _MAX_LITERAL_DIGITS:
            raise self.error(
                f"number has more than {_MAX_LITERAL_DIGITS} digits",
                tok,
                "Use a shorter number or scientific notation such as 1e30.",
            )
        e = int(exp) if exp is not None else 0
        if abs(e) > MAX_EXPONENT:
            raise self.error(
                f"exponent {exp} in number {tok.text!r} is too large",
                tok,
                f"Exponents of numbers must lie between -{MAX_EXPONENT} and {MAX_EXPONENT}.",
            )
        mantissa = int(whole + frac or "0")
        e -= len(frac)
        if e >= 0:
            return sympy.Integer(mantissa * 10**e)
        return sympy.Rational(mantissa, 10**-e)

    def name(self, tok: _Token) -> sympy.Expr:
        name = tok.text
        if name in _FUNCTIONS:
            example = "atan2(y, x)" if name == "atan2" else f"{name}(x)"
            raise self.error(
                f"function {name!r} is used without arguments",
                tok,
                f"Call it with parentheses, e.g. '{example}'.",
            )
        if name in _CONSTANTS:
            return _CONSTANTS[name]
        if keyword.iskeyword(name):
            raise self.error(
                f"{name!r} is a reserved word and cannot be a variable",
                tok,
                "Rename the variable.",
            )
        return self.variable(tok)

    def variable(self, tok: _Token) -> sympy.Symbol:
        name = tok.text
        if self.fixed is not None:
            if name not in self.fixed:
                known = ", ".join(self.fixed) or "(none)"
                raise self.error(
                    f"unknown name {name!r}",
                    tok,
                    f"The variables are: {known}. Constants: {', '.join(CONSTANT_NAMES)}.",
                )
            symbol = self.fixed[name]
        else:
            symbol = self.seen.get(name) or sympy.Symbol(name, real=True)
        self.seen[name] = symbol
        return symbol

    def call(self, name_tok: _Token) -> sympy.Expr:
        name = name_tok.text
        open_tok = self.tok
        func = _FUNCTIONS.get(name)
        if func is None:
            if name in _CONSTANTS or (self.fixed is not None and name in self.fixed):
                kind = "constant" if name in _CONSTANTS else "variable"
                raise self.error(
                    f"{kind} {name!r} cannot be called like a function",
                    open_tok,
                    f"Implicit multiplication is not supported; write '{name}*(...)'.",
                )
            raise self.error(
                f"unknown function {name!r}",
                name_tok,
                f"Known functions: {', '.join(FUNCTION_NAMES)}. "
                f"For a product write '{name}*(...)'.",
            )
        self.advance()
        self.enter(open_tok)
        args = []
        if self.tok.kind == _RPAR:
            raise self.error(
                f"expected an argument for {name!r}, got ')'",
                self.tok,
                f"Write e.g. '{name}(x)'.",
            )
        args.append(self.sum())
        while self.tok.kind == _COMMA:
            self.advance()
            args.append(self.sum())
        self.leave()
        self.expect_close(open_tok)
        wanted = func.arity
        if (wanted >= 0 and len(args) != wanted) or (wanted == -2 and len(args) < 2):
            count = "two or more" if wanted == -2 else str(wanted)
            plural = "" if wanted == 1 else "s"
            raise self.error(
                f"function {name!r} takes {count} argument{plural}, got {len(args)}",
                name_tok,
                f"{name}: {func.doc}.",
            )
        if wanted == -2 and len(args) > MAX_ARGUMENTS:
            raise self.error(
                f"function {name!r} takes at most {MAX_ARGUMENTS} arguments, got {len(args)}",
                name_tok,
                f"Nest the calls instead, e.g. {name}({name}(a, b, c), {name}(d, e, f)).",
            )
        if func.guard is not None:
            try:
                func.guard(self.budget, *args)
            except _PowerTooLarge as exc:
                raise self.error(exc.reason, name_tok, exc.hint) from None
        try:
            result = func.build(*args)
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise self.error(
                f"cannot evaluate {name}(...): {exc}",
                name_tok,
                "Check the arguments; max and min need real, comparable arguments.",
            ) from None
        return self.constant(result, name_tok)


def _short(expr) -> str:
    text = str(expr)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------- API


def _check_text(text: object, max_length: int) -> str:
    if not isinstance(text, str):
        raise TypeError(f"expected the expression as a str, got {type(text).__name__}")
    if not isinstance(max_length, int) or max_length < 1:
        raise ValueError(f"max_length must be a positive int, got {max_length!r}")
    if len(text) > max_length:
        raise ExpressionError(
            f"expression is {len(text)} characters long, more than the limit of {max_length}",
            hint="Shorten the expression or pass a larger max_length.",
        )
    return text


def _check_variable_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"variable names must be str, got {type(name).__name__}: {name!r}")
    if not _NAME_RE.match(name) or len(name) > MAX_NAME_LENGTH:
        raise ExpressionError(
            f"invalid variable name {name!r}",
            hint=f"A variable name is a letter followed by letters, digits or '_' "
            f"(at most {MAX_NAME_LENGTH} characters), e.g. 'x1'.",
        )
    if name in _FUNCTIONS or name in _CONSTANTS or keyword.iskeyword(name):
        raise ExpressionError(
            f"{name!r} is a reserved name and cannot be a variable",
            hint=f"Rename it; reserved are the functions {', '.join(FUNCTION_NAMES)}, "
            f"the constants {', '.join(CONSTANT_NAMES)} and Python keywords.",
        )
    return name


def parse_expression(
    text: str,
    *,
    variables: Sequence[str] | None = None,
    max_length: int = 1000,
) -> tuple[sympy.Expr, tuple[sympy.Symbol, ...]]:
    r"""Parse a user-typed expression into sympy without evaluating any code.

    Parameters
    ----------
    text : str
        The expression, e.g. ``'x**4/4 + sin(y)'``.  Operators ``+ - * / **``
        (``^`` is a synonym of ``**``), parentheses, exact decimal numbers,
        the constants ``pi`` and ``E``, and the functions listed in
        ``FUNCTION_NAMES`` (``sigmoid(x)`` is $1/(1+e^{-x})$ and
        ``softplus(x)`` is $\log(1+e^{x})$).  Multiplication must be
        written out: ``2*x``, not ``2x``.
    variables : sequence of str, optional
        The allowed variable names.  If given, exactly these variables are
        returned, in this order, and any other name is an error.  If omitted,
        every name that is neither a function nor a constant is a variable.
    max_length : int, default 1000
        Longest accepted input, in characters.

    Returns
    -------
    expr : sympy.Expr
        The expression, built with sympy's arithmetic operators in the same
        order as Python would evaluate the text.
    symbols : tuple of sympy.Symbol
        ``Symbol(name, real=True)`` for each variable: those named in
        ``variables``, or else those appearing in ``text`` sorted by name
        (including any that cancel, as in ``'x - x'``).

    Raises
    ------
    ExpressionError
        If the text is not a valid expression or exceeds a limit; the message
        points at the offending column and says how to fix it.

    Examples
    --------
    >>> expr, (x, y) = parse_expression("0.5*(x^2 + 10*y^2)")
    >>> expr
    x**2/2 + 5*y**2
    >>> expr.subs({x: 2, y: 1})
    7
    >>> parse_expression("-x**2")[0]
    -x**2
    """
    text = _check_text(text, max_length)
    fixed: dict[str, sympy.Symbol] | None = None
    if variables is not None:
        if isinstance(variables, str):
            raise TypeError(
                f"variables must be a sequence of names such as ('x', 'y'), "
                f"not the string {variables!r}"
            )
        fixed = {}
        for name in variables:
            name = _check_variable_name(name)
            if name in fixed:
                raise ExpressionError(
                    f"variable {name!r} is listed twice", hint="List each variable once."
                )
            fixed[name] = sympy.Symbol(name, real=True)
    parser = _Parser(text, fixed)
    try:
        expr = parser.parse()
    except ExpressionError:
        raise
    except RecursionError:  # pragma: no cover - the depth limit triggers first
        raise ExpressionError(
            "expression is nested too deeply", hint="Simplify the expression."
        ) from None
    except (ValueError, TypeError, ArithmeticError) as exc:  # pragma: no cover - sympy failure
        raise ExpressionError(
            f"cannot build the expression: {exc}", text, hint="Simplify the expression."
        ) from None
    if fixed is not None:
        symbols = tuple(fixed.values())
    else:
        symbols = tuple(parser.seen[name] for name in sorted(parser.seen))
    return expr, symbols


def parse_symbol(text: str, *, max_length: int = 200) -> sympy.Rational | sympy.Symbol:
    """Parse a hyperparameter value: an exact rational number or a single name.

    Parameters
    ----------
    text : str
        A number such as ``'0.9'``, ``'9/10'``, ``'1e-3'`` or ``'-1/2'``
        (any arithmetic on numbers is allowed, e.g. ``'1 - 1e-3'``), or a
        name such as ``'beta'``.
    max_length : int, default 200
        Longest accepted input, in characters.

    Returns
    -------
    sympy.Rational or sympy.Symbol
        The exact number, or ``Symbol(name, real=True)``.

    Raises
    ------
    ExpressionError
        If ``text`` is neither a rational number nor a single name.

    Examples
    --------
    >>> parse_symbol("0.9")
    9/10
    >>> parse_symbol("9/10") == parse_symbol("0.9")
    True
    >>> parse_symbol("beta")
    beta
    """
    expr, symbols = parse_expression(text, max_length=max_length)
    if isinstance(expr, sympy.Rational):
        return expr
    if len(symbols) == 1 and expr == symbols[0]:
        return symbols[0]
    raise ExpressionError(
        f"expected a rational number or a single name, got {text.strip()!r}",
        hint="Write a number such as 0.9, 9/10 or 1e-3, or a name such as beta.",
    )
