"""Evaluation: benchmark specs, prepared local copies, generation back ends, graders, the jury.

=================  =====================================================================================
``specs.py``        benchmark specs as data (``specs/*.toml``: the paper's 18 and the synthetic families)
                    and the prepared format every evaluation reads (local files, content-hashed)
``prepare.py``      ``sor bench prepare``: source rows -> ``BenchItem`` through named adapters
``graders.py``      rule graders on the final answer, after the one truncation rule
``ifeval.py``       IFEval's instruction checkers, offline
``jury.py``         the LLM jury: N judges behind OpenAI-compatible endpoints, majority vote, vote cache
``runner.py``       ``sor evaluate``: generate (hf | vllm | openai), grade, judge, FLOPs, resumably
``aggregate.py``    per-benchmark accuracy with a bootstrap interval, lengths, truncation, costs
=================  =====================================================================================

A trace cut by the token cap is never graded: the answer of a response whose ``<think>`` never closed
is empty, and the sample is ``truncated`` and wrong (``extract.split_response``).

Example::

    from scale_or_reason.evaluate import EvalConfig, evaluate_model, grade, load_spec
    assert grade("<think>2+2=4</think> The answer is \\\\boxed{4}.", grader="math", reference="4").correct
    summary = evaluate_model("runs/s3-reasoning", [load_spec("synthetic-math-oe")], prepared="bench",
                             out="eval/s3-reasoning", thinking=True, cfg=EvalConfig(max_new_tokens=256))
    print(summary[["benchmark", "accuracy", "ci_low", "ci_high"]])
"""

from __future__ import annotations

from .aggregate import baseline_accuracy, summarize
from .graders import Grade, grade
from .prepare import prepare_benchmark
from .runner import EvalConfig, GenerationBackendConfig, evaluate_model
from .specs import BenchmarkSpec, list_specs, load_spec, read_prepared

__all__ = ["BenchmarkSpec", "EvalConfig", "GenerationBackendConfig", "Grade", "baseline_accuracy", "evaluate_model",
           "grade", "list_specs", "load_spec", "prepare_benchmark", "read_prepared", "summarize"]
