"""Analysis stage: frontiers, fits, compute equivalences, uncertainty, verdicts, figures, report, plan.

Reads the results table (``scale_or_reason.records.RESULTS_COLUMNS``: one row per student x arm x
benchmark), from a study directory (with per-sample answers) or a CSV, and compares arms at matched
training FLOPs, inference FLOPs and total cost (training + Q × inference).

Example::

    from pathlib import Path
    from scale_or_reason.analysis import load_study, plan, run_analysis, write_report

    data = load_study("sor-study")                      # or a results CSV, e.g. example_path()
    a = run_analysis(data.results, data.answers, queries=[1e6], teacher_accuracy=data.teacher_accuracy)
    print(a.text)                                        # verdicts in words
    for f in a.frontiers:
        print(f.family, f.axis, [(p["student"], p["arm"]) for p in f.points])
    write_report(a, Path("report"), title="My study", config=data.config)
    print(plan(data.results, "Math-OE", train_budget=1e12, answers=data.answers)["text"])
"""

from scale_or_reason.analysis.early_stop import early_stopping
from scale_or_reason.analysis.equivalence import Equivalence, equivalences
from scale_or_reason.analysis.figures import plot_all, plot_frontiers, plot_tokens
from scale_or_reason.analysis.fits import (
    FitSet,
    PowerLawFit,
    SaturatingFit,
    fit_curves,
    fit_power_law,
    fit_saturating,
    inference_power_laws,
    saturating,
)
from scale_or_reason.analysis.frontier import (
    AXES,
    Frontier,
    aggregate_by_family,
    frontiers,
    pareto_frontier,
)
from scale_or_reason.analysis.inputs import (
    StudyData,
    example_path,
    load_answers,
    load_study,
    paper_table1,
    paper_teacher_accuracy,
)
from scale_or_reason.analysis.pipeline import Analysis, run_analysis
from scale_or_reason.analysis.plan import plan
from scale_or_reason.analysis.report import ReportSection, token_ratios, write_report
from scale_or_reason.analysis.total_cost import (
    break_even,
    budget_segments,
    frontier_regimes,
    total_cost_frontiers,
)
from scale_or_reason.analysis.uncertainty import Bootstrap, bootstrap, seed_spread
from scale_or_reason.analysis.verdicts import FamilyVerdict, family_verdicts, render_verdicts, verdicts

__all__ = [
    "AXES",
    "Analysis",
    "Bootstrap",
    "Equivalence",
    "FamilyVerdict",
    "FitSet",
    "Frontier",
    "PowerLawFit",
    "SaturatingFit",
    "StudyData",
    "aggregate_by_family",
    "bootstrap",
    "break_even",
    "budget_segments",
    "early_stopping",
    "equivalences",
    "example_path",
    "family_verdicts",
    "fit_curves",
    "fit_power_law",
    "fit_saturating",
    "frontier_regimes",
    "frontiers",
    "inference_power_laws",
    "load_answers",
    "load_study",
    "paper_table1",
    "paper_teacher_accuracy",
    "pareto_frontier",
    "plan",
    "plot_all",
    "plot_frontiers",
    "plot_tokens",
    "render_verdicts",
    "ReportSection",
    "run_analysis",
    "saturating",
    "seed_spread",
    "token_ratios",
    "total_cost_frontiers",
    "verdicts",
    "write_report",
]
