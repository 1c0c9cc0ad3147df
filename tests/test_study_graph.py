"""Study files, their expansion into tasks, the plan of the shipped studies, and the SLURM submission."""

import os
import stat
import sys
from pathlib import Path

import pytest

from scale_or_reason.study import expand, load_study_file, plan_study, run_study, shipped_studies, task_states
from scale_or_reason.study.executors import SlurmExecutor, task_command
from scale_or_reason.study.graph import mark

STUDIES = Path(__file__).resolve().parents[1] / "studies"


def test_the_studies_folder_is_what_the_package_ships():
    assert {p.stem for p in STUDIES.glob("*.toml")} == set(shipped_studies())
    assert {"demo", "quick", "curriculum", "paper", "replication"} <= set(shipped_studies())


@pytest.mark.parametrize("name", ["demo", "quick", "curriculum", "paper", "replication"])
def test_every_shipped_study_validates_expands_and_plans(name, tmp_path):
    by_path = load_study_file(STUDIES / f"{name}.toml")
    by_name = load_study_file(name)
    assert by_path.to_dict() | {"path": ""} == by_name.to_dict() | {"path": ""}
    tasks = expand(by_name)
    ids = [t.id for t in tasks]
    assert len(ids) == len(set(ids))
    seen = set()
    for t in tasks:  # dependency order: every dependency comes first
        assert set(t.deps) <= seen, t.id
        seen.add(t.id)
    assert tasks[-1].id == "analysis" and len(tasks[-1].deps) == sum(t.stage == "evaluate" for t in tasks)
    assert [t.key for t in expand(load_study_file(name))] == [t.key for t in tasks]  # deterministic
    plan = plan_study(by_name, tmp_path / "nothing-yet")
    assert set(plan.status) == {"pending"}
    train = plan[plan.stage == "train"]
    assert (train.flops > 0).all() and (train.gpu_hours > 0).all()
    assert not (tmp_path / "nothing-yet" / "tasks").exists()  # planning runs nothing


def test_paper_study_is_the_papers_grid():
    cfg = load_study_file("paper")
    tasks = expand(cfg)
    trains = [t for t in tasks if t.stage == "train"]
    core = [t for t in trains if t.spec["arm"] in ("ift", "reasoning")]
    assert len(core) == 20  # the 20 released checkpoints: 5 sizes x 2 corpora x 2 formats
    assert {t.spec["data"][0] for t in core} == {"general", "math"}
    assert len({t.spec["benchmark"] for t in tasks if t.stage == "evaluate"}) == 18
    assert cfg.teacher.profile == "qwen3" and cfg.grading.jury and Path(cfg.grading.jury).is_file()
    from scale_or_reason.train import peak_learning_rate

    s = cfg.student("Qwen2.5-7B-math")
    assert peak_learning_rate(s.spec(), "reasoning", 1.0) == 5e-6 and peak_learning_rate(s.spec(), "ift", 1.0) == 3e-6
    # the teacher is priced from its MoE config: ~22B active parameters, ~2 x 22e9 FLOPs per token (the paper
    # convention, which ignores GQA and counts experts' width its own way, lands a little lower: ~3.9e10)
    plan = plan_study(cfg, "/nonexistent-study-dir").set_index("task")
    per_token = plan.loc["generate/math", "flops"] / (152609 * (2 * 150 + 954 + 6968))
    assert 3e10 < per_token < 6e10


@pytest.mark.parametrize("body, message", [
    ('[study]\nbogus = 1\n', r"\[study\]: unknown key\(s\) bogus"),
    ('[study]\nseed = "zero"\n', r"\[study\]\.seed: expected an integer, got 'zero'"),
    ('[study]\narms = ["ift", "cot"]\n', r"\[study\]\.arms\[1\]: unknown arm 'cot'"),
    ('[study]\nname = "../etc"\n', r"\[study\]\.name: '\.\./etc' is not a safe name"),
    ('[teacher]\nsource = "x.jsonl"\n', r"\[teacher\]: source belong\(s\) to each \[\[prompts\]\] entry"),
    ('[teacher]\nbackend = "magic"\n', r"\[teacher\]\.backend: 'magic'"),
    ('[train]\nbatch_size = 30\nmicro_batch_size = 8\n', r"\[train\]\.batch_size 30 is not a multiple"),
    ('[train]\nbf16 = "yes"\n', r"\[train\]\.bf16: expected true or false"),
    ('[compute]\nmfu_train = 1.5\n', r"\[compute\]: an MFU is a fraction"),
    ('[executor]\ngpus = { teach = 2 }\n', r"\[executor\]\.gpus: unknown stage 'teach'"),
    ('[wat]\nx = 1\n', r"unknown table\(s\) wat"),
])
def test_study_file_errors_name_the_file_and_key(tmp_path, body, message):
    base = (STUDIES / "quick.toml").read_text()
    f = tmp_path / "bad.toml"
    # later tables override nothing in TOML: put the bad table first and drop the quick study's own copy
    table = body.split("]")[0] + "]"
    kept = base if table not in base else _drop_table(base, table)
    f.write_text(body + "\n" + kept)
    with pytest.raises(ValueError, match=r"bad\.toml: " + message):
        load_study_file(f)


def _drop_table(text: str, header: str) -> str:
    out, skip = [], False
    for line in text.splitlines():
        if line.startswith("["):
            skip = line.strip() == header
        if not skip:
            out.append(line)
    return "\n".join(out) + "\n"


def test_student_and_source_errors(tmp_path):
    base = (STUDIES / "quick.toml").read_text()
    f = tmp_path / "s.toml"
    f.write_text(base + '\n[[students]]\nname = "s1"\nconfig = { model_type = "qwen3" }\n')
    with pytest.raises(ValueError, match=r"\[\[students\]\] #5\.name: 's1' is used twice"):
        load_study_file(f)
    f.write_text(base + '\n[[students]]\nname = "s9"\ndata = ["nope"]\nconfig = { model_type = "qwen3" }\n')
    with pytest.raises(ValueError, match=r"#5\.data: no \[\[prompts\]\] source named 'nope'"):
        load_study_file(f)
    f.write_text(base + '\n[[benchmarks]]\nname = "not-a-benchmark"\n')
    with pytest.raises(ValueError, match=r"\[\[benchmarks\]\] #5\.name: unknown benchmark"):
        load_study_file(f)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_study_file(tmp_path / "missing.toml")


def _fake_sbatch(tmp_path: Path) -> Path:
    """An ``sbatch`` that keeps each submitted script and answers like SLURM."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sb = bin_dir / "sbatch"
    sb.write_text(f"""#!{sys.executable}
import pathlib, sys
d = pathlib.Path({str(tmp_path / 'submitted')!r}); d.mkdir(exist_ok=True)
n = len(list(d.iterdir())) + 1001
(d / f"{{n}}.sh").write_text(pathlib.Path(sys.argv[-1]).read_text())
print(f"Submitted batch job {{n}}")
""")
    sb.chmod(sb.stat().st_mode | stat.S_IEXEC)
    srun = bin_dir / "srun"  # submitit checks that it is on a cluster; the scripts call srun, never run here
    srun.write_text("#!/bin/sh\nexit 1\n")
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def test_slurm_scripts_carry_resources_and_dependencies(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    monkeypatch.setenv("PATH", f"{_fake_sbatch(tmp_path)}{os.pathsep}{os.environ['PATH']}")
    cfg = load_study_file("paper")
    cfg = cfg.with_changes(executor=type(cfg.executor)(**{**cfg.executor.__dict__, "partition": "h100",
                                                           "account": "proj42", "setup": ["module load cuda"]}))
    out = tmp_path / "study"
    tasks = expand(cfg)
    only = {"generate/math", "bench/gsm8k", "train/Qwen2.5-0.5B-math-ift", "evaluate/Qwen2.5-0.5B-math-ift/gsm8k"}
    sub = [t for t in tasks if t.id in only]
    summary = SlurmExecutor(cfg.executor).run(cfg, sub, out)
    assert list(summary.submitted) == [t.id for t in sub]
    jobs = summary.submitted
    scripts = {t.id: (tmp_path / "submitted" / f"{jobs[t.id]}.sh").read_text() for t in sub}
    for text in scripts.values():
        assert "#SBATCH --partition=h100" in text and "#SBATCH --account=proj42" in text
        assert "module load cuda" in text and "#SBATCH --nodes=1" in text
    assert "#SBATCH --gpus-per-node=8" in scripts["generate/math"]
    assert "--gpus-per-node" not in scripts["bench/gsm8k"]
    assert "#SBATCH --time=2880" in scripts["train/Qwen2.5-0.5B-math-ift"]
    assert f"#SBATCH --dependency=afterok:{jobs['generate/math']}\n" in scripts["train/Qwen2.5-0.5B-math-ift"]
    dep = scripts["evaluate/Qwen2.5-0.5B-math-ift/gsm8k"]
    assert f"--dependency=afterok:{jobs['train/Qwen2.5-0.5B-math-ift']}:{jobs['bench/gsm8k']}" in dep
    # the recorded state: submitted with the job id; a second run submits nothing again
    states = task_states(tasks, out)
    assert states["train/Qwen2.5-0.5B-math-ift"].status == "submitted"
    assert states["train/Qwen2.5-0.5B-math-ift"].record["job_id"] == jobs["train/Qwen2.5-0.5B-math-ift"]
    again = SlurmExecutor(cfg.executor).run(cfg, sub, out)
    assert again.submitted == {}
    # what each job runs: `sor study task`, training on 8 GPUs under accelerate with the ZeRO-3 config
    train = next(t for t in sub if t.stage == "train")
    cmd = task_command(cfg, train, out)
    assert cmd[1:5] == ["-m", "accelerate.commands.launch", "--num_processes", "8"]
    assert "--config_file" in cmd and cmd[cmd.index("--config_file") + 1].endswith("deepspeed_zero3.yaml")
    assert cmd[-6:] == ["task", "paper", "--out", str(out.resolve()), "--task", train.id]
    ev = task_command(cfg, next(t for t in sub if t.stage == "evaluate"), out)
    assert ev[1:3] == ["-m", "scale_or_reason.cli"]


@pytest.mark.slow
def test_submitit_local_executor_runs_a_chain_of_jobs(tmp_path):
    """submitit's local executor runs the tasks as subprocesses (in dependency waves): tokenizer, pairs,
    benchmark, one training run and its evaluation -- the same `sor study task` a SLURM job runs."""
    pytest.importorskip("submitit")
    cfg = load_study_file("quick")
    cfg = cfg.with_changes(executor=type(cfg.executor)(kind="slurm", cluster="local", folder="jobs"))
    out = tmp_path / "study"
    target = "evaluate/s1-ift/synthetic-math-oe"
    summary = run_study(cfg, out, only=[target])
    assert summary["failed"] == {}
    states = task_states(expand(cfg), out)
    done = {i for i, s in states.items() if s.status == "done"}
    assert done == {"tokenizer", "generate/General-MC", "generate/General-OE", "generate/Math-MC", "generate/Math-OE",
                    "bench/synthetic-math-oe", "train/s1-ift", target}
    assert states[target].record["pid"] != os.getpid()  # ran in a job, not here
    assert (out / "eval" / "s1-ift" / "synthetic-math-oe" / "answers" / "synthetic-math-oe.parquet").exists()
    assert any((out / "jobs").glob("*_log.out"))


def test_interrupted_running_task_is_pending_again(tmp_path):
    cfg = load_study_file("quick")
    t = expand(cfg)[0]
    mark(tmp_path, t, "running")
    assert task_states([t], tmp_path)[t.id].status == "running"  # this process: alive
    rec = (tmp_path / "tasks" / "tokenizer.json")
    rec.write_text(rec.read_text().replace(f'"pid": {os.getpid()}', '"pid": 999999999'))
    st = task_states([t], tmp_path)[t.id]
    assert st.status == "pending" and st.reason == "interrupted"


def test_keys_hash_settings_not_defaults(tmp_path):
    """Writing a default out (or a toolkit upgrade adding an optional field) changes no key; a real change
    changes exactly the tasks that depend on it; runtime settings change none."""
    base = (STUDIES / "quick.toml").read_text()
    keys = {t.id: t.key for t in expand(load_study_file("quick"))}
    f = tmp_path / "q.toml"
    f.write_text(base.replace("[train]\n", "[train]\nweight_decay = 0.01\nsave_steps = 0\n")
                 .replace("[eval]\n", "[eval]\ntemperature = 0.0\n"))
    assert {t.id: t.key for t in expand(load_study_file(f))} == keys
    f.write_text(base.replace("[train]\n", "[train]\nthreads = 1\ntensorboard = false\n"))
    assert {t.id: t.key for t in expand(load_study_file(f))} == keys  # runtime only
    f.write_text(base.replace("[train]\n", "[train]\nweight_decay = 0.1\n"))
    changed = {t.id for t in expand(load_study_file(f)) if t.key != keys[t.id]}
    assert changed == {i for i in keys if i.startswith(("train/", "evaluate/"))} | {"analysis"}
