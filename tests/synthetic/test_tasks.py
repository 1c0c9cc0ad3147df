"""Synthetic families, the programmatic teacher and the local tokenizer."""

import statistics

import pytest

from scale_or_reason.records import FAMILIES
from scale_or_reason.evaluate import baseline_accuracy, load_spec, prepare_benchmark, read_prepared
from scale_or_reason.extract import EMPTY_THINK, think_text
from scale_or_reason.synthetic.tasks import generate_tasks, world
from scale_or_reason.synthetic.teacher import SyntheticTeacher
from scale_or_reason.synthetic.tokenizer import build_tokenizer


@pytest.fixture(scope="module")
def tok():
    t = SyntheticTeacher()
    corpus = []
    for fam in FAMILIES:
        for task in generate_tasks(fam, 200, split="train", seed=5):
            on = t.answer(task, enable_thinking=True)
            corpus += [task.prompt, on.trace, on.answer]
    return build_tokenizer(corpus + ["user assistant"] * 20, vocab_size=400)


@pytest.mark.parametrize("family", FAMILIES)
def test_train_and_test_prompts_are_disjoint_and_deterministic(family):
    train = generate_tasks(family, 400, split="train", seed=0)
    test = generate_tasks(family, 100, split="test", seed=0)
    dev = generate_tasks(family, 100, split="dev", seed=0)
    assert not {t.prompt for t in train} & {t.prompt for t in test}
    assert not {t.prompt for t in dev} & ({t.prompt for t in test} | {t.prompt for t in train})
    assert [t.prompt for t in generate_tasks(family, 50, split="train", seed=0)] == [t.prompt for t in train[:50]]
    assert len({t.prompt for t in test}) == len(test)  # test prompts are distinct
    assert all("\\boxed{}" in t.prompt for t in train)


def test_general_dev_and_test_ask_facts_never_asked_in_distillation_but_written_in_the_base_corpus():
    from scale_or_reason.synthetic.corpus import CorpusConfig, base_corpus
    from scale_or_reason.synthetic.tasks import fact_split

    train = generate_tasks("General-OE", 3000, split="train", seed=0)
    asked = {(t.entity, t.attribute) for t in train}
    assert all(fact_split(*f) == "train" for f in asked)
    w = world()
    corpus = " ".join(base_corpus(CorpusConfig(fact_repeats=3, arithmetic_repeats=0, option_drills=0, chat_drills=0)))
    for split in ("dev", "test"):
        items = generate_tasks("General-OE", 100, split=split, seed=0)
        assert not {(t.entity, t.attribute) for t in items} & asked
        assert all(t.reference == w[t.entity][t.attribute] for t in items)
        # every asked fact is stated in the base corpus (the entity and its value in one sentence)
        assert all(t.entity in corpus for t in items)
    dev = {(t.entity, t.attribute) for t in generate_tasks("General-MC", 100, split="dev", seed=0)}
    test = {(t.entity, t.attribute) for t in generate_tasks("General-MC", 100, split="test", seed=0)}
    assert not dev & test


def test_general_traces_recall_the_asked_fact_only():
    teacher, w = SyntheticTeacher(), world()
    for task in generate_tasks("General-MC", 200, split="train", seed=4):
        trace = teacher.answer(task, enable_thinking=True).trace
        others = [v for a, v in w[task.entity].items() if a != task.attribute and v != task.answer_value]
        assert task.answer_value in trace and not any(f" {v}" in trace for v in others), trace


def test_math_traces_write_one_elementary_operation_per_line():
    from scale_or_reason.synthetic.tasks import MATH_OPS

    teacher = SyntheticTeacher()
    for task in generate_tasks("Math-OE", 50, split="train", seed=4):
        lines = teacher.answer(task, enable_thinking=True).trace.splitlines()
        steps = [ln for ln in lines if ln.count("=") == 1 and not ln.startswith("Check")]
        assert len(task.operands) == MATH_OPS + 1 and len(steps) == MATH_OPS
        assert steps[-1].rstrip(".").split("= ")[1] == task.reference


def test_mc_letters_follow_their_values_and_the_answer_restates_the_option(tok):
    teacher = SyntheticTeacher()
    for fam in ("General-MC", "Math-MC"):
        for task in generate_tasks(fam, 50, split="train", seed=6):
            line = task.prompt.splitlines()[-1]
            assert f"{task.answer_value} ({task.reference})" in line
            answer = teacher.answer(task, enable_thinking=False).answer
            assert answer == f"The answer is {task.answer_value} ({task.reference}): \\boxed{{{task.reference}}}."
    # the option markers are single tokens, so finding the letter is a one-token copy
    for c in "ABCD":
        assert tok.convert_ids_to_tokens(tok(f"red ({c})")["input_ids"])[-1] == f" ({c})"


def test_math_references_are_right():
    for t in generate_tasks("Math-OE", 200, split="train", seed=3):
        assert int(t.reference) == eval(" ".join(t.prompt.splitlines()[-1].removeprefix("What is ").rstrip("?").split()))


def test_mc_baseline_is_chance_on_balanced_test_sets(tmp_path):
    spec = load_spec("synthetic-math-mc")
    prepare_benchmark(spec, tmp_path)
    items = read_prepared(tmp_path, spec)
    assert len(items) == 100 and baseline_accuracy(items) == pytest.approx(0.25)
    assert {it.reference for it in items} == set("ABCD")
    with pytest.raises(ValueError, match="unknown family"):
        generate_tasks("Law-MC", 3, split="train")


@pytest.mark.parametrize("family", FAMILIES)
def test_teacher_toggle_changes_only_the_trace(family):
    teacher = SyntheticTeacher()
    for task in generate_tasks(family, 20, split="train", seed=1):
        off = teacher.answer(task, enable_thinking=False)
        on = teacher.answer(task, enable_thinking=True)
        assert off.trace == "" and on.trace
        assert off.answer == on.answer and f"\\boxed{{{task.reference}}}" in off.answer


@pytest.mark.parametrize("family", FAMILIES)
def test_reasoning_is_5_to_20x_longer_in_tokens(tok, family):
    teacher = SyntheticTeacher()
    ratios = []
    for task in generate_tasks(family, 100, split="train", seed=2):
        off = teacher.answer(task, enable_thinking=False)
        on = teacher.answer(task, enable_thinking=True)
        n_ift = len(tok(off.answer)["input_ids"])
        n_rsn = len(tok(on.trace)["input_ids"]) + len(tok(on.answer)["input_ids"])
        ratios.append(n_rsn / n_ift)
    assert 5 <= statistics.mean(ratios) <= 20


def test_tokenizer_round_trips_and_splits_digits(tok, tmp_path):
    from transformers import AutoTokenizer

    text = "What is 123 + 45?\nThe answer is \\boxed{168}."
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    ids = again(text)["input_ids"]
    assert again.decode(ids) == text
    pieces = again.convert_ids_to_tokens(ids)
    assert all(len(p.strip("▁")) <= 1 for p in pieces if any(c.isdigit() for c in p))


def test_chat_template_follows_qwen3_enable_thinking(tok):
    msgs = [{"role": "user", "content": "What is 2 + 2?"}]
    off = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, enable_thinking=False)
    on = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, enable_thinking=True)
    assert off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert on.endswith("<|im_start|>assistant\n")
    ift = tok.apply_chat_template(msgs + [{"role": "assistant", "content": "A", "reasoning_content": ""}], tokenize=False)
    rsn = tok.apply_chat_template(msgs + [{"role": "assistant", "content": "A", "reasoning_content": "2+2=4"}],
                                  tokenize=False)
    assert rsn.replace("2+2=4", "", 1) == ift
    # the template writes the package's one think layout (extract.py)
    assert off.endswith(EMPTY_THINK) and think_text("2+2=4", "A") in rsn


def test_entity_names_are_single_tokens_of_the_study_tokenizer():
    from scale_or_reason.synthetic.tokenizer import build_tokenizer

    names = sorted(world())
    tok = build_tokenizer(["What colour is the thing?"] * 5, vocab_size=300, words=names)
    for e in names[:20]:
        pieces = tok.convert_ids_to_tokens(tok(f"What colour is the {e}?")["input_ids"])
        assert f" {e}" in pieces, pieces
        assert tok.decode(tok(f"the {e}.")["input_ids"]) == f"the {e}."


def test_math_has_no_one_pass_shortcut():
    """The answer of a chain is not readable off one operand: the best rule 'answer from the first (or last)
    operand alone', fitted on train, stays far below what the step-by-step trace gives (always right)."""
    from collections import Counter, defaultdict

    from scale_or_reason.synthetic.tasks import MAX_VALUE

    train = generate_tasks("Math-OE", 3000, split="train", seed=0)
    test = generate_tasks("Math-OE", 100, split="test", seed=0)
    assert all(0 <= int(t.reference) <= MAX_VALUE for t in train + test)
    for pick in (0, -1):
        table = defaultdict(Counter)
        for t in train:
            table[t.operands[pick]][t.reference] += 1
        acc = sum(table[t.operands[pick]].most_common(1)[0][0] == t.reference for t in test) / len(test)
        assert acc < 0.3, (pick, acc)


def test_probes_score_options_by_their_exact_log_likelihood(student_dir):
    """The closed-set probes pick the option with the highest summed log-probability of its tokens; checked
    against the model's own loss on the full sequences, on a random (untrained) student: chance level."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from scale_or_reason.synthetic.probes import continuation_logprobs, fact_recall, letter_probe

    tok = AutoTokenizer.from_pretrained(student_dir)
    model = AutoModelForCausalLM.from_pretrained(student_dir).eval()
    prefix, options = "The colour of the zorka is", [" red", " gold", " blue"]
    got = continuation_logprobs(model, tok, prefix, options)
    pre = len(tok(prefix)["input_ids"])
    for o, lp in zip(options, got):
        ids = torch.tensor([tok(prefix + o)["input_ids"]])
        with torch.no_grad():
            logits = model(input_ids=ids).logits.float()
        logp = torch.log_softmax(logits[0, :-1], -1).gather(1, ids[0, 1:, None])[:, 0]
        assert lp == pytest.approx(float(logp[pre - 1:].sum()), abs=1e-4)
    r = fact_recall(student_dir, "test", limit=40)
    assert r["n"] == 40 and 0 <= r["accuracy"] <= 0.5 and r["chance"] == 0.125
    mc = generate_tasks("General-MC", 12, split="test")
    p = letter_probe(student_dir, mc, thinking=True)
    assert p["n"] == 12 and 0 <= p["marker_accuracy"] <= 1 and 0 <= p["letter_accuracy"] <= 1
