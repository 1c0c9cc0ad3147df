"""Reproduction: the measured family accuracies of a study's runs against published ones (the paper's Table 1).

A reference table is in the results schema (``student``, ``arm``, ``family``, ``accuracy`` at least; the
shipped ``paper-table1`` is :func:`~scale_or_reason.analysis.inputs.paper_table1`). For every student x arm x
family it names that the study also measured:

* **measured family accuracy**: the unweighted mean of the accuracies of the family's benchmarks. The paper
  reports one number per family and does not say how it pools its three benchmarks; the mean of the
  benchmarks is our reading (pooling items would give AIME-2025's 30 items no weight beside GSM8K's 1,319).
  The frontier analysis pools items instead (``aggregate_by_family``); the two agree when the benchmarks
  have equal sizes.
* **95% interval**: normal, with each benchmark's binomial variance at the Agresti-Coull estimate
  ``(k + 2) / (n + 4)`` (never zero at 0% or 100%), ``se = sqrt(sum var_i) / m`` for ``m`` benchmarks. It
  covers the item sampling of the benchmarks, not the training noise of the checkpoint nor the judges.
* **verdict**: ``agrees`` when the published value lies inside the interval, else ``measured higher`` /
  ``measured lower``.

At equal size (a student with both arms), the reasoning-minus-IFT difference gets the normal interval of a
difference of independent means (``se = sqrt(se_r² + se_i²)``; the arms answer the same items, so this is
conservative) and the decision ``reasoning wins`` / ``IFT wins`` / ``undecided`` when the interval is
above / below / across zero. Counted three ways: published differences (the paper: reasoning ahead in 28
of its 40 cells), measured point differences (the same count, recomputed), measured significant wins.

Example::

    from scale_or_reason.analysis.inputs import load_study
    from scale_or_reason.analysis.reproduction import load_reference, reproduction
    repro = reproduction(load_study("sor-reproduce").results, load_reference("paper-table1"))
    print(repro.table[["student", "arm", "family", "published", "measured", "verdict"]])
    print(repro.wins)      # {'cells': 40, 'published': 28, 'measured': ..., 'significant': ..., ...}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["Reproduction", "family_means", "load_reference", "reproduction", "reproduction_sections"]

SHIPPED = {"paper-table1": "the paper's Table 1 (Boizard et al., arXiv:2509.22193)"}
"""Reference tables shipped with the package, by the name ``[reference].table`` gives."""
Z95 = 1.959964


def load_reference(table: str | Path) -> pd.DataFrame:
    """A reference table: ``paper-table1`` or a CSV in the results schema. Errors name the file and column."""
    if str(table) == "paper-table1":
        from .inputs import paper_table1

        ref = paper_table1()
    else:
        path = Path(table)
        if not path.is_file():
            raise FileNotFoundError(f"{table}: no such reference file (or give 'paper-table1')")
        ref = pd.read_csv(path)
    missing = [c for c in ("student", "arm", "family", "accuracy") if c not in ref.columns]
    if missing:
        raise ValueError(f"{table}: reference table lacks column(s) {', '.join(missing)}")
    bad = ref[~ref.accuracy.between(0, 1)]
    if len(bad):
        raise ValueError(f"{table}: accuracy must be a fraction in [0, 1]; row {int(bad.index[0]) + 2} has "
                         f"{bad.accuracy.iloc[0]!r}")
    if ref.duplicated(["student", "arm", "family"]).any():
        row = ref[ref.duplicated(["student", "arm", "family"])].iloc[0]
        raise ValueError(f"{table}: {row.student} / {row.arm} / {row.family} is listed twice")
    return ref[["student", "arm", "family", "accuracy"]].reset_index(drop=True)


def family_means(results: pd.DataFrame) -> pd.DataFrame:
    """Per student x arm x family of a results table (one row per benchmark): the unweighted mean accuracy
    of its benchmarks, its standard error and 95% interval (module docstring), and the benchmarks pooled."""
    rows = []
    for (student, arm, family), g in results.groupby(["student", "arm", "family"], sort=True):
        k = g.accuracy * g.n
        p_adj = (k + 2) / (g.n + 4)
        se = math.sqrt(float((p_adj * (1 - p_adj) / (g.n + 4)).sum())) / len(g)
        mean = float(g.accuracy.mean())
        rows.append({"student": student, "arm": arm, "family": family, "measured": mean, "se": se,
                     "ci_low": max(0.0, mean - Z95 * se), "ci_high": min(1.0, mean + Z95 * se),
                     "benchmarks": ", ".join(sorted(g.benchmark.astype(str))), "n": int(g.n.sum())})
    return pd.DataFrame(rows, columns=["student", "arm", "family", "measured", "se", "ci_low", "ci_high", "benchmarks",
                                       "n"])


@dataclass
class Reproduction:
    """The comparison: one row per compared student x arm x family, and the equal-size win counts."""

    table: pd.DataFrame
    """``student, arm, family, published, measured, ci_low, ci_high, difference, verdict, benchmarks, n``
    (accuracies as fractions, ``difference`` = measured - published)."""
    equal_size: pd.DataFrame
    """Per student x family with both arms: published and measured reasoning-minus-IFT, its interval, the
    decision."""
    wins: dict[str, int] = field(default_factory=dict)
    """``cells`` (student x family with both arms measured and published), ``published`` (reasoning ahead in
    the reference), ``measured`` (ahead by the point estimate), ``significant`` / ``ift_significant``
    (interval above / below zero), ``undecided``."""

    @property
    def compared(self) -> int:
        return len(self.table)

    @property
    def agree(self) -> int:
        return int((self.table.verdict == "agrees").sum()) if len(self.table) else 0


def reproduction(results: pd.DataFrame, reference: pd.DataFrame) -> Reproduction:
    """Compare ``results`` (one row per student x arm x benchmark) with ``reference`` (module docstring)."""
    means = family_means(results)
    cols = ["student", "arm", "family", "published", "measured", "ci_low", "ci_high", "difference", "verdict",
            "benchmarks", "n", "se"]
    both = means.merge(reference.rename(columns={"accuracy": "published"}), on=["student", "arm", "family"])
    both["difference"] = both.measured - both.published
    both["verdict"] = [("agrees" if lo <= p <= hi else "measured higher" if m > p else "measured lower")
                       for p, m, lo, hi in zip(both.published, both.measured, both.ci_low, both.ci_high)]
    table = both[cols].sort_values(["student", "family", "arm"]).reset_index(drop=True)
    rows = []
    for (student, family), g in table.groupby(["student", "family"], sort=True):
        arms = g.set_index("arm")
        if not {"ift", "reasoning"} <= set(arms.index):
            continue
        r, i = arms.loc["reasoning"], arms.loc["ift"]
        d = float(r.measured - i.measured)
        se = math.sqrt(float(r.se) ** 2 + float(i.se) ** 2)
        lo, hi = d - Z95 * se, d + Z95 * se
        rows.append({"student": student, "family": family, "published_delta": float(r.published - i.published),
                     "measured_delta": d, "delta_low": lo, "delta_high": hi,
                     "decision": "reasoning wins" if lo > 0 else "IFT wins" if hi < 0 else "undecided"})
    eq = pd.DataFrame(rows, columns=["student", "family", "published_delta", "measured_delta", "delta_low",
                                     "delta_high", "decision"])
    wins = {"cells": len(eq), "published": int((eq.published_delta > 0).sum()),
            "measured": int((eq.measured_delta > 0).sum()),
            "significant": int((eq.decision == "reasoning wins").sum()),
            "ift_significant": int((eq.decision == "IFT wins").sum()),
            "undecided": int((eq.decision == "undecided").sum())}
    return Reproduction(table.drop(columns="se"), eq, wins)


def reproduction_sections(repro: Reproduction, reference: str | Path) -> list[Any]:
    """The report's two reproduction sections: per cell, and reasoning vs IFT at equal size."""
    from .report import ReportSection

    name = SHIPPED.get(str(reference), str(reference))

    def pct(x: float) -> str:
        return f"{100 * x:.1f}"

    cells = [[r.student, r.family, r.arm, pct(r.published), f"{pct(r.measured)} [{pct(r.ci_low)}-{pct(r.ci_high)}]",
              f"{100 * r.difference:+.1f}", r.verdict, r.benchmarks] for r in repro.table.itertuples()]
    w = repro.wins
    eq = [[r.student, r.family, f"{100 * r.published_delta:+.1f}",
           f"{100 * r.measured_delta:+.1f} [{100 * r.delta_low:+.1f} to {100 * r.delta_high:+.1f}]", r.decision]
          for r in repro.equal_size.itertuples()]
    eq_note = (f"Reasoning minus IFT at equal size (accuracy points). Published: reasoning ahead in {w.get('published', 0)} "
               f"of these {w.get('cells', 0)} cells (the paper: 28 of its 40); measured: ahead in "
               f"{w.get('measured', 0)} by the point estimate, significantly in {w.get('significant', 0)}, IFT "
               f"significantly ahead in {w.get('ift_significant', 0)}, undecided in {w.get('undecided', 0)} (95% "
               f"normal interval of the difference of the two family means, arms treated as independent: "
               f"conservative, they answer the same items).")
    return [
        ReportSection(f"Reproduction of {name}", ["student", "family", "arm", "published %", "measured % [95%]",
                                                 "measured - published", "verdict", "benchmarks"], cells,
                      f"{repro.agree} of {repro.compared} published values lie inside the measured 95% interval. "
                      f"Measured = unweighted mean of the family's benchmark accuracies (the jury's majority where the "
                      f"study has a jury, else the rule graders); interval: normal, Agresti-Coull variance per benchmark: item "
                      f"sampling only, not training noise or judge disagreement. Written to reproduction.csv."),
        ReportSection("Reasoning vs IFT at equal size", ["student", "family", "published", "measured [95%]",
                                                         "decision"], eq, eq_note),
    ]
