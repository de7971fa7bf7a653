"""Exact rational functions of method parameters, on python-flint's multivariate polynomials.

Coefficients of B-series of methods with symbolic hyperparameters (β, ρ, …)
live in the field QQ(β, …). sympy's ``QQ.frac_field`` is exact but cancels
common factors with pure-Python gcds; this field keeps numerator and
denominator as ``flint.fmpq_mpoly`` and cancels with FLINT's gcd (tens of
microseconds instead of milliseconds). It implements the part of sympy's
``Domain`` interface that the engine uses (``zero``, ``one``, ``convert``,
``convert_from``, ``from_sympy``, ``to_sympy``, ``unify``), so series code is
the same for QQ and for parameters.

Products and quotients are kept canonical (gcd(num, den) = 1, den with
leading coefficient 1); sums are formed over the lcm of the denominators and
reduced only when next multiplied, divided, hashed or converted (see
``RF``), so a long sum costs one gcd instead of one per term.
"""

from __future__ import annotations

from fractions import Fraction
from numbers import Integral

import flint
import sympy as sp

__all__ = ["PowerDenominators", "RationalFunctionField"]


class RationalFunctionField:
    """The field QQ(x1, …, xk) of rational functions in the given sympy symbols."""

    is_Field = True
    is_QQ = False

    def __init__(self, symbols):
        syms = tuple(sorted(set(symbols), key=lambda s: s.name))
        if not syms:
            raise ValueError("a rational function field needs at least one symbol")
        names = tuple(s.name for s in syms)
        if len(set(names)) != len(names):
            raise ValueError(f"symbols must have distinct names, got {names}")
        self.symbols = syms
        self.ctx = flint.fmpq_mpoly_ctx.get(names, "lex")
        self._one_poly = self.ctx.from_dict({(0,) * len(syms): 1})
        self._zero_poly = self.ctx.from_dict({})
        self.zero = RF(self, self._zero_poly, self._one_poly)
        self.one = RF(self, self._one_poly, self._one_poly)

    def __eq__(self, other) -> bool:
        return isinstance(other, RationalFunctionField) and self.symbols == other.symbols

    def __hash__(self) -> int:
        return hash(("RationalFunctionField", self.symbols))

    def __repr__(self) -> str:
        return "QQ(" + ",".join(s.name for s in self.symbols) + ")"

    def get_field(self):
        return self

    # -- conversion -------------------------------------------------------------
    def _const(self, q) -> RF:
        return RF(self, self.ctx.from_dict({(0,) * len(self.symbols): q}), self._one_poly)

    def convert(self, x) -> RF:
        if isinstance(x, RF):
            if x.field == self:
                return x
            return self.from_sympy(x.field.to_sympy(x))
        if isinstance(x, bool):
            raise TypeError("booleans are not coefficients")
        if isinstance(x, Integral):
            return self._const(flint.fmpq(int(x)))
        if isinstance(x, Fraction):
            return self._const(flint.fmpq(x.numerator, x.denominator))
        if isinstance(x, flint.fmpq):
            return self._const(x)
        if isinstance(x, sp.Basic):
            return self.from_sympy(x)
        # elements of sympy's QQ (flint.fmpq or gmpy mpq / PythonMPQ)
        try:
            return self._const(flint.fmpq(int(x.numerator), int(x.denominator)))
        except AttributeError as exc:
            raise TypeError(f"cannot convert {x!r} to {self}") from exc

    def convert_from(self, x, src) -> RF:
        return self.convert(x)

    def from_sympy(self, expr) -> RF:
        expr = sp.sympify(expr, strict=True)
        extra = expr.free_symbols - set(self.symbols)
        if extra:
            raise ValueError(f"{expr} has symbols {extra} outside the field {self}")
        num, den = sp.fraction(sp.together(expr))
        return RF(self, self._poly(num), self._poly(den)).normal()

    def _poly(self, expr):
        p = sp.Poly(sp.expand(expr), *self.symbols, domain=sp.QQ)
        d = {}
        for monom, c in p.terms():
            c = sp.Rational(c)
            d[monom] = flint.fmpq(int(c.p), int(c.q))
        return self.ctx.from_dict(d)

    def _to_expr(self, poly) -> sp.Expr:
        terms = []
        for monom, c in poly.to_dict().items():
            powers = [s if e == 1 else s**e for s, e in zip(self.symbols, monom) if e]
            terms.append(sp.Mul(sp.Rational(int(c.p), int(c.q)), *powers))
        return sp.Add(*terms)

    def to_sympy(self, x: RF) -> sp.Expr:
        x._reduce()
        num = self._to_expr(x.num)
        if x.den.is_one():
            return num
        return num / self._to_expr(x.den)

    def unify(self, other):
        if other is None or getattr(other, "is_QQ", False):
            return self
        if isinstance(other, RationalFunctionField):
            if other == self:
                return self
            return RationalFunctionField(set(self.symbols) | set(other.symbols))
        syms = getattr(other, "symbols", None) or getattr(other, "gens", None)
        if syms:
            return RationalFunctionField(
                set(self.symbols) | {sp.sympify(s, strict=True) for s in syms}
            )
        raise TypeError(f"cannot unify {self} with {other!r}")


class RF:
    """An element num/den of a ``RationalFunctionField``.

    Sums are formed over a common denominator (the lcm of the two, from a gcd of
    denominators only) and are not reduced: ``reduced`` is False until the value
    is multiplied, divided, hashed, printed or converted, which reduces it in
    place (gcd(num, den) = 1, den monic) once. Products cross-cancel reduced
    factors, so they stay reduced. Equality is exact either way.
    """

    __slots__ = ("den", "field", "num", "reduced")

    def __init__(self, field: RationalFunctionField, num, den, reduced: bool = True):
        self.field = field
        self.num = num
        self.den = den
        self.reduced = reduced

    def normal(self) -> RF:
        num, den = self.num, self.den
        if den.is_zero():
            raise ZeroDivisionError("rational function with zero denominator")
        if num.is_zero():
            return RF(self.field, num, self.field._one_poly)
        if not den.is_constant():
            g = num.gcd(den)
            if not g.is_one():
                num = num / g
                den = den / g
        lc = den.leading_coefficient()
        if lc != 1:
            num = num / lc
            den = den / lc
        return RF(self.field, num, den)

    def _reduce(self) -> RF:
        """Reduce in place (the value is unchanged) and return self."""
        if not self.reduced:
            r = self.normal()
            self.num, self.den, self.reduced = r.num, r.den, True
        return self

    def _coerce(self, other):
        if isinstance(other, RF):
            if other.field is self.field or other.field == self.field:
                return other
            return self.field.convert(other._reduce())
        return self.field.convert(other)

    def __bool__(self) -> bool:
        return not self.num.is_zero()

    def __eq__(self, other) -> bool:
        if not isinstance(other, RF):
            try:
                other = self._coerce(other)
            except (TypeError, ValueError):
                return NotImplemented
        if self.reduced and other.reduced:
            return self.num == other.num and self.den == other.den
        return self.num * other.den == other.num * self.den

    def __hash__(self) -> int:
        self._reduce()
        return hash((str(self.num), str(self.den)))

    def __neg__(self) -> RF:
        return RF(self.field, -self.num, self.den, self.reduced)

    def __add__(self, other) -> RF:
        o = self._coerce(other)
        if not o.num:
            return self
        if not self.num:
            return o
        d1, d2 = self.den, o.den
        if d1 == d2:
            if d1.is_one():
                return RF(self.field, self.num + o.num, d1)
            return RF(self.field, self.num + o.num, d1, False)
        if d1.is_one() or d2.is_one():
            # a polynomial plus p/q: (p + q·poly)/q keeps gcd 1 if p/q was reduced
            return RF(
                self.field,
                self.num * d2 + o.num * d1,
                d1 * d2,
                self.reduced and o.reduced,
            )
        g = d1.gcd(d2)
        e1, e2 = d1 / g, d2 / g
        return RF(self.field, self.num * e2 + o.num * e1, e1 * e2 * g, False)

    def _monic(self) -> RF:
        lc = self.den.leading_coefficient()
        if lc != 1:
            return RF(self.field, self.num / lc, self.den / lc)
        return self

    __radd__ = __add__

    def __sub__(self, other) -> RF:
        return self + (-self._coerce(other))

    def __rsub__(self, other) -> RF:
        return self._coerce(other) - self

    def __mul__(self, other) -> RF:
        if isinstance(other, int) and not isinstance(other, bool):
            if other == 0:
                return self.field.zero
            return RF(self.field, self.num * other, self.den, self.reduced)
        o = self._coerce(other)
        if o.den.is_one() and o.num.is_constant():
            if o.num.is_zero():
                return self.field.zero
            return RF(self.field, self.num * o.num, self.den, self.reduced)
        if self.den.is_one() and self.num.is_constant():
            if self.num.is_zero():
                return self.field.zero
            return RF(self.field, o.num * self.num, o.den, o.reduced)
        self._reduce()
        o._reduce()
        # cross-cancel (inputs are reduced): gcd(n1, d2) and gcd(n2, d1) only
        n1, d1, n2, d2 = self.num, self.den, o.num, o.den
        if not d2.is_one():
            g = n1.gcd(d2)
            if not g.is_one():
                n1, d2 = n1 / g, d2 / g
        if not d1.is_one():
            g = n2.gcd(d1)
            if not g.is_one():
                n2, d1 = n2 / g, d1 / g
        return RF(self.field, n1 * n2, d1 * d2)._monic()

    __rmul__ = __mul__

    def __truediv__(self, other) -> RF:
        o = self._coerce(other)
        if o.num.is_zero():
            raise ZeroDivisionError("division by the zero rational function")
        o._reduce()
        return self * RF(self.field, o.den, o.num).normal()

    def __rtruediv__(self, other) -> RF:
        return self._coerce(other) / self

    def __repr__(self) -> str:
        return str(self.field.to_sympy(self))


# ----------------------------------------------------------------------------
# Rational functions over powers of one fixed denominator
# ----------------------------------------------------------------------------


class NotCovered(ArithmeticError):
    """A denominator with a factor outside the fixed denominator D of a ``PowerDenominators``."""


class PowerDenominators:
    """Elements num/D^e of QQ(params), D one fixed polynomial: arithmetic without gcds.

    The B-series of a method with memory and symbolic hyperparameters has
    coefficients whose denominators are products of a few fixed polynomials
    (for heavy ball, powers of 1 − β: the determinant of its linear part).
    With D the product of those irreducible factors (its radical), every such
    coefficient is num/D^e; sums align the exponents (multiplying a numerator
    by a precomputed power of D), products add them, and no gcd is ever taken.
    Values are neither reduced nor canonical here; ``lift`` and ``lower``
    convert from and to ``RF`` (the rational function field), exactly.

    ``denominators``: polynomials of the field's context whose irreducible
    factors make up D. ``lift`` raises ``NotCovered`` for a value whose
    denominator has another factor (callers then fall back to ``RF``).

    >>> import sympy as sp
    >>> beta = sp.Symbol("beta")
    >>> F = RationalFunctionField([beta])
    >>> x = F.from_sympy(1 / (1 - beta))
    >>> ring = PowerDenominators(F, [x.den])
    >>> y = ring.lift(x)
    >>> (y.e, F.to_sympy(ring.lower(y * y + y)))  # 1/(1−β)² + 1/(1−β)
    (1, (2 - beta)/(beta**2 - 2*beta + 1))
    """

    def __init__(self, field: RationalFunctionField, denominators) -> None:
        self.field = field
        one = field._one_poly
        factors: dict[str, object] = {}
        seen: set[str] = set()
        for den in denominators:
            if den.is_constant():
                continue
            key = str(den)
            if key in seen:
                continue
            seen.add(key)
            for q, _ in den.factor()[1]:
                q = q / q.leading_coefficient()
                factors[str(q)] = q
        D = one
        for q in factors.values():
            D = D * q
        self.D = D
        self.degree = D.total_degree()
        self._pows = [one, D]
        self._cofactors: dict[str, tuple[int, object]] = {}
        self.zero = PD(self, field._zero_poly, 0)
        self.one = PD(self, one, 0)

    def power(self, k: int):
        """D^k."""
        pows = self._pows
        while len(pows) <= k:
            pows.append(pows[-1] * self.D)
        return pows[k]

    def convert(self, x) -> PD:
        """A constant (int, Fraction, fmpq) or an ``RF`` as an element."""
        if isinstance(x, PD):
            return x
        if isinstance(x, RF):
            return self.lift(x)
        return self.lift(self.field.convert(x))

    def lift(self, x: RF) -> PD:
        """x = num/den as num·(D^e/den)/D^e; ``NotCovered`` if den does not divide a power of D."""
        den = x.den
        if den.is_one():
            return PD(self, x.num, 0)
        key = str(den)
        hit = self._cofactors.get(key)
        if hit is None:
            hit = self._cofactor(den)
            self._cofactors[key] = hit
        e, cof = hit
        return PD(self, x.num * cof, e)

    def _cofactor(self, den) -> tuple[int, object]:
        if den.is_constant():
            return 0, self.field._one_poly / den.leading_coefficient()
        if self.degree:
            # den | D^e for some e ≤ deg den iff every irreducible factor of den divides D
            for e in range(1, den.total_degree() + 1):
                q, r = divmod(self.power(e), den)
                if r.is_zero():
                    return e, q
        raise NotCovered(f"the denominator {den} has a factor outside {self.D}")

    def strip(self, x: PD) -> PD:
        """The same value with the factors D of its numerator cancelled (smaller exponents)."""
        num, e = x.num, x.e
        if not e:
            return x
        if num.is_zero():
            return self.zero
        D = self.D
        while e:
            q, r = divmod(num, D)
            if not r.is_zero():
                break
            num, e = q, e - 1
        return x if e == x.e else PD(self, num, e)

    def lower(self, x: PD) -> RF:
        """The element of the rational function field (reduced lazily, see ``RF``)."""
        if not x.e:
            return RF(self.field, x.num, self.field._one_poly)
        return RF(self.field, x.num, self.power(x.e), False)


class PD:
    """num/D^e, an element of a ``PowerDenominators`` ring (see there)."""

    __slots__ = ("e", "num", "ring")

    def __init__(self, ring: PowerDenominators, num, e: int) -> None:
        self.ring = ring
        self.num = num
        self.e = e

    def __bool__(self) -> bool:
        return bool(self.num)

    def __neg__(self) -> PD:
        return PD(self.ring, -self.num, self.e)

    def __add__(self, o) -> PD:
        if type(o) is not PD:
            o = self.ring.convert(o)
        if not o.num:
            return self
        if not self.num:
            return o
        e1, e2 = self.e, o.e
        if e1 == e2:
            return PD(self.ring, self.num + o.num, e1)
        if e1 < e2:
            return PD(self.ring, self.num * self.ring.power(e2 - e1) + o.num, e2)
        return PD(self.ring, self.num + o.num * self.ring.power(e1 - e2), e1)

    __radd__ = __add__

    def __sub__(self, o) -> PD:
        if type(o) is not PD:
            o = self.ring.convert(o)
        return self + PD(self.ring, -o.num, o.e)

    def __rsub__(self, o) -> PD:
        return self.ring.convert(o) - self

    def __mul__(self, o) -> PD:
        if type(o) is PD:
            return PD(self.ring, self.num * o.num, self.e + o.e)
        if isinstance(o, int) and not isinstance(o, bool):
            return PD(self.ring, self.num * o, self.e)
        return self * self.ring.convert(o)

    __rmul__ = __mul__

    def __eq__(self, o) -> bool:
        if type(o) is not PD:
            try:
                o = self.ring.convert(o)
            except (TypeError, ValueError, NotCovered):
                return NotImplemented
        e1, e2 = self.e, o.e
        if e1 == e2:
            return self.num == o.num
        if e1 < e2:
            return self.num * self.ring.power(e2 - e1) == o.num
        return self.num == o.num * self.ring.power(e1 - e2)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"({self.num})/D^{self.e}"
