"""``sor generate``: stream prompts through a teacher twice (reasoning off, then on) into the pair store.

``generate(GenerateConfig(...))`` resolves the toggle profile, builds the backend, refuses a teacher
without a toggle, opens the store (resuming: stored ids are skipped, half-done prompts only ask for the
missing mode), pulls prompts lazily, pairs the two results of each prompt, flags rather than drops
(truncated, empty answer, toggle ignored, optional disagreement), records the teacher's FLOPs, writes
shards as it goes, and returns a summary (pairs, flagged counts, median and p90 reasoning/IFT token
ratio, throughput). Memory does not grow with the number of prompts.

Example::

    from pathlib import Path
    from scale_or_reason.teacher.runner import GenerateConfig, generate, format_summary
    cfg = GenerateConfig(source="synthetic:Math-OE,General-MC:1000", out=Path("pairs"), backend="synthetic")
    summary = generate(cfg)
    print(format_summary(summary))

    # a vLLM / SGLang / transformers-serve server, Qwen3 hybrid teacher
    cfg = GenerateConfig(source="prompts.jsonl", out=Path("pairs"), backend="openai",
                         model="Qwen/Qwen3-235B-A22B", base_url="http://127.0.0.1:8000/v1", concurrency=128)
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..extract import last_boxed
from ..records import PairedSample
from .backends import Backend, Job, ModeResult
from .profiles import (
    MODES,
    PROFILES,
    SamplingParams,
    ToggleProfile,
    check_hybrid,
    custom_profile,
    detect_profile,
    get_profile,
)
from .sources import FieldMap, PromptItem, count_prompts, iter_prompts
from ..util import Terminated, sigterm_requested
from .store import DoneIds, PairStore, iter_pairs, read_failures
from .tokens import count_tokens, load_tokenizer

__all__ = ["BACKENDS", "GenerateConfig", "format_summary", "generate", "load_generate_config", "make_backend",
           "resolve_profile", "store_teacher_flops", "summarize_store", "summary_json"]

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
    """Toggle profile: ``auto`` (from the model name/type), ``qwen3``, ``deepseek-v3.1``, ``gpt-oss``, ``custom``."""
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
    progress: bool = True
    """Show a progress bar (stderr) with pairs/s and tokens/s per mode."""

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


# --- profile, sampling, backend -------------------------------------------------------------------

def resolve_profile(cfg: GenerateConfig, model_type: str | None = None) -> ToggleProfile:
    """The toggle profile of ``cfg`` (``auto`` guesses from the model name or type)."""
    if cfg.profile == "custom":
        if not (cfg.toggle_kwarg or cfg.toggle_system_on or cfg.toggle_system_off):
            raise ValueError("--profile custom needs --toggle-kwarg (with --toggle-on/--toggle-off) or "
                             "--toggle-system-on/--toggle-system-off, and the think tags")
        return custom_profile(cfg.toggle_kwarg, cfg.toggle_on, cfg.toggle_off, cfg.think_open, cfg.think_close,
                              system_on=cfg.toggle_system_on, system_off=cfg.toggle_system_off)
    if cfg.profile == "auto":
        if cfg.backend == "synthetic":
            return get_profile("qwen3")
        name = detect_profile(cfg.model or "", model_type)
        if name is None:
            raise ValueError(f"cannot tell the reasoning toggle of teacher {cfg.model!r}; pass --profile "
                             f"{' | '.join(PROFILES)} | custom")
        return get_profile(name)
    return get_profile(cfg.profile)


def _sampling(cfg: GenerateConfig, profile: ToggleProfile) -> dict[str, SamplingParams]:
    out = {}
    for mode, spec in (("ift", cfg.sampling_ift), ("reasoning", cfg.sampling_reasoning)):
        sp = SamplingParams.parse(spec, profile.sampling(mode))
        if sp.seed is None and cfg.seed is not None:
            sp = sp.replace(seed=cfg.seed)
        out[mode] = sp
    return out


def _model_type(path: str | None) -> str | None:
    if not path:
        return None
    cfg = Path(path) / "config.json"
    if cfg.is_file():
        import json

        try:
            return json.loads(cfg.read_text()).get("model_type")
        except ValueError:
            return None
    return None


def make_backend(cfg: GenerateConfig, profile: ToggleProfile | None = None) -> Backend:
    """Build the backend ``cfg`` asks for (heavy imports happen here, and only for that backend)."""
    if cfg.backend not in BACKENDS:
        raise ValueError(f"unknown backend {cfg.backend!r}; expected one of {', '.join(BACKENDS)}")
    if cfg.backend != "synthetic" and not cfg.model:
        raise ValueError(f"--backend {cfg.backend} needs --model")
    profile = profile or resolve_profile(cfg, _model_type(cfg.model))
    sampling = _sampling(cfg, profile)
    if cfg.backend == "synthetic":
        from .backends import SyntheticBackend

        if cfg.sampling_ift or cfg.sampling_reasoning:
            raise ValueError("the synthetic teacher is deterministic: --sampling-ift/--sampling-reasoning do not apply")
        return SyntheticBackend(profile, tokenizer=load_tokenizer(cfg.tokenizer), name=cfg.teacher)
    if cfg.backend == "hf":
        from .backends import HFBackend

        return HFBackend(cfg.model, profile, sampling, batch_size=cfg.batch_size or 8, device=cfg.device,
                         dtype=cfg.dtype, name=cfg.teacher)
    if cfg.backend == "vllm":
        from .backends import VLLMBackend

        return VLLMBackend(cfg.model, profile, sampling, tensor_parallel_size=cfg.tensor_parallel_size,
                           batch_size=cfg.batch_size or 1024, dtype=cfg.dtype, name=cfg.teacher)
    if not cfg.base_url:
        raise ValueError("--backend openai needs --base-url (e.g. http://127.0.0.1:8000/v1)")
    from .openai_backend import OpenAIBackend

    arch = None
    if cfg.teacher_config:
        from ..flops import Architecture

        try:
            arch = Architecture.from_config(cfg.teacher_config)
        except (ValueError, KeyError) as e:
            raise ValueError(f"{cfg.teacher_config}: {e}") from None
    return OpenAIBackend(cfg.model, profile, sampling, base_url=cfg.base_url, api_key_env=cfg.api_key_env,
                         api_key_file=cfg.api_key_file, concurrency=cfg.concurrency, timeout_s=cfg.timeout_s, max_retries=cfg.max_retries,
                         backoff_base_s=cfg.backoff_base_s, backoff_max_s=cfg.backoff_max_s,
                         send_chat_template_kwargs=cfg.send_chat_template_kwargs,
                         tokenizer=load_tokenizer(cfg.tokenizer), arch=arch, name=cfg.teacher)


# --- pairing ----------------------------------------------------------------------------------------

class _Counter:
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


def build_pair(item: PromptItem, ift: ModeResult, rea: ModeResult, *, backend: Backend, counter: _Counter,
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
        from ..flops import teacher_flops

        flops = (teacher_flops(backend.arch, p_ift, c_ift, convention)
                 + teacher_flops(backend.arch, p_rea, c_rea, convention))
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


# --- progress --------------------------------------------------------------------------------------

class _Progress:
    def __init__(self, enabled: bool, total: int | None):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="pair", dynamic_ncols=True, file=sys.stderr, smoothing=0.1)
        self.t0 = time.monotonic()
        self.pairs = 0
        self.failed = 0
        self.tokens = {"ift": 0, "reasoning": 0}
        self._last = self.t0

    def skip(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def update(self, pairs: int = 0, failed: int = 0) -> None:
        self.pairs += pairs
        self.failed += failed
        if self.bar is None:
            return
        self.bar.update(pairs + failed)
        now = time.monotonic()
        if now - self._last > 0.5:
            self._last = now
            dt = max(now - self.t0, 1e-9)
            self.bar.set_postfix_str(f"{self.pairs / dt:.1f} pairs/s, ift {self.tokens['ift'] / dt:.0f} tok/s, "
                                     f"reasoning {self.tokens['reasoning'] / dt:.0f} tok/s, failed {self.failed}",
                                     refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# --- the run ---------------------------------------------------------------------------------------

@dataclass
class _Pending:
    item: PromptItem
    prior: set[str]
    """Modes already answered in an earlier run (read from a partial record)."""
    results: dict[str, ModeResult] = field(default_factory=dict)

    def complete(self) -> bool:
        return len(self.results) == len(MODES)


class SystematicFailure(RuntimeError):
    """Many prompts in a row failed with the same error: the run stopped instead of trying every prompt."""


def error_signature(error: str) -> str:
    """A failure reason without its per-request parts (the attempt count), to see the same error repeat."""
    return re.sub(r" \(gave up after \d+ attempts?\)$", "", error).strip()[:200]


def generate(cfg: GenerateConfig, backend: Backend | None = None) -> dict[str, Any]:
    """Run (or resume) paired generation as ``cfg`` says; returns the summary (see ``summarize_store``)."""
    from ..flops import CONVENTIONS

    if not cfg.source:
        raise ValueError("--source is required (a prompt file, dataset, hub id, or synthetic:FAMILY:N)")
    if cfg.flops_convention not in CONVENTIONS:
        raise ValueError(f"--flops-convention must be one of {', '.join(CONVENTIONS)}, got {cfg.flops_convention!r}")
    if cfg.shard_size < 1:
        raise ValueError("--shard-size must be at least 1")
    own_backend = backend is None
    backend = backend or make_backend(cfg)
    try:
        if backend.kind != "synthetic":
            check_hybrid(cfg.teacher or cfg.model or backend.name, backend.profile, backend.tokenizer)
        return _run(cfg, backend)
    finally:
        if own_backend:
            backend.close()


def _run(cfg: GenerateConfig, backend: Backend) -> dict[str, Any]:
    profile = backend.profile
    manifest = {"teacher": backend.name, "profile": {k: v for k, v in profile.to_dict().items()
                                                     if k not in ("sampling_off", "sampling_on", "note")},
                "sampling": backend.sampling_record(), "backend": backend.kind}
    counter = _Counter(backend.tokenizer, profile)
    t0 = time.monotonic()
    stats = {"new_pairs": 0, "skipped": 0, "failed_prompts": 0, "failures": []}
    tokens = {"ift": 0, "reasoning": 0}
    # SIGTERM (preemption) only sets a flag while the store is open: the loop stops between two results, the store
    # closes normally (writing what it buffered), then the run exits 143. (Raising at the signal's instant could land
    # inside the store's own bookkeeping: once in ~60 trials the rerun then differed.)
    # the source opened and its first row read before the store exists: a wrong path or field leaves no empty
    # store behind (the CLI's default --out is ./pairs)
    next(iter_prompts(cfg.source, cfg.fields(), split=cfg.split, limit=cfg.limit), None)
    with sigterm_requested() as terminated, \
            PairStore(cfg.out, manifest, shard_size=cfg.shard_size, flush_seconds=cfg.flush_seconds) as store:
        done = store.done_ids()
        partials = store.partials(done)
        progress = _Progress(cfg.progress, count_prompts(cfg.source, split=cfg.split, limit=cfg.limit))
        progress.tokens = tokens
        pending: dict[str, _Pending] = {}
        seen = DoneIds() if cfg.id_field else None
        probe: list[PairedSample] | None = [] if cfg.probe_pairs > 0 else None

        def jobs() -> Iterator[Job]:
            for item in iter_prompts(cfg.source, cfg.fields(), split=cfg.split, limit=cfg.limit):
                if seen is not None:  # before the resume check: a rerun must refuse a repeated id too
                    if item.prompt_id in seen:
                        raise ValueError(f"{cfg.source}: prompt id {item.prompt_id!r} appears twice "
                                         f"(field {cfg.id_field!r} must be unique)")
                    seen.add(item.prompt_id)
                if item.prompt_id in done:
                    stats["skipped"] += 1
                    progress.skip()
                    continue
                prior = partials.pop(item.prompt_id, {})
                if len(prior) >= len(MODES):  # both halves from different runs: redo, keep it simple
                    prior = {}
                p = _Pending(item, set(prior))
                for m, d in prior.items():
                    p.results[m] = ModeResult.from_state(Job(item, m), d)
                pending[item.prompt_id] = p
                for m in MODES:
                    if m not in prior:
                        yield Job(item, m)

        streak: list[Any] = [None, 0]  # the error shared by the last failed prompts, and how many in a row

        def finish(p: _Pending) -> None:
            failed = {m: r for m, r in p.results.items() if r.error}
            if failed:
                sig = error_signature(next(iter(failed.values())).error or "")
                streak[:] = [sig, streak[1] + 1 if streak[0] == sig else 1]
                for m, r in failed.items():
                    store.add_failure(p.item.prompt_id, m, r.error or "", r.attempts)
                    if len(stats["failures"]) < 20:
                        stats["failures"].append({"prompt_id": p.item.prompt_id, "mode": m, "reason": r.error})
                for m, r in p.results.items():  # keep this run's good half: a rerun asks for the other only
                    if not r.error and m not in p.prior:
                        store.add_partial(p.item.prompt_id, m, r.to_state())
                stats["failed_prompts"] += 1
                progress.update(failed=1)
                if cfg.fail_fast_after and streak[1] >= cfg.fail_fast_after:
                    raise SystematicFailure(
                        f"{streak[1]} prompts in a row failed with the same error, stopping (fail_fast_after = "
                        f"{cfg.fail_fast_after}; every failure is recorded, a rerun retries them): {sig}")
                return
            streak[:] = [None, 0]
            pair = build_pair(p.item, p.results["ift"], p.results["reasoning"], backend=backend, counter=counter,
                              convention=cfg.flops_convention, check_disagreement=cfg.check_disagreement,
                              keep_text=cfg.keep_text)
            stats["new_pairs"] += 1
            tokens["ift"] += pair.ift_completion_tokens
            tokens["reasoning"] += pair.reasoning_completion_tokens
            progress.update(pairs=1)
            _add(pair)

        def _add(pair: PairedSample) -> None:
            nonlocal probe
            if probe is None:
                store.add_pair(pair)
                return
            probe.append(pair)
            if len(probe) >= cfg.probe_pairs:
                _check_probe(probe, backend)
                for q in probe:
                    store.add_pair(q)
                probe = None

        try:
            for r in backend.stream(jobs()):
                p = pending.get(r.job.item.prompt_id)
                if p is None:  # pragma: no cover - a backend answered a job twice
                    continue
                p.results[r.job.mode] = r
                if p.complete():
                    del pending[r.job.item.prompt_id]
                    finish(p)
                if terminated.is_set():
                    break
            if probe and not terminated.is_set():
                _check_probe(probe, backend)
                for q in probe:
                    store.add_pair(q)
                probe = None
        finally:
            progress.close()
    if terminated.is_set():
        raise Terminated(143)
    elapsed = time.monotonic() - t0
    summary = summarize_store(cfg.out)
    summary.update(stats)
    summary.update({"seconds": elapsed, "pairs_per_s": stats["new_pairs"] / elapsed if elapsed else 0.0,
                    "tokens_per_s": {m: v / elapsed if elapsed else 0.0 for m, v in tokens.items()},
                    "teacher": backend.name, "profile": profile.name, "backend": backend.kind})
    return summary


def _check_probe(probe: list[PairedSample], backend: Backend) -> None:
    if probe and all(p.toggle_ignored for p in probe):
        ift_traced = sum(bool(p.ift_trace) for p in probe)
        no_trace = sum(not p.reasoning_trace for p in probe)
        raise ValueError(
            f"teacher {backend.name!r} ignores the reasoning toggle of profile {backend.profile.name!r}: in the "
            f"first {len(probe)} pairs {ift_traced} IFT answers carry a trace and {no_trace} reasoning answers "
            "have none (a non-hybrid teacher, the wrong --profile, or a server that drops chat_template_kwargs; "
            "probe_pairs = 0 in the config skips this check)")


# --- summary ---------------------------------------------------------------------------------------

_SUMMARY_COLS = ["truncated", "empty_answer", "toggle_ignored", "disagree", "ift_tokens", "ift_completion_tokens",
                 "trace_tokens", "reasoning_answer_tokens", "reasoning_completion_tokens", "teacher_flops"]


def summarize_store(directory: Path) -> dict[str, Any]:
    """Pairs, flagged counts, median/p90 reasoning/IFT token ratio and teacher FLOPs of a whole store.

    The ratio is (trace + answer tokens with reasoning on) / (answer tokens with reasoning off), over
    pairs with a non-empty IFT answer. Reads only the needed columns, batch by batch (the ratios are
    kept as float32: 4 bytes per pair).
    """
    directory = Path(directory)
    n = 0
    flags = {"truncated": 0, "empty_answer": 0, "toggle_ignored": 0, "disagree": 0}
    ratios: list[np.ndarray] = []
    flops = 0.0
    for batch in iter_pairs(directory, "pairs-*.parquet", columns=_SUMMARY_COLS):
        n += len(batch)
        for k in flags:
            flags[k] += sum(1 for r in batch if r.get(k))
        ift = np.array([r.get("ift_tokens") or 0 for r in batch], dtype=np.float64)
        rea = np.array([(r.get("trace_tokens") or 0) + (r.get("reasoning_answer_tokens") or 0) for r in batch],
                       dtype=np.float64)
        ok = ift > 0
        ratios.append((rea[ok] / ift[ok]).astype(np.float32))
        flops += sum(f for r in batch if (f := r.get("teacher_flops")) is not None and not math.isnan(f))
    allr = np.concatenate(ratios) if ratios else np.zeros(0, dtype=np.float32)
    failures = read_failures(directory)
    return {
        "out": str(directory), "pairs": n, "flagged": flags,
        "ratio_median": float(np.median(allr)) if len(allr) else math.nan,
        "ratio_p90": float(np.percentile(allr, 90)) if len(allr) else math.nan,
        "teacher_flops": flops, "pending_failures": len({f["prompt_id"] for f in failures}),
    }


def store_teacher_flops(directory: Path, arch: Any, convention: str = "paper") -> float:
    """Teacher FLOPs of every stored pair recomputed for ``arch`` under ``convention`` (any convention,
    after the fact): prefill + decode of both modes from the recorded prompt and completion tokens."""
    from ..flops import Architecture, teacher_flops

    arch = Architecture.from_config(arch)
    total = 0.0
    cols = ["ift_prompt_tokens", "ift_completion_tokens", "prompt_tokens", "reasoning_completion_tokens"]
    for batch in iter_pairs(Path(directory), "pairs-*.parquet", columns=cols):
        for r in batch:
            total += teacher_flops(arch, r["ift_prompt_tokens"], r["ift_completion_tokens"], convention)
            total += teacher_flops(arch, r["prompt_tokens"], r["reasoning_completion_tokens"], convention)
    return total


def summary_json(s: dict[str, Any]) -> str:
    """The summary as strict JSON (NaN -> null)."""
    import json

    def clean(v: Any) -> Any:
        if isinstance(v, float) and math.isnan(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(s), sort_keys=True)


def format_summary(s: dict[str, Any]) -> str:
    """The end-of-run summary as a few human lines."""
    f = s["flagged"]
    lines = [
        f"pairs in store: {s['pairs']} ({s.get('new_pairs', 0)} new, {s.get('skipped', 0)} already there) "
        f"-> {s['out']}",
        f"flagged: truncated {f['truncated']}, empty answer {f['empty_answer']}, "
        f"toggle ignored {f['toggle_ignored']}, disagree {f['disagree']}",
        f"reasoning/IFT token ratio: median {s['ratio_median']:.2f}, p90 {s['ratio_p90']:.2f}",
    ]
    if "seconds" in s:
        tps = s.get("tokens_per_s", {})
        lines.append(f"{s['seconds']:.1f}s, {s['pairs_per_s']:.1f} pairs/s, ift {tps.get('ift', 0):.0f} tok/s, "
                     f"reasoning {tps.get('reasoning', 0):.0f} tok/s, teacher FLOPs {s['teacher_flops']:.3g}")
    if s.get("pending_failures"):
        lines.append(f"failed prompts pending: {s['pending_failures']} (reasons in "
                     f"{s['out']}/_state/failures-*.parquet; rerun the same command to fill them in)")
        for x in s.get("failures", [])[:5]:
            lines.append(f"  {x['prompt_id']} [{x['mode']}]: {x['reason']}")
    return "\n".join(lines)
