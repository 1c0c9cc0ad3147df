"""Arms: which paired samples a student is trained on, in which format and in which order.

An ``Arm`` is a supervision format (``ift``, ``reasoning``) or a curriculum with a reasoning share ρ
(``sequential:0.25`` = the first 75% of the samples as IFT, then 25% as reasoning; ``mixed:0.25`` =
the same samples shuffled together). Every arm of a study has the same number of samples.

``render`` turns one pair into the (prompt, completion) text a student is trained on, through the
tokenizer's chat template: the IFT prompt ends with the empty ``<think>\\n\\n</think>\\n\\n`` that a
Qwen3 teacher emits with reasoning off, so it carries no loss; the reasoning completion opens with
``<think>``. Both renderings of a pair are identical once the reasoning text is removed.

Example::

    from scale_or_reason.data import Arm, build_arm, render
    arm = Arm.parse("sequential:0.25")
    examples = build_arm(pairs, arm, n_samples=64, seed=0)      # list of (pair, format)
    prompt, completion = render(tokenizer, examples[0][0], examples[0][1])
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .extract import EMPTY_THINK, think_text
from .records import PairedSample

T = TypeVar("T")


@dataclass(frozen=True)
class Arm:
    """A named training set: a format, or a curriculum over both formats."""

    kind: str
    """``ift``, ``reasoning``, ``sequential`` or ``mixed``."""
    rho: float
    """Share of samples in reasoning format (0 for ``ift``, 1 for ``reasoning``)."""

    @property
    def name(self) -> str:
        return self.kind if self.kind in ("ift", "reasoning") else f"{self.kind}:{self.rho:g}"

    @classmethod
    def parse(cls, text: str) -> "Arm":
        """Parse ``ift``, ``reasoning``, ``sequential:ρ`` or ``mixed:ρ`` (ρ in [0, 1], or a percentage)."""
        t = text.strip().lower()
        if t == "ift":
            return cls("ift", 0.0)
        if t == "reasoning":
            return cls("reasoning", 1.0)
        kind, _, value = t.partition(":")
        if kind not in ("sequential", "mixed") or not value:
            raise ValueError(f"unknown arm {text!r}: expected ift, reasoning, sequential:RHO or mixed:RHO")
        try:
            rho = float(value.rstrip("%")) / (100.0 if value.endswith("%") else 1.0)
        except ValueError:
            raise ValueError(f"arm {text!r}: reasoning share {value!r} is not a number") from None
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"arm {text!r}: reasoning share must be in [0, 1], got {rho}")
        return cls(kind, rho)


def build_arm(pairs: Sequence[T], arm: Arm, n_samples: int, seed: int = 0) -> list[tuple[T, str]]:
    """The arm's training samples as ``(pair, format)`` in training order.

    ``pairs`` may be ``PairedSample`` records or just their prompt ids (a study chooses its arms from the
    ids of a store and reads back only the chosen pairs).

    The first ``n_samples`` pairs (in a seeded shuffle) are used by every arm, so arms differ only in
    format; a curriculum puts its IFT share first (``sequential``) or shuffles both (``mixed``).
    """
    if n_samples > len(pairs):
        raise ValueError(f"arm {arm.name}: asks for {n_samples} samples but the pair store holds {len(pairs)}")
    rng = random.Random(f"arm-order/{seed}")
    order = list(range(len(pairs)))
    rng.shuffle(order)
    chosen = [pairs[i] for i in order[:n_samples]]
    n_reason = round(arm.rho * n_samples)
    formats = ["ift"] * (n_samples - n_reason) + ["reasoning"] * n_reason
    samples = list(zip(chosen, formats))
    if arm.kind == "mixed":
        random.Random(f"arm-mix/{seed}").shuffle(samples)
    return samples


THINK_SWITCH = ("{%- if add_generation_prompt and enable_thinking is defined and enable_thinking is false %}"
                "{{- '" + EMPTY_THINK.replace("\n", "\\n") + "' }}{%- endif %}")
"""Jinja appended to a student's chat template that ignores ``enable_thinking`` (Qwen2.5, Gemma, SmolLM2):
with reasoning off the generation prompt then ends with the empty think block, exactly as a Qwen3 template
lays it out and as the paper's pairs were generated; with reasoning on nothing is added (the student
writes ``<think>`` itself). See ``docs/footguns.md``."""


def template_thinks(tokenizer: Any) -> bool:
    """Whether ``tokenizer``'s chat template renders a different prompt with reasoning off and on."""
    msgs = [{"role": "user", "content": "x"}]
    off = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, enable_thinking=False)
    on = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, enable_thinking=True)
    return off != on


def add_think_switch(tokenizer: Any) -> bool:
    """Give a student whose template ignores ``enable_thinking`` the switch ``THINK_SWITCH``; True if added.

    Every arm then renders the same way as on a Qwen3 template: the IFT prompt ends with the empty think
    block, and a curriculum's IFT samples can carry it in their completion. The tokenizer saved with the
    run keeps the switch, so evaluation renders prompts exactly as training did.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("the student's tokenizer has no chat template; give it one (e.g. save a template "
                         "with the tokenizer) before training")
    if template_thinks(tokenizer):
        return False
    tokenizer.chat_template = tokenizer.chat_template + THINK_SWITCH
    if not template_thinks(tokenizer):
        raise ValueError("could not add a reasoning switch to the student's chat template")
    return True


def render(tokenizer: Any, pair: PairedSample, fmt: str, empty_think: str = "prompt") -> tuple[str, str]:
    """(prompt, completion) text for ``pair`` in ``fmt``; the loss goes on the completion only.

    ``empty_think`` places the empty think block of an IFT sample: ``"prompt"`` (no loss; the student
    is evaluated with reasoning off, which puts it in the prompt again) or ``"completion"`` (with loss;
    used by curricula, whose students choose at inference whether to think). The full text
    (prompt + completion) is the same either way.
    """
    # the source's own system prompt, if it had one (never the teacher's reasoning switch, which the pair does
    # not record): the student is trained on the conversation the teacher answered
    messages = ([{"role": "system", "content": pair.system}] if pair.system else []) + [
        {"role": "user", "content": pair.prompt}]
    if empty_think not in ("prompt", "completion"):
        raise ValueError(f"empty_think must be 'prompt' or 'completion', got {empty_think!r}")
    if fmt == "ift":
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                               enable_thinking=False)
        completion = pair.ift_answer
        if empty_think == "completion":
            if not prompt.endswith(EMPTY_THINK):
                raise ValueError(f"prompt {pair.prompt_id}: the chat template's reasoning-off prompt does not end "
                                 "with an empty think block")
            prompt, completion = prompt[: -len(EMPTY_THINK)], EMPTY_THINK + completion
    elif fmt == "reasoning":
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                               enable_thinking=True)
        completion = think_text(pair.reasoning_trace, pair.reasoning_answer)
    else:
        raise ValueError(f"unknown format {fmt!r} for prompt {pair.prompt_id}: expected 'ift' or 'reasoning'")
    return prompt, completion + tokenizer.eos_token
