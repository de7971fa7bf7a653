r"""SDEs of adaptive methods (RMSProp, Adam, any smooth coordinate-wise rule) in the regime of
Malladi, Lyu, Panigrahi & Arora (NeurIPS 2022).

Regime. The learning rate is h; the sampled gradient is that of the *noisy
gradient oracle with scale parameter* (``ScaledGradientOracle``)

    g = ∇L(θ) + σ z,   E z = 0,  Cov z = Σ(θ),   σ = σ₀/h,

the averaging parameters and ε scale as 1 − β = c·h² (c > 0 fixed) and
ε = ε₀/h (ε₀ ≥ 0 fixed; Malladi et al. write σ₀ = σh, ε₀ = εh,
c₂ = (1 − β₂)/h², c₁ = (1 − β₁)/h²), and time is t = n·h² at the n-th
step. A state that tracks g² is O(σ²): it is measured in units of the noise,
u = v/σ² (``scales``: the state is σ^κ times the SDE variable, κ found from
the rule as the smallest power for which the state moves by O(h) per step
with mean O(h²)). The SDE is

    dX = b(X) dt + D(X)^{1/2} dW,   X = (θ, state…) coordinate-wise,

with no power of h in b or D (the time step h² carries it).

Derivation. The update rule runs on one generic coordinate with sympy
scalars (x = θ_i, gradient g_i = ∂_iL + (σ₀/h) z_i, states σ^κ·w_i; the rule
is coordinate-wise, so the same map acts on every coordinate); every
increment Δ is expanded in h (a Laurent series: the state and ε are O(1/h)
inside the rule) and its moments are taken over the noise with E z_i = 0,
E z_i z_j = Σ_ij and symbols for the higher moments. Matching
E φ(x₁) = φ + E Δ·∇φ + ½ E[ΔΔᵀ]:∇²φ + … with the generator series
E φ(X_{h²}) = φ + h² 𝓛φ + O(h⁴), 𝓛 = b·∇ + ½ D:∇², gives

    b = [h²] E Δ,   D = [h²] E[ΔΔᵀ] = E[ℓℓᵀ],  ℓ = [h¹] Δ,

and requires Δ = O(h) and E Δ = O(h²) (the *regime checks*: a hyperparameter
outside the regime fails one of them). The optimizer's h³ terms (E Δ, the
second and third moments) are the local weak error; they are computed
(``local_error``): for RMSProp and Adam they are proportional to the third
moments E z_i z_j z_k.

Weak order (in h, at t = n h² ≤ T): the one-step local weak error is O(h³)
and the global one O(h): order 1, the statement of Malladi et al.
(Theorems 4.2 and 4.5, with Definitions 4.1 and 4.4 of the RMSprop and Adam
SDEs). When the noise has vanishing odd moments (``symmetric=True``) and the
h³ terms vanish, the local error is O(h⁴) and the global O(h²): order 2.

For RMSProp (v ← β₂v + (1−β₂)g², θ ← θ − h g/(√v + ε)) this gives Malladi
et al.'s RMSprop SDE: with P = σ₀√u + ε₀,

    dθ = −P⁻¹∇L dt + σ₀ P⁻¹ Σ^{1/2} dW,   du = c₂(diag Σ − u) dt.

For Adam (m ← β₁m + (1−β₁)g) also dm = c₁(∇L − m) dt + σ₀c₁ Σ^{1/2} dW
(the same W) and dθ = −P⁻¹m dt; with bias correction the factors q_i = β_iⁿ
are states with dq_i = −c_i q_i dt (q_i = e^{−c_i t} = 1 − γ_i(t)), and the
drift is −(√γ₂/γ₁) m/(σ₀√u + ε₀√γ₂), Malladi et al.'s form. The local
statement holds where 1 − q_i is bounded away from 0 (the start t = 0 is
singular).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from .._inputs import as_variables, exact, no_step_symbol
from .._inputs import h as _h
from ..methods._base import Method, NoiseModel
from ..results._base import Result

__all__ = [
    "AdaptiveSDE",
    "AdaptiveSDEOnProblem",
    "ScaledGradientOracle",
    "malladi_engine",
]

#: the highest weak order (in h, t = n h²) derived in this regime
MAX_ORDER = 2
#: powers κ tried for a state's scale σ^κ
_MAX_SCALE = 4
_SIGMA0 = sp.Symbol("sigma0", positive=True)


@dataclass(frozen=True)
class ScaledGradientOracle(NoiseModel):
    """The noisy gradient oracle with scale parameter of Malladi et al. (2022).

    g = ∇L(θ) + σ z with E z = 0, Cov z = Σ(θ) and σ = σ₀/h: the noise grows
    as the learning rate h shrinks (σ₀ = σ·h fixed), the regime in which
    RMSProp and Adam follow an SDE on (θ, state) at time t = n·h². Σ stays
    symbolic until ``.on(loss, variables, covariance=Σ)``. ``symmetric=True``
    declares noise whose odd moments vanish (z and −z equally likely), which
    can raise the weak order to 2. A mini-batch of B examples has σ ∝ 1/√B:
    fold it into σ₀.

    >>> import bea
    >>> bea.ScaledGradientOracle(2).covariance_factor()
    4/h**2

    Reference: Malladi, Lyu, Panigrahi & Arora, "On the SDEs and scaling
    rules for adaptive gradient algorithms", NeurIPS 2022 (their NGOS).
    """

    sigma0: Any = _SIGMA0
    symmetric: bool = False

    def __post_init__(self) -> None:
        value = exact(self.sigma0)
        if not isinstance(value, sp.Expr) or value.has(_h):
            raise ValueError(
                f"sigma0 must be a scalar free of the step size h (σ = sigma0/h), "
                f"got {self.sigma0!r}"
            )
        if value.is_number and not value > 0:
            raise ValueError(f"sigma0 must be > 0 (the noise scale σ = sigma0/h), got {value}")
        if not isinstance(self.symmetric, bool):
            raise TypeError(f"symmetric must be True or False, got {self.symmetric!r}")

    def covariance_factor(self, n: Any = None) -> sp.Expr:
        """κ = σ² = σ₀²/h²: Cov g = σ² Σ."""
        return exact(self.sigma0) ** 2 / _h**2

    def text(self) -> str:
        sym = ", symmetric" if self.symmetric else ""
        return f"g = ∇L + (σ₀/h) z, Cov z = Σ, σ₀ = {self.sigma0}{sym}"


# ----------------------------------------------------------------------------
# symbols of one generic coordinate (i, j, k for mixed moments)
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Coordinate:
    label: str
    theta: sp.Symbol
    grad: sp.Symbol
    noise: sp.Symbol
    states: tuple[sp.Symbol, ...]


def _coordinate(label: str, names: tuple[str, ...]) -> _Coordinate:
    return _Coordinate(
        label,
        sp.Symbol(f"θ_{label}", real=True),
        sp.Symbol(f"∂_{label}L", real=True),
        sp.Symbol(f"z_{label}", real=True),
        tuple(sp.Symbol(f"{n}_{label}", real=True) for n in names),
    )


def _sigma_symbol(a: str, b: str) -> sp.Symbol:
    a, b = sorted((a, b))
    return sp.Symbol(f"Σ_{a}{b}", nonnegative=True) if a == b else sp.Symbol(f"Σ_{a}{b}", real=True)


class _Ops:
    """``ops`` for the rule on sympy scalars (the coordinate-wise functions)."""

    sqrt = staticmethod(sp.sqrt)
    abs = staticmethod(sp.Abs)
    sign = staticmethod(sp.sign)


def _laurent(expr: sp.Expr, upto: int) -> dict[int, sp.Expr]:
    """The Laurent coefficients of ``expr`` in h through h^upto (h > 0)."""
    series = sp.series(expr, _h, 0, upto + 1).removeO()
    out: dict[int, sp.Expr] = {}
    for term in sp.Add.make_args(sp.expand(series)):
        coeff, power = term.as_coeff_exponent(_h)
        if coeff.has(_h) or not power.is_integer:
            raise ValueError(
                f"the increment {expr} is not a Laurent series in h (term {term}); the rule "
                "must be smooth in the gradient (no sign, abs or fractional powers of h)"
            )
        out[int(power)] = out.get(int(power), sp.Integer(0)) + coeff
    return {p: c for p, c in out.items() if c != 0}


def _expect(expr: sp.Expr, noises: tuple[sp.Symbol, ...], symmetric: bool = False) -> sp.Expr:
    """E over z: E z_a = 0, E z_a z_b = Σ_ab, higher moments as symbols E[z_a^p …]."""
    expr = sp.expand(expr)
    if not expr.has(*noises):
        return expr
    try:
        poly = sp.Poly(expr, *noises)
    except sp.PolynomialError:
        raise ValueError(
            f"an increment is not polynomial in the sampled noise ({expr}); the rule must be "
            "smooth in the gradient"
        ) from None
    labels = [str(z)[2:] for z in noises]
    total = sp.Integer(0)
    for powers, coeff in poly.terms():
        degree = sum(powers)
        if degree == 0:
            total += coeff
        elif degree == 1 or (symmetric and degree % 2):
            continue
        elif degree == 2:
            idx = [lab for lab, p in zip(labels, powers) for _ in range(p)]
            total += coeff * _sigma_symbol(idx[0], idx[1])
        else:
            name = " ".join(
                f"z_{lab}" + (f"^{p}" if p > 1 else "") for lab, p in zip(labels, powers) if p
            )
            total += coeff * sp.Symbol(f"E[{name}]", real=True)
    return sp.expand(total)


def _latex_names(expr: sp.Expr) -> dict:
    """The internal symbols (∂_iL, Σ_ij, u_i, E[z_i^3]) renamed for LaTeX."""
    out = {}
    for s in expr.free_symbols:
        name = str(s)
        if name.startswith("∂_"):
            new = f"\\partial_{{{name[2:-1]}}} L"
        elif name.startswith("Σ_"):
            new = f"\\Sigma_{{{name[2:]}}}"
        elif name.startswith("E["):
            new = "\\mathbb{E}[" + name[2:-1].replace("^", "^{").replace(" ", "} ") + "]"
            new = new.replace("}}", "}").replace("{z", "z")
        elif "_" in name:
            base, _, lab = name.rpartition("_")
            new = f"{base}_{{{lab}}}"
        else:
            continue
        out[s] = sp.Symbol(new, **s.assumptions0)
    return out


def _tidy(expr: sp.Expr) -> sp.Expr:
    """Factored, with √s kept as one factor (s = r², factor in r, r = √s: formal identities)."""
    expr = sp.together(sp.expand(expr))
    roots = {
        e.base
        for e in expr.atoms(sp.Pow)
        if e.base.is_Symbol and e.exp.is_Rational and e.exp.q == 2
    }
    back = {}
    for base in roots:
        r = sp.Dummy(f"r_{base}", positive=True)
        expr = expr.xreplace({base: r**2})
        back[r] = sp.sqrt(base)
    return sp.factor(expr).xreplace(back)


# ----------------------------------------------------------------------------
# the result
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AdaptiveSDEOnProblem:
    """The adaptive SDE on a concrete problem: dX = drift dt + diffusion^{1/2} dW, t = n h².

    ``variables`` are the parameters followed by the state variables (one
    per parameter and state, named ``u_x`` …); ``drift`` is a column
    Matrix, ``diffusion`` a symmetric Matrix, both free of h.
    ``generator`` is 𝓛φ = b·∇φ + ½ D:∇²φ and ``expectation`` the series
    E φ(X_{h²}) = Σ_k h^{2k} 𝓛^k φ / k!.

    >>> import bea, sympy as sp
    >>> c, x = sp.Symbol("c", positive=True), sp.Symbol("x")
    >>> opt = bea.optimizers.rmsprop(beta2=1 - c * bea.h**2, eps=0)
    >>> sde = bea.stochastic_modified_equation(bea.with_noise(opt, bea.ScaledGradientOracle(1)))
    >>> on = sde.on(x**2 / 2, [x], covariance=sp.Matrix([[1]]))
    >>> on.drift.T, on.diffusion[0, 0]
    (Matrix([[-x/sqrt(u_x), -c*(u_x - 1)]]), 1/u_x)
    """

    drift: sp.Matrix
    diffusion: sp.Matrix
    variables: tuple[sp.Symbol, ...]
    parameters: tuple[sp.Symbol, ...]
    states: tuple[tuple[sp.Symbol, ...], ...]
    h: sp.Symbol
    order: int

    def generator(self, phi: sp.Expr) -> sp.Expr:
        """𝓛φ = b·∇φ + ½ Σ_ab D_ab ∂_a∂_b φ."""
        xs = self.variables
        first = sum((self.drift[a] * sp.diff(phi, x) for a, x in enumerate(xs)), sp.Integer(0))
        second = sum(
            (
                self.diffusion[a, b] * sp.diff(phi, xa, xb)
                for a, xa in enumerate(xs)
                for b, xb in enumerate(xs)
                if self.diffusion[a, b] != 0
            ),
            sp.Integer(0),
        )
        return first + second / 2

    def expectation(self, phi: sp.Expr, order: int | None = None) -> sp.Expr:
        """E φ(X_{h²}) = Σ_k h^{2k} 𝓛^k φ/k!, through h^order (default 2·``self.order``)."""
        order = 2 * self.order if order is None else order
        term = total = sp.sympify(phi, strict=True)
        for k in range(1, order // 2 + 1):
            term = sp.expand(self.generator(term))
            total += self.h ** (2 * k) * term / sp.factorial(k)
        return total


class AdaptiveSDE(Result):
    r"""The SDE of an adaptive method in the regime of Malladi et al. (2022), on (θ, state).

    Regime: learning rate h, gradient noise g = ∇L + (σ₀/h) z (Cov z = Σ),
    1 − β = c·h², ε = ε₀/h, time t = n·h²; states tracking g² are measured
    in units of σ² (``scales``). The SDE dX = b dt + D^{1/2} dW acts
    coordinate-wise on X = (θ, state…); ``drift[name]`` is b for one
    coordinate i and ``diffusion[(a, b)]`` the covariance rate of a_i and
    b_j (i ≠ j; ``diffusion_diagonal`` for i = j), written with ∂_iL, Σ_ij
    and the state symbols.

    Weak order p = ``order`` in h: the local weak error is O(h^{2p+1})
    (h³ in general, ``local_error`` lists the optimizer's h³ terms) and the
    global weak error at a fixed horizon T is O(h^p).

    >>> import bea, sympy as sp
    >>> c, e0 = sp.symbols("c epsilon0", positive=True)
    >>> opt = bea.optimizers.rmsprop(beta2=1 - c * bea.h**2, eps=e0 / bea.h)
    >>> sde = bea.stochastic_modified_equation(
    ...     bea.with_noise(opt, bea.ScaledGradientOracle(1)), order=1)
    >>> sde.drift["u"]
    -c*(u_i - Σ_ii)
    >>> sde.drift["θ"]
    -∂_iL/(epsilon0 + sqrt(u_i))

    Reference: Malladi, Lyu, Panigrahi & Arora, NeurIPS 2022, Definitions 4.1
    and 4.4, Theorems 4.2 and 4.5.
    """

    def __init__(
        self,
        method: Method,
        order: int,
        names: tuple[str, ...],
        scales: dict[str, int],
        drift: dict[str, sp.Expr],
        diffusion: dict[tuple[str, str], sp.Expr],
        diffusion_diagonal: dict[tuple[str, str], sp.Expr],
        local_error: dict[str, sp.Expr],
        local_order: int,
        regime: str,
    ) -> None:
        self.method = method
        self.order = order
        self.noise: ScaledGradientOracle = method.kind.noise  # type: ignore[assignment]
        #: "θ" and the state names, in the order of ``.on(...).variables``
        self.names = names
        #: κ with (rule's state) = σ^κ · (SDE variable), σ = σ₀/h
        self.scales = dict(scales)
        self.drift = dict(drift)
        self.diffusion = dict(diffusion)
        self.diffusion_diagonal = dict(diffusion_diagonal)
        #: the optimizer's h³ terms (nonzero ones), keyed like "E Δθ" or "E Δθ_i Δu_j"
        self.local_error = dict(local_error)
        #: the one-step weak error is O(h^local_order)
        self.local_order = local_order
        self.regime = regime

    def terms(self, k: int | None = None) -> list[tuple[Any, Any]]:
        """(("drift", a) or ("diffusion", (a, b)), coefficient); all are h⁰ terms."""
        if k not in (None, 0):
            return []
        out: list[tuple[Any, Any]] = [(("drift", a), e) for a, e in self.drift.items() if e != 0]
        out += [(("diffusion", ab), e) for ab, e in self.diffusion.items() if e != 0]
        return out

    # -- printing ------------------------------------------------------------
    def _lines(self, latex: bool) -> list[str]:
        def show(e: sp.Expr) -> str:
            return sp.latex(e.xreplace(_latex_names(e))) if latex else str(e)

        def sub(*names: str) -> str:
            if not latex:
                return "".join(names)
            return "{" + "".join("\\theta" if a == "θ" else a for a in names) + "}"

        lines = []
        for a in self.names:
            lines.append(f"b_{sub(a)} = {show(self.drift[a])}")
        for (a, b), e in self.diffusion.items():
            if e != 0:
                lines.append(f"D_{sub(a, b)} = {show(e)}")
        return lines

    def text(self) -> str:
        """The SDE: regime, drift and nonzero diffusion blocks, weak order."""
        state = ", ".join(
            f"{n} = s/σ^{self.scales[n]}" if self.scales[n] else n for n in self.names[1:]
        )
        head = [
            f"dX = b dt + D^(1/2) dW on X = (θ, {state}) coordinate-wise, t = n·h² "
            f"(weak order {self.order} in h; local error O(h^{self.local_order}))",
            "coordinate i (D_ab: the rate of Cov(a_i, b_j), i ≠ j; i = j: diffusion_diagonal)",
        ]
        return "\n".join(head + self._lines(False) + [f"regime: {self.regime}"])

    def latex(self) -> str:
        """The drift and diffusion entries, one per line (aligned)."""
        return " \\\\ ".join(self._lines(True))

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return (
            f"<AdaptiveSDE of {self._method_name()} on {self.names}, weak order {self.order} "
            f"(t = n h²)>"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: method, order, regime, drift and diffusion entries, local error, text."""
        return {
            "method": self._method_name(),
            "order": self.order,
            "noise": self.noise.text(),
            "normalisation": (
                "dX = b dt + D^(1/2) dW, t = n h^2; weak order p: local error O(h^(2p+1)), "
                "global O(h^p); coordinate i, D_ab the rate of Cov(a_i, b_j)"
            ),
            "variables": list(self.names),
            "scales": dict(self.scales),
            "terms": [
                {"part": part, "of": list(key) if isinstance(key, tuple) else key, "value": str(e)}
                for (part, key), e in self.terms()
            ],
            "local_error": {k: str(v) for k, v in self.local_error.items()},
            "local_order": self.local_order,
            "regime": self.regime,
            "text": self.text(),
        }

    # -- concrete problems -------------------------------------------------------
    def on(
        self,
        loss: Any,
        variables: Any,
        h: Any = None,
        covariance: sp.Matrix | None = None,
    ) -> AdaptiveSDEOnProblem:
        """The SDE on a concrete loss L(θ) with the oracle covariance Σ(θ) (d×d, PSD).

        State variables are created per parameter: ``u_x`` for the state u of
        the parameter x, and so on.
        """
        from ._sme import check_diffusion

        step = _h if h is None else h
        no_step_symbol(variables, step)
        xs = as_variables(variables, step)
        if isinstance(loss, (list, tuple)):
            raise ValueError(
                "the scaled oracle samples g = ∇L + σz: pass one loss L, not a list of examples"
            )
        if covariance is None:
            raise ValueError(
                "give the oracle's covariance Σ(θ) as covariance=sympy.Matrix(...) (d×d, "
                "symmetric positive semi-definite)"
            )
        L = exact(loss)
        sigma = check_diffusion(covariance, xs)
        d = len(xs)
        states = tuple(tuple(sp.Symbol(f"{n}_{x}", real=True) for x in xs) for n in self.names[1:])
        grads = [sp.diff(L, x) for x in xs]
        ci, cj = _coordinate("i", self.names[1:]), _coordinate("j", self.names[1:])

        def subs(c: _Coordinate, r: int) -> dict:
            out = {c.grad: grads[r], _sigma_symbol(c.label, c.label): sigma[r, r]}
            out.update({s: states[k][r] for k, s in enumerate(c.states)})
            return out

        drift = [self.drift[n].xreplace(subs(ci, r)) for n in self.names for r in range(d)]
        size = len(self.names) * d
        diffusion = sp.zeros(size, size)
        for (a, b), e in self.diffusion.items():
            ia, ib = self.names.index(a), self.names.index(b)
            for r in range(d):
                for s in range(d):
                    if r == s:
                        value = self.diffusion_diagonal[(a, b)].xreplace(subs(ci, r))
                    else:
                        rep = subs(ci, r) | subs(cj, s) | {_sigma_symbol("i", "j"): sigma[r, s]}
                        value = e.xreplace(rep)
                    diffusion[ia * d + r, ib * d + s] = value
        flat = tuple(xs) + tuple(v for group in states for v in group)
        return AdaptiveSDEOnProblem(
            sp.Matrix(drift), diffusion, flat, tuple(xs), states, step, self.order
        )


# ----------------------------------------------------------------------------
# the derivation
# ----------------------------------------------------------------------------


@dataclass
class _Run:
    program: Any
    hyper: dict
    names: tuple[str, ...]
    noise: ScaledGradientOracle
    scales: list[int] = field(default_factory=list)

    def increments(self, c: _Coordinate) -> list[sp.Expr]:
        """Δθ and Δw_k of one step at coordinate c (the rule on sympy scalars)."""
        sigma = exact(self.noise.sigma0) / _h
        g = c.grad + sigma * c.noise
        x = c.theta

        def grad(y: Any) -> sp.Expr:
            if sp.expand(y - x) != 0:
                raise ValueError(
                    f"{self.program.name} evaluates the gradient away from the current point "
                    f"(at {y}); the adaptive SDE is derived for rules that sample one gradient "
                    "at the current parameters per step (RMSProp, Adam, heavy ball)"
                )
            return g

        def step(y: Any, k: int = 0) -> sp.Expr:
            if k != 0:
                raise ValueError("the adaptive SDE is derived for one loss: step(y)")
            return -_h * grad(y)

        extras = {"grad": grad, "ops": _Ops, "h": _h}
        extras = {k: v for k, v in extras.items() if k in self.program.extras}
        state = tuple(sigma**kappa * w for kappa, w in zip(self.scales, c.states))
        try:
            out = self.program.rule(x, state, step, **extras, **self.hyper)
        except (AttributeError, TypeError) as err:
            raise ValueError(
                f"{self.program.name}'s rule does not run on one scalar coordinate ({err}); the "
                "adaptive SDE is derived for coordinate-wise rules (RMSProp, Adam) and B-series "
                "rules"
            ) from None
        if not (isinstance(out, tuple) and len(out) == 2):
            out = (out, ())
        new_x, new_state = out[0], tuple(out[1])
        if len(new_state) != len(state):
            raise ValueError(
                f"{self.program.name}'s rule returned {len(new_state)} states for "
                f"{len(state)} given"
            )
        deltas = [sp.sympify(new_x, strict=True) - x]
        deltas += [
            sp.sympify(s, strict=True) / sigma**kappa - w
            for s, kappa, w in zip(new_state, self.scales, c.states)
        ]
        return deltas


def _moves_slowly(series: dict[int, sp.Expr], noises: tuple[sp.Symbol, ...], sym: bool) -> bool:
    """Δ = O(h) pathwise and E Δ = O(h²)."""
    if any(p <= 0 for p in series):
        return False
    return _expect(series.get(1, sp.Integer(0)), noises, sym) == 0


def _catalog_checks(method: Method) -> None:
    """The hyperparameters of the catalog's RMSProp/Adam (beta*, eps) in the regime."""
    for name, value in method.hyperparameters.items():
        if name.startswith("beta"):
            c = sp.cancel((1 - exact(value)) / _h**2)
            if c.has(_h) or c == 0 or (c.is_number and not c > 0):
                raise ValueError(
                    f"{name} = {value} is not in the SDE regime of Malladi et al.: it needs "
                    f"1 − {name} = c·h² with c > 0 independent of h. Pass {name}=1 - c*bea.h**2 "
                    "(c = sympy.Symbol('c', positive=True)); a fixed β is the deterministic "
                    "regime of bea.modified_equation"
                )
        elif name == "eps":
            e0 = sp.cancel(exact(value) * _h)
            if e0.has(_h):
                raise ValueError(
                    f"eps = {value} is not in the SDE regime of Malladi et al.: it needs "
                    "eps = eps0/h (ε₀ = ε·h fixed); pass eps=eps0/bea.h, or eps=0"
                )
        elif name == "eps_inside" and value:
            raise ValueError(
                "eps_inside=True (√(v + ε)) is not the form analysed by Malladi et al.; use "
                "eps_inside=False (√v + ε)"
            )


def _default_names(method: Method, k: int) -> tuple[str, ...]:
    program = method.program()
    paper = {
        ("rmsprop", 1): ("u",),
        ("adam", 2): ("m", "u"),
        ("adam", 4): ("m", "u", "q1", "q2"),
    }
    return paper.get((program.name, k), tuple(f"s{r + 1}" for r in range(k)))


def malladi_engine(method: Method, order: int) -> AdaptiveSDE:
    """Derive the SDE of ``method`` in the regime of Malladi et al. (module docstring)."""
    noise = method.kind.noise
    if not isinstance(noise, ScaledGradientOracle):
        raise TypeError(f"the adaptive SDE needs a bea.ScaledGradientOracle noise, got {noise!r}")
    if method.kind.losses != 1 or method.kind.steps != 1:
        raise ValueError(
            f"{method!r} makes {method.kind.steps} steps along {method.kind.losses} losses per "
            "call; the adaptive SDE is derived for one step along one sampled gradient"
        )
    if order < 1:
        raise ValueError(f"an SDE approximation has weak order >= 1, got order={order}")
    if order > MAX_ORDER:
        raise ValueError(
            f"order {order} is not reached: in the regime of Malladi et al. (t = n h²) bea "
            "derives weak order 1 (and 2 for symmetric noise whose h³ terms vanish)"
        )
    _catalog_checks(method)
    program = method.program()
    hyper = {
        k: v if isinstance(v, (int, str, bool)) or v is None else exact(v)
        for k, v in program.hyperparameters.items()
    }
    k = len(tuple(program.init(sp.Symbol("θ_i", real=True))))
    names = _default_names(method, k)
    run = _Run(program, hyper, names, noise, [0] * k)
    ci = _coordinate("i", names)
    sym = noise.symmetric

    # the scale σ^κ of each state: the smallest κ with Δw = O(h), E Δw = O(h²)
    for _sweep in range(k + 1):
        changed = False
        for r in range(k):
            before = run.scales[r]
            for kappa in range(before, _MAX_SCALE + 1):
                run.scales[r] = kappa
                series = _laurent(run.increments(ci)[1 + r], 1)
                if _moves_slowly(series, (ci.noise,), sym):
                    break
            else:
                raise ValueError(
                    f"the state {names[r]} of {method!r} is not slow in the regime of Malladi "
                    f"et al. at any scale σ^κ (κ ≤ {_MAX_SCALE}): one step moves it by O(1), or "
                    "by a mean of order h, so the rule has no SDE in this regime (for RMSProp "
                    "and Adam: 1 − β = c·h², ε = ε0/h)"
                )
            changed = changed or kappa != before
        if not changed:
            break
    coords = [_coordinate(lab, names) for lab in ("i", "j", "k")]
    # one coordinate's expansion; the others are the same map with their own symbols
    first = [_laurent(d, 3) for d in run.increments(coords[0])]
    series_by = [first]
    for other in coords[1:]:
        rename = {
            coords[0].grad: other.grad,
            coords[0].noise: other.noise,
            coords[0].theta: other.theta,
            **dict(zip(coords[0].states, other.states)),
        }
        series_by.append([{p: e.xreplace(rename) for p, e in d.items()} for d in first])
    all_names = ("θ", *names)
    theta_series = series_by[0][0]
    if not _moves_slowly(theta_series, (ci.noise,), sym):
        lead = min(theta_series)
        raise ValueError(
            f"{method!r}: one step moves θ by {theta_series[lead]}·h^{lead} + …, not O(h) "
            "with mean O(h²) (z is the sampled noise): not in the SDE regime of Malladi et al. "
            "(σ = σ0/h, 1 − β = c·h², ε = ε0/h, t = n·h²)"
        )

    def coeff(c: int, a: int, p: int) -> sp.Expr:
        return series_by[c][a].get(p, sp.Integer(0))

    zi, zj, zk = (c.noise for c in coords)
    drift = {n: _tidy(_expect(coeff(0, a, 2), (zi,), sym)) for a, n in enumerate(all_names)}
    diffusion: dict[tuple[str, str], sp.Expr] = {}
    diagonal: dict[tuple[str, str], sp.Expr] = {}
    for a, b in itertools.combinations_with_replacement(range(len(all_names)), 2):
        cross = _expect(coeff(0, a, 1) * coeff(1, b, 1), (zi, zj), sym)
        same = _expect(coeff(0, a, 1) * coeff(0, b, 1), (zi,), sym)
        for value in (cross, same):
            extra = [s for s in value.free_symbols if str(s).startswith("E[")]
            if extra:
                raise ValueError(
                    f"the leading noise of Δ{all_names[a]}, Δ{all_names[b]} is not linear in the "
                    f"sampled noise (its covariance needs {extra}); not supported"
                )
        key = (all_names[a], all_names[b])
        diffusion[key] = _tidy(cross)
        diagonal[key] = _tidy(same)
        if a != b:
            diffusion[key[::-1]] = _tidy(_expect(coeff(0, b, 1) * coeff(1, a, 1), (zi, zj), sym))
            diagonal[key[::-1]] = diagonal[key]

    # the optimizer's h³ terms: E Δ, second and third moments (one, two, three coordinates)
    local: dict[str, sp.Expr] = {}
    n_var = len(all_names)

    def record(label: str, value: sp.Expr) -> None:
        value = _tidy(value)
        if value != 0:
            local[label] = value

    for a in range(n_var):
        record(f"E Δ{all_names[a]}", _expect(coeff(0, a, 3), (zi,), sym))
    for a, b in itertools.product(range(n_var), repeat=2):
        if a <= b:
            two = coeff(0, a, 1) * coeff(0, b, 2) + coeff(0, a, 2) * coeff(0, b, 1)
            record(f"E Δ{all_names[a]}_i Δ{all_names[b]}_i", _expect(two, (zi,), sym))
        two = coeff(0, a, 1) * coeff(1, b, 2) + coeff(0, a, 2) * coeff(1, b, 1)
        record(f"E Δ{all_names[a]}_i Δ{all_names[b]}_j", _expect(two, (zi, zj), sym))
    for a, b, c in itertools.product(range(n_var), repeat=3):
        triples = {
            "i i i": (a <= b <= c, coeff(0, a, 1) * coeff(0, b, 1) * coeff(0, c, 1)),
            "i i j": (a <= b, coeff(0, a, 1) * coeff(0, b, 1) * coeff(1, c, 1)),
            "i j k": (True, coeff(0, a, 1) * coeff(1, b, 1) * coeff(2, c, 1)),
        }
        for idx, (keep, value) in triples.items():
            if not keep:
                continue
            li, lj, lk = idx.split()
            label = f"E Δ{all_names[a]}_{li} Δ{all_names[b]}_{lj} Δ{all_names[c]}_{lk}"
            record(label, _expect(value, (zi, zj, zk), sym))
    local_order = 4 if not local else 3
    if order == 2 and local_order < 4:
        hint = (
            ""
            if sym
            else " (declare noise with vanishing odd moments by "
            "bea.ScaledGradientOracle(sigma0, symmetric=True) if yours has them)"
        )
        raise ValueError(
            f"order 2 is not reached for {method!r}: the optimizer's h³ terms "
            f"{sorted(local)} do not vanish, so the local weak error is O(h³) and the global "
            f"one O(h){hint}; use order=1, Malladi et al.'s statement"
        )
    regime = _regime_text(method, noise, names, run.scales)
    return AdaptiveSDE(
        method,
        order,
        all_names,
        {"θ": 0, **dict(zip(names, run.scales))},
        drift,
        diffusion,
        diagonal,
        local,
        local_order,
        regime,
    )


def _regime_text(
    method: Method, noise: ScaledGradientOracle, names: tuple[str, ...], scales: list[int]
) -> str:
    parts = [f"σ = σ₀/h with σ₀ = {noise.sigma0}", "t = n·h²"]
    for name, value in method.hyperparameters.items():
        if name.startswith("beta"):
            parts.append(f"1 − {name} = ({sp.cancel((1 - exact(value)) / _h**2)})·h²")
        elif name == "eps":
            parts.append(f"eps = ({sp.cancel(exact(value) * _h)})/h")
    for n, kappa in zip(names, scales):
        if kappa:
            parts.append(f"{n} = (rule's state)/σ^{kappa}")
    if noise.symmetric:
        parts.append("noise with vanishing odd moments")
    return "Malladi et al. (2022): " + "; ".join(parts)
