"""One definition of the answer vocabulary: the think layout and ``\\boxed{}`` extraction.

Every stage that writes or reads a reasoning response uses these and nothing else: the teacher
(splitting a raw generation, flagging pairs whose modes disagree), the data stage (rendering a
reasoning target), the exchange format, and evaluation (cutting the final answer out of a student's
response -- never out of an unfinished trace).

The layout of a reasoning response is ``<think>\\n{trace}\\n</think>\\n\\n{answer}``; with reasoning
off a Qwen3-style template puts the empty block ``<think>\\n\\n</think>\\n\\n`` in the prompt.

The truncation rule (``split_response``): a response whose trace was opened -- by the response itself,
or by the prompt (a template that injects ``<think>``) -- and never closed is **truncated**: its answer
is empty and nothing in the partial trace is ever parsed (lm-eval #3382 scores it; NeMo-Skills'
``parse_reasoning`` blanks it, which we follow). A response with no think tag at all is all answer,
which is how an IFT student that never opens a think block is graded (NeMo-Skills' rule).

Example::

    from scale_or_reason.extract import last_boxed, split_response, think_text
    assert last_boxed("so \\\\boxed{1} no, \\\\boxed{\\\\frac{1}{2}}") == "\\\\frac{1}{2}"
    r = split_response("<think>\\nmaybe \\\\boxed{3}")          # cut by the cap inside the trace
    assert r.truncated and r.answer == ""
    r = split_response(think_text("3 + 4 = 7", "\\\\boxed{7}"))
    assert r.answer == "\\\\boxed{7}" and r.trace == "3 + 4 = 7"
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EMPTY_THINK", "THINK_CLOSE", "THINK_OPEN", "Response", "last_boxed", "split_response", "think_text"]

THINK_OPEN = "<think>"
"""Text that opens a reasoning trace."""
THINK_CLOSE = "</think>"
"""Text that closes a reasoning trace; a response is split at its last occurrence."""
EMPTY_THINK = "<think>\n\n</think>\n\n"
"""What a Qwen3 hybrid model emits before its answer with reasoning off."""

_BOXED = "\\boxed{"


def think_text(trace: str, answer: str, think_open: str = THINK_OPEN, think_close: str = THINK_CLOSE) -> str:
    """The canonical text of a reasoning response: ``<think>\\n{trace}\\n</think>\\n\\n{answer}``."""
    return f"{think_open}\n{trace}\n{think_close}\n\n{answer}"


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` of ``text`` (braces matched, whitespace collapsed), or None.

    An unclosed last box gives None: a box the generation never finished holds no answer.
    """
    start = text.rfind(_BOXED)
    if start < 0:
        return None
    depth, j = 1, start + len(_BOXED)
    while j < len(text):
        c = text[j]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return " ".join(text[start + len(_BOXED):j].split())
        j += 1
    return None


@dataclass(frozen=True)
class Response:
    """A generated response split into its reasoning and its final answer."""

    answer: str
    """The final answer text: after the last closing tag, or the whole text when no trace was opened;
    empty when the trace is unfinished."""
    trace: str
    """The reasoning text (without tags); the partial trace when unfinished."""
    opened: bool
    """A trace was opened (by the response, or by the prompt)."""
    closed: bool
    """The last trace was closed."""

    @property
    def truncated(self) -> bool:
        """The trace was opened and never closed: there is no answer to grade."""
        return self.opened and not self.closed


def split_response(text: str, *, prompt_opened: bool = False, think_open: str = THINK_OPEN,
                   think_close: str = THINK_CLOSE) -> Response:
    """Split ``text`` at its last ``think_close``; see the module docstring for the truncation rule.

    ``prompt_opened`` says the rendered prompt already ends inside a trace (the template injected
    ``think_open``), so a response without a closing tag is an unfinished trace, not a bare answer.
    A trace opened again after the last closing tag is unfinished too.
    """
    i = text.rfind(think_close)
    if i < 0:
        j = text.rfind(think_open)
        if j >= 0 or prompt_opened:
            body = text[j + len(think_open):] if j >= 0 else text
            return Response(answer="", trace=body.strip(), opened=True, closed=False)
        return Response(answer=text.strip(), trace="", opened=False, closed=False)
    j = text.rfind(think_open, i + 1)  # the last open after the last close: only the tail is searched
    if j >= 0:  # a new trace opened after the last close and never closed
        return Response(answer="", trace=text[j + len(think_open):].strip(), opened=True, closed=False)
    head, answer = text[:i], text[i + len(think_close):]
    k = head.find(think_open)
    trace = head[k + len(think_open):] if k >= 0 else head
    return Response(answer=answer.strip(), trace=trace.strip(), opened=True, closed=True)
