"""The settings of paired generation, declared once: ``GenerateConfig`` is the ``[generate]`` table of a TOML
file, the ``[teacher]`` table of a study file, the options of ``sor generate`` (derived from its fields) and
the keywords of ``teacher.generate``.

Example::

    from pathlib import Path
    from scale_or_reason.teacher.config import GenerateConfig, load_generate_config
    cfg = GenerateConfig(source="synthetic:Math-OE:100", out=Path("pairs"))
    cfg = load_generate_config(Path("generate.toml"), concurrency=64)   # the file's table, then overrides
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .sources import FieldMap

__all__ = ["BACKENDS", "GenerateConfig", "load_generate_config"]

BACKENDS = ("synthetic", "hf", "openai", "vllm")
"""The teacher backends ``sor generate --backend`` accepts."""


@dataclass
class GenerateConfig:
    """Everything ``sor generate`` needs; loadable from the ``[generate]`` table of a TOML file."""

    source: str | None = None
    """Prompt source: JSONL, Parquet, saved HF dataset dir, hub id, or ``synthetic:FAM[,FAM]:N[:SEED]``."""
    out: Path = Path("pairs")
    """Pair store directory (created; a rerun resumes it)."""
    backend: str = "synthetic"
    """``synthetic``, ``hf`` (local checkpoint), ``openai`` (compatible server) or ``vllm`` (offline)."""
    model: str | None = None
    """hf: checkpoint directory; openai: model name on the server; vllm: path or hub id."""
    teacher: str | None = None
    """Teacher id recorded with every pair (default: ``model``)."""
    base_url: str | None = None
    """openai: server URL, e.g. ``http://127.0.0.1:8000/v1``."""
    api_key_env: str = "OPENAI_API_KEY"
    """openai: name of the environment variable holding the API key (the key itself is never stored)."""
    api_key_file: str | None = None
    """openai: a file whose first line is the API key (instead of ``api_key_env``); keep it out of the study."""
    profile: str = "auto"
    """Toggle profile: ``auto`` (from the model name/type); kwarg toggles ``qwen3``, ``deepseek-v3.1``, ``gpt-oss``;
    system-prompt toggles ``nemotron-v1.5``, ``nemotron-v1``, ``smollm3``; or ``custom`` (the ``toggle_*`` fields)."""
    toggle_kwarg: str | None = None
    """custom profile: chat-template kwarg of the switch."""
    toggle_on: str = "true"
    """custom profile: its value with reasoning on (JSON, or a bare string)."""
    toggle_off: str = "false"
    """custom profile: its value with reasoning off."""
    toggle_system_on: str | None = None
    """custom profile: system-prompt text that switches reasoning on (instead of, or beside, a kwarg)."""
    toggle_system_off: str | None = None
    """custom profile: system-prompt text that switches reasoning off."""
    think_open: str = "<think>"
    """custom profile: text opening the trace."""
    think_close: str = "</think>"
    """custom profile: text closing the trace."""
    sampling_ift: str | dict[str, Any] | None = None
    """Overrides of the IFT-mode sampling defaults, ``"temperature=0.7,top_k=none"`` or a table."""
    sampling_reasoning: str | dict[str, Any] | None = None
    """Overrides of the reasoning-mode sampling defaults."""
    seed: int | None = 0
    """Base seed for modes whose sampling sets none (per-request seeds derive from it); None: unseeded."""
    prompt_field: str = "prompt"
    """Source field with the prompt (or a chat)."""
    system_field: str | None = None
    """Source field with a system prompt."""
    reference_field: str | None = None
    """Source field with a reference answer."""
    id_field: str | None = None
    """Source field with prompt ids (default: row index + text hash)."""
    family_field: str | None = None
    """Source field with a family/category label."""
    split: str = "train"
    """Split of a dataset source."""
    limit: int | None = None
    """Only the first ``limit`` prompts of the source."""
    concurrency: int = 32
    """openai: requests in flight."""
    timeout_s: float = 600.0
    """openai: per-request timeout (seconds)."""
    max_retries: int = 4
    """openai: retries per request on 429/5xx/timeouts/malformed responses."""
    backoff_base_s: float = 1.0
    """openai: first backoff; doubles each retry, jittered x0.5-1.5, capped by ``backoff_max_s``."""
    backoff_max_s: float = 60.0
    """openai: longest backoff."""
    send_chat_template_kwargs: bool = True
    """openai: send ``extra_body.chat_template_kwargs`` (turn off for servers that reject it)."""
    batch_size: int | None = None
    """hf: prompts per ``generate`` call (default 8); vllm: prompts per ``chat`` call (default 1024)."""
    tensor_parallel_size: int = 1
    """vllm: GPUs per model replica."""
    device: str = "cpu"
    """hf: torch device."""
    dtype: str = "auto"
    """hf/vllm: weights dtype (``auto``, ``bfloat16``, ``float32``...)."""
    tokenizer: str | None = None
    """Tokenizer directory for exact trace/answer token counts and the hybrid check (openai, synthetic)."""
    teacher_config: str | None = None
    """Teacher ``config.json`` (or its folder) for FLOPs when the backend cannot read it (openai)."""
    flops_convention: str = "paper"
    """Convention of the recorded teacher FLOPs: ``paper``, ``exact`` or ``6nd``."""
    check_disagreement: bool = False
    """Flag pairs whose last ``\\boxed{}`` differs between the modes."""
    shard_size: int = 1024
    """Pairs per shard: a killed run loses at most the unwritten shard."""
    flush_seconds: float = 60.0
    """Also write a shard when this long has passed since the last (slow teachers)."""
    keep_text: bool = True
    """Store the raw text of each mode (besides trace and answer)."""
    probe_pairs: int = 16
    """If every one of the first ``probe_pairs`` pairs shows the toggle ignored, stop: wrong profile or teacher."""
    fail_fast_after: int = 16
    """Stop the run when this many prompts in a row fail with the same error (a wrong model name, a rejected key,
    a server down): each is recorded, and the rest of the dataset is not tried prompt by prompt. 0: never stop."""
    max_failed_prompts: int = 0
    """Prompts that may stay failed after their retries without failing the run: ``sor generate`` exits 0 and a
    study's generate stage (one per ``[[prompts]]`` source) finishes, those prompts left out of every arm (each arm
    draws from the pairs made; a prompt with one mode answered is no pair).
    For a teacher that refuses a few prompts for good (context overflow, a content filter), which would otherwise
    block a study of a million prompts. The failures stay recorded and listed; a ``sor generate`` rerun retries
    them. 0: every prompt must be answered."""
    progress: bool = True
    """Show a progress bar (stderr) with pairs/s and tokens/s per mode."""

    def failures_tolerated(self, summary: dict[str, Any]) -> bool:
        """Whether a run whose summary is ``summary`` is finished despite its pending failed prompts."""
        return int(summary.get("pending_failures") or 0) <= self.max_failed_prompts

    def __post_init__(self) -> None:
        # the bounds a TOML table, a CLI option and a Python call all meet (one line naming the field)
        for name, low in (("limit", 1), ("concurrency", 1), ("max_retries", 0), ("batch_size", 1),
                          ("tensor_parallel_size", 1), ("shard_size", 1), ("probe_pairs", 0), ("fail_fast_after", 0),
                          ("max_failed_prompts", 0)):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < low):
                raise ValueError(f"generate option {name}: must be an integer >= {low}, got {value!r}")
        if not self.timeout_s > 0:
            raise ValueError(f"generate option timeout_s: must be positive, got {self.timeout_s!r}")

    def fields(self) -> FieldMap:
        return FieldMap(prompt=self.prompt_field, system=self.system_field, reference=self.reference_field,
                        id=self.id_field, family=self.family_field)

    def replace(self, **changes: Any) -> GenerateConfig:
        return dataclasses.replace(self, **changes)


def load_generate_config(path: Path, **overrides: Any) -> GenerateConfig:
    """A ``GenerateConfig`` from the ``[generate]`` table of a TOML file, then ``overrides`` (non-None)."""
    import tomllib

    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: not valid TOML ({e})") from None
    table = raw.get("generate", raw)
    names = {f.name for f in dataclasses.fields(GenerateConfig)}
    for key in table:
        if key not in names:
            raise ValueError(f"{path}: unknown key generate.{key} (not a GenerateConfig field)")
    values = dict(table)
    if "out" in values:
        values["out"] = Path(values["out"])
    values.update({k: v for k, v in overrides.items() if v is not None})
    return GenerateConfig(**values)
