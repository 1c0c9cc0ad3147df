"""End to end: the quick profile of the embedded study, its artefacts, its ledger and its rerun."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from scale_or_reason.cli import app
from scale_or_reason.flops import Architecture, train_flops
from scale_or_reason.records import FAMILIES, RESULTS_COLUMNS
from scale_or_reason.study import load_study_config, run_study

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    summary = run_study(load_study_config("quick"), out)
    return out, summary


def test_report_and_table_exist(study):
    out, summary = study
    report = out / "report" / "report.html"
    assert summary["report"] == str(report) and report.exists()
    html = report.read_text()
    assert "<img" in html and 'src="http' not in html
    results = pd.read_csv(out / "results.csv")
    assert list(results.columns) == list(RESULTS_COLUMNS)
    assert set(results.family) == set(FAMILIES)
    assert len(results) == 4 * 2 * 4  # students x arms x families
    assert results.accuracy.between(0, 1).all()
    assert (results.convention == "paper").all()


def test_training_flops_grow_with_student_size(study):
    out, _ = study
    res = pd.read_csv(out / "results.csv").drop_duplicates(["student", "arm"])
    for arm, df in res.groupby("arm"):
        df = df.sort_values("non_embedding_parameters")
        assert df.non_embedding_parameters.is_monotonic_increasing
        assert df.train_flops.is_monotonic_increasing and df.train_flops.nunique() == len(df)


def test_reasoning_costs_more_training_by_its_token_lengths(study):
    out, _ = study
    ledgers = {a: json.loads((out / "runs" / f"s4-{a}" / "ledger.json").read_text()) for a in ("ift", "reasoning")}
    orders = {a: [json.loads(x) for x in (out / "runs" / f"s4-{a}" / "order.jsonl").read_text().splitlines()]
              for a in ("ift", "reasoning")}
    # same prompts, same order, only the format differs
    assert [o["prompt_id"] for o in orders["ift"]] == [o["prompt_id"] for o in orders["reasoning"]]
    token_ratio = ledgers["reasoning"]["tokens"] / ledgers["ift"]["tokens"]
    flops_ratio = ledgers["reasoning"]["train_flops"] / ledgers["ift"]["train_flops"]
    assert token_ratio > 1.5
    # FLOPs are linear in tokens plus a quadratic attention term: the ratio is at least the token ratio,
    # and exactly what the formula gives on the recorded per-sample lengths.
    assert flops_ratio >= token_ratio
    arch = Architecture.from_config(out / "runs" / "s4-ift" / "config.json")
    expect = {a: train_flops(arch, [o["tokens"] for o in orders[a]]) for a in orders}
    assert flops_ratio == pytest.approx(expect["reasoning"] / expect["ift"])


def test_answers_are_saved_per_sample(study):
    out, _ = study
    ans = pd.read_parquet(out / "answers" / "s2-reasoning.parquet")
    assert {"prompt_id", "generated_tokens", "finish_reason", "inference_flops", "correct"} <= set(ans.columns)
    assert ans.finish_reason.isin(["stop", "length"]).all()
    assert (ans.generated_tokens > 0).all() and (ans.inference_flops > 0).all()


def test_rerun_does_no_training(study):
    out, _ = study
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/model.safetensors")}
    again = run_study(load_study_config("quick"), out)
    assert again["trained"] == []
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_cli_demo_rerun_prints_report_path_and_flops_json(study):
    out, _ = study
    runner = CliRunner()
    res = runner.invoke(app, ["demo", "--profile", "quick", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip().endswith(str(out / "report" / "report.html"))
    res = runner.invoke(app, ["flops", "--model-config", str(out / "runs" / "s1-ift" / "config.json"),
                              "--prompt-tokens", "50", "--generated-tokens", "20", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert {"parameters", "non_embedding_parameters", "train_flops", "inference_flops"} <= set(data)
    assert data["convention"] == "paper" and data["train_flops"] > data["inference_flops"] > 0
    res = runner.invoke(app, ["analyze", str(out), "--json"])
    assert res.exit_code == 0, res.output
    fronts = json.loads(res.stdout)
    assert {(f["family"], f["axis"]) for f in fronts} == {(f, a) for f in FAMILIES
                                                         for a in ("train_flops", "inference_flops")}


def test_study_ledger_recomputes_the_recorded_training_flops(study):
    out, _ = study
    res = CliRunner().invoke(app, ["flops", "--study", str(out), "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["run"]: r for r in json.loads(res.stdout)}
    assert len(rows) == 8 and all(r["convention"] == "paper" for r in rows.values())
    for name, r in rows.items():
        ledger = json.loads((out / "runs" / name / "ledger.json").read_text())
        assert r["training"] == pytest.approx(ledger["train_flops"])
        answers = pd.read_parquet(out / "answers" / f"{name}.parquet")
        assert r["evaluation"] == pytest.approx(answers.inference_flops.sum())
        assert r["teacher"] == 0.0  # the programmatic teacher runs no model
    exact = json.loads(CliRunner().invoke(app, ["flops", "--study", str(out), "--convention", "exact",
                                               "--json"]).stdout)
    assert all(r["convention"] == "exact" and r["training"] > 0 for r in exact)
