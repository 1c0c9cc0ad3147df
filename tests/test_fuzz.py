"""Hostile inputs, fuzzed (hypothesis): the think splitter, the answer extractors, the study-file loader and the
results-table loader either give a well-formed result or one ``ValueError`` — never another exception."""

import io
import os
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from scale_or_reason.extract import THINK_CLOSE, THINK_OPEN, last_boxed, split_response, think_text

# text built from the pieces that matter to the parsers, plus anything
PIECES = st.sampled_from([THINK_OPEN, THINK_CLOSE, "\\boxed{", "{", "}", "\n", " ", "A", "7", "\\frac{1}{2}"])
TEXT = st.lists(st.one_of(PIECES, st.text(max_size=5)), max_size=30).map("".join)
# CI explores the same 300 examples every time (derandomize: a red CI is a fixed input, reproducible); set
# SOR_FUZZ_EXPLORE=1 to draw fresh random examples (how the study loader's ``seed = inf`` crash was found)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=not os.environ.get("SOR_FUZZ_EXPLORE"), database=None)


@FAST
@given(TEXT, st.booleans())
def test_split_response_never_fails_and_keeps_its_invariants(text, prompt_opened):
    r = split_response(text, prompt_opened=prompt_opened)
    assert r.answer in text.strip() or r.answer == "" or r.answer in text
    if r.truncated:
        assert r.answer == ""  # nothing of an unfinished trace is ever an answer
    if THINK_CLOSE not in text:
        assert not r.closed
    if r.closed:
        assert THINK_CLOSE not in r.answer


@FAST
@given(TEXT, TEXT)
def test_think_text_round_trips_through_the_splitter(trace, answer):
    trace, answer = trace.replace(THINK_OPEN, "").replace(THINK_CLOSE, ""), answer.replace(THINK_OPEN, "").replace(
        THINK_CLOSE, "")
    r = split_response(think_text(trace, answer))
    assert r.closed and not r.truncated
    assert (r.trace, r.answer) == (trace.strip(), answer.strip())


@FAST
@given(TEXT)
def test_last_boxed_is_none_or_a_balanced_box_of_the_text(text):
    got = last_boxed(text)
    if got is None:
        return
    assert got.count("{") == got.count("}")
    assert " ".join(got.split()) == got


@FAST
@given(st.dictionaries(st.sampled_from(["name", "seed", "arms", "samples", "lr_grid", "seeds", "bogus"]),
                       st.one_of(st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=8),
                                 st.lists(st.one_of(st.text(max_size=6), st.floats(-2, 3)), max_size=3),
                                 st.booleans()), max_size=4))
@example(table={"seed": float("inf")})  # found by exploration: int(inf) raised OverflowError
@example(table={"samples": float("-inf")})
def test_study_file_loader_gives_a_study_or_one_value_error(tmp_path_factory, table):
    from scale_or_reason.study import load_study_file

    def toml_value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.encode("unicode_escape").decode().replace('"', '\\"') + '"'
        if isinstance(v, float) and v != v:
            return "nan"
        if isinstance(v, list):
            return "[" + ", ".join(toml_value(x) for x in v) + "]"
        return repr(v)

    body = "[study]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in table.items())
    quick = (Path(__file__).parents[1] / "src/scale_or_reason/studies/quick.toml").read_text()
    rest = quick[quick.index("[teacher]"):]
    f = tmp_path_factory.mktemp("fz") / "s.toml"
    f.write_text(body + "\n" + rest)
    try:
        load_study_file(f)
    except ValueError as e:
        assert str(f) in str(e)


@FAST
@given(st.lists(st.tuples(st.one_of(st.floats(-1, 2), st.just(float("nan")), st.sampled_from(["x", ""])),
                          st.one_of(st.integers(-5, 500), st.sampled_from(["", "many"]))), min_size=1, max_size=6))
def test_results_table_loader_gives_a_table_or_one_value_error(tmp_path_factory, cells):
    from scale_or_reason.analysis.inputs import read_table

    rows = [{"student": f"s{i}", "parameters": 1000 * (i + 1), "arm": "ift" if i % 2 else "reasoning",
             "family": "Math-OE", "benchmark": "b", "accuracy": a, "n": n, "train_flops": 1e12,
             "inference_flops_mean": 1e6, "baseline": 0.1} for i, (a, n) in enumerate(cells)]
    buf = io.StringIO()
    pd.DataFrame(rows).to_csv(buf, index=False)
    f = tmp_path_factory.mktemp("fz") / "r.csv"
    f.write_text(buf.getvalue())
    try:
        df = read_table(f)
    except ValueError as e:
        assert str(f) in str(e)
        return
    acc = pd.to_numeric(df.accuracy, errors="coerce")
    assert ((acc >= 0) & (acc <= 1) | acc.isna()).all()

