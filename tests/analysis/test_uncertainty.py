"""A small synthetic study (results + per-sample answers, curricula included) built in memory, and
tests of what needs per-sample answers: the paired bootstrap, frontier probabilities, early stopping,
seed spread. Other ``test_analysis_*`` modules import ``synthetic_study`` from here."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scale_or_reason.analysis import aggregate_by_family, bootstrap, early_stopping, seed_spread
from scale_or_reason.analysis.uncertainty import on_frontier

from tests.analysis.synthetic_answers import SIZES, synthetic_study


@pytest.fixture(scope="module")
def study():
    return synthetic_study()


# ----------------------------------------------------------------------------- bootstrap


def test_bootstrap_from_answers_is_paired_and_centred(study):
    results, answers = study
    boot = bootstrap(results, answers, n_boot=400, seed=1)
    agg = aggregate_by_family(results)
    assert boot.accuracy.shape == (400, len(agg)) and set(boot.source) == {"answers"}
    iv = boot.intervals()
    assert (iv["boot_low"] <= iv["accuracy"] + 1e-12).all() and (iv["accuracy"] <= iv["boot_high"] + 1e-12).all()
    # paired: every replicate keeps reasoning >= IFT at each size (nested correct sets)
    for s in SIZES:
        i = boot.index(s, "ift", "Math-OE")
        r = boot.index(s, "reasoning", "Math-OE")
        assert (boot.accuracy[:, r] >= boot.accuracy[:, i]).all()
    # inference cost is resampled (varies) but centred on the measured mean
    j = boot.index("s2", "reasoning", "Math-OE")
    assert boot.inference[:, j].std() > 0
    assert boot.inference[:, j].mean() == pytest.approx(agg.loc[j, "inference_flops_mean"], rel=0.05)
    # same seed, same replicates
    again = bootstrap(results, answers, n_boot=400, seed=1)
    np.testing.assert_array_equal(again.accuracy, boot.accuracy)


def test_bootstrap_binomial_fallback_and_none():
    results, _ = synthetic_study(families=("Math-OE",), arms=("ift", "reasoning"), n_prompts=50)
    boot = bootstrap(results, None, n_boot=300, seed=0)
    assert set(boot.source) == {"binomial"}
    iv = boot.intervals()
    # binomial spread of a pooled proportion over 100 samples: sd about sqrt(p(1-p)/100)
    j = boot.index("s3", "ift", "Math-OE")
    p = aggregate_by_family(results).loc[j, "accuracy"]
    assert boot.accuracy[:, j].std() == pytest.approx(math.sqrt(p * (1 - p) / 100), rel=0.25)
    assert (iv["boot_high"] > iv["boot_low"]).all()
    no_n = results.assign(n=np.nan)
    b2 = bootstrap(no_n, None, n_boot=50)
    assert set(b2.source) == {"none"} and b2.intervals()["boot_low"].isna().all()
    assert b2.p_frontier("train_flops").isna().all()


def test_on_frontier_matches_pareto_rule():
    cost = np.array([[1.0, 1.0, 2.0, 3.0, 3.0]])
    acc = np.array([[0.5, 0.5, 0.5, 0.7, 0.6]])
    # duplicates both on; equal accuracy at higher cost dominated; lower accuracy at same cost dominated
    assert on_frontier(cost, acc).tolist() == [[True, True, False, True, False]]


def test_p_frontier_certain_and_uncertain(study):
    results, answers = study
    boot = bootstrap(results, answers, n_boot=300, seed=0)
    p = boot.p_frontier("train_flops")
    agg = aggregate_by_family(results)
    # s1 IFT is the cheapest point of its family: always on the frontier
    for fam in ("Math-OE", "General-MC"):
        assert p.iloc[boot.index("s1", "ift", fam)] == 1.0
    assert ((p >= 0) & (p <= 1)).all()
    # points on the measured frontier are on it in most replicates, the others far less often
    from scale_or_reason.analysis import frontiers

    on = {(q["student"], q["arm"]) for f in frontiers(agg) if f.family == "Math-OE" and f.axis == "train_flops"
          for q in f.points}
    fam = agg[agg.family == "Math-OE"]
    p_on = [p.iloc[i] for i, r in fam.iterrows() if (r.student, r.arm) in on]
    p_off = [p.iloc[i] for i, r in fam.iterrows() if (r.student, r.arm) not in on]
    assert min(p_on) > 0.2 and np.mean(p_on) > np.mean(p_off)


# ----------------------------------------------------------------------------- early stopping


def test_early_stopping_definition():
    answers = pd.DataFrame({
        "student": "s1", "arm": "reasoning", "family": "Math-OE", "benchmark": "b",
        "prompt_id": [f"p{i}" for i in range(5)],
        "generated_tokens": [10, 20, 30, 40, 50],
        "prompt_tokens": [10] * 5,
        "correct": [True, False, True, True, False],
        "inference_flops": [100.0, 200.0, 300.0, 400.0, 500.0],
    })
    es = early_stopping(answers).set_index("percentile")
    assert list(es.index) == [0, 25, 50, 75, 100]
    # cutoffs (method 'lower'): 10, 20, 30, 40, 50
    assert es["cutoff_tokens_mean"].tolist() == [10, 20, 30, 40, 50]
    # kept and correct: p0 -> {10 ok} 1/5; p25 -> {10 ok, 20 x} 1/5; p50 -> 2/5; p75 -> 3/5; p100 -> 3/5
    assert es["accuracy"].tolist() == pytest.approx([0.2, 0.2, 0.4, 0.6, 0.6])
    assert es["kept_fraction"].tolist() == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    # tokens become min(g, cut); at p50: 10, 20, 30, 30, 30
    assert es.loc[50, "tokens_mean"] == pytest.approx(24.0)
    # flops rescaled by (prompt + min(g, cut)) / (prompt + g): p50 -> 100, 200, 300, 400*40/50, 500*40/60
    assert es.loc[50, "inference_flops_mean"] == pytest.approx((100 + 200 + 300 + 320 + 500 * 40 / 60) / 5)
    assert es.loc[100, "inference_flops_mean"] == pytest.approx(300.0)
    assert early_stopping(answers.drop(columns=["generated_tokens"])).empty
    with pytest.raises(ValueError, match="percentiles"):
        early_stopping(answers, percentiles=(120,))


def test_early_stopping_accuracy_never_rises_when_cutting(study):
    _, answers = study
    es = early_stopping(answers)
    for _, g in es.groupby(["student", "arm", "family"]):
        acc = g.sort_values("percentile")["accuracy"].to_numpy()
        assert (np.diff(acc) >= -1e-12).all()


# ----------------------------------------------------------------------------- seeds


def test_seed_spread():
    results, _ = synthetic_study(families=("Math-OE",), arms=("ift", "reasoning"))
    assert seed_spread(results).empty
    a = results.assign(seed=0)
    b = results.assign(seed=1, accuracy=results["accuracy"] + 0.04)
    spread = seed_spread(pd.concat([a, b]))
    assert len(spread) == 2 * len(SIZES) and (spread["n_seeds"] == 2).all()
    assert spread["range_points"].to_numpy() == pytest.approx(4.0)
    assert spread["std"].to_numpy() == pytest.approx(0.04 / math.sqrt(2))
