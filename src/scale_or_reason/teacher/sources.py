"""Prompt sources, streamed: JSONL, Parquet, a saved Hugging Face dataset, a hub id, or synthetic tasks.

Every source yields ``PromptItem`` records one at a time, so memory does not grow with the number of
prompts. A ``FieldMap`` says which column holds the prompt, and optionally the system prompt, the
reference answer, an id and a family label. A prompt column may also hold a chat (a list of
``{"role", "content"}`` or ``{"from", "value"}`` turns): its first user turn is the prompt and a
system turn, if any, the system prompt.

Prompt ids are deterministic: ``p<row index>-<hash of system + prompt>`` (or the mapped id column),
so a rerun over the same source finds the work it already did.

Source strings:

* ``prompts.jsonl`` -- one JSON object per line;
* ``prompts.parquet`` -- read in record batches;
* ``DIR`` -- a dataset saved with ``Dataset.save_to_disk`` (memory-mapped), or a folder of
  data files in the hub layout (``data/train-*.parquet``...), read with ``load_dataset(..., streaming=True)``;
* ``owner/name`` -- a hub dataset id, streamed (needs network or a populated HF cache);
* ``synthetic:Math-OE,General-MC:10000[:seed]`` -- the embedded task generators, in blocks.

Example::

    from scale_or_reason.teacher.sources import FieldMap, iter_prompts
    for item in iter_prompts("prompts.jsonl", FieldMap(prompt="question", reference="answer"), limit=5):
        print(item.prompt_id, item.prompt)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..util import parquet_batches, read_jsonl

__all__ = ["FieldMap", "PromptItem", "count_prompts", "iter_prompts", "iter_rows", "make_prompt_id"]

SYNTHETIC_BLOCK = 1000
"""Synthetic tasks are drawn this many at a time (a fresh seed per block), never all at once."""


@dataclass
class FieldMap:
    """Which fields of a prompt source hold what."""

    prompt: str = "prompt"
    """Field with the user prompt (a string, or a chat whose first user turn is used)."""
    system: str | None = None
    """Optional field with a system prompt."""
    reference: str | None = None
    """Optional field with a reference answer."""
    id: str | None = None
    """Optional field with the prompt id (default: row index + hash of the text)."""
    family: str | None = None
    """Optional field with a family / category label."""


@dataclass
class PromptItem:
    """One prompt to answer twice."""

    prompt_id: str
    """Deterministic id (see ``make_prompt_id``)."""
    prompt: str
    """The user turn."""
    system: str | None = None
    """System prompt, if any."""
    reference: str | None = None
    """Reference answer, if the source has one."""
    family: str = ""
    """Family or category label, if any."""
    index: int = 0
    """Row index in the source."""
    task: Any = None
    """The synthetic ``Task`` behind the prompt (synthetic sources only; the synthetic backend needs it)."""

    def messages(self) -> list[dict[str, str]]:
        """The chat sent to the teacher."""
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        return msgs + [{"role": "user", "content": self.prompt}]


def make_prompt_id(index: int, prompt: str, system: str | None = None) -> str:
    """``p<index>-<12 hex of sha256(system NUL prompt)>``: stable across runs, distinct for repeats."""
    digest = hashlib.sha256(f"{system or ''}\x00{prompt}".encode()).hexdigest()[:12]
    return f"p{index:09d}-{digest}"


def _chat_parts(turns: list[Any], where: str) -> tuple[str, str | None]:
    system, user = None, None
    for t in turns:
        if not isinstance(t, dict):
            raise ValueError(f"{where}: a chat turn is not an object")
        role = str(t.get("role", t.get("from", ""))).lower()
        content = t.get("content", t.get("value"))
        if role == "system" and system is None:
            system = content
        elif role in ("user", "human") and user is None:
            user = content
    if user is None:
        raise ValueError(f"{where}: the chat has no user turn")
    return str(user), (str(system) if system is not None else None)


def _to_item(row: dict[str, Any], index: int, fields: FieldMap, source: str) -> PromptItem:
    where = f"{source}: row {index}"
    if fields.prompt not in row:
        raise ValueError(f"{where}: no field {fields.prompt!r} (fields: {', '.join(map(str, row))}); "
                         "map the prompt with --prompt-field")
    value = row[fields.prompt]
    system = None
    if isinstance(value, (list, tuple)) or (hasattr(value, "tolist") and not isinstance(value, str)):
        value, system = _chat_parts(list(value.tolist() if hasattr(value, "tolist") else value), where)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: field {fields.prompt!r} is empty or not text")

    def opt(name: str | None) -> Any:
        if name is None:
            return None
        if name not in row:
            raise ValueError(f"{where}: no field {name!r} (fields: {', '.join(map(str, row))})")
        v = row[name]
        return None if v is None else str(v)

    if fields.system is not None:
        system = opt(fields.system)
    pid = opt(fields.id) if fields.id else None
    return PromptItem(
        prompt_id=pid or make_prompt_id(index, value, system), prompt=value, system=system or None,
        reference=opt(fields.reference), family=opt(fields.family) or "", index=index,
    )


def _parse_synthetic(source: str) -> tuple[list[str], int, int]:
    from ..records import FAMILIES

    parts = source.split(":")
    if len(parts) not in (3, 4):
        raise ValueError(f"synthetic source {source!r}: expected synthetic:FAMILY[,FAMILY...]:N[:SEED]")
    fams = [f.strip() for f in parts[1].split(",") if f.strip()]
    if not fams or set(fams) - set(FAMILIES):
        raise ValueError(f"synthetic source {source!r}: families must be among {', '.join(FAMILIES)}")
    try:
        n = int(parts[2])
        seed = int(parts[3]) if len(parts) == 4 else 0
    except ValueError:
        raise ValueError(f"synthetic source {source!r}: N and SEED must be integers") from None
    return fams, n, seed


def _iter_synthetic(source: str) -> Iterator[PromptItem]:
    from ..synthetic.tasks import generate_tasks

    fams, n, seed = _parse_synthetic(source)
    index, block = 0, 0
    while index < n:
        per = -(-min(SYNTHETIC_BLOCK, n - index) // len(fams))
        lists = [generate_tasks(f, per, split="train", seed=seed * 1_000_003 + block) for f in fams]
        for group in zip(*lists):
            for task in group:
                if index >= n:
                    return
                yield PromptItem(prompt_id=make_prompt_id(index, task.prompt), prompt=task.prompt,
                                 reference=task.reference, family=task.family, index=index, task=task)
                index += 1
        block += 1


def iter_rows(source: str, split: str) -> Iterator[dict[str, Any]]:
    """The raw rows of a JSONL, Parquet, saved-dataset or hub source (``split`` of a dataset), streamed."""
    path = Path(source)
    if path.is_file() and path.suffix in (".jsonl", ".json", ".ndjson"):
        for _, row in read_jsonl(path):
            yield row
        return
    if path.is_file() and path.suffix == ".parquet":
        for batch in parquet_batches(path):
            yield from batch.to_pylist()
        return
    if path.is_file():
        raise ValueError(f"{path}: unknown prompt file type (expected .jsonl or .parquet)")
    import datasets

    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
            ds = datasets.load_from_disk(str(path))  # memory-mapped Arrow: rows are read lazily
            if isinstance(ds, datasets.DatasetDict):
                if split not in ds:
                    raise ValueError(f"{path}: no split {split!r} (splits: {', '.join(ds)})")
                ds = ds[split]
            for batch in ds.iter(batch_size=1024):
                keys = list(batch)
                for i in range(len(batch[keys[0]]) if keys else 0):
                    yield {k: batch[k][i] for k in keys}
            return
        stream = datasets.load_dataset(str(path), split=split, streaming=True)
        yield from stream
        return
    if path.suffix in (".jsonl", ".json", ".ndjson", ".parquet", ".csv"):
        raise FileNotFoundError(f"{source}: no such prompt file")
    if source.count("/") == 1 and not source.startswith((".", "/", "~")):
        try:
            stream = datasets.load_dataset(source, split=split, streaming=True)
        except Exception as e:  # offline, unknown id, missing split: one clear line
            raise ValueError(f"{source}: cannot open hub dataset split {split!r} ({type(e).__name__}: {e})") from None
        yield from stream
        return
    raise FileNotFoundError(f"{source}: no such prompt file or directory (nor a hub id owner/name)")


def iter_prompts(source: str, fields: FieldMap | None = None, *, split: str = "train",
                 limit: int | None = None) -> Iterator[PromptItem]:
    """Stream ``PromptItem`` records from ``source`` (see the module docstring for the forms)."""
    fields = fields or FieldMap()
    if source.startswith("synthetic:"):
        it: Iterator[PromptItem] = _iter_synthetic(source)
    else:
        it = (_to_item(row, i, fields, source) for i, row in enumerate(iter_rows(source, split)))
    for n, item in enumerate(it):
        if limit is not None and n >= limit:
            return
        yield item


def count_prompts(source: str, *, split: str = "train", limit: int | None = None) -> int | None:
    """Number of prompts when cheap to know (Parquet metadata, saved datasets, synthetic), else None."""
    n: int | None = None
    path = Path(source)
    try:
        if source.startswith("synthetic:"):
            n = _parse_synthetic(source)[1]
        elif path.is_file() and path.suffix == ".parquet":
            import pyarrow.parquet as pq

            n = pq.ParquetFile(path).metadata.num_rows
        elif path.is_dir() and (path / "dataset_info.json").exists():
            import datasets

            n = len(datasets.load_from_disk(str(path)))
    except Exception:
        n = None
    if n is None:
        return limit
    return min(n, limit) if limit is not None else n
