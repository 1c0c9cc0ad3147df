"""The GPU training benchmark runs end to end on a CPU (``--tiny``): every side trains the same tokens."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_train_benchmark_runs_every_side_on_the_same_tokens(tmp_path):
    out = tmp_path / "gpu.md"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_train.py"), "--tiny", "--samples", "32",
                           "--repeats", "1", "--sides", "sor,sor-ckpt,sor-liger,trl", "--out", str(out)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.with_suffix(".json").read_text())
    rows = {r["side"]: r for r in data["rows"]}
    assert set(rows) == {"sor", "sor-ckpt", "trl"}  # liger needs CUDA: skipped, and said so
    assert "Skipped (not installed or no CUDA): sor-liger" in data["head"]
    assert all(r["tokens_per_s"] > 0 and 0 < r["mfu"] < 1 for r in rows.values())
    # TRL tokenizes the same rendered samples: same tokens, so the ledger's FLOPs give the same TFLOP count
    flops = {s: r["tflops"] * r["wall_s"] for s, r in rows.items()}
    assert abs(flops["trl"] / flops["sor"] - 1) < 1e-9 and abs(flops["sor-ckpt"] / flops["sor"] - 1) < 1e-9
    assert "| tiny | sor | 4 |" in out.read_text()
