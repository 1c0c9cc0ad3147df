"""Family aggregation and Pareto frontiers of accuracy against training or inference FLOPs.

The paper compares students at matched compute: for each task family and each cost axis (training
FLOPs of the run, inference FLOPs per evaluated query), a (student, arm) point is *on the frontier*
when no other measured point is at least as accurate for at most the same cost (and strictly better
on one of the two). Only measured points are used; nothing is interpolated.

Example::

    import pandas as pd
    from scale_or_reason.analysis.frontier import aggregate_by_family, frontiers, pareto_frontier

    table = pd.DataFrame({"student": ["s1", "s2", "s1"], "arm": ["ift", "ift", "reasoning"],
                          "cost": [1.0, 2.0, 3.0], "accuracy": [0.4, 0.5, 0.45]})
    front = pareto_frontier(table, "cost")          # s1-ift and s2-ift; s1-reasoning is dominated
    assert list(front["student"]) == ["s1", "s2"]

    # on a results table (``RESULTS_COLUMNS``): one row per (student, arm, family), then frontiers
    # fams = aggregate_by_family(results)
    # for f in frontiers(results): print(f.family, f.axis, [(p["student"], p["arm"]) for p in f.points])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scale_or_reason.analysis.arms import (
    arm_sort_key,
    family_sort_key,
    ordered_families,
)
from scale_or_reason.analysis.formatting import finite, jsonable, wilson
from scale_or_reason.records import RESULTS_COLUMNS, RESULTS_REQUIRED



AXES: dict[str, str] = {"train_flops": "train_flops", "inference_flops": "inference_flops_mean"}
"""Frontier axis name -> column of the (aggregated) results table that holds its cost."""

_TEXT_COLUMNS = ("student", "arm", "family", "benchmark", "convention")


def _normalise(results: pd.DataFrame) -> pd.DataFrame:
    """Check the required columns, add missing optional ones, coerce numbers; returns a copy."""
    if not isinstance(results, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame of RESULTS_COLUMNS, got {type(results).__name__}")
    missing = [c for c in RESULTS_REQUIRED if c not in results.columns]
    if missing:
        raise ValueError(
            f"results table lacks required column(s) {missing}; expected the RESULTS_COLUMNS schema "
            f"({', '.join(RESULTS_COLUMNS)})"
        )
    df = results.copy()
    for col in RESULTS_COLUMNS:
        if col not in df.columns:
            df[col] = "" if col in _TEXT_COLUMNS else np.nan
    for col in RESULTS_COLUMNS:
        if col in _TEXT_COLUMNS:
            df[col] = df[col].where(df[col].notna(), "").astype(str)
        else:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    return df


def _wmean(values: pd.Series, weights: pd.Series) -> float:
    """Weighted mean over rows where both value and weight are finite and the weight is positive.

    Falls back to the plain mean of the finite values when no row has a usable weight.
    """
    v = values.to_numpy(dtype=float)
    w = weights.to_numpy(dtype=float)
    ok = np.isfinite(v) & np.isfinite(w) & (w > 0)
    if ok.any():
        return float(np.sum(v[ok] * w[ok]) / np.sum(w[ok]))
    fin = np.isfinite(v)
    if fin.any() and not (np.isfinite(w) & (w > 0)).any():
        return float(np.mean(v[fin]))
    return float("nan")


def _first(series: pd.Series) -> Any:
    for x in series:
        if isinstance(x, str) or finite(x):
            return x
    return series.iloc[0] if len(series) else np.nan


def aggregate_by_family(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (student, arm, family), pooling the family's benchmarks.

    * ``accuracy``, ``baseline``, ``inference_flops_mean``, ``generated_tokens_mean`` and
      ``truncated_fraction`` are means weighted by ``n`` (each benchmark counts by its samples).
    * ``generated_tokens_correct_mean`` / ``..._incorrect_mean`` are weighted by the number of
      correct (``n * accuracy``) / incorrect (``n * (1 - accuracy)``) answers, which makes them the
      exact pooled means over correct / incorrect answers; benchmarks with none (NaN) drop out.
    * ``n`` is summed; ``ci_low`` / ``ci_high`` are the 95% Wilson interval of the pooled count
      (they ignore between-benchmark heterogeneity); with a ``seed`` column and several seeds, a normal
      interval that adds the variance between seeds (training noise) to the items' binomial variance.
    * ``train_flops`` is a property of the training run, identical on every benchmark row: first.
    * ``parameters``, ``non_embedding_parameters`` and ``convention`` are kept (first value); a group
      with two FLOPs conventions is an error, since their FLOPs are not comparable.
    * ``benchmark`` becomes the comma-separated list of pooled benchmarks.

    A group with one benchmark is passed through unchanged, so the function is idempotent. The
    result has exactly the ``RESULTS_COLUMNS`` columns, ordered by family, size, arm.

    Example::

        fams = aggregate_by_family(results)
        fams[["student", "arm", "family", "accuracy", "n"]]
    """
    df = _normalise(results)
    cols = list(RESULTS_COLUMNS)
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c in _TEXT_COLUMNS else float) for c in cols})

    if not df.duplicated(["student", "arm", "family"]).any():
        # one benchmark per point: nothing to pool (fast path, same result as the loop below)
        return _sorted_points(df[cols].reset_index(drop=True))
    rows: list[dict[str, Any]] = []
    for (student, arm, family), g in df.groupby(["student", "arm", "family"], sort=False):
        conventions = sorted({c for c in g["convention"] if c})
        if len(conventions) > 1:
            raise ValueError(
                f"student {student!r}, arm {arm!r}, family {family!r} mixes FLOPs conventions "
                f"{conventions}; filter the results table to one convention first"
            )
        if len(g) == 1:
            first = g.iloc[0]
            rows.append({c: first[c] for c in cols})
            continue
        n = g["n"]
        acc = g["accuracy"]
        n_total = float(np.nansum(n.to_numpy(dtype=float)))
        accuracy = _wmean(acc, n)
        correct = n * acc
        ci_low, ci_high = wilson(accuracy * n_total, n_total) if n_total > 0 else (np.nan, np.nan)
        if "seed" in g and g["seed"].nunique() > 1 and n_total > 0:
            ci_low, ci_high = _seed_interval(g, accuracy, n_total)
        benchmarks = list(dict.fromkeys(b for b in g["benchmark"] if b))
        rows.append(
            {
                "student": student,
                "parameters": _first(g["parameters"]),
                "non_embedding_parameters": _first(g["non_embedding_parameters"]),
                "arm": arm,
                "family": family,
                "benchmark": ", ".join(benchmarks),
                "accuracy": accuracy,
                "ci_low": ci_low,
                "ci_high": ci_high,
                "n": n_total,
                "baseline": _wmean(g["baseline"], n),
                "train_flops": _first(g["train_flops"]),
                "inference_flops_mean": _wmean(g["inference_flops_mean"], n),
                "generated_tokens_mean": _wmean(g["generated_tokens_mean"], n),
                "generated_tokens_correct_mean": _wmean(g["generated_tokens_correct_mean"], correct),
                "generated_tokens_incorrect_mean": _wmean(
                    g["generated_tokens_incorrect_mean"], n - correct
                ),
                "truncated_fraction": _wmean(g["truncated_fraction"], n),
                "convention": conventions[0] if conventions else "",
            }
        )
    return _sorted_points(pd.DataFrame(rows, columns=cols))


def _seed_interval(g: pd.DataFrame, accuracy: float, n_total: float) -> tuple[float, float]:
    """95% interval of a point trained with several seeds: the variance between the seeds' accuracies (over
    the number of seeds) plus the binomial variance of the pooled items, normal approximation. The pooled
    Wilson interval alone would treat S runs as one run with S times the items, ignoring training noise."""
    per_seed = g.groupby("seed").apply(
        lambda x: float(np.nansum(x["accuracy"] * x["n"]) / np.nansum(x["n"])), include_groups=False)
    s = len(per_seed)
    var = float(per_seed.var(ddof=1)) / s + accuracy * (1 - accuracy) / n_total
    half = 1.959963984540054 * math.sqrt(max(var, 0.0))
    return max(0.0, accuracy - half), min(1.0, accuracy + half)


def _sorted_points(out: pd.DataFrame) -> pd.DataFrame:
    """Integer ``n`` when every count is whole; rows by family, size, student, arm."""
    if out["n"].notna().all() and np.allclose(out["n"], out["n"].round()):
        out["n"] = out["n"].round().astype(int)
    fam_rank = out["family"].map(lambda f: family_sort_key(f)[0])
    params = pd.to_numeric(out["parameters"], errors="coerce").fillna(np.inf)
    arm_rank = out["arm"].map(lambda a: arm_sort_key(a)[0])
    keys = pd.DataFrame({"f": fam_rank, "fn": out["family"].astype(str), "p": params,
                         "s": out["student"].astype(str), "a": arm_rank, "an": out["arm"].astype(str)})
    order = keys.sort_values(list(keys.columns), kind="stable").index
    return out.loc[order].reset_index(drop=True)


def pareto_frontier(df: pd.DataFrame, cost_col: str, acc_col: str = "accuracy") -> pd.DataFrame:
    """Rows of ``df`` that no other row dominates, sorted by cost ascending.

    Row A dominates row B when ``A.acc >= B.acc`` and ``A.cost <= B.cost`` with at least one of the
    two strict. Hence a point with the same cost but higher accuracy removes the lower one, and a
    point with the same accuracy at a higher cost is dominated.

    Ties: exact duplicates (identical cost *and* accuracy, compared with ``==``) do not dominate
    each other, so all copies of a non-dominated point are kept, adjacent and in their original
    order. Apart from such duplicates, cost and accuracy are strictly increasing along the result.
    Rows with a missing or non-finite cost or accuracy are ignored. The original index is kept.

    Example::

        t = pd.DataFrame({"c": [1, 1, 2, 3], "accuracy": [0.3, 0.5, 0.5, 0.7]})
        pareto_frontier(t, "c")   # rows 1 (c=1, 0.5) and 3 (c=3, 0.7)
    """
    if cost_col not in df.columns or acc_col not in df.columns:
        raise KeyError(f"pareto_frontier needs columns {cost_col!r} and {acc_col!r}")
    cost = pd.to_numeric(df[cost_col], errors="coerce").to_numpy(dtype=float)
    acc = pd.to_numeric(df[acc_col], errors="coerce").to_numpy(dtype=float)
    valid = np.flatnonzero(np.isfinite(cost) & np.isfinite(acc))
    # primary key cost ascending, secondary accuracy descending; lexsort is stable for exact ties
    order = valid[np.lexsort((-acc[valid], cost[valid]))]
    keep: list[int] = []
    best = -np.inf
    last: tuple[float, float] | None = None
    for i in order:
        c, a = cost[i], acc[i]
        if a > best:
            keep.append(int(i))
            best = a
            last = (c, a)
        elif last is not None and c == last[0] and a == last[1]:
            keep.append(int(i))
    return df.iloc[keep]


@dataclass
class Frontier:
    """The non-dominated (cost, accuracy) points of one family on one cost axis."""

    family: str
    """Task family (one of ``FAMILIES`` or a free label)."""
    axis: str
    """``'train_flops'`` (FLOPs of the training run) or ``'inference_flops'`` (mean FLOPs per query)."""
    points: list[dict[str, Any]] = field(default_factory=list)
    """Frontier points by increasing cost: ``student``, ``arm``, ``parameters``, ``cost``, ``accuracy``."""
    convention: str = ""
    """FLOPs convention of ``cost`` (``'paper'``, ``'exact'``, ``'6nd'``), as in the results table."""
    queries: float | None = None
    """For the ``'total_flops'`` axis only: the number of queries Q in cost = training + Q × inference."""

    def to_dict(self) -> dict[str, Any]:
        d = {
            "family": self.family,
            "axis": self.axis,
            "convention": self.convention,
            "points": [dict(p) for p in self.points],
        }
        if self.queries is not None:
            d["queries"] = self.queries
        return jsonable(d)


def family_convention(fam: pd.DataFrame, family: str = "") -> str:
    """The single FLOPs convention of a family's rows ('' if none is given); error if several."""
    conventions = sorted({c for c in fam["convention"].astype(str) if c and c != "nan"})
    if len(conventions) > 1:
        raise ValueError(
            f"family {family!r} mixes FLOPs conventions {conventions}; FLOPs under different "
            f"conventions are not comparable, filter the results table to one convention"
        )
    return conventions[0] if conventions else ""


def frontier_points(fam: pd.DataFrame, axis: str) -> list[dict[str, Any]]:
    """Frontier points of an aggregated family table on ``axis`` (a key of ``AXES``)."""
    if axis not in AXES:
        raise ValueError(f"unknown frontier axis {axis!r}; expected one of {list(AXES)}")
    front = pareto_frontier(fam, AXES[axis], "accuracy")
    return [
        {
            "student": str(r["student"]),
            "arm": str(r["arm"]),
            "parameters": r["parameters"],
            "cost": float(r[AXES[axis]]),
            "accuracy": float(r["accuracy"]),
        }
        for _, r in front.iterrows()
    ]


def frontiers(results: pd.DataFrame) -> list[Frontier]:
    """Frontiers for every family in ``results`` x both axes (training FLOPs, inference FLOPs).

    ``results`` is aggregated with :func:`aggregate_by_family` first (a no-op on an aggregated
    table). Families come in the canonical ``FAMILIES`` order, then any other label by name.

    Example::

        for f in frontiers(results):
            print(f.family, f.axis, [(p["student"], p["arm"]) for p in f.points])
    """
    agg = aggregate_by_family(results)
    out: list[Frontier] = []
    for family in ordered_families(agg):
        fam = agg[agg["family"] == family]
        convention = family_convention(fam, family)
        for axis in AXES:
            out.append(Frontier(family, axis, frontier_points(fam, axis), convention))
    return out
