"""Total cost and break-even queries, compute equivalences (measured / interpolated / fitted) and
their arithmetic, equivalence verdicts, and the planner, on hand-made tables with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scale_or_reason.analysis import (
    aggregate_by_family,
    bootstrap,
    break_even,
    budget_segments,
    equivalences,
    fit_curves,
    frontier_regimes,
    frontiers,
    plan,
    total_cost_frontiers,
    verdicts,
)
from scale_or_reason.analysis.equivalence import find, headline, reach_costs
from tests.analysis.results_rows import row, table
from tests.analysis.synthetic_answers import synthetic_study


# ----------------------------------------------------------------------------- total cost


def test_break_even_arithmetic():
    a = {"train_flops": 1e15, "inference_flops": 4e9}   # cheap to train, dear per query
    b = {"train_flops": 3e15, "inference_flops": 2e9}
    q = break_even(a, b, ("A", "B"))
    assert q == {"queries": pytest.approx(1e6), "cheaper_below": "A", "cheaper_above": "B"}
    assert break_even(b, a, ("B", "A"))["cheaper_below"] == "A"
    assert break_even(a, {"train_flops": 2e15, "inference_flops": 5e9}) == {"queries": None, "cheaper": "a"}
    assert break_even(a, dict(a)) == {"queries": None, "cheaper": "equal"}
    assert break_even(a, {"train_flops": math.nan, "inference_flops": 1.0})["cheaper"] is None


def _three_points():
    return table([
        row("s2", "ift", accuracy=0.6, train_flops=1e12, inference_flops=4e9),
        row("s1", "reasoning", accuracy=0.6, train_flops=3e12, inference_flops=2e9),
        row("s1", "ift", accuracy=0.3, train_flops=5e11, inference_flops=1e9),
    ])


def test_total_cost_frontiers_and_regimes():
    df = _three_points()
    (f0, f1) = total_cost_frontiers(df, [0, 1e6])
    assert f0.axis == "total_flops" and f0.queries == 0 and f1.queries == 1e6
    assert [(p["student"], p["arm"]) for p in f0.points] == [("s1", "ift"), ("s2", "ift")]
    assert [(p["student"], p["arm"]) for p in f1.points] == [("s1", "ift"), ("s1", "reasoning")]
    assert f1.points[1]["cost"] == pytest.approx(3e12 + 1e6 * 2e9)
    assert f0.to_dict()["queries"] == 0
    assert "queries" not in frontiers(df)[0].to_dict()
    regimes = frontier_regimes(df, "General-MC")
    # s2 IFT and s1 reasoning cost the same at Q = (3e12 - 1e12) / (4e9 - 2e9) = 1000
    assert [(r["q_from"], r["q_to"]) for r in regimes] == [(0.0, pytest.approx(1000.0)), (pytest.approx(1000.0), None)]
    assert regimes[0]["points"] == [["s1", "ift"], ["s2", "ift"]]
    assert regimes[1]["points"] == [["s1", "ift"], ["s1", "reasoning"]]
    assert regimes[1]["arms"] == {"ift": 1, "reasoning": 1}
    with pytest.raises(ValueError, match="queries"):
        total_cost_frontiers(df, [-1])


def test_budget_segments_merge_same_arm():
    pts = [{"student": "s1", "arm": "ift", "cost": 1.0}, {"student": "s2", "arm": "ift", "cost": 2.0},
           {"student": "s1", "arm": "reasoning", "cost": 3.0}, {"student": "s3", "arm": "ift", "cost": 5.0}]
    assert budget_segments(pts) == [
        {"from": 1.0, "to": 3.0, "arm": "ift", "points": ["s1", "s2"]},
        {"from": 3.0, "to": 5.0, "arm": "reasoning", "points": ["s1"]},
        {"from": 5.0, "to": None, "arm": "ift", "points": ["s3"]},
    ]
    assert budget_segments([]) == []


# ----------------------------------------------------------------------------- equivalences


def _ladder(n=200):
    """IFT s1 .30 @1e12, s3 .45 @2e12, s4 .62 @3e12; reasoning s1 .40 @2e12, s3 .60 @6.3e12."""
    return table([
        row("s1", "ift", accuracy=0.30, train_flops=1e12, inference_flops=1e9, n=n),
        row("s3", "ift", accuracy=0.45, train_flops=2e12, inference_flops=2e9, n=n),
        row("s4", "ift", accuracy=0.62, train_flops=3e12, inference_flops=4e9, n=n),
        row("s1", "reasoning", accuracy=0.40, train_flops=2e12, inference_flops=8e9, n=n),
        row("s3", "reasoning", accuracy=0.60, train_flops=6.3e12, inference_flops=1.6e10, n=n),
    ])


def test_measured_equivalence_arithmetic():
    eqs = equivalences(_ladder(), method="measured", axes=("train_flops",))
    # without a bootstrap no ratio is significant, so there is no headline; the arithmetic is still there
    assert headline(eqs, "General-MC", "train_flops", "ift", "reasoning") is None
    best = find(eqs, "General-MC", "train_flops", "ift", "reasoning", "s3")
    assert (best.student, best.target_student) == ("s4", "s3")
    assert best.ratio == pytest.approx(2.1) and best.cost == 3e12 and best.accuracy == 0.62
    text = best.sentence()
    assert text.startswith("IFT s4 reaches reasoning s3's accuracy (62.0% vs 60.0%) with 2.1× less training compute")
    assert "[measured points]" in text
    # IFT s3 reaches reasoning s1 (0.45 >= 0.40) at equal training cost: ratio 1, not a headline
    same = [e for e in eqs if e.target_student == "s1" and e.arm == "ift"][0]
    assert same.student == "s3" and same.ratio == pytest.approx(1.0) and "about the same" in same.sentence()
    # reasoning never reaches IFT s4 (0.62): no equivalence listed for it
    assert not [e for e in eqs if e.arm == "reasoning" and e.target_student == "s4"]
    # tolerance: "similar accuracy" lets IFT s3 (0.45) count for reasoning s1 at 0.47
    tol = equivalences(table([row("s3", "ift", accuracy=0.45, train_flops=2e12),
                              row("s1", "reasoning", accuracy=0.47, train_flops=4e12)]),
                       method="measured", axes=("train_flops",), tolerance=0.03)
    ift = [e for e in tol if e.arm == "ift"][0]
    assert ift.ratio == pytest.approx(2.0) and "within 3.0 points" in ift.sentence()
    exact = equivalences(table([row("s3", "ift", accuracy=0.45, train_flops=2e12),
                                row("s1", "reasoning", accuracy=0.47, train_flops=4e12)]),
                         method="measured", axes=("train_flops",))
    assert not [e for e in exact if e.arm == "ift"]


def test_interpolated_equivalence_arithmetic():
    eqs = equivalences(_ladder(n=100_000), method="interpolated", axes=("train_flops",))
    e = [x for x in eqs if x.arm == "ift" and x.target_student == "s3"][0]
    # IFT crosses 0.60 between s3 (.45 @2e12) and s4 (.62 @3e12), linear in log10 cost
    t = (0.60 - 0.45) / (0.62 - 0.45)
    cost = 10 ** (math.log10(2e12) + t * (math.log10(3e12) - math.log10(2e12)))
    assert e.cost == pytest.approx(cost) and e.ratio == pytest.approx(6.3e12 / cost)
    assert e.bracket == ["s3", "s4"] and "interpolated between s3 and s4" in e.sentence()
    # target below A's cheapest point: clamped to that point, never extrapolated below it
    low = [x for x in eqs if x.arm == "reasoning" and x.target_student == "s1"][0]
    assert low.bracket == ["s1"] and low.cost == 2e12


def test_reach_costs_vectorised_over_replicates():
    cost = np.array([[1.0, 10.0, 100.0], [1.0, 10.0, 100.0]])
    acc = np.array([[0.2, 0.4, 0.6], [0.2, 0.6, 0.5]])  # second replicate: non-monotone
    c, lo, hi = reach_costs(cost, acc, np.array([0.5, 0.5]), "interpolated")
    assert c[0] == pytest.approx(10 ** 1.5) and (lo[0], hi[0]) == (1, 2)
    assert c[1] == pytest.approx(10 ** 0.75) and (lo[1], hi[1]) == (0, 1)
    m, lo_m, _ = reach_costs(cost, acc, np.array([0.5, 0.5]), "measured")
    assert m.tolist() == [100.0, 10.0] and lo_m.tolist() == [2, 1]
    never, idx, _ = reach_costs(cost, acc, np.array([0.9, 0.9]), "measured")
    assert np.isinf(never).all() and idx.tolist() == [-1, -1]


def test_fitted_equivalence_and_extrapolation_flag():
    results, _ = synthetic_study(families=("Math-OE",), arms=("ift", "reasoning"), n_prompts=50)
    fits = fit_curves(results)
    eqs = equivalences(results, method="fitted", fits=fits, axes=("train_flops",))
    assert eqs and all(e.method == "fitted" and not e.bracket for e in eqs)
    for e in eqs:
        fit = fits.get(e.family, e.arm, e.axis)
        assert fit.predict(e.cost) == pytest.approx(e.target_accuracy, abs=1e-9)
        assert e.extrapolated == (not fit.cost_min <= e.cost <= fit.cost_max)
        assert "fitted saturating curve" in e.sentence()
    with pytest.raises(ValueError, match="fits"):
        equivalences(results, method="fitted")


def test_equivalence_bootstrap_interval():
    results, answers = synthetic_study(families=("Math-OE",), arms=("ift", "reasoning"), n_prompts=60)
    boot = bootstrap(results, answers, n_boot=300, seed=0)
    eqs = equivalences(results, method="measured", boot=boot)
    for e in eqs:
        assert 0 <= e.p_cheaper <= 1 and 0 <= e.p_reached <= 1
        assert e.ci_low <= e.ci_high
    rated = [e for e in eqs if e.ratio > 1]
    assert rated and all("bootstrap 95% CI of the ratio" in e.sentence() or "the same ratio in every bootstrap replicate"
                         in e.sentence() for e in rated)


def test_chance_level_targets_are_not_equivalences():
    # 30% of 200 against a 25% baseline: the interval (24-37%) does not clear it, so nothing learned
    df = table([row("s1", "ift", accuracy=0.2, baseline=0.25, train_flops=1e12),
                row("s2", "ift", accuracy=0.3, baseline=0.25, train_flops=4e12),
                row("s1", "reasoning", accuracy=0.25, baseline=0.25, train_flops=2e12)])
    assert equivalences(df, method="measured") == []
    (v,) = verdicts(df)
    text = "\n".join(v["sentences"])
    assert "No point learned" in text and "no significant difference at this budget" in text
    assert "× less" not in text and "× more" not in text
    # 40% of 200 clears it (interval 33-47%): IFT s2 learned, a target again (reasoning s1 at 25% then does
    # not reach it, so still no equivalence), and the frontier verdict names it alone
    df.loc[df.student.eq("s2"), ["accuracy", "ci_low", "ci_high"]] = [0.4, 0.334, 0.47]
    (w,) = verdicts(df)
    t = "\n".join(w["sentences"])
    assert "No point learned" not in t and "(1 of 1 learned points: IFT 1)" in t


def test_a_point_off_its_own_arms_frontier_is_never_a_target():
    """Reasoning s3 (30%) costs more than reasoning s2 (50%) and learned less: IFT reaching 30% is no saving over
    the reasoning arm, which got there itself at s2's cost. Against s3's cost the ratio would be inflated (the
    published full profile's General-OE once read 'IFT s2 reaches reasoning s3's accuracy with 4.7x less')."""
    df = table([row("s1", "ift", accuracy=0.35, baseline=0.1, train_flops=1e12),
                row("s2", "reasoning", accuracy=0.5, baseline=0.1, train_flops=3e12),
                row("s3", "reasoning", accuracy=0.3, baseline=0.1, train_flops=9e12)])
    eqs = equivalences(df, method="measured", axes=("train_flops",))
    assert [e for e in eqs if e.arm == "ift"] == []  # IFT (35%) reaches no frontier point; s3 is off it
    df.loc[df.student.eq("s1"), "accuracy"] = 0.55  # now IFT s1 reaches the frontier point s2 (50%)
    eqs = equivalences(df, method="measured", axes=("train_flops",))
    assert [(e.student, e.target_student, e.ratio) for e in eqs if e.arm == "ift"] == [("s1", "s2", 3.0)]


def test_ratio_sentences_need_a_significant_bootstrap_interval():
    """n = 200: IFT s4 (62%) vs reasoning s3 (60%) is noise, so no ratio is stated; n = 100,000: it is not."""
    (v,) = verdicts(_ladder(), boot=bootstrap(_ladder(), n_boot=400, seed=0))
    text = "\n".join(v["sentences"])
    assert "reaches reasoning s3's accuracy" not in text
    assert "No significant training compute saving of IFT over reasoning at this budget" in text
    big = _ladder(n=100_000)
    (w,) = verdicts(big, boot=bootstrap(big, n_boot=400, seed=0))
    t = "\n".join(w["sentences"])
    assert "IFT s4 reaches reasoning s3's accuracy (62.0% vs 60.0%) with 2.1× less training compute" in t
    assert "the same ratio in every bootstrap replicate: A reaches the target in 100% of them" in t
    assert "Compute ratios: targets are learned points on their own arm's frontier" in t and "a ratio is stated only when" in t


def test_verdict_equivalence_and_break_even_sentences():
    big = _ladder(n=100_000)
    (v,) = verdicts(big, boot=bootstrap(big, n_boot=200, seed=0))
    text = "\n".join(v["sentences"])
    assert "IFT s4 reaches reasoning s3's accuracy (62.0% vs 60.0%) with 2.1× less training compute" in text
    assert "interpolated: 2.2×" in text
    # IFT s4 is cheaper to train and per query than reasoning s3
    assert "cheaper in total at any number of queries" in text
    assert "Best measured choice by training-FLOPs budget" in text
    item = [e for e in v["equivalences"] if e["axis"] == "train_flops" and e["arm"] == "ift"][0]
    assert item["break_even"] == {"queries": None, "cheaper": "IFT s4"}
    # a flip: IFT s4 dearer per query than reasoning s3 -> break-even Q
    df = _ladder(n=100_000)
    df.loc[df.student.eq("s4") & df.arm.eq("ift"), "inference_flops_mean"] = 3.3e10
    (w,) = verdicts(df, boot=bootstrap(df, n_boot=200, seed=0))
    t = "\n".join(w["sentences"])
    # (6.3e12 - 3e12) / (3.3e10 - 1.6e10) = 194.1 queries
    assert "IFT s4 is cheaper below Q = 194 queries, reasoning s3 beyond (break-even)" in t
    assert "the verdict flips at the boundaries" in t


# ----------------------------------------------------------------------------- planner


def test_plan_recommendation_runner_up_and_ci():
    results, answers = synthetic_study(families=("Math-OE",), arms=("ift", "reasoning", "sequential:0.5"),
                                       n_prompts=40)
    agg = aggregate_by_family(results)
    budget = float(agg.set_index(["student", "arm"]).loc[("s3", "reasoning"), "train_flops"]) * 1.01
    p = plan(results, "Math-OE", budget, answers=answers, n_boot=200)
    rec, run = p["recommendation"], p["runner_up"]
    feasible = agg[agg.train_flops <= budget].sort_values(["accuracy", "train_flops"], ascending=[False, True])
    assert len(p["candidates"]) == len(feasible)
    assert [(c["student"], c["arm"]) for c in p["candidates"]] == list(zip(feasible.student, feasible.arm))
    # IFT s4 costs 6·6.4e7·1000·50 = 1.9e13, under reasoning s3's 2.2e13, and is more accurate
    assert (rec["student"], rec["arm"], rec["kind"], rec["rho"]) == ("s4", "ift", "ift", 0.0)
    assert rec["accuracy"] >= run["accuracy"] and rec["train_flops"] <= budget
    assert rec["ci_low"] <= rec["accuracy"] <= rec["ci_high"] and rec["ci_source"] == "bootstrap (answers)"
    assert 0 <= rec["p_best"] <= 1 and p["within_measured_range"] and p["refusal"] is None
    assert sum(c["p_best"] for c in p["candidates"]) == pytest.approx(1.0)
    assert p["text"].startswith("Math-OE: train s4") and "Runner-up" in p["text"]
    seq = [c for c in p["candidates"] if c["kind"] == "sequential"]
    assert seq and seq[0]["rho"] == 0.5


def test_plan_refuses_below_and_warns_above_the_measured_range():
    results, _ = synthetic_study(families=("Math-OE",), arms=("ift", "reasoning"), n_prompts=20)
    lo, hi = results.train_flops.min(), results.train_flops.max()
    refused = plan(results, "Math-OE", lo / 2, n_boot=0)
    assert refused["recommendation"] is None and "below the cheapest measured" in refused["refusal"]
    assert "no extrapolation" in refused["refusal"]
    above = plan(results, "Math-OE", hi * 10, n_boot=0)
    assert above["recommendation"] is not None and not above["within_measured_range"]
    assert any("exceeds the largest measured training cost" in w for w in above["warnings"])
    assert "Not extrapolated" in above["text"]
    assert "extrapolation" not in above
    ex = plan(results, "Math-OE", hi * 10, n_boot=0, extrapolate=True)
    assert all(item["extrapolated"] for item in ex["extrapolation"])
    assert all(item["implied_parameters"] > 6.4e7 for item in ex["extrapolation"])
    assert ex["recommendation"] == above["recommendation"]


def test_plan_inference_budget_and_queries():
    results, _ = synthetic_study(families=("Math-OE",), arms=("ift", "reasoning"), n_prompts=20)
    big = results.train_flops.max() * 2
    unconstrained = plan(results, "Math-OE", big, n_boot=0)
    assert unconstrained["recommendation"]["arm"] == "reasoning"
    # an inference budget per query below every reasoning student's cost: IFT only
    inf = results.groupby("arm").inference_flops_mean.min()
    tight = plan(results, "Math-OE", big, inference_budget=float(inf["reasoning"]) * 0.9, n_boot=0)
    assert {c["arm"] for c in tight["candidates"]} == {"ift"}
    # the same budget spread over Q queries
    q = plan(results, "Math-OE", big, queries=1000, inference_budget=float(inf["reasoning"]) * 900, n_boot=0)
    assert {c["arm"] for c in q["candidates"]} == {"ift"}
    rec = q["recommendation"]
    assert rec["total_flops"] == pytest.approx(rec["train_flops"] + 1000 * rec["inference_flops_per_query"])
    nothing = plan(results, "Math-OE", big, inference_budget=1.0, n_boot=0)
    assert nothing["recommendation"] is None and "inference budget" in nothing["refusal"]


def test_plan_errors():
    results, _ = synthetic_study(families=("Math-OE",), arms=("ift",), n_prompts=10)
    with pytest.raises(ValueError, match="unknown family"):
        plan(results, "Nope", 1e12)
    with pytest.raises(ValueError, match="positive"):
        plan(results, "Math-OE", -1)
    with pytest.raises(ValueError, match="no training FLOPs"):
        plan(results.assign(train_flops=np.nan), "Math-OE", 1e12)
