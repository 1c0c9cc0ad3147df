"""The paper's other figures, drawn from a results table and (when available) per-sample answers.

Each function writes ``<stem>.png`` and ``<stem>.svg`` under ``out_dir`` and returns their paths,
or ``[]`` when the inputs do not hold what the figure needs (say, no curriculum arms for Figs. 5–6,
no answers for App. H); :func:`figure_gaps` says why. Headless: matplotlib's object API on Agg.

* :func:`plot_token_factor` — Fig. 1: extra-token factor (reasoning / IFT mean generated tokens)
  vs accuracy gain (reasoning − IFT, points), one marker per benchmark x student.
* :func:`plot_length_by_correctness` — Fig. 4: mean generated tokens of correct and of incorrect
  answers by student size, per family and arm.
* :func:`plot_rho` — Figs. 5–6: accuracy (``metric='accuracy'``) or mean generated tokens
  (``metric='tokens'``) vs reasoning share ρ for sequential and mixed curricula; IFT is ρ = 0 and
  reasoning ρ = 1 of both curves.
* :func:`plot_inference_scaling` — Fig. 14: inference FLOPs per query vs parameters (log-log),
  with the power-law fit per family and arm.
* :func:`plot_early_stopping` — App. H: accuracy vs inference FLOPs per query when answers are cut
  at their 0/25/50/75/100th length percentiles (definition in :mod:`.early_stop`).

Example::

    from pathlib import Path
    from scale_or_reason.analysis.figures.paper import plot_rho, plot_token_factor
    plot_token_factor(results, Path("figures"))
    plot_rho(results, Path("figures"), metric="accuracy")   # [] without sequential/mixed arms
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from scale_or_reason.analysis.arms import (
    CURRICULA,
    IFT,
    REASONING,
    arm_kind,
    ordered_arms,
    ordered_families,
    ordered_students,
    parse_arm,
)
from scale_or_reason.analysis.early_stop import early_stopping
from scale_or_reason.analysis.figures.frontiers import (
    _legend,
    _new_figure,
    _save,
    accuracy_limits,
    arm_styles,
    tidy_log_axis,
)
from scale_or_reason.analysis.fits import inference_power_laws
from scale_or_reason.analysis.frontier import aggregate_by_family

_FAMILY_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_KIND_LINES = {"sequential": "-", "mixed": "--"}


def _student_colours(students: list[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    n = max(1, len(students) - 1)
    return {s: cmap(0.9 * i / n) for i, s in enumerate(students)}


def _plain_log(ax: Any, which: str) -> None:
    fmt = FuncFormatter(lambda v, _pos: f"{v:g}")
    axis = ax.yaxis if which == "y" else ax.xaxis
    axis.set_major_formatter(fmt)


def _pos(x: Any) -> bool:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return False
    return np.isfinite(v) and v > 0


def token_factor_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per (family, benchmark, student): IFT and reasoning accuracy and tokens, ``factor`` =
    reasoning / IFT mean generated tokens, ``gain_points`` = 100 × (reasoning − IFT accuracy)."""
    df = results.copy()
    df["_kind"] = df["arm"].map(arm_kind)
    keys = ["family", "benchmark", "student"]
    ift = df[df["_kind"] == IFT].drop_duplicates(keys).set_index(keys)
    rsn = df[df["_kind"] == REASONING].drop_duplicates(keys).set_index(keys)
    both = ift.index.intersection(rsn.index)
    out = pd.DataFrame({
        "parameters": ift.loc[both, "parameters"].astype(float),
        "ift_accuracy": ift.loc[both, "accuracy"].astype(float),
        "reasoning_accuracy": rsn.loc[both, "accuracy"].astype(float),
        "ift_tokens": ift.loc[both, "generated_tokens_mean"].astype(float),
        "reasoning_tokens": rsn.loc[both, "generated_tokens_mean"].astype(float),
    }, index=both)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["factor"] = out["reasoning_tokens"] / out["ift_tokens"]
    out["gain_points"] = 100 * (out["reasoning_accuracy"] - out["ift_accuracy"])
    return out.reset_index()


def plot_token_factor(results: pd.DataFrame, out_dir: Path, *, stem: str = "token_factor_vs_gain",
                      dpi: int = 150) -> list[Path]:
    """Fig. 1: extra-token factor vs accuracy gain, one marker per benchmark x student.

    Colour = student (by size), marker = family; dashed line: no gain. ``[]`` when no benchmark
    has both arms with positive token means.
    """
    t = token_factor_table(results)
    t = t[np.isfinite(t["factor"]) & (t["factor"] > 0) & np.isfinite(t["gain_points"])]
    if t.empty:
        return []
    students = [s for s in ordered_students(results) if s in set(t["student"])]
    colours = _student_colours(students)
    families = ordered_families(t)
    markers = {f: _FAMILY_MARKERS[i % len(_FAMILY_MARKERS)] for i, f in enumerate(families)}
    fig, (ax,) = _new_figure(1, "Extra tokens of reasoning vs its accuracy gain over IFT")
    for _, r in t.iterrows():
        ax.scatter(r["factor"], r["gain_points"], color=colours[r["student"]], marker=markers[r["family"]],
                   s=46, edgecolors="white", linewidths=0.5, zorder=3)
    ax.axhline(0, color="#777777", linestyle="--", linewidth=1, zorder=1)
    ax.set_xscale("log")
    tidy_log_axis(ax, "x", plain=True)
    ax.set_xlabel("extra-token factor (reasoning / IFT mean generated tokens)")
    ax.set_ylabel("accuracy gain of reasoning (points)")
    ax.grid(True, alpha=0.3)
    handles = [Line2D([], [], linestyle="none", marker="o", color=colours[s], label=s) for s in students]
    handles += [Line2D([], [], linestyle="none", marker=markers[f], color="#555555", label=f) for f in families]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6), frameon=False,
               fontsize=8)
    return _save(fig, Path(out_dir), stem, dpi)


def plot_length_by_correctness(results: pd.DataFrame, out_dir: Path, *,
                               stem: str = "length_correct_vs_incorrect", dpi: int = 150) -> list[Path]:
    """Fig. 4: mean generated tokens of correct (solid, filled) and incorrect (dashed, open)
    answers by student size, one panel per family, one colour per arm (log y)."""
    agg = aggregate_by_family(results)
    if agg.empty:
        return []
    c = agg["generated_tokens_correct_mean"].astype(float)
    i = agg["generated_tokens_incorrect_mean"].astype(float)
    if not ((np.isfinite(c) & (c > 0)) | (np.isfinite(i) & (i > 0))).any():
        return []
    families = ordered_families(agg)
    students = ordered_students(agg)
    xpos = {s: k for k, s in enumerate(students)}
    styles = arm_styles(ordered_arms(agg))
    fig, axes = _new_figure(len(families), "Answer length of correct vs incorrect answers")
    for ax, family in zip(axes, families):
        fam = agg[agg["family"] == family]
        drawn = False
        for arm, st in styles.items():
            pts = fam[fam["arm"] == arm]
            if pts.empty:
                continue
            x = np.array([xpos[s] for s in pts["student"].astype(str)], dtype=float)
            order = np.argsort(x)
            for col, ls, face in (("generated_tokens_correct_mean", "-", st["color"]),
                                  ("generated_tokens_incorrect_mean", "--", "white")):
                y = pts[col].to_numpy(dtype=float)[order]
                ok = np.isfinite(y) & (y > 0)
                if not ok.any():
                    continue
                drawn = True
                ax.plot(x[order][ok], y[ok], linestyle=ls, color=st["color"], linewidth=1, alpha=0.8)
                ax.scatter(x[order][ok], y[ok], marker=st["marker"], facecolors=face,
                           edgecolors=st["color"], s=40, zorder=3)
        if drawn:
            ax.set_yscale("log")
            _plain_log(ax, "y")
        ax.set_xticks(range(len(students)), students, rotation=30 if len(students) > 5 else 0, fontsize=8)
        ax.set_xlim(-0.6, len(students) - 0.4)
        ax.set_title(family)
        ax.set_xlabel("student (by size)")
        ax.set_ylabel("mean generated tokens")
        ax.grid(True, axis="y", alpha=0.3)
    _legend(fig, styles, [
        Line2D([], [], color="#555555", linestyle="-", marker="o", label="correct answers"),
        Line2D([], [], color="#555555", linestyle="--", marker="o", markerfacecolor="white",
               label="incorrect answers"),
    ])
    return _save(fig, Path(out_dir), stem, dpi)


def rho_table(results: pd.DataFrame) -> pd.DataFrame:
    """Family-level points of each curriculum kind with their ρ; IFT (ρ=0) and reasoning (ρ=1)
    rows are repeated under each curriculum kind present. Columns: family, student, kind, rho,
    accuracy, tokens."""
    agg = aggregate_by_family(results)
    parsed = agg["arm"].map(parse_arm)
    agg = agg.assign(_kind=[p[0] for p in parsed], _rho=[p[1] for p in parsed])
    kinds = [k for k in CURRICULA if (agg["_kind"] == k).any()]
    rows = []
    for kind in kinds:
        sel = agg[agg["_kind"].isin([kind, IFT, REASONING])]
        for _, r in sel.iterrows():
            rows.append({"family": r["family"], "student": r["student"], "kind": kind, "rho": r["_rho"],
                         "accuracy": r["accuracy"], "tokens": r["generated_tokens_mean"],
                         "arm": r["arm"]})
    return pd.DataFrame(rows, columns=["family", "student", "kind", "rho", "accuracy", "tokens", "arm"])


def plot_rho(results: pd.DataFrame, out_dir: Path, *, metric: str = "accuracy", stem: str | None = None,
             dpi: int = 150) -> list[Path]:
    """Figs. 5 (``metric='accuracy'``) and 6 (``metric='tokens'``): the metric vs reasoning share ρ.

    One panel per family; one line per student (colour) and curriculum (solid: sequential, dashed:
    mixed). ``[]`` when the results have no ``sequential:ρ`` / ``mixed:ρ`` arm.
    """
    if metric not in ("accuracy", "tokens"):
        raise ValueError(f"metric must be 'accuracy' or 'tokens', got {metric!r}")
    t = rho_table(results)
    if t.empty:
        return []
    agg = aggregate_by_family(results)
    families = ordered_families(t)
    students = [s for s in ordered_students(agg) if s in set(t["student"])]
    colours = _student_colours(students)
    title = ("Accuracy vs reasoning share ρ" if metric == "accuracy"
             else "Mean generated tokens vs reasoning share ρ")
    fig, axes = _new_figure(len(families), title)
    for ax, family in zip(axes, families):
        fam = t[t["family"] == family]
        drawn = False
        for (student, kind), g in fam.groupby(["student", "kind"], sort=False):
            g = g.sort_values("rho")
            y = g[metric].to_numpy(dtype=float)
            x = g["rho"].to_numpy(dtype=float)
            ok = np.isfinite(x) & np.isfinite(y) & ((y > 0) if metric == "tokens" else True)
            if not ok.any():
                continue
            drawn = True
            yy = 100 * y[ok] if metric == "accuracy" else y[ok]
            ax.plot(x[ok], yy, linestyle=_KIND_LINES[kind], marker="o", color=colours[student],
                    linewidth=1.2, markersize=4)
        if drawn and metric == "tokens":
            ax.set_yscale("log")
            _plain_log(ax, "y")
            tidy_log_axis(ax, "y")
        if drawn and metric == "accuracy":
            accuracy_limits(ax, 100 * fam["accuracy"].to_numpy(dtype=float))
        ax.set_xlim(-0.05, 1.05)
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
        ax.set_title(family)
        ax.set_xlabel("reasoning share ρ (0 = IFT, 1 = reasoning)")
        ax.set_ylabel("accuracy (%)" if metric == "accuracy" else "mean generated tokens")
        ax.grid(True, alpha=0.3)
    handles = [Line2D([], [], color=colours[s], marker="o", label=s) for s in students]
    handles += [Line2D([], [], color="#555555", linestyle=ls, label=k)
                for k, ls in _KIND_LINES.items() if (t["kind"] == k).any()]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6), frameon=False)
    return _save(fig, Path(out_dir), stem or f"rho_{metric}", dpi)


def plot_inference_scaling(results: pd.DataFrame, out_dir: Path, *, stem: str = "inference_flops_vs_size",
                           dpi: int = 150) -> list[Path]:
    """Fig. 14: inference FLOPs per query vs parameters (log-log) per family, points per arm, with
    the fitted power law ``c · N^e`` (N in billions; equation in each panel's legend)."""
    agg = aggregate_by_family(results)
    if agg.empty:
        return []
    ok = agg["parameters"].map(_pos) & agg["inference_flops_mean"].map(_pos)
    if not ok.any():
        return []
    laws = {(p.family, p.arm): p for p in inference_power_laws(agg)}
    families = ordered_families(agg[ok])
    styles = arm_styles(ordered_arms(agg))
    fig, axes = _new_figure(len(families), "Inference FLOPs per query vs student size")
    for ax, family in zip(axes, families):
        fam = agg[(agg["family"] == family) & ok]
        handles = []
        for arm, st in styles.items():
            pts = fam[fam["arm"] == arm]
            if pts.empty:
                continue
            n = pts["parameters"].to_numpy(dtype=float)
            y = pts["inference_flops_mean"].to_numpy(dtype=float)
            ax.scatter(n, y, marker=st["marker"], color=st["color"], s=40, zorder=3,
                       edgecolors="white", linewidths=0.5)
            law = laws.get((family, arm))
            if law is not None:
                grid = np.geomspace(n.min(), n.max(), 50)
                line, = ax.plot(grid, law.predict(grid), color=st["color"], linewidth=1.1,
                                label=f"{st['label']}: {law.equation()}")
                handles.append(line)
        ax.set_xscale("log")
        ax.set_yscale("log")
        tidy_log_axis(ax, "x")
        tidy_log_axis(ax, "y")
        ax.set_title(family)
        ax.set_xlabel("parameters")
        ax.set_ylabel("inference FLOPs per query")
        ax.grid(True, which="major", alpha=0.3)
        if handles:
            ax.legend(handles=handles, fontsize=7, loc="upper left", frameon=False,
                      title="power law, N in billions", title_fontsize=7)
    _legend(fig, styles, [])
    return _save(fig, Path(out_dir), stem, dpi)


def plot_early_stopping(answers: pd.DataFrame | None, out_dir: Path, *, table: pd.DataFrame | None = None,
                        stem: str = "early_stopping", dpi: int = 150) -> list[Path]:
    """App. H: accuracy vs inference FLOPs per query (mean tokens when FLOPs are missing) with
    answers cut at length percentiles; one line per student x arm from the 0th to the 100th
    percentile (large marker: no cut). ``table`` reuses :func:`early_stopping` output."""
    es = table if table is not None else (early_stopping(answers) if answers is not None else None)
    if es is None or es.empty:
        return []
    use_flops = es["inference_flops_mean"].map(_pos).all()
    xcol = "inference_flops_mean" if use_flops else "tokens_mean"
    families = ordered_families(es)
    styles = arm_styles(ordered_arms(es))
    fig, axes = _new_figure(len(families), "Early stopping at answer-length percentiles")
    for ax, family in zip(axes, families):
        fam = es[es["family"] == family]
        drawn = False
        for (student, arm), g in fam.groupby(["student", "arm"], sort=False):
            g = g.sort_values("percentile")
            x = g[xcol].to_numpy(dtype=float)
            y = 100 * g["accuracy"].to_numpy(dtype=float)
            ok = np.isfinite(x) & (x > 0) & np.isfinite(y)
            if not ok.any():
                continue
            drawn = True
            st = styles[arm]
            ax.plot(x[ok], y[ok], color=st["color"], marker=st["marker"], markersize=3, linewidth=0.9,
                    alpha=0.7)
            full = g[g["percentile"] == g["percentile"].max()]
            ax.scatter(full[xcol], 100 * full["accuracy"], color=st["color"], marker=st["marker"], s=50,
                       edgecolors="white", linewidths=0.5, zorder=3)
            ax.annotate(str(student), (float(full[xcol].iloc[0]), float(100 * full["accuracy"].iloc[0])),
                        xytext=(3, 3), textcoords="offset points", fontsize=7, color=st["color"])
        if drawn:
            ax.set_xscale("log")
            tidy_log_axis(ax, "x")
            accuracy_limits(ax, 100 * fam["accuracy"].to_numpy(dtype=float))
        ax.set_title(family)
        ax.set_xlabel("inference FLOPs per query (cut answers)" if use_flops else "mean generated tokens (cut)")
        ax.set_ylabel("accuracy (%)")
        ax.grid(True, alpha=0.3)
    _legend(fig, styles, [Line2D([], [], color="#555555", marker="o", markersize=7, linestyle="none",
                                 label="no cut (100th percentile)")])
    return _save(fig, Path(out_dir), stem, dpi)


def figure_gaps(results: pd.DataFrame, answers: pd.DataFrame | None) -> dict[str, str]:
    """Why a figure would be empty: ``{figure key: reason}`` for the keys of ``plot_all``."""
    gaps: dict[str, str] = {}
    agg = aggregate_by_family(results)
    if agg.empty:
        return {k: "the results table is empty" for k in
                ("train_flops", "inference_flops", "tokens", "token_factor", "length_correct",
                 "rho_accuracy", "rho_tokens", "inference_scaling", "early_stopping")}
    for key, col in (("train_flops", "train_flops"), ("inference_flops", "inference_flops_mean")):
        if not agg[col].map(_pos).any():
            gaps[key] = f"no row has a positive {col}"
    if not agg["generated_tokens_mean"].map(_pos).any():
        gaps["tokens"] = "no row has generated token counts"
    if token_factor_table(results).pipe(lambda t: t[np.isfinite(t["factor"]) & (t["factor"] > 0)]).empty:
        gaps["token_factor"] = "needs IFT and reasoning rows of the same benchmark and student with token counts"
    if not (agg["generated_tokens_correct_mean"].map(_pos) | agg["generated_tokens_incorrect_mean"].map(_pos)).any():
        gaps["length_correct"] = "no token counts of correct / incorrect answers"
    if rho_table(results).empty:
        gaps["rho_accuracy"] = gaps["rho_tokens"] = "no sequential:ρ or mixed:ρ arm in the results"
    if not (agg["parameters"].map(_pos) & agg["inference_flops_mean"].map(_pos)).any():
        gaps["inference_scaling"] = "needs parameters and inference FLOPs"
    if answers is None or "generated_tokens" not in answers.columns:
        gaps["early_stopping"] = "needs per-sample answers (a study directory's answers/)"
    return gaps

