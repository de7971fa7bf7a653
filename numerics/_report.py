"""The report of an agreement sweep: errors, fitted orders, failures; table, plot, JSON."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Failure", "Report", "fit_slope"]


@dataclass(frozen=True)
class Failure:
    """One point of a sweep that was not measured or not used, with the reason.

    ``order`` is None when the failure concerns every order at that step size
    (non-finite iterates, a step size beyond the series' range).
    """

    h: float
    reason: str
    order: int | None = None

    def to_dict(self) -> dict:
        return {"order": self.order, "h": self.h, "reason": self.reason}


def fit_slope(step_sizes, errors) -> tuple[float, float]:
    """Least-squares fit log e = s·log h + c; returns (s, c)."""
    s, c = np.polyfit(np.log(np.asarray(step_sizes)), np.log(np.asarray(errors)), 1)
    return float(s), float(c)


def _short(values, shown: int = 6) -> str:
    """A start as a short list: the first entries of a long parameter vector."""
    head = ", ".join(f"{v:.6g}" for v in values[:shown])
    more = f", … ({len(values)} entries)" if len(values) > shown else ""
    return f"[{head}{more}]"


def _num(x):
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass
class Report:
    """Global errors of truncated modified flows against the iterates, and fitted orders.

    For each order p and step size h (with n = T/h steps to the horizon T)
    ``errors[p][i]`` is ‖x_n − y_p(T)‖₂, x_n the optimizer's iterate and y_p the
    flow of the modified field through h^p from the same start. The order-p
    flow must agree to O(h^{p+1}): ``slopes[p]`` (least squares of log error on
    log h over the usable points) should be p + 1 within ``tol``.

    Usable points are finite, not flagged (see ``failures``) and above the
    floor ``floor`` (errors there measure rounding and solver tolerance, not
    truncation; they are listed in ``below_floor``).

    ``loss`` describes the loss (the expression of a sympy loss), ``starts``
    the start(s) x0 as flat lists; ``lambda_max`` is the largest Hessian
    eigenvalue at the start (power iteration), which bounds the step sizes of
    the range check; ``device`` is the JAX platform and device kind the sweep
    ran on, over ``devices`` devices. ``start`` says how a method with
    state was started: ``"manifold (state-map B-series)"``, ``"manifold
    (coordinate engine)"`` (on the invariant manifold from x0), ``"transient"``
    (from ``init(x0)``, ``transient`` steps discarded) or ``""`` (no state).
    """

    method: str
    horizon: float
    step_sizes: np.ndarray
    steps: np.ndarray
    orders: tuple[int, ...]
    errors: dict[int, np.ndarray]
    floor: float
    tol: float = 0.2
    failures: list[Failure] = field(default_factory=list)
    transient: int = 0
    start: str = ""
    lambda_max: float | None = None
    device: str = ""
    devices: int = 1
    precision: str = "float64"
    wall_time: float = float("nan")
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    errors_per_start: dict[int, np.ndarray] | None = None
    loss: str = ""
    starts: list[list[float]] = field(default_factory=list)
    slopes: dict[int, float] = field(init=False)
    intercepts: dict[int, float] = field(init=False)
    used: dict[int, np.ndarray] = field(init=False)
    below_floor: dict[int, list[float]] = field(init=False)
    passed: dict[int, bool] = field(init=False)
    fit_notes: dict[int, str] = field(init=False)

    def __post_init__(self):
        self.step_sizes = np.asarray(self.step_sizes, dtype=float)
        self.slopes, self.intercepts, self.used = {}, {}, {}
        self.below_floor, self.passed, self.fit_notes = {}, {}, {}
        flagged = {(f.order, f.h) for f in self.failures}
        for p in self.orders:
            e = np.asarray(self.errors[p], dtype=float)
            ok = np.isfinite(e)
            for i, hv in enumerate(self.step_sizes):
                if (None, float(hv)) in flagged or (p, float(hv)) in flagged:
                    ok[i] = False
            low = ok & (e <= self.floor)
            self.below_floor[p] = [float(v) for v in self.step_sizes[low]]
            use = ok & ~low
            self.used[p] = use
            if use.sum() >= 3:
                s, c = fit_slope(self.step_sizes[use], e[use])
                self.slopes[p], self.intercepts[p] = s, c
                self.passed[p] = abs(s - (p + 1)) <= self.tol
                self.fit_notes[p] = f"fit over {int(use.sum())} step sizes"
            else:
                self.slopes[p], self.intercepts[p] = float("nan"), float("nan")
                self.passed[p] = False
                self.fit_notes[p] = (
                    f"only {int(use.sum())} usable step size(s) (need 3): "
                    f"{len(self.below_floor[p])} below the floor, "
                    f"{int((~np.isfinite(e)).sum())} not finite or failed"
                )

    @property
    def expected(self) -> dict[int, int]:
        """The predicted slope p + 1 of each order."""
        return {p: p + 1 for p in self.orders}

    @property
    def ok(self) -> bool:
        """True when every order's fitted slope is within ``tol`` of p + 1."""
        return all(self.passed.values())

    def ratios(self) -> dict[tuple[int, int], np.ndarray]:
        """errors[p] / errors[q] for consecutive orders p < q, per step size."""
        out = {}
        for p, q in zip(self.orders, self.orders[1:]):
            with np.errstate(divide="ignore", invalid="ignore"):
                out[(p, q)] = np.asarray(self.errors[p]) / np.asarray(self.errors[q])
        return out

    # -- views ------------------------------------------------------------------
    def table(self) -> str:
        """A plain-text table: error per (h, order), fitted slopes, verdicts, failures."""
        head = f"{'h':>10} {'n':>6} " + " ".join(f"{'order ' + str(p):>11}" for p in self.orders)
        ran = f"{self.devices} JAX devices" if self.devices > 1 else "1 JAX device"
        lines = [
            f"agreement of {self.method} with its modified flows: T = {self.horizon:g}, "
            f"{self.precision}, computed on {ran}: {self.device}",
        ]
        if self.loss:
            lines.append(f"loss {self.loss}")
        if len(self.starts) == 1:
            lines.append(f"start x0 = {_short(self.starts[0])}")
        elif self.starts:
            lines.append(f"{len(self.starts)} starts (the largest error over them is shown)")
        lines += [
            head,
            "-" * len(head),
        ]
        for i, (hv, n) in enumerate(zip(self.step_sizes, self.steps)):
            cells = []
            for p in self.orders:
                e = self.errors[p][i]
                mark = "" if self.used[p][i] else "*"
                cells.append(f"{e:10.3e}{mark or ' '}" if np.isfinite(e) else f"{'--':>10} ")
            lines.append(f"{hv:10.4g} {int(n):6d} " + " ".join(cells))
        lines.append("-" * len(head))
        lines.append(
            f"{'slope':>17} "
            + " ".join(
                f"{self.slopes[p]:11.3f}" if np.isfinite(self.slopes[p]) else f"{'--':>11}"
                for p in self.orders
            )
        )
        lines.append(f"{'expected':>17} " + " ".join(f"{p + 1:11d}" for p in self.orders))
        lines.append(
            f"{'pass (±' + format(self.tol, 'g') + ')':>17} "
            + " ".join(f"{'yes' if self.passed[p] else 'NO':>11}" for p in self.orders)
        )
        lines.append(
            f"floor {self.floor:.2e} (errors at or below it, and failed points, are marked * "
            "and left out of the fit)"
        )
        if self.start:
            lines.append(f"start: {self.start}")
        if self.transient:
            lines.append(f"transient: {self.transient} steps discarded before measuring")
        if self.lambda_max is not None:
            lines.append(
                f"λmax = {self.lambda_max:.4g}: largest Hessian eigenvalue at the start "
                "(power iteration); step sizes with h·λmax beyond the modified series' range "
                "are flagged"
            )
        for p in self.orders:
            if not np.isfinite(self.slopes[p]):
                lines.append(f"order {p}: {self.fit_notes[p]}")
        for f in self.failures:
            where = "all orders" if f.order is None else f"order {f.order}"
            lines.append(f"failed: h = {f.h:.4g}, {where}: {f.reason}")
        lines.extend(self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def to_dict(self) -> dict:
        """Plain-Python contents (NaN and inf as None)."""
        return {
            "method": self.method,
            "loss": self.loss,
            "x0": self.starts[0] if len(self.starts) == 1 else None,
            "starts": self.starts,
            "horizon": self.horizon,
            "precision": self.precision,
            "device": self.device,
            "devices": self.devices,
            "step_sizes": [float(v) for v in self.step_sizes],
            "steps": [int(v) for v in self.steps],
            "orders": list(self.orders),
            "errors": {str(p): [_num(v) for v in self.errors[p]] for p in self.orders},
            "slopes": {str(p): _num(self.slopes[p]) for p in self.orders},
            "expected": {str(p): p + 1 for p in self.orders},
            "tolerance": self.tol,
            "passed": {str(p): bool(self.passed[p]) for p in self.orders},
            "floor": self.floor,
            "below_floor": {str(p): self.below_floor[p] for p in self.orders},
            "failures": [f.to_dict() for f in self.failures],
            "transient": self.transient,
            "start": self.start,
            "lambda_max": _num(self.lambda_max),
            "wall_time": _num(self.wall_time),
            "timings": {k: _num(v) for k, v in self.timings.items()},
            "notes": list(self.notes),
        }

    def to_json(self, path=None, **kwargs) -> str:
        """JSON text of ``to_dict``; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=kwargs.pop("indent", 2), **kwargs)
        if path is not None:
            with open(path, "w") as fh:
                fh.write(text)
        return text

    def plot(self, path=None, ax=None):
        """Log–log plot of error against h with fitted slopes and h^{p+1} reference lines.

        Written to ``path`` (PNG, PDF, … by extension) with the Agg backend when
        given; returns the matplotlib Figure. On a figure of its own the tick
        labels are plain text (``1e-05``, ``LogFormatter``) rather than
        mathtext, which takes about half of the drawing time.
        """
        import matplotlib

        if path is not None and ax is None:
            matplotlib.use("Agg", force=False)
        from matplotlib import ticker
        from matplotlib.figure import Figure  # no pyplot: nothing global, and a faster start

        own = ax is None
        if ax is None:
            fig = Figure(figsize=(6.4, 4.8))
            ax = fig.add_subplot()
        else:
            fig = ax.figure
        colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
        hs = self.step_sizes
        for k, p in enumerate(self.orders):
            col = colours[k % len(colours)]
            e = np.asarray(self.errors[p], dtype=float)
            finite = np.isfinite(e) & (e > 0)
            use = self.used[p]
            ax.loglog(hs[use], e[use], "o", color=col)
            ax.loglog(hs[finite & ~use], e[finite & ~use], "x", color=col)
            if np.isfinite(self.slopes[p]):
                s, c = self.slopes[p], self.intercepts[p]
                hh = hs[use]
                ax.loglog(
                    hh,
                    np.exp(c) * hh**s,
                    "-",
                    color=col,
                    label=f"order {p}: slope {s:.2f} (expected {p + 1})",
                )
                h_ref = hh.max()
                e_ref = np.exp(c) * h_ref**s
                ax.loglog(hh, e_ref * (hh / h_ref) ** (p + 1), ":", color=col, alpha=0.7)
            else:
                ax.plot([], [], "o", color=col, label=f"order {p}: no fit")
        ax.axhline(self.floor, color="grey", lw=0.8, ls="--", label="floor")
        if own:  # after loglog, which sets the log scale's default (mathtext) formatters
            for axis in (ax.xaxis, ax.yaxis):
                axis.set_major_formatter(ticker.LogFormatter())
                axis.set_minor_formatter(
                    ticker.LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4))
                )
        ax.set_xlabel("step size h")
        ax.set_ylabel(f"global error at T = {self.horizon:g}")
        ax.set_title(f"{self.method}: iterates vs modified flows")
        ax.legend(fontsize=8)
        if path is not None:
            fig.savefig(path, bbox_inches="tight")
        return fig
