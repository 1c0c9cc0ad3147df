"""Every figure of the report: the frontier figures (:mod:`.frontiers`, Figs. 2–3 and token counts) and the
paper's other figures (:mod:`.paper`, Figs. 1, 4, 5–6, 14, App. H). ``frontiers`` holds the shared styling,
``paper`` imports it, and this module joins both in :func:`plot_all`; nothing imports back.

Example::

    from pathlib import Path
    from scale_or_reason.analysis.figures import plot_all
    paths = plot_all(results, Path("report/figures"), fits=fits, answers=answers)
    # {"train_flops": [...png, ...svg], "inference_flops": [...], "tokens": [...],
    #  "token_factor": [...], "length_correct": [...], "rho_accuracy": [], ...}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from scale_or_reason.analysis.figures.frontiers import plot_frontiers, plot_tokens
from scale_or_reason.analysis.figures.paper import (
    figure_gaps,
    plot_early_stopping,
    plot_inference_scaling,
    plot_length_by_correctness,
    plot_rho,
    plot_token_factor,
)
from scale_or_reason.analysis.frontier import AXES

__all__ = [
    "figure_gaps",
    "plot_all",
    "plot_early_stopping",
    "plot_frontiers",
    "plot_inference_scaling",
    "plot_length_by_correctness",
    "plot_rho",
    "plot_token_factor",
    "plot_tokens",
]


def plot_all(
    results: pd.DataFrame,
    out_dir: Path,
    *,
    dpi: int = 150,
    fits: Any = None,
    answers: pd.DataFrame | None = None,
    teacher_accuracy: dict[str, float] | None = None,
    early: pd.DataFrame | None = None,
) -> dict[str, list[Path]]:
    """Every figure of the report, keyed by name; ``[]`` for a figure the inputs cannot support
    (:func:`figure_gaps` says why).

    Keys: ``train_flops``, ``inference_flops`` (Figs. 2–3), ``tokens``, ``token_factor`` (Fig. 1),
    ``length_correct`` (Fig. 4), ``rho_accuracy``, ``rho_tokens`` (Figs. 5–6),
    ``inference_scaling`` (Fig. 14), ``early_stopping`` (App. H; needs ``answers`` or ``early``).

    Example::

        paths = plot_all(results, Path("figures"))
        print(paths["train_flops"][0])   # figures/accuracy_vs_train_flops.png
    """
    out = {axis: plot_frontiers(results, out_dir, axis, dpi=dpi, fits=fits,
                                teacher_accuracy=teacher_accuracy) for axis in AXES}
    out["tokens"] = plot_tokens(results, out_dir, dpi=dpi)
    out["token_factor"] = plot_token_factor(results, out_dir, dpi=dpi)
    out["length_correct"] = plot_length_by_correctness(results, out_dir, dpi=dpi)
    out["rho_accuracy"] = plot_rho(results, out_dir, metric="accuracy", dpi=dpi)
    out["rho_tokens"] = plot_rho(results, out_dir, metric="tokens", dpi=dpi)
    out["inference_scaling"] = plot_inference_scaling(results, out_dir, dpi=dpi)
    out["early_stopping"] = plot_early_stopping(answers, out_dir, table=early, dpi=dpi)
    return out
