"""Arms and the think-aware rendering of training samples."""

import pytest

from scale_or_reason.data import Arm, build_arm, render
from scale_or_reason.synthetic.tasks import generate_tasks
from scale_or_reason.synthetic.teacher import SyntheticTeacher
from scale_or_reason.synthetic.tokenizer import build_tokenizer
from scale_or_reason.teacher import generate_pairs


@pytest.fixture(scope="module")
def pairs():
    tasks = generate_tasks("Math-OE", 40, split="train") + generate_tasks("General-MC", 40, split="train")
    return generate_pairs(tasks, SyntheticTeacher())


@pytest.fixture(scope="module")
def tok(pairs):
    return build_tokenizer([p.prompt for p in pairs] + [p.reasoning_trace for p in pairs] + ["user assistant"] * 9,
                           vocab_size=300)


def test_arm_parsing():
    assert Arm.parse("ift") == Arm("ift", 0.0)
    assert Arm.parse("sequential:0.25").name == "sequential:0.25"
    assert Arm.parse("mixed:50%").rho == 0.5
    for bad in ("sequential", "mixed:1.5", "curriculum:0.5", "mixed:abc"):
        with pytest.raises(ValueError, match="arm"):
            Arm.parse(bad)


def test_arms_have_equal_sample_counts_and_the_same_prompts(pairs):
    arms = [Arm.parse(a) for a in ("ift", "reasoning", "sequential:0.25", "mixed:0.75")]
    built = {a.name: build_arm(pairs, a, 64, seed=0) for a in arms}
    assert {len(v) for v in built.values()} == {64}
    ids = {a: sorted(p.prompt_id for p, _ in v) for a, v in built.items()}
    assert all(v == ids["ift"] for v in ids.values())
    seq = [f for _, f in built["sequential:0.25"]]
    assert seq == ["ift"] * 48 + ["reasoning"] * 16
    assert [f for _, f in built["mixed:0.75"]].count("reasoning") == 48
    # sequential:0 is the IFT arm and sequential:1 the reasoning arm, sample for sample
    assert build_arm(pairs, Arm.parse("sequential:0"), 64) == built["ift"]
    assert build_arm(pairs, Arm.parse("sequential:1"), 64) == built["reasoning"]
    with pytest.raises(ValueError, match="asks for 999"):
        build_arm(pairs, arms[0], 999)


def test_ift_and_reasoning_renderings_differ_only_in_the_reasoning_text(pairs, tok):
    for pair in pairs:
        p_ift, c_ift = render(tok, pair, "ift")
        p_rsn, c_rsn = render(tok, pair, "reasoning")
        assert (p_rsn + c_rsn).replace(pair.reasoning_trace, "", 1) == p_ift + c_ift
        # the IFT's empty think block is in the prompt (no loss), the reasoning trace is in the completion
        assert p_ift.endswith("<think>\n\n</think>\n\n") and c_rsn.startswith("<think>\n")
        assert c_ift.endswith(tok.eos_token) and c_rsn.endswith(tok.eos_token)
    with pytest.raises(ValueError, match=pairs[0].prompt_id):
        render(tok, pairs[0], "cot")


def test_a_source_system_prompt_is_rendered_in_both_formats(pairs, tok):
    import dataclasses

    pair = dataclasses.replace(pairs[0], system="You are terse.")
    for fmt in ("ift", "reasoning"):
        prompt, _ = render(tok, pair, fmt)
        plain, _ = render(tok, pairs[0], fmt)
        assert "You are terse." in prompt and "You are terse." not in plain
        assert prompt.index("You are terse.") < prompt.index(pair.prompt)
    p_ift, c_ift = render(tok, pair, "ift")
    p_rsn, c_rsn = render(tok, pair, "reasoning")
    assert (p_rsn + c_rsn).replace(pair.reasoning_trace, "", 1) == p_ift + c_ift


def test_empty_think_in_completion_keeps_the_same_text(pairs, tok):
    for pair in pairs[:10]:
        a = render(tok, pair, "ift", empty_think="prompt")
        b = render(tok, pair, "ift", empty_think="completion")
        assert a[0] + a[1] == b[0] + b[1]
        assert b[1].startswith("<think>\n\n</think>\n\n") and b[0].endswith("<|im_start|>assistant\n")
        # with the block in the completion, the IFT and reasoning prompts are the same string
        assert b[0] == render(tok, pair, "reasoning")[0]


# A ChatML template with no reasoning switch, as Qwen2.5 and SmolLM2 ship (they ignore enable_thinking).
CHATML = ("{%- for m in messages %}{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{%- endfor %}"
          "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")


def test_a_student_template_without_a_switch_gets_one_and_every_arm_renders(pairs, tok):
    import copy

    from scale_or_reason.data import THINK_SWITCH, add_think_switch, template_thinks

    plain = copy.deepcopy(tok)
    plain.chat_template = CHATML
    assert not template_thinks(plain)
    with pytest.raises(ValueError, match="empty think block"):    # what a curriculum hit before
        render(plain, pairs[0], "ift", empty_think="completion")
    assert add_think_switch(plain) and plain.chat_template == CHATML + THINK_SWITCH
    assert not add_think_switch(plain) and not add_think_switch(tok)   # already thinking: left alone
    for pair in pairs[:10]:
        p_ift, c_ift = render(plain, pair, "ift")
        p_rsn, c_rsn = render(plain, pair, "reasoning")
        assert p_ift.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
        assert (p_rsn + c_rsn).replace(pair.reasoning_trace, "", 1) == p_ift + c_ift
        # the same text as the Qwen3-style template gives, for every format and placement
        for fmt, where in (("ift", "prompt"), ("ift", "completion"), ("reasoning", "prompt")):
            assert render(plain, pair, fmt, where) == render(tok, pair, fmt, where)


def test_curriculum_trains_on_a_student_without_a_switch(tiny_setup, tmp_path):
    from transformers import AutoTokenizer

    from scale_or_reason.data import template_thinks
    from scale_or_reason.train import StudentSpec, TrainConfig, train_student

    from tests.conftest import TINY_QWEN3

    tdir, tpairs = tiny_setup
    plain_dir = tmp_path / "plain-tok"
    t = AutoTokenizer.from_pretrained(tdir)
    t.chat_template = CHATML
    t.save_pretrained(plain_dir)
    samples = build_arm(tpairs, Arm.parse("sequential:0.5"), 32)
    ledger = train_student(StudentSpec(name="p", config=TINY_QWEN3), "sequential:0.5", samples, plain_dir,
                           tmp_path / "run", TrainConfig(learning_rate=1e-3, batch_size=32, micro_batch_size=16))
    assert ledger["samples"] == 32
    saved = AutoTokenizer.from_pretrained(tmp_path / "run")
    assert template_thinks(saved)                               # evaluation renders as training did


def test_the_renderer_gives_what_render_gives_and_falls_back_on_templates_that_touch_the_content(pairs, tok):
    import copy
    import dataclasses

    from scale_or_reason.data import ChatRenderer

    odd = [dataclasses.replace(pairs[0], prompt="  spaces around  \n"),
           dataclasses.replace(pairs[1], prompt="naïve — 你好 {{ x }} <|im_end|> </think>"),
           dataclasses.replace(pairs[2], system="You are terse."),
           dataclasses.replace(pairs[3], system="You are terse.", prompt="")]
    cases = list(pairs[:12]) + odd
    for empty_think in ("prompt", "completion"):
        rend = ChatRenderer(tok, empty_think=empty_think, check=2)
        for p in cases:
            for fmt in ("ift", "reasoning"):
                assert rend(p, fmt) == render(tok, p, fmt, empty_think), (p.prompt_id, fmt, empty_think)
        assert all(a is not None for a in rend._affix.values())  # this template passes content through
    # a template that strips the content: the sentinels show it, every pair goes through the template
    strip = copy.deepcopy(tok)
    strip.chat_template = tok.chat_template.replace("+ message['content'] +", "+ (message['content'] | trim) +")
    assert strip.chat_template != tok.chat_template
    rend = ChatRenderer(strip)
    for p in cases:
        assert rend(p, "reasoning") == render(strip, p, "reasoning")
    assert set(rend._affix.values()) == {None}
    # a template that branches on a word no sentinel has: caught while the first pairs are checked both ways
    branch = copy.deepcopy(tok)
    branch.chat_template = "{% if 'Zu' in messages[-1].content %}[zu]{% endif %}" + tok.chat_template
    rend = ChatRenderer(branch, check=16)
    zu = [p for p in pairs if "Zu" in p.prompt][:2]
    assert zu
    for p in cases[:3] + zu:
        assert rend(p, "ift") == render(branch, p, "ift")
    assert rend._affix[("ift", None)] is None  # the difference switched the key to the template for good
