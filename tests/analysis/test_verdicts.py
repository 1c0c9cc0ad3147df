"""Verdicts gated by statistics, on results tables with known answers: noise is never a finding."""

import re

import numpy as np
import pandas as pd
import pytest

from scale_or_reason.analysis import fit_curves, verdicts
from scale_or_reason.analysis.equivalence import equivalences
from scale_or_reason.analysis.uncertainty import bootstrap

from tests.analysis.results_rows import row, table

RATIO = re.compile(r"with [0-9.,]+× (less|more) ")
SIZES = ("s1", "s2", "s3", "s4")


def _study(p_ift, p_rsn, n=100, seed=0, draw=True, rsn_cost=3.0):
    rng = np.random.default_rng(seed)
    rows = []
    for i, s in enumerate(SIZES):
        for arm, p, mult in (("ift", p_ift[i], 1.0), ("reasoning", p_rsn[i], rsn_cost)):
            acc = rng.binomial(n, p) / n if draw else p
            rows.append(row(s, arm, family="Math-MC", accuracy=acc, n=n, baseline=0.25,
                            train_flops=1e15 * 4 ** i * mult, inference_flops=1e10 * 4 ** i * mult * 2))
    return table(rows)


def _sentences(df, n_boot=300, seed=0):
    (v,) = verdicts(df, boot=bootstrap(df, n_boot=n_boot, seed=seed))
    return v, "\n".join(v["sentences"])


@pytest.mark.parametrize("seed", range(8))
def test_all_at_chance_states_no_ratio(seed):
    v, text = _sentences(_study([0.25] * 4, [0.25] * 4, seed=seed), seed=seed)
    assert not RATIO.search(text), text
    assert "No point learned" in text or "no significant" in text.lower()
    assert v["equivalences"] == []


def test_a_clearly_dominating_arm_gets_its_sentence_and_interval():
    # reasoning 30 points above IFT at every size, n = 2000: reasoning s1 (60%) beats IFT s4 (45%) at 1/64 x 3
    df = _study([0.30, 0.35, 0.40, 0.45], [0.60, 0.65, 0.70, 0.75], n=2000, draw=False)
    v, text = _sentences(df)
    m = re.search(r"reasoning s1 reaches IFT s4's accuracy \(60\.0% vs 45\.0%\) with ([0-9.]+)× less training "
                  r"compute .*(bootstrap 95% CI of the ratio|the same ratio in every bootstrap replicate)", text)
    assert m, text
    assert float(m.group(1)) == pytest.approx(64 / 3, rel=0.05)
    assert "significantly (non-overlapping 95% Wilson intervals) at 4" in text
    item = next(e for e in v["equivalences"] if e["axis"] == "train_flops" and e["arm"] == "reasoning")
    assert item["significant"] and item["target_student"] == "s4"
    assert 1 < item["ci_low"] <= item["ratio"] <= item["ci_high"] and item["p_reached"] == 1.0


def test_overlapping_intervals_say_no_significant_difference():
    # both arms the same model (same accuracy, same cost), n = 100: whatever the draw, no ratio, no winner
    for seed in range(4):
        df = _study([0.40, 0.50, 0.60, 0.70], [0.40, 0.50, 0.60, 0.70], seed=seed, rsn_cost=1.0)
        v, text = _sentences(df, seed=seed)
        assert not RATIO.search(text), text
        assert "No significant training compute saving" in text
        assert " beats " not in text or "non-overlapping" in text


def test_the_headline_is_not_the_largest_ratio():
    # IFT s1 (80%) reaches reasoning s1 (50%, 50x dearer) and reasoning s2 (70%, 3x dearer): the largest
    # ratio would headline the weak, expensive s1; the rule picks the most accurate target reached
    df = table([row("s1", "ift", family="Math-MC", accuracy=0.80, n=5000, train_flops=1e15),
                row("s1", "reasoning", family="Math-MC", accuracy=0.50, n=5000, train_flops=5e16),
                row("s2", "reasoning", family="Math-MC", accuracy=0.70, n=5000, train_flops=3e15)])
    v, text = _sentences(df)
    assert "IFT s1 reaches reasoning s2's accuracy (80.0% vs 70.0%) with 3.0× less training compute" in text
    assert "reaches reasoning s1's accuracy" not in text and "50× less" not in text


def test_four_points_are_not_fitted_and_give_no_fitted_equivalence():
    df = _study([0.30, 0.35, 0.40, 0.45], [0.60, 0.65, 0.70, 0.75], n=2000, draw=False)
    fits = fit_curves(df)
    assert fits.fits == [] and all("at least 5" in s["reason"] for s in fits.skipped)
    assert equivalences(df, method="fitted", fits=fits) == []
    _, text = _sentences(df)
    assert "fitted curves" not in text and "interpolated:" in text


def test_seed_variance_widens_the_intervals():
    """Two training seeds that disagree by 20 points: the two-stage bootstrap's interval is wider than the one
    that pools both seeds' items as if they were one run."""
    def cell(seeds):
        rows = []
        for seed, acc in seeds:
            r = row("s1", "ift", family="Math-MC", accuracy=acc, n=400)
            r["seed"] = seed
            rows.append(r)
        return pd.DataFrame(rows)

    pooled = cell([(0, 0.5), (0, 0.5)])              # one seed (its two benchmarks' rows)
    spread = cell([(0, 0.4), (1, 0.6)])              # same pooled accuracy, two seeds 20 points apart
    b_pooled = bootstrap(pooled, n_boot=2000, seed=0)
    b_spread = bootstrap(spread, n_boot=2000, seed=0)
    assert b_spread.source == ["binomial+seeds"] and b_pooled.source == ["binomial"]
    w_pooled = np.subtract(*np.percentile(b_pooled.accuracy[:, 0], [97.5, 2.5]))
    w_spread = np.subtract(*np.percentile(b_spread.accuracy[:, 0], [97.5, 2.5]))
    assert w_spread > 2 * w_pooled


def test_a_point_whose_seeds_disagree_is_not_learned():
    """Seeds at 20% and 50% (n = 400 each, baseline 25%): pooled as one run, 35% clears the baseline (Wilson
    31.8-38.4%); with the seeds' variance it does not — one seed is below chance."""
    from scale_or_reason.analysis import aggregate_by_family
    from scale_or_reason.analysis.equivalence import learned
    from scale_or_reason.util import wilson_interval

    rows = []
    for seed, acc in ((0, 0.2), (1, 0.5)):
        r = row("s1", "ift", family="Math-MC", accuracy=acc, n=400, baseline=0.25)
        r["seed"] = seed
        rows.append(r)
    agg = aggregate_by_family(pd.DataFrame(rows))
    (pt,) = [r for _, r in agg.iterrows()]
    assert pt["accuracy"] == pytest.approx(0.35) and pt["n"] == 800
    assert wilson_interval(280, 800)[0] > 0.25          # what pooling would say
    assert pt["ci_low"] < 0.25 < pt["ci_high"] and not learned(pt)
    same = aggregate_by_family(pd.DataFrame([dict(r, accuracy=0.35) for r in rows]))
    assert learned(same.iloc[0])                       # seeds that agree: learned


def test_verdict_facts_are_typed_and_sentences_are_rendered_from_them():
    import dataclasses
    import json

    from scale_or_reason.analysis import family_verdicts
    from scale_or_reason.analysis.verdicts import EquivalenceFinding, FamilyVerdict, SizeComparison

    df = _study([0.30, 0.35, 0.40, 0.45], [0.60, 0.65, 0.70, 0.75], n=2000, draw=False)
    (v,) = family_verdicts(df, boot=bootstrap(df, n_boot=300, seed=0))
    assert isinstance(v, FamilyVerdict) and all(isinstance(s, SizeComparison) for s in v.by_size)
    assert all(isinstance(f, EquivalenceFinding) for f in v.findings) and v.n_learned == 8
    claim = next(f for f in v.equivalences if f.axis == "train_flops" and f.arm == "reasoning")
    assert claim.equivalence.significant and claim.equivalence.target_student == "s4"
    assert "less training compute (" in v.answer and "reaches IFT s4" in v.answer
    # the answer and the sentences are functions of the facts: without the claims, no ratio is said
    quiet = dataclasses.replace(v, findings=[f for f in v.findings if f.status != "claim"])
    assert not RATIO.search(quiet.answer) and "reasoning is significantly more accurate" in quiet.answer
    assert len(quiet.sentences) == len(v.sentences) - len(v.equivalences) and not any(
        "reaches IFT s4" in s for s in quiet.sentences)
    # the JSON form carries the same facts and sentences, in strict JSON
    d = json.loads(json.dumps(v.to_dict(), allow_nan=False))
    assert d["sentences"] == v.sentences and d["answer"] == v.answer
    assert [s["winner"] for s in d["by_size"]] == ["reasoning"] * 4


def test_answers_of_several_training_seeds_resample_the_seeds_too():
    """Per-sample answers of two seeds that disagree (60% vs 20% on the same 200 items): the two-stage
    bootstrap (seeds, then items) gives a far wider interval than pooling the seeds' answers would."""
    rng = np.random.default_rng(0)
    rows, answers = [], []
    for seed, p in ((0, 0.6), (1, 0.2)):
        correct = rng.random(200) < p
        rows.append(row("s1", "reasoning", family="Math-OE", accuracy=correct.mean(), n=200, baseline=0.1))
        answers.append(pd.DataFrame({"student": "s1", "arm": "reasoning", "family": "Math-OE", "benchmark": "b",
                                     "prompt_id": [f"p{i}" for i in range(200)], "correct": correct,
                                     "train_seed": seed}))
    results = table(rows)
    results["seed"] = [0, 1]
    both = pd.concat(answers, ignore_index=True)
    two_stage = bootstrap(results, both, n_boot=400, seed=0)
    pooled = bootstrap(results, both.drop(columns="train_seed"), n_boot=400, seed=0)
    assert two_stage.source == ["answers+seeds"] and pooled.source == ["answers"]
    lo2, hi2 = np.percentile(two_stage.accuracy[:, 0], [2.5, 97.5])
    lo1, hi1 = np.percentile(pooled.accuracy[:, 0], [2.5, 97.5])
    assert hi2 - lo2 > 2.5 * (hi1 - lo1)
    assert lo2 < 0.25 and hi2 > 0.55  # both seeds' accuracies are inside: the seed draw dominates
