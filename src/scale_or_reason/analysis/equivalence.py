"""Compute equivalences: "arm A at size a reaches arm B's accuracy at size b with k× less compute".

For a target point ``b`` (student of arm B, learned and on B's own frontier) and another arm A of the same
family, the *reach cost*
is what A needs on an axis (training FLOPs, or inference FLOPs per query) to be at least as
accurate as ``b``. The ratio is ``k = cost(b) / reach cost``: ``k > 1`` means A gets there with
``k×`` less compute, ``k < 1`` that it needs ``1/k×`` more. Three methods, always named in the output:

* ``measured`` — the cheapest measured A point whose accuracy is ≥ ``accuracy(b) − tolerance``.
  This is the sentence's "A at size a": a real, trained and evaluated configuration.
* ``interpolated`` — A's measured points, kept where they raise A's best accuracy so far (A's own
  frontier), joined by straight lines in (log10 cost, accuracy); the reach cost is where that line
  first crosses ``accuracy(b)``. When A's cheapest point already beats ``b``, its cost is used
  (nothing is extrapolated below the measured range); when no A point reaches ``b``, there is no
  equivalence.
* ``fitted`` — the inverse of A's fitted saturating curve (:mod:`~scale_or_reason.analysis.fits`);
  ``extrapolated`` is set when that cost lies outside A's measured cost range.

With a :class:`~scale_or_reason.analysis.uncertainty.Bootstrap`, the ``measured`` and
``interpolated`` ratios get a 95% percentile interval over replicates (accuracies and inference
costs resampled; the same A arm and target point ``b`` each time, the reaching A point may change).
A replicate in which A does not reach ``b`` counts as ``k = 0``; ``p_cheaper`` is the share of
replicates with ``k > 1`` and ``p_reached`` the share where A reaches ``b`` at all. Fitted ratios
get no interval (refitting every replicate is not worth its cost).

Example::

    from scale_or_reason.analysis.equivalence import equivalences, headline
    eqs = equivalences(results, method="measured", boot=boot)
    best = headline(eqs, "Math-OE", "train_flops", arm="ift", target_arm="reasoning")
    print(best.sentence())
    # IFT s4 reaches reasoning s3's accuracy (62.0% vs 60.0%) with 2.1× less training compute ...
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scale_or_reason.analysis.arms import arm_word, ordered_arms, ordered_families
from scale_or_reason.analysis.fits import FitSet
from scale_or_reason.analysis.formatting import (
    finite,
    fmt_flops,
    fmt_pct,
    fmt_ratio,
    jsonable,
)
from scale_or_reason.analysis.frontier import AXES, aggregate_by_family, pareto_frontier
from scale_or_reason.analysis.uncertainty import Bootstrap, percentile_interval

METHODS: tuple[str, ...] = ("measured", "interpolated", "fitted")
"""How the reach cost is obtained (see the module docstring)."""

AXIS_WORDS = {"train_flops": "training compute", "inference_flops": "inference compute per query"}
_AXIS_SHORT = {"train_flops": "training", "inference_flops": "inference"}
_METHOD_WORDS = {
    "measured": "measured points",
    "interpolated": "interpolated between measured points, linear in log-FLOPs",
    "fitted": "fitted saturating curve",
}


@dataclass
class Equivalence:
    """Arm ``arm`` reaching the accuracy of the target point (``target_student`` of ``target_arm``)."""

    family: str
    """Task family."""
    axis: str
    """``'train_flops'`` or ``'inference_flops'``."""
    method: str
    """``'measured'``, ``'interpolated'`` or ``'fitted'``."""
    arm: str
    """Arm A, the one reaching the target's accuracy."""
    target_arm: str
    """Arm B of the target point."""
    target_student: str
    """Student of the target point (size b)."""
    target_accuracy: float
    """Accuracy of the target point (fraction)."""
    target_cost: float
    """Cost of the target point on ``axis`` (FLOPs)."""
    cost: float
    """A's reach cost on ``axis`` (FLOPs)."""
    accuracy: float
    """A's accuracy at the reach cost (measured: that point's accuracy; else the target's)."""
    ratio: float
    """``k = target_cost / cost``: > 1 means A needs k× less compute."""
    student: str | None = None
    """Measured: A's student (size a); otherwise None."""
    bracket: list[str] = field(default_factory=list)
    """The A students the reach cost comes from: ``[a]`` (measured, or interpolation clamped at
    A's cheapest point), ``[a1, a2]`` (interpolated between them), ``[]`` (fitted)."""
    extrapolated: bool = False
    """Fitted only: the reach cost lies outside A's measured cost range."""
    tolerance: float = 0.0
    """Accuracy slack (fraction) allowed by the ``measured`` method."""
    ci_low: float = math.nan
    """2.5th percentile of ``k`` over bootstrap replicates (NaN without bootstrap)."""
    ci_high: float = math.nan
    """97.5th percentile of ``k`` over bootstrap replicates."""
    p_cheaper: float = math.nan
    """Share of replicates with ``k > 1``."""
    p_reached: float = math.nan
    """Share of replicates in which A reaches the target at all."""

    def sentence(self, also: list[str] | None = None) -> str:
        """The equivalence in words, naming the method; ``also`` appends notes inside the brackets
        (e.g. the same ratio by another method)."""
        a, b = arm_word(self.arm), arm_word(self.target_arm)
        what = AXIS_WORDS[self.axis]
        if not finite(self.ratio) or self.ratio <= 0:
            amount = f"an unknown amount of {what}"
        elif self.ratio >= 1:
            amount = f"{fmt_ratio(self.ratio)} less {what}" if fmt_ratio(self.ratio) != "1.0×" else f"about the same {what}"
        else:
            amount = f"{fmt_ratio(1 / self.ratio)} more {what}"
        target = f"{b} {self.target_student}'s accuracy"
        if self.method == "measured":
            who = f"{a} {self.student}"
            accs = f"{fmt_pct(self.accuracy)} vs {fmt_pct(self.target_accuracy)}"
        elif self.method == "interpolated":
            if len(self.bracket) == 2:
                who = f"{a}, interpolated between {self.bracket[0]} and {self.bracket[1]},"
            else:
                who = f"{a} ({self.bracket[0] if self.bracket else '?'}, its cheapest point)"
            accs = fmt_pct(self.target_accuracy)
        else:
            who = f"{a}'s fitted curve"
            accs = fmt_pct(self.target_accuracy)
        costs = f"{fmt_flops(self.cost)} vs {fmt_flops(self.target_cost)} {_AXIS_SHORT[self.axis]} FLOPs"
        extra = []
        if finite(self.ci_low) and finite(self.ci_high):
            extra.append(f"{self.ci_text}, P(cheaper) {self.p_cheaper:.2f}")
        method = _METHOD_WORDS[self.method]
        if self.extrapolated:
            method += ", extrapolated beyond its measured range"
        if self.method == "measured" and self.tolerance > 0:
            method += f", within {100 * self.tolerance:.1f} points"
        tail = f"; {'; '.join(extra)}" if extra else ""
        notes = "".join(f"; {a}" for a in (also or []))
        return f"{who} reaches {target} ({accs}) with {amount} ({costs}{tail}) [{method}{notes}]."

    @property
    def fixed_ratio(self) -> bool:
        """Every bootstrap replicate gives the same ratio (to the printed precision): the interval has no width."""
        return finite(self.ci_low) and finite(self.ci_high) and fmt_ratio(self.ci_low) == fmt_ratio(self.ci_high)

    @property
    def ci_text(self) -> str:
        """The ratio's bootstrap interval in words. Training FLOPs are fixed per run, so when the same A point
        reaches the target in every replicate the interval has no width: said so, not printed as ``7.6–7.6``."""
        if not (finite(self.ci_low) and finite(self.ci_high)):
            return "no bootstrap interval"
        if self.fixed_ratio:
            return (f"the same ratio in every bootstrap replicate: A reaches the target in "
                    f"{100 * self.p_reached:.0f}% of them at fixed costs")
        return f"bootstrap 95% CI of the ratio {self.ci_low:.2g}–{self.ci_high:.2g}"

    @property
    def significant(self) -> bool:
        """A reaches the target with less compute in at least 97.5% of bootstrap replicates: the ratio's 95%
        interval lies above 1× (replicates where A does not reach count as 0×). False without a bootstrap."""
        return finite(self.ratio) and self.ratio > 1 and finite(self.ci_low) and self.ci_low > 1

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["significant"] = self.significant
        d["sentence"] = self.sentence()
        return jsonable(d)


def reach_costs(cost: np.ndarray, acc: np.ndarray, target: np.ndarray, method: str,
                tolerance: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised reach cost of one arm over replicates.

    ``cost``, ``acc``: (B, n) costs and accuracies of the arm's n points; ``target``: (B,).
    Returns ``(reach_cost, lo_idx, hi_idx)`` each (B,): the cost (``inf`` when not reached) and the
    indices (into the n points) it comes from — equal for a measured point, the two ends of the
    interpolated segment otherwise (-1 when not reached).
    """
    cost = np.asarray(cost, dtype=float)
    acc = np.asarray(acc, dtype=float)
    target = np.asarray(target, dtype=float)
    B, n = acc.shape
    none = np.full(B, -1)
    if n == 0:
        return np.full(B, np.inf), none, none
    ok = np.isfinite(cost) & np.isfinite(acc) & (cost > 0)
    if method == "measured":
        hit = ok & (acc >= target[:, None] - tolerance)
        c = np.where(hit, cost, np.inf)
        # cheapest; among equal costs the most accurate
        key = np.where(hit, acc, -np.inf)
        order = np.lexsort((-key, c), axis=1)[:, 0] if B else np.zeros(0, dtype=int)
        best = c[np.arange(B), order]
        idx = np.where(np.isfinite(best), order, -1)
        return best, idx, idx
    if method != "interpolated":
        raise ValueError(f"reach_costs handles 'measured' and 'interpolated', not {method!r}")
    c = np.where(ok, cost, np.inf)
    a = np.where(ok, acc, -np.inf)
    order = np.argsort(c, axis=1, kind="stable")
    cs = np.take_along_axis(c, order, axis=1)
    as_ = np.take_along_axis(a, order, axis=1)
    run = np.maximum.accumulate(as_, axis=1)
    prev = np.concatenate([np.full((B, 1), -np.inf), run[:, :-1]], axis=1)
    new_max = as_ > prev
    pos = np.arange(n)[None, :]
    arg_run = np.maximum.accumulate(np.where(new_max, pos, 0), axis=1)
    reached = (run >= target[:, None]) & np.isfinite(cs)
    any_r = reached.any(axis=1)
    j = np.argmax(reached, axis=1)
    rows = np.arange(B)
    out = np.full(B, np.inf)
    lo = np.full(B, -1)
    hi = np.full(B, -1)
    first = any_r & (j == 0)
    out[first] = cs[first, 0]
    lo[first] = hi[first] = order[first, 0]
    mid = any_r & (j > 0)
    if mid.any():
        r, jj = rows[mid], j[mid]
        istar = arg_run[r, jj - 1]
        y0, y1 = as_[r, istar], as_[r, jj]
        c0, c1 = cs[r, istar], cs[r, jj]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.clip((target[mid] - y0) / (y1 - y0), 0.0, 1.0)
        out[mid] = 10.0 ** (np.log10(c0) + t * (np.log10(c1) - np.log10(c0)))
        hi[mid] = order[r, jj]
        # a crossing exactly at the upper point is that measured point, not a segment
        lo[mid] = np.where(t >= 1.0, order[r, jj], order[r, istar])
    return out, lo, hi


def learned(row: pd.Series) -> bool:
    """Whether a point learned anything: the lower end of its accuracy's 95% interval clears its trivial
    baseline (0 when unknown). 26% of 100 at a 25% chance baseline has the interval 18-35%: not learned;
    clearing 25% takes 34/100. Only learned points are targets of equivalences and frontier verdicts."""
    base = row.get("baseline")
    base = float(base) if finite(base) else 0.0
    lo = row.get("ci_low")
    if not finite(lo):
        n = row.get("n")
        if not finite(n) or float(n) <= 0:
            return float(row["accuracy"]) > base  # no sample size: the point estimate is all there is
        from scale_or_reason.util import wilson_interval

        lo = wilson_interval(float(row["accuracy"]) * float(n), float(n))[0]
    return float(lo) > base


above_baseline = learned
"""Former name of :func:`learned` (it compared the point estimate with the baseline)."""


def _family_equivalences(fam: pd.DataFrame, family: str, axis: str, method: str,
                         fits: FitSet | None, boot: Bootstrap | None, tolerance: float,
                         boot_cols: dict[tuple[str, str], int]) -> list[Equivalence]:
    col = AXES[axis]
    arms = ordered_arms(fam)
    out: list[Equivalence] = []
    use_boot = boot is not None and boot.n_boot > 0 and method in ("measured", "interpolated")
    bcost = boot.costs(axis) if use_boot else None
    per_arm: dict[str, dict[str, Any]] = {}
    for arm in arms:
        pts = fam[fam["arm"] == arm]
        front = set(pareto_frontier(pts, col).index)  # finite cost and accuracy, not dominated within the arm
        names = pts["student"].astype(str).tolist()
        cols = [boot_cols.get((s, arm)) for s in names]
        per_arm[arm] = {
            "names": names,
            "cost": pts[col].to_numpy(dtype=float),
            "acc": pts["accuracy"].to_numpy(dtype=float),
            "cols": cols if use_boot and all(c is not None for c in cols) else None,
            # learned points on the arm's own frontier: a point the arm beat more cheaply is no target (the ratio
            # against its cost would credit the other arm with this arm's waste: a larger student that learned less)
            "targets": [i for i, (idx, r) in enumerate(pts.iterrows()) if idx in front and learned(r)],
        }
    for tgt_arm in arms:
        tgt = per_arm[tgt_arm]
        t_idx = tgt["targets"]
        if not t_idx:
            continue
        t_cost, t_acc = tgt["cost"][t_idx], tgt["acc"][t_idx]
        for arm in arms:
            if arm == tgt_arm:
                continue
            a = per_arm[arm]
            n_t = len(t_idx)
            if method == "fitted":
                fit = fits.get(family, arm, axis) if fits is not None else None
                if fit is None:
                    continue
                reach = np.array([fit.cost_for(y) for y in t_acc])
                lo = hi = np.full(n_t, -1)
            else:
                reach, lo, hi = reach_costs(np.tile(a["cost"], (n_t, 1)), np.tile(a["acc"], (n_t, 1)),
                                            t_acc, method, tolerance)
            k_boot = None
            if use_boot and a["cols"] is not None and tgt["cols"] is not None:
                B = boot.n_boot
                aa = boot.accuracy[:, a["cols"]]
                aa = np.where(np.isfinite(aa), aa, a["acc"][None, :])
                tc_cols = [tgt["cols"][i] for i in t_idx]
                ta = boot.accuracy[:, tc_cols]                      # (B, T)
                ta = np.where(np.isfinite(ta), ta, t_acc[None, :])
                rc, _, _ = reach_costs(np.tile(bcost[:, a["cols"]], (n_t, 1)), np.tile(aa, (n_t, 1)),
                                       ta.T.reshape(-1), method, tolerance)
                rc = rc.reshape(n_t, B)
                tcb = bcost[:, tc_cols].T                            # (T, B)
                with np.errstate(divide="ignore", invalid="ignore"):
                    k_boot = np.where(np.isfinite(rc), tcb / rc, 0.0)
                reached_boot = np.isfinite(rc)
            for j in range(n_t):
                cost = float(reach[j])
                if not math.isfinite(cost) or cost <= 0:  # never reached (or, fitted: below α)
                    continue
                student: str | None = None
                bracket: list[str] = []
                extrapolated = False
                if method == "fitted":
                    reached_acc = float(t_acc[j])
                    extrapolated = not (fit.cost_min <= cost <= fit.cost_max)
                elif method == "measured":
                    student = a["names"][lo[j]]
                    bracket = [student]
                    reached_acc = float(a["acc"][lo[j]])
                else:
                    same = lo[j] == hi[j]
                    bracket = [a["names"][lo[j]]] if same else [a["names"][lo[j]], a["names"][hi[j]]]
                    reached_acc = float(a["acc"][lo[j]]) if same else float(t_acc[j])
                eq = Equivalence(
                    family=family, axis=axis, method=method, arm=arm, target_arm=tgt_arm,
                    target_student=tgt["names"][t_idx[j]], target_accuracy=float(t_acc[j]),
                    target_cost=float(t_cost[j]), cost=cost, accuracy=reached_acc,
                    ratio=float(t_cost[j]) / cost, student=student, bracket=bracket,
                    extrapolated=extrapolated, tolerance=tolerance,
                )
                if k_boot is not None:
                    eq.ci_low, eq.ci_high = percentile_interval(k_boot[j])
                    eq.p_cheaper = float(np.mean(k_boot[j] > 1))
                    eq.p_reached = float(np.mean(reached_boot[j]))
                out.append(eq)
    return out


def equivalences(
    results: pd.DataFrame,
    *,
    method: str = "measured",
    axes: tuple[str, ...] = tuple(AXES),
    fits: FitSet | None = None,
    boot: Bootstrap | None = None,
    tolerance: float = 0.0,
) -> list[Equivalence]:
    """Every (target point b, other arm A) pair of each family where A reaches b's accuracy.

    Pairs where A never reaches b are left out, and so are targets b at or below their trivial
    baseline (at 0% when the baseline is unknown): matching a chance-level point says nothing; and targets off
    their own arm's frontier on the axis (a cheaper point of B is at least as accurate): B reaches that accuracy
    more cheaply itself, so the ratio against b's cost would be inflated. ``fits`` is needed for ``method='fitted'``;
    ``boot`` adds intervals to ``measured`` and ``interpolated`` ratios. ``tolerance`` (fraction,
    measured only) accepts A points up to that much below b (the paper's "similar accuracy").

    Example::

        for e in equivalences(results, method="interpolated"):
            print(e.sentence())
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {list(METHODS)}")
    if method == "fitted" and fits is None:
        raise ValueError("method='fitted' needs the fits (fit_curves(results))")
    agg = aggregate_by_family(results)
    out: list[Equivalence] = []
    for family in ordered_families(agg):
        fam = agg[agg["family"] == family]
        cols: dict[tuple[str, str], int] = {}
        if boot is not None:
            for i, r in boot.points.iterrows():
                if str(r["family"]) == family:
                    cols[(str(r["student"]), str(r["arm"]))] = int(i)
        for axis in axes:
            out.extend(_family_equivalences(fam, family, axis, method, fits, boot, tolerance, cols))
    return out


HEADLINE_RULE = ("targets are learned points on their own arm's frontier (no cheaper point of that arm is at least"
                 " as accurate); a ratio is stated only when its 95% bootstrap interval lies above 1× (A reaches "
                 "the target with less compute in at least 97.5% of replicates; replicates resample the benchmark "
                 "items jointly for every point when per-sample answers exist, a paired test, else each point's "
                 "binomial, and training seeds when there are several); among those, the headline is the one whose"
                 " target is the most accurate point of the other arm (ties: the narrower interval), never the "
                 "largest ratio")
"""How :func:`headline` picks the sentence of a family and axis (shown in the report)."""


def headline(eqs: list[Equivalence], family: str, axis: str, arm: str, target_arm: str,
             untested: bool = False) -> Equivalence | None:
    """The equivalence of A over B worth a sentence, by ``HEADLINE_RULE`` (None when none is significant).

    Only ratios whose bootstrap interval excludes 1× on the cheaper side count (no interval: no claim).
    Choosing the largest ratio would favour the noisiest pair; the most accurate target is the strongest
    configuration of B that A matches. ``untested``: the results carry no sample sizes (a published table),
    so nothing can be tested; the same rule then picks among point estimates, and the caller must say so.
    """
    cands = [e for e in eqs if (e.family, e.axis, e.arm, e.target_arm) == (family, axis, arm, target_arm)
             and (e.significant or (untested and finite(e.ratio) and e.ratio > 1))]
    if not cands:
        return None
    return max(cands, key=lambda e: (e.target_accuracy, -((e.ci_high - e.ci_low) if e.significant else 0.0)))


def find(eqs: list[Equivalence], family: str, axis: str, arm: str, target_arm: str,
         target_student: str) -> Equivalence | None:
    """The equivalence of one arm for one target point (None if A does not reach it)."""
    for e in eqs:
        if (e.family, e.axis, e.arm, e.target_arm, e.target_student) == (
                family, axis, arm, target_arm, target_student):
            return e
    return None
