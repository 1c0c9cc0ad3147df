"""The pair store: ``PairedSample`` records as Parquet shards in a directory (``<study>/pairs/``).

Append-only and crash-safe:

* every shard is written atomically (temporary file, then rename), so a killed run never leaves a
  half-written shard; a reader sees complete shards only;
* a run never rewrites a shard, it adds ``pairs-<run>-<seq>.parquet`` files;
* records are keyed by a deterministic ``prompt_id``; a rerun reads the ids already stored and skips
  them, so no pair is ever stored twice;
* bookkeeping lives in ``_state/`` (not matched by ``*.parquet`` globs of the pair shards):
  ``manifest.json`` (teacher, toggle profile, sampling -- a store holds one teacher's pairs),
  ``partial-*.parquet`` (one mode done, the other failed: a rerun only asks for the missing mode),
  ``failures-*.parquet`` (prompt id, mode, reason, attempts) and a ``lock`` that keeps two runs apart.

The set of stored ids is kept as a sorted array of 64-bit hashes (8 bytes per pair), and shards are
read in record batches, so memory stays flat as the store grows.

Example::

    from pathlib import Path
    from scale_or_reason.teacher.store import PairStore, read_pairs, iter_pairs
    with PairStore(Path("study/pairs")) as store:
        for p in pairs:
            store.add_pair(p)
    again = read_pairs(Path("study/pairs"))
    for batch in iter_pairs(Path("study/pairs"), columns=["prompt_id", "trace_tokens"]):
        ...                                              # lists of dicts, one shard batch at a time
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..records import PairedSample
from ..util import acquire_lock, atomic_path, open_parquet, read_json, write_json

__all__ = [
    "PAIR_SCHEMA",
    "row_to_pair",
    "DoneIds",
    "columns_table",
    "PairStore",
    "iter_pairs",
    "read_failures",
    "read_pairs",
]

STATE = "_state"
REQUIRED = {"prompt_id", "prompt", "ift_answer", "reasoning_trace", "reasoning_answer"}


def _arrow_type(f: dataclasses.Field) -> pa.DataType:
    t = str(f.type)
    if t.startswith("int"):
        return pa.int64()
    if t.startswith("float"):
        return pa.float64()
    if t.startswith("bool"):
        return pa.bool_()
    return pa.string()  # str, str | None, and dict (stored as JSON text)


PAIR_SCHEMA = pa.schema([pa.field(f.name, _arrow_type(f)) for f in dataclasses.fields(PairedSample)])
"""One flat, portable schema for every pair shard (``sampling`` as JSON text)."""

_MODE_FIELDS = [("prompt_id", pa.string()), ("mode", pa.string()), ("result", pa.string())]
_FAIL_FIELDS = [("prompt_id", pa.string()), ("mode", pa.string()), ("reason", pa.string()),
                ("attempts", pa.int64()), ("run", pa.string()), ("time", pa.float64())]


_NAMES = [f.name for f in dataclasses.fields(PairedSample)]


def _pairs_table(pairs: list[PairedSample]) -> pa.Table:
    # column-wise and shallow: no deep copies of every record
    return columns_table({n: [getattr(p, n) for p in pairs] for n in _NAMES}, len(pairs))


_DEFAULTS = {f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
             for f in dataclasses.fields(PairedSample)}


def columns_table(columns: dict[str, Any], n: int, constants: dict[str, Any] | None = None) -> pa.Table:
    """A pair-shard table of ``n`` rows straight from columns (no ``PairedSample`` per row): each field of
    ``PAIR_SCHEMA`` from ``columns``, else ``constants``, else its ``PairedSample`` default (fields without one
    must be given); a column may be a Python list or an Arrow array. ``sampling`` is a dict, stored as JSON text
    like every shard's."""
    constants = constants or {}
    arrays = []
    for f in PAIR_SCHEMA:
        if f.name in columns:
            values = columns[f.name]
            if len(values) != n:
                raise ValueError(f"column {f.name}: {len(values)} values for {n} rows")
            if isinstance(values, (pa.Array, pa.ChunkedArray)):  # already Arrow: as it is
                arrays.append(values.cast(f.type))
                continue
        else:
            value = constants.get(f.name, _DEFAULTS[f.name])
            if value is dataclasses.MISSING:
                raise ValueError(f"column {f.name} is required")
            if f.name == "sampling" and not isinstance(value, str):
                value = json.dumps(value, sort_keys=True)
            arrays.append(pa.repeat(pa.scalar(value, f.type), n))  # one value, not n Python objects
            continue
        if f.name == "sampling":
            values = [v if isinstance(v, str) else json.dumps(v, sort_keys=True) for v in values]
        arrays.append(pa.array(values, f.type))
    return pa.Table.from_arrays(arrays, schema=PAIR_SCHEMA)


_LOW_CARDINALITY = ["family", "teacher", "profile", "ift_finish_reason", "reasoning_finish_reason", "sampling",
                    "teacher_flops_convention", "mode", "run", "reason"]
"""Columns worth dictionary-encoding; the texts are unique per row, where the attempt only costs (-19% write time)."""


def _write_table(path: Path, table: pa.Table) -> Path:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd",
                       use_dictionary=[c for c in table.column_names if c in _LOW_CARDINALITY])
    return path


def row_to_pair(row: dict[str, Any]) -> PairedSample:
    """A stored row (``iter_pairs``) as a ``PairedSample``: sampling decoded, NaN cells back to defaults."""
    raw = row.get("sampling")
    row["sampling"] = json.loads(raw) if isinstance(raw, str) and raw else (raw or {})
    for k, v in list(row.items()):  # NaN from pandas-written shards -> the dataclass default
        if isinstance(v, float) and math.isnan(v) and k not in ("teacher_flops",):
            row.pop(k)
    return PairedSample.from_dict(row)


def _shards(directory: Path, pattern: str) -> list[Path]:
    return sorted(p for p in Path(directory).glob(pattern) if p.is_file() and not p.name.startswith("."))


def iter_pairs(directory: Path, pattern: str = "*.parquet", *, columns: list[str] | None = None,
               batch_size: int = 2048) -> Iterator[list[dict[str, Any]]]:
    """Stream the store's rows as lists of dicts, one record batch at a time (bounded memory)."""
    for shard in _shards(directory, pattern):
        pf = open_parquet(shard)  # one footer read for the schema check and the batches
        names = set(pf.schema_arrow.names)
        missing = REQUIRED - names
        if missing and columns is None:
            raise ValueError(f"{shard}: missing column(s) {', '.join(sorted(missing))}")
        cols = None if columns is None else [c for c in columns if c in names]
        for batch in pf.iter_batches(batch_size=batch_size, columns=cols):
            yield batch.to_pylist()


def read_pairs(directory: Path, pattern: str = "*.parquet") -> list[PairedSample]:
    """Read every shard of ``directory`` matching ``pattern``, in shard-name order."""
    if not _shards(directory, pattern):
        raise FileNotFoundError(f"no pair shards matching {pattern!r} in {directory}")
    return [row_to_pair(r) for batch in iter_pairs(directory, pattern) for r in batch]


def _h64(s: str) -> int:
    return int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little")


class DoneIds:
    """A set of prompt ids as a sorted ``uint64`` array of their hashes: 8 bytes per id."""

    def __init__(self, ids: Iterable[str] = ()):
        self._sorted = np.sort(np.fromiter((_h64(i) for i in ids), dtype=np.uint64))
        self._new: set[int] = set()

    @classmethod
    def from_store(cls, directory: Path) -> DoneIds:
        parts = []
        for shard in _shards(directory, "*.parquet"):
            col = pq.read_table(shard, columns=["prompt_id"]).column(0).to_pylist()
            parts.append(np.fromiter((_h64(i) for i in col), dtype=np.uint64, count=len(col)))
        d = cls()
        if parts:
            d._sorted = np.sort(np.concatenate(parts))
        return d

    def __len__(self) -> int:
        return len(self._sorted) + len(self._new)

    def __contains__(self, pid: str) -> bool:
        h = _h64(pid)
        if h in self._new:
            return True
        i = int(np.searchsorted(self._sorted, np.uint64(h)))
        return i < len(self._sorted) and int(self._sorted[i]) == h

    def add(self, pid: str) -> None:
        """Remember an id of this run (a set of ints; folded into the array every 65536 ids)."""
        self._new.add(_h64(pid))
        if len(self._new) >= 65536:
            self._sorted = np.sort(np.concatenate([self._sorted, np.fromiter(self._new, dtype=np.uint64)]))
            self._new.clear()


def read_failures(directory: Path) -> list[dict[str, Any]]:
    """Failures not yet filled in: the latest record per (prompt id, mode) whose pair is not stored."""
    directory = Path(directory)
    files = _shards(directory / STATE, "failures-*.parquet")
    if not files:
        return []
    done = DoneIds.from_store(directory)
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for f in files:
        for r in pq.read_table(f).to_pylist():
            if r["prompt_id"] not in done:
                latest[(r["prompt_id"], r["mode"])] = r
    return sorted(latest.values(), key=lambda r: (r["prompt_id"], r["mode"]))


class PairStore:
    """Writer side of the store: manifest, lock, resume state, and buffered atomic shard writes.

    Use as a context manager; ``add_pair`` / ``add_partial`` / ``add_failure`` buffer records and
    ``flush`` writes them (pair shard first, then the bookkeeping shards). ``close`` flushes.
    """

    def __init__(self, directory: Path, manifest: dict[str, Any] | None = None, *, shard_size: int = 1024,
                 flush_seconds: float = 60.0):
        self.dir = Path(directory)
        self.state = self.dir / STATE
        self.manifest = manifest
        self.shard_size = shard_size
        self.flush_seconds = flush_seconds
        self.run = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"
        self._seq = 0
        self._pairs: list[PairedSample] = []
        self._partials: list[dict[str, Any]] = []
        self._failures: list[dict[str, Any]] = []
        self._last_flush = time.monotonic()
        self._lock_fh: Any = None
        self.written = 0
        self._writer: Any = None  # a one-thread pool writing add_table's shards while the caller prepares the next
        self._pending: Any = None

    # ---- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> PairStore:
        self.open()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def open(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        # We hold the lock, so temporary files left here are from a killed run: remove them.
        for folder in (self.dir, self.state):
            for tmp in folder.glob(".*.parquet.tmp-*"):
                tmp.unlink(missing_ok=True)
        if self.manifest is not None:
            self._check_manifest(self.manifest)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._writer is not None:
                self._writer.shutdown(wait=True)
                self._writer = None
            if self._lock_fh is not None:
                self._lock_fh.close()
                self._lock_fh = None

    def _acquire_lock(self) -> None:
        self._lock_fh = acquire_lock(self.state / "lock", f"{self.dir}: another run is writing to this pair store "
                                                          f"(lock {self.state / 'lock'})")

    def _check_manifest(self, manifest: dict[str, Any]) -> None:
        path = self.state / "manifest.json"
        if path.exists():
            old = read_json(path)
            for key in ("teacher", "profile", "sampling"):
                if json.dumps(old.get(key), sort_keys=True) != json.dumps(manifest.get(key), sort_keys=True):
                    raise ValueError(
                        f"{path}: this store holds pairs with {key} {json.dumps(old.get(key), sort_keys=True)}, "
                        f"this run asks for {json.dumps(manifest.get(key), sort_keys=True)}; "
                        "one store holds one teacher's pairs -- use another --out")
        elif any(self.dir.glob("*.parquet")):
            raise ValueError(f"{self.dir}: holds pair shards without {STATE}/manifest.json "
                             "(written by another tool); use another --out")
        else:
            write_json(path, manifest)

    # ---- resume state ----------------------------------------------------------------------
    def done_ids(self) -> DoneIds:
        return DoneIds.from_store(self.dir)

    def partials(self, done: DoneIds) -> dict[str, dict[str, dict[str, Any]]]:
        """``{prompt_id: {mode: result dict}}`` of half-finished prompts not stored since."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for f in _shards(self.state, "partial-*.parquet"):
            for r in pq.read_table(f).to_pylist():
                if r["prompt_id"] not in done:
                    out.setdefault(r["prompt_id"], {})[r["mode"]] = json.loads(r["result"])
        return out

    # ---- writes ----------------------------------------------------------------------------
    def add_pair(self, pair: PairedSample) -> None:
        self._pairs.append(pair)
        self._maybe_flush()

    def add_table(self, table: pa.Table) -> None:
        """Write a table of pairs (``PAIR_SCHEMA``, e.g. from ``columns_table``) as its own shard, sorted by id,
        after whatever is buffered: the columnar path of imports."""
        if table.schema != PAIR_SCHEMA:
            table = table.select(PAIR_SCHEMA.names).cast(PAIR_SCHEMA)
        self.flush()  # what is buffered first, and the previous table's write finished (two tables at most in memory)
        name = f"{self.run}-{self._seq:05d}"
        self._seq += 1
        if (self.dir / f"pairs-{name}.parquet").exists():  # append-only: never replace a shard
            raise RuntimeError(f"{self.dir}: shard pairs-{name}.parquet exists already")
        if self._writer is None:
            from concurrent.futures import ThreadPoolExecutor

            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pair-store")
        # Parquet encoding and compression release the GIL: the shard is written while the caller builds the
        # next one (an import of 1M pairs: ~30% of its time). Atomic as any shard; close() waits for it.
        self._pending = (self._writer.submit(_write_table, self.dir / f"pairs-{name}.parquet",
                                             table.sort_by("prompt_id")), table.num_rows)

    def _wait(self) -> None:
        """Finish the write add_table started (its error, if any, is raised here)."""
        if self._pending is not None:
            future, rows = self._pending
            self._pending = None
            future.result()
            self.written += rows

    def add_partial(self, prompt_id: str, mode: str, result: dict[str, Any]) -> None:
        self._partials.append({"prompt_id": prompt_id, "mode": mode, "result": json.dumps(result)})
        self._maybe_flush()

    def add_failure(self, prompt_id: str, mode: str, reason: str, attempts: int) -> None:
        self._failures.append({"prompt_id": prompt_id, "mode": mode, "reason": reason, "attempts": attempts,
                               "run": self.run, "time": time.time()})
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if (len(self._pairs) >= self.shard_size
                or time.monotonic() - self._last_flush >= self.flush_seconds):
            self.flush()

    def flush(self) -> None:
        """Write what is buffered: one pair shard (sorted by id), then partials and failures."""
        self._wait()
        self._last_flush = time.monotonic()
        if not (self._pairs or self._partials or self._failures):
            return
        name = f"{self.run}-{self._seq:05d}"
        self._seq += 1
        if (self.dir / f"pairs-{name}.parquet").exists():  # append-only: never replace a shard
            raise RuntimeError(f"{self.dir}: shard pairs-{name}.parquet exists already")
        if self._pairs:
            pairs = sorted(self._pairs, key=lambda p: p.prompt_id)
            _write_table(self.dir / f"pairs-{name}.parquet", _pairs_table(pairs))
            self.written += len(pairs)
            self._pairs = []
        if self._partials:
            table = pa.Table.from_pylist(self._partials, schema=pa.schema(_MODE_FIELDS))
            _write_table(self.state / f"partial-{name}.parquet", table)
            self._partials = []
        if self._failures:
            table = pa.Table.from_pylist(self._failures, schema=pa.schema(_FAIL_FIELDS))
            _write_table(self.state / f"failures-{name}.parquet", table)
            self._failures = []
