"""A study as a graph of tasks with deterministic ids, keys and dependencies, and each task's recorded state.

``expand(cfg)`` turns a study file into tasks, in dependency order::

    tokenizer                     (students built from config with the synthetic tokenizer)
    base/<student>                with [base]: one per student built from config, pretrained on the base corpus
    checkpoint/<run>              one per [[runs]] entry (a checkpoint trained elsewhere): resolved, its ledger written
    generate/<prompts>            one per [[prompts]] source: the teacher (or an import) into pairs/<name>/
    bench/<benchmark>             one per [[benchmarks]]: the prepared copy under bench/
    train/<student>-<arm>[.seedK] one per student x arm x seed; needs every generate task (+ tokenizer, base)
                                  with [study].lr_grid: seed 0 once per LR scale (train/<run>.lr<m>), each
                                  evaluated on the dev benchmarks; select/<run> picks the scale with the best
                                  dev accuracy; the other seeds train at it, and evaluate/<run>/<b> (seed 0)
                                  evaluates the chosen run
    evaluate/<run>/<benchmark>    one per run (trained or finished) x benchmark: generate, grade (rules, jury), count FLOPs
    analysis                      results table, frontiers, verdicts, report; needs every evaluate task

A task's *key* hashes what defines its work and its dependencies' keys, so changing one benchmark's
options changes that benchmark's bench and evaluate tasks and the analysis, and nothing else.

Each task records its state in ``tasks/<id>.json`` (``/`` in ids becomes ``~``): ``running``, ``done``
or ``failed`` (with the reason), ``submitted`` (with a SLURM job id), under the key it ran with. A task
whose recorded key differs from its current key is pending again ("inputs changed").

Example::

    from scale_or_reason.study.config import load_study_file
    from scale_or_reason.study.graph import expand, task_states
    tasks = expand(load_study_file("quick"))
    states = task_states(tasks, "sor-study")          # {task id: TaskState}
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..data import Arm
from ..evaluate.graders import GRADING_VERSION
from ..evaluate.specs import load_spec
from ..synthetic.teacher import VERSION as SYNTHETIC_VERSION
from ..util import read_json, stable_hash, write_json
from .config import StudyConfig

__all__ = ["Task", "TaskState", "expand", "grid_run", "mark", "run_name", "task_states"]

# Generation settings that do not change what is generated (throughput, retries, display).
_TEACHER_RUNTIME = {"concurrency", "timeout_s", "max_retries", "backoff_base_s", "backoff_max_s", "batch_size",
                    "shard_size", "flush_seconds", "progress", "api_key_env", "api_key_file", "device", "tensor_parallel_size",
                    "probe_pairs", "base_url", "max_failed_prompts"}
_TRAIN_RUNTIME = {"threads", "tensorboard", "save_steps", "log_steps"}
_PLAN_ONLY = {"expected_prompts", "expected_prompt_tokens", "expected_ift_tokens", "expected_reasoning_tokens"}
_PLAN_ONLY_RUN = {"architecture"}  # a finished run's fields that only the plan reads
_EVAL_RUNTIME = {"batch_size", "threads", "device", "concurrency", "timeout_s", "max_retries", "api_key_env", "api_key_file",
                 "base_url", "tensor_parallel_size"}


@dataclass
class Task:
    """One unit of work of a study."""

    id: str
    """Deterministic id, e.g. ``train/s1-ift``; also the state file's name."""
    stage: str
    """``tokenizer``, ``base``, ``generate``, ``bench``, ``train``, ``checkpoint``, ``evaluate``, ``select`` or
    ``analysis``."""
    deps: list[str]
    """Ids of the tasks that must be done first."""
    spec: dict[str, Any]
    """What defines the work (hashed into the key); also what the stage functions read."""
    key: str = ""
    """Hash of ``spec`` and the dependencies' keys."""

    @property
    def name(self) -> str:
        """The id without its stage prefix (``s1-ift/gsm8k``)."""
        return self.id.partition("/")[2] or self.id


@dataclass
class TaskState:
    """What is known of a task's last execution."""

    status: str
    """``done``, ``failed``, ``running``, ``submitted``, ``pending`` or ``blocked`` (a dependency failed)."""
    reason: str = ""
    """Failed: the error's one line; pending: why (``never run``, ``inputs changed``, ``interrupted``)."""
    record: dict[str, Any] = field(default_factory=dict)
    """The state file's content."""


def run_name(student: str, arm: Arm, seed: int = 0) -> str:
    """Directory name of one training run: ``s1-ift``, ``s1-sequential0.25``; seed ``k > 0`` adds ``.seedK``."""
    return f"{student}-{arm.name.replace(':', '')}" + (f".seed{seed}" if seed else "")


def grid_run(first: str, scale: float) -> str:
    """Directory name of a learning-rate grid run: ``s1-ift.lr0.5`` (``scale`` times the run's peak LR)."""
    return f"{first}.lr{scale:g}"


def settings(obj: Any, skip: set[str] = frozenset()) -> dict[str, Any]:
    """The fields of dataclass ``obj`` that differ from their defaults (minus ``skip``), for a task key.

    Only non-default values are hashed, so a new optional field in a later version of the toolkit does not
    invalidate finished work (a 70,000-GPU-hour study must survive an upgrade); a change of meaning is
    signalled by the stage's version number in the task spec instead."""
    out = {}
    for f in dataclasses.fields(obj):
        if f.name in skip:
            continue
        value = getattr(obj, f.name)
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        if dataclasses.is_dataclass(value):
            value = asdict(value)
        if value != default:
            out[f.name] = str(value) if isinstance(value, Path) else value
    return out


def _file_hash(path: str | None) -> str | None:
    if not path or not Path(path).is_file():
        return None
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def expand(cfg: StudyConfig) -> list[Task]:
    """The study's tasks in dependency order, with their keys."""
    tasks: list[Task] = []
    synthetic_tok = cfg.tokenizer.kind == "synthetic"
    if synthetic_tok:
        tasks.append(Task("tokenizer", "tokenizer", [], {"families": cfg.tokenizer.families,
                                                         "vocab": cfg.tokenizer.vocab, "v": 3}))
    teacher = settings(cfg.teacher, _TEACHER_RUNTIME)
    for p in cfg.prompts:
        uses_tok = synthetic_tok and cfg.teacher.backend == "synthetic" and not cfg.teacher.tokenizer
        spec = {"prompts": settings(p, _PLAN_ONLY), "teacher": teacher if p.format == "prompts" else None, "v": 1}
        if _file_hash(p.source):  # a local prompt or pair file edited in place regenerates (and retrains)
            spec["source_hash"] = _file_hash(p.source)
        if cfg.teacher.backend == "synthetic":
            spec["synthetic"] = SYNTHETIC_VERSION  # the generator's and the teacher's texts
        tasks.append(Task(f"generate/{p.name}", "generate", ["tokenizer"] if uses_tok else [], spec))
    bench_ids, dev_ids = [], []
    for b in cfg.benchmarks:
        s = load_spec(b.name)
        spec_dict = settings(s, {"path", "items"})
        spec_dict["options"] = {**s.options, **b.options}
        bspec = {"spec": spec_dict, "entry": settings(b), "source_hash": _file_hash(b.source), "v": 1}
        if s.source.synthetic:
            bspec["synthetic"] = SYNTHETIC_VERSION
        tasks.append(Task(f"bench/{s.name}", "bench", [], bspec))
        (dev_ids if b.role == "dev" else bench_ids).append(f"bench/{s.name}")
    tok = {"kind": cfg.tokenizer.kind, "path": cfg.tokenizer.path}
    train = settings(cfg.train, _TRAIN_RUNTIME)
    ev = settings(cfg.eval, _EVAL_RUNTIME)
    jury = {"file": cfg.grading.jury, "hash": _file_hash(cfg.grading.jury)} if cfg.grading.jury else None
    eval_ids: list[str] = []
    base = settings(cfg.base) if cfg.base is not None else None

    def evaluations(run: str, student: str, arm: Arm, benches: list[str], deps: list[str],
                    extra: dict[str, Any]) -> list[str]:
        ids = []
        for bid in benches:
            bench = bid.partition("/")[2]
            espec = {"run": run, "student": student, "arm": arm.name, "benchmark": bench,
                     "thinking": arm.kind != "ift", "eval": ev, "jury": jury, "v": 1, "grading": GRADING_VERSION,
                     **extra}
            tasks.append(Task(f"evaluate/{run}/{bench}", "evaluate", deps + [bid], espec))
            ids.append(f"evaluate/{run}/{bench}")
        return ids

    for student in cfg.students:
        sdict = {"name": student.name, **settings(student.spec())}
        gen_ids = [f"generate/{p.name}" for p in cfg.sources(student)]
        own = ["tokenizer"] if synthetic_tok and not student.pretrained else []
        if base is not None and not student.pretrained:
            # the base's own training settings ([train] with [base]'s LR and epochs): a change of the
            # distillation LR or epochs leaves the bases alone
            btrain = settings(cfg.base_train_config(student), _TRAIN_RUNTIME)
            # the architecture only: the student's distillation learning rates do not touch its base
            arch = {"name": student.name, **settings(student.spec(), {"learning_rate"})}
            tasks.append(Task(f"base/{student.name}", "base", own,
                              {"student": arch, "base": base, "train": btrain, "v": 1}))
            own = own + [f"base/{student.name}"]
        for arm in cfg.arms(student):
            first = run_name(student.name, arm)
            spec0 = {"student": sdict, "data": [p.name for p in cfg.sources(student)], "arm": arm.name,
                     "samples": cfg.study.samples, "seed": cfg.study.seed, "train": train, "tokenizer": tok, "v": 1}
            select: list[str] = []
            if cfg.study.lr_grid:
                # seed 0 at every learning rate of the grid, each evaluated on the dev benchmarks; the select
                # task picks one; the reported seed-0 run is the chosen one, the other seeds train at its LR
                dev_evals = []
                for m in cfg.study.lr_grid:
                    run = grid_run(first, m)
                    tasks.append(Task(f"train/{run}", "train", gen_ids + own, {**spec0, "lr_scale": m}))
                    dev_evals += evaluations(run, student.name, arm, dev_ids, [f"train/{run}"], {"role": "dev"})
                tasks.append(Task(f"select/{first}", "select", dev_evals,
                                  {"runs": {f"{m:g}": grid_run(first, m) for m in cfg.study.lr_grid},
                                   "dev": [d.partition("/")[2] for d in dev_ids], "v": 1}))
                select = [f"select/{first}"]
                eval_ids += evaluations(first, student.name, arm, bench_ids, select, {"selected": True})
            for k in range(cfg.study.seeds):
                if k == 0 and select:
                    continue
                run = run_name(student.name, arm, k)
                spec = dict(spec0)
                extra: dict[str, Any] = {}
                if k:
                    spec["seed_index"] = extra["seed_index"] = k  # absent for seed 0: added seeds keep old runs
                if select:
                    spec["lr_from"] = select[0]
                tasks.append(Task(f"train/{run}", "train", gen_ids + own + select, spec))
                eval_ids += evaluations(run, student.name, arm, bench_ids, [f"train/{run}"], extra)
    for r in cfg.runs:  # checkpoints trained elsewhere: no training task, a checkpoint task records them
        tasks.append(Task(f"checkpoint/{r.name}", "checkpoint", [], {"run": settings(r, _PLAN_ONLY_RUN), "v": 1}))
        eval_ids += evaluations(r.name, r.student, Arm.parse(r.arm), bench_ids, [f"checkpoint/{r.name}"],
                                {"finished": True})
    analysis = {"name": cfg.study.name, "v": 1}
    if cfg.reference is not None:  # only then: a study without one keeps its analysis key
        analysis["reference"] = {"table": cfg.reference.table, "hash": _file_hash(cfg.reference.table)}
    tasks.append(Task("analysis", "analysis", eval_ids, analysis))
    keys: dict[str, str] = {}
    for t in tasks:
        t.key = stable_hash({"stage": t.stage, "spec": t.spec, "deps": [keys[d] for d in t.deps]}, 16)
        keys[t.id] = t.key
    return tasks


def state_path(out: str | Path, task_id: str) -> Path:
    return Path(out) / "tasks" / (task_id.replace("/", "~") + ".json")


def mark(out: str | Path, task: Task, status: str, **extra: Any) -> dict[str, Any]:
    """Record ``task``'s state (atomically); returns the record."""
    path = state_path(out, task.id)
    old = read_json(path) if path.exists() else {}
    record = {"id": task.id, "key": task.key, "status": status, "time": time.time(), "host": socket.gethostname(),
              "pid": os.getpid(), **extra}
    if status != "running" and old.get("key") == task.key and "started" in old:
        record.setdefault("started", old["started"])
    if status == "running":
        record["started"] = record["time"]
    write_json(path, record)
    return record


def _alive(record: dict[str, Any]) -> bool:
    """Whether a ``running`` record's process still runs (only knowable on the same host)."""
    if record.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(record.get("pid", -1)), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True


def task_states(tasks: list[Task], out: str | Path) -> dict[str, TaskState]:
    """Each task's state from ``out/tasks/``, with failures propagated to dependants as ``blocked``."""
    states: dict[str, TaskState] = {}
    for t in tasks:
        path = state_path(out, t.id)
        if not path.exists():
            st = TaskState("pending", "never run")
        else:
            rec = read_json(path)
            if rec.get("key") != t.key:
                st = TaskState("pending", "inputs changed", rec)
            elif rec["status"] == "running" and not _alive(rec):
                st = TaskState("pending", "interrupted", rec)
            else:
                st = TaskState(rec["status"], rec.get("error", ""), rec)
        if st.status not in ("done", "failed"):
            bad = [d for d in t.deps if states[d].status in ("failed", "blocked")]
            if bad:
                st = dataclasses.replace(st, status="blocked", reason=f"{bad[0]} failed")
        states[t.id] = st
    return states
