"""Plain-language verdicts per task family: typed facts computed once from the results table, sentences
rendered from the facts (never hard-coded, never recomputed).

For each family, :func:`family_verdict` gathers a :class:`FamilyVerdict`: which (student, arm) points are
on the training-FLOPs and the inference-FLOPs frontiers (learned points only, with the bootstrap
probability of being there), which arm is the best measured choice within each budget, which arm holds
the best accuracy, IFT vs reasoning at each student size (:class:`SizeComparison`), the largest student
against the trivial baseline (:class:`LargestStudent`), the best reasoning point matched by IFT
(:class:`MatchedCompute`), and per axis and direction the equivalence worth a sentence
(:class:`EquivalenceFinding`: "arm A at size a reaches arm B's accuracy at size b with k× less training
(inference) compute", chosen by ``HEADLINE_RULE`` among ratios whose bootstrap interval excludes 1×).
:attr:`FamilyVerdict.sentences` and :attr:`FamilyVerdict.answer` render those facts; nothing in the
rendering computes a statistic.

Equivalence headlines use **measured points** (a is a trained and evaluated student); the same
sentence gives the ratio obtained by **interpolation** between measured points and, when fits are
given, from the **fitted curves** — each labelled. With training and inference FLOPs, the verdict gives
the break-even number of queries Q at which total cost (training + Q × inference) flips between the two
points, and how the total-cost frontier changes with Q. Arms other than ``ift`` and ``reasoning``
(curricula) appear on the frontiers, budgets and "best accuracy"; their equivalences are in
``Analysis.equivalences`` (JSON), not in the sentences.

Example::

    from scale_or_reason.analysis.verdicts import family_verdicts, render_verdicts, verdicts
    typed = family_verdicts(results)       # list of FamilyVerdict, one per family
    print(typed[0].answer)                 # the one-sentence answer the report leads with
    v = verdicts(results)                  # the same as JSON-able dicts (with "sentences")
    print(render_verdicts(v))              # plain text
    # with uncertainty and fits (what ``run_analysis`` passes):
    # family_verdicts(results, boot=bootstrap(results, answers), fits=fit_curves(results))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from scale_or_reason.analysis.arms import (
    IFT,
    REASONING,
    arm_kind,
    arm_word,
    ordered_arms,
    ordered_families,
    ordered_students,
)
from scale_or_reason.analysis.equivalence import (
    AXIS_WORDS,
    HEADLINE_RULE,
    Equivalence,
    equivalences,
    find,
    headline,
    learned,
)
from scale_or_reason.analysis.fits import FitSet
from scale_or_reason.analysis.formatting import (
    finite,
    fmt_flops,
    fmt_params,
    fmt_pct,
    fmt_points,
    fmt_ratio,
    jsonable,
)
from scale_or_reason.analysis.frontier import (
    AXES,
    aggregate_by_family,
    family_convention,
    frontier_points,
)
from scale_or_reason.analysis.total_cost import (
    arm_regimes,
    break_even,
    budget_segments,
    frontier_regimes,
)
from scale_or_reason.analysis.uncertainty import Bootstrap, seed_spread

LEVEL_POINTS = 0.05
"""Differences below this many accuracy points are reported as level (they print as 0.0)."""

_AXIS_TITLE = {"train_flops": "Training-FLOPs", "inference_flops": "Inference-FLOPs"}
_BUDGET_WORDS = {"train_flops": "training-FLOPs budget", "inference_flops": "inference budget per query"}


def _point_name(student: str, arm: str) -> str:
    return f"{student} {arm_word(arm)}"


# ---------------------------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class Point:
    """One (student, arm) of a family, as the verdict cites it (accuracies are fractions)."""

    student: str
    """Student label."""
    arm: str
    """Arm label."""
    parameters: float
    """Parameter count (NaN when unknown)."""
    accuracy: float
    """Accuracy pooled over the family's benchmarks."""
    ci_low: float
    """Lower end of its 95% interval (Wilson, or with the seed variance)."""
    ci_high: float
    """Upper end of its 95% interval."""
    baseline: float
    """Trivial baseline of the family (chance for multiple choice)."""
    train_flops: float
    """Training FLOPs of the run."""
    inference_flops: float
    """Mean inference FLOPs per query."""

    @classmethod
    def from_row(cls, row: pd.Series) -> Point:
        return cls(str(row["student"]), str(row["arm"]), row["parameters"], row["accuracy"], row["ci_low"],
                   row["ci_high"], row["baseline"], row["train_flops"], row["inference_flops_mean"])

    @property
    def name(self) -> str:
        return _point_name(self.student, self.arm)

    @property
    def ci_text(self) -> str:
        if finite(self.ci_low) and finite(self.ci_high):
            return f" [95% CI {100 * self.ci_low:.1f}-{100 * self.ci_high:.1f}]"
        return ""

    def to_dict(self) -> dict[str, Any]:
        return jsonable({k: getattr(self, k) for k in self.__dataclass_fields__})


def _ci_overlap(a: Point, b: Point) -> bool | None:
    ends = (a.ci_low, a.ci_high, b.ci_low, b.ci_high)
    if not all(finite(x) for x in ends):
        return None
    return bool(max(a.ci_low, b.ci_low) <= min(a.ci_high, b.ci_high))


@dataclass(frozen=True)
class SizeComparison:
    """IFT vs reasoning at one student size."""

    student: str
    """Student label."""
    parameters: float
    """Its parameter count."""
    ift: Point | None
    """Its IFT point (None when not measured)."""
    reasoning: Point | None
    """Its reasoning point."""
    delta_points: float | None = None
    """Reasoning − IFT accuracy in percentage points (None when an arm is missing)."""
    winner: str | None = None
    """``'reasoning'``, ``'ift'`` or ``'tie'`` by point estimate (the paper's Table 1 count); None: no pair."""
    ci_overlap: bool | None = None
    """Whether the two 95% intervals overlap (None: no intervals): a win is significant only without overlap."""

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"student": self.student, "parameters": self.parameters,
                         "ift_accuracy": self.ift.accuracy if self.ift else None,
                         "reasoning_accuracy": self.reasoning.accuracy if self.reasoning else None,
                         "delta_points": self.delta_points, "winner": self.winner, "ci_overlap": self.ci_overlap,
                         "sentence": _size_sentence(self)})


def _size_comparison(student: str, ift: Point | None, rsn: Point | None) -> SizeComparison:
    params = (ift or rsn).parameters if (ift or rsn) else math.nan
    if ift is None or rsn is None or not (finite(ift.accuracy) and finite(rsn.accuracy)):
        return SizeComparison(student, params, ift, rsn)
    delta = float(rsn.accuracy - ift.accuracy)
    if abs(100 * delta) < LEVEL_POINTS:
        winner = "tie"
    else:
        winner = REASONING if delta > 0 else IFT
    return SizeComparison(student, params, ift, rsn, 100 * delta, winner, _ci_overlap(ift, rsn))


@dataclass(frozen=True)
class LargestStudent:
    """The largest student of a family against the trivial baseline."""

    student: str
    """Student label."""
    parameters: float
    """Its parameter count."""
    arms: list[dict[str, Any]]
    """Per arm: ``arm``, ``accuracy``, ``baseline``, ``above_baseline_points`` (None without a baseline)."""

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"student": self.student, "parameters": self.parameters, "arms": self.arms,
                         "sentence": _largest_sentence(self)})


def _largest(fam: pd.DataFrame, students: list[str]) -> LargestStudent | None:
    if not students:
        return None
    largest = students[-1]
    rows = fam[fam["student"] == largest]
    arms = []
    for arm in ordered_arms(rows):
        r = Point.from_row(rows[rows["arm"] == arm].iloc[0])
        gap = 100 * (r.accuracy - r.baseline) if finite(r.accuracy) and finite(r.baseline) else None
        arms.append({"arm": arm, "accuracy": r.accuracy, "baseline": r.baseline, "above_baseline_points": gap})
    return LargestStudent(largest, rows["parameters"].iloc[0], arms)


@dataclass(frozen=True)
class MatchedCompute:
    """The best reasoning point (the cheapest of the most accurate) and the cheapest IFT point reaching it."""

    reasoning: Point
    """The best reasoning point."""
    reasoning_learned: bool
    """Whether it learned (its interval clears the baseline); if not, nothing is matched."""
    ift: Point | None = None
    """The cheapest IFT point at least as accurate (None: none reaches it, or it did not learn)."""
    best_ift: Point | None = None
    """When no IFT point reaches it: the most accurate IFT point."""
    train_flops_ratio: float | None = None
    """Reasoning's training FLOPs / IFT's (> 1: IFT needs less)."""
    inference_flops_ratio: float | None = None
    """Reasoning's inference FLOPs per query / IFT's."""
    train_flops_ratio_ci: tuple[float, float] = (math.nan, math.nan)
    """Bootstrap 95% interval of the training ratio (the measured equivalence of IFT over this point)."""

    @property
    def significant(self) -> bool:
        lo, hi = self.train_flops_ratio_ci
        return finite(lo) and finite(hi) and not (lo <= 1 <= hi)

    def to_dict(self) -> dict[str, Any]:
        d = {"reasoning": self.reasoning.to_dict(), "ift": self.ift.to_dict() if self.ift else None,
             "train_flops_ratio": self.train_flops_ratio, "inference_flops_ratio": self.inference_flops_ratio,
             "train_flops_ratio_ci": list(self.train_flops_ratio_ci), "significant": self.significant,
             "sentence": _matched_sentence(self)}
        if self.best_ift is not None:
            d["best_ift"] = self.best_ift.to_dict()
        return jsonable(d)


def _matched_compute(fam: pd.DataFrame, measured: list[Equivalence] | None) -> MatchedCompute | None:
    kinds = fam["arm"].map(arm_kind)
    rsn = fam[(kinds == REASONING) & fam["accuracy"].map(finite)]
    ift = fam[(kinds == IFT) & fam["accuracy"].map(finite)]
    if rsn.empty or ift.empty:
        return None
    best_acc = rsn["accuracy"].max()
    # among equally accurate reasoning points, the cheapest one to train
    best_row = rsn[rsn["accuracy"] == best_acc].sort_values("train_flops", kind="stable").iloc[0]
    best = Point.from_row(best_row)
    if not learned(best_row):
        return MatchedCompute(best, False)
    reaching = ift[(ift["accuracy"] >= best_acc) & ift["train_flops"].map(finite)]
    if reaching.empty:
        top = Point.from_row(ift.sort_values(["accuracy", "train_flops"], ascending=[False, True],
                                             kind="stable").iloc[0])
        return MatchedCompute(best, True, best_ift=top)
    cheapest = Point.from_row(reaching.sort_values(["train_flops", "accuracy"], ascending=[True, False],
                                                   kind="stable").iloc[0])

    def ratio(a: float, b: float) -> float | None:
        return a / b if finite(a) and finite(b) and b > 0 else None

    eq = find(measured or [], str(best_row["family"]), "train_flops", str(ift["arm"].iloc[0]), best.arm,
              best.student)
    ci = (eq.ci_low, eq.ci_high) if eq is not None else (math.nan, math.nan)
    return MatchedCompute(best, True, cheapest, None, ratio(best.train_flops, cheapest.train_flops),
                          ratio(best.inference_flops, cheapest.inference_flops), ci)


@dataclass(frozen=True)
class EquivalenceFinding:
    """What can be said of arm A reaching arm B's accuracy with less compute on one axis."""

    axis: str
    """``'train_flops'`` or ``'inference_flops'``."""
    arm: str
    """Arm A (the one reaching)."""
    target_arm: str
    """Arm B (the target)."""
    status: str
    """``'claim'`` (``equivalence`` passed ``HEADLINE_RULE``), ``'none'`` (no measured A point reaches a learned
    B point with less compute significantly) or ``'no_learned_target'`` (no B point learned)."""
    tested: bool = True
    """False when the results carry no sample sizes: the claim is a point estimate, said as such."""
    equivalence: Equivalence | None = None
    """The headline equivalence (measured points), for ``'claim'``."""
    also: list[str] = field(default_factory=list)
    """The same target's ratio by the other methods (interpolated, fitted), labelled."""
    break_even: dict[str, Any] | None = None
    """Training axis: the number of queries at which the two points' total costs cross."""

    def to_dict(self) -> dict[str, Any]:
        """The equivalence's fields, ``tested`` and ``break_even`` (what ``verdicts()['equivalences']`` lists)."""
        d = self.equivalence.to_dict() if self.equivalence is not None else {}
        d["tested"] = self.tested
        if self.break_even is not None:
            d["break_even"] = self.break_even
        return jsonable(d)


def _other_ratio(eq: Equivalence, pool: list[Equivalence]) -> str | None:
    e = find(pool, eq.family, eq.axis, eq.arm, eq.target_arm, eq.target_student)
    if e is None:
        return None
    word = {"interpolated": "interpolated", "fitted": "fitted curves"}[e.method]
    extra = ", extrapolated" if e.extrapolated else ""
    return f"{word}: {fmt_ratio(e.ratio)}{extra}"


def _findings(family: str, eqs: dict[str, list[Equivalence]], fam: pd.DataFrame,
              untested: bool) -> list[EquivalenceFinding]:
    out: list[EquivalenceFinding] = []
    measured = eqs.get("measured", [])
    for axis in AXES:
        for arm_a, arm_b in ((IFT, REASONING), (REASONING, IFT)):
            a_name = next((a for a in fam["arm"] if arm_kind(a) == arm_a), None)
            b_name = next((a for a in fam["arm"] if arm_kind(a) == arm_b), None)
            if a_name is None or b_name is None:
                continue
            b_rows = fam[(fam["arm"] == b_name) & fam[AXES[axis]].map(finite) & fam["accuracy"].map(finite)]
            if b_rows.empty:
                continue
            if not b_rows.apply(learned, axis=1).any():
                # said once per arm: on the training axis, or the inference axis of a table without training FLOPs
                if axis == "train_flops" or not fam.loc[fam["arm"] == b_name, "train_flops"].map(finite).any():
                    out.append(EquivalenceFinding(axis, a_name, b_name, "no_learned_target", not untested))
                continue
            best = headline(measured, family, axis, a_name, b_name, untested=untested)
            if best is None:
                out.append(EquivalenceFinding(axis, a_name, b_name, "none", not untested))
                continue
            also = [o for o in (_other_ratio(best, eqs.get("interpolated", [])),
                                _other_ratio(best, eqs.get("fitted", []))) if o]
            be = None
            if axis == "train_flops":
                a_row = fam[(fam["student"] == best.student) & (fam["arm"] == a_name)].iloc[0]
                b_row = fam[(fam["student"] == best.target_student) & (fam["arm"] == b_name)].iloc[0]
                be = break_even({"train_flops": a_row["train_flops"], "inference_flops": a_row["inference_flops_mean"]},
                                {"train_flops": b_row["train_flops"], "inference_flops": b_row["inference_flops_mean"]},
                                (f"{arm_word(a_name)} {best.student}", f"{arm_word(b_name)} {best.target_student}"))
            out.append(EquivalenceFinding(axis, a_name, b_name, "claim", not untested, best, also, be))
    return out


@dataclass
class FamilyVerdict:
    """Every fact the verdict of one family rests on; :attr:`sentences` and :attr:`answer` render them."""

    family: str
    """Task family."""
    convention: str
    """FLOPs convention of its rows (``'paper'``, ``'exact'``, ...)."""
    arms: list[str]
    """Arms present, IFT first."""
    students: list[str]
    """Students by size."""
    n_points: int
    """Number of (student, arm) points."""
    n_learned: int
    """Points whose 95% interval's lower end clears the trivial baseline."""
    tested: bool
    """False when the results carry no sample sizes (a published table): nothing can be tested."""
    frontier: dict[str, list[dict[str, Any]]]
    """Axis -> Pareto frontier of the learned points, by increasing cost."""
    p_frontier: dict[str, dict[tuple[str, str], float]]
    """Axis -> (student, arm) -> bootstrap probability of being on the frontier (empty without bootstrap)."""
    budgets: dict[str, list[dict[str, Any]]]
    """Axis -> best measured arm per budget segment of the learned frontier."""
    best: list[Point]
    """The most accurate point(s)."""
    best_arm: str | None
    """Their arm, ``'tie'`` when several arms share it, None without scores."""
    missing: list[str]
    """``'IFT'`` / ``'reasoning'`` when that arm is absent (the IFT vs reasoning comparisons are skipped)."""
    by_size: list[SizeComparison]
    """IFT vs reasoning per student (empty when an arm is missing)."""
    tops: dict[str, Point]
    """``'ift'`` / ``'reasoning'`` -> that arm's most accurate point."""
    largest: LargestStudent | None
    """The largest student against the baseline."""
    matched: MatchedCompute | None
    """The best reasoning point matched by IFT at training compute."""
    findings: list[EquivalenceFinding]
    """Per axis and direction: the equivalence worth a sentence, or why there is none."""
    regimes: list[dict[str, Any]]
    """Total-cost frontier of the learned points by range of queries Q."""
    seed_spread: list[dict[str, Any]]
    """Per point with several seeds: the spread of accuracy across seeds."""

    @property
    def equivalences(self) -> list[EquivalenceFinding]:
        """The findings that state a ratio."""
        return [f for f in self.findings if f.status == "claim"]

    @property
    def sentences(self) -> list[str]:
        return _sentences(self)

    @property
    def answer(self) -> str:
        return _answer(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able facts plus ``sentences`` and ``answer`` (the keys ``sor analyze --json`` prints)."""
        return jsonable({
            "family": self.family,
            "answer": self.answer,
            "convention": self.convention,
            "arms": self.arms,
            "students": self.students,
            "n_points": self.n_points,
            "n_learned": self.n_learned,
            "tested": self.tested,
            "frontier": self.frontier,
            "p_frontier": {axis: [{"student": k[0], "arm": k[1], "p": v} for k, v in self.p_frontier.get(axis, {}).items()]
                           for axis in AXES},
            "budgets": self.budgets,
            "best": [p.to_dict() for p in self.best],
            "best_arm": self.best_arm,
            "by_size": [s.to_dict() for s in self.by_size],
            "largest": self.largest.to_dict() if self.largest else None,
            "matched_compute": self.matched.to_dict() if self.matched else None,
            "equivalences": [f.to_dict() for f in self.equivalences],
            "regimes": self.regimes,
            "seed_spread": self.seed_spread,
            "sentences": self.sentences,
        })


def family_verdict(family: str, fam: pd.DataFrame, *, eqs: dict[str, list[Equivalence]] | None = None,
                   p_frontier: dict[str, dict[tuple[str, str], float]] | None = None,
                   regimes: list[dict[str, Any]] | None = None,
                   spread: pd.DataFrame | None = None) -> FamilyVerdict:
    """The facts of one family's verdict from its aggregated rows (``aggregate_by_family``).

    ``eqs`` (method -> this family's equivalences), ``regimes`` and ``spread`` are reused when given (what
    ``run_analysis`` computed), else computed here; ``p_frontier`` comes from the bootstrap."""
    arms = ordered_arms(fam)
    students = ordered_students(fam)
    kinds = {arm_kind(a) for a in arms}
    # frontier verdicts use learned points only (the others are plotted, greyed): a point at chance is on
    # every frontier by construction when it is the cheapest
    learned_rows = fam[fam.apply(learned, axis=1)] if len(fam) else fam
    front = {axis: frontier_points(learned_rows, axis) for axis in AXES}
    scored = fam[fam["accuracy"].map(finite)]
    best: list[Point] = []
    best_arm: str | None = None
    if not scored.empty:
        top = scored["accuracy"].max()
        best = [Point.from_row(r) for _, r in scored[scored["accuracy"] == top].iterrows()]
        best_arms = sorted({b.arm for b in best})
        best_arm = best_arms[0] if len(best_arms) == 1 else "tie"
    missing = [w for k, w in ((IFT, "IFT"), (REASONING, "reasoning")) if k not in kinds]
    by_size: list[SizeComparison] = []
    tops: dict[str, Point] = {}
    for kind in (IFT, REASONING):
        rows = scored[scored["arm"].map(arm_kind) == kind]
        if not rows.empty:
            tops[kind] = Point.from_row(rows.sort_values("accuracy", ascending=False, kind="stable").iloc[0])
    if not missing:
        for student in students:
            rows = fam[fam["student"] == student]
            pick: dict[str, Point | None] = {}
            for kind in (IFT, REASONING):
                r = rows[rows["arm"].map(arm_kind) == kind]
                pick[kind] = Point.from_row(r.iloc[0]) if not r.empty else None
            by_size.append(_size_comparison(student, pick[IFT], pick[REASONING]))
    tested = "n" in fam and bool(fam["n"].map(finite).any())
    if eqs is None:
        eqs = {m: equivalences(fam, method=m) for m in ("measured", "interpolated")}
    if regimes is None:
        regimes = frontier_regimes(learned_rows, family) if not learned_rows.empty else []
    spread_items: list[dict[str, Any]] = []
    if spread is not None and not spread.empty:
        spread_items = spread[spread["family"] == family].to_dict("records")
    return FamilyVerdict(
        family=family, convention=family_convention(fam, family), arms=arms, students=students,
        n_points=len(fam), n_learned=len(learned_rows), tested=tested, frontier=front,
        p_frontier=p_frontier or {}, budgets={axis: budget_segments(front[axis]) for axis in AXES},
        best=best, best_arm=best_arm, missing=missing, by_size=by_size, tops=tops,
        largest=_largest(fam, students),
        matched=None if missing else _matched_compute(fam, eqs.get("measured")),
        findings=[] if missing else _findings(family, eqs, fam, untested=not tested),
        regimes=regimes, seed_spread=spread_items,
    )


# ------------------------------------------------------------------------------------------ sentences


def _ratio_phrase(ratio: float, what: str) -> str:
    """``2.1 -> '2.1x less training compute'`` (ratio = other's cost / this point's cost)."""
    if not finite(ratio) or ratio <= 0:
        return f"an unknown amount of {what}"
    if f"{ratio:.1f}" == "1.0" and f"{1 / ratio:.1f}" == "1.0":
        return f"about the same {what} (ratio {ratio:.2f})"
    if ratio > 1:
        return f"{ratio:.1f}× less {what}"
    return f"{1 / ratio:.1f}× more {what}"


def _frontier_sentence(axis: str, points: list[dict[str, Any]], n_points: int,
                       probs: dict[tuple[str, str], float]) -> str:
    axis_words = _AXIS_TITLE[axis]
    if not points:
        return f"{axis_words} frontier: no point has a finite cost and accuracy."
    names = ", ".join(_point_name(p["student"], p["arm"]) for p in points)
    counts: dict[str, int] = {}
    for p in points:
        counts[arm_word(p["arm"])] = counts.get(arm_word(p["arm"]), 0) + 1
    split = ", ".join(f"{k} {v}" for k, v in counts.items())
    text = (f"{axis_words} frontier (learned points, by increasing cost): {names} "
            f"({len(points)} of {n_points} learned points: {split}).")
    vals = [(p, probs.get((p["student"], p["arm"]))) for p in points]
    vals = [(p, v) for p, v in vals if finite(v)]
    if vals:
        text += " Bootstrap probability of being on it: " + ", ".join(
            f"{_point_name(p['student'], p['arm'])} {v:.2f}" for p, v in vals) + "."
    return text


def _budget_sentence(axis: str, segs: list[dict[str, Any]]) -> str | None:
    if not segs:
        return None
    parts = [f"below {fmt_flops(segs[0]['from'])} FLOPs nothing measured fits"]
    for seg in segs:
        parts.append(f"from {fmt_flops(seg['from'])}: {arm_word(seg['arm'])} ({', '.join(seg['points'])})")
    return f"Best measured choice by {_BUDGET_WORDS[axis]}: " + "; ".join(parts) + "."


def _size_sentence(s: SizeComparison) -> str:
    size = f"{s.student} ({fmt_params(s.parameters)} parameters)" if finite(s.parameters) else s.student
    if s.winner is None:
        have = "IFT" if s.ift is not None else "reasoning" if s.reasoning is not None else "neither arm"
        return f"{size}: only {have} measured, no comparison at this size."
    assert s.ift is not None and s.reasoning is not None and s.delta_points is not None
    accs = f"reasoning {fmt_pct(s.reasoning.accuracy)} vs IFT {fmt_pct(s.ift.accuracy)}"
    if s.winner == "tie":
        return f"{size}: reasoning and IFT are level ({accs})."
    winner, loser = ("reasoning", "IFT") if s.winner == REASONING else ("IFT", "reasoning")
    delta = s.delta_points / 100
    if s.ci_overlap is False:
        return f"{size}: {winner} beats {loser} by {fmt_points(delta)} points ({accs}); the 95% Wilson intervals do not overlap."
    if s.ci_overlap is None:
        return (f"{size}: {winner} ahead of {loser} by {fmt_points(delta)} points ({accs}; point "
                f"estimates, no intervals to test).")
    return (f"{size}: no significant difference ({accs}; {winner} ahead by {fmt_points(delta)} points, but the "
            f"95% Wilson intervals overlap, so the difference is not clear-cut).")


def _largest_sentence(g: LargestStudent) -> str:
    size = f"{g.student} ({fmt_params(g.parameters)} parameters)" if finite(g.parameters) else g.student
    parts = []
    for a in g.arms:
        gap, acc = a["above_baseline_points"], a["accuracy"]
        if gap is None:
            parts.append(f"{arm_word(a['arm'])} {fmt_pct(acc)} (baseline unknown)")
        elif abs(gap) < LEVEL_POINTS:
            parts.append(f"{arm_word(a['arm'])} {fmt_pct(acc)} (level with the baseline)")
        else:
            where = "above" if gap > 0 else "below"
            parts.append(f"{arm_word(a['arm'])} {fmt_pct(acc)} ({fmt_points(gap / 100)} points {where})")
    bases = [a["baseline"] for a in g.arms if finite(a["baseline"])]
    base_text = ""
    if bases:
        lo, hi = min(bases), max(bases)
        base_text = f" against a trivial baseline of {fmt_pct(lo)}" if fmt_pct(lo) == fmt_pct(hi) else (
            f" against trivial baselines of {fmt_pct(lo)}-{fmt_pct(hi)}")
    return f"Largest student {size}{base_text}: " + "; ".join(parts) + "."


def _matched_sentence(m: MatchedCompute) -> str:
    best = m.reasoning
    rname = f"reasoning {best.student}"
    if not m.reasoning_learned:
        return (f"Matched training compute: the best reasoning point (reasoning {best.student}, "
                f"{fmt_pct(best.accuracy)}) did not learn (the lower end of its 95% interval does not clear the "
                f"trivial baseline), so matching it says nothing.")
    if m.ift is None:
        top = m.best_ift
        assert top is not None
        return (f"Matched training compute (measured points): no measured IFT point reaches the accuracy of the best "
                f"reasoning point ({rname}, {fmt_pct(best.accuracy)}); the best IFT point is {top.student} at "
                f"{fmt_pct(top.accuracy)}.")
    ift = m.ift
    reach = "matches" if ift.accuracy == best.accuracy else "exceeds"
    lo, hi = m.train_flops_ratio_ci
    if not m.significant:
        why = (f"its 95% bootstrap interval {lo:.2g}–{hi:.2g}× includes 1×" if finite(lo) and finite(hi)
               else "no bootstrap interval")
        return (f"Matched training compute (measured points): IFT {ift.student} {reach} the best reasoning point, "
                f"{rname} ({fmt_pct(ift.accuracy)} vs {fmt_pct(best.accuracy)}), but the training-compute ratio is "
                f"not significant ({why}): no significant difference at this budget.")
    sentence = (f"Matched training compute (measured points): IFT {ift.student} {reach} the best reasoning point, "
                f"{rname} ({fmt_pct(ift.accuracy)} vs {fmt_pct(best.accuracy)}), with "
                f"{_ratio_phrase(m.train_flops_ratio, 'training compute')} ({fmt_flops(ift.train_flops)} vs "
                f"{fmt_flops(best.train_flops)} FLOPs; bootstrap 95% CI {lo:.2g}–{hi:.2g}×)")
    if m.inference_flops_ratio is not None:
        sentence += f" and {_ratio_phrase(m.inference_flops_ratio, 'inference compute per query')}"
    return sentence + "."


def _finding_sentence(f: EquivalenceFinding) -> str:
    a, b = arm_word(f.arm), arm_word(f.target_arm)
    what = AXIS_WORDS[f.axis]
    if f.status == "no_learned_target":
        return (f"No {b} point learned (none has the lower end of its 95% interval above the trivial baseline): no "
                f"compute equivalence against {b} is worth stating.")
    if f.status == "none":
        if not f.tested:
            return f"By point estimates, no measured {a} point reaches a learned {b} point's accuracy with less {what}."
        return (f"No significant {what} saving of {a} over {b} at this budget: no measured {a} point reaches a learned "
                f"{b} point's accuracy with less {what} in at least 97.5% of bootstrap replicates.")
    assert f.equivalence is not None
    text = f.equivalence.sentence(f.also)
    if not f.tested:
        text += " (Point estimates only: not a tested claim.)"
    be = f.break_even or {}
    if be.get("queries") is not None:
        text += (f" Counting serving, total cost = training + Q × inference: {be['cheaper_below']} is cheaper below "
                 f"Q = {be['queries']:.3g} queries, {be['cheaper_above']} beyond (break-even).")
    elif be and be.get("cheaper") == f"{a} {f.equivalence.student}":
        text += " It is also no dearer per query, so it is cheaper in total at any number of queries."
    return text


def _regime_sentence(regimes: list[dict[str, Any]]) -> str | None:
    merged = arm_regimes(regimes)
    if not merged:
        return None

    def arms_text(arms: dict[str, int]) -> str:
        return ", ".join(f"{arm_word(a)} {n}" for a, n in arms.items()) or "no point"

    if len(merged) == 1:
        return (f"Total cost (training + Q × inference): the frontier's arms are the same at every Q "
                f"(frontier points by arm: {arms_text(merged[0]['arms'])}).")
    parts = []
    for r in merged:
        lo, hi = r["q_from"], r["q_to"]
        rng = (f"Q < {hi:.3g}" if lo == 0 else f"Q ≥ {lo:.3g}" if hi is None else f"{lo:.3g} ≤ Q < {hi:.3g}")
        parts.append(f"{rng}: {arms_text(r['arms'])}")
    return ("Total cost (training + Q × inference), frontier points by arm as the number of queries "
            "Q grows — the verdict flips at the boundaries: " + "; ".join(parts) + ".")


def _sentences(v: FamilyVerdict) -> list[str]:
    """Every sentence of a family's verdict, in reading order, rendered from its facts."""
    out: list[str] = []
    if v.n_learned == 0:
        out.append(f"No point learned: none of the {v.n_points} has the lower end of its 95% interval above its "
                   f"trivial baseline, so there is no frontier and no significant difference at this budget.")
    else:
        out.extend(_frontier_sentence(axis, v.frontier[axis], v.n_learned, v.p_frontier.get(axis, {}))
                   for axis in AXES)
    for axis in AXES:
        b = _budget_sentence(axis, v.budgets[axis])
        if b and len(v.frontier[axis]) > 1:
            out.append(b)
    if v.best:
        names = " and ".join(p.name for p in v.best)
        if v.n_learned == 0:
            tail = "no point learned, so this names no best arm"
        elif v.best_arm == "tie":
            tail = f"the arms {', '.join(arm_word(a) for a in sorted({p.arm for p in v.best}))} tie for it"
        else:
            tail = f"the best arm is {arm_word(str(v.best_arm))}"
        out.append(f"Best accuracy: {names} at {fmt_pct(v.best[0].accuracy)}{v.best[0].ci_text}; {tail}.")
    if v.missing:
        out.append(f"No {' or '.join(v.missing)} arm in the results for this family: the IFT vs reasoning "
                   f"comparisons (equal size, matched compute) are skipped.")
    compared = [s for s in v.by_size if s.winner is not None]
    if compared:
        wins = sum(s.winner == REASONING for s in compared)
        clear = sum(s.winner == REASONING and s.ci_overlap is False for s in compared)
        clear_ift = sum(s.winner == IFT and s.ci_overlap is False for s in compared)
        out.append(f"At equal size, reasoning is ahead of IFT at {wins} of {len(compared)} sizes by point estimate; "
                   f"significantly (non-overlapping 95% Wilson intervals) at {clear}, IFT significantly at "
                   f"{clear_ift}.")
    out.extend(_size_sentence(s) for s in v.by_size)
    if v.largest is not None:
        out.append(_largest_sentence(v.largest))
    if v.matched is not None:
        out.append(_matched_sentence(v.matched))
    if not v.missing:
        out.append(f"Compute ratios: {HEADLINE_RULE}." if v.tested else
                   "Compute ratios: the results give no sample sizes, so no ratio can be tested; the sentences "
                   "below compare point estimates only (the most accurate target each A reaches).")
        out.extend(_finding_sentence(f) for f in v.findings)
    reg = _regime_sentence(v.regimes) if v.regimes else None
    if reg:
        out.append(reg)
    if v.seed_spread:
        sp = pd.DataFrame(v.seed_spread)
        worst = sp.sort_values("range_points", ascending=False, kind="stable").iloc[0]
        out.append(f"Seed spread: {int(sp['n_seeds'].max())} seeds; accuracy varies by up to "
                   f"{worst['range_points']:.1f} points across seeds ({_point_name(worst['student'], worst['arm'])}), "
                   f"median range {float(sp['range_points'].median()):.1f} points.")
    return out


def _short_ci(e: Equivalence) -> str:
    if e.fixed_ratio:
        return f"reached in {100 * e.p_reached:.0f}% of bootstrap replicates, at fixed training costs"
    return f"95% CI {e.ci_low:.2g}–{e.ci_high:.2g}×"


def _answer(v: FamilyVerdict) -> str:
    """The family's one-sentence answer, from its facts: what the report leads with."""
    family = v.family
    if v.n_learned == 0:
        return (f"{family}: nothing learned — no point's 95% interval clears its trivial baseline; no "
                f"significant difference at this budget.")
    train = [f for f in v.equivalences if f.axis == "train_flops"]
    claims = [f.equivalence for f in train if f.tested and f.equivalence is not None and f.equivalence.significant]
    if claims:
        parts = [f"{arm_word(e.arm)} {e.student} reaches {arm_word(e.target_arm)} {e.target_student}'s accuracy "
                 f"({fmt_pct(e.accuracy)} vs {fmt_pct(e.target_accuracy)}) with {fmt_ratio(e.ratio)} less training "
                 f"compute ({_short_ci(e)})" for e in claims]
        return f"{family}: " + "; ".join(parts) + "."
    untested = [f.equivalence for f in train if not f.tested and f.equivalence is not None]
    if untested:
        e = untested[0]
        return (f"{family}: by point estimates only (no sample sizes), {arm_word(e.arm)} {e.student} reaches "
                f"{arm_word(e.target_arm)} {e.target_student}'s accuracy with {fmt_ratio(e.ratio)} less "
                f"training compute — not a tested claim.")
    # no ratio to state: is one arm simply better (its best point's interval above everything of the other)?
    if len(v.tops) == 2:
        for win, lose in ((IFT, REASONING), (REASONING, IFT)):
            w, lo = v.tops[win], v.tops[lose]
            if finite(w.ci_low) and finite(lo.ci_high) and w.ci_low > lo.ci_high:
                return (f"{family}: {arm_word(win)} is significantly more accurate — its best point "
                        f"({w.name}, {fmt_pct(w.accuracy)}{w.ci_text}) is above every {arm_word(lose)} point (best "
                        f"{lo.name}, {fmt_pct(lo.accuracy)}{lo.ci_text}), which reaches no learned {arm_word(win)} "
                        f"point at the compute measured; no compute ratio to state.")
    top = v.best[0] if v.best else None
    tail = f" (best point: {top.name}, {fmt_pct(top.accuracy)}{top.ci_text})" if top else ""
    if not v.tested:
        return (f"{family}: the results give no sample sizes, so nothing can be tested; by point estimates no "
                f"training-compute saving is measured{tail}.")
    return (f"{family}: no significant training-compute difference between IFT and reasoning at this "
            f"budget{tail}.")


# ----------------------------------------------------------------------------------------------- API


def family_verdicts(
    results: pd.DataFrame,
    *,
    boot: Bootstrap | None = None,
    fits: FitSet | None = None,
    eqs: dict[str, list[Equivalence]] | None = None,
    regimes: dict[str, list[dict[str, Any]]] | None = None,
    spread: pd.DataFrame | None = None,
) -> list[FamilyVerdict]:
    """One :class:`FamilyVerdict` per family (canonical order).

    ``boot`` adds frontier probabilities and ratio intervals; ``fits`` adds fitted-curve ratios;
    ``eqs`` (method -> equivalences), ``regimes`` (family -> total-cost regimes of its learned points) and
    ``spread`` (``seed_spread``) reuse what ``run_analysis`` computed, so no fact is computed twice.
    """
    agg = aggregate_by_family(results)
    spread = seed_spread(results) if spread is None else spread
    if eqs is None and (boot is not None or fits is not None):
        eqs = {m: equivalences(agg, method=m, boot=boot) for m in ("measured", "interpolated")}
        if fits is not None:
            eqs["fitted"] = equivalences(agg, method="fitted", fits=fits)
    probs: dict[str, dict[str, dict[tuple[str, str], float]]] = {}
    if boot is not None and boot.n_boot > 0:
        for axis in AXES:
            p = boot.p_frontier(axis)
            for i, r in boot.points.iterrows():
                if finite(p.iloc[i]):
                    probs.setdefault(str(r["family"]), {}).setdefault(axis, {})[
                        (str(r["student"]), str(r["arm"]))] = float(p.iloc[i])
    out = []
    for f in ordered_families(agg):
        out.append(family_verdict(
            f, agg[agg["family"] == f],
            eqs={m: [e for e in lst if e.family == f] for m, lst in eqs.items()} if eqs is not None else None,
            p_frontier=probs.get(f), regimes=regimes.get(f, []) if regimes is not None else None, spread=spread))
    return out


def verdicts(results: pd.DataFrame, **kwargs: Any) -> list[dict[str, Any]]:
    """:func:`family_verdicts` as JSON-able dicts (:meth:`FamilyVerdict.to_dict`), one per family.

    Keys: ``family``, ``answer``, ``convention``, ``arms``, ``students`` (by size), ``n_points``, ``n_learned``,
    ``tested``, ``frontier`` (axis -> learned points), ``p_frontier``, ``budgets``, ``best``, ``best_arm`` (an
    arm or ``'tie'``), ``by_size`` (``ift_accuracy``, ``reasoning_accuracy``, ``delta_points`` = reasoning −
    IFT, ``winner``, ``ci_overlap``, ``sentence``), ``largest``, ``matched_compute``, ``equivalences`` (the
    stated ratios with ``tested`` and ``break_even``), ``regimes``, ``seed_spread`` and ``sentences``.
    Accuracies are fractions; ``*_points`` are percentage points.

    Example::

        for v in verdicts(results):
            print(v["family"], v["best_arm"], v["sentences"][0])
    """
    return [v.to_dict() for v in family_verdicts(results, **kwargs)]


def render_verdicts(items: list[dict[str, Any]] | list[FamilyVerdict]) -> str:
    """Plain-text rendering of verdicts: a heading per family, one line per sentence.

    Example::

        print(render_verdicts(verdicts(results)))
    """
    if not items:
        return "No results to judge.\n"
    blocks = []
    for v in items:
        d = v.to_dict() if isinstance(v, FamilyVerdict) else v
        conv = f", FLOPs convention '{d['convention']}'" if d.get("convention") else ""
        head = f"{d['family']} ({len(d['students'])} students, arms: {', '.join(d['arms'])}{conv})"
        blocks.append("\n".join([head] + [f"  - {s}" for s in d["sentences"]]))
    return "\n\n".join(blocks) + "\n"
