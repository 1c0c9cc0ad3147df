"""The pair store: ``PairedSample`` records as Parquet shards in ``<study>/pairs/``.

Shards are written atomically (temporary file, then rename), so an interrupted run never leaves a
half-written shard behind; a reader sees complete shards only. Records are keyed by ``prompt_id``.

Example::

    from pathlib import Path
    from scale_or_reason.teacher.store import write_shard, read_pairs
    write_shard(Path("study/pairs"), "train-00000", pairs)
    again = read_pairs(Path("study/pairs"))
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..records import PairedSample
from ..util import atomic_path


def write_shard(directory: Path, name: str, pairs: list[PairedSample]) -> Path:
    """Write ``pairs`` as ``directory/name.parquet`` atomically; returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = [p.to_dict() for p in pairs]
    for r in rows:  # nested dicts as JSON text: one flat, portable Parquet schema
        r["sampling"] = json.dumps(r["sampling"], sort_keys=True)
    path = directory / f"{name}.parquet"
    with atomic_path(path) as tmp:
        pd.DataFrame(rows).to_parquet(tmp, index=False)
    return path


def read_pairs(directory: Path, pattern: str = "*.parquet") -> list[PairedSample]:
    """Read every shard of ``directory`` matching ``pattern``, in shard-name order."""
    shards = sorted(Path(directory).glob(pattern))
    if not shards:
        raise FileNotFoundError(f"no pair shards matching {pattern!r} in {directory}")
    out: list[PairedSample] = []
    for shard in shards:
        df = pd.read_parquet(shard)
        missing = {"prompt_id", "prompt", "ift_answer", "reasoning_trace", "reasoning_answer"} - set(df.columns)
        if missing:
            raise ValueError(f"{shard}: missing column(s) {', '.join(sorted(missing))}")
        for row in df.to_dict("records"):
            row["sampling"] = json.loads(row.get("sampling") or "{}")
            out.append(PairedSample.from_dict(row))
    return out
