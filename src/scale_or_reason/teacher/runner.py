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

import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..records import PairedSample
from ..util import Terminated, sigterm_requested
from .backends import Backend, Job, ModeResult
from .config import BACKENDS, GenerateConfig
from .pairing import TokenCounter, build_pair
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
from .sources import PromptItem, count_prompts, iter_prompts
from .store import DoneIds, PairStore
from .summary import summarize_store
from .tokens import load_tokenizer

__all__ = ["SystematicFailure", "error_signature", "generate", "make_backend", "resolve_profile"]


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
    counter = TokenCounter(backend.tokenizer, profile)
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
