"""End to end: each embedded profile run from nothing, wall time per stage, against its budget.

Runs ``run_study`` on each profile (``quick``, ``demo``) into a fresh temporary folder in a fresh process, as
``sor demo --profile P`` does, and reads the seconds per stage from the study's own summary. Run from the
repository root, alone on the machine::

    .venv/bin/python benchmarks/demo_stages.py [--profiles quick,demo] [--out benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_S = {"quick": 180, "demo": 1200}
"""The issues' budgets on 2 cores: quick <= 3 minutes (tests), default <= 20 minutes."""
STAGES = ("tokenizer", "generate", "bench", "base", "train", "select", "evaluate", "analysis")


def child(profile: str, out: str) -> None:
    from scale_or_reason.study import load_study_file, run_study

    t0 = time.perf_counter()
    summary = run_study(load_study_file(profile), out)
    print(json.dumps({"wall": time.perf_counter() - t0, "seconds": summary["timings"]}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", default="quick,demo")
    ap.add_argument("--out", type=Path, default=None, help="append the section to this file (benchmarks/RESULTS.md)")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return 0
    rows = []
    for profile in args.profiles.split(","):
        with tempfile.TemporaryDirectory(prefix=f"sor-{profile}-") as tmp:
            proc = subprocess.run([sys.executable, __file__, "--child", profile, tmp], capture_output=True, text=True)
            if proc.returncode:
                raise SystemExit(f"profile {profile} failed:\n{proc.stderr[-3000:]}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append((profile, r))
        print(f"{profile}: {r['wall']:.0f} s {r['seconds']}", file=sys.stderr, flush=True)

    def fmt(s: float | None) -> str:
        return "-" if s is None else f"{s:.0f} s"

    lines = [f"`benchmarks/demo_stages.py --profiles {args.profiles}` on {time.strftime('%Y-%m-%d')}, "
             f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}: each profile from an empty "
             "folder (the stages' own seconds from the study summary; the wall adds start-up and imports).",
             "", "| profile | wall | " + " | ".join(STAGES) + " | budget |", "|---|---|" + "---|" * len(STAGES) + "---|"]
    for profile, r in rows:
        budget = BUDGET_S.get(profile)
        verdict = "-" if budget is None else f"<= {budget // 60} min: {'met' if r['wall'] <= budget else 'NOT met'}"
        lines.append(f"| {profile} | {r['wall'] // 60:.0f} min {r['wall'] % 60:.0f} s | "
                     + " | ".join(fmt(r["seconds"].get(s)) for s in STAGES) + f" | {verdict} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
