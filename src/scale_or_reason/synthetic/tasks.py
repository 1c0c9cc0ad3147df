"""Synthetic task families that mirror the paper's four: General-MC, General-OE, Math-MC, Math-OE.

The design lets either arm win (issue 12 of the project; ``docs/embedded.md`` gives the measurements):

*General* tasks are recall of facts about an invented world of :data:`N_ENTITIES` entities, each with a
colour, a home town and a favourite food. Every fact is written, as plain sentences, in the **base
corpus** (:mod:`.corpus`) that every student is pretrained on before distillation — the analogue of the
paper's pretrained bases. Facts are split by a hash of the fact (:func:`fact_split`): distillation asks
only ``train`` facts; the ``dev`` and ``test`` questions ask facts *never asked during distillation*, so
answering them needs recall from the base stage, which is capacity-limited: larger students recall
more. A reasoning trace recalls only the asked fact (the teacher writes no other fact), so it carries no
more supervision than the IFT answer.

*Math* tasks are chains of :data:`MATH_OPS` additions/subtractions of single-digit operands (every
intermediate value non-negative). Answering directly needs the whole chain in one forward pass; a
reasoning trace writes one elementary operation per line, each a lookup the base stage drilled.

*Multiple choice* lays each option out as its value followed by its marker (``red (A)``), and the
final answer restates the chosen option before ``\\boxed{}`` (``The answer is red (A): \\boxed{A}.``):
finding the letter is a forward copy of the token after the value, which small transformers learn.
Test and dev letters cycle A-D, so a constant letter scores exactly 25%.

Every task carries the paper-style instruction to put the answer inside ``\\boxed{}``. Splits
(``train``, ``dev``, ``test``) never share a prompt, a General fact or a Math expression.

Example::

    from scale_or_reason.synthetic.tasks import generate_tasks
    train = generate_tasks("Math-OE", 100, split="train", seed=0)
    test = generate_tasks("Math-OE", 20, split="test", seed=0)
    assert not {t.prompt for t in train} & {t.prompt for t in test}
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from functools import lru_cache

from ..records import FAMILIES

VERSION = "synthetic-tasks-v3"
"""Changes whenever a generated prompt or reference would change (part of every cache key)."""

BOXED = "Make sure to put the answer (and only answer) inside \\boxed{}."
LETTERS = "ABCD"
SPLITS = ("train", "dev", "test")

INSTRUCTIONS = {
    # Shorter than the paper's Table 5 prompts (every prompt token is paid by every sample of a tiny
    # student), same shape: the task, then where the answer goes.
    "General-MC": "Answer the question about the world of Zu. Put the option letter inside \\boxed{}.",
    "General-OE": "Answer the question about the world of Zu with one word inside \\boxed{}.",
    "Math-MC": "Solve the problem and select the option. Put the letter inside \\boxed{}.",
    "Math-OE": "Solve the following math problem. " + BOXED,
}
"""Per-family instructions, in the style of the paper's Table 5 prompts."""

ATTRIBUTES: dict[str, list[str]] = {
    "colour": ["red", "blue", "green", "gold", "white", "black", "grey", "pink"],
    "town": ["Oslo", "Lima", "Pune", "Hue", "Bern", "Kiev", "Riga", "Baku"],
    "food": ["figs", "rice", "plums", "beans", "bread", "soup", "nuts", "eggs"],
}
"""The attributes every entity of the world has, with their possible values."""

PHRASINGS: dict[str, list[str]] = {
    "colour": ["What colour is the {e}?", "Which colour does the {e} have?",
               "The {e} has which colour?", "Tell me the colour of the {e}."],
    "town": ["Where does the {e} live?", "In which town does the {e} live?",
             "The {e} lives in which town?", "Tell me the home town of the {e}."],
    "food": ["What does the {e} eat?", "Which food does the {e} like?",
             "The {e} likes which food?", "Tell me the favourite food of the {e}."],
}
"""Question phrasings per attribute (any of them in every split: the split is by fact, not phrasing)."""

N_ENTITIES = 100
"""Entities of the world: 300 facts. Each name is one token of the synthetic tokenizer, so a fact is an
(entity, attribute) -> value lookup that the base stage must store: a 54x range of student sizes recalls
from about a fifth to most of them after the same base corpus (``docs/embedded.md``)."""
MATH_OPS = 3
"""Operations per Math chain (four single-digit operands)."""
MAX_VALUE = 19
"""Every value of a chain stays in 0..MAX_VALUE, so the elementary operations form a small table (~300
facts: ``a ± b`` with ``a <= 19``, ``b`` a digit) that the base stage can drill."""
SPLIT_SHARES = {"train": 70, "dev": 15, "test": 15}
"""Percent of Math expressions per split, by hash."""
FACT_SHARES = {"train": 50, "dev": 20, "test": 30}
"""Percent of General facts per split, by hash: distillation asks the train half; test holds ~90 facts."""

_SYLLABLES = ["zor", "ka", "mib", "lu", "tre", "po", "vek", "sa", "dun", "fi", "gol", "ne", "rax", "bo",
              "qui", "tal", "pem", "ro", "sil", "wu", "jan", "dre", "ku", "nax"]


@dataclass
class Task:
    """One prompt of a synthetic family, with everything the programmatic teacher needs."""

    prompt_id: str
    """Deterministic id: family, split and a hash of the prompt text."""
    family: str
    """One of ``FAMILIES``."""
    split: str
    """``train``, ``dev`` or ``test``; no two splits share a prompt, fact or expression."""
    prompt: str
    """The user turn: instruction, question, and options for MC."""
    reference: str
    """The reference answer: a number, a word, or an option letter."""
    options: list[str] = field(default_factory=list)
    """Option texts for multiple-choice families (A-D), empty otherwise."""
    answer_value: str = ""
    """The value behind the reference (the option text for MC, the reference otherwise)."""
    operands: list[int] = field(default_factory=list)
    """Math: the operands of the chain."""
    ops: list[str] = field(default_factory=list)
    """Math: the operators (``+``/``-``) between operands."""
    entity: str = ""
    """General: the entity asked about."""
    attribute: str = ""
    """General: the attribute asked about."""


def world(n_entities: int | None = None, seed: int = 1234) -> dict[str, dict[str, str]]:
    """The invented world: ``{entity: {attribute: value}}`` (``N_ENTITIES`` entities by default), fixed by ``seed``."""
    return _world(N_ENTITIES if n_entities is None else n_entities, seed)


@lru_cache(maxsize=8)
def _world(n_entities: int, seed: int) -> dict[str, dict[str, str]]:
    rng = random.Random(seed)
    names: set[str] = set()
    while len(names) < n_entities:
        names.add("".join(rng.sample(_SYLLABLES, 2)))
    return {e: {a: rng.choice(v) for a, v in ATTRIBUTES.items()} for e in sorted(names)}


def _bucket(key: str, shares: dict[str, int]) -> str:
    h = int(hashlib.sha1(key.encode()).hexdigest(), 16) % 100
    edge = 0
    for split, share in shares.items():
        edge += share
        if h < edge:
            return split
    raise AssertionError("split shares must sum to 100")


def fact_split(entity: str, attribute: str) -> str:
    """The split a General fact belongs to: ``train`` facts are asked in distillation, the others never."""
    return _bucket(f"fact/{entity}/{attribute}", FACT_SHARES)


def facts(split: str) -> list[tuple[str, str]]:
    """The ``(entity, attribute)`` facts of one split, in a fixed order."""
    return [(e, a) for e in sorted(world()) for a in sorted(ATTRIBUTES) if fact_split(e, a) == split]


def expression(operands: list[int], ops: list[str]) -> str:
    """The chain as text, e.g. ``7 + 5 - 3``."""
    parts = [str(operands[0])]
    for op, b in zip(ops, operands[1:]):
        parts += [op, str(b)]
    return " ".join(parts)


def math_split(operands: list[int], ops: list[str]) -> str:
    """The split a Math expression belongs to (by a hash of its text, so none lands in two splits)."""
    return _bucket(f"math/{expression(operands, ops)}", SPLIT_SHARES)


def format_options(opts: list[str]) -> str:
    """``red (A) blue (B) ...``: each value followed by its marker (a single token of the tokenizer)."""
    return " ".join(f"{o} ({LETTERS[i]})" for i, o in enumerate(opts))


def option_marker(task: Task) -> str:
    """The chosen option as the answer restates it: ``red (A)``."""
    return f"{task.answer_value} ({task.reference})"


def _pid(family: str, split: str, prompt: str) -> str:
    digest = hashlib.sha1(f"{family}\x00{prompt}".encode()).hexdigest()[:12]
    return f"{family.lower()}-{split}-{digest}"


def _place(rng: random.Random, correct: str, distractors: list[str], slot: int | None) -> tuple[list[str], str]:
    """Options with ``correct`` at ``slot`` (random when None), distractors shuffled around it."""
    opts = list(distractors)
    rng.shuffle(opts)
    slot = rng.randrange(len(opts) + 1) if slot is None else slot
    opts.insert(slot, correct)
    return opts, LETTERS[slot]


def _math_chain(rng: random.Random) -> tuple[list[int], list[str], int]:
    value = rng.randint(1, 9)
    operands, ops = [value], []
    for _ in range(MATH_OPS):
        b = rng.randint(1, 9)
        can_add, can_sub = value + b <= MAX_VALUE, value - b >= 0
        op = "-" if can_sub and (not can_add or rng.random() < 0.5) else "+"
        value = value + b if op == "+" else value - b
        operands.append(b)
        ops.append(op)
    return operands, ops, value


def _math_distractors(rng: random.Random, value: int) -> list[str]:
    cands = {value + d for d in (-10, -2, -1, 1, 2, 10, 3, -3)} - {value}
    cands = sorted(c for c in cands if c >= 0)
    return [str(c) for c in rng.sample(cands, 3)]


def generate_tasks(family: str, n: int, *, split: str, seed: int = 0) -> list[Task]:
    """Generate ``n`` tasks of ``family`` for ``split`` (``train``/``dev``/``test``), deterministically.

    Train prompts may repeat when ``n`` exceeds the number of distinct prompts. Dev and test prompts
    are distinct, so they may hold fewer than ``n`` when the family runs out of them; their MC answers
    cycle through A-D so a constant letter scores 25%. Prompts, facts and expressions never cross splits.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    rng = random.Random(f"{family}/{split}/{seed}")
    tasks: list[Task] = []
    instr = INSTRUCTIONS[family]
    w = world()
    pool = facts(split)
    seen: set[str] = set()
    misses = 0
    while len(tasks) < n and misses < 20_000:
        misses += 1
        slot = len(tasks) % len(LETTERS) if split != "train" else None
        if family.startswith("Math"):
            operands, ops, value = _math_chain(rng)
            if math_split(operands, ops) != split:
                continue
            q = f"What is {expression(operands, ops)}?"
            if family == "Math-MC":
                opts, ref = _place(rng, str(value), _math_distractors(rng, value), slot)
                prompt = f"{instr}\n{q}\nOptions: {format_options(opts)}"
            else:
                opts, ref = [], str(value)
                prompt = f"{instr}\n{q}"
            task = Task(_pid(family, split, prompt), family, split, prompt, ref, opts, str(value),
                        operands=operands, ops=ops)
        else:
            entity, attribute = rng.choice(pool)
            q = rng.choice(PHRASINGS[attribute]).format(e=entity)
            value = w[entity][attribute]
            if family == "General-MC":
                others = [v for v in ATTRIBUTES[attribute] if v != value]
                opts, ref = _place(rng, value, rng.sample(others, 3), slot)
                prompt = f"{instr}\n{q}\nOptions: {format_options(opts)}"
            else:
                opts, ref = [], value
                prompt = f"{instr}\n{q}"
            task = Task(_pid(family, split, prompt), family, split, prompt, ref, opts, value,
                        entity=entity, attribute=attribute)
        if split != "train" and task.prompt in seen:
            continue
        seen.add(task.prompt)
        tasks.append(task)
        misses = 0
    if split == "train" and len(tasks) < n:
        raise RuntimeError(f"could not draw {n} train tasks for {family}")
    return tasks
