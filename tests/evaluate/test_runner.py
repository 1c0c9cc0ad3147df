"""``evaluate_model``: every shipped spec end to end on its fixture, resume after a kill, a rerun that
generates nothing, the truncation rule per arm, sampled answers, and the hf back end's batching."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from scale_or_reason.evaluate import EvalConfig, GenerationBackendConfig, evaluate_model, list_specs, load_spec
from scale_or_reason.evaluate.prepare import prepare_benchmark
from scale_or_reason.records import ANSWER_COLUMNS
from scale_or_reason.teacher.backends import Backend

FIXTURES = Path(__file__).parents[1] / "fixtures" / "bench" / "prepared"


class Counting(Backend):
    """Wraps a back end: counts the jobs it runs and can stop (like a kill) after ``stop_after`` answers."""

    def __init__(self, inner, stop_after=None):
        self.inner, self.stop_after, self.jobs = inner, stop_after, 0
        self.profile, self.tokenizer, self.arch = inner.profile, inner.tokenizer, inner.arch

    @property
    def sampling(self):
        return self.inner.sampling

    @sampling.setter
    def sampling(self, value):
        self.inner.sampling = value

    def stream(self, jobs):
        for r in self.inner.stream(jobs):
            if self.stop_after is not None and self.jobs >= self.stop_after:
                raise KeyboardInterrupt("killed")
            self.jobs += 1
            yield r


def _hf(student_dir, cfg):
    from scale_or_reason.evaluate.runner import make_backend

    return make_backend(cfg, GenerationBackendConfig(model=str(student_dir)), cfg.max_new_tokens)


def test_every_shipped_spec_evaluates_end_to_end_and_a_rerun_generates_nothing(student_dir, tmp_path):
    specs = [load_spec(n) for n in list_specs()]
    assert len(specs) == 26
    cfg = EvalConfig(max_new_tokens=5, batch_size=16)
    out = tmp_path / "eval"
    summary = evaluate_model(str(student_dir), specs, prepared=FIXTURES, out=out, thinking=True, cfg=cfg,
                             progress=False)
    assert list(summary.benchmark) == [s.name for s in specs]
    for spec in specs:
        ans = pd.read_parquet(out / "answers" / f"{spec.name}.parquet")
        n_items = sum(1 for _ in open(FIXTURES / f"{spec.name}.jsonl"))
        assert list(ans.columns) == list(ANSWER_COLUMNS) and len(ans) == n_items > 0, spec.name
        assert (ans.family == spec.family).all() and ans.finish_reason.isin(["stop", "length"]).all()
        assert ((ans.generated_tokens >= 1) & (ans.generated_tokens <= 5)).all()
        assert (ans.inference_flops > 0).all() and (ans.prompt_tokens > 0).all()
        assert (ans.finish_reason == "length").sum() == (ans.generated_tokens == 5).sum()
    row = summary.set_index("benchmark").loc["gsm8k"]
    assert 0 <= row.ci_low <= row.accuracy <= row.ci_high <= 1
    assert summary.loc[summary.benchmark == "c-code-summarization", "accuracy"].isna().all()  # jury only
    before = {p: p.read_bytes() for p in (out / "generations").glob("*.jsonl")}
    counting = Counting(_hf(student_dir, cfg))
    again = evaluate_model(str(student_dir), specs, prepared=FIXTURES, out=out, thinking=True, cfg=cfg,
                           progress=False, backend=counting)
    assert counting.jobs == 0
    assert {p: p.read_bytes() for p in (out / "generations").glob("*.jsonl")} == before
    pd.testing.assert_frame_equal(again, summary)


def test_generations_cached_for_a_model_directory_are_not_reused_after_it_is_retrained(student_dir, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    model = tmp_path / "model"
    shutil.copytree(student_dir, model)
    specs = [load_spec("synthetic-math-mc")]
    cfg = EvalConfig(max_new_tokens=3, batch_size=16)
    evaluate_model(str(model), specs, prepared=FIXTURES, out=tmp_path / "e", thinking=False, cfg=cfg, progress=False)
    weights = load_file(model / "model.safetensors")
    save_file({k: v + 0.5 * torch.randn_like(v) for k, v in weights.items()}, model / "model.safetensors",
              metadata={"format": "pt"})  # the same directory, retrained
    counting = Counting(_hf(model, cfg))
    evaluate_model(str(model), specs, prepared=FIXTURES, out=tmp_path / "e", thinking=False, cfg=cfg,
                   progress=False, backend=counting)
    n_items = sum(1 for _ in open(FIXTURES / "synthetic-math-mc.jsonl"))
    assert counting.jobs == n_items  # generated again, not read from the first model's cache
    assert len(list((tmp_path / "e" / "generations").glob("synthetic-math-mc-*.jsonl"))) == 2


def test_a_killed_run_resumes_to_the_answers_of_an_uninterrupted_one(student_dir, tmp_path):
    spec = load_spec("synthetic-math-oe")
    prepare_benchmark(spec, tmp_path / "bench")
    cfg = EvalConfig(max_new_tokens=6, batch_size=8)
    full = evaluate_model(str(student_dir), [spec], prepared=tmp_path / "bench", out=tmp_path / "a",
                          thinking=False, cfg=cfg, progress=False)
    killed = Counting(_hf(student_dir, cfg), stop_after=37)
    with pytest.raises(KeyboardInterrupt):
        evaluate_model(str(student_dir), [spec], prepared=tmp_path / "bench", out=tmp_path / "b",
                       thinking=False, cfg=cfg, progress=False, backend=killed)
    (gen,) = (tmp_path / "b" / "generations").glob("*.jsonl")
    assert len(gen.read_text().splitlines()) == 37
    with open(gen, "a") as f:
        f.write('{"sample_id": "half a li')           # the kill cut a line in the middle
    resumed = Counting(_hf(student_dir, cfg))
    again = evaluate_model(str(student_dir), [spec], prepared=tmp_path / "bench", out=tmp_path / "b",
                           thinking=False, cfg=cfg, progress=False, backend=resumed)
    assert resumed.jobs == 100 - 37
    third = Counting(_hf(student_dir, cfg))          # the cut line did not swallow the next one
    evaluate_model(str(student_dir), [spec], prepared=tmp_path / "bench", out=tmp_path / "b",
                   thinking=False, cfg=cfg, progress=False, backend=third)
    assert third.jobs == 0
    a = pd.read_parquet(tmp_path / "a" / "answers" / "synthetic-math-oe.parquet")
    b = pd.read_parquet(tmp_path / "b" / "answers" / "synthetic-math-oe.parquet")
    pd.testing.assert_frame_equal(a.drop(columns=[]), b)
    pd.testing.assert_frame_equal(full, again)


def test_truncation_depends_on_the_arm(tmp_path, scripted):
    spec = load_spec("synthetic-math-oe")
    prepare_benchmark(spec, tmp_path / "bench")
    from scale_or_reason.evaluate import read_prepared

    items = read_prepared(tmp_path / "bench", spec)
    a, b = items[0], items[1]
    answers = {
        # reasoning arm: a trace cut by the cap holds the right box but is never parsed
        (True, a.id): (f"<think>\nso it is \\boxed{{{a.reference}}}", "length"),
        (True, b.id): (f"<think>\nfine\n</think>\n\n\\boxed{{{b.reference}}}", "stop"),
        # IFT arm: no think block at all, graded on the whole text
        (False, a.id): (f"It is \\boxed{{{a.reference}}}.", "stop"),
        (False, b.id): ("It is \\boxed{-1}.", "stop"),
    }
    for it in items[2:]:
        answers[(True, it.id)] = answers[(False, it.id)] = ("no idea", "stop")
    rea = evaluate_model("scripted", [spec], prepared=tmp_path / "bench", out=tmp_path / "r", thinking=True,
                         backend=scripted(answers), progress=False)
    ift = evaluate_model("scripted", [spec], prepared=tmp_path / "bench", out=tmp_path / "i", thinking=False,
                         backend=scripted(answers), progress=False)
    r = pd.read_parquet(tmp_path / "r" / "answers" / f"{spec.name}.parquet").set_index("prompt_id")
    i = pd.read_parquet(tmp_path / "i" / "answers" / f"{spec.name}.parquet").set_index("prompt_id")
    assert r.loc[a.id, "truncated"] and not r.loc[a.id, "correct"] and pd.isna(r.loc[a.id, "extracted"])
    assert r.loc[b.id, "correct"] and not r.loc[b.id, "truncated"]
    assert i.loc[a.id, "correct"] and not i.loc[a.id, "truncated"] and not i.loc[b.id, "correct"]
    assert rea.truncated_fraction.iloc[0] == pytest.approx(1 / len(items))
    assert rea.cap_fraction.iloc[0] == pytest.approx(1 / len(items)) and ift.truncated_fraction.iloc[0] == 0
    assert rea.accuracy.iloc[0] == ift.accuracy.iloc[0] == pytest.approx(1 / len(items))


def test_samples_with_a_temperature_average_over_seeds(student_dir, tmp_path):
    spec = load_spec("synthetic-math-mc")
    shutil.copy(FIXTURES / f"{spec.name}.jsonl", tmp_path)
    shutil.copy(FIXTURES / f"{spec.name}.manifest.json", tmp_path)
    cfg = EvalConfig(max_new_tokens=4, temperature=1.0, samples=3, seed=7)
    summary = evaluate_model(str(student_dir), [spec], prepared=tmp_path, out=tmp_path / "e", thinking=True,
                             cfg=cfg, progress=False)
    ans = pd.read_parquet(tmp_path / "e" / "answers" / f"{spec.name}.parquet")
    n = ans.prompt_id.nunique()
    assert len(ans) == 3 * n and sorted(ans["sample"].unique()) == [0, 1, 2]
    assert ans.seed.notna().all() and ans.groupby("prompt_id").seed.nunique().eq(3).all()
    per_item = ans.assign(c=ans.correct.astype(float)).groupby("prompt_id").c.mean()
    assert summary.samples.iloc[0] == 3 and summary.accuracy.iloc[0] == pytest.approx(per_item.mean())
    assert len(set(ans.response)) > 1              # sampled, not greedy


def test_eval_record_names_the_key_variable_never_the_key(student_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-written-0123")
    spec = load_spec("synthetic-general-oe")
    shutil.copy(FIXTURES / f"{spec.name}.jsonl", tmp_path)
    shutil.copy(FIXTURES / f"{spec.name}.manifest.json", tmp_path)
    evaluate_model(str(student_dir), [spec], prepared=tmp_path, out=tmp_path / "e", thinking=False,
                   cfg=EvalConfig(max_new_tokens=3), progress=False)
    for p in (tmp_path / "e").rglob("*"):
        if p.is_file() and p.suffix in (".json", ".jsonl", ".csv"):
            assert "sk-never-written" not in p.read_text()
    rec = json.loads((tmp_path / "e" / "eval.json").read_text())
    assert rec["config"]["api_key_env"] == "OPENAI_API_KEY"


def test_a_missing_prepared_benchmark_says_how_to_prepare_it(student_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="sor bench prepare gsm8k"):
        evaluate_model(str(student_dir), [load_spec("gsm8k")], prepared=tmp_path, out=tmp_path / "e",
                       thinking=False, cfg=EvalConfig(max_new_tokens=3), progress=False)


def test_cli_prepare_then_evaluate(student_dir, tmp_path):
    from typer.testing import CliRunner

    from scale_or_reason.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["bench", "prepare", "synthetic-math-oe", "synthetic-general-mc", "--out",
                              str(tmp_path / "bench"), "--limit", "8"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["evaluate", "--model", str(student_dir), "--no-thinking", "-b", "synthetic-math-oe",
                              "-b", "synthetic-general-mc", "--prepared", str(tmp_path / "bench"),
                              "--out", str(tmp_path / "e"), "--max-new-tokens", "4", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["benchmark"] for r in rows] == ["synthetic-math-oe", "synthetic-general-mc"]
    assert all(r["n"] == 8 and r["generated_tokens_mean"] <= 4 for r in rows)
    assert rows[1]["baseline"] == pytest.approx(0.25)
    res = runner.invoke(app, ["bench", "prepare", "no-such-bench", "--out", str(tmp_path / "bench")])
    assert res.exit_code == 2 and "unknown benchmark 'no-such-bench'" in res.output
    res = runner.invoke(app, ["evaluate", "--model", str(student_dir), "--thinking", "-b", "gsm8k", "--prepared",
                              str(tmp_path / "bench"), "--out", str(tmp_path / "e2")])
    assert res.exit_code == 2 and "sor bench prepare gsm8k" in res.output


def test_vllm_backend_makes_one_chat_call_per_benchmark(tmp_path, fake_vllm):
    """vLLM needs a GPU and is never installed for the tests: a stub ``vllm`` module records what the
    evaluation asks for -- every prompt of a benchmark in one ``chat`` call, the mode's template kwargs,
    greedy sampling capped by the spec -- and answers."""
    calls = fake_vllm(lambda kw: "<think>\nok\n</think>\n\nThe answer is \\boxed{A}.")
    specs = [load_spec("synthetic-math-mc"), load_spec("synthetic-general-mc")]
    summary = evaluate_model("Qwen/Qwen2.5-7B-sor", specs, prepared=FIXTURES, out=tmp_path / "e", thinking=True,
                             cfg=EvalConfig(backend="vllm", tensor_parallel_size=2), progress=False)
    chats = [c for c in calls if c[0] == "chat"]
    n_items = [sum(1 for _ in open(FIXTURES / f"{s.name}.jsonl")) for s in specs]
    assert [c[1] for c in chats] == n_items                         # one call per benchmark, every prompt
    assert calls[0] == ("init", {"model": "Qwen/Qwen2.5-7B-sor", "tensor_parallel_size": 2, "dtype": "auto"})
    for _, _, kwargs, params in chats:
        assert kwargs == {"enable_thinking": True}
        assert all(p["temperature"] == 0 and p["max_tokens"] == 256 and p["seed"] is None for p in params)
    ans = pd.read_parquet(tmp_path / "e" / "answers" / "synthetic-math-mc.parquet")
    assert (ans.extracted == "A").all() and (ans.inference_flops > 0).all() and (ans.finish_reason == "stop").all()
    assert list(summary.benchmark) == ["synthetic-math-mc", "synthetic-general-mc"]
