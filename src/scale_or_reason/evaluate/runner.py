"""Evaluate one model on prepared benchmarks: generate, grade, judge, count FLOPs -- resumably.

A model is a local checkpoint (``hf``: batched ``generate``, left padding, prompts sorted by length,
KV cache; ``vllm``: one offline ``chat`` call per benchmark with ``chat_template_kwargs``) or a model
behind any OpenAI-compatible server (``openai``: the teacher's client, with its concurrency, timeouts
and retries). The generation back ends are the teacher's (``teacher/backends.py``): a student answers
in one mode, reasoning on or off.

Per benchmark the run keeps ``generations/<benchmark>-<key>.jsonl``, one line per finished sample,
appended as samples arrive: a run that is killed continues where it stopped, a finished one is a
no-op, and a request that failed is retried by the next run. The key hashes the model, back end,
mode, sampling and items. Then every sample is graded (``graders.py``), optionally judged by the jury
(``jury.py``), given its inference FLOPs at its true lengths, and written to
``answers/<benchmark>.parquet`` (``records.ANSWER_COLUMNS``); ``summary.csv`` holds one row per
benchmark (``aggregate.py``) and ``jury.json`` the jury's agreement statistics.

Example::

    from scale_or_reason.evaluate.runner import EvalConfig, evaluate_model
    from scale_or_reason.evaluate.specs import load_spec
    cfg = EvalConfig(backend="hf", max_new_tokens=512)
    summary = evaluate_model("runs/s3-reasoning", [load_spec("gsm8k")], prepared="bench-data",
                             out="eval/s3-reasoning", thinking=True, cfg=cfg)
    print(summary[["benchmark", "accuracy", "ci_low", "ci_high", "generated_tokens_mean"]])
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..records import ANSWER_COLUMNS, BenchItem
from ..util import atomic_path, stable_hash, terminated_unwinds, write_json
from .aggregate import summarize
from .graders import grade
from .specs import BenchmarkSpec, read_prepared

if TYPE_CHECKING:  # imported where used: pandas is most of `sor --help`'s start-up
    import pandas as pd

__all__ = ["EvalConfig", "GenerationBackendConfig", "evaluate_model", "make_backend"]

log = logging.getLogger(__name__)


@dataclass
class EvalConfig:
    """How answers are generated (and how many): the ``[eval]`` table of a study, ``sor evaluate``'s options."""

    max_new_tokens: int = 0
    """Token cap per answer; 0 takes each benchmark spec's cap (the paper's 16K)."""
    batch_size: int = 64
    """hf: prompts generated together (left-padded, sorted by length)."""
    threads: int | None = None
    """hf on CPU: torch threads (None: torch's default)."""
    temperature: float = 0.0
    """Sampling temperature; 0 is greedy decoding (the default)."""
    top_p: float | None = None
    """Nucleus sampling mass (None: not set)."""
    samples: int = 1
    """Answers per item; with a temperature > 0 accuracy is the mean over samples (small sets such as AIME)."""
    seed: int = 0
    """Base seed of sampled answers: each request's seed derives from it, the item and the sample index
    (recorded per sample; vLLM and servers use it per request, the hf back end seeds each batch with its
    first request's seed)."""
    backend: str = "hf"
    """Generation back end: ``hf``, ``vllm`` or ``openai``."""
    device: str = "auto"
    """hf: ``cpu``, ``cuda`` or ``auto``."""
    base_url: str = ""
    """openai: the server's base URL (``http://127.0.0.1:8000/v1``)."""
    api_key_env: str = "OPENAI_API_KEY"
    """openai: name of the environment variable holding the API key (the key is never stored)."""
    api_key_file: str | None = None
    """openai: a file whose first line is the API key (instead of ``api_key_env``)."""
    concurrency: int = 32
    """openai: requests in flight."""
    timeout_s: float = 900.0
    """openai: seconds per request before it is retried."""
    max_retries: int = 4
    """openai: retries of a failed request (429, 5xx, timeouts) before the sample is left for a rerun."""
    tensor_parallel_size: int = 1
    """vllm: GPUs per engine."""
    convention: str = "paper"
    """FLOPs convention of the per-sample inference FLOPs (``paper``, ``exact``, ``6nd``)."""

    def cap(self, spec: BenchmarkSpec) -> int:
        """The token cap for ``spec``."""
        return self.max_new_tokens or spec.max_new_tokens

    def generation_key(self) -> dict[str, Any]:
        """The settings that change what is generated (not batch size, threads or concurrency)."""
        return {"temperature": self.temperature, "top_p": self.top_p, "seed": self.seed,
                "max_new_tokens": self.max_new_tokens}


@dataclass
class GenerationBackendConfig:
    """What the model is: a checkpoint directory or a served model name, and its FLOPs config."""

    model: str
    """Checkpoint directory (hf, vllm) or the served model name (openai)."""
    label: str = ""
    """Student label in the answers (default: the checkpoint's directory name or the model name)."""
    arm: str = ""
    """Training arm of the student, recorded in the answers."""
    model_config: str = ""
    """openai: a ``config.json`` of the served model, for its inference FLOPs (else NaN)."""


def make_backend(cfg: EvalConfig, model: GenerationBackendConfig, spec_cap: int) -> Any:
    """The teacher back end that generates a student's answers (both modes get the same sampling)."""
    from ..teacher.profiles import SamplingParams, get_profile

    profile = get_profile("qwen3")  # `enable_thinking` in the template; a template that ignores it is unaffected
    sp = SamplingParams(temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=spec_cap,
                        seed=cfg.seed if cfg.temperature > 0 else None)
    sampling = {"ift": sp, "reasoning": sp}
    if cfg.backend == "hf":
        import torch

        from ..teacher.backends import HFBackend

        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        device = ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
        return HFBackend(model.model, profile, sampling, batch_size=cfg.batch_size, device=device,
                         name=model.label or Path(model.model).name)
    if cfg.backend == "vllm":
        from ..teacher.backends import VLLMBackend

        return VLLMBackend(model.model, profile, sampling, tensor_parallel_size=cfg.tensor_parallel_size,
                           batch_size=10**9, name=model.label or model.model)  # one call: vLLM schedules it all
    if cfg.backend == "openai":
        from ..flops import Architecture
        from ..teacher.openai_backend import OpenAIBackend

        if not cfg.base_url:
            raise ValueError("the openai back end needs --base-url")
        arch = Architecture.from_config(model.model_config) if model.model_config else None
        return OpenAIBackend(model.model, profile, sampling, base_url=cfg.base_url, api_key_env=cfg.api_key_env,
                             api_key_file=cfg.api_key_file, concurrency=cfg.concurrency, timeout_s=cfg.timeout_s, max_retries=cfg.max_retries,
                             arch=arch,
                             name=model.label or model.model)
    raise ValueError(f"unknown back end {cfg.backend!r}; expected hf, vllm or openai")


# --- generation, resumable per sample ---------------------------------------------------------------

def _sample_id(item_id: str, k: int, samples: int) -> str:
    return item_id if samples == 1 else f"{item_id}#s{k}"


def _read_done(path: Path) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return done
    with open(path) as f:
        for line in f:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a kill: that sample is generated again
                continue
            done[row["sample_id"]] = row
    return done


def _generate(backend: Any, spec: BenchmarkSpec, items: list[BenchItem], *, thinking: bool, cfg: EvalConfig,
              path: Path, progress: bool) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Generate every missing sample of ``items`` into ``path``; returns (rows by sample id, errors)."""
    from tqdm.auto import tqdm

    from ..teacher.backends import Job, request_seed
    from ..teacher.sources import PromptItem

    done = _read_done(path)
    mode = "reasoning" if thinking else "ift"
    todo = [(it, k) for it in items for k in range(cfg.samples) if _sample_id(it.id, k, cfg.samples) not in done]
    tok = getattr(backend, "tokenizer", None)
    if todo and cfg.backend == "hf" and tok is not None:
        # Longest prompts first (lm-eval's order): the first batch shows the peak memory, batches are
        # length-homogeneous so little padding; the answers are put back in item order below.
        def plen(pair: tuple[BenchItem, int]) -> int:
            text = backend.profile.render(tok, [{"role": "user", "content": pair[0].prompt}], thinking)
            return len(tok(text, add_special_tokens=False)["input_ids"])
        todo.sort(key=plen, reverse=True)
    by_id = {_sample_id(it.id, k, cfg.samples): (it, k) for it, k in todo}
    jobs = (Job(PromptItem(prompt_id=sid, prompt=it.prompt), mode) for sid, (it, k) in by_id.items())
    errors: list[str] = []
    sp = backend.sampling[mode]
    if todo:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size:
            with open(path, "rb+") as f:  # a kill may have cut the last line: end it before appending
                f.seek(-1, 2)
                if f.read(1) != b"\n":
                    f.write(b"\n")
        with open(path, "a") as f, tqdm(total=len(todo), desc=f"generate {spec.name}", unit="answer",
                                         disable=not progress, leave=False) as bar:
            for r in backend.stream(jobs):
                sid = r.job.item.prompt_id
                it, k = by_id[sid]
                bar.update(1)
                if r.error:
                    errors.append(f"{spec.name}/{sid}: {r.error}")
                    continue
                row = {"sample_id": sid, "prompt_id": it.id, "sample": k, "response": r.text,
                       "seed": request_seed(sp.seed, sid, mode), "finish_reason": r.finish_reason,
                       "prompt_tokens": r.prompt_tokens, "generated_tokens": r.completion_tokens,
                       "latency_s": r.latency_s}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                f.flush()
                done[sid] = row
    return done, errors


def _prompt_opens_think(backend: Any, thinking: bool) -> bool:
    """Whether the rendered prompt itself opens the trace (a template that injects ``<think>``)."""
    tok = getattr(backend, "tokenizer", None)
    if tok is None or not thinking:
        return False
    text = backend.profile.render(tok, [{"role": "user", "content": "x"}], True)
    return text.rstrip().endswith(backend.profile.think_open)


def _rows(spec: BenchmarkSpec, items: list[BenchItem], done: dict[str, dict[str, Any]], *, student: str, arm: str,
          thinking: bool, cfg: EvalConfig, arch: Any, prompt_opened: bool) -> list[dict[str, Any]]:
    from ..flops import inference_flops

    rows = []
    for it in items:
        for k in range(cfg.samples):
            g = done.get(_sample_id(it.id, k, cfg.samples))
            if g is None:
                continue
            gr = grade(g["response"], grader=spec.grader, reference=it.reference, choices=it.choices,
                       golds=it.all_golds(), meta=it.meta, prompt_opened=prompt_opened)
            pt, gt = g["prompt_tokens"], g["generated_tokens"]
            flops = (inference_flops(arch, int(pt), int(gt), cfg.convention)
                     if arch is not None and pt is not None and gt is not None else float("nan"))
            rows.append({
                "student": student, "arm": arm, "benchmark": spec.name, "family": spec.family, "prompt_id": it.id,
                "sample": k, "seed": g["seed"], "thinking": thinking, "prompt_tokens": pt, "generated_tokens": gt,
                "finish_reason": g["finish_reason"], "response": g["response"], "answer_text": gr.answer_text,
                "truncated": gr.truncated, "extracted": gr.extracted, "reference": it.reference,
                "rule_correct": gr.correct, "rule_score": gr.score, "jury_correct": None, "jury_votes": "",
                "jury_flag": "", "correct": bool(gr.correct) if gr.correct is not None else None,
                "inference_flops": flops, "convention": cfg.convention,
            })
    return rows


def _judge(rows: list[dict[str, Any]], spec: BenchmarkSpec, items: list[BenchItem], jury: Any,
           progress: bool) -> dict[str, Any]:
    from .jury import JudgeRequest, agreement, run_jury

    by_id = {it.id: it for it in items}
    reqs = [JudgeRequest(item_id=f"{spec.name}/{r['prompt_id']}#{r['sample']}", kind=spec.judge,
                         question=by_id[r["prompt_id"]].question or by_id[r["prompt_id"]].prompt,
                         answer=r["answer_text"],
                         reference=by_id[r["prompt_id"]].judge_reference or r["reference"],
                         rule_correct=r["rule_correct"]) for r in rows]
    verdicts = run_jury(reqs, jury, progress=progress)
    for r, v in zip(rows, verdicts):
        r["jury_correct"] = v.correct
        r["jury_votes"] = json.dumps(v.votes, sort_keys=True)
        r["jury_flag"] = v.flag
        r["correct"] = v.correct
    return agreement(verdicts, [r["rule_correct"] for r in rows])


def weights_fingerprint(model: str) -> str | None:
    """A fingerprint of a local checkpoint's weights (None for a hub id or a server's model name): the size and
    the first, middle and last MiB of every weight file, so generations cached for a model directory are not
    reused after it is retrained in place (hashing whole multi-GB files would cost a minute per model)."""
    import hashlib

    path = Path(model)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(f for f in path.iterdir() if f.suffix in (".safetensors", ".bin", ".gguf", ".pt"))
    else:
        files = []
    if not files:
        return None
    h = hashlib.sha256()
    chunk = 1 << 20
    for f in files:
        size = f.stat().st_size
        h.update(f"{f.name}:{size}".encode())
        with open(f, "rb") as fh:
            for at in sorted({0, max(0, size // 2 - chunk // 2), max(0, size - chunk)}):
                fh.seek(at)
                h.update(fh.read(chunk))
    return h.hexdigest()[:16]


def evaluate_model(model: str | GenerationBackendConfig, specs: list[BenchmarkSpec], *, prepared: str | Path,
                   out: str | Path, thinking: bool, cfg: EvalConfig | None = None, jury: Any = None,
                   progress: bool = True, backend: Any = None) -> pd.DataFrame:
    """Evaluate ``model`` on ``specs`` read from the prepared directory ``prepared``; returns the summary.

    ``thinking``: prompt the student with reasoning on (arms trained to think) or off (IFT).
    ``jury``: a ``jury.JuryConfig`` to judge every sample (the paper's score), or None (rule graders).
    ``backend``: an already built generation back end to reuse across calls (else one is built).
    Raises ``RuntimeError`` naming the failed samples when some generations failed after retries; what
    finished is kept and a rerun generates only the rest.
    """
    import pandas as pd

    cfg = cfg or EvalConfig()
    mcfg = model if isinstance(model, GenerationBackendConfig) else GenerationBackendConfig(model=str(model))
    student = mcfg.label or Path(mcfg.model).name
    out = Path(out)
    summaries, errors, stats = [], [], {}
    be = backend if backend is not None else make_backend(cfg, mcfg, cfg.cap(specs[0]))
    weights = weights_fingerprint(mcfg.model)  # read once: the checkpoint is the same for every benchmark
    for spec in specs:
        items = read_prepared(prepared, spec)
        # back ends read their sampling at run time: one back end serves every benchmark's cap
        be.sampling = {m: dataclasses.replace(sp, max_tokens=cfg.cap(spec)) for m, sp in be.sampling.items()}
        key = stable_hash({"model": mcfg.model, "weights": weights, "backend": cfg.backend,
                           "thinking": thinking,
                           "gen": cfg.generation_key(), "cap": cfg.cap(spec), "samples": cfg.samples,
                           "items": stable_hash([it.prompt for it in items])})
        path = out / "generations" / f"{spec.name}-{key}.jsonl"
        t0 = time.time()
        with terminated_unwinds():  # SIGTERM: the generations file closes on a whole line, exit 143
            done, errs = _generate(be, spec, items, thinking=thinking, cfg=cfg, path=path, progress=progress)
        errors += errs
        rows = _rows(spec, items, done, student=student, arm=mcfg.arm, thinking=thinking, cfg=cfg,
                     arch=getattr(be, "arch", None), prompt_opened=_prompt_opens_think(be, thinking))
        if jury is not None and rows:
            with terminated_unwinds():  # the vote cache closes on a whole line
                stats[spec.name] = _judge(rows, spec, items, jury, progress)
        df = pd.DataFrame(rows, columns=list(ANSWER_COLUMNS))
        with atomic_path(out / "answers" / f"{spec.name}.parquet") as tmp:
            df.to_parquet(tmp, index=False)
        summaries.append(summarize(df, items))
        log.info("%s: %d answers in %.1fs", spec.name, len(df), time.time() - t0)
    summary = pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame()
    with atomic_path(out / "summary.csv") as tmp:
        summary.to_csv(tmp, index=False)
    if stats:
        write_json(out / "jury.json", stats)
    if backend is None:
        be.close()
    # judge configs hold the *name* of the key's environment variable, never the key
    write_json(out / "eval.json", {"model": asdict(mcfg), "thinking": thinking, "config": asdict(cfg),
                                   "benchmarks": [s.name for s in specs],
                                   "jury": asdict(jury) if jury is not None else None})
    if errors:
        raise RuntimeError(f"{len(errors)} generation(s) failed (kept the rest; rerun to retry): "
                           + "; ".join(errors[:3]))
    return summary
