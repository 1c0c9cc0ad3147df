"""Uncertainty: bootstrap over evaluated samples, probability of being on the frontier, seed spread.

**Bootstrap** (:func:`bootstrap`). The unit of resampling is the evaluated *prompt*: within each
(family, benchmark), each replicate draws the benchmark's prompts with replacement (as many as it
has), and every (student, arm) point is re-scored on that same draw — a paired bootstrap, since all
students answer the same prompts and their errors are correlated. A point's replicate accuracy is
its pooled accuracy over the family's benchmarks on the drawn prompts; its replicate inference cost
is the mean of its per-sample ``inference_flops`` on them. Training FLOPs are fixed (a property of
the run). Points that have no per-sample answers (a results CSV) fall back to a parametric
bootstrap: per benchmark row, ``Binomial(n, accuracy) / n``, inference cost fixed. Points without
``n`` get no uncertainty (NaN). ``Bootstrap.source`` says which applies to each point.

From the replicates: 95% percentile intervals of accuracy (:meth:`Bootstrap.intervals`), the
probability that each point is on the frontier of its family on an axis (:meth:`Bootstrap.p_frontier`,
same dominance and tie rule as :func:`~scale_or_reason.analysis.frontier.pareto_frontier`), and,
in :mod:`~scale_or_reason.analysis.equivalence`, intervals on the compute ratios ``k``.

**Seed spread** (:func:`seed_spread`): when the results table has a ``seed`` column with several
seeds for a (student, arm, family), the spread of the family accuracy across seeds.

Example::

    from scale_or_reason.analysis.uncertainty import bootstrap, seed_spread
    boot = bootstrap(results, answers, n_boot=1000, seed=0)
    boot.intervals()                     # student, arm, family, accuracy, boot_low, boot_high, source
    boot.p_frontier("train_flops")       # P(on the training-FLOPs frontier) per point
    seed_spread(results_with_seed_column)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scale_or_reason.analysis.frontier import AXES, aggregate_by_family
from scale_or_reason.analysis.inputs import check_answers

KEY = ["student", "arm", "family"]


@dataclass
class Bootstrap:
    """Bootstrap replicates of every (student, arm, family) point of a results table."""

    points: pd.DataFrame
    """The family-aggregated results (``aggregate_by_family``), one row per point, index 0..m-1."""
    accuracy: np.ndarray
    """Replicate accuracies, shape (n_boot, m); NaN columns for points without uncertainty."""
    inference: np.ndarray
    """Replicate mean inference FLOPs per query, shape (n_boot, m) (fixed unless from answers)."""
    source: list[str] = field(default_factory=list)
    """Per point: ``'answers'`` (paired prompt bootstrap; ``'answers+seeds'`` with several training seeds: seeds
    resampled first), ``'binomial'`` (from accuracy and n; ``'binomial+seeds'``) or ``'none'``."""
    n_boot: int = 0
    """Number of replicates."""
    seed: int = 0
    """Seed of the random generator."""

    def index(self, student: str, arm: str, family: str) -> int:
        """Column of a point in the replicate arrays (``KeyError`` when absent)."""
        hit = self.points.index[(self.points["student"] == student) & (self.points["arm"] == arm)
                                & (self.points["family"] == family)]
        if len(hit) == 0:
            raise KeyError(f"no point {student!r} / {arm!r} / {family!r}")
        return int(hit[0])

    def costs(self, axis: str) -> np.ndarray:
        """Replicate costs on ``axis`` (``'train_flops'`` or ``'inference_flops'``), shape (n_boot, m)."""
        if axis == "inference_flops":
            return self.inference
        if axis == "train_flops":
            t = self.points["train_flops"].to_numpy(dtype=float)
            return np.broadcast_to(t, self.accuracy.shape)
        raise ValueError(f"unknown axis {axis!r}; expected one of {list(AXES)}")

    def intervals(self, level: float = 0.95) -> pd.DataFrame:
        """Percentile interval of each point's accuracy: ``student, arm, family, accuracy,
        boot_low, boot_high, source`` (NaN bounds where the source is ``'none'``)."""
        q = (1 - level) / 2
        lo = hi = np.full(len(self.points), np.nan)
        if self.n_boot:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no uncertainty
                lo = np.nanquantile(self.accuracy, q, axis=0)
                hi = np.nanquantile(self.accuracy, 1 - q, axis=0)
        out = self.points[KEY + ["accuracy"]].copy()
        out["boot_low"], out["boot_high"], out["source"] = lo, hi, self.source
        return out

    def p_frontier(self, axis: str) -> pd.Series:
        """Probability (share of replicates) that each point is on its family's frontier on ``axis``.

        NaN for points whose cost on the axis is missing, or when no point of the family has
        uncertainty (then the frontier is fixed and the measured one applies).
        """
        cost = self.costs(axis)
        out = np.full(len(self.points), np.nan)
        for family, idx in self.points.groupby("family", sort=False).groups.items():
            cols = np.asarray(list(idx), dtype=int)
            a, c = self.accuracy[:, cols], cost[:, cols]
            usable = np.isfinite(c).all(axis=0) & np.isfinite(a).all(axis=0)
            if not usable.any():
                continue
            u = cols[usable]
            a, c = self.accuracy[:, u], cost[:, u]
            on = on_frontier(c, a)
            out[u] = on.mean(axis=0)
        return pd.Series(out, index=self.points.index, name=f"p_frontier_{axis}")

    def to_frame(self) -> pd.DataFrame:
        """Intervals and frontier probabilities on both axes, one row per point."""
        df = self.intervals()
        for axis in AXES:
            df[f"p_frontier_{axis}"] = self.p_frontier(axis).to_numpy()
        return df


def on_frontier(cost: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """Frontier membership per replicate: arrays (B, m) -> bool (B, m).

    Point i is dominated in a replicate when some j has ``acc_j >= acc_i`` and ``cost_j <= cost_i``
    with one strict; exact duplicates do not dominate each other (as in ``pareto_frontier``).
    """
    ai, aj = acc[:, :, None], acc[:, None, :]
    ci, cj = cost[:, :, None], cost[:, None, :]
    dominated = ((aj >= ai) & (cj <= ci) & ((aj > ai) | (cj < ci))).any(axis=2)
    return ~dominated


def _answers_columns(points: pd.DataFrame, answers: pd.DataFrame, n_boot: int, rng: np.random.Generator
                     ) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray], set[int]]:
    """Paired prompt bootstrap: replicate accuracy and inference mean for points with answers.

    A point trained with several seeds (``train_seed`` column) is resampled in two stages: each replicate
    draws the seeds with replacement, then scores them on the replicate's prompt draw, so its interval holds
    the variance between training runs as well as that of the items. Returns the points that had seeds too.
    """
    df = check_answers(answers)
    has_flops = "inference_flops" in df.columns
    if not has_flops:
        df["inference_flops"] = np.nan
    if "train_seed" not in df.columns:
        df["train_seed"] = 0
    keys = points[KEY].astype(str).assign(_pt=np.arange(len(points)))
    df = df.merge(keys, on=KEY, how="inner")  # answers of points not in the results table are dropped
    m = len(points)
    S = np.zeros((n_boot, m))
    C = np.zeros((n_boot, m))
    F = np.zeros((n_boot, m))
    Fc = np.zeros((n_boot, m))
    seen = np.zeros(m, dtype=bool)
    seeds_of = {pt: sorted(h["train_seed"].unique()) for pt, h in df.groupby("_pt")}
    multi = {pt for pt, s in seeds_of.items() if len(s) > 1}
    per_seed = {pt: (np.zeros((n_boot, len(seeds_of[pt]))), np.zeros((n_boot, len(seeds_of[pt])))) for pt in multi}
    for (_family, _bench), g in df.groupby(["family", "benchmark"], sort=True):
        prompts = pd.Index(sorted(g["prompt_id"].unique()))
        n_p = len(prompts)
        W = rng.multinomial(n_p, np.full(n_p, 1.0 / n_p), size=n_boot).astype(float)  # (B, P)
        g = g.assign(_p=prompts.get_indexer(g["prompt_id"]), _c=g["correct"].astype(float),
                     _f=g["inference_flops"].astype(float))
        for pt, h in g.groupby("_pt", sort=False):
            pidx = h["_p"].to_numpy()
            s = np.bincount(pidx, weights=h["_c"].to_numpy(), minlength=n_p)
            c = np.bincount(pidx, minlength=n_p).astype(float)
            fv = h["_f"].to_numpy()
            fok = np.isfinite(fv)
            f = np.bincount(pidx[fok], weights=fv[fok], minlength=n_p)
            fc = np.bincount(pidx[fok], minlength=n_p).astype(float)
            S[:, pt] += W @ s
            C[:, pt] += W @ c
            F[:, pt] += W @ f
            Fc[:, pt] += W @ fc
            seen[pt] = True
            if pt in multi:
                Ss, Cs = per_seed[pt]
                for j, u in enumerate(seeds_of[pt]):
                    hu = h[h["train_seed"] == u]
                    pu = hu["_p"].to_numpy()
                    Ss[:, j] += W @ np.bincount(pu, weights=hu["_c"].to_numpy(), minlength=n_p)
                    Cs[:, j] += W @ np.bincount(pu, minlength=n_p).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = S / C
        inf = F / Fc
        for pt in multi:
            Ss, Cs = per_seed[pt]
            pick = rng.integers(0, Ss.shape[1], size=Ss.shape)  # seeds drawn with replacement per replicate
            acc[:, pt] = np.take_along_axis(Ss, pick, axis=1).sum(axis=1) / np.take_along_axis(Cs, pick, axis=1).sum(axis=1)
    return ({i: acc[:, i] for i in range(m) if seen[i]},
            {i: inf[:, i] for i in range(m) if seen[i] and np.isfinite(inf[:, i]).any()}, multi)


def bootstrap(
    results: pd.DataFrame,
    answers: pd.DataFrame | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> Bootstrap:
    """Bootstrap replicates of every family-level point (see the module docstring).

    Example::

        boot = bootstrap(results, answers, n_boot=500)
        boot.intervals().head()
    """
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    raw = results
    points = aggregate_by_family(results).reset_index(drop=True)
    m = len(points)
    rng = np.random.default_rng(seed)
    acc = np.full((n_boot, m), np.nan)
    inf = np.broadcast_to(points["inference_flops_mean"].to_numpy(dtype=float), (n_boot, m)).copy()
    source = ["none"] * m
    from_answers: dict[int, np.ndarray] = {}
    inf_answers: dict[int, np.ndarray] = {}
    with_seeds: set[int] = set()
    if answers is not None and len(answers) and n_boot:
        from_answers, inf_answers, with_seeds = _answers_columns(points, answers, n_boot, rng)
    for i, col in from_answers.items():
        acc[:, i] = col
        source[i] = "answers+seeds" if i in with_seeds else "answers"
    for i, col in inf_answers.items():
        inf[:, i] = col
    # parametric fallback from (accuracy, n) of the per-benchmark rows
    rows = raw.copy()
    for c in ("accuracy", "n"):
        rows[c] = pd.to_numeric(rows[c], errors="coerce")
    for c in KEY:
        rows[c] = rows[c].astype(str)
    grouped = rows.groupby(KEY, sort=False)
    for i, pt in points.iterrows():
        if source[i] != "none" or not n_boot:
            continue
        key = (str(pt["student"]), str(pt["arm"]), str(pt["family"]))
        try:
            g = grouped.get_group(key)
        except KeyError:
            continue
        n = g["n"].to_numpy(dtype=float)
        a = g["accuracy"].to_numpy(dtype=float)
        if not (np.isfinite(n).all() and np.isfinite(a).all() and (n > 0).all()):
            continue
        k = rng.binomial(np.round(n).astype(int), np.clip(a, 0, 1), size=(n_boot, len(n)))
        if "seed" in g and g["seed"].nunique() > 1:
            # several training seeds: resample the seeds too (two-stage bootstrap), so the interval includes
            # the variance between training runs, not only the sampling of items
            seeds = g["seed"].to_numpy()
            uniq = pd.unique(seeds)
            k_s = np.stack([k[:, seeds == u].sum(axis=1) for u in uniq], axis=1)          # (B, S)
            n_s = np.array([np.round(n[seeds == u]).sum() for u in uniq])                   # (S,)
            pick = rng.integers(0, len(uniq), size=(n_boot, len(uniq)))
            acc[:, i] = np.take_along_axis(k_s, pick, axis=1).sum(axis=1) / n_s[pick].sum(axis=1)
            source[i] = "binomial+seeds"
            continue
        acc[:, i] = k.sum(axis=1) / np.round(n).sum()
        source[i] = "binomial"
    return Bootstrap(points, acc, inf, source, n_boot, seed)


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of finite ``samples`` (NaN, NaN when none is finite)."""
    s = np.asarray(samples, dtype=float)
    s = s[np.isfinite(s) | np.isposinf(s)]
    if s.size == 0:
        return (math.nan, math.nan)
    q = (1 - level) / 2
    return (float(np.quantile(s, q)), float(np.quantile(s, 1 - q)))


def seed_spread(results: pd.DataFrame) -> pd.DataFrame:
    """Spread of family accuracy across training seeds (needs a ``seed`` column; else empty).

    One row per (student, arm, family) with ``n_seeds``, ``mean``, ``std`` (sample, ddof=1),
    ``min``, ``max`` and ``range_points`` (max − min in percentage points); only points with two or
    more seeds. Each seed's family accuracy pools its benchmarks weighted by ``n``.

    Example::

        seed_spread(results)   # empty DataFrame when the table has no seed column
    """
    cols = KEY + ["n_seeds", "mean", "std", "min", "max", "range_points"]
    if "seed" not in results.columns:
        return pd.DataFrame(columns=cols)
    per_seed = []
    for seed, g in results.groupby("seed", sort=True):
        agg = aggregate_by_family(g)
        agg["seed"] = seed
        per_seed.append(agg[KEY + ["seed", "accuracy"]])
    if not per_seed:
        return pd.DataFrame(columns=cols)
    df = pd.concat(per_seed, ignore_index=True)
    rows: list[dict[str, Any]] = []
    for key, g in df.groupby(KEY, sort=False):
        a = g["accuracy"].to_numpy(dtype=float)
        a = a[np.isfinite(a)]
        if a.size < 2:
            continue
        rows.append({**dict(zip(KEY, key)), "n_seeds": int(a.size), "mean": float(a.mean()),
                     "std": float(a.std(ddof=1)), "min": float(a.min()), "max": float(a.max()),
                     "range_points": float(100 * (a.max() - a.min()))})
    return pd.DataFrame(rows, columns=cols)
