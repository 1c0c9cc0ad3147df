"""A few trials of the kill-anywhere harness (``benchmarks/kill_anywhere.py`` runs >= 20 per stage): each stage
is SIGKILLed (a crash) and SIGTERMed (a preemption) at a random instant, rerun, and compared with an
uninterrupted run; a SIGTERMed stage must exit 143 (or 0 when the signal lands after its work)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def test_every_stage_survives_a_kill_and_a_preemption_at_a_random_instant():
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "kill_anywhere.py"), "--trials", "1",
                           "--signal", "KILL,TERM", "--prompts", "400", "--seed", "3"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [line.split("|")[1:-1] for line in proc.stdout.splitlines() if line.startswith("| ")]
    table = {(r[0].strip(), r[1].strip()): [c.strip() for c in r[2:]] for r in rows[-6:]}
    assert set(table) == {(s, g) for s in ("generate", "train", "evaluate") for g in ("SIGKILL", "SIGTERM")}
    for (stage, sig), (_, trials, signalled, status, identical, differing) in table.items():
        assert (trials, identical, differing) == ("1", "1", "0"), (stage, sig)
        if sig == "SIGTERM" and signalled == "1":
            assert status in ("143: 1", "0: 1"), (stage, status)
