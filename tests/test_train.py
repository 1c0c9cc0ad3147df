"""Training: the WSD schedule, the ledger against the tokenized samples, checkpoints, reruns."""

import json

import pytest

from scale_or_reason.data import Arm, build_arm, render
from scale_or_reason.flops import Architecture, train_flops
from scale_or_reason.train import StudentSpec, TrainConfig, schedule_lengths, train_student, wsd_multiplier

from conftest import TINY_QWEN3


def test_wsd_shape_at_boundaries():
    total, warm, decay = 100, 10, 20
    m = [wsd_multiplier(s, total, warm, decay, 0.1) for s in range(total)]
    assert m[0] == pytest.approx(0.1) and m[9] == pytest.approx(1.0)  # linear warmup reaches the peak
    assert all(x == 1.0 for x in m[10:80])  # plateau
    assert m[80] < 1.0 and m[-1] == pytest.approx(0.1)  # linear decay to 10% of peak
    assert all(a >= b for a, b in zip(m[80:], m[81:]))


def test_schedule_uses_paper_lengths_for_long_runs_and_scales_short_ones():
    assert schedule_lengths(10_000, TrainConfig()) == (150, 300)
    w, d = schedule_lengths(50, TrainConfig())
    assert (w, d) == (5, 10)


def test_train_ledger_checkpoint_and_rerun(tiny_setup, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tdir, pairs = tiny_setup
    samples = build_arm(pairs, Arm.parse("reasoning"), 64)
    spec = StudentSpec(name="t", config=TINY_QWEN3)
    cfg = TrainConfig(learning_rate=3e-3, batch_size=32, micro_batch_size=16)
    run = tmp_path / "run"
    ledger = train_student(spec, "reasoning", samples, tdir, run, cfg, tokenizer_id="x")

    tok = AutoTokenizer.from_pretrained(tdir)
    lengths = [len(tok("".join(render(tok, p, f)))["input_ids"]) for p, f in samples]
    order = [json.loads(line) for line in (run / "order.jsonl").read_text().splitlines()]
    assert [o["prompt_id"] for o in order] == [p.prompt_id for p, _ in samples]
    assert [o["tokens"] for o in order] == lengths
    assert ledger["tokens"] == sum(lengths) and ledger["samples"] == 64 and ledger["steps"] == 2
    model = AutoModelForCausalLM.from_pretrained(run)
    arch = Architecture.from_config(model.config)
    assert ledger["train_flops"] == pytest.approx(train_flops(arch, lengths))
    assert ledger["parameters"] == model.num_parameters()
    assert (run / "model.safetensors").exists() and not list(run.glob("*.bin"))
    steps = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [s["samples"] for s in steps] == [32, 32]
    assert steps[-1]["cumulative_flops"] == pytest.approx(ledger["train_flops"])
    assert sum(s["tokens"] for s in steps) == sum(lengths)

    mtime = (run / "model.safetensors").stat().st_mtime_ns
    again = train_student(spec, "reasoning", samples, tdir, run, cfg, tokenizer_id="x")
    assert again == ledger and (run / "model.safetensors").stat().st_mtime_ns == mtime
