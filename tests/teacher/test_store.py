"""Pair store, prompt sources, resume, export/import and ``sor generate`` on the synthetic backend."""

import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from scale_or_reason.cli import app
from scale_or_reason.records import PairedSample
from scale_or_reason.teacher import (
    FieldMap,
    GenerateConfig,
    export_pairs,
    generate,
    import_pairs,
    iter_prompts,
    make_prompt_id,
    read_pairs,
)
from scale_or_reason.teacher.store import DoneIds, PairStore

SRC = "synthetic:Math-OE,General-MC:300"


def _cfg(out, **kw):
    return GenerateConfig(source=kw.pop("source", SRC), out=out, progress=False,
                          shard_size=kw.pop("shard_size", 64), **kw)


def _key(p):
    return (p.prompt_id, p.prompt, p.ift_answer, p.reasoning_trace, p.reasoning_answer, p.trace_tokens)


def test_generate_synthetic_store_and_summary(tmp_path):
    s = generate(_cfg(tmp_path / "pairs"))
    assert s["pairs"] == s["new_pairs"] == 300 and s["skipped"] == 0
    assert s["flagged"] == {"truncated": 0, "empty_answer": 0, "toggle_ignored": 0, "disagree": 0}
    assert s["ratio_median"] > 3 and s["ratio_p90"] >= s["ratio_median"]
    pairs = read_pairs(tmp_path / "pairs")
    assert len(pairs) == len({p.prompt_id for p in pairs}) == 300
    p = pairs[0]
    assert p.reasoning_trace and p.ift_answer == p.reasoning_answer and not p.ift_trace
    assert p.profile == "qwen3" and p.teacher.startswith("synthetic") and p.teacher_flops == 0.0
    assert p.reasoning_text.startswith("<think>\n") and p.reasoning_text.endswith(p.reasoning_answer)
    assert set(p.sampling) == {"ift", "reasoning"}
    assert sorted(tmp_path.joinpath("pairs").glob("pairs-*.parquet"))  # sharded
    assert len(list(tmp_path.joinpath("pairs").glob("pairs-*.parquet"))) == 5  # 300 / 64


def test_rerun_skips_and_extends_never_duplicates(tmp_path):
    out = tmp_path / "pairs"
    generate(_cfg(out, limit=100))
    s = generate(_cfg(out))
    assert (s["skipped"], s["new_pairs"], s["pairs"]) == (100, 200, 300)
    again = generate(_cfg(out))
    assert (again["skipped"], again["new_pairs"], again["pairs"]) == (300, 0, 300)
    ids = [p.prompt_id for p in read_pairs(out)]
    assert len(ids) == len(set(ids)) == 300
    whole = generate(_cfg(tmp_path / "whole"))
    assert whole["pairs"] == 300
    assert sorted(map(_key, read_pairs(out))) == sorted(map(_key, read_pairs(tmp_path / "whole")))


def test_store_refuses_other_teacher_settings_and_second_writer(tmp_path):
    out = tmp_path / "pairs"
    generate(_cfg(out, limit=10))
    with pytest.raises(ValueError, match="one store holds one teacher"):
        generate(_cfg(out, limit=10, teacher="another-teacher"))
    with pytest.raises(ValueError, match="deterministic"):
        generate(_cfg(out, limit=10, sampling_ift="temperature=0.3"))
    with PairStore(out):
        with pytest.raises(ValueError, match="another run is writing"):
            generate(_cfg(out, limit=10))


def test_pair_store_round_trips_pairs_for_read_pairs(tmp_path):
    p = PairedSample(prompt_id="a", family="Math-OE", prompt="q", reference=None, ift_answer="x",
                     reasoning_trace="t", reasoning_answer="x", sampling={"ift": {"t": 0}})
    with PairStore(tmp_path) as store:
        store.add_pair(p)
    (tmp_path / ".train-x.parquet.tmp-1").write_text("half")  # a killed writer's leftover is ignored
    back = read_pairs(tmp_path)
    assert back == [p]
    with pytest.raises(FileNotFoundError):
        read_pairs(tmp_path / "none")


def test_done_ids_is_a_compact_set():
    d = DoneIds(f"p{i}" for i in range(1000))
    assert "p7" in d and "q7" not in d and len(d) == 1000
    d.add("q7")
    assert "q7" in d


def test_sources_jsonl_parquet_saved_dataset_and_hub_layout(tmp_path):
    import datasets

    rows = [{"question": f"What is {i} + 1?", "sys": "Be brief.", "gold": str(i + 1), "cat": "Math-OE"}
            for i in range(5)]
    fm = FieldMap(prompt="question", system="sys", reference="gold", family="cat")
    jl = tmp_path / "p.jsonl"
    jl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pqf = tmp_path / "p.parquet"
    pq.write_table(pa.Table.from_pylist(rows), pqf)
    saved = tmp_path / "saved"
    datasets.Dataset.from_list(rows).save_to_disk(str(saved))
    hub = tmp_path / "hub"
    (hub / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), hub / "data" / "train-00000-of-00001.parquet")
    seen = []
    for src in (jl, pqf, saved, hub):
        items = list(iter_prompts(str(src), fm))
        seen.append([(i.prompt_id, i.prompt, i.system, i.reference, i.family) for i in items])
    assert all(s == seen[0] for s in seen) and len(seen[0]) == 5
    first = seen[0][0]
    assert first[0] == make_prompt_id(0, "What is 0 + 1?", "Be brief.") and first[2:] == ("Be brief.", "1", "Math-OE")
    assert len(list(iter_prompts(str(jl), fm, limit=2))) == 2


def test_sources_chat_prompts_and_errors_name_the_row_and_field(tmp_path):
    chat = tmp_path / "chat.jsonl"
    chat.write_text(json.dumps({"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "Hi?"},
                                                  {"from": "gpt", "value": "Hello"}]}) + "\n")
    (item,) = iter_prompts(str(chat), FieldMap(prompt="conversations"))
    assert (item.prompt, item.system) == ("Hi?", "S")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"prompt": ""}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl: row 1: field 'prompt' is empty"):
        list(iter_prompts(str(bad)))
    with pytest.raises(ValueError, match=r"row 0: no field 'question'"):
        list(iter_prompts(str(bad), FieldMap(prompt="question")))
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "ok"}\n{oops\n')
    with pytest.raises(ValueError, match="broken.jsonl: line 2 is not valid JSON"):
        list(iter_prompts(str(broken)))
    with pytest.raises(FileNotFoundError):
        list(iter_prompts(str(tmp_path / "missing.jsonl")))


def test_a_rerun_refuses_an_id_repeated_after_a_stored_one(tmp_path, scripted):
    """The first occurrence is stored; a rerun over the file with the id repeated must refuse, not skip both."""
    src = tmp_path / "p.jsonl"
    src.write_text(json.dumps({"id": "same", "prompt": "q0"}) + "\n")
    answers = {(t, "same"): (("<think>\nhm\n</think>\n\n" if t else "") + "ok \\boxed{1}", "stop")
               for t in (False, True)}
    cfg = GenerateConfig(source=str(src), out=tmp_path / "o", backend="openai", model="x", profile="qwen3",
                         id_field="id", probe_pairs=0, progress=False)
    assert generate(cfg, backend=scripted(answers))["new_pairs"] == 1
    src.write_text(src.read_text() + json.dumps({"id": "same", "prompt": "q1"}) + "\n")
    with pytest.raises(ValueError, match="'same' appears twice"):
        generate(cfg, backend=scripted(answers))


def test_duplicate_ids_from_an_id_field_are_refused(tmp_path):
    src = tmp_path / "p.jsonl"
    src.write_text("".join(json.dumps({"id": "same", "prompt": f"q{i}"}) + "\n" for i in range(2)))
    with pytest.raises(ValueError, match="'same' appears twice"):
        generate(GenerateConfig(source=str(src), out=tmp_path / "o", backend="openai", model="x",
                                base_url="http://127.0.0.1:9/v1", profile="qwen3", id_field="id",
                                max_retries=0, timeout_s=1, progress=False))


def test_synthetic_backend_needs_synthetic_tasks(tmp_path):
    src = tmp_path / "p.jsonl"
    src.write_text(json.dumps({"prompt": "hi"}) + "\n")
    with pytest.raises(RuntimeError, match="synthetic tasks only"):
        generate(_cfg(tmp_path / "o", source=str(src)))


def test_export_import_round_trip(tmp_path):
    import datasets

    generate(_cfg(tmp_path / "pairs"))
    res = export_pairs(tmp_path / "pairs", tmp_path / "release", rows_per_file=128)
    assert res == {"out": str(tmp_path / "release"), "rows": 300, "dropped": 0, "files": 3}
    ds = datasets.load_dataset(str(tmp_path / "release"), split="reasoning_ift_pairs")
    assert ds.column_names == ["prompt", "reasoning", "ift"] and len(ds) == 300
    assert ds[0]["reasoning"].startswith("<think>\n") and "</think>\n\n" in ds[0]["reasoning"]
    got = import_pairs(str(tmp_path / "release"), tmp_path / "imported")
    assert (got["imported"], got["skipped"]) == (300, 0)
    assert import_pairs(str(tmp_path / "release"), tmp_path / "imported")["skipped"] == 300  # resumable
    a = read_pairs(tmp_path / "pairs")
    b = read_pairs(tmp_path / "imported")

    def content(p):
        return (p.prompt, p.ift_answer, p.reasoning_trace, p.reasoning_answer)

    assert sorted(map(content, a)) == sorted(map(content, b))
    assert not any(p.truncated or p.empty_answer or p.toggle_ignored for p in b)
    # a saved (save_to_disk) copy of the layout imports the same way
    ds.save_to_disk(str(tmp_path / "saved"))
    assert import_pairs(str(tmp_path / "saved"), tmp_path / "imported2")["imported"] == 300
    # an existing folder that is not an export is never replaced
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a previous export"):
        export_pairs(tmp_path / "pairs", tmp_path / "mine", overwrite=True)
    assert export_pairs(tmp_path / "pairs", tmp_path / "release", overwrite=True)["rows"] == 300


def test_import_flags_truncated_and_wrong_layout(tmp_path):
    rows = [{"prompt": "a", "reasoning": "<think>\nstill thinking", "ift": "A"},
            {"prompt": "b", "reasoning": "<think>\nok\n</think>\n\nB", "ift": ""}]
    f = tmp_path / "r.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    import_pairs(str(f), tmp_path / "s")
    a, b = sorted(read_pairs(tmp_path / "s"), key=lambda p: p.prompt)
    assert a.truncated and a.empty_answer and a.reasoning_trace == "still thinking"
    assert not b.truncated and b.empty_answer and b.reasoning_answer == "B"
    g = tmp_path / "g.jsonl"
    g.write_text(json.dumps({"prompt": "a", "answer": "x"}) + "\n")
    with pytest.raises(ValueError, match=r"no column\(s\) reasoning, ift"):
        import_pairs(str(g), tmp_path / "t")


def test_cli_generate_then_pairs_export_and_import(tmp_path):
    runner = CliRunner()
    out, rel = tmp_path / "pairs", tmp_path / "release"
    r = runner.invoke(app, ["generate", "--source", "synthetic:Math-MC:40", "--out", str(out), "--no-progress",
                            "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout.strip().splitlines()[0])
    assert summary["pairs"] == 40 and summary["pending_failures"] == 0
    r = runner.invoke(app, ["pairs", "export", str(out), "--out", str(rel), "--drop-flags", "truncated,disagree"])
    assert r.exit_code == 0, r.output
    assert (rel / "README.md").exists()
    r = runner.invoke(app, ["pairs", "export", str(out), "--out", str(rel), "--drop-flags", "sideways"])
    assert r.exit_code == 2 and "unknown flag(s) sideways" in r.output
    r = runner.invoke(app, ["pairs", "import", str(rel), "--out", str(tmp_path / "imp"), "--no-progress",
                            "--limit", "30"])
    assert r.exit_code == 0, r.output
    assert len(read_pairs(tmp_path / "imp")) == 30
    r = runner.invoke(app, ["pairs", "import", str(rel), "--out", str(tmp_path / "imp"), "--no-progress"])
    assert r.exit_code == 0 and "imported 10 pairs (30 already there)" in r.output  # resumes
    r = runner.invoke(app, ["generate", "--out", str(out)])
    assert r.exit_code == 2 and "--source" in r.output
    r = runner.invoke(app, ["generate", "--source", "synthetic:Math-MC:4", "--out", str(out), "--shard-size", "0"])
    assert r.exit_code == 2 and "shard_size: must be an integer >= 1" in r.output
    r = runner.invoke(app, ["generate", "--source", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "x"),
                            "--backend", "openai", "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
                            "--profile", "qwen3"])
    assert r.exit_code == 2 and "nope.jsonl" in r.output
    r = runner.invoke(app, ["generate", "--source", SRC, "--out", str(tmp_path / "y"), "--backend", "openai",
                            "--model", "Qwen/Qwen3-4B-Instruct-2507", "--base-url", "http://127.0.0.1:9/v1"])
    assert r.exit_code == 2 and "not a hybrid" in r.output
    cfg = tmp_path / "gen.toml"
    cfg.write_text('[generate]\nsource = "synthetic:Math-OE:5"\nshard_size = 2\nbogus = 1\n')
    r = runner.invoke(app, ["generate", "--config", str(cfg), "--out", str(tmp_path / "z")])
    assert r.exit_code == 2 and "gen.toml" in r.output and "bogus" in r.output


def test_vllm_backend_code_path_against_a_stub(tmp_path, fake_vllm):
    """vLLM itself needs a GPU and is never installed for the tests: a stub ``vllm`` module records what
    the backend asks for (per-mode chat_template_kwargs, per-request SamplingParams) and answers."""
    calls = fake_vllm(lambda kw: ("<think>\n3 + 4 = 7\n</think>\n\n" if kw["enable_thinking"] else "")
                      + "The answer is 7.")
    s = generate(GenerateConfig(source="synthetic:Math-OE:6", out=tmp_path / "v", backend="vllm",
                                model="Qwen/Qwen3-8B", tensor_parallel_size=2, batch_size=4, progress=False))
    assert s["pairs"] == 6 and s["teacher_flops"] > 0
    assert calls[0] == ("init", {"model": "Qwen/Qwen3-8B", "tensor_parallel_size": 2, "dtype": "auto"})
    chats = [c for c in calls if c[0] == "chat"]
    assert {c[2]["enable_thinking"] for c in chats} == {True, False}
    for _, _, kwargs, params in chats:
        for sp in params:
            assert sp["skip_special_tokens"] is False and sp["top_k"] == 20 and sp["seed"] is not None
            assert sp["temperature"] == (0.6 if kwargs["enable_thinking"] else 0.7)
    p = read_pairs(tmp_path / "v")[0]
    assert (p.reasoning_trace, p.reasoning_answer) == ("3 + 4 = 7", "The answer is 7.")
    assert p.ift_answer == "The answer is 7."
    assert p.ift_prompt_tokens > p.prompt_tokens and not p.truncated and p.teacher == "Qwen/Qwen3-8B"


def test_token_estimate_is_pythons_word_pattern_and_exact_counts_are_the_tokenizers(tmp_path):
    import re

    from scale_or_reason.teacher.tokens import count_tokens

    texts = ["Hello, world!", "", None, "naïve café — 你好 世界！ x_y 3.14 \u00a0 a\u3000b \u2028 é",
             "tab\tnew\nline\x1c\x1f\x85 \x0b\x0c end",
             "".join(map(chr, range(128))) * 2, "a\x1cb\x0bc_d-e  f\x00g!! __ 9x --", "Ⅷ ² ½ ٣ 🙂🙂 <think>\n\\boxed{42}</think>"]
    words = re.compile(r"\w+|[^\w\s]")
    assert count_tokens(texts) == [len(words.findall(t or "")) for t in texts]
    import random  # the all-ASCII batch path (one numpy pass over the joined texts): runs at every boundary

    rng = random.Random(0)
    ascii_texts = ["".join(rng.choice(" \t\nab_9.,!(") for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    assert count_tokens(ascii_texts) == [len(words.findall(t)) for t in ascii_texts]
    assert count_tokens(["", ""]) == [0, 0] and count_tokens(["a", "b"]) == [1, 1]
    from scale_or_reason.synthetic.tokenizer import build_tokenizer

    tok = build_tokenizer(["hello world think boxed"] * 5, vocab_size=120)
    assert count_tokens(texts, tok) == [len(tok(t or "", add_special_tokens=False)["input_ids"]) for t in texts]


def test_a_columnar_import_stores_what_a_pair_by_pair_import_would(tmp_path):
    """Every field of every imported pair equals the ``PairedSample`` built row by row from the split and the
    counts of each text alone; a resumed import (cut after 3 rows) ends with the same store."""
    from scale_or_reason.records import PairedSample
    from scale_or_reason.synthetic.tokenizer import build_tokenizer
    from scale_or_reason.teacher.profiles import get_profile
    from scale_or_reason.teacher.tokens import count_tokens

    rows = [{"prompt": "What is 2+2?", "reasoning": "<think>\nadd them: 4\n</think>\n\n\\boxed{4}", "ift": "4"},
            {"prompt": "Déjà vu — 你好?", "reasoning": "<think>\nstill thinking", "ift": "<think>\nx\n</think>\n\nok"},
            {"prompt": "b", "reasoning": "<think>\nok\n</think>\n\nB", "ift": "", "family": "Math-OE"},
            {"prompt": "c", "reasoning": "no trace at all", "ift": "C."},
            {"prompt": "d", "reasoning": "<think>\n\n</think>\n\n", "ift": "  D \n"}]
    import pyarrow as pa
    import pyarrow.parquet as pq

    jsonl, parquet = tmp_path / "r.jsonl", tmp_path / "r.parquet"
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    # read column-wise, its texts stored as Arrow arrays (family: null where a row has none)
    pq.write_table(pa.table({k: [r.get(k) for r in rows] for k in ("prompt", "reasoning", "ift", "family")}), parquet)
    profile = get_profile("qwen3")
    tok = build_tokenizer(["what is add them still thinking ok no trace"] * 5, vocab_size=150)
    for f, tokenizer in ((jsonl, None), (jsonl, tok), (parquet, None), (parquet, tok)):
        def one(t):
            return count_tokens([t], tokenizer)[0]

        expected = {}
        for i, r in enumerate(rows):
            rea, ift = profile.split(r["reasoning"]), profile.split(r["ift"])
            pid = make_prompt_id(i, r["prompt"])
            expected[pid] = PairedSample(
                prompt_id=pid, family=r.get("family", ""), prompt=r["prompt"], reference=None,
                ift_answer=ift.answer, reasoning_trace=rea.trace, reasoning_answer=rea.answer,
                prompt_tokens=one(r["prompt"]), ift_prompt_tokens=one(r["prompt"]), ift_tokens=one(ift.answer),
                trace_tokens=one(rea.trace), reasoning_answer_tokens=one(rea.answer),
                ift_finish_reason="stop", reasoning_finish_reason="stop" if rea.closed else "unknown",
                teacher="t", sampling={}, profile="imported", ift_trace=ift.trace, ift_trace_tokens=one(ift.trace),
                ift_completion_tokens=one(ift.answer) + one(ift.trace),
                reasoning_completion_tokens=one(rea.trace) + one(rea.answer),
                ift_text=r["ift"], reasoning_text=r["reasoning"], token_counts_exact=tokenizer is not None,
                truncated=not rea.closed, empty_answer=not ift.answer or not rea.answer,
                toggle_ignored=bool(ift.trace) or not rea.trace, teacher_flops=math.nan)
        store = tmp_path / f"s-{f.suffix}-{tokenizer is None}"
        assert import_pairs(str(f), store, teacher="t", tokenizer=tokenizer, limit=3, shard_size=2)["imported"] == 3
        got = import_pairs(str(f), store, teacher="t", tokenizer=tokenizer, shard_size=2)
        assert (got["imported"], got["skipped"]) == (2, 3)
        stored = {p.prompt_id: p for p in read_pairs(store)}
        assert stored.keys() == expected.keys()
        for pid, p in stored.items():
            a, b = p.to_dict(), expected[pid].to_dict()
            assert math.isnan(a.pop("teacher_flops")) and math.isnan(b.pop("teacher_flops"))
            assert a == b, (f.name, pid)
