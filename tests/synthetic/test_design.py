"""Design checks of the embedded study: on a tiny configuration, the design lets either side win.

They test the *design*, never the study's verdict (docs/embedded.md): scale can win General (the facts its test
questions ask are stored by the base in proportion to its size), and reasoning can win Math (at equal size, the
written steps make the answer available where one forward pass does not). Both are measured teacher-forced on
test items, after well under a minute of training each.
"""


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
    return generate_pairs(generate_tasks(family, n, split="train", seed=1), SyntheticTeacher())


def test_the_facts_general_questions_ask_are_stored_in_proportion_to_size(study_tok, tmp_path):
    """Scale can win General: the test questions ask facts that only the base corpus states, and how many of them a
    base stores is capacity-limited — same corpus, same steps, the larger base recalls far more (teacher-forced,
    closed set of 8 values). An IFT student answers from what its base stored; whether the study's IFT students
    turn that into accuracy is what the study measures (docs/embedded.md: the recall-vs-size curve)."""
    from scale_or_reason.synthetic.probes import fact_recall

    docs = base_corpus(CorpusConfig(fact_repeats=20, arithmetic_repeats=0, option_drills=0, chat_drills=0))
    cfg = TrainConfig(learning_rate=3e-3, batch_size=16, micro_batch_size=16, epochs=8, tensorboard=False)
    recall = {}
    for name, config in (("small", _qwen3(16, 1)), ("large", _qwen3(96, 2))):
        pretrain_base(StudentSpec(name=name, config=config), docs, study_tok, tmp_path / name, cfg, tokenizer_id="d")
        recall[name] = fact_recall(tmp_path / name, "test")["accuracy"]
    # measured: small 18%, large 57% (chance 12.5%)
    assert recall["large"] >= recall["small"] + 0.2 and recall["large"] >= 0.35, recall


def test_math_accuracy_at_equal_size_is_higher_with_reasoning(study_tok, tmp_path):
    """One size, the same Math-OE prompts: trained on the reasoning traces, the student reads the answer off the
    written steps; trained on the bare answers, it must compute three operations in one pass."""
    pairs = _pairs("Math-OE", 4800)
    spec = StudentSpec(name="m", config=_qwen3(64, 2))
    cfg = TrainConfig(learning_rate=3e-3, batch_size=16, micro_batch_size=16, epochs=1, tensorboard=False)
    test = generate_tasks("Math-OE", 80, split="test", seed=0)
    acc = {}
    for arm in ("ift", "reasoning"):  # 300 steps each; the copy off the trace appears between 150 and 300
        run = tmp_path / arm
        train_student(spec, arm, build_arm(pairs, Arm.parse(arm), 4800), study_tok, run, cfg, tokenizer_id="d")
        acc[arm] = boxed_value_probe(run, test, thinking=arm == "reasoning")["accuracy"]
    # measured: reasoning 100%, IFT ~10% (chance 5%): one pass does not compute three operations
    assert acc["reasoning"] >= acc["ift"] + 0.4 and acc["ift"] < 0.3, acc
