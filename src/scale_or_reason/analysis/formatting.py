"""Numbers into words for verdicts and reports (percentages, points, FLOPs, ratios), strict JSON, atomic writes.

Example::

    from scale_or_reason.analysis.formatting import fmt_params, wilson
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

from scale_or_reason.util import atomic_path, wilson_interval


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


def fmt_ratio(x: Any) -> str:
    """A cost ratio: ``2.345 -> '2.3×'`` (one decimal below 10, none above)."""
    if not _finite(x):
        return "n/a"
    v = float(x)
    return f"{v:.1f}×" if v < 10 else f"{v:.0f}×"
