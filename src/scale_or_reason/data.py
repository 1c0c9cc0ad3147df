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
    if empty_think not in ("prompt", "completion"):
        raise ValueError(f"empty_think must be 'prompt' or 'completion', got {empty_think!r}")
    return render_completion(tokenizer, pair, fmt, empty_think, template_prompt(tokenizer, pair, fmt))


def template_prompt(tokenizer: Any, pair: PairedSample, fmt: str) -> str:
    """The chat template's generation prompt for ``pair`` in ``fmt`` (reasoning on for ``reasoning``)."""
    if fmt not in ("ift", "reasoning"):
        raise ValueError(f"unknown format {fmt!r} for prompt {pair.prompt_id}: expected 'ift' or 'reasoning'")
    # the source's own system prompt, if it had one (never the teacher's reasoning switch, which the pair does
    # not record): the student is trained on the conversation the teacher answered
    messages = ([{"role": "system", "content": pair.system}] if pair.system else []) + [
        {"role": "user", "content": pair.prompt}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                         enable_thinking=fmt == "reasoning")


def render_completion(tokenizer: Any, pair: PairedSample, fmt: str, empty_think: str,
                      prompt: str) -> tuple[str, str]:
    """The (prompt, completion) of ``render`` from the chat template's rendered ``prompt`` (the rest of
    ``render``: where the empty think block goes, the completion text, the end-of-sequence token)."""
    if fmt == "ift":
        completion = pair.ift_answer
        if empty_think == "completion":
            if not prompt.endswith(EMPTY_THINK):
                raise ValueError(f"prompt {pair.prompt_id}: the chat template's reasoning-off prompt does not end "
                                 "with an empty think block")
            prompt, completion = prompt[: -len(EMPTY_THINK)], EMPTY_THINK + completion
    else:
        completion = think_text(pair.reasoning_trace, pair.reasoning_answer)
    return prompt, completion + tokenizer.eos_token


_SENTINELS = ("\x00sor-sentinel\x00", "  leading and trailing spaces  \n",
              "{{ braces }} {% tags %} <|im_end|> <think> </think> \\boxed{1}", "naïve — 你好\n\n", "")
"""User contents that a template passing them through verbatim places unchanged: ends with spaces, template
syntax, special-token text, think tags, non-ASCII, nothing at all."""


class ChatRenderer:
    """``render`` for many pairs, without running the chat template for each.

    A template that inserts the user's content verbatim renders ``prefix + prompt + suffix`` where prefix and
    suffix depend only on the format and the system prompt. Per (format, system prompt) the renderer renders a
    few adversarial sentinel prompts (``_SENTINELS``); only when every one comes back verbatim between the same
    prefix and suffix does it use them, and it still renders the first ``check`` pairs of each key both ways,
    falling back to the template for good at the first difference. Otherwise (a template that strips, escapes
    or inspects the content) every pair goes through ``render``. Not caught: a template that branches on the
    content's text in a way no sentinel and none of the first ``check`` pairs trigger. Measured: the template is ~45% of building an
    arm of a million pairs (88 us per sample, ``benchmarks/pairs_at_scale.py``).

    Example::

        rend = ChatRenderer(tokenizer, empty_think="completion")
        prompt, completion = rend(pair, "reasoning")       # == render(tokenizer, pair, "reasoning", "completion")
    """

    def __init__(self, tokenizer: Any, empty_think: str = "prompt", check: int = 16, max_keys: int = 64):
        self.tok, self.empty_think, self.check, self.max_keys = tokenizer, empty_think, check, max_keys
        self._affix: dict[tuple[str, str | None], tuple[str, str] | None] = {}
        self._checked: dict[tuple[str, str | None], int] = {}

    def _probe(self, pair: PairedSample, fmt: str) -> tuple[str, str] | None:
        import dataclasses

        affix = None
        for s in _SENTINELS:
            prompt = template_prompt(self.tok, dataclasses.replace(pair, prompt=s), fmt)
            if s and prompt.count(s) != 1:
                return None
            if affix is None:
                i = prompt.index(s)
                affix = (prompt[:i], prompt[i + len(s):])
            elif prompt != affix[0] + s + affix[1]:
                return None
        return affix

    def __call__(self, pair: PairedSample, fmt: str) -> tuple[str, str]:
        key = (fmt, pair.system)
        if key not in self._affix:
            if len(self._affix) >= self.max_keys:  # many distinct system prompts: no cache
                return render(self.tok, pair, fmt, self.empty_think)
            self._affix[key] = self._probe(pair, fmt)
            self._checked[key] = 0
        affix = self._affix[key]
        if affix is None:
            return render(self.tok, pair, fmt, self.empty_think)
        full = render_completion(self.tok, pair, fmt, self.empty_think, affix[0] + pair.prompt + affix[1])
        if self._checked[key] < self.check:
            self._checked[key] += 1
            real = render(self.tok, pair, fmt, self.empty_think)
            if real != full:
                self._affix[key] = None
                return real
        return full
