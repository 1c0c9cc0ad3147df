"""Export and import pairs in the layout of the paper's released datasets.

The released ``Scale-or-Reason/{general,math}-reasoning-ift-pairs`` datasets have three string columns,
``prompt``, ``reasoning`` and ``ift``, in a split named ``reasoning_ift_pairs`` (the hub repo also has
single-format ``reasoning`` and ``ift`` splits, derivable from it). ``reasoning`` holds the whole
reasoning-mode output, ``<think>\\n{trace}\\n</think>\\n\\n{answer}``; ``ift`` the reasoning-off answer.

* ``export_pairs(store, DIR)`` writes a Hugging Face dataset folder in the hub layout:
  ``DIR/data/reasoning_ift_pairs-00000-of-0000N.parquet`` and a ``README.md`` whose YAML header
  declares the features and the split, so ``datasets.load_dataset(DIR)`` (or an upload to the hub)
  gives the same dataset. It streams shard by shard; the folder appears atomically.
* ``import_pairs(SRC, store)`` reads that layout from a local folder, a ``save_to_disk`` folder, a
  Parquet/JSONL file or a hub id (streamed) into a pair store, splitting ``reasoning`` at the last
  ``</think>``, flagging rather than dropping, resumable like generation.

The layout carries no ids, token counts or sampling settings: an import gets ids from the row index and
prompt text, and token counts from a tokenizer when one is given (else estimates, flagged inexact).

Example::

    from pathlib import Path
    from scale_or_reason.teacher.exchange import export_pairs, import_pairs
    export_pairs(Path("study/pairs"), Path("release"))
    import_pairs("release", Path("imported/pairs"))                     # or a hub id, when online
    import_pairs("Scale-or-Reason/math-reasoning-ift-pairs", Path("paper/pairs"), teacher="Qwen3-235B-A22B")
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..extract import think_text
from ..util import open_parquet
from .profiles import get_profile
from .sources import iter_rows, make_prompt_id
from .store import PairStore, columns_table, iter_pairs
from .tokens import count_tokens, load_tokenizer

__all__ = ["RELEASED_COLUMNS", "RELEASED_SPLIT", "export_pairs", "import_pairs"]

RELEASED_COLUMNS = ("prompt", "reasoning", "ift")
"""Columns of the released pair datasets, all strings."""
RELEASED_SPLIT = "reasoning_ift_pairs"
"""The released datasets' split holding both formats."""
FLAGS = ("truncated", "empty_answer", "toggle_ignored", "disagree")

_SCHEMA = pa.schema([pa.field(c, pa.string()) for c in RELEASED_COLUMNS])


_README = """---
dataset_info:
  features:
  - name: prompt
    dtype: string
  - name: reasoning
    dtype: string
  - name: ift
    dtype: string
  splits:
  - name: {split}
    num_bytes: {nbytes}
    num_examples: {rows}
  dataset_size: {nbytes}
configs:
- config_name: default
  data_files:
  - split: {split}
    path: data/{split}-*
---

# Reasoning-IFT pairs

Exported by `sor pairs export` (scale-or-reason) from `{store}`: {rows} pairs.
Teacher(s): {teachers}. Columns: `prompt`; `reasoning` = `<think>\\n<trace>\\n</think>\\n\\n<answer>`
(reasoning on); `ift` = the answer with reasoning off.{dropped}
"""


def _is_export(path: Path) -> bool:
    names = {p.name for p in path.iterdir()}
    readme = path / "README.md"
    if not (names <= {"README.md", "data"} and readme.is_file()):
        return False
    text = readme.read_text()
    return "sor pairs export" in text or "sor generate --export" in text  # (the verb before `sor pairs`)


@dataclass
class ExportConfig:
    """How ``export_pairs`` writes a store in the released layout (``sor pairs export``'s options)."""

    drop_flags: list[str] = field(default_factory=list)
    """Leave out pairs carrying any of these flags (``truncated``, ``empty_answer``, ``toggle_ignored``,
    ``disagree``); by default every stored pair is exported."""
    rows_per_file: int = 100_000
    """Rows per Parquet file of the export."""
    overwrite: bool = False
    """Replace the output folder when it holds a previous export (never another folder)."""


@dataclass
class ImportConfig:
    """How ``import_pairs`` reads pairs in the released layout (``sor pairs import``'s options)."""

    split: str = RELEASED_SPLIT
    """Split of the source to read (the released datasets' pair split)."""
    teacher: str | None = None
    """Teacher id recorded on every pair (default ``imported:<source>``)."""
    limit: int | None = None
    """Only the first ``limit`` rows."""
    tokenizer: str | None = None
    """Tokenizer directory for exact token counts; without one they are estimated (``teacher.tokens``) and
    the pairs flagged inexact."""
    shard_size: int = 4096
    """Rows per written shard (memory stays flat whatever the corpus size)."""


def export_pairs(store: Path, out: Path, *, drop_flags: Iterable[str] = (),
                 rows_per_file: int = ExportConfig.rows_per_file,
                 overwrite: bool = ExportConfig.overwrite) -> dict[str, Any]:
    """Write the store's pairs as a dataset folder in the released layout; returns counts. The keywords are
    ``ExportConfig``'s fields, with its defaults.

    ``drop_flags`` leaves out pairs carrying any of those flags (``truncated``, ``empty_answer``,
    ``toggle_ignored``, ``disagree``); by default every stored pair is exported. ``overwrite``
    replaces ``out`` only when it holds a previous export (README + data/), never another folder.
    """
    store, out = Path(store), Path(out)
    drop = tuple(drop_flags)
    bad = set(drop) - set(FLAGS)
    if bad:
        raise ValueError(f"unknown flag(s) {', '.join(sorted(bad))}; expected some of {', '.join(FLAGS)}")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ValueError(f"{out}: exists and is not empty (pass overwrite to replace a previous export)")
        if not _is_export(out):
            raise ValueError(f"{out}: exists, is not empty and is not a previous export; refusing to replace it")
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "data").mkdir(parents=True)
    cols = ["prompt", "ift_answer", "reasoning_trace", "reasoning_answer", "teacher", *FLAGS]
    rows = dropped = nbytes = 0
    teachers: set[str] = set()
    parts: list[Path] = []
    writer: pq.ParquetWriter | None = None
    in_file = 0
    try:
        for batch in iter_pairs(store, columns=cols):
            keep = [r for r in batch if not any(r.get(f) for f in drop)]
            dropped += len(batch) - len(keep)
            teachers.update(r.get("teacher") or "" for r in keep)
            while keep:
                if writer is None:
                    parts.append(tmp / "data" / f"part-{len(parts):05d}.parquet")
                    writer = pq.ParquetWriter(parts[-1], _SCHEMA, compression="zstd")
                    in_file = 0
                take, keep = keep[:rows_per_file - in_file], keep[rows_per_file - in_file:]
                table = pa.Table.from_pydict({
                    "prompt": [r["prompt"] for r in take],
                    "reasoning": [think_text(r["reasoning_trace"], r["reasoning_answer"]) for r in take],
                    "ift": [r["ift_answer"] for r in take],
                }, schema=_SCHEMA)
                writer.write_table(table)
                nbytes += table.nbytes
                in_file += len(take)
                rows += len(take)
                if in_file >= rows_per_file:
                    writer.close()
                    writer = None
        if writer is not None:
            writer.close()
            writer = None
        if rows == 0:
            why = f" (all {dropped} carry {', '.join(drop)})" if dropped else ""
            raise ValueError(f"{store}: no pairs to export{why}")
        n = len(parts)
        for i, p in enumerate(parts):
            p.rename(tmp / "data" / f"{RELEASED_SPLIT}-{i:05d}-of-{n:05d}.parquet")
        note = f"\nLeft out {dropped} pairs flagged {', '.join(drop)}." if dropped else ""
        (tmp / "README.md").write_text(_README.format(split=RELEASED_SPLIT, rows=rows, nbytes=nbytes, store=store,
                                                      teachers=", ".join(sorted(t for t in teachers if t)) or "?",
                                                      dropped=note))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if writer is not None:
            writer.close()
        if tmp.exists():
            shutil.rmtree(tmp)
    return {"out": str(out), "rows": rows, "dropped": dropped, "files": len(parts)}


def _check_columns(source: str, split: str, names: list[str]) -> None:
    missing = [c for c in RELEASED_COLUMNS if c not in names]
    if missing:
        raise ValueError(f"{source}: split {split!r} has no column(s) {', '.join(missing)} "
                         f"(fields: {', '.join(map(str, names))}); expected {', '.join(RELEASED_COLUMNS)}")


def _column_chunks(source: str, split: str, n: int, limit: int | None) -> Iterator[tuple[dict[str, list[Any]],
                                                                                     dict[str, pa.Array]]]:
    """The source's rows ``n`` at a time as columns: ``(python columns, arrow columns)``. A Parquet file is read
    column-wise and its text columns are also handed on as Arrow arrays, stored as they are (the raw texts are
    most of a shard's bytes: not rebuilt from Python strings); other sources go through ``iter_rows``."""
    wanted = [*RELEASED_COLUMNS, "family"]
    path = Path(source)
    if path.is_file() and path.suffix == ".parquet":
        pf = open_parquet(path)  # one footer read for the column check and the batches
        names = pf.schema_arrow.names
        _check_columns(source, split, names)
        taken = 0
        for batch in pf.iter_batches(batch_size=n, columns=[c for c in wanted if c in names]):
            if limit is not None:
                if taken >= limit:
                    return
                batch = batch.slice(0, limit - taken)
            taken += batch.num_rows
            yield ({c: batch.column(c).to_pylist() for c in batch.schema.names},
                   {c: batch.column(c) for c in RELEASED_COLUMNS if c in batch.schema.names})
        return
    rows: Iterable[dict[str, Any]] = iter_rows(source, split)
    if limit is not None:
        rows = itertools.islice(rows, limit)
    chunk: list[dict[str, Any]] = []
    for row in itertools.chain(rows, [None]):
        if row is not None:
            if not chunk:
                _check_columns(source, split, list(row))
            chunk.append(row)
        if chunk and (row is None or len(chunk) >= n):
            yield {c: [r.get(c) for r in chunk] for c in wanted}, {}
            chunk = []


def _import_chunk(cols: dict[str, list[Any]], arrow: dict[str, pa.Array], start: int, *, source: str, split: str,
                  done: Any, profile: Any, tokenizer: Any, teacher: str) -> tuple[pa.Table | None, int]:
    """One chunk of released-layout columns as a pair-shard table (rows already stored left out); returns it and
    the number left out. Columnar: the per-row Python work is the id and the split, counting is one call."""
    out: dict[str, Any] = {k: [] for k in ("prompt_id", "family", "ift_answer", "ift_trace", "reasoning_trace",
                                           "reasoning_answer", "truncated")}
    keep: list[bool] = []
    resuming = len(done) > 0  # a fresh store: no id to look up
    (add_id, add_family, add_ift_answer, add_ift_trace, add_trace, add_answer,
     add_truncated) = (out[k].append for k in out)  # bound once: the loop runs a million times
    prompts, families = cols["prompt"], cols.get("family") or [None] * len(cols["prompt"])
    for k, (prompt, rea_text, ift_text, family) in enumerate(zip(prompts, cols["reasoning"], cols["ift"], families)):
        i = start + k
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"{source}: row {i}: empty prompt")
        pid = make_prompt_id(i, prompt)
        if resuming and pid in done:
            keep.append(False)
            continue
        keep.append(True)
        rea, ift = profile.split(rea_text or ""), profile.split(ift_text or "")
        add_id(pid)
        add_family(str(family or ""))
        add_ift_answer(ift.answer)
        add_ift_trace(ift.trace)
        add_trace(rea.trace)
        add_answer(rea.answer)
        add_truncated(not rea.closed)
    n = len(out["prompt_id"])
    skipped = len(keep) - n
    if not n:
        return None, skipped
    mask = None if skipped == 0 else pa.array(keep)
    prompt_texts = prompts if mask is None else [p for p, kept in zip(prompts, keep) if kept]
    texts: dict[str, Any] = {"prompt": prompt_texts}
    for name, col in (("prompt", "prompt"), ("ift_text", "ift"), ("reasoning_text", "reasoning")):
        if col in arrow:  # stored as read: no Python strings rebuilt (nulls -> "", as the split reads them)
            a = arrow[col] if mask is None else arrow[col].filter(mask)
            texts[name] = pc.fill_null(a.cast(pa.string()), "")
        elif name != "prompt":  # the prompts were checked non-empty strings above
            texts[name] = [v or "" for v, kept in zip(cols[col], keep) if kept]
    parts = ("ift_answer", "ift_trace", "reasoning_trace", "reasoning_answer")
    flat = count_tokens(list(prompt_texts) + [t for name in parts for t in out[name]], tokenizer)
    counts = {name: flat[(j + 1) * n:(j + 2) * n] for j, name in enumerate(parts)}
    counts["prompt"] = flat[:n]
    out.update(texts)
    out.update(
        prompt_tokens=counts["prompt"], ift_prompt_tokens=counts["prompt"],  # the prompt text (the teacher's
        # template is unknown); generated pairs count the rendered prompt
        ift_tokens=counts["ift_answer"], ift_trace_tokens=counts["ift_trace"],
        trace_tokens=counts["reasoning_trace"], reasoning_answer_tokens=counts["reasoning_answer"],
        ift_completion_tokens=[a + b for a, b in zip(counts["ift_answer"], counts["ift_trace"])],
        reasoning_completion_tokens=[a + b for a, b in zip(counts["reasoning_trace"], counts["reasoning_answer"])],
        reasoning_finish_reason=["unknown" if t else "stop" for t in out["truncated"]],
        empty_answer=[not a or not b for a, b in zip(out["ift_answer"], out["reasoning_answer"])],
        toggle_ignored=[bool(a) or not b for a, b in zip(out["ift_trace"], out["reasoning_trace"])],
    )
    constants = {"reference": None, "ift_finish_reason": "stop", "teacher": teacher, "sampling": {},
                 "profile": "imported", "token_counts_exact": tokenizer is not None, "teacher_flops": math.nan}
    return columns_table(out, n, constants), skipped


def import_pairs(source: str, store: Path, *, split: str = ImportConfig.split,
                 teacher: str | None = ImportConfig.teacher, limit: int | None = ImportConfig.limit,
                 tokenizer: Any = ImportConfig.tokenizer, shard_size: int = ImportConfig.shard_size,
                 progress: bool = False) -> dict[str, Any]:
    """Read pairs in the released layout from ``source`` into the pair store ``store``; returns counts. The
    keywords are ``ImportConfig``'s fields, with its defaults (``tokenizer`` may also be a loaded tokenizer).

    Rerunning skips rows already imported (ids from row index + prompt), so an interrupted import
    resumes. ``tokenizer`` (a Hugging Face tokenizer or its path) makes token counts exact; without it they
    are estimated (``teacher.tokens``) and flagged inexact. Rows are taken ``shard_size`` at a time and each
    chunk is written as one shard straight from its columns (no ``PairedSample`` per row): memory stays flat
    whatever the corpus size.
    """
    profile = get_profile("qwen3")
    if isinstance(tokenizer, (str, Path)):
        tokenizer = load_tokenizer(str(tokenizer))
    teacher = teacher or f"imported:{source}"
    manifest = {"teacher": teacher, "profile": {"name": "imported", "think_close": profile.think_close},
                "sampling": {}, "backend": "import", "source": source}
    new = skipped = 0
    t0 = time.monotonic()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(unit="pair", desc="import")
    with PairStore(store, manifest, shard_size=shard_size) as ps:
        done = ps.done_ids()
        start = 0
        for cols, arrow in _column_chunks(source, split, shard_size, limit):
            table, left = _import_chunk(cols, arrow, start, source=source, split=split, done=done, profile=profile,
                                        tokenizer=tokenizer, teacher=teacher)
            start += len(cols["prompt"])
            skipped += left
            if table is not None:
                ps.add_table(table)
                new += table.num_rows
                if bar is not None:
                    bar.update(table.num_rows)
    if bar is not None:
        bar.close()
    return {"out": str(store), "imported": new, "skipped": skipped, "seconds": time.monotonic() - t0}
