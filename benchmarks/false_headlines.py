"""How often the verdicts state a compute ratio when there is nothing to find.

Simulated studies with a known answer: one family, 4 students x 2 arms (IFT, reasoning; reasoning costs
3x the training FLOPs and 7x the inference FLOPs of IFT at equal size, sizes 1x-8x), every point's
accuracy drawn from Binomial(n, p) / n. Scenarios:

* ``chance``: every point at the 25% baseline (n = 100): nothing was learned, any ratio is noise;
* ``same``: the two arms are the same model (p rising 40% -> 70% with size, and the same costs): a point
  "reaching" a larger one of the other arm at less compute is noise;
* ``dominant`` (power, not a false rate): reasoning is 30 points above IFT at every size (IFT 30-45%,
  reasoning 60-75%), so reasoning s1 truly reaches IFT s4's accuracy with 8/3 = 2.7x less training compute:
  the share of studies stating a ratio should be high.

Per study, the verdicts are computed as the report computes them (``verdicts`` with a binomial bootstrap)
and the study counts as a *false headline* if any sentence states a compute ratio ("reaches ... with
k× less/more ..."). Target: at most 5% of studies (the 95% level). Run from the repository root::

    .venv/bin/python benchmarks/false_headlines.py --studies 200 [--out benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import re
import time

import numpy as np
import pandas as pd

RATIO = re.compile(r"reaches .* with [0-9.,]+× (less|more) ")


def study(rng: np.random.Generator, scenario: str, n: int = 100) -> pd.DataFrame:
    from scale_or_reason.util import wilson_interval

    rows = []
    for i, size in enumerate((1, 2, 4, 8)):
        same = scenario == "same"
        for arm, train_mult, inf_mult in (("ift", 1.0, 1.0), ("reasoning", 1.0 if same else 3.0, 1.0 if same else 7.0)):
            if scenario == "chance":
                p = 0.25
            elif scenario == "same":
                p = 0.40 + 0.10 * i
            else:
                p = (0.30 if arm == "ift" else 0.60) + 0.05 * i
            k = int(rng.binomial(n, p))
            lo, hi = wilson_interval(k, n)
            rows.append({
                "student": f"s{i + 1}", "parameters": size * 10**8, "non_embedding_parameters": size * 8 * 10**7,
                "arm": arm, "family": "Math-MC", "benchmark": "sim", "accuracy": k / n, "ci_low": lo, "ci_high": hi,
                "n": n, "baseline": 0.25, "train_flops": 1e17 * size * train_mult,
                "inference_flops_mean": 1e11 * size * inf_mult, "generated_tokens_mean": 10 * inf_mult,
                "generated_tokens_correct_mean": 10 * inf_mult, "generated_tokens_incorrect_mean": 10 * inf_mult,
                "truncated_fraction": 0.0, "convention": "paper"})
    return pd.DataFrame(rows)


def false_headline(results: pd.DataFrame, n_boot: int, seed: int) -> bool:
    from scale_or_reason.analysis.uncertainty import bootstrap
    from scale_or_reason.analysis.verdicts import verdicts

    boot = bootstrap(results, n_boot=n_boot, seed=seed)
    return any(RATIO.search(s) for v in verdicts(results, boot=boot) for s in v["sentences"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--studies", type=int, default=200)
    ap.add_argument("--n-boot", type=int, default=400)
    ap.add_argument("--label", default="", help="What version of the analysis this measures (for the record).")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    lines = []
    for scenario in ("chance", "same", "dominant"):
        t0 = time.time()
        hits = sum(false_headline(study(rng, scenario), args.n_boot, s) for s in range(args.studies))
        rate = hits / args.studies
        half = 1.96 * (rate * (1 - rate) / args.studies) ** 0.5
        lines.append(f"| {args.label} | {scenario} | {args.studies} | {hits} | {100 * rate:.1f}% ± {100 * half:.1f} "
                     f"| {time.time() - t0:.0f} s |")
        print(lines[-1], flush=True)
    if args.out:
        with open(args.out, "a") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
