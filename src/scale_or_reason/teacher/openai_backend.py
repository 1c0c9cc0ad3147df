"""The ``openai`` backend: any OpenAI-compatible chat server (vLLM, SGLang, ``transformers serve``, hosted).

Each job is one ``POST /v1/chat/completions`` with the mode's sampling settings and the toggle sent as
``extra_body={"chat_template_kwargs": {<kwarg>: <value>}}`` (plus ``top_k``/``min_p`` there when set,
and the profile's ``request_field`` such as gpt-oss ``reasoning_effort``). Requests run on an asyncio
loop in a helper thread with at most ``concurrency`` in flight; the prompt source is pulled lazily.

Faults are handled per request: a per-request timeout; bounded retries with jittered exponential
backoff (honouring ``Retry-After``) on 429, 5xx, 408/409, timeouts, dropped connections and malformed
responses; other 4xx fail at once. A job that still fails comes back with ``error`` = the reason, and
the runner records it against the prompt id -- a rerun fills it in.

Token counts come from ``usage`` (``completion_tokens`` includes hidden reasoning, which still costs);
the trace is read from ``reasoning_content`` or ``reasoning`` when the server parses it out, else
split from ``content`` at the last closing tag.

The API key is read from the environment variable named by ``api_key_env`` (default
``OPENAI_API_KEY``; unset, a loopback server gets the placeholder ``EMPTY`` and any other server is refused
before the first request). It is never logged or stored.

Example::

    from scale_or_reason.teacher.openai_backend import OpenAIBackend
    from scale_or_reason.teacher.profiles import get_profile
    be = OpenAIBackend("Qwen/Qwen3-235B-A22B", get_profile("qwen3"), base_url="http://127.0.0.1:8000/v1",
                       concurrency=64, timeout_s=900)
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
import queue
import random
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from .backends import Backend, BackendError, Job, ModeResult, request_seed
from .profiles import SamplingParams, ToggleProfile

__all__ = ["OpenAIBackend"]

_DONE = object()


class _Malformed(Exception):
    pass


class OpenAIBackend(Backend):
    """OpenAI-compatible server backend (async, bounded concurrency, timeouts, retries)."""

    kind = "openai"

    def __init__(self, model: str, profile: ToggleProfile, sampling: dict[str, SamplingParams] | None = None, *,
                 base_url: str, api_key_env: str = "OPENAI_API_KEY", api_key_file: str | None = None,
                 concurrency: int = 32,
                 timeout_s: float = 600.0, max_retries: int = 4, backoff_base_s: float = 1.0,
                 backoff_max_s: float = 60.0, send_chat_template_kwargs: bool = True,
                 max_tokens_field: str = "max_tokens", tokenizer: Any = None, arch: Any = None,
                 name: str | None = None):
        super().__init__(profile, sampling)
        try:
            import openai
        except ImportError:
            raise BackendError("the openai backend needs the optional extra: "
                               "pip install 'scale-or-reason[openai]'") from None
        if concurrency < 1 or max_retries < 0 or timeout_s <= 0:
            raise ValueError("openai backend: concurrency >= 1, max_retries >= 0 and timeout_s > 0 are required")
        if max_tokens_field not in ("max_tokens", "max_completion_tokens"):
            raise ValueError("openai backend: max_tokens_field is 'max_tokens' or 'max_completion_tokens'")
        self.openai = openai
        self.model = model
        self.name = name or model
        self.base_url = base_url
        self.api_key_env = api_key_env
        # resolved once, held in memory only (never in a repr, record or message); an unset key for a remote
        # server or an unreadable key file fails here, before any request
        self._api_key = api_key(api_key_env, base_url, api_key_file)
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.send_chat_template_kwargs = send_chat_template_kwargs
        self.max_tokens_field = max_tokens_field
        self.tokenizer = tokenizer
        self.arch = arch

    # ---- request building ---------------------------------------------------------------------
    def request_kwargs(self, job: Job) -> dict[str, Any]:
        """The keyword arguments of ``chat.completions.create`` for ``job`` (no secrets in here)."""
        sp = self.sampling[job.mode]
        kw: dict[str, Any] = {"model": self.model, "messages": self.profile.messages(job.item.messages(), job.thinking),
                              "temperature": sp.temperature, self.max_tokens_field: sp.max_tokens}
        if sp.top_p is not None:
            kw["top_p"] = sp.top_p
        seed = request_seed(sp.seed, job.item.prompt_id, job.mode)
        if seed is not None:
            kw["seed"] = seed
        extra: dict[str, Any] = {}
        if self.send_chat_template_kwargs and self.profile.kwarg:
            extra["chat_template_kwargs"] = self.profile.template_kwargs(job.thinking)
        if self.profile.request_field:
            extra[self.profile.request_field] = self.profile.value(job.thinking)
        if sp.top_k is not None:
            extra["top_k"] = sp.top_k
        if sp.min_p is not None:
            extra["min_p"] = sp.min_p
        if extra:
            kw["extra_body"] = extra
        return kw

    def parse(self, job: Job, data: Any, latency: float, attempts: int) -> ModeResult:
        """A response body (parsed JSON) -> ``ModeResult``; raises ``_Malformed`` when it is not a completion."""
        if not isinstance(data, dict):
            raise _Malformed("the response is not a JSON object")
        try:
            choice = data["choices"][0]
            msg = choice["message"]
        except (KeyError, IndexError, TypeError):
            raise _Malformed("no choices[0].message in the response") from None
        if not isinstance(msg, dict):
            raise _Malformed("choices[0].message is not an object")
        content = msg.get("content") or ""
        if not isinstance(content, str):
            raise _Malformed("choices[0].message.content is not text")
        field = next((msg[f] for f in self.profile.reasoning_fields if isinstance(msg.get(f), str) and msg[f]), None)
        # no finish_reason is not a clean stop: "unknown" flags the pair (truncated), as any reason but "stop" does
        finish = str(choice.get("finish_reason") or "unknown")
        if field is not None:
            trace, answer, closed = field.strip(), content.strip(), None
            text = self.profile.rebuild(trace, answer)
            if finish == "length" and not answer:
                # the server parsed out a trace that the token cap cut: it never closed, so the rebuilt
                # text must not close it either (graders would otherwise take the empty answer as final)
                text, closed = f"{self.profile.think_open}\n{trace}", False
        else:
            sp = self.profile.split(content, opened=job.thinking and self.profile.prompt_opens_think)
            trace, answer, closed, text = sp.trace, sp.answer, (sp.closed if sp.tagged else None), content
        usage = data.get("usage")
        usage = usage if isinstance(usage, dict) else {}  # a usage of another type: counts estimated, pair kept
        return ModeResult(job, text=text, trace=trace, answer=answer,
                          finish_reason=finish, closed=closed,
                          prompt_tokens=_int(usage.get("prompt_tokens")),
                          completion_tokens=_int(usage.get("completion_tokens")),
                          latency_s=latency, attempts=attempts)

    # ---- async machinery ------------------------------------------------------------------------
    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        delay = min(self.backoff_max_s, self.backoff_base_s * 2**attempt) * random.uniform(0.5, 1.5)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max_s))
        return delay

    async def _attempt(self, client: Any, job: Job) -> Any:
        raw = await client.chat.completions.with_raw_response.create(**self.request_kwargs(job))
        try:
            return json.loads(raw.text)
        except json.JSONDecodeError as e:
            raise _Malformed(f"response is not JSON ({e.msg} at char {e.pos})") from None

    async def _one(self, client: Any, job: Job) -> ModeResult:
        oa = self.openai
        reason = "no attempt made"
        attempts = 0
        for attempt in range(self.max_retries + 1):
            attempts += 1
            retry_after = None
            t0 = time.perf_counter()
            try:
                data = await asyncio.wait_for(self._attempt(client, job), timeout=self.timeout_s)
                return self.parse(job, data, time.perf_counter() - t0, attempts)
            except (asyncio.TimeoutError, oa.APITimeoutError):
                reason = f"timeout after {self.timeout_s:g}s"
            except oa.APIStatusError as e:
                status = e.status_code
                reason = f"HTTP {status}: {_short(e)}"
                if status in (429, 503):  # both may say when to come back
                    retry_after = _retry_after(e)
                elif status < 500 and status not in (408, 409):
                    return ModeResult(job, error=self._redact(reason), attempts=attempts)
            except oa.APIConnectionError as e:
                reason = f"connection error: {_short(e)}"
            except _Malformed as e:
                reason = f"malformed response: {e}"
            except (TypeError, ValueError, AttributeError, KeyError) as e:  # a field of an unexpected type: this
                reason = f"malformed response: {type(e).__name__}: {_short(e)}"  # prompt fails, the run goes on
            if attempt < self.max_retries:
                await asyncio.sleep(self._backoff(attempt, retry_after))
        return ModeResult(job, error=self._redact(f"{reason} (gave up after {attempts} attempts)"), attempts=attempts)

    def _redact(self, text: str) -> str:
        """``text`` with the API key replaced by ``***``: a server may echo the key in its error body, and
        failure reasons are stored and printed."""
        key = self._api_key
        return text.replace(key, "***") if key and key != "EMPTY" and len(key) >= 4 else text

    async def _main(self, jobs: Iterable[Job], out: queue.Queue, stop: threading.Event) -> None:
        client = self.openai.AsyncOpenAI(base_url=self.base_url, api_key=self._api_key,
                                         max_retries=0, timeout=self.timeout_s + 5)
        sem = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task] = set()

        async def run(job: Job) -> None:
            try:
                out.put(await self._one(client, job))
            finally:
                sem.release()

        try:
            for job in jobs:
                await sem.acquire()
                if stop.is_set():  # the caller went away: start nothing new
                    sem.release()
                    break
                t = asyncio.create_task(run(job))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await client.close()

    def stream(self, jobs: Iterable[Job]) -> Iterator[ModeResult]:
        out: queue.Queue = queue.Queue()
        loop = asyncio.new_event_loop()
        main: dict[str, asyncio.Task] = {}
        stop = threading.Event()

        def thread_main() -> None:
            asyncio.set_event_loop(loop)
            try:
                main["task"] = loop.create_task(self._main(jobs, out, stop))
                loop.run_until_complete(main["task"])
            except asyncio.CancelledError:
                pass
            except BaseException as e:  # the source or the client failed: hand it to the caller
                out.put(e)
            finally:
                out.put(_DONE)
                loop.close()

        th = threading.Thread(target=thread_main, name="sor-openai", daemon=True)
        th.start()
        finished = False
        try:
            while True:
                item = out.get()
                if item is _DONE:
                    finished = True
                    break
                if isinstance(item, BaseException):
                    finished = True
                    raise item
                yield item
        finally:
            stop.set()
            if not finished and "task" in main:  # the caller stopped early: cancel what is in flight
                try:
                    loop.call_soon_threadsafe(main["task"].cancel)
                except RuntimeError:  # the loop finished (and closed) meanwhile
                    pass
            th.join(timeout=30)


def api_key(env_var: str, base_url: str, key_file: str | None = None) -> str:
    """The API key: the first line of ``key_file`` when one is named (a file kept out of the study directory,
    e.g. ``~/.config/sor/key``), else the environment variable ``env_var``. Unset: the placeholder ``EMPTY``
    for a server on this machine (loopback), an error for any other (a remote server would answer every
    request with 401). Keys are never written in configs (an ``api_key`` field is refused as unknown), and
    never logged, stored or put in an error message."""
    from urllib.parse import urlparse

    if key_file:
        path = Path(key_file).expanduser()
        try:
            lines = path.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"api_key_file {path}: cannot be read ({type(e).__name__})") from None
        key = lines[0].strip() if lines else ""
        if not key:
            raise ValueError(f"api_key_file {path}: is empty")
        return key
    key = os.environ.get(env_var)
    if key:
        return key
    host = (urlparse(base_url).hostname or "").lower()
    if host in ("127.0.0.1", "localhost", "::1") or host.startswith("127."):
        return "EMPTY"
    raise ValueError(f"the environment variable {env_var} is not set: the server at {host or base_url} would get no "
                     f"API key (set {env_var}=EMPTY for a server that needs none)")


def _int(v: Any) -> int | None:
    try:
        return None if v is None else int(v)
    except (TypeError, ValueError):
        return None


def _short(e: Exception) -> str:
    msg = getattr(e, "message", None) or str(e) or type(e).__name__
    return " ".join(str(msg).split())[:200]


def _retry_after(e: Any) -> float | None:
    try:
        v = e.response.headers.get("retry-after")
        return float(v) if v is not None else None
    except (AttributeError, TypeError, ValueError):
        return None
