"""Training: the WSD schedule, the ledger against the tokenized samples, checkpoints, reruns."""

import dataclasses
import json

import pytest
import torch

from scale_or_reason.data import Arm, build_arm, render
from scale_or_reason.flops import Architecture, train_flops
from scale_or_reason.train import (
    StudentSpec,
    TrainConfig,
    grouped_order,
    run_key,
    schedule_lengths,
    train_student,
    wsd_multiplier,
)

from tests.conftest import TINY_QWEN3


def test_wsd_shape_at_boundaries():
    total, warm, decay = 100, 10, 20
    m = [wsd_multiplier(s, total, warm, decay, 0.1) for s in range(total)]
    assert m[0] == pytest.approx(0.1) and m[9] == pytest.approx(1.0)  # linear warmup reaches the peak
    assert all(x == 1.0 for x in m[10:80])  # plateau
    assert m[80] < 1.0 and m[-1] == pytest.approx(0.1)  # linear decay to 10% of peak
    assert all(a >= b for a, b in zip(m[80:], m[81:]))


def test_schedule_uses_paper_lengths_for_long_runs_and_scales_short_ones():
    assert schedule_lengths(10_000, TrainConfig()) == (150, 300)
    # short runs keep the paper's proportions (150 / 300 steps are ~1% / ~2% of its runs): 2% / 4%
    assert schedule_lengths(500, TrainConfig()) == (10, 20)
    assert schedule_lengths(50, TrainConfig()) == (1, 2)


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
    trained = grouped_order(lengths, 32)  # micro-batches of 16: each global batch is trained longest first
    assert [o["prompt_id"] for o in order] == [samples[i][0].prompt_id for i in trained]
    assert [o["tokens"] for o in order] == [lengths[i] for i in trained]
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


def test_a_redo_that_dies_leaves_no_finished_marker(tiny_setup, tmp_path, monkeypatch):
    """A run redone under new settings is not finished until the redo finishes: a redo that dies midway must not
    leave the previous run's DONE marker and ledger (``finished_runs`` would count it)."""
    import scale_or_reason.train as train_mod

    tdir, pairs = tiny_setup
    samples = build_arm(pairs, Arm.parse("ift"), 32)
    spec = StudentSpec(name="t", config=TINY_QWEN3)
    cfg = TrainConfig(learning_rate=3e-3, batch_size=32, micro_batch_size=32, tensorboard=False)
    run = tmp_path / "run"
    train_student(spec, "ift", samples, tdir, run, cfg, tokenizer_id="x")
    assert (run / "DONE.json").exists() and (run / "ledger.json").exists()

    def dies(*a, **k):
        raise RuntimeError("killed")

    monkeypatch.setattr(train_mod, "_fit", dies)
    with pytest.raises(RuntimeError, match="killed"):
        train_student(spec, "ift", samples, tdir, run, dataclasses.replace(cfg, learning_rate=1e-3),
                      tokenizer_id="x")
    assert not (run / "DONE.json").exists() and not (run / "ledger.json").exists()


def _ledger_rows(run):
    return [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]


def test_gradient_accumulation_4x8_equals_1x32(tiny_setup, tmp_path):
    tdir, pairs = tiny_setup
    samples = build_arm(pairs, Arm.parse("ift"), 64)
    spec = StudentSpec(name="t", config=TINY_QWEN3)
    losses = {}
    for micro in (8, 32):
        cfg = TrainConfig(learning_rate=3e-3, batch_size=32, micro_batch_size=micro, tensorboard=False)
        train_student(spec, "ift", samples, tdir, tmp_path / f"m{micro}", cfg)
        losses[micro] = [r["loss"] for r in _ledger_rows(tmp_path / f"m{micro}")]
    assert len(losses[8]) == len(losses[32]) == 2
    assert losses[8] == pytest.approx(losses[32], rel=1e-3)


def test_ledger_tokens_equal_the_dataloaders_non_pad_tokens(tiny_setup, tmp_path):
    from scale_or_reason.train import make_trainer

    tdir, pairs = tiny_setup
    samples = build_arm(pairs, Arm.parse("sequential:0.5"), 64)
    cfg = TrainConfig(batch_size=32, micro_batch_size=16, tensorboard=False)
    trainer = make_trainer(StudentSpec(name="t", config=TINY_QWEN3), "sequential:0.5", samples, tdir,
                           tmp_path / "probe", cfg).trainer
    seen = [int(b["attention_mask"].sum()) for b in trainer.get_train_dataloader()]
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    # stderr is not a terminal under pytest (as in a study logged to a file): no progress bar, no metrics printer
    assert not [c for c in trainer.callback_handler.callbacks if isinstance(c, (ProgressCallback, PrinterCallback))]
    ledger = train_student(StudentSpec(name="t", config=TINY_QWEN3), "sequential:0.5", samples, tdir,
                           tmp_path / "run", cfg)
    rows = _ledger_rows(tmp_path / "run")
    assert ledger["tokens"] == sum(seen)
    assert [r["tokens"] for r in rows] == [seen[0] + seen[1], seen[2] + seen[3]]
    assert [r["samples"] for r in rows] == [32, 32]


def test_killed_run_resumes_to_the_same_weights_and_ledger(tiny_setup, tmp_path):
    import torch
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    tdir, pairs = tiny_setup
    samples = build_arm(pairs, Arm.parse("reasoning"), 80)
    spec = StudentSpec(name="t", config=TINY_QWEN3)
    cfg = TrainConfig(learning_rate=3e-3, batch_size=16, micro_batch_size=16, save_steps=2, tensorboard=False)

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 3:
                raise KeyboardInterrupt("killed")

    whole = train_student(spec, "reasoning", samples, tdir, tmp_path / "whole", cfg)
    with pytest.raises(KeyboardInterrupt):
        train_student(spec, "reasoning", samples, tdir, tmp_path / "cut", cfg, callbacks=[Kill()])
    assert not (tmp_path / "cut" / "DONE.json").exists()
    assert (tmp_path / "cut" / "trainer" / "checkpoint-2").exists()
    # a kill while transformers writes checkpoint-4: weights half written, no trainer_state.json yet
    torn = tmp_path / "cut" / "trainer" / "checkpoint-4"
    torn.mkdir()
    (torn / "model.safetensors").write_bytes((tmp_path / "whole" / "model.safetensors").read_bytes()[:100])
    resumed = train_student(spec, "reasoning", samples, tdir, tmp_path / "cut", cfg)
    a = load_file(tmp_path / "whole" / "model.safetensors")
    b = load_file(tmp_path / "cut" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    ra, rb = _ledger_rows(tmp_path / "whole"), _ledger_rows(tmp_path / "cut")
    assert [r["step"] for r in rb] == [1, 2, 3, 4, 5]
    assert [r["tokens"] for r in ra] == [r["tokens"] for r in rb]
    assert resumed["train_flops"] == pytest.approx(whole["train_flops"])
    assert [r["loss"] for r in ra] == pytest.approx([r["loss"] for r in rb], rel=1e-4)


def test_lora_run_counts_frozen_weights_without_weight_gradients(tiny_setup, tmp_path):
    from scale_or_reason.flops import LoRA

    tdir, pairs = tiny_setup
    samples = build_arm(pairs, Arm.parse("ift"), 32)
    spec = StudentSpec(name="t", config=TINY_QWEN3)
    full = train_student(spec, "ift", samples, tdir, tmp_path / "full", TrainConfig(tensorboard=False))
    lora = train_student(spec, "ift", samples, tdir, tmp_path / "lora", TrainConfig(lora_rank=4, tensorboard=False))
    assert (tmp_path / "lora" / "adapter" / "adapter_model.safetensors").exists()
    assert lora["train_flops"] < full["train_flops"]
    arch = Architecture.from_config(tmp_path / "lora" / "config.json")
    lengths = [json.loads(x)["tokens"] for x in (tmp_path / "lora" / "order.jsonl").read_text().splitlines()]
    assert lora["train_flops"] == pytest.approx(train_flops(arch, lengths, lora=LoRA(4, tuple(TrainConfig().lora_targets))))


def test_padding_free_is_refused_without_flash_attention(tiny_setup, tmp_path):
    tdir, pairs = tiny_setup
    samples = build_arm(pairs, Arm.parse("ift"), 32)
    with pytest.raises(ValueError, match="padding_free needs a flash-attention kernel"):
        train_student(StudentSpec(name="t", config=TINY_QWEN3), "ift", samples, tdir, tmp_path / "r",
                      TrainConfig(padding_free=True))


def test_paper_learning_rates_by_size_and_format():
    from scale_or_reason.train import paper_learning_rate, peak_learning_rate

    assert paper_learning_rate("Qwen/Qwen2.5-7B", "reasoning") == 5e-6
    assert paper_learning_rate("Qwen2.5-1.5B", "ift") == 7e-6
    assert paper_learning_rate("/models/Qwen2.5-14B-base", "ift") == 1e-6  # not Qwen2.5-1.5B, not -1
    assert paper_learning_rate("google/gemma-3-4b-pt", "reasoning") == 5e-6
    assert paper_learning_rate("my-model", "ift") is None
    # reasoning tolerates a higher LR than IFT at every size (paper, Table 2)
    for size in ("0.5B", "1.5B", "3B", "7B", "14B"):
        assert paper_learning_rate(f"Qwen2.5-{size}", "reasoning") > paper_learning_rate(f"Qwen2.5-{size}", "ift")
    spec = StudentSpec(name="Qwen2.5-3B", pretrained="/ckpt/Qwen2.5-3B")
    # a curriculum interpolates geometrically by its reasoning share: rho = 1 is the reasoning arm's LR
    assert peak_learning_rate(spec, "sequential:0.5", 1e-3) == pytest.approx((5e-6 * 7e-6) ** 0.5)
    assert peak_learning_rate(spec, "sequential:1", 1e-3) == peak_learning_rate(spec, "reasoning", 1e-3) == 7e-6
    assert peak_learning_rate(spec, "mixed:0", 1e-3) == peak_learning_rate(spec, "ift", 1e-3) == 5e-6
    assert 5e-6 < peak_learning_rate(spec, "mixed:0.25", 1e-3) < peak_learning_rate(spec, "mixed:0.75", 1e-3) < 7e-6
    assert peak_learning_rate(StudentSpec(name="s1", learning_rate={"ift": 2e-3}), "ift", 1e-3) == 2e-3
    assert peak_learning_rate(StudentSpec(name="s1"), "reasoning", 1e-3) == 1e-3


def test_a_streamed_arm_trains_exactly_like_the_list_of_its_pairs(tiny_setup, tmp_path):
    """A study's arm is streamed from the stores (rendered to Parquet, read memory-mapped in the arm's
    order): same order, same lengths, same ledger, same weights as the in-memory list; a missing pair is
    refused with its id."""
    import torch
    from safetensors.torch import load_file

    from scale_or_reason.train import StreamedArm

    tdir, pairs = tiny_setup
    samples = build_arm(pairs, Arm.parse("mixed:0.5"), 64, seed=3)
    spec = StudentSpec(name="t", config=TINY_QWEN3)
    cfg = TrainConfig(learning_rate=3e-3, batch_size=32, micro_batch_size=16, tensorboard=False)
    listed = train_student(spec, "mixed:0.5", samples, tdir, tmp_path / "list", cfg, tokenizer_id="x")
    shuffled = list(reversed(pairs))  # the stores' order is not the arm's
    arm = StreamedArm(order=[(p.prompt_id, f) for p, f in samples], stream=lambda: iter(shuffled))
    streamed = train_student(spec, "mixed:0.5", arm, tdir, tmp_path / "stream", cfg, tokenizer_id="x")
    assert (tmp_path / "stream" / "order.jsonl").read_text() == (tmp_path / "list" / "order.jsonl").read_text()
    for k in ("tokens", "train_flops", "final_loss", "samples", "steps"):
        assert streamed[k] == listed[k], k
    a, b = load_file(tmp_path / "list" / "model.safetensors"), load_file(tmp_path / "stream" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not (tmp_path / "stream" / "arm-data").exists()  # the rendered copy is removed once trained

    gone = samples[5][0].prompt_id
    short = StreamedArm(order=arm.order, stream=lambda: (p for p in shuffled if p.prompt_id != gone))
    with pytest.raises(ValueError, match=rf"1 pair\(s\) of the arm are not in its stores \(first: '{gone}'\)"):
        train_student(spec, "mixed:0.5", short, tdir, tmp_path / "short", cfg, tokenizer_id="x")


def test_base_stage_pretrains_every_token_and_distillation_starts_from_it(tiny_setup, tmp_path):
    """The base stage: a plain language-modelling run on documents (every token in the loss, the ledger
    counting them all), saved as a checkpoint that a distillation run then loads instead of random weights;
    a rerun is a no-op."""
    import dataclasses

    import torch
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    from scale_or_reason.synthetic.corpus import CorpusConfig, base_corpus
    from scale_or_reason.train import pretrain_base

    tdir, pairs = tiny_setup
    tok = AutoTokenizer.from_pretrained(tdir)
    docs = base_corpus(CorpusConfig(fact_repeats=1, arithmetic_repeats=0, option_drills=20, chat_drills=8,
                                    sentences_per_doc=4), tok)[:64]
    assert any("<|im_start|>assistant" in d for d in docs) and any("colour" in d for d in docs)
    spec = StudentSpec(name="t", config=TINY_QWEN3)
    cfg = TrainConfig(learning_rate=3e-3, batch_size=32, micro_batch_size=16)
    base = tmp_path / "base"
    ledger = pretrain_base(spec, docs, tdir, base, cfg, tokenizer_id="x")
    rows = [json.loads(line) for line in (base / "train_log.jsonl").read_text().splitlines()]
    assert ledger["stage"] == "base" and ledger["samples"] == 64 and ledger["steps"] == 2
    assert ledger["tokens"] == sum(r["tokens"] for r in rows) >= sum(len(ids) for ids in tok(docs)["input_ids"])
    assert ledger["train_flops"] == pytest.approx(rows[-1]["cumulative_flops"]) and ledger["train_flops"] > 0
    assert (base / "model.safetensors").exists() and (base / "tokenizer.json").exists()
    mtime = (base / "model.safetensors").stat().st_mtime_ns
    assert pretrain_base(spec, docs, tdir, base, cfg, tokenizer_id="x") == ledger
    assert (base / "model.safetensors").stat().st_mtime_ns == mtime

    # distillation from the base: its first step starts from the base's weights, not a fresh init
    samples = build_arm(pairs, Arm.parse("ift"), 32)
    run = tmp_path / "run"
    no_lr = dataclasses.replace(cfg, learning_rate=1e-12, weight_decay=0.0)
    train_student(dataclasses.replace(spec, pretrained=str(base)), "ift", samples, tdir, run, no_lr, tokenizer_id="x")
    before, after = load_file(base / "model.safetensors"), load_file(run / "model.safetensors")
    assert before.keys() == after.keys()
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)


def test_a_finished_run_is_redone_when_the_teachers_answers_change(tiny_setup, tmp_path):
    """The run key hashes the pairs' text, not only their prompt ids: the same ids with another answer retrain."""
    import dataclasses

    tdir, pairs = tiny_setup
    spec = StudentSpec(name="t", config=TINY_QWEN3)
    cfg = TrainConfig(learning_rate=3e-3, batch_size=16, micro_batch_size=16, tensorboard=False)
    samples = build_arm(pairs, Arm.parse("ift"), 32)
    first = train_student(spec, "ift", samples, tdir, tmp_path / "run", cfg)
    mtime = (tmp_path / "run" / "model.safetensors").stat().st_mtime_ns
    assert train_student(spec, "ift", samples, tdir, tmp_path / "run", cfg) == first  # same pairs: a no-op
    assert (tmp_path / "run" / "model.safetensors").stat().st_mtime_ns == mtime
    p0 = samples[0][0]
    changed = [(dataclasses.replace(p, ift_answer=p.ift_answer + " Indeed, that is it.") if p is p0 else p, f)
               for p, f in samples]
    again = train_student(spec, "ift", changed, tdir, tmp_path / "run", cfg)
    assert (tmp_path / "run" / "model.safetensors").stat().st_mtime_ns != mtime
    assert again["tokens"] > first["tokens"]


def test_length_grouping_keeps_each_steps_samples_and_pads_less(tiny_setup, tmp_path):
    """Grouped micro-batches (longest first within each global batch): the same samples per optimiser step, so the
    same per-step tokens and the same losses (up to float summation order), with fewer padding slots."""
    assert grouped_order([1, 5, 3, 2], 2) == [1, 0, 2, 3] and grouped_order([4, 4, 9], 2) == [0, 1, 2]
    tdir, pairs = tiny_setup
    samples = build_arm(pairs, Arm.parse("mixed:0.5"), 64)
    spec = StudentSpec(name="t", config=TINY_QWEN3)
    rows = {}
    for grouped in (False, True):
        cfg = TrainConfig(learning_rate=3e-3, batch_size=32, micro_batch_size=8, tensorboard=False,
                          group_by_length=grouped)
        train_student(spec, "mixed:0.5", samples, tdir, tmp_path / str(grouped), cfg)
        rows[grouped] = _ledger_rows(tmp_path / str(grouped))
    assert [r["tokens"] for r in rows[True]] == [r["tokens"] for r in rows[False]]
    assert [r["loss"] for r in rows[True]] == pytest.approx([r["loss"] for r in rows[False]], rel=1e-4)

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tdir)
    lengths = [len(tok("".join(render(tok, p, f)))["input_ids"]) for p, f in samples]

    def slots(order):
        ls = [lengths[i] for i in order]
        return sum(max(ls[i:i + 8]) * 8 for i in range(0, len(ls), 8))

    assert slots(grouped_order(lengths, 32)) < slots(range(len(lengths)))


def test_the_ledger_rows_are_the_trainers_logs_whatever_its_logging_interval(tiny_setup, tmp_path):
    """The ledger writes a row per optimiser step from the step itself: at ``log_steps = 1`` its loss and learning
    rate are the Trainer's own logged values (micro-batch losses summed, as the Trainer does), and logging every
    3 steps leaves the rows, the weights and the run key unchanged."""
    from scale_or_reason.train import make_trainer

    tdir, pairs = tiny_setup
    samples = build_arm(pairs, Arm.parse("mixed:0.5"), 64)
    spec = StudentSpec(name="t", config=TINY_QWEN3)
    rows, weights = {}, {}
    for k in (1, 3):
        cfg = TrainConfig(learning_rate=3e-3, batch_size=8, micro_batch_size=4, tensorboard=False, log_steps=k)
        run = tmp_path / str(k)
        run.mkdir()
        prepared = make_trainer(spec, "mixed:0.5", samples, tdir, run, cfg)
        prepared.trainer.train()
        rows[k] = _ledger_rows(run)
        weights[k] = {n: p.detach().clone() for n, p in prepared.trainer.model.named_parameters()}
        logged = [h for h in prepared.trainer.state.log_history if "loss" in h]
        assert [h["step"] for h in logged][:2] == ([1, 2] if k == 1 else [3, 6])
        if k == 1:
            assert [r["step"] for r in rows[1]] == [h["step"] for h in logged] == list(range(1, 9))
            assert [r["loss"] for r in rows[1]] == pytest.approx([h["loss"] for h in logged], rel=1e-6)
            assert [r["learning_rate"] for r in rows[1]] == pytest.approx([h["learning_rate"] for h in logged])
    assert rows[3] == rows[1]
    for n, w in weights[1].items():
        assert torch.equal(w, weights[3][n]), n
    assert TrainConfig(log_steps=3).key() == TrainConfig().key()


def test_the_loss_without_trls_token_metrics_is_the_same_loss(tiny_setup, tmp_path):
    """``token_metrics = False`` (the default) takes the model's own loss instead of TRL's fused forward with its
    entropy and accuracy metrics: the same per-step losses and the same weights, with accumulation too."""
    from safetensors.torch import load_file

    tdir, pairs = tiny_setup
    samples = build_arm(pairs, Arm.parse("mixed:0.5"), 64)
    spec = StudentSpec(name="t", config=TINY_QWEN3)
    rows, weights = {}, {}
    for metrics in (True, False):
        cfg = TrainConfig(learning_rate=3e-3, batch_size=32, micro_batch_size=8, tensorboard=False,
                          token_metrics=metrics)
        train_student(spec, "mixed:0.5", samples, tdir, tmp_path / str(metrics), cfg)
        rows[metrics] = _ledger_rows(tmp_path / str(metrics))
        weights[metrics] = load_file(tmp_path / str(metrics) / "model.safetensors")
    assert [r["loss"] for r in rows[False]] == pytest.approx([r["loss"] for r in rows[True]], rel=1e-5)
    for k, w in weights[True].items():
        assert torch.allclose(w, weights[False][k], rtol=1e-4, atol=1e-6), k


def test_nothing_of_a_finished_run_stays_alive(tiny_setup, tmp_path):
    """The Trainer, its model and its optimiser sit in reference cycles: once ``train_student`` returns
    they are gone without the caller collecting (on a GPU they held 2-6 GB until a ``gc.collect()``)."""
    import gc
    import weakref

    from transformers import TrainerCallback

    tdir, pairs = tiny_setup
    seen = {}

    class Watch(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, optimizer=None, **kw):
            seen["model"] = weakref.ref(model)
            seen["optimizer"] = weakref.ref(optimizer)

    samples = build_arm(pairs, Arm.parse("ift"), 32)
    cfg = TrainConfig(learning_rate=3e-3, batch_size=16, micro_batch_size=16)
    gc.disable()  # only the toolkit's own collection may free them
    try:
        train_student(StudentSpec(name="t", config=TINY_QWEN3), "ift", samples, tdir, tmp_path / "run", cfg,
                      tokenizer_id="x", callbacks=[Watch()])
        assert seen and seen["model"]() is None and seen["optimizer"]() is None
    finally:
        gc.enable()


def test_liger_is_refused_without_cuda_and_a_later_setting_keeps_old_run_keys(tiny_setup, tmp_path):
    tdir, pairs = tiny_setup
    samples = build_arm(pairs, Arm.parse("ift"), 16)
    spec = StudentSpec(name="t", config=TINY_QWEN3)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="liger_kernel needs a CUDA device"):
            train_student(spec, "ift", samples, tdir, tmp_path / "run", TrainConfig(liger_kernel=True))
        assert not (tmp_path / "run" / "DONE.json").exists()
    base = TrainConfig()
    assert "liger_kernel" not in base.key() and "threads" not in base.key()  # runs keyed before it existed
    assert run_key(spec, "ift", samples, base, "x") != run_key(
        spec, "ift", samples, dataclasses.replace(base, liger_kernel=True), "x")
    assert run_key(spec, "ift", samples, base, "x") == run_key(
        spec, "ift", samples, dataclasses.replace(base, threads=1), "x")


def test_the_terminal_progress_bar_shows_the_loss_not_the_metrics_dict():
    import io

    from tqdm.auto import tqdm
    from transformers import TrainerState

    from scale_or_reason.train import trainer_classes

    progress = trainer_classes()[2]()
    out = io.StringIO()
    progress.training_bar = tqdm(total=10, file=out)
    state = TrainerState()
    progress.on_log(None, state, None, logs={"loss": 1.23456, "grad_norm": 2.0, "learning_rate": 1e-3})
    assert progress.training_bar.postfix == "loss 1.235"
    progress.training_bar.refresh()
    assert "loss 1.235" in out.getvalue() and "grad_norm" not in out.getvalue()


@pytest.mark.parametrize("kind", ["mixed:0.5", "streamed", "base"])
def test_the_toolkits_collator_returns_exactly_trls_batches(tiny_setup, tmp_path, kind):
    """``PaddedBatch`` (numpy padding) replaces TRL's collator for plain right-padded batches: on the same rows
    (distillation rows with prompt-masked labels, listed or streamed from stores as a study's; base-stage rows;
    rows without labels) both give the same tensors,
    and the trainer's FLOPs estimate with the parameter count read once equals transformers' own."""
    from transformers import AutoTokenizer, Trainer
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from scale_or_reason.synthetic.corpus import CorpusConfig, base_corpus
    from scale_or_reason.train import PaddedBatch, StreamedArm, make_trainer

    tdir, pairs = tiny_setup
    spec, cfg = StudentSpec(name="t", config=TINY_QWEN3), TrainConfig(batch_size=32, micro_batch_size=16)
    if kind == "base":
        docs = base_corpus(CorpusConfig(fact_repeats=1, arithmetic_repeats=0, option_drills=8, chat_drills=8,
                                        sentences_per_doc=4), AutoTokenizer.from_pretrained(tdir))[:32]
        trainer = make_trainer(spec, "ift", None, tdir, tmp_path / "run", cfg, texts=docs).trainer
    elif kind == "streamed":  # what a study trains on: the arm rendered from its stores
        samples = build_arm(pairs, Arm.parse("mixed:0.5"), 32)
        arm = StreamedArm(order=[(p.prompt_id, f) for p, f in samples], stream=lambda: iter(pairs))
        trainer = make_trainer(spec, "mixed:0.5", arm, tdir, tmp_path / "run", cfg).trainer
    else:
        trainer = make_trainer(spec, kind, build_arm(pairs, Arm.parse(kind), 32), tdir, tmp_path / "run", cfg).trainer
    assert isinstance(trainer.data_collator, PaddedBatch)
    rows = trainer.train_dataset.select_columns(
        [c for c in ("input_ids", "labels") if c in trainer.train_dataset.column_names])
    examples = [rows[i] for i in range(len(rows))]
    assert len({len(e["input_ids"]) for e in examples}) > 1, "the rows must differ in length to test padding"
    assert any(-100 in e["labels"] for e in examples) == (kind != "base")  # prompt tokens masked in distillation
    unlabelled = [{"input_ids": e["input_ids"]} for e in examples[:16]]  # labels default to the inputs
    trl = DataCollatorForLanguageModeling(pad_token_id=trainer.data_collator.pad_token_id)
    for batch in (examples[:16], examples[16:], examples[:1], unlabelled):
        ours, theirs = trainer.data_collator(batch), trl(batch)
        assert ours.keys() == theirs.keys()
        for key in theirs:
            assert ours[key].dtype == theirs[key].dtype and torch.equal(ours[key], theirs[key]), key
    batch = trainer.data_collator(examples[:16])
    assert trainer.floating_point_ops(batch) == Trainer.floating_point_ops(trainer, batch) > 0
