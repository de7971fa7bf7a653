"""The optimizer catalog: each entry is one update rule (see ``bea.Optimizer``).

Every rule is written once over points: ``step(y)`` is −h∇L(y) (``step(y, k)``
the k-th loss or player), the state carries previous iterates or momenta.
The same function gives the B-series (``bea.modified_equation(opt, order)``)
and the iteration on arrays (``opt.jax(grad_fn, h)``).

Hyperparameters may be numbers (floats are read as the decimal they print as)
or sympy symbols; coefficients are then exact rational functions of them.
"""

from __future__ import annotations

import sympy as sp

from .._inputs import Scalar, exact
from ._base import Method
from ._noise import Minibatch, StochasticMethod
from ._programs import Optimizer
from ._runge_kutta import gd as gd
from ._runge_kutta import runge_kutta as runge_kutta
from ._training import T, _check_beta
from ._training import lion as lion
from ._training import muon as muon
from ._training import normalized_gd as normalized_gd
from ._training import normalized_sam as normalized_sam
from ._training import scheduled as scheduled
from ._training import weight_decay as weight_decay

#: default symbolic hyperparameters
BETA = sp.Symbol("beta")
BETA1 = sp.Symbol("beta1")
BETA2 = sp.Symbol("beta2")
EPS = sp.Symbol("epsilon", positive=True)
C = sp.Symbol("c")

# the catalog's names are listed once, in bea/optimizers.py (read without importing this)


def _check_positive(value, what: str):
    v = exact(value)
    if v.is_number and not v > 0:
        raise ValueError(f"{what} must be positive, got {value}")
    return value


def _check_count(m, what: str) -> int:
    if isinstance(m, bool) or not isinstance(m, int) or m < 1:
        raise ValueError(f"{what} must be an integer >= 1, got {m!r}")
    return m


def _heavy_ball_rule(x, state, step, beta):
    (x_prev,) = state
    return x + step(x) + beta * (x - x_prev), (x,)


def _moving(beta) -> bool:
    """Whether a momentum β is a schedule β(t) (an expression in bea.t)."""
    return isinstance(beta, sp.Basic) and beta.has(T)


def heavy_ball(beta: Scalar = BETA) -> Method:
    """Polyak heavy ball: x⁺ = x − h∇L(x) + β(x − x_prev).

    Underlying one-step method moves at effective step h/(1−β):
    θ' = −1/(1−β) ∇[L + h(1+β)/(4(1−β)²) ‖∇L‖²] + O(h²)
    (Kovachki & Stuart 2021; Ghosh et al. 2023). State: the previous iterate.
    A schedule β(t) in ``bea.t`` (``heavy_ball(beta=b(bea.t))``) is
    ``scheduled(heavy_ball(), beta=b(bea.t))``: then
    f̃ = −∇L/(1−β) − h(1+β)/(2(1−β)³)(∇²L∇L − β′∇L) + O(h²).
    """
    if _moving(beta):
        return scheduled(heavy_ball(), beta=beta)
    return Optimizer(
        _heavy_ball_rule,
        lambda x: (x,),
        name="heavy_ball",
        doc=heavy_ball.__doc__,
        check=lambda beta: _check_beta(beta, "heavy_ball"),
        beta=beta,
    )


def _ema_rule(x, state, step, beta):
    (u,) = state  # u = h·m
    u_new = beta * u - (1 - beta) * step(x)
    return x - u_new, (u_new,)


def ema_momentum(beta: Scalar = BETA) -> Method:
    """Momentum in EMA form: m ← βm + (1−β)∇L(x), x ← x − h m.

    Written over points with u = h·m: ``u = beta*u - (1-beta)*step(x)``,
    ``x = x - u``; this is heavy ball with step h(1−β). State: u (starts at 0).
    With a schedule β(t) (``ema_momentum(beta=b(bea.t))``) the first-order
    field is free of β′: f̃ = −∇L − h(1+β)/(2(1−β))∇²L∇L + O(h²) (β′ enters at h²).
    """
    if _moving(beta):
        return scheduled(ema_momentum(), beta=beta)
    return Optimizer(
        _ema_rule,
        lambda x: (0 * x,),
        name="ema_momentum",
        doc=ema_momentum.__doc__,
        check=lambda beta: _check_beta(beta, "ema_momentum"),
        beta=beta,
    )


def _nesterov_rule(x, state, step, beta):
    (x_prev,) = state
    y = x + beta * (x - x_prev)
    return y + step(y), (x,)


def nesterov(beta: Scalar = BETA) -> Method:
    """Nesterov momentum: y = x + β(x − x_prev), x⁺ = y − h∇L(y). State: x_prev.

    With a schedule β(t) (``nesterov(beta=b(bea.t))``):
    f̃ = −∇L/(1−β) − h(1−β+2β²)/(2(1−β)³)∇²L∇L + h(1+β)β′/(2(1−β)³)∇L + O(h²).
    """
    if _moving(beta):
        return scheduled(nesterov(), beta=beta)
    return Optimizer(
        _nesterov_rule,
        lambda x: (x,),
        name="nesterov",
        doc=nesterov.__doc__,
        check=lambda beta: _check_beta(beta, "nesterov"),
        beta=beta,
    )


def _extragradient_rule(x, state, step):
    return x + step(x + step(x))


def extragradient() -> Optimizer:
    """Extragradient: x⁺ = x − h∇L(x − h∇L(x))."""
    return Optimizer(_extragradient_rule, name="extragradient", doc=extragradient.__doc__)


def _usam_rule(x, state, step, c):
    return x + step(x - c * step(x))


def usam(c: Scalar = C) -> Optimizer:
    """Unnormalised SAM with ascent radius ρ = c·h: x⁺ = x − h∇L(x + ρ∇L(x)).

    Over points: ``y = x - c*step(x)`` (the ascent step), ``x + step(y)``.
    """
    return Optimizer(
        _usam_rule,
        name="usam",
        doc=usam.__doc__,
        check=lambda c: _check_positive(c, "usam: c"),
        c=c,
    )


def _sgd_rule(m):
    def rule(x, state, step):
        for k in range(m):
            x = x + step(x, k)
        return x

    return rule


def reshuffled_sgd(m: int) -> Optimizer:
    """SGD with random reshuffling over m mini-batch losses L_0..L_{m−1}.

    One call is an epoch: x ← x − h∇L_k(x) for k in a random order. The series
    is averaged over all m! orders (the expected epoch map) and the modified
    field is per iterate (an epoch is time m·h). To first order the expected
    iterate follows the gradient flow of C + h/(4m) Σ_k ‖∇L_k‖²,
    C = (1/m) Σ_k L_k (Smith, Dherin, Barrett, De 2021).
    ``.on([L_0, ..., L_{m−1}], variables)``.
    """
    _check_count(m, "reshuffled_sgd: m")
    return Optimizer(
        _sgd_rule(m),
        name=f"reshuffled_sgd(m={m})",
        colours=m,
        steps=m,
        average=True,
        doc=reshuffled_sgd.__doc__,
    )


def sgd(batch: int = 1, replacement: bool = True) -> StochasticMethod:
    """Stochastic gradient descent: x⁺ = x − h∇L_B(x), B a random mini-batch of ``batch`` examples.

    L = (1/n) Σ_i L_i; batches are drawn uniformly, with or without
    replacement, independently at every step (``bea.Minibatch``). Its
    stochastic modified equation (Li, Tai & E 2017, 2019) to weak order 2 is
    dX = −∇(L + h/4 ‖∇L‖²) dt + √(h Σ_B) dW with Σ_B = Cov(∇L_B):
    ``bea.stochastic_modified_equation(bea.optimizers.sgd(), 2)``.
    """
    return StochasticMethod(
        gd(),
        Minibatch(batch, replacement),
        name=f"sgd(batch={batch}, replacement={replacement})",
    )


def _simultaneous_rule(x, state, step, ratio):
    return x + step(x, 0) + ratio * step(x, 1)


def simultaneous_gd(ratio: Scalar = 1) -> Optimizer:
    """Simultaneous gradient steps in a two-player game.

    φ ← φ − h∇_φL_0(φ, θ), θ ← θ − ratio·h ∇_θL_1(φ, θ) at the same point.
    Each player's field f_c = −∇_{own variables} L_c; the modified field has
    the drift −(h/2)(Jacobian-times-field terms) per player (Rosca et al. 2021).
    ``.on([L_0, L_1], [[φ...], [θ...]])`` gives one vector field per player.
    """
    _check_positive(ratio, "simultaneous_gd: ratio")
    return Optimizer(
        _simultaneous_rule,
        name="simultaneous_gd",
        colours=2,
        doc=simultaneous_gd.__doc__,
        ratio=ratio,
    )


def _alternating_rule(m, k):
    def rule(x, state, step, ratio):
        for _ in range(m):
            x = x + step(x, 0)
        for _ in range(k):
            x = x + ratio * step(x, 1)
        return x

    return rule


def alternating_gd(ratio: Scalar = 1, m: int = 1, k: int = 1) -> Optimizer:
    """Alternating gradient steps in a two-player game.

    Per iteration: m steps φ ← φ − h∇_φL_0, then k steps θ ← θ − ratio·h ∇_θL_1
    at the updated φ. An iteration is one unit of time h, so the leading field
    is m·f_0 + k·ratio·f_1.
    """
    _check_positive(ratio, "alternating_gd: ratio")
    _check_count(m, "alternating_gd: m")
    _check_count(k, "alternating_gd: k")
    return Optimizer(
        _alternating_rule(m, k),
        name=f"alternating_gd(m={m}, k={k})",
        colours=2,
        doc=alternating_gd.__doc__,
        ratio=ratio,
    )


# ----------------------------------------------------------------------------
# Coordinate-wise and adaptive optimizers (analysed in coordinates)
# ----------------------------------------------------------------------------


def _check_eps(eps, name: str):
    value = exact(eps)
    if value.is_number and value < 0:
        raise ValueError(f"{name}: eps must be >= 0, got {eps}")
    return eps


def _sign_rule(x, state, step, *, grad, ops, h):
    return x - h * ops.sign(grad(x)), ()


def sign_gd() -> Optimizer:
    """Sign descent: x⁺ = x − h·sign(∇L(x)) (coordinate-wise).

    Where no coordinate of ∇L vanishes, its modified field is −sign(∇L) at every
    order (the map is a translation by a locally constant vector).
    """
    return Optimizer(_sign_rule, name="sign_gd", coordinatewise=True, doc=sign_gd.__doc__)


def _rmsprop_rule(x, state, step, *, grad, ops, h, beta2, eps, eps_inside):
    (v,) = state
    g = grad(x)
    v = beta2 * v + (1 - beta2) * g * g
    denom = ops.sqrt(v + eps) if eps_inside else ops.sqrt(v) + eps
    return x - h * g / denom, (v,)


def rmsprop(beta2: Scalar = BETA, eps: Scalar = EPS, eps_inside: bool = False) -> Optimizer:
    """RMSProp: v ← β₂v + (1−β₂)(∇L)², x ← x − h∇L/(√v + ε) (coordinate-wise).

    ``eps_inside=True`` uses √(v + ε) instead (the form analysed by Cattaneo,
    Klusowski & Shigida 2024). State: v (starts at 0; on the invariant
    manifold v = (∇L)² + O(h)).
    """
    _check_beta(beta2, "rmsprop")
    _check_eps(eps, "rmsprop")
    return Optimizer(
        _rmsprop_rule,
        lambda x: (0 * x,),
        coordinatewise=True,
        name="rmsprop",
        doc=rmsprop.__doc__,
        beta2=beta2,
        eps=eps,
        eps_inside=bool(eps_inside),
    )


def _adam_rule(x, state, step, *, grad, ops, h, beta1, beta2, eps, eps_inside, bias_correction):
    if bias_correction:
        m, v, c1, c2 = state
    else:
        m, v = state
    g = grad(x)
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    if bias_correction:
        # c_i = β_i^n: the decaying factors of the bias correction (0 on the manifold)
        c1 = beta1 * c1
        c2 = beta2 * c2
        m_hat = m / (1 - c1)
        v_hat = v / (1 - c2)
    else:
        m_hat, v_hat = m, v
    denom = ops.sqrt(v_hat + eps) if eps_inside else ops.sqrt(v_hat) + eps
    new = x - h * m_hat / denom
    return new, ((m, v, c1, c2) if bias_correction else (m, v))


def _adam_init(bias_correction):
    def init(x):
        zero = 0 * x
        return (zero, zero, 1 + zero, 1 + zero) if bias_correction else (zero, zero)

    return init


def adam(
    beta1: Scalar = BETA1,
    beta2: Scalar = BETA2,
    eps: Scalar = EPS,
    eps_inside: bool = False,
    bias_correction: bool = False,
) -> Optimizer:
    """Adam: m ← β₁m + (1−β₁)∇L, v ← β₂v + (1−β₂)(∇L)², x ← x − h m/(√v + ε).

    Coordinate-wise. ``bias_correction=True`` divides m and v by 1 − β₁ⁿ and
    1 − β₂ⁿ (carried as decaying states; they tend to 1, so the memoryless
    modified equation is the same). ``eps_inside=True`` uses √(v + ε).
    To first order, for ε → 0, the iterates follow
    θ̇ = −P∇[L + h(β₁/(1−β₁) − β₂/(1−β₂))‖∇L‖₁], P = diag(1/|∂_jL|)
    (Cattaneo, Klusowski & Shigida 2024). β₁ = 0 is RMSProp.
    """
    _check_beta(beta1, "adam")
    _check_beta(beta2, "adam")
    _check_eps(eps, "adam")
    return Optimizer(
        _adam_rule,
        _adam_init(bool(bias_correction)),
        coordinatewise=True,
        name="adam",
        doc=adam.__doc__,
        beta1=beta1,
        beta2=beta2,
        eps=eps,
        eps_inside=bool(eps_inside),
        bias_correction=bool(bias_correction),
    )
