"""Publish a finished study under docs/results/: its results table, report and a README that says how it was made.

    python scripts/publish_study.py /tmp/full docs/results/embedded-full \
        --command "sor study run studies/full.toml --out /tmp/full" --wall-seconds 5230

The README gives the command, date, machine and wall time, the accuracy table (per student x arm x family: the
mean over training seeds, the pooled 95% Wilson interval of all seeds' answers, and the seeds' range), the
dev-split learning-rate choices, the bases' settings, the design probes when given (``--probes``), and the
report's one answer per family, verbatim. Nothing is recomputed by hand:
every number comes from the study's own files.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

import pandas as pd

from scale_or_reason.records import FAMILIES
from scale_or_reason.util import wilson_interval


def _machine() -> str:
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    return (f"{platform.system()} {platform.machine()} ({cpu}), {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}")


def _accuracy_table(results: pd.DataFrame) -> str:
    df = results[results.family.isin(FAMILIES)].copy()
    if "seed" not in df.columns:
        df["seed"] = 0
    df["k"] = df.accuracy * df.n
    order = df.drop_duplicates("student")[["student", "non_embedding_parameters"]]
    lines = ["| student (non-emb.) | arm | seeds | " + " | ".join(FAMILIES) + " |",
             "|---|---|---|" + "---|" * len(FAMILIES)]
    for _, s in order.iterrows():
        for arm in sorted(df[df.student == s.student].arm.unique()):
            cells, seeds = [], 0
            for fam in FAMILIES:
                g = df[(df.student == s.student) & (df.arm == arm) & (df.family == fam)]
                if g.empty:
                    cells.append("-")
                    continue
                seeds = max(seeds, g.seed.nunique())
                lo, hi = wilson_interval(g.k.sum(), g.n.sum())
                spread = f" ({100 * g.accuracy.min():.0f}-{100 * g.accuracy.max():.0f})" if len(g) > 1 else ""
                cells.append(f"{100 * g.accuracy.mean():.0f} [{100 * lo:.0f}-{100 * hi:.0f}]{spread}")
            size = f"{s.non_embedding_parameters / 1e3:.1f}K" if s.non_embedding_parameters < 1e6 else \
                f"{s.non_embedding_parameters / 1e6:.2f}M"
            lines.append(f"| {s.student} ({size}) | {arm} | {seeds} | " + " | ".join(cells) + " |")
    base = df.groupby("family").baseline.first()
    lines.append("")
    lines.append("Baselines (trivial answer): " + ", ".join(f"{f} {100 * base[f]:.0f}%" for f in FAMILIES
                                                          if f in base.index) + ".")
    return "\n".join(lines)


def _selections(study: Path) -> str:
    rows, scales = [], []
    for f in sorted((study / "select").glob("*.json")):
        d = json.loads(f.read_text())
        scales = sorted(d["dev_accuracy"], key=float)  # the same grid for every run
        rows.append(f"| {f.stem} | " + " | ".join(f"{100 * d['dev_accuracy'][k]:.1f}" for k in scales)
                    + f" | x{d['lr_scale']:g} |")
    if not rows:
        return ""
    head = "| run | " + " | ".join(f"x{s}" for s in scales) + " | chosen |\n|---|" + "---|" * (len(scales) + 1)
    return head + "\n" + "\n".join(rows)


def _bases(study: Path) -> str:
    """One row per base (``bases/<student>/ledger.json``): its peak learning rate, steps, tokens, FLOPs, final loss."""
    rows = []
    for f in sorted((study / "bases").glob("*/ledger.json")):
        d = json.loads(f.read_text())
        rows.append(f"| {d['student']} | {d['peak_lr']:g} | {d['steps']:,} | {d['tokens']:,} | {d['train_flops']:.3g} "
                    f"| {d['final_loss']:.3f} |")
    if not rows:
        return ""
    return ("| student | peak LR | steps | tokens | FLOPs | final loss |\n|---|---|---|---|---|---|\n"
            + "\n".join(rows))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path)
    ap.add_argument("dest", type=Path)
    ap.add_argument("--command", required=True)
    ap.add_argument("--wall-seconds", type=float, required=True)
    ap.add_argument("--probes", type=Path, default=None,
                    help="a Markdown table to include as the design probes (benchmarks/embedded_design.py's output)")
    args = ap.parse_args(argv)
    study, dest = args.study, args.dest
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(study / "results.csv", dest / "results.csv")
    shutil.copy(study / "report" / "report.html", dest / "report.html")
    analysis = json.loads((study / "report" / "analysis.json").read_text())
    (dest / "verdicts.json").write_text(json.dumps(analysis["verdicts"], indent=1) + "\n")
    results = pd.read_csv(study / "results.csv")
    wall = args.wall_seconds
    text = [
        f"# {json.loads((study / 'study.json').read_text())['study']['name']}: published results", "",
        f"- command: `{args.command}`",
        f"- date: {time.strftime('%Y-%m-%d', time.gmtime((study / 'results.csv').stat().st_mtime))}",
        f"- machine: {_machine()}",
        f"- wall time: {int(wall // 3600)} h {int(wall % 3600 // 60)} min {int(wall % 60)} s", "",
        "Files: `results.csv` (the results table, one row per student x arm x benchmark x seed), `report.html` "
        "(the study's report, self-contained), `verdicts.json` (the typed verdicts behind its answers).", "",
        "## Accuracy (%) on the test split", "",
        "Mean over training seeds, [pooled 95% Wilson interval of all seeds' answers] and (the seeds' range). The "
        "report's intervals are wider: its bootstrap resamples the training seeds, then the items.", "",
        _accuracy_table(results), "",
    ]
    sel = _selections(study)
    if sel:
        text += ["## Learning rates chosen on the dev split", "",
                 "Mean dev accuracy (%) per learning-rate scale (x the run's peak LR), seed 0; the chosen scale "
                 "trains the other seeds.", "", sel, ""]
    bases = _bases(study)
    if bases:
        text += ["## Base stage", "",
                 "One pretrained base per size, shared by every arm and seed; its FLOPs are in no frontier.", "",
                 bases, ""]
    if args.probes:
        text += ["## Design probes", "", args.probes.read_text().strip(), ""]
    text += ["## The report's answers (verbatim)", ""]
    text += [f"- {v['answer']}" for v in analysis["verdicts"]]
    (dest / "README.md").write_text("\n".join(text) + "\n")
    print(dest / "README.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
