"""A small tokenizer built locally with the ``tokenizers`` library, with a Qwen3-style chat template.

Digits are always single tokens (a BPE that merges ``17`` into one token makes arithmetic much
harder to learn for a tiny student). Words of the synthetic language become single tokens through
BPE merges learned on a corpus drawn from the task generators. The multiple-choice markers `` (A)`` ..
`` (D)`` (with their leading space) are single tokens, so the answer's restated option ``red (A)`` is a
one-token copy of what follows the value in the prompt. The text round-trips exactly through
encode/decode (a Metaspace pre-tokenizer keeps the spaces).

The chat template follows Qwen3's: turns in ``<|im_start|>role\\n...<|im_end|>``; with
``enable_thinking=False`` the generation prompt ends with an empty ``<think>\\n\\n</think>\\n\\n``, with
``enable_thinking=True`` (the default) the model opens ``<think>`` itself. An assistant message with
``reasoning_content`` renders it inside the think block, so a reasoning target and an IFT target
differ only in the reasoning text.

Example::

    from scale_or_reason.synthetic.tokenizer import build_tokenizer
    tok = build_tokenizer(["What is 12 + 5?"], vocab_size=300)
    ids = tok("What is 12 + 5?")["input_ids"]
    assert tok.decode(ids) == "What is 12 + 5?"
    prompt = tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False,
                                     add_generation_prompt=True, enable_thinking=False)
    assert prompt.endswith("<think>\\n\\n</think>\\n\\n")
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from ..extract import THINK_CLOSE, THINK_OPEN
from .tasks import LETTERS

PAD, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"

# The think layout of ``extract.think_text`` / ``extract.EMPTY_THINK``, written in Jinja (a test renders it
# and checks that it matches).
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if message.get('reasoning_content') is not none %}"
    "{{- '<think>\\n' + (message['reasoning_content'] | default('')) + '\\n</think>\\n\\n' }}"
    "{%- endif %}"
    "{{- message['content'] + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}"
    "{%- endif %}"
)
"""Qwen3-style chat template (the subset the toolkit needs), honouring ``enable_thinking``."""


def build_tokenizer(corpus: Iterable[str], vocab_size: int = 512, words: Iterable[str] = ()) -> PreTrainedTokenizerFast:
    """Train a BPE tokenizer on ``corpus`` and wrap it as a Hugging Face fast tokenizer; each of ``words`` (the
    world's entity names) becomes one token, with its leading space, like the option markers."""
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\n"), behavior="isolated"),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True),
        # Every digit and punctuation mark is its own piece, keeping the space before it: "▁12," ->
        # "▁1", "2", ",". (Digits()/Punctuation() would leave a lone "▁" piece in front of each, doubling
        # the length of arithmetic text.)
        pre_tokenizers.Split(Regex(r"▁?[0-9]|▁?[^\w▁\s]"), behavior="isolated"),
    ])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="never", split=True)
    specials = [PAD, IM_START, IM_END]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        # Every printable ASCII character is in the alphabet, so any English prompt tokenizes.
        initial_alphabet=list(string.printable.strip()) + ["▁", "\n"],
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    tok.add_tokens([AddedToken(THINK_OPEN, special=False, normalized=False),
                    AddedToken(THINK_CLOSE, special=False, normalized=False)]
                   + [AddedToken(f" ({c})", special=False, normalized=False) for c in LETTERS]
                   + [AddedToken(f" {w}", special=False, normalized=False) for w in words])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=IM_END,
        pad_token=PAD,
        padding_side="left",
        model_max_length=2048,
        chat_template=CHAT_TEMPLATE,
    )
    fast.add_special_tokens({"additional_special_tokens": [IM_START]})
    return fast


def embedded_tokenizer(families: Iterable[str], vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """The embedded study's tokenizer: BPE trained on the teacher's texts of ``families`` (as the chat template
    lays them out, so role names become single tokens) and the base corpus without repeats; every entity name
    of the world is one token."""
    from .corpus import CorpusConfig, base_corpus
    from .tasks import generate_tasks, world
    from .teacher import SyntheticTeacher

    teacher = SyntheticTeacher()
    corpus = []
    for fam in families:
        for t in generate_tasks(fam, 400, split="train", seed=10_000):
            on = teacher.answer(t, enable_thinking=True)
            corpus += [f"user\n{t.prompt}", f"assistant\n{on.trace}", on.answer]
    corpus += base_corpus(CorpusConfig(fact_repeats=1, arithmetic_repeats=1, option_drills=200, chat_drills=0))
    return build_tokenizer(corpus, vocab_size=vocab_size, words=sorted(world()))


def save_tokenizer(tok: PreTrainedTokenizerFast, path: Path) -> Path:
    """Save as a Hugging Face tokenizer directory (``tokenizer.json`` + config + chat template)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(path)
    return path
