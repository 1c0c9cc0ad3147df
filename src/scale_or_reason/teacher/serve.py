"""A local checkpoint behind an OpenAI-compatible server on loopback (``transformers serve``), for the
``openai`` back end and the jury when no remote server exists (tests, benchmarks, a laptop teacher).

Needs the ``serve`` extra (``transformers[serving]``). The server runs in its own process group, on a free
loopback port, with its log in a file; it is stopped (SIGTERM, then SIGKILL) when the block ends.

Example::

    from scale_or_reason.teacher.serve import local_server
    with local_server("checkpoints/smollm2", log="serve.log") as base_url:
        print(base_url)        # http://127.0.0.1:PORT/v1
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

__all__ = ["free_port", "local_server", "transformers_cli"]


def free_port() -> int:
    """A loopback TCP port nothing listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def transformers_cli() -> str | None:
    """The ``transformers`` command of this Python environment (else one on PATH), or None."""
    exe = Path(sys.executable).with_name("transformers")
    return str(exe) if exe.exists() else shutil.which("transformers")


@contextlib.contextmanager
def local_server(model_dir: str | Path, *, log: str | Path, timeout_s: float = 120.0,
                 poll_s: float = 0.2) -> Iterator[str]:
    """Serve ``model_dir`` with ``transformers serve`` on loopback; yields the base URL (``.../v1``).

    Raises ``RuntimeError`` (with the log's tail) if the CLI is missing, the server exits, or it is not
    healthy within ``timeout_s`` seconds.
    """
    exe = transformers_cli()
    if not exe:
        raise RuntimeError("the transformers CLI is not installed (pip install 'scale-or-reason[serve]')")
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1",
               NO_PROXY="127.0.0.1,localhost")
    log = Path(log)
    with log.open("w") as fh:
        proc = subprocess.Popen([exe, "serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port),
                                 "--device", "cpu"], env=env, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"transformers serve exited: {log.read_text()[-2000:]}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"transformers serve did not come up in {timeout_s:g} s")
                time.sleep(poll_s)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
