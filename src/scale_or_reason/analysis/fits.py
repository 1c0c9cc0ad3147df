"""Curve fits: the paper's saturating accuracy-vs-compute curve, and power laws of inference FLOPs.

**Saturating curve** (paper §3, Figs. 2–3), per family, arm and cost axis::

    f(x) = α + β · (1 − exp(−γ · x^δ)),     x = C / C_ref

``C`` is the cost in FLOPs (training FLOPs of the run, or mean inference FLOPs per query) and
``C_ref`` (``x_ref``) a reference scale, by default the cheapest cost among the points fitted
together (all arms of a family on one axis share it), so ``x ≥ 1`` on the data and the numbers stay
well conditioned. The fit does not depend on ``C_ref``: changing it only rescales γ
(``γ · (C/s)^δ = (γ s^-δ) · C^δ``). ``α`` is the accuracy as compute goes to 0 and ``α + β`` the
asymptote. As a function of log-FLOPs ``u = log10 C`` the curve is an S-shape
``α + β(1 − exp(−γ'·10^(δu)))``, which is how it looks on the paper's log-x plots.

*Why not ``x = log10(C / C0)``?* The issue reads "in log-FLOPs"; we take that as: the curve lives
on log-FLOPs axes, the rate is searched on a log scale (``log10 γ``), and points are the measured
ones, evenly spread in log-FLOPs. Putting the logarithm *inside* ``x`` makes the fit depend on the
arbitrary origin ``C0`` and, with ``δ ≤ 1``, forces a curve concave in log-FLOPs from ``C0`` on: on
the paper's Table 1 (inference axis) its mean absolute error is 3–14 points against 0.2–2.2 points
for ``x = C / C_ref``. It stays available as ``scale="log"`` (``x = log10(C / x_ref)``, default
``x_ref`` one tenth of the cheapest cost).

Constraints: α > 0, β > 0, α + β ≤ ceiling (the teacher's accuracy when known, else 1), γ > 0,
0 < δ ≤ 1. They hold by construction: the optimiser works on (α + β, α / (α + β), log10 γ, δ) inside
box bounds. The objective is the **mean absolute error** of accuracy (fractions), minimised from
several starting points (a smooth least-squares pass from each start, then Nelder–Mead on the MAE
from the best few; the lowest MAE wins). Fewer points than the 4 parameters is refused with a
``ValueError``.

**Power law** (paper Fig. 14): ``inference FLOPs per query = c · N^e`` with ``N`` the student's
parameters in billions, fitted by least squares in log-log space, per family and arm.

Example::

    import numpy as np
    from scale_or_reason.analysis.fits import fit_saturating, saturating

    cost = np.logspace(10, 14, 12)
    acc = saturating(cost / 1e10, 0.2, 0.6, 0.05, 0.7)
    fit = fit_saturating(cost, acc, x_ref=1e10)
    assert abs(fit.alpha - 0.2) < 1e-3 and fit.mae < 1e-4
    fit.predict(1e13), fit.cost_for(0.6)        # accuracy at a cost; cost to reach an accuracy

    # on a results table: every family x arm x axis with enough points
    # fits = fit_curves(results, teacher_accuracy={"Math-OE": 0.921})
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import OptimizeWarning, least_squares, minimize

from scale_or_reason.analysis.arms import ordered_arms, ordered_families
from scale_or_reason.analysis.formatting import finite, jsonable
from scale_or_reason.analysis.frontier import AXES, aggregate_by_family

N_PARAMS = 4
"""Parameters of the saturating curve (α, β, γ, δ)."""
MIN_POINTS = 5
"""Fewest points a curve is fitted to: more than its parameters (a 4-parameter curve through 4 points is exact)."""

SCALES: tuple[str, ...] = ("ratio", "log")
"""How cost becomes ``x``: ``'ratio'`` (``C / x_ref``, default) or ``'log'`` (``log10(C / x_ref)``)."""

_EPS = 1e-6
_LOG_GAMMA = (-8.0, 4.0)
_DELTA_MIN = 0.01


def saturating(x: Any, alpha: float, beta: float, gamma: float, delta: float) -> np.ndarray:
    """``α + β(1 − exp(−γ·x^δ))`` for ``x >= 0`` (negative ``x`` is clipped to 0)."""
    x = np.clip(np.asarray(x, dtype=float), 0.0, None)
    return alpha + beta * (1.0 - np.exp(-gamma * np.power(x, delta)))


@dataclass
class SaturatingFit:
    """A fitted saturating curve of accuracy against cost (see the module docstring for ``x``)."""

    alpha: float
    """Accuracy at x = 0 (no compute for ``scale='ratio'``; cost ``x_ref`` for ``'log'``)."""
    beta: float
    """Gain from x = 0 to saturation; ``alpha + beta`` is the asymptote."""
    gamma: float
    """Rate (> 0), in units of ``x``."""
    delta: float
    """Shape exponent, in (0, 1]."""
    x_ref: float
    """Reference cost in FLOPs: ``x = C / x_ref`` (``'ratio'``) or ``log10(C / x_ref)`` (``'log'``)."""
    scale: str = "ratio"
    """``'ratio'`` or ``'log'``: how the cost becomes ``x`` (see the module docstring)."""
    ceiling: float = 1.0
    """Cap on the asymptote used in the fit (teacher accuracy, or 1)."""
    mae: float = math.nan
    """Mean absolute error of the fit on its points (accuracy fraction; 0.01 = 1 point)."""
    max_error: float = math.nan
    """Largest absolute error on its points."""
    n_points: int = 0
    """Number of points fitted."""
    loo_mae: float = math.nan
    """Leave-one-out error: mean absolute error of each point predicted by the curve fitted without it
    (what the fit says about an unmeasured size; compare with ``mae``, its error on its own points)."""
    cost_min: float = math.nan
    """Cheapest fitted cost (FLOPs): below it the curve extrapolates."""
    cost_max: float = math.nan
    """Dearest fitted cost (FLOPs): above it the curve extrapolates."""
    family: str = ""
    """Task family of the points (empty when fitted directly)."""
    arm: str = ""
    """Arm of the points (empty when fitted directly)."""
    axis: str = ""
    """Cost axis (``'train_flops'`` or ``'inference_flops'``; empty when fitted directly)."""

    def x(self, cost: Any) -> np.ndarray:
        """``cost / x_ref`` (``'ratio'``) or ``log10(cost / x_ref)`` (``'log'``)."""
        return _to_x(cost, self.x_ref, self.scale)

    def predict(self, cost: Any) -> Any:
        """Fitted accuracy at ``cost`` (FLOPs; scalar or array)."""
        y = saturating(self.x(cost), self.alpha, self.beta, self.gamma, self.delta)
        return float(y) if np.ndim(y) == 0 else y

    def cost_for(self, accuracy: float) -> float:
        """Cost (FLOPs) at which the curve reaches ``accuracy``: the inverse of :meth:`predict`.

        The cost at x = 0 (0 for ``'ratio'``, ``x_ref`` for ``'log'``) when ``accuracy <= alpha``;
        ``inf`` when ``accuracy >= alpha + beta`` (never reached).
        """
        y = float(accuracy)
        if y <= self.alpha:
            return 0.0 if self.scale == "ratio" else self.x_ref
        frac = (y - self.alpha) / self.beta
        if frac >= 1.0:
            return math.inf
        try:
            x = (-math.log1p(-frac) / self.gamma) ** (1.0 / self.delta)
            return self.x_ref * (x if self.scale == "ratio" else 10.0 ** x)
        except OverflowError:  # a nearly flat fit (tiny gamma or delta): reached beyond any float cost
            return math.inf

    def in_range(self, cost: float) -> bool:
        """Whether ``cost`` lies within the fitted points' cost range (no extrapolation)."""
        return finite(cost) and self.cost_min <= float(cost) <= self.cost_max

    def to_dict(self) -> dict[str, Any]:
        return jsonable({k: getattr(self, k) for k in self.__dataclass_fields__})


def _to_x(cost: Any, x_ref: float, scale: str) -> np.ndarray:
    c = np.asarray(cost, dtype=float) / x_ref
    if scale == "ratio":
        return c
    if scale == "log":
        with np.errstate(divide="ignore"):
            return np.log10(c)
    raise ValueError(f"unknown scale {scale!r}; expected one of {list(SCALES)}")


def _unpack(q: np.ndarray) -> tuple[float, float, float, float]:
    total, share, lg, delta = q
    return total * share, total * (1.0 - share), 10.0 ** lg, delta


def fit_saturating(
    cost: Any,
    accuracy: Any,
    *,
    ceiling: float = 1.0,
    x_ref: float | None = None,
    scale: str = "ratio",
    n_starts: int = 8,
    seed: int = 0,
) -> SaturatingFit:
    """Fit ``f(x) = α + β(1 − exp(−γ·x^δ))``, ``x = cost / x_ref``, minimising the mean absolute error.

    ``cost`` in FLOPs (positive), ``accuracy`` as fractions. ``x_ref`` defaults to ``min(cost)``
    (``min(cost) / 10`` for ``scale='log'``, where ``x = log10(cost / x_ref)``).
    ``n_starts`` starting points (a fixed grid, then seeded random ones) are each refined; the
    lowest mean absolute error wins. Raises ``ValueError`` for fewer finite points than parameters
    (4), non-positive costs, or a ceiling outside (0, 1].

    Example::

        fit = fit_saturating([1e10, 1e11, 1e12, 1e13, 1e14], [0.2, 0.35, 0.5, 0.58, 0.62])
        print(fit.alpha, fit.beta, fit.gamma, fit.delta, fit.mae)
    """
    c = np.asarray(cost, dtype=float).ravel()
    y = np.asarray(accuracy, dtype=float).ravel()
    if c.shape != y.shape:
        raise ValueError(f"cost and accuracy differ in length ({c.size} vs {y.size})")
    ok = np.isfinite(c) & np.isfinite(y)
    c, y = c[ok], y[ok]
    if c.size < N_PARAMS:
        raise ValueError(
            f"cannot fit the saturating curve's {N_PARAMS} parameters (α, β, γ, δ) to {c.size} "
            f"point(s): at least {N_PARAMS} are needed"
        )
    if (c <= 0).any():
        raise ValueError("costs must be positive FLOPs to be placed on a log scale")
    if not 0 < ceiling <= 1:
        raise ValueError(f"ceiling must be an accuracy in (0, 1], got {ceiling}")
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; expected one of {list(SCALES)}")
    if x_ref is None:
        x_ref = float(c.min()) / (10.0 if scale == "log" else 1.0)
    x_ref = float(x_ref)
    if not x_ref > 0:
        raise ValueError(f"x_ref must be a positive cost, got {x_ref}")
    x = np.clip(_to_x(c, x_ref, scale), 0.0, None)

    lo = np.array([_EPS, _EPS, _LOG_GAMMA[0], _DELTA_MIN])
    hi = np.array([ceiling, 1.0 - _EPS, _LOG_GAMMA[1], 1.0])

    def model(q: np.ndarray) -> np.ndarray:
        total, share, lg, delta = q
        return total * share + total * (1.0 - share) * (1.0 - np.exp(-(10.0 ** lg) * x ** delta))

    def mae(q: np.ndarray) -> float:
        return float(np.mean(np.abs(model(q) - y)))

    top = float(np.clip(max(y.max(), _EPS) * 1.05, 2 * _EPS, ceiling))
    # rate starts that put γ·x^δ near 1 at the middle of the data, for three shapes
    xm = float(np.exp(np.mean(np.log(np.clip(x, 1e-12, None)))))
    grid = [
        (top, share, float(np.clip(-d * math.log10(max(xm, 1e-12)) + shift, *_LOG_GAMMA)), d)
        for d in (0.3, 0.7, 1.0)
        for shift in (-0.5, 0.5)
        for share in (0.4,)
    ]
    rng = np.random.default_rng(seed)
    starts = [np.array(s) for s in grid][:n_starts]
    while len(starts) < n_starts:
        starts.append(rng.uniform(lo, hi))

    best_q, best_err = None, math.inf
    refined: list[tuple[float, np.ndarray]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (RuntimeWarning, OptimizeWarning))
        for q0 in starts:
            q0 = np.clip(q0, lo + 1e-9, hi - 1e-9)
            try:
                ls = least_squares(lambda q: model(q) - y, q0, bounds=(lo, hi), method="trf",
                                   xtol=1e-10, ftol=1e-10, gtol=1e-10, max_nfev=200)
                q1 = ls.x
            except (ValueError, np.linalg.LinAlgError):
                q1 = q0
            refined.append((mae(q1), q1))
        refined.sort(key=lambda t: t[0])
        for err0, q1 in refined[: max(2, n_starts // 4)]:
            if err0 < 1e-13:  # already exact (noiseless data): nothing for Nelder-Mead to gain
                best_q, best_err = (q1, err0) if err0 < best_err else (best_q, best_err)
                continue
            res = minimize(mae, q1, method="Nelder-Mead", bounds=list(zip(lo, hi)),
                           options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 2000})
            q2, err = (res.x, float(res.fun)) if res.fun <= err0 else (q1, err0)
            if err < best_err:
                best_q, best_err = q2, err
    assert best_q is not None
    alpha, beta, gamma, delta = _unpack(np.clip(best_q, lo, hi))
    resid = np.abs(saturating(x, alpha, beta, gamma, delta) - y)
    return SaturatingFit(
        alpha=float(alpha), beta=float(beta), gamma=float(gamma), delta=float(delta), x_ref=x_ref,
        scale=scale, ceiling=float(ceiling), mae=float(resid.mean()), max_error=float(resid.max()),
        n_points=int(c.size), cost_min=float(c.min()), cost_max=float(c.max()),
    )


@dataclass
class FitSet:
    """All saturating fits of a results table, and the (family, arm, axis) groups left unfitted."""

    fits: list[SaturatingFit] = field(default_factory=list)
    """Successful fits, by family, axis, arm."""
    skipped: list[dict[str, Any]] = field(default_factory=list)
    """``{"family", "arm", "axis", "n_points", "reason"}`` for each group that was not fitted."""

    def get(self, family: str, arm: str, axis: str) -> SaturatingFit | None:
        """The fit of one family x arm x axis, or None."""
        for f in self.fits:
            if (f.family, f.arm, f.axis) == (family, arm, axis):
                return f
        return None

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"fits": [f.to_dict() for f in self.fits], "skipped": list(self.skipped)})


def fit_curves(
    results: pd.DataFrame,
    *,
    axes: tuple[str, ...] = tuple(AXES),
    teacher_accuracy: dict[str, float] | None = None,
    n_starts: int = 8,
) -> FitSet:
    """Fit the saturating curve per family x arm x axis of a results table (aggregated by family).

    Points are the arm's measured (student) points with finite positive cost and finite accuracy.
    The ceiling is ``teacher_accuracy[family]`` when given, else 1; a student measured above the
    teacher raises the ceiling to its accuracy (the fit's ``ceiling`` records the cap used). Groups with fewer than
    ``MIN_POINTS`` (5: more points than the curve's 4 parameters, as the paper's 5 sizes) are listed in ``skipped``
    with the reason, never fitted. Each fit carries its leave-one-out error ``loo_mae``. ``x_ref`` (the family's cheapest cost on the axis) is shared by all arms
    of a family on an axis, so their γ are comparable.

    Example::

        fs = fit_curves(results)
        for f in fs.fits: print(f.family, f.arm, f.axis, round(f.mae, 4))
        for s in fs.skipped: print(s["reason"])
    """
    agg = aggregate_by_family(results)
    out = FitSet()
    teacher_accuracy = teacher_accuracy or {}
    for family in ordered_families(agg):
        fam = agg[agg["family"] == family]
        ceiling = float(teacher_accuracy.get(family, 1.0))
        for axis in axes:
            col = AXES[axis]
            cost = fam[col].astype(float)
            usable = fam[np.isfinite(cost) & (cost > 0) & np.isfinite(fam["accuracy"].astype(float))]
            x_ref = float(usable[col].min()) if not usable.empty else math.nan
            for arm in ordered_arms(fam):
                pts = usable[usable["arm"] == arm]
                n = len(pts)
                if n < MIN_POINTS:
                    why = ("no measured cost on this axis" if n == 0 and fam[fam["arm"] == arm][col].isna().all()
                           else f"only {n} point(s) with a finite cost and accuracy")
                    out.skipped.append({
                        "family": family, "arm": arm, "axis": axis, "n_points": n,
                        "reason": f"{family} / {arm} / {axis}: not fitted, {why}; the saturating curve has "
                                  f"{N_PARAMS} parameters and needs more points than that (at least "
                                  f"{MIN_POINTS}: with {N_PARAMS} it interpolates them exactly and says nothing); "
                                  f"equivalences are interpolated between measured points instead",
                    })
                    continue
                acc = pts["accuracy"].to_numpy(dtype=float)
                cost = pts[col].to_numpy(dtype=float)
                cap = min(max(ceiling, float(acc.max())), 1.0)
                fit = fit_saturating(cost, acc, ceiling=cap, x_ref=x_ref, n_starts=n_starts)
                fit.family, fit.arm, fit.axis = family, arm, axis
                errors = []
                for i in range(n):  # leave one out: refit on the others, predict the one left out
                    keep = np.arange(n) != i
                    f_i = fit_saturating(cost[keep], acc[keep], ceiling=cap, x_ref=x_ref, n_starts=n_starts)
                    errors.append(abs(float(f_i.predict(cost[i])) - acc[i]))
                fit.loo_mae = float(np.mean(errors))
                out.fits.append(fit)
    return out


@dataclass
class PowerLawFit:
    """``inference FLOPs per query = coefficient · (parameters / 1e9) ** exponent`` (paper Fig. 14)."""

    coefficient: float
    """FLOPs per query of a 1B-parameter student on the fitted line."""
    exponent: float
    """Power of the size."""
    r2: float
    """Coefficient of determination in log-log space (NaN with 2 points)."""
    n_points: int
    """Students fitted."""
    family: str = ""
    """Task family."""
    arm: str = ""
    """Arm."""

    def predict(self, parameters: Any) -> Any:
        """Inference FLOPs per query at ``parameters`` (total parameter count, not billions)."""
        y = self.coefficient * np.power(np.asarray(parameters, dtype=float) / 1e9, self.exponent)
        return float(y) if np.ndim(y) == 0 else y

    def equation(self) -> str:
        """``'3.42e12·N^0.82'`` with N in billions of parameters."""
        return f"{self.coefficient:.3g}·N^{self.exponent:.2f}"

    def to_dict(self) -> dict[str, Any]:
        return jsonable({k: getattr(self, k) for k in self.__dataclass_fields__})


def fit_power_law(parameters: Any, flops: Any) -> PowerLawFit:
    """Least-squares line through ``(log N, log FLOPs)``, ``N`` in billions; needs 2 distinct sizes.

    Example::

        pl = fit_power_law([0.5e9, 1.5e9, 3e9], [1e11, 2.4e11, 4e11])
        pl.coefficient, pl.exponent
    """
    n = np.asarray(parameters, dtype=float).ravel()
    f = np.asarray(flops, dtype=float).ravel()
    ok = np.isfinite(n) & np.isfinite(f) & (n > 0) & (f > 0)
    n, f = n[ok], f[ok]
    if np.unique(n).size < 2:
        raise ValueError(f"a power law needs at least 2 distinct sizes with positive FLOPs, got {np.unique(n).size}")
    lx, ly = np.log(n / 1e9), np.log(f)
    slope, intercept = np.polyfit(lx, ly, 1)
    pred = intercept + slope * lx
    ss_res = float(np.sum((ly - pred) ** 2))
    ss_tot = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if n.size > 2 and ss_tot > 0 else math.nan
    return PowerLawFit(float(np.exp(intercept)), float(slope), r2, int(n.size))


def inference_power_laws(results: pd.DataFrame) -> list[PowerLawFit]:
    """One :class:`PowerLawFit` per family x arm with at least 2 sizes (paper Fig. 14).

    Example::

        for pl in inference_power_laws(results): print(pl.family, pl.arm, pl.equation())
    """
    agg = aggregate_by_family(results)
    out = []
    for family in ordered_families(agg):
        fam = agg[agg["family"] == family]
        for arm in ordered_arms(fam):
            pts = fam[fam["arm"] == arm]
            try:
                pl = fit_power_law(pts["parameters"], pts["inference_flops_mean"])
            except ValueError:
                continue
            pl.family, pl.arm = family, arm
            out.append(pl)
    return out
