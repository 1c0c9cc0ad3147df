"""Pairs at scale: a corpus the size of the paper's (1.1M pairs) through every stage that touches all of it.

A source in the released layout (``prompt``, ``reasoning``, ``ift``: what ``sor pairs import`` reads) of
``--pairs`` synthetic pairs is written once; then each stage runs in a fresh process, timed, with its peak
memory read:

* ``import``: ``import_pairs`` into a pair store, token counts estimated (no tokenizer);
* ``tokens``: the same import with a tokenizer (exact counts), on the first ``--token-pairs`` pairs only:
  tokenisation is reported apart (issue 13), its rate does not depend on the corpus size;
* ``ledger``: the store's summary (flags, reasoning/IFT ratio), the teacher FLOPs of every pair recomputed for
  Qwen2.5-0.5B, and the training FLOPs of the ``mixed:0.5`` arm from the stored token counts;
* ``arm``: ``arm_from_stores`` + the streamed rendering ``train_student`` does (every sample through the chat
  template into Parquet, read back memory-mapped in the arm's order): the rows a trainer is fed.

Lengths: IFT answers log-normal around ``--ift-chars`` characters, reasoning (trace + answer) 5-20x the IFT
answer (uniform), the paper's ratio (its examples: 1,417 vs 11,225 and 2,806 vs 26,747 characters). The default
``--ift-chars 300`` is about a fifth of the paper's absolute length, so that a million pairs fit this machine's
disk and an hour; pairs/s scale inversely with length, so MB/s are printed too.

Memory: ``peak RSS`` is the kernel's high-water mark (``ru_maxrss``), which also counts pages of files read
through a memory map (Arrow, Parquet): those are page cache the kernel can take back. ``peak anon`` is the
largest anonymous resident memory seen by a sampler (every 20 ms): the memory the process itself holds.
Run from the repository root::

    .venv/bin/python benchmarks/pairs_at_scale.py --pairs 100000 1000000 [--out benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

WORDS = ("the of and to a in is that for it as with was on be by this are or at from an which have not "
         "step so we get then value sum check answer because therefore first next wait let me verify").split()
STAGES = ("import", "tokens", "ledger", "arm")


def _rss_anon_kib() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


class AnonPeak:
    """Samples the process's anonymous resident memory in a thread; ``peak`` in MiB."""

    def __init__(self, every_s: float = 0.02):
        self.every_s, self.peak_kib, self._stop = every_s, 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, _rss_anon_kib())
            self._stop.wait(self.every_s)

    def __enter__(self) -> AnonPeak:
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
        self.peak_kib = max(self.peak_kib, _rss_anon_kib())


def make_source(path: Path, n: int, ift_chars: int, seed: int = 0) -> float:
    """The released layout as one Parquet file of ``n`` rows; returns its text size in MB."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    blob = " ".join(rng.choice(WORDS) for _ in range(400_000))  # sliced at random offsets: fast, varied text

    def text(chars: int) -> str:
        start = rng.randrange(0, len(blob) - chars - 1)
        return blob[start:start + chars]

    schema = pa.schema([("prompt", pa.string()), ("reasoning", pa.string()), ("ift", pa.string())])
    chars = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for start in range(0, n, 20_000):
            cols: dict[str, list[str]] = {"prompt": [], "reasoning": [], "ift": []}
            for i in range(start, min(n, start + 20_000)):
                ift_len = max(20, min(int(rng.lognormvariate(0, 0.5) * ift_chars), 20 * ift_chars))
                rea_len = int(ift_len * rng.uniform(5, 20))
                answer = text(max(10, ift_len // 2))
                trace = text(max(10, rea_len - len(answer)))
                cols["prompt"].append(f"Question {i}: " + text(rng.randint(80, 400)))
                cols["reasoning"].append(f"<think>\n{trace}\n</think>\n\n{answer}")
                cols["ift"].append(text(ift_len))
                chars += sum(len(c[-1]) for c in cols.values())
            writer.write_table(pa.Table.from_pydict(cols, schema=schema))
    return chars / 1e6


def run_stage(stage: str, work: Path, token_pairs: int) -> dict:
    """One stage in this (fresh) process; the modules are imported before the clock starts."""
    from transformers import AutoTokenizer

    from scale_or_reason.data import Arm, add_think_switch
    from scale_or_reason.flops import Architecture, train_flops
    from scale_or_reason.teacher.exchange import import_pairs
    from scale_or_reason.teacher.summary import store_teacher_flops, summarize_store
    from scale_or_reason.teacher.store import iter_pairs
    from scale_or_reason.train import _streamed_dataset, arm_from_stores

    import pyarrow as pa

    # pyarrow imports pandas (when installed) at its first array built from Python objects: a one-off ~1.8 s of
    # every process, which is not per pair (it was 11% of the 100k import's wall), so it happens before the clock
    pa.array(["warm-up"])
    source, store, tok_dir = work / "source.parquet", work / "pairs", work / "tok"
    tok = AutoTokenizer.from_pretrained(tok_dir)
    add_think_switch(tok)
    shutil.rmtree(work / "pairs-tok", ignore_errors=True)
    shutil.rmtree(work / "run", ignore_errors=True)
    t0 = time.perf_counter()
    with AnonPeak() as mem:
        if stage == "import":
            n = import_pairs(str(source), store)["imported"]
        elif stage == "tokens":
            n = import_pairs(str(source), work / "pairs-tok", tokenizer=tok, limit=token_pairs)["imported"]
        elif stage == "ledger":
            summary = summarize_store(store)
            qwen05 = {"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864,
                      "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
                      "tie_word_embeddings": True}
            store_teacher_flops(store, qwen05)
            arch = Architecture.from_config(qwen05)
            lengths: list[int] = []  # a 50/50 arm's sample lengths from the stored counts
            cols = ["prompt_id", "prompt_tokens", "ift_tokens", "trace_tokens", "reasoning_answer_tokens"]
            for batch in iter_pairs(store, columns=cols):
                for r in batch:
                    rea = hash(r["prompt_id"]) & 1
                    lengths.append(r["prompt_tokens"] + (r["trace_tokens"] + r["reasoning_answer_tokens"] if rea
                                                         else r["ift_tokens"]))
            train_flops(arch, lengths)
            n = summary["pairs"]
        elif stage == "arm":
            ds = _streamed_dataset(arm_from_stores([store], Arm.parse("mixed:0.5")), tok, "completion", work / "run")
            n = len(ds)
            for _ in ds.select_columns(["prompt"]).iter(batch_size=4096):  # read through, as a trainer would
                pass
        else:
            raise SystemExit(f"unknown stage {stage}")
    return {"stage": stage, "pairs": n, "seconds": time.perf_counter() - t0,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "peak_anon_mib": mem.peak_kib / 1024}


def main() -> None:
    from _common import shown_args

    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, nargs="+", default=[100_000])
    ap.add_argument("--ift-chars", type=int, default=300)
    ap.add_argument("--token-pairs", type=int, default=20_000)
    ap.add_argument("--stages", default=",".join(STAGES))
    ap.add_argument("--repeats", type=int, default=1, help="runs of every stage (fresh processes, a fresh import "
                    "each time); the table gives the median seconds and their range, and the largest memory peak")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one, removed)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        stage, work, token_pairs = args.child
        print(json.dumps(run_stage(stage, Path(work), int(token_pairs))))
        return

    import scale_or_reason
    from scale_or_reason.synthetic.tokenizer import build_tokenizer, save_tokenizer

    baseline = json.loads(subprocess.run(
        [sys.executable, "-c", "import json, resource, transformers, datasets, scale_or_reason.train, "
         "scale_or_reason.teacher.exchange; print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))"],
        capture_output=True, text=True, check=True).stdout)
    rows = []
    for n in args.pairs:
        work = args.work / f"n{n}" if args.work else Path(tempfile.mkdtemp(prefix=f"sor-pairs-{n}-"))
        work.mkdir(parents=True, exist_ok=True)
        stages = args.stages.split(",")
        if "import" in stages or not (work / "pairs").exists():  # else: the stages reuse the store of --work
            shutil.rmtree(work / "pairs", ignore_errors=True)
            if "import" not in stages:
                stages.insert(0, "import")
        save_tokenizer(build_tokenizer([" ".join(WORDS)] * 50, vocab_size=300), work / "tok")
        t0 = time.perf_counter()
        mb = make_source(work / "source.parquet", n, args.ift_chars)
        print(f"{n:,} pairs: source written in {time.perf_counter() - t0:.0f} s ({mb:,.0f} MB of text)", file=sys.stderr)
        runs: dict[str, list[dict]] = {stage: [] for stage in stages}
        for _ in range(args.repeats):  # the whole sequence each time: the later stages read the fresh store
            for stage in stages:
                if stage == "import":
                    shutil.rmtree(work / "pairs", ignore_errors=True)
                proc = subprocess.run([sys.executable, __file__, "--child", stage, str(work), str(args.token_pairs)],
                                      capture_output=True, text=True)
                if proc.returncode:
                    raise SystemExit(f"stage {stage} at {n:,} pairs failed:\n{proc.stderr[-3000:]}")
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                print(f"  {stage}: {r['pairs']:,} pairs in {r['seconds']:.1f} s = {r['pairs'] / r['seconds']:,.0f} "
                      f"pairs/s; peak RSS {r['peak_rss_mib']:,.0f} MiB, peak anon {r['peak_anon_mib']:,.0f} MiB",
                      file=sys.stderr)
                runs[stage].append(r)
        for stage, done in runs.items():
            secs = sorted(r["seconds"] for r in done)
            r = dict(done[0], seconds=statistics.median(secs), low=secs[0], high=secs[-1],
                     peak_rss_mib=max(x["peak_rss_mib"] for x in done),
                     peak_anon_mib=max(x["peak_anon_mib"] for x in done))
            r.update(total=n, text_mb=mb * r["pairs"] / n)
            rows.append(r)
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)

    lines = [f"\n## Pairs at scale (`benchmarks/pairs_at_scale.py`, {time.strftime('%Y-%m-%d')})\n",
             f"{platform.machine()}, {platform.python_version()}, scale-or-reason {scale_or_reason.__version__}; "
             f"IFT answers ~{args.ift_chars} characters, reasoning 5-20x; imports alone: {baseline:,.0f} MiB peak RSS. "
             f"Command: `{' '.join(['.venv/bin/python', 'benchmarks/pairs_at_scale.py'] + shown_args())}`\n",
             f"Each stage run {args.repeats} time(s) in a fresh process: median seconds (range), pairs/s at the "
             "median, the largest memory peak.\n",
             "| corpus | stage | pairs | seconds | pairs/s | MB/s of text | peak RSS (MiB) | peak anon (MiB) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['total']:,} | {r['stage']} | {r['pairs']:,} | {r['seconds']:.1f} ({r['low']:.1f}-{r['high']:.1f}) | "
                     f"{r['pairs'] / r['seconds']:,.0f} | {r['text_mb'] / r['seconds']:,.1f} | {r['peak_rss_mib']:,.0f} | "
                     f"{r['peak_anon_mib']:,.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
