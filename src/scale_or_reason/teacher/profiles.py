"""Toggle profiles: how each teacher family switches reasoning off and on, and how to read its output.

The paper's controlled variable is one *hybrid* teacher answering each prompt twice, reasoning off
(IFT) and on. Every family spells the switch differently; a ``ToggleProfile`` names the chat-template
keyword argument, its off/on values, the tags around the trace, and the per-mode sampling defaults:

=================  =============================  ===================================================
profile            switch                          trace
=================  =============================  ===================================================
``qwen3``          ``enable_thinking`` False/True  ``<think> ... </think>`` then the answer
``deepseek-v3.1``  ``thinking`` False/True         the prompt opens ``<think>``; ``... </think>`` answer
``gpt-oss``        ``reasoning_effort`` low/high   harmony ``analysis`` channel, then ``final``
``nemotron-v1.5``  system prompt ``/no_think``     ``<think> ... </think>`` then the answer
                   / ``/think``
``nemotron-v1``    system prompt ``detailed        ``<think> ... </think>`` then the answer
                   thinking off`` / ``... on``
``smollm3``        system prompt ``/no_think``     ``<think> ... </think>`` then the answer
                   / ``/think``
``custom``         you name kwarg or system text,  you name the tags
                   values, tags
=================  =============================  ===================================================

Some families switch with a *system prompt* instead of a template kwarg (the paper's replication teacher
Nemotron-Super-49B-v1.5, Llama-Nemotron v1, SmolLM3): ``ToggleProfile.messages`` puts the mode's switch
text in the system turn -- the whole system prompt when the prompt has none, else on its own first line
above the prompt's own system text (Llama-Nemotron v1 documents the switch as the *whole* system prompt:
give such teachers prompts without a system prompt of their own).

gpt-oss has no "off": ``low`` still writes a (short) analysis channel, recorded as ``ift_trace``; a
gpt-oss pair is "less vs more reasoning", not "none vs some" -- say so when you report it.

The output is split at the **last** closing tag (a trace may quote the tag). A server that returns the
trace in a separate ``reasoning_content`` or ``reasoning`` field is read from that field instead.

Known trap: Qwen3 *2507* Instruct and Thinking checkpoints are two separate models without a toggle.
Pairing them would compare two teachers, not two modes; ``check_hybrid`` refuses such teachers (by
name, and by rendering the chat template both ways when one is at hand).

Example::

    from scale_or_reason.teacher.profiles import get_profile, check_hybrid
    p = get_profile("qwen3")
    p.template_kwargs(True)                     # {"enable_thinking": True}
    p.split("<think>\\n3 + 4 = 7\\n</think>\\n\\nThe answer is 7.")   # Split(trace='3 + 4 = 7', ...)
    check_hybrid("Qwen/Qwen3-235B-A22B")         # fine
    check_hybrid("Qwen/Qwen3-30B-A3B-Instruct-2507")  # raises NonHybridTeacherError
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..extract import THINK_CLOSE, THINK_OPEN, split_response, think_text

__all__ = [
    "PROFILES",
    "NonHybridTeacherError",
    "SamplingParams",
    "Split",
    "ToggleProfile",
    "check_hybrid",
    "custom_profile",
    "detect_profile",
    "get_profile",
]

MODES: tuple[str, str] = ("ift", "reasoning")
"""The two modes of a pair, in the order they are requested."""


class NonHybridTeacherError(ValueError):
    """The teacher has no reasoning toggle: pairing its outputs would not isolate the reasoning."""


@dataclass(frozen=True)
class SamplingParams:
    """Sampling settings for one mode. ``None`` means "not sent" (the server's default applies)."""

    temperature: float = 0.0
    """Softmax temperature; 0 means greedy decoding."""
    top_p: float | None = None
    """Nucleus sampling mass."""
    top_k: int | None = None
    """Top-k cut-off (not an OpenAI field: sent in ``extra_body``; some servers reject it, e.g.
    ``transformers serve`` answers 422 -- leave it ``None`` there)."""
    min_p: float | None = None
    """Min-p cut-off (``extra_body`` for OpenAI-compatible servers)."""
    max_tokens: int = 32768
    """Cap on generated tokens; a generation that hits it is flagged ``truncated``."""
    seed: int | None = None
    """Base seed; each request gets ``seed + hash(prompt id, mode)`` so reruns reproduce it."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> SamplingParams:
        names = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown sampling setting(s) {', '.join(sorted(unknown))}; "
                             f"expected {', '.join(sorted(names))}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def parse(cls, spec: str | dict[str, Any] | None, base: SamplingParams) -> SamplingParams:
        """``base`` updated by ``"temperature=0.6,top_k=none"`` (or a dict); ``none`` unsets a field."""
        if not spec:
            return base
        if isinstance(spec, str):
            items = {}
            for part in filter(None, (p.strip() for p in spec.split(","))):
                if "=" not in part:
                    raise ValueError(f"sampling setting {part!r} is not key=value")
                k, v = part.split("=", 1)
                items[k.strip()] = _parse_value(v.strip())
            spec = items
        return base.replace(**dict(spec))


def _parse_value(v: str) -> Any:
    if v.lower() in ("none", "null"):
        return None
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v


QWEN3_THINKING = SamplingParams(temperature=0.6, top_p=0.95, top_k=20, min_p=0.0, max_tokens=32768)
"""Qwen's recommended settings for thinking mode (T=0.6, top-p 0.95, top-k 20, min-p 0)."""
QWEN3_NON_THINKING = SamplingParams(temperature=0.7, top_p=0.8, top_k=20, min_p=0.0, max_tokens=32768)
"""Qwen's recommended settings for non-thinking mode (T=0.7, top-p 0.8, top-k 20, min-p 0)."""


NEMOTRON_ON = SamplingParams(temperature=0.6, top_p=0.95, max_tokens=32768)
"""NVIDIA's recommended settings for Nemotron with reasoning on (T=0.6, top-p 0.95)."""
NEMOTRON_OFF = SamplingParams(temperature=0.0, max_tokens=32768)
"""NVIDIA's recommended setting for Nemotron with reasoning off (greedy)."""


@dataclass(frozen=True)
class Split:
    """A generation split into trace and answer."""

    trace: str
    """Text between the think tags (stripped); empty when there was none."""
    answer: str
    """Text after the last closing tag (stripped); empty when the trace never closed."""
    closed: bool
    """Whether a closing tag was found (a reasoning output without one was cut off)."""
    tagged: bool
    """Whether any think tag was seen (or the prompt opened the trace)."""


@dataclass(frozen=True)
class ToggleProfile:
    """How one teacher family turns reasoning off/on and marks its trace."""

    name: str
    """Profile name recorded with every pair."""
    kwarg: str
    """Chat-template keyword argument that carries the switch (``enable_thinking``, ``thinking``...); empty
    for a family switched by system prompt only."""
    on: Any = True
    """Value of ``kwarg`` with reasoning on."""
    off: Any = False
    """Value of ``kwarg`` with reasoning off."""
    think_open: str = THINK_OPEN
    """Text that opens the trace."""
    think_close: str = THINK_CLOSE
    """Text that closes the trace; the output is split at its last occurrence."""
    prompt_opens_think: bool = False
    """With reasoning on the rendered prompt already ends with ``think_open`` (DeepSeek-V3.1): an
    output without a closing tag is then an unfinished trace."""
    request_field: str | None = None
    """Also send the switch as this top-level request field (gpt-oss ``reasoning_effort`` on vLLM)."""
    reasoning_fields: tuple[str, ...] = ("reasoning_content", "reasoning")
    """Response fields a server may return the trace in, first found wins."""
    off_has_trace: bool = False
    """Reasoning off still writes a trace (gpt-oss ``low``): not flagged ``toggle_ignored``."""
    sampling_off: SamplingParams = field(default_factory=lambda: QWEN3_NON_THINKING)
    """Default sampling with reasoning off."""
    sampling_on: SamplingParams = field(default_factory=lambda: QWEN3_THINKING)
    """Default sampling with reasoning on."""
    note: str = ""
    """What a user should know about this family's toggle."""
    system_on: str | None = None
    """System-prompt text that switches reasoning on (Nemotron v1.5 ``/think``); None: no system switch."""
    system_off: str | None = None
    """System-prompt text that switches reasoning off (``/no_think``); None: no system switch."""

    def value(self, enable_thinking: bool) -> Any:
        return self.on if enable_thinking else self.off

    def template_kwargs(self, enable_thinking: bool) -> dict[str, Any]:
        """Chat-template keyword arguments for one mode (none for a system-prompt switch)."""
        return {self.kwarg: self.value(enable_thinking)} if self.kwarg else {}

    def messages(self, messages: list[dict[str, Any]], enable_thinking: bool) -> list[dict[str, Any]]:
        """``messages`` with this mode's system-prompt switch, if the profile has one (see the module doc)."""
        flag = self.system_on if enable_thinking else self.system_off
        if not flag:
            return messages
        if messages and messages[0].get("role") == "system":
            return [{"role": "system", "content": f"{flag}\n{messages[0]['content']}"}, *messages[1:]]
        return [{"role": "system", "content": flag}, *messages]

    def switch(self) -> str:
        """The switch in words, for messages: ``enable_thinking=False/True`` or ``system '/no_think'/'/think'``."""
        parts = []
        if self.kwarg:
            parts.append(f"{self.kwarg}={self.off!r}/{self.on!r}")
        if self.system_on or self.system_off:
            parts.append(f"system prompt {self.system_off!r}/{self.system_on!r}")
        return " and ".join(parts) or "no switch"

    def sampling(self, mode: str) -> SamplingParams:
        return self.sampling_on if mode == "reasoning" else self.sampling_off

    def render(self, tokenizer: Any, messages: list[dict[str, Any]], enable_thinking: bool) -> str:
        """The prompt text the teacher sees: ``tokenizer``'s chat template with this mode's switch."""
        return tokenizer.apply_chat_template(self.messages(messages, enable_thinking), tokenize=False,
                                             add_generation_prompt=True, **self.template_kwargs(enable_thinking))

    def split(self, text: str, *, opened: bool | None = None) -> Split:
        """Split a raw generation at the last ``think_close``.

        ``opened`` says the prompt already opened the trace (default: ``prompt_opens_think``); only
        then is an output without any tag an unfinished trace rather than a bare answer.
        """
        opened = self.prompt_opens_think if opened is None else opened
        r = split_response(text, prompt_opened=opened, think_open=self.think_open, think_close=self.think_close)
        return Split(r.trace, r.answer, closed=r.closed, tagged=r.opened)

    def rebuild(self, trace: str, answer: str) -> str:
        """The canonical text of a generation from its parts (for servers that return them apart)."""
        if not trace:
            return answer
        return think_text(trace, answer, self.think_open, self.think_close)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["reasoning_fields"] = list(self.reasoning_fields)
        return d


PROFILES: dict[str, ToggleProfile] = {
    "qwen3": ToggleProfile(
        name="qwen3", kwarg="enable_thinking", on=True, off=False,
        note="Qwen3 hybrid models (Qwen3-0.6B ... Qwen3-235B-A22B). Not the 2507 Instruct/Thinking releases.",
    ),
    "deepseek-v3.1": ToggleProfile(
        name="deepseek-v3.1", kwarg="thinking", on=True, off=False, prompt_opens_think=True,
        sampling_off=SamplingParams(temperature=0.6, top_p=0.95, max_tokens=32768),
        sampling_on=SamplingParams(temperature=0.6, top_p=0.95, max_tokens=32768),
        note="DeepSeek-V3.1 hybrid: the template's `thinking` kwarg; with it on the prompt ends in <think>.",
    ),
    "gpt-oss": ToggleProfile(
        name="gpt-oss", kwarg="reasoning_effort", on="high", off="low",
        think_open="<|channel|>analysis<|message|>",
        think_close="<|end|><|start|>assistant<|channel|>final<|message|>",
        request_field="reasoning_effort", off_has_trace=True,
        sampling_off=SamplingParams(temperature=1.0, top_p=1.0, max_tokens=32768),
        sampling_on=SamplingParams(temperature=1.0, top_p=1.0, max_tokens=32768),
        note="gpt-oss cannot turn reasoning off: 'low' still writes a short analysis (kept as ift_trace). "
             "A gpt-oss pair contrasts low vs high effort, not no reasoning vs reasoning.",
    ),
    "nemotron-v1.5": ToggleProfile(
        name="nemotron-v1.5", kwarg="", system_on="/think", system_off="/no_think",
        sampling_off=NEMOTRON_OFF, sampling_on=NEMOTRON_ON,
        note="Llama-3.3-Nemotron-Super-49B-v1.5 (the paper's replication teacher, App. G): /think or /no_think "
             "in the system prompt; without either it reasons.",
    ),
    "nemotron-v1": ToggleProfile(
        name="nemotron-v1", kwarg="", system_on="detailed thinking on", system_off="detailed thinking off",
        sampling_off=NEMOTRON_OFF, sampling_on=NEMOTRON_ON,
        note="Llama-Nemotron v1 (Nano-8B, Super-49B, Ultra-253B v1): 'detailed thinking on/off' is the whole "
             "system prompt; prompts that carry their own system prompt get the switch on its first line.",
    ),
    "smollm3": ToggleProfile(
        name="smollm3", kwarg="", system_on="/think", system_off="/no_think",
        sampling_off=NEMOTRON_ON, sampling_on=NEMOTRON_ON,  # SmolLM3's card: T=0.6, top-p 0.95 in both modes
        note="SmolLM3: /think or /no_think in the system prompt (its template also reads enable_thinking).",
    ),
}
"""The built-in profiles by name; ``custom_profile`` makes others."""


def custom_profile(kwarg: str | None, on: Any = True, off: Any = False, think_open: str = "<think>",
                   think_close: str = "</think>", *, prompt_opens_think: bool = False,
                   request_field: str | None = None, off_has_trace: bool = False,
                   sampling_off: SamplingParams | None = None, sampling_on: SamplingParams | None = None,
                   system_on: str | None = None, system_off: str | None = None) -> ToggleProfile:
    """A profile for a family the built-ins do not cover: name the template kwarg and its values, or the
    system-prompt texts of each mode (or both), and the tags.

    String values ``"true"``/``"false"``/numbers are read as JSON (``"low"`` stays a string).
    """
    kwarg = kwarg or ""
    system = bool(system_on or system_off)
    if not kwarg and not system:
        raise ValueError("custom profile: give a toggle kwarg, or system-prompt texts for the modes")
    if system and (system_on or "") == (system_off or ""):
        raise ValueError(f"custom profile: the system texts of both modes are {system_on!r}")
    if kwarg and not kwarg.isidentifier():
        raise ValueError(f"custom profile: toggle kwarg must be an identifier, got {kwarg!r}")
    on = _parse_value(on) if isinstance(on, str) else on
    off = _parse_value(off) if isinstance(off, str) else off
    if kwarg and on == off:
        raise ValueError(f"custom profile: on and off values of {kwarg!r} are both {on!r}")
    if not think_close:
        raise ValueError("custom profile: think_close must not be empty")
    return ToggleProfile(
        name="custom", kwarg=kwarg, on=on, off=off, think_open=think_open, think_close=think_close,
        prompt_opens_think=prompt_opens_think, request_field=request_field, off_has_trace=off_has_trace,
        sampling_off=sampling_off or QWEN3_NON_THINKING, sampling_on=sampling_on or QWEN3_THINKING,
        system_on=system_on or None, system_off=system_off or None,
    )


def get_profile(name: str) -> ToggleProfile:
    """A built-in profile by name (``qwen3``, ``deepseek-v3.1``, ``gpt-oss``, ``nemotron-v1.5``, ``nemotron-v1``,
    ``smollm3``)."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown toggle profile {name!r}; expected one of "
                         f"{', '.join([*PROFILES, 'custom', 'auto'])}") from None


_NON_HYBRID = [
    (re.compile(r"qwen3.*-(instruct|thinking)-2507", re.I),
     "Qwen3 2507 Instruct and Thinking are separate models with no reasoning toggle; "
     "use a hybrid Qwen3 checkpoint (e.g. Qwen/Qwen3-30B-A3B, Qwen/Qwen3-235B-A22B)"),
    (re.compile(r"(^|/)qwq", re.I), "QwQ always reasons; it has no reasoning toggle"),
    (re.compile(r"deepseek-r1", re.I), "DeepSeek-R1 (and its distills) always reason; use DeepSeek-V3.1"),
]


def detect_profile(name: str, model_type: str | None = None) -> str | None:
    """Guess the profile from a model name or ``config.model_type``; None when unsure."""
    n = name.lower()
    mt = (model_type or "").lower()
    if "gpt-oss" in n or mt == "gpt_oss":
        return "gpt-oss"
    if re.search(r"deepseek-v3\.1", n):
        return "deepseek-v3.1"
    if "nemotron" in n and re.search(r"v1[._]5", n):
        return "nemotron-v1.5"
    if "nemotron" in n and re.search(r"-v1$", n):
        return "nemotron-v1"
    if "smollm3" in n or mt == "smollm3":
        return "smollm3"
    if re.search(r"qwen3", n) or mt in ("qwen3", "qwen3_moe"):
        return "qwen3"
    return None


def check_hybrid(name: str, profile: ToggleProfile | None = None, tokenizer: Any = None) -> None:
    """Refuse a teacher that cannot answer the same prompt with reasoning off and on.

    By name (Qwen3 2507 Instruct/Thinking, QwQ, DeepSeek-R1), and -- when ``tokenizer`` (with a chat
    template) is given -- by rendering a probe prompt in both modes: identical renderings mean the
    template ignores the switch, so the "pairs" would be one mode twice.
    """
    for pattern, why in _NON_HYBRID:
        if pattern.search(name):
            raise NonHybridTeacherError(f"teacher {name!r} is not a hybrid reasoning model: {why}")
    if profile is None or tokenizer is None or not getattr(tokenizer, "chat_template", None):
        return
    probe = [{"role": "user", "content": "What is 2 + 2?"}]
    try:
        off = profile.render(tokenizer, probe, False)
        on = profile.render(tokenizer, probe, True)
    except Exception as e:  # a template that fails on the kwarg is no toggle either
        raise NonHybridTeacherError(
            f"teacher {name!r}: its chat template fails with {profile.switch()} ({e})"
        ) from None
    if off == on:
        raise NonHybridTeacherError(
            f"teacher {name!r}: its chat template renders the same prompt with {profile.switch()} in both modes, "
            f"so it has no reasoning toggle of profile {profile.name!r} "
            "(a non-hybrid model, or the wrong --profile)"
        )
