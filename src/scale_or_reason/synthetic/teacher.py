"""The programmatic teacher: answers a synthetic task with reasoning off (IFT) or on.

It has the same switch as a Qwen3 hybrid model, ``enable_thinking``. With it off the answer is one
short sentence ending in ``\\boxed{}``; with it on, a ``<think>`` trace works the problem step by
step and checks it before the same final sentence. The final answer is identical in both modes, so
the arms differ only in the reasoning text, as in the paper's paired data.

Example::

    from scale_or_reason.synthetic.tasks import generate_tasks
    from scale_or_reason.synthetic.teacher import SyntheticTeacher
    task = generate_tasks("Math-OE", 1, split="train")[0]
    off = SyntheticTeacher().answer(task, enable_thinking=False)
    on = SyntheticTeacher().answer(task, enable_thinking=True)
    assert off.trace == "" and on.trace and off.answer == on.answer
"""

from __future__ import annotations

from dataclasses import dataclass

from .tasks import LETTERS, Task, world

VERSION = "synthetic-teacher-v1"


@dataclass
class TeacherOutput:
    """One generation: the trace (empty with reasoning off) and the answer after it."""

    trace: str
    answer: str
    finish_reason: str = "stop"


def _final(task: Task) -> str:
    return f"The answer is \\boxed{{{task.reference}}}."


def _math_trace(task: Task) -> str:
    value = task.operands[0]
    lines = [f"We need {' '.join(_expr_tokens(task))}."]
    for op, b in zip(task.ops, task.operands[1:]):
        new = value + b if op == "+" else value - b
        lines.append(f"{value} {op} {b} = {new}.")
        value = new
    # A backward check, as reasoning models do: undo each step from the end.
    check, v = [], value
    for op, b in reversed(list(zip(task.ops, task.operands[1:]))):
        inv = "-" if op == "+" else "+"
        nv = v - b if op == "+" else v + b
        check.append(f"{v} {inv} {b} = {nv}.")
        v = nv
    lines.append("Check: " + " ".join(check) + f" That gives back {v}, so the result is {value}.")
    if task.options:
        lines.append(f"The value {value} is option ({LETTERS[task.options.index(task.answer_value)]}).")
    return "\n".join(lines)


def _expr_tokens(task: Task) -> list[str]:
    out = [str(task.operands[0])]
    for op, b in zip(task.ops, task.operands[1:]):
        out += [op, str(b)]
    return out


def _general_trace(task: Task) -> str:
    facts = world()[task.entity]
    lines = [f"The question asks for the {task.attribute} of the {task.entity}.",
             f"Let me recall the facts I know about the {task.entity}:"]
    for attr in sorted(facts):
        lines.append(f"its {attr} is {facts[attr]}.")
    lines.append(f"So the {task.attribute} is {task.answer_value}.")
    if task.options:
        lines.append(f"The value {task.answer_value} is option ({LETTERS[task.options.index(task.answer_value)]}).")
    return "\n".join(lines)


class SyntheticTeacher:
    """Deterministic teacher for the synthetic families; always right, with or without reasoning."""

    name = VERSION

    def answer(self, task: Task, *, enable_thinking: bool) -> TeacherOutput:
        """Answer ``task``; ``enable_thinking`` toggles the reasoning trace, nothing else."""
        if not enable_thinking:
            return TeacherOutput(trace="", answer=_final(task))
        trace = _math_trace(task) if task.family.startswith("Math") else _general_trace(task)
        return TeacherOutput(trace=trace, answer=_final(task))
