"""The base corpus: what every student of the embedded study is pretrained on before distillation.

The paper distils into pretrained bases (Qwen2.5, Gemma 3); students built from config start from random
weights, so the embedded study first pretrains each size on the same corpus — the analogue of a
pretrained base, identical for every arm, its FLOPs ledgered apart (the paper charges pretraining to
neither arm). The corpus holds what the tasks presuppose and nothing of the tasks themselves:

* **facts** — every fact of the world (all splits: General dev/test questions ask facts seen here and
  never asked in distillation), each written ``fact_repeats`` times in varied sentences;
* **arithmetic** — every elementary operation a Math chain can need (``a + b`` and ``a - b`` with
  ``a`` up to the largest chain value, ``b`` a digit), ``arithmetic_repeats`` times each;
* **option matching** — ``Options: red (A) blue (B) ... Pick blue: blue (B).`` drills on random values;
* **chat format** — short echo exchanges in the tokenizer's chat template, half with an empty think block
  and half with a one-line one, so the template's tokens are not new at distillation.

Documents mix the kinds, a few sentences each, shuffled with a fixed seed.

Example::

    from scale_or_reason.synthetic.corpus import CorpusConfig, base_corpus
    docs = base_corpus(CorpusConfig(fact_repeats=2, arithmetic_repeats=1, option_drills=10, chat_drills=0))
    assert any("colour of the" in d for d in docs)
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .tasks import ATTRIBUTES, LETTERS, MAX_VALUE, format_options, world

FACT_SENTENCES: dict[str, list[str]] = {
    "colour": ["The colour of the {e} is {v}.", "The {e} is {v} in colour.", "Every {e} is {v}.",
               "You can tell the {e} by its colour: {v}."],
    "town": ["The home town of the {e} is {v}.", "The {e} lives in {v}.", "In {v} lives the {e}.",
             "The {e} comes from {v}."],
    "food": ["The favourite food of the {e} is {v}.", "The {e} likes {v}.", "The {e} eats {v}.",
             "Give the {e} {v} and it is happy."],
}
"""Sentences stating one fact (the first of each is the form the teacher's General trace recalls)."""

_ECHO_WORDS = [v for vals in ATTRIBUTES.values() for v in vals]


@dataclass
class CorpusConfig:
    """How much of each kind the base corpus holds (the ``[base]`` table of a study file)."""

    fact_repeats: int = 12
    """Sentences per fact of the world (each in a random form of ``FACT_SENTENCES``)."""
    arithmetic_repeats: int = 4
    """Times each elementary operation (``a ± b = c``) is written."""
    option_drills: int = 3000
    """Option-matching drills (``Options: ... Pick blue: blue (B).``)."""
    chat_drills: int = 1000
    """Echo exchanges in the chat template (needs the tokenizer)."""
    sentences_per_doc: int = 6
    """Sentences per document (one training sample)."""
    seed: int = 0
    """Shuffling seed."""


def _facts(cfg: CorpusConfig, rng: random.Random) -> list[str]:
    out = []
    for e, attrs in world().items():
        for a, v in attrs.items():
            out += [rng.choice(FACT_SENTENCES[a]).format(e=e, v=v) for _ in range(cfg.fact_repeats)]
    return out


def _arithmetic(cfg: CorpusConfig) -> list[str]:
    out = []
    for a in range(MAX_VALUE + 1):
        for b in range(1, 10):
            if a + b <= MAX_VALUE:
                out.append(f"{a} + {b} = {a + b}.")
            if a - b >= 0:
                out.append(f"{a} - {b} = {a - b}.")
    return out * cfg.arithmetic_repeats


def _options(cfg: CorpusConfig, rng: random.Random) -> list[str]:
    out = []
    for _ in range(cfg.option_drills):
        if rng.random() < 0.5:
            values = rng.sample(_ECHO_WORDS, len(LETTERS))
        else:
            values = [str(v) for v in rng.sample(range(MAX_VALUE + 1), len(LETTERS))]
        k = rng.randrange(len(LETTERS))
        # the value restated, then its marker: the same forward copy as an answer's "red (A)"
        out.append(f"Options: {format_options(values)}. Pick {values[k]}: {values[k]} ({LETTERS[k]}).")
    return out


def _chat(cfg: CorpusConfig, rng: random.Random, tokenizer: Any) -> list[str]:
    out = []
    for i in range(cfg.chat_drills):
        words = " ".join(rng.sample(_ECHO_WORDS, rng.randint(1, 4)))
        msgs = [{"role": "user", "content": f"Repeat the words: {words}"},
                {"role": "assistant", "content": words,
                 "reasoning_content": "" if i % 2 == 0 else "I repeat the words in order."}]
        out.append(tokenizer.apply_chat_template(msgs, tokenize=False))
    return out


def base_corpus(cfg: CorpusConfig | None = None, tokenizer: Any = None) -> list[str]:
    """The base corpus as documents (training samples), deterministic for a given ``cfg``.

    Chat drills are rendered with ``tokenizer``'s chat template (skipped without one); every other kind
    is plain text."""
    cfg = cfg or CorpusConfig()
    rng = random.Random(f"base-corpus/{cfg.seed}")
    sentences = _facts(cfg, rng) + _arithmetic(cfg) + _options(cfg, rng)
    rng.shuffle(sentences)
    k = max(1, cfg.sentences_per_doc)
    docs = [" ".join(sentences[i:i + k]) for i in range(0, len(sentences), k)]
    if tokenizer is not None:
        docs += _chat(cfg, rng, tokenizer)
    rng.shuffle(docs)
    return docs
