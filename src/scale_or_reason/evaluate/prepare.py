"""``sor bench prepare``: read a benchmark where its data are reachable, write the pinned local copy.

Each spec names an *adapter*: a small function turning one source row into ``BenchItem``s (lm-eval's
``process_docs`` idea). Adapters render the user turn the same way everywhere -- the spec's
instruction, a blank line, the question, then for MC the options as ``A. text`` lines -- so the
student sees one layout across benchmarks.

The hub is touched here and only here (``datasets.load_dataset`` with the spec's config, split and
revision; the resolved commit goes into the manifest). Evaluation reads the prepared files.

Example::

    from scale_or_reason.evaluate.prepare import prepare_benchmark
    from scale_or_reason.evaluate.specs import load_spec
    prepare_benchmark(load_spec("synthetic-math-oe"), "bench-data")     # offline: generated locally
    prepare_benchmark(load_spec("gsm8k"), "bench-data")                 # needs the hub, once
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ..records import BenchItem
from ..util import read_jsonl
from .specs import BenchmarkSpec, write_prepared

__all__ = ["ADAPTERS", "LETTERS", "adapter", "field_name", "format_options", "mc_item", "mc_prompt",
           "prepare_benchmark", "user_turn"]

LETTERS = string.ascii_uppercase
"""Option letters, in order; an item has as many as it has options (MMLU-Pro: up to 10)."""

Adapter = Callable[[dict[str, Any], BenchmarkSpec, int], Iterable[BenchItem]]
ADAPTERS: dict[str, Adapter] = {}
"""Adapters by name; a spec's ``adapter`` picks one."""


def adapter(name: str) -> Callable[[Adapter], Adapter]:
    """Register an adapter under ``name``."""
    def register(fn: Adapter) -> Adapter:
        ADAPTERS[name] = fn
        return fn
    return register


def user_turn(spec: BenchmarkSpec, body: str) -> str:
    """The user turn: the spec's instruction, then the body (question, passage, options)."""
    return f"{spec.instruction}\n\n{body}" if spec.instruction else body


def format_options(choices: list[str]) -> str:
    """Options as ``A. text`` lines."""
    return "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))


def mc_prompt(spec: BenchmarkSpec, question: str, choices: list[str]) -> str:
    """The user turn of a multiple-choice item."""
    return user_turn(spec, f"{question}\n\n{format_options(choices)}")


def mc_item(spec: BenchmarkSpec, item_id: str, question: str, choices: list[str], answer_index: int,
            meta: dict[str, Any] | None = None) -> BenchItem:
    """A multiple-choice item; the jury sees the gold as ``C) option text``."""
    if not 0 <= answer_index < len(choices):
        raise ValueError(f"{spec.name}: item {item_id}: answer index {answer_index} outside {len(choices)} options")
    letter = LETTERS[answer_index]
    return BenchItem(id=item_id, prompt=mc_prompt(spec, question, choices), reference=letter, choices=list(choices),
                     judge_reference=f"{letter}) {choices[answer_index]}",
                     question=f"{question}\n\n{format_options(choices)}", meta=meta or {})


def field_name(spec: BenchmarkSpec, name: str) -> str:
    """The source field holding ``name`` (the spec's ``fields`` mapping, else ``name`` itself)."""
    return spec.fields.get(name, name)


# --- synthetic families --------------------------------------------------------------------------

@adapter("synthetic")
def _synthetic(row: dict[str, Any], spec: BenchmarkSpec, index: int) -> Iterator[BenchItem]:
    task = row["task"]
    if task.options:
        item = mc_item(spec, task.prompt_id, task.prompt, list(task.options), LETTERS.index(task.reference))
        # the synthetic prompt already carries its instruction and options in the embedded layout
        item.prompt, item.question = task.prompt, task.prompt
        yield item
    else:
        yield BenchItem(id=task.prompt_id, prompt=task.prompt, reference=task.reference, judge_reference=task.reference,
                        question=task.prompt)


def _synthetic_rows(spec: BenchmarkSpec) -> Iterator[dict[str, Any]]:
    from ..synthetic.tasks import generate_tasks

    n = int(spec.options.get("n", 100))
    seed = int(spec.options.get("seed", 0))
    split = str(spec.options.get("split", "test"))  # "dev": the split that selects learning rates
    for task in generate_tasks(spec.source.synthetic, n, split=split, seed=seed):
        yield {"task": task}


# --- shared helpers of the benchmark adapters ---------------------------------------------------

def _get(row: dict[str, Any], spec: BenchmarkSpec, name: str) -> Any:
    """The value of the source field holding ``name``; a missing or null field is an error naming it."""
    key = field_name(spec, name)
    if key not in row or row[key] is None:
        raise ValueError(f"missing field {key!r}")
    return row[key]


def _text(row: dict[str, Any], spec: BenchmarkSpec, name: str) -> str:
    """A non-empty text field, stripped."""
    value = _get(row, spec, name)
    if not isinstance(value, (str, int, float)) or isinstance(value, bool) or not str(value).strip():
        raise ValueError(f"field {field_name(spec, name)!r} must be a non-empty text, got {value!r}")
    return str(value).strip()


def _list(row: dict[str, Any], spec: BenchmarkSpec, name: str) -> list[Any]:
    """A list field."""
    value = _get(row, spec, name)
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"field {field_name(spec, name)!r} must be a list, got {type(value).__name__}")
    return list(value)


def _row_id(row: dict[str, Any], spec: BenchmarkSpec, index: int, id_field: str | None = None,
            prefix: str = "") -> str:
    """The source's id column when the source has one (``id_field``), else ``[prefix-]index``."""
    if id_field is not None:
        return _text(row, spec, id_field)
    return f"{prefix}-{index}" if prefix else f"{index}"


def _as_list(value: Any) -> list[Any]:
    """``value`` as a list (a single string becomes a one-element list; None an empty one)."""
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _dedup(values: Iterable[str]) -> list[str]:
    """Stripped, non-empty values without repeats, in their first order."""
    out: list[str] = []
    for v in values:
        v = str(v).strip()
        if v and v not in out:
            out.append(v)
    return out


def _answer_letter_index(answer: Any, n: int, field: str) -> int:
    """The 0-based index of an answer letter (``"C"``), checked against ``n`` options."""
    letter = str(answer).strip().upper()
    if len(letter) != 1 or letter not in LETTERS[:n]:
        raise ValueError(f"field {field!r}: {answer!r} is not one of the {n} option letters {LETTERS[:n]}")
    return LETTERS.index(letter)


# --- General-MC ------------------------------------------------------------------------------------

@adapter("winogrande")
def _winogrande(row: dict[str, Any], spec: BenchmarkSpec, index: int) -> Iterator[BenchItem]:
    """allenai/winogrande: ``sentence`` with a blank ``_``, ``option1``/``option2``, ``answer`` "1"/"2".

    The options become choices A/B; the jury sees the filling option's text (``A) text``). A row with
    an empty answer (the hidden test labels) is an error: use the validation split.
    """
    sentence = _text(row, spec, "sentence")
    if "_" not in sentence:
        raise ValueError(f"field {field_name(spec, 'sentence')!r} has no blank '_'")
    choices = [_text(row, spec, "option1"), _text(row, spec, "option2")]
    answer = str(_get(row, spec, "answer")).strip()
    if answer not in ("1", "2"):
        raise ValueError(f"field {field_name(spec, 'answer')!r} must be '1' or '2', got {answer!r} "
                         "(the test split's labels are hidden: use validation)")
    yield mc_item(spec, _row_id(row, spec, index), sentence, choices, int(answer) - 1)


@adapter("openbookqa")
def _openbookqa(row: dict[str, Any], spec: BenchmarkSpec, index: int) -> Iterator[BenchItem]:
    """allenai/openbookqa: ``question_stem``, ``choices{text,label}``, ``answerKey`` (one of the labels).

    Options are re-lettered A, B, ... in their order; the gold is the position of ``answerKey``
    among the labels.
    """
    question = _text(row, spec, "question_stem")
    choices_field = _get(row, spec, "choices")
    if not isinstance(choices_field, dict) or "text" not in choices_field or "label" not in choices_field:
        raise ValueError(f"field {field_name(spec, 'choices')!r} must hold 'text' and 'label' lists")
    texts = [str(t).strip() for t in choices_field["text"]]
    labels = [str(lab).strip() for lab in choices_field["label"]]
    if len(texts) != len(labels) or len(texts) < 2:
        raise ValueError(f"field {field_name(spec, 'choices')!r}: {len(texts)} texts for {len(labels)} labels")
    key = str(_get(row, spec, "answerKey")).strip()
    if key not in labels:
        raise ValueError(f"field {field_name(spec, 'answerKey')!r}: {key!r} is not one of the labels {labels}")
    yield mc_item(spec, _row_id(row, spec, index, "id"), question, texts, labels.index(key))


@adapter("mmlu")
def _mmlu(row: dict[str, Any], spec: BenchmarkSpec, index: int) -> Iterator[BenchItem]:
    """cais/mmlu: ``question``, ``choices`` (4), ``answer`` (0-3), ``subject``; ids are ``subject-index``.

    Serves one subject (mmlu-misc) or a list of subjects read as configs (mmlu-math). A row from a
    local file (no hub config attached) whose ``subject`` is not among the spec's configs is
    dropped, so a local export of the ``all`` config prepares the same items.
    """
    subject = str(row.get(field_name(spec, "subject")) or row.get("_config") or "").strip()
    configs = [c for c in _as_list(spec.source.config) if c]
    if row.get("_config") is None and configs and subject not in configs:
        return
    choices = [str(c).strip() for c in _list(row, spec, "choices")]
    answer = _get(row, spec, "answer")
    if isinstance(answer, str) and answer.strip().isdigit():
        answer = int(answer)
    if not isinstance(answer, int) or isinstance(answer, bool):
        raise ValueError(f"field {field_name(spec, 'answer')!r} must be an option index, got {answer!r}")
    item_id = _row_id(row, spec, index, prefix=subject)
    yield mc_item(spec, item_id, _text(row, spec, "question"), choices, answer, meta={"subject": subject})


# --- MMLU-Pro (Math-MC and the law / code / physics extras) -----------------------------------------

@adapter("mmlu_pro")
def _mmlu_pro(row: dict[str, Any], spec: BenchmarkSpec, index: int) -> Iterator[BenchItem]:
    """TIGER-Lab/MMLU-Pro: ``question``, ``options`` (up to 10, some fewer), ``answer`` letter,
    ``answer_index``, ``category``, ``question_id``.

    Keeps the rows whose ``category`` is ``options.category`` (a string or a list; required).
    The item has as many letters as the row has options; letter and index must agree.
    """
    wanted = _as_list(spec.options.get("category"))
    if not wanted:
        raise ValueError("options.category is required (e.g. 'math', 'law', 'computer science', 'physics')")
    if _text(row, spec, "category") not in wanted:
        return
    options = [str(o).strip() for o in _list(row, spec, "options")]
    if len(options) < 2:
        raise ValueError(f"field {field_name(spec, 'options')!r} has {len(options)} option(s)")
    index_field = field_name(spec, "answer_index")
    idx = row.get(index_field)
    letter_idx = _answer_letter_index(_get(row, spec, "answer"), len(options), field_name(spec, "answer"))
    if idx is not None and str(idx).strip() != str(letter_idx):
        raise ValueError(f"field {index_field!r} ({idx}) disagrees with field "
                         f"{field_name(spec, 'answer')!r} ({row[field_name(spec, 'answer')]!r})")
    meta = {"category": row[field_name(spec, "category")], "src": row.get("src", "")}
    yield mc_item(spec, _row_id(row, spec, index, "question_id"), _text(row, spec, "question"), options,
                  letter_idx, meta=meta)


# --- Math-MC / Math-OE -----------------------------------------------------------------------------

_AQUA_PREFIX = re.compile(r"^\s*\(?\s*([A-Za-z])\s*\)\s*")


@adapter("aqua_rat")
def _aqua_rat(row: dict[str, Any], spec: BenchmarkSpec, index: int) -> Iterator[BenchItem]:
    """deepmind/aqua_rat: ``question``, ``options`` already prefixed ``"A)21"``, ``correct`` (a letter).

    The ``A)`` prefixes are stripped (the item re-letters its options; no ``A. A)21``); a prefix
    that is not the option's own letter is an error.
    """
    options = []
    for i, raw in enumerate(_list(row, spec, "options")):
        text = str(raw)
        m = _AQUA_PREFIX.match(text)
        if m:
            if m.group(1).upper() != LETTERS[i]:
                raise ValueError(f"field {field_name(spec, 'options')!r}: option {i} carries the prefix "
                                 f"{m.group(1)!r}, expected {LETTERS[i]!r}")
            text = text[m.end():]
        options.append(text.strip())
    answer = _answer_letter_index(_get(row, spec, "correct"), len(options), field_name(spec, "correct"))
    yield mc_item(spec, _row_id(row, spec, index), _text(row, spec, "question"), options, answer)


def _math_item(spec: BenchmarkSpec, item_id: str, problem: str, answer: str,
               meta: dict[str, Any] | None = None) -> BenchItem:
    """An open-ended math item: the gold value is also what the jury sees."""
    return BenchItem(id=item_id, prompt=user_turn(spec, problem), reference=answer, judge_reference=answer,
                     question=problem, meta=meta or {})


@adapter("gsm8k")
def _gsm8k(row: dict[str, Any], spec: BenchmarkSpec, index: int) -> Iterator[BenchItem]:
    """openai/gsm8k: ``question``; ``answer`` is a worked solution ending ``#### N``.

    The gold is the text after the last ``####`` with thousands commas removed (``1,200`` -> ``1200``).
    """
    solution = _text(row, spec, "answer")
    if "####" not in solution:
        raise ValueError(f"field {field_name(spec, 'answer')!r} has no '####' final answer")
    gold = solution.rsplit("####", 1)[1].strip().replace(",", "")
    if not gold:
        raise ValueError(f"field {field_name(spec, 'answer')!r} has an empty final answer after '####'")
    yield _math_item(spec, _row_id(row, spec, index), _text(row, spec, "question"), gold)


@adapter("math500")
def _math500(row: dict[str, Any], spec: BenchmarkSpec, index: int) -> Iterator[BenchItem]:
    """HuggingFaceH4/MATH-500: ``problem``, ``answer`` (not the full ``solution``), ``unique_id``,
    ``subject``, ``level``."""
    id_field = "unique_id" if row.get(field_name(spec, "unique_id")) else None
    meta = {k: row[k] for k in ("subject", "level") if row.get(k) is not None}
    yield _math_item(spec, _row_id(row, spec, index, id_field), _text(row, spec, "problem"),
                     _text(row, spec, "answer"), meta)


@adapter("aime")
def _aime(row: dict[str, Any], spec: BenchmarkSpec, index: int) -> Iterator[BenchItem]:
    """AIME mirrors (math-ai/aime25: ``problem``, ``answer``, ``id``); names via the spec's ``fields``.

    Answers are integers 0-999, written canonically (``"016"`` -> ``"16"``). The id column is used
    when the spec maps ``id`` in ``fields`` and the row has it.
    """
    raw = _text(row, spec, "answer")
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"field {field_name(spec, 'answer')!r}: {raw!r} is not an integer") from None
    if not 0 <= value <= 999:
        raise ValueError(f"field {field_name(spec, 'answer')!r}: {value} is outside AIME's 0-999")
    id_field = "id" if "id" in spec.fields and row.get(spec.fields["id"]) not in (None, "") else None
    yield _math_item(spec, _row_id(row, spec, index, id_field), _text(row, spec, "problem"), str(value))


# --- General-OE ------------------------------------------------------------------------------------

def _span_reference(golds: list[str]) -> str:
    """Every acceptable span, as the jury sees them."""
    if len(golds) == 1:
        return golds[0]
    return "Any of: " + " | ".join(golds)


@adapter("squad")
def _squad(row: dict[str, Any], spec: BenchmarkSpec, index: int) -> Iterator[BenchItem]:
    """rajpurkar/squad (v1.1): ``id``, ``context``, ``question``, ``answers{text[], answer_start[]}``.

    Golds are the answer texts deduplicated in order; the reference is the first; the jury sees all.
    A question without an answer (SQuAD v2's unanswerables) is an error.
    """
    answers = _get(row, spec, "answers")
    texts = answers.get("text") if isinstance(answers, dict) else None
    if texts is None:
        raise ValueError(f"field {field_name(spec, 'answers')!r} must hold a 'text' list")
    golds = _dedup(_as_list(texts))
    if not golds:
        raise ValueError(f"field {field_name(spec, 'answers')!r} has no answer text (an unanswerable v2 question?)")
    body = f"Passage:\n{_text(row, spec, 'context')}\n\nQuestion: {_text(row, spec, 'question')}"
    meta = {"title": row["title"]} if row.get("title") else {}
    yield BenchItem(id=_row_id(row, spec, index, "id"), prompt=user_turn(spec, body), reference=golds[0],
                    golds=golds, judge_reference=_span_reference(golds), question=body, meta=meta)


COQA_TURNS = ("last", "all")
"""CoQA formulations: the last turn of each story with the whole dialogue before it (lm-eval's
500 items), or one item per turn with the dialogue before that turn (7,983 items)."""


@adapter("coqa")
def _coqa(row: dict[str, Any], spec: BenchmarkSpec, index: int) -> Iterator[BenchItem]:
    """stanfordnlp/coqa: ``story``, ``questions[]``, ``answers{input_text[], ...}``, ``source``.

    ``options.turns``: ``"last"`` (default) or ``"all"``. Either way an item's prompt carries the
    story and the preceding turns as ``Q:``/``A:`` lines (CoQA's questions refer back to them);
    ids are ``story-turn`` (turn 1-based).
    """
    turns = spec.options.get("turns", "last")
    if turns not in COQA_TURNS:
        raise ValueError(f"options.turns must be one of {', '.join(COQA_TURNS)}, got {turns!r}")
    story = _text(row, spec, "story")
    questions = [str(q).strip() for q in _list(row, spec, "questions")]
    answers = _get(row, spec, "answers")
    texts = answers.get("input_text") if isinstance(answers, dict) else None
    if texts is None:
        raise ValueError(f"field {field_name(spec, 'answers')!r} must hold an 'input_text' list")
    texts = [str(t).strip() for t in texts]
    if len(texts) != len(questions) or not questions:
        raise ValueError(f"{len(questions)} questions but {len(texts)} answers in field "
                         f"{field_name(spec, 'answers')!r}")
    story_id = _row_id(row, spec, index)
    wanted = range(len(questions)) if turns == "all" else [len(questions) - 1]
    for t in wanted:
        history = "".join(f"Q: {questions[j]}\nA: {texts[j]}\n" for j in range(t))
        body = f"Passage:\n{story}\n\n"
        if history:
            body += f"Conversation so far:\n{history}\n"
        body += f"Question: {questions[t]}"
        gold = texts[t]
        if not gold:
            raise ValueError(f"field {field_name(spec, 'answers')!r}: turn {t + 1} has an empty answer")
        yield BenchItem(id=f"{story_id}-{t + 1}", prompt=user_turn(spec, body), reference=gold, golds=[gold],
                        judge_reference=gold, question=body,
                        meta={"source": row.get("source", ""), "turn": t + 1, "turns": len(questions)})


@adapter("ifeval")
def _ifeval(row: dict[str, Any], spec: BenchmarkSpec, index: int) -> Iterator[BenchItem]:
    """google/IFEval: ``key``, ``prompt``, ``instruction_id_list``, ``kwargs`` (one dict per id).

    ``None`` values that the Hub's schema unification added to ``kwargs`` are stripped. The rule
    checkers read ``meta`` (``instruction_id_list``, ``kwargs``, and the original prompt as
    ``instruction``); there is no gold (``reference`` is empty) and the jury uses the ifeval prompt.
    """
    prompt = _text(row, spec, "prompt")
    ids = [str(i) for i in _list(row, spec, "instruction_id_list")]
    kwargs = _list(row, spec, "kwargs")
    if len(kwargs) != len(ids):
        raise ValueError(f"field {field_name(spec, 'kwargs')!r} has {len(kwargs)} entries for {len(ids)} "
                         f"instruction ids")
    clean = []
    for kw in kwargs:
        if kw is not None and not isinstance(kw, dict):
            raise ValueError(f"field {field_name(spec, 'kwargs')!r} must hold dicts, got {type(kw).__name__}")
        clean.append({k: v for k, v in (kw or {}).items() if v is not None})
    yield BenchItem(id=_row_id(row, spec, index, "key"), prompt=user_turn(spec, prompt), reference="",
                    question=prompt,
                    meta={"instruction": prompt, "instruction_id_list": ids, "kwargs": clean})


# --- extras: law, code, physics --------------------------------------------------------------------

@adapter("legalbench_yes_no")
def _legalbench_yes_no(row: dict[str, Any], spec: BenchmarkSpec, index: int) -> Iterator[BenchItem]:
    """nguha/legalbench consumer_contracts_qa: ``contract``, ``question``, ``answer`` Yes/No, ``index``."""
    answer = _text(row, spec, "answer").capitalize()
    if answer not in ("Yes", "No"):
        raise ValueError(f"field {field_name(spec, 'answer')!r} must be Yes or No, got {answer!r}")
    body = f"Contract:\n{_text(row, spec, 'contract')}\n\nQuestion: {_text(row, spec, 'question')}"
    id_field = "index" if row.get(field_name(spec, "index")) not in (None, "") else None
    yield BenchItem(id=_row_id(row, spec, index, id_field), prompt=user_turn(spec, body), reference=answer,
                    judge_reference=answer, question=body)


@adapter("code_summary")
def _code_summary(row: dict[str, Any], spec: BenchmarkSpec, index: int) -> Iterator[BenchItem]:
    """CCSD (``c_functions_all_data.jsonl.gz``, a local file): ``function``, ``summary`` (the first
    sentence of the function's doc comment); graded by the jury only. Ids are row indices."""
    function = str(_get(row, spec, "function")).strip("\n")
    if not function.strip():
        raise ValueError(f"field {field_name(spec, 'function')!r} is empty")
    summary = _text(row, spec, "summary")
    body = f"```c\n{function}\n```"
    meta = {"file_path": row["file_path"]} if row.get("file_path") else {}
    yield BenchItem(id=_row_id(row, spec, index), prompt=user_turn(spec, body), reference=summary,
                    judge_reference=summary, question=body, meta=meta)


@adapter("scibench")
def _scibench(row: dict[str, Any], spec: BenchmarkSpec, index: int) -> Iterator[BenchItem]:
    """xw27/scibench: ``problem_text``, ``answer_number``, ``unit``, ``source`` (textbook), ``problemid``.

    As the official ``eval_zero.py`` does, the prompt ends with " The unit of the answer is {unit}."
    (left out when the unit is blank: a dimensionless answer). The unit is kept as stated, a
    ``10^{k}`` factor included, so the gold value is in that unit. ``options.sources`` keeps some
    textbooks (``"all"``, the default, keeps every row). Ids are ``source-index`` (``problemid``
    repeats within a textbook).
    """
    sources = spec.options.get("sources", "all")
    source = _text(row, spec, "source")
    if sources != "all" and source not in _as_list(sources):
        return
    problem = _text(row, spec, "problem_text")
    value = _text(row, spec, "answer_number")
    unit = str(row.get(field_name(spec, "unit")) or "").strip()
    if unit:
        problem += f" The unit of the answer is {unit}."
    meta = {"unit": unit, "source": source, "problemid": str(row.get("problemid") or "").strip()}
    yield BenchItem(id=_row_id(row, spec, index, prefix=source), prompt=user_turn(spec, problem), reference=value,
                    judge_reference=f"{value} {unit}".strip(), question=problem, meta=meta)


# --- reading sources -----------------------------------------------------------------------------

def _hub_rows(spec: BenchmarkSpec) -> tuple[Iterator[dict[str, Any]], dict[str, Any]]:
    try:
        import datasets
    except ImportError:  # pragma: no cover - a core dependency
        raise RuntimeError("sor bench prepare needs the `datasets` package") from None
    src = spec.source
    configs = src.config if isinstance(src.config, list) else [src.config]
    resolved = src.revision
    try:
        from huggingface_hub import HfApi

        resolved = HfApi().dataset_info(src.hub_id, revision=src.revision).sha or src.revision
    except Exception as e:  # offline, gated, or an old hub client: the manifest says the revision was not resolved
        resolved = f"{src.revision} (unresolved: {type(e).__name__})"

    def rows() -> Iterator[dict[str, Any]]:
        for cfg in configs:
            kw: dict[str, Any] = {"split": src.split, "revision": src.revision}
            if src.data_files:
                kw["data_files"] = {src.split: src.data_files}
            try:
                ds = datasets.load_dataset(src.hub_id, cfg, **kw)
            except Exception as e:
                raise RuntimeError(f"{spec.path}: could not read {src.hub_id} (config {cfg}, split {src.split}): "
                                   f"{type(e).__name__}: {str(e)[:300]}") from None
            for row in ds:
                yield {**row, "_config": cfg}

    return rows(), {"resolved_revision": resolved, "datasets_version": datasets.__version__}


def _local_rows(spec: BenchmarkSpec, path: Path) -> Iterator[dict[str, Any]]:
    if ".jsonl" in path.suffixes or ".json" in path.suffixes:
        for _, row in read_jsonl(path):
            yield row
    elif path.suffix == ".parquet":
        import pyarrow.parquet as pq

        yield from pq.read_table(path).to_pylist()
    else:
        raise ValueError(f"{path}: expected a .jsonl, .jsonl.gz or .parquet file for {spec.name}")


def prepare_benchmark(spec: BenchmarkSpec, out_dir: str | Path, *, source_file: str | Path | None = None,
                      limit: int | None = None) -> Path:
    """Read ``spec``'s source, convert each row with its adapter, write the prepared copy into ``out_dir``.

    ``source_file`` replaces the hub for specs whose data have no public download (``[source] local``)
    or to prepare from a file already on disk. ``options.subsample`` (with ``options.subsample_seed``)
    keeps a seeded random subset; ``limit`` keeps the first items (smoke tests).
    """
    fn = ADAPTERS[spec.adapter]
    provenance: dict[str, Any] = {}
    if spec.source.synthetic:
        rows: Iterable[dict[str, Any]] = _synthetic_rows(spec)
        provenance["resolved_revision"] = "synthetic"
    elif source_file is not None or spec.source.local:
        if source_file is None:
            raise ValueError(f"{spec.path}: {spec.name} has no public download ({spec.source.local}); "
                             f"pass --source-file (see {spec.source.url or 'docs/benchmarks.md'})")
        path = Path(source_file)
        if not path.exists():
            raise FileNotFoundError(f"{path}: source file for {spec.name} does not exist")
        rows = _local_rows(spec, path)
        provenance["source_file"] = str(path)
    else:
        rows, provenance = _hub_rows(spec)
    items: list[BenchItem] = []
    for i, row in enumerate(rows):
        try:
            items.extend(fn(row, spec, i))
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise ValueError(f"{spec.name}: source row {i}: {type(e).__name__}: {e}") from None
    n_source = len(items)
    sub = spec.options.get("subsample")
    if sub and int(sub) < len(items):
        rng = random.Random(f"subsample/{spec.name}/{spec.options.get('subsample_seed', 0)}")
        keep = sorted(rng.sample(range(len(items)), int(sub)))
        items = [items[k] for k in keep]
    if limit is not None:
        items = items[:limit]
    if not items:
        raise ValueError(f"{spec.name}: the source gave no items (check [source] and the adapter's filters)")
    provenance["n_source_items"] = n_source
    return write_prepared(out_dir, spec, items, provenance)
