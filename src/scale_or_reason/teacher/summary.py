"""What a pair store holds, summed: pairs, flags, the reasoning/IFT token ratio, the teacher's FLOPs (any
convention, after the fact), and how ``sor generate`` prints it.

Example::

    from pathlib import Path
    from scale_or_reason.teacher.summary import format_summary, summarize_store
    print(format_summary(summarize_store(Path("pairs"))))
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .store import iter_pairs, read_failures

__all__ = ["format_summary", "store_teacher_flops", "summarize_store", "summary_json"]

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
    from ..flops import Architecture, inference_flops

    arch = Architecture.from_config(arch)
    total = 0.0
    cols = ["ift_prompt_tokens", "ift_completion_tokens", "prompt_tokens", "reasoning_completion_tokens"]
    for batch in iter_pairs(Path(directory), "pairs-*.parquet", columns=cols):
        for r in batch:
            total += inference_flops(arch, r["ift_prompt_tokens"], r["ift_completion_tokens"], convention)
            total += inference_flops(arch, r["prompt_tokens"], r["reasoning_completion_tokens"], convention)
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
