"""Kill anywhere: SIGKILL a stage at a random instant, rerun it, compare with an uninterrupted run.

For each stage — ``sor generate`` (synthetic teacher, small shards), ``sor train`` (a tiny student, checkpoint
every 2 steps) and ``sor evaluate`` (a tiny student on a prepared fixture) — one uninterrupted reference run,
then ``--trials`` runs that are killed (SIGKILL) at a uniformly random instant within the reference's wall time,
rerun to completion, and compared with the reference:

* generate: the same pairs, by id and content (prompt, answers, trace, token counts, flags), none twice;
* train: the same final weights (rtol 1e-4, atol 1e-5) and the same ledger (steps, tokens, FLOPs);
* evaluate: the same answers table (prompt ids, generations' token counts, extraction, grades).

A trial whose kill landed after the run had finished counts as "finished before the kill" (not a test of
anything). Run from the repository root, one heavy job at a time (it uses one thread per process)::

    .venv/bin/python benchmarks/kill_anywhere.py --trials 20 [--out benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "bench" / "prepared"
STUDENT = {"model_type": "qwen3", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
           "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16, "max_position_embeddings": 512,
           "tie_word_embeddings": True}
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")


def _sor(*args: str) -> list[str]:
    return [sys.executable, "-m", "scale_or_reason.cli", *args]


def _run(cmd: list[str]) -> float:
    t0 = time.monotonic()
    subprocess.run(cmd, env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t0


def _killed(cmd: list[str], after_s: float, sig: int = signal.SIGKILL) -> int | None:
    """Start ``cmd``, send it ``sig`` after ``after_s``; its exit status if it was still running then, else None.
    (SIGTERM: the stage is expected to reach a safe point and exit 143 within 60 s.)"""
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=after_s)
        return None
    except subprocess.TimeoutExpired:
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()


def _pairs(d: Path) -> list[tuple]:
    from scale_or_reason.teacher import read_pairs

    return sorted((p.prompt_id, p.prompt, p.ift_answer, p.reasoning_trace, p.reasoning_answer, p.ift_tokens,
                   p.trace_tokens, p.truncated) for p in read_pairs(d))


def _weights(d: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(d / "model.safetensors")


def _same_weights(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5) for k in a)


def _ledger(d: Path) -> tuple:
    led = json.loads((d / "ledger.json").read_text())
    return led["steps"], led["tokens"], round(led["train_flops"])


def _answers(d: Path) -> list[tuple]:
    import pandas as pd

    df = pd.read_parquet(d / "answers" / "synthetic-math-oe.parquet")
    return sorted(zip(df.prompt_id, df.generated_tokens, df.extracted.astype(str), df.correct))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stages", default="generate,train,evaluate",
                    help="stages to kill (comma-separated); every reference a later stage needs is still made")
    ap.add_argument("--signal", default="KILL",
                    help="KILL (a crash), TERM (a preemption: the stage must exit 143 at a safe point, or 0 when the "
                         "signal lands after its work), or both: KILL,TERM")
    ap.add_argument("--prompts", type=int, default=6000, help="prompts generated (the train stage uses 192)")
    ap.add_argument("--out", type=Path, default=None, help="append the section to this file (benchmarks/RESULTS.md)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    walls: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix="kill-anywhere-"))
    t_start = time.time()
    from scale_or_reason.synthetic.tokenizer import embedded_tokenizer, save_tokenizer

    tok = save_tokenizer(embedded_tokenizer(["Math-OE", "General-MC"], 300), work / "tok")
    (work / "student.json").write_text(json.dumps(STUDENT))
    gen = lambda out: _sor("generate", "--source", f"synthetic:Math-OE,General-MC:{args.prompts}:0", "--backend",  # noqa: E731
                           "synthetic", "--tokenizer", str(tok), "--out", str(out), "--shard-size", "250",
                           "--no-progress")
    train = lambda out: _sor("train", "--pairs", str(work / "generate-ref"), "--arm", "reasoning", "--out",  # noqa: E731
                             str(out), "--student-config", str(work / "student.json"), "--tokenizer", str(tok),
                             "--samples", "192", "--batch-size", "16", "--micro-batch-size", "16", "--save-steps",
                             "2", "--learning-rate", "3e-3")
    evaluate = lambda out: _sor("evaluate", "--model", str(work / "train-ref"), "-b", "synthetic-math-oe",  # noqa: E731
                                "--prepared", str(FIXTURES), "--out", str(out), "--thinking", "--max-new-tokens",
                                "48", "--batch-size", "4")
    stages = [("generate", gen, _pairs, lambda a, b: a == b and len({r[0] for r in a}) == len(a)),
              ("train", train, lambda d: (_weights(d), _ledger(d)),
               lambda a, b: _same_weights(a[0], b[0]) and a[1] == b[1]),
              ("evaluate", evaluate, _answers, lambda a, b: a == b)]
    signals = [getattr(signal, f"SIG{x.strip().upper()}") for x in args.signal.split(",")]
    failures = 0  # trials that differ, or (SIGTERM) stages that did not exit 143 (or 0)
    lines = ["| stage | signal | reference wall (s) | trials | signalled mid-run | exit status when signalled "
             "| identical after rerun | differing |", "|---|---|---|---|---|---|---|---|"]
    for (name, cmd, read, same), sig in ((st, sg) for st in stages for sg in signals):
        ref = work / f"{name}-ref"
        if not ref.exists():
            walls[name] = _run(cmd(ref))
        wall = walls[name]
        if name not in args.stages.split(","):
            continue
        expected = read(ref)
        killed = identical = differing = 0
        statuses: dict[int, int] = {}
        for i in range(args.trials):
            out = work / f"{name}-{sig.name}-{i}"
            at = rng.uniform(0.05, 1.0) * wall
            if sig == signal.SIGTERM:  # not before `sor` installs its handler (interpreter start-up, ~0.2 s)
                at = max(at, 0.5)
            rc = _killed(cmd(out), at, sig)
            if rc is not None:
                killed += 1
                statuses[rc] = statuses.get(rc, 0) + 1
            _run(cmd(out))
            if same(read(out), expected):
                identical += 1
            else:
                differing += 1
                failures += 1
                print(f"{name} trial {i}: differs from the reference ({out})", flush=True)
        failures += sum(n for rc, n in statuses.items() if sig == signal.SIGTERM and rc not in (0, 143))
        status = ", ".join(f"{rc}: {n}" for rc, n in sorted(statuses.items())) or "-"
        lines.append(f"| {name} | {sig.name} | {wall:.1f} | {args.trials} | {killed} | {status} | {identical} "
                     f"| {differing} |")
        print(lines[-1], flush=True)
    table = "\n".join(lines)
    print(table)
    if args.out:
        head = (f"\n## Kill anywhere ({args.signal})\n\n`benchmarks/kill_anywhere.py --trials {args.trials} "
                f"--signal {args.signal} --stages {args.stages}` on "
                f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, "
                f"{time.time() - t_start:.0f} s. The signal at a uniform random instant within the reference run's wall "
                "time, rerun to completion, compared with the uninterrupted reference.\n\n")
        with open(args.out, "a") as fh:
            fh.write(head + table + "\n")
    if failures:
        print(f"kept for inspection: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
