"""Paper-style figures: accuracy vs training / inference FLOPs per family, and generated tokens.

Figures are drawn on matplotlib's Agg canvas through the object API (no ``pyplot``, no global
backend switch), so they render headless and leave an interactive session's backend alone. Each
figure is saved as PNG and SVG (atomically); the functions return the written paths.

* ``plot_frontiers``: one panel per family (2x2 for the four families), x = FLOPs (log), y =
  accuracy (%), points labelled by student, IFT and reasoning (and any curriculum arm) with
  distinct marker + colour and one shared legend, 95% Wilson intervals as error bars, the Pareto
  frontier of the learned measured points as a step line (points that did not learn greyed), the family's trivial baseline as a dashed line.
  With ``fits`` (:class:`~scale_or_reason.analysis.fits.FitSet`), each arm's fitted saturating
  curve is drawn in its colour — solid over the arm's measured cost range, dotted beyond it — and,
  with ``teacher_accuracy``, the teacher as a dotted horizontal line (paper Figs. 2–3).
* ``plot_tokens``: mean generated tokens per family, students by size on x, one series per arm,
  log y.
The other figures (Figs. 1, 4, 5–6, 14, App. H) are in :mod:`.paper`, which imports the shared styling
from here; ``plot_all`` (:mod:`scale_or_reason.analysis.figures`) draws every figure of the report.

Example::

    from pathlib import Path
    from scale_or_reason.analysis.figures.frontiers import plot_frontiers
    plot_frontiers(results, Path("report/figures"), "train_flops", fits=fits)
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
from matplotlib.ticker import (
    FuncFormatter,
    LogFormatterSciNotation,
    LogLocator,
    NullFormatter,
)

from scale_or_reason.analysis.arms import (
    IFT,
    REASONING,
    arm_kind,
    ordered_arms,
    ordered_families,
    ordered_students,
)
from scale_or_reason.analysis.equivalence import learned
from scale_or_reason.analysis.formatting import atomic_path, finite
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
_UNLEARNED_COLOUR = "#bbbbbb"
_BASELINE_COLOUR = "#777777"
_TEACHER_COLOUR = "#2f2f2f"


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


def tidy_log_axis(ax: Any, which: str = "x", plain: bool = False) -> None:
    """Readable ticks on a log axis: no labels on minor ticks (they collide), and over less than
    two decades labelled major ticks at 1, 2 and 5 × 10^k (``plain``: as plain numbers)."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    lo, hi = ax.get_xlim() if which == "x" else ax.get_ylim()
    if lo > 0 and hi > 0 and math.log10(hi / lo) < 2:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}") if plain
                                 else LogFormatterSciNotation(labelOnlyBase=False))
    axis.set_minor_formatter(NullFormatter())


def accuracy_limits(ax: Any, values_pct: Any) -> None:
    """y limits for accuracy in %: the data padded by 5 points, at least 10 points tall, in [-2, 102]."""
    v = np.asarray(values_pct, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return
    lo, hi = max(-2.0, float(v.min()) - 5), min(102.0, float(v.max()) + 5)
    if hi - lo < 10:
        mid = (hi + lo) / 2
        lo, hi = max(-2.0, mid - 5), min(102.0, mid + 5)
        if hi - lo < 10:
            lo, hi = (-2.0, 8.0) if lo <= -2.0 else (92.0, 102.0)
    ax.set_ylim(lo, hi)


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
            fig.set_layout_engine("none")  # laid out once: the next format reuses the positions
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
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4),
               frameon=False)


def plot_frontiers(
    results: pd.DataFrame,
    out_dir: Path,
    axis: str = "train_flops",
    *,
    stem: str | None = None,
    dpi: int = 150,
    fits: Any = None,
    teacher_accuracy: dict[str, float] | None = None,
) -> list[Path]:
    """Accuracy vs FLOPs (``axis``: ``'train_flops'`` or ``'inference_flops'``), one panel per family.

    Writes ``<stem>.png`` and ``<stem>.svg`` under ``out_dir`` (default stem
    ``accuracy_vs_<axis>``) and returns their paths; ``[]`` when no row has a positive cost on the
    axis. Points with a non-positive or missing cost cannot sit on a log axis and are left out of
    the panel. ``fits`` adds fitted curves, ``teacher_accuracy`` the teacher line (see above).

    Example::

        png, svg = plot_frontiers(results, Path("figures"), "inference_flops")
    """
    if axis not in AXES:
        raise ValueError(f"unknown axis {axis!r}; expected one of {list(AXES)}")
    agg = aggregate_by_family(results)
    if agg.empty:
        return []
    cost_col = AXES[axis]
    costs = agg[cost_col].astype(float)
    if not (np.isfinite(costs) & (costs > 0)).any():
        return []
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
            ok = pts.apply(learned, axis=1).to_numpy(dtype=bool)
            # points that did not learn (95% interval not above the baseline) are drawn, greyed
            colours = [st["color"] if k else _UNLEARNED_COLOUR for k in ok]
            ax.scatter(x, y, marker=st["marker"], c=colours, s=42, zorder=3,
                       edgecolors="white", linewidths=0.5)
            for xi, yi, label, c in zip(x, y, pts["student"].astype(str), colours):
                ax.annotate(label, (xi, yi), xytext=(4, 4), textcoords="offset points",
                            fontsize=7, color=c)
        if fits is not None and not fam.empty:
            xlo, xhi = float(fam[cost_col].min()), float(fam[cost_col].max())
            for arm, st in styles.items():
                fit = fits.get(family, arm, axis)
                if fit is None:
                    continue
                inner = np.geomspace(fit.cost_min, fit.cost_max, 80)
                ax.plot(inner, 100 * fit.predict(inner), color=st["color"], linewidth=1.3, alpha=0.85,
                        zorder=2)
                for lo, hi in ((xlo, fit.cost_min), (fit.cost_max, xhi)):
                    if hi > lo * 1.0001:
                        g = np.geomspace(lo, hi, 30)
                        ax.plot(g, 100 * fit.predict(g), color=st["color"], linewidth=1, alpha=0.6,
                                linestyle=":", zorder=2)
        if teacher_accuracy and finite(teacher_accuracy.get(family)):
            ax.axhline(100 * float(teacher_accuracy[family]), color=_TEACHER_COLOUR, linestyle=":",
                       linewidth=1.2, zorder=0)
        front = pareto_frontier(fam[fam.apply(learned, axis=1)] if not fam.empty else fam, cost_col)
        if not front.empty:
            fx = front[cost_col].to_numpy(dtype=float)
            fy = 100 * front["accuracy"].to_numpy(dtype=float)
            xmax = float(fam[cost_col].max())
            if xmax > fx[-1]:
                fx, fy = np.append(fx, xmax), np.append(fy, fy[-1])
            ax.step(fx, fy, where="post", color=_FRONTIER_COLOUR, linewidth=1.2, zorder=1)
        base = fam["baseline"].astype(float)
        base = base[np.isfinite(base)]
        if not base.empty and not fam.empty:
            ax.axhline(100 * float(base.mean()), color=_BASELINE_COLOUR, linestyle="--",
                       linewidth=1, zorder=0)
        if not fam.empty:
            ax.set_xscale("log")
            tidy_log_axis(ax, "x")
        else:
            ax.text(0.5, 0.5, "no points with positive cost", transform=ax.transAxes,
                    ha="center", va="center", color="#999999")
        ax.set_title(family)
        ax.set_xlabel(_AXIS_LABEL[axis] + _conventions(fam))
        ax.set_ylabel("accuracy (%)")
        ax.grid(True, which="major", alpha=0.3)
    extra = [
        Line2D([], [], color=_FRONTIER_COLOUR, linewidth=1.2, label="frontier (learned measured points)"),
        Line2D([], [], color=_UNLEARNED_COLOUR, marker="o", linestyle="none",
               label="not learned (95% interval not above the baseline)"),
        Line2D([], [], color=_BASELINE_COLOUR, linestyle="--", linewidth=1, label="trivial baseline"),
    ]
    if fits is not None and any(f.axis == axis for f in fits.fits):
        extra.append(Line2D([], [], color="#555555", linewidth=1.3,
                            label="fitted curve (dotted: extrapolated)"))
    if teacher_accuracy:
        extra.append(Line2D([], [], color=_TEACHER_COLOUR, linestyle=":", linewidth=1.2, label="teacher"))
    _legend(fig, styles, extra)
    return _save(fig, Path(out_dir), stem or f"accuracy_vs_{axis}", dpi)


def plot_tokens(
    results: pd.DataFrame, out_dir: Path, *, stem: str = "generated_tokens", dpi: int = 150
) -> list[Path]:
    """Mean generated tokens per query, one panel per family, students by size on x, log y.

    Writes ``<stem>.png`` and ``<stem>.svg``; returns their paths (``[]`` when no row has a
    positive token count).

    Example::

        png, svg = plot_tokens(results, Path("figures"))
    """
    agg = aggregate_by_family(results)
    tokens = agg["generated_tokens_mean"].astype(float)
    if agg.empty or not (np.isfinite(tokens) & (tokens > 0)).any():
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
