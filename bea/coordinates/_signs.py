"""The sign of a gradient coordinate as a self-describing sympy function σ(u).

Coordinate-wise optimizers (sign descent, RMSProp, Adam, Lion) are analysed
where no coordinate of ∇L vanishes, so sign(∂_rL) is locally constant. It is
written ``Sign(u)``, printed σ(u), with the rules of that regime built in:

* σ(u)² = 1 (every even power is 1, every odd power is σ(u)): always reduced;
* dσ(u)/dx = 0 (locally constant);
* σ(c·u) = sign(c)·σ(u) for a rational c (u is kept whole: σ(x³ + 1), not
  σ(x + 1)σ(x² − x + 1), so that one sign has one name);
* σ(u) is ±1 once u is a number: a field containing σ's is evaluated at a
  point with ``.subs`` (no side table of symbols is needed), and it prints
  as ``sign`` for ``lambdify`` (NumPy, JAX, mpmath).

>>> import sympy
>>> x = sympy.Symbol("x")
>>> s = Sign(2 * x**3 + 2)
>>> s, s**2, s.diff(x), s.subs(x, -3)
(σ(x**3 + 1), 1, 0, -1)
"""

from __future__ import annotations

import sympy
from sympy import S

__all__ = ["Sign", "exact_sqrt", "sign_atoms", "sign_normal"]


class Sign(sympy.sign):
    """σ(u) = sign(u) for u ≠ 0, locally constant, σ² = 1 (see the module docstring)."""

    @classmethod
    def eval(cls, arg):
        if arg.is_Number:
            if arg == 0:
                raise ValueError(
                    "σ(u) is the sign of a non-vanishing gradient coordinate; it was evaluated "
                    "where u = 0 (the coordinate-wise analysis needs ∂_rL ≠ 0 at the point)"
                )
            return S.One if arg > 0 else S.NegativeOne
        if arg.is_number:
            value = arg.evalf(30)
            if value.is_Number and value != 0:
                return S.One if value > 0 else S.NegativeOne
        if arg.is_Mul:
            c, rest = arg.as_coeff_Mul()
            if c.is_Rational and c != 1:
                return (S.One if c > 0 else S.NegativeOne) * cls(rest)
            # positive factors drop out, sign factors come out: σ(σ(u)·a) = σ(u) for a > 0
            known = [f for f in arg.args if f.is_positive or isinstance(f, Sign)]
            if known:
                rest = sympy.Mul(*[f for f in arg.args if f not in known])
                signs = sympy.Mul(*[f for f in known if isinstance(f, Sign)])
                return signs * (cls(rest) if rest != 1 else S.One)
        if arg.is_Pow and arg.exp.is_Integer:
            return cls(arg.base) ** arg.exp
        if arg.is_Add:
            _, prim = arg.as_content_primitive()
            if prim != arg:
                return cls(prim)
            if arg.could_extract_minus_sign():
                return -cls(-arg)
        return None

    def _eval_power(self, exponent):
        if exponent.is_Integer:
            return S.One if exponent.is_even else self
        return None

    def _eval_derivative(self, x):
        return S.Zero

    def _eval_is_zero(self):
        return False

    def _eval_Abs(self):
        return S.One

    def _eval_subs(self, old, new):
        return None

    def _sympystr(self, printer):
        return f"σ({printer._print(self.args[0])})"

    def _as_sign(self, printer):
        return printer._print(sympy.sign(self.args[0], evaluate=False))

    _pythoncode = _numpycode = _jaxcode = _mpmathcode = _lambdacode = _as_sign

    def _latex(self, printer):
        return r"\sigma\left(" + printer._print(self.args[0]) + r"\right)"


def sign_atoms(expr) -> list:
    """The σ(u) occurring in ``expr`` (a sympy expression or Matrix), sorted by string."""
    return sorted(sympy.sympify(expr, strict=True).atoms(Sign), key=str)


def exact_sqrt(value):
    """√value written with σ when value is c·w² for a rational c > 0 (else sympy's sqrt).

    Factors over ℚ (``sympy.factor_list``): if every factor has an even
    multiplicity, √(c·∏ p_i^{2k_i}) = √c · σ(w)·w with w = ∏ p_i^{k_i}; so
    √(x³ + 1)² = σ(x³ + 1)(x³ + 1) is recognised also when x³ + 1 factors.

    >>> import sympy
    >>> x = sympy.Symbol("x")
    >>> exact_sqrt(4 * (x**3 + 1) ** 2)
    2*(x**3 + 1)*σ(x**3 + 1)
    """
    value = sympy.sympify(value, strict=True)
    if not value.free_symbols:
        return sympy.sqrt(value)
    num, den = sympy.fraction(sympy.cancel(sympy.together(value)))
    roots = []
    for part in (num, den):
        try:
            c, factors = sympy.factor_list(part)
        except sympy.PolynomialError:
            return sympy.sqrt(value)
        if not (c.is_Rational and c > 0) or any(m % 2 for _, m in factors):
            return sympy.sqrt(value)
        w = sympy.Mul(*[p ** (m // 2) for p, m in factors])
        w = sympy.expand(w) if w.free_symbols else w
        roots.append(sympy.sqrt(c) * (Sign(w) * w if w.free_symbols else w))
    return roots[0] / roots[1]


def sign_normal(expr):
    """``expr`` as Σ_S c_S ∏_{σ∈S} σ, multilinear in its signs, each c_S in lowest terms.

    A rational function of signs σ = ±1 has one such form; its coefficients are
    found by interpolation over the 2^k sign patterns, c_S = 2^{−k} Σ_ε f(ε) ∏_{i∈S} ε_i,
    so denominators are free of σ (1/(σ(u)·u) becomes σ(u)/u).

    >>> import sympy
    >>> x = sympy.Symbol("x")
    >>> sign_normal(1 / (Sign(x) * x + 1))
    x*σ(x)/(x**2 - 1) - 1/(x**2 - 1)
    """
    import itertools

    expr = sympy.sympify(expr, strict=True)
    signs = sign_atoms(expr)
    if not signs:
        return sympy.cancel(sympy.together(expr))
    k = len(signs)
    patterns = list(itertools.product((1, -1), repeat=k))
    values = {e: sympy.together(expr.xreplace(dict(zip(signs, e)))) for e in patterns}
    out = S.Zero
    for size in range(k + 1):
        for subset in itertools.combinations(range(k), size):
            c = (
                sympy.Add(*[values[e] * sympy.Mul(*[e[i] for i in subset]) for e in patterns])
                / 2**k
            )
            c = sympy.cancel(sympy.together(c))
            if c != 0:
                out += c * sympy.Mul(*[signs[i] for i in subset])
    return out
