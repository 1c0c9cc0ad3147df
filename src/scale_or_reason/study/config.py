"""The study file: one TOML document that describes a whole study, validated before anything runs.

Tables (each field is documented on its dataclass below; ``studies/*.toml`` are worked examples):

* ``[study]`` name, seed, training seeds, arms, samples per arm.
* ``[teacher]`` the generation back end (``synthetic | hf | openai | vllm``), model, toggle profile,
  sampling per mode, FLOPs config: the fields of ``sor generate`` (``teacher.GenerateConfig``) that are
  not about the prompt source.
* ``[[prompts]]`` prompt sources, pooled into the training set: prompts the teacher answers, or ready-made
  pairs in the released ``prompt``/``reasoning``/``ift`` layout (``format = "pairs"``).
* ``[tokenizer]`` the tokenizer of students built from config (``synthetic``: built from the synthetic
  families; or a directory). Pretrained students use their own.
* ``[base]`` (optional) pretrain every student built from config on the synthetic base corpus before
  distillation (``synthetic.corpus.CorpusConfig`` fields, plus epochs and learning rate): the analogue of
  the paper's pretrained bases, one per size, shared by every arm and seed, its FLOPs reported apart.
* ``[[students]]`` ``train.StudentSpec`` fields; ``[train]`` ``train.TrainConfig``.
* ``[[runs]]`` (optional) checkpoints trained elsewhere, evaluated as runs (``FinishedRun``); a study of
  finished runs only needs no ``[[prompts]]`` and no ``[[students]]``. ``[reference]`` (optional) published
  accuracies the report compares them with (``studies/reproduce.toml``: the paper's 20 students, Table 1).
* ``[[benchmarks]]`` spec names or spec files, with option overrides; ``[eval]`` ``evaluate.EvalConfig``;
  ``[grading]`` the jury file (rule graders always run).
* ``[compute]`` the plan's assumptions (GPU peak, MFU, expected lengths); ``[executor]`` local or SLURM.

Errors name the file and the key: ``studies/x.toml: [train].batch_size: expected an integer, got 'big'``.

Example::

    from scale_or_reason.study.config import load_study_file
    cfg = load_study_file("studies/demo.toml")       # or a shipped name: "demo", "quick", "paper"
    print([s.name for s in cfg.students], cfg.study.arms)
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..data import Arm
from ..evaluate.runner import EvalConfig
from ..flops import CONVENTIONS
from ..records import FAMILIES
from ..synthetic.corpus import CorpusConfig
from ..teacher.config import GenerateConfig
from ..train import StudentSpec, TrainConfig
from ..util import from_table

__all__ = ["BaseSection", "BenchmarkEntry", "ComputeSection", "ExecutorSection", "FinishedRun", "GradingSection",
           "PromptSource", "ReferenceSection", "StudyConfig",
           "StudySection", "TokenizerSection", "load_study_file", "shipped_studies"]

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
"""Names that become directory names and task ids: no separators, no leading dot, no spaces."""

STAGES = ("tokenizer", "base", "generate", "bench", "train", "checkpoint", "evaluate", "select", "analysis")
"""The stages of a study, in dependency order."""

# GenerateConfig fields that describe one prompt source (they live in [[prompts]]) or that the study sets.
_SOURCE_FIELDS = {"source", "out", "limit", "split", "prompt_field", "system_field", "reference_field", "id_field",
                  "family_field", "progress"}


@dataclass
class StudyStudent(StudentSpec):
    """One ``[[students]]`` entry: a ``train.StudentSpec`` plus what the study needs to know about it."""

    data: list[str] = field(default_factory=list)
    """Names of the ``[[prompts]]`` sources this student trains on (empty: all of them). The paper trains
    one set of students on the general corpus and another on the math corpus."""
    arms: list[str] = field(default_factory=list)
    """Arms of this student (empty: ``[study].arms``)."""
    architecture: dict[str, Any] = field(default_factory=dict)
    """The ``config.json`` contents of a pretrained student, used only by ``sor study plan`` when the
    checkpoint is not on this machine."""
    base_learning_rate: float | None = None
    """Peak learning rate of this student's base stage (None: ``[base].learning_rate``). One rate does not suit
    every size: measured on the embedded bases (docs/embedded.md), 3e-3 suits the 2-layer students and 1e-3
    the 3- to 5-layer ones."""

    def spec(self) -> StudentSpec:
        """The training stage's view (what a run's key hashes)."""
        return StudentSpec(**{f.name: getattr(self, f.name) for f in dataclasses.fields(StudentSpec)})


@dataclass
class BaseSection(CorpusConfig):
    """The ``[base]`` table: the base stage, what the corpus holds (``CorpusConfig``) and how it is trained."""

    epochs: int = 2
    """Passes over the base corpus."""
    learning_rate: float = 3e-3
    """Peak learning rate of the base stage (schedule shape: ``[train]``'s)."""
    batch_size: int | None = None
    """Documents per optimiser step of the base stage (None: ``[train].batch_size``). On a CPU, halving the
    batch of tiny students nearly doubles the steps for ~20% more time, and the base learns more from them."""


@dataclass
class FinishedRun:
    """One ``[[runs]]`` entry: a checkpoint trained elsewhere (a released student), evaluated as a run of the
    study: no teacher and no training task, its training compute taken from what the entry states."""

    name: str
    """Run name: its directory under ``runs/`` and ``eval/`` (must differ from every trained run's name)."""
    checkpoint: str
    """A local checkpoint directory, or a hub id that the checkpoint task downloads (needs the hub then)."""
    student: str
    """The student it is a point of (the results' ``student``): the IFT and reasoning runs of one size and
    corpus share it, as a trained student's runs do. ``[reference]`` rows are matched on it (the paper's
    Table 1 names ``Qwen2.5-0.5B`` for the general corpus, ``Qwen2.5-0.5B-math`` for the math one)."""
    arm: str = "ift"
    """Its training format, an arm name: a non-IFT arm is evaluated with reasoning on."""
    train_samples: int = 0
    """Samples it was trained on (one epoch), for its training FLOPs (the paper: every released pair)."""
    train_tokens: float = 0.0
    """Mean tokens of one training sample (prompt + answer). Training FLOPs are ``train_samples`` times one
    sample's at this length: an approximation (the quadratic attention term of varied lengths is
    ``Σ l²``, at least ``n·mean²``), stated in the run's ledger."""
    revision: str | None = None
    """Hub revision (a commit) to pin; None: the default branch, whose commit the ledger records."""
    architecture: dict[str, Any] = field(default_factory=dict)
    """``config.json`` contents, used only by ``sor study plan`` while the checkpoint is not on this machine."""


@dataclass
class ReferenceSection:
    """The ``[reference]`` table: published accuracies that the ``[[runs]]`` are compared with in the report."""

    table: str = "paper-table1"
    """``paper-table1`` (the paper's Table 1, shipped: ``analysis.paper_table1``) or a CSV file in the results
    schema with at least ``student``, ``arm``, ``family`` and ``accuracy`` (a fraction): one published value
    per student x arm x family, matched with the measured family accuracy of the same student and arm."""


@dataclass
class StudySection:
    """The ``[study]`` table."""

    name: str = "study"
    """Study name, shown in the report."""
    seed: int = 0
    """Seed of the arms' sample choice and order (students' initialisation seeds are ``[train].seed``)."""
    arms: list[str] = field(default_factory=lambda: ["ift", "reasoning"])
    """Arms every student is trained on: ``ift``, ``reasoning``, ``sequential:ρ``, ``mixed:ρ``."""
    samples: int = 0
    """Samples per arm, drawn from the pooled prompt sources (0: every pair). Every arm has this many."""
    lr_grid: list[float] = field(default_factory=list)
    """Learning-rate scales tried per student x arm (multiples of its peak LR, e.g. ``[0.5, 1, 2]``): seed 0
    trains once per scale, the scale with the best mean accuracy on the ``role = "dev"`` benchmarks is kept
    (ties: the smaller scale), and the other seeds train at it. Empty: no grid."""
    seeds: int = 1
    """Training seeds per student x arm: seed ``k`` (0-based) draws the arm's order with ``seed + k`` and
    initialises with ``[train].seed + k``. Runs of seed 0 are named ``s1-ift``, the others ``s1-ift.seed1``,
    so adding seeds to a finished study keeps its runs."""


@dataclass
class PromptSource:
    """One ``[[prompts]]`` entry: a prompt source the teacher answers, or ready-made pairs."""

    name: str
    """Name of the source; its pairs go to ``pairs/<name>/``."""
    source: str
    """JSONL, Parquet, saved HF dataset dir, hub id, or ``synthetic:FAM[,FAM]:N[:SEED]``."""
    format: str = "prompts"
    """``prompts`` (the teacher answers them) or ``pairs`` (the released ``prompt``/``reasoning``/``ift``
    layout, imported as they are: no teacher runs)."""
    split: str = "train"
    """Split of a dataset source."""
    limit: int | None = None
    """Only the first ``limit`` prompts."""
    prompt_field: str = "prompt"
    """Field with the prompt (or a chat)."""
    system_field: str | None = None
    """Field with a system prompt."""
    reference_field: str | None = None
    """Field with a reference answer."""
    id_field: str | None = None
    """Field with prompt ids (default: row index + text hash)."""
    family_field: str | None = None
    """Field with a family label."""
    expected_prompts: int | None = None
    """Prompt count the plan assumes when it cannot count the source (a hub id with no local copy)."""
    expected_prompt_tokens: int | None = None
    """Mean prompt tokens the plan assumes until pairs exist (None: ``[compute].prompt_tokens``)."""
    expected_ift_tokens: int | None = None
    """Mean IFT answer tokens the plan assumes until pairs exist (None: ``[compute].ift_tokens``)."""
    expected_reasoning_tokens: int | None = None
    """Mean reasoning output tokens (trace + answer) assumed until pairs exist (None: ``[compute]``'s)."""


@dataclass
class TokenizerSection:
    """The ``[tokenizer]`` table: the tokenizer of students built from config (and of the synthetic teacher)."""

    kind: str = "none"
    """``synthetic`` (a byte-level BPE built from the synthetic families' texts, with a Qwen3-style chat
    template), ``path`` (a tokenizer directory) or ``none`` (every student is pretrained)."""
    path: str | None = None
    """``path``: the tokenizer directory."""
    families: list[str] = field(default_factory=lambda: list(FAMILIES))
    """``synthetic``: families whose texts train the BPE."""
    vocab: int = 512
    """``synthetic``: vocabulary size."""


@dataclass
class BenchmarkEntry:
    """One ``[[benchmarks]]`` entry."""

    name: str
    """A shipped spec name (``sor bench list``) or a path to a spec TOML file."""
    options: dict[str, Any] = field(default_factory=dict)
    """Overrides of the spec's adapter options (e.g. ``{n = 100, seed = 0}`` for the synthetic families)."""
    source: str | None = None
    """A local copy of the benchmark's data (file or dataset directory) for machines without hub access."""
    role: str = "test"
    """``test`` (reported) or ``dev`` (only selects learning rates with ``[study].lr_grid``; never in the
    results). A dev benchmark must not share items with a test one: the synthetic ``*-dev`` specs draw
    the generator's dev split."""


@dataclass
class GradingSection:
    """The ``[grading]`` table. Rule graders always run; a jury adds the paper's LLM-judge score."""

    jury: str | None = None
    """Jury file (TOML with ``[[judges]]``, see ``docs/benchmarks.md``); None: rule graders only."""


@dataclass
class ComputeSection:
    """The ``[compute]`` table: what ``sor study plan`` assumes to turn FLOPs into GPU-hours."""

    gpu: str = "H100-SXM"
    """GPU name, shown in the plan."""
    peak_flops: float = 989e12
    """Peak dense bf16 FLOP/s of one GPU (H100 SXM: 989 TFLOP/s)."""
    mfu_train: float = 0.35
    """Model-FLOPs utilisation of training."""
    mfu_inference: float = 0.10
    """Model-FLOPs utilisation of generation (decoding is memory-bound: far below training's)."""
    convention: str = "paper"
    """FLOPs convention of the plan: ``paper``, ``exact`` or ``6nd``."""
    prompt_tokens: int = 150
    """Expected prompt tokens of a training prompt, until pairs exist."""
    ift_tokens: int = 500
    """Expected IFT answer tokens, until pairs exist."""
    reasoning_tokens: int = 4000
    """Expected reasoning output tokens (trace + answer), until pairs exist."""
    eval_ift_tokens: int = 500
    """Expected tokens of an IFT student's answer on a benchmark, until answers exist."""
    eval_reasoning_tokens: int = 4000
    """Expected tokens of a reasoning student's answer on a benchmark, until answers exist."""
    eval_prompt_tokens: int = 200
    """Expected benchmark prompt tokens, until the benchmark is prepared."""
    eval_items: int = 1000
    """Expected items of a benchmark that is not prepared yet."""

    def __post_init__(self) -> None:  # the file's table and `sor study plan --mfu-train ...` alike
        for key in ("peak_flops", "mfu_train", "mfu_inference"):
            if not getattr(self, key) > 0:
                raise ValueError(f"{key}: must be positive, got {getattr(self, key)}")
        if self.mfu_train > 1 or self.mfu_inference > 1:
            raise ValueError("an MFU is a fraction of the peak, at most 1")
        if self.convention not in CONVENTIONS:
            raise ValueError(f"convention: {self.convention!r} is not one of {', '.join(CONVENTIONS)}")


@dataclass
class ExecutorSection:
    """The ``[executor]`` table: where tasks run."""

    kind: str = "local"
    """``local`` (this process, one task at a time) or ``slurm`` (one submitit job per task)."""
    folder: str = "slurm"
    """slurm: job scripts and logs, relative to the study directory."""
    cluster: str = "slurm"
    """slurm: submitit's cluster, ``slurm``, or ``local`` (submitit's local executor: jobs as subprocesses
    in dependency waves, for testing a study's jobs without a cluster)."""
    partition: str | None = None
    """slurm: partition."""
    account: str | None = None
    """slurm: account."""
    qos: str | None = None
    """slurm: quality of service."""
    gpus: dict[str, int] = field(default_factory=lambda: {"generate": 8, "train": 8, "evaluate": 1})
    """GPUs per task of each stage (stages not named get none). Training with more than one GPU is launched
    with ``accelerate launch`` (``accelerate_config``)."""
    time_min: dict[str, int] = field(default_factory=lambda: {"generate": 2880, "train": 2880, "evaluate": 720})
    """slurm: time limit per task of each stage, minutes (default for stages not named: 60)."""
    cpus_per_task: int = 16
    """slurm: CPUs per task."""
    mem: str | None = None
    """slurm: memory per node, e.g. ``"512G"``."""
    accelerate_config: str | None = None
    """Training on several GPUs: an accelerate config file (``configs/accelerate/*.yaml``)."""
    setup: list[str] = field(default_factory=list)
    """slurm: shell lines run before each task (``module load ...``, ``source .venv/bin/activate``)."""
    python: str | None = None
    """slurm: the python running the tasks (default: this one)."""


@dataclass
class StudyConfig:
    """A whole study, as read from its file."""

    study: StudySection
    """``[study]``."""
    teacher: GenerateConfig
    """``[teacher]``: the generation settings shared by every prompt source."""
    prompts: list[PromptSource]
    """``[[prompts]]``."""
    tokenizer: TokenizerSection
    """``[tokenizer]``."""
    students: list[StudyStudent]
    """``[[students]]``."""
    train: TrainConfig
    """``[train]``."""
    benchmarks: list[BenchmarkEntry]
    """``[[benchmarks]]``."""
    eval: EvalConfig
    """``[eval]``."""
    grading: GradingSection
    """``[grading]``."""
    compute: ComputeSection
    """``[compute]``."""
    executor: ExecutorSection
    """``[executor]``."""
    base: BaseSection | None = None
    """``[base]`` when the study pretrains its students built from config (None: they start from random
    weights)."""
    runs: list[FinishedRun] = field(default_factory=list)
    """``[[runs]]``: checkpoints trained elsewhere, evaluated beside (or instead of) the trained students."""
    reference: ReferenceSection | None = None
    """``[reference]``: published accuracies the report compares the ``[[runs]]`` with (None: no comparison)."""
    path: str = ""
    """The file the study was read from (absolute), or ``shipped:NAME`` for a shipped study."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def arms(self, student: StudyStudent | None = None) -> list[Arm]:
        """The arms of ``student`` (its own list, else ``[study].arms``)."""
        return [Arm.parse(a) for a in ((student.arms if student else None) or self.study.arms)]

    def base_train_config(self, student: StudyStudent) -> TrainConfig:
        """The ``TrainConfig`` of ``student``'s base stage: ``[train]`` with ``[base]``'s epochs, learning rate and
        batch (the student's ``base_learning_rate`` where it has one)."""
        assert self.base is not None
        batch = self.base.batch_size or self.train.batch_size
        lr = self.base.learning_rate if student.base_learning_rate is None else student.base_learning_rate
        return dataclasses.replace(self.train, epochs=self.base.epochs, learning_rate=lr,
                                   batch_size=batch, micro_batch_size=min(self.train.micro_batch_size, batch))

    def student(self, name: str) -> StudyStudent:
        return next(s for s in self.students if s.name == name)

    def finished_run(self, name: str) -> FinishedRun:
        """The ``[[runs]]`` entry ``name``."""
        return next(r for r in self.runs if r.name == name)

    def sources(self, student: StudyStudent) -> list[PromptSource]:
        """The prompt sources ``student`` trains on."""
        return [p for p in self.prompts if not student.data or p.name in student.data]

    def with_changes(self, **tables: Any) -> StudyConfig:
        return dataclasses.replace(self, **tables)


_TABLES = {"study", "teacher", "prompts", "tokenizer", "base", "students", "train", "benchmarks", "eval",
           "grading", "compute", "executor", "runs", "reference"}


def shipped_studies() -> list[str]:
    """Names of the study files shipped with the package (``studies/*.toml``)."""
    return sorted(p.name[:-5] for p in resources.files("scale_or_reason.studies").iterdir()
                  if p.name.endswith(".toml"))


def _read(source: str | Path) -> tuple[dict[str, Any], str, Path | None, bool]:
    path = Path(source)
    if path.suffix == ".toml" or path.exists():
        if not path.exists():
            raise FileNotFoundError(f"study file {path} does not exist")
        text, label, base, shipped = path.read_text(), str(path), path.resolve().parent, False
    else:
        res = resources.files("scale_or_reason.studies").joinpath(f"{source}.toml")
        if not res.is_file():
            raise ValueError(f"unknown study {source!r}: give a TOML file or one of {', '.join(shipped_studies())}")
        text, label, shipped = res.read_text(), f"studies/{source}.toml", True
        base = Path(str(res)).parent if Path(str(res)).is_file() else None
    try:
        return tomllib.loads(text), label, base, shipped
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{label}: invalid TOML ({e})") from None


def _list(raw: dict[str, Any], key: str, label: str) -> list[dict[str, Any]]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"{label}: [[{key}]] must be an array of tables")
    return value


def _entries(raw: dict[str, Any], key: str, cls: type, label: str, required: bool = True) -> list[Any]:
    """The ``[[key]]`` array of tables as ``cls`` instances, with unique safe names (at least one if
    ``required``)."""
    items = [from_table(cls, t, f"{label}: [[{key}]] #{i + 1}") for i, t in enumerate(_list(raw, key, label))]
    if not items and required:
        raise ValueError(f"{label}: no [[{key}]] given")
    _names(items, key, label)
    return items


def _names(items: list[Any], what: str, label: str) -> None:
    seen: set[str] = set()
    for i, it in enumerate(items):
        if not SAFE_NAME.match(it.name):
            raise ValueError(f"{label}: [[{what}]] #{i + 1}.name: {it.name!r} is not a safe name (letters, digits, "
                             f"'.', '_', '-'; no leading dot; at most 64 characters)")
        if it.name in seen:
            raise ValueError(f"{label}: [[{what}]] #{i + 1}.name: {it.name!r} is used twice")
        seen.add(it.name)


def _resolve(base: Path | None, value: str | None) -> str | None:
    """A relative path in a study file is relative to the file (if it names something that exists there)."""
    if not value or base is None or Path(value).is_absolute():
        return value
    candidate = base / value
    return str(candidate) if candidate.exists() else value


def _finished_runs(raw: dict[str, Any], label: str) -> list[FinishedRun]:
    runs = _entries(raw, "runs", FinishedRun, label, required=False)
    for i, r in enumerate(runs):
        where = f"{label}: [[runs]] #{i + 1}"
        _check_arms([r.arm], f"{where}.arm")
        if not r.checkpoint:
            raise ValueError(f"{where}.checkpoint: give a checkpoint directory or a hub id")
        if r.train_samples <= 0 or not r.train_tokens > 0:
            raise ValueError(f"{where}: train_samples and train_tokens must be positive (its training FLOPs), got "
                             f"{r.train_samples} and {r.train_tokens}")
    return runs


def _check_arms(arms: list[str], where: str) -> None:
    for i, a in enumerate(arms):
        try:
            Arm.parse(a)
        except ValueError as e:
            raise ValueError(f"{where}[{i}]: {e}") from None
    if len({Arm.parse(a).name for a in arms}) != len(arms):
        raise ValueError(f"{where}: an arm is listed twice")


def load_study_file(source: str | Path) -> StudyConfig:
    """Read and validate a study file (a path, or the name of a shipped study such as ``demo``)."""
    raw, label, base, shipped = _read(source)
    unknown = sorted(set(raw) - _TABLES)
    if unknown:
        raise ValueError(f"{label}: unknown table(s) {', '.join(unknown)}; known: {', '.join(sorted(_TABLES))}")
    for key in _TABLES - {"prompts", "students", "benchmarks", "runs"}:
        if key in raw and not isinstance(raw[key], dict):
            raise ValueError(f"{label}: [{key}] must be a table")

    study = from_table(StudySection, raw.get("study", {}), f"{label}: [study]")
    if not SAFE_NAME.match(study.name):
        raise ValueError(f"{label}: [study].name: {study.name!r} is not a safe name")
    if not study.arms:
        raise ValueError(f"{label}: [study].arms: no arm given")
    _check_arms(study.arms, f"{label}: [study].arms")
    if study.samples < 0:
        raise ValueError(f"{label}: [study].samples: must be >= 0, got {study.samples}")
    if any(not m > 0 for m in study.lr_grid) or len(set(study.lr_grid)) != len(study.lr_grid):
        raise ValueError(f"{label}: [study].lr_grid: scales must be positive and distinct, got {study.lr_grid}")
    if study.seeds < 1:
        raise ValueError(f"{label}: [study].seeds: must be >= 1, got {study.seeds}")

    tdata = dict(raw.get("teacher", {}))
    bad = sorted(set(tdata) & _SOURCE_FIELDS)
    if bad:
        raise ValueError(f"{label}: [teacher]: {', '.join(bad)} belong(s) to each [[prompts]] entry")
    teacher = from_table(GenerateConfig, tdata, f"{label}: [teacher]")
    if teacher.backend not in ("synthetic", "hf", "openai", "vllm"):
        raise ValueError(f"{label}: [teacher].backend: {teacher.backend!r} is not synthetic, hf, openai or vllm")
    teacher = dataclasses.replace(teacher, model=_resolve(base, teacher.model),
                                  tokenizer=_resolve(base, teacher.tokenizer),
                                  teacher_config=_resolve(base, teacher.teacher_config),
                                  api_key_file=_resolve(base, teacher.api_key_file), progress=False)

    finished = _finished_runs(raw, label)
    # a study of finished checkpoints only needs no teacher and no student
    prompts = _entries(raw, "prompts", PromptSource, label, required=not finished or "students" in raw)
    for i, p in enumerate(prompts):
        if p.format not in ("prompts", "pairs"):
            raise ValueError(f"{label}: [[prompts]] #{i + 1}.format: {p.format!r} is not 'prompts' or 'pairs'")
        if p.limit is not None and p.limit <= 0:
            raise ValueError(f"{label}: [[prompts]] #{i + 1}.limit: must be positive, got {p.limit}")
    prompts = [dataclasses.replace(p, source=_resolve(base, p.source) or p.source) for p in prompts]

    tokenizer = from_table(TokenizerSection, raw.get("tokenizer", {}), f"{label}: [tokenizer]")
    if tokenizer.kind not in ("synthetic", "path", "none"):
        raise ValueError(f"{label}: [tokenizer].kind: {tokenizer.kind!r} is not synthetic, path or none")
    if tokenizer.kind == "path" and not tokenizer.path:
        raise ValueError(f"{label}: [tokenizer].path: required with kind = 'path'")
    for fam in tokenizer.families:
        if fam not in FAMILIES:
            raise ValueError(f"{label}: [tokenizer].families: unknown family {fam!r}")
    tokenizer = dataclasses.replace(tokenizer, path=_resolve(base, tokenizer.path))

    students = _entries(raw, "students", StudyStudent, label, required=not finished)
    for i, s in enumerate(students):
        where = f"{label}: [[students]] #{i + 1}"
        if not s.pretrained and "model_type" not in s.config:
            raise ValueError(f"{where}: give 'pretrained' or a 'config' with 'model_type'")
        if not s.pretrained and tokenizer.kind == "none":
            raise ValueError(f"{where}: a student built from config needs [tokenizer] kind = 'synthetic' or 'path'")
        for name in s.data:
            if name not in {p.name for p in prompts}:
                raise ValueError(f"{where}.data: no [[prompts]] source named {name!r}")
        _check_arms(s.arms, f"{where}.arms")
        if s.base_learning_rate is not None:
            if "base" not in raw:
                raise ValueError(f"{where}.base_learning_rate: needs a [base] table (the base stage)")
            if not s.base_learning_rate > 0:
                raise ValueError(f"{where}.base_learning_rate: must be positive, got {s.base_learning_rate}")
        for fmt, lr in s.learning_rate.items():
            if fmt not in ("ift", "reasoning"):
                raise ValueError(f"{where}.learning_rate: unknown format {fmt!r} (ift, reasoning)")
            if not lr > 0:
                raise ValueError(f"{where}.learning_rate.{fmt}: must be positive, got {lr}")
    students = [dataclasses.replace(s, pretrained=_resolve(base, s.pretrained)) for s in students]
    base_section = None
    if "base" in raw:
        base_section = from_table(BaseSection, raw["base"], f"{label}: [base]")
        if tokenizer.kind != "synthetic":
            raise ValueError(f"{label}: [base]: the base corpus is the synthetic world's; it needs [tokenizer] "
                             f"kind = 'synthetic'")
        for key in ("epochs", "fact_repeats", "sentences_per_doc"):
            if getattr(base_section, key) <= 0:
                raise ValueError(f"{label}: [base].{key}: must be positive, got {getattr(base_section, key)}")
        for key in ("arithmetic_repeats", "option_drills", "chat_drills"):
            if getattr(base_section, key) < 0:
                raise ValueError(f"{label}: [base].{key}: must be >= 0, got {getattr(base_section, key)}")
        if not base_section.learning_rate > 0:
            raise ValueError(f"{label}: [base].learning_rate: must be positive")
        if base_section.batch_size is not None and base_section.batch_size <= 0:
            raise ValueError(f"{label}: [base].batch_size: must be positive")

    train = from_table(TrainConfig, raw.get("train", {}), f"{label}: [train]")
    for key in ("batch_size", "micro_batch_size", "epochs", "max_length"):
        if getattr(train, key) <= 0:
            raise ValueError(f"{label}: [train].{key}: must be positive, got {getattr(train, key)}")
    if train.batch_size % train.micro_batch_size:
        raise ValueError(f"{label}: [train].batch_size {train.batch_size} is not a multiple of micro_batch_size "
                         f"{train.micro_batch_size}")
    if not train.learning_rate > 0:
        raise ValueError(f"{label}: [train].learning_rate: must be positive")

    benchmarks = [from_table(BenchmarkEntry, t, f"{label}: [[benchmarks]] #{i + 1}")
                  for i, t in enumerate(_list(raw, "benchmarks", label))]
    if not benchmarks:
        raise ValueError(f"{label}: no [[benchmarks]] given")
    from ..evaluate.specs import load_spec

    for i, b in enumerate(benchmarks):
        b.name = _resolve(base, b.name) or b.name
        b.source = _resolve(base, b.source)
        try:
            load_spec(b.name)
        except (ValueError, FileNotFoundError) as e:
            raise ValueError(f"{label}: [[benchmarks]] #{i + 1}.name: {e}") from None
    for i, b in enumerate(benchmarks):
        if b.role not in ("test", "dev"):
            raise ValueError(f"{label}: [[benchmarks]] #{i + 1}.role: {b.role!r} is not 'test' or 'dev'")
    roles = {b.role for b in benchmarks}
    if "test" not in roles:
        raise ValueError(f"{label}: [[benchmarks]]: no benchmark with role 'test' (dev ones are never reported)")
    if study.lr_grid and "dev" not in roles:
        raise ValueError(f"{label}: [study].lr_grid needs [[benchmarks]] with role = 'dev' to choose on")
    if "dev" in roles and not study.lr_grid:
        raise ValueError(f"{label}: [[benchmarks]] with role = 'dev' are used only with [study].lr_grid")
    spec_names = [load_spec(b.name).name for b in benchmarks]
    if len(set(spec_names)) != len(spec_names):
        raise ValueError(f"{label}: [[benchmarks]]: a benchmark is listed twice")

    ev = from_table(EvalConfig, raw.get("eval", {}), f"{label}: [eval]")
    ev = dataclasses.replace(ev, api_key_file=_resolve(base, ev.api_key_file))
    if ev.backend not in ("hf", "vllm", "openai"):
        raise ValueError(f"{label}: [eval].backend: {ev.backend!r} is not hf, vllm or openai")
    grading = from_table(GradingSection, raw.get("grading", {}), f"{label}: [grading]")
    grading = dataclasses.replace(grading, jury=_resolve(base, grading.jury))
    compute = from_table(ComputeSection, raw.get("compute", {}), f"{label}: [compute]")
    executor = from_table(ExecutorSection, raw.get("executor", {}), f"{label}: [executor]")
    executor = dataclasses.replace(executor, accelerate_config=_resolve(base, executor.accelerate_config))
    if executor.kind not in ("local", "slurm"):
        raise ValueError(f"{label}: [executor].kind: {executor.kind!r} is not local or slurm")
    if executor.cluster not in ("slurm", "local", "debug"):
        raise ValueError(f"{label}: [executor].cluster: {executor.cluster!r} is not slurm, local or debug")
    for key in ("gpus", "time_min"):
        for stage, n in getattr(executor, key).items():
            if stage not in STAGES:
                raise ValueError(f"{label}: [executor].{key}: unknown stage {stage!r} ({', '.join(STAGES)})")
            if n < 0:
                raise ValueError(f"{label}: [executor].{key}.{stage}: must be >= 0")
    from .graph import run_name  # (graph imports this module)

    trained = {run_name(s.name, a) for s in students for a in (Arm.parse(x) for x in (s.arms or study.arms))}
    for i, r in enumerate(finished):
        if r.name in trained:
            raise ValueError(f"{label}: [[runs]] #{i + 1}.name: {r.name!r} is also a trained run's name")
        finished[i] = dataclasses.replace(r, checkpoint=_resolve(base, r.checkpoint) or r.checkpoint)
    reference = None
    if "reference" in raw:
        reference = from_table(ReferenceSection, raw["reference"], f"{label}: [reference]")
        reference = dataclasses.replace(reference, table=_resolve(base, reference.table) or reference.table)
        if not finished:
            raise ValueError(f"{label}: [reference] compares [[runs]] with published accuracies: give [[runs]]")
        from ..analysis.reproduction import load_reference

        try:
            load_reference(reference.table)
        except (ValueError, FileNotFoundError) as e:
            raise ValueError(f"{label}: [reference].table: {e}") from None
    return StudyConfig(study=study, teacher=teacher, prompts=prompts, tokenizer=tokenizer, students=students,
                       train=train, benchmarks=benchmarks, eval=ev, grading=grading, compute=compute,
                       executor=executor, base=base_section, runs=finished, reference=reference, path=f"shipped:{source}" if shipped else str(Path(source).resolve()))
