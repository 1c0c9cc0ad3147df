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
    result = train_student(spec, "reasoning", samples, tokenizer_dir, run_dir, TrainConfig(learning_rate=1e-3))
    print(result["train_flops"])
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .flops import LEDGER_VERSION, LoRA, Architecture, train_flops
from .records import PairedSample
from .util import read_json, stable_hash, write_json

log = logging.getLogger(__name__)


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
    """Peak learning rate per format (``ift``, ``reasoning``). When absent, the paper's Table 2 value for a
    matching name (e.g. ``Qwen2.5-7B``), else ``TrainConfig``'s. A curriculum with reasoning share ρ uses
    the geometric interpolation ``lr_ift^(1-ρ) · lr_reasoning^ρ`` (:func:`peak_learning_rate`), so
    ``sequential:1`` trains exactly as the reasoning arm and ``sequential:0`` as the IFT arm."""


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
    warmup_fraction: float = 0.02
    """Warmup steps as a fraction of the run, capped at ``max_warmup_steps``. The paper's 150 warmup steps
    are 0.4-3% of its runs (5k-37k steps); 2% keeps that proportion in short runs."""
    decay_fraction: float = 0.04
    """Linear-decay steps as a fraction of the run, capped at ``max_decay_steps`` (the paper's 300 decay steps:
    0.8-6% of its runs, twice its warmup)."""
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
    save_steps: int = 0
    """Save a resumable checkpoint every this many optimiser steps (0: only the final weights). A killed
    run restarted with the same settings resumes from its last checkpoint."""
    token_metrics: bool = False
    """Log TRL's per-step entropy and token accuracy (its fused LM-head forward computes them for every token).
    Off, the loss is the model's own causal-LM loss normalised the same way (by the global batch's completion
    tokens): the same value and gradient; the metrics cost 11-93% more wall time on CPU
    (``benchmarks/train_throughput.py``)."""
    group_by_length: bool = True
    """Within each global batch, order the samples longest first, so each micro-batch pads to a length close
    to its own samples'. Every optimiser step still sees exactly the same samples and the loss is normalised
    by the global batch's tokens, so the gradient is the same up to float summation order; the curriculum's
    order across batches is untouched. Only matters when ``micro_batch_size < batch_size``."""
    padding_free: bool = False
    """Flatten each micro-batch into one row without padding (TRL ``padding_free``). Only correct with
    attention kernels that honour per-sample boundaries (flash-attention); refused otherwise."""
    attn_implementation: str | None = None
    """Attention kernel of a student built from config (None: transformers' default, ``sdpa``)."""
    lora_rank: int = 0
    """LoRA rank (0: full fine-tuning). Needs ``peft``; FLOPs count frozen weights without weight gradients."""
    lora_alpha: int = 16
    """LoRA scaling numerator."""
    lora_targets: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj",
                                                            "gate_proj", "up_proj", "down_proj"])
    """Module names LoRA adapts."""
    tensorboard: bool = True
    """Also log loss, learning rate, tokens and cumulative FLOPs per step to ``<run>/tensorboard``."""
    liger_kernel: bool = False
    """Liger's Triton kernels (``pip install 'scale-or-reason[liger]'``, CUDA only): above all the fused linear +
    cross-entropy loss, which never materialises the ``tokens x vocabulary`` logits (Qwen2.5: 151,936 entries
    per token). Same FLOPs in the ledger (the LM head is still computed, in chunks)."""

    log_steps: int = 50
    """How often the Trainer's own logging runs (its metrics dict, grad norm and ``on_log`` callbacks; with
    ``token_metrics``, their averages over these steps). The ledger (``train_log.jsonl``, TensorBoard) writes its
    row every optimiser step regardless, from the step itself. Logging every step cost the smallest embedded
    student ~1 ms of its ~25 ms steps under a profiler; end to end (``benchmarks/train_throughput.py``) the
    change was within that benchmark's noise."""

    def key(self) -> dict[str, Any]:
        """The settings that define a run's work (``threads`` and ``log_steps`` do not). Settings added after
        runs were published enter only when set away from their default, so those runs stay finished."""
        later = {"liger_kernel": False}
        return {k: v for k, v in asdict(self).items()
                if k not in ("threads", "log_steps") and not (k in later and v == later[k])}


@dataclass
class StreamedArm:
    """An arm whose pairs stay in their stores: what a study trains on, a million pairs included.

    ``order`` lists ``(prompt_id, format)`` in training order; ``stream()`` yields the pairs in any order
    (others are skipped). Training renders them batch by batch into a Parquet file in the run directory and
    reads it memory-mapped in the arm's order, so no list of ``PairedSample`` is ever held.
    """

    order: list[tuple[str, str]]
    """``(prompt_id, format)`` of every sample, in training order."""
    stream: Callable[[], Iterable[PairedSample]]
    """Yields (at least) every pair named in ``order``, in any order."""

    def __len__(self) -> int:
        return len(self.order)


Samples = list[tuple[PairedSample, str]] | StreamedArm
"""An arm's samples: ``(pair, format)`` in training order, or a ``StreamedArm``."""


STREAM_COLUMNS = ["prompt_id", "family", "prompt", "reference", "system", "ift_answer", "reasoning_trace",
                  "reasoning_answer", "prompt_tokens", "ift_tokens", "trace_tokens", "reasoning_answer_tokens"]
"""The pair columns training reads (not the raw texts, which repeat the trace and the answers)."""


def arm_from_stores(stores: list[Path], arm: Any, n_samples: int = 0, seed: int = 0) -> StreamedArm:
    """The ``arm`` (a ``data.Arm``) over the pairs of one or more pair stores, as a ``StreamedArm``.

    The samples are drawn from the sorted prompt ids (one column read per shard), so the arm does not depend
    on the order a concurrent teacher wrote its pairs in; ``n_samples`` 0 takes every pair. A prompt id
    found in two stores is refused."""
    from .data import build_arm
    from .teacher.store import row_to_pair, iter_pairs

    owner: dict[str, Path] = {}
    for store in stores:
        for batch in iter_pairs(Path(store), columns=["prompt_id"]):
            for row in batch:
                pid = row["prompt_id"]
                if pid in owner and owner[pid] != store:
                    raise ValueError(f"prompt id {pid!r} is in both {owner[pid]} and {store}; give the sources "
                                     f"distinct ids (id_field) or drop one")
                owner[pid] = store
    if not owner:
        raise ValueError(f"no pairs in {', '.join(str(s) for s in stores)}")
    ids = sorted(owner)
    order = build_arm(ids, arm, n_samples or len(ids), seed=seed)

    def stream() -> Iterable[PairedSample]:
        for store in stores:
            for batch in iter_pairs(Path(store), columns=STREAM_COLUMNS):
                for row in batch:
                    yield row_to_pair(row)

    return StreamedArm(order=order, stream=stream)


def sample_ids(samples: Samples) -> list[tuple[str, str]]:
    """``(prompt_id, format)`` of each sample, in training order."""
    if isinstance(samples, StreamedArm):
        return list(samples.order)
    return [(p.prompt_id, f) for p, f in samples]


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


def paper_learning_rate(student: str, fmt: str) -> float | None:
    """The paper's peak LR (Table 2) for a student name or path such as ``Qwen/Qwen2.5-7B``, or None.

    ``fmt`` is ``ift`` or ``reasoning``; the longest matching key wins (``Qwen2.5-14B`` over ``Qwen2.5-1``).
    """
    import tomllib
    from importlib import resources

    table = tomllib.loads(resources.files("scale_or_reason.profiles").joinpath("paper_learning_rates.toml")
                          .read_text())["students"]
    norm = student.lower().replace("gemma-3", "gemma3")
    hits = [k for k in table if k.lower() in norm and not norm[norm.index(k.lower()) + len(k):][:1].isdigit()]
    if not hits:
        return None
    return float(table[max(hits, key=len)][fmt])


def peak_learning_rate(spec: StudentSpec, arm_name: str, default: float) -> float:
    """Peak LR of a run: the spec's own per-format value, else the paper's table, else ``default``.

    The paper tunes one LR per size and format and does not say which a curriculum uses; the rule here is
    the geometric interpolation ``lr_ift^(1-ρ) · lr_reasoning^ρ`` by the curriculum's reasoning share ρ
    (LR grids are log-spaced, so this is the point between the two at ρ), which makes ``sequential:1`` /
    ``mixed:1`` the reasoning arm and ``sequential:0`` / ``mixed:0`` the IFT arm. ``base`` (pretraining)
    uses ``default``."""
    if arm_name == "base":
        return default

    def one(fmt: str) -> float:
        if fmt in spec.learning_rate:
            return float(spec.learning_rate[fmt])
        for name in (spec.pretrained or "", spec.name):
            lr = paper_learning_rate(name, fmt)
            if lr is not None:
                return lr
        return default

    from .data import Arm

    rho = Arm.parse(arm_name).rho
    if rho <= 0.0:
        return one("ift")
    if rho >= 1.0:
        return one("reasoning")
    return one("ift") ** (1.0 - rho) * one("reasoning") ** rho


PAIR_TEXT_FIELDS = ("prompt", "system", "ift_answer", "reasoning_trace", "reasoning_answer")
"""The pair fields a training sample is rendered from: a run's key hashes them, not only the prompt ids."""


def samples_digest(samples: Samples) -> str:
    """A hash of the text of every pair the arm trains on (order-independent; the order is hashed apart).

    A teacher that answers again, or pairs imported anew, change it, so a finished run is not reused for
    other answers under the same prompt ids. A ``StreamedArm`` is read once, pair by pair (nothing held but
    its ids)."""
    import hashlib

    def one(pair: PairedSample) -> int:
        blob = json.dumps([pair.prompt_id, *(getattr(pair, f) or "" for f in PAIR_TEXT_FIELDS)]).encode()
        return int.from_bytes(hashlib.sha256(blob).digest()[:16], "big")

    total, seen = 0, set()
    if isinstance(samples, StreamedArm):
        wanted = {pid for pid, _ in samples.order}
        for pair in samples.stream():
            if pair.prompt_id in wanted and pair.prompt_id not in seen:
                seen.add(pair.prompt_id)
                total = (total + one(pair)) % 2**128
    else:
        for pair, _ in samples:
            if pair.prompt_id not in seen:
                seen.add(pair.prompt_id)
                total = (total + one(pair)) % 2**128
    return f"{total:032x}"


def run_key(spec: StudentSpec, arm_name: str, samples: Samples, cfg: TrainConfig,
            tokenizer_id: str) -> str:
    """Deterministic key of a run: everything that defines the work — the student, the arm, the samples' order
    and their text (``samples_digest``), the settings, the tokenizer, and the ledger's ``LEDGER_VERSION``."""
    order = [list(x) for x in sample_ids(samples)]
    return stable_hash({"spec": asdict(spec), "arm": arm_name, "order": stable_hash(order, 32),
                        "pairs": samples_digest(samples), "ledger": LEDGER_VERSION,
                        "cfg": cfg.key(), "tok": tokenizer_id})


def build_model(spec: StudentSpec, seed: int, tokenizer: Any = None, attn_implementation: str | None = None):
    """Instantiate the student: from its config with seeded random weights, or from ``pretrained``.

    Built from config, the vocabulary and special-token ids come from ``tokenizer`` (a config's
    default vocabulary, e.g. Qwen3's 151,936, would dwarf a tiny student)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(seed)
    if spec.pretrained:
        kw = {"attn_implementation": attn_implementation} if attn_implementation else {}
        return AutoModelForCausalLM.from_pretrained(spec.pretrained, dtype=torch.float32, **kw)
    cfg = dict(spec.config)
    model_type = cfg.pop("model_type", None)
    if model_type is None:
        raise ValueError(f"student {spec.name}: config has no 'model_type'")
    if attn_implementation:
        cfg.setdefault("attn_implementation", attn_implementation)
    if tokenizer is not None:
        cfg.setdefault("vocab_size", len(tokenizer))
        cfg.setdefault("eos_token_id", tokenizer.eos_token_id)
        cfg.setdefault("pad_token_id", tokenizer.pad_token_id)
        cfg.setdefault("bos_token_id", tokenizer.bos_token_id)
    config = AutoConfig.for_model(model_type, **cfg)
    return AutoModelForCausalLM.from_config(config, dtype=torch.float32)


def _sample_lengths(inputs: dict[str, Any]) -> list[int]:
    """Per-sample token counts of one micro-batch, as the model sees it (no padding)."""
    if "attention_mask" in inputs and inputs["attention_mask"] is not None:
        return [int(x) for x in inputs["attention_mask"].sum(dim=1).tolist()]
    pos = inputs["position_ids"].reshape(-1).tolist()  # padding-free: samples restart at position 0
    starts = [i for i, p in enumerate(pos) if p == 0] + [len(pos)]
    return [b - a for a, b in zip(starts, starts[1:])]


class PaddedBatch:
    """Collates pre-tokenized rows (``input_ids``, optional ``labels``) into right-padded ``input_ids``,
    ``labels`` (-100 on padding; ``input_ids`` where a row has no labels: language modelling) and
    ``attention_mask`` tensors: what TRL's ``DataCollatorForLanguageModeling`` returns without padding-free,
    position ids or ``pad_to_multiple_of`` (``tests/test_train.py`` checks they are equal).

    Why not TRL's own: it makes three tensors per row and pads each list of them, 1.6 ms per 32-row micro-batch
    of the smallest embedded student (~6% of its step); this fills one numpy array per column, 0.2 ms. Example::

        PaddedBatch(pad_token_id=0)([{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [5]}])
        # input_ids [[5, 6, 7], [5, 0, 0]], labels [[-100, 6, 7], [5, -100, -100]], attention_mask [[1, 1, 1], [1, 0, 0]]
    """

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import numpy as np
        import torch

        n = len(examples)
        lengths = np.fromiter((len(e["input_ids"]) for e in examples), dtype=np.int64, count=n)
        mask = np.arange(int(lengths.max()))[None, :] < lengths[:, None]  # row-major order = each row's tokens
        total = int(lengths.sum())
        out = {}
        for col, fill in (("input_ids", self.pad_token_id), ("labels", -100)):
            values = (x for e in examples for x in e.get(col, e["input_ids"]))
            batch = np.full(mask.shape, fill, dtype=np.int64)
            batch[mask] = np.fromiter(values, dtype=np.int64, count=total)
            out[col] = torch.from_numpy(batch)
        out["attention_mask"] = torch.from_numpy(mask.astype(np.int64))
        return out


def _padded_batch_for(trainer: Any) -> PaddedBatch | None:
    """A :class:`PaddedBatch` that returns what ``trainer``'s TRL collator would, or None where it would not
    (padding-free or packed batches, position ids, padding to a multiple, columns it does not know)."""
    c = trainer.data_collator
    columns = set(getattr(trainer.train_dataset, "column_names", None) or ())
    if (type(c).__name__ != "DataCollatorForLanguageModeling" or c.padding_free or c.return_position_ids
            or c.pad_to_multiple_of is not None or "input_ids" not in columns
            or columns - {"input_ids", "labels", "prompt", "completion", "text"}):
        return None
    return PaddedBatch(c.pad_token_id)


def _lora(cfg: TrainConfig) -> LoRA | None:
    return LoRA(cfg.lora_rank, tuple(cfg.lora_targets)) if cfg.lora_rank > 0 else None


def _streamed_dataset(arm: StreamedArm, tok: Any, think: str, run_dir: Path, batch: int = 1024):
    """Render a ``StreamedArm`` into ``run_dir/arm-data/arm.arrow`` batch by batch (bounded memory) and
    return it as a memory-mapped ``Dataset`` in the arm's order (an indices mapping, not a copy).

    The file is an Arrow IPC stream, the format of ``datasets``' own cache, so ``Dataset.from_file`` maps it as
    is. (It was Parquet, which ``Dataset.from_parquet`` converted into a second copy: measured at 1M paper-like
    pairs, its reader held 1.0 GiB more at peak than the rest of the stage, and the copy doubled the disk.)"""
    from accelerate import PartialState
    from datasets import Dataset

    data_dir = run_dir / "arm-data"
    state = PartialState()
    with state.main_process_first():  # under accelerate launch rank 0 renders, the others then read its file
        if state.is_main_process:
            _render_arm(arm, tok, think, run_dir, data_dir, batch)
        ds = Dataset.from_file(str(data_dir / "arm.arrow"))
    # the arm's order as an indices mapping (what Dataset.sort builds too, but its pyarrow call warns on every run)
    import numpy as np

    order = np.argsort(np.asarray(ds.data.column("position")), kind="stable")
    return ds.select(order).remove_columns("position")


def _render_arm(arm: StreamedArm, tok: Any, think: str, run_dir: Path, data_dir: Path, batch: int) -> None:
    import pyarrow as pa

    from .data import ChatRenderer

    render = ChatRenderer(tok, empty_think=think)  # the template run once per format, verified (see its doc)
    where = {pid: i for i, (pid, _) in enumerate(arm.order)}  # the id strings are arm.order's own
    if len(where) != len(arm.order):
        raise ValueError(f"run {run_dir.name}: a prompt id appears twice in the arm")
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    schema = pa.schema([("prompt", pa.string()), ("completion", pa.string()), ("position", pa.int64())])
    seen = bytearray(len(arm.order))  # one byte per sample
    rows: list[dict[str, Any]] = []
    with pa.OSFile(str(data_dir / "arm.arrow"), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for pair in arm.stream():
            i = where.get(pair.prompt_id)
            if i is None or seen[i]:
                continue
            seen[i] = 1
            prompt, completion = render(pair, arm.order[i][1])
            rows.append({"prompt": prompt, "completion": completion, "position": i})
            if len(rows) >= batch:
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                rows = []
        if rows:
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
    if not all(seen):
        missing = arm.order[seen.index(0)][0]
        raise ValueError(f"run {run_dir.name}: {seen.count(0)} pair(s) of the arm are not in its stores "
                         f"(first: {missing!r})")


@dataclass
class PreparedRun:
    """What ``make_trainer`` builds: the trainer, its step ledger, and the run's derived values."""

    trainer: Any
    """The ``SFTTrainer`` (a ``LedgerTrainer``), ready to ``train()``."""
    ledger: Any
    """The ``StepLedger`` callback: ``rows`` holds one row per optimiser step once trained."""
    arch: Architecture
    """The student's architecture, as the ledger counts it."""
    lr: float
    """Peak learning rate of the run (``peak_learning_rate``)."""
    steps: int
    """Optimiser steps of the whole run."""
    warmup: int
    """Warmup steps of the schedule."""
    decay: int
    """Decay steps of the schedule."""
    tokenizer: Any
    """The student's tokenizer (with the think switch added when its template lacked one)."""
    lora: LoRA | None
    """The LoRA setting the ledger counts, or None."""
    order: list[int] | None = None
    """With ``group_by_length``: the arm's sample indices in the order trained (``grouped_order``), else None."""


@functools.cache
def trainer_classes() -> tuple[type, type, type, type]:
    """``(StepLedger, LedgerTrainer, QuietProgress, CheckpointOnSigterm)``: defined once, on first use — not at
    import, because their bases (transformers' ``TrainerCallback``, TRL's ``SFTTrainer``) take seconds to import and most commands
    (plan, analyze, generate) never train.

    * ``StepLedger(log_path, arch, lora, tensorboard_dir)`` writes one ``train_log.jsonl`` row per optimiser
      step (samples, tokens, loss, LR, FLOPs) at the step's end, from what ``LedgerTrainer`` hands it — not
      from the Trainer's logs, so the Trainer may log every K steps (``TrainConfig.log_steps``);
    * ``LedgerTrainer(..., step_ledger=)`` hands it each micro-batch's sample lengths (gathered over ranks),
      the step's learning rate and the sum of its micro-batches' reported losses (what the Trainer's own
      ``loss`` log sums at ``logging_steps=1``: mean over ranks, no NaN filter);
    * ``QuietProgress`` is transformers' progress bar with the logged loss beside it, not the metrics dict under it;
    * ``CheckpointOnSigterm(flag)`` saves a checkpoint and stops at the end of the step once ``flag`` is set.
    """
    import torch
    from transformers import TrainerCallback
    from transformers.trainer_callback import ProgressCallback
    from trl import SFTTrainer

    class StepLedger(TrainerCallback):
        def __init__(self, log_path: Path, arch: Architecture, lora: LoRA | None, tensorboard_dir: Path | None):
            self.log_path, self.arch, self.lora, self.tensorboard_dir = Path(log_path), arch, lora, tensorboard_dir
            self.pending: list[int] = []
            self.rows: list[dict[str, Any]] = []
            self.writer = None
            self.file: Any = None  # train_log.jsonl, open for appending from the first step to the last
            self.loss: Any = None  # the step's loss so far (a tensor: no device sync until the step ends)
            self.learning_rate = float("nan")
            self.gather: Any = None  # set by LedgerTrainer under several processes: the ranks' losses averaged

        def on_train_begin(self, args, state, control, **kw):
            # On resume, keep the rows of the steps the checkpoint holds and continue after them.
            self.close()
            kept = []
            if self.log_path.exists() and state.global_step > 0:
                kept = [json.loads(x) for x in self.log_path.read_text().splitlines() if x.strip()]
                kept = [r for r in kept if r["step"] <= state.global_step]
            self.rows = kept
            if not state.is_world_process_zero:
                return
            self.log_path.write_text("".join(json.dumps(r) + "\n" for r in kept))
            # kept open (an open per row was half the ledger's per-step cost); each row is flushed to the OS at
            # once, so a killed run loses none
            self.file = open(self.log_path, "a")
            if self.tensorboard_dir is not None:
                try:
                    from torch.utils.tensorboard import SummaryWriter

                    self.writer = SummaryWriter(str(self.tensorboard_dir))
                except ImportError:  # tensorboard not installed: the JSONL ledger is the record
                    self.writer = None

        def on_step_end(self, args, state, control, **kw):
            if not self.pending:
                return
            lengths, self.pending = self.pending, []
            loss, self.loss = self.loss, None
            if loss is not None and self.gather is not None:
                loss = self.gather(loss.reshape(1)).mean()
            flops = train_flops(self.arch, lengths, lora=self.lora)
            cum = (self.rows[-1]["cumulative_flops"] if self.rows else 0.0) + flops
            row = {"step": state.global_step, "samples": len(lengths), "tokens": sum(lengths),
                   "loss": float("nan") if loss is None else float(loss), "learning_rate": self.learning_rate,
                   "flops": flops, "cumulative_flops": cum, "convention": "paper"}
            self.rows.append(row)
            if not state.is_world_process_zero:
                return
            self.file.write(json.dumps(row) + "\n")
            self.file.flush()
            if self.writer is not None:
                self.write_tensorboard(row)

        def write_tensorboard(self, row: dict[str, Any]) -> None:
            """The row's loss, learning rate, tokens and cumulative FLOPs as TensorBoard scalars (a view of the
            JSONL ledger; 0.2-0.35 ms per step on CPU, ``benchmarks/train_throughput.py`` times it apart)."""
            for k in ("loss", "learning_rate", "tokens", "cumulative_flops"):
                self.writer.add_scalar(f"train/{k}", row[k], row["step"])

        def on_train_end(self, args, state, control, **kw):
            self.close()

        def close(self) -> None:
            """Close the ledger file and the TensorBoard writer (at the end of training, or when it raised)."""
            if self.file is not None:
                self.file.close()
                self.file = None
            if self.writer is not None:
                self.writer.close()
                self.writer = None

    class LedgerTrainer(SFTTrainer):
        def __init__(self, *args: Any, step_ledger: StepLedger, token_metrics: bool = True, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.step_ledger = step_ledger
            self.token_metrics = token_metrics
            self._nonembedding_params: int | None = None  # read once, by floating_point_ops
            if self.accelerator.num_processes > 1:
                step_ledger.gather = self.accelerator.gather

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if self.token_metrics or not model.training:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            # transformers' Trainer.compute_loss: the model's own loss, normalised by num_items_in_batch like TRL's
            return super(SFTTrainer, self).compute_loss(model, {**inputs, "use_cache": False}, return_outputs,
                                                        num_items_in_batch)

        def floating_point_ops(self, inputs):
            # transformers' own running total (trainer_state.json "total_flos": 6 x non-embedding parameters x
            # input tokens, padding included), with the parameter count read once: the Trainer's method walks every
            # module per micro-batch (0.45 ms a step at the smallest student). The study's FLOPs are the ledger's.
            if self._nonembedding_params is None:
                if (not hasattr(self.model, "num_parameters") or "input_ids" not in inputs
                        or getattr(self.model, "main_input_name", "input_ids") != "input_ids"):
                    return super().floating_point_ops(inputs)
                self._nonembedding_params = self.model.num_parameters(exclude_embeddings=True)
            return 6 * inputs["input_ids"].numel() * self._nonembedding_params

        def training_step(self, model, inputs, num_items_in_batch=None):
            lengths = _sample_lengths(inputs)
            acc = self.accelerator
            if acc.num_processes > 1:  # every rank trains its own micro-batch: the ledger counts them all
                t = torch.tensor(lengths, device=acc.device)
                t = acc.gather(acc.pad_across_processes(t, pad_index=-1))
                lengths = [int(x) for x in t.tolist() if x >= 0]
            ledger = self.step_ledger
            if not ledger.pending:  # the step's first micro-batch: the rate the optimiser step will use
                ledger.learning_rate = float(self._get_learning_rate())
            ledger.pending.extend(lengths)
            loss = super().training_step(model, inputs, num_items_in_batch)
            ledger.loss = loss if ledger.loss is None else ledger.loss + loss
            return loss

    class QuietProgress(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            # the loss (mean since the last log) beside the bar, instead of the metrics dict printed under it
            if state.is_world_process_zero and self.training_bar is not None and logs and "loss" in logs:
                self.training_bar.set_postfix_str(f"loss {logs['loss']:.3f}", refresh=False)

    class CheckpointOnSigterm(TrainerCallback):
        """SIGTERM (preemption): finish the optimiser step, save a checkpoint, stop; the rerun resumes there."""

        def __init__(self, flag: Any):
            self.flag = flag

        def on_step_end(self, args, state, control, **kw):
            if self.flag.is_set():
                control.should_save = control.should_training_stop = True

    return StepLedger, LedgerTrainer, QuietProgress, CheckpointOnSigterm


def make_trainer(spec: StudentSpec, arm_name: str, samples: Samples | None, tokenizer_dir: Path,
                 run_dir: Path, cfg: TrainConfig, *, callbacks: list | None = None, empty_think: str | None = None,
                 texts: list[str] | None = None):
    """Build the ``SFTTrainer`` of one run and its step ledger; returns them with the run's derived values
    (``PreparedRun``).

    The trainer consumes the arm's samples in order (sequential sampler) with a global batch of
    ``cfg.batch_size`` samples; the ledger callback records, per optimiser step, the samples and
    tokens the model actually received (read from each micro-batch) and their FLOPs. With ``texts``
    (and ``samples`` None) it is a plain language-modelling run on those documents, every token in
    the loss: the base stage (:func:`pretrain_base`).
    """
    import datasets
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig

    from .data import add_think_switch, render

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    world = int(os.environ.get("WORLD_SIZE", "1"))  # set by accelerate launch / torchrun
    if cfg.batch_size % (cfg.micro_batch_size * world):
        raise ValueError(f"batch_size {cfg.batch_size} is not a multiple of micro_batch_size {cfg.micro_batch_size}"
                         f" x {world} process(es)")
    datasets.disable_progress_bars()  # the per-map bars of SFTTrainer's preprocessing drown the study's progress
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    if add_think_switch(tok):  # Qwen2.5, Gemma, SmolLM2: their templates ignore enable_thinking
        log.warning("run %s: the student's chat template ignores enable_thinking; added the Qwen3-style switch "
                    "(empty think block in the reasoning-off prompt), saved with the run", Path(run_dir).name)
    think = empty_think or ("prompt" if arm_name == "ift" else "completion")
    if texts is not None:
        train_dataset = Dataset.from_dict({"text": list(texts)})
        n_samples = len(texts)
    elif isinstance(samples, StreamedArm):
        train_dataset = _streamed_dataset(samples, tok, think, Path(run_dir))
    else:
        rows = []
        for pair, fmt in samples:
            prompt, completion = render(tok, pair, fmt, empty_think=think)
            rows.append({"prompt": prompt, "completion": completion})
        train_dataset = Dataset.from_list(rows)
    if texts is None:
        assert samples is not None, "make_trainer needs samples or texts"
        n_samples = len(samples)
    model = build_model(spec, cfg.seed, tok, cfg.attn_implementation)
    if cfg.liger_kernel:
        import importlib.util

        if not torch.cuda.is_available() or importlib.util.find_spec("liger_kernel") is None:
            raise ValueError(f"run {Path(run_dir).name}: liger_kernel needs a CUDA device and the liger extra "
                             "(pip install 'scale-or-reason[liger]')")
    if cfg.padding_free and "flash" not in str(model.config._attn_implementation):
        raise ValueError(f"run {Path(run_dir).name}: padding_free needs a flash-attention kernel "
                         f"(got {model.config._attn_implementation!r}); samples would attend across each other")
    peft_config = None
    if cfg.lora_rank > 0:
        from peft import LoraConfig

        peft_config = LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, target_modules=list(cfg.lora_targets),
                                 task_type="CAUSAL_LM")
        from peft import get_peft_model

        with warnings.catch_warnings():
            # peft reads model.is_gradient_checkpointing, which transformers 5.2x deprecated: nothing of ours to
            # change, and the warning would otherwise print once per LoRA run
            warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated",
                                    category=FutureWarning)
            model = get_peft_model(model, peft_config)
    arch = Architecture.from_config(model.config)
    lr = peak_learning_rate(spec, arm_name, cfg.learning_rate)
    accum = cfg.batch_size // (cfg.micro_batch_size * world)  # the global batch stays cfg.batch_size samples
    steps = math.ceil(n_samples * cfg.epochs / cfg.batch_size)
    warmup, decay = schedule_lengths(steps, cfg)
    params = [p for p in model.parameters() if p.requires_grad]
    # fused AdamW runs on CPU and CUDA in torch >= 2.4
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay, fused=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: wsd_multiplier(s, steps, warmup, decay, cfg.min_lr_ratio))
    lora = _lora(cfg)
    log_path = Path(run_dir) / "train_log.jsonl"

    StepLedger, LedgerTrainer, QuietProgress, _ = trainer_classes()
    ledger_cb = StepLedger(log_path, arch, lora, Path(run_dir) / "tensorboard" if cfg.tensorboard else None)

    args = SFTConfig(
        output_dir=str(Path(run_dir) / "trainer"),
        per_device_train_batch_size=cfg.micro_batch_size,
        gradient_accumulation_steps=accum,
        num_train_epochs=cfg.epochs,
        max_length=cfg.max_length,
        logging_steps=cfg.log_steps,  # the ledger's rows do not depend on it
        save_strategy="steps" if cfg.save_steps > 0 else "no",
        save_steps=cfg.save_steps if cfg.save_steps > 0 else 500,
        save_total_limit=1,
        report_to="none",
        seed=cfg.seed,
        data_seed=cfg.seed,
        train_sampling_strategy="sequential",  # the arm's order is the curriculum
        dataloader_num_workers=0,
        padding_free=cfg.padding_free,
        use_liger_kernel=cfg.liger_kernel,
        use_cpu=not torch.cuda.is_available(),
        gradient_checkpointing=cfg.gradient_checkpointing,
        # transformers >= 5.2x renamed it; setting the new name too avoids its deprecation warning per run
        **({"activation_checkpointing": cfg.gradient_checkpointing}
           if "activation_checkpointing" in {f.name for f in dataclasses.fields(SFTConfig)} else {}),
        bf16=cfg.bf16 if cfg.bf16 is not None else bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported()),
    )
    trainer = LedgerTrainer(model=model, args=args, train_dataset=train_dataset, processing_class=tok,
                            optimizers=(optimizer, scheduler), callbacks=[ledger_cb, *(callbacks or [])],
                            step_ledger=ledger_cb, token_metrics=cfg.token_metrics)
    collator = _padded_batch_for(trainer)
    if collator is not None:
        trainer.data_collator = collator
    order = None
    if cfg.group_by_length and accum * world > 1:
        order = grouped_order(_token_lengths(trainer.train_dataset), cfg.batch_size)
        trainer.train_dataset = trainer.train_dataset.select(order)
    # The per-step metrics go to train_log.jsonl (and TensorBoard); a terminal keeps only the progress bar
    # (transformers' ProgressCallback would also print every step's metrics dict under it), and output that is
    # not a terminal (a study logged to a file, a SLURM job) none: a bar redrawn into a file is megabytes of lines.
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    for cb in (ProgressCallback, PrinterCallback):
        if trainer.pop_callback(cb) is not None and cb is ProgressCallback and sys.stderr.isatty():
            trainer.add_callback(QuietProgress)
    if len(trainer.train_dataset) != n_samples:
        raise RuntimeError(f"run {Path(run_dir).name}: the trainer kept {len(trainer.train_dataset)} of "
                           f"{n_samples} samples (fully masked or empty completions?); arms must have equal "
                           "sample counts")
    return PreparedRun(trainer=trainer, ledger=ledger_cb, arch=arch, lr=lr, steps=steps, warmup=warmup, decay=decay,
                       tokenizer=tok, lora=lora, order=order)


def grouped_order(lengths: list[int], batch_size: int) -> list[int]:
    """Indices of the samples with each block of ``batch_size`` consecutive samples (a global batch) ordered
    longest first (ties: arm order); blocks keep their order. Example: ``grouped_order([1, 5, 3, 2], 2)`` is
    ``[1, 0, 2, 3]``."""
    out: list[int] = []
    for start in range(0, len(lengths), batch_size):
        block = range(start, min(start + batch_size, len(lengths)))
        out += sorted(block, key=lambda i: (-lengths[i], i))
    return out


def _token_lengths(dataset: Any) -> list[int]:
    """Token count of every row of a tokenized dataset, read a column chunk at a time."""
    lengths: list[int] = []
    for chunk in dataset.select_columns(["input_ids"]).iter(batch_size=4096):
        lengths += [len(x) for x in chunk["input_ids"]]
    return lengths


def _start(run_dir: Path, key: str) -> dict[str, Any] | None:
    """The ledger of a finished run under ``key`` in ``run_dir`` (nothing to do), or None after marking the run
    started (checkpoints left by other settings are dropped: they cannot be resumed)."""
    done = run_dir / "DONE.json"
    if done.exists() and read_json(done).get("key") == key:
        return read_json(run_dir / "ledger.json")
    run_dir.mkdir(parents=True, exist_ok=True)
    # a run redone under new settings is unfinished until it finishes: the old marker and ledger go first, so
    # a redo that dies midway never leaves the previous run's DONE beside the new run's partial files
    done.unlink(missing_ok=True)
    (run_dir / "ledger.json").unlink(missing_ok=True)
    started = run_dir / "STARTED.json"
    if started.exists() and read_json(started).get("key") != key:
        shutil.rmtree(run_dir / "trainer", ignore_errors=True)
    write_json(started, {"key": key})
    return None


def last_complete_checkpoint(trainer_dir: Path, remove_incomplete: bool = False) -> Path | None:
    """The newest ``checkpoint-N`` that transformers finished writing, or None.

    transformers writes ``trainer_state.json`` last (after weights, optimiser, scheduler and RNG states), so
    a checkpoint is complete when that file parses and names step N. A kill during the save leaves a
    directory without it: resuming from it would fail at every rerun, so it is skipped (and removed with
    ``remove_incomplete``, on the main process only)."""
    found = []
    for path in Path(trainer_dir).glob("checkpoint-*"):
        step = path.name.removeprefix("checkpoint-")
        if step.isdigit():
            found.append((int(step), path))
    for step, path in sorted(found, reverse=True):
        try:
            complete = json.loads((path / "trainer_state.json").read_text()).get("global_step") == step
        except (OSError, ValueError, AttributeError):
            complete = False
        if complete:
            return path
        log.warning("%s: incomplete checkpoint (no readable trainer_state.json), not resumed from", path)
        if remove_incomplete:
            shutil.rmtree(path, ignore_errors=True)
    return None


def _fit(trainer: Any, run_dir: Path) -> tuple[Any, Any, float] | None:
    """Train (resuming from the last checkpoint in ``run_dir/trainer``); returns ``(model, state_dict, wall
    seconds)`` on the main process, None on the others (after the gather every rank must join)."""
    from .util import Terminated, sigterm_requested

    CheckpointOnSigterm = trainer_classes()[3]
    checkpoint = last_complete_checkpoint(run_dir / "trainer", remove_incomplete=trainer.is_world_process_zero())
    t0 = time.time()
    import gc

    # The Trainer starts with a full gc.collect() (accelerate's free_memory): ~0.25 s per run here, a quarter of a
    # 10-step run of the smallest student. The objects alive now (modules, datasets) live as long as the run:
    # frozen, the collector skips them; unfrozen right after.
    gc.freeze()
    try:
        with sigterm_requested() as flag:
            trainer.add_callback(CheckpointOnSigterm(flag))
            trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    finally:
        gc.unfreeze()
        trainer.step_ledger.close()  # already closed unless training raised
    if flag.is_set():  # stopped early: not finished, no weights or DONE written (every rank got the signal)
        log.warning("%s: SIGTERM: checkpoint-%d saved, exiting; a rerun resumes from it", run_dir.name,
                    trainer.state.global_step)
        raise Terminated(143)
    wall = time.time() - t0
    acc = trainer.accelerator
    state_dict = acc.get_state_dict(trainer.model)  # gathers ZeRO-3 / FSDP shards; every rank must call it
    model = acc.unwrap_model(trainer.model)
    if not trainer.is_world_process_zero():
        acc.wait_for_everyone()
        return None
    return model, state_dict, wall


def release_memory() -> None:
    """Free what a finished run left behind: the Trainer, its model and optimiser sit in reference cycles
    (callbacks, accelerate's hooks) that only the cycle collector frees. Measured on an H100: 2.0 GB
    (Qwen2.5-0.5B) and 6.2 GB (1.5B) stayed allocated after ``train_student`` returned, so a study training
    its runs in one process accumulated memory. Called once the run's frame is gone."""
    import gc

    gc.collect()
    try:
        import torch
    except ImportError:  # pragma: no cover - a core dependency
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _releases_memory(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, then ``release_memory`` once its frame is gone (whether it returned or raised)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            release_memory()
    return wrapper


@_releases_memory
def train_student(spec: StudentSpec, arm_name: str, samples: Samples, tokenizer_dir: Path,
                  run_dir: Path, cfg: TrainConfig, *, tokenizer_id: str = "", callbacks: list | None = None,
                  empty_think: str | None = None) -> dict[str, Any]:
    """Train ``spec`` on ``samples`` (``(pair, format)`` in order) into ``run_dir``; returns the ledger.

    A finished run with the same key is not redone: its ledger is returned as is. An unfinished one
    with checkpoints (``cfg.save_steps``) resumes from the last of them. Whatever the run allocated
    (model, optimiser, GPU memory) is freed before this returns or raises.
    """
    run_dir = Path(run_dir)
    key = run_key(spec, arm_name, samples, cfg, tokenizer_id)
    finished = _start(run_dir, key)
    if finished is not None:
        return finished
    prepared = make_trainer(spec, arm_name, samples, tokenizer_dir, run_dir, cfg, callbacks=callbacks,
                            empty_think=empty_think)
    trainer = prepared.trainer
    fitted = _fit(trainer, run_dir)
    if fitted is None:
        return {}
    model, state_dict, wall = fitted
    if prepared.lora is not None:
        model.save_pretrained(run_dir / "adapter")  # the adapter alone (safetensors)
        model, state_dict = model.merge_and_unload(), None  # evaluation loads a plain checkpoint
    # model.save_pretrained, not trainer.save_model: the latter also pickles training_args.bin.
    model.save_pretrained(run_dir, state_dict=state_dict, safe_serialization=True)
    prepared.tokenizer.save_pretrained(run_dir)
    write_json(run_dir / "train_config.json", {"spec": asdict(spec), "arm": arm_name, "train": asdict(cfg)})

    tokenized = trainer.train_dataset
    lengths, completion_tokens = [], []
    for chunk in tokenized.select_columns(["input_ids", "labels"]).iter(batch_size=1024):  # not all in memory
        lengths += [len(x) for x in chunk["input_ids"]]
        completion_tokens += [sum(1 for y in lab if y != -100) for lab in chunk["labels"]]
    with open(run_dir / "order.jsonl", "w") as fh:
        ids = list(sample_ids(samples))
        if prepared.order is not None:  # the order trained in: grouped by length within each global batch
            ids = [ids[i] for i in prepared.order]
        for (pid, fmt), n, c in zip(ids, lengths, completion_tokens):
            fh.write(json.dumps({"prompt_id": pid, "format": fmt, "tokens": n,
                                 "completion_tokens": c}) + "\n")
    rows = prepared.ledger.rows
    arch = prepared.arch
    ledger = {
        "student": spec.name, "arm": arm_name, "samples": len(lengths), "epochs": cfg.epochs,
        "steps": prepared.steps, "warmup_steps": prepared.warmup, "decay_steps": prepared.decay,
        "peak_lr": prepared.lr,
        "tokens": sum(r["tokens"] for r in rows), "completion_tokens": sum(completion_tokens) * cfg.epochs,
        "truncated_samples": sum(1 for n in lengths if n >= cfg.max_length),
        "train_flops": rows[-1]["cumulative_flops"] if rows else 0.0, "convention": "paper",
        "lora_rank": cfg.lora_rank,
        "parameters": arch.parameters, "non_embedding_parameters": arch.non_embedding_parameters,
        "final_loss": rows[-1]["loss"] if rows else float("nan"), "wall_seconds": wall,
    }
    write_json(run_dir / "ledger.json", ledger)
    shutil.rmtree(run_dir / "trainer", ignore_errors=True)
    shutil.rmtree(run_dir / "arm-data", ignore_errors=True)  # the rendered arm; order.jsonl keeps what it was
    write_json(run_dir / "DONE.json", {"key": key})
    trainer.accelerator.wait_for_everyone()
    return ledger


@_releases_memory
def pretrain_base(spec: StudentSpec, texts: list[str], tokenizer_dir: Path, run_dir: Path, cfg: TrainConfig, *,
                  tokenizer_id: str = "", callbacks: list | None = None) -> dict[str, Any]:
    """Pretrain ``spec`` (built from config) on ``texts`` into ``run_dir``: the base that every arm of this
    size then distils into (``StudentSpec.pretrained``). Returns its ledger, whose FLOPs are reported apart
    from the arms' (the paper charges pretraining to neither arm).

    Peak LR, epochs and batch come from ``cfg``; the schedule is the same warmup-stable-decay. A finished
    base with the same key (spec, documents, settings, tokenizer) is not redone.

    Example::

        from scale_or_reason.synthetic.corpus import base_corpus
        ledger = pretrain_base(spec, base_corpus(tokenizer=tok), tok_dir, Path("bases/s1"), TrainConfig(epochs=2))
        student = dataclasses.replace(spec, pretrained="bases/s1")
    """
    run_dir = Path(run_dir)
    key = stable_hash({"spec": asdict(spec), "texts": stable_hash(list(texts), 32), "ledger": LEDGER_VERSION,
                       "cfg": cfg.key(), "tok": tokenizer_id})
    finished = _start(run_dir, key)
    if finished is not None:
        return finished
    prepared = make_trainer(spec, "base", None, tokenizer_dir, run_dir, cfg, callbacks=callbacks, texts=list(texts))
    trainer = prepared.trainer
    fitted = _fit(trainer, run_dir)
    if fitted is None:
        return {}
    model, state_dict, wall = fitted
    model.save_pretrained(run_dir, state_dict=state_dict, safe_serialization=True)
    prepared.tokenizer.save_pretrained(run_dir)
    write_json(run_dir / "train_config.json", {"spec": asdict(spec), "stage": "base", "train": asdict(cfg)})
    rows = prepared.ledger.rows
    arch = prepared.arch
    ledger = {
        "student": spec.name, "stage": "base", "samples": len(texts), "epochs": cfg.epochs, "steps": prepared.steps,
        "warmup_steps": prepared.warmup, "decay_steps": prepared.decay, "peak_lr": prepared.lr,
        "tokens": sum(r["tokens"] for r in rows), "train_flops": rows[-1]["cumulative_flops"] if rows else 0.0,
        "convention": "paper", "parameters": arch.parameters,
        "non_embedding_parameters": arch.non_embedding_parameters,
        "final_loss": rows[-1]["loss"] if rows else float("nan"), "wall_seconds": wall,
    }
    write_json(run_dir / "ledger.json", ledger)
    shutil.rmtree(run_dir / "trainer", ignore_errors=True)
    write_json(run_dir / "DONE.json", {"key": key})
    trainer.accelerator.wait_for_everyone()
    return ledger

