"""Design checks of the embedded study: on a tiny configuration, the design lets either side win.

They test the *design*, never the study's verdict (docs/embedded.md): scale can win General (recall of facts the
base stored is capacity-limited, so a larger IFT student answers more of them), and reasoning can win Math (at
equal size, the written steps make the answer available where one forward pass does not). Both are measured
teacher-forced (``synthetic.probes.boxed_value_probe``) on test items, after a few seconds of training.
"""

import dataclasses

import pytest

from scale_or_reason.data import Arm, build_arm
from scale_or_reason.synthetic.corpus import CorpusConfig, base_corpus
from scale_or_reason.synthetic.probes import boxed_value_probe
from scale_or_reason.synthetic.tasks import generate_tasks
from scale_or_reason.synthetic.teacher import SyntheticTeacher
from scale_or_reason.synthetic.tokenizer import embedded_tokenizer, save_tokenizer
from scale_or_reason.teacher import generate_pairs
from scale_or_reason.train import StudentSpec, TrainConfig, pretrain_base, train_student


def _qwen3(hidden: int, layers: int, heads: int = 2) -> dict:
    return {"model_type": "qwen3", "hidden_size": hidden, "intermediate_size": 2 * hidden,
            "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": 1,
            "head_dim": hidden // heads, "max_position_embeddings": 512, "tie_word_embeddings": True}


@pytest.fixture(scope="module")
def study_tok(tmp_path_factory):
    return save_tokenizer(embedded_tokenizer(["General-OE", "Math-OE"], 512), tmp_path_factory.mktemp("tok"))


def _pairs(family: str, n: int):
    pairs = generate_pairs(generate_tasks(family, n, split="train", seed=1), SyntheticTeacher())
    return pairs


def test_general_accuracy_of_ift_students_grows_with_size(study_tok, tmp_path):
    """Same base corpus (the world's facts), same IFT pairs, two sizes: the larger answers more test questions
    (facts stored by the base, never asked in distillation)."""
    docs = base_corpus(CorpusConfig(fact_repeats=12, arithmetic_repeats=0, option_drills=0, chat_drills=200))
    samples = build_arm(_pairs("General-OE", 400), Arm.parse("ift"), 400)
    base_cfg = TrainConfig(learning_rate=1e-2, batch_size=16, micro_batch_size=16, epochs=3, tensorboard=False)
    ift_cfg = dataclasses.replace(base_cfg, learning_rate=1e-3, epochs=1)
    test = generate_tasks("General-OE", 80, split="test", seed=0)
    acc = {}
    for name, config in (("small", _qwen3(16, 1)), ("large", _qwen3(96, 2))):
        spec = StudentSpec(name=name, config=config)
        pretrain_base(spec, docs, study_tok, tmp_path / f"base-{name}", base_cfg, tokenizer_id="design")
        run = tmp_path / f"ift-{name}"
        train_student(dataclasses.replace(spec, pretrained=str(tmp_path / f"base-{name}")), "ift", samples,
                      study_tok, run, ift_cfg, tokenizer_id="design")
        acc[name] = boxed_value_probe(run, test, thinking=False)
    chance = acc["small"]["chance"]
    assert acc["large"]["accuracy"] >= acc["small"]["accuracy"] + 0.15, acc
    assert acc["large"]["accuracy"] >= 2 * chance, acc


def test_math_accuracy_at_equal_size_is_higher_with_reasoning(study_tok, tmp_path):
    """One size, the same Math-OE prompts: trained on the reasoning traces, the student reads the answer off the
    written steps; trained on the bare answers, it must compute three operations in one pass."""
    pairs = _pairs("Math-OE", 600)
    spec = StudentSpec(name="m", config=_qwen3(64, 2))
    cfg = TrainConfig(learning_rate=3e-3, batch_size=16, micro_batch_size=16, epochs=1, tensorboard=False)
    test = generate_tasks("Math-OE", 80, split="test", seed=0)
    acc = {}
    for arm in ("ift", "reasoning"):
        run = tmp_path / arm
        train_student(spec, arm, build_arm(pairs, Arm.parse(arm), 600), study_tok, run, cfg, tokenizer_id="design")
        acc[arm] = boxed_value_probe(run, test, thinking=arm == "reasoning")
    assert acc["reasoning"]["accuracy"] >= acc["ift"]["accuracy"] + 0.3, acc
    assert acc["ift"]["accuracy"] < 0.35, acc  # three operations are not done in one pass by this student
