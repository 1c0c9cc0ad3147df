"""Results tables built by hand for the analysis tests: one row per student x arm x benchmark, every
``RESULTS_COLUMNS`` column filled, FLOPs growing with size and answer length."""

import pandas as pd

from scale_or_reason.analysis.formatting import wilson
from scale_or_reason.records import FAMILIES, RESULTS_COLUMNS

SIZES = {"s1": 1e6, "s2": 4e6, "s3": 1.6e7, "s4": 6.4e7}


def row(student="s1", arm="ift", family="General-MC", benchmark="b1", accuracy=0.5, n=200,
        train_flops=None, inference_flops=None, tokens=None, baseline=0.25, **extra):
    """One results row with every RESULTS_COLUMNS column; FLOPs default to size x arm length."""
    params = SIZES.get(student, 1e6)
    length = 10.0 if arm == "ift" else 80.0
    lo, hi = wilson(accuracy * n, n)
    r = {
        "student": student,
        "parameters": params,
        "non_embedding_parameters": 0.8 * params,
        "arm": arm,
        "family": family,
        "benchmark": benchmark,
        "accuracy": accuracy,
        "ci_low": lo,
        "ci_high": hi,
        "n": n,
        "baseline": baseline,
        "train_flops": train_flops if train_flops is not None else 6 * params * 1000 * length,
        "inference_flops_mean": inference_flops if inference_flops is not None
        else 2 * params * length,
        "generated_tokens_mean": tokens if tokens is not None else length,
        "generated_tokens_correct_mean": 0.9 * length,
        "generated_tokens_incorrect_mean": 1.2 * length,
        "truncated_fraction": 0.0,
        "convention": "paper",
    }
    r.update(extra)
    return r


def table(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    assert set(RESULTS_COLUMNS) <= set(df.columns)
    return df[list(RESULTS_COLUMNS)]


def study(acc_ift, acc_rsn, families=FAMILIES, n=200):
    """Four sizes x two arms x families, with accuracies per size given per arm."""
    rows = []
    for fam in families:
        for i, s in enumerate(SIZES):
            if acc_ift is not None:
                rows.append(row(s, "ift", fam, f"{fam}-b", acc_ift[i], n))
            if acc_rsn is not None:
                rows.append(row(s, "reasoning", fam, f"{fam}-b", acc_rsn[i], n))
    return table(rows)


# ----------------------------------------------------------------------------- pareto_frontier
