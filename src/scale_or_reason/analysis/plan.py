"""The planner: given a family and a compute budget, which (size, arm, ρ) should you train?

:func:`plan` ranks the **measured** configurations of a family (each student x arm of the results
table) that fit the budget, by accuracy (ties: lower total cost, then lower training cost), and
returns the best one with its expected accuracy and 95% interval, the runner-up, and every feasible
candidate with its probability of being the most accurate one (when a bootstrap is available).

Budgets (FLOPs, under the results table's convention):

* ``train_budget`` — training FLOPs of the run (required);
* ``queries`` — number of queries the model will serve; then ``total = train + queries × inference``
  is reported and breaks accuracy ties;
* ``inference_budget`` — total inference FLOPs for the ``queries`` (per query when ``queries`` is
  not given).

The planner never extrapolates silently. A budget below every measured configuration is refused
(``recommendation`` is None and ``refusal`` says why); a budget above the measured range returns the
best measured configuration *and* a warning that a larger, unmeasured student might do better.
With ``extrapolate=True`` it adds, per arm, the fitted saturating curve's accuracy at the budget and
the student size that budget would buy (training FLOPs scale with parameters at a fixed dataset),
each flagged ``extrapolated``.

Expected accuracy = the measured accuracy; its interval is the bootstrap percentile interval over
evaluated samples when per-sample answers (or ``n``) are available, else the table's Wilson
interval, which is also used when every replicate agrees (0 or 100% correct: the percentile
interval collapses to a point); ``ci_source`` says which. ``p_best`` is the share of bootstrap
replicates in which a candidate is the most accurate feasible one (ties split evenly).

Example::

    from scale_or_reason.analysis.plan import plan
    p = plan(results, "Math-OE", train_budget=2e15, queries=1e6, answers=answers)
    p["recommendation"]["student"], p["recommendation"]["arm"], p["recommendation"]["rho"]
    p["runner_up"], p["warnings"], p["text"]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from scale_or_reason.analysis.arms import arm_word, ordered_families, parse_arm
from scale_or_reason.analysis.fits import FitSet, fit_curves
from scale_or_reason.analysis.formatting import (
    finite,
    fmt_flops,
    fmt_params,
    fmt_pct,
    jsonable,
)
from scale_or_reason.analysis.frontier import aggregate_by_family
from scale_or_reason.analysis.uncertainty import Bootstrap, bootstrap


def _check_budget(name: str, value: Any, required: bool) -> float | None:
    if value is None:
        if required:
            raise ValueError(f"{name} is required")
        return None
    if not finite(value) or float(value) <= 0:
        raise ValueError(f"{name} must be a positive number of FLOPs (or queries), got {value!r}")
    return float(value)


def _describe(r: pd.Series, queries: float | None) -> dict[str, Any]:
    kind, rho = parse_arm(r["arm"])
    inf = float(r["inference_flops_mean"])
    d = {
        "student": str(r["student"]),
        "parameters": r["parameters"],
        "arm": str(r["arm"]),
        "kind": kind,
        "rho": rho,
        "accuracy": float(r["accuracy"]),
        "ci_low": r.get("_ci_low"),
        "ci_high": r.get("_ci_high"),
        "ci_source": r.get("_ci_source", "none"),
        "p_best": r.get("_p_best"),
        "train_flops": float(r["train_flops"]),
        "inference_flops_per_query": inf,
    }
    if queries is not None:
        d["total_flops"] = float(r["train_flops"]) + queries * inf if finite(inf) else None
    return d


def _name(d: dict[str, Any]) -> str:
    size = f" ({fmt_params(d['parameters'])} parameters)" if finite(d["parameters"]) else ""
    rho = f", ρ = {d['rho']:g}" if d["kind"] in ("sequential", "mixed") else ""
    return f"{d['student']}{size} {arm_word(d['arm'])}{rho}"


def plan(
    results: pd.DataFrame,
    family: str,
    train_budget: float,
    queries: float | None = None,
    inference_budget: float | None = None,
    *,
    answers: pd.DataFrame | None = None,
    boot: Bootstrap | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    extrapolate: bool = False,
    fits: FitSet | None = None,
    teacher_accuracy: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Recommend a (size, arm, ρ) for ``family`` within the budgets; see the module docstring.

    Returns a JSON-able dict: ``family``, ``budgets``, ``measured_range``, ``within_measured_range``,
    ``recommendation`` and ``runner_up`` (``student``, ``parameters``, ``arm``, ``kind``, ``rho``,
    ``accuracy``, ``ci_low``, ``ci_high``, ``ci_source``, ``p_best``, ``train_flops``,
    ``inference_flops_per_query`` and ``total_flops`` with ``queries``), ``candidates`` (all
    feasible, ranked), ``refusal`` (None, or why nothing is recommended), ``warnings``,
    ``extrapolation`` (with ``extrapolate=True``) and ``text``. Raises ``ValueError`` for an
    unknown family, a non-positive budget, or a family without training FLOPs.

    Example::

        p = plan(results, "General-MC", train_budget=1e12)
        print(p["text"])
    """
    train_budget = _check_budget("train_budget", train_budget, True)
    queries = _check_budget("queries", queries, False)
    inference_budget = _check_budget("inference_budget", inference_budget, False)
    agg = aggregate_by_family(results)
    families = ordered_families(agg) if not agg.empty else []
    if family not in families:
        raise ValueError(f"unknown family {family!r}; the results have {families}")
    fam = agg[agg["family"] == family].reset_index(drop=True)
    fam = fam[fam["accuracy"].map(finite)].reset_index(drop=True)
    trainable = fam[fam["train_flops"].map(finite)]
    if trainable.empty:
        raise ValueError(
            f"family {family!r} has no training FLOPs in the results table: a plan needs them "
            f"(the paper's Table 1, for one, does not report them)"
        )

    # uncertainty: bootstrap over samples (or binomial), else the table's Wilson interval
    if boot is None and n_boot > 0:
        boot = bootstrap(results, answers, n_boot=n_boot, seed=seed)
    fam["_ci_low"], fam["_ci_high"], fam["_ci_source"] = fam["ci_low"], fam["ci_high"], "wilson"
    fam.loc[~(fam["ci_low"].map(finite) & fam["ci_high"].map(finite)), "_ci_source"] = "none"
    cols: list[int | None] = []
    if boot is not None and boot.n_boot > 0:
        iv = boot.intervals()
        for i, r in fam.iterrows():
            try:
                j = boot.index(str(r["student"]), str(r["arm"]), family)
            except KeyError:
                cols.append(None)
                continue
            cols.append(j)
            lo, hi = iv.loc[j, "boot_low"], iv.loc[j, "boot_high"]
            degenerate = finite(lo) and finite(hi) and lo == hi and fam.loc[i, "_ci_source"] == "wilson"
            if boot.source[j] != "none" and not degenerate:
                fam.loc[i, ["_ci_low", "_ci_high"]] = [lo, hi]
                fam.loc[i, "_ci_source"] = f"bootstrap ({boot.source[j]})"
            elif degenerate:
                fam.loc[i, "_ci_source"] = "wilson (every bootstrap replicate gave the same accuracy)"
    else:
        cols = [None] * len(fam)
    fam["_col"] = cols

    per_query = inference_budget / queries if (inference_budget is not None and queries is not None) \
        else inference_budget
    inf = fam["inference_flops_mean"].astype(float)
    feasible = fam["train_flops"].map(finite) & (fam["train_flops"].astype(float) <= train_budget)
    if per_query is not None:
        feasible &= inf.map(finite) & (inf <= per_query)
    fam["_total"] = fam["train_flops"].astype(float) + (queries or 0.0) * inf.fillna(0.0)

    t_lo, t_hi = float(trainable["train_flops"].min()), float(trainable["train_flops"].max())
    finite_inf = inf[inf.map(finite)]
    i_lo = float(finite_inf.min()) if not finite_inf.empty else math.nan
    i_hi = float(finite_inf.max()) if not finite_inf.empty else math.nan
    warnings: list[str] = []
    within = True
    if train_budget > t_hi:
        within = False
        warnings.append(
            f"The training budget {fmt_flops(train_budget)} exceeds the largest measured training "
            f"cost {fmt_flops(t_hi)} ({train_budget / t_hi:.1f}×): the recommendation is limited to "
            f"measured configurations; a larger, unmeasured student might do better. Not extrapolated."
        )
    if per_query is not None and finite(i_hi) and per_query > i_hi:
        warnings.append(
            f"The inference budget per query {fmt_flops(per_query)} exceeds every measured "
            f"configuration ({fmt_flops(i_hi)}): it does not constrain the choice."
        )

    out: dict[str, Any] = {
        "family": family,
        "budgets": {"train_flops": train_budget, "queries": queries, "inference_flops": inference_budget,
                    "inference_flops_per_query": per_query},
        "convention": next((c for c in fam["convention"] if c), ""),
        "measured_range": {"train_flops": [t_lo, t_hi], "inference_flops_per_query": [i_lo, i_hi]},
        "within_measured_range": within,
        "recommendation": None,
        "runner_up": None,
        "candidates": [],
        "refusal": None,
        "warnings": warnings,
    }

    cand = fam[feasible].copy()
    if cand.empty:
        cheapest = trainable.sort_values("train_flops", kind="stable").iloc[0]
        if train_budget < t_lo:
            why = (f"the training budget {fmt_flops(train_budget)} is below the cheapest measured "
                   f"configuration ({cheapest['student']} {arm_word(cheapest['arm'])}, "
                   f"{fmt_flops(t_lo)} FLOPs); no extrapolation below the measured range")
        else:
            why = (f"no measured configuration fits both the training budget {fmt_flops(train_budget)} "
                   f"and the inference budget of {fmt_flops(per_query)} FLOPs per query (cheapest per "
                   f"query: {fmt_flops(i_lo)})")
        out["within_measured_range"] = False
        out["refusal"] = f"No recommendation for {family}: {why}."
        out["text"] = out["refusal"]
        if extrapolate:
            out["extrapolation"] = _extrapolate(results, fam, family, train_budget, fits, teacher_accuracy)
        return jsonable(out)

    # probability of being the most accurate feasible candidate
    cand["_p_best"] = np.nan
    if boot is not None and boot.n_boot > 0 and all(c is not None for c in cand["_col"]):
        a = boot.accuracy[:, [int(c) for c in cand["_col"]]]
        if np.isfinite(a).all():
            best = a.max(axis=1, keepdims=True)
            wins = (a == best) / (a == best).sum(axis=1, keepdims=True)  # ties split evenly
            cand["_p_best"] = wins.mean(axis=0)
    cand = cand.sort_values(["accuracy", "_total", "train_flops"], ascending=[False, True, True],
                            kind="stable")
    ranked = [_describe(r, queries) for _, r in cand.iterrows()]
    out["candidates"] = ranked
    out["recommendation"] = ranked[0]
    out["runner_up"] = ranked[1] if len(ranked) > 1 else None
    rec, run = ranked[0], out["runner_up"]

    def acc_text(d: dict[str, Any]) -> str:
        ci = (f" [95% CI {fmt_pct(d['ci_low'])}–{fmt_pct(d['ci_high'])}, {d['ci_source']}]"
              if finite(d["ci_low"]) and finite(d["ci_high"]) else "")
        return f"{fmt_pct(d['accuracy'])}{ci}"

    text = (f"{family}: train {_name(rec)}, expected accuracy {acc_text(rec)}, "
            f"{fmt_flops(rec['train_flops'])} training FLOPs")
    if queries is not None and rec.get("total_flops") is not None:
        text += f", {fmt_flops(rec['total_flops'])} FLOPs in total for {queries:g} queries"
    if finite(rec["p_best"]):
        text += f"; probability it is the most accurate affordable choice {rec['p_best']:.2f}"
    text += "."
    if run is not None:
        text += f" Runner-up: {_name(run)}, {acc_text(run)}."
    else:
        text += " No runner-up: it is the only measured configuration within budget."
    if warnings:
        text += " " + " ".join(warnings)
    out["text"] = text
    if extrapolate:
        out["extrapolation"] = _extrapolate(results, fam, family, train_budget, fits, teacher_accuracy)
    return jsonable(out)


def _extrapolate(results: pd.DataFrame, fam: pd.DataFrame, family: str, budget: float,
                 fits: FitSet | None, teacher_accuracy: dict[str, float] | None) -> list[dict[str, Any]]:
    """Per arm: the fitted curve at ``budget`` and the size it would buy, flagged extrapolated."""
    if fits is None:
        fits = fit_curves(results[results["family"].astype(str) == family], axes=("train_flops",),
                          teacher_accuracy=teacher_accuracy)
    out = []
    for arm in dict.fromkeys(fam["arm"].astype(str)):
        pts = fam[(fam["arm"] == arm) & fam["train_flops"].map(finite) & fam["parameters"].map(finite)]
        fit = fits.get(family, arm, "train_flops")
        item: dict[str, Any] = {"arm": arm, "extrapolated": True}
        if fit is None:
            item["note"] = "no fitted curve for this arm (too few points)"
        else:
            item["predicted_accuracy"] = fit.predict(budget)
            item["extrapolated"] = not fit.in_range(budget)
        if not pts.empty:
            per_param = float(np.median(pts["train_flops"].astype(float) / pts["parameters"].astype(float)))
            item["implied_parameters"] = budget / per_param
        item["note"] = item.get("note", "") or (
            "fitted saturating curve evaluated at the budget; implied size = budget / (training FLOPs "
            "per parameter of this arm's measured runs, median). Not measured: treat as a hypothesis."
        )
        out.append(item)
    return out
