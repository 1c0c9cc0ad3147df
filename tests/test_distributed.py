"""`sor train` under `accelerate launch`, and the shipped DeepSpeed ZeRO-3 / FSDP2 configs.

A CPU machine cannot run ZeRO-3 or FSDP2 (they need the deepspeed extra and GPUs); it checks what it
can: the configs load as accelerate cluster configs with only keys accelerate knows, and a
single-process `accelerate launch` runs `sor train` unchanged.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scale_or_reason.teacher.store import PairStore

from tests.conftest import TINY_QWEN3

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs" / "accelerate"


@pytest.mark.parametrize("name,kind,section", [("deepspeed_zero3.yaml", "DEEPSPEED", "deepspeed_config"),
                                               ("fsdp2.yaml", "FSDP", "fsdp_config")])
def test_accelerate_configs_are_valid(name, kind, section):
    from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file
    from accelerate.commands.launch import launch_command_parser

    cfg = load_config_from_file(str(CONFIGS / name))
    assert isinstance(cfg, ClusterConfig) and cfg.distributed_type.name == kind
    raw = yaml.safe_load((CONFIGS / name).read_text())
    # every key of the plugin section is an option `accelerate launch` understands
    options = {a.dest for a in launch_command_parser()._actions}
    for key in raw[section]:
        assert key in options or f"deepspeed_{key}" in options or key.removeprefix("deepspeed_") in options, key
    if kind == "DEEPSPEED":
        assert raw[section]["zero_stage"] == 3
    else:
        assert str(raw[section]["fsdp_version"]) == "2"


def _launch(tmp_path, tdir, n_proc, out, samples=64):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ACCELERATE_USE_CPU": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(n_proc), "--cpu",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "-m", "scale_or_reason.cli", "train", "--pairs", str(tmp_path / "pairs"), "--tokenizer", str(tdir),
           "--student-config", str(tmp_path / "student.json"), "--arm", "sequential:0.5", "--samples", str(samples),
           "--micro-batch-size", "8", "--out", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_sor_train_runs_under_accelerate_launch_and_two_ranks_keep_one_ledger(tiny_setup, tmp_path):
    tdir, pairs = tiny_setup
    with PairStore(tmp_path / "pairs") as store:
        for p in pairs:
            store.add_pair(p)
    (tmp_path / "student.json").write_text(json.dumps(TINY_QWEN3))
    one = _launch(tmp_path, tdir, 1, tmp_path / "one")
    assert one["samples"] == 64 and one["arm"] == "sequential:0.5" and one["steps"] == 2
    out = tmp_path / "one"
    assert (out / "model.safetensors").exists() and (out / "DONE.json").exists()
    order = [json.loads(x)["format"] for x in (out / "order.jsonl").read_text().splitlines()]
    assert order == ["ift"] * 32 + ["reasoning"] * 32
    # Two CPU processes (gloo): same global batch of 32 samples per step, same ledger.
    two = _launch(tmp_path, tdir, 2, tmp_path / "two")
    rows = {n: [json.loads(x) for x in (tmp_path / n / "train_log.jsonl").read_text().splitlines()]
            for n in ("one", "two")}
    assert [r["samples"] for r in rows["two"]] == [r["samples"] for r in rows["one"]] == [32, 32]
    assert [r["tokens"] for r in rows["two"]] == [r["tokens"] for r in rows["one"]]
    assert two["train_flops"] == pytest.approx(one["train_flops"])
