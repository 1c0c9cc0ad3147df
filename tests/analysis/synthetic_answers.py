"""A synthetic study for the analysis tests: every student x arm answers the same prompts, a prompt of
difficulty d answered correctly when d < the point's accuracy (stronger points answer a superset), with
lengths and FLOPs per arm as the paper describes them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scale_or_reason.analysis.formatting import wilson
from scale_or_reason.records import RESULTS_COLUMNS

SIZES = {"s1": 1e6, "s2": 4e6, "s3": 1.6e7, "s4": 6.4e7, "s5": 2.56e8}  # 5 sizes: enough to fit a curve
ARMS = ("ift", "reasoning", "sequential:0.25", "sequential:0.5", "mixed:0.25", "mixed:0.75")
PROMPT_TOKENS = 30
TRAIN_SAMPLES = 1000


def answer_length(arm: str) -> float:
    """Mean generated tokens of a correct answer: IFT 20, reasoning 200; sequential grows with ρ,
    mixed switches to full length above ρ = 0.5 (the paper's mode switch)."""
    if arm == "ift":
        return 20.0
    if arm == "reasoning":
        return 200.0
    kind, rho = arm.split(":")
    rho = float(rho)
    if kind == "sequential":
        return 20.0 + 180.0 * rho
    return 25.0 if rho <= 0.5 else 200.0


def accuracy_of(student: str, arm: str) -> float:
    i = list(SIZES).index(student)
    base = 0.2 + 0.12 * i
    if arm == "ift":
        return base
    if arm == "reasoning":
        return base + 0.08
    kind, rho = arm.split(":")
    gain = min(1.0, 2 * float(rho)) if kind == "sequential" else float(rho)
    return base + 0.08 * gain


def synthetic_study(families=("Math-OE", "General-MC"), arms=ARMS, n_prompts=40, benchmarks=("a", "b"),
                    seed=0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(results, answers): every student x arm answers the same prompts; a prompt of difficulty
    d is answered correctly when d < accuracy_of(student, arm) (so stronger points answer a superset,
    paired). Incorrect answers are 1.5x longer. FLOPs: training 6·N·tokens, inference 2·N·tokens."""
    rng = np.random.default_rng(seed)
    rows, answers = [], []
    for fam in families:
        for bench in benchmarks:
            difficulty = rng.uniform(0, 1, n_prompts)
            spread = rng.uniform(0.6, 1.4, n_prompts)
            for student, params in SIZES.items():
                for arm in arms:
                    p = accuracy_of(student, arm)
                    correct = difficulty < p
                    gen = np.round(answer_length(arm) * spread * np.where(correct, 1.0, 1.5)).astype(int)
                    flops = 2 * params * (PROMPT_TOKENS + gen)
                    truncated = np.zeros(n_prompts, dtype=bool)
                    for j in range(n_prompts):
                        answers.append({
                            "student": student, "arm": arm, "prompt_id": f"{fam}-{bench}-{j}", "family": fam,
                            "benchmark": f"{fam}-{bench}", "prompt_tokens": PROMPT_TOKENS,
                            "generated_tokens": int(gen[j]), "finish_reason": "stop",
                            "correct": bool(correct[j]), "inference_flops": float(flops[j]),
                            "convention": "paper",
                        })
                    k, n = int(correct.sum()), n_prompts
                    lo, hi = wilson(k, n)
                    rows.append({
                        "student": student, "parameters": params, "non_embedding_parameters": 0.8 * params,
                        "arm": arm, "family": fam, "benchmark": f"{fam}-{bench}", "accuracy": k / n,
                        "ci_low": lo, "ci_high": hi, "n": n, "baseline": 0.1,
                        "train_flops": 6 * params * TRAIN_SAMPLES * (PROMPT_TOKENS + answer_length(arm)),
                        "inference_flops_mean": float(flops.mean()),
                        "generated_tokens_mean": float(gen.mean()),
                        "generated_tokens_correct_mean": float(gen[correct].mean()) if k else math.nan,
                        "generated_tokens_incorrect_mean": float(gen[~correct].mean()) if k < n else math.nan,
                        "truncated_fraction": float(truncated.mean()), "convention": "paper",
                    })
    return pd.DataFrame(rows)[list(RESULTS_COLUMNS)], pd.DataFrame(answers)
