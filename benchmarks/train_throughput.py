"""Training throughput on this machine: `sor train` vs a plain TRL SFTTrainer script vs a minimal PyTorch loop.

For each student x arm (the embedded full profile's smallest and largest students, the IFT and the reasoning
arm; the same first ``--samples`` samples of the arm, in the same order, global batch 32) the three sides run
in one invocation on the same inputs, alternating (the order rotates every repeat), ``--repeats`` times each:

  sor    ``train.train_student`` with the study's own training settings (what `sor train` and studies run);
         the wall is ``trainer.train()`` (model built and samples tokenized before it, as for the others)
  trl    a plain ``SFTTrainer`` with TRL's defaults (prompt/completion dataset, per-device batch 32,
         ``save_strategy="no"``, ``report_to="none"``; otherwise untouched)
  sor-metrics   ``sor`` with TRL's per-step token metrics (entropy, accuracy: its fused LM-head forward)
  sor-micro8    ``sor`` with micro-batches of 8, grouped by length within each global batch
  sor-micro8-ungrouped  ... in the arm's order (the padding lever's baseline)
  sor-noledger  the same trainer without the per-step FLOPs ledger (``--sides`` adds it: the ledger's overhead)
  loop   a minimal loop: pre-tokenized, right-padded batches, forward, backward, clip, fused AdamW, no Trainer

It prints medians, tokens/s (non-padding tokens), the ratio of each side's throughput to the loop's (of the
medians, and paired: within each repeat, where the sides ran one after another, then its median), the
padding fraction of the micro-batches, and MFU: the ledger's training FLOPs (paper convention: 6N per token
plus attention) per second over this machine's fp32 matmul peak, measured in the same run (best of 5 timings
of a 2048^3 matmul, with the same threads). Run from the repository root, alone on the machine::

    .venv/bin/python benchmarks/train_throughput.py [--students s1,s5] [--repeats 5] [--out benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import atexit
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

GLOBAL_BATCH = 32


def matmul_peak(n: int = 2048, reps: int = 5) -> float:
    """fp32 FLOP/s of an n^3 matmul on this machine (best of ``reps``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best


def padding_fraction(lengths: list[int], micro: int) -> float:
    """Share of the micro-batches' token slots that are padding (right padding to each micro-batch's longest)."""
    slots = sum(max(lengths[i:i + micro]) * len(lengths[i:i + micro]) for i in range(0, len(lengths), micro))
    return 1 - sum(lengths) / slots


def _padding(side: str, lengths: list[int], micro: int) -> float:
    from scale_or_reason.train import grouped_order

    if side == "sor-micro8":
        return padding_fraction([lengths[i] for i in grouped_order(lengths, GLOBAL_BATCH)], 8)
    if side == "sor-micro8-ungrouped":
        return padding_fraction(lengths, 8)
    return padding_fraction(lengths, micro if side.startswith("sor") else GLOBAL_BATCH)


def run_sor(spec, arm, samples, tdir, out, tcfg) -> tuple[float, dict]:
    from scale_or_reason.train import train_student

    led = train_student(spec, arm, samples, tdir, out, tcfg, tokenizer_id=str(out))
    return led["wall_seconds"], led


def run_sor_without_ledger(spec, arm, samples, tdir, out, tcfg) -> float:
    """The same trainer as ``sor`` (same arguments, data, optimiser and schedule) as a plain ``SFTTrainer``: no
    step ledger callback and no per-micro-batch length gathering -- the ledger's overhead is the difference."""
    from trl import SFTTrainer

    from scale_or_reason.train import make_trainer

    class Plain(SFTTrainer):  # the loss as sor computes it (token_metrics off), nothing else
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            return super(SFTTrainer, self).compute_loss(model, {**inputs, "use_cache": False}, return_outputs,
                                                        num_items_in_batch)

    t = make_trainer(spec, arm, samples, tdir, out, tcfg).trainer
    plain = Plain(model=t.model, args=t.args, train_dataset=t.train_dataset, processing_class=t.processing_class,
                       optimizers=(t.optimizer, t.lr_scheduler))
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    plain.pop_callback(ProgressCallback)
    plain.pop_callback(PrinterCallback)
    import gc

    gc.freeze()  # as train._fit does
    t0 = time.perf_counter()
    plain.train()
    wall = time.perf_counter() - t0
    gc.unfreeze()
    return wall


def ledger_seconds(spec, arm, samples, tdir, out, tcfg) -> tuple[float, float, float]:
    """(seconds spent in the FLOPs ledger's own code, of which in TensorBoard, the run's wall): the per-micro-batch
    length read (``train._sample_lengths``) and the per-step callback (``StepLedger.on_step_end``: FLOPs, the loss
    read, the JSONL row, and ``StepLedger.write_tensorboard``'s four scalars) timed directly -- a difference of two
    noisy walls cannot resolve 1%. Not timed: the step's learning-rate read and loss sum in
    ``LedgerTrainer.training_step`` (a float and a tensor add per micro-batch)."""
    import scale_or_reason.train as tr

    spent = {"ledger": 0.0, "tensorboard": 0.0}

    def timed(fn, key):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[key] += time.perf_counter() - t0
        return wrapper

    step_ledger = tr.trainer_classes()[0]
    originals = tr._sample_lengths, step_ledger.on_step_end, step_ledger.write_tensorboard
    tr._sample_lengths = timed(originals[0], "ledger")
    step_ledger.on_step_end = timed(originals[1], "ledger")
    step_ledger.write_tensorboard = timed(originals[2], "tensorboard")  # inside on_step_end's time too
    try:
        wall, _ = run_sor(spec, arm, samples, tdir, out, tcfg)
    finally:
        tr._sample_lengths, step_ledger.on_step_end, step_ledger.write_tensorboard = originals
    return spent["ledger"], spent["tensorboard"], wall


def run_trl(spec, texts, tok, out, seed) -> float:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from scale_or_reason.train import build_model

    model = build_model(spec, seed, tok)
    ds = Dataset.from_list([{"prompt": p, "completion": c} for p, c in texts])
    args = SFTConfig(output_dir=str(out), per_device_train_batch_size=GLOBAL_BATCH, num_train_epochs=1,
                     save_strategy="no", report_to="none", use_cpu=not torch.cuda.is_available(),
                     disable_tqdm=True, seed=seed)
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok)
    t0 = time.perf_counter()
    trainer.train()
    return time.perf_counter() - t0


def run_loop(spec, texts, tok, seed, lr) -> float:
    from scale_or_reason.train import build_model

    model = build_model(spec, seed, tok)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, fused=True)
    batches = []
    for i in range(0, len(texts), GLOBAL_BATCH):
        chunk = texts[i:i + GLOBAL_BATCH]
        prompts = [len(tok(p, add_special_tokens=False)["input_ids"]) for p, _ in chunk]
        enc = tok([p + c for p, c in chunk], return_tensors="pt", padding=True, add_special_tokens=False)
        labels = enc["input_ids"].clone()
        labels[enc["attention_mask"] == 0] = -100
        for j, n in enumerate(prompts):
            labels[j, :n] = -100
        batches.append((enc, labels))
    t0 = time.perf_counter()
    for enc, labels in batches:
        loss = model(**enc, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", default="s1,s5", help="students of the full profile (comma-separated)")
    ap.add_argument("--arms", default="ift,reasoning")
    ap.add_argument("--samples", default="320", help="samples per run: N, or per student (s1=3200,s5=320); the "
                    "Trainer's start-up is a fixed cost, so a tiny student needs more steps to show its per-step rate")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sides", default="sor,trl,loop")
    ap.add_argument("--out", type=Path, default=None, help="append the section to this file (benchmarks/RESULTS.md)")
    args = ap.parse_args()
    t_start = time.time()
    per_student = dict(x.split("=") for x in args.samples.split(",")) if "=" in args.samples else None

    import dataclasses

    from transformers import AutoTokenizer

    from scale_or_reason.data import Arm, render
    from scale_or_reason.study import load_study_file, run_study
    from scale_or_reason.study.stages import arm_samples

    cfg = load_study_file("full")
    work = Path(tempfile.mkdtemp(prefix="sor-train-bench-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)  # its runs' checkpoints: gigabytes per invocation
    run_study(cfg, work, only=["generate"])  # the study's tokenizer and pairs, through the study itself
    tdir = work / "tokenizer"
    tok = AutoTokenizer.from_pretrained(tdir)
    tok.padding_side = "right"
    tcfg = dataclasses.replace(cfg.train, batch_size=GLOBAL_BATCH, micro_batch_size=cfg.train.micro_batch_size,
                               save_steps=0)
    peak = matmul_peak()
    sides = args.sides.split(",")
    rows = []
    ledger_lines = ["| student | arm | ledger ms | TensorBoard ms | run wall s | ledger share | TensorBoard share |",
                    "|---|---|---|---|---|---|---|"]
    for student in args.students.split(","):
        spec = cfg.student(student).spec()
        for arm_name in args.arms.split(","):
            arm = arm_samples(cfg, work, Arm.parse(arm_name))
            n_samples = int(per_student[student] if per_student is not None else args.samples)
            wanted = dict(arm.order[:n_samples])
            pairs = {p.prompt_id: p for p in arm.stream() if p.prompt_id in wanted}
            samples = [(pairs[pid], fmt) for pid, fmt in arm.order[:n_samples]]
            texts = [render(tok, p, f) for p, f in samples]
            lengths = [len(tok(p + c, add_special_tokens=False)["input_ids"]) for p, c in texts]
            walls: dict[str, list[float]] = {s: [] for s in sides}
            ledger = None
            for r in range(args.repeats):
                for side in sides[r % len(sides):] + sides[: r % len(sides)]:
                    out = work / "runs" / f"{student}-{arm_name}-{side}-{r}"
                    if side == "sor":
                        wall, ledger = run_sor(spec, arm_name, samples, tdir, out, tcfg)
                    elif side == "sor-metrics":
                        wall, _ = run_sor(spec, arm_name, samples, tdir, out,
                                          dataclasses.replace(tcfg, token_metrics=True))
                    elif side == "sor-micro8":
                        wall, _ = run_sor(spec, arm_name, samples, tdir, out,
                                          dataclasses.replace(tcfg, micro_batch_size=8))
                    elif side == "sor-micro8-ungrouped":
                        wall, _ = run_sor(spec, arm_name, samples, tdir, out,
                                          dataclasses.replace(tcfg, micro_batch_size=8, group_by_length=False))
                    elif side == "sor-noledger":
                        wall = run_sor_without_ledger(spec, arm_name, samples, tdir, out, tcfg)
                    elif side == "trl":
                        wall = run_trl(spec, texts, tok, out, tcfg.seed)
                    else:
                        wall = run_loop(spec, texts, tok, tcfg.seed, 1e-3)
                    walls[side].append(wall)
                    print(f"{student} {arm_name} {side} repeat {r}: {wall:.2f} s", flush=True)
            med = {s: statistics.median(w) for s, w in walls.items()}
            spent, tb, wall = ledger_seconds(spec, arm_name, samples, tdir,
                                             work / "runs" / f"{student}-{arm_name}-ledger", tcfg)
            ledger_lines.append(f"| {student} | {arm_name} | {1000 * (spent - tb):.1f} | {1000 * tb:.1f} | {wall:.2f} "
                                f"| {100 * (spent - tb) / wall:.2f}% | {100 * tb / wall:.2f}% |")
            flops = ledger["train_flops"] if ledger else float("nan")
            for s in sides:
                rows.append({"student": student, "arm": arm_name, "side": s, "median_s": med[s],
                             "spread": f"{min(walls[s]):.2f}-{max(walls[s]):.2f}", "tokens_per_s": sum(lengths) / med[s],
                             "vs_loop": med["loop"] / med[s] if "loop" in med else float("nan"),
                             # the same ratio within each repeat (the sides ran one after another), then its median:
                             # this machine's speed drifts by tens of percent over minutes, which a ratio of two
                             # medians taken across repeats does not cancel
                             "paired": sorted(lw / w for lw, w in zip(walls["loop"], walls[s])) if "loop" in walls
                             else [float("nan")],
                             "mfu": flops / med[s] / peak,
                             "padding": _padding(s, lengths, tcfg.micro_batch_size),
                             "params": ledger.get("parameters") if ledger else None, "tokens": sum(lengths),
                             "samples": n_samples})
    lines = ["| student | arm | side | median wall s (range) | tokens/s | throughput vs loop | paired vs loop (range) "
             "| MFU | padding |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        paired = f"{statistics.median(r['paired']):.2f}x ({r['paired'][0]:.2f}-{r['paired'][-1]:.2f})"
        lines.append(f"| {r['student']} ({r['params']:,} params, {r['samples']:,} samples) | {r['arm']} | {r['side']} | {r['median_s']:.2f} "
                     f"({r['spread']}) | {r['tokens_per_s']:,.0f} | {r['vs_loop']:.2f}x | {paired} | {100 * r['mfu']:.1f}% "
                     f"| {100 * r['padding']:.0f}% |")
    table = "\n".join(lines)
    head = (f"`benchmarks/train_throughput.py --students {args.students} --arms {args.arms} --samples {args.samples} "
            f"--repeats {args.repeats}` on {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, "
            f"{torch.get_num_threads()} threads, torch {torch.__version__}, Python {sys.version.split()[0]}, "
            f"{time.time() - t_start:.0f} s. Measured fp32 matmul peak: {peak / 1e9:.1f} GFLOP/s. Global batch "
            f"{GLOBAL_BATCH}; `sor` micro-batch {tcfg.micro_batch_size}; medians of {args.repeats} alternating repeats; "
            f"*paired*: the loop's wall over the side's within each repeat (one after another), median and range.")
    ledger = ("Ledger overhead (`sor`, timed inside the run: length reads per micro-batch + the per-step callback "
              "with FLOPs and the JSONL row; target <= 1%), and apart the TensorBoard view of the same rows (four "
              "scalars per step, `[train].tensorboard`, on by default):\n\n" + "\n".join(ledger_lines))
    print(head + "\n\n" + table + "\n\n" + ledger)
    if args.out:
        with open(args.out, "a") as fh:
            fh.write("\n## Training throughput: `sor train` vs TRL defaults vs a minimal loop\n\n" + head + "\n\n"
                     + table + "\n\n" + ledger + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
