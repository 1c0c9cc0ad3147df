"""End to end: the quick study through the task graph -- artefacts, ledger, plan, rerun, invalidation, failures."""

import dataclasses
import json
import re
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from scale_or_reason.cli import app
from scale_or_reason.flops import Architecture, train_flops
from scale_or_reason.records import FAMILIES, RESULTS_COLUMNS
from scale_or_reason.study import expand, load_study_file, plan_study, run_study, study_status, task_states
from scale_or_reason.study import stages as stages_mod

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    summary = run_study(load_study_file("quick"), out)
    return out, summary


def _stamps(out):
    return {p.name: p.read_text() for p in (out / "tasks").glob("*.json")}


def test_report_and_table_exist(study):
    out, summary = study
    report = out / "report" / "report.html"
    assert summary["report"] == str(report) and report.exists()
    html = report.read_text()
    assert "<img" in html and 'src="http' not in html
    # the stages' own sections, joined from what each task recorded
    stages = html[html.index(">Study stages</h2>"):html.index(">Study configuration</h2>")]
    assert ">Teacher</h3>" in stages and ">Training</h3>" in stages and ">Evaluation</h3>" in stages
    assert ">Base stage</h3>" in stages and "pretraining FLOPs" in stages
    assert "s4-reasoning" in stages and "synthetic-math-oe" in stages and "General-MC" in stages
    # the quick study learns nothing (a minute of training): the report states no compute ratio at all
    assert not re.search(r"with [0-9.,]+× (less|more) ", html)
    assert "nothing learned" in html or "no significant" in html
    results = pd.read_csv(out / "results.csv")
    assert list(results.columns) == list(RESULTS_COLUMNS)
    assert set(results.family) == set(FAMILIES)
    assert len(results) == 4 * 2 * 4  # students x arms x families
    assert results.accuracy.between(0, 1).all()
    assert (results.convention == "paper").all()
    states = task_states(expand(load_study_file("quick")), out)
    assert {s.status for s in states.values()} == {"done"}


def test_the_base_stage_is_shared_by_the_arms_and_charged_to_none(study):
    out, _ = study
    results = pd.read_csv(out / "results.csv")
    for s in ("s1", "s4"):
        base = json.loads((out / "bases" / s / "ledger.json").read_text())
        assert base["stage"] == "base" and base["train_flops"] > 0 and (out / "bases" / s / "model.safetensors").exists()
        for arm in ("ift", "reasoning"):
            run = out / "runs" / f"{s}-{arm}"
            assert json.loads((run / "train_config.json").read_text())["spec"]["pretrained"] == str(out / "bases" / s)
            ledger = json.loads((run / "ledger.json").read_text())
            rows = results[(results.student == s) & (results.arm == arm)]
            assert len(rows) == 4 and (rows.train_flops == ledger["train_flops"]).all()


def test_a_finished_study_is_published_from_its_own_files(study, tmp_path):
    """``scripts/publish_study.py``: results and report copied as they are; the README's accuracy cells are the
    results' own figures with their Wilson intervals, one base row per ledger, the probes given, every answer."""
    import runpy
    from pathlib import Path

    out, _ = study
    script = Path(__file__).resolve().parents[2] / "scripts" / "publish_study.py"
    probes = tmp_path / "probes.md"
    probes.write_text("| student | recall |\n|---|---|\n| s1 | 42% |\n")
    dest = tmp_path / "pub"
    assert runpy.run_path(str(script))["main"]([str(out), str(dest), "--command", "sor study run quick",
                                                "--wall-seconds", "3725", "--probes", str(probes)]) == 0
    assert (dest / "results.csv").read_bytes() == (out / "results.csv").read_bytes()
    assert (dest / "report.html").read_bytes() == (out / "report" / "report.html").read_bytes()
    readme = (dest / "README.md").read_text()
    assert "- command: `sor study run quick`" in readme and "- wall time: 1 h 2 min 5 s" in readme
    results = pd.read_csv(out / "results.csv")
    row = results[(results.student == "s1") & (results.arm == "ift") & (results.family == "Math-OE")].iloc[0]
    cells = [c.strip() for c in ("| s1 (" + readme.split("| s1 (")[1].split("\n")[0]).split("|")[1:-1]]
    assert cells[1] == "ift" and cells[3 + FAMILIES.index("Math-OE")].startswith(f"{100 * row.accuracy:.0f} [")
    bases = readme.split("## Base stage")[1].split("##")[0]
    for s in ("s1", "s4"):
        ledger = json.loads((out / "bases" / s / "ledger.json").read_text())
        assert f"| {s} | {ledger['peak_lr']:g} | {ledger['steps']:,} |" in bases
    assert "## Design probes" in readme and "| s1 | 42% |" in readme
    verdicts = json.loads((dest / "verdicts.json").read_text())
    assert verdicts and all(f"- {v['answer']}" in readme for v in verdicts)


def test_the_plan_prices_a_base_from_its_corpus_exactly_as_it_trains(study, tmp_path):
    import shutil

    from scale_or_reason.study import plan_study

    out, _ = study
    cfg = load_study_file("quick")
    fresh = tmp_path / "fresh"  # the same study before its bases ran: only the tokenizer is there
    shutil.copytree(out / "tokenizer", fresh / "tokenizer")
    shutil.copytree(out / "tasks", fresh / "tasks", ignore=lambda d, names: [n for n in names if not n.startswith("tokenizer")])
    plan = plan_study(cfg, fresh).set_index("task")
    for s in ("s1", "s4"):
        measured = json.loads((out / "bases" / s / "ledger.json").read_text())["train_flops"]
        assert plan.loc[f"base/{s}", "basis"] == "corpus"
        assert plan.loc[f"base/{s}", "flops"] == pytest.approx(measured)


def test_a_learning_rate_grid_selects_on_dev_and_later_seeds_train_at_the_choice(tmp_path):
    """End to end on one tiny student: grid runs evaluated on a dev benchmark, the selection, the reported
    seed-0 run is the chosen grid run (its ledger in the results), seed 1 trains at the chosen scale, and the
    bootstrap resamples the two seeds."""
    from scale_or_reason.analysis import bootstrap, load_study
    from scale_or_reason.study.config import BenchmarkEntry
    from scale_or_reason.train import peak_learning_rate

    cfg = load_study_file("quick")
    tests = [b for b in cfg.benchmarks if b.name in ("synthetic-math-oe", "synthetic-general-mc")]
    cfg = cfg.with_changes(
        study=dataclasses.replace(cfg.study, lr_grid=[0.5, 1.0], seeds=2),
        students=[cfg.students[0]],
        benchmarks=[*tests, BenchmarkEntry("synthetic-math-oe-dev", {"n": 8}, role="dev")])
    out = tmp_path / "grid"
    summary = run_study(cfg, out)
    assert summary["failed"] == {}
    for arm in ("ift", "reasoning"):
        sel = json.loads((out / "select" / f"s1-{arm}.json").read_text())
        assert sel["run"] in (f"s1-{arm}.lr0.5", f"s1-{arm}.lr1") and set(sel["dev_accuracy"]) == {"0.5", "1"}
        chosen = json.loads((out / "runs" / sel["run"] / "ledger.json").read_text())
        later = json.loads((out / "runs" / f"s1-{arm}.seed1" / "ledger.json").read_text())
        lr = peak_learning_rate(cfg.students[0].spec(), arm, cfg.train.learning_rate)
        assert chosen["peak_lr"] == pytest.approx(sel["lr_scale"] * lr) == later["peak_lr"]
        assert not (out / "runs" / f"s1-{arm}").exists()  # seed 0 is the chosen grid run, not a fourth run
        results = pd.read_csv(out / "results.csv")
        rows = results[results.arm == arm]
        assert sorted(rows.seed.unique()) == [0, 1] and set(rows.benchmark) == {t.name for t in tests}
        assert (rows[rows.seed == 0].train_flops == chosen["train_flops"]).all()
    data = load_study(out)
    assert not (data.answers.benchmark == "synthetic-math-oe-dev").any()  # dev never reaches the results
    boot = bootstrap(data.results, data.answers, n_boot=50)
    assert set(boot.source) == {"answers+seeds"}
    assert ">Learning-rate selection</h3>" in (out / "report" / "report.html").read_text()


def test_pairs_are_the_generation_runners_stores(study):
    out, _ = study
    from scale_or_reason.teacher import read_pairs

    for fam in FAMILIES:
        pairs = read_pairs(out / "pairs" / fam)
        assert len(pairs) == 48 and {p.family for p in pairs} == {fam}
        assert (out / "pairs" / fam / "_state" / "manifest.json").exists()


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
    assert set(ans.benchmark) == {f"synthetic-{f.lower()}" for f in FAMILIES}


def test_plan_flops_equal_the_ledgers(study, tmp_path):
    out, _ = study
    cfg = load_study_file("quick")
    plan = plan_study(cfg, out).set_index("task")
    for run in (out / "runs").iterdir():
        ledger = json.loads((run / "ledger.json").read_text())
        row = plan.loc[f"train/{run.name}"]
        assert row.basis == "measured" and row.flops == pytest.approx(ledger["train_flops"], rel=1e-12)
        answers = pd.read_parquet(out / "answers" / f"{run.name}.parquet")
        evals = plan[plan.index.str.startswith(f"evaluate/{run.name}/")]
        assert evals.flops.sum() == pytest.approx(answers.inference_flops.sum(), rel=1e-9)
    # Before training, from the pairs alone (tokenizer, pairs and benchmarks copied, no run): the same numbers,
    # because the template overhead is measured by rendering pairs as training does.
    fresh = tmp_path / "fresh"
    for part in ("tokenizer", "pairs", "bench"):
        shutil.copytree(out / part, fresh / part)
    (fresh / "tasks").mkdir()
    for f in (out / "tasks").glob("*.json"):
        if f.name.startswith(("tokenizer", "generate", "bench")):
            shutil.copy(f, fresh / "tasks" / f.name)
    before = plan_study(cfg, fresh).set_index("task")
    trains = before[before.stage == "train"]
    assert set(trains.basis) == {"pairs"} and set(trains.status) == {"pending"}
    for task, row in trains.iterrows():
        assert row.flops == pytest.approx(plan.loc[task].flops, rel=1e-9), task
    assert (before[before.stage == "evaluate"].basis == "assumed").all()
    assert (before.gpu_hours >= 0).all()


def test_rerun_does_nothing(study):
    out, _ = study
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/model.safetensors")}
    tasks_before = _stamps(out)
    again = run_study(load_study_file("quick"), out)
    assert again["trained"] == [] and again["failed"] == {}
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert _stamps(out) == tasks_before


def test_changing_one_benchmark_reruns_only_what_depends_on_it(study):
    out, _ = study
    cfg = load_study_file("quick")
    bench = cfg.benchmarks[3]
    changed = cfg.with_changes(benchmarks=[*cfg.benchmarks[:3], dataclasses.replace(
        bench, options={**bench.options, "n": 8})])
    states = task_states(expand(changed), out)
    pending = sorted(i for i, s in states.items() if s.status != "done")
    assert pending == sorted(["bench/synthetic-math-oe", "analysis",
                              *[f"evaluate/{s}-{a}/synthetic-math-oe" for s in ("s1", "s2", "s3", "s4")
                                for a in ("ift", "reasoning")]])
    assert all(states[i].reason == "inputs changed" for i in pending)
    # one student's learning rate: its runs, their evaluations and the analysis
    s1 = dataclasses.replace(cfg.students[0], learning_rate={"ift": 1e-3, "reasoning": 1e-3})
    states = task_states(expand(cfg.with_changes(students=[s1, *cfg.students[1:]])), out)
    pending = {i for i, s in states.items() if s.status != "done"}
    assert pending == {"analysis", "train/s1-ift", "train/s1-reasoning",
                       *{f"evaluate/s1-{a}/synthetic-{f.lower()}" for a in ("ift", "reasoning") for f in FAMILIES}}


def test_a_failed_task_keeps_its_siblings_and_reruns_alone(study, tmp_path, monkeypatch):
    out0, _ = study
    out = tmp_path / "copy"
    shutil.copytree(out0, out)
    cfg = load_study_file("quick")
    cfg = cfg.with_changes(eval=dataclasses.replace(cfg.eval, max_new_tokens=24))  # every evaluation is stale
    real = stages_mod.STAGE_FUNCTIONS["evaluate"]

    def flaky(cfg_, task, out_):
        if task.id == "evaluate/s2-ift/synthetic-math-mc":
            raise OSError("disk quota exceeded\nsecond line")
        return real(cfg_, task, out_)

    monkeypatch.setitem(stages_mod.STAGE_FUNCTIONS, "evaluate", flaky)
    with pytest.raises(RuntimeError, match="evaluate/s2-ift/synthetic-math-mc: OSError: disk quota exceeded"):
        run_study(cfg, out)
    states = task_states(expand(cfg), out)
    assert states["evaluate/s2-ift/synthetic-math-mc"].status == "failed"
    assert states["evaluate/s2-ift/synthetic-math-mc"].reason == "OSError: disk quota exceeded"
    assert states["analysis"].status == "blocked"
    others = [i for i, s in states.items() if i.startswith("evaluate/") and i != "evaluate/s2-ift/synthetic-math-mc"]
    assert len(others) == 31 and all(states[i].status == "done" for i in others)
    assert "Traceback" in (out / "logs" / "evaluate~s2-ift~synthetic-math-mc.log").read_text()
    table = study_status(cfg, out).set_index("task")
    assert table.loc["evaluate/s2-ift/synthetic-math-mc", "reason"] == "OSError: disk quota exceeded"
    assert table.loc["analysis", "reason"] == "evaluate/s2-ift/synthetic-math-mc failed"

    monkeypatch.setitem(stages_mod.STAGE_FUNCTIONS, "evaluate", real)
    stamps = _stamps(out)
    again = run_study(cfg, out)
    changed = {k for k, v in _stamps(out).items() if stamps.get(k) != v}
    assert changed == {"evaluate~s2-ift~synthetic-math-mc.json", "analysis.json"}
    assert again["failed"] == {} and pd.read_csv(out / "results.csv").shape[0] == 32


def test_cli_demo_rerun_prints_report_path_and_flops_json(study):
    out, _ = study
    runner = CliRunner()
    res = runner.invoke(app, ["demo", "--profile", "quick", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip().endswith(str(out / "report" / "report.html"))
    # the results at a glance on stderr: one row per student x arm, each family's pooled accuracy [interval]
    results = pd.read_csv(out / "results.csv")
    s1 = results[(results.student == "s1") & (results.arm == "ift") & (results.family == "Math-OE")].iloc[0]
    line = next(x for x in res.stderr.splitlines() if "s1" in x and "ift" in x)
    cells = [c.strip() for c in line.split("│")[1:-1]]
    assert cells[:2] == ["s1", "ift"] and cells[2 + FAMILIES.index("Math-OE")].startswith(f"{100 * s1.accuracy:.0f} [")
    assert "baseline: General-MC 25" in res.stderr
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
    res = runner.invoke(app, ["study", "plan", "quick", "--out", str(out)])
    assert res.exit_code == 0 and "evaluate" in res.output and "measured" in res.output


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


def test_the_same_study_and_seed_give_identical_pairs_grades_and_results(study, tmp_path):
    """Determinism on CPU: the quick profile run again in another directory makes the same pairs, the same
    graded answers and the same results table (wall-clock columns aside), and the same trained weights."""
    from safetensors.torch import load_file

    from scale_or_reason.teacher import read_pairs

    first, _ = study
    again = tmp_path / "again"
    assert run_study(load_study_file("quick"), again)["failed"] == {}

    def pairs(d):
        return sorted((p.prompt_id, p.prompt, p.ift_answer, p.reasoning_trace, p.reasoning_answer, p.ift_tokens,
                       p.trace_tokens, p.truncated) for src in sorted((d / "pairs").iterdir()) if src.is_dir()
                      for p in read_pairs(src))

    assert pairs(first) == pairs(again) and len(pairs(first)) == 192
    timing = re.compile(r"latency|wall|time|seconds")
    for name in sorted(p.name for p in (first / "answers").glob("*.parquet")):
        a, b = (pd.read_parquet(d / "answers" / name) for d in (first, again))
        keep = [c for c in a.columns if not timing.search(c)]
        pd.testing.assert_frame_equal(a[keep], b[keep], check_exact=True)
    a, b = (pd.read_csv(d / "results.csv") for d in (first, again))
    keep = [c for c in a.columns if not timing.search(c)]
    pd.testing.assert_frame_equal(a[keep], b[keep], check_exact=True)
    for run in sorted(p.name for p in (first / "runs").iterdir()):
        wa, wb = (load_file(d / "runs" / run / "model.safetensors") for d in (first, again))
        assert wa.keys() == wb.keys() and all(wa[k].equal(wb[k]) for k in wa), run
