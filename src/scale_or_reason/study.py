"""Run a whole study: tokenizer, paired generation, arms, training, evaluation, ledger, report.

A study is described by a TOML file (see ``profiles/default.toml``) and lives in a study directory.
Each stage writes its artefacts there and skips work it finds finished (same key), so a rerun
continues where an interrupted run stopped and a finished study reruns as a no-op.

Layout of a study directory::

    study.json           resolved configuration
    tokenizer/           Hugging Face tokenizer directory (chat template included)
    pairs/<family>/          pair store of PairedSample records (train prompts), written by `sor generate`'s runner
    bench/<name>.jsonl       held-out test prompts as prepared benchmarks (+ manifest)
    eval/<student>-<arm>/    resumable generations, per-benchmark answers and summary
    runs/<student>-<arm>/    checkpoint (safetensors), order.jsonl, train_log.jsonl, ledger.json
    answers/<student>-<arm>.parquet   per-sample generations and grades
    results.csv / results.parquet     one row per student x arm x benchmark
    report/report.html   the self-contained report (verdicts, figures, tables)
    timings.json         wall seconds per stage of the last invocation

Example::

    from scale_or_reason.study import load_study_config, run_study
    cfg = load_study_config("quick")            # a profile name or a TOML path
    summary = run_study(cfg, "sor-study")
    print(summary["report"])
"""

from __future__ import annotations

import dataclasses
import json
import time
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from .data import Arm, build_arm
from .evaluate import EvalConfig, GenerationBackendConfig, evaluate_model, load_spec, prepare_benchmark, read_prepared
from .evaluate.aggregate import baseline_accuracy
from .evaluate.specs import BenchmarkSpec
from .records import FAMILIES, BenchItem, PairedSample
from .synthetic.tasks import generate_tasks
from .synthetic.teacher import SyntheticTeacher
from .teacher.store import read_pairs
from .train import StudentSpec, TrainConfig, run_key, train_student
from .util import atomic_path, from_table, read_json, stable_hash, wilson_interval, write_json

console = Console(stderr=True)


@dataclass
class StudySection:
    """The ``[study]`` table of a study file."""

    name: str = "embedded"
    """Study name, shown in the report."""
    seed: int = 0
    """Seed of task generation, data order and initialisation."""
    families: list[str] = field(default_factory=lambda: list(FAMILIES))
    """Task families to generate and evaluate."""
    train_per_family: int = 1000
    """Training pairs per family; every arm trains on all of them."""
    test_per_family: int = 100
    """Held-out test prompts per family (fewer when a family has fewer distinct prompts)."""
    arms: list[str] = field(default_factory=lambda: ["ift", "reasoning"])
    """Arms to train: ``ift``, ``reasoning``, ``sequential:ρ``, ``mixed:ρ``."""
    tokenizer_vocab: int = 512
    """BPE vocabulary size of the embedded tokenizer."""


@dataclass
class StudyConfig:
    """A whole study: what to generate, which students, how to train and evaluate them."""

    study: StudySection
    """Study-level settings."""
    students: list[StudentSpec]
    """The student ladder."""
    train: TrainConfig
    """Optimisation settings shared by all runs."""
    eval: EvalConfig
    """Generation settings of the evaluation."""
    source: str = ""
    """Where the configuration was read from."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_study_config(source: str | Path) -> StudyConfig:
    """Load a study from a profile name (``default``, ``quick``) or a TOML file path."""
    path = Path(source)
    if path.suffix == ".toml" or path.exists():
        if not path.exists():
            raise FileNotFoundError(f"study file {path} does not exist")
        text, label = path.read_text(), str(path)
    else:
        try:
            text = resources.files("scale_or_reason.profiles").joinpath(f"{source}.toml").read_text()
        except FileNotFoundError:
            raise ValueError(f"unknown profile {source!r}: use 'default', 'quick' or a path to a TOML file") from None
        label = f"profile:{source}"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{label}: invalid TOML ({e})") from None
    unknown = sorted(set(raw) - {"study", "students", "train", "eval"})
    if unknown:
        raise ValueError(f"{label}: unknown table(s) {', '.join(unknown)}")
    study = from_table(StudySection, raw.get("study", {}), f"{label}: [study]")
    for fam in study.families:
        if fam not in FAMILIES:
            raise ValueError(f"{label}: [study].families: unknown family {fam!r}")
    for a in study.arms:
        try:
            Arm.parse(a)
        except ValueError as e:
            raise ValueError(f"{label}: [study].arms: {e}") from None
    students = [from_table(StudentSpec, s, f"{label}: [[students]] #{i + 1}") for i, s in enumerate(raw.get("students", []))]
    if not students:
        raise ValueError(f"{label}: no [[students]] given")
    names = [s.name for s in students]
    if len(set(names)) != len(names):
        raise ValueError(f"{label}: [[students]] names must be unique, got {names}")
    return StudyConfig(study=study, students=students,
                       train=from_table(TrainConfig, raw.get("train", {}), f"{label}: [train]"),
                       eval=from_table(EvalConfig, raw.get("eval", {}), f"{label}: [eval]"), source=label)


# --- stages -------------------------------------------------------------------------------------

def _tokenizer_stage(cfg: StudyConfig, out: Path) -> tuple[Path, str]:
    from transformers import AutoTokenizer

    from .synthetic.tokenizer import build_tokenizer, save_tokenizer

    tdir = out / "tokenizer"
    key = stable_hash({"families": cfg.study.families, "seed": cfg.study.seed, "vocab": cfg.study.tokenizer_vocab,
                       "v": 1})
    marker = tdir / "sor_tokenizer.json"
    if marker.exists() and read_json(marker).get("key") == key:
        return tdir, key
    teacher = SyntheticTeacher()
    corpus = []
    for fam in cfg.study.families:
        for t in generate_tasks(fam, 400, split="train", seed=10_000 + cfg.study.seed):
            on = teacher.answer(t, enable_thinking=True)
            # the texts as the chat template lays them out, so role names become single tokens too
            corpus += [f"user\n{t.prompt}", f"assistant\n{on.trace}", on.answer]
    tok = build_tokenizer(corpus, vocab_size=cfg.study.tokenizer_vocab)
    save_tokenizer(tok, tdir)
    AutoTokenizer.from_pretrained(tdir)  # fail here, not mid-training, if the directory does not load
    write_json(marker, {"key": key})
    return tdir, key


def _pairs_stage(cfg: StudyConfig, out: Path, tokenizer_dir: Path,
                 tok_key: str = "") -> list[PairedSample]:
    """The study's teacher stage *is* ``sor generate``: the synthetic back end through the generation runner
    into one ``PairStore`` per family (``pairs/<family>/``), resumable like any teacher's; a store made
    under other settings (size, seed, tokenizer) is replaced."""
    import shutil

    from .teacher import GenerateConfig, generate

    pairs: list[PairedSample] = []
    for fam in cfg.study.families:
        store = out / "pairs" / fam
        key = stable_hash({"fam": fam, "n": cfg.study.train_per_family, "seed": cfg.study.seed, "tok": tok_key,
                           "v": 2})
        marker = out / "pairs" / f".{fam}.key"
        if not (marker.exists() and marker.read_text() == key):
            shutil.rmtree(store, ignore_errors=True)  # synthetic pairs are cheap and deterministic to remake
            marker.unlink(missing_ok=True)
        generate(GenerateConfig(source=f"synthetic:{fam}:{cfg.study.train_per_family}:{cfg.study.seed}", out=store,
                                backend="synthetic", tokenizer=str(tokenizer_dir), progress=console.is_terminal,
                                probe_pairs=0))
        marker.write_text(key)
        pairs += read_pairs(store)
    return pairs


def _bench_stage(cfg: StudyConfig, out: Path) -> list[tuple[BenchmarkSpec, list[BenchItem]]]:
    """The held-out test prompts of each family as prepared benchmarks (``bench/``), the same format and
    evaluation path as the paper's benchmarks."""
    benches = []
    for fam in cfg.study.families:
        spec = load_spec(f"synthetic-{fam.lower()}")
        spec = dataclasses.replace(spec, options={**spec.options, "n": cfg.study.test_per_family,
                                                  "seed": cfg.study.seed})
        try:
            items = read_prepared(out / "bench", spec)
        except (FileNotFoundError, ValueError):
            prepare_benchmark(spec, out / "bench")
            items = read_prepared(out / "bench", spec)
        benches.append((spec, items))
    return benches


def _results_rows(student: StudentSpec, arm: str, ledger: dict, answers: pd.DataFrame,
                  baselines: dict[str, float]) -> list[dict[str, Any]]:
    rows = []
    for (fam, _), df in answers.groupby(["family", "benchmark"], sort=True):
        n, k = len(df), int(df.correct.sum())
        lo, hi = wilson_interval(k, n)
        rows.append({
            "student": student.name, "parameters": ledger["parameters"],
            "non_embedding_parameters": ledger["non_embedding_parameters"], "arm": arm, "family": fam,
            "benchmark": str(df.benchmark.iloc[0]), "accuracy": k / n, "ci_low": lo, "ci_high": hi, "n": n,
            "baseline": baselines[str(df.benchmark.iloc[0])], "train_flops": ledger["train_flops"],
            "inference_flops_mean": float(df.inference_flops.mean()),
            "generated_tokens_mean": float(df.generated_tokens.mean()),
            "generated_tokens_correct_mean": float(df[df.correct].generated_tokens.mean()) if k else float("nan"),
            "generated_tokens_incorrect_mean": float(df[~df.correct].generated_tokens.mean()) if k < n else float("nan"),
            "truncated_fraction": float((df.finish_reason == "length").mean()),
            "convention": ledger["convention"],
        })
    return rows


def run_study(cfg: StudyConfig, out: str | Path) -> dict[str, Any]:
    """Run (or resume) every stage of ``cfg`` into the study directory ``out``; returns a summary.

    The summary holds the report path, the results table path, the runs trained by *this*
    invocation (empty on a rerun of a finished study) and the wall seconds per stage.
    """
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "study.json", cfg.to_dict())
    timings: dict[str, float] = {}
    t = time.time()
    console.print(f"[bold]study[/] {cfg.study.name} -> {out}")
    tokenizer_dir, tok_key = _tokenizer_stage(cfg, out)
    timings["tokenizer"] = time.time() - t

    t = time.time()
    pairs = _pairs_stage(cfg, out, tokenizer_dir, tok_key)
    benches = _bench_stage(cfg, out)
    timings["pairs"] = time.time() - t
    ratio = _token_ratios(pairs)
    console.print(f"pairs: {len(pairs)} train pairs; reasoning/IFT answer tokens: "
                  + ", ".join(f"{f} {r:.1f}x" for f, r in ratio.items()))

    trained: list[str] = []
    ledgers: dict[tuple[str, str], dict] = {}
    t = time.time()
    runs = [(s, a) for s in cfg.students for a in cfg.study.arms]
    for i, (student, arm_name) in enumerate(runs, 1):
        arm = Arm.parse(arm_name)
        samples = build_arm(pairs, arm, len(pairs), seed=cfg.study.seed)
        run_dir = out / "runs" / f"{student.name}-{arm.name.replace(':', '')}"
        done = run_dir / "DONE.json"
        if done.exists() and read_json(done).get("key") == run_key(student, arm.name, samples, cfg.train, tok_key):
            console.print(f"[{i}/{len(runs)}] {run_dir.name}: finished earlier, reused")
        else:
            console.print(f"[{i}/{len(runs)}] train {student.name} on {arm.name} ({len(samples)} samples)")
            trained.append(run_dir.name)
        ledger = train_student(student, arm.name, samples, tokenizer_dir, run_dir, cfg.train, tokenizer_id=tok_key)
        ledgers[(student.name, arm.name)] = ledger
    timings["train"] = time.time() - t

    t = time.time()
    specs = [spec for spec, _ in benches]
    baselines = {spec.name: baseline_accuracy(items) for spec, items in benches}
    rows: list[dict[str, Any]] = []
    for student, arm_name in runs:
        arm = Arm.parse(arm_name)
        run_dir = out / "runs" / f"{student.name}-{arm.name.replace(':', '')}"
        # generations are kept per sample under eval/<run>/ (resumable); answers/<run>.parquet joins them
        ev = out / "eval" / run_dir.name
        evaluate_model(GenerationBackendConfig(model=str(run_dir), label=student.name, arm=arm.name), specs,
                       prepared=out / "bench", out=ev, thinking=arm.kind != "ift", cfg=cfg.eval,
                       progress=console.is_terminal)
        answers = pd.concat([pd.read_parquet(ev / "answers" / f"{s.name}.parquet") for s in specs],
                            ignore_index=True)
        with atomic_path(out / "answers" / f"{run_dir.name}.parquet") as tmp:
            answers.to_parquet(tmp, index=False)
        rows += _results_rows(student, arm.name, ledgers[(student.name, arm.name)], answers, baselines)
    timings["evaluate"] = time.time() - t

    t = time.time()
    results = pd.DataFrame(rows)
    with atomic_path(out / "results.csv") as tmp:
        results.to_csv(tmp, index=False)
    with atomic_path(out / "results.parquet") as tmp:
        results.to_parquet(tmp, index=False)
    from .analysis import write_report

    notes = ["Reasoning/IFT answer-token ratio of the teacher's pairs: "
             + ", ".join(f"{f} {r:.1f}x" for f, r in ratio.items()) + "."]
    report = write_report(results, out / "report", title=f"Scale or reason? — {cfg.study.name}",
                          config=cfg.to_dict(), notes=notes)
    timings["analysis"] = time.time() - t
    write_json(out / "timings.json", timings)
    return {"study": str(out), "report": str(report), "results": str(out / "results.csv"),
            "trained": trained, "timings": timings, "token_ratio": ratio}


def _token_ratios(pairs: list[PairedSample]) -> dict[str, float]:
    """Mean reasoning tokens (trace + answer) over mean IFT answer tokens, per family."""
    out: dict[str, float] = {}
    fams = sorted({p.family for p in pairs})
    for f in fams:
        ps = [p for p in pairs if p.family == f]
        ift = sum(p.ift_tokens for p in ps)
        rea = sum(p.trace_tokens + p.reasoning_answer_tokens for p in ps)
        out[f] = rea / ift if ift else float("nan")
    return out


def run_demo(out: str | Path = "sor-study", profile: str = "default") -> dict[str, Any]:
    """``sor demo``: the embedded study of ``profile`` into ``out``."""
    return run_study(load_study_config(profile), out)


def study_ledgers(study_dir: str | Path, convention: str = "paper") -> list[dict[str, Any]]:
    """The three-number FLOPs ledger (training, evaluation inference, teacher) of every run of a study.

    Recomputed under ``convention`` from the token lengths the study recorded (``order.jsonl`` for
    training, ``answers/*.parquet`` for evaluation), so any convention can be asked for after the fact.
    The embedded programmatic teacher runs no model: its generation costs 0 FLOPs.
    """
    from .flops import Architecture, FlopsLedger

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
