"""Executors: where a study's tasks run. ``local`` runs them here, one at a time; ``slurm`` submits one
submitit job per task, with the graph's edges as SLURM dependencies.

An executor gets the tasks that are not done, in dependency order, and the study; every task runs through
``run_task`` (here, or in a job via ``sor study task``), which records its state and its log. The
interface is one method, ``run(cfg, tasks, out) -> RunSummary``, small enough for a Ray executor later.

* ``LocalExecutor``: a rich progress bar with ETA; a failed task is recorded with its reason, its
  dependants are skipped (``blocked``), its siblings still run.
* ``SlurmExecutor``: ``[executor]`` gives partition, account, GPUs and time per stage, setup lines. A
  training task with more than one GPU is launched with ``accelerate launch`` (one process per GPU). With
  ``cluster = "local"`` submitit's local executor runs the jobs as subprocesses instead, in dependency
  waves (it has no dependency support): the way to test a study's jobs without a cluster.

Example::

    from scale_or_reason.study import load_study_file, expand, make_executor
    cfg = load_study_file("quick")
    summary = make_executor(cfg).run(cfg, expand(cfg), "sor-study")
    print(summary.failed)
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape

from .config import ExecutorSection, StudyConfig
from .graph import Task, mark, task_states

console = Console(stderr=True)

__all__ = ["Executor", "LocalExecutor", "RunSummary", "SlurmExecutor", "make_executor", "run_task", "task_command"]


@dataclass
class RunSummary:
    """What one ``run`` did."""

    done: list[str] = field(default_factory=list)
    """Tasks finished by this run."""
    failed: dict[str, str] = field(default_factory=dict)
    """Tasks that failed, with their reason."""
    blocked: list[str] = field(default_factory=list)
    """Tasks not run because a dependency failed."""
    submitted: dict[str, str] = field(default_factory=dict)
    """slurm: task id -> job id."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall seconds per stage (tasks run by this process)."""


class Executor(Protocol):
    def run(self, cfg: StudyConfig, tasks: list[Task], out: str | Path) -> RunSummary: ...


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:500]


def _is_main_process() -> bool:
    """Under ``accelerate launch`` only rank 0 records the task's state."""
    return os.environ.get("RANK", "0") == "0"


def _quiet_libraries() -> None:
    """The study shows one progress bar and one line per task; the libraries' own per-file bars (loading
    weights, writing shards, dataset maps) would bury them. ``sor --verbose`` keeps them."""
    if os.environ.get("SOR_VERBOSE"):
        return
    try:
        import datasets
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        datasets.disable_progress_bars()
    except ImportError:  # pragma: no cover - both are dependencies
        pass


def run_task(cfg: StudyConfig, task: Task, out: str | Path) -> dict[str, Any]:
    """Run ``task`` with its bookkeeping: ``running`` -> ``done`` (with its summary) or ``failed`` (the error's
    first line; the traceback in ``logs/<id>.log``). Re-raises the error."""
    from .stages import execute

    out = Path(out).resolve()
    _quiet_libraries()
    main = _is_main_process()
    if main:
        mark(out, task, "running", job_id=os.environ.get("SLURM_JOB_ID"))
    t0 = time.time()
    try:
        result = execute(cfg, task, out)
    except BaseException as e:
        if main:
            log = out / "logs" / (task.id.replace("/", "~") + ".log")
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(traceback.format_exc())
            reason = ("interrupted" if isinstance(e, KeyboardInterrupt) else
                      "terminated (SIGTERM): a rerun resumes" if isinstance(e, SystemExit) else _one_line(e))
            mark(out, task, "failed", error=reason,
                 seconds=time.time() - t0, log=str(log))
        raise
    if main:
        mark(out, task, "done", seconds=time.time() - t0, result=result)
    return result


def _summary_text(result: dict[str, Any]) -> str:
    parts = []
    for k, v in result.items():
        if isinstance(v, float):
            parts.append(f"{k} {v:.3g}")
        elif isinstance(v, (int, str)) and len(str(v)) < 60:
            parts.append(f"{k} {v}")
    return ", ".join(parts[:5])


class LocalExecutor:
    """Runs the tasks in this process, one at a time, in dependency order."""

    def run(self, cfg: StudyConfig, tasks: list[Task], out: str | Path) -> RunSummary:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        out = Path(out).resolve()
        states = task_states(tasks, out)
        todo = [t for t in tasks if states[t.id].status != "done"]
        summary = RunSummary()
        bad: set[str] = {i for i, s in states.items() if s.status == "blocked"} - {t.id for t in todo}
        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), console=console, disable=not console.is_terminal)
        with progress:
            bar = progress.add_task("study", total=len(todo))
            for t in todo:
                blocker = next((d for d in t.deps if d in bad), None)
                if blocker:
                    bad.add(t.id)
                    summary.blocked.append(t.id)
                    progress.advance(bar)
                    continue
                progress.update(bar, description=t.id)
                t0 = time.time()
                try:
                    result = run_task(cfg, t, out)
                except KeyboardInterrupt:
                    raise
                except Exception as e:  # recorded by run_task; siblings go on
                    bad.add(t.id)
                    summary.failed[t.id] = _one_line(e)
                    console.print(f"[red]x[/] {t.id}: {escape(_one_line(e))}")  # messages hold brackets
                    logging.getLogger(__name__).debug("task %s failed", t.id, exc_info=True)
                else:
                    summary.done.append(t.id)
                    console.print(f"[green]v[/] {t.id} ({time.time() - t0:.1f} s) {escape(_summary_text(result))}")
                summary.seconds[t.stage] = summary.seconds.get(t.stage, 0.0) + time.time() - t0
                progress.advance(bar)
        return summary


def study_ref(cfg: StudyConfig) -> str:
    """How a job names the study file: its absolute path, or a shipped study's name."""
    return cfg.path.removeprefix("shipped:")


def task_command(cfg: StudyConfig, task: Task, out: str | Path, python: str | None = None) -> list[str]:
    """The command that runs ``task`` in a job: ``sor study task``, or under ``accelerate launch`` for a
    training task given more than one GPU."""
    ex = cfg.executor
    py = python or ex.python or sys.executable
    args = ["-m", "scale_or_reason.cli", "study", "task", study_ref(cfg), "--out", str(Path(out).resolve()),
            "--task", task.id]
    gpus = ex.gpus.get(task.stage, 0)
    if task.stage == "train" and gpus > 1:
        launch = [py, "-m", "accelerate.commands.launch", "--num_processes", str(gpus)]
        if ex.accelerate_config:
            launch += ["--config_file", ex.accelerate_config]
        return [*launch, *args]
    return [py, *args]


class SlurmExecutor:
    """One submitit job per task; dependencies become ``--dependency=afterok:...``."""

    def __init__(self, section: ExecutorSection):
        self.section = section

    def _executor(self, out: Path) -> Any:
        try:
            import submitit
        except ImportError:
            raise ImportError("the slurm executor needs submitit: pip install 'scale-or-reason[slurm]'") from None
        folder = out / self.section.folder
        if self.section.cluster == "slurm":
            return submitit.SlurmExecutor(folder=folder, python=self.section.python or sys.executable)
        if self.section.cluster == "local":
            return submitit.LocalExecutor(folder=folder)
        return submitit.DebugExecutor(folder=folder)

    def _parameters(self, task: Task, dependency: list[str]) -> dict[str, Any]:
        s = self.section
        gpus = s.gpus.get(task.stage, 0)
        minutes = s.time_min.get(task.stage, 60)
        if s.cluster != "slurm":
            return {"timeout_min": minutes, **({"gpus_per_node": gpus} if s.cluster == "local" else {})}
        params: dict[str, Any] = {"job_name": f"sor-{task.id.replace('/', '-')}", "time": minutes, "nodes": 1,
                                  "ntasks_per_node": 1, "cpus_per_task": s.cpus_per_task,
                                  "gpus_per_node": gpus or None, "partition": s.partition, "account": s.account,
                                  "qos": s.qos, "mem": s.mem, "setup": list(s.setup),
                                  "dependency": ("afterok:" + ":".join(dependency)) if dependency else None,
                                  "stderr_to_stdout": True}
        return {k: v for k, v in params.items() if v is not None}

    def run(self, cfg: StudyConfig, tasks: list[Task], out: str | Path) -> RunSummary:
        import submitit

        out = Path(out).resolve()
        states = task_states(tasks, out)
        summary = RunSummary()
        jobs: dict[str, str] = {i: str(s.record.get("job_id")) for i, s in states.items()
                                if s.status in ("submitted", "running") and s.record.get("job_id")}
        todo = [t for t in tasks if states[t.id].status not in ("done", "submitted", "running")]
        if self.section.cluster != "slurm":
            return self._run_waves(cfg, todo, out, summary)
        for t in todo:
            if any(states[d].status in ("failed", "blocked") and d not in summary.submitted for d in t.deps):
                summary.blocked.append(t.id)
                continue
            deps = [jobs[d] for d in t.deps if d in jobs]
            executor = self._executor(out)  # fresh: submitit's parameters accumulate across updates
            executor.update_parameters(**self._parameters(t, deps))
            job = executor.submit(submitit.helpers.CommandFunction(task_command(cfg, t, out), verbose=False))
            jobs[t.id] = str(job.job_id)
            summary.submitted[t.id] = str(job.job_id)
            mark(out, t, "submitted", job_id=str(job.job_id))
        console.print(f"submitted {len(summary.submitted)} job(s); `sor study status` follows them")
        return summary

    def _run_waves(self, cfg: StudyConfig, todo: list[Task], out: Path,
                   summary: RunSummary) -> RunSummary:
        import submitit

        from .graph import expand

        every = expand(cfg)
        remaining = list(todo)
        while remaining:
            states = task_states(every, out)
            bad = set(summary.failed) | set(summary.blocked)
            blocked = [t for t in remaining if any(d in bad for d in t.deps)]
            summary.blocked += [t.id for t in blocked]
            ready = [t for t in remaining if t not in blocked and all(states[d].status == "done" for d in t.deps)]
            if not ready:
                break
            pending = []
            for t in ready:
                executor = self._executor(out)
                executor.update_parameters(**self._parameters(t, []))
                job = executor.submit(submitit.helpers.CommandFunction(task_command(cfg, t, out), verbose=False))
                summary.submitted[t.id] = str(job.job_id)
                pending.append((t, job))
            for t, job in pending:
                try:
                    job.result()
                except Exception as e:
                    summary.failed[t.id] = _one_line(e)
                else:
                    summary.done.append(t.id)
            gone = {t.id for t in ready} | {t.id for t in blocked}
            remaining = [t for t in remaining if t.id not in gone]
        return summary


def make_executor(cfg: StudyConfig, kind: str | None = None) -> Executor:
    """The executor the study file asks for (``kind`` overrides it)."""
    kind = kind or cfg.executor.kind
    if kind == "local":
        return LocalExecutor()
    if kind == "slurm":
        return SlurmExecutor(cfg.executor)
    raise ValueError(f"unknown executor {kind!r}: local or slurm")
