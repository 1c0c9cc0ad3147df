"""Run a whole study from one study file: teacher, arms, training, evaluation, ledger, report.

A study file (TOML, ``study/config.py``; ``studies/*.toml`` are examples) says which teacher answers which
prompts, which students train on which arms, which benchmarks grade them and where the tasks run. It
expands into a graph of tasks (``graph.py``) that ``sor study plan`` prices (``plan.py``) and ``sor study
run`` executes, here or on SLURM (``executors.py``), each task being the library function of its stage
(``stages.py``). Finished tasks are skipped (same key), so a rerun continues where a run stopped, a finished
study reruns as a no-op, and changing one benchmark or one student reruns only what depends on it. The
embedded demo is one study file among others (``studies/demo.toml``): no code path of its own.

Layout of a study directory::

    tasks/<id>.json          each task's state: running, done (with its summary), failed (with the reason)
    logs/<id>.log            the traceback of a failed task
    tokenizer/               the synthetic tokenizer of students built from config (if the study has one)
    pairs/<source>/          pair store of each prompt source (`sor generate`'s runner, or an import)
    bench/                   prepared benchmarks (+ manifest)
    runs/<student>-<arm>/    checkpoint (safetensors), order.jsonl, train_log.jsonl, ledger.json
    eval/<run>/<benchmark>/  resumable generations, answers, summary
    answers/<run>.parquet    per-sample answers of a run, all benchmarks
    results.csv / .parquet   one row per student x arm x benchmark
    report/report.html       the self-contained report
    study.json               the resolved study file

Example::

    from scale_or_reason.study import load_study_file, plan_study, run_study
    cfg = load_study_file("studies/demo.toml")      # or a shipped name: "demo", "quick", "paper"
    print(plan_study(cfg, "sor-study"))             # FLOPs and GPU-hours per task, nothing run
    summary = run_study(cfg, "sor-study")
    print(summary["report"])
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..util import acquire_lock, read_json
from .config import StudyConfig, load_study_file, shipped_studies
from .executors import LocalExecutor, RunSummary, SlurmExecutor, make_executor, run_task
from .graph import Task, TaskState, expand, task_states
from .plan import plan_study, stage_totals

if TYPE_CHECKING:  # imported where used: pandas is most of `sor --help`'s start-up
    import pandas as pd

__all__ = ["LocalExecutor", "RunSummary", "SlurmExecutor", "StudyConfig", "Task", "TaskState", "expand",
           "load_study_file", "make_executor", "plan_study", "run_demo", "run_study", "run_task", "shipped_studies",
           "stage_totals", "study_ledgers", "study_status", "task_states"]

DEMO_ALIASES = {"default": "demo"}
"""``sor demo --profile default`` is the shipped ``demo`` study."""


def run_study(cfg: StudyConfig, out: str | Path, *, executor: str | None = None,
              only: list[str] | None = None) -> dict[str, Any]:
    """Run what is missing of ``cfg`` into ``out``; returns a summary.

    ``only``: task ids or stage names to restrict the run to (their missing dependencies run too).
    The summary holds the report path (once the analysis is done), the runs trained by *this* call
    (empty on a rerun of a finished study), the failed tasks with their reasons, and seconds per stage.
    Raises ``RuntimeError`` listing the failures after every runnable task has run (their siblings'
    results are kept).
    """
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    every = expand(cfg)
    tasks = _with_dependencies(every, only) if only else every
    t0 = time.time()
    # one `sor study run` per directory: two would train and write the same tasks at once
    lock = acquire_lock(out / ".lock", f"{out}: another `sor study run` is running in this study directory")
    try:
        summary: RunSummary = make_executor(cfg, executor).run(cfg, tasks, out)
    finally:
        if lock is not None:
            lock.close()
    states = task_states(every, out)
    result = {"study": str(out), "report": str(out / "report" / "report.html"), "results": str(out / "results.csv"),
              "trained": [t.partition("/")[2] for t in summary.done if t.startswith("train/")],
              "failed": summary.failed, "blocked": summary.blocked, "submitted": summary.submitted,
              "timings": summary.seconds, "wall_seconds": time.time() - t0,
              "token_ratio": (states["analysis"].record.get("result") or {}).get("token_ratio", {})}
    if summary.failed:
        raise RuntimeError(f"{len(summary.failed)} task(s) failed (`sor study status` lists them): "
                           + "; ".join(f"{k}: {v}" for k, v in list(summary.failed.items())[:3]))
    return result


def _with_dependencies(tasks: list[Task], only: list[str]) -> list[Task]:
    by_id = {t.id: t for t in tasks}
    unknown = [o for o in only if o not in by_id and not any(t.stage == o for t in tasks)
               and not any(t.id.startswith(o + "/") for t in tasks)]
    if unknown:
        raise ValueError(f"--only: no task or stage {unknown[0]!r} in this study")
    wanted = {t.id for t in tasks if t.id in only or t.stage in only or any(t.id.startswith(o + "/") for o in only)}
    stack = list(wanted)
    while stack:
        for d in by_id[stack.pop()].deps:
            if d not in wanted:
                wanted.add(d)
                stack.append(d)
    return [t for t in tasks if t.id in wanted]


def study_status(cfg: StudyConfig, out: str | Path) -> pd.DataFrame:
    """One row per task: id, stage, status, reason, seconds, job id."""
    import pandas as pd

    tasks = expand(cfg)
    states = task_states(tasks, out)
    return pd.DataFrame([{"task": t.id, "stage": t.stage, "status": states[t.id].status,
                          "reason": states[t.id].reason, "seconds": states[t.id].record.get("seconds"),
                          "job_id": states[t.id].record.get("job_id")} for t in tasks])


def run_demo(out: str | Path = "sor-study", profile: str = "demo") -> dict[str, Any]:
    """``sor demo``: the shipped study ``profile`` (``demo``, ``quick``, ``curriculum``) into ``out``."""
    return run_study(load_study_file(DEMO_ALIASES.get(profile, profile)), out)


def study_ledgers(study_dir: str | Path, convention: str = "paper") -> list[dict[str, Any]]:
    """The three-number FLOPs ledger (training, evaluation inference, teacher) of every run of a study.

    Recomputed under ``convention`` from the token lengths the study recorded (``order.jsonl`` for
    training, ``answers/*.parquet`` for evaluation), so any convention can be asked for after the fact.
    The teacher column is 0: the teacher's generation is a cost of the study, shared by every run, and
    ``sor study plan`` prices it (the generate tasks); the embedded programmatic teacher runs no model.
    """
    import pandas as pd

    from ..flops import Architecture, FlopsLedger

    study_dir = Path(study_dir)
    runs = sorted(p.parent for p in study_dir.glob("runs/*/DONE.json"))
    if not runs:
        raise FileNotFoundError(f"{study_dir}: no finished runs under runs/")
    out = []
    for run in runs:
        arch = Architecture.from_config(run / "config.json")
        ledger = read_json(run / "ledger.json")
        lengths = [json.loads(line)["tokens"] for line in (run / "order.jsonl").read_text().splitlines()]
        book = FlopsLedger(convention)
        for _ in range(int(ledger.get("epochs", 1))):
            book.add_training(arch, lengths)
        answers = study_dir / "answers" / f"{run.name}.parquet"
        if answers.exists():
            df = pd.read_parquet(answers, columns=["prompt_tokens", "generated_tokens"])
            book.add_evaluation(arch, df.prompt_tokens.tolist(), df.generated_tokens.tolist())
        out.append({"run": run.name, "student": ledger["student"], "arm": ledger["arm"], **book.to_dict()})
    return out
