"""Rule graders: tables of tricky cases, the truncation rule per arm, and ``sor grade``."""

import json
import threading

import pytest
from typer.testing import CliRunner

from scale_or_reason.cli import app
from scale_or_reason.evaluate.graders import grade, mc_letter, token_f1

OPTS = ["10", "11", "12", "13"]
COLOURS = ["red", "black", "green", "white"]


@pytest.mark.parametrize("response,reference,ok", [
    ("The answer is \\boxed{17}.", "17", True),
    ("\\boxed{0.5}", "\\frac{1}{2}", True),                                # decimal vs \frac
    ("\\boxed{\\frac{1}{2}}", "0.5", True),
    ("\\boxed{\\dfrac{3}{4}}", "0.75", True),
    ("\\boxed{-3}", "3", False),                                           # no sign-stripping fallback
    ("\\boxed{3}", "-3", False),
    ("\\boxed{016}", "16", True),                                          # AIME's leading zero
    ("\\boxed{5 \\text{ m/s}}", "5", True),                                # a unit after the value
    ("first \\boxed{2}, no wait: \\boxed{3}", "3", True),                  # several boxes: the last
    ("first \\boxed{3}, no wait: \\boxed{2}", "3", False),
    ("\\boxed{\\sqrt{\\frac{1}{4}}}", "\\frac{1}{2}", True),               # nested braces
    ("\\boxed{42} I hope this helps! Let me know.", "42", True),           # trailing text
    ("The answer is 42.", "42", False),                                    # asked for a box, gave none
    ("<think>maybe \\boxed{3}</think>\n\nSo \\boxed{4}.", "4", True),      # the trace is ignored
    ("<think>it is \\boxed{4}</think>\n\nI am not sure.", "4", False),
    ("<think>it is clearly \\boxed{4}, let me double", "4", False),        # cut by the cap: never parsed
])
def test_math_grader(response, reference, ok):
    assert grade(response, grader="math", reference=reference).correct is ok


@pytest.mark.parametrize("response,choices,reference,letter", [
    ("\\boxed{C}", OPTS, "C", "C"),
    ("\\boxed{(C)}", OPTS, "C", "C"),
    ("\\boxed{\\textbf{C}}", OPTS, "C", "C"),
    ("\\boxed{\\text{C}}", OPTS, "C", "C"),
    ("\\boxed{C) 12}", OPTS, "C", "C"),
    ("\\boxed{(C) 12}", OPTS, "C", "C"),
    ("\\boxed{12}", OPTS, "C", "C"),                                        # the option's text
    ("\\boxed{black}", COLOURS, "B", "B"),
    ("\\boxed{Black.}", COLOURS, "B", "B"),
    ("\\boxed{blue}", COLOURS, "B", None),                                  # a value word is not its first letter
    ("\\boxed{green}", COLOURS, "B", "C"),
    ("\\boxed{E}", OPTS, "C", None),                                        # no option E
    ("The answer is (C).", OPTS, "C", "C"),                                 # unboxed, "answer is"
    ("Answer: B", OPTS, "C", "B"),
    ("\\boxed{B} though I first thought \\boxed{C}", OPTS, "C", "C"),       # the last box
    ("<think>\\boxed{C}</think>\n\\boxed{A}", OPTS, "C", "A"),
    ("<think>surely \\boxed{C}", OPTS, "C", None),                          # truncated trace
])
def test_mc_grader(response, choices, reference, letter):
    g = grade(response, grader="mc", reference=reference, choices=choices)
    assert g.extracted == letter and g.correct is (letter == reference)


def test_mc_letter_needs_the_option_to_exist_and_text_to_be_unique():
    assert mc_letter("J", [str(i) for i in range(10)]) == "J"       # MMLU-Pro: up to ten options
    assert mc_letter("J", ["a", "b", "c"]) is None
    assert mc_letter("same", ["same", "same", "other"]) is None      # ambiguous text


def test_span_grader_takes_every_gold_and_reports_f1():
    g = grade("\\boxed{the Denver Broncos}", grader="span", reference="Denver Broncos",
              golds=["Denver Broncos", "Broncos"])
    assert g.correct and g.score == 1.0
    g = grade("\\boxed{Broncos}", grader="span", reference="Denver Broncos", golds=["Denver Broncos", "Broncos"])
    assert g.correct                                                   # matches the second gold
    g = grade("\\boxed{the Broncos team}", grader="span", reference="Denver Broncos", golds=["Denver Broncos"])
    assert not g.correct and g.score == pytest.approx(token_f1("the Broncos team", "Denver Broncos"))
    assert 0 < g.score < 1
    assert grade("Denver Broncos", grader="span", reference="Denver Broncos").correct   # unboxed span


@pytest.mark.parametrize("response,reference,ok", [
    ("\\boxed{1.5 \\times 10^{3} m}", "1500", True),
    ("\\boxed{1520}", "1500", False),                                      # |gold| >= 1: absolute tolerance 0.1
    ("\\boxed{1500.05}", "1500", True),
    ("\\boxed{0.0105}", "0.0100", True),                                   # |gold| < 1: relative tolerance 0.1
    ("\\boxed{0.012}", "0.0100", False),
    ("\\boxed{-2.0}", "2.0", False),
])
def test_numeric_grader(response, reference, ok):
    assert grade(response, grader="numeric", reference=reference).correct is ok


def test_exact_and_none_graders():
    assert grade("\\boxed{Yes}", grader="exact", reference="Yes").correct
    assert grade("\\boxed{No.}", grader="exact", reference="Yes").correct is False
    g = grade("\\boxed{Returns the sum}", grader="none", reference="sums")
    assert g.correct is None and g.extracted == "Returns the sum"


def test_truncation_depends_on_who_opened_the_trace():
    # An IFT student that never opens a think block is graded on its whole text ...
    assert grade("So \\boxed{4}", grader="math", reference="4").correct
    # ... but when the template injected <think>, the same text is an unfinished trace.
    g = grade("So \\boxed{4}", grader="math", reference="4", prompt_opened=True)
    assert g.truncated and not g.correct and g.extracted is None


def test_math_grader_off_the_main_thread():
    out = {}
    t = threading.Thread(target=lambda: out.update(g=grade("\\boxed{\\frac{1}{2}}", grader="math", reference="0.5")))
    t.start()
    t.join(60)
    assert out["g"].correct and out["g"].detail["how"] == "math-verify"


def test_unknown_grader_is_refused():
    with pytest.raises(ValueError, match="unknown grader 'regex'"):
        grade("x", grader="regex", reference="x")


def test_sor_grade_cli(tmp_path):
    lines = [
        {"response": "<think>2+2</think> \\boxed{4}", "reference": "4", "grader": "math"},
        {"response": "<think>so \\boxed{4}", "reference": "4", "grader": "math"},
        {"response": "\\boxed{12}", "reference": "C", "grader": "mc", "choices": OPTS},
        {"response": "\\boxed{blue}", "reference": "B", "grader": "mc", "choices": COLOURS},
        {"response": "\\boxed{Broncos}", "reference": "Denver Broncos", "grader": "span", "golds": ["Broncos"]},
    ]
    src, dst = tmp_path / "answers.jsonl", tmp_path / "graded.jsonl"
    src.write_text("".join(json.dumps(x) + "\n" for x in lines))
    res = CliRunner().invoke(app, ["grade", "--input", str(src), "--output", str(dst)])
    assert res.exit_code == 0, res.output
    out = [json.loads(x) for x in dst.read_text().splitlines()]
    assert [o["correct"] for o in out] == [True, False, True, False, True]
    assert [o["truncated"] for o in out] == [False, True, False, False, False]
    assert [o["extracted"] for o in out[:4]] == ["4", None, "C", None]
    assert all(o["response"] == i["response"] for o, i in zip(out, lines))


def test_sor_grade_names_the_bad_line_and_writes_nothing(tmp_path):
    src, dst = tmp_path / "answers.jsonl", tmp_path / "graded.jsonl"
    src.write_text(json.dumps({"response": "\\boxed{1}", "reference": "1", "grader": "math"}) + "\n"
                   + json.dumps({"response": "\\boxed{A}", "reference": "A", "grader": "mc"}) + "\n")
    res = CliRunner().invoke(app, ["grade", "--input", str(src), "--output", str(dst)])
    assert res.exit_code == 2
    assert f"{src}:2" in res.output and "choices" in res.output
    assert not dst.exists()
