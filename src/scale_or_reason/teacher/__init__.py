"""Paired generation: one teacher answers each prompt twice, reasoning off (IFT) and on.

Two levels:

* ``generate_pairs(items, teacher)`` -- in memory, for small fixtures: a teacher is anything with
  a ``name`` and ``answer(item, enable_thinking=...)`` returning a ``TeacherOutput``.
* ``generate(GenerateConfig(...))`` -- ``sor generate``, and the study's teacher stage (the synthetic
  teacher included): real teachers at dataset scale. Toggle
  profiles per family (``profiles``), prompt sources streamed from JSONL/Parquet/HF datasets
  (``sources``), backends ``synthetic``/``hf``/``openai``/``vllm`` (``backends``, ``openai_backend``),
  a sharded, append-only, resumable Parquet pair store (``store``), and export/import in the
  released datasets' layout (``exchange``).

Only the reasoning switch differs between the two requests of a pair.

Example (programmatic, in memory)::

    from scale_or_reason.synthetic.tasks import generate_tasks
    from scale_or_reason.synthetic.teacher import SyntheticTeacher
    from scale_or_reason.teacher import generate_pairs
    tasks = generate_tasks("Math-OE", 4, split="train")
    pairs = generate_pairs(tasks, SyntheticTeacher())
    assert all(p.ift_answer == p.reasoning_answer for p in pairs)

Example (a run into a pair store)::

    from pathlib import Path
    from scale_or_reason.teacher import GenerateConfig, generate, export_pairs
    summary = generate(GenerateConfig(source="synthetic:Math-OE:100", out=Path("pairs"), progress=False))
    export_pairs(Path("pairs"), Path("release"))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ..records import PairedSample
from ..records import TeacherOutput
from .backends import Backend, BackendError, Job, ModeResult
from .exchange import ExportConfig, ImportConfig, export_pairs, import_pairs
from .profiles import (
    PROFILES,
    NonHybridTeacherError,
    SamplingParams,
    ToggleProfile,
    check_hybrid,
    custom_profile,
    get_profile,
)
from .config import GenerateConfig, load_generate_config
from .runner import generate
from .summary import format_summary, summarize_store
from .sources import FieldMap, PromptItem, iter_prompts, make_prompt_id
from .store import PairStore, iter_pairs, read_failures, read_pairs

__all__ = [
    "ExportConfig", "ImportConfig",
    "PROFILES", "Backend", "BackendError", "FieldMap", "GenerateConfig", "Job", "ModeResult",
    "NonHybridTeacherError", "PairStore", "PromptItem", "SamplingParams", "Teacher", "TeacherOutput",
    "ToggleProfile", "check_hybrid", "custom_profile", "export_pairs", "format_summary", "generate",
    "generate_pairs", "get_profile", "import_pairs", "iter_pairs", "iter_prompts", "load_generate_config",
    "make_prompt_id", "read_failures", "read_pairs", "summarize_store",
]


class Teacher(Protocol):
    """What every teacher backend provides."""

    name: str

    def answer(self, item: Any, *, enable_thinking: bool) -> TeacherOutput:
        """Answer one prompt item (it has ``.prompt``) with reasoning off or on."""
        ...


def generate_pairs(
    items: Iterable[Any],
    teacher: Teacher,
    count_tokens: Callable[[str], int] | None = None,
    render_prompt: Callable[[str], str] | None = None,
) -> list[PairedSample]:
    """Ask ``teacher`` for both modes of every item and build ``PairedSample`` records.

    ``count_tokens`` (text -> number of tokens) fills the token counts; ``render_prompt`` (user text
    -> chat-templated prompt) is what the prompt count is taken on. Without them counts stay 0.
    """
    out = []
    for item in items:
        off = teacher.answer(item, enable_thinking=False)
        on = teacher.answer(item, enable_thinking=True)
        s = PairedSample(
            prompt_id=item.prompt_id, family=getattr(item, "family", ""), prompt=item.prompt,
            reference=getattr(item, "reference", None),
            ift_answer=off.answer, reasoning_trace=on.trace, reasoning_answer=on.answer,
            ift_finish_reason=off.finish_reason, reasoning_finish_reason=on.finish_reason,
            teacher=teacher.name, sampling={"ift": {"greedy": True}, "reasoning": {"greedy": True}},
        )
        if count_tokens is not None:
            prompt_text = render_prompt(item.prompt) if render_prompt else item.prompt
            s.prompt_tokens = count_tokens(prompt_text)
            s.ift_tokens = count_tokens(off.answer)
            s.trace_tokens = count_tokens(on.trace)
            s.reasoning_answer_tokens = count_tokens(on.answer)
        out.append(s)
    return out
