"""Training throughput on this machine: TRL's SFTTrainer defaults vs the toolkit's settings vs a bare loop.

Measures samples/s for one student on the reasoning arm of the embedded study (same samples, same
batch of 32, same order). Run from the repository root::

    .venv/bin/python benchmarks/train_throughput.py --student s3 --samples 320 [--out benchmarks/RESULTS.md]

Variants:
  trl-defaults   SFTTrainer with TRL's own defaults (gradient checkpointing on, bf16 autocast on)
  sor            SFTTrainer as `sor train` runs it (no checkpointing, fp32 on CPU)
  sor+ckpt       ... with gradient checkpointing only
  sor+bf16       ... with bf16 autocast only
  bare-loop      a minimal PyTorch loop (tokenize, pad, forward, backward, AdamW), no Trainer
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--student", default="s3")
    ap.add_argument("--samples", type=int, default=320)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    from scale_or_reason.data import Arm, render
    from scale_or_reason.study import load_study_file, run_study
    from scale_or_reason.study.stages import arm_samples
    from scale_or_reason.train import TrainConfig, build_model, train_student

    cfg = load_study_file("demo")
    spec = next(s for s in cfg.students if s.name == args.student)
    work = Path(tempfile.mkdtemp(prefix="sor-bench-"))
    run_study(cfg, work, only=["generate"])  # the demo's tokenizer and pairs, through the study itself
    tdir = work / "tokenizer"
    arm = arm_samples(cfg, work, Arm.parse("reasoning"))
    wanted = dict(arm.order[: args.samples])
    pairs = {p.prompt_id: p for p in arm.stream() if p.prompt_id in wanted}
    samples = [(pairs[pid], fmt) for pid, fmt in arm.order[: args.samples]]

    variants = {
        "trl-defaults": TrainConfig(gradient_checkpointing=True, bf16=True, tensorboard=False),
        "sor": TrainConfig(tensorboard=False),
        "sor+ckpt": TrainConfig(gradient_checkpointing=True, tensorboard=False),
        "sor+bf16": TrainConfig(bf16=True, tensorboard=False),
    }
    results = {}
    for name, tc in variants.items():
        best = float("inf")
        for r in range(args.repeats):
            led = train_student(spec, "reasoning", samples, tdir, work / f"{name}-{r}", tc, tokenizer_id=f"{name}{r}")
            best = min(best, led["wall_seconds"])
        results[name] = best

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tdir)
    tok.padding_side = "right"
    texts = [render(tok, p, f) for p, f in samples]
    best = float("inf")
    for _ in range(args.repeats):
        model = build_model(spec, 0, tok)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
        t0 = time.time()
        for i in range(0, len(texts), 32):
            chunk = texts[i:i + 32]
            prompts = tok([p for p, _ in chunk], add_special_tokens=False)["input_ids"]
            enc = tok([p + c for p, c in chunk], return_tensors="pt", padding=True, add_special_tokens=False)
            labels = enc["input_ids"].clone()
            labels[enc["attention_mask"] == 0] = -100
            for j, p in enumerate(prompts):
                labels[j, : len(p)] = -100
            loss = model(**enc, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad()
        best = min(best, time.time() - t0)
    results["bare-loop"] = best

    lines = [f"## train_throughput.py --student {args.student} --samples {args.samples} "
             f"(torch {torch.__version__}, {platform.machine()}, {torch.get_num_threads()} threads)", "",
             "| variant | wall s | samples/s | vs bare loop |", "|---|---|---|---|"]
    for name, wall in results.items():
        lines.append(f"| {name} | {wall:.1f} | {args.samples / wall:.1f} | {wall / results['bare-loop']:.2f}x |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "a") as fh:
            fh.write(text + "\n\n")


if __name__ == "__main__":
    main()
