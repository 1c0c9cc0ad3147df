"""Paired generation: one teacher answers each prompt twice, reasoning off (IFT) and on.

A teacher is anything with a ``name`` and ``answer(item, enable_thinking=...)`` returning a
``TeacherOutput`` (trace, answer, finish reason). The embedded default is the programmatic
``SyntheticTeacher``; real backends (vLLM, OpenAI-compatible servers, local checkpoints) plug in
behind the same interface. ``generate_pairs`` toggles *only* the reasoning switch between the two
calls and writes ``PairedSample`` records to the pair store.

Example::

    from scale_or_reason.synthetic.tasks import generate_tasks
    from scale_or_reason.synthetic.teacher import SyntheticTeacher
    from scale_or_reason.teacher import generate_pairs
    tasks = generate_tasks("Math-OE", 4, split="train")
    pairs = generate_pairs(tasks, SyntheticTeacher())
    assert all(p.ift_answer == p.reasoning_answer for p in pairs)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ..records import PairedSample
from ..synthetic.teacher import TeacherOutput

__all__ = ["Teacher", "TeacherOutput", "generate_pairs"]


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
