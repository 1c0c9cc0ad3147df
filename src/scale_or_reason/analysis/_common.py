"""Small helpers shared by the analysis modules: ordering, formatting, Wilson intervals, atomic writes.

Private to ``scale_or_reason.analysis``; nothing here is part of the public API.

Example::

    from scale_or_reason.analysis._common import fmt_params, wilson
    assert fmt_params(7.6e9) == "7.6B"
    low, high = wilson(50, 100)
    assert low < 0.5 < high
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scale_or_reason.records import FAMILIES
from scale_or_reason.util import atomic_path, wilson_interval


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
        p = float(params) if _finite(params) else math.inf
        sizes[student] = min(sizes.get(student, math.inf), p)
    return sorted(sizes, key=lambda s: (sizes[s], s))


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def finite(x: Any) -> bool:
    """True when ``x`` converts to a finite float (``None``, NaN, inf and strings are not)."""
    return _finite(x)


def wilson(successes: float, n: float) -> tuple[float, float]:
    """95% Wilson score interval for ``successes`` out of ``n`` (NaN, NaN when ``n`` is not positive)."""
    if not _finite(n) or n <= 0 or not _finite(successes):
        return (math.nan, math.nan)
    return wilson_interval(min(max(float(successes), 0.0), float(n)), float(n))


def fmt_pct(x: Any, digits: int = 1) -> str:
    """Accuracy fraction as a percentage: ``0.4567 -> '45.7%'`` (``'n/a'`` when missing)."""
    return f"{100 * float(x):.{digits}f}%" if _finite(x) else "n/a"


def fmt_points(x: Any) -> str:
    """A difference of fractions in percentage points, unsigned: ``0.123 -> '12.3'``."""
    return f"{abs(100 * float(x)):.1f}" if _finite(x) else "n/a"


def fmt_flops(x: Any) -> str:
    return f"{float(x):.3g}" if _finite(x) else "n/a"


def fmt_params(x: Any) -> str:
    """Parameter count in short form: ``7.6e9 -> '7.6B'``, ``1.25e7 -> '12.5M'``."""
    if not _finite(x):
        return "n/a"
    v = float(x)
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{suffix}"
    return f"{v:.0f}"


def fmt_tokens(x: Any) -> str:
    return f"{float(x):.1f}" if _finite(x) else "n/a"


def jsonable(obj: Any) -> Any:
    """Recursively convert numpy/pandas scalars to Python ones and NaN/inf to ``None`` (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if obj is None or obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def atomic_write_text(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


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


def fmt_ratio(x: Any) -> str:
    """A cost ratio: ``2.345 -> '2.3×'`` (one decimal below 10, none above)."""
    if not _finite(x):
        return "n/a"
    v = float(x)
    return f"{v:.1f}×" if v < 10 else f"{v:.0f}×"
