"""The one answer vocabulary: the think layout, the last ``\\boxed{}``, and the truncation rule."""

import pytest

from scale_or_reason.extract import EMPTY_THINK, last_boxed, split_response, think_text


@pytest.mark.parametrize("text,boxed", [
    ("x \\boxed{1} then \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"),        # several boxes: the last
    ("\\boxed{\\sqrt{\\frac{a}{b}}} done", "\\sqrt{\\frac{a}{b}}"),      # nested braces
    ("\\boxed{ New   York }", "New York"),                               # whitespace collapsed
    ("no box here", None),
    ("\\boxed{unclosed", None),                                          # a box the generation never finished
    ("\\boxed{7}\\boxed{", None),
])
def test_last_boxed(text, boxed):
    assert last_boxed(text) == boxed


@pytest.mark.parametrize("text,prompt_opened,answer,truncated", [
    (think_text("3 + 4 = 7", "\\boxed{7}"), False, "\\boxed{7}", False),
    ("<think>\nstill thinking \\boxed{7}", False, "", True),            # cut by the cap inside the trace
    ("still thinking \\boxed{7}", True, "", True),                      # the template opened the trace
    ("reasoning</think>\n\n\\boxed{7}", True, "\\boxed{7}", False),      # orphan close: template-opened trace
    ("The answer is \\boxed{7}.", False, "The answer is \\boxed{7}.", False),  # IFT: never opened, all answer
    ("<think>a</think> \\boxed{1} <think>again \\boxed{2}", False, "", True),  # reopened after the close
    (EMPTY_THINK + "\\boxed{7}", False, "\\boxed{7}", False),           # the empty block of reasoning off
    ("<think>quote </think> inside</think>\n\\boxed{5}", False, "\\boxed{5}", False),  # split at the last close
])
def test_split_response_truncation_rule(text, prompt_opened, answer, truncated):
    r = split_response(text, prompt_opened=prompt_opened)
    assert r.answer == answer and r.truncated is truncated


def test_think_text_round_trips():
    r = split_response(think_text("step 1\nstep 2", "\\boxed{3}"))
    assert (r.trace, r.answer, r.closed) == ("step 1\nstep 2", "\\boxed{3}", True)
