"""Per-benchmark aggregates of an answers table: accuracy with its interval, lengths, truncation, costs.

Accuracy is the mean over items of each item's mean over samples (one sample per item when greedy).
Its 95% interval is a percentile bootstrap over *items* (``BOOTSTRAP_RESAMPLES`` resamples, seeded),
so with several samples per item the samples of one item move together (a cluster bootstrap): 30
AIME items give an honest interval however many samples each has.

Example::

    from scale_or_reason.evaluate.aggregate import summarize
    row = summarize(answers_df, items)          # one-row DataFrame
    print(row[["accuracy", "ci_low", "ci_high", "generated_tokens_p90", "truncated_fraction"]])
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np

from ..records import BenchItem

if TYPE_CHECKING:  # imported where used: pandas (and the pyarrow it loads) is most of `sor --help`'s start-up
    import pandas as pd

__all__ = ["BOOTSTRAP_RESAMPLES", "SUMMARY_COLUMNS", "baseline_accuracy", "bootstrap_interval", "summarize"]

BOOTSTRAP_RESAMPLES = 2000
"""Bootstrap resamples of the accuracy interval."""

SUMMARY_COLUMNS: dict[str, str] = {
    "student": "student label", "arm": "training arm", "benchmark": "benchmark name", "family": "task family",
    "n": "items evaluated", "samples": "answers per item", "accuracy": "mean correctness (jury if judged, else rules)",
    "ci_low": "2.5% bootstrap quantile of accuracy (resampling items)", "ci_high": "97.5% bootstrap quantile",
    "rule_accuracy": "the rule graders' accuracy (NaN without a rule grader)",
    "jury_accuracy": "the jury's accuracy (NaN when not judged)",
    "baseline": "accuracy of the best trivial answerer: chance for MC, the most frequent gold otherwise",
    "generated_tokens_mean": "mean generated tokens", "generated_tokens_median": "median generated tokens",
    "generated_tokens_p90": "90th percentile of generated tokens",
    "generated_tokens_correct_mean": "mean generated tokens of correct answers",
    "generated_tokens_incorrect_mean": "mean generated tokens of incorrect answers",
    "truncated_fraction": "answers whose trace never closed (scored wrong)",
    "cap_fraction": "answers stopped by the token cap (finish_reason 'length')",
    "invalid_vote_rate": "judge votes that were invalid or failed, over all votes cast",
    "prompt_tokens_mean": "mean prompt tokens", "inference_flops_mean": "mean inference FLOPs per answer",
    "convention": "FLOPs convention",
}
"""Columns of ``summary.csv``: one row per student x arm x benchmark."""


def baseline_accuracy(items: list[BenchItem]) -> float:
    """The best trivial answerer's accuracy: chance (1/options) for MC, else the most frequent gold."""
    if not items:
        return float("nan")
    top = Counter(it.reference for it in items if it.reference).most_common(1)
    best = top[0][1] / len(items) if top else 0.0
    if all(it.choices for it in items):
        best = max(best, float(np.mean([1.0 / len(it.choices) for it in items])))
    return best


def bootstrap_interval(per_item: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``per_item`` ((NaN, NaN) when empty)."""
    per_item = np.asarray(per_item, dtype=float)
    if per_item.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, per_item.size, size=(resamples, per_item.size))
    means = per_item[idx].mean(axis=1)
    a = (1 - level) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def _mean_bool(s: pd.Series) -> float:
    s = s.dropna()
    return float(s.astype(bool).mean()) if len(s) else float("nan")


def summarize(df: pd.DataFrame, items: list[BenchItem]) -> pd.DataFrame:
    """One summary row (``SUMMARY_COLUMNS``) for the answers ``df`` of one student on one benchmark."""
    import pandas as pd

    first = df.iloc[0] if len(df) else None
    row: dict[str, Any] = {c: float("nan") for c in SUMMARY_COLUMNS}
    row.update({"student": first["student"] if first is not None else "",
                "arm": first["arm"] if first is not None else "",
                "benchmark": first["benchmark"] if first is not None else "",
                "family": first["family"] if first is not None else "",
                "n": int(df.prompt_id.nunique()) if len(df) else 0,
                "samples": int(df["sample"].max() + 1) if len(df) else 0,
                "baseline": baseline_accuracy(items),
                "convention": first["convention"] if first is not None else ""})
    if not len(df):
        return pd.DataFrame([row], columns=list(SUMMARY_COLUMNS))
    graded = df.dropna(subset=["correct"])
    if len(graded):
        per_item = graded.assign(c=graded.correct.astype(float)).groupby("prompt_id").c.mean().to_numpy()
        row["accuracy"] = float(per_item.mean())
        row["ci_low"], row["ci_high"] = bootstrap_interval(per_item)
        ok = graded.correct.astype(bool)
        toks = graded.generated_tokens.astype(float)
        row["generated_tokens_correct_mean"] = float(toks[ok].mean()) if ok.any() else float("nan")
        row["generated_tokens_incorrect_mean"] = float(toks[~ok].mean()) if (~ok).any() else float("nan")
    row["rule_accuracy"] = _mean_bool(df.rule_correct)
    row["jury_accuracy"] = _mean_bool(df.jury_correct)
    toks = df.generated_tokens.astype(float)
    row["generated_tokens_mean"] = float(toks.mean())
    row["generated_tokens_median"] = float(toks.median())
    row["generated_tokens_p90"] = float(toks.quantile(0.9))
    row["truncated_fraction"] = float(df.truncated.astype(bool).mean())
    row["cap_fraction"] = float((df.finish_reason == "length").mean())
    row["prompt_tokens_mean"] = float(df.prompt_tokens.astype(float).mean())
    row["inference_flops_mean"] = float(df.inference_flops.astype(float).mean())
    votes = [v for cell in df.jury_votes if isinstance(cell, str) and cell for v in json.loads(cell).values()]
    if votes:
        row["invalid_vote_rate"] = sum(v in ("invalid", "error") for v in votes) / len(votes)
    return pd.DataFrame([row], columns=list(SUMMARY_COLUMNS))
