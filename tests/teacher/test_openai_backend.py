"""The ``openai`` backend against a fault-injecting OpenAI-compatible server of our own (FastAPI +
uvicorn on 127.0.0.1): 429s, 500s, hangs past the timeout and malformed JSON are retried, recorded per
prompt id with the reason, and filled in by a rerun; a run killed midway and rerun stores exactly the
pairs of an uninterrupted run."""

import asyncio
import collections
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("openai")
fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from scale_or_reason.teacher import GenerateConfig, generate, get_profile, read_failures, read_pairs  # noqa: E402
from scale_or_reason.teacher.backends import Job  # noqa: E402
from scale_or_reason.teacher.openai_backend import OpenAIBackend  # noqa: E402
from scale_or_reason.teacher.sources import PromptItem  # noqa: E402

from tests.conftest import signal_when  # noqa: E402


class FaultServer:
    """An OpenAI-compatible chat endpoint whose answers are a function of the prompt and the mode.

    Markers in a prompt inject faults while ``faulty`` is on: ``[429]`` (first request only),
    ``[500]``, ``[hang]`` (sleeps past the client timeout), ``[badjson]``, ``[half]`` (500 for the
    reasoning mode only). ``[inline]`` answers with ``<think>`` inline in ``content``; ``[reasoning]``
    uses the ``reasoning`` field; others ``reasoning_content``. ``[long]`` is cut at the token cap; ``[abort]``,
    ``[filter]``, ``[error]`` and ``[nofinish]`` end the IFT answer with that finish reason (or none);
    ``[usagelist]`` sends ``usage`` as a list, ``[finishobj]`` a ``finish_reason`` object; ``[echo401]`` refuses
    with a 401 whose body quotes the Authorization header;
    ``[always]`` reasons whatever the switch says (a teacher without a toggle).
    """

    def __init__(self, delay_s: float = 0.0, hang_s: float = 1.0):
        from fastapi import FastAPI, Request
        from fastapi.responses import JSONResponse, Response

        self.faulty = True
        self.delay_s = delay_s
        self.calls: collections.Counter = collections.Counter()
        self.bodies: list[dict] = []
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            body = await request.json()
            self.bodies.append(body)
            kwargs = body.get("chat_template_kwargs")
            if body["model"] != "judge" and (not isinstance(kwargs, dict) or "enable_thinking" not in kwargs):
                return JSONResponse({"error": {"message": "chat_template_kwargs.enable_thinking missing"}}, 400)
            thinking = bool(kwargs["enable_thinking"]) if isinstance(kwargs, dict) else False
            if body["model"] == "judge":  # the jury's model: a vote
                return {"id": "j", "object": "chat.completion", "model": "judge", "usage": {"completion_tokens": 3},
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": "\\boxed{no}"}}]}
            prompt = body["messages"][-1]["content"]
            self.calls[(prompt, thinking)] += 1
            n = self.calls[(prompt, thinking)]
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if self.faulty:
                if "[429]" in prompt and n == 1:
                    return JSONResponse({"error": {"message": "slow down"}}, 429, headers={"retry-after": "0"})
                if "[500]" in prompt or ("[half]" in prompt and thinking):
                    return JSONResponse({"error": {"message": "boom"}}, 500)
                if "[hang]" in prompt:
                    await asyncio.sleep(hang_s)
                if "[badjson]" in prompt:
                    return Response("{not json", media_type="application/json")
                if "[echo401]" in prompt:  # a careless server quoting the credentials it refused
                    got = request.headers.get("authorization", "")
                    return JSONResponse({"error": {"message": f"invalid credentials: {got}"}}, 401)
            answer = f"The answer to <{prompt}> is \\boxed{{{len(prompt)}}}."
            trace = f"Let me think about <{prompt}> step by step." if thinking or "[always]" in prompt else ""
            finish = "stop"
            if thinking and "[long]" in prompt:
                trace, answer, finish = trace[:10], "", "length"
            for tag, reason in (("[abort]", "abort"), ("[filter]", "content_filter"), ("[error]", "error"),
                                ("[nofinish]", None)):
                if tag in prompt and not thinking:  # the IFT half cut short with a complete-looking answer
                    finish = reason
            msg = {"role": "assistant", "content": answer}
            if trace and "[inline]" in prompt:
                msg["content"] = f"<think>\n{trace}\n</think>\n\n{answer}"
            elif trace and "[reasoning]" in prompt:
                msg["reasoning"] = trace
            elif trace:
                msg["reasoning_content"] = trace
            usage = {"prompt_tokens": len(prompt.split()) + 5,
                     "completion_tokens": len(trace.split()) + len(answer.split()) + (3 if trace else 0)}
            if "[usagelist]" in prompt:
                usage = [usage["prompt_tokens"], usage["completion_tokens"]]
            if "[finishobj]" in prompt:
                finish = {"type": "stop"}
            return {"id": "x", "object": "chat.completion", "model": body["model"],
                    "choices": [{"index": 0, "message": msg, "finish_reason": finish}], "usage": usage}

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.sock = sock
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="error", timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        for _ in range(200):  # bounded wait for startup
            if self.server.started:
                return self
            time.sleep(0.02)
        raise RuntimeError("fault server did not start")

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
        assert not self.thread.is_alive()


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def _write_prompts(path: Path, prompts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    return path


def _cfg(src: Path, out: Path, url: str, **kw) -> GenerateConfig:
    base = dict(source=str(src), out=out, backend="openai", model="toy/Qwen3-toy", base_url=url, profile="qwen3",
                sampling_ift="temperature=0,top_k=none,min_p=none,max_tokens=64",
                sampling_reasoning="temperature=0,top_k=none,min_p=none,max_tokens=64",
                concurrency=4, timeout_s=0.4, max_retries=2, backoff_base_s=0.01, backoff_max_s=0.05,
                shard_size=4, progress=False, check_disagreement=True)
    base.update(kw)
    return GenerateConfig(**base)


def test_request_carries_toggle_sampling_and_seed():
    be = OpenAIBackend("m", get_profile("qwen3"), base_url="http://127.0.0.1:1/v1")
    item = PromptItem("p1", "hi", system="S")
    on, off = be.request_kwargs(Job(item, "reasoning")), be.request_kwargs(Job(item, "ift"))
    assert on["extra_body"]["chat_template_kwargs"] == {"enable_thinking": True}
    assert off["extra_body"]["chat_template_kwargs"] == {"enable_thinking": False}
    assert (on["temperature"], on["top_p"], on["extra_body"]["top_k"]) == (0.6, 0.95, 20)
    assert (off["temperature"], off["top_p"]) == (0.7, 0.8)
    assert on["messages"] == [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}]
    assert "api_key" not in json.dumps(on)
    gpt = OpenAIBackend("m", get_profile("gpt-oss"), base_url="http://127.0.0.1:1/v1").request_kwargs(Job(item, "ift"))
    assert gpt["extra_body"]["reasoning_effort"] == "low"
    assert gpt["extra_body"]["chat_template_kwargs"] == {"reasoning_effort": "low"}


def test_faults_are_recorded_per_prompt_and_a_rerun_fills_them_in(tmp_path):
    prompts = ["plain one", "plain two [inline]", "plain three [reasoning]", "rate limited [429]",
               "server error [500]", "never answers [hang]", "garbage [badjson]", "half done [half]", "cut [long]"]
    src = _write_prompts(tmp_path / "p.jsonl", prompts)
    out = tmp_path / "pairs"
    with FaultServer() as srv:
        s1 = generate(_cfg(src, out, srv.url))
        assert s1["new_pairs"] == 5 and s1["failed_prompts"] == 4 and s1["pending_failures"] == 4
        fails = read_failures(out)
        by_prompt = collections.defaultdict(dict)
        pid_of = {p.prompt: p.prompt_id for p in read_pairs(out)}
        for f in fails:
            by_prompt[f["prompt_id"]][f["mode"]] = f["reason"]
        reasons = " | ".join(r for d in by_prompt.values() for r in d.values())
        assert "HTTP 500" in reasons and "timeout after 0.4s" in reasons and "malformed response" in reasons
        assert all("gave up after 3 attempts" in r for d in by_prompt.values() for r in d.values())
        assert len(by_prompt) == 4 and sum(len(d) for d in by_prompt.values()) == 7  # [half]: reasoning only
        assert srv.calls[("rate limited [429]", True)] == 2  # the 429 was retried and then answered

        srv.faulty = False
        calls_before = srv.calls[("half done [half]", False)]
        s2 = generate(_cfg(src, out, srv.url))
        assert s2["new_pairs"] == 4 and s2["skipped"] == 5 and s2["pending_failures"] == 0
        assert srv.calls[("half done [half]", False)] == calls_before  # its IFT half was kept, not redone
        assert s2["pairs"] == len(prompts) and read_failures(out) == []
    pairs = {p.prompt: p for p in read_pairs(out)}
    assert len(pairs) == len(prompts)
    assert {p.prompt_id for p in pairs.values()} >= set(pid_of.values())
    plain = pairs["plain one"]
    assert plain.reasoning_trace == "Let me think about <plain one> step by step."
    assert plain.ift_answer == plain.reasoning_answer == "The answer to <plain one> is \\boxed{9}."
    assert (plain.ift_completion_tokens, plain.prompt_tokens) == (7, 7)  # from usage
    assert plain.ift_latency_s > 0 and not plain.token_counts_exact and plain.disagree is False
    assert plain.teacher == "toy/Qwen3-toy" and plain.sampling["reasoning"]["max_tokens"] == 64
    assert pairs["plain two [inline]"].reasoning_trace == "Let me think about <plain two [inline]> step by step."
    assert pairs["plain three [reasoning]"].reasoning_trace.startswith("Let me think")
    cut = pairs["cut [long]"]
    assert cut.truncated and cut.empty_answer and cut.reasoning_finish_reason == "length"
    assert sum(p.truncated for p in pairs.values()) == 1
    assert all(b["chat_template_kwargs"]["enable_thinking"] in (True, False) for b in srv.bodies)
    seeds = collections.defaultdict(set)  # one seed per (prompt, mode), the same on retries and reruns
    for b in srv.bodies:
        seeds[(b["messages"][-1]["content"], b["chat_template_kwargs"]["enable_thinking"])].add(b["seed"])
    assert all(len(v) == 1 for v in seeds.values())
    assert seeds[("plain one", True)] != seeds[("plain one", False)]


def test_answers_cut_for_any_reason_but_stop_are_flagged_not_stored_clean(tmp_path):
    prompts = ["clean", "aborted [abort]", "filtered [filter]", "proxy [error]", "silent [nofinish]"]
    src = _write_prompts(tmp_path / "p.jsonl", prompts)
    with FaultServer() as srv:
        s = generate(_cfg(src, tmp_path / "o", srv.url))
    assert s["new_pairs"] == 5 and s["flagged"]["truncated"] == 4
    pairs = {p.prompt: p for p in read_pairs(tmp_path / "o")}
    assert not pairs["clean"].truncated
    assert {p.prompt: p.ift_finish_reason for p in pairs.values() if p.truncated} == {
        "aborted [abort]": "abort", "filtered [filter]": "content_filter", "proxy [error]": "error",
        "silent [nofinish]": "unknown"}


def test_a_field_of_an_unexpected_type_fails_one_prompt_or_none_never_the_run(tmp_path):
    src = _write_prompts(tmp_path / "p.jsonl", ["odd usage [usagelist]", "odd finish [finishobj]", "fine"])
    with FaultServer() as srv:
        s = generate(_cfg(src, tmp_path / "o", srv.url))
    pairs = {p.prompt: p for p in read_pairs(tmp_path / "o")}
    assert s["new_pairs"] == 3 and set(pairs) == {"odd usage [usagelist]", "odd finish [finishobj]", "fine"}
    assert not pairs["odd usage [usagelist]"].token_counts_exact and pairs["odd usage [usagelist]"].ift_tokens > 0
    assert pairs["odd finish [finishobj]"].truncated and not pairs["fine"].truncated


def test_client_errors_are_not_retried(tmp_path):
    src = _write_prompts(tmp_path / "p.jsonl", ["hello"])
    with FaultServer() as srv:
        s = generate(_cfg(src, tmp_path / "o", srv.url, send_chat_template_kwargs=False))
        assert s["new_pairs"] == 0 and s["pending_failures"] == 1
        (f, *_) = read_failures(tmp_path / "o")
        assert f["reason"].startswith("HTTP 400") and f["attempts"] == 1
        assert sum(srv.calls.values()) == 0 and len(srv.bodies) == 2


def test_a_systematic_error_stops_the_run_and_the_cli_exits_non_zero(tmp_path):
    """A server that rejects every request (here: 400, the switch missing) is not tried prompt by prompt over the
    whole dataset: after fail_fast_after prompts in a row with the same error the run stops; each failure is
    recorded and a rerun against a working server completes them. Failed prompts left: exit status 1."""
    from typer.testing import CliRunner

    from scale_or_reason.cli import app
    from scale_or_reason.teacher.runner import SystematicFailure

    src = _write_prompts(tmp_path / "p.jsonl", [f"q{i}" for i in range(40)])
    with FaultServer() as srv:
        with pytest.raises(SystematicFailure, match="5 prompts in a row failed with the same error.*HTTP 400"):
            generate(_cfg(src, tmp_path / "o", srv.url, send_chat_template_kwargs=False, concurrency=1,
                          fail_fast_after=5))
        assert len(srv.bodies) <= 2 * 6 and len({f["prompt_id"] for f in read_failures(tmp_path / "o")}) == 5
        s = generate(_cfg(src, tmp_path / "o", srv.url))
        assert s["pairs"] == 40 and s["pending_failures"] == 0

        one = _write_prompts(tmp_path / "one.jsonl", ["hello"])
        args = ["generate", "--source", str(one), "--out", str(tmp_path / "c"), "--backend", "openai",
                "--model", "toy", "--base-url", srv.url, "--profile", "qwen3", "--max-retries", "0"]
        rejected = tmp_path / "g.toml"
        rejected.write_text("[generate]\nsend_chat_template_kwargs = false\n")
        res = CliRunner().invoke(app, args + ["--config", str(rejected)])
        assert res.exit_code == 1 and "failed prompts pending: 1" in res.output
        # a prompt allowed to stay failed: still recorded and listed, but the run is finished (exit 0)
        res = CliRunner().invoke(app, args + ["--config", str(rejected), "--max-failed-prompts", "1"])
        assert res.exit_code == 0 and "failed prompts pending: 1" in res.output
        assert CliRunner().invoke(app, args).exit_code == 0


def test_an_unset_key_is_refused_for_a_remote_server_only(monkeypatch):
    from scale_or_reason.teacher.openai_backend import OpenAIBackend

    monkeypatch.delenv("SOR_TEST_KEY", raising=False)
    with pytest.raises(ValueError, match="SOR_TEST_KEY is not set: the server at 10.1.2.3"):
        OpenAIBackend("m", get_profile("qwen3"), base_url="http://10.1.2.3:8000/v1", api_key_env="SOR_TEST_KEY")
    OpenAIBackend("m", get_profile("qwen3"), base_url="http://127.0.0.1:8000/v1", api_key_env="SOR_TEST_KEY")
    monkeypatch.setenv("SOR_TEST_KEY", "sentinel-key")
    OpenAIBackend("m", get_profile("qwen3"), base_url="http://10.1.2.3:8000/v1", api_key_env="SOR_TEST_KEY")


def test_a_key_echoed_by_the_server_is_in_no_artefact_and_no_output(tmp_path, monkeypatch, capsys):
    from scale_or_reason.teacher.summary import format_summary

    sentinel = "sk-sentinel-7f3a9c1e"
    monkeypatch.setenv("OPENAI_API_KEY", sentinel)
    src = _write_prompts(tmp_path / "p.jsonl", ["refused [echo401]", "fine"])
    with FaultServer() as srv:
        s = generate(_cfg(src, tmp_path / "o", srv.url))
    assert s["pending_failures"] == 1 and "invalid credentials: Bearer ***" in s["failures"][0]["reason"]
    print(format_summary(s))
    assert sentinel not in capsys.readouterr().out + json.dumps(s, default=str)
    for f in (tmp_path / "o").rglob("*"):
        if f.is_file():
            assert sentinel.encode() not in f.read_bytes(), f


def test_sigterm_writes_the_buffered_pairs_before_exiting(tmp_path):
    """A preempted job (SIGTERM) keeps what it generated: the store flushes its buffer (here larger than the run
    gets to) before the process exits with 143."""
    prompts = [f"Question {i}?" for i in range(400)]
    src = _write_prompts(tmp_path / "p.jsonl", prompts)
    out = tmp_path / "o"
    env = dict(os.environ, NO_PROXY="127.0.0.1,localhost", PYTHONUNBUFFERED="1")
    with FaultServer(delay_s=0.02) as srv:
        srv.faulty = False
        cmd = [sys.executable, "-m", "scale_or_reason.cli", "generate", "--source", str(src), "--out", str(out),
               "--backend", "openai", "--model", "toy", "--base-url", srv.url, "--profile", "qwen3",
               "--concurrency", "8", "--shard-size", "100000", "--no-progress"]
        assert signal_when(cmd, env, lambda: len(srv.bodies) >= 60, signal.SIGTERM, exit_timeout_s=30) == 143
    kept = read_pairs(out)
    assert 0 < len(kept) < len(prompts) and not list(out.glob("pairs-*.parquet.tmp*"))


def test_toggle_ignoring_teacher_is_stopped(tmp_path):
    src = _write_prompts(tmp_path / "p.jsonl", [f"q{i} [always] [inline]" for i in range(6)])
    with FaultServer() as srv:
        # a teacher that reasons in both modes: every IFT answer carries a trace
        with pytest.raises(ValueError, match="ignores the reasoning toggle"):
            generate(_cfg(src, tmp_path / "o", srv.url, probe_pairs=4))
    assert not list((tmp_path / "o").glob("pairs-*.parquet"))


def test_kill_midway_then_rerun_equals_uninterrupted_run(tmp_path):
    prompts = [f"Question number {i}: what is {i} + {i}?" for i in range(160)]
    src = _write_prompts(tmp_path / "p.jsonl", prompts)
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    env = dict(os.environ, NO_PROXY="127.0.0.1,localhost", PYTHONUNBUFFERED="1")
    with FaultServer(delay_s=0.01) as srv:
        srv.faulty = False
        # uvicorn answers a kept-alive connection ~40 ms late (delayed ACK): many connections hide it
        cfg = _cfg(src, killed, srv.url, shard_size=8, concurrency=16, timeout_s=5)
        cmd = [sys.executable, "-m", "scale_or_reason.cli", "generate", "--source", str(src), "--out", str(killed),
               "--backend", "openai", "--model", cfg.model, "--base-url", srv.url, "--profile", "qwen3",
               "--sampling-ift", cfg.sampling_ift, "--sampling-reasoning", cfg.sampling_reasoning,
               "--concurrency", "16", "--timeout-s", "5", "--shard-size", "8", "--no-progress",
               "--check-disagreement"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(list(killed.glob("pairs-*.parquet"))) < 3:
                if proc.poll() is not None:
                    pytest.fail(f"generation ended before it could be killed: {proc.stderr.read().decode()[-2000:]}")
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
            proc.stderr.close()
        partial = read_pairs(killed)
        assert 0 < len(partial) < len(prompts)
        s = generate(cfg)
        assert s["skipped"] == len(partial) and s["pairs"] == len(prompts)
        generate(cfg.replace(out=whole))

    def rows(d):
        return sorted((p.prompt_id, p.prompt, p.ift_answer, p.reasoning_trace, p.reasoning_answer, p.ift_tokens,
                       p.trace_tokens, p.truncated, p.disagree) for p in read_pairs(d))

    a, b = rows(killed), rows(whole)
    assert len(a) == len({r[0] for r in a}) == len(prompts)
    assert a == b
    assert not list(killed.glob(".*tmp*"))


def test_evaluation_through_the_openai_backend_keeps_what_finished_and_a_rerun_fills_in(tmp_path):
    """``sor evaluate --backend openai`` uses this client: a failed sample is reported and left for the
    rerun, a reasoning trace the server returned apart and the cap cut is graded truncated."""
    import dataclasses

    import pandas as pd

    from scale_or_reason.evaluate import EvalConfig, GenerationBackendConfig, evaluate_model, load_spec
    from scale_or_reason.evaluate.specs import write_prepared
    from scale_or_reason.records import BenchItem

    spec = dataclasses.replace(load_spec("synthetic-math-oe"), name="served")
    prompts = ["alpha", "beta [inline]", "gamma [reasoning]", "delta [500]", "cut [long]"]
    # the fault server answers \boxed{len(prompt)}: that is the gold
    write_prepared(tmp_path / "bench", spec, [BenchItem(id=f"i{k}", prompt=p, reference=str(len(p)))
                                              for k, p in enumerate(prompts)])
    with FaultServer() as srv:
        cfg = EvalConfig(backend="openai", base_url=srv.url, max_retries=0, concurrency=2, timeout_s=5)
        run = dict(prepared=tmp_path / "bench", out=tmp_path / "e", thinking=True, cfg=cfg, progress=False)
        with pytest.raises(RuntimeError, match=r"1 generation\(s\) failed .*served/i3: HTTP 500"):
            evaluate_model(GenerationBackendConfig(model="toy/student"), [spec], **run)
        assert len(pd.read_parquet(tmp_path / "e" / "answers" / "served.parquet")) == 4
        srv.faulty = False
        summary = evaluate_model(GenerationBackendConfig(model="toy/student"), [spec], **run)
        assert {p: n for (p, _), n in srv.calls.items()} == {p: (2 if "[500]" in p else 1) for p in prompts}
    ans = pd.read_parquet(tmp_path / "e" / "answers" / "served.parquet").set_index("prompt_id")
    assert ans.loc[["i0", "i1", "i2", "i3"], "correct"].all()
    assert ans.loc["i4", "truncated"] and not ans.loc["i4", "correct"] and ans.loc["i4", "finish_reason"] == "length"
    assert (ans.prompt_tokens > 0).all() and ans.inference_flops.isna().all()   # no --model-config: no FLOPs
    assert summary.accuracy.iloc[0] == pytest.approx(0.8) and summary.truncated_fraction.iloc[0] == pytest.approx(0.2)


STUDY_WITH_KEYS = """
[study]
name = "keys"
arms = ["ift", "reasoning"]
samples = 0

[teacher]
backend = "openai"
model = "toy/Qwen3-toy"
base_url = "{url}"
profile = "qwen3"
api_key_file = "teacher.key"
sampling_ift = "temperature=0,top_k=none,min_p=none,max_tokens=64"
sampling_reasoning = "temperature=0,top_k=none,min_p=none,max_tokens=64"
concurrency = 4
timeout_s = 5
max_retries = 1
backoff_base_s = 0.01
backoff_max_s = 0.05

[[prompts]]
name = "p"
source = "prompts.jsonl"

[tokenizer]
kind = "synthetic"
vocab = 300

[[benchmarks]]
name = "synthetic-math-oe"
options = {{ n = 6, seed = 0 }}

[grading]
jury = "jury.toml"

[train]
learning_rate = 2e-2
batch_size = 4
micro_batch_size = 4
epochs = 8

[eval]
max_new_tokens = 12
batch_size = 8

[[students]]
name = "s1"
config = {{ model_type = "qwen3", hidden_size = 16, intermediate_size = 32, num_hidden_layers = 1, num_attention_heads = 2, num_key_value_heads = 1, head_dim = 8, max_position_embeddings = 512, tie_word_embeddings = true }}
"""


def test_a_study_never_writes_or_prints_its_keys(tmp_path, monkeypatch, capfd, caplog):
    """A whole study (openai teacher, local students, the jury) against the loopback server, the teacher's key
    from a key file named in the study and the jury's from the environment, the server echoing the key it
    refused in a 401 body: neither key appears in any file of the study directory, its logs, or the console."""
    import logging

    from scale_or_reason.study import load_study_file, run_study

    caplog.set_level(logging.DEBUG)
    teacher_key, jury_key = "sk-teacher-sentinel-5b1e9d", "sk-jury-sentinel-0c7a44"
    study_dir = tmp_path / "def"
    study_dir.mkdir()
    (study_dir / "teacher.key").write_text(teacher_key + "\n")
    monkeypatch.setenv("SOR_TEST_JURY_KEY", jury_key)
    _write_prompts(study_dir / "prompts.jsonl", [f"What is {i} + {i}?" for i in range(8)] + ["refused [echo401]"])
    (study_dir / "jury.toml").write_text('only_rule_rejected = true\ncache = "votes.jsonl"\n[[judges]]\nname = "j"\n'
                                         'model = "judge"\nbase_url = "URL"\napi_key_env = "SOR_TEST_JURY_KEY"\n'
                                         'max_retries = 1\n')
    out = tmp_path / "out"
    with FaultServer() as srv:
        (study_dir / "jury.toml").write_text((study_dir / "jury.toml").read_text().replace("URL", srv.url))
        (study_dir / "study.toml").write_text(STUDY_WITH_KEYS.format(url=srv.url))
        cfg = load_study_file(study_dir / "study.toml")
        with pytest.raises(RuntimeError, match=r"1 prompt\(s\) of p failed") as refused:
            run_study(cfg, out)  # the refused prompt: a recorded failure, the generate task not done
        srv.faulty = False
        second = run_study(cfg, out)
    assert second["failed"] == {}, second
    assert (out / "report").exists() and (out / "results.csv").exists()
    failures = list(out.rglob("failures*"))
    assert any(b"Bearer ***" in f.read_bytes() for f in failures if f.is_file())  # the echo, redacted
    assert srv.calls and any(b["model"] == "judge" for b in srv.bodies)  # the jury was asked, with its key
    printed = capfd.readouterr()
    seen = printed.out + printed.err + caplog.text + str(refused.value) + json.dumps(second, default=str)
    for key in (teacher_key, jury_key):
        assert key not in seen
        for f in out.rglob("*"):
            if f.is_file():
                assert key.encode() not in f.read_bytes(), f
