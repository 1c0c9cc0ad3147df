"""Benchmark specs as data, and the prepared (local, pinned, hashed) copy every evaluation reads.

A spec is one small TOML file (``evaluate/specs/<name>.toml``, or any path): where the data come from
(hub id, config, split, revision; a local file; or a synthetic family), which named adapter turns a
source row into a ``BenchItem``, the paper's instruction, the generation cap, the rule grader and the
jury prompt, and the options that settle what the paper leaves ambiguous (``docs/benchmarks.md``).

``sor bench prepare`` writes ``<dir>/<name>.jsonl`` (one ``BenchItem`` per line) and
``<dir>/<name>.manifest.json`` (spec key, item count, sha256 of the items file, resolved source
revision). ``read_prepared`` reads local files only and refuses a file whose hash or spec key does
not match, so a prepared directory works offline and on a cluster without internet.

Example::

    from scale_or_reason.evaluate.specs import load_spec, read_prepared, list_specs
    spec = load_spec("gsm8k")                   # a shipped spec name, or a path to a TOML file
    items = read_prepared("bench-data", spec)   # after `sor bench prepare gsm8k --out bench-data`
    print(spec.family, spec.grader, len(items), list_specs()[:3])
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..records import BenchItem
from ..util import atomic_path, from_table, read_json, read_jsonl, stable_hash, write_json

__all__ = ["BenchmarkSpec", "SourceSpec", "list_specs", "load_spec", "read_prepared", "write_prepared",
           "GRADERS", "JUDGE_PROMPTS"]

GRADERS = ("math", "mc", "span", "exact", "numeric", "ifeval", "none")
"""Rule graders a spec may name (``evaluate/graders.py``); ``none``: judged by the jury only."""
JUDGE_PROMPTS = ("default", "ifeval")
"""Jury prompts: extract-then-compare against the gold, or check every explicit requirement (IFEval)."""
DEFAULT_MAX_NEW_TOKENS = 16384
"""The paper's generation cap (its ablation uses 32K)."""


@dataclass
class SourceSpec:
    """Where a benchmark's items come from: exactly one of ``hub_id``, ``local`` or ``synthetic``."""

    hub_id: str = ""
    """Hub dataset id (``openai/gsm8k``); read by ``sor bench prepare`` only, never by an evaluation."""
    config: str | list[str] | None = None
    """Dataset config, or a list of configs read one after another (MMLU subjects)."""
    split: str = "test"
    """Split to read."""
    revision: str = "main"
    """Revision asked for; the manifest records the commit it resolved to."""
    data_files: str | None = None
    """A data file (or glob) inside the hub repository, for sets whose loading script no longer works."""
    local: str = ""
    """Description of a local file the user supplies with ``--source-file`` (no public download)."""
    synthetic: str = ""
    """A synthetic family (``Math-OE``...): items come from the embedded task generator's test split."""
    url: str = ""
    """Where a person finds the data (shown in errors and docs)."""


@dataclass
class BenchmarkSpec:
    """One benchmark, as data."""

    name: str
    """Benchmark name (file stem, results' ``benchmark`` column)."""
    family: str
    """Task family: ``General-MC``, ``General-OE``, ``Math-MC``, ``Math-OE``, or ``<Domain>-MC|OE`` for extras."""
    adapter: str
    """Named source-row -> ``BenchItem`` converter in ``evaluate/prepare.py``."""
    grader: str
    """Rule grader, one of ``GRADERS``."""
    instruction: str = ""
    """The paper's instruction (Table 5), placed before the question."""
    citation: str = ""
    """Reference of the benchmark as the paper cites it."""
    judge: str = "default"
    """Jury prompt, one of ``JUDGE_PROMPTS``."""
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    """Generation cap for this benchmark."""
    items: int = 0
    """Items a prepared copy holds with the default options (as the notes count them), for ``sor study plan``
    before the benchmark is prepared; 0: unknown. Not part of any key: preparing counts the real items."""
    source: SourceSpec = field(default_factory=SourceSpec)
    """Where the items come from."""
    fields: dict[str, str] = field(default_factory=dict)
    """Field mapping for the adapter (``question = "problem"``...), when the source's names differ."""
    options: dict[str, Any] = field(default_factory=dict)
    """Adapter options settling the paper's ambiguities (subjects, turns, subsample size and seed...)."""
    licence: str = ""
    """Licence of the data, as its card states it."""
    notes: str = ""
    """What a user should know (ambiguity decisions, known label errors)."""
    path: str = ""
    """Where the spec was read from (not part of the key)."""

    @property
    def domain(self) -> str:
        return self.family.rsplit("-", 1)[0]

    @property
    def answer_format(self) -> str:
        return self.family.rsplit("-", 1)[1]

    def key(self) -> str:
        """Hash of everything that defines the prepared items (not the grader, cap or notes)."""
        source = {k: v for k, v in asdict(self.source).items() if k != "url"}
        return stable_hash({"name": self.name, "adapter": self.adapter, "instruction": self.instruction,
                            "source": source, "fields": self.fields, "options": self.options})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _spec_dir() -> Any:
    return resources.files("scale_or_reason.evaluate").joinpath("specs")


def list_specs() -> list[str]:
    """Names of the specs shipped with the package."""
    return sorted(p.name[:-5] for p in _spec_dir().iterdir() if p.name.endswith(".toml"))


def load_spec(name_or_path: str | Path) -> BenchmarkSpec:
    """A shipped spec by name, or a spec file by path; errors name the file and the key."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"benchmark spec {path} does not exist")
        text, label = path.read_text(), str(path)
    else:
        res = _spec_dir().joinpath(f"{name_or_path}.toml")
        if not res.is_file():
            raise ValueError(f"unknown benchmark {name_or_path!r}; shipped specs: {', '.join(list_specs())}")
        text, label = res.read_text(), f"spec:{name_or_path}"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{label}: invalid TOML ({e})") from None
    source = from_table(SourceSpec, raw.pop("source", {}), f"{label}: [source]")
    spec = from_table(BenchmarkSpec, {**raw, "source": source, "path": label}, label)
    _validate(spec, label)
    return spec


def _validate(spec: BenchmarkSpec, label: str) -> None:
    if not spec.name or not all(c.isalnum() or c in "-_." for c in spec.name):
        raise ValueError(f"{label}: name {spec.name!r} must be letters, digits, '-', '_' or '.'")
    if spec.family.count("-") < 1 or spec.answer_format not in ("MC", "OE"):
        raise ValueError(f"{label}: family {spec.family!r} must look like DOMAIN-MC or DOMAIN-OE")
    if spec.grader not in GRADERS:
        raise ValueError(f"{label}: grader {spec.grader!r} is not one of {', '.join(GRADERS)}")
    if spec.judge not in JUDGE_PROMPTS:
        raise ValueError(f"{label}: judge {spec.judge!r} is not one of {', '.join(JUDGE_PROMPTS)}")
    if spec.max_new_tokens < 1:
        raise ValueError(f"{label}: max_new_tokens must be >= 1, got {spec.max_new_tokens}")
    kinds = [k for k in ("hub_id", "local", "synthetic") if getattr(spec.source, k)]
    if len(kinds) != 1:
        raise ValueError(f"{label}: [source] needs exactly one of hub_id, local, synthetic (got {kinds or 'none'})")
    from .prepare import ADAPTERS  # the adapter registry lives with the adapters

    if spec.adapter not in ADAPTERS:
        raise ValueError(f"{label}: adapter {spec.adapter!r} is unknown; known: {', '.join(sorted(ADAPTERS))}")


# --- the prepared format --------------------------------------------------------------------------

def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_prepared(out_dir: str | Path, spec: BenchmarkSpec, items: list[BenchItem],
                   provenance: dict[str, Any] | None = None) -> Path:
    """Write ``items`` as ``<out_dir>/<name>.jsonl`` with its manifest; returns the items file."""
    out_dir = Path(out_dir)
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ValueError(f"{spec.name}: duplicate item id {dup!r}")
    path = out_dir / f"{spec.name}.jsonl"
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            for it in items:
                f.write(json.dumps(it.to_dict(), ensure_ascii=False, sort_keys=True) + "\n")
    write_json(out_dir / f"{spec.name}.manifest.json", {
        "name": spec.name, "spec_key": spec.key(), "n": len(items), "sha256": _sha256(path),
        "family": spec.family, "source": asdict(spec.source), "options": spec.options, **(provenance or {}),
    })
    return path


def read_prepared(prepared_dir: str | Path, spec: BenchmarkSpec, *, check_key: bool = True) -> list[BenchItem]:
    """The prepared items of ``spec`` from ``prepared_dir`` (local files only), checked against the manifest."""
    prepared_dir = Path(prepared_dir)
    path = prepared_dir / f"{spec.name}.jsonl"
    mpath = prepared_dir / f"{spec.name}.manifest.json"
    if not path.exists() or not mpath.exists():
        raise FileNotFoundError(f"{path}: benchmark {spec.name!r} is not prepared here; run "
                                f"`sor bench prepare {spec.name} --out {prepared_dir}` where the data can be read")
    manifest = read_json(mpath)
    if manifest.get("sha256") != _sha256(path):
        raise ValueError(f"{path}: content hash differs from {mpath.name}: the file was changed after preparation")
    if check_key and manifest.get("spec_key") != spec.key():
        raise ValueError(f"{path}: prepared with another version of spec {spec.name!r} (source, options or "
                         f"instruction changed); prepare it again")
    items = [BenchItem.from_dict(row, where=f"{path}:{lineno}") for lineno, row in read_jsonl(path)]
    if len(items) != manifest.get("n"):
        raise ValueError(f"{path}: {len(items)} items but the manifest says {manifest.get('n')}")
    return items
