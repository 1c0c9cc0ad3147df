"""One call that runs the whole analysis of a results table and keeps every piece for the report.

:func:`run_analysis` aggregates by family, computes the frontiers (training FLOPs, inference FLOPs,
and total cost for the given numbers of queries), the saturating fits, the Fig. 14 power laws, the
bootstrap (over per-sample answers when given, else binomial from ``accuracy`` and ``n``), the
compute equivalences by every method, the total-cost regimes, early stopping (with answers), the
seed spread and the verdicts. :meth:`Analysis.to_dict` is what ``sor analyze --json`` builds on.

Example::

    from scale_or_reason.analysis.pipeline import run_analysis
    from scale_or_reason.analysis.inputs import load_study
    data = load_study("sor-study")
    a = run_analysis(data.results, data.answers, queries=[1e6], teacher_accuracy=data.teacher_accuracy)
    print(a.text)                       # the verdicts in words
    a.fits.fits[0].to_dict(), a.boot.to_frame().head(), a.early_stop.head()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import pandas as pd

from scale_or_reason.analysis.arms import ordered_families
from scale_or_reason.analysis.early_stop import early_stopping
from scale_or_reason.analysis.equivalence import (
    METHODS,
    Equivalence,
    equivalences,
    learned,
)
from scale_or_reason.analysis.fits import (
    FitSet,
    PowerLawFit,
    fit_curves,
    inference_power_laws,
)
from scale_or_reason.analysis.formatting import jsonable
from scale_or_reason.analysis.frontier import Frontier, aggregate_by_family, frontiers
from scale_or_reason.analysis.total_cost import frontier_regimes, total_cost_frontiers
from scale_or_reason.analysis.uncertainty import Bootstrap, bootstrap, seed_spread
from scale_or_reason.analysis.verdicts import (
    FamilyVerdict,
    family_verdicts,
    render_verdicts,
)


@dataclass
class Analysis:
    """Everything computed from one results table (see :func:`run_analysis`)."""

    results: pd.DataFrame
    """The results table as given (one row per student x arm x benchmark)."""
    agg: pd.DataFrame
    """Family-aggregated results (one row per student x arm x family)."""
    answers: pd.DataFrame | None
    """Per-sample answers, when available."""
    frontiers: list[Frontier]
    """Frontiers per family on training and inference FLOPs."""
    total_frontiers: list[Frontier]
    """Frontiers on total cost (training + Q × inference) per family and Q of ``queries``."""
    regimes: dict[str, list[dict[str, Any]]]
    """Per family: ranges of Q with the same total-cost frontier (break-even Q at the boundaries)."""
    fits: FitSet
    """Saturating fits per family x arm x axis, and the groups left unfitted with the reason."""
    power_laws: list[PowerLawFit]
    """Inference FLOPs vs size power laws per family x arm (Fig. 14)."""
    boot: Bootstrap
    """Bootstrap replicates (``n_boot`` 0: none)."""
    equivalences: dict[str, list[Equivalence]]
    """Method (``measured``, ``interpolated``, ``fitted``) -> every equivalence found."""
    early_stop: pd.DataFrame
    """Early-stopping table (empty without answers)."""
    seed_spread: pd.DataFrame
    """Seed spread (empty without a ``seed`` column)."""
    verdicts: list[FamilyVerdict]
    """Per-family verdicts: typed facts, with their sentences and answer rendered from them."""
    queries: list[float] = field(default_factory=list)
    """The numbers of queries of ``total_frontiers``."""
    teacher_accuracy: dict[str, float] = field(default_factory=dict)
    """Teacher accuracy per family used as the fits' ceiling (empty: 1)."""

    @property
    def text(self) -> str:
        """The verdicts in plain text."""
        return render_verdicts(self.verdicts)

    def uncertainty_table(self) -> pd.DataFrame:
        """Per point: accuracy, bootstrap interval, source, P(on frontier) per axis."""
        return self.boot.to_frame()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary: ``families``, ``conventions``, ``frontiers``, ``total_cost_frontiers``,
        ``regimes``, ``fits``, ``power_laws``, ``uncertainty``, ``equivalences``, ``early_stopping``,
        ``seed_spread``, ``teacher_accuracy``, ``verdicts`` and ``text``."""
        agg = self.agg
        return jsonable({
            "families": ordered_families(agg) if not agg.empty else [],
            "conventions": sorted({c for c in agg["convention"].astype(str) if c and c != "nan"}),
            "frontiers": [f.to_dict() for f in self.frontiers],
            "total_cost_frontiers": [f.to_dict() for f in self.total_frontiers],
            "regimes": self.regimes,
            "fits": self.fits.to_dict(),
            "power_laws": [p.to_dict() for p in self.power_laws],
            "uncertainty": {
                "n_boot": self.boot.n_boot,
                "points": self.uncertainty_table().to_dict("records") if self.boot.n_boot else [],
            },
            "equivalences": {m: [e.to_dict() for e in lst] for m, lst in self.equivalences.items()},
            "early_stopping": self.early_stop.to_dict("records"),
            "seed_spread": self.seed_spread.to_dict("records"),
            "teacher_accuracy": self.teacher_accuracy,
            "verdicts": [v.to_dict() for v in self.verdicts],
            "text": self.text,
        })


def run_analysis(
    results: pd.DataFrame,
    answers: pd.DataFrame | None = None,
    *,
    queries: Iterable[float] | None = None,
    teacher_accuracy: dict[str, float] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    fit: bool = True,
) -> Analysis:
    """Run every analysis step on ``results`` (and ``answers`` when given); see the module docstring.

    ``queries``: numbers of queries for the total-cost frontiers (default none; the regimes cover
    every Q anyway). ``n_boot=0`` turns the bootstrap off; ``fit=False`` skips the saturating fits.

    Example::

        a = run_analysis(results, answers, queries=[1e3, 1e6])
        a.to_dict()["verdicts"][0]["sentences"]
    """
    teacher_accuracy = dict(teacher_accuracy or {})
    queries = [float(q) for q in (queries or [])]
    agg = aggregate_by_family(results)
    fits = fit_curves(agg, teacher_accuracy=teacher_accuracy) if fit else FitSet()
    boot = bootstrap(results, answers, n_boot=n_boot, seed=seed)
    boot_arg = boot if boot.n_boot else None
    eqs = {m: equivalences(agg, method=m, boot=boot_arg) for m in METHODS if m != "fitted"}
    if fit:
        eqs["fitted"] = equivalences(agg, method="fitted", fits=fits)
    families = ordered_families(agg) if not agg.empty else []
    # regimes (like every frontier verdict) over learned points only: a point at chance is on a frontier
    # by construction when it is the cheapest
    learned_agg = agg[agg.apply(learned, axis=1)] if not agg.empty else agg
    regimes = {f: frontier_regimes(learned_agg, f) if (learned_agg["family"] == f).any() else []
               for f in families}
    spread = seed_spread(results)
    return Analysis(
        results=results,
        agg=agg,
        answers=answers,
        frontiers=frontiers(agg),
        total_frontiers=total_cost_frontiers(agg, queries) if queries else [],
        regimes=regimes,
        fits=fits,
        power_laws=inference_power_laws(agg),
        boot=boot,
        equivalences=eqs,
        early_stop=early_stopping(answers) if answers is not None else early_stopping(pd.DataFrame()),
        seed_spread=spread,
        verdicts=family_verdicts(results, boot=boot_arg, fits=fits if fit else None, eqs=eqs, regimes=regimes,
                          spread=spread),
        queries=queries,
        teacher_accuracy=teacher_accuracy,
    )
