"""The paper's Table 1, shipped as an example input: schema, the 28-of-40 count, and the CLI
(``sor analyze`` on a CSV, ``sor plan`` on a study directory and on a CSV)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scale_or_reason.analysis import example_path, load_study, paper_table1, paper_teacher_accuracy, verdicts
from scale_or_reason.cli import app
from scale_or_reason.records import FAMILIES, RESULTS_COLUMNS
from tests.analysis.synthetic_answers import synthetic_study


def test_table1_example_schema():
    t1 = paper_table1()
    assert list(t1.columns) == list(RESULTS_COLUMNS) and len(t1) == 80
    assert set(t1.family) == set(FAMILIES) and set(t1.arm) == {"ift", "reasoning"}
    assert t1.train_flops.isna().all() and t1.n.isna().all()
    # inference FLOPs: Fig. 14 estimates for the general-corpus students only
    math_rows = t1.student.str.endswith("-math")
    assert t1.loc[math_rows, "inference_flops_mean"].isna().all()
    assert (t1.loc[~math_rows, "inference_flops_mean"] > 0).all()
    row = t1[(t1.student == "Qwen2.5-7B") & (t1.family == "Math-OE") & (t1.arm == "reasoning")].iloc[0]
    assert row.accuracy == pytest.approx(0.663) and row.parameters == 7_615_616_512
    assert paper_teacher_accuracy() == {"General-MC": 0.954, "General-OE": 0.844, "Math-MC": 0.946,
                                        "Math-OE": 0.921}
    data = load_study(example_path())
    assert data.teacher_accuracy == paper_teacher_accuracy() and data.answers is None


def test_table1_at_equal_size_reasoning_wins_28_of_40():
    v = verdicts(paper_table1())
    compared = [s for fam in v for s in fam["by_size"] if s["winner"] is not None]
    wins = [s for s in compared if s["winner"] == "reasoning"]
    assert len(compared) == 40 and len(wins) == 28
    per_family = {fam["family"]: sum(s["winner"] == "reasoning" for s in fam["by_size"]) for fam in v}
    # general corpus: OE 5, MC 3, Math-OE 5, Math-MC 5; math corpus: 0, 2, 4, 4
    assert per_family == {"General-MC": 5, "General-OE": 5, "Math-MC": 9, "Math-OE": 9}
    text = "\n".join(v[0]["sentences"])
    assert "At equal size, reasoning is ahead of IFT at 5 of 10 sizes by point estimate" in text
    # the published table has no sample sizes: differences are reported, never called significant
    assert "Qwen2.5-0.5B (494M parameters): IFT ahead of reasoning by 6.1 points" in text
    assert "no intervals to test" in text and " beats " not in text


def test_table1_inference_equivalence_matches_the_paper_direction():
    v = {x["family"]: x for x in verdicts(paper_table1())}
    # on MC tasks IFT is far cheaper per query at similar accuracy (paper: reasoning 10-15x longer)
    mc = "\n".join(v["General-MC"]["sentences"])
    # the headline rule (most accurate target reached), on point estimates since the table has no n
    assert "IFT Qwen2.5-7B reaches reasoning Qwen2.5-3B's accuracy (79.1% vs 75.6%) with 13× less inference" in mc
    assert "(Point estimates only: not a tested claim.)" in mc and "no sample sizes" in mc
    assert "Training-FLOPs frontier: no point has a finite cost" in mc


def test_cli_analyze_table1_json_shape(tmp_path):
    res = CliRunner().invoke(app, ["analyze", str(example_path()), "--out", str(tmp_path / "rep"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {(o["family"], o["axis"]) for o in out} == {(f, a) for f in FAMILIES
                                                       for a in ("train_flops", "inference_flops")}
    assert all(set(o) == {"family", "axis", "convention", "frontier", "learned_frontier", "answer", "equivalences"}
               for o in out)
    mc = [o for o in out if o["family"] == "General-MC" and o["axis"] == "inference_flops"][0]
    assert mc["answer"].startswith("General-MC: the results give no sample sizes, so nothing can be tested")
    assert mc["equivalences"] and all(e["tested"] is False for e in mc["equivalences"])
    inf = [o for o in out if o["axis"] == "inference_flops" and o["family"] == "Math-OE"][0]
    assert inf["convention"] == "paper" and inf["frontier"][0] == {
        "student": "Qwen2.5-0.5B", "arm": "ift", "parameters": 494032768,
        "cost": pytest.approx(1.581e12), "accuracy": pytest.approx(0.177)}
    assert (tmp_path / "rep" / "report.html").is_file()


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    results, answers = synthetic_study(families=("Math-OE",), arms=("ift", "reasoning"), n_prompts=20)
    d = tmp_path_factory.mktemp("study")
    results.to_parquet(d / "results.parquet", index=False)
    (d / "answers").mkdir()
    for (s, a), g in answers.groupby(["student", "arm"]):
        g.to_parquet(d / "answers" / f"{s}-{a}.parquet", index=False)
    return d, results


def test_cli_plan_on_a_study_dir(study_dir):
    d, results = study_dir
    budget = float(results.train_flops.max())
    res = CliRunner().invoke(app, ["plan", "--study", str(d), "--family", "Math-OE", "--train-budget",
                                   f"{budget:g}", "--queries", "1e6", "--json"])
    assert res.exit_code == 0, res.output
    p = json.loads(res.stdout)
    assert p["recommendation"]["ci_source"].startswith("bootstrap (answers)")
    assert p["recommendation"]["total_flops"] > p["recommendation"]["train_flops"]
    assert p["runner_up"] is not None and p["budgets"]["queries"] == 1e6
    text = CliRunner().invoke(app, ["plan", "--study", str(d), "--family", "Math-OE", "--train-budget",
                                    f"{budget:g}"])
    assert text.exit_code == 0 and text.stdout.startswith("Math-OE: train ")


def test_cli_plan_refusal_and_errors(study_dir, tmp_path):
    d, results = study_dir
    runner = CliRunner()
    low = runner.invoke(app, ["plan", "--study", str(d), "--family", "Math-OE", "--train-budget", "1", "--json"])
    assert low.exit_code == 1 and json.loads(low.stdout)["recommendation"] is None
    both = runner.invoke(app, ["plan", "--study", str(d), "--results", "x.csv", "--family", "Math-OE",
                               "--train-budget", "1"])
    assert both.exit_code == 2 and "exactly one of" in both.output
    fam = runner.invoke(app, ["plan", "--study", str(d), "--family", "Nope", "--train-budget", "1e12"])
    assert fam.exit_code == 2 and "unknown family" in fam.output
    t1 = runner.invoke(app, ["plan", "--results", str(example_path()), "--family", "Math-OE",
                             "--train-budget", "1e20"])
    assert t1.exit_code == 2 and "no training FLOPs" in t1.output
    csv = tmp_path / "r.csv"
    results.drop(columns=["accuracy"]).to_csv(csv, index=False)
    bad = runner.invoke(app, ["plan", "--results", str(csv), "--family", "Math-OE", "--train-budget", "1e12"])
    assert bad.exit_code == 2 and "accuracy" in bad.output and str(csv) in bad.output.replace("\n", "")


def test_results_csv_round_trip(tmp_path):
    results, _ = synthetic_study(families=("General-MC",), arms=("ift", "reasoning"), n_prompts=10)
    path = tmp_path / "results.csv"
    results.to_csv(path, index=False)
    data = load_study(path)
    pd.testing.assert_frame_equal(data.results, results, check_dtype=False)
    assert data.answers is None and data.config is None and data.teacher_accuracy == {}
    (tmp_path / "results_teacher.csv").write_text("family,accuracy\nGeneral-MC,0.9\n")
    assert load_study(path).teacher_accuracy == {"General-MC": 0.9}
    (tmp_path / "results_teacher.csv").write_text("family,accuracy\nGeneral-MC,90\n")
    with pytest.raises(ValueError, match="fractions"):
        load_study(path)
    assert np.isfinite(results.train_flops).all()


@pytest.mark.parametrize("column, value, expected", [
    ("accuracy", "1.5", "row 3: accuracy = 1.5 is not a number in [0, 1]"),
    ("n", "-3", "row 3: n = -3 is not a number >= 0"),
    ("train_flops", "lots", "row 3: train_flops = 'lots' is not a number >= 0"),
])
def test_a_results_table_with_out_of_range_numbers_is_refused_naming_row_and_column(tmp_path, column, value,
                                                                                     expected):
    df = pd.read_csv(example_path(), dtype=str)
    if column not in df.columns:
        df[column] = "100"
    df.loc[2, column] = value
    bad = tmp_path / "bad.csv"
    df.to_csv(bad, index=False)
    res = CliRunner().invoke(app, ["analyze", str(bad), "--out", str(tmp_path / "rep")])
    assert res.exit_code == 2 and f"bad.csv: {expected}" in " ".join(res.output.split()), res.output
    assert not (tmp_path / "rep").exists()
