"""Plain-language verdicts per task family, computed from the results table (never hard-coded).

For each family the verdict says which (student, arm) points are on the training-FLOPs and the
inference-FLOPs frontiers (with the bootstrap probability of being there, when available), which
arm is the best measured choice within each budget, which arm holds the best accuracy, whether
reasoning beats IFT at each student size (by how many points, and whether the 95% Wilson intervals
overlap), how the largest student compares with the trivial baseline, and compute equivalences:
"arm A at size a reaches arm B's accuracy at size b with k× less training (inference) compute".

Equivalence headlines use **measured points** (a is a trained and evaluated student); the same
sentence gives the ratio obtained by **interpolation** between measured points and, when fits are
given, from the **fitted curves** — each labelled. With a bootstrap, ratios carry a 95% interval.
With training and inference FLOPs, the verdict gives the break-even number of queries Q at which
total cost (training + Q × inference) flips between the two points, and how the total-cost
frontier changes with Q. Arms other than ``ift`` and ``reasoning`` (curricula) appear on the
frontiers, budgets and "best accuracy"; their equivalences are in ``equivalences`` (JSON), not in
the sentences.

Example::

    from scale_or_reason.analysis.verdicts import render_verdicts, verdicts
    v = verdicts(results)                  # list of dicts, one per family (JSON-able)
    print(render_verdicts(v))              # the same, as plain text
    # with uncertainty and fits (what ``run_analysis`` passes):
    # verdicts(results, boot=bootstrap(results, answers), fits=fit_curves(results))
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from scale_or_reason.analysis.arms import (
    IFT,
    REASONING,
    arm_kind,
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

_ARM_WORD = {IFT: "IFT", REASONING: "reasoning"}
LEVEL_POINTS = 0.05
"""Differences below this many accuracy points are reported as level (they print as 0.0)."""


def _arm_word(arm: str) -> str:
    return _ARM_WORD.get(arm_kind(arm), str(arm))


def _article(word: str) -> str:
    return "an" if word[:1].upper() in "AEIOU" else "a"


def _point_name(student: str, arm: str) -> str:
    return f"{student} {_arm_word(arm)}"


def _point(row: pd.Series) -> dict[str, Any]:
    return {
        "student": str(row["student"]),
        "arm": str(row["arm"]),
        "parameters": row["parameters"],
        "accuracy": row["accuracy"],
        "ci_low": row["ci_low"],
        "ci_high": row["ci_high"],
        "baseline": row["baseline"],
        "train_flops": row["train_flops"],
        "inference_flops": row["inference_flops_mean"],
    }


def _ci_text(p: dict[str, Any]) -> str:
    if finite(p["ci_low"]) and finite(p["ci_high"]):
        return f" [95% CI {100 * p['ci_low']:.1f}-{100 * p['ci_high']:.1f}]"
    return ""


def _ci_overlap(a: dict[str, Any], b: dict[str, Any]) -> bool | None:
    ends = (a["ci_low"], a["ci_high"], b["ci_low"], b["ci_high"])
    if not all(finite(x) for x in ends):
        return None
    return bool(max(a["ci_low"], b["ci_low"]) <= min(a["ci_high"], b["ci_high"]))


def _ratio_phrase(ratio: float, what: str) -> str:
    """``2.1 -> '2.1x less training compute'`` (ratio = other's cost / this point's cost)."""
    if not finite(ratio) or ratio <= 0:
        return f"an unknown amount of {what}"
    if f"{ratio:.1f}" == "1.0" and f"{1 / ratio:.1f}" == "1.0":
        return f"about the same {what} (ratio {ratio:.2f})"
    if ratio > 1:
        return f"{ratio:.1f}× less {what}"
    return f"{1 / ratio:.1f}× more {what}"


def _frontier_sentence(axis_words: str, points: list[dict[str, Any]], n_points: int) -> str:
    if not points:
        return f"{axis_words} frontier: no point has a finite cost and accuracy."
    names = ", ".join(_point_name(p["student"], p["arm"]) for p in points)
    counts: dict[str, int] = {}
    for p in points:
        counts[_arm_word(p["arm"])] = counts.get(_arm_word(p["arm"]), 0) + 1
    split = ", ".join(f"{k} {v}" for k, v in counts.items())
    return (
        f"{axis_words} frontier (measured points, by increasing cost): {names} "
        f"({len(points)} of {n_points} points: {split})."
    )


def _size_comparison(student: str, ift: dict | None, rsn: dict | None) -> dict[str, Any]:
    params = (ift or rsn or {}).get("parameters")
    out: dict[str, Any] = {
        "student": student,
        "parameters": params,
        "ift_accuracy": ift["accuracy"] if ift else None,
        "reasoning_accuracy": rsn["accuracy"] if rsn else None,
        "delta_points": None,
        "winner": None,
        "ci_overlap": None,
    }
    size = f"{student} ({fmt_params(params)} parameters)" if finite(params) else student
    if ift is None or rsn is None or not (finite(ift["accuracy"]) and finite(rsn["accuracy"])):
        have = "IFT" if ift is not None else "reasoning" if rsn is not None else "neither arm"
        out["sentence"] = f"{size}: only {have} measured, no comparison at this size."
        return out
    delta = float(rsn["accuracy"] - ift["accuracy"])
    overlap = _ci_overlap(ift, rsn)
    out.update(delta_points=100 * delta, ci_overlap=overlap)
    if overlap is None:
        ci = "the confidence intervals are unavailable"
    elif overlap:
        ci = "the 95% Wilson intervals overlap, so the difference is not clear-cut"
    else:
        ci = "the 95% Wilson intervals do not overlap"
    accs = f"reasoning {fmt_pct(rsn['accuracy'])} vs IFT {fmt_pct(ift['accuracy'])}"
    if abs(100 * delta) < LEVEL_POINTS:
        out["winner"] = "tie"
        out["sentence"] = f"{size}: reasoning and IFT are level ({accs})."
    else:
        winner, loser = ("reasoning", "IFT") if delta > 0 else ("IFT", "reasoning")
        out["winner"] = REASONING if delta > 0 else IFT  # the paper's count (Table 1) uses point estimates
        if overlap is False:
            out["sentence"] = f"{size}: {winner} beats {loser} by {fmt_points(delta)} points ({accs}); {ci}."
        elif overlap is None:
            out["sentence"] = (f"{size}: {winner} ahead of {loser} by {fmt_points(delta)} points ({accs}; point "
                               f"estimates, no intervals to test).")
        else:
            out["sentence"] = (f"{size}: no significant difference ({accs}; {winner} ahead by "
                               f"{fmt_points(delta)} points, but {ci}).")
    return out


def _largest(fam: pd.DataFrame, students: list[str]) -> dict[str, Any] | None:
    if not students:
        return None
    largest = students[-1]
    rows = fam[fam["student"] == largest]
    params = rows["parameters"].iloc[0]
    size = f"{largest} ({fmt_params(params)} parameters)" if finite(params) else largest
    arms = []
    parts = []
    for arm in ordered_arms(rows):
        r = _point(rows[rows["arm"] == arm].iloc[0])
        acc, base = r["accuracy"], r["baseline"]
        gap = 100 * (acc - base) if finite(acc) and finite(base) else None
        arms.append({"arm": arm, "accuracy": acc, "baseline": base, "above_baseline_points": gap})
        if gap is None:
            parts.append(f"{_arm_word(arm)} {fmt_pct(acc)} (baseline unknown)")
        elif abs(gap) < LEVEL_POINTS:
            parts.append(f"{_arm_word(arm)} {fmt_pct(acc)} (level with the baseline)")
        else:
            where = "above" if gap > 0 else "below"
            parts.append(f"{_arm_word(arm)} {fmt_pct(acc)} ({fmt_points(gap / 100)} points {where})")
    bases = [a["baseline"] for a in arms if finite(a["baseline"])]
    base_text = ""
    if bases:
        lo, hi = min(bases), max(bases)
        base_text = f" against a trivial baseline of {fmt_pct(lo)}" if fmt_pct(lo) == fmt_pct(hi) else (
            f" against trivial baselines of {fmt_pct(lo)}-{fmt_pct(hi)}"
        )
    sentence = f"Largest student {size}{base_text}: " + "; ".join(parts) + "."
    return {"student": largest, "parameters": params, "arms": arms, "sentence": sentence}


def _matched_compute(fam: pd.DataFrame, measured: list[Equivalence] | None = None) -> dict[str, Any] | None:
    kinds = fam["arm"].map(arm_kind)
    rsn = fam[(kinds == REASONING) & fam["accuracy"].map(finite)]
    ift = fam[(kinds == IFT) & fam["accuracy"].map(finite)]
    if rsn.empty or ift.empty:
        return None
    best_acc = rsn["accuracy"].max()
    best_rows = rsn[rsn["accuracy"] == best_acc]
    # among equally accurate reasoning points, the cheapest one to train
    best = _point(best_rows.sort_values("train_flops", kind="stable").iloc[0])
    if not learned(best_rows.sort_values("train_flops", kind="stable").iloc[0]):
        return {"reasoning": best, "ift": None, "train_flops_ratio": None, "inference_flops_ratio": None,
                "sentence": (f"Matched training compute: the best reasoning point (reasoning "
                             f"{best['student']}, {fmt_pct(best['accuracy'])}) did not learn (the lower end of "
                             f"its 95% interval does not clear the trivial baseline), so matching it says nothing.")}
    reaching = ift[(ift["accuracy"] >= best_acc) & ift["train_flops"].map(finite)]
    out: dict[str, Any] = {"reasoning": best, "ift": None, "train_flops_ratio": None,
                           "inference_flops_ratio": None}
    rname = f"reasoning {best['student']}"
    if reaching.empty:
        top = _point(ift.sort_values(["accuracy", "train_flops"], ascending=[False, True],
                                     kind="stable").iloc[0])
        out["best_ift"] = top
        out["sentence"] = (
            f"Matched training compute (measured points): no measured IFT point reaches the accuracy "
            f"of the best reasoning point ({rname}, {fmt_pct(best['accuracy'])}); the best IFT point "
            f"is {top['student']} at {fmt_pct(top['accuracy'])}."
        )
        return out
    cheapest = _point(reaching.sort_values(["train_flops", "accuracy"], ascending=[True, False],
                                           kind="stable").iloc[0])
    out["ift"] = cheapest
    t_ratio = (best["train_flops"] / cheapest["train_flops"]
               if finite(best["train_flops"]) and finite(cheapest["train_flops"])
               and cheapest["train_flops"] > 0 else None)
    i_ratio = (best["inference_flops"] / cheapest["inference_flops"]
               if finite(best["inference_flops"]) and finite(cheapest["inference_flops"])
               and cheapest["inference_flops"] > 0 else None)
    out["train_flops_ratio"] = t_ratio
    out["inference_flops_ratio"] = i_ratio
    reach = "matches" if cheapest["accuracy"] == best["accuracy"] else "exceeds"
    eq = find(measured or [], str(best_rows["family"].iloc[0]) if "family" in best_rows else "", "train_flops",
              str(ift["arm"].iloc[0]), str(best_rows["arm"].iloc[0]), best["student"])
    lo, hi = (eq.ci_low, eq.ci_high) if eq is not None else (math.nan, math.nan)
    out["train_flops_ratio_ci"] = [lo, hi]
    if not (finite(lo) and finite(hi)) or lo <= 1 <= hi:
        why = (f"its 95% bootstrap interval {lo:.2g}–{hi:.2g}× includes 1×" if finite(lo) and finite(hi)
               else "no bootstrap interval")
        out["sentence"] = (
            f"Matched training compute (measured points): IFT {cheapest['student']} {reach} the best reasoning "
            f"point, {rname} ({fmt_pct(cheapest['accuracy'])} vs {fmt_pct(best['accuracy'])}), but the "
            f"training-compute ratio is not significant ({why}): no significant difference at this budget.")
        return out
    sentence = (
        f"Matched training compute (measured points): IFT {cheapest['student']} {reach} the best "
        f"reasoning point, {rname} ({fmt_pct(cheapest['accuracy'])} vs "
        f"{fmt_pct(best['accuracy'])}), with {_ratio_phrase(t_ratio, 'training compute')} "
        f"({fmt_flops(cheapest['train_flops'])} vs {fmt_flops(best['train_flops'])} FLOPs; bootstrap 95% CI "
        f"{lo:.2g}–{hi:.2g}×)"
    )
    if i_ratio is not None:
        sentence += f" and {_ratio_phrase(i_ratio, 'inference compute per query')}"
    out["sentence"] = sentence + "."
    return out


_AXIS_TITLE = {"train_flops": "Training-FLOPs", "inference_flops": "Inference-FLOPs"}
_BUDGET_WORDS = {"train_flops": "training-FLOPs budget", "inference_flops": "inference budget per query"}


def _budget_sentence(axis: str, points: list[dict[str, Any]]) -> str | None:
    segs = budget_segments(points)
    if not segs:
        return None
    parts = [f"below {fmt_flops(segs[0]['from'])} FLOPs nothing measured fits"]
    for seg in segs:
        parts.append(f"from {fmt_flops(seg['from'])}: {_arm_word(seg['arm'])} ({', '.join(seg['points'])})")
    return f"Best measured choice by {_BUDGET_WORDS[axis]}: " + "; ".join(parts) + "."


def _p_frontier_text(points: list[dict[str, Any]], probs: dict[tuple[str, str], float]) -> str:
    vals = [(p, probs.get((p["student"], p["arm"]))) for p in points]
    vals = [(p, v) for p, v in vals if finite(v)]
    if not vals:
        return ""
    return " Bootstrap probability of being on it: " + ", ".join(
        f"{_point_name(p['student'], p['arm'])} {v:.2f}" for p, v in vals) + "."


def _other_ratio(eq: Equivalence, pool: list[Equivalence]) -> str | None:
    e = find(pool, eq.family, eq.axis, eq.arm, eq.target_arm, eq.target_student)
    if e is None:
        return None
    word = {"interpolated": "interpolated", "fitted": "fitted curves"}[e.method]
    extra = ", extrapolated" if e.extrapolated else ""
    return f"{word}: {fmt_ratio(e.ratio)}{extra}"


def _equivalence_sentences(family: str, eqs: dict[str, list[Equivalence]],
                           fam: pd.DataFrame) -> tuple[list[str], list[dict[str, Any]]]:
    sentences: list[str] = [f"Compute ratios: {HEADLINE_RULE}."]
    items: list[dict[str, Any]] = []
    measured = eqs.get("measured", [])
    # a published table without sample sizes cannot be tested: point estimates, said as such
    untested = "n" not in fam or not fam["n"].map(finite).any()
    if untested:
        sentences[0] = ("Compute ratios: the results give no sample sizes, so no ratio can be tested; the "
                        "sentences below compare point estimates only (the most accurate target each A reaches).")
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
                if axis == "train_flops" or not fam.loc[fam["arm"] == b_name, "train_flops"].map(finite).any():
                    sentences.append(
                        f"No {_arm_word(b_name)} point learned (none has the lower end of its 95% interval above "
                        f"the trivial baseline): no compute equivalence against {_arm_word(b_name)} is worth stating."
                    )
                continue
            best = headline(measured, family, axis, a_name, b_name, untested=untested)
            if best is None and untested:
                sentences.append(f"By point estimates, no measured {_arm_word(a_name)} point reaches a learned "
                                 f"{_arm_word(b_name)} point's accuracy with less {AXIS_WORDS[axis]}.")
                continue
            if best is None:
                sentences.append(
                    f"No significant {AXIS_WORDS[axis]} saving of {_arm_word(a_name)} over {_arm_word(b_name)} at "
                    f"this budget: no measured {_arm_word(a_name)} point reaches a learned {_arm_word(b_name)} "
                    f"point's accuracy with less {AXIS_WORDS[axis]} in at least 97.5% of bootstrap replicates."
                )
                continue
            others = [o for o in (_other_ratio(best, eqs.get("interpolated", [])),
                                  _other_ratio(best, eqs.get("fitted", []))) if o]
            text = best.sentence(others)
            if untested:
                text += " (Point estimates only: not a tested claim.)"
            item = best.to_dict()
            item["tested"] = not untested
            if axis == "train_flops":
                a_row = fam[(fam["student"] == best.student) & (fam["arm"] == a_name)].iloc[0]
                b_row = fam[(fam["student"] == best.target_student) & (fam["arm"] == b_name)].iloc[0]
                a_pt = {"train_flops": a_row["train_flops"], "inference_flops": a_row["inference_flops_mean"]}
                b_pt = {"train_flops": b_row["train_flops"], "inference_flops": b_row["inference_flops_mean"]}
                names = (f"{_arm_word(a_name)} {best.student}", f"{_arm_word(b_name)} {best.target_student}")
                be = break_even(a_pt, b_pt, names)
                item["break_even"] = be
                if be.get("queries") is not None:
                    text += (f" Counting serving, total cost = training + Q × inference: "
                             f"{be['cheaper_below']} is cheaper below Q = {be['queries']:.3g} queries, "
                             f"{be['cheaper_above']} beyond (break-even).")
                elif be.get("cheaper") == names[0]:
                    text += " It is also no dearer per query, so it is cheaper in total at any number of queries."
            sentences.append(text)
            items.append(item)
    return sentences, items


def _regime_sentence(regimes: list[dict[str, Any]]) -> str | None:
    merged = arm_regimes(regimes)
    if not merged:
        return None

    def arms_text(arms: dict[str, int]) -> str:
        return ", ".join(f"{_arm_word(a)} {n}" for a, n in arms.items()) or "no point"

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


def _family_verdict(family: str, fam: pd.DataFrame, ctx: dict[str, Any] | None = None) -> dict[str, Any]:
    ctx = ctx or {}
    convention = family_convention(fam, family)
    arms = ordered_arms(fam)
    students = ordered_students(fam)
    kinds = {arm_kind(a) for a in arms}
    sentences: list[str] = []
    n_points = len(fam)
    probs: dict[str, dict[tuple[str, str], float]] = ctx.get("p_frontier", {}).get(family, {})

    # frontier verdicts use learned points only (the others are plotted, greyed): a point at chance is on
    # every frontier by construction when it is the cheapest
    learned_rows = fam[fam.apply(learned, axis=1)] if len(fam) else fam
    front = {axis: frontier_points(learned_rows, axis) for axis in AXES}
    budgets = {axis: budget_segments(front[axis]) for axis in AXES}
    if learned_rows.empty:
        sentences.append(
            f"No point learned: none of the {n_points} has the lower end of its 95% interval above its trivial "
            f"baseline, so there is no frontier and no significant difference at this budget.")
    for axis in AXES:
        if learned_rows.empty:
            break
        sentences.append(_frontier_sentence(_AXIS_TITLE[axis], front[axis], len(learned_rows))
                         .replace(" points:", " learned points:")
                         + _p_frontier_text(front[axis], probs.get(axis, {})))
    for axis in AXES:
        b = _budget_sentence(axis, front[axis])
        if b and len(front[axis]) > 1:
            sentences.append(b)

    scored = fam[fam["accuracy"].map(finite)]
    best: list[dict[str, Any]] = []
    best_arm: str | None = None
    if not scored.empty:
        top = scored["accuracy"].max()
        best = [_point(r) for _, r in scored[scored["accuracy"] == top].iterrows()]
        best_arms = sorted({b["arm"] for b in best})
        best_arm = best_arms[0] if len(best_arms) == 1 else "tie"
        names = " and ".join(_point_name(b["student"], b["arm"]) for b in best)
        if best_arm == "tie":
            tail = f"the arms {', '.join(_arm_word(a) for a in best_arms)} tie for it"
        else:
            tail = f"the best arm is {_arm_word(best_arm)}"
        if learned_rows.empty:
            tail = "no point learned, so this names no best arm"
        sentences.append(f"Best accuracy: {names} at {fmt_pct(top)}{_ci_text(best[0])}; {tail}.")

    missing = [w for k, w in ((IFT, "IFT"), (REASONING, "reasoning")) if k not in kinds]
    by_size: list[dict[str, Any]] = []
    if missing:
        sentences.append(
            f"No {' or '.join(missing)} arm in the results for this family: the IFT vs reasoning "
            f"comparisons (equal size, matched compute) are skipped."
        )
    else:
        for student in students:
            rows = fam[fam["student"] == student]
            pick = {}
            for kind in (IFT, REASONING):
                r = rows[rows["arm"].map(arm_kind) == kind]
                pick[kind] = _point(r.iloc[0]) if not r.empty else None
            by_size.append(_size_comparison(student, pick[IFT], pick[REASONING]))
        compared = [s for s in by_size if s["winner"] is not None]
        wins = sum(s["winner"] == REASONING for s in compared)
        clear = sum(s["winner"] == REASONING and s["ci_overlap"] is False for s in compared)
        if compared:
            clear_ift = sum(s["winner"] == IFT and s["ci_overlap"] is False for s in compared)
            sentences.append(
                f"At equal size, reasoning is ahead of IFT at {wins} of {len(compared)} sizes by point estimate; "
                f"significantly (non-overlapping 95% Wilson intervals) at {clear}, IFT significantly at "
                f"{clear_ift}."
            )
        sentences.extend(s["sentence"] for s in by_size)

    largest = _largest(fam, students)
    if largest is not None:
        sentences.append(largest["sentence"])

    eqs_ctx = ctx.get("equivalences") or {}
    matched = None if missing else _matched_compute(fam, eqs_ctx.get("measured"))
    if matched is not None:
        sentences.append(matched["sentence"])

    eq_items: list[dict[str, Any]] = []
    if not missing:
        eqs = ctx.get("equivalences")
        if eqs is None:
            eqs = {m: equivalences(fam, method=m) for m in ("measured", "interpolated")}
        eq_sentences, eq_items = _equivalence_sentences(family, eqs, fam)
        sentences.extend(eq_sentences)

    if "regimes" in ctx:  # computed once by run_analysis
        regimes = ctx["regimes"].get(family, [])
    else:
        regimes = frontier_regimes(learned_rows, family) if not learned_rows.empty else []
    reg = _regime_sentence(regimes) if regimes else None
    if reg:
        sentences.append(reg)

    spread = ctx.get("seed_spread")
    spread_items: list[dict[str, Any]] = []
    if spread is not None and not spread.empty:
        sp = spread[spread["family"] == family]
        if not sp.empty:
            worst = sp.sort_values("range_points", ascending=False, kind="stable").iloc[0]
            spread_items = sp.to_dict("records")
            sentences.append(
                f"Seed spread: {int(sp['n_seeds'].max())} seeds; accuracy varies by up to "
                f"{worst['range_points']:.1f} points across seeds ({_point_name(worst['student'], worst['arm'])}), "
                f"median range {float(sp['range_points'].median()):.1f} points."
            )

    answer = _answer(family, fam, learned_rows, eq_items, best)
    return jsonable(
        {
            "family": family,
            "answer": answer,
            "convention": convention,
            "arms": arms,
            "students": students,
            "frontier": front,
            "p_frontier": {axis: [{"student": k[0], "arm": k[1], "p": v} for k, v in probs.get(axis, {}).items()]
                           for axis in AXES},
            "budgets": budgets,
            "best": best,
            "best_arm": best_arm,
            "by_size": by_size,
            "largest": largest,
            "matched_compute": matched,
            "equivalences": eq_items,
            "regimes": regimes,
            "seed_spread": spread_items,
            "sentences": sentences,
        }
    )


def _answer(family: str, fam_rows: pd.DataFrame, learned_rows: pd.DataFrame, eq_items: list[dict[str, Any]],
            best: list[dict[str, Any]]) -> str:
    """The family's one-sentence answer, from the facts above: what the report leads with."""
    if learned_rows.empty:
        return (f"{family}: nothing learned — no point's 95% interval clears its trivial baseline; no "
                f"significant difference at this budget.")
    claims = [e for e in eq_items if e.get("axis") == "train_flops" and e.get("significant")]
    if claims:
        parts = []
        for e in claims:
            parts.append(f"{_arm_word(e['arm'])} {e['student']} reaches {_arm_word(e['target_arm'])} "
                         f"{e['target_student']}'s accuracy ({fmt_pct(e['accuracy'])} vs "
                         f"{fmt_pct(e['target_accuracy'])}) with {fmt_ratio(e['ratio'])} less training compute "
                         f"(95% CI {e['ci_low']:.2g}–{e['ci_high']:.2g}×)")
        return f"{family}: " + "; ".join(parts) + "."
    untested = [e for e in eq_items if e.get("axis") == "train_flops" and e.get("tested") is False]
    if untested:
        e = untested[0]
        return (f"{family}: by point estimates only (no sample sizes), {_arm_word(e['arm'])} {e['student']} reaches "
                f"{_arm_word(e['target_arm'])} {e['target_student']}'s accuracy with {fmt_ratio(e['ratio'])} less "
                f"training compute — not a tested claim.")
    # no ratio to state: is one arm simply better (its best point's interval above everything of the other)?
    tops = {}
    for kind in (IFT, REASONING):
        rows = fam_rows[fam_rows["arm"].map(arm_kind) == kind]
        rows = rows[rows["accuracy"].map(finite)]
        if not rows.empty:
            tops[kind] = _point(rows.sort_values("accuracy", ascending=False, kind="stable").iloc[0])
    if len(tops) == 2:
        for win, lose in ((IFT, REASONING), (REASONING, IFT)):
            w, lo = tops[win], tops[lose]
            if finite(w["ci_low"]) and finite(lo["ci_high"]) and w["ci_low"] > lo["ci_high"]:
                return (f"{family}: {_arm_word(win)} is significantly more accurate — its best point "
                        f"({_point_name(w['student'], w['arm'])}, {fmt_pct(w['accuracy'])}{_ci_text(w)}) is above "
                        f"every {_arm_word(lose)} point (best {_point_name(lo['student'], lo['arm'])}, "
                        f"{fmt_pct(lo['accuracy'])}{_ci_text(lo)}), which reaches no learned {_arm_word(win)} "
                        f"point at the compute measured; no compute ratio to state.")
    top = best[0] if best else None
    tail = (f" (best point: {_point_name(top['student'], top['arm'])}, {fmt_pct(top['accuracy'])}{_ci_text(top)})"
            if top else "")
    if "n" not in fam_rows or not fam_rows["n"].map(finite).any():
        return (f"{family}: the results give no sample sizes, so nothing can be tested; by point estimates no "
                f"training-compute saving is measured{tail}.")
    return (f"{family}: no significant training-compute difference between IFT and reasoning at this "
            f"budget{tail}.")


def verdicts(
    results: pd.DataFrame,
    *,
    boot: Bootstrap | None = None,
    fits: FitSet | None = None,
    eqs: dict[str, list[Equivalence]] | None = None,
    regimes: dict[str, list[dict[str, Any]]] | None = None,
    spread: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """One JSON-able verdict per family (canonical order), with its ``sentences`` in plain words.

    Keys: ``family``, ``convention``, ``arms``, ``students`` (by size), ``frontier`` (axis -> points),
    ``p_frontier`` (axis -> bootstrap probability per point; empty without ``boot``), ``budgets``
    (axis -> best measured arm per budget segment), ``best`` (the most accurate point(s)),
    ``best_arm`` (an arm name or ``'tie'``), ``by_size`` (IFT vs reasoning per student:
    accuracies, ``delta_points`` = reasoning - IFT, ``winner``, ``ci_overlap``), ``largest``
    (largest student vs baseline), ``matched_compute`` (best reasoning point, cheapest IFT point
    reaching it, FLOPs ratios; ``None`` when an arm is absent), ``equivalences`` (headline
    measured equivalences, IFT vs reasoning, per axis and direction, with ``break_even`` on the
    training axis), ``regimes`` (total-cost frontier by range of queries), ``seed_spread`` and
    ``sentences``. Accuracies are fractions; ``*_points`` are percentage points.

    ``boot`` adds frontier probabilities and ratio intervals; ``fits`` adds fitted-curve ratios;
    ``eqs`` (method -> equivalences), ``regimes`` (family -> total-cost regimes of its learned points) and
    ``spread`` (``seed_spread``) reuse what ``run_analysis`` computed, so no fact is computed twice.

    Example::

        for v in verdicts(results):
            print(v["family"], v["best_arm"], v["sentences"][0])
    """
    agg = aggregate_by_family(results)
    ctx: dict[str, Any] = {"seed_spread": seed_spread(results) if spread is None else spread}
    if regimes is not None:
        ctx["regimes"] = regimes
    if eqs is None and (boot is not None or fits is not None):
        eqs = {m: equivalences(agg, method=m, boot=boot) for m in ("measured", "interpolated")}
        if fits is not None:
            eqs["fitted"] = equivalences(agg, method="fitted", fits=fits)
    if boot is not None and boot.n_boot > 0:
        probs: dict[str, dict[str, dict[tuple[str, str], float]]] = {}
        for axis in AXES:
            p = boot.p_frontier(axis)
            for i, r in boot.points.iterrows():
                if finite(p.iloc[i]):
                    probs.setdefault(str(r["family"]), {}).setdefault(axis, {})[
                        (str(r["student"]), str(r["arm"]))] = float(p.iloc[i])
        ctx["p_frontier"] = probs
    out = []
    for f in ordered_families(agg):
        c = dict(ctx)
        if eqs is not None:
            c["equivalences"] = {m: [e for e in lst if e.family == f] for m, lst in eqs.items()}
        out.append(_family_verdict(f, agg[agg["family"] == f], c))
    return out


def render_verdicts(items: list[dict[str, Any]]) -> str:
    """Plain-text rendering of :func:`verdicts` output: a heading per family, one line per sentence.

    Example::

        print(render_verdicts(verdicts(results)))
    """
    if not items:
        return "No results to judge.\n"
    blocks = []
    for v in items:
        conv = f", FLOPs convention '{v['convention']}'" if v.get("convention") else ""
        head = f"{v['family']} ({len(v['students'])} students, arms: {', '.join(v['arms'])}{conv})"
        lines = [head] + [f"  - {s}" for s in v["sentences"]]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
