"""Toggle profiles: each renders the right prompt on and off (on chat templates saved here), splits at
the last closing tag, and non-hybrid teachers are refused."""

import pytest

from scale_or_reason.teacher.profiles import (
    NonHybridTeacherError,
    SamplingParams,
    check_hybrid,
    custom_profile,
    detect_profile,
    get_profile,
)

# Chat templates written for the test, in the style of each family's own.
QWEN3 = (
    "{%- for m in messages %}{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    "{%- endif %}"
)
DEEPSEEK_V31 = (
    "{%- for m in messages %}{%- if m.role == 'user' %}{{- '<｜User｜>' + m.content }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<｜Assistant｜>' }}"
    "{%- if thinking is defined and thinking %}{{- '<think>' }}{%- else %}{{- '</think>' }}{%- endif %}{%- endif %}"
)
GPT_OSS = (
    "{{- '<|start|>system<|message|>Reasoning: ' + (reasoning_effort | default('medium')) + '<|end|>' }}"
    "{%- for m in messages %}{{- '<|start|>' + m.role + '<|message|>' + m.content + '<|end|>' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start|>assistant' }}{%- endif %}"
)
CUSTOM = (
    "{%- for m in messages %}{{- m.role + ': ' + m.content + '\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- 'assistant:' }}"
    "{%- if mode == 'deep' %}{{- ' <reasoning>' }}{%- endif %}{%- endif %}"
)
QWEN3_2507_INSTRUCT = (  # no toggle: the kwarg is ignored
    "{%- for m in messages %}{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
QWEN3_2507_THINKING = QWEN3_2507_INSTRUCT.replace("assistant\\n' }}", "assistant\\n<think>\\n' }}")

MSG = [{"role": "user", "content": "What is 3 + 4?"}]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Load a tokenizer saved with ``template``: what a checkpoint directory gives the backends."""
    from transformers import AutoTokenizer

    from scale_or_reason.synthetic.tokenizer import build_tokenizer

    base = build_tokenizer(["What is 3 + 4? user assistant system"] * 4, vocab_size=120)

    def load(template: str):
        d = tmp_path_factory.mktemp("tpl")
        base.chat_template = template
        base.save_pretrained(d)
        tok = AutoTokenizer.from_pretrained(d)
        assert tok.chat_template == template
        return tok

    return load


def test_qwen3_renders_empty_think_block_off_and_open_turn_on(saved):
    tok, p = saved(QWEN3), get_profile("qwen3")
    assert p.template_kwargs(False) == {"enable_thinking": False}
    assert p.render(tok, MSG, False).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert p.render(tok, MSG, True).endswith("<|im_start|>assistant\n")
    check_hybrid("Qwen/Qwen3-8B", p, tok)


def test_deepseek_v31_thinking_kwarg(saved):
    tok, p = saved(DEEPSEEK_V31), get_profile("deepseek-v3.1")
    assert p.render(tok, MSG, True).endswith("<｜Assistant｜><think>")
    assert p.render(tok, MSG, False).endswith("<｜Assistant｜></think>")
    check_hybrid("deepseek-ai/DeepSeek-V3.1", p, tok)
    # the prompt opened the trace: an output without a closing tag is an unfinished trace
    s = p.split("Let me add 3 and 4")
    assert (s.trace, s.answer, s.closed) == ("Let me add 3 and 4", "", False)
    s = p.split("3 + 4 = 7.</think>The answer is 7.")
    assert (s.trace, s.answer, s.closed) == ("3 + 4 = 7.", "The answer is 7.", True)
    assert p.split("The answer is 7.", opened=False).answer == "The answer is 7."


def test_gpt_oss_reasoning_effort_and_harmony_split(saved):
    tok, p = saved(GPT_OSS), get_profile("gpt-oss")
    assert "Reasoning: low" in p.render(tok, MSG, False)
    assert "Reasoning: high" in p.render(tok, MSG, True)
    assert p.off_has_trace and "not" in p.note  # "low" is not off, and the profile says so
    check_hybrid("openai/gpt-oss-20b", p, tok)
    out = "<|channel|>analysis<|message|>Add them.<|end|><|start|>assistant<|channel|>final<|message|>7"
    s = p.split(out)
    assert (s.trace, s.answer, s.closed) == ("Add them.", "7", True)


def test_custom_profile_names_kwarg_values_and_tags(saved):
    tok = saved(CUSTOM)
    p = custom_profile("mode", on="deep", off="fast", think_open="<reasoning>", think_close="</reasoning>")
    assert p.render(tok, MSG, True).endswith("assistant: <reasoning>")
    assert p.render(tok, MSG, False).endswith("assistant:")
    check_hybrid("my-org/my-model", p, tok)
    s = p.split("<reasoning>a</reasoning>b</reasoning>\nfinal")  # split at the LAST closing tag
    assert (s.trace, s.answer) == ("a</reasoning>b", "final")
    assert custom_profile("enable_reasoning", "true", "false").on is True
    with pytest.raises(ValueError, match="both"):
        custom_profile("mode", "x", "x")


def test_split_at_last_think_close():
    p = get_profile("qwen3")
    s = p.split("<think>\nthe tag </think> can be quoted\n</think>\n\nfinal answer")
    assert (s.trace, s.answer, s.closed) == ("the tag </think> can be quoted", "final answer", True)
    s = p.split("<think>\nnever finished")
    assert (s.trace, s.answer, s.closed, s.tagged) == ("never finished", "", False, True)
    s = p.split("plain answer")
    assert (s.trace, s.answer, s.tagged) == ("", "plain answer", False)


@pytest.mark.parametrize("name", ["Qwen/Qwen3-30B-A3B-Instruct-2507", "Qwen/Qwen3-235B-A22B-Thinking-2507",
                                  "Qwen/QwQ-32B", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"])
def test_non_hybrid_teachers_refused_by_name(name):
    with pytest.raises(NonHybridTeacherError, match="not a hybrid"):
        check_hybrid(name)


@pytest.mark.parametrize("template", [QWEN3_2507_INSTRUCT, QWEN3_2507_THINKING])
def test_non_hybrid_template_refused(saved, template):
    tok = saved(template)
    with pytest.raises(NonHybridTeacherError, match="renders the same prompt"):
        check_hybrid("local/teacher", get_profile("qwen3"), tok)


def test_wrong_profile_for_template_refused(saved):
    with pytest.raises(NonHybridTeacherError):
        check_hybrid("local/teacher", get_profile("deepseek-v3.1"), saved(QWEN3))


def test_detect_and_sampling_defaults():
    assert detect_profile("Qwen/Qwen3-235B-A22B") == "qwen3"
    assert detect_profile("/ckpt", model_type="qwen3_moe") == "qwen3"
    assert detect_profile("deepseek-ai/DeepSeek-V3.1") == "deepseek-v3.1"
    assert detect_profile("openai/gpt-oss-120b") == "gpt-oss"
    assert detect_profile("/some/dir") is None
    q = get_profile("qwen3")
    assert (q.sampling_on.temperature, q.sampling_on.top_p, q.sampling_on.top_k) == (0.6, 0.95, 20)
    assert (q.sampling_off.temperature, q.sampling_off.top_p, q.sampling_off.top_k) == (0.7, 0.8, 20)
    sp = SamplingParams.parse("temperature=0,top_k=none,max_tokens=64", q.sampling_on)
    assert (sp.temperature, sp.top_k, sp.max_tokens, sp.top_p) == (0, None, 64, 0.95)
    with pytest.raises(ValueError, match="unknown sampling"):
        SamplingParams.parse("temprature=1", q.sampling_on)
    with pytest.raises(ValueError, match="unknown toggle profile"):
        get_profile("qwen4")


# ---- teachers switched by system prompt (Nemotron v1.5 /think, Llama-Nemotron v1, SmolLM3) ----------

LLAMA_NEMOTRON = (  # system turn first, as Llama 3 templates lay it out
    "{{- '<|begin_of_text|>' }}"
    "{%- for m in messages %}{{- '<|start_header_id|>' + m.role + '<|end_header_id|>\\n\\n' + m.content + '<|eot_id|>' }}"
    "{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)
NO_SYSTEM = (  # a template that drops system turns: a system-prompt switch cannot reach the model
    "{%- for m in messages %}{%- if m.role != 'system' %}{{- m.role + ': ' + m.content + '\\n' }}{%- endif %}"
    "{%- endfor %}{%- if add_generation_prompt %}{{- 'assistant:' }}{%- endif %}"
)


@pytest.mark.parametrize("name,off,on", [("nemotron-v1.5", "/no_think", "/think"),
                                         ("nemotron-v1", "detailed thinking off", "detailed thinking on"),
                                         ("smollm3", "/no_think", "/think")])
def test_system_prompt_profiles_put_the_switch_in_the_system_turn(saved, name, off, on):
    p = get_profile(name)
    assert p.template_kwargs(True) == {} and p.template_kwargs(False) == {}
    assert p.messages(MSG, False) == [{"role": "system", "content": off}, *MSG]
    assert p.messages(MSG, True)[0] == {"role": "system", "content": on}
    own = [{"role": "system", "content": "You are terse."}, *MSG]
    assert p.messages(own, False) == [{"role": "system", "content": f"{off}\nYou are terse."}, *MSG]
    assert own[0]["content"] == "You are terse."              # the caller's messages are not changed
    tok = saved(LLAMA_NEMOTRON)
    r_off, r_on = p.render(tok, MSG, False), p.render(tok, MSG, True)
    assert f"system<|end_header_id|>\n\n{off}<|eot_id|>" in r_off and f"\n\n{on}<|eot_id|>" in r_on
    assert r_off.replace(off, on) == r_on                     # nothing else differs between the modes
    check_hybrid("nvidia/some-teacher", p, tok)               # the switch reaches the rendered prompt
    with pytest.raises(NonHybridTeacherError, match="system prompt"):
        check_hybrid("local/teacher", p, saved(NO_SYSTEM))


def test_system_profiles_are_detected_and_sent_without_template_kwargs():
    from scale_or_reason.teacher.backends import Job
    from scale_or_reason.teacher.openai_backend import OpenAIBackend
    from scale_or_reason.teacher.sources import PromptItem

    assert detect_profile("nvidia/Llama-3_3-Nemotron-Super-49B-v1_5") == "nemotron-v1.5"
    assert detect_profile("nvidia/Llama-3_1-Nemotron-Ultra-253B-v1") == "nemotron-v1"
    assert detect_profile("HuggingFaceTB/SmolLM3-3B") == "smollm3"
    p = get_profile("nemotron-v1.5")
    assert (p.sampling_off.temperature, p.sampling_on.temperature, p.sampling_on.top_p) == (0.0, 0.6, 0.95)
    be = OpenAIBackend("nvidia/Llama-3_3-Nemotron-Super-49B-v1_5", p, base_url="http://127.0.0.1:1/v1")
    item = PromptItem("p1", "What is 3 + 4?")
    on, off = be.request_kwargs(Job(item, "reasoning")), be.request_kwargs(Job(item, "ift"))
    assert on["messages"][0] == {"role": "system", "content": "/think"}
    assert off["messages"] == [{"role": "system", "content": "/no_think"}, {"role": "user", "content": "What is 3 + 4?"}]
    assert "chat_template_kwargs" not in on.get("extra_body", {}) and "chat_template_kwargs" not in off.get("extra_body", {})


def test_custom_system_prompt_profile(saved):
    from scale_or_reason.teacher.config import GenerateConfig
    from scale_or_reason.teacher.runner import resolve_profile

    p = custom_profile(None, system_on="think hard", system_off="answer directly")
    assert p.kwarg == "" and p.messages(MSG, True)[0]["content"] == "think hard"
    check_hybrid("local/teacher", p, saved(LLAMA_NEMOTRON))
    both = custom_profile("enable_thinking", "true", "false", system_on="/think", system_off="/no_think")
    assert both.template_kwargs(False) == {"enable_thinking": False} and both.messages(MSG, False)[0]["content"] == "/no_think"
    with pytest.raises(ValueError, match="give a toggle kwarg, or system-prompt texts"):
        custom_profile(None)
    with pytest.raises(ValueError, match="system texts of both modes"):
        custom_profile(None, system_on="x", system_off="x")
    cfg = GenerateConfig(source="p.jsonl", profile="custom", toggle_system_on="/think", toggle_system_off="/no_think")
    r = resolve_profile(cfg)
    assert (r.system_on, r.system_off, r.kwarg) == ("/think", "/no_think", "")
    with pytest.raises(ValueError, match="--toggle-system-on"):
        resolve_profile(GenerateConfig(source="p.jsonl", profile="custom"))
