"""Memory of preparing one arm for training: the pairs held as a list vs streamed from the store.

A pair store of ``--pairs`` pairs with paper-like lengths (IFT answers of ~2,300 characters and reasoning
traces of ~9,000, the released general corpus' means) is written once; then, each in a fresh process, the
arm's training rows are built the two ways and the process's peak RSS is read:

* ``list``: ``read_pairs`` + ``build_arm`` + render every sample + ``Dataset.from_list`` (what training did
  before ``train.StreamedArm``);
* ``stream``: ``train.arm_from_stores`` + the streamed rendering (Parquet written batch by batch, read
  memory-mapped in the arm's order), exactly what ``train_student`` does for a study.

No model is trained: the rows fed to the trainer are the thing measured. Run from the repository root::

    .venv/bin/python benchmarks/arm_memory.py --pairs 50000 [--out benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("the of and to a in is that for it as with was on be by this are or at from an which have not "
         "step so we get then value sum check answer because therefore").split()


def _text(rng: random.Random, chars: int) -> str:
    out, n = [], 0
    while n < chars:
        w = rng.choice(WORDS)
        out.append(w)
        n += len(w) + 1
    return " ".join(out)


def make_store(directory: Path, n: int) -> None:
    from scale_or_reason.records import PairedSample
    from scale_or_reason.teacher.store import PairStore

    rng = random.Random(0)
    with PairStore(directory) as store:
        for i in range(n):
            store.add_pair(PairedSample(
                prompt_id=f"p{i:07d}", family="General-OE", prompt=_text(rng, 400), reference=None,
                ift_answer=_text(rng, 2300), reasoning_trace=_text(rng, 9000), reasoning_answer=_text(rng, 1500),
                ift_text=_text(rng, 2300), reasoning_text=_text(rng, 10500)))


def measure(mode: str, store: Path, tokenizer: Path, work: Path) -> dict:
    from transformers import AutoTokenizer

    from scale_or_reason.data import Arm, add_think_switch, build_arm, render
    from scale_or_reason.train import _streamed_dataset, arm_from_stores

    tok = AutoTokenizer.from_pretrained(tokenizer)
    add_think_switch(tok)
    arm = Arm.parse("mixed:0.5")
    t0 = time.time()
    if mode == "list":
        from datasets import Dataset

        from scale_or_reason.teacher.store import read_pairs

        pairs = read_pairs(store)
        samples = build_arm(pairs, arm, len(pairs))
        ds = Dataset.from_list([dict(zip(("prompt", "completion"), render(tok, p, f, empty_think="completion")))
                                for p, f in samples])
    else:
        ds = _streamed_dataset(arm_from_stores([store], arm), tok, "completion", work)
    rows = len(ds)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"mode": mode, "rows": rows, "seconds": time.time() - t0, "peak_rss_mib": peak_kib / 1024}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=50000)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        mode, store, tok, work = args.child
        print(json.dumps(measure(mode, Path(store), Path(tok), Path(work))))
        return

    from scale_or_reason.synthetic.tokenizer import build_tokenizer, save_tokenizer

    work = Path(tempfile.mkdtemp(prefix="sor-arm-mem-"))
    tok_dir = save_tokenizer(build_tokenizer([" ".join(WORDS)] * 50, vocab_size=300), work / "tok")
    t0 = time.time()
    make_store(work / "pairs", args.pairs)
    print(f"store of {args.pairs} pairs written in {time.time() - t0:.0f} s", file=sys.stderr)
    baseline = json.loads(subprocess.run(
        [sys.executable, "-c", "import json, resource, transformers, datasets, scale_or_reason.train; "
         "print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))"],
        capture_output=True, text=True, check=True).stdout)
    results = []
    for mode in ("list", "stream"):
        proc = subprocess.run([sys.executable, __file__, "--child", mode, str(work / "pairs"), str(tok_dir),
                               str(work / f"run-{mode}")], capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(proc.stderr[-2000:])
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    store_mib = sum(f.stat().st_size for f in (work / "pairs").rglob("*.parquet")) / 2**20
    lines = [f"\n## Arm preparation memory: {args.pairs:,} pairs held vs streamed (`benchmarks/arm_memory.py`)\n",
             f"Pairs of paper-like length (store {store_mib:,.0f} MiB of Parquet); peak RSS of a fresh process "
             f"building the mixed:0.5 arm's training rows (no model); imports alone: {baseline:,.0f} MiB.\n",
             "| mode | rows | seconds | peak RSS (MiB) |", "|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['mode']} | {r['rows']:,} | {r['seconds']:.0f} | {r['peak_rss_mib']:,.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
