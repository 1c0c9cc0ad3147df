"""What each task of a study does: the stage functions the executors call.

Every stage reads its inputs from the study directory and writes its outputs there (layout in
``study/__init__.py``); each is the library function of its stage (``sor generate``'s runner,
``prepare_benchmark``, ``train_student``, ``evaluate_model``, ``write_report``), so a study runs the same
code as the single-stage commands. Pairs are streamed from the stores: an arm is chosen from prompt ids
only, and training renders the chosen pairs as it streams them (``train.StreamedArm``).

Example::

    from scale_or_reason.study.config import load_study_file
    from scale_or_reason.study.graph import expand
    from scale_or_reason.study.stages import execute
    cfg = load_study_file("quick")
    for task in expand(cfg):
        execute(cfg, task, "sor-study")                 # in order; the executors add state and skipping
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from ..data import Arm
from ..train import StreamedArm, arm_from_stores
from ..util import atomic_path, read_json, wilson_interval, write_json
from .config import StudyConfig
from .graph import Task

console = Console(stderr=True)

__all__ = ["arm_samples", "bench_spec", "execute", "study_tokenizer", "student_tokenizer"]


# --- shared lookups ------------------------------------------------------------------------------

def study_tokenizer(cfg: StudyConfig, out: Path) -> Path | None:
    """The tokenizer directory of students built from config (None when every student is pretrained)."""
    if cfg.tokenizer.kind == "synthetic":
        return out / "tokenizer"
    if cfg.tokenizer.kind == "path":
        return Path(cfg.tokenizer.path)
    return None


def student_tokenizer(cfg: StudyConfig, out: Path, student: Any) -> Path:
    """A student's tokenizer: its checkpoint's own, or the study's for one built from config."""
    if student.pretrained:
        return Path(student.pretrained)
    tok = study_tokenizer(cfg, out)
    assert tok is not None  # the loader refuses a student from config without a tokenizer
    return tok


def bench_spec(cfg: StudyConfig, name: str):
    """The benchmark spec ``name`` of the study, with the study's option overrides applied."""
    from ..evaluate.specs import load_spec

    for b in cfg.benchmarks:
        spec = load_spec(b.name)
        if spec.name == name:
            return dataclasses.replace(spec, options={**spec.options, **b.options}), b
    raise KeyError(name)


def arm_samples(cfg: StudyConfig, out: Path, arm: Arm, student: Any = None) -> StreamedArm:
    """The arm of ``student`` (default: drawn from every source) over its sources' pair stores, streamed
    (``train.arm_from_stores``): never held as a list of pairs."""
    sources = cfg.sources(student) if student is not None else cfg.prompts
    return arm_from_stores([out / "pairs" / p.name for p in sources], arm, cfg.study.samples, seed=cfg.study.seed)


# --- the stages ----------------------------------------------------------------------------------

def _tokenizer(cfg: StudyConfig, task: Task, out: Path) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from ..synthetic.tasks import generate_tasks
    from ..synthetic.teacher import SyntheticTeacher
    from ..synthetic.tokenizer import build_tokenizer, save_tokenizer

    teacher = SyntheticTeacher()
    corpus = []
    for fam in cfg.tokenizer.families:
        for t in generate_tasks(fam, 400, split="train", seed=10_000):
            on = teacher.answer(t, enable_thinking=True)
            # the texts as the chat template lays them out, so role names become single tokens too
            corpus += [f"user\n{t.prompt}", f"assistant\n{on.trace}", on.answer]
    tdir = out / "tokenizer"
    shutil.rmtree(tdir, ignore_errors=True)
    save_tokenizer(build_tokenizer(corpus, vocab_size=cfg.tokenizer.vocab), tdir)
    AutoTokenizer.from_pretrained(tdir)  # fail here, not mid-training, if the directory does not load
    return {"tokenizer": str(tdir)}


def _generate(cfg: StudyConfig, task: Task, out: Path) -> dict[str, Any]:
    from ..teacher import generate, import_pairs

    source = next(p for p in cfg.prompts if p.name == task.name)
    store = out / "pairs" / source.name
    marker = out / "pairs" / f".{source.name}.key"
    if store.exists() and not (marker.exists() and marker.read_text() == task.key):
        if cfg.teacher.backend == "synthetic" and source.format == "prompts":
            shutil.rmtree(store)  # synthetic pairs are cheap and deterministic to remake
        elif any(store.iterdir()):
            raise ValueError(f"{store} holds pairs made under other teacher or source settings; move it away "
                             f"(or restore the settings) to generate again")
    store.mkdir(parents=True, exist_ok=True)
    marker.write_text(task.key)
    tok = cfg.teacher.tokenizer or (str(study_tokenizer(cfg, out)) if cfg.teacher.backend == "synthetic" else None)
    if source.format == "pairs":
        return import_pairs(source.source, store, split=source.split, teacher=cfg.teacher.teacher,
                            limit=source.limit, tokenizer=tok, progress=console.is_terminal)
    gcfg = dataclasses.replace(
        cfg.teacher, source=source.source, out=store, limit=source.limit, split=source.split,
        prompt_field=source.prompt_field, system_field=source.system_field, reference_field=source.reference_field,
        id_field=source.id_field, family_field=source.family_field, tokenizer=tok, progress=console.is_terminal,
        probe_pairs=0 if cfg.teacher.backend == "synthetic" else cfg.teacher.probe_pairs)
    summary = generate(gcfg)
    return {k: v for k, v in summary.items() if isinstance(v, (int, float, str))}


def _bench(cfg: StudyConfig, task: Task, out: Path) -> dict[str, Any]:
    from ..evaluate import prepare_benchmark, read_prepared

    spec, entry = bench_spec(cfg, task.name)
    prepare_benchmark(spec, out / "bench", source_file=entry.source)
    return {"items": len(read_prepared(out / "bench", spec))}


def _train(cfg: StudyConfig, task: Task, out: Path) -> dict[str, Any]:
    from ..train import train_student

    student = cfg.student(task.spec["student"]["name"])
    arm = Arm.parse(task.spec["arm"])
    samples = arm_samples(cfg, out, arm, student)
    ledger = train_student(student.spec(), arm.name, samples, student_tokenizer(cfg, out, student),
                           out / "runs" / task.name, cfg.train, tokenizer_id=task.key)
    return {k: ledger[k] for k in ("train_flops", "steps", "samples", "wall_seconds", "final_loss") if k in ledger}


def _evaluate(cfg: StudyConfig, task: Task, out: Path) -> dict[str, Any]:
    from ..evaluate import GenerationBackendConfig, evaluate_model

    spec, _ = bench_spec(cfg, task.spec["benchmark"])
    jury = None
    if cfg.grading.jury:
        from ..evaluate.jury import load_jury

        jury = load_jury(cfg.grading.jury)
    run = task.spec["run"]
    summary = evaluate_model(GenerationBackendConfig(model=str(out / "runs" / run), label=task.spec["student"],
                                                     arm=task.spec["arm"]),
                             [spec], prepared=out / "bench", out=out / "eval" / run / spec.name,
                             thinking=task.spec["thinking"], cfg=cfg.eval, jury=jury, progress=console.is_terminal)
    row = summary.iloc[0]
    return {"accuracy": float(row["accuracy"]), "n": int(row["n"]),
            "generated_tokens_mean": float(row["generated_tokens_mean"])}


def answers_path(out: Path, run: str, bench: str) -> Path:
    return out / "eval" / run / bench / "answers" / f"{bench}.parquet"


def _results_rows(student: str, arm: str, ledger: dict, answers: pd.DataFrame,
                  baselines: dict[str, float]) -> list[dict[str, Any]]:
    rows = []
    for (fam, bench), df in answers.groupby(["family", "benchmark"], sort=True):
        n, k = len(df), int(df.correct.sum())
        lo, hi = wilson_interval(k, n)
        rows.append({
            "student": student, "parameters": ledger["parameters"],
            "non_embedding_parameters": ledger["non_embedding_parameters"], "arm": arm, "family": fam,
            "benchmark": str(bench), "accuracy": k / n, "ci_low": lo, "ci_high": hi, "n": n,
            "baseline": baselines[str(bench)], "train_flops": ledger["train_flops"],
            "inference_flops_mean": float(df.inference_flops.mean()),
            "generated_tokens_mean": float(df.generated_tokens.mean()),
            "generated_tokens_correct_mean": float(df[df.correct].generated_tokens.mean()) if k else float("nan"),
            "generated_tokens_incorrect_mean": float(df[~df.correct].generated_tokens.mean()) if k < n else float("nan"),
            "truncated_fraction": float((df.finish_reason == "length").mean()),
            "convention": ledger["convention"],
        })
    return rows


def token_ratios(cfg: StudyConfig, out: Path) -> dict[str, float]:
    """Mean reasoning tokens (trace + answer) over mean IFT answer tokens, per family (streamed)."""
    from ..teacher.store import iter_pairs

    sums: dict[str, list[int]] = {}
    cols = ["family", "ift_tokens", "trace_tokens", "reasoning_answer_tokens"]
    for p in cfg.prompts:
        for batch in iter_pairs(out / "pairs" / p.name, columns=cols):
            for r in batch:
                s = sums.setdefault(r.get("family") or p.name, [0, 0])
                s[0] += r["ift_tokens"] or 0
                s[1] += (r["trace_tokens"] or 0) + (r["reasoning_answer_tokens"] or 0)
    return {f: (s[1] / s[0] if s[0] else float("nan")) for f, s in sorted(sums.items())}


def _analysis(cfg: StudyConfig, task: Task, out: Path) -> dict[str, Any]:
    from ..analysis import load_study, run_analysis, write_report
    from ..evaluate import read_prepared
    from ..evaluate.aggregate import baseline_accuracy
    from .graph import expand

    every = expand(cfg)
    evals = [t for t in every if t.stage == "evaluate"]
    baselines = {}
    for b in {t.spec["benchmark"] for t in evals}:
        baselines[b] = baseline_accuracy(read_prepared(out / "bench", bench_spec(cfg, b)[0]))
    rows: list[dict[str, Any]] = []
    by_run: dict[str, list[Task]] = {}
    for t in evals:
        by_run.setdefault(t.spec["run"], []).append(t)
    for run, ts in by_run.items():
        answers = pd.concat([pd.read_parquet(answers_path(out, run, t.spec["benchmark"])) for t in ts],
                            ignore_index=True)
        with atomic_path(out / "answers" / f"{run}.parquet") as tmp:
            answers.to_parquet(tmp, index=False)
        ledger = read_json(out / "runs" / run / "ledger.json")
        rows += _results_rows(ts[0].spec["student"], ts[0].spec["arm"], ledger, answers, baselines)
    results = pd.DataFrame(rows)
    with atomic_path(out / "results.csv") as tmp:
        results.to_csv(tmp, index=False)
    with atomic_path(out / "results.parquet") as tmp:
        results.to_parquet(tmp, index=False)
    write_json(out / "study.json", cfg.to_dict())
    ratio = token_ratios(cfg, out)
    notes = ["Reasoning/IFT answer-token ratio of the teacher's pairs: "
             + ", ".join(f"{f} {r:.1f}x" for f, r in ratio.items()) + "."]
    data = load_study(out)  # the results, answers and teacher table just written: one way in
    analysis = run_analysis(data.results, data.answers, teacher_accuracy=data.teacher_accuracy or None)
    report = write_report(analysis, out / "report", title=f"Scale or reason? — {cfg.study.name}",
                          config=cfg.to_dict(), notes=notes, sections=stage_sections(cfg, out, every))
    return {"report": str(report), "results": str(out / "results.csv"), "rows": len(results),
            "token_ratio": json.loads(json.dumps(ratio))}


def stage_sections(cfg: StudyConfig, out: Path, tasks: list[Task]) -> list[Any]:
    """The report sections the stages contribute, from what each task recorded (``tasks/<id>.json``)."""
    from ..analysis.report import ReportSection
    from .graph import task_states

    states = task_states(tasks, out)

    def rec(t: Any) -> tuple[dict[str, Any], float]:
        r = states[t.id].record
        return (r.get("result") or {}), float(r.get("seconds") or 0.0)

    def g(v: Any) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    teacher, training, evaluation = [], [], []
    for t in tasks:
        res, secs = rec(t)
        if t.stage == "generate":
            src = next(p for p in cfg.prompts if p.name == t.name)
            teacher.append([t.name, src.format, cfg.teacher.backend if src.format == "prompts" else "import",
                            g(res.get("pairs", res.get("imported", ""))), f"{secs:.1f}"])
        elif t.stage == "train":
            training.append([t.name, g(res.get("samples", "")), g(res.get("steps", "")),
                             g(res.get("train_flops", "")), g(res.get("final_loss", "")), f"{secs:.1f}"])
        elif t.stage == "evaluate":
            evaluation.append([t.spec["run"], t.spec["benchmark"], g(res.get("accuracy", "")), g(res.get("n", "")),
                               g(res.get("generated_tokens_mean", "")), f"{secs:.1f}"])
    return [
        ReportSection("Teacher", ["source", "format", "back end", "pairs", "seconds"], teacher,
                      f"Paired generation per prompt source (teacher {cfg.teacher.model or cfg.teacher.backend})."),
        ReportSection("Training", ["run", "samples", "steps", "training FLOPs", "final loss", "seconds"], training,
                      "One run per student x arm; FLOPs under the paper convention, per-step log in "
                      "runs/<run>/train_log.jsonl."),
        ReportSection("Evaluation", ["run", "benchmark", "accuracy", "n", "mean generated tokens", "seconds"],
                      evaluation, "Rule-graded accuracy per run and benchmark (jury scores in eval/<run>/<benchmark>/)."),
    ]


STAGE_FUNCTIONS = {"tokenizer": _tokenizer, "generate": _generate, "bench": _bench, "train": _train,
                   "evaluate": _evaluate, "analysis": _analysis}


def execute(cfg: StudyConfig, task: Task, out: str | Path) -> dict[str, Any]:
    """Run one task (no state bookkeeping: see ``executors``); returns its one-line summary as a dict."""
    return STAGE_FUNCTIONS[task.stage](cfg, task, Path(out).resolve())
