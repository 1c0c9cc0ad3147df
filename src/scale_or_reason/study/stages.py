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
import logging
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from ..data import Arm
from ..records import result_row
from ..train import StreamedArm, arm_from_stores
from ..util import atomic_path, read_json, wilson_interval, write_json
from .config import StudyConfig
from .graph import Task

log = logging.getLogger(__name__)

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


def arm_samples(cfg: StudyConfig, out: Path, arm: Arm, student: Any = None, seed_index: int = 0) -> StreamedArm:
    """The arm of ``student`` (default: drawn from every source) over its sources' pair stores, streamed
    (``train.arm_from_stores``): never held as a list of pairs. Training seed ``seed_index`` draws its own
    order (``[study].seed + seed_index``)."""
    sources = cfg.sources(student) if student is not None else cfg.prompts
    return arm_from_stores([out / "pairs" / p.name for p in sources], arm, cfg.study.samples,
                           seed=cfg.study.seed + seed_index)


def base_dir(out: Path, student: str) -> Path:
    """Where the base stage writes a student's pretrained base."""
    return out / "bases" / student


def base_documents(cfg: StudyConfig, tokenizer: Any) -> list[str]:
    """The base corpus of the study (``synthetic.corpus``), chat drills in ``tokenizer``'s template."""
    from ..synthetic.corpus import CorpusConfig, base_corpus

    assert cfg.base is not None
    corpus = CorpusConfig(**{f.name: getattr(cfg.base, f.name) for f in dataclasses.fields(CorpusConfig)})
    return base_corpus(corpus, tokenizer)


# --- the stages ----------------------------------------------------------------------------------

def _tokenizer(cfg: StudyConfig, task: Task, out: Path) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from ..synthetic.tokenizer import embedded_tokenizer, save_tokenizer

    tdir = out / "tokenizer"
    shutil.rmtree(tdir, ignore_errors=True)
    save_tokenizer(embedded_tokenizer(cfg.tokenizer.families, cfg.tokenizer.vocab), tdir)
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
    if not gcfg.failures_tolerated(summary):  # as `sor generate` exits 1: not done, a rerun retries the prompts
        first = (summary.get("failures") or [{}])[0]
        raise RuntimeError(f"{summary['pending_failures']} prompt(s) of {source.name} failed (first: "
                           f"{first.get('prompt_id', '?')}: {first.get('reason', 'see the failure records')}); "
                           f"the pairs made are kept and a rerun asks only the failed prompts again "
                           f"([teacher].max_failed_prompts = {gcfg.max_failed_prompts})")
    if summary.get("pending_failures"):
        log.warning("%s: %d prompt(s) failed for good, left out of every arm ([teacher].max_failed_prompts = %d)",
                    source.name, summary["pending_failures"], gcfg.max_failed_prompts)
    return {k: v for k, v in summary.items() if isinstance(v, (int, float, str))}


def _bench(cfg: StudyConfig, task: Task, out: Path) -> dict[str, Any]:
    from ..evaluate import prepare_benchmark, read_prepared

    spec, entry = bench_spec(cfg, task.name)
    prepare_benchmark(spec, out / "bench", source_file=entry.source)
    return {"items": len(read_prepared(out / "bench", spec))}


def _base(cfg: StudyConfig, task: Task, out: Path) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from ..train import pretrain_base

    student = cfg.student(task.spec["student"]["name"])
    tok_dir = student_tokenizer(cfg, out, student)
    docs = base_documents(cfg, AutoTokenizer.from_pretrained(tok_dir))
    ledger = pretrain_base(student.spec(), docs, tok_dir, base_dir(out, student.name), cfg.base_train_config(student),
                           tokenizer_id=task.key)
    return {k: ledger[k] for k in ("train_flops", "steps", "samples", "tokens", "wall_seconds", "final_loss")
            if k in ledger}


def _train(cfg: StudyConfig, task: Task, out: Path) -> dict[str, Any]:
    from ..train import train_student

    student = cfg.student(task.spec["student"]["name"])
    arm = Arm.parse(task.spec["arm"])
    k = int(task.spec.get("seed_index", 0))
    samples = arm_samples(cfg, out, arm, student, seed_index=k)
    spec, tok_dir = student.spec(), student_tokenizer(cfg, out, student)
    if cfg.base is not None and not student.pretrained:
        spec = dataclasses.replace(spec, pretrained=str(base_dir(out, student.name)))
    scale = task.spec.get("lr_scale")
    if "lr_from" in task.spec:  # a later seed of a learning-rate grid: the scale chosen on the dev split
        scale = read_json(selection_path(out, task.spec["lr_from"].partition("/")[2]))["lr_scale"]
    if scale is not None:
        from ..train import peak_learning_rate

        # both formats scaled, so a curriculum's interpolated LR scales too
        spec = dataclasses.replace(spec, learning_rate={
            fmt: float(scale) * peak_learning_rate(student.spec(), fmt, cfg.train.learning_rate)
            for fmt in ("ift", "reasoning")})
    tcfg = dataclasses.replace(cfg.train, seed=cfg.train.seed + k) if k else cfg.train
    ledger = train_student(spec, arm.name, samples, tok_dir, out / "runs" / task.name, tcfg, tokenizer_id=task.key)
    return {k: ledger[k] for k in ("train_flops", "steps", "samples", "wall_seconds", "final_loss") if k in ledger}


def resolve_checkpoint(checkpoint: str, revision: str | None = None) -> tuple[Path, str | None]:
    """A finished run's checkpoint on this machine: a local directory as it is, or a hub id downloaded (weights,
    configs, tokenizer) into the hub cache. Returns the directory and the hub commit (None for a local one)."""
    path = Path(checkpoint).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"{checkpoint}: a checkpoint directory needs a config.json")
        return path.resolve(), None
    if path.is_absolute() or checkpoint.startswith(".") or checkpoint.count("/") != 1:
        raise FileNotFoundError(f"{checkpoint}: no such checkpoint directory (and not a hub id 'owner/name')")
    from huggingface_hub import HfApi, snapshot_download

    try:
        commit = HfApi().model_info(checkpoint, revision=revision).sha
        local = snapshot_download(checkpoint, revision=commit, allow_patterns=[
            "*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"])
    except Exception as e:  # offline, unknown id, gated: one line that names the checkpoint
        raise RuntimeError(f"{checkpoint}: not a local directory and the hub download failed "
                           f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    return Path(local), commit


def _checkpoint(cfg: StudyConfig, task: Task, out: Path) -> dict[str, Any]:
    """A ``[[runs]]`` checkpoint: resolved (downloaded if a hub id), its ledger written as a trained run's is."""
    from ..flops import Architecture, train_flops

    run = cfg.finished_run(task.name)
    path, commit = resolve_checkpoint(run.checkpoint, run.revision)
    arch = Architecture.from_config(path / "config.json")
    per_sample = train_flops(arch, [round(run.train_tokens)], "paper")
    ledger = {"student": run.student, "arm": run.arm, "model": str(path), "checkpoint": run.checkpoint,
              "revision": commit or run.revision, "samples": run.train_samples, "epochs": 1,
              "train_flops": per_sample * run.train_samples, "convention": "paper",
              "train_flops_basis": f"stated: {run.train_samples} samples x one sample of {run.train_tokens:g} tokens",
              "parameters": arch.parameters, "non_embedding_parameters": arch.non_embedding_parameters}
    write_json(out / "runs" / run.name / "ledger.json", ledger)
    return {k: ledger[k] for k in ("train_flops", "samples", "parameters")}


def _evaluate(cfg: StudyConfig, task: Task, out: Path) -> dict[str, Any]:
    from ..evaluate import GenerationBackendConfig, evaluate_model

    spec, _ = bench_spec(cfg, task.spec["benchmark"])
    jury = None
    if cfg.grading.jury:
        from ..evaluate.jury import load_jury

        jury = load_jury(cfg.grading.jury)
        jury.cache = vote_cache(cfg.grading.jury, jury.cache, out)
    run = task.spec["run"]
    if task.spec.get("finished"):  # a checkpoint trained elsewhere: where its checkpoint task found it
        model = Path(read_json(out / "runs" / run / "ledger.json")["model"])
    else:
        model = out / "runs" / (chosen_run(out, run) if task.spec.get("selected") else run)
    summary = evaluate_model(GenerationBackendConfig(model=str(model), label=task.spec["student"],
                                                     arm=task.spec["arm"]),
                             [spec], prepared=out / "bench", out=out / "eval" / run / spec.name,
                             thinking=task.spec["thinking"], cfg=cfg.eval, jury=jury, progress=console.is_terminal)
    row = summary.iloc[0]
    return {"accuracy": float(row["accuracy"]), "n": int(row["n"]),
            "generated_tokens_mean": float(row["generated_tokens_mean"])}


def vote_cache(jury_file: str, cache: str | None, out: Path) -> str | None:
    """Where a study keeps the jury's vote cache: where the jury file says (relative to it), except for a jury
    file shipped inside the package (``studies/configs/paper-jury.toml``), whose votes go to the study directory
    (``jury/<name>``): a study never writes into the installed package."""
    from importlib import resources

    package = Path(str(resources.files("scale_or_reason"))).resolve()
    if cache and Path(jury_file).resolve().is_relative_to(package):
        return str(Path(out) / "jury" / Path(cache).name)
    return cache


def selection_path(out: Path, run: str) -> Path:
    """The learning-rate choice of one student x arm (``select/<run>``)."""
    return out / "select" / f"{run}.json"


def chosen_run(out: Path, run: str) -> str:
    """The grid run chosen for ``run`` (``s1-ift`` -> ``s1-ift.lr0.5``)."""
    return str(read_json(selection_path(out, run))["run"])


def _select(cfg: StudyConfig, task: Task, out: Path) -> dict[str, Any]:
    """Pick the learning-rate scale with the best mean dev accuracy (ties: the smaller scale)."""
    scores: dict[str, float] = {}
    per_bench: dict[str, dict[str, float]] = {}
    for scale, run in task.spec["runs"].items():
        accs = {}
        for bench in task.spec["dev"]:
            df = pd.read_parquet(answers_path(out, run, bench), columns=["correct"])
            accs[bench] = float(df["correct"].mean()) if len(df) else 0.0
        per_bench[scale] = accs
        scores[scale] = sum(accs.values()) / len(accs) if accs else 0.0
    best = max(sorted(scores, key=float), key=lambda s: scores[s])  # max keeps the first (smallest) of ties
    record = {"run": task.spec["runs"][best], "lr_scale": float(best), "dev_accuracy": scores,
              "dev_accuracy_by_benchmark": per_bench, "dev_benchmarks": task.spec["dev"]}
    write_json(selection_path(out, task.name), record)
    return {"run": record["run"], "lr_scale": record["lr_scale"], "dev_accuracy": scores[best]}


def answers_path(out: Path, run: str, bench: str) -> Path:
    return out / "eval" / run / bench / "answers" / f"{bench}.parquet"


def _results_rows(student: str, arm: str, ledger: dict, answers: pd.DataFrame,
                  baselines: dict[str, float]) -> list[dict[str, Any]]:
    rows = []
    for (fam, bench), df in answers.groupby(["family", "benchmark"], sort=True):
        n, k = len(df), int(df.correct.sum())
        lo, hi = wilson_interval(k, n)
        rows.append(result_row(
            student=student, parameters=ledger["parameters"],
            non_embedding_parameters=ledger["non_embedding_parameters"], arm=arm, family=fam,
            benchmark=str(bench), accuracy=k / n, ci_low=lo, ci_high=hi, n=n,
            baseline=baselines[str(bench)], train_flops=ledger["train_flops"],
            inference_flops_mean=float(df.inference_flops.mean()),
            generated_tokens_mean=float(df.generated_tokens.mean()),
            generated_tokens_correct_mean=float(df[df.correct].generated_tokens.mean()) if k else float("nan"),
            generated_tokens_incorrect_mean=float(df[~df.correct].generated_tokens.mean()) if k < n else float("nan"),
            truncated_fraction=float((df.finish_reason == "length").mean()),
            convention=ledger["convention"],
        ))
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
    evals = [t for t in every if t.stage == "evaluate" and t.spec.get("role") != "dev"]
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
        if cfg.study.seeds > 1:  # the training seed of every answer: the bootstrap resamples seeds, then items
            answers["train_seed"] = int(ts[0].spec.get("seed_index", 0))
        with atomic_path(out / "answers" / f"{run}.parquet") as tmp:
            answers.to_parquet(tmp, index=False)
        trained = chosen_run(out, run) if ts[0].spec.get("selected") else run
        ledger = read_json(out / "runs" / trained / "ledger.json")
        new = _results_rows(ts[0].spec["student"], ts[0].spec["arm"], ledger, answers, baselines)
        if cfg.study.seeds > 1:  # the analysis reads several rows per point as seeds (intervals with seed variance)
            for r in new:
                r["seed"] = int(ts[0].spec.get("seed_index", 0))
        rows += new
    results = pd.DataFrame(rows)
    with atomic_path(out / "results.csv") as tmp:
        results.to_csv(tmp, index=False)
    with atomic_path(out / "results.parquet") as tmp:
        results.to_parquet(tmp, index=False)
    write_json(out / "study.json", cfg.to_dict())
    ratio = token_ratios(cfg, out)
    notes = ["Reasoning/IFT answer-token ratio of the teacher's pairs: "
             + ", ".join(f"{f} {r:.1f}x" for f, r in ratio.items()) + "."] if ratio else []
    sections = stage_sections(cfg, out, every)
    summary: dict[str, Any] = {}
    if cfg.reference is not None:
        from ..analysis.reproduction import load_reference, reproduction, reproduction_sections

        repro = reproduction(results, load_reference(cfg.reference.table))
        with atomic_path(out / "reproduction.csv") as tmp:
            repro.table.to_csv(tmp, index=False)
        sections = reproduction_sections(repro, cfg.reference.table) + sections
        w = repro.wins
        notes.append(f"Reproduction (section below, reproduction.csv): {repro.agree} of {repro.compared} published "
                     f"family accuracies inside the measured 95% interval; at equal size reasoning ahead in "
                     f"{w['measured']} of {w['cells']} cells (published: {w['published']}), significantly in "
                     f"{w['significant']}, IFT significantly in {w['ift_significant']}.")
        summary = {"agree": f"{repro.agree}/{repro.compared}", "reasoning_wins": w["measured"]}
    data = load_study(out)  # the results, answers and teacher table just written: one way in
    analysis = run_analysis(data.results, data.answers, teacher_accuracy=data.teacher_accuracy or None)
    report = write_report(analysis, out / "report", title=f"Scale or reason? — {cfg.study.name}",
                          config=cfg.to_dict(), notes=notes, sections=sections)
    return {"report": str(report), "results": str(out / "results.csv"), "rows": len(results),
            "token_ratio": json.loads(json.dumps(ratio)), **summary}


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

    teacher, bases, training, evaluation, selection = [], [], [], [], []
    for t in tasks:
        res, secs = rec(t)
        if t.stage == "base":
            bases.append([t.name, g(res.get("samples", "")), g(res.get("tokens", "")), g(res.get("steps", "")),
                          g(res.get("train_flops", "")), g(res.get("final_loss", "")), f"{secs:.1f}"])
        elif t.stage == "generate":
            src = next(p for p in cfg.prompts if p.name == t.name)
            teacher.append([t.name, src.format, cfg.teacher.backend if src.format == "prompts" else "import",
                            g(res.get("pairs", res.get("imported", ""))), f"{secs:.1f}"])
        elif t.stage == "checkpoint":
            training.append([t.name, g(res.get("samples", "")), "trained elsewhere", g(res.get("train_flops", "")), "",
                             f"{secs:.1f}"])
        elif t.stage == "train":
            training.append([t.name, g(res.get("samples", "")), g(res.get("steps", "")),
                             g(res.get("train_flops", "")), g(res.get("final_loss", "")), f"{secs:.1f}"])
        elif t.stage == "select":
            path = selection_path(out, t.name)
            if path.exists():
                sel = read_json(path)
                selection.append([t.name, ", ".join(f"×{s}: {100 * a:.1f}%" for s, a in sel["dev_accuracy"].items()),
                                  f"×{sel['lr_scale']:g}", sel["run"]])
        elif t.stage == "evaluate" and t.spec.get("role") != "dev":
            evaluation.append([t.spec["run"], t.spec["benchmark"], g(res.get("accuracy", "")), g(res.get("n", "")),
                               g(res.get("generated_tokens_mean", "")), f"{secs:.1f}"])
    return [
        ReportSection("Teacher", ["source", "format", "back end", "pairs", "seconds"], teacher,
                      f"Paired generation per prompt source (teacher {cfg.teacher.model or cfg.teacher.backend})."),
        *([ReportSection("Base stage", ["student", "documents", "tokens", "steps", "pretraining FLOPs", "final loss",
                                        "seconds"], bases,
                         "Each size pretrained once on the base corpus (the world's facts, arithmetic, option matching, "
                         "the chat format) before distillation, shared by every arm and seed; like the paper's "
                         "pretrained bases its FLOPs are charged to no arm and appear in no frontier.")] if bases else []),
        ReportSection("Training", ["run", "samples", "steps", "training FLOPs", "final loss", "seconds"], training,
                      "One run per student x arm; FLOPs under the paper convention, per-step log in "
                      "runs/<run>/train_log.jsonl. A run trained elsewhere ([[runs]]) shows the samples its entry "
                      "states and FLOPs at its stated mean length (runs/<run>/ledger.json)."),
        *([ReportSection("Learning-rate selection", ["student-arm", "mean dev accuracy by LR scale", "chosen",
                                                     "run"], selection,
                         "Seed 0 of each student x arm trained at every scale of [study].lr_grid (multiples of its peak "
                         "LR); the scale with the best mean accuracy on the dev benchmarks (the generator's dev "
                         "split, never the test split) is reported, and the other seeds train at it.")]
          if selection else []),
        ReportSection("Evaluation", ["run", "benchmark", "accuracy", "n", "mean generated tokens", "seconds"],
                      evaluation, "Rule-graded accuracy per run and benchmark (jury scores in eval/<run>/<benchmark>/)."),
    ]


STAGE_FUNCTIONS = {"tokenizer": _tokenizer, "base": _base, "generate": _generate, "bench": _bench, "train": _train,
                   "checkpoint": _checkpoint, "evaluate": _evaluate, "select": _select, "analysis": _analysis}


def execute(cfg: StudyConfig, task: Task, out: str | Path) -> dict[str, Any]:
    """Run one task (no state bookkeeping: see ``executors``); returns its one-line summary as a dict."""
    return STAGE_FUNCTIONS[task.stage](cfg, task, Path(out).resolve())
