"""Fine-tune one student on one arm with TRL's ``SFTTrainer``, and write its training ledger.

The arm's samples are rendered through the chat template as (prompt, completion) pairs, so the
loss covers the assistant turn only; they are consumed in the arm's order (sequential sampler), one
epoch by default, with a global batch counted in samples. The learning rate follows the paper's
warmup-stable-decay shape. Training FLOPs come from every sample's own tokenized length.

Artefacts in the run directory: ``model.safetensors`` + ``config.json`` (the checkpoint),
``order.jsonl`` (prompt id and format of every sample, in training order), ``train_log.jsonl``
(per step: samples, tokens, loss, learning rate, FLOPs, cumulative FLOPs), ``ledger.json`` and a
``DONE.json`` marker holding the run's key; a rerun with the same key does nothing.

Example::

    from scale_or_reason.train import StudentSpec, TrainConfig, train_student
    spec = StudentSpec(name="s1", config={"model_type": "qwen3", "hidden_size": 64, ...})
    result = train_student(spec, samples, tokenizer_dir, run_dir, TrainConfig(learning_rate=1e-3))
    print(result["train_flops"])
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .flops import Architecture, train_flops
from .records import PairedSample
from .util import read_json, stable_hash, write_json


@dataclass
class StudentSpec:
    """A student: a Hugging Face causal-LM architecture, built from config or loaded from a path."""

    name: str
    """Size label used in tables and plots (e.g. ``s3`` or ``Qwen2.5-7B``)."""
    config: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the HF config (must include ``model_type``); the model is built from it
    with random weights. Ignored when ``pretrained`` is set."""
    pretrained: str | None = None
    """A local checkpoint directory (or hub id on machines with hub access) to fine-tune instead."""
    learning_rate: dict[str, float] = field(default_factory=dict)
    """Peak learning rate per format (``ift``, ``reasoning``); a curriculum uses the IFT one."""


@dataclass
class TrainConfig:
    """Optimisation settings shared by every run of a study."""

    learning_rate: float = 1e-3
    """Peak learning rate when the student spec gives none for the arm's format."""
    batch_size: int = 32
    """Global batch in samples (the paper: 32)."""
    micro_batch_size: int = 32
    """Samples per forward pass; ``batch_size / micro_batch_size`` gradient-accumulation steps."""
    epochs: int = 1
    """Passes over the arm (the paper: 1)."""
    warmup_fraction: float = 0.1
    """Warmup steps as a fraction of the run, capped at ``max_warmup_steps``."""
    decay_fraction: float = 0.2
    """Linear-decay steps as a fraction of the run, capped at ``max_decay_steps``."""
    max_warmup_steps: int = 150
    """The paper's warmup length, used as is when the run is long enough."""
    max_decay_steps: int = 300
    """The paper's decay length, used as is when the run is long enough."""
    min_lr_ratio: float = 0.1
    """Learning rate at the end of the decay, as a fraction of the peak (the paper: 10%)."""
    weight_decay: float = 0.01
    """AdamW weight decay (not stated in the paper)."""
    max_length: int = 1024
    """Token cap per sample; longer samples are truncated and counted in the ledger."""
    seed: int = 0
    """Seed of weight initialisation and data order."""
    threads: int | None = None
    """CPU threads for torch (None: torch's default)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass (TRL's default is True: ~2x slower steps, less memory)."""
    bf16: bool | None = None
    """bf16 mixed precision; None = on for CUDA devices with bf16, off on CPU (TRL turns it on everywhere,
    and CPU autocast to bf16 is slower than fp32 for small models)."""


def wsd_multiplier(step: int, total: int, warmup: int, decay: int, floor: float) -> float:
    """Learning-rate multiplier at optimiser step ``step`` (0-based) of ``total``.

    Linear warmup from ~0 to 1 over ``warmup`` steps, plateau at 1, then linear decay to ``floor``
    over the last ``decay`` steps. (transformers' ``get_wsd_schedule`` warms up from ``floor``
    instead of 0, hence this small function.)
    """
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    decay_start = total - decay
    if decay > 0 and step >= decay_start:
        frac = (step - decay_start + 1) / decay
        return 1.0 - (1.0 - floor) * min(frac, 1.0)
    return 1.0


def schedule_lengths(total_steps: int, cfg: TrainConfig) -> tuple[int, int]:
    """Warmup and decay steps for a run of ``total_steps``: the paper's 150/300, scaled down for short runs."""
    warmup = min(cfg.max_warmup_steps, max(1, round(cfg.warmup_fraction * total_steps)))
    decay = min(cfg.max_decay_steps, max(1, round(cfg.decay_fraction * total_steps)))
    if warmup + decay > total_steps:
        warmup, decay = max(0, total_steps // 3), max(0, total_steps // 3)
    return warmup, decay


def run_key(spec: StudentSpec, arm_name: str, samples: list[tuple[PairedSample, str]], cfg: TrainConfig,
            tokenizer_id: str) -> str:
    """Deterministic key of a run: everything that defines the work."""
    order = [(p.prompt_id, f) for p, f in samples]
    return stable_hash({"spec": asdict(spec), "arm": arm_name, "order": stable_hash(order, 32),
                        "cfg": {k: v for k, v in asdict(cfg).items() if k not in ("threads",)}, "tok": tokenizer_id})


def build_model(spec: StudentSpec, seed: int, tokenizer: Any = None):
    """Instantiate the student: from its config with seeded random weights, or from ``pretrained``.

    Built from config, the vocabulary and special-token ids come from ``tokenizer`` (a config's
    default vocabulary, e.g. Qwen3's 151,936, would dwarf a tiny student)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(seed)
    if spec.pretrained:
        return AutoModelForCausalLM.from_pretrained(spec.pretrained, dtype=torch.float32)
    cfg = dict(spec.config)
    model_type = cfg.pop("model_type", None)
    if model_type is None:
        raise ValueError(f"student {spec.name}: config has no 'model_type'")
    if tokenizer is not None:
        cfg.setdefault("vocab_size", len(tokenizer))
        cfg.setdefault("eos_token_id", tokenizer.eos_token_id)
        cfg.setdefault("pad_token_id", tokenizer.pad_token_id)
        cfg.setdefault("bos_token_id", tokenizer.bos_token_id)
    config = AutoConfig.for_model(model_type, **cfg)
    return AutoModelForCausalLM.from_config(config, dtype=torch.float32)


def train_student(spec: StudentSpec, arm_name: str, samples: list[tuple[PairedSample, str]], tokenizer_dir: Path,
                  run_dir: Path, cfg: TrainConfig, *, tokenizer_id: str = "") -> dict[str, Any]:
    """Train ``spec`` on ``samples`` (``(pair, format)`` in order) into ``run_dir``; returns the ledger.

    A finished run with the same key is not redone: its ledger is returned as is.
    """
    run_dir = Path(run_dir)
    key = run_key(spec, arm_name, samples, cfg, tokenizer_id)
    done = run_dir / "DONE.json"
    if done.exists() and read_json(done).get("key") == key:
        return read_json(run_dir / "ledger.json")

    import datasets
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from .data import render

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    datasets.disable_progress_bars()  # the per-map bars of SFTTrainer's preprocessing drown the study's progress
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    rows = []
    for pair, fmt in samples:
        prompt, completion = render(tok, pair, fmt)
        rows.append({"prompt": prompt, "completion": completion})
    dataset = Dataset.from_list(rows)
    model = build_model(spec, cfg.seed, tok)
    fmt_lr = "ift" if arm_name != "reasoning" else "reasoning"
    lr = spec.learning_rate.get(fmt_lr, cfg.learning_rate)
    accum = max(1, cfg.batch_size // cfg.micro_batch_size)
    steps = math.ceil(len(samples) * cfg.epochs / (cfg.micro_batch_size * accum))
    warmup, decay = schedule_lengths(steps, cfg)

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=cfg.weight_decay,
                                  fused=torch.cuda.is_available())
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: wsd_multiplier(s, steps, warmup, decay, cfg.min_lr_ratio))

    log: list[dict[str, Any]] = []

    class _Log(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                log.append({"step": state.global_step, "loss": float(logs["loss"]),
                            "learning_rate": float(logs.get("learning_rate", float("nan")))})

    args = SFTConfig(
        output_dir=str(run_dir / "trainer"),
        per_device_train_batch_size=cfg.micro_batch_size,
        gradient_accumulation_steps=accum,
        num_train_epochs=cfg.epochs,
        max_length=cfg.max_length,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=cfg.seed,
        data_seed=cfg.seed,
        train_sampling_strategy="sequential",  # the arm's order is the curriculum
        dataloader_num_workers=0,
        disable_tqdm=False,
        use_cpu=not torch.cuda.is_available(),
        gradient_checkpointing=cfg.gradient_checkpointing,
        bf16=cfg.bf16 if cfg.bf16 is not None else bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported()),
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tok,
                         optimizers=(optimizer, scheduler), callbacks=[_Log()])
    # Lengths exactly as the dataloader will see them (after truncation), in training order.
    if len(trainer.train_dataset) != len(samples):
        raise RuntimeError(f"run {run_dir.name}: the trainer kept {len(trainer.train_dataset)} of {len(samples)} "
                           "samples (fully masked or empty completions?); arms must have equal sample counts")
    ids = trainer.train_dataset["input_ids"]
    lengths = [len(x) for x in ids]
    completion_tokens = [sum(1 for y in lab if y != -100) for lab in trainer.train_dataset["labels"]]
    t0 = time.time()
    trainer.train()
    wall = time.time() - t0
    # model.save_pretrained, not trainer.save_model: the latter also pickles training_args.bin.
    trainer.model.save_pretrained(run_dir, safe_serialization=True)
    tok.save_pretrained(run_dir)
    write_json(run_dir / "train_config.json", {"spec": asdict(spec), "arm": arm_name, "train": asdict(cfg)})
    shutil.rmtree(run_dir / "trainer", ignore_errors=True)

    arch = Architecture.from_config(model.config)
    per_sample = [train_flops(arch, [n]) for n in lengths]
    cum = 0.0
    batch = cfg.micro_batch_size * accum
    n_samples = len(lengths)
    with open(run_dir / "train_log.jsonl", "w") as fh:
        for i, row in enumerate(log):
            # Step k consumed samples [k*batch, (k+1)*batch) of the (epoch-repeated) sequential order.
            idx = [j % n_samples for j in range(i * batch, min((i + 1) * batch, n_samples * cfg.epochs))]
            step_flops = sum(per_sample[j] for j in idx)
            cum += step_flops
            row.update(samples=len(idx), tokens=sum(lengths[j] for j in idx),
                       flops=step_flops, cumulative_flops=cum, convention="paper")
            fh.write(json.dumps(row) + "\n")
    with open(run_dir / "order.jsonl", "w") as fh:
        for (pair, fmt), n in zip(samples, lengths):
            fh.write(json.dumps({"prompt_id": pair.prompt_id, "format": fmt, "tokens": n}) + "\n")
    ledger = {
        "student": spec.name, "arm": arm_name, "samples": n_samples, "epochs": cfg.epochs,
        "steps": steps, "warmup_steps": warmup, "decay_steps": decay, "peak_lr": lr,
        "tokens": sum(lengths) * cfg.epochs, "completion_tokens": sum(completion_tokens) * cfg.epochs,
        "truncated_samples": sum(1 for n in lengths if n >= cfg.max_length),
        "train_flops": train_flops(arch, lengths) * cfg.epochs, "convention": "paper",
        "parameters": arch.parameters, "non_embedding_parameters": arch.non_embedding_parameters,
        "final_loss": log[-1]["loss"] if log else float("nan"), "wall_seconds": wall,
    }
    write_json(run_dir / "ledger.json", ledger)
    write_json(done, {"key": key})
    return ledger
