"""Inputs of the analysis: a study directory or a results table (CSV / Parquet), per-sample answers,
the study configuration, the teacher's accuracy, and the paper's Table 1 shipped as an example.

A **study directory** holds ``results.parquet`` (or ``results.csv``), one row per student x arm x
benchmark in the ``RESULTS_COLUMNS`` schema, per-sample answers in ``answers/<run>.parquet`` (used
for the bootstrap, answer-length figures and early stopping) and ``study.json`` (shown in the
report). A **results table** alone (CSV or Parquet in the same schema) is enough for frontiers,
fits, verdicts and plans; uncertainty then comes from the binomial counts (``accuracy``, ``n``) if
``n`` is given. Optional extra column ``seed`` (several rows per student x arm x benchmark, one per
training seed) enables the seed spread.

A teacher-accuracy file ``<table stem>_teacher.csv`` (columns ``family``, ``accuracy``) next to a
results table, or ``teacher.csv`` in a study directory, caps the saturating fits (α + β ≤ teacher
accuracy); without one the cap is 1.

Example::

    from scale_or_reason.analysis.inputs import load_study, paper_table1, paper_teacher_accuracy
    data = load_study("sor-study")                 # or a CSV / Parquet path
    data.results, data.answers, data.config, data.teacher_accuracy
    t1 = paper_table1()                            # the paper's Table 1 in the results schema
    assert len(t1) == 80 and paper_teacher_accuracy()["Math-OE"] == 0.921
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scale_or_reason.analysis.formatting import finite
from scale_or_reason.records import RESULTS_REQUIRED

ANSWER_COLUMNS: tuple[str, ...] = ("student", "arm", "family", "benchmark", "prompt_id", "correct")
"""Columns the per-sample answers must have; ``generated_tokens``, ``prompt_tokens``,
``inference_flops``, ``finish_reason`` and ``seed`` are used when present."""

_EXAMPLES = "examples"


@dataclass
class StudyData:
    """Everything the analysis reads from one source."""

    results: pd.DataFrame
    """The results table as read (``RESULTS_COLUMNS``, one row per student x arm x benchmark)."""
    answers: pd.DataFrame | None = None
    """Per-sample answers of every run (``ANSWER_COLUMNS`` and more), or None when not available."""
    config: dict[str, Any] | None = None
    """The study configuration (``study.json``), or None."""
    teacher_accuracy: dict[str, float] = field(default_factory=dict)
    """Teacher accuracy per family (fraction), caps the fits; empty when unknown (cap 1)."""
    source: str = ""
    """Where the data was read from."""


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet results table, naming the file in errors."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (ValueError, OSError) as e:
        raise ValueError(f"{path}: cannot read as a results table ({e})") from None
    missing = [c for c in RESULTS_REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing required column(s) {missing} of the results schema")
    check_ranges(df, str(path))
    return df


RANGES: dict[str, tuple[float, float]] = {
    "accuracy": (0.0, 1.0), "ci_low": (0.0, 1.0), "ci_high": (0.0, 1.0), "baseline": (0.0, 1.0),
    "truncated_fraction": (0.0, 1.0), "n": (0.0, np.inf), "parameters": (1.0, np.inf),
    "non_embedding_parameters": (0.0, np.inf), "train_flops": (0.0, np.inf), "inference_flops_mean": (0.0, np.inf),
    "generated_tokens_mean": (0.0, np.inf),
}
"""The range of each numeric column of a results table (empty cells are allowed: a jury-only benchmark has no
rule accuracy); a value outside it is an error naming the file, row and column, never analysed."""


def check_ranges(df: pd.DataFrame, where: str) -> None:
    """Raise ``ValueError`` at the first cell of ``df`` that is not a number in its column's ``RANGES``."""
    for col, (lo, hi) in RANGES.items():
        if col not in df.columns:
            continue
        raw = df[col]
        num = pd.to_numeric(raw, errors="coerce")
        bad = (raw.notna() & num.isna()) | (num < lo) | (num > hi)
        if col == "n":
            bad |= num.notna() & (num != num.round())
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            value = raw.iloc[i]
            shown = repr(value) if isinstance(value, str) and num.isna().iloc[i] else f"{float(value):g}"
            bound = f"in [{lo:g}, {hi:g}]" if np.isfinite(hi) else f">= {lo:g}"
            raise ValueError(f"{where}: row {i + 1}: {col} = {shown} is not a number {bound}")


def results_path(study_dir: Path) -> Path:
    """``results.parquet`` of a study directory, else ``results.csv``; error if neither exists."""
    for name in ("results.parquet", "results.csv"):
        if (Path(study_dir) / name).exists():
            return Path(study_dir) / name
    raise FileNotFoundError(f"{study_dir}: no results.parquet or results.csv (run the study first)")


def load_answers(study_dir: Path) -> pd.DataFrame | None:
    """Concatenate ``<study_dir>/answers/*.parquet`` (None when there are none).

    Only the columns the analysis uses are read (never the response texts' memory twice).
    """
    files = sorted((Path(study_dir) / "answers").glob("*.parquet"))
    if not files:
        return None
    wanted = set(ANSWER_COLUMNS) | {"generated_tokens", "prompt_tokens", "inference_flops",
                                    "finish_reason", "seed", "train_seed", "convention"}
    frames = []
    for f in files:
        import pyarrow.parquet as pq

        cols = [c for c in pq.read_schema(f).names if c in wanted]
        frames.append(pd.read_parquet(f, columns=cols))
    return check_answers(pd.concat(frames, ignore_index=True))


def check_answers(answers: pd.DataFrame) -> pd.DataFrame:
    """Validate per-sample answers and coerce types; returns a copy (``correct`` as bool)."""
    missing = [c for c in ANSWER_COLUMNS if c not in answers.columns]
    if missing:
        raise ValueError(f"answers lack column(s) {missing}; expected at least {list(ANSWER_COLUMNS)}")
    df = answers.copy()
    for col in ("student", "arm", "family", "benchmark", "prompt_id"):
        df[col] = df[col].astype(str)
    df["correct"] = df["correct"].astype(bool)
    for col in ("generated_tokens", "prompt_tokens", "inference_flops"):
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    return df


def read_teacher(path: Path) -> dict[str, float]:
    """``{family: accuracy}`` from a CSV with columns ``family`` and ``accuracy`` (fractions)."""
    df = pd.read_csv(path)
    if not {"family", "accuracy"} <= set(df.columns):
        raise ValueError(f"{path}: a teacher file needs columns 'family' and 'accuracy'")
    out = {str(f): float(a) for f, a in zip(df["family"], df["accuracy"]) if finite(a)}
    bad = {f: a for f, a in out.items() if not 0 < a <= 1}
    if bad:
        raise ValueError(f"{path}: teacher accuracies must be fractions in (0, 1], got {bad}")
    return out


def load_study(source: str | Path) -> StudyData:
    """Read a study directory or a results table (CSV / Parquet); see the module docstring.

    Example::

        data = load_study("sor-study")
        print(len(data.results), data.answers is not None)
    """
    source = Path(source)
    if source.is_dir():
        table = results_path(source)
        config = None
        if (source / "study.json").exists():
            try:
                config = json.loads((source / "study.json").read_text())
            except json.JSONDecodeError as e:
                raise ValueError(f"{source / 'study.json'}: not valid JSON ({e.msg})") from None
        teacher = read_teacher(source / "teacher.csv") if (source / "teacher.csv").exists() else {}
        return StudyData(read_table(table), load_answers(source), config, teacher, str(source))
    teacher_file = source.with_name(f"{source.stem}_teacher.csv")
    teacher = read_teacher(teacher_file) if teacher_file.exists() else {}
    return StudyData(read_table(source), None, None, teacher, str(source))


def example_path(name: str = "paper_table1.csv") -> Path:
    """Filesystem path of a shipped example file (``paper_table1.csv``, ``paper_table1_teacher.csv``)."""
    ref = resources.files("scale_or_reason.analysis").joinpath(_EXAMPLES, name)
    path = Path(str(ref))
    if not path.exists():
        raise FileNotFoundError(f"example {name!r} is not installed with the package")
    return path


def paper_table1() -> pd.DataFrame:
    """The paper's Table 1 in the results schema (80 rows: 2 corpora x 4 families x 5 sizes x 2 arms).

    Students distilled on the math-centric corpus carry the suffix ``-math``. Training FLOPs, ``n``
    and CIs are not reported by the paper (NaN); ``inference_flops_mean`` is an estimate from the
    paper's Fig. 14 power laws for the general-corpus students (NaN for ``-math``). See
    ``examples/README.md``.

    Example::

        t1 = paper_table1()
        general = t1[~t1.student.str.endswith("-math")]
    """
    return pd.read_csv(example_path("paper_table1.csv"))


def paper_teacher_accuracy() -> dict[str, float]:
    """The teacher's (Qwen3-235B-A22B) accuracy per family in the paper's Table 1, as fractions."""
    return read_teacher(example_path("paper_table1_teacher.csv"))

