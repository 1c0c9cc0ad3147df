"""Rule graders: small named functions from a response's final answer to a ``Grade``.

Every grader first applies the one truncation rule (``extract.split_response``): a trace that was
opened and never closed is ``truncated``, scored wrong and never parsed. Then, on the final answer:

=========  ==================================================================================
``math``   last ``\\boxed{}`` vs the gold with math-verify (``\\frac12`` = ``0.5``, ``016`` = ``16``);
           no fallback that strips signs: ``-3`` is never ``3``
``mc``     an option letter -- ``\\boxed{C}``, ``\\boxed{(C)}``, ``\\textbf{C}``, ``C) 12``, "the answer is
           (C)" -- or an option's full text, mapped to its letter; a value word that is no option
           (``\\boxed{blue}`` among colours that are not options) is *not* its first letter
``span``   SQuAD-style: exact match against any gold span (correct), best token F1 (score)
``exact``  normalised string equality (case, punctuation, articles, spaces) with any gold
``numeric`` SciBench's rule on the boxed number (``numeric_close``; ``\\times 10^{k}`` read)
``ifeval`` IFEval's instruction checkers (``evaluate/ifeval.py``); strict prompt-level is correct
``none``   no rule (judged by the jury only): ``correct`` is None
=========  ==================================================================================

These are the cross-check; the paper scores with its jury (``evaluate/jury.py``).

Example::

    from scale_or_reason.evaluate.graders import grade
    g = grade("<think>2+2</think> so \\\\boxed{4}", grader="math", reference="4")
    assert g.correct and g.extracted == "4"
    g = grade("<think>cut by the cap \\\\boxed{4}", grader="math", reference="4")
    assert g.truncated and not g.correct and g.extracted is None
    assert grade("\\\\boxed{12}", grader="mc", reference="C", choices=["10", "11", "12"]).correct
"""

from __future__ import annotations

import json
import logging
import math
import re
import string
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..extract import last_boxed, split_response
from .prepare import LETTERS

GRADING_VERSION = 1
"""Bumped when a grader or an extraction rule changes meaning: a study's evaluation tasks include it in their
keys, so a grading fix regrades (the cached generations are reused; only the grading is redone)."""

__all__ = ["Grade", "RULE_GRADERS", "grade", "grade_file", "math_equal", "mc_letter", "normalize_text", "numeric_close",
           "token_f1"]

MATH_TIMEOUT_S = 5.0
"""Seconds math-verify may spend parsing or comparing one answer before it is scored wrong."""


@dataclass
class Grade:
    """A rule grader's verdict on one response."""

    extracted: str | None
    """The answer the grader read (a letter for MC, the boxed text...), None when there was none."""
    correct: bool | None
    """Whether it matches the gold; None for a benchmark without a rule grader."""
    truncated: bool = False
    """The trace never closed: nothing was parsed."""
    score: float = 0.0
    """A graded score in [0, 1]: token F1 for span QA, loose IFEval, else ``correct`` as 0/1."""
    answer_text: str = ""
    """The final part of the response that was graded."""
    detail: dict[str, Any] = field(default_factory=dict)
    """Grader-specific facts (EM/F1, IFEval per-instruction results, math-verify timeouts)."""


# --- normalisation --------------------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)
_WRAPPERS = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")


def normalize_text(s: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    s = _ARTICLES.sub(" ", s.casefold().translate(_PUNCT))
    return " ".join(s.split())


def _unwrap(s: str) -> str:
    """Remove LaTeX text wrappers and math delimiters: ``\\textbf{C}`` -> ``C``, ``$x$`` -> ``x``."""
    prev = None
    while prev != s:
        prev, s = s, _WRAPPERS.sub(r"\1", s)
    return s.replace("$", "").replace("\\(", "").replace("\\)", "").strip()


def token_f1(pred: str, gold: str) -> float:
    """SQuAD token F1 between normalised strings."""
    p, g = normalize_text(pred).split(), normalize_text(gold).split()
    if not p or not g:
        return float(p == g)
    common = sum((Counter(p) & Counter(g)).values())
    if common == 0:
        return 0.0
    prec, rec = common / len(p), common / len(g)
    return 2 * prec * rec / (prec + rec)


# --- math -----------------------------------------------------------------------------------------

def _verify(gold: str, pred: str, timeouts: bool) -> bool:
    from math_verify import parse, verify

    if not timeouts:  # we time it ourselves (below); its warning that we must do so is noise
        logging.getLogger("math_verify").setLevel(logging.ERROR)
    kw: dict[str, Any] = {} if timeouts else {"parsing_timeout": None}
    g = parse(f"${gold}$", **kw)
    p = parse(f"\\boxed{{{pred}}}", **kw)
    if not g or not p:
        raise ValueError("unparsable")
    return bool(verify(g, p, **({} if timeouts else {"timeout_seconds": None})))


def _plain(s: str) -> str:
    s = _unwrap(s).replace("\\!", "").replace("\\,", "").replace("\\ ", "").replace("{,}", "")
    return "".join(s.split()).rstrip(".")


def math_equal(pred: str, gold: str, timeout_s: float = MATH_TIMEOUT_S) -> tuple[bool, str]:
    """(equal, how): math-verify equivalence, else the same plain text or the same integer.

    math-verify times itself out with ``signal.alarm``, which works only on the main thread
    (Math-Verify #50/#55). Off the main thread we switch its alarm off and run it in a daemon thread
    that we wait ``timeout_s`` for; an answer that takes longer is scored wrong (``how`` = ``timeout``).
    The fallback never drops signs or digits: ``-3`` vs ``3`` stays unequal.
    """
    how = "math-verify"
    try:
        if threading.current_thread() is threading.main_thread():
            ok = _verify(gold, pred, timeouts=True)
        else:
            box: dict[str, Any] = {}

            def run() -> None:
                try:
                    box["ok"] = _verify(gold, pred, timeouts=False)
                except Exception as e:  # handed back to the caller's thread below
                    box["err"] = e

            th = threading.Thread(target=run, daemon=True)
            th.start()
            th.join(timeout_s)
            if th.is_alive():
                return False, "timeout"
            if "err" in box:
                raise box["err"]
            ok = box["ok"]
        if ok:
            return True, how
    except Exception:  # unparsable LaTeX or a math-verify failure: the plain comparison below decides
        how = "plain"
    a, b = _plain(pred), _plain(gold)
    if a == b:
        return True, "plain"
    if re.fullmatch(r"[+-]?\d+", a) and re.fullmatch(r"[+-]?\d+", b):
        return int(a) == int(b), "integer"
    return False, how


# --- multiple choice --------------------------------------------------------------------------------

_ANSWER_IS = re.compile(r"(?:final answer|answer)\s*(?:is|:)?\s*[:\s]*\(?\s*([A-Z])\s*\)?(?![A-Za-z])", re.I)
_LETTER_ONLY = re.compile(r"^\(?\s*([A-Za-z])\s*\)?[.:)]?$")
_LETTER_THEN_TEXT = re.compile(r"^\(?([A-Z])[).:]\s*(.+)$|^\(([A-Z])\)\s*(.+)$", re.S)


def _option_key(s: str) -> str:
    return normalize_text(_unwrap(s))


def mc_letter(candidate: str, choices: Sequence[str]) -> str | None:
    """The option letter ``candidate`` names, or None.

    Accepted: a lone letter within the options (``C``, ``(C)``, ``C.``, ``\\textbf{C}``), a letter
    followed by text (``C) 12``, ``(C) 12``), or exactly one option's text. A word that is not an
    option's text is not read as its first letter.
    """
    n = len(choices) or 26
    s = _unwrap(candidate)
    m = _LETTER_ONLY.match(s)
    if m and m.group(1).upper() in LETTERS[:n]:
        return m.group(1).upper()
    m = _LETTER_THEN_TEXT.match(s)
    if m:
        letter = m.group(1) or m.group(3)
        if letter in LETTERS[:n]:
            return letter
    key = _option_key(s)
    if key:
        hits = [i for i, c in enumerate(choices) if _option_key(c) == key]
        if len(hits) == 1:
            return LETTERS[hits[0]]
    return None


def _grade_mc(answer: str, reference: str, choices: Sequence[str], **_: Any) -> Grade:
    boxed = last_boxed(answer)
    letter = mc_letter(boxed, choices) if boxed is not None else None
    if boxed is None:
        found = list(_ANSWER_IS.finditer(answer))
        letter = mc_letter(found[-1].group(1), choices) if found else None
    ok = letter is not None and letter == reference.strip().upper()
    return Grade(letter, ok, score=float(ok), detail={"boxed": boxed})


def _grade_math(answer: str, reference: str, golds: Sequence[str], **_: Any) -> Grade:
    boxed = last_boxed(answer)
    if boxed is None:
        return Grade(None, False)
    how = ""
    ok = False
    for gold in golds or [reference]:
        ok, how = math_equal(boxed, gold)
        if ok:
            break
    return Grade(boxed, ok, score=float(ok), detail={"how": how})


def _candidate(answer: str) -> str:
    """The boxed answer, else the whole final answer (span QA and labels are often left unboxed)."""
    boxed = last_boxed(answer)
    return _unwrap(boxed) if boxed is not None else answer.strip()


def _grade_span(answer: str, reference: str, golds: Sequence[str], **_: Any) -> Grade:
    pred = _candidate(answer)
    golds = list(golds) or [reference]
    em = any(normalize_text(pred) == normalize_text(g) for g in golds)
    f1 = max(token_f1(pred, g) for g in golds)
    return Grade(pred, em, score=f1, detail={"em": em, "f1": f1})


def _grade_exact(answer: str, reference: str, golds: Sequence[str], **_: Any) -> Grade:
    pred = _candidate(answer)
    ok = bool(pred) and any(normalize_text(pred) == normalize_text(g) for g in (list(golds) or [reference]))
    return Grade(pred, ok, score=float(ok))


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _to_number(s: str) -> float | None:
    """A number from a boxed answer with optional unit and ``\\times 10^{k}``; None if there is none."""
    t = _unwrap(s).replace("{,}", "").replace(",", "").replace("−", "-")
    m = re.search(r"([-+]?(?:\d+\.?\d*|\.\d+))\s*(?:\\times|\\cdot|x|\*)\s*10\s*\^\s*\{?\s*([-+]?\d+)\s*\}?", t)
    if m:
        return float(m.group(1)) * 10 ** int(m.group(2))
    m = _NUMBER.search(t)
    return float(m.group(0)) if m else None


def numeric_close(pred: float, gold: float) -> bool:
    """SciBench's comparison (mandyyyyii/scibench ``eval_zero.py``): absolute tolerance 0.1 when the
    gold's magnitude is at least 1, else relative tolerance 0.1."""
    if abs(gold) >= 1:
        return math.isclose(pred, gold, abs_tol=0.1)
    return math.isclose(pred, gold, rel_tol=0.1)


def _grade_numeric(answer: str, reference: str, **_: Any) -> Grade:
    boxed = last_boxed(answer)
    if boxed is None:
        return Grade(None, False)
    pred, gold = _to_number(boxed), _to_number(reference)
    ok = pred is not None and gold is not None and numeric_close(pred, gold)
    return Grade(boxed, ok, score=float(ok), detail={"value": pred})


def _grade_ifeval(answer: str, meta: dict[str, Any], **_: Any) -> Grade:
    from .ifeval import ifeval_score

    s = ifeval_score(answer, prompt=str(meta.get("instruction", "")),
                     instruction_id_list=list(meta.get("instruction_id_list", [])),
                     kwargs=list(meta.get("kwargs", [])))
    return Grade(None, s.strict, score=float(s.loose),
                 detail={"loose": s.loose, "strict_per_instruction": s.strict_per_instruction,
                         "loose_per_instruction": s.loose_per_instruction, "approximate": s.approximate,
                         "sentence_splitter": s.sentence_splitter})


def _grade_none(answer: str, **_: Any) -> Grade:
    return Grade(_candidate(answer) or None, None)


RULE_GRADERS: dict[str, Callable[..., Grade]] = {
    "math": _grade_math, "mc": _grade_mc, "span": _grade_span, "exact": _grade_exact,
    "numeric": _grade_numeric, "ifeval": _grade_ifeval, "none": _grade_none,
}
"""Rule graders by name (the names specs use)."""


def grade(response: str, *, grader: str, reference: str = "", choices: Sequence[str] = (),
          golds: Sequence[str] = (), meta: dict[str, Any] | None = None, prompt_opened: bool = False) -> Grade:
    """Grade one response: the truncation rule, then the named grader on the final answer.

    ``prompt_opened``: the rendered prompt itself opened the trace (a template that injects
    ``<think>``); then a response without ``</think>`` is an unfinished trace.
    """
    if grader not in RULE_GRADERS:
        raise ValueError(f"unknown grader {grader!r}; expected one of {', '.join(RULE_GRADERS)}")
    parts = split_response(response, prompt_opened=prompt_opened)
    if parts.truncated:
        return Grade(None, None if grader == "none" else False, truncated=True)
    g = RULE_GRADERS[grader](parts.answer, reference=reference, choices=list(choices), golds=list(golds),
                             meta=meta or {})
    g.answer_text = parts.answer
    return g


def grade_file(input_path: str | Path, output_path: str | Path) -> dict[str, int]:
    """``sor grade``: grade every JSON line of ``input_path`` into ``output_path``; returns counts.

    Each input line has ``response``, ``reference``, ``grader`` and, for ``mc``, ``choices`` (option
    texts, lettered A, B, ... in order; the reference is a letter); optional ``golds``, ``meta`` and
    ``prompt_opened``. Each output line is the input line plus ``extracted``, ``correct``, ``truncated``
    and ``score``. Any bad line stops the run with ``FILE:LINE: ...`` before anything is written.
    """
    from ..util import atomic_path, read_jsonl

    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.exists():
        raise FileNotFoundError(f"{input_path} does not exist")
    rows = []
    for lineno, row in read_jsonl(input_path):
        where = f"{input_path}:{lineno}"
        for key in ("response", "reference", "grader"):
            if not isinstance(row.get(key), str):
                raise ValueError(f"{where}: field {key!r} is missing or not text")
        if row["grader"] not in RULE_GRADERS:
            raise ValueError(f"{where}: grader {row['grader']!r} is not one of {', '.join(RULE_GRADERS)}")
        choices = row.get("choices", [])
        if row["grader"] == "mc" and (not isinstance(choices, list) or not choices):
            raise ValueError(f"{where}: grader 'mc' needs 'choices', the option texts in letter order")
        rows.append((where, row))
    counts = {"lines": 0, "correct": 0, "truncated": 0}
    with atomic_path(output_path) as tmp, open(tmp, "w") as out:
        for where, row in rows:
            try:
                g = grade(row["response"], grader=row["grader"], reference=row["reference"],
                          choices=[str(c) for c in row.get("choices", [])], golds=row.get("golds", []),
                          meta=row.get("meta"), prompt_opened=bool(row.get("prompt_opened", False)))
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{where}: {e}") from None
            out.write(json.dumps({**row, "extracted": g.extracted, "correct": g.correct, "truncated": g.truncated,
                                  "score": g.score}, ensure_ascii=False) + "\n")
            counts["lines"] += 1
            counts["correct"] += bool(g.correct)
            counts["truncated"] += g.truncated
    return counts
