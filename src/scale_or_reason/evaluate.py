"""Evaluate a student: greedy generation on held-out prompts, rule grading, every token counted.

For each prompt the student's answer is generated greedily up to a token cap, the final answer is
extracted from the last ``\\boxed{}`` after any ``</think>`` (the reasoning is ignored, as the
paper's judges do), and graded by family: option letter for multiple-choice, ``math-verify``
equivalence for math open-ended, normalised string match for general open-ended. Each sample
records its prompt and generated token counts, finish reason (``stop`` or ``length``) and
inference FLOPs (prefill + one cached decode step per generated token).

Example::

    from scale_or_reason.evaluate import EvalConfig, evaluate_run, grade
    assert grade("Math-OE", "<think>2+2=4</think> The answer is \\\\boxed{4}.", "4")[0]
    df = evaluate_run(run_dir, tasks, enable_thinking=False, cfg=EvalConfig(max_new_tokens=256))
    print(df.groupby("family").correct.mean())
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .flops import Architecture, inference_flops
from .util import wilson_interval  # noqa: F401  (re-exported: graders and intervals live together for users)


@dataclass
class EvalConfig:
    """Generation settings for evaluation."""

    max_new_tokens: int = 256
    """Token cap per answer; answers that hit it are marked ``length`` and usually graded wrong."""
    batch_size: int = 64
    """Prompts generated together (left-padded)."""
    threads: int | None = None
    """CPU threads for torch (None: torch's default)."""


def extract_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` in ``text`` (braces matched), or None."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    i, depth, out = start + len("\\boxed{"), 1, []
    while i < len(text):
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return "".join(out).strip()
        out.append(ch)
        i += 1
    return None


def final_answer_text(text: str) -> str:
    """The part of a response after its reasoning: what follows the last ``</think>``."""
    k = text.rfind("</think>")
    return text[k + len("</think>"):] if k >= 0 else text


def _norm(s: str) -> str:
    s = s.casefold().strip()
    s = s.translate(str.maketrans("", "", string.punctuation))
    return " ".join(s.split())


def _math_equal(pred: str, ref: str) -> bool:
    try:
        from math_verify import parse, verify

        gold = parse(f"${ref}$")
        guess = parse(f"${pred}$")
        if gold and guess:
            return bool(verify(gold, guess))
    except Exception:  # math-verify raises on unparsable LaTeX; fall back to exact match below
        pass
    return _norm(pred) == _norm(ref)


def grade(family: str, response: str, reference: str) -> tuple[bool, str | None]:
    """Grade ``response`` against ``reference`` for ``family``; returns (correct, extracted answer)."""
    extracted = extract_boxed(final_answer_text(response))
    if extracted is None:
        return False, None
    if family.endswith("MC"):
        m = re.search(r"[A-Za-z]", extracted.replace("\\text", ""))
        return (m is not None and m.group(0).upper() == reference.strip().upper()), extracted
    if family.startswith("Math"):
        return _math_equal(extracted, reference), extracted
    return _norm(extracted) == _norm(reference), extracted


def evaluate_run(run_dir: Path, tasks: list[Any], *, enable_thinking: bool, cfg: EvalConfig) -> pd.DataFrame:
    """Generate and grade answers of the checkpoint in ``run_dir`` for ``tasks``; one row per task.

    ``tasks`` items need ``prompt_id``, ``family``, ``prompt``, ``reference`` and may have ``benchmark``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tok = AutoTokenizer.from_pretrained(run_dir)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(run_dir, dtype=torch.float32).to(device).eval()
    arch = Architecture.from_config(model.config)
    prompts = [tok.apply_chat_template([{"role": "user", "content": t.prompt}], tokenize=False,
                                       add_generation_prompt=True, enable_thinking=enable_thinking) for t in tasks]
    enc_lens = [len(tok(p)["input_ids"]) for p in prompts]
    order = sorted(range(len(tasks)), key=lambda i: enc_lens[i])  # similar lengths together: less padding
    rows: list[dict[str, Any] | None] = [None] * len(tasks)
    eos = tok.eos_token_id
    from tqdm.auto import tqdm

    for b in tqdm(range(0, len(order), cfg.batch_size), desc=f"eval {Path(run_dir).name}", leave=False):
        idx = order[b:b + cfg.batch_size]
        enc = tok([prompts[i] for i in idx], return_tensors="pt", padding=True).to(device)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=cfg.max_new_tokens, do_sample=False,
                                 eos_token_id=eos, pad_token_id=tok.pad_token_id)
        gen = out[:, enc["input_ids"].shape[1]:].tolist()
        for i, g in zip(idx, gen):
            stop = eos in g
            n_gen = g.index(eos) + 1 if stop else len(g)  # the EOS step is computed, so it is counted
            text = tok.decode(g[:n_gen], skip_special_tokens=True)
            t = tasks[i]
            correct, extracted = grade(t.family, text, t.reference)
            rows[i] = {
                "prompt_id": t.prompt_id, "family": t.family,
                "benchmark": getattr(t, "benchmark", None) or t.family,
                "prompt_tokens": enc_lens[i], "generated_tokens": n_gen,
                "finish_reason": "stop" if stop else "length", "response": text,
                "extracted": extracted, "reference": t.reference, "correct": bool(correct),
                "inference_flops": inference_flops(arch, enc_lens[i], n_gen), "convention": "paper",
            }
    return pd.DataFrame(rows)
