"""The compute ledger: parameter counts and FLOPs for training, inference and the teacher.

The study compares students at *matched compute*, so every FLOP number it reports must say how it was
counted. Three conventions are offered side by side (``CONVENTIONS``):

``"paper"``
    Exactly the formula of the paper (App. D, after Hoffmann et al. 2022 App. F), with its simplifications:
    every attention projection is ``d x d`` (no GQA), the FFN has two ``d x d_ff`` matrices (no gating),
    the embedding lookup is charged as a ``2·V·d`` matmul, and the softmax costs ``3·h`` per score entry.
    Use it to reproduce the paper's axes.
``"exact"``
    The same structure with the architecture's real shapes: GQA-sized K/V projections, the real number of
    FFN matrices, MoE routing (``experts_per_token`` experts + router + shared experts), no FLOPs for the
    embedding gather, matmuls only (what ``torch.utils.flop_counter.FlopCounterMode`` sees when the model
    runs with ``attn_implementation="eager"``). The test suite checks it against ``FlopCounterMode`` on
    tiny Qwen2/Qwen3/Qwen3-MoE/Qwen2-MoE/Llama/Mistral/Mixtral/Gemma 2/Gemma 3/GPT-2 models, within 2 %.
``"6nd"``
    Kaplan et al.'s shortcut: ``6·N`` per trained token, ``2·N`` per token of inference, with ``N`` the
    non-embedding parameters (active ones for MoE).

Each function below documents its terms; ``docs/flops.md`` has a table for the Qwen2.5 students.

Example::

    from scale_or_reason.flops import Architecture, FlopsLedger, train_flops, inference_flops
    arch = Architecture.from_config({
        "model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864,
        "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
        "tie_word_embeddings": True,
    })                                                   # Qwen2.5-0.5B; a path to config.json works too
    arch.parameters                                      # 494032768, == model.num_parameters()
    train_flops(arch, [1024, 8192])                      # two samples, each at its own length
    inference_flops(arch, prompt_tokens=200, generated_tokens=500, convention="exact")
    ledger = FlopsLedger("paper")
    ledger.add_training(arch, [1024, 8192])
    ledger.add_evaluation(arch, [200, 180], [500, 4000])  # paired (prompt, generated) per answer
    ledger.to_dict()                                     # {"convention": "paper", ..., "total": ...}
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

LEDGER_VERSION = 1
"""Bumped when a FLOPs formula changes meaning: training runs' keys include it, so a ledger fix redoes the runs
(the toolkit's release version is not in the keys: a release that changes nothing here must not retrain)."""

__all__ = [
    "CONVENTIONS",
    "SUPPORTED_MODEL_TYPES",
    "Architecture",
    "FlopsLedger",
    "LoRA",
    "decode_step_flops",
    "flops_totals",
    "forward_flops",
    "inference_flops",
    "lora_parameters",
    "prefill_flops",
    "read_lengths",
    "train_flops",
]

CONVENTIONS: tuple[str, ...] = ("paper", "exact", "6nd")
"""FLOP-counting conventions, see the module docstring."""

SUPPORTED_MODEL_TYPES: tuple[str, ...] = (
    "llama",
    "mistral",
    "qwen2",
    "qwen3",
    "qwen2_moe",
    "qwen3_moe",
    "mixtral",
    "gemma",
    "gemma2",
    "gemma3",
    "gemma3_text",
    "gpt2",
)
"""``model_type`` values ``Architecture.from_config`` knows exactly (``gemma3`` via its ``text_config``).
A config without ``model_type`` is read as a generic Llama-style decoder."""

_MISSING = object()


# --------------------------------------------------------------------------------------------------
# Architecture
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Architecture:
    """Shape of a decoder-only transformer: everything the parameter and FLOP counts need.

    Build it with ``Architecture.from_config`` (a transformers config, a dict, or a path to
    ``config.json``) rather than by hand. ``parameters`` equals ``model.num_parameters()`` of the
    Hugging Face model built from that config (text model only for multimodal configs).
    """

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    """FFN width of the dense (non-MoE) layers."""
    ffn_matrices: int
    """3 for gated FFNs (SwiGLU/GeGLU: gate, up, down), 2 for the GPT-2 MLP (fc, proj). MoE experts use it too."""
    tie_embeddings: bool
    num_experts: int = 0
    """Routed experts per MoE layer (0 = dense model)."""
    experts_per_token: int = 0
    moe_intermediate_size: int = 0
    shared_expert_intermediate_size: int = 0
    """Width of an always-on shared expert in each MoE layer (Qwen2-MoE), 0 if none."""
    shared_expert_gate: bool = False
    """Whether the shared expert has a ``d -> 1`` sigmoid gate (Qwen2-MoE)."""
    dense_layers: tuple[int, ...] = ()
    """In an MoE model, indices of the layers that use the dense MLP instead (Qwen-MoE ``mlp_only_layers``
    and ``decoder_sparse_step``). Ignored when ``num_experts == 0`` (every layer is dense then)."""
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    qk_norm: bool = False
    """Per-head RMSNorm on queries and keys (Qwen3, Gemma 3): ``2·head_dim`` parameters per layer."""
    norm_type: str = "rmsnorm"
    """``"rmsnorm"`` (weight only) or ``"layernorm"`` (weight and bias)."""
    norms_per_layer: int = 2
    """2 for pre-norm blocks, 4 for Gemma 2/3 (pre- and post-norm around attention and FFN)."""
    learned_position_embeddings: int = 0
    """Rows of a learned absolute position table (GPT-2 ``wpe``: ``n_positions``), 0 for RoPE models."""
    max_position_embeddings: int = 0
    """Informational (context length the config declares)."""
    sliding_window: int | None = None
    layer_types: tuple[str, ...] = ()
    """Per layer ``"full_attention"`` or ``"sliding_attention"``; empty = all full (an all-full tuple is
    stored as empty). Only the cached decode
    of ``exact`` uses it (a sliding layer's KV cache keeps the last ``sliding_window`` tokens)."""
    model_type: str = ""

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "num_layers", "num_heads", "num_kv_heads", "head_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Architecture.{name} must be a positive int, got {value!r}")
        for name in ("intermediate_size", "num_experts", "experts_per_token", "moe_intermediate_size",
                     "shared_expert_intermediate_size", "learned_position_embeddings",
                     "max_position_embeddings"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"Architecture.{name} must be a non-negative int, got {value!r}")
        if self.ffn_matrices not in (2, 3):
            raise ValueError(f"Architecture.ffn_matrices must be 2 or 3, got {self.ffn_matrices!r}")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"Architecture.num_heads ({self.num_heads}) must be a multiple of num_kv_heads ({self.num_kv_heads})"
            )
        if self.norm_type not in ("rmsnorm", "layernorm"):
            raise ValueError(f"Architecture.norm_type must be 'rmsnorm' or 'layernorm', got {self.norm_type!r}")
        if self.num_experts:
            if not 0 < self.experts_per_token <= self.num_experts:
                raise ValueError(
                    f"Architecture.experts_per_token must be in 1..num_experts ({self.num_experts}), "
                    f"got {self.experts_per_token!r}"
                )
            if self.moe_intermediate_size <= 0:
                raise ValueError("Architecture.moe_intermediate_size must be positive for an MoE model")
        object.__setattr__(self, "dense_layers", tuple(sorted(set(int(i) for i in self.dense_layers))))
        types = tuple(self.layer_types)
        object.__setattr__(self, "layer_types", () if set(types) <= {"full_attention"} else types)
        if any(not 0 <= i < self.num_layers for i in self.dense_layers):
            raise ValueError(f"Architecture.dense_layers must index layers 0..{self.num_layers - 1}")
        if self.layer_types:
            if len(self.layer_types) != self.num_layers:
                raise ValueError(
                    f"Architecture.layer_types has {len(self.layer_types)} entries for {self.num_layers} layers"
                )
            unknown = sorted(set(self.layer_types) - {"full_attention", "sliding_attention"})
            if unknown:
                raise ValueError(f"Architecture.layer_types: unsupported layer type(s) {unknown}")
            if "sliding_attention" in self.layer_types and not self.sliding_window:
                raise ValueError("Architecture.sliding_window must be set when layer_types has sliding layers")

    # ---- construction -------------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: Any) -> Architecture:
        """Read an architecture from a transformers ``PretrainedConfig``, a dict, or a path.

        A path may be a ``config.json`` file or a directory holding one. A nested ``text_config``
        (Gemma 3, other multimodal wrappers) is used in place of the outer config. Dicts with a
        ``model_type`` transformers knows are first turned into that config class, so its defaults
        (e.g. ``head_dim``, ``layer_types``) are the ones the model would use. Unsupported model types
        and missing fields raise ``ValueError`` naming the field. An ``Architecture`` is returned as is.
        """
        if isinstance(config, Architecture):
            return config
        if isinstance(config, (str, Path)):
            path = Path(config)
            if path.is_dir():
                path = path / "config.json"
            if not path.is_file():
                raise ValueError(f"no config.json at {str(path)!r}")
            config = json.loads(path.read_text())
        if isinstance(config, Mapping):
            names = {f.name for f in fields(cls)}
            if {"num_layers", "num_heads", "ffn_matrices", "tie_embeddings"} <= set(config) <= names:
                return cls(**config)  # the to_dict() form
            for name in _POSITIVE_FIELDS:  # checked before transformers divides by them
                v = config.get(name)
                if isinstance(v, (int, float)) and not isinstance(v, bool) and v <= 0:
                    raise ValueError(f"config field {name!r} must be positive, got {v!r}")
            config = _dict_to_config(dict(config))
        try:
            return _parse(_Fields(config))
        except ZeroDivisionError:
            raise ValueError("config: a size field is 0 (" + ", ".join(_POSITIVE_FIELDS) + ")") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-serialisable); ``from_config(d)`` reads it back."""
        d = asdict(self)
        d["dense_layers"] = list(self.dense_layers)
        d["layer_types"] = list(self.layer_types)
        return d

    # ---- derived shapes -------------------------------------------------------------------------

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def num_moe_layers(self) -> int:
        return self.num_layers - len(self.dense_layers) if self.is_moe else 0

    @property
    def num_dense_layers(self) -> int:
        return self.num_layers - self.num_moe_layers

    @property
    def q_dim(self) -> int:
        """Width of the query (and attention output) projection: ``num_heads · head_dim``."""
        return self.num_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        """Width of each of the key and value projections: ``num_kv_heads · head_dim``."""
        return self.num_kv_heads * self.head_dim

    # ---- parameter counts -----------------------------------------------------------------------

    def _norm_params(self, width: int) -> int:
        return width * (2 if self.norm_type == "layernorm" else 1)

    def _attention_params(self) -> int:
        d = self.hidden_size
        n = d * self.q_dim + 2 * d * self.kv_dim + self.q_dim * d
        if self.qkv_bias:
            n += self.q_dim + 2 * self.kv_dim
        if self.o_bias:
            n += d
        if self.qk_norm:
            n += 2 * self.head_dim
        return n

    def _mlp_params(self, width: int) -> int:
        d = self.hidden_size
        n = self.ffn_matrices * d * width
        if self.mlp_bias:
            n += (self.ffn_matrices - 1) * width + d
        return n

    def _moe_params(self, experts: int) -> int:
        d = self.hidden_size
        n = experts * self.ffn_matrices * d * self.moe_intermediate_size  # expert weights (no bias)
        n += self.num_experts * d  # router
        if self.shared_expert_intermediate_size:
            n += self.ffn_matrices * d * self.shared_expert_intermediate_size
        if self.shared_expert_gate:
            n += d
        return n

    def _count(self, experts: int) -> int:
        d = self.hidden_size
        per_layer = self._attention_params() + self.norms_per_layer * self._norm_params(d)
        n = self.num_layers * per_layer
        n += self.num_dense_layers * self._mlp_params(self.intermediate_size)
        n += self.num_moe_layers * self._moe_params(experts)
        n += self._norm_params(d)  # final norm
        return n + self.embedding_parameters

    @property
    def embedding_parameters(self) -> int:
        """Input embedding + untied output head + learned position table."""
        table = self.vocab_size * self.hidden_size
        return table * (1 if self.tie_embeddings else 2) + self.learned_position_embeddings * self.hidden_size

    @property
    def parameters(self) -> int:
        """All parameters, counting a tied embedding/head once (== ``model.num_parameters()``)."""
        return self._count(self.num_experts)

    @property
    def non_embedding_parameters(self) -> int:
        """``parameters`` minus the input embedding, the untied ``lm_head`` and learned position embeddings."""
        return self.parameters - self.embedding_parameters

    @property
    def active_parameters(self) -> int:
        """Parameters touched by one token: MoE layers count ``experts_per_token`` experts + router + shared
        experts. Equals ``parameters`` for a dense model."""
        return self._count(self.experts_per_token) if self.is_moe else self.parameters

    @property
    def active_non_embedding_parameters(self) -> int:
        """``active_parameters`` minus the embedding parameters: the ``N`` of the ``6nd`` convention."""
        return self.active_parameters - self.embedding_parameters


# --------------------------------------------------------------------------------------------------
# Reading configs
# --------------------------------------------------------------------------------------------------


_POSITIVE_FIELDS = ("hidden_size", "num_attention_heads", "num_key_value_heads", "num_hidden_layers",
                    "intermediate_size", "vocab_size", "head_dim")


class _Fields:
    """Uniform read access to a config object or dict, with errors that name the field."""

    def __init__(self, source: Any):
        self.source = source
        if isinstance(source, Mapping):
            self.model_type = str(source.get("model_type") or "")
        else:
            self.model_type = str(getattr(source, "model_type", "") or "")

    def get(self, *names: str, default: Any = _MISSING) -> Any:
        for name in names:
            if isinstance(self.source, Mapping):
                value = self.source.get(name, None)
            else:
                value = getattr(self.source, name, None)
            if value is not None:
                return value
        if default is _MISSING:
            what = f"model_type {self.model_type!r}" if self.model_type else "config"
            alias = f" (or {', '.join(repr(n) for n in names[1:])})" if len(names) > 1 else ""
            raise ValueError(f"{what}: required field {names[0]!r}{alias} is missing")
        return default

    def int(self, *names: str, default: Any = _MISSING) -> int:
        value = self.get(*names, default=default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise ValueError(f"config field {names[0]!r} must be an integer, got {value!r}")
        return int(value)


def _text_part(config: Any) -> Any:
    """The text-decoder part of a (possibly multimodal) config."""
    if isinstance(config, Mapping):
        text = config.get("text_config")
        if isinstance(text, Mapping) and "hidden_size" not in config:
            text = dict(text)
            if config.get("model_type") == "gemma3":
                text.setdefault("model_type", "gemma3_text")
            return text
        return config
    getter = getattr(config, "get_text_config", None)
    if callable(getter):
        try:
            return getter(decoder=True)
        except TypeError:  # older signature
            return getter()
    return config


def _dict_to_config(d: dict[str, Any]) -> Any:
    """Turn a config dict into the transformers config class of its ``model_type`` when possible."""
    model_type = d.get("model_type")
    if not model_type:
        return _text_part(d)
    if model_type not in SUPPORTED_MODEL_TYPES:
        return d  # _parse raises, naming model_type
    try:
        from transformers import CONFIG_MAPPING
    except Exception:  # pragma: no cover - transformers is a dependency; stay usable without it
        return _text_part(d)
    if model_type not in CONFIG_MAPPING:  # pragma: no cover - older transformers
        return _text_part(d)
    return CONFIG_MAPPING[model_type].from_dict(d)


def _layer_types(f: _Fields, num_layers: int) -> tuple[tuple[str, ...], int | None]:
    """Per-layer attention types and the sliding window, as transformers' KV cache derives them."""
    window = f.get("sliding_window", default=None)
    if f.model_type.startswith("qwen") and not f.get("use_sliding_window", default=False):
        window = None  # Qwen configs carry a sliding_window that is off unless use_sliding_window
    types = f.get("layer_types", default=None)
    if types is not None:
        types = tuple(types)
        if "sliding_attention" not in types:
            return types, None
        if window is None:
            raise ValueError("config field 'sliding_window' is missing but 'layer_types' has sliding layers")
        return types, int(window)
    if window is not None:  # no layer_types: the cache treats every layer as sliding (e.g. Mistral)
        return ("sliding_attention",) * num_layers, int(window)
    return (), None


def _parse(f: _Fields) -> Architecture:
    f = _Fields(_text_part(f.source))
    mt = f.model_type
    if mt and mt not in SUPPORTED_MODEL_TYPES:
        raise ValueError(
            f"unsupported model_type {mt!r} (config field 'model_type'); supported: {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    if mt == "gpt2":
        if f.get("add_cross_attention", default=False):
            raise ValueError("model_type 'gpt2': config field 'add_cross_attention' = True is not supported")
        d = f.int("n_embd", "hidden_size")
        heads = f.int("n_head", "num_attention_heads")
        layers = f.int("n_layer", "num_hidden_layers")
        positions = f.int("n_positions", "max_position_embeddings")
        inner = f.get("n_inner", default=None)
        return Architecture(
            vocab_size=f.int("vocab_size"),
            hidden_size=d,
            num_layers=layers,
            num_heads=heads,
            num_kv_heads=heads,
            head_dim=d // heads,
            intermediate_size=int(inner) if inner is not None else 4 * d,
            ffn_matrices=2,
            tie_embeddings=bool(f.get("tie_word_embeddings", default=True)),
            qkv_bias=True,
            o_bias=True,
            mlp_bias=True,
            norm_type="layernorm",
            norms_per_layer=2,
            learned_position_embeddings=positions,
            max_position_embeddings=positions,
            model_type=mt,
        )

    d = f.int("hidden_size", "n_embd", "d_model")
    layers = f.int("num_hidden_layers", "num_layers", "n_layer")
    heads = f.int("num_attention_heads", "num_heads", "n_head")
    kv_heads = f.int("num_key_value_heads", "num_kv_heads", default=heads)
    head_dim = f.int("head_dim", default=d // heads)
    attention_bias = bool(f.get("attention_bias", default=False))
    kw: dict[str, Any] = dict(
        vocab_size=f.int("vocab_size"),
        hidden_size=d,
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        ffn_matrices=int(f.get("ffn_matrices", default=3)),
        tie_embeddings=bool(f.get("tie_word_embeddings", "tie_embeddings", default=False)),
        max_position_embeddings=f.int("max_position_embeddings", default=0),
        qkv_bias=attention_bias,
        o_bias=attention_bias,
        model_type=mt,
    )
    kw["layer_types"], kw["sliding_window"] = _layer_types(f, layers)

    if not mt:  # generic description: accept Architecture's own field names as well
        for name in ("qkv_bias", "o_bias", "mlp_bias", "qk_norm", "norm_type", "norms_per_layer",
                     "learned_position_embeddings", "shared_expert_gate"):
            value = f.get(name, default=None)
            if value is not None:
                kw[name] = value
        for name in ("num_experts", "experts_per_token", "moe_intermediate_size",
                     "shared_expert_intermediate_size"):
            kw[name] = f.int(name, default=0)
        if kw["num_experts"]:
            kw["experts_per_token"] = f.int("experts_per_token", "num_experts_per_tok")
            kw["dense_layers"] = tuple(f.get("dense_layers", default=()))
        kw["intermediate_size"] = f.int("intermediate_size", default=0 if kw["num_experts"] else _MISSING)
        return Architecture(**kw)

    kw["intermediate_size"] = f.int("intermediate_size")
    if mt == "llama":
        kw["mlp_bias"] = bool(f.get("mlp_bias", default=False))
    elif mt == "mistral":
        kw["qkv_bias"] = kw["o_bias"] = False
    elif mt == "qwen2":
        kw["qkv_bias"], kw["o_bias"] = True, False
    elif mt == "qwen3":
        kw["qk_norm"] = True
    elif mt == "gemma2":
        kw["norms_per_layer"] = 4
    elif mt in ("gemma3", "gemma3_text"):
        kw["norms_per_layer"] = 4
        kw["qk_norm"] = True
    elif mt in ("qwen2_moe", "qwen3_moe"):
        experts = f.int("num_experts")
        step = f.int("decoder_sparse_step", default=1)
        mlp_only = {int(i) for i in f.get("mlp_only_layers", default=[])}
        if experts:
            kw["dense_layers"] = tuple(i for i in range(layers) if i in mlp_only or (i + 1) % step != 0)
            kw.update(
                num_experts=experts,
                experts_per_token=f.int("num_experts_per_tok"),
                moe_intermediate_size=f.int("moe_intermediate_size"),
            )
        if mt == "qwen2_moe":
            kw["qkv_bias"] = bool(f.get("qkv_bias", default=True))
            kw["o_bias"] = False
            if experts:
                kw["shared_expert_intermediate_size"] = f.int("shared_expert_intermediate_size")
                kw["shared_expert_gate"] = True
        else:
            kw["qk_norm"] = True
    elif mt == "mixtral":
        kw["qkv_bias"] = kw["o_bias"] = False
        kw.update(
            num_experts=f.int("num_local_experts", "num_experts"),
            experts_per_token=f.int("num_experts_per_tok"),
            moe_intermediate_size=kw["intermediate_size"],
        )
    return Architecture(**kw)


# --------------------------------------------------------------------------------------------------
# Building blocks of the FLOP formulas
# --------------------------------------------------------------------------------------------------


def _check_convention(convention: str) -> str:
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown FLOPs convention {convention!r}; expected one of {CONVENTIONS}")
    return convention


def _paper_ffn_width(arch: Architecture, moe_layer: bool) -> int:
    """``d_ff`` of the paper's formula: the dense width, or for an MoE layer the *active* width
    (``experts_per_token · moe_intermediate_size + shared_expert_intermediate_size``)."""
    if moe_layer:
        return arch.experts_per_token * arch.moe_intermediate_size + arch.shared_expert_intermediate_size
    return arch.intermediate_size


def _weight_flops_per_token(arch: Architecture, convention: str) -> int:
    """Forward FLOPs of all layer weight matmuls for one token (no attention scores, no embedding/logits).

    * ``paper``: per layer ``6·d²`` (QKV) ``+ 2·d²`` (output projection) ``+ 4·d·d_ff`` (FFN).
    * ``exact``: per layer ``2·d·(h·hd)`` (Q) ``+ 2·2·d·(kv·hd)`` (K, V) ``+ 2·(h·hd)·d`` (O); dense FFN
      ``2·d·d_ff`` per matrix; MoE FFN ``2·d·E`` (router) ``+ k·(2·d·d_moe per matrix)`` ``+`` shared expert
      ``2·d·d_shared`` per matrix ``+ 2·d`` (shared-expert gate).
    """
    d = arch.hidden_size
    if convention == "paper":
        dense = 4 * d * _paper_ffn_width(arch, False)
        moe = 4 * d * _paper_ffn_width(arch, True)
        return arch.num_layers * 8 * d * d + arch.num_dense_layers * dense + arch.num_moe_layers * moe
    attn = 2 * d * arch.q_dim + 4 * d * arch.kv_dim + 2 * arch.q_dim * d
    dense = 2 * d * arch.intermediate_size * arch.ffn_matrices
    moe = 0
    if arch.is_moe:
        moe = 2 * d * arch.num_experts
        moe += arch.experts_per_token * 2 * d * arch.moe_intermediate_size * arch.ffn_matrices
        moe += 2 * d * arch.shared_expert_intermediate_size * arch.ffn_matrices
        moe += 2 * d if arch.shared_expert_gate else 0
    return arch.num_layers * attn + arch.num_dense_layers * dense + arch.num_moe_layers * moe


def _embedding_flops_per_token(arch: Architecture, convention: str) -> int:
    """``paper``: ``2·V·d`` (the lookup charged as a one-hot matmul); ``exact``: 0 (a gather)."""
    return 2 * arch.vocab_size * arch.hidden_size if convention == "paper" else 0


def _logits_flops_per_token(arch: Architecture) -> int:
    """``2·d·V`` for each position whose logits are computed (both conventions)."""
    return 2 * arch.hidden_size * arch.vocab_size


def _score_flops_per_pair(arch: Architecture, convention: str) -> int:
    """FLOPs per (query, key) pair in one layer.

    * ``paper``: ``2·d`` (QKᵀ) ``+ 3·h`` (softmax) ``+ 2·d`` (attention·V).
    * ``exact``: ``2·h·hd`` (QKᵀ) ``+ 2·h·hd`` (attention·V); the eager kernel repeats K/V to all query
      heads, so GQA does not reduce it. Softmax, scaling, masking and soft-capping are element-wise and not
      counted (``FlopCounterMode`` counts none of them).
    """
    if convention == "paper":
        return 4 * arch.hidden_size + 3 * arch.num_heads
    return 4 * arch.q_dim


def _window(arch: Architecture, layer: int) -> int | None:
    if arch.layer_types and arch.layer_types[layer] == "sliding_attention":
        return arch.sliding_window
    return None


def _sum_min(a: int, b: int, w: int | None) -> int:
    """``sum(min(c, w) for c in range(a, b + 1))`` in closed form (``w=None``: no cap)."""
    if b < a:
        return 0
    if w is None or b <= w:
        return (a + b) * (b - a + 1) // 2
    if a >= w:
        return (b - a + 1) * w
    return (a + w) * (w - a + 1) // 2 + (b - w) * w


def _prefill_pairs(arch: Architecture, length: int, causal_halving: bool) -> int:
    """(query, key) pairs scored over all layers when ``length`` tokens go through at once.

    ``paper`` and ``exact`` (default): the full ``l × l`` score matrix per layer, which is what eager
    attention computes (the causal mask is applied after the matmul). ``exact`` with ``causal_halving``:
    only the pairs the mask keeps, ``l·(l+1)/2`` per full layer and ``Σ_q min(q, window)`` per sliding
    layer (what causal flash/SDPA kernels compute, up to tile granularity).
    """
    if not causal_halving:
        return arch.num_layers * length * length
    return sum(_sum_min(1, length, _window(arch, i)) for i in range(arch.num_layers))


def _decode_pairs(arch: Architecture, first: int, last: int, convention: str) -> int:
    """Pairs scored over all layers by cached decode steps at contexts ``first..last`` (one query each).

    ``paper``: ``c`` per layer. ``exact``: ``c`` per full layer, ``min(c, window)`` per sliding layer (the
    sliding KV cache keeps only the window).
    """
    if convention == "paper":
        return arch.num_layers * _sum_min(first, last, None)
    return sum(_sum_min(first, last, _window(arch, i)) for i in range(arch.num_layers))


def _check_tokens(name: str, value: Any) -> int:
    if isinstance(value, (bool, float)) or not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    value = operator.index(value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def _check_halving(convention: str, causal_halving: bool) -> None:
    if causal_halving and convention != "exact":
        raise ValueError("causal_halving applies to the 'exact' convention only")


def _n_6nd(arch: Architecture) -> int:
    """``N`` of the ``6nd`` convention: non-embedding parameters, active ones for MoE."""
    return arch.active_non_embedding_parameters


# --------------------------------------------------------------------------------------------------
# Public FLOP functions
# --------------------------------------------------------------------------------------------------


def forward_flops(
    arch: Architecture, seq_len: int, convention: str = "paper", *, causal_halving: bool = False
) -> float:
    """FLOPs of one forward pass over ``seq_len`` tokens, logits at every position.

    * ``paper``: ``2·l·V·d`` (embeddings) ``+ L·(6·l·d² + 2·l²·d + 3·l²·h + 2·l²·d + 2·l·d²)`` (QKV, QKᵀ,
      softmax, attention·V, output projection) ``+ L·4·l·d·d_ff`` (FFN) ``+ 2·l·d·V`` (logits). For MoE
      layers ``d_ff`` is the active width (``experts_per_token · moe_intermediate_size`` + shared expert).
    * ``exact``: ``l ·`` (weight matmuls per token, see ``_weight_flops_per_token``) ``+ pairs ·
      4·h·hd`` (QKᵀ and attention·V; ``pairs = L·l²`` as eager attention computes, or only the causal
      ones with ``causal_halving=True``) ``+ 2·l·d·V`` (logits). The embedding gather is 0 FLOPs.
    * ``6nd``: ``2·N·l``.
    """
    _check_convention(convention)
    _check_halving(convention, causal_halving)
    length = _check_tokens("seq_len", seq_len)
    if convention == "6nd":
        return float(2 * _n_6nd(arch) * length)
    per_token = (
        _weight_flops_per_token(arch, convention)
        + _embedding_flops_per_token(arch, convention)
        + _logits_flops_per_token(arch)
    )
    pairs = _prefill_pairs(arch, length, causal_halving)
    return float(per_token * length + pairs * _score_flops_per_pair(arch, convention))


def prefill_flops(
    arch: Architecture, prompt_tokens: int, convention: str = "paper", *, causal_halving: bool = False
) -> float:
    """Forward over the prompt with logits for the last position only (``2·d·V`` instead of ``2·l·d·V``).

    ``6nd``: ``2·N·l_p``.
    """
    _check_convention(convention)
    _check_halving(convention, causal_halving)
    length = _check_tokens("prompt_tokens", prompt_tokens)
    if convention == "6nd":
        return float(2 * _n_6nd(arch) * length)
    per_token = _weight_flops_per_token(arch, convention) + _embedding_flops_per_token(arch, convention)
    pairs = _prefill_pairs(arch, length, causal_halving)
    logits = _logits_flops_per_token(arch) if length else 0
    return float(per_token * length + pairs * _score_flops_per_pair(arch, convention) + logits)


def decode_step_flops(arch: Architecture, context: int, convention: str = "paper") -> float:
    """One cached decode step: one new token attending to ``context`` keys (the cache plus itself).

    * ``paper``: ``2·d·V + L·(6·d² + 2·c·d + 3·c·h + 2·c·d + 2·d²) + L·4·d·d_ff + 2·d·V`` — the first
      ``2·d·V`` is the paper's embedding term, kept as written.
    * ``exact``: weight matmuls of one token + ``4·h·hd`` per layer per attended key (``c``, or
      ``min(c, window)`` in sliding layers) + ``2·d·V`` logits.
    * ``6nd``: ``2·N``.
    """
    _check_convention(convention)
    c = _check_tokens("context", context)
    if c < 1:
        raise ValueError("context must be >= 1 (it includes the new token)")
    return _decode_range(arch, c, c, convention)


def _decode_range(arch: Architecture, first: int, last: int, convention: str) -> float:
    """Sum of decode steps at contexts ``first..last``."""
    steps = max(0, last - first + 1)
    if not steps:
        return 0.0
    if convention == "6nd":
        return float(2 * _n_6nd(arch) * steps)
    per_token = (
        _weight_flops_per_token(arch, convention)
        + _embedding_flops_per_token(arch, convention)
        + _logits_flops_per_token(arch)
    )
    pairs = _decode_pairs(arch, first, last, convention)
    return float(per_token * steps + pairs * _score_flops_per_pair(arch, convention))


def inference_flops(
    arch: Architecture,
    prompt_tokens: int,
    generated_tokens: int,
    convention: str = "paper",
    *,
    causal_halving: bool = False,
) -> float:
    """FLOPs to generate ``generated_tokens`` tokens after a ``prompt_tokens`` prompt with a KV cache.

    Prefill of the prompt (``prefill_flops``: logits for the last position only) plus cached decode steps
    (``decode_step_flops``) at growing context:

    * ``paper``: one decode step per generated token, ``i = 1..l_g``, at context ``c = l_p + i`` (the cache
      plus the token being fed). This follows the paper's "for each of the l_g generated tokens"; it charges
      one step more than a generation loop runs (the prefill already yields the first token, and the last
      token is never fed back), a ``1/l_g`` overcount.
    * ``exact``: what ``model.generate`` runs: ``l_g - 1`` decode steps, step ``j`` feeding the ``j``-th
      generated token at context ``c = l_p + j``. ``generated_tokens=0`` still counts the prefill.
    * ``6nd``: ``2·N·(l_p + l_g)``, every token of the finished sequence passes the model once.

    For MoE models the FFN cost is always the active one (``experts_per_token`` experts), in every
    convention (the teacher, an MoE model in the paper, is costed with this function too).
    """
    _check_convention(convention)
    _check_halving(convention, causal_halving)
    p = _check_tokens("prompt_tokens", prompt_tokens)
    g = _check_tokens("generated_tokens", generated_tokens)
    if convention == "6nd":
        return float(2 * _n_6nd(arch) * (p + g))
    total = prefill_flops(arch, p, convention, causal_halving=causal_halving)
    last_step = g if convention == "paper" else g - 1
    return total + _decode_range(arch, p + 1, p + last_step, convention)


# --------------------------------------------------------------------------------------------------
# LoRA
# --------------------------------------------------------------------------------------------------

_ATTN_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
_MLP_TARGETS = ("gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class LoRA:
    """A LoRA adapter setup: ``rank`` and the names of the targeted linear layers.

    Names follow PEFT's suffix matching: ``q_proj k_proj v_proj o_proj gate_proj up_proj down_proj``
    (GPT-2: ``c_attn c_proj c_fc``; ``c_proj`` matches both the attention and the MLP projection),
    ``lm_head``, or ``"all-linear"`` (every attention/MLP linear, not ``lm_head``, as in PEFT). MoE routed
    experts are fused parameter tensors, not linear modules, so they cannot be targeted; the dense MLP
    layers and shared experts of MoE models can.
    """

    rank: int
    target_modules: tuple[str, ...] = _ATTN_TARGETS + _MLP_TARGETS

    def __post_init__(self) -> None:
        if not isinstance(self.rank, int) or isinstance(self.rank, bool) or self.rank <= 0:
            raise ValueError(f"LoRA.rank must be a positive int, got {self.rank!r}")
        targets = self.target_modules
        if isinstance(targets, str):
            targets = (targets,)
        object.__setattr__(self, "target_modules", tuple(targets))
        if not self.target_modules:
            raise ValueError("LoRA.target_modules is empty")

    @classmethod
    def coerce(cls, spec: Any) -> LoRA:
        """Accept a ``LoRA``, a dict (``rank``/``r`` and ``target_modules``) or a PEFT ``LoraConfig``."""
        if isinstance(spec, LoRA):
            return spec
        if isinstance(spec, Mapping):
            rank = spec.get("rank", spec.get("r"))
            targets = spec.get("target_modules")
        else:
            rank = getattr(spec, "rank", getattr(spec, "r", None))
            targets = getattr(spec, "target_modules", None)
        if rank is None:
            raise ValueError("lora: field 'rank' (or 'r') is missing")
        if targets is None:
            return cls(int(rank))
        if isinstance(targets, str):
            targets = (targets,)
        return cls(int(rank), tuple(targets))


def _linear_modules(arch: Architecture, convention: str) -> list[tuple[str, int, int, int]]:
    """``(name, in_features, out_features, instances)`` of the targetable linears of ``arch``.

    The same modules under every convention; ``paper`` only sizes the attention projections ``d x d``
    as its formula does.
    """
    d = arch.hidden_size
    paper = convention == "paper"
    q = d if paper else arch.q_dim
    kv = d if paper else arch.kv_dim
    layers = arch.num_layers
    mods: list[tuple[str, int, int, int]] = []
    if arch.model_type == "gpt2":
        mods += [("c_attn", d, q + 2 * kv, layers), ("c_proj", q, d, layers)]
        mods += [("c_fc", d, arch.intermediate_size, layers), ("c_proj", arch.intermediate_size, d, layers)]
    else:
        mods += [("q_proj", d, q, layers), ("k_proj", d, kv, layers), ("v_proj", d, kv, layers)]
        mods += [("o_proj", q, d, layers)]
        widths = [(arch.intermediate_size, arch.num_dense_layers)]  # dense MLPs
        widths.append((arch.shared_expert_intermediate_size, arch.num_moe_layers))  # shared experts
        for width, count in widths:
            if not count or not width:
                continue
            if arch.ffn_matrices == 3:
                mods.append(("gate_proj", d, width, count))
            mods += [("up_proj", d, width, count), ("down_proj", width, d, count)]
    mods.append(("lm_head", d, arch.vocab_size, 1))
    return mods


def _lora_targets(arch: Architecture, lora: LoRA, convention: str) -> list[tuple[str, int, int, int]]:
    mods = _linear_modules(arch, convention)
    names = set(lora.target_modules)
    chosen: list[tuple[str, int, int, int]] = []
    if "all-linear" in names or "all_linear" in names:
        names -= {"all-linear", "all_linear"}
        chosen = [m for m in mods if m[0] != "lm_head"]
    known = {m[0] for m in mods}
    unknown = sorted(names - known)
    if unknown:
        raise ValueError(
            f"lora.target_modules: {unknown} match no linear layer of this {arch.model_type or 'model'} "
            f"(available: {sorted(known)})"
        )
    chosen += [m for m in mods if m[0] in names and m not in chosen]
    return chosen


def lora_parameters(arch: Architecture, lora: Any) -> int:
    """Trainable adapter parameters: ``r · (in + out)`` per targeted linear (exact shapes)."""
    spec = LoRA.coerce(lora)
    return sum(spec.rank * (i + o) * n for _, i, o, n in _lora_targets(arch, spec, "exact"))


def _lora_forward_per_token(arch: Architecture, lora: LoRA, convention: str) -> int:
    """Forward FLOPs of the adapters per token: ``2·r·in + 2·r·out`` per targeted linear."""
    return sum(2 * lora.rank * (i + o) * n for _, i, o, n in _lora_targets(arch, lora, convention))


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


def _lengths(lengths: Iterable[int] | int) -> list[int]:
    if isinstance(lengths, (str, bytes)):
        raise TypeError("lengths must be an iterable of ints")
    if not isinstance(lengths, Iterable):
        lengths = [lengths]  # one sample (int or numpy integer)
    return [_check_tokens("each length", x) for x in lengths]


def train_flops(
    arch: Architecture,
    lengths: Iterable[int] | int,
    convention: str = "paper",
    *,
    lora: Any = None,
    causal_halving: bool = False,
) -> float:
    """Training FLOPs of one pass over samples of the given token lengths (prompt + answer each).

    Every sample is counted at its *own* length: with packing, attention stays within a sample
    (document masking / variable-length kernels), so the quadratic term is ``Σ l_i²``, not ``(Σ l_i)²``;
    ``train_flops(a, xs) == sum(train_flops(a, [x]) for x in xs)``. Padding is not counted.

    * ``paper``: ``3 × forward_flops`` per sample (forward + backward at twice the forward).
    * ``exact``: ``3 × forward_flops`` per sample as well: the backward of every matmul is two matmuls
      of the same size (gradient w.r.t. the activation and w.r.t. the weight, or w.r.t. both operands of
      QKᵀ and attention·V), which is what ``FlopCounterMode`` records for ``loss.backward()``.
      Gradient-checkpointing recomputation is not counted (model FLOPs, not hardware FLOPs).
    * ``6nd``: ``6·N·Σ l_i``.

    With ``lora`` (a ``LoRA``, dict or PEFT config), frozen weight matmuls cost forward + activation
    gradient, ``2 ×`` their forward (``paper``: embedding, projections, FFN and logits terms; ``6nd``:
    ``4·N``), the attention-score terms keep ``3 ×`` (both operands are activations), and the adapters
    cost ``3 ×`` their own forward (``2·r·(in + out)`` per targeted linear per token; ``6nd``:
    ``6·N_lora``). This assumes the embedding output requires grad (PEFT with gradient checkpointing
    calls ``enable_input_require_grads``); otherwise the first layer's input projections skip their
    activation gradient, a saving under ``1/L`` of the frozen part that is not modelled.
    """
    _check_convention(convention)
    _check_halving(convention, causal_halving)
    xs = _lengths(lengths)
    tokens = sum(xs)
    spec = LoRA.coerce(lora) if lora is not None else None
    if convention == "6nd":
        if spec is None:
            return float(6 * _n_6nd(arch) * tokens)
        return float(4 * _n_6nd(arch) * tokens + 6 * lora_parameters(arch, spec) * tokens)
    linear = (
        _weight_flops_per_token(arch, convention)
        + _embedding_flops_per_token(arch, convention)
        + _logits_flops_per_token(arch)
    )
    if causal_halving:
        pairs = sum(_prefill_pairs(arch, x, True) for x in xs)
    else:
        pairs = arch.num_layers * sum(x * x for x in xs)
    attention = pairs * _score_flops_per_pair(arch, convention)
    if spec is None:
        return float(3 * (linear * tokens + attention))
    adapters = _lora_forward_per_token(arch, spec, convention)
    return float(2 * linear * tokens + 3 * attention + 3 * adapters * tokens)


# --------------------------------------------------------------------------------------------------
# Ledger
# --------------------------------------------------------------------------------------------------


def _pairs(prompt_tokens: Any, generated_tokens: Any) -> list[tuple[int, int]]:
    scalar_p = not isinstance(prompt_tokens, Iterable)
    scalar_g = not isinstance(generated_tokens, Iterable)
    if scalar_p and scalar_g:
        return [(prompt_tokens, generated_tokens)]
    ps = list(prompt_tokens) if not scalar_p else None
    gs = list(generated_tokens) if not scalar_g else None
    if ps is None:
        ps = [prompt_tokens] * len(gs)  # type: ignore[arg-type]
    if gs is None:
        gs = [generated_tokens] * len(ps)
    if len(ps) != len(gs):
        raise ValueError(f"prompt_tokens ({len(ps)}) and generated_tokens ({len(gs)}) differ in length")
    return list(zip(ps, gs))


@dataclass
class FlopsLedger:
    """Running FLOP totals of a study under one convention.

    ``training`` (student fine-tuning), ``evaluation`` (student generation on benchmarks) and ``teacher``
    (generation of the distillation data) are kept apart; ``total`` is their sum. The ``add_*`` methods
    compute with this ledger's convention and return what they added.
    """

    convention: str = "paper"
    training: float = 0.0
    evaluation: float = 0.0
    teacher: float = 0.0

    def __post_init__(self) -> None:
        _check_convention(self.convention)

    @property
    def total(self) -> float:
        return self.training + self.evaluation + self.teacher

    def add_training(self, arch: Architecture, lengths: Iterable[int] | int, *, lora: Any = None) -> float:
        """Add ``train_flops`` of samples of these lengths."""
        flops = train_flops(arch, lengths, self.convention, lora=lora)
        self.training += flops
        return flops

    def add_evaluation(self, arch: Architecture, prompt_tokens: Any, generated_tokens: Any) -> float:
        """Add ``inference_flops`` per answer; ints, or paired iterables of per-answer lengths."""
        flops = sum(
            inference_flops(arch, p, g, self.convention) for p, g in _pairs(prompt_tokens, generated_tokens)
        )
        self.evaluation += flops
        return float(flops)

    def add_teacher(self, arch: Architecture, prompt_tokens: Any, generated_tokens: Any) -> float:
        """Add the teacher's generation FLOPs (``inference_flops`` of its architecture) per answer; ints, or
        paired iterables."""
        flops = sum(
            inference_flops(arch, p, g, self.convention) for p, g in _pairs(prompt_tokens, generated_tokens)
        )
        self.teacher += flops
        return float(flops)

    def to_dict(self) -> dict[str, Any]:
        """``{"convention", "training", "evaluation", "teacher", "total"}``."""
        d: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        d["total"] = self.total
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FlopsLedger:
        """Inverse of ``to_dict`` (``total`` is recomputed, not read)."""
        return cls(
            str(d.get("convention", "paper")),
            float(d.get("training", 0.0)),
            float(d.get("evaluation", 0.0)),
            float(d.get("teacher", 0.0)),
        )


def flops_totals(arch: Architecture, rows: Iterable[tuple[int, int]], convention: str = "paper") -> dict[str, Any]:
    """Totals over ``(prompt_tokens, generated_tokens)`` rows (``sor flops``): the parameters, the training
    FLOPs of one step on each ``P + G`` sample and the inference FLOPs of each (prefill ``P``, ``G`` decode
    steps)."""
    rows = list(rows)
    return {"convention": convention, "parameters": arch.parameters,
            "non_embedding_parameters": arch.non_embedding_parameters, "active_parameters": arch.active_parameters,
            "samples": len(rows), "train_flops": sum(train_flops(arch, [p + g], convention) for p, g in rows),
            "inference_flops": sum(inference_flops(arch, p, g, convention) for p, g in rows)}


def read_lengths(path: str | Path) -> list[tuple[int, int]]:
    """``(prompt_tokens, generated_tokens)`` rows of a CSV or JSONL table; a one-line error names the file, the
    row and the column of a value that is not a token count."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    kind = "JSONL" if path.suffix == ".jsonl" else "CSV"
    try:
        df = pd.read_json(path, lines=True) if kind == "JSONL" else pd.read_csv(path)
    except (ValueError, pd.errors.EmptyDataError, pd.errors.ParserError) as e:
        raise ValueError(f"{path}: not a readable {kind} table ({' '.join(str(e).split())})") from None
    if df.empty:
        raise ValueError(f"{path}: no rows")
    for col in ("prompt_tokens", "generated_tokens"):
        if col not in df.columns:
            raise ValueError(f"{path}: missing column {col!r}")
        num = pd.to_numeric(df[col], errors="coerce")
        bad = df.index[num.isna() | (num < 0) | (num != num.round())]
        if len(bad):
            i, value = int(bad[0]), df[col].iloc[int(bad[0])]
            shown = repr(value) if isinstance(value, str) else str(value)
            raise ValueError(f"{path}: row {i + 1}: {col} {shown} is not a token count (a whole number >= 0)")
        df[col] = num.astype(int)
    return [(int(p), int(g)) for p, g in zip(df.prompt_tokens, df.generated_tokens)]
