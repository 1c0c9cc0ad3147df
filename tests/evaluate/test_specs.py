"""The shipped benchmark specs, their adapters and the prepared fixtures (no hub: raw fixtures only).

``tests/fixtures/bench/raw/<name>.jsonl`` holds a few invented rows in each source's exact row schema;
``tests/fixtures/bench/prepared/`` is what ``make_prepared.py`` writes from them.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from scale_or_reason.evaluate.prepare import LETTERS, prepare_benchmark
from scale_or_reason.evaluate.specs import list_specs, load_spec, read_prepared

BENCH = Path(__file__).parents[1] / "fixtures" / "bench"
RAW = BENCH / "raw"
PREPARED = BENCH / "prepared"

MATH = "Solve the following math problem. Make sure to put the answer (and only answer) inside \\boxed{}."
SPAN = ("Read the passage and answer the question by selecting the text span from the passage that best answers "
        "it. Make sure to put the answer (and only answer) inside \\boxed{}.")
PAPER_INSTRUCTIONS = {  # the paper's Table 5 (v2), verbatim
    "winogrande": "Given a sentence with a blank (_) and two possible options, choose the option that correctly "
                  "fills the blank so that the sentence makes the most logical sense. Make sure to put the answer "
                  "(and only answer) inside \\boxed{}.",
    "openbookqa": "Select the option that best completes the scenario based on everyday reasoning about cause and "
                  "effect. Make sure to put the answer (and only answer) inside \\boxed{}.",
    "mmlu-misc": "Answer the following multiple-choice question by selecting the option that best fits the correct "
                 "knowledge. Make sure to put the answer (and only answer) inside \\boxed{}.",
    "squad": SPAN,
    "coqa": SPAN,
    "ifeval": "Answer the following instruction.",
    "aqua-rat": MATH, "mmlu-math": MATH, "mmlu-pro-math": MATH, "gsm8k": MATH, "math-500": MATH, "aime-2025": MATH,
}
EXTRAS = {"mmlu-pro-law": "Law-MC", "consumer-qa": "Law-OE", "mmlu-pro-code": "Code-MC",
          "c-code-summarization": "Code-OE", "mmlu-pro-physics": "Physics-MC", "scibench": "Physics-OE"}
FAMILIES = {"winogrande": "General-MC", "openbookqa": "General-MC", "mmlu-misc": "General-MC",
            "squad": "General-OE", "coqa": "General-OE", "ifeval": "General-OE",
            "aqua-rat": "Math-MC", "mmlu-math": "Math-MC", "mmlu-pro-math": "Math-MC",
            "gsm8k": "Math-OE", "math-500": "Math-OE", "aime-2025": "Math-OE", **EXTRAS}
BENCHMARKS = sorted(FAMILIES)
SYNTHETIC = ["synthetic-general-mc", "synthetic-general-oe", "synthetic-math-mc", "synthetic-math-oe"]
SYNTHETIC += [f"{name}-dev" for name in SYNTHETIC]  # the dev split, for learning-rate selection


def _prepare(name: str, tmp_path: Path, **replace):
    spec = load_spec(name)
    if replace:
        spec = dataclasses.replace(spec, **replace)
    prepare_benchmark(spec, tmp_path, source_file=RAW / f"{name}.jsonl")
    return spec, read_prepared(tmp_path, spec)


def _by_id(items):
    return {it.id: it for it in items}


# --- the shipped specs -------------------------------------------------------------------------------

def test_every_shipped_spec_loads():
    assert sorted(list_specs()) == sorted(BENCHMARKS + SYNTHETIC)
    for name in list_specs():
        spec = load_spec(name)
        assert spec.name == name
    for name, family in FAMILIES.items():
        spec = load_spec(name)
        assert spec.family == family
        assert spec.max_new_tokens == 16384
        assert spec.citation and spec.licence and spec.notes
        assert spec.instruction.endswith("inside \\boxed{}.") or name == "ifeval"
        if spec.source.hub_id:
            assert spec.source.revision in ("main", "refs/convert/parquet")  # never an invented SHA
        else:
            assert spec.source.local and name == "c-code-summarization"


@pytest.mark.parametrize("name", sorted(PAPER_INSTRUCTIONS))
def test_core_instructions_are_the_papers(name):
    assert load_spec(name).instruction == PAPER_INSTRUCTIONS[name]


# --- every raw fixture prepares and reads back -------------------------------------------------------

@pytest.mark.parametrize("name", BENCHMARKS)
def test_raw_fixture_prepares_and_reads_back(name, tmp_path):
    spec, items = _prepare(name, tmp_path)
    manifest = json.loads((tmp_path / f"{name}.manifest.json").read_text())
    assert manifest["family"] == FAMILIES[name] and manifest["n"] == len(items) > 0
    assert manifest["spec_key"] == spec.key()
    assert len({it.id for it in items}) == len(items)
    for it in items:
        assert it.question and it.prompt.endswith(it.question)
        if name in PAPER_INSTRUCTIONS:
            assert it.prompt.startswith(PAPER_INSTRUCTIONS[name] + "\n\n")
        else:
            assert it.prompt.startswith(spec.instruction + "\n\n")
        if spec.answer_format == "MC":
            assert 2 <= len(it.choices) <= 10
            assert it.reference in LETTERS[:len(it.choices)]
            assert it.judge_reference == f"{it.reference}) {it.choices[LETTERS.index(it.reference)]}"
            for i, c in enumerate(it.choices):
                assert f"\n{LETTERS[i]}. {c}" in it.prompt
        elif name != "ifeval":
            assert not it.choices and it.reference and it.judge_reference


def test_squad_keeps_every_gold_span(tmp_path):
    _, items = _prepare("squad", tmp_path)
    it = _by_id(items)["fx-sq-1"]
    assert it.golds == ["the oldest fisher of the town", "oldest fisher"]  # deduplicated, in order
    assert it.reference == "the oldest fisher of the town"
    assert "the oldest fisher of the town" in it.judge_reference and "oldest fisher |" not in it.judge_reference
    assert "| oldest fisher" in it.judge_reference
    assert _by_id(items)["fx-sq-3"].judge_reference == "80 metres"
    assert "Passage:\n" in it.prompt and it.prompt.endswith("Question: Who lights the first lantern?")


@pytest.mark.parametrize("name,category,kept", [("mmlu-pro-math", "math", {"90001", "90002"}),
                                                ("mmlu-pro-law", "law", {"91001", "91002"}),
                                                ("mmlu-pro-code", "computer science", {"92001", "92002"}),
                                                ("mmlu-pro-physics", "physics", {"93001", "93002"})])
def test_mmlu_pro_category_filter(name, category, kept, tmp_path):
    spec, items = _prepare(name, tmp_path)
    assert spec.options["category"] == category
    assert {it.id for it in items} == kept
    assert all(it.meta["category"] == category for it in items)
    raw = [json.loads(line) for line in (RAW / f"{name}.jsonl").read_text().splitlines()]
    assert any(r["category"] != category for r in raw)  # the fixture has rows to drop
    assert all(len(r["options"]) < 10 for r in raw)
    by_id = _by_id(items)
    for r in raw:
        if str(r["question_id"]) in by_id:
            it = by_id[str(r["question_id"])]
            assert len(it.choices) == len(r["options"]) and it.reference == r["answer"]


def test_mmlu_math_reads_several_subjects_and_drops_others(tmp_path):
    spec, items = _prepare("mmlu-math", tmp_path)
    assert spec.source.config == ["abstract_algebra", "college_mathematics", "elementary_mathematics",
                                  "high_school_mathematics"]
    subjects = {it.meta["subject"] for it in items}
    assert len(subjects) >= 2 and subjects <= set(spec.source.config)
    assert all(it.id.startswith(it.meta["subject"] + "-") for it in items)


def test_aqua_prefixes_are_stripped(tmp_path):
    _, items = _prepare("aqua-rat", tmp_path)
    for it in items:
        assert all(")" not in c for c in it.choices)
        assert "A)" not in it.prompt and "A. A" not in it.prompt
    assert _by_id(items)["0"].choices == ["12", "14", "16", "18", "20"]
    assert _by_id(items)["2"].choices[2] == "60" and _by_id(items)["2"].judge_reference == "C) 60"


def test_gsm8k_gold_after_hashes_without_commas(tmp_path):
    _, items = _prepare("gsm8k", tmp_path)
    assert [it.reference for it in items] == ["1200", "15", "4250"]


def test_aime_answers_are_canonical_integers(tmp_path):
    _, items = _prepare("aime-2025", tmp_path)
    assert _by_id(items)["fx-1"].reference == "24"  # "024" on the source row


def test_coqa_history_in_later_turns(tmp_path):
    spec, items = _prepare("coqa", tmp_path)
    assert spec.options["turns"] == "last"
    last = _by_id(items)["0-3"]
    assert len(items) == 2
    assert "Q: Who is Pell?\nA: a grey cat\nQ: Where did she live?\nA: above a bakery\n" in last.prompt
    assert last.prompt.endswith("Question: What did she get one day?") and last.reference == "a whole roll"

    all_spec = dataclasses.replace(spec, options={"turns": "all"})
    prepare_benchmark(all_spec, tmp_path / "all", source_file=RAW / "coqa.jsonl")
    turns = _by_id(read_prepared(tmp_path / "all", all_spec))
    assert set(turns) == {"0-1", "0-2", "0-3", "1-1", "1-2"}
    assert "Conversation so far" not in turns["0-1"].prompt
    assert "Q: Who is Pell?\nA: a grey cat\n" in turns["0-2"].prompt
    assert "Where did she live?\nA:" not in turns["0-2"].prompt
    assert turns["0-3"].prompt == last.prompt
    assert turns["1-2"].meta == {"source": "fixture", "turn": 2, "turns": 2}


def test_coqa_rejects_an_unknown_turns_option(tmp_path):
    spec = dataclasses.replace(load_spec("coqa"), options={"turns": "first"})
    with pytest.raises(ValueError, match="options.turns"):
        prepare_benchmark(spec, tmp_path, source_file=RAW / "coqa.jsonl")


def test_ifeval_kwargs_without_none(tmp_path):
    _, items = _prepare("ifeval", tmp_path)
    raw = [json.loads(line) for line in (RAW / "ifeval.jsonl").read_text().splitlines()]
    assert any(v is None for r in raw for kw in r["kwargs"] for v in kw.values())
    for it in items:
        assert it.reference == "" and it.meta["instruction"] == it.question
        assert len(it.meta["kwargs"]) == len(it.meta["instruction_id_list"])
        assert all(v is not None for kw in it.meta["kwargs"] for v in kw.values())
    two = _by_id(items)["9002"]
    assert two.meta["kwargs"] == [{"relation": "at least", "num_words": 40},
                                  {"end_phrase": "Is there anything else I can help with?"}]
    assert _by_id(items)["9004"].meta["kwargs"] == [{"keywords": ["steam", "cup"]}]
    assert load_spec("ifeval").judge == "ifeval"


def test_scibench_unit_appended(tmp_path):
    _, items = _prepare("scibench", tmp_path)
    by_id = _by_id(items)
    cart = by_id["fund-0"]
    assert cart.prompt.endswith("Find its acceleration. The unit of the answer is $\\mathrm{~m} / \\mathrm{s}^2$.")
    assert cart.meta["unit"] == "$\\mathrm{~m} / \\mathrm{s}^2$" and cart.reference == "2.5"
    assert cart.judge_reference == "2.5 $\\mathrm{~m} / \\mathrm{s}^2$"
    assert by_id["fund-1"].prompt.endswith("The unit of the answer is $10^{-6} \\mathrm{~J}$.")
    assert "The unit of the answer" not in by_id["class-2"].prompt  # a blank unit: dimensionless
    assert by_id["class-2"].meta["unit"] == "" and by_id["class-2"].judge_reference == "2"


def test_scibench_sources_option(tmp_path):
    spec = load_spec("scibench")
    assert spec.options["sources"] == "all"
    _, items = _prepare("scibench", tmp_path, options={"sources": ["fund", "class", "thermo"]})
    assert {it.meta["source"] for it in items} == {"fund", "class"}


def test_subsample_never_drops_fixture_rows():
    for name in ("squad", "c-code-summarization"):
        n_raw = len((RAW / f"{name}.jsonl").read_text().splitlines())
        assert load_spec(name).options["subsample"] > n_raw
        manifest = json.loads((PREPARED / f"{name}.manifest.json").read_text())
        assert manifest["n"] == manifest["n_source_items"] == n_raw


def test_ccsd_needs_a_source_file(tmp_path):
    with pytest.raises(ValueError, match="--source-file"):
        prepare_benchmark(load_spec("c-code-summarization"), tmp_path)


@pytest.mark.parametrize("name,row,field", [
    ("gsm8k", {"question": "q", "answer": "no final answer"}, "answer"),
    ("winogrande", {"sentence": "a _ b", "option1": "x", "option2": "y", "answer": ""}, "answer"),
    ("squad", {"id": "x", "context": "c", "question": "q", "answers": {"text": [], "answer_start": []}}, "answers"),
    ("aime-2025", {"problem": "p", "answer": "1/2", "id": "a"}, "answer"),
    ("mmlu-pro-math", {"question_id": 1, "question": "q", "options": ["1", "2"], "answer": "C", "answer_index": 2,
                       "category": "math", "src": ""}, "answer"),
    ("ifeval", {"key": 1, "prompt": "p", "instruction_id_list": ["a", "b"], "kwargs": [{}]}, "kwargs"),
    ("openbookqa", {"id": "x", "question_stem": "q", "answerKey": "A"}, "choices"),
])
def test_row_errors_name_the_row_and_field(name, row, field, tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text(json.dumps(row) + "\n")
    with pytest.raises(ValueError) as e:
        prepare_benchmark(load_spec(name), tmp_path / "out", source_file=src)
    assert "source row 0" in str(e.value) and f"'{field}'" in str(e.value)


# --- the prepared format and spec errors ----------------------------------------------------------------

def test_tampered_prepared_file_is_refused(tmp_path):
    for name in ("gsm8k", "mmlu-pro-math"):
        shutil.copy(PREPARED / f"{name}.jsonl", tmp_path)
        shutil.copy(PREPARED / f"{name}.manifest.json", tmp_path)
    path = tmp_path / "gsm8k.jsonl"
    path.write_text(path.read_text().replace('"reference": "1200"', '"reference": "1201"'))
    with pytest.raises(ValueError, match="hash"):
        read_prepared(tmp_path, load_spec("gsm8k"))
    assert read_prepared(tmp_path, load_spec("mmlu-pro-math"))  # the untouched one still reads


def _spec_text(**override: str) -> str:
    lines = {"name": '"bad"', "family": '"Math-OE"', "adapter": '"gsm8k"', "grader": '"math"'}
    lines.update(override)
    head = "\n".join(f"{k} = {v}" for k, v in lines.items())
    return head + '\n\n[source]\nhub_id = "openai/gsm8k"\n'


@pytest.mark.parametrize("text,key", [
    (_spec_text(temprature="0.6"), "temprature"),
    (_spec_text(grader='"maths"'), "grader"),
    (_spec_text() + 'local = "a file"\n', "[source]"),
    (_spec_text() + 'revison = "main"\n', "revison"),
    (_spec_text(adapter='"gsm9k"'), "adapter"),
])
def test_bad_spec_gives_a_one_line_error_naming_file_and_key(text, key, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError) as e:
        load_spec(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and key in msg


# --- the checked-in prepared fixtures ----------------------------------------------------------------------

@pytest.mark.parametrize("name", BENCHMARKS + SYNTHETIC)
def test_checked_in_prepared_fixtures_are_current(name, tmp_path):
    spec = load_spec(name)
    manifest = json.loads((PREPARED / f"{name}.manifest.json").read_text())
    assert manifest["spec_key"] == spec.key(), "run tests/fixtures/bench/make_prepared.py"
    assert read_prepared(PREPARED, spec)
    fresh = prepare_benchmark(spec, tmp_path, source_file=None if spec.source.synthetic else RAW / f"{name}.jsonl")
    assert fresh.read_bytes() == (PREPARED / f"{name}.jsonl").read_bytes(), "run tests/fixtures/bench/make_prepared.py"


# --- the hub path, with the hub replaced (never contacted) ------------------------------------------------

@pytest.fixture
def fake_hub(monkeypatch):
    """``datasets.load_dataset`` and ``HfApi.dataset_info`` replaced: calls are recorded, rows come from
    ``raw/<state["spec"]>.jsonl`` (for a config, the rows of that subject)."""
    import datasets
    import huggingface_hub

    state: dict = {"spec": "", "calls": []}

    def load_dataset(path, name=None, **kw):
        state["calls"].append({"path": path, "name": name, **kw})
        rows = [json.loads(line) for line in (RAW / f"{state['spec']}.jsonl").read_text().splitlines()]
        return [r for r in rows if name is None or r.get("subject", name) == name]

    def dataset_info(self, repo_id, revision=None, **kw):
        raise ConnectionError("no hub in tests")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", dataset_info)
    return state


@pytest.mark.parametrize("name", ["mmlu-math", "consumer-qa", "winogrande", "mmlu-pro-law"])
def test_hub_path_asks_for_the_specs_source(name, fake_hub, tmp_path):
    fake_hub["spec"] = name
    calls = fake_hub["calls"]
    spec = load_spec(name)
    prepare_benchmark(spec, tmp_path)
    items = read_prepared(tmp_path, spec)
    manifest = json.loads((tmp_path / f"{name}.manifest.json").read_text())
    assert manifest["resolved_revision"].startswith(f"{spec.source.revision} (unresolved")
    configs = spec.source.config if isinstance(spec.source.config, list) else [spec.source.config]
    assert [c["name"] for c in calls] == configs
    for call in calls:
        assert call["path"] == spec.source.hub_id and call["split"] == spec.source.split
        assert call["revision"] == spec.source.revision
    if name == "consumer-qa":
        assert calls[0]["data_files"] == {"test": "consumer_contracts_qa/test/*.parquet"}
        assert calls[0]["revision"] == "refs/convert/parquet"
    if name == "mmlu-math":  # one call per subject; the statistics row is never asked for
        assert {it.meta["subject"] for it in items} == {"abstract_algebra", "elementary_mathematics",
                                                        "high_school_mathematics"}
        assert all(c.get("data_files") is None for c in calls)


def test_synthetic_dev_specs_draw_the_dev_split_disjoint_from_test():
    for name in ("synthetic-general-oe", "synthetic-math-mc"):
        test = {it.prompt for it in read_prepared(PREPARED, load_spec(name))}
        dev = {it.prompt for it in read_prepared(PREPARED, load_spec(f"{name}-dev"))}
        assert len(dev) == len(test) == 100 and not dev & test
