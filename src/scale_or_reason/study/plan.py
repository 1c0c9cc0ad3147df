"""``sor study plan``: each task's FLOPs and GPU-hours, before (or while) a study runs, without running anything.

Per task the FLOPs come from the best data at hand, and the plan says which (``basis``):

* ``measured``: the task is done: the teacher's stored pairs, the run's recorded per-sample lengths
  (``order.jsonl``), the answers' recorded prompt and generated tokens, recomputed under the plan's
  convention (so they equal the ledger's numbers under the same convention).
* ``pairs``: the pairs exist but the run is not trained: per-sample lengths from the pairs' token counts
  (the teacher's tokenizer, which is the student's for the paper's Qwen3 -> Qwen2.5), plus the mean
  tokens the student's chat template adds, measured on a few rendered pairs when its tokenizer is here.
* ``assumed``: nothing exists yet: prompt counts of the sources (or ``expected_prompts``) and the expected
  lengths of ``[compute]``.

GPU-hours = FLOPs / (GPU peak x MFU) / 3600, with training's MFU for training and generation's for the
teacher and the evaluation. The teacher and evaluation costs use the architecture of the model that runs
(a teacher with no config known costs NaN: give ``[teacher].teacher_config``); the synthetic teacher runs
no model (0). An imported pair source costs nothing here (its teacher ran elsewhere).

Example::

    from scale_or_reason.study import load_study_file, plan_study
    plan = plan_study(load_study_file("paper"), "sor-paper")
    print(plan.groupby("stage")[["flops", "gpu_hours"]].sum())
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data import Arm
from ..flops import Architecture, inference_flops, train_flops
from .config import StudyConfig
from .graph import Task, expand, task_states

if TYPE_CHECKING:  # imported where used: pandas is most of `sor --help`'s start-up
    import pandas as pd

__all__ = ["plan_study", "stage_totals"]


def _student_arch(cfg: StudyConfig, out: Path, name: str) -> Architecture | None:
    s = cfg.student(name)
    run_cfg = next(iter(sorted((out / "runs").glob(f"{name}-*/config.json"))), None)  # a trained run: exact
    if run_cfg is not None:
        return Architecture.from_config(run_cfg)
    if s.architecture:
        return Architecture.from_config(dict(s.architecture))
    if s.pretrained:
        p = Path(s.pretrained) / "config.json"
        return Architecture.from_config(p) if p.exists() else None
    conf = dict(s.config)
    tok_dir = (out / "tokenizer") if cfg.tokenizer.kind == "synthetic" else Path(cfg.tokenizer.path or "")
    vocab = None
    if (tok_dir / "tokenizer.json").exists():
        from transformers import AutoTokenizer

        vocab = len(AutoTokenizer.from_pretrained(tok_dir))
    conf.setdefault("vocab_size", vocab or cfg.tokenizer.vocab)
    return Architecture.from_config(conf)


def _finished_arch(cfg: StudyConfig, out: Path, name: str) -> Architecture | None:
    """A ``[[runs]]`` checkpoint's architecture: the resolved checkpoint's config once its task ran, else a local
    directory's, else the entry's ``architecture`` (None: unknown until downloaded)."""
    r = cfg.finished_run(name)
    ledger = out / "runs" / name / "ledger.json"
    candidates = [Path(json.loads(ledger.read_text())["model"])] if ledger.exists() else []
    candidates.append(Path(r.checkpoint).expanduser())
    for c in candidates:
        if (c / "config.json").is_file():
            return Architecture.from_config(c / "config.json")
    return Architecture.from_config(dict(r.architecture)) if r.architecture else None


def _judges(cfg: StudyConfig) -> float:
    """Judges per graded answer: 0 without a jury, NaN when the jury file cannot be read here."""
    if not cfg.grading.jury:
        return 0
    from ..evaluate.jury import load_jury

    try:
        return len(load_jury(cfg.grading.jury).judges)
    except (ValueError, FileNotFoundError):
        return math.nan


def _teacher_arch(cfg: StudyConfig) -> Architecture | None:
    t = cfg.teacher
    for p in (t.teacher_config, t.model):
        if p:
            path = Path(p)
            path = path / "config.json" if path.is_dir() else path
            if path.is_file() and path.suffix == ".json":
                return Architecture.from_config(path)
    return None


def _prompt_count(cfg: StudyConfig, name: str) -> int | None:
    from ..teacher.sources import count_prompts

    p = next(x for x in cfg.prompts if x.name == name)
    n = count_prompts(p.source, split=p.split, limit=p.limit)
    path = Path(p.source)
    if n is None and path.is_file() and path.name.endswith((".jsonl", ".jsonl.gz")):
        import gzip

        with (gzip.open if path.suffix == ".gz" else open)(path, "rt", encoding="utf-8") as fh:
            n = sum(1 for line in fh if line.strip())  # one prompt per non-blank line
    if n is None:
        n = p.expected_prompts
    return min(n, p.limit) if (n is not None and p.limit) else n


def _store_lengths(cfg: StudyConfig, out: Path) -> tuple[dict[str, dict[str, tuple[int, int]]], dict[str, int]]:
    """Per prompt source with pairs on disk: prompt id -> (IFT, reasoning) stored training lengths, and the
    tokens the teacher generated (both completions of every pair)."""
    from ..teacher.store import iter_pairs

    cols = ["prompt_id", "ift_prompt_tokens", "ift_completion_tokens", "prompt_tokens", "reasoning_completion_tokens"]
    found: dict[str, dict[str, tuple[int, int]]] = {}
    generated: dict[str, int] = {}
    for p in cfg.prompts:
        store = out / "pairs" / p.name
        if not any(store.glob("*.parquet")):
            continue
        lengths = found.setdefault(p.name, {})
        for batch in iter_pairs(store, columns=cols):
            for r in batch:
                ift, rea = int(r["ift_completion_tokens"] or 0), int(r["reasoning_completion_tokens"] or 0)
                lengths[r["prompt_id"]] = (int(r["ift_prompt_tokens"] or 0) + ift, int(r["prompt_tokens"] or 0) + rea)
                generated[p.name] = generated.get(p.name, 0) + ift + rea
    return found, generated


def _template_overhead(cfg: StudyConfig, out: Path, student: str, n: int = 256) -> tuple[float, float]:
    """Mean tokens the student's chat template adds to a pair's stored (IFT, reasoning) lengths.

    The stores count tokens as the teacher's template lays them out; a student's template adds or drops a
    few per sample (role markers, the think block's placement, end tokens). Measured by rendering up to
    ``n`` stored pairs exactly as training does (``data.render``); (0, 0) without a local tokenizer."""
    from .stages import student_tokenizer

    tok_dir = student_tokenizer(cfg, out, cfg.student(student))
    if not (tok_dir / "tokenizer_config.json").exists():
        return 0.0, 0.0
    from transformers import AutoTokenizer

    from ..data import add_think_switch, render
    from ..teacher.store import row_to_pair, iter_pairs

    tok = AutoTokenizer.from_pretrained(tok_dir)
    add_think_switch(tok)
    diffs: tuple[list[int], list[int]] = ([], [])
    sources = cfg.sources(cfg.student(student))
    for p in sources:
        for batch in iter_pairs(out / "pairs" / p.name):
            for row in batch[: max(1, n // len(sources))]:
                pair = row_to_pair(row)
                stored = (pair.ift_prompt_tokens + pair.ift_completion_tokens,
                          pair.prompt_tokens + pair.reasoning_completion_tokens)
                for i, fmt in enumerate(("ift", "reasoning")):
                    prompt, completion = render(tok, pair, fmt)
                    diffs[i].append(len(tok(prompt + completion, add_special_tokens=False)["input_ids"]) - stored[i])
            break
    return tuple(sum(d) / len(d) if d else 0.0 for d in diffs)  # type: ignore[return-value]


def plan_study(cfg: StudyConfig, out: str | Path, tasks: list[Task] | None = None) -> pd.DataFrame:
    """One row per task: id, stage, the tasks it needs, status, FLOPs, basis, generated tokens, judge calls,
    GPU-hours (module docstring)."""
    import pandas as pd

    from ..data import build_arm
    from ..teacher.summary import store_teacher_flops

    out = Path(out).resolve()
    tasks = tasks or expand(cfg)
    states = task_states(tasks, out)
    conv = cfg.compute.convention
    teacher_arch = _teacher_arch(cfg)
    stored, teacher_generated = _store_lengths(cfg, out)
    judges = _judges(cfg)
    # each source counted once (a JSONL source is read line by line), not once per task that needs it
    counts = {p.name: _prompt_count(cfg, p.name) for p in cfg.prompts}
    archs: dict[str, Architecture | None] = {}
    overheads: dict[str, tuple[float, float]] = {}
    base_lengths: dict[str, list[int]] = {}  # tokenizer dir -> base corpus lengths (the same for every student)
    rows: list[dict[str, Any]] = []
    c = cfg.compute
    for t in tasks:
        st = states[t.id]
        flops, basis = 0.0, "none"
        generated, judge_calls = 0.0, 0.0  # tokens generated (teacher or student), calls to the jury's judges
        if t.stage == "generate":
            src = next(p for p in cfg.prompts if p.name == t.name)
            store = out / "pairs" / src.name
            if src.format == "pairs":
                basis = "imported"
            elif cfg.teacher.backend == "synthetic":
                basis = "no model"
            elif teacher_arch is None:
                flops, basis = math.nan, "no teacher config"
            elif st.status == "done":
                flops, basis = store_teacher_flops(store, teacher_arch, conv), "measured"
                generated = float(teacher_generated.get(src.name, 0))
            else:
                n = counts[src.name]
                pt = src.expected_prompt_tokens or c.prompt_tokens
                ift, rea = src.expected_ift_tokens or c.ift_tokens, src.expected_reasoning_tokens or c.reasoning_tokens
                per = inference_flops(teacher_arch, pt, ift, conv) + inference_flops(teacher_arch, pt, rea, conv)
                flops, basis = (per * n, "assumed") if n is not None else (math.nan, "unknown prompt count")
                generated = float(n * (ift + rea)) if n is not None else math.nan
        elif t.stage == "base":
            student = cfg.student(t.spec["student"]["name"])
            arch = archs.setdefault(student.name, _student_arch(cfg, out, student.name))
            flops, basis = _base_flops(cfg, out, student.name, arch, st.status == "done", base_lengths)
        elif t.stage == "train":
            student = cfg.student(t.spec["student"]["name"])
            arch = archs.setdefault(student.name, _student_arch(cfg, out, student.name))
            run = out / "runs" / t.name
            sources = cfg.sources(student)
            gen_done = all(states[f"generate/{p.name}"].status == "done" and p.name in stored for p in sources)
            if arch is None:
                flops, basis = math.nan, "no student config"
            elif st.status == "done" and (run / "order.jsonl").exists():
                lengths = [json.loads(line)["tokens"] for line in (run / "order.jsonl").read_text().splitlines()]
                flops = train_flops(arch, lengths, conv) * cfg.train.epochs
                basis = "measured"
            elif gen_done:
                pool = {pid: ls for p in sources for pid, ls in stored[p.name].items()}
                ids = sorted(pool)
                order = build_arm(ids, Arm.parse(t.spec["arm"]), cfg.study.samples or len(ids),
                                  seed=cfg.study.seed + int(t.spec.get("seed_index", 0)))
                if student.name not in overheads:
                    overheads[student.name] = _template_overhead(cfg, out, student.name)
                extra = overheads[student.name]
                lengths = [min(round(pool[pid][fmt == "reasoning"] + extra[fmt == "reasoning"]),
                               cfg.train.max_length) for pid, fmt in order]
                flops, basis = train_flops(arch, lengths, conv) * cfg.train.epochs, "pairs"
            else:
                if any(counts[p.name] is None for p in sources):
                    flops, basis = math.nan, "unknown prompt count"
                else:
                    pool_n = sum(counts[p.name] for p in sources)
                    n = cfg.study.samples or pool_n
                    rho = Arm.parse(t.spec["arm"]).rho
                    flops = 0.0
                    for p in sources:  # each source's share of the samples at its expected lengths
                        share = n * counts[p.name] / pool_n if pool_n else 0
                        pt = p.expected_prompt_tokens or c.prompt_tokens
                        ift = min(pt + (p.expected_ift_tokens or c.ift_tokens), cfg.train.max_length)
                        rea = min(pt + (p.expected_reasoning_tokens or c.reasoning_tokens), cfg.train.max_length)
                        flops += share * ((1 - rho) * train_flops(arch, [ift], conv) + rho * train_flops(arch, [rea], conv))
                    flops *= cfg.train.epochs
                    basis = "assumed"
        elif t.stage == "checkpoint":
            basis = "finished"
        elif t.stage == "evaluate":
            name = t.spec["student"]
            if t.spec.get("finished"):
                arch = archs.setdefault(t.spec["run"], _finished_arch(cfg, out, t.spec["run"]))
            else:
                arch = archs.setdefault(name, _student_arch(cfg, out, name))
            from .stages import answers_path, bench_spec

            ans = answers_path(out, t.spec["run"], t.spec["benchmark"])
            if st.status == "done" and ans.exists():
                df = pd.read_parquet(ans, columns=["prompt_tokens", "generated_tokens"])
                generated, judge_calls = float(df.generated_tokens.sum()), judges * len(df)
                flops = (float(sum(inference_flops(arch, int(p), int(g), conv)
                                   for p, g in zip(df.prompt_tokens, df.generated_tokens))) if arch else math.nan)
                basis = "measured" if arch else "no student config"
            else:
                spec, _ = bench_spec(cfg, t.spec["benchmark"])
                items = (_bench_items(out, spec) or int(spec.options.get("n", 0)) or spec.items
                         or c.eval_items) * cfg.eval.samples
                gen = c.eval_reasoning_tokens if t.spec["thinking"] else c.eval_ift_tokens
                gen = min(gen, cfg.eval.cap(spec))
                generated, judge_calls = float(items * gen), judges * items
                flops = items * inference_flops(arch, c.eval_prompt_tokens, gen, conv) if arch else math.nan
                basis = "assumed" if arch else "no student config"
        mfu = c.mfu_train if t.stage in ("train", "base") else c.mfu_inference
        rows.append({"task": t.id, "stage": t.stage, "needs": list(t.deps), "status": st.status, "flops": flops,
                     "basis": basis, "generated_tokens": generated, "judge_calls": judge_calls,
                     "gpu_hours": flops / (c.peak_flops * mfu) / 3600 if flops == flops else math.nan})
    return pd.DataFrame(rows)


def _base_flops(cfg: StudyConfig, out: Path, student: str, arch: Architecture | None, done: bool,
                lengths_by_tokenizer: dict[str, list[int]]) -> tuple[float, str]:
    """Pretraining FLOPs of one base: its ledger when done, else its corpus's token lengths (needs the
    tokenizer; rendered and tokenized once per tokenizer in ``lengths_by_tokenizer``); charged to no arm."""
    from .stages import base_dir, base_documents, student_tokenizer

    ledger = base_dir(out, student) / "ledger.json"
    if done and ledger.exists():
        return float(json.loads(ledger.read_text())["train_flops"]), "measured"
    if arch is None:
        return math.nan, "no student config"
    tok_dir = student_tokenizer(cfg, out, cfg.student(student))
    if not (Path(tok_dir) / "tokenizer.json").exists():
        return math.nan, "tokenizer not built"
    if str(tok_dir) not in lengths_by_tokenizer:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(tok_dir)
        lengths_by_tokenizer[str(tok_dir)] = [min(len(ids) + 1, cfg.train.max_length)  # + EOS
                                              for ids in tok(base_documents(cfg, tok))["input_ids"]]
    lengths = lengths_by_tokenizer[str(tok_dir)]
    assert cfg.base is not None
    return train_flops(arch, lengths, cfg.compute.convention) * cfg.base.epochs, "corpus"


def _bench_items(out: Path, spec: Any) -> int | None:
    from ..evaluate.specs import read_prepared

    try:
        return len(read_prepared(out / "bench", spec))
    except (FileNotFoundError, ValueError):
        return None


def stage_totals(plan: pd.DataFrame) -> pd.DataFrame:
    """Per stage: tasks, done, FLOPs and GPU-hours (NaN-propagating: an unknown cost is not a zero)."""
    import pandas as pd

    g = plan.groupby("stage", sort=False)

    def total(s: pd.Series) -> float:
        return math.nan if s.isna().any() else float(s.sum())

    return pd.DataFrame({"tasks": g.size(), "done": g.status.apply(lambda s: int((s == "done").sum())),
                         **{col: g[col].apply(total) for col in ("flops", "gpu_hours", "generated_tokens", "judge_calls")},
                         "basis": g.basis.apply(lambda s: "/".join(sorted(set(s))))}).reset_index()
