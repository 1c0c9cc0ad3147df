"""IFEval rule grading through lm-eval's checkers: offline, hand-written responses, pass and fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scale_or_reason.evaluate.ifeval import IFEvalScore, ifeval_available, ifeval_score

pytestmark = pytest.mark.skipif(not ifeval_available(), reason="needs lm-eval[ifeval]")

# Every kwargs dict of google/IFEval as Hugging Face delivers it: all keys, unused ones None.
HF_KWARG_KEYS = (
    "num_highlights", "relation", "num_words", "num_placeholders", "prompt_to_repeat", "num_paragraphs",
    "num_bullets", "section_spliter", "num_sections", "capital_relation", "capital_frequency", "keywords",
    "num_sentences", "nth_paragraph", "first_word", "language", "forbidden_words", "end_phrase",
    "postscript_marker", "letter", "let_frequency", "let_relation", "frequency", "keyword",
)


def hf(**given) -> dict:
    """One kwargs dict in Hugging Face's unified schema: the given keys set, every other key None."""
    assert set(given) <= set(HF_KWARG_KEYS), set(given) - set(HF_KWARG_KEYS)
    return {k: given.get(k) for k in HF_KWARG_KEYS}


def score(response: str, ids: list[str], kwargs: list[dict], prompt: str = "Respond.") -> IFEvalScore:
    return ifeval_score(response, prompt=prompt, instruction_id_list=ids, kwargs=kwargs)


END = "Is there anything else I can help with?"
REPEAT = "Write a short story about a cat who learns to fly."

# (instruction id, kwargs, a response that follows it, a response that does not)
CASES = [
    ("punctuation:no_comma", {}, "Plain words and no pause marks at all.", "Well, that has a comma."),
    ("change_case:english_lowercase", {},
     "this is all lowercase english text about the weather today and tomorrow.",
     "This is English text with One capital letter about the weather today."),
    ("change_case:english_capital", {},
     "THIS IS ALL CAPITAL ENGLISH TEXT ABOUT THE WEATHER TODAY AND TOMORROW.",
     "THIS IS ALMOST ALL CAPITAL ENGLISH TEXT ABOUT THE weather TODAY."),
    ("change_case:capital_word_frequency", {"capital_frequency": 3, "capital_relation": "at least"},
     "We met at NASA with the FBI and the CIA today.", "We met at NASA with the FBI today."),
    ("length_constraints:number_words", {"num_words": 10, "relation": "at least"},
     "one two three four five six seven eight nine ten", "one two three four five six seven eight nine"),
    ("length_constraints:number_words", {"num_words": 5, "relation": "less than"},
     "one two three four", "one two three four five"),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "at least"},
     "The sun rose. Birds sang loudly. We walked home.", "The sun rose. Birds sang loudly."),
    ("length_constraints:number_sentences", {"num_sentences": 2, "relation": "less than"},
     "It rained all day.", "It rained. We stayed in."),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2},
     "First paragraph.\n***\nSecond paragraph.", "First paragraph.\n\nSecond paragraph."),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
     "We started.\n\nThen we stopped.", "We started.\n\nAfter that we stopped."),
    ("detectable_format:number_bullet_lists", {"num_bullets": 3},
     "Reasons:\n* cheap\n* fast\n* simple", "Reasons:\n* cheap\n* fast"),
    ("detectable_format:title", {}, "<<Ode to Rain>>\nDrops on the window.", "Ode to Rain\nDrops on the window."),
    ("detectable_format:json_format", {}, '```json\n{"answer": 42}\n```', 'The answer is {"answer": 42}'),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2},
     "Two parts: *first part* and *second part*.", "Only *one part* is highlighted."),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 2},
     "Section 1\nIntro.\nSection 2\nBody.", "Section 1\nIntro and body together."),
    ("detectable_format:constrained_response", {}, "My answer is yes.", "Yes, definitely."),
    ("detectable_content:postscript", {"postscript_marker": "P.S."},
     "See you soon.\n\nP.S. Bring snacks.", "See you soon. Bring snacks."),
    ("detectable_content:number_placeholders", {"num_placeholders": 2},
     "Dear [name], your order ships to [address].", "Dear [name], your order ships soon."),
    ("startend:end_checker", {"end_phrase": END}, f"The capital of France is Paris. {END}",
     f"{END} The capital of France is Paris."),
    ("startend:quotation", {}, '"The whole answer is quoted."', 'The answer is "partly" quoted.'),
    ("keywords:existence", {"keywords": ["banana", "river"]},
     "A banana floated down the river.", "A banana floated down the stream."),
    ("keywords:frequency", {"keyword": "cat", "frequency": 2, "relation": "at least"},
     "The cat saw another cat.", "The cat saw a dog."),
    # \bapple\b: "apples" is not the forbidden word.
    ("keywords:forbidden_words", {"forbidden_words": ["apple"]}, "I like apples and pears.", "An Apple a day."),
    ("keywords:letter_frequency", {"letter": "z", "let_frequency": 3, "let_relation": "at least"},
     "A zebra at the zoo ate pizza.", "A zebra at the park."),
    ("language:response_language", {"language": "de"},
     "Der Hund läuft schnell über die Wiese und spielt mit dem roten Ball.",
     "The dog runs quickly across the meadow and plays with the red ball."),
    ("combination:repeat_prompt", {"prompt_to_repeat": REPEAT},
     f"{REPEAT}\nOnce upon a time a cat named Mo flapped its ears.",
     f"Sure! {REPEAT}\nOnce upon a time a cat named Mo flapped its ears."),
    ("combination:two_responses", {}, "Paris is the capital.\n******\nThe capital is Paris.",
     "Paris is the capital.\n******\nParis is the capital."),
]


def test_cases_cover_every_registered_instruction():
    from lm_eval.tasks.ifeval.instructions_registry import INSTRUCTION_DICT

    assert {c[0] for c in CASES} == set(INSTRUCTION_DICT)


@pytest.mark.parametrize(("iid", "kw", "good", "bad"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_instruction_passes_and_fails(iid, kw, good, bad):
    prompt = REPEAT if iid == "combination:repeat_prompt" else "Respond."
    ok = score(good, [iid], [hf(**kw)], prompt=prompt)
    assert (ok.strict, ok.loose, ok.strict_per_instruction, ok.loose_per_instruction) == (True, True, [True], [True])
    ko = score(bad, [iid], [hf(**kw)], prompt=prompt)
    assert ko.strict is False and ko.strict_per_instruction == [False]
    assert ko.loose is False and ko.loose_per_instruction == [False]


def test_none_valued_kwargs_grade_like_clean_ones():
    kw = {"num_words": 5, "relation": "less than"}
    for response in ("one two three", "one two three four five six"):
        with_nones = score(response, ["length_constraints:number_words"], [hf(**kw)])
        clean = score(response, ["length_constraints:number_words"], [kw])
        assert with_nones == clean
    # A None key that build_description accepts must not override the given value either.
    assert score("a b c d e f", ["length_constraints:number_words"], [hf(**kw)]).strict is False


def test_empty_response_follows_nothing():
    s = score("   ", ["punctuation:no_comma", "keywords:forbidden_words"], [hf(), hf(forbidden_words=["x"])])
    assert s.strict_per_instruction == [False, False] and s.loose_per_instruction == [False, False]


def test_multi_instruction_strict_fails_loose_passes_on_outer_lines():
    # The chatty first line has a comma and the closing line breaks the quotation: loose drops both lines.
    ids = ["punctuation:no_comma", "startend:quotation", "keywords:existence"]
    kwargs = [hf(), hf(), hf(keywords=["moon"])]
    response = 'Sure, here you go:\n"The moon is bright tonight."\nHope this helps.'
    s = score(response, ids, kwargs)
    assert s.strict_per_instruction == [False, False, True] and s.strict is False
    assert s.loose_per_instruction == [True, True, True] and s.loose is True


def test_multi_instruction_strict_fails_loose_passes_on_asterisks():
    # Markdown bold around the title breaks end_checker's exact ending; loose strips the asterisks.
    ids = ["detectable_format:title", "startend:end_checker"]
    kwargs = [hf(), hf(end_phrase="That is all.")]
    s = score("<<Notes>>\nThe meeting moved to Monday. **That is all.**", ids, kwargs)
    assert s.strict_per_instruction == [True, False] and not s.strict
    assert s.loose_per_instruction == [True, True] and s.loose


def test_loose_is_not_a_free_pass():
    # Only the outer lines and asterisks are forgiven: a comma in the middle line still fails both.
    s = score("Intro line\nMiddle, with a comma\nOutro line", ["punctuation:no_comma"], [hf()])
    assert (s.strict, s.loose) == (False, False)


def test_language_detection_is_deterministic():
    short = "Hola amigo, ¿qué tal?"  # short texts are where langdetect's sampling varies when unseeded
    verdicts = {score(short, ["language:response_language"], [hf(language="es")]).strict for _ in range(5)}
    assert len(verdicts) == 1
    import langdetect

    assert langdetect.DetectorFactory.seed == 0


def test_approximate_flag_follows_the_splitter():
    sentences = score("The sun rose. Birds sang.", ["length_constraints:number_sentences"],
                      [hf(num_sentences=2, relation="at least")])
    plain = score("No commas here.", ["punctuation:no_comma"], [hf()])
    assert sentences.sentence_splitter == plain.sentence_splitter
    assert sentences.sentence_splitter in ("punkt_tab", "untrained-punkt")
    untrained = sentences.sentence_splitter == "untrained-punkt"
    assert sentences.approximate is untrained
    assert plain.approximate is False
    caps = score("NASA and the FBI.", ["change_case:capital_word_frequency"],
                 [hf(capital_frequency=1, capital_relation="at least")])
    assert caps.approximate is untrained


def test_untrained_splitter_when_punkt_tab_is_absent():
    import nltk

    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
    except LookupError:
        pass
    else:
        pytest.skip("punkt_tab is installed here: the trained splitter is in use")
    s = score("Dr. Smith arrived. He sat down.", ["length_constraints:number_sentences"],
              [hf(num_sentences=3, relation="at least")])
    # The untrained Punkt knows no abbreviations: "Dr." ends a sentence, so 3 sentences are counted.
    assert s.sentence_splitter == "untrained-punkt" and s.approximate and s.strict


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="kwargs"):
        score("x", ["punctuation:no_comma"], [])
    with pytest.raises(ValueError, match="unknown"):
        score("x", ["punctuation:no_such_rule"], [hf()])


# --- offline guarantees, checked in fresh interpreters -------------------------------------------

_GUARD = textwrap.dedent("""
    import json, socket, sys
    events = []
    def _blocked(kind):
        def f(*a, **k):
            events.append(kind)
            raise OSError("network blocked by test: " + kind)
        return f
    socket.socket.connect = _blocked("connect")
    socket.socket.connect_ex = _blocked("connect_ex")
    socket.create_connection = _blocked("create_connection")
    socket.getaddrinfo = _blocked("getaddrinfo")
    import nltk
    nltk.data.path[:] = [sys.argv[1]]  # only the given data dir, whatever this machine has installed
    downloads = []
    nltk.download = lambda *a, **k: downloads.append(a) or False
""")


def _run(body: str, nltk_dir: Path) -> dict:
    code = _GUARD + textwrap.dedent(body) + "\nprint('RESULT=' + json.dumps(result))\n"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", code, str(nltk_dir)], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT=")][-1]
    return json.loads(line.removeprefix("RESULT="))


def test_import_and_grading_make_no_network_call_and_no_download(tmp_path):
    result = _run("""
        import scale_or_reason.evaluate.ifeval as m
        after_import = (list(events), list(downloads), "lm_eval" in sys.modules)
        assert m.ifeval_available()
        s = m.ifeval_score("One. Two. Three.", prompt="p",
                           instruction_id_list=["length_constraints:number_sentences",
                                                "change_case:capital_word_frequency"],
                           kwargs=[{"num_sentences": 3, "relation": "at least", "language": None},
                                   {"capital_frequency": 1, "capital_relation": "less than"}])
        result = {"after_import": after_import, "events": events, "downloads": downloads,
                  "download_restored": nltk.download.__name__ == "<lambda>",
                  "score": [s.strict, s.approximate, s.sentence_splitter]}
    """, tmp_path)
    assert result["after_import"] == [[], [], False]  # importing the module loads nothing
    assert result["events"] == [] and result["downloads"] == []
    assert result["download_restored"]  # nltk.download is put back after lm-eval's import
    assert result["score"] == [True, True, "untrained-punkt"]


def test_lm_eval_alone_would_try_to_download(tmp_path):
    """The control for the test above: without our guard, lm-eval's import asks nltk for punkt_tab."""
    result = _run("""
        from lm_eval.tasks.ifeval import instructions_util
        result = {"downloads": downloads}
    """, tmp_path)
    assert result["downloads"] == [["punkt_tab"]]


def test_punkt_tab_is_used_when_installed(tmp_path):
    # A minimal punkt_tab model that knows one abbreviation, "dr": the trained path must pick it up.
    english = tmp_path / "tokenizers" / "punkt_tab" / "english"
    english.mkdir(parents=True)
    for name in ("collocations.tab", "sent_starters.txt", "ortho_context.tab"):
        (english / name).write_text("")
    (english / "abbrev_types.txt").write_text("dr\n")
    result = _run("""
        from scale_or_reason.evaluate.ifeval import ifeval_score
        ids = ["length_constraints:number_sentences", "change_case:capital_word_frequency"]
        s = ifeval_score("Dr. Smith arrived. He sat down.", prompt="p", instruction_id_list=ids,
                         kwargs=[{"num_sentences": 3, "relation": "at least"},
                                 {"capital_frequency": 1, "capital_relation": "less than"}])
        result = {"events": events, "downloads": downloads, "per": s.strict_per_instruction,
                  "approximate": s.approximate, "splitter": s.sentence_splitter}
    """, tmp_path)
    assert result["splitter"] == "punkt_tab" and result["approximate"] is False
    assert result["per"] == [False, True]  # "Dr." no longer ends a sentence: 2 < 3
    assert result["events"] == [] and result["downloads"] == []
