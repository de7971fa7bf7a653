r"""Stochastic modified equations (SME): the SDE a stochastic optimizer follows in the weak sense.

A stochastic method (``kind.noise`` set, see ``bea.methods._noise``) makes
per call the step of a deterministic B-series method along one sampled loss
L_γ: for a fixed sample, one call is x ↦ B(a, f_γ)(x) with f_γ = −∇L_γ and
the normalisation B(a, y) = a(∅) y + Σ_t h^{|t|} a(t)/σ(t) F(t)(y). The SME is

    dX = b(X) dt + √(h D(X)) dW,    b = b₀ + h b₁ + …,

with time t = n·h at the n-th iterate. *Weak order p*: for smooth test
functions φ (with polynomially bounded derivatives) the one-step local weak
error |E φ(x₁) − E φ(X_h)| is O(h^{p+1}) and the global weak error at a
fixed horizon T, |E φ(x_{T/h}) − E φ(X_T)|, is O(h^p).

Derivation (moment matching of the generator series). The SDE's generator
is 𝓛 = b·∇ + (h/2) D:∇², and E φ(X_h) = Σ_k h^k 𝓛^k φ / k!. With
x₁ − x = h Δ₁ + h² Δ₂ + …, matching E φ(x₁) through h^p gives

* order 1: b₀ = E Δ₁ = a(•)·(−∇L);
* order 2: D = Cov Δ₁ = a(•)² Σ_B and b₁ = E Δ₂ − ½ (∇b₀) b₀. With
  E[f_γ' f_γ] = E[∇²L_γ ∇L_γ] = ½ ∇E‖∇L_γ‖² = ∇²L∇L + ½ ∇ tr Σ_B this is

      b = −ω(•) ∇L + h ω([•]) ∇²L∇L + h a([•])/2 ∇ tr Σ_B,
        = −∇[ω(•) L − h ω([•])/2 ‖∇L‖² − h a([•])/2 tr Σ_B],

  ω = log a the modified-equation coefficients (ω(•) = a(•),
  ω([•]) = a([•]) − a(•)²/2) and Σ_B = κ Σ the covariance of the sampled
  gradient (``NoiseModel.covariance_factor``).

For SGD (a = δ_•) this is the order-2 SME of Li, Tai & E (ICML 2017; JMLR 2019):
b = −∇(L + h/4 ‖∇L‖²), D = Σ_B. For USAM (ascent radius c·h, same batch)
the tr Σ_B term is −(c h/2)∇ tr Σ_B: the drift descends
L + h(c/2 + 1/4)‖∇L‖² + (c h/2) tr Σ_B (the c-terms are those of the USAM SDE of
Compagnoni et al. 2023).

Methods with memory (heavy ball, Nesterov, …) at fixed hyperparameters
(|β| < 1): the state is a fast variable, so the SDE is on the parameters
alone. Each call must evaluate one gradient (one sample per call); the noise
then enters through the total response a(•) of the underlying one-step
method, D = a(•)² Σ_B (Σ_B/(1 − β)² for heavy ball), and the drift through
h¹ is the deterministic modified field ω(•)f + h ω([•]) f'f: for heavy ball
the averaged iterate x̃ = (x − β x_prev)/(1 − β) is a one-step method
x̃⁺ = x̃ − h/(1−β) ∇L_γ(x − …) to this order, whose correlations with the
past noise enter only at O(h²) globally. Weak order 2 holds globally for the
iterates started on the deterministic invariant manifold (state = S(x₀),
the underlying state maps); the local statement is the one of x̃.

Order 3 and beyond: the optimizer's third cumulant is −h³ E[(g − ∇L)^{⊗3}],
which no SDE driven by a Brownian motion matches unless the noise has no
skewness; bea stops at order 2 with a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import sympy as sp

from .._inputs import as_variables, exact, no_step_symbol
from .._inputs import h as _default_h
from ..bseries._series import BSeries
from ..methods._base import Engine, Method
from ..methods._noise import Minibatch, NoiseModel
from ..results._base import Result
from ..results._equation import tree_modified_equation
from ..results._render import render_latex, render_text

__all__ = [
    "SDEOnProblem",
    "SMETerm",
    "StochasticModifiedEquation",
    "check_diffusion",
    "sme_engine",
]

#: the highest weak order derived (see the module docstring for why not 3)
MAX_ORDER = 2

_TEXT = {
    "L": "L",
    "grad": "∇L",
    "gradnorm": "‖∇L‖²",
    "grad_gradnorm": "∇‖∇L‖²",
    "trace": "tr Σ",
    "grad_trace": "∇tr Σ",
    "sigma": "Σ",
}
_LATEX = {
    "L": "L",
    "grad": "\\nabla L",
    "gradnorm": "\\lVert \\nabla L \\rVert^{2}",
    "grad_gradnorm": "\\nabla \\lVert \\nabla L \\rVert^{2}",
    "trace": "\\operatorname{tr} \\Sigma",
    "grad_trace": "\\nabla \\operatorname{tr} \\Sigma",
    "sigma": "\\Sigma",
}


class SMETerm(NamedTuple):
    """One term of an SME: ``part`` ('drift', 'potential' or 'diffusion'), power of h, tensor."""

    part: str
    power: int
    tensor: str

    def __str__(self) -> str:
        return f"{self.part}: h^{self.power} {_TEXT[self.tensor]}"


@dataclass(frozen=True)
class SDEOnProblem:
    """The SME on a concrete problem: ``drift`` (column Matrix in h), ``diffusion`` (symmetric).

    The SDE is dX = drift dt + √(h·diffusion) dW in ``variables``; ``h`` is
    the step symbol. ``generator`` is 𝓛φ = b·∇φ + (h/2) D:∇²φ and
    ``expectation`` the generator series Σ_k h^k 𝓛^k φ/k! = E φ(X_h).
    """

    drift: sp.Matrix
    diffusion: sp.Matrix
    variables: tuple[sp.Symbol, ...]
    h: sp.Symbol
    order: int

    def generator(self, phi: sp.Expr) -> sp.Expr:
        """𝓛φ = b·∇φ + (h/2) Σ_ij D_ij ∂_i∂_j φ."""
        xs = self.variables
        out = sum((self.drift[i] * sp.diff(phi, x) for i, x in enumerate(xs)), sp.Integer(0))
        second = sum(
            (
                self.diffusion[i, j] * sp.diff(phi, xi, xj)
                for i, xi in enumerate(xs)
                for j, xj in enumerate(xs)
            ),
            sp.Integer(0),
        )
        return sp.expand(out + self.h / 2 * second)

    def expectation(self, phi: sp.Expr, order: int | None = None) -> sp.Expr:
        """E φ(X_h) = Σ_{k} h^k 𝓛^k φ / k!, truncated after h^order (default ``self.order``)."""
        order = self.order if order is None else order
        term, total = sp.sympify(phi, strict=True), sp.sympify(phi, strict=True)
        for k in range(1, order + 1):
            term = self.generator(term)
            total += self.h**k * term / sp.factorial(k)
        return _truncate(sp.expand(total), self.h, order)


def _truncate(expr: sp.Expr, h: sp.Symbol, order: int) -> sp.Expr:
    poly = sp.Poly(sp.expand(expr), h)
    return sp.Add(*(c * h**m for (m,), c in poly.terms() if m <= order))


class StochasticModifiedEquation(Result):
    r"""The stochastic modified equation dX = b dt + √(h D) dW of a stochastic method.

    Weak order p = ``order``: for smooth test functions φ, the one-step local
    weak error |E φ(x₁) − E φ(X_h)| is O(h^{p+1}) and the global weak error
    at a fixed horizon T = n·h, |E φ(x_n) − E φ(X_T)|, is O(h^p). Time
    t = n·h at the n-th iterate; f = −∇L; b = b₀ + h b₁ (through h^{p−1}),
    D the leading diffusion (D enters E φ(X_h) at h², so it is fixed by
    order 2; it is kept at order 1 too, as in Li, Tai & E, although order 1
    holds without it).

    Printed in the tensor notation of bea: ∇L, ∇‖∇L‖², Σ (the covariance of
    one example's gradient, or the oracle's Σ(x)) and ∇tr Σ; the drift is
    always a gradient at these orders, b = −∇V.

    >>> import bea
    >>> sme = bea.stochastic_modified_equation(bea.optimizers.sgd(), order=2)
    >>> print(sme.potential_text())
    L + h/4 ‖∇L‖² + O(h²)
    >>> print(sme.diffusion_text())
    Σ

    References: Li, Tai & E, ICML 2017 and JMLR 20 (2019) (the SME of SGD);
    Compagnoni et al., ICML 2023 (SAM); Kovachki & Stuart, JMLR 2021 (heavy ball).
    """

    def __init__(
        self, method: Method, order: int, coefficients: dict[str, sp.Expr], regime: str
    ) -> None:
        self.method = method
        self.order = order
        self.noise: NoiseModel = method.kind.noise  # type: ignore[assignment]
        #: ω(•), ω([•]) (modified equation), a(•) and the same-sample a([•]) (0 with memory)
        self.coefficients = dict(coefficients)
        self.regime = regime

    # -- the terms -------------------------------------------------------------
    def _kappa(self, n: Any = None) -> sp.Expr:
        return self.noise.covariance_factor(n)

    def _potential_groups(self, n: Any = None) -> list:
        c = self.coefficients
        groups = [(0, [(c["omega_f"], "L")])]
        if self.order >= 2:
            groups.append(
                (
                    1,
                    [
                        (-c["omega_ff"] / 2, "gradnorm"),
                        (-c["noise_ff"] * self._kappa(n) / 2, "trace"),
                    ],
                )
            )
        return groups

    def _drift_groups(self, n: Any = None) -> list:
        return [
            (k, [(-coef, "grad_" + t if t != "L" else "grad") for coef, t in terms])
            for k, terms in self._potential_groups(n)
        ]

    def _diffusion_groups(self, n: Any = None) -> list:
        return [(0, [(sp.factor(self.coefficients["a_f"] ** 2 * self._kappa(n)), "sigma")])]

    def terms(self, k: int | None = None) -> list[tuple[SMETerm, sp.Expr]]:
        """(term, coefficient) pairs of the drift b and the diffusion D, all or those of h^k."""
        out = []
        for part, groups in (
            ("drift", self._drift_groups()),
            ("diffusion", self._diffusion_groups()),
        ):
            for power, terms in groups:
                for coef, tensor in terms:
                    coef = sp.factor(sp.sympify(coef, strict=True))
                    if coef != 0 and (k is None or k == power):
                        out.append((SMETerm(part, power, tensor), coef))
        return out

    # -- printing ----------------------------------------------------------------
    @staticmethod
    def _render(groups, table, latex: bool, order: int | None) -> str:
        named = [(k, [(c, table[t]) for c, t in terms]) for k, terms in groups]
        return (render_latex if latex else render_text)(named, order)

    def potential_text(self) -> str:
        """V with b = −∇V, e.g. ``L + h/4 ‖∇L‖² + O(h²)``."""
        return self._render(self._potential_groups(), _TEXT, False, self.order - 1)

    def drift_text(self) -> str:
        """b, e.g. ``-∇L - h/4 ∇‖∇L‖² + O(h²)``."""
        return self._render(self._drift_groups(), _TEXT, False, self.order - 1)

    def diffusion_text(self) -> str:
        """D, e.g. ``Σ`` or ``1/2 Σ``."""
        return self._render(self._diffusion_groups(), _TEXT, False, None)

    def _sigma_text(self) -> str:
        if isinstance(self.noise, Minibatch):
            return "Σ = (1/n) Σᵢ (∇Lᵢ − ∇L)(∇Lᵢ − ∇L)ᵀ (one example's gradient covariance)"
        return "Σ = Σ(x), the oracle's covariance (per sample)"

    def text(self) -> str:
        """The SDE, its drift as a gradient, the diffusion, what Σ is and the regime."""
        return "\n".join(
            [
                f"dX = b dt + √(h D) dW  (weak order {self.order}; noise: {self.noise.text()})",
                f"b = −∇V,  V = {self.potential_text()}",
                f"b = {self.drift_text()}",
                f"D = {self.diffusion_text()}",
                self._sigma_text(),
                f"regime: {self.regime}",
            ]
        )

    def latex(self) -> str:
        """``dX = b\\,dt + \\sqrt{h D}\\,dW`` with b and D."""
        b = self._render(self._drift_groups(), _LATEX, True, self.order - 1)
        d = self._render(self._diffusion_groups(), _LATEX, True, None)
        return f"dX = \\left({b}\\right) dt + \\sqrt{{h \\left({d}\\right)}}\\, dW"

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return (
            f"<StochasticModifiedEquation of {self._method_name()} to weak order {self.order}: "
            f"b = {self.drift_text()}, D = {self.diffusion_text()}>"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: method, order, noise, convention, drift and diffusion terms, text."""
        return {
            "method": self._method_name(),
            "order": self.order,
            "noise": self.noise.text(),
            "normalisation": (
                "dX = b dt + sqrt(h D) dW, t = n h; weak order p: local weak error O(h^(p+1)), "
                "global O(h^p); f = −∇L"
            ),
            "terms": [
                {"part": t.part, "power": t.power, "tensor": _TEXT[t.tensor], "coefficient": str(c)}
                for t, c in self.terms()
            ],
            "regime": self.regime,
            "text": self.text(),
        }

    # -- concrete problems ---------------------------------------------------------
    def on(
        self,
        loss: Any,
        variables: Any,
        h: sp.Symbol = _default_h,
        covariance: sp.Matrix | None = None,
    ) -> SDEOnProblem:
        """The SME on a concrete problem: ``.drift`` (column Matrix in h) and ``.diffusion``.

        Mini-batch noise: ``loss`` is the list of the n example losses L_i
        (L = (1/n) Σ L_i, Σ = (1/n) Σ (∇L_i − ∇L)(∇L_i − ∇L)ᵀ). Oracle noise:
        ``loss`` is L and ``covariance`` the symmetric positive semi-definite
        matrix Σ(x) (per sample; the batch divides it).
        """
        no_step_symbol(variables, h)
        xs = as_variables(variables, h)
        d = len(xs)
        if isinstance(self.noise, Minibatch):
            if covariance is not None:
                raise ValueError(
                    "mini-batch noise derives Σ from the example losses; covariance= is for "
                    "bea.GradientOracle noise"
                )
            if not isinstance(loss, (list, tuple)) or not loss:
                raise ValueError(
                    f"{self._method_name()} samples examples: pass the list of the n example "
                    f"losses [L_1, ..., L_n] (L = their mean), got {loss!r}"
                )
            losses = [exact(L) for L in loss]
            n = len(losses)
            self.noise.check_examples(n)
            grads = [sp.Matrix([sp.diff(L, x) for x in xs]) for L in losses]
            mean = sum(losses, sp.Integer(0)) / n
            g = sp.Matrix([sp.diff(mean, x) for x in xs])
            sigma = sum(((gi - g) * (gi - g).T for gi in grads), sp.zeros(d, d)) / n
            sigma = sigma.applyfunc(sp.expand)
        else:
            if covariance is None:
                raise ValueError(
                    f"{self._method_name()} uses a generic gradient oracle: give its covariance "
                    "Σ(x) as covariance=sympy.Matrix(...) (d×d, symmetric positive semi-definite)"
                )
            if isinstance(loss, (list, tuple)):
                raise ValueError("an oracle's loss is one expression L, got a list")
            mean = exact(loss)
            n = None
            sigma = check_diffusion(covariance, xs)
        kappa = self._kappa(n)
        g = sp.Matrix([sp.diff(mean, x) for x in xs])
        hess = sp.hessian(mean, xs)
        c = self.coefficients
        drift = -c["omega_f"] * g
        if self.order >= 2:
            trace = sp.expand(sigma.trace())
            grad_trace = sp.Matrix([sp.diff(trace, x) for x in xs])
            drift += h * (c["omega_ff"] * hess * g + c["noise_ff"] * kappa / 2 * grad_trace)
        drift = drift.applyfunc(sp.expand)
        diffusion = (c["a_f"] ** 2 * kappa * sigma).applyfunc(sp.expand)
        return SDEOnProblem(drift, diffusion, xs, h, self.order)


def check_diffusion(matrix: Any, variables: tuple[sp.Symbol, ...]) -> sp.Matrix:
    """``matrix`` as a d×d sympy Matrix, checked symmetric and positive semi-definite.

    Symmetry is checked exactly. Positive semi-definiteness: every principal
    minor must be ≥ 0; a minor that sympy proves negative, or that is
    negative at a sample point of the variables (0, ±1, 1/2 in each), is an
    error naming it.
    """
    d = len(variables)
    try:
        m = sp.Matrix(matrix)
    except (TypeError, ValueError):
        raise TypeError(
            f"a diffusion/covariance must be a {d}×{d} sympy Matrix, got {matrix!r}"
        ) from None
    if m.shape != (d, d):
        raise ValueError(
            f"a diffusion/covariance must be {d}×{d} (one row per variable), got {m.shape}"
        )
    m = m.applyfunc(exact)
    asym = (m - m.T).applyfunc(sp.cancel)
    if any(e != 0 for e in asym):
        raise ValueError(
            f"the covariance Σ must be symmetric; Σ − Σᵀ = {asym.tolist()}. A covariance is "
            "E[(g − ∇L)(g − ∇L)ᵀ]: symmetrise it, (Σ + Σᵀ)/2"
        )
    from itertools import combinations, product

    samples = [dict(zip(variables, p)) for p in product([0, 1, -1, sp.Rational(1, 2)], repeat=d)][
        :64
    ]
    for size in range(1, d + 1):
        for idx in combinations(range(d), size):
            minor = sp.cancel(m.extract(list(idx), list(idx)).det())
            bad = None
            if minor.is_negative:
                bad = minor
            else:
                for point in samples:
                    value = minor.subs(point)
                    if value.is_number and value.is_negative:
                        bad = f"{value} at {point}"
                        break
            if bad is not None:
                raise ValueError(
                    f"the covariance Σ must be positive semi-definite; its principal minor on "
                    f"rows {list(idx)} is {minor} = {bad} < 0. A covariance E[(g − ∇L)(g − ∇L)ᵀ] "
                    "has no negative eigenvalue"
                )
    return m


def _gradient_calls(method: Method) -> int:
    """How many times one call of the method's update rule evaluates a gradient."""
    program = method.program()
    ident = BSeries.identity(2)
    calls = [0]

    def step(y, k=0):
        calls[0] += 1
        return y.hf(k)

    hyper = {
        k: v if isinstance(v, (int, str, bool)) or v is None else exact(v)
        for k, v in program.hyperparameters.items()
    }
    program.rule(ident, tuple(program.init(ident)), step, **hyper)
    return calls[0]


def sme_engine(method: Method, order: int) -> StochasticModifiedEquation:
    """Derive the SME of a stochastic B-series method (see the module docstring)."""
    noise = method.kind.noise
    if noise is None:
        raise ValueError(
            f"{method!r} has no noise model: it is deterministic. Sample its gradient with "
            "bea.with_noise(method, bea.Minibatch(batch=1)) (or bea.GradientOracle()), or use "
            "bea.optimizers.sgd(batch=1, replacement=True)"
        )
    kind = method.kind
    if kind.engine is not Engine.TREES:
        raise ValueError(
            f"{method!r} is coordinate-wise (adaptive): at fixed β it has no SME in bea. "
            "RMSProp/Adam follow an SDE on (θ, state) in the regime of Malladi et al. 2022: "
            "sample with bea.ScaledGradientOracle(sigma0) and pass beta2=1 - c*bea.h**2, "
            "eps=eps0/bea.h (see bea.AdaptiveSDE); or use a B-series method: "
            "bea.optimizers.sgd(), bea.with_noise(bea.optimizers.heavy_ball(0.9))"
        )
    if kind.losses != 1 or kind.steps != 1:
        raise ValueError(
            f"{method!r} makes {kind.steps} steps along {kind.losses} losses per call; the SME "
            "is derived for methods that make one call per sampled gradient (steps = losses = 1)"
        )
    if order < 1:
        raise ValueError(f"a stochastic modified equation has weak order >= 1, got order={order}")
    if order > MAX_ORDER:
        raise ValueError(
            f"order {order} is not reached: weak order {order} needs the third moments of the "
            "sampled gradient to match those of a Gaussian SDE, and the noise's third cumulant "
            f"E[(g − ∇L)^⊗3] is not zero in general; bea derives orders 1 and {MAX_ORDER}"
        )
    series = method.bseries(2)
    me = tree_modified_equation(method, 1)
    a_f = sp.factor(series["[]"])
    a_ff = sp.factor(series["[[]]"])
    if kind.memory:
        calls = _gradient_calls(method)
        if order >= 2 and calls != 1:
            raise ValueError(
                f"{method!r} carries a state and evaluates {calls} gradients per call; weak "
                "order 2 on the parameters is derived for memory methods with one gradient "
                "(one sample) per call, such as heavy ball and Nesterov. Order 1 is available"
            )
        noise_ff = sp.Integer(0)
        regime = (
            "memory method at fixed hyperparameters (parasitic modes decay): SDE on the "
            "parameters alone, the noise enters through the total response a(•) of the "
            "underlying one-step method; weak order holds globally for iterates started on the "
            "deterministic invariant manifold (state = S(x₀))"
        )
    else:
        noise_ff = a_ff
        regime = (
            "one-step method; every gradient of a call uses that call's sample, calls sample "
            "independently"
        )
    coefficients = {
        "omega_f": sp.factor(me.coefficient("[]")),
        "omega_ff": sp.factor(me.coefficient("[[]]")),
        "a_f": a_f,
        "noise_ff": noise_ff,
    }
    return StochasticModifiedEquation(method, order, coefficients, regime)
