"""Design probes of a finished embedded study: recall vs size, arithmetic, multiple-choice learnability.

Reads a study directory written by ``sor study run`` (with a ``[base]`` stage) and measures, per student:

* base fact recall, closed-set over the attribute's 8 values (chance 12.5%), on the facts distillation asks
  (``train``) and on those it never asks (``dev``: what chooses settings; ``test``: what General test questions
  need);
* the base's elementary arithmetic, closed-set over 0..19 (chance 5%), and its option matching on held-out
  drills (chance 25%);
* per distilled run, the multiple-choice letter probe: fed the gold trace and final answer up to the option
  marker, is the right marker the most likely (chance 25%)?

Usage::

    .venv/bin/python benchmarks/embedded_design.py sor-study [--out benchmarks/RESULTS.md]

``--out FILE`` appends the table to FILE (section "Embedded design probes").
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path


def main() -> int:
    from scale_or_reason.synthetic.probes import arithmetic_recall, fact_recall, letter_probe, option_matching
    from scale_or_reason.synthetic.tasks import generate_tasks

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path)
    ap.add_argument("--out", type=Path, default=None, help="append the section to this file (benchmarks/RESULTS.md)")
    args = ap.parse_args()
    study = json.loads((args.study / "study.json").read_text())
    mc = generate_tasks("General-MC", 60, split="test") + generate_tasks("Math-MC", 60, split="test")
    lines = ["| student | base recall, train facts | base recall, dev facts | base recall, test facts | base arithmetic | "
             "base option matching | letter probe IFT | letter probe reasoning |", "|---|---|---|---|---|---|---|---|"]
    t0 = time.time()
    for s in study["students"]:
        name = s["name"]
        base = args.study / "bases" / name
        cells = []
        if base.exists():
            for split in ("train", "dev", "test"):
                r = fact_recall(base, split)
                cells.append(f"{100 * r['accuracy']:.0f}% (n {r['n']})")
            cells.append(f"{100 * arithmetic_recall(base)['accuracy']:.0f}%")
            cells.append(f"{100 * option_matching(base)['accuracy']:.0f}%")
        else:
            cells += ["-", "-", "-", "-", "-"]
        for arm, thinking in (("ift", False), ("reasoning", True)):
            run = args.study / "runs" / f"{name}-{arm}"
            chosen = args.study / "select" / f"{name}-{arm}.json"
            if chosen.exists():  # a learning-rate grid: seed 0 is the grid run the dev split chose
                run = args.study / "runs" / json.loads(chosen.read_text())["run"]
            cells.append(f"{100 * letter_probe(run, mc, thinking)['marker_accuracy']:.0f}%" if run.exists() else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    table = "\n".join(lines)
    if args.out:
        head = (f"\n## Embedded design probes\n\n`benchmarks/embedded_design.py {args.study}` on "
                f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {time.time() - t0:.0f} s. Chance: recall 12.5%, "
                f"arithmetic 5%, option matching and letter 25%.\n\n")
        with open(args.out, "a") as fh:
            fh.write(head + table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
