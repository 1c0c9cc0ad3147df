"""One ``PairedSample`` from the two answers of a prompt: token counts (exact or estimated), flags, the
teacher's FLOPs.

Example::

    from scale_or_reason.teacher.pairing import TokenCounter, build_pair
    counter = TokenCounter(backend.tokenizer, backend.profile)
    pair = build_pair(item, ift_result, reasoning_result, backend=backend, counter=counter, convention="paper",
                      check_disagreement=False, keep_text=True)
"""

from __future__ import annotations

import math
from typing import Any

from ..extract import last_boxed
from ..records import PairedSample
from .backends import Backend, ModeResult
from .profiles import ToggleProfile
from .sources import PromptItem
from .tokens import count_tokens

__all__ = ["TokenCounter", "build_pair"]


class TokenCounter:
    """Token counts: the tokenizer when there is one, else an estimate (flagged inexact)."""

    def __init__(self, tokenizer: Any, profile: ToggleProfile):
        self.tok = tokenizer
        self.profile = profile

    def count(self, text: str) -> int:
        return count_tokens([text], self.tok)[0] if text else 0

    def prompt(self, item: PromptItem, thinking: bool) -> int:
        if self.tok is not None and getattr(self.tok, "chat_template", None):
            return self.count(self.profile.render(self.tok, item.messages(), thinking))
        return self.count((item.system or "") + " " + item.prompt)

    def parts(self, r: ModeResult) -> tuple[int, int, bool]:
        """(trace tokens, answer tokens, exact?) of a result."""
        if r.trace_tokens is not None and r.answer_tokens is not None:
            return r.trace_tokens, r.answer_tokens, True
        if self.tok is not None:
            return self.count(r.trace), self.count(r.answer), True
        if r.completion_tokens:  # split the server's count by characters
            total = len(r.trace) + len(r.answer)
            t = round(r.completion_tokens * len(r.trace) / total) if total else 0
            return t, max(r.completion_tokens - t, 0), False
        return self.count(r.trace), self.count(r.answer), False


def build_pair(item: PromptItem, ift: ModeResult, rea: ModeResult, *, backend: Backend, counter: TokenCounter,
               convention: str, check_disagreement: bool, keep_text: bool) -> PairedSample:
    """One ``PairedSample`` from the two results of a prompt, with flags, token counts and FLOPs."""
    profile = backend.profile
    it, ia, ex1 = counter.parts(ift)
    rt, ra, ex2 = counter.parts(rea)
    p_ift = ift.prompt_tokens if ift.prompt_tokens is not None else counter.prompt(item, False)
    p_rea = rea.prompt_tokens if rea.prompt_tokens is not None else counter.prompt(item, True)
    c_ift = ift.completion_tokens if ift.completion_tokens is not None else it + ia
    c_rea = rea.completion_tokens if rea.completion_tokens is not None else rt + ra
    # cut for any reason (the cap, an abort, a filter, a proxy error, no reason given) is not a clean pair
    truncated = ift.finish_reason != "stop" or rea.finish_reason != "stop" or rea.closed is False
    disagree = None
    if check_disagreement:
        a, b = last_boxed(ift.answer), last_boxed(rea.answer)
        disagree = None if a is None or b is None else a != b
    if backend.kind == "synthetic":
        flops, conv = 0.0, convention
    elif backend.arch is not None:
        from ..flops import inference_flops

        flops = (inference_flops(backend.arch, p_ift, c_ift, convention)
                 + inference_flops(backend.arch, p_rea, c_rea, convention))
        conv = convention
    else:
        flops, conv = math.nan, ""
    return PairedSample(
        prompt_id=item.prompt_id, family=item.family, prompt=item.prompt, reference=item.reference,
        ift_answer=ift.answer, reasoning_trace=rea.trace, reasoning_answer=rea.answer,
        prompt_tokens=p_rea, ift_tokens=ia, trace_tokens=rt, reasoning_answer_tokens=ra,
        ift_finish_reason=ift.finish_reason, reasoning_finish_reason=rea.finish_reason,
        teacher=backend.name, sampling=backend.sampling_record(),
        system=item.system, profile=profile.name, ift_prompt_tokens=p_ift, ift_trace=ift.trace,
        ift_trace_tokens=it, ift_completion_tokens=c_ift, reasoning_completion_tokens=c_rea,
        ift_text=ift.text if keep_text else "", reasoning_text=rea.text if keep_text else "",
        ift_latency_s=ift.latency_s, reasoning_latency_s=rea.latency_s, token_counts_exact=ex1 and ex2,
        truncated=truncated, empty_answer=not ift.answer.strip() or not rea.answer.strip(),
        toggle_ignored=(bool(ift.trace) and not profile.off_has_trace) or not rea.trace,
        disagree=disagree, teacher_flops=float(flops), teacher_flops_convention=conv,
    )
