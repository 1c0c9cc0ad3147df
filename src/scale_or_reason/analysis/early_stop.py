"""Early stopping at answer-length percentiles (paper App. H), from per-sample answers.

Question: would capping generation shorter buy a better accuracy/compute trade-off? For each
(student, arm, benchmark), with generated lengths ``g_i`` of its answers:

* the cutoff for percentile ``p`` is ``L_p = percentile(g, p)`` with the ``'lower'`` method, so it
  is a length some answer actually has (``p = 0``: the shortest answer; ``p = 100``: the longest,
  i.e. no cut);
* an answer with ``g_i <= L_p`` is unaffected: it keeps its grade;
* an answer with ``g_i > L_p`` would have been cut after ``L_p`` tokens, before its end — where the
  final answer is written (``\\boxed{}`` after the reasoning) — so it is counted **incorrect**;
* its tokens become ``min(g_i, L_p)``, and its inference FLOPs are rescaled by
  ``(prompt_i + min(g_i, L_p)) / (prompt_i + g_i)`` — an approximation linear in tokens, which
  slightly overstates the cost of a cut answer (decode steps at long contexts cost more than the
  average one). Without ``prompt_tokens`` the rescaling uses the generated tokens alone.

Accuracy at ``p`` is the share of answers that are correct *and* no longer than ``L_p``: it can only
fall as ``p`` decreases. Family rows pool the benchmarks (per-benchmark cutoffs, summed counts).

Example::

    from scale_or_reason.analysis.early_stop import early_stopping
    es = early_stopping(answers)                       # percentiles 0, 25, 50, 75, 100
    es[es.percentile == 50][["student", "arm", "family", "accuracy", "tokens_mean"]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scale_or_reason.analysis.inputs import check_answers

PERCENTILES: tuple[int, ...] = (0, 25, 50, 75, 100)
"""The paper's answer-length percentiles."""

COLUMNS = ["student", "arm", "family", "percentile", "cutoff_tokens_mean", "accuracy", "n",
           "kept_fraction", "tokens_mean", "inference_flops_mean"]


def early_stopping(answers: pd.DataFrame, percentiles: tuple[int, ...] = PERCENTILES) -> pd.DataFrame:
    """Accuracy, mean tokens and mean inference FLOPs per query if answers were cut at each
    length percentile (see the module docstring), one row per (student, arm, family, percentile).

    ``cutoff_tokens_mean`` is the mean of the per-benchmark cutoffs (weighted by answers);
    ``kept_fraction`` the share of answers not cut. Empty when ``answers`` lacks ``generated_tokens``.

    Example::

        es = early_stopping(answers, percentiles=(50, 100))
    """
    if answers is None or "generated_tokens" not in answers.columns or answers.empty:
        return pd.DataFrame(columns=COLUMNS)
    bad = [p for p in percentiles if not 0 <= p <= 100]
    if bad:
        raise ValueError(f"percentiles must lie in [0, 100], got {bad}")
    df = check_answers(answers)
    df = df[np.isfinite(df["generated_tokens"].astype(float))]
    has_flops = "inference_flops" in df.columns
    has_prompt = "prompt_tokens" in df.columns
    parts = []
    for (student, arm, family, _bench), g in df.groupby(["student", "arm", "family", "benchmark"], sort=False):
        gen = g["generated_tokens"].to_numpy(dtype=float)
        ok = g["correct"].to_numpy(dtype=bool)
        prompt = g["prompt_tokens"].to_numpy(dtype=float) if has_prompt else np.zeros_like(gen)
        prompt = np.where(np.isfinite(prompt), prompt, 0.0)
        flops = g["inference_flops"].to_numpy(dtype=float) if has_flops else np.full_like(gen, np.nan)
        for p in percentiles:
            cut = float(np.percentile(gen, p, method="lower"))
            kept = gen <= cut
            tokens = np.minimum(gen, cut)
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = np.where(prompt + gen > 0, (prompt + tokens) / (prompt + gen), 1.0)
            parts.append({
                "student": student, "arm": arm, "family": family, "percentile": p,
                "_n": len(gen), "_correct": float(np.sum(ok & kept)), "_kept": float(kept.sum()),
                "_tokens": float(tokens.sum()), "_cut": cut * len(gen),
                "_flops": float(np.nansum(flops * scale)), "_nflops": float(np.isfinite(flops).sum()),
            })
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    raw = pd.DataFrame(parts)
    sums = raw.groupby(["student", "arm", "family", "percentile"], sort=False).sum(numeric_only=True)
    out = pd.DataFrame({
        "cutoff_tokens_mean": sums["_cut"] / sums["_n"],
        "accuracy": sums["_correct"] / sums["_n"],
        "n": sums["_n"].astype(int),
        "kept_fraction": sums["_kept"] / sums["_n"],
        "tokens_mean": sums["_tokens"] / sums["_n"],
        "inference_flops_mean": (sums["_flops"] / sums["_nflops"]).where(sums["_nflops"] > 0),
    }).reset_index()
    return out[COLUMNS]
