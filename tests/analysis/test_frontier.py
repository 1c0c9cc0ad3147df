"""Tests of the analysis stage on small hand-made results tables with known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from scale_or_reason.analysis import (
    Frontier,
    aggregate_by_family,
    frontiers,
    pareto_frontier,
    plot_all,
    plot_frontiers,
    plot_tokens,
    render_verdicts,
    run_analysis,
    token_ratios,
    verdicts,
    write_report,
)
from scale_or_reason.analysis.formatting import wilson
from scale_or_reason.records import RESULTS_COLUMNS

from tests.analysis.results_rows import SIZES, row, study, table


def test_pareto_known_answer_sorted_and_increasing():
    t = pd.DataFrame({
        "name": ["a", "b", "c", "d", "e"],
        "cost": [3.0, 1.0, 2.0, 4.0, 5.0],
        "accuracy": [0.6, 0.4, 0.3, 0.55, 0.9],
    })
    front = pareto_frontier(t, "cost")
    assert list(front["name"]) == ["b", "a", "e"]
    assert front["cost"].is_monotonic_increasing
    assert (np.diff(front["accuracy"].to_numpy()) > 0).all()
    assert list(front.index) == [1, 0, 4]  # original index kept


def test_pareto_ties_and_duplicates():
    t = pd.DataFrame({
        "name": ["dup1", "dup2", "same-cost-worse", "same-acc-dearer", "dom1", "dom2", "top",
                 "nan"],
        "cost": [1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 4.0, math.nan],
        "accuracy": [0.5, 0.5, 0.4, 0.5, 0.45, 0.45, 0.8, 0.99],
    })
    front = pareto_frontier(t, "cost")
    # exact duplicates on the frontier are both kept, in their original order; dominated
    # duplicates are both dropped; equal accuracy at higher cost is dominated; NaN ignored
    assert list(front["name"]) == ["dup1", "dup2", "top"]


def test_pareto_equal_cost_higher_accuracy_dominates():
    t = pd.DataFrame({"cost": [2.0, 2.0, 1.0], "acc": [0.3, 0.7, 0.2], "name": ["lo", "hi", "x"]})
    front = pareto_frontier(t, "cost", "acc")
    assert list(front["name"]) == ["x", "hi"]
    # and the single cheapest but worst point stays, a dearer but better point stays
    assert pareto_frontier(t.iloc[[0, 1]], "cost", "acc")["name"].tolist() == ["hi"]


def test_pareto_empty_and_missing_column():
    empty = pd.DataFrame({"cost": [], "accuracy": []})
    assert pareto_frontier(empty, "cost").empty
    with pytest.raises(KeyError):
        pareto_frontier(empty, "nope")


# ----------------------------------------------------------------------------- aggregation


def test_aggregate_weighted_means():
    rows = [
        row("s1", "ift", "Math-OE", "gsm8k", accuracy=0.2, n=100, train_flops=7e12,
            inference_flops=1e9, tokens=10.0, baseline=0.0),
        row("s1", "ift", "Math-OE", "math-500", accuracy=0.6, n=300, train_flops=7e12,
            inference_flops=3e9, tokens=30.0, baseline=0.1),
    ]
    rows[0].update(generated_tokens_correct_mean=5.0, generated_tokens_incorrect_mean=20.0)
    rows[1].update(generated_tokens_correct_mean=25.0, generated_tokens_incorrect_mean=40.0)
    agg = aggregate_by_family(table(rows))
    assert len(agg) == 1
    r = agg.iloc[0]
    assert list(agg.columns) == list(RESULTS_COLUMNS)
    assert r["accuracy"] == pytest.approx(0.5)  # (20 + 180) / 400
    assert r["n"] == 400
    assert r["baseline"] == pytest.approx(0.075)
    assert r["train_flops"] == 7e12  # per run: first, not summed
    assert r["inference_flops_mean"] == pytest.approx(2.5e9)
    assert r["generated_tokens_mean"] == pytest.approx(25.0)
    # correct answers: 20 at 5 tokens, 180 at 25 -> 23; incorrect: 80 at 20, 120 at 40 -> 32
    assert r["generated_tokens_correct_mean"] == pytest.approx(23.0)
    assert r["generated_tokens_incorrect_mean"] == pytest.approx(32.0)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(wilson(200, 400))
    assert r["benchmark"] == "gsm8k, math-500"
    assert r["convention"] == "paper" and r["parameters"] == SIZES["s1"]


def test_aggregate_single_benchmark_is_passthrough_and_idempotent():
    df = study([0.3, 0.4, 0.5, 0.6], [0.35, 0.45, 0.55, 0.65])
    agg = aggregate_by_family(df)
    assert len(agg) == len(df)
    key = ["family", "student", "arm"]
    left = df.sort_values(key).reset_index(drop=True)
    right = agg.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False)
    pd.testing.assert_frame_equal(aggregate_by_family(agg), agg, check_dtype=False)


def test_aggregate_rejects_mixed_conventions_and_missing_columns():
    rows = [row(benchmark="a"), row(benchmark="b", convention="exact")]
    with pytest.raises(ValueError, match="conventions"):
        aggregate_by_family(table(rows))
    with pytest.raises(ValueError, match="accuracy"):
        aggregate_by_family(table([row()]).drop(columns=["accuracy"]))


# ----------------------------------------------------------------------------- frontiers


def test_frontiers_per_family_and_axis():
    # IFT is cheap to train; reasoning is more accurate at equal size
    df = study([0.30, 0.40, 0.50, 0.60], [0.42, 0.52, 0.62, 0.72], families=("General-MC", "Math-OE"))
    fr = frontiers(df)
    assert [(f.family, f.axis) for f in fr] == [
        ("General-MC", "train_flops"), ("General-MC", "inference_flops"),
        ("Math-OE", "train_flops"), ("Math-OE", "inference_flops"),
    ]
    train = fr[0]
    assert isinstance(train, Frontier) and train.convention == "paper"
    pts = [(p["student"], p["arm"]) for p in train.points]
    # training cost is 6e3 x tokens (10 IFT, 80 reasoning) x P and P grows 4x per size, so IFT
    # s(k+1) costs half of reasoning s(k); by cost: s1i .30, s2i .40, s1r .42, s3i .50, s2r .52,
    # s4i .60, s3r .62, s4r .72 -- accuracy rises at every step, so every point is on the frontier
    assert pts == [("s1", "ift"), ("s2", "ift"), ("s1", "reasoning"), ("s3", "ift"),
                   ("s2", "reasoning"), ("s4", "ift"), ("s3", "reasoning"), ("s4", "reasoning")]
    d = train.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert set(d["points"][0]) == {"student", "arm", "parameters", "cost", "accuracy"}


# ----------------------------------------------------------------------------- verdicts


def _sentences(v):
    return "\n".join(v["sentences"])


def test_verdict_text_follows_the_data_when_arms_flip():
    better_rsn = study([0.30, 0.40, 0.50, 0.60], [0.50, 0.60, 0.70, 0.80], families=("Math-OE",))
    better_ift = study([0.50, 0.60, 0.70, 0.80], [0.30, 0.40, 0.50, 0.60], families=("Math-OE",))
    (a,), (b,) = verdicts(better_rsn), verdicts(better_ift)
    ta, tb = _sentences(a), _sentences(b)

    assert a["best_arm"] == "reasoning" and b["best_arm"] == "ift"
    assert "the best arm is reasoning" in ta and "the best arm is IFT" in tb
    assert "reasoning is ahead of IFT at 4 of 4 sizes by point estimate; significantly" in ta
    assert "significantly (non-overlapping 95% Wilson intervals) at 4, IFT significantly at 0" in ta
    assert "reasoning is ahead of IFT at 0 of 4 sizes" in tb and "at 0, IFT significantly at 4" in tb
    assert "s3 (16M parameters): reasoning beats IFT by 20.0 points" in ta
    assert "s3 (16M parameters): IFT beats reasoning by 20.0 points" in tb
    assert "do not overlap" in ta  # n=200, 20 points apart
    assert [s["winner"] for s in a["by_size"]] == ["reasoning"] * 4
    assert [s["winner"] for s in b["by_size"]] == ["ift"] * 4
    assert a["by_size"][0]["delta_points"] == pytest.approx(20.0)
    assert b["by_size"][0]["delta_points"] == pytest.approx(-20.0)
    # frontiers differ too: all-IFT when IFT is both cheaper and better
    assert {p["arm"] for p in b["frontier"]["train_flops"]} == {"ift"}
    assert "Training-FLOPs frontier" in tb and "s4 IFT" in tb
    # largest student vs baseline
    assert "Largest student s4" in ta and "reasoning 80.0% (55.0 points above)" in ta


def test_verdict_matched_compute_ratio_and_no_reach():
    # IFT s4 (0.62) reaches the best reasoning point (s3, 0.60); training cost ratio is exact
    rows = [
        row("s1", "ift", accuracy=0.30, train_flops=1e12),
        row("s3", "ift", accuracy=0.45, train_flops=2e12),
        row("s4", "ift", accuracy=0.62, train_flops=3e12),
        row("s1", "reasoning", accuracy=0.40, train_flops=2e12),
        row("s3", "reasoning", accuracy=0.60, train_flops=6.3e12),
    ]
    (v,) = verdicts(table(rows))
    m = v["matched_compute"]
    assert m["reasoning"]["student"] == "s3" and m["ift"]["student"] == "s4"
    assert m["train_flops_ratio"] == pytest.approx(2.1)
    assert "IFT s4 exceeds the best reasoning point, reasoning s3" in m["sentence"]
    # no bootstrap: the ratio is kept in the facts but not stated as a finding
    assert "× less" not in m["sentence"] and "not significant (no bootstrap interval)" in m["sentence"]
    big = table([dict(r, n=100_000) for r in rows])
    from scale_or_reason.analysis.uncertainty import bootstrap

    (vb,) = verdicts(big, boot=bootstrap(big, n_boot=200, seed=0))
    assert "2.1× less training compute" in vb["matched_compute"]["sentence"]
    assert "measured points" in vb["matched_compute"]["sentence"] and "bootstrap 95% CI" in vb["matched_compute"]["sentence"]
    # no equal-size pair for s4: said so, not invented
    assert "s4 (64M parameters): only IFT measured" in _sentences(v)

    # now no IFT point reaches it
    rows[2] = row("s4", "ift", accuracy=0.55, train_flops=3e12)
    (w,) = verdicts(table(rows))
    assert w["matched_compute"]["ift"] is None
    assert "no measured IFT point reaches" in w["matched_compute"]["sentence"]
    assert "best IFT point is s4 at 55.0%" in w["matched_compute"]["sentence"]

    # IFT reaching it but costing more: says "more", not "less"
    rows[2] = row("s4", "ift", accuracy=0.62, train_flops=1.26e13)
    big = table([dict(r, n=100_000) for r in rows])
    (x,) = verdicts(big, boot=bootstrap(big, n_boot=200, seed=0))
    assert "2.0× more training compute" in x["matched_compute"]["sentence"]


def test_verdict_with_one_arm_only():
    df = study([0.30, 0.40, 0.50, 0.60], None, families=("General-OE",))
    (v,) = verdicts(df)
    text = _sentences(v)
    assert v["arms"] == ["ift"] and v["matched_compute"] is None and v["by_size"] == []
    assert "No reasoning arm" in text
    assert "beats" not in text and "reasoning s" not in text
    assert "the best arm is IFT" in text
    rendered = render_verdicts(verdicts(df))
    assert rendered.startswith("General-OE") and "No reasoning arm" in rendered


def test_verdict_overlapping_cis_and_level_and_below_baseline():
    rows = [
        row("s1", "ift", accuracy=0.20, n=50, baseline=0.25),
        row("s1", "reasoning", accuracy=0.22, n=50, baseline=0.25),
        row("s2", "ift", accuracy=0.40, n=50),
        row("s2", "reasoning", accuracy=0.40, n=50),
    ]
    (v,) = verdicts(table(rows))
    text = _sentences(v)
    assert "s1 (1M parameters): no significant difference (reasoning 22.0% vs IFT 20.0%; reasoning ahead by " \
           "2.0 points" in text
    assert "intervals overlap, so the difference is not clear-cut" in text and " beats " not in text
    assert "s2 (4M parameters): reasoning and IFT are level" in text
    assert v["by_size"][1]["winner"] == "tie"
    assert "reasoning is ahead of IFT at 1 of 2 sizes by point estimate; significantly" in text
    # best accuracy is a tie between the arms at s2
    assert v["best_arm"] == "tie"
    below = verdicts(table(rows[:2]))[0]
    assert "IFT 20.0% (5.0 points below)" in _sentences(below)


# ----------------------------------------------------------------------------- report & plots


def test_token_ratios():
    rows = []
    for fam in ("General-MC", "Math-OE"):
        for s in SIZES:
            rows.append(row(s, "ift", fam, "b1", 0.3))
            rows.append(row(s, "reasoning", fam, "b1", 0.4))
    r = token_ratios(table(rows))
    assert list(r.index) == ["General-MC", "Math-OE"] and list(r.columns) == list(SIZES)
    assert np.allclose(r.to_numpy(dtype=float), 8.0)


def test_plots_return_paths(tmp_path):
    df = study([0.3, 0.4, 0.5, 0.6], [0.4, 0.5, 0.6, 0.7], families=("Math-MC",))
    for files in (plot_frontiers(df, tmp_path, "train_flops", dpi=40),
                  plot_frontiers(df, tmp_path, "inference_flops", dpi=40), plot_tokens(df, tmp_path, dpi=40)):
        assert [p.suffix for p in files] == [".png", ".svg"]
        assert all(p.is_file() and p.stat().st_size > 0 for p in files)
    empty = plot_all(df.iloc[0:0], tmp_path / "empty")
    assert set(empty) == {"train_flops", "inference_flops", "tokens", "token_factor", "length_correct",
                          "rho_accuracy", "rho_tokens", "inference_scaling", "early_stopping"}
    assert all(v == [] for v in empty.values())
    # no positive cost on an axis: no figure rather than empty panels
    assert plot_frontiers(df.assign(train_flops=np.nan), tmp_path, "train_flops") == []


def test_analyze_is_strict_json_with_missing_values():
    df = study([0.3, 0.4, 0.5, 0.6], [0.4, 0.5, 0.6, 0.7], families=("General-MC",))
    df.loc[0, "generated_tokens_correct_mean"] = np.nan
    df.loc[1, "baseline"] = np.nan
    out = run_analysis(df).to_dict()
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text) == out
    assert {"families", "conventions", "frontiers", "verdicts", "text", "fits", "equivalences",
            "uncertainty", "regimes"} <= set(out)
    assert out["families"] == ["General-MC"] and out["conventions"] == ["paper"]
    assert "General-MC" in out["text"]


def test_empty_results_report(tmp_path):
    empty = table([row()]).iloc[0:0]
    assert frontiers(empty) == [] and verdicts(empty) == []
    path = write_report(run_analysis(empty), tmp_path, title="empty")
    with pytest.raises(TypeError, match="takes the Analysis"):
        write_report(empty, tmp_path, title="a table is not an analysis")
    page = path.read_text()
    assert "No results to judge." in page and "<img" not in page
