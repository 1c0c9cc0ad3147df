"""IFEval rule grading, offline, by the checkers of lm-evaluation-harness.

IFEval (google/IFEval: 541 prompts with ``key``, ``prompt``, ``instruction_id_list``, ``kwargs``) is
graded by rules, not by a judge. This module calls the maintained implementation in
``lm_eval.tasks.ifeval`` (install with ``pip install 'scale-or-reason[ifeval]'``, which pulls
``lm-eval[ifeval]``: nltk, langdetect, immutabledict; no torch) and returns the four usual numbers
for one response: prompt-level strict/loose and per-instruction strict/loose.

Example::

    from scale_or_reason.evaluate.ifeval import ifeval_score

    row = {"prompt": "Write a haiku. Do not use any commas.",
           "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{"num_words": None}]}
    s = ifeval_score("leaves fall in silence\\nthe pond keeps the autumn sky\\na frog breaks the glass",
                     prompt=row["prompt"], instruction_id_list=row["instruction_id_list"],
                     kwargs=row["kwargs"])
    assert s.strict and s.loose and s.strict_per_instruction == [True]

Pass only the final answer of a reasoning student (the text after ``</think>``): the response is
graded exactly as given.

Offline decisions, applied once, when lm-eval is first loaded (never at import of this module):

* lm-eval's ``instructions_util`` calls ``nltk.download("punkt_tab")`` at import time when the data
  is missing. ``nltk.download`` is replaced by a no-op for the duration of that import, so no
  download (and no network call) is attempted; ``nltk.download`` is restored afterwards.
* If the ``punkt_tab`` data is installed (``nltk.data.find`` finds ``tokenizers/punkt_tab``), the
  sentence count for ``length_constraints:number_sentences`` uses it, as upstream does
  (``sentence_splitter == "punkt_tab"``). Otherwise lm-eval's sentence-tokenizer getter is
  replaced by an untrained ``nltk.tokenize.punkt.PunktSentenceTokenizer()``, which needs no data
  (``sentence_splitter == "untrained-punkt"``): it knows no abbreviations, so "Dr. Smith" counts as
  two sentences. ``change_case:capital_word_frequency`` (``nltk.word_tokenize``, which also needs
  punkt_tab) gets the same splitter through lm-eval's module-local ``nltk`` reference; the global
  ``nltk`` module is not touched. Items with either instruction are then ``approximate=True``.
* ``langdetect.DetectorFactory.seed = 0``, so ``language:response_language`` and the
  ``change_case:english_*`` checks are deterministic.
* Hugging Face's schema unification gives every kwargs dict every key, most of them ``None``: those
  keys are dropped before the checkers are built.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any

__all__ = ["IFEvalScore", "ifeval_available", "ifeval_score"]

log = logging.getLogger(__name__)

_INSTALL_HINT = (
    "IFEval grading needs lm-eval with its ifeval extra: "
    "pip install 'scale-or-reason[ifeval]' (or: pip install 'lm-eval[ifeval]')"
)
# The checks that split sentences with punkt_tab upstream: number_sentences counts sentences,
# capital_word_frequency word-tokenizes sentence by sentence (nltk.word_tokenize).
_SPLITTER_IDS = frozenset({"length_constraints:number_sentences", "change_case:capital_word_frequency"})
PUNKT_TAB = "punkt_tab"
UNTRAINED_PUNKT = "untrained-punkt"


@dataclass
class IFEvalScore:
    """The IFEval verdict for one response (lm-eval's ``process_results`` plus two provenance fields)."""

    strict: bool
    """Prompt-level strict accuracy: every instruction followed by the response as given."""
    loose: bool
    """Prompt-level loose accuracy: every instruction followed by at least one loose variant of the
    response (first and/or last line removed, ``*`` removed)."""
    strict_per_instruction: list[bool]
    """Instruction-level strict verdicts, in the order of ``instruction_id_list``."""
    loose_per_instruction: list[bool]
    """Instruction-level loose verdicts, in the order of ``instruction_id_list``."""
    approximate: bool
    """True when a check that splits sentences ran with the untrained splitter:
    ``length_constraints:number_sentences`` (sentence count) or ``change_case:capital_word_frequency``
    (nltk word tokenization, sentence by sentence)."""
    sentence_splitter: str
    """``"punkt_tab"`` (nltk's trained English model, as upstream) or ``"untrained-punkt"``."""


@dataclass(frozen=True)
class _Backend:
    utils: ModuleType  # lm_eval.tasks.ifeval.utils
    registry: dict[str, Any]  # instruction id -> checker class
    sentence_splitter: str


_lock = threading.Lock()
_backend: _Backend | None = None
_import_error: ImportError | None = None


@contextlib.contextmanager
def _no_nltk_download():
    """Make ``nltk.download`` a no-op returning False (lm-eval calls it at import time)."""
    import nltk

    original = nltk.download

    def _refuse(*args: Any, **kwargs: Any) -> bool:
        log.debug("nltk.download%r refused: IFEval grading runs offline", args)
        return False

    nltk.download = _refuse
    try:
        yield
    finally:
        nltk.download = original


def _install_sentence_splitter(util: ModuleType) -> str:
    """Keep lm-eval's punkt_tab tokenizer if its data loads, else swap in an untrained Punkt."""
    getter_name = next(
        (n for n in ("_get_sentence_tokenizer", "_get_en_sentence_tokenizer") if hasattr(util, n)), None
    )
    try:
        import nltk

        nltk.data.find("tokenizers/punkt_tab/english/")
        if getter_name is not None:
            getattr(util, getter_name)()  # loads (and caches) the trained model, or raises
        return PUNKT_TAB
    except (LookupError, OSError, ValueError) as exc:
        log.info("nltk punkt_tab data unavailable (%s): IFEval sentence counts use an untrained "
                 "Punkt tokenizer and are marked approximate", type(exc).__name__)

    from nltk.tokenize.punkt import PunktSentenceTokenizer

    untrained = PunktSentenceTokenizer()  # no training text, no data files
    if getter_name is not None:
        setattr(util, getter_name, lambda: untrained)
    else:  # an lm-eval without a tokenizer getter: replace the counter it calls
        setattr(util, "count_sentences", lambda text: len(untrained.tokenize(text)))
    # change_case:capital_word_frequency calls `instructions_util.nltk.word_tokenize`, which splits
    # sentences with punkt_tab first: give lm-eval's module (only it) an nltk whose word_tokenize
    # splits with the untrained Punkt, then tokenizes each sentence as nltk does.
    util.nltk = _NltkWithSplitter(util.nltk, untrained)
    return UNTRAINED_PUNKT


class _NltkWithSplitter:
    """The ``nltk`` module as lm-eval's ``instructions_util`` sees it, with a data-free word_tokenize."""

    def __init__(self, nltk_module: ModuleType, splitter: Any) -> None:
        self._nltk = nltk_module
        self._splitter = splitter

    def __getattr__(self, name: str) -> Any:
        return getattr(self._nltk, name)

    def word_tokenize(self, text: str, language: str = "english", preserve_line: bool = False) -> list[str]:
        sentences = [text] if preserve_line else self._splitter.tokenize(text)
        return [tok for sent in sentences for tok in self._nltk.word_tokenize(sent, preserve_line=True)]


def _load() -> _Backend:
    """Import lm-eval's IFEval code once, offline; raise ImportError with the extra to install."""
    global _backend, _import_error
    if _backend is not None:
        return _backend
    with _lock:
        if _backend is not None:
            return _backend
        if _import_error is not None:
            raise ImportError(f"{_INSTALL_HINT} ({_import_error})") from _import_error
        try:
            import langdetect
            import nltk  # noqa: F401  (fails here, before any patching, when missing)

            captured = io.StringIO()
            # lm-eval prints "Downloaded punkt_tab on rank 0" even when nothing was downloaded.
            with _no_nltk_download(), contextlib.redirect_stdout(captured):
                from lm_eval.tasks.ifeval import instructions_registry, instructions_util
                from lm_eval.tasks.ifeval import utils as ifeval_utils
            if captured.getvalue().strip():
                log.debug("lm-eval ifeval import printed: %s", captured.getvalue().strip())
        except ImportError as exc:
            _import_error = exc
            raise ImportError(f"{_INSTALL_HINT} ({exc})") from exc

        langdetect.DetectorFactory.seed = 0
        splitter = _install_sentence_splitter(instructions_util)
        _backend = _Backend(utils=ifeval_utils, registry=dict(instructions_registry.INSTRUCTION_DICT),
                            sentence_splitter=splitter)
        return _backend


def ifeval_available() -> bool:
    """True if lm-eval's IFEval checkers import (offline); loads them on the first call."""
    try:
        _load()
    except ImportError:
        return False
    return True


def ifeval_score(response: str, *, prompt: str, instruction_id_list: list[str],
                 kwargs: list[dict]) -> IFEvalScore:
    """Grade one response against one IFEval item by lm-eval's rules.

    Args:
        response: the text to grade (for a reasoning student, only the part after ``</think>``).
        prompt: the item's prompt (``combination:repeat_prompt`` checks against it).
        instruction_id_list: the item's instruction ids, e.g. ``["punctuation:no_comma"]``.
        kwargs: one dict per instruction, as the data set gives them; ``None`` values are dropped.

    Raises:
        ImportError: lm-eval (with its ``ifeval`` extra) is not installed.
        ValueError: ``kwargs`` and ``instruction_id_list`` differ in length, or an id is unknown.
    """
    backend = _load()
    ids = list(instruction_id_list)
    if len(kwargs) != len(ids):
        raise ValueError(f"{len(ids)} instruction ids but {len(kwargs)} kwargs dicts")
    unknown = [i for i in ids if i not in backend.registry]
    if unknown:
        raise ValueError(f"unknown IFEval instruction id(s): {unknown}")
    clean = [{k: v for k, v in (kw or {}).items() if v is not None} for kw in kwargs]
    doc = {"key": 0, "prompt": prompt, "instruction_id_list": ids, "kwargs": clean}
    out = backend.utils.process_results(doc, [response])
    untrained = backend.sentence_splitter == UNTRAINED_PUNKT
    return IFEvalScore(
        strict=bool(out["prompt_level_strict_acc"]),
        loose=bool(out["prompt_level_loose_acc"]),
        strict_per_instruction=[bool(x) for x in out["inst_level_strict_acc"]],
        loose_per_instruction=[bool(x) for x in out["inst_level_loose_acc"]],
        approximate=untrained and not _SPLITTER_IDS.isdisjoint(ids),
        sentence_splitter=backend.sentence_splitter,
    )
