"""A few trials of the kill-anywhere harness (``benchmarks/kill_anywhere.py`` runs >= 20 per stage): each stage
is SIGKILLed (a crash) and SIGTERMed (a preemption) at a random instant, rerun, and compared with an
uninterrupted run; a SIGTERMed stage must exit 143 (or 0 when the signal lands after its work)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import signal_when

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


def test_a_preempted_training_saves_a_checkpoint_and_the_rerun_resumes_from_it(tmp_path):
    """SIGTERM mid-training: the step finishes, ``checkpoint-N`` is written (complete), the run is not marked done
    and the process exits 143; the rerun resumes from step N (its log keeps the N rows it had) and finishes."""
    import json
    import signal

    from scale_or_reason.synthetic.tokenizer import embedded_tokenizer, save_tokenizer
    from scale_or_reason.train import last_complete_checkpoint

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src") + os.pathsep
               + os.environ.get("PYTHONPATH", ""))
    tok = save_tokenizer(embedded_tokenizer(["Math-OE"], 300), tmp_path / "tok")
    sor = [sys.executable, "-m", "scale_or_reason.cli"]
    subprocess.run([*sor, "generate", "--source", "synthetic:Math-OE:640:0", "--backend", "synthetic",
                    "--tokenizer", str(tok), "--out", str(tmp_path / "pairs"), "--no-progress"],
                   env=env, check=True, capture_output=True, timeout=300)
    student = tmp_path / "student.json"
    student.write_text(json.dumps({"model_type": "qwen3", "hidden_size": 64, "intermediate_size": 128,
                                   "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
                                   "head_dim": 32, "max_position_embeddings": 512, "tie_word_embeddings": True}))
    run = tmp_path / "run"
    cmd = [*sor, "train", "--pairs", str(tmp_path / "pairs"), "--arm", "reasoning", "--out", str(run),
           "--student-config", str(student), "--tokenizer", str(tok), "--samples", "640", "--batch-size", "8",
           "--micro-batch-size", "8", "--learning-rate", "3e-3"]
    log = run / "train_log.jsonl"
    ready = lambda: log.exists() and len(log.read_text().splitlines()) >= 5  # noqa: E731
    assert signal_when(cmd, env, ready, signal.SIGTERM, timeout_s=240) == 143
    ckpt = last_complete_checkpoint(run / "trainer")
    assert ckpt is not None and not (run / "DONE.json").exists()
    step = int(ckpt.name.split("-")[1])
    assert 5 <= step < 80
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)
    rows = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 81)) and (run / "DONE.json").exists()
