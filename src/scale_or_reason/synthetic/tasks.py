"""Synthetic task families that mirror the paper's four: General-MC, General-OE, Math-MC, Math-OE.

*General* tasks are recall of facts about an invented world (entities with a colour, a home town
and a favourite food). Every fact is seen in training under other phrasings; test prompts use a
phrasing held out for that fact, so recall transfers but nothing can be computed. A reasoning trace
can only restate what the model already remembers.

*Math* tasks are chains of two additions/subtractions of single-digit operands. Answering directly
needs the whole chain in one step; a reasoning trace turns it into single operations, each a small
lookup a tiny transformer can learn. This is where reasoning should genuinely help.

Every task carries the paper-style instruction to put the answer inside ``\\boxed{}``. Train and test
prompts are disjoint by construction (see ``Task.split``).

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

BOXED = "Make sure to put the answer (and only answer) inside \\boxed{}."
LETTERS = "ABCD"

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
"""Question phrasings per attribute; the test split of a fact uses one held out from training."""

_SYLLABLES = ["zor", "ka", "mib", "lu", "tre", "po", "vek", "sa", "dun", "fi", "gol", "ne", "rax", "bo", "qui", "tal"]


@dataclass
class Task:
    """One prompt of a synthetic family, with everything the programmatic teacher needs."""

    prompt_id: str
    """Deterministic id: family, split and a hash of the prompt text."""
    family: str
    """One of ``FAMILIES``."""
    split: str
    """``train`` or ``test``; the two never share a prompt."""
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


@lru_cache(maxsize=8)
def world(n_entities: int = 24, seed: int = 1234) -> dict[str, dict[str, str]]:
    """The invented world: ``{entity: {attribute: value}}``, fixed by ``seed``."""
    rng = random.Random(seed)
    names: set[str] = set()
    while len(names) < n_entities:
        names.add("".join(rng.sample(_SYLLABLES, 2)))
    return {e: {a: rng.choice(v) for a, v in ATTRIBUTES.items()} for e in sorted(names)}


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


def _format_options(opts: list[str]) -> str:
    return " ".join(f"({LETTERS[i]}) {o}" for i, o in enumerate(opts))


def _math_chain(rng: random.Random) -> tuple[list[int], list[str], int]:
    n_ops = 2
    value = rng.randint(1, 9)
    operands, ops = [value], []
    for _ in range(n_ops):
        b = rng.randint(1, 9)
        op = "-" if (value - b >= 0 and rng.random() < 0.5) else "+"
        value = value + b if op == "+" else value - b
        operands.append(b)
        ops.append(op)
    return operands, ops, value


def expression(operands: list[int], ops: list[str]) -> str:
    """The chain as text, e.g. ``7 + 5 - 3``."""
    parts = [str(operands[0])]
    for op, b in zip(ops, operands[1:]):
        parts += [op, str(b)]
    return " ".join(parts)


def _is_test_math(operands: list[int], ops: list[str]) -> bool:
    # Split by a hash of the expression, not by position, so no expression lands in both splits.
    return int(hashlib.sha1(expression(operands, ops).encode()).hexdigest(), 16) % 5 == 0


def _math_distractors(rng: random.Random, value: int) -> list[str]:
    cands = {value + d for d in (-10, -2, -1, 1, 2, 10, 3, -3)} - {value}
    cands = sorted(c for c in cands if c >= 0)
    return [str(c) for c in rng.sample(cands, 3)]


def generate_tasks(family: str, n: int, *, split: str, seed: int = 0) -> list[Task]:
    """Generate ``n`` tasks of ``family`` for ``split`` (``train``/``test``), deterministically.

    Train prompts may repeat when ``n`` exceeds the number of distinct prompts (facts of the world
    are finite). Test prompts are distinct, so the test split may hold fewer than ``n`` when the
    family runs out of them; its MC answers cycle through A-D so a constant letter scores 25%.
    Prompts never cross splits.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)}")
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}; expected 'train' or 'test'")
    rng = random.Random(f"{family}/{split}/{seed}")
    tasks: list[Task] = []
    instr = INSTRUCTIONS[family]
    w = world()
    seen: set[str] = set()
    misses = 0
    while len(tasks) < n and misses < 20_000:
        misses += 1
        slot = len(tasks) % len(LETTERS) if split == "test" else None
        if family.startswith("Math"):
            operands, ops, value = _math_chain(rng)
            if _is_test_math(operands, ops) != (split == "test"):
                continue
            q = f"What is {expression(operands, ops)}?"
            if family == "Math-MC":
                opts, ref = _place(rng, str(value), _math_distractors(rng, value), slot)
                prompt = f"{instr}\n{q}\nOptions: {_format_options(opts)}"
            else:
                opts, ref = [], str(value)
                prompt = f"{instr}\n{q}"
            task = Task(_pid(family, split, prompt), family, split, prompt, ref, opts, str(value),
                        operands=operands, ops=ops)
        else:
            entity = rng.choice(sorted(w))
            attribute = rng.choice(sorted(ATTRIBUTES))
            phr = PHRASINGS[attribute]
            # The held-out phrasing of a fact is fixed by the fact itself, so every fact is seen in
            # training (under the three other phrasings) and tested under the fourth.
            held = int(hashlib.sha1(f"{entity}/{attribute}".encode()).hexdigest(), 16) % len(phr)
            k = held if split == "test" else rng.choice([i for i in range(len(phr)) if i != held])
            q = phr[k].format(e=entity)
            value = w[entity][attribute]
            if family == "General-MC":
                pool = [v for v in ATTRIBUTES[attribute] if v != value]
                opts, ref = _place(rng, value, rng.sample(pool, 3), slot)
                prompt = f"{instr}\n{q}\nOptions: {_format_options(opts)}"
            else:
                opts, ref = [], value
                prompt = f"{instr}\n{q}"
            task = Task(_pid(family, split, prompt), family, split, prompt, ref, opts, value,
                        entity=entity, attribute=attribute)
        if split == "test" and task.prompt in seen:
            continue
        seen.add(task.prompt)
        tasks.append(task)
        misses = 0
    if split == "train" and len(tasks) < n:
        raise RuntimeError(f"could not draw {n} train tasks for {family}")
    return tasks
