"""Design probes of the embedded study: what a student (or its base) can do, measured directly.

They check the design, not the verdict (``docs/embedded.md``):

* :func:`fact_recall` — closed-set recall of the world's facts from a checkpoint: for each fact, the
  base corpus's sentence up to the value (``The colour of the zorka is``), scored against every value the
  attribute can take; correct when the true value has the highest log-likelihood (chance 1/8). Run on a
  base, it is the recall-vs-size curve: recall must be capacity-limited for scale to be able to win.
* :func:`arithmetic_recall` — the elementary operations a Math trace writes (``a ± b`` with values in
  ``0..MAX_VALUE``), scored the same way over every possible result (chance 1/20).
* :func:`option_matching` — the base corpus's option drill on held-out draws: ``Options: ... Pick gold: gold``
  -> the right marker (chance 1/4).
* :func:`letter_probe` — multiple-choice learnability: the student is fed the gold completion up to its
  first restatement of the chosen value (the trace's ``Among the options I find red`` with reasoning, the
  answer's ``The answer is red`` without) and must put the highest probability on the right marker among
  `` (A)``..`` (D)``; and, given everything up to ``\\boxed{``, on the right letter. High accuracy means
  that, once the value is known, finding the letter is learned.
* :func:`boxed_value_probe` — open-ended answers, teacher-forced: the student is fed the prompt and (with
  ``thinking``) the gold trace, then ``The answer is \\boxed{``, and must rank the right value first among
  every value the family can take. Without a trace it is the one-pass answer; with it, what the written steps
  make available.

Example::

    from scale_or_reason.synthetic.probes import fact_recall, letter_probe
    from scale_or_reason.synthetic.tasks import generate_tasks
    print(fact_recall("sor-study/bases/s3", split="test"))                   # {'accuracy': .., 'n': ..}
    print(letter_probe("sor-study/runs/s3-ift", generate_tasks("General-MC", 100, split="test"), thinking=False))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..extract import THINK_OPEN, think_text
from .corpus import FACT_SENTENCES
from .tasks import ATTRIBUTES, LETTERS, MAX_VALUE, Task, facts, format_options, option_marker, world
from .teacher import SyntheticTeacher


def _load(model_dir: str | Path) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    return model, tok


def continuation_logprobs(model: Any, tok: Any, prefix: str, options: list[str]) -> list[float]:
    """Sum of log-probabilities of each option's tokens after ``prefix`` (one batch per prefix)."""
    import torch

    pre = tok(prefix, add_special_tokens=False)["input_ids"]
    seqs = [pre + tok(prefix + o, add_special_tokens=False)["input_ids"][len(pre):] for o in options]
    width = max(len(s) for s in seqs)
    pad = tok.pad_token_id or 0
    ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
    out = []
    for i, s in enumerate(seqs):
        out.append(float(sum(logp[i, j - 1, s[j]] for j in range(len(pre), len(s)))))
    return out


def fact_recall(model_dir: str | Path, split: str = "test", limit: int | None = None) -> dict[str, Any]:
    """Closed-set recall of the facts of ``split`` (``train``: asked in distillation; ``dev``/``test``: never).

    Returns ``accuracy``, ``n`` and ``chance`` (1 / values per attribute)."""
    model, tok = _load(model_dir)
    w = world()
    items = facts(split)[:limit] if limit else facts(split)
    right = 0
    for entity, attribute in items:
        template = FACT_SENTENCES[attribute][0]
        prefix = template.split("{v}")[0].format(e=entity).rstrip()
        values = ATTRIBUTES[attribute]
        scores = continuation_logprobs(model, tok, prefix, [f" {v}" for v in values])
        right += values[max(range(len(values)), key=scores.__getitem__)] == w[entity][attribute]
    return {"accuracy": right / len(items) if items else float("nan"), "n": len(items),
            "chance": 1 / len(next(iter(ATTRIBUTES.values())))}


def arithmetic_recall(model_dir: str | Path, limit: int | None = None) -> dict[str, Any]:
    """Closed-set accuracy on the elementary operations (``7 + 5 =`` -> the most likely of ``0..MAX_VALUE``)."""
    model, tok = _load(model_dir)
    ops = [(a, op, b) for a in range(MAX_VALUE + 1) for b in range(1, 10) for op in "+-"
           if (a + b if op == "+" else a - b) in range(MAX_VALUE + 1)]
    ops = ops[::max(1, len(ops) // limit)] if limit else ops
    values = list(range(MAX_VALUE + 1))
    right = 0
    for a, op, b in ops:
        scores = continuation_logprobs(model, tok, f"{a} {op} {b} =", [f" {v}." for v in values])
        right += values[max(range(len(values)), key=scores.__getitem__)] == (a + b if op == "+" else a - b)
    return {"accuracy": right / len(ops), "n": len(ops), "chance": 1 / len(values)}


def option_matching(model_dir: str | Path, n: int = 200, seed: int = 0) -> dict[str, Any]:
    """The base corpus's option drill, held out: ``Options: red (A) ... Pick gold: gold`` -> the right marker
    among the four (chance 1/4). What a base must be able to do before multiple choice can be learned."""
    import random

    model, tok = _load(model_dir)
    rng = random.Random(f"option-probe/{seed}")
    words = [v for vals in ATTRIBUTES.values() for v in vals]
    markers = [f" ({c})" for c in LETTERS]
    right = 0
    for _ in range(n):
        values = (rng.sample(words, 4) if rng.random() < 0.5
                  else [str(v) for v in rng.sample(range(MAX_VALUE + 1), 4)])
        k = rng.randrange(4)
        prefix = f"Options: {format_options(values)}. Pick {values[k]}: {values[k]}"
        scores = continuation_logprobs(model, tok, prefix, markers)
        right += max(range(4), key=scores.__getitem__) == k
    return {"accuracy": right / n, "n": n, "chance": 0.25}


def letter_probe(model_dir: str | Path, tasks: list[Task], thinking: bool) -> dict[str, Any]:
    """Teacher-forced multiple-choice probe: accuracy of the option marker after the restated value, and of the
    letter after ``\\boxed{``, given the gold trace (``thinking``) and final answer up to that point."""
    model, tok = _load(model_dir)
    teacher = SyntheticTeacher()
    markers = [f" ({c})" for c in LETTERS]
    marker_right = letter_right = 0
    mc = [t for t in tasks if t.options]
    for task in mc:
        out = teacher.answer(task, enable_thinking=thinking)
        msgs = [{"role": "user", "content": task.prompt}]
        prompt = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, enable_thinking=thinking)
        answer = out.answer
        restated = option_marker(task)
        if thinking:  # the first restatement is the trace's "Among the options I find red (A)."
            cut = out.trace.rindex(restated) + len(task.answer_value)
            upto_marker = prompt + f"{THINK_OPEN}\n" + out.trace[:cut]
            prompt += think_text(out.trace, "")  # the one think layout: <think>\n{trace}\n</think>\n\n
        else:
            upto_marker = prompt + answer[: answer.index(restated) + len(task.answer_value)]
        scores = continuation_logprobs(model, tok, upto_marker, markers)
        marker_right += LETTERS[max(range(4), key=scores.__getitem__)] == task.reference
        upto_letter = answer[: answer.index("\\boxed{") + len("\\boxed{")]
        scores = continuation_logprobs(model, tok, prompt + upto_letter, list(LETTERS))
        letter_right += LETTERS[max(range(4), key=scores.__getitem__)] == task.reference
    n = len(mc)
    return {"marker_accuracy": marker_right / n if n else float("nan"),
            "letter_accuracy": letter_right / n if n else float("nan"), "n": n, "chance": 1 / len(LETTERS)}


def boxed_value_probe(model_dir: str | Path, tasks: list[Task], thinking: bool) -> dict[str, Any]:
    """Teacher-forced open-ended accuracy: the most likely value inside ``\\boxed{`` after the prompt (and, with
    ``thinking``, the gold trace), among every value the task's family can take (Math: ``0..MAX_VALUE``;
    General: the asked attribute's values). Returns ``accuracy``, ``n`` and ``chance`` (mean over tasks)."""
    model, tok = _load(model_dir)
    teacher = SyntheticTeacher()
    right, chance = 0, 0.0
    for task in tasks:
        values = ([str(v) for v in range(MAX_VALUE + 1)] if task.family.startswith("Math")
                  else list(ATTRIBUTES[task.attribute]))
        out = teacher.answer(task, enable_thinking=thinking)
        msgs = [{"role": "user", "content": task.prompt}]
        prefix = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, enable_thinking=thinking)
        if thinking:
            prefix += think_text(out.trace, "")
        prefix += out.answer[: out.answer.index("\\boxed{") + len("\\boxed{")]
        scores = continuation_logprobs(model, tok, prefix, [f"{v}}}" for v in values])
        right += values[max(range(len(values)), key=scores.__getitem__)] == task.reference
        chance += 1 / len(values)
    n = len(tasks)
    return {"accuracy": right / n if n else float("nan"), "n": n, "chance": chance / n if n else float("nan")}
