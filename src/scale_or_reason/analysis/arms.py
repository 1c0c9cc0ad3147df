"""The arm and family vocabulary of results tables: arm kinds, curriculum labels, canonical orders.

Example::

    from scale_or_reason.analysis.arms import arm_kind, parse_arm
    assert arm_kind("sequential:0.25") == "other"
    assert parse_arm("mixed:50%") == ("mixed", 0.5)
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from scale_or_reason.analysis.formatting import finite
from scale_or_reason.records import FAMILIES

IFT = "ift"
REASONING = "reasoning"


def arm_kind(arm: Any) -> str:
    """``'ift'``, ``'reasoning'`` or ``'other'`` (curricula such as ``'sequential:0.25'``)."""
    a = str(arm).strip().lower()
    if a == IFT:
        return IFT
    if a == REASONING:
        return REASONING
    return "other"


def arm_sort_key(arm: Any) -> tuple[int, str]:
    """IFT first, reasoning second, then every other arm by name."""
    kind = arm_kind(arm)
    return ({IFT: 0, REASONING: 1}.get(kind, 2), str(arm))


def family_sort_key(family: Any) -> tuple[int, str]:
    """The paper's four families in their canonical order, then any other label by name."""
    f = str(family)
    return (FAMILIES.index(f) if f in FAMILIES else len(FAMILIES), f)


def ordered_families(df: pd.DataFrame) -> list[str]:
    return sorted({str(f) for f in df["family"].dropna().unique()}, key=family_sort_key)


def ordered_arms(df: pd.DataFrame) -> list[str]:
    return sorted({str(a) for a in df["arm"].dropna().unique()}, key=arm_sort_key)


def ordered_students(df: pd.DataFrame) -> list[str]:
    """Students by parameter count (unknown counts last), then by label."""
    sizes: dict[str, float] = {}
    for student, params in zip(df["student"].astype(str), df["parameters"]):
        p = float(params) if finite(params) else math.inf
        sizes[student] = min(sizes.get(student, math.inf), p)
    return sorted(sizes, key=lambda s: (sizes[s], s))


CURRICULA = ("sequential", "mixed")


def parse_arm(arm: Any) -> tuple[str, float]:
    """``(kind, rho)`` of an arm label: ``'ift' -> ('ift', 0.0)``, ``'reasoning' -> ('reasoning', 1.0)``,
    ``'sequential:0.25' -> ('sequential', 0.25)``, ``'mixed:50%' -> ('mixed', 0.5)``; any other label
    is ``('other', nan)``. Never raises (results tables may carry free labels)."""
    a = str(arm).strip().lower()
    if a in (IFT, REASONING):
        return a, (0.0 if a == IFT else 1.0)
    kind, _, value = a.partition(":")
    if kind in CURRICULA and value:
        try:
            rho = float(value.rstrip("%")) / (100.0 if value.endswith("%") else 1.0)
        except ValueError:
            return "other", math.nan
        if 0.0 <= rho <= 1.0:
            return kind, rho
    return "other", math.nan


def arm_word(arm: Any) -> str:
    """Arm label for sentences: ``'IFT'``, ``'reasoning'``, or the label itself (``'sequential:0.25'``)."""
    return {IFT: "IFT", REASONING: "reasoning"}.get(arm_kind(arm), str(arm))
