"""The compute ledger against the models it describes.

The invariant: ``exact`` FLOPs agree with ``torch.utils.flop_counter.FlopCounterMode`` on tiny models of
every supported family (training step and cached decode step), and ``Architecture.parameters`` equals
``model.num_parameters()``. Models run with eager attention (under SDPA the counter sees no attention) and
eager MoE experts (the default grouped-mm kernel is invisible to the counter).
"""

from __future__ import annotations

import json

import pytest

from scale_or_reason.flops import (
    CONVENTIONS,
    Architecture,
    FlopsLedger,
    LoRA,
    decode_step_flops,
    forward_flops,
    inference_flops,
    lora_parameters,
    prefill_flops,
    train_flops,
)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from transformers import AutoConfig, AutoModelForCausalLM  # noqa: E402

SEQ = 32
BASE = dict(
    vocab_size=128,
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    intermediate_size=96,
)
TINY: dict[str, dict] = {
    "qwen2": dict(model_type="qwen2", **BASE, tie_word_embeddings=False),
    "qwen3": dict(model_type="qwen3", **BASE, head_dim=24, tie_word_embeddings=True),
    "qwen3_moe": dict(
        model_type="qwen3_moe", **BASE, head_dim=16, num_experts=4, num_experts_per_tok=2,
        moe_intermediate_size=32, mlp_only_layers=[1], tie_word_embeddings=False,
    ),
    "qwen2_moe": dict(
        model_type="qwen2_moe", **BASE, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
        shared_expert_intermediate_size=48, tie_word_embeddings=False,
    ),
    "llama": dict(model_type="llama", **BASE, attention_bias=True, mlp_bias=True, tie_word_embeddings=True),
    "mistral": dict(model_type="mistral", **BASE, sliding_window=8, tie_word_embeddings=False),
    "mixtral": dict(
        model_type="mixtral", **BASE, num_local_experts=4, num_experts_per_tok=2, sliding_window=None,
        tie_word_embeddings=False,
    ),
    "gemma2": dict(model_type="gemma2", **BASE, head_dim=16, sliding_window=8),
    "gemma3_text": dict(
        model_type="gemma3_text", **BASE, head_dim=16, sliding_window=8,
        layer_types=["sliding_attention", "full_attention"],
    ),
    "gpt2": dict(model_type="gpt2", vocab_size=128, n_embd=64, n_layer=2, n_head=4, n_positions=64,
                 bos_token_id=0, eos_token_id=0),
}


def _config(name: str):
    d = dict(TINY[name])
    return AutoConfig.for_model(d.pop("model_type"), **d)


def _model(name: str):
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(
        _config(name), attn_implementation="eager", experts_implementation="eager"
    )
    return model.float().eval()


def _count(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def _close(got: float, want: float, rel: float = 0.02) -> None:
    assert want > 0
    assert abs(got - want) <= rel * want, f"measured {want:,} vs formula {got:,.0f} ({got / want - 1:+.3%})"


# ---- parameters ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TINY))
def test_parameters_match_hf_models(name):
    config = _config(name)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    arch = Architecture.from_config(config)
    assert arch.parameters == model.num_parameters()
    embeddings = model.get_input_embeddings().weight.numel()
    if not arch.tie_embeddings:
        embeddings += model.get_output_embeddings().weight.numel()
    if name == "gpt2":
        embeddings += model.transformer.wpe.weight.numel()
    assert arch.non_embedding_parameters == model.num_parameters() - embeddings
    # the dict form (what a config.json holds) reads the same
    assert Architecture.from_config(TINY[name]) == arch


def test_tied_and_untied_embeddings():
    tied = Architecture.from_config({**TINY["qwen2"], "tie_word_embeddings": True})
    untied = Architecture.from_config(TINY["qwen2"])
    assert untied.parameters - tied.parameters == 128 * 64
    assert untied.non_embedding_parameters == tied.non_embedding_parameters


@pytest.mark.parametrize(
    "size, config, expected",
    [
        # Qwen2.5-0.5B (tied) and -7B (untied): shapes of the public config.json files.
        ("0.5B", dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                      num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True), 494_032_768),
        ("7B", dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                    num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False), 7_615_616_512),
    ],
)
def test_real_size_parameters_on_meta(size, config, expected):
    cfg = AutoConfig.for_model("qwen2", **config)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    arch = Architecture.from_config(cfg)
    assert arch.parameters == model.num_parameters() == expected


def test_moe_active_parameters():
    arch = Architecture.from_config(TINY["qwen3_moe"])
    assert arch.num_moe_layers == 1 and arch.dense_layers == (1,)
    expert = 3 * 64 * 32
    assert arch.parameters - arch.active_parameters == (4 - 2) * expert
    dense = Architecture.from_config(TINY["qwen2"])
    assert dense.active_parameters == dense.parameters


def test_gemma3_nested_text_config_and_paths(tmp_path):
    text = {k: v for k, v in TINY["gemma3_text"].items() if k != "model_type"}
    nested = {"model_type": "gemma3", "text_config": text}
    assert Architecture.from_config(nested) == Architecture.from_config(TINY["gemma3_text"])
    assert Architecture.from_config(AutoConfig.for_model("gemma3", text_config=text)) == Architecture.from_config(
        TINY["gemma3_text"]
    )
    (tmp_path / "config.json").write_text(json.dumps(TINY["qwen3"]))
    arch = Architecture.from_config(TINY["qwen3"])
    assert Architecture.from_config(tmp_path) == arch
    assert Architecture.from_config(str(tmp_path / "config.json")) == arch
    assert Architecture.from_config(json.loads(json.dumps(arch.to_dict()))) == arch


def test_errors_name_the_field():
    with pytest.raises(ValueError, match="model_type"):
        Architecture.from_config({"model_type": "bert", "hidden_size": 64})
    generic = {k: v for k, v in TINY["qwen2"].items() if k not in ("model_type", "hidden_size")}
    with pytest.raises(ValueError, match="hidden_size"):
        Architecture.from_config(generic)
    with pytest.raises(ValueError, match="convention"):
        forward_flops(Architecture.from_config(TINY["qwen2"]), 8, "chinchilla")
    with pytest.raises(ValueError, match="target_modules"):
        train_flops(Architecture.from_config(TINY["gpt2"]), [8], "exact", lora=LoRA(4, ("q_proj",)))


# ---- exact == FlopCounterMode --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TINY))
def test_exact_training_step_matches_flop_counter(name):
    model = _model(name)
    model.train()
    ids = torch.randint(0, 128, (1, SEQ), generator=torch.Generator().manual_seed(1))

    def step():
        model(input_ids=ids, labels=ids).loss.backward()

    measured = _count(step)
    arch = Architecture.from_config(model.config)
    _close(train_flops(arch, [SEQ], "exact"), measured)


@pytest.mark.parametrize("name", sorted(TINY))
def test_exact_cached_decode_step_matches_flop_counter(name):
    model = _model(name)
    ids = torch.randint(0, 128, (1, SEQ), generator=torch.Generator().manual_seed(2))
    arch = Architecture.from_config(model.config)
    with torch.no_grad():
        cache = model(input_ids=ids[:, :-1], use_cache=True).past_key_values
        measured = _count(lambda: model(input_ids=ids[:, -1:], cache=cache, use_cache=True))
        # context = SEQ keys: the SEQ-1 cached ones plus the new token (sliding layers see their window)
        _close(decode_step_flops(arch, SEQ, "exact"), measured)
        prefill = _count(lambda: model(input_ids=ids, use_cache=True, logits_to_keep=1))
        _close(prefill_flops(arch, SEQ, "exact"), prefill)


def test_exact_generate_matches_inference_flops():
    model = _model("qwen2")
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    prompt, new = 12, 6
    ids = torch.randint(1, 128, (1, prompt), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        measured = _count(
            lambda: model.generate(ids, max_new_tokens=new, min_new_tokens=new, do_sample=False)
        )
    arch = Architecture.from_config(model.config)
    _close(inference_flops(arch, prompt, new, "exact"), measured)


def test_exact_lora_matches_flop_counter():
    model = _model("llama")
    model.train()
    targets, rank = ("q_proj", "v_proj", "down_proj"), 4

    class LoraLinear(torch.nn.Module):
        def __init__(self, base: torch.nn.Linear):
            super().__init__()
            self.base = base
            self.a = torch.nn.Linear(base.in_features, rank, bias=False)
            self.b = torch.nn.Linear(rank, base.out_features, bias=False)

        def forward(self, x):
            return self.base(x) + self.b(self.a(x)) * 2.0

    for p in model.parameters():
        p.requires_grad_(False)
    for layer in model.model.layers:
        for parent, attr in ((layer.self_attn, "q_proj"), (layer.self_attn, "v_proj"), (layer.mlp, "down_proj")):
            setattr(parent, attr, LoraLinear(getattr(parent, attr)))
    model.enable_input_require_grads()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    ids = torch.randint(0, 128, (1, SEQ), generator=torch.Generator().manual_seed(4))
    measured = _count(lambda: model(input_ids=ids, labels=ids).loss.backward())

    arch = Architecture.from_config(model.config)
    lora = LoRA(rank, targets)
    assert lora_parameters(arch, lora) == trainable
    _close(train_flops(arch, [SEQ], "exact", lora={"r": rank, "target_modules": list(targets)}), measured)
    assert train_flops(arch, [SEQ], "exact", lora=lora) < train_flops(arch, [SEQ], "exact")


# ---- paper convention -----------------------------------------------------------------------------

TOY = Architecture(
    vocab_size=10, hidden_size=4, num_layers=2, num_heads=2, num_kv_heads=2, head_dim=2,
    intermediate_size=8, ffn_matrices=3, tie_embeddings=True,
)


def test_paper_formula_by_hand():
    # l=3: 2·3·10·4 = 240 (embeddings); per layer 6·3·16 + 2·9·4 + 3·9·2 + 2·9·4 + 2·3·16 = 582, x2 = 1164;
    # FFN 2·4·3·4·8 = 768; logits 240.  Total 2412; training 3 x 2412.
    assert forward_flops(TOY, 3, "paper") == 2412
    assert train_flops(TOY, [3], "paper") == 3 * 2412
    # inference l_p=3, l_g=2: prefill 240 + 1164 + 768 + 2·4·10 = 2252;
    # decode c=4: 80 + 2·(96 + 32 + 24 + 32 + 32) + 2·4·4·8 + 80 = 848; c=5: 80 + 2·238 + 256 + 80 = 892.
    assert prefill_flops(TOY, 3, "paper") == 2252
    assert decode_step_flops(TOY, 4, "paper") == 848
    assert inference_flops(TOY, 3, 2, "paper") == 2252 + 848 + 892


def test_paper_moe_uses_active_ffn_width():
    arch = Architecture.from_config(TINY["mixtral"])
    dense_twin = Architecture(
        vocab_size=128, hidden_size=64, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=16,
        intermediate_size=2 * 96, ffn_matrices=3, tie_embeddings=False,
    )
    assert forward_flops(arch, 16, "paper") == forward_flops(dense_twin, 16, "paper")


# ---- properties of every convention -------------------------------------------------------------


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_training_is_packing_aware(convention):
    arch = Architecture.from_config(TINY["gemma3_text"])
    lengths = [5, 17, 40, 1]
    total = train_flops(arch, lengths, convention)
    assert total == pytest.approx(sum(train_flops(arch, [x], convention) for x in lengths), rel=1e-12)
    if convention != "6nd":
        assert total < train_flops(arch, [sum(lengths)], convention)
    assert train_flops(arch, 40, convention) == train_flops(arch, [40], convention)


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_inference_monotone_in_generated_tokens(convention):
    arch = Architecture.from_config(TINY["mistral"])  # sliding window 8: contexts cross it
    values = [inference_flops(arch, 20, g, convention) for g in range(1, 40)]
    assert all(b > a for a, b in zip(values, values[1:]))
    assert inference_flops(arch, 20, 5, convention) < inference_flops(arch, 30, 5, convention)


def test_6nd_shortcut():
    arch = Architecture.from_config(TINY["qwen3_moe"])
    n = arch.active_non_embedding_parameters
    assert train_flops(arch, [10, 30], "6nd") == 6 * n * 40
    assert inference_flops(arch, 7, 5, "6nd") == 2 * n * 12
    assert forward_flops(arch, 9, "6nd") == 2 * n * 9


def test_causal_halving_counts_only_kept_pairs():
    arch = Architecture.from_config(TINY["qwen2"])
    full, half = train_flops(arch, [SEQ], "exact"), train_flops(arch, [SEQ], "exact", causal_halving=True)
    per_pair = 3 * 4 * arch.q_dim * arch.num_layers
    assert full - half == per_pair * (SEQ * SEQ - SEQ * (SEQ + 1) // 2)
    with pytest.raises(ValueError, match="exact"):
        train_flops(arch, [SEQ], "paper", causal_halving=True)


def test_ledger():
    arch = Architecture.from_config(TINY["qwen2"])
    ledger = FlopsLedger("exact")
    added = ledger.add_training(arch, [10, 20])
    assert added == train_flops(arch, [10, 20], "exact")
    ledger.add_evaluation(arch, [5, 6], [7, 8])
    ledger.add_teacher(arch, 5, 9)
    assert ledger.evaluation == inference_flops(arch, 5, 7, "exact") + inference_flops(arch, 6, 8, "exact")
    d = ledger.to_dict()
    assert d["convention"] == "exact"
    assert d["total"] == pytest.approx(ledger.training + ledger.evaluation + ledger.teacher)
    assert FlopsLedger.from_dict(d) == ledger
    with pytest.raises(ValueError):
        FlopsLedger("flops")


def test_flops_table_script_runs(capsys):
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "flops_table.py"
    module = runpy.run_path(str(script))
    assert module["main"](["--train-lengths", "1024", "--generated", "500"]) == 0
    out = capsys.readouterr().out
    assert "| Qwen2.5-7B | 3584 | 28 | 28 (4) |" in out and "7,615,616,512" in out
