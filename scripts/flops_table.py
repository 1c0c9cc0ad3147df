"""Per-sample training and inference FLOPs of the paper's Qwen2.5 students (and teacher), per convention.

Prints markdown tables; with ``--update-doc docs/flops.md`` it also rewrites the generated block of that
file (between the ``flops-table`` markers).

    .venv/bin/python scripts/flops_table.py
    .venv/bin/python scripts/flops_table.py --train-lengths 1024 8192 --prompt 200 --generated 500 5000
    .venv/bin/python scripts/flops_table.py --update-doc docs/flops.md

There is no hub access here, so the shapes are embedded below. They are the fields of the public
``config.json`` of each base model, https://huggingface.co/Qwen/Qwen2.5-{0.5B,1.5B,3B,7B,14B}/blob/main/config.json
(all ``model_type: qwen2``, ``head_dim = hidden_size / num_attention_heads = 64`` for 0.5B and 128
otherwise, Q/K/V biases, SwiGLU FFN, no sliding window in use).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from scale_or_reason.flops import CONVENTIONS, Architecture, inference_flops, train_flops

QWEN25: dict[str, dict] = {
    "0.5B": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                 num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "1.5B": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                 num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "3B": dict(hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
               num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    # 7B and 14B use the padded 152064-row vocabulary and untied output heads.
    "7B": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
               num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False),
    "14B": dict(hidden_size=5120, intermediate_size=13824, num_hidden_layers=48, num_attention_heads=40,
                num_key_value_heads=8, vocab_size=152064, tie_word_embeddings=False),
}
"""Key fields of the Qwen2.5 base models' config.json files (see the module docstring)."""

TEACHER = dict(
    model_type="qwen3_moe", hidden_size=4096, intermediate_size=12288, moe_intermediate_size=1536,
    num_hidden_layers=94, num_attention_heads=64, num_key_value_heads=4, head_dim=128, num_experts=128,
    num_experts_per_tok=8, vocab_size=151936, tie_word_embeddings=False,
)
"""Qwen3-235B-A22B, the paper's teacher: https://huggingface.co/Qwen/Qwen3-235B-A22B/blob/main/config.json
(every layer sparse: decoder_sparse_step 1, no mlp_only_layers)."""

START, END = "<!-- flops-table:start -->", "<!-- flops-table:end -->"


def students() -> dict[str, Architecture]:
    return {size: Architecture.from_config({"model_type": "qwen2", **cfg}) for size, cfg in QWEN25.items()}


def _e(x: float) -> str:
    return f"{x:.3e}".replace("e+", "e")


def _k(n: int) -> str:
    return f"{n // 1024}k" if n % 1024 == 0 and n >= 1024 else str(n)


def tables(train_lengths: list[int], prompt: int, generated: list[int]) -> str:
    archs = students()
    out: list[str] = []

    out.append("### Parameters\n")
    out.append("| student | d | L | heads (kv) | d_ff | vocab | tied | parameters | non-embedding |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for size, a in archs.items():
        out.append(
            f"| Qwen2.5-{size} | {a.hidden_size} | {a.num_layers} | {a.num_heads} ({a.num_kv_heads}) | "
            f"{a.intermediate_size} | {a.vocab_size} | {'yes' if a.tie_embeddings else 'no'} | "
            f"{a.parameters:,} | {a.non_embedding_parameters:,} |"
        )

    cols = [(c, n) for n in train_lengths for c in CONVENTIONS]
    out.append("\n### Training FLOPs per sample (one sample of l tokens, forward + backward)\n")
    out.append("| student | " + " | ".join(f"{c} l={_k(n)}" for c, n in cols) + " |")
    out.append("|---|" + "---|" * len(cols))
    for size, a in archs.items():
        out.append(f"| {size} | " + " | ".join(_e(train_flops(a, [n], c)) for c, n in cols) + " |")

    cols_i = [(c, g) for g in generated for c in CONVENTIONS]
    out.append(f"\n### Inference FLOPs per answer (prompt {prompt} tokens + g generated, KV cache)\n")
    out.append("| student | " + " | ".join(f"{c} g={g}" for c, g in cols_i) + " |")
    out.append("|---|" + "---|" * len(cols_i))
    for size, a in archs.items():
        out.append(f"| {size} | " + " | ".join(_e(inference_flops(a, prompt, g, c)) for c, g in cols_i) + " |")

    teacher = Architecture.from_config(TEACHER)
    out.append(
        f"\n### Teacher: Qwen3-235B-A22B per answer (prompt {prompt} + g generated; "
        f"{teacher.parameters / 1e9:.1f}B parameters, {teacher.active_parameters / 1e9:.1f}B active)\n"
    )
    out.append("| teacher | " + " | ".join(f"{c} g={g}" for c, g in cols_i) + " |")
    out.append("|---|" + "---|" * len(cols_i))
    out.append("| 235B-A22B | " + " | ".join(_e(inference_flops(teacher, prompt, g, c)) for c, g in cols_i) + " |")

    out.append("\n### Ratio to `exact` (how far the shortcuts are from the architecture-exact count)\n")
    heads = [f"train l={_k(n)}" for n in train_lengths] + [f"infer g={g}" for g in generated]
    out.append("| student | convention | " + " | ".join(heads) + " |")
    out.append("|---|---|" + "---|" * len(heads))
    for size, a in archs.items():
        for c in ("paper", "6nd"):
            ratios = [train_flops(a, [n], c) / train_flops(a, [n], "exact") for n in train_lengths]
            ratios += [
                inference_flops(a, prompt, g, c) / inference_flops(a, prompt, g, "exact") for g in generated
            ]
            out.append(f"| {size} | {c} | " + " | ".join(f"{r:.3f}" for r in ratios) + " |")
    for c in ("paper", "6nd"):
        ratios = ["—"] * len(train_lengths) + [
            f"{inference_flops(teacher, prompt, g, c) / inference_flops(teacher, prompt, g, 'exact'):.3f}"
            for g in generated
        ]
        out.append(f"| teacher 235B-A22B | {c} | " + " | ".join(ratios) + " |")
    return "\n".join(out) + "\n"


def update_doc(path: Path, block: str) -> None:
    text = path.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{path}: markers {START} / {END} not found")
    new = re.sub(
        re.escape(START) + r".*?" + re.escape(END),
        lambda _: f"{START}\n\n{block}\n{END}",
        text,
        flags=re.S,
    )
    path.write_text(new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-lengths", type=int, nargs="+", default=[1024, 8192])
    parser.add_argument("--prompt", type=int, default=200)
    parser.add_argument("--generated", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--update-doc", type=Path, default=None, help="rewrite the generated block of this file")
    args = parser.parse_args(argv)
    block = tables(args.train_lengths, args.prompt, args.generated)
    sys.stdout.write(block)
    if args.update_doc is not None:
        update_doc(args.update_doc, block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
