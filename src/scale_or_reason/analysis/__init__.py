"""Analysis stage: family aggregation, Pareto frontiers, verdicts, figures and the HTML report.

Reads the results table (``scale_or_reason.records.RESULTS_COLUMNS``: one row per student x arm x
benchmark) and compares arms at matched training and inference FLOPs, using measured points only.

Example::

    from pathlib import Path
    from scale_or_reason.analysis import analyze, frontiers, render_verdicts, verdicts, write_report

    for f in frontiers(results):
        print(f.family, f.axis, [(p["student"], p["arm"]) for p in f.points])
    print(render_verdicts(verdicts(results)))
    write_report(results, Path("report"), title="My study")   # report/report.html
    summary = analyze(results)                                   # JSON-able dict
"""

from scale_or_reason.analysis.frontier import (
    AXES,
    Frontier,
    aggregate_by_family,
    frontiers,
    pareto_frontier,
)
from scale_or_reason.analysis.plots import plot_all, plot_frontiers, plot_tokens
from scale_or_reason.analysis.report import analyze, token_ratios, write_report
from scale_or_reason.analysis.verdicts import render_verdicts, verdicts

__all__ = [
    "AXES",
    "Frontier",
    "aggregate_by_family",
    "analyze",
    "frontiers",
    "pareto_frontier",
    "plot_all",
    "plot_frontiers",
    "plot_tokens",
    "render_verdicts",
    "token_ratios",
    "verdicts",
    "write_report",
]
