"""Real (tiny) teachers: a Qwen3-architecture model trained here to answer two prompts in both modes,
run through the ``hf`` backend and served by ``transformers serve`` for the ``openai`` backend."""

import json
from pathlib import Path

import pytest

from scale_or_reason.teacher import GenerateConfig, generate, read_pairs
from scale_or_reason.teacher.summary import store_teacher_flops

PROMPTS = ["What is 3 + 4?", "What colour is the sky?"]
TRACES = ["3 plus 4 is 7.", "The sky is blue."]
ANSWERS = ["The answer is 7.", "The answer is blue."]
GREEDY = "temperature=0,top_p=none,top_k=none,min_p=none,max_tokens=48"


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    """Train a 2-layer Qwen3 model until it has memorised: reasoning on -> trace + answer, off -> answer."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from scale_or_reason.synthetic.tokenizer import build_tokenizer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: threads only add overhead
    try:
        tok = build_tokenizer(PROMPTS + TRACES + ANSWERS + ["user assistant system"] * 5, vocab_size=200)
        seqs = []
        for p, t, a in zip(PROMPTS, TRACES, ANSWERS):
            msgs = [{"role": "user", "content": p}]
            on = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, enable_thinking=True)
            off = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, enable_thinking=False)
            seqs += [(on, f"<think>\n{t}\n</think>\n\n{a}<|im_end|>"), (off, f"{a}<|im_end|>")]
        eos = tok.convert_tokens_to_ids("<|im_end|>")
        cfg = Qwen3Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=256,
                          tie_word_embeddings=True, eos_token_id=eos, pad_token_id=tok.pad_token_id, bos_token_id=None)
        torch.manual_seed(0)
        model = Qwen3ForCausalLM(cfg)
        data = []
        for prompt, completion in seqs:
            a = tok(prompt, add_special_tokens=False)["input_ids"]
            b = tok(completion, add_special_tokens=False)["input_ids"]
            data.append((torch.tensor([a + b]), torch.tensor([[-100] * len(a) + b])))
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        for _ in range(300):  # bounded: stops once every completion is memorised
            total = 0.0
            for ids, labels in data:
                loss = model(input_ids=ids, labels=labels).loss
                loss.backward()
                total += loss.item()
            opt.step()
            opt.zero_grad()
            if total < 0.01 * len(data):
                break
        model.generation_config.eos_token_id = eos
        model.generation_config.pad_token_id = tok.pad_token_id
        d = tmp_path_factory.mktemp("teacher")
        model.save_pretrained(d)
        tok.save_pretrained(d)
        return d
    finally:
        torch.set_num_threads(threads)


@pytest.fixture()
def prompts_file(tmp_path):
    f = tmp_path / "prompts.jsonl"
    f.write_text("".join(json.dumps({"prompt": p, "answer": a}) + "\n" for p, a in zip(PROMPTS, ANSWERS)))
    return f


def _check_pairs(out: Path, teacher: str):
    pairs = sorted(read_pairs(out), key=lambda p: PROMPTS.index(p.prompt))
    assert [p.reasoning_trace for p in pairs] == TRACES
    assert [p.reasoning_answer for p in pairs] == ANSWERS
    assert [p.ift_answer for p in pairs] == ANSWERS
    for p in pairs:
        assert p.teacher == teacher and p.profile == "qwen3" and not p.ift_trace
        assert not (p.truncated or p.empty_answer or p.toggle_ignored)
        assert p.prompt_tokens > 0 and p.ift_prompt_tokens > p.prompt_tokens  # the empty think block
        assert p.trace_tokens > 0 and p.reasoning_completion_tokens > p.ift_completion_tokens > 0
        assert p.teacher_flops > 0 and p.teacher_flops_convention == "exact"
        assert p.sampling["reasoning"]["temperature"] == 0
    return pairs


def test_hf_backend_pairs_from_a_local_checkpoint(teacher_dir, prompts_file, tmp_path):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = GenerateConfig(source=str(prompts_file), out=tmp_path / "pairs", backend="hf", model=str(teacher_dir),
                             reference_field="answer", sampling_ift=GREEDY, sampling_reasoning=GREEDY, batch_size=2,
                             flops_convention="exact", progress=False)
        s = generate(cfg)
        assert s["pairs"] == 2 and s["teacher_flops"] > 0
        # the recorded FLOPs are the ledger's teacher_flops of both modes, recomputable under any convention
        assert store_teacher_flops(tmp_path / "pairs", teacher_dir, "exact") == pytest.approx(s["teacher_flops"])
        assert store_teacher_flops(tmp_path / "pairs", teacher_dir, "paper") > 0
        pairs = _check_pairs(tmp_path / "pairs", teacher_dir.name)
        assert pairs[0].reasoning_text == f"<think>\n{TRACES[0]}\n</think>\n\n{ANSWERS[0]}"
        assert pairs[0].reference == ANSWERS[0] and pairs[0].token_counts_exact
        # a token cap inside the trace: flagged truncated (no closing tag) and empty answer, not dropped
        short = cfg.replace(out=tmp_path / "short", sampling_reasoning=GREEDY.replace("48", "4"))
        s = generate(short)
        assert s["pairs"] == 2 and s["flagged"]["truncated"] == 2 and s["flagged"]["empty_answer"] == 2
        p = read_pairs(tmp_path / "short")[0]
        assert p.reasoning_finish_reason == "length" and p.reasoning_answer == "" and p.reasoning_trace
    finally:
        torch.set_num_threads(threads)


@pytest.fixture()
def served(teacher_dir, tmp_path):
    """``transformers serve`` on loopback, serving the tiny teacher; stopped (process group) afterwards."""
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    from scale_or_reason.teacher.serve import local_server, transformers_cli

    if not transformers_cli():
        pytest.skip("the transformers CLI is not installed")
    try:
        with local_server(teacher_dir, log=tmp_path / "serve.log", timeout_s=90) as url:
            yield url
    except RuntimeError as e:
        pytest.fail(str(e))


def test_openai_backend_against_transformers_serve(served, teacher_dir, prompts_file, tmp_path):
    # transformers serve answers 422 to fields it does not know (top_k, min_p): GREEDY leaves them out
    cfg = GenerateConfig(source=str(prompts_file), out=tmp_path / "pairs", backend="openai", model=str(teacher_dir),
                         teacher="tiny-qwen3", base_url=served, profile="qwen3", tokenizer=str(teacher_dir),
                         teacher_config=str(teacher_dir), flops_convention="exact", sampling_ift=GREEDY,
                         sampling_reasoning=GREEDY, concurrency=2, timeout_s=60, max_retries=1, progress=False)
    s = generate(cfg)
    assert s["pairs"] == 2 and s["pending_failures"] == 0, s
    pairs = _check_pairs(tmp_path / "pairs", "tiny-qwen3")
    # usage-based counts: the reasoning completion includes the tags and the end-of-turn token
    assert all(p.reasoning_completion_tokens > p.trace_tokens + p.reasoning_answer_tokens for p in pairs)
    assert all(p.token_counts_exact for p in pairs)  # trace/answer counted with --tokenizer


def test_greedy_decoding_gives_what_generate_gives_each_prompt_alone(student_dir, tmp_path):
    """The hf back end's greedy loop (length-sorted chunked prefill, one joined cache, finished rows leaving the
    batch) produces, for every prompt, the tokens ``generate`` produces for that prompt alone, up to its end."""
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    from scale_or_reason.teacher.backends import HFBackend
    from scale_or_reason.teacher.profiles import SamplingParams, get_profile

    tok = AutoTokenizer.from_pretrained(student_dir)
    torch.manual_seed(0)  # large initial weights: continuations that vary token by token
    cfg = Qwen3Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=16, initializer_range=0.5,
                      tie_word_embeddings=False, pad_token_id=tok.pad_token_id, bos_token_id=None)
    Qwen3ForCausalLM(cfg).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    sp = SamplingParams(temperature=0, max_tokens=12)
    be = HFBackend(tmp_path / "m", get_profile("qwen3"), {"ift": sp, "reasoning": sp}, batch_size=8)
    torch.manual_seed(1)
    prompts = sorted(([int(t) for t in torch.randint(5, len(be.tokenizer), (n,))] for n in (3, 5, 9, 9, 14, 20, 31)),
                     key=len)

    def alone(p, eos):
        out = be.model.generate(torch.tensor([p]), attention_mask=torch.ones(1, len(p), dtype=torch.long),
                                max_new_tokens=12, do_sample=False, temperature=None, top_p=None, top_k=None,
                                eos_token_id=eos, pad_token_id=be.tokenizer.pad_token_id)
        g = out[0, len(p):].tolist()
        stop = next((k for k, t in enumerate(g) if t in eos), None)
        return g if stop is None else g[:stop + 1]

    free = [alone(p, [0]) for p in prompts]

    def stops(eos):
        return [next((k + 1 for k, t in enumerate(g) if t in eos), len(g)) for g in free]

    # the end token chosen among those the rows produce, so that rows stop at the most different steps
    be.eos_ids = [max({t for g in free for t in g}, key=lambda t: len(set(stops([t]))))]
    ref = [alone(p, be.eos_ids) for p in prompts]
    assert len({len(r) for r in ref}) >= 3, free
    with torch.no_grad():
        for budget in (4096, 40):  # one prefill chunk, and chunks of a few prompts each
            assert be.greedy(prompts, 12, prefill_tokens=budget) == ref
