"""Teacher backends behind one interface: ``stream(jobs)`` -> ``ModeResult`` per (prompt, mode).

A ``Job`` is one prompt in one mode (``ift`` = reasoning off, ``reasoning`` = on). A backend pulls jobs
lazily (so the prompt source is streamed), runs them its own way, and yields one ``ModeResult`` per job
in any order; a job that failed carries ``error`` (the reason) instead of text. The runner pairs the
results up and writes the store.

* ``SyntheticBackend`` -- the embedded programmatic teacher (synthetic task sources only);
* ``HFBackend`` -- a local transformers checkpoint, batched ``generate`` (small teachers);
* ``OpenAIBackend`` (``openai_backend.py``) -- any OpenAI-compatible server, async, bounded concurrency;
* ``VLLMBackend`` -- offline ``vllm.LLM.chat`` with tensor parallelism (extra ``vllm``, imported lazily).

Example::

    from scale_or_reason.teacher.backends import HFBackend, Job
    from scale_or_reason.teacher.profiles import get_profile
    from scale_or_reason.teacher.sources import PromptItem
    be = HFBackend("path/to/checkpoint", get_profile("qwen3"), batch_size=8)
    item = PromptItem("p1", "What is 3 + 4?")
    for r in be.stream([Job(item, "ift"), Job(item, "reasoning")]):
        print(r.job.mode, r.trace[:40], r.answer, r.finish_reason)
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .profiles import SamplingParams, ToggleProfile
from .sources import PromptItem

__all__ = ["Backend", "BackendError", "HFBackend", "Job", "ModeResult", "SyntheticBackend", "VLLMBackend",
           "request_seed"]


class BackendError(RuntimeError):
    """A backend cannot run at all (missing extra, bad checkpoint, unreachable server)."""


@dataclass
class Job:
    """One prompt in one mode."""

    item: PromptItem
    """The prompt."""
    mode: str
    """``ift`` (reasoning off) or ``reasoning`` (on)."""

    @property
    def thinking(self) -> bool:
        return self.mode == "reasoning"


@dataclass
class ModeResult:
    """One generation, split into trace and answer, or the reason it failed."""

    job: Job
    """The job this answers."""
    text: str = ""
    """Raw generated text (rebuilt from parts when the server returned the trace apart)."""
    trace: str = ""
    """Trace (without tags)."""
    answer: str = ""
    """Answer after the trace."""
    finish_reason: str = "stop"
    """``stop`` or ``length`` (or whatever the server said)."""
    closed: bool | None = None
    """Whether the closing think tag was seen; None when a server parsed the trace for us."""
    prompt_tokens: int | None = None
    """Prompt tokens (usage or tokenizer); None when unknown."""
    completion_tokens: int | None = None
    """All generated tokens (usage or generated ids); None when unknown."""
    trace_tokens: int | None = None
    """Tokens of the trace; None when unknown (the runner counts or estimates them)."""
    answer_tokens: int | None = None
    """Tokens of the answer; None when unknown."""
    latency_s: float = 0.0
    """Wall seconds of the request (of the batch, for batched backends)."""
    error: str | None = None
    """Why the job failed (after retries); None on success."""
    attempts: int = 1
    """Requests made for this job."""

    def to_state(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("job")
        return d

    @classmethod
    def from_state(cls, job: Job, d: dict[str, Any]) -> ModeResult:
        return cls(job=job, **d)


def request_seed(base: int | None, prompt_id: str, mode: str) -> int | None:
    """Per-request seed: ``base`` + a stable hash of (prompt id, mode), so reruns draw the same sample."""
    if base is None:
        return None
    h = int.from_bytes(hashlib.sha256(f"{prompt_id}\x00{mode}".encode()).digest()[:4], "little")
    return (base + h) % (2**31 - 1)


class Backend:
    """Base class: ``name`` (teacher id), ``tokenizer`` and ``arch`` when known, ``stream(jobs)``."""

    name: str = ""
    tokenizer: Any = None
    """A Hugging Face tokenizer for token counts and the hybrid check, or None."""
    arch: Any = None
    """``flops.Architecture`` of the teacher for its FLOPs, or None."""
    kind: str = ""

    def __init__(self, profile: ToggleProfile, sampling: dict[str, SamplingParams] | None = None):
        self.profile = profile
        self.sampling = sampling or {"ift": profile.sampling_off, "reasoning": profile.sampling_on}

    def sampling_record(self) -> dict[str, Any]:
        return {m: s.to_dict() for m, s in self.sampling.items()}

    def stream(self, jobs: Iterable[Job]) -> Iterator[ModeResult]:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _batched(it: Iterable[Any], n: int) -> Iterator[list[Any]]:
    it = iter(it)
    while chunk := list(itertools.islice(it, n)):
        yield chunk


# --- synthetic -------------------------------------------------------------------------------------

class SyntheticBackend(Backend):
    """The programmatic teacher of ``synthetic/`` behind the backend interface (no model, no FLOPs)."""

    kind = "synthetic"

    def __init__(self, profile: ToggleProfile, tokenizer: Any = None, name: str | None = None):
        from ..synthetic.teacher import SyntheticTeacher

        greedy = SamplingParams(temperature=0.0, max_tokens=0)
        super().__init__(profile, {"ift": greedy, "reasoning": greedy})
        self.teacher = SyntheticTeacher()
        self.name = name or self.teacher.name
        self.tokenizer = tokenizer

    def stream(self, jobs: Iterable[Job]) -> Iterator[ModeResult]:
        for job in jobs:
            if job.item.task is None:
                raise BackendError(f"prompt {job.item.prompt_id}: the synthetic backend answers synthetic tasks "
                                   "only (--source synthetic:FAMILY:N)")
            t0 = time.perf_counter()
            out = self.teacher.answer(job.item.task, enable_thinking=job.thinking)
            text = self.profile.rebuild(out.trace, out.answer)
            yield ModeResult(job, text=text, trace=out.trace, answer=out.answer, finish_reason=out.finish_reason,
                             closed=bool(out.trace) or None, latency_s=time.perf_counter() - t0)


# --- local transformers checkpoint -------------------------------------------------------------------

def _clean(text: str, specials: list[str]) -> str:
    for s in specials:
        if s:
            text = text.replace(s, "")
    return text


class HFBackend(Backend):
    """A local transformers checkpoint: ``apply_chat_template(..., <toggle kwarg>)`` + batched ``generate``.

    Jobs are taken ``batch_size`` at a time, grouped by mode, sorted by prompt length and left-padded.
    Greedy decoding (``temperature=0``) is deterministic; with sampling, each batch is seeded from its
    first request's seed, so a rerun reproduces a batch only when it holds the same prompts.
    """

    kind = "hf"

    def __init__(self, model: str | Path, profile: ToggleProfile, sampling: dict[str, SamplingParams] | None = None,
                 *, batch_size: int = 8, device: str = "cpu", dtype: str = "auto", name: str | None = None):
        super().__init__(profile, sampling)
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as e:  # pragma: no cover - core dependencies
            raise BackendError(f"the hf backend needs torch and transformers ({e})") from None
        from ..flops import Architecture

        path = Path(model)
        if not (path / "config.json").exists():
            raise BackendError(f"{path}: no config.json (the hf backend loads a local checkpoint directory)")
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        kw: dict[str, Any] = {} if dtype == "auto" else {"dtype": getattr(torch, dtype)}
        self.model = AutoModelForCausalLM.from_pretrained(path, **kw).to(device).eval()
        self.device = device
        self.batch_size = batch_size
        self.name = name or path.name
        try:
            self.arch = Architecture.from_config(path)
        except (ValueError, KeyError):
            self.arch = None
        eos = self.model.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos]
        if self.tokenizer.eos_token_id is not None:
            eos.append(self.tokenizer.eos_token_id)
        self.eos_ids = sorted({int(e) for e in eos if e is not None})
        keep = {profile.think_open, profile.think_close}
        self.specials = [s for s in self.tokenizer.all_special_tokens if s not in keep]

    def stream(self, jobs: Iterable[Job]) -> Iterator[ModeResult]:
        for window in _batched(jobs, self.batch_size * 2):
            for mode in ("ift", "reasoning"):
                group = [j for j in window if j.mode == mode]
                for batch in _batched(group, self.batch_size):
                    yield from self._run(batch, mode)

    def _run(self, batch: list[Job], mode: str) -> list[ModeResult]:
        torch = self.torch
        sp = self.sampling[mode]
        prompts = [self.profile.render(self.tokenizer, j.item.messages(), j.thinking) for j in batch]
        enc = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        order = sorted(range(len(batch)), key=lambda i: len(enc[i]))
        padded = self.tokenizer.pad({"input_ids": [enc[i] for i in order]}, return_tensors="pt")
        kwargs: dict[str, Any] = {"max_new_tokens": sp.max_tokens, "pad_token_id": self.tokenizer.pad_token_id,
                                  "eos_token_id": self.eos_ids}
        if sp.temperature and sp.temperature > 0:
            kwargs.update(do_sample=True, temperature=sp.temperature)
            for k in ("top_p", "top_k", "min_p"):
                if getattr(sp, k) is not None:
                    kwargs[k] = getattr(sp, k)
            seed = request_seed(sp.seed if sp.seed is not None else 0, batch[order[0]].item.prompt_id, mode)
            torch.manual_seed(seed)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        t0 = time.perf_counter()
        # greedy: the loop below; sampling, or a cache that loop does not handle (sliding windows...): generate
        generated = None if kwargs["do_sample"] else self.greedy([enc[i] for i in order], sp.max_tokens)
        if generated is None:
            with torch.no_grad():
                out = self.model.generate(input_ids=padded["input_ids"].to(self.device),
                                          attention_mask=padded["attention_mask"].to(self.device), **kwargs)
            width = padded["input_ids"].shape[1]
            generated = [out[row, width:].tolist() for row in range(len(order))]
        latency = time.perf_counter() - t0
        results: list[ModeResult | None] = [None] * len(batch)
        for row, i in enumerate(order):
            gen = generated[row]
            stop = next((k for k, t in enumerate(gen) if t in self.eos_ids), None)
            finish = "stop" if stop is not None else "length"
            gen = gen[:stop] if stop is not None else gen
            text = _clean(self.tokenizer.decode(gen, skip_special_tokens=False), self.specials)
            opened = prompts[i].rstrip().endswith(self.profile.think_open.strip()) if batch[i].thinking else False
            sp_ = self.profile.split(text, opened=opened)
            results[i] = ModeResult(batch[i], text=text, trace=sp_.trace, answer=sp_.answer, finish_reason=finish,
                                    closed=sp_.closed if sp_.tagged else None, prompt_tokens=len(enc[i]),
                                    # the end-of-sequence token was generated too (as vLLM and servers count it)
                                    completion_tokens=len(gen) + (stop is not None),
                                    latency_s=latency)
        return [r for r in results if r is not None]

    def greedy(self, prompts: list[list[int]], max_new: int, prefill_tokens: int = 4096) -> list[list[int]] | None:
        """Greedy continuations of ``prompts`` (sorted by length), each up to its first end-of-sequence token.

        What ``generate(do_sample=False)`` computes, organised for a CPU (measured in
        ``benchmarks/eval_throughput.py``): ``generate`` left-pads the whole batch to its longest prompt, so the
        prefill pays for every padding position, and it keeps decoding finished rows until the last one ends.
        Here the prompts are prefilled in length-sorted chunks of at most ``prefill_tokens`` padded tokens (only
        the last position's logits), their caches joined (left-padded) into one decode batch, and rows leave the
        batch as soon as they end. Positions are counted per row, so every row sees the positions and keys it
        would see alone; only float summation order differs from ``generate``. Returns None for a model whose
        cache is not one plain key/value tensor per layer (sliding windows, recurrent layers): use ``generate``.
        """
        torch = self.torch
        from transformers import DynamicCache

        dev, pad = self.device, self.tokenizer.pad_token_id or 0
        eos = torch.tensor(self.eos_ids, device=dev)
        chunks, start = [], 0
        while start < len(prompts):  # prompts are sorted by length: each chunk's padding is small
            end = start + 1
            while end < len(prompts) and len(prompts[end]) * (end + 1 - start) <= prefill_tokens:
                end += 1
            chunks.append((start, end))
            start = end
        width = max(len(p) for p in prompts)
        layers: list[list[tuple[Any, Any]]] = []
        masks, first = [], []
        with torch.no_grad():
            for a, b in chunks:
                w = max(len(p) for p in prompts[a:b])
                ids = torch.tensor([[pad] * (w - len(p)) + p for p in prompts[a:b]], device=dev)
                mask = torch.tensor([[0] * (w - len(p)) + [1] * len(p) for p in prompts[a:b]], device=dev)
                pos = (mask.cumsum(-1) - 1).clamp(min=0)
                out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                                 logits_to_keep=1)
                first.append(out.logits[:, -1].argmax(-1))
                masks.append(torch.nn.functional.pad(mask, (width - w, 0)))
                cache = out.cache if "cache" in out else out.past_key_values  # renamed in transformers 5.2x
                cache_kw = "cache" if "cache" in out else "past_key_values"
                if any(type(layer).__name__ != "DynamicLayer" for layer in getattr(cache, "layers", [None])):
                    return None
                layers.append([(torch.nn.functional.pad(layer.keys, (0, 0, width - w, 0)),
                                torch.nn.functional.pad(layer.values, (0, 0, width - w, 0))) for layer in cache.layers])
            cache = DynamicCache([(torch.cat([c[i][0] for c in layers]), torch.cat([c[i][1] for c in layers]))
                                  for i in range(len(layers[0]))], config=self.model.config)
            del layers
            mask = torch.cat(masks)
            token = torch.cat(first)
            position = mask.sum(-1)
            alive = torch.arange(len(prompts), device=dev)
            outputs: list[list[int]] = [[] for _ in prompts]
            for step in range(max_new):
                for row, t in zip(alive.tolist(), token.tolist()):
                    outputs[row].append(t)
                keep = ~torch.isin(token, eos)
                if step == max_new - 1 or not bool(keep.any()):
                    break
                if not bool(keep.all()):  # finished rows leave the batch
                    idx = keep.nonzero().squeeze(-1)
                    cache.batch_select_indices(idx)
                    alive, token, mask, position = alive[idx], token[idx], mask[idx], position[idx]
                mask = torch.cat([mask, mask.new_ones(len(alive), 1)], dim=-1)
                out = self.model(input_ids=token[:, None], attention_mask=mask, position_ids=position[:, None],
                                 use_cache=True, **{cache_kw: cache})
                token = out.logits[:, -1].argmax(-1)
                position = position + 1
        return outputs


# --- vLLM (offline) --------------------------------------------------------------------------------

class VLLMBackend(Backend):
    """Offline vLLM: ``LLM.chat(conversations, sampling_params, chat_template_kwargs=...)``.

    Needs the ``vllm`` extra and a GPU; imported only here. Jobs are taken ``batch_size`` at a time
    (vLLM schedules them itself), one ``chat`` call per mode since the template kwargs differ. Each
    request gets its own ``SamplingParams`` with a per-prompt seed, so reruns reproduce it.
    Special tokens are kept in the text (gpt-oss marks its channels with them) and stripped after
    the split.
    """

    kind = "vllm"

    def __init__(self, model: str, profile: ToggleProfile, sampling: dict[str, SamplingParams] | None = None, *,
                 tensor_parallel_size: int = 1, batch_size: int = 1024, dtype: str = "auto",
                 max_model_len: int | None = None, name: str | None = None):
        super().__init__(profile, sampling)
        try:
            import vllm
        except ImportError:
            raise BackendError("the vllm backend needs the optional extra: "
                               "pip install 'scale-or-reason[vllm]'") from None
        from ..flops import Architecture

        self.vllm = vllm
        kw: dict[str, Any] = {"model": str(model), "tensor_parallel_size": tensor_parallel_size, "dtype": dtype}
        if max_model_len:
            kw["max_model_len"] = max_model_len
        self.llm = vllm.LLM(**kw)
        self.tokenizer = self.llm.get_tokenizer()
        self.batch_size = batch_size
        self.name = name or str(model)
        try:
            self.arch = Architecture.from_config(self.llm.llm_engine.get_model_config().hf_config)
        except Exception:
            self.arch = None
        keep = {profile.think_open, profile.think_close}
        self.specials = [s for s in getattr(self.tokenizer, "all_special_tokens", []) if s not in keep]

    def _params(self, job: Job) -> Any:
        sp = self.sampling[job.mode]
        kw: dict[str, Any] = {"temperature": sp.temperature, "max_tokens": sp.max_tokens,
                              "seed": request_seed(sp.seed, job.item.prompt_id, job.mode),
                              "skip_special_tokens": False}
        for k in ("top_p", "top_k", "min_p"):
            if getattr(sp, k) is not None:
                kw[k] = getattr(sp, k)
        return self.vllm.SamplingParams(**kw)

    def stream(self, jobs: Iterable[Job]) -> Iterator[ModeResult]:
        for window in _batched(jobs, self.batch_size):
            for mode in ("ift", "reasoning"):
                group = [j for j in window if j.mode == mode]
                if not group:
                    continue
                t0 = time.perf_counter()
                kwargs = self.profile.template_kwargs(mode == "reasoning")
                outs = self.llm.chat([self.profile.messages(j.item.messages(), j.thinking) for j in group],
                                     [self._params(j) for j in group], use_tqdm=False,
                                     chat_template_kwargs=kwargs or None)
                latency = time.perf_counter() - t0
                for j, o in zip(group, outs):
                    c = o.outputs[0]
                    text = _clean(c.text, self.specials)
                    prompt = self.tokenizer.decode(o.prompt_token_ids[-8:]) if o.prompt_token_ids else ""
                    opened = j.thinking and prompt.rstrip().endswith(self.profile.think_open.strip())
                    sp_ = self.profile.split(text, opened=opened)
                    yield ModeResult(j, text=text, trace=sp_.trace, answer=sp_.answer,
                                     finish_reason=c.finish_reason or "unknown", closed=sp_.closed if sp_.tagged else None,
                                     prompt_tokens=len(o.prompt_token_ids or []), completion_tokens=len(c.token_ids),
                                     latency_s=latency)
