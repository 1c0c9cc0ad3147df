"""Training throughput on one GPU: `sor train` (and its levers) vs TRL's defaults, paper-like reasoning lengths.

Students are built from the Qwen2.5-0.5B and -1.5B configurations (random weights: throughput does not depend on
them; nothing is downloaded). The data is the reasoning arm of ``--samples`` synthetic pairs whose rendered
lengths follow the issue's measurement (mean ~1,700 tokens, 512-2,800), global batch 32. Sides, alternated over
``--repeats`` repeats (the order rotates), each in this process with the GPU memory released in between:

  sor          ``train.train_student`` with the toolkit's defaults (bf16 on CUDA, no checkpointing, micro-batches
               grouped by length within each global batch, the model's own loss)
  sor-ckpt     ``sor`` + gradient checkpointing (the memory lever: TRL's default)
  sor-liger    ``sor`` + Liger's fused linear + cross-entropy (needs ``liger-kernel``; skipped when absent)
  sor-liger-ckpt  both levers
  sor-padfree  ``sor`` + padding-free micro-batches under flash-attention (needs ``flash-attn``; skipped when absent)
  trl          a plain ``SFTTrainer`` with TRL's defaults (gradient checkpointing, bf16), the same micro-batch
               and gradient accumulation

For each: wall of ``trainer.train()``, TFLOP/s of the ledger's training FLOPs (paper convention), MFU against
the bf16 matmul peak measured in the same run (best of 5 8192^3 matmuls), peak memory allocated, and what stays
allocated once the side returned (before anything collects it).

On a CPU, ``--tiny`` runs the same code on a 2-layer student and short samples (the test suite does this); the
figures are meaningless there. Run from the repository root on a GPU machine::

    .venv/bin/python benchmarks/gpu_train.py [--models 0.5b,1.5b] [--samples 320] [--repeats 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import gc
import importlib.util
import json
import platform
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

GLOBAL_BATCH = 32
QWEN25 = {
    # the published configurations of Qwen/Qwen2.5-0.5B and -1.5B (their config.json), not downloaded
    "0.5b": {"hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
             "intermediate_size": 4864, "tie_word_embeddings": True, "micro": 8},
    "1.5b": {"hidden_size": 1536, "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2,
             "intermediate_size": 8960, "tie_word_embeddings": True, "micro": 4},
    "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "intermediate_size": 128, "tie_word_embeddings": True, "micro": 4},
}
WORDS = ("so the sum is then we check that value again because first next wait let me verify carry add "
         "subtract answer result step number digit").split()


def model_config(name: str, tokenizer_vocab: int) -> dict:
    c = dict(QWEN25[name])
    c.pop("micro")
    vocab = 151936 if name != "tiny" else tokenizer_vocab
    return {"model_type": "qwen2", "vocab_size": vocab, "max_position_embeddings": 32768, "rope_theta": 1e6,
            "rms_norm_eps": 1e-6, **c}


def make_pairs(n: int, lo: int, hi: int, mean: int, seed: int = 0) -> list:
    """Reasoning pairs whose traces are ``lo``..``hi`` words (one token each with the benchmark's tokenizer),
    drawn from a triangular law with the given mean (clipped)."""
    from scale_or_reason.records import PairedSample

    rng = random.Random(seed)
    mode = min(hi, max(lo, 3 * mean - lo - hi))
    pairs = []
    for i in range(n):
        words = int(rng.triangular(lo, hi, mode))
        trace = " ".join(rng.choice(WORDS) for _ in range(words))
        pairs.append(PairedSample(prompt_id=f"g{i:05d}", family="Math-OE", prompt=f"Question {i}: add the numbers.",
                                  reference="1", ift_answer="The answer is 1.", reasoning_trace=trace,
                                  reasoning_answer="The answer is \\boxed{1}."))
    return pairs


def bf16_peak(device: str) -> float:
    """bf16 matmul FLOP/s on CUDA (fp32 on CPU), best of 5."""
    n, dtype = (8192, torch.bfloat16) if device == "cuda" else (1024, torch.float32)
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(5):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        torch.mm(a, b)
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best


def _mem(device: str) -> float:
    return torch.cuda.memory_allocated() / 2**30 if device == "cuda" else float("nan")


def _peak(device: str) -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")


def run_side(side: str, spec, samples, tdir: Path, out: Path, tcfg, device: str) -> dict:
    """One side; returns wall, FLOPs (the ledger's), peak and left-over GPU memory in GiB."""
    from scale_or_reason.train import train_student

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    if side == "trl":
        return {**run_trl(spec, samples, tdir, out, tcfg, device), "peak_gib": _peak(device),
                "left_gib": _mem(device)}
    cfg = tcfg
    if side == "sor-ckpt":
        cfg = dataclasses.replace(tcfg, gradient_checkpointing=True)
    elif side == "sor-liger":
        cfg = dataclasses.replace(tcfg, liger_kernel=True)
    elif side == "sor-liger-ckpt":
        cfg = dataclasses.replace(tcfg, liger_kernel=True, gradient_checkpointing=True)
    elif side == "sor-padfree":
        cfg = dataclasses.replace(tcfg, padding_free=True, attn_implementation="flash_attention_2")
    led = train_student(spec, "reasoning", samples, tdir, out, cfg, tokenizer_id=str(out))
    return {"wall": led["wall_seconds"], "flops": led["train_flops"], "tokens": led["tokens"],
            "peak_gib": _peak(device), "left_gib": _mem(device)}


def run_trl(spec, samples, tdir: Path, out: Path, tcfg, device: str) -> dict:
    """TRL's defaults around the same model, data, micro-batch and accumulation (a user's plain script)."""
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from scale_or_reason.data import render
    from scale_or_reason.flops import Architecture, train_flops
    from scale_or_reason.train import build_model

    tok = AutoTokenizer.from_pretrained(tdir)
    model = build_model(spec, tcfg.seed, tok)
    rows = [dict(zip(("prompt", "completion"), render(tok, p, f))) for p, f in samples]
    args = SFTConfig(output_dir=str(out), per_device_train_batch_size=tcfg.micro_batch_size,
                     gradient_accumulation_steps=GLOBAL_BATCH // tcfg.micro_batch_size, num_train_epochs=1,
                     max_length=tcfg.max_length, save_strategy="no", report_to="none", disable_tqdm=True,
                     use_cpu=device != "cuda", bf16=device == "cuda", seed=tcfg.seed)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok)
    lengths = [len(x) for x in trainer.train_dataset["input_ids"]]
    t0 = time.perf_counter()
    trainer.train()
    if device == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    flops = train_flops(Architecture.from_config(model.config), lengths)
    return {"wall": wall, "flops": flops, "tokens": sum(lengths)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="0.5b,1.5b")
    ap.add_argument("--samples", type=int, default=320)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sides", default="sor,sor-ckpt,sor-liger,sor-liger-ckpt,sor-padfree,trl")
    ap.add_argument("--tiny", action="store_true", help="a 2-layer student and short samples (CPU smoke run)")
    ap.add_argument("--out", type=Path, default=None, help="append the Markdown table here; JSON rows beside it")
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    t_start = time.time()

    from scale_or_reason.data import Arm, build_arm
    from scale_or_reason.synthetic.tokenizer import build_tokenizer, save_tokenizer
    from scale_or_reason.train import StudentSpec, TrainConfig

    work = Path(tempfile.mkdtemp(prefix="sor-gpu-train-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)  # its runs' checkpoints
    corpus = [" ".join(WORDS)] * 50 + ["Question add the numbers The answer is boxed user assistant"] * 20
    tdir = save_tokenizer(build_tokenizer(corpus, vocab_size=400), work / "tok")
    lo, hi, mean = (16, 96, 48) if args.tiny else (512, 2800, 1683)
    overhead = 40 if args.tiny else 170  # template, prompt and answer tokens around the trace (measured)
    samples = build_arm(make_pairs(args.samples, lo - overhead, hi - overhead, mean - overhead), Arm.parse("reasoning"),
                        args.samples)
    models = ["tiny"] if args.tiny else args.models.split(",")
    liger = importlib.util.find_spec("liger_kernel") is not None and device == "cuda"
    available = {"sor-liger": liger, "sor-liger-ckpt": liger,
                 "sor-padfree": importlib.util.find_spec("flash_attn") is not None and device == "cuda"}
    sides = [s for s in args.sides.split(",") if available.get(s, True)]
    skipped = [s for s in args.sides.split(",") if s not in sides]
    peak = bf16_peak(device)
    rows = []
    from transformers import AutoTokenizer

    vocab = len(AutoTokenizer.from_pretrained(tdir))
    for name in models:
        spec = StudentSpec(name=f"qwen2.5-{name}", config=model_config(name, vocab))
        tcfg = TrainConfig(batch_size=GLOBAL_BATCH, micro_batch_size=QWEN25[name]["micro"], max_length=4096,
                           learning_rate=1e-5, tensorboard=False)
        results: dict[str, list[dict]] = {s: [] for s in sides}
        for r in range(args.repeats):
            for side in sides[r % len(sides):] + sides[: r % len(sides)]:
                out = work / "runs" / f"{name}-{side}-{r}"
                try:
                    res = run_side(side, spec, samples, tdir, out, tcfg, device)
                except torch.cuda.OutOfMemoryError as e:
                    res = {"error": f"out of memory ({str(e).splitlines()[0][:80]})"}
                gc.collect()
                if device == "cuda":
                    torch.cuda.empty_cache()
                results[side].append(res)
                print(f"{name} {side} repeat {r}: {json.dumps(res)}", flush=True)
        for side, res in results.items():
            ok = [x for x in res if "error" not in x]
            if not ok:
                rows.append({"model": name, "side": side, "error": res[0]["error"]})
                continue
            wall = statistics.median(x["wall"] for x in ok)
            rows.append({"model": name, "side": side, "micro": tcfg.micro_batch_size, "wall_s": wall,
                         "spread": f"{min(x['wall'] for x in ok):.1f}-{max(x['wall'] for x in ok):.1f}",
                         "tflops": ok[0]["flops"] / wall / 1e12, "mfu": ok[0]["flops"] / wall / peak,
                         "tokens_per_s": ok[0]["tokens"] / wall, "peak_gib": max(x["peak_gib"] for x in ok),
                         "left_gib": max(x["left_gib"] for x in ok)})
    dev = torch.cuda.get_device_name() if device == "cuda" else f"CPU ({platform.machine()})"
    from _common import shown_args

    head = (f"`benchmarks/gpu_train.py {' '.join(shown_args())}` on {time.strftime('%Y-%m-%d')}, {dev}, torch "
            f"{torch.__version__}, {time.time() - t_start:.0f} s. Matmul peak measured in the run: {peak / 1e12:.1f} "
            f"TFLOP/s ({'bf16' if device == 'cuda' else 'fp32'}). Reasoning arm, {args.samples} samples of "
            f"{lo}-{hi} tokens, global batch {GLOBAL_BATCH}; medians of {args.repeats} alternating repeats."
            + (f" Skipped (not installed or no CUDA): {', '.join(skipped)}." if skipped else ""))
    lines = ["| student | side | micro-batch | median wall s (range) | tokens/s | TFLOP/s | MFU | peak GiB | left after |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['side']} | - | {r['error']} | - | - | - | - | - |")
            continue
        lines.append(f"| {r['model']} | {r['side']} | {r['micro']} | {r['wall_s']:.1f} ({r['spread']}) | "
                     f"{r['tokens_per_s']:,.0f} | {r['tflops']:.2f} | {100 * r['mfu']:.1f}% | {r['peak_gib']:.1f} | "
                     f"{r['left_gib']:.2f} |")
    text = head + "\n\n" + "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as fh:
            fh.write("\n## GPU training throughput (`benchmarks/gpu_train.py`)\n\n" + text)
        args.out.with_suffix(".json").write_text(json.dumps({"head": head, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
