"""Total cost (training + Q × inference), frontiers on it, budgets, and break-even query counts.

Serving a model for ``Q`` queries costs ``total(Q) = train_flops + Q · inference_flops_per_query``.
A reasoning student is often cheaper to train than a larger IFT student of the same accuracy but
dearer per query (or the other way round), so which point is on the frontier depends on ``Q``.

* :func:`total_cost_frontiers` — the Pareto frontier per family on ``total(Q)`` for given ``Q``.
* :func:`budget_segments` — reading a frontier as "best measured point within a budget": the point
  at the start of each segment is the most accurate one affordable until the next frontier point.
* :func:`break_even` — for two points, the ``Q`` at which their total costs are equal.
* :func:`frontier_regimes` — the ranges of ``Q`` over which a family's total-cost frontier keeps
  the same points; the boundaries are the break-even ``Q`` where the verdict flips.

Example::

    from scale_or_reason.analysis.total_cost import break_even, frontier_regimes, total_cost_frontiers
    a = {"train_flops": 1e15, "inference_flops": 4e9}     # bigger IFT student
    b = {"train_flops": 3e15, "inference_flops": 2e9}     # smaller reasoning student
    q = break_even(a, b)        # 1e6: a is cheaper in total below a million queries, b above
    assert q["queries"] == 1e6 and q["cheaper_below"] == "a"
    # fronts = total_cost_frontiers(results, queries=[1e3, 1e6])
    # regimes = frontier_regimes(results, "Math-OE")
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
import pandas as pd

from scale_or_reason.analysis.arms import ordered_families
from scale_or_reason.analysis.formatting import finite, jsonable
from scale_or_reason.analysis.frontier import (
    Frontier,
    aggregate_by_family,
    family_convention,
    pareto_frontier,
)

TOTAL_AXIS = "total_flops"
"""Axis name of total-cost frontiers (``Frontier.queries`` holds Q)."""


def total_cost(agg: pd.DataFrame, queries: float) -> pd.Series:
    """``train_flops + queries × inference_flops_mean`` per row (NaN where either is missing)."""
    if not finite(queries) or queries < 0:
        raise ValueError(f"the number of queries must be a finite number >= 0, got {queries!r}")
    return agg["train_flops"].astype(float) + float(queries) * agg["inference_flops_mean"].astype(float)


def _points(front: pd.DataFrame, cost: pd.Series) -> list[dict[str, Any]]:
    return [
        {
            "student": str(r["student"]),
            "arm": str(r["arm"]),
            "parameters": r["parameters"],
            "cost": float(cost.loc[i]),
            "accuracy": float(r["accuracy"]),
            "train_flops": float(r["train_flops"]),
            "inference_flops": float(r["inference_flops_mean"]),
        }
        for i, r in front.iterrows()
    ]


def total_cost_frontiers(results: pd.DataFrame, queries: Iterable[float]) -> list[Frontier]:
    """Frontiers on total cost ``train + Q × inference`` per family, one per ``Q`` in ``queries``.

    Points lacking training or inference FLOPs are left out. Points carry ``train_flops`` and
    ``inference_flops`` besides ``cost`` (the total).

    Example::

        for f in total_cost_frontiers(results, [1e6]):
            print(f.family, f.queries, [(p["student"], p["arm"]) for p in f.points])
    """
    agg = aggregate_by_family(results)
    out = []
    for family in ordered_families(agg):
        fam = agg[agg["family"] == family].copy()
        convention = family_convention(fam, family)
        for q in queries:
            fam["_total"] = total_cost(fam, q)
            front = pareto_frontier(fam, "_total")
            out.append(Frontier(family, TOTAL_AXIS, _points(front, fam["_total"]), convention, float(q)))
    return out


def budget_segments(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Frontier points read as budgets: ``[{"from", "to", "arm", "points"}]``, consecutive points of
    the same arm merged. ``to`` is the next segment's ``from`` (``None`` for the last: no limit).

    Within ``[from, to)`` the most accurate measured point affordable is one of ``points`` of that
    segment (the last one at or below the budget). Below the first ``from`` nothing measured fits.

    Example::

        segs = budget_segments(frontier.points)
        # [{"from": 2e9, "to": 5e9, "arm": "ift", "points": ["s1", "s2"]}, ...]
    """
    segs: list[dict[str, Any]] = []
    for p in points:
        if segs and segs[-1]["arm"] == p["arm"]:
            segs[-1]["points"].append(p["student"])
            continue
        if segs:
            segs[-1]["to"] = p["cost"]
        segs.append({"from": p["cost"], "to": None, "arm": p["arm"], "points": [p["student"]]})
    return segs


def break_even(a: dict[str, Any], b: dict[str, Any], names: tuple[str, str] = ("a", "b")) -> dict[str, Any]:
    """Number of queries at which ``a`` and ``b`` cost the same in total (training + Q × inference).

    ``a`` and ``b`` are dicts with ``train_flops`` and ``inference_flops`` (per query). Returns
    ``{"queries": Q*, "cheaper_below": name, "cheaper_above": name}`` when the cheaper point changes
    at ``Q* > 0``; ``{"queries": None, "cheaper": name or "equal"}`` when one is never dearer
    (``"cheaper": None`` when a cost is missing).

    Example::

        break_even({"train_flops": 1, "inference_flops": 3}, {"train_flops": 5, "inference_flops": 1})
        # {"queries": 2.0, "cheaper_below": "a", "cheaper_above": "b"}
    """
    ta, ia, tb, ib = (a.get("train_flops"), a.get("inference_flops"), b.get("train_flops"),
                      b.get("inference_flops"))
    if not all(finite(v) for v in (ta, ia, tb, ib)):
        return {"queries": None, "cheaper": None}
    dt, di = float(tb) - float(ta), float(ib) - float(ia)   # b minus a
    if dt * di < 0:
        q = -dt / di
        below, above = (names[0], names[1]) if dt > 0 else (names[1], names[0])
        return {"queries": q, "cheaper_below": below, "cheaper_above": above}
    if dt == 0 and di == 0:
        return {"queries": None, "cheaper": "equal"}
    return {"queries": None, "cheaper": names[0] if (dt >= 0 and di >= 0) else names[1]}


def frontier_regimes(results: pd.DataFrame, family: str, max_queries: float = 1e15) -> list[dict[str, Any]]:
    """Ranges of Q over which the family's total-cost frontier keeps the same points.

    Returns ``[{"q_from", "q_to", "points": [[student, arm], ...], "arms": {arm: count}}]`` in
    increasing Q, starting at Q = 0 (training cost only) and ending with ``q_to = None``. The
    frontier can only change where two points' total costs cross, so those crossings (up to
    ``max_queries``) are checked; consecutive ranges with the same points are merged. Empty when
    no point has both costs.

    Example::

        for r in frontier_regimes(results, "Math-OE"):
            print(r["q_from"], r["q_to"], r["arms"])
    """
    agg = aggregate_by_family(results)
    fam = agg[(agg["family"] == family)].copy()
    ok = fam["train_flops"].map(finite) & fam["inference_flops_mean"].map(finite) & fam["accuracy"].map(finite)
    fam = fam[ok]
    if fam.empty:
        return []
    t = fam["train_flops"].to_numpy(dtype=float)
    i = fam["inference_flops_mean"].to_numpy(dtype=float)
    dt = t[:, None] - t[None, :]
    di = i[:, None] - i[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = -dt / di
    cross = np.unique(q[np.isfinite(q) & (q > 0) & (q <= max_queries)])
    bounds = [0.0, *cross.tolist()]
    uppers: list[float | None] = [*bounds[1:], None]
    regimes: list[dict[str, Any]] = []
    for lo, hi in zip(bounds, uppers):
        probe = (lo * 2 if lo > 0 else 1.0) if hi is None else (hi / 2 if lo == 0 else math.sqrt(lo * hi))
        fam["_total"] = t + probe * i
        front = pareto_frontier(fam, "_total")
        pts = [(str(r["student"]), str(r["arm"])) for _, r in front.iterrows()]
        if regimes and regimes[-1]["points"] == pts:
            regimes[-1]["q_to"] = hi
            continue
        arms: dict[str, int] = {}
        for _, arm in pts:
            arms[arm] = arms.get(arm, 0) + 1
        regimes.append({"q_from": lo, "q_to": hi, "points": pts, "arms": arms})
    return jsonable(regimes)


def arm_regimes(regimes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`frontier_regimes` merged by arm composition only (which arms, how many points each)."""
    out: list[dict[str, Any]] = []
    for r in regimes:
        if out and out[-1]["arms"] == r["arms"]:
            out[-1]["q_to"] = r["q_to"]
            continue
        out.append({"q_from": r["q_from"], "q_to": r["q_to"], "arms": dict(r["arms"])})
    return out
