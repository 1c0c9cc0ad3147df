"""Answer extraction and rule grading."""

import pytest

from scale_or_reason.evaluate import extract_boxed, grade, wilson_interval


def test_extract_boxed_takes_the_last_balanced_box():
    assert extract_boxed("x \\boxed{1} then \\boxed{\\frac{1}{2}}.") == "\\frac{1}{2}"
    assert extract_boxed("no box here") is None
    assert extract_boxed("\\boxed{unclosed") is None


@pytest.mark.parametrize("family,response,ref,ok", [
    ("Math-OE", "The answer is \\boxed{17}.", "17", True),
    ("Math-OE", "The answer is \\boxed{0.5}.", "\\frac{1}{2}", True),
    ("Math-OE", "The answer is \\boxed{18}.", "17", False),
    ("Math-MC", "The answer is \\boxed{B}.", "B", True),
    ("Math-MC", "The answer is \\boxed{(C) 12}.", "C", True),
    ("General-MC", "The answer is \\boxed{A}.", "B", False),
    ("General-OE", "The answer is \\boxed{Blue}.", "blue", True),
    ("General-OE", "The answer is blue.", "blue", False),
    # the reasoning is ignored: only the box after </think> counts
    ("Math-OE", "<think>maybe \\boxed{3}</think>\n\nThe answer is \\boxed{4}.", "4", True),
    ("Math-OE", "<think>it is \\boxed{4}</think>\n\nI am not sure.", "4", False),
])
def test_grade(family, response, ref, ok):
    assert grade(family, response, ref)[0] is ok


def test_wilson_interval():
    lo, hi = wilson_interval(50, 100)
    assert lo < 0.5 < hi and hi - lo == pytest.approx(0.19, abs=0.01)
    assert wilson_interval(0, 10)[0] == 0.0
