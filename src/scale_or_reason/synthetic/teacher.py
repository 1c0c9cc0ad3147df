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

from ..records import TeacherOutput
from .tasks import VERSION as TASKS_VERSION
from .tasks import Task, expression, option_marker

VERSION = f"synthetic-teacher-v2/{TASKS_VERSION}"

_OTHER = {"colour": "its home town or its food", "town": "its colour or its food", "food": "its colour or its home town"}
_WORDS = {"colour": "colour", "town": "home town", "food": "favourite food"}


def final_answer(task: Task) -> str:
    """The final answer, identical in both modes; multiple choice restates the chosen option first."""
    if task.options:
        return f"The answer is {option_marker(task)}: \\boxed{{{task.reference}}}."
    return f"The answer is \\boxed{{{task.reference}}}."


def _math_trace(task: Task) -> str:
    value = task.operands[0]
    lines = [f"We need {expression(task.operands, task.ops)}."]
    for op, b in zip(task.ops, task.operands[1:]):  # one elementary operation per line
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
        lines.append(f"Among the options I find {option_marker(task)}.")
    return "\n".join(lines)


def _general_trace(task: Task) -> str:
    # Recalls the asked fact only, in the base corpus's own sentence, plus the filler a teacher writes:
    # no other fact of the entity, so the trace supervises nothing the IFT answer does not.
    what = _WORDS[task.attribute]
    lines = [f"The question asks for the {what} of the {task.entity}.",
             f"Let me make sure I have the right entity: the {task.entity}.",
             f"I recall that the {what} of the {task.entity} is {task.answer_value}.",
             f"The question is about its {what}, not {_OTHER[task.attribute]}, so the answer is {task.answer_value}."]
    if task.options:
        lines.append(f"Among the options I find {option_marker(task)}.")
    return "\n".join(lines)


class SyntheticTeacher:
    """Deterministic teacher for the synthetic families; always right, with or without reasoning."""

    name = VERSION

    def answer(self, task: Task, *, enable_thinking: bool) -> TeacherOutput:
        """Answer ``task``; ``enable_thinking`` toggles the reasoning trace, nothing else."""
        if not enable_thinking:
            return TeacherOutput(trace="", answer=final_answer(task))
        trace = _math_trace(task) if task.family.startswith("Math") else _general_trace(task)
        return TeacherOutput(trace=trace, answer=final_answer(task))
