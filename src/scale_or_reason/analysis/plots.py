"""Paper-style figures: accuracy vs training / inference FLOPs per family, and generated tokens.

Figures are drawn on matplotlib's Agg canvas through the object API (no ``pyplot``, no global
backend switch), so they render headless and leave an interactive session's backend alone. Each
figure is saved as PNG and SVG (atomically); the functions return the written paths.

* ``plot_frontiers``: one panel per family (2x2 for the four families), x = FLOPs (log), y =
  accuracy (%), points labelled by student, IFT and reasoning (and any curriculum arm) with
  distinct marker + colour and one shared legend, 95% Wilson intervals as error bars, the Pareto
  frontier of measured points as a step line, the family's trivial baseline as a dashed line.
* ``plot_tokens``: mean generated tokens per family, students by size on x, one series per arm,
  log y.

Example::

    from pathlib import Path
    from scale_or_reason.analysis.plots import plot_all
    paths = plot_all(results, Path("report/figures"))
    # {"train_flops": [...png, ...svg], "inference_flops": [...], "tokens": [...]}
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from scale_or_reason.analysis._common import (
    IFT,
    REASONING,
    arm_kind,
    atomic_path,
    ordered_arms,
    ordered_families,
    ordered_students,
)
from scale_or_reason.analysis.frontier import AXES, aggregate_by_family, pareto_frontier

FORMATS: tuple[str, ...] = ("png", "svg")

_AXIS_LABEL = {
    "train_flops": "training FLOPs",
    "inference_flops": "inference FLOPs per query",
}
_BASE_STYLE = {
    IFT: {"marker": "o", "color": "#1f77b4", "label": "IFT"},
    REASONING: {"marker": "^", "color": "#d62728", "label": "reasoning"},
}
_EXTRA_MARKERS = ("s", "D", "v", "P", "X", "*", "<", ">", "h")
_EXTRA_COLOURS = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#ff7f0e")
_FRONTIER_COLOUR = "#444444"
_BASELINE_COLOUR = "#777777"


def arm_styles(arms: list[str]) -> dict[str, dict[str, str]]:
    """Marker, colour and legend label per arm: IFT blue circles, reasoning red triangles, others
    (curricula) from a fixed cycle in name order, so every figure of a table agrees."""
    styles: dict[str, dict[str, str]] = {}
    extra = 0
    for arm in arms:
        kind = arm_kind(arm)
        if kind in _BASE_STYLE and not any(arm_kind(a) == kind for a in styles):
            styles[arm] = dict(_BASE_STYLE[kind])
        else:
            styles[arm] = {
                "marker": _EXTRA_MARKERS[extra % len(_EXTRA_MARKERS)],
                "color": _EXTRA_COLOURS[extra % len(_EXTRA_COLOURS)],
                "label": str(arm),
            }
            extra += 1
    return styles


def _grid(n: int) -> tuple[int, int]:
    ncols = 1 if n <= 1 else 2
    return (max(1, math.ceil(n / ncols)), ncols)


def _new_figure(n_panels: int, title: str) -> tuple[Figure, list[Any]]:
    nrows, ncols = _grid(n_panels)
    fig = Figure(figsize=(5.2 * ncols, 3.9 * nrows + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = list(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig, axes


def _save(fig: Figure, out_dir: Path, stem: str, dpi: int) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context({"svg.hashsalt": "scale-or-reason", "svg.fonttype": "path"}):
        for fmt in FORMATS:
            path = out_dir / f"{stem}.{fmt}"
            meta = {"Date": None} if fmt == "svg" else {"Software": None}
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=dpi, metadata=meta)
            paths.append(path)
    return paths


def _conventions(df: pd.DataFrame) -> str:
    convs = sorted({c for c in df["convention"].astype(str) if c and c != "nan"})
    return f" ({', '.join(convs)} convention)" if convs else ""


def _legend(fig: Figure, styles: dict[str, dict[str, str]], extra: list[Line2D]) -> None:
    handles = [
        Line2D([], [], linestyle="none", marker=s["marker"], color=s["color"], label=s["label"],
               markersize=7)
        for s in styles.values()
    ] + extra
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6),
               frameon=False)


def plot_frontiers(
    results: pd.DataFrame,
    out_dir: Path,
    axis: str = "train_flops",
    *,
    stem: str | None = None,
    dpi: int = 150,
) -> list[Path]:
    """Accuracy vs FLOPs (``axis``: ``'train_flops'`` or ``'inference_flops'``), one panel per family.

    Writes ``<stem>.png`` and ``<stem>.svg`` under ``out_dir`` (default stem
    ``accuracy_vs_<axis>``) and returns their paths; ``[]`` when the table has no rows. Points with
    a non-positive or missing cost cannot sit on a log axis and are left out of the panel.

    Example::

        png, svg = plot_frontiers(results, Path("figures"), "inference_flops")
    """
    if axis not in AXES:
        raise ValueError(f"unknown axis {axis!r}; expected one of {list(AXES)}")
    agg = aggregate_by_family(results)
    if agg.empty:
        return []
    cost_col = AXES[axis]
    families = ordered_families(agg)
    styles = arm_styles(ordered_arms(agg))
    fig, axes = _new_figure(len(families), f"Accuracy vs {_AXIS_LABEL[axis]}")
    for ax, family in zip(axes, families):
        fam = agg[agg["family"] == family]
        fam = fam[np.isfinite(fam[cost_col].astype(float)) & (fam[cost_col].astype(float) > 0)
                  & np.isfinite(fam["accuracy"].astype(float))]
        for arm, st in styles.items():
            pts = fam[fam["arm"] == arm]
            if pts.empty:
                continue
            x = pts[cost_col].to_numpy(dtype=float)
            y = 100 * pts["accuracy"].to_numpy(dtype=float)
            lo = 100 * pts["ci_low"].to_numpy(dtype=float)
            hi = 100 * pts["ci_high"].to_numpy(dtype=float)
            if np.isfinite(lo).all() and np.isfinite(hi).all():
                yerr = np.vstack([np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)])
                ax.errorbar(x, y, yerr=yerr, fmt="none", ecolor=st["color"], alpha=0.35,
                            elinewidth=1, capsize=2, zorder=2)
            ax.scatter(x, y, marker=st["marker"], color=st["color"], s=42, zorder=3,
                       edgecolors="white", linewidths=0.5)
            for xi, yi, label in zip(x, y, pts["student"].astype(str)):
                ax.annotate(label, (xi, yi), xytext=(4, 4), textcoords="offset points",
                            fontsize=7, color=st["color"])
        front = pareto_frontier(fam, cost_col)
        if not front.empty:
            fx = front[cost_col].to_numpy(dtype=float)
            fy = 100 * front["accuracy"].to_numpy(dtype=float)
            xmax = float(fam[cost_col].max())
            if xmax > fx[-1]:
                fx, fy = np.append(fx, xmax), np.append(fy, fy[-1])
            ax.step(fx, fy, where="post", color=_FRONTIER_COLOUR, linewidth=1.2, zorder=1)
        base = fam["baseline"].astype(float)
        base = base[np.isfinite(base)]
        if not base.empty:
            ax.axhline(100 * float(base.mean()), color=_BASELINE_COLOUR, linestyle="--",
                       linewidth=1, zorder=0)
        if not fam.empty:
            ax.set_xscale("log")
        else:
            ax.text(0.5, 0.5, "no points with positive cost", transform=ax.transAxes,
                    ha="center", va="center", color="#999999")
        ax.set_title(family)
        ax.set_xlabel(_AXIS_LABEL[axis] + _conventions(fam))
        ax.set_ylabel("accuracy (%)")
        ax.grid(True, which="major", alpha=0.3)
    _legend(fig, styles, [
        Line2D([], [], color=_FRONTIER_COLOUR, linewidth=1.2, label="frontier (measured points)"),
        Line2D([], [], color=_BASELINE_COLOUR, linestyle="--", linewidth=1, label="trivial baseline"),
    ])
    return _save(fig, Path(out_dir), stem or f"accuracy_vs_{axis}", dpi)


def plot_tokens(
    results: pd.DataFrame, out_dir: Path, *, stem: str = "generated_tokens", dpi: int = 150
) -> list[Path]:
    """Mean generated tokens per query, one panel per family, students by size on x, log y.

    Writes ``<stem>.png`` and ``<stem>.svg``; returns their paths (``[]`` for an empty table).

    Example::

        png, svg = plot_tokens(results, Path("figures"))
    """
    agg = aggregate_by_family(results)
    if agg.empty:
        return []
    families = ordered_families(agg)
    students = ordered_students(agg)
    arms = ordered_arms(agg)
    styles = arm_styles(arms)
    xpos = {s: i for i, s in enumerate(students)}
    width = 0.6 / max(1, len(arms))
    offsets = {a: (i - (len(arms) - 1) / 2) * width for i, a in enumerate(arms)}
    fig, axes = _new_figure(len(families), "Mean generated tokens per query")
    for ax, family in zip(axes, families):
        fam = agg[agg["family"] == family]
        any_point = False
        for arm, st in styles.items():
            pts = fam[(fam["arm"] == arm) & (fam["generated_tokens_mean"].astype(float) > 0)]
            if pts.empty:
                continue
            any_point = True
            x = np.array([xpos[s] + offsets[arm] for s in pts["student"].astype(str)])
            y = pts["generated_tokens_mean"].to_numpy(dtype=float)
            order = np.argsort(x)
            ax.plot(x[order], y[order], color=st["color"], linewidth=0.8, alpha=0.5, zorder=2)
            ax.scatter(x, y, marker=st["marker"], color=st["color"], s=42, zorder=3,
                       edgecolors="white", linewidths=0.5)
        if any_point:
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
            ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.set_xticks(range(len(students)), students, rotation=30 if len(students) > 5 else 0,
                      fontsize=8)
        ax.set_xlim(-0.6, len(students) - 0.4)
        ax.set_title(family)
        ax.set_xlabel("student (by size)")
        ax.set_ylabel("mean generated tokens")
        ax.grid(True, axis="y", which="major", alpha=0.3)
    _legend(fig, styles, [])
    return _save(fig, Path(out_dir), stem, dpi)


def plot_all(results: pd.DataFrame, out_dir: Path, *, dpi: int = 150) -> dict[str, list[Path]]:
    """Every figure of the report: ``{"train_flops": [...], "inference_flops": [...], "tokens": [...]}``.

    Example::

        paths = plot_all(results, Path("figures"))
        print(paths["train_flops"][0])   # figures/accuracy_vs_train_flops.png
    """
    out = {axis: plot_frontiers(results, out_dir, axis, dpi=dpi) for axis in AXES}
    out["tokens"] = plot_tokens(results, out_dir, dpi=dpi)
    return out
