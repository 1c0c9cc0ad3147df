"""Core records shared by every stage: the study's vocabulary.

``TeacherOutput`` is one generation of any teacher back end, ``PairedSample`` what the teacher stage writes, ``RESULTS_COLUMNS`` is the one results table the
evaluation stage produces and the analysis stage reads (a study directory or a CSV in this schema).

Example::

    from scale_or_reason.records import PairedSample
    s = PairedSample(prompt_id="math-oe-000001", family="Math-OE", prompt="Compute 3 + 4.",
                     reference="7", ift_answer="\\\\boxed{7}", reasoning_trace="3 + 4 = 7.",
                     reasoning_answer="\\\\boxed{7}")
    assert s.to_dict()["prompt_id"] == "math-oe-000001"
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

FAMILIES: tuple[str, ...] = ("General-MC", "General-OE", "Math-MC", "Math-OE")
"""The paper's four task families: domain (General/Math) x answer format (multiple-choice/open-ended)."""

FORMATS: tuple[str, ...] = ("ift", "reasoning")
"""The two supervision formats; curricula mix them."""


@dataclass
class TeacherOutput:
    """One generation of a teacher, any back end: the trace (empty with reasoning off) and the answer after it."""

    trace: str
    """The reasoning trace, without its think tags (empty with reasoning off)."""
    answer: str
    """The text after the trace: the answer a student is trained to give."""
    finish_reason: str = "stop"
    """``stop``, or ``length`` when the generation hit its token cap."""


@dataclass
class PairedSample:
    """One prompt answered twice by the same teacher, reasoning off (IFT) and on."""

    prompt_id: str
    """Deterministic id (hash of the prompt source and its index); reruns find their work by it."""
    family: str
    """Task family, one of ``FAMILIES`` (or a free label for user prompt sets)."""
    prompt: str
    """The user turn exactly as sent to the teacher."""
    reference: str | None
    """Reference answer when the prompt source has one (used for filtering and grading)."""
    ift_answer: str
    """The teacher's answer with reasoning off."""
    reasoning_trace: str
    """The text inside ``<think>...</think>`` with reasoning on (without the tags)."""
    reasoning_answer: str
    """The teacher's answer after ``</think>`` with reasoning on."""
    prompt_tokens: int = 0
    """Tokens of the rendered prompt (chat template applied, generation prompt included)."""
    ift_tokens: int = 0
    """Tokens of the IFT answer."""
    trace_tokens: int = 0
    """Tokens of the reasoning trace."""
    reasoning_answer_tokens: int = 0
    """Tokens of the answer that follows the trace."""
    ift_finish_reason: str = "stop"
    """``stop`` or ``length`` for the IFT generation."""
    reasoning_finish_reason: str = "stop"
    """``stop`` or ``length`` for the reasoning generation."""
    teacher: str = ""
    """Teacher identifier (model name or ``synthetic-<version>``)."""
    sampling: dict[str, Any] = field(default_factory=dict)
    """Sampling settings per mode, e.g. ``{"ift": {...}, "reasoning": {...}}``."""
    # ---- added by the paired-generation stage (``teacher/``); every one has a default ----
    system: str | None = None
    """System prompt sent with the user turn, when the prompt source has one."""
    profile: str = ""
    """Toggle profile that switched reasoning off/on (``qwen3``, ``deepseek-v3.1``, ``gpt-oss``, ``custom``...)."""
    ift_prompt_tokens: int = 0
    """Tokens of the prompt as rendered with reasoning off (``prompt_tokens`` is the reasoning-on render)."""
    ift_trace: str = ""
    """Trace the teacher produced with reasoning off; empty for a teacher that honours the toggle."""
    ift_trace_tokens: int = 0
    """Tokens of ``ift_trace``."""
    ift_completion_tokens: int = 0
    """All tokens generated with reasoning off, as the server counted them (tags and hidden text included)."""
    reasoning_completion_tokens: int = 0
    """All tokens generated with reasoning on (``usage.completion_tokens``: hidden reasoning still costs)."""
    ift_text: str = ""
    """The raw IFT generation (think tags included when the teacher emitted them)."""
    reasoning_text: str = ""
    """The raw reasoning generation; a server that returns the trace in a separate field gets it rebuilt
    as ``<think>\\n{trace}\\n</think>\\n\\n{answer}``."""
    ift_latency_s: float = 0.0
    """Wall seconds of the IFT request (for a batched backend: of the batch that held it)."""
    reasoning_latency_s: float = 0.0
    """Wall seconds of the reasoning request (for a batched backend: of the batch that held it)."""
    token_counts_exact: bool = True
    """False when trace/answer token counts were estimated (no tokenizer: usage split by characters)."""
    truncated: bool = False
    """Flag: a mode did not finish cleanly — any ``finish_reason`` but ``stop`` (the token cap's ``length``, vLLM's
    ``abort``, ``content_filter``, a proxy's ``error``, none given: ``unknown``) — or the reasoning output has
    no closing tag."""
    empty_answer: bool = False
    """Flag: the IFT answer or the answer after the trace is empty."""
    toggle_ignored: bool = False
    """Flag: the IFT generation carries a trace, or the reasoning generation has none."""
    disagree: bool | None = None
    """Flag: the two modes' final answers (last ``\\boxed{}``) differ; None when not checked or not boxed."""
    teacher_flops: float = 0.0
    """Teacher generation FLOPs of both modes (active parameters for MoE); NaN when the architecture is unknown."""
    teacher_flops_convention: str = ""
    """FLOPs convention of ``teacher_flops`` (``paper``, ``exact``, ``6nd``); empty when not computed."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> "PairedSample":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in names})


RESULTS_COLUMNS: dict[str, str] = {
    "student": "student label, e.g. 's3' or 'Qwen2.5-7B'",
    "parameters": "total parameters of the student",
    "non_embedding_parameters": "parameters outside the embedding and output matrices",
    "arm": "training arm: 'ift', 'reasoning', or a curriculum such as 'sequential:0.25'",
    "family": "task family (General-MC, General-OE, Math-MC, Math-OE)",
    "benchmark": "benchmark name within the family",
    "accuracy": "fraction of evaluated samples graded correct, in [0, 1]",
    "ci_low": "lower end of the 95% Wilson interval of accuracy",
    "ci_high": "upper end of the 95% Wilson interval of accuracy",
    "n": "number of evaluated samples",
    "baseline": "accuracy of the best trivial answerer (chance for MC, majority answer for OE)",
    "train_flops": "training FLOPs of the run (sum over samples of 3 x forward at each sample's own length)",
    "inference_flops_mean": "mean inference FLOPs per evaluated query (prefill + cached decode steps)",
    "generated_tokens_mean": "mean generated tokens per query",
    "generated_tokens_correct_mean": "mean generated tokens of correct answers (NaN if none)",
    "generated_tokens_incorrect_mean": "mean generated tokens of incorrect answers (NaN if none)",
    "truncated_fraction": "fraction of generations stopped by the token cap",
    "convention": "FLOPs convention of train_flops and inference_flops_mean ('paper', 'exact', '6nd')",
}
"""The results table: one row per student x arm x benchmark. Every FLOPs column carries ``convention``."""

RESULTS_REQUIRED: tuple[str, ...] = ("student", "arm", "family", "accuracy", "n", "train_flops", "inference_flops_mean")
"""Columns a results table must have; the analysis fills the other ``RESULTS_COLUMNS`` with NaN/'' if absent."""


def result_row(**values: Any) -> dict[str, Any]:
    """One results row, checked against the schema: every ``RESULTS_COLUMNS`` column given (``seed`` may be
    added, the training seed of a several-seed study), nothing else."""
    extra = sorted(set(values) - set(RESULTS_COLUMNS) - {"seed"})
    missing = sorted(set(RESULTS_COLUMNS) - set(values))
    if extra or missing:
        raise ValueError(f"results row: unknown column(s) {extra}" if extra else f"results row: missing {missing}")
    return {c: values[c] for c in (*RESULTS_COLUMNS, *(["seed"] if "seed" in values else []))}


@dataclass
class BenchItem:
    """One evaluation item of a prepared benchmark: what the student sees and what it is graded against.

    The prepared format (``sor bench prepare``) is one JSON object per line with these fields.
    """

    id: str
    """Stable item id within its benchmark (from the source's id column, else its row index)."""
    prompt: str
    """The full user turn: the benchmark's instruction, the question, and the lettered options for MC."""
    reference: str
    """The canonical gold: an option letter (MC), a value (math), a span (span QA), a label."""
    golds: list[str] = field(default_factory=list)
    """Every acceptable answer (all gold spans for SQuAD/CoQA); ``[reference]`` when empty."""
    choices: list[str] = field(default_factory=list)
    """MC option texts in letter order (A, B, ...), without their letters; empty for open-ended items."""
    judge_reference: str = ""
    """The gold as the jury sees it: letter + option text for MC, every span, the value with its unit."""
    question: str = ""
    """The question alone (without the instruction), shown to the jury; ``prompt`` when empty."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Grader inputs beyond the gold (IFEval's ``instruction_id_list``/``kwargs``, SciBench's ``unit``)
    and provenance (source row, subject)."""

    def all_golds(self) -> list[str]:
        return list(self.golds) or [self.reference]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any], where: str = "") -> "BenchItem":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(row) - names)
        missing = sorted({"id", "prompt", "reference"} - set(row))
        if unknown or missing:
            what = f"unknown field(s) {', '.join(unknown)}" if unknown else f"missing field(s) {', '.join(missing)}"
            raise ValueError(f"{where}: item {row.get('id', '?')}: {what}")
        return cls(**row)


ANSWER_COLUMNS: dict[str, str] = {
    "student": "student label",
    "arm": "training arm of the student ('ift', 'reasoning', 'sequential:0.25', ...) or '' for a plain model",
    "benchmark": "benchmark name (spec name)",
    "family": "task family of the benchmark (General-MC, General-OE, Math-MC, Math-OE, or an extra domain)",
    "prompt_id": "item id within the benchmark (the prompt id)",
    "sample": "sample index (0 for greedy; 0..N-1 with --samples N)",
    "seed": "seed of the request (None for greedy decoding)",
    "thinking": "the student was prompted with reasoning on",
    "prompt_tokens": "tokens of the rendered prompt",
    "generated_tokens": "tokens generated, the end-of-sequence token included",
    "finish_reason": "'stop' or 'length' (the token cap was reached)",
    "response": "the full generated text (reasoning included)",
    "answer_text": "the final part of the response (after the trace); empty when the trace is unfinished",
    "truncated": "the trace was opened and never closed: scored wrong, never parsed",
    "extracted": "the answer the rule grader extracted (None when none)",
    "reference": "the canonical gold",
    "rule_correct": "the rule grader's verdict (None for benchmarks without a rule grader)",
    "rule_score": "the rule grader's graded score (token F1 for span QA, loose IFEval, else 0/1)",
    "jury_correct": "the jury's majority verdict (None when not judged)",
    "jury_votes": "JSON of each judge's vote: yes | no | invalid | error",
    "jury_flag": "'' or tie | no_valid_vote | empty_answer | rule",
    "correct": "the score the study uses: the jury's verdict when judged, else the rule grader's",
    "inference_flops": "inference FLOPs of this sample at its true lengths (prefill + cached decode steps)",
    "convention": "FLOPs convention of inference_flops",
}
"""The answers table: one row per student x benchmark item x sample (``answers/<benchmark>.parquet``)."""
