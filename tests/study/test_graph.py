"""Study files, their expansion into tasks, the plan of the shipped studies, and the SLURM submission."""

import os
import stat
import sys
from pathlib import Path

import pytest

from scale_or_reason.study import expand, load_study_file, plan_study, run_study, shipped_studies, task_states
from scale_or_reason.study.executors import SlurmExecutor, task_command
from scale_or_reason.study.graph import mark

STUDIES = Path(__file__).resolve().parents[2] / "studies"


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
    assert tasks[-1].id == "analysis" and len(tasks[-1].deps) == sum(
        t.stage == "evaluate" and t.spec.get("role") != "dev" for t in tasks)
    assert [t.key for t in expand(load_study_file(name))] == [t.key for t in tasks]  # deterministic
    plan = plan_study(by_name, tmp_path / "nothing-yet")
    assert set(plan.status) == {"pending"}
    train = plan[plan.stage == "train"]
    assert (train.flops > 0).all() and (train.gpu_hours > 0).all()
    assert not (tmp_path / "nothing-yet" / "tasks").exists()  # planning runs nothing


def test_a_prompt_file_edited_in_place_regenerates_and_retrains(tmp_path):
    """Task keys follow a local prompt file's content, so the runs trained on its old answers are not reused."""
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"id": "a", "prompt": "What is 1 + 1?"}\n')
    quick = (STUDIES / "quick.toml").read_text()
    head, _, rest = quick.partition("[[prompts]]")
    study = tmp_path / "s.toml"
    study.write_text(head + f'[[prompts]]\nname = "mine"\nsource = "{prompts}"\n\n[[prompts]]' + rest)
    before = {t.id: t.key for t in expand(load_study_file(study))}
    assert "generate/mine" in before
    prompts.write_text('{"id": "a", "prompt": "What is 2 + 2?"}\n')
    after = {t.id: t.key for t in expand(load_study_file(study))}
    changed = {i for i in before if before[i] != after[i]}
    assert "generate/mine" in changed and any(i.startswith("train/") for i in changed)
    assert not any(i.startswith("generate/") and i != "generate/mine" for i in changed)


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
    """submitit's local executor runs the tasks as subprocesses (in dependency waves): tokenizer, base, pairs,
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
    assert done == {"tokenizer", "base/s1", "generate/General-MC", "generate/General-OE", "generate/Math-MC", "generate/Math-OE",
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
    # the base stage trains with [train]'s optimiser too (its own LR, epochs and batch)
    assert changed == {i for i in keys if i.startswith(("base/", "train/", "evaluate/"))} | {"analysis"}
    f.write_text(base.replace("learning_rate = 3e-3\nbatch_size = 32", "learning_rate = 1e-3\nbatch_size = 32"))
    changed = {t.id for t in expand(load_study_file(f)) if t.key != keys[t.id]}
    assert changed == {i for i in keys if i.startswith(("train/", "evaluate/"))} | {"analysis"}  # bases kept


def _with(tmp_path, extra_study="", extra=""):
    text = (STUDIES / "quick.toml").read_text().replace('samples = 0 ', extra_study + '\nsamples = 0 ', 1) + extra
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


DEV = "".join(f'\n[[benchmarks]]\nname = "synthetic-{f}-dev"\nrole = "dev"\noptions = {{ n = 8 }}\n'
              for f in ("general-mc", "math-oe"))


def test_lr_grid_and_seeds_expand_into_grid_runs_a_selection_and_later_seeds(tmp_path):
    cfg = load_study_file(_with(tmp_path, "lr_grid = [0.5, 1, 2]\nseeds = 3", DEV))
    tasks = expand(cfg)
    by = {t.id: t for t in tasks}
    assert {"train/s1-ift.lr0.5", "train/s1-ift.lr1", "train/s1-ift.lr2"} <= set(by)
    assert "train/s1-ift" not in by  # seed 0 is the chosen grid run
    sel = by["select/s1-ift"]
    assert sorted(sel.deps) == sorted(f"evaluate/s1-ift.lr{m}/synthetic-{f}-dev" for m in ("0.5", "1", "2")
                                      for f in ("general-mc", "math-oe"))
    assert by["train/s1-ift.seed2"].deps[-1] == "select/s1-ift" and by["train/s1-ift.seed2"].spec["seed_index"] == 2
    test_eval = by["evaluate/s1-ift/synthetic-math-oe"]
    assert test_eval.spec["selected"] and "select/s1-ift" in test_eval.deps
    # dev evaluations select, never report: the analysis needs only the test evaluations
    analysis = by["analysis"]
    assert all("-dev" not in d for d in analysis.deps)
    assert len(analysis.deps) == 4 * 2 * 3 * 4  # students x arms x seeds x test benchmarks
    # adding seeds keeps every existing task's key; the base is shared by every arm and seed
    fewer = {t.id: t.key for t in expand(load_study_file(_with(tmp_path, "lr_grid = [0.5, 1, 2]\nseeds = 2", DEV)))}
    assert all(by[i].key == k for i, k in fewer.items() if i != "analysis")
    assert by["train/s1-ift.lr2"].deps.count("base/s1") == 1 and by["train/s3-reasoning.seed1"].deps.count("base/s3") == 1


def test_study_file_refuses_a_grid_without_dev_benchmarks_and_dev_without_a_grid(tmp_path):
    with pytest.raises(ValueError, match=r"lr_grid needs \[\[benchmarks\]\] with role = 'dev'"):
        load_study_file(_with(tmp_path, "lr_grid = [0.5, 1]"))
    with pytest.raises(ValueError, match="used only with"):
        load_study_file(_with(tmp_path, "", DEV))
    with pytest.raises(ValueError, match="positive and distinct"):
        load_study_file(_with(tmp_path, "lr_grid = [1, 1]", DEV))
    with pytest.raises(ValueError, match=r"\[study\].seeds: must be >= 1"):
        load_study_file(_with(tmp_path, "seeds = 0"))


def test_select_keeps_the_best_mean_dev_accuracy_and_the_smaller_scale_on_ties(tmp_path):
    import pandas as pd

    from scale_or_reason.study import stages
    from scale_or_reason.study.graph import Task
    from scale_or_reason.util import read_json

    def answers(run, bench, correct):
        path = stages.answers_path(tmp_path, run, bench)
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"correct": correct}).to_parquet(path)

    runs = {"0.5": "s1-ift.lr0.5", "1": "s1-ift.lr1", "2": "s1-ift.lr2"}
    for run, (a, b) in zip(runs.values(), [([1, 0], [1, 1]), ([1, 1], [0, 1]), ([1, 1], [1, 0])]):
        answers(run, "d1", a)
        answers(run, "d2", b)
    task = Task("select/s1-ift", "select", [], {"runs": runs, "dev": ["d1", "d2"], "v": 1})
    res = stages.execute(None, task, tmp_path)
    assert res == {"run": "s1-ift.lr0.5", "lr_scale": 0.5, "dev_accuracy": 0.75}  # all three tie at 0.75
    assert read_json(stages.selection_path(tmp_path, "s1-ift"))["dev_accuracy"] == {"0.5": 0.75, "1": 0.75, "2": 0.75}
    answers("s1-ift.lr2", "d2", [1, 1])
    assert stages.execute(None, task, tmp_path)["run"] == "s1-ift.lr2"
    assert stages.chosen_run(tmp_path, "s1-ift") == "s1-ift.lr2"


def test_a_second_run_in_the_same_study_directory_is_refused_while_one_runs(tmp_path):
    """Two `sor study run` in one directory would train and write the same tasks at once: the second is refused
    (a lock the OS drops when the first process ends, even killed) and writes nothing."""
    import subprocess
    import sys

    out = tmp_path / "study"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from scale_or_reason.util import acquire_lock; "
        f"h = acquire_lock(Path({str(out / '.lock')!r}), 'busy'); print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ValueError, match="another `sor study run` is running in this study directory"):
            run_study(load_study_file("quick"), out, only=["tokenizer"])
        assert sorted(p.name for p in out.iterdir()) == [".lock"]
    finally:
        holder.kill()
        holder.wait(timeout=10)
    run_study(load_study_file("quick"), out, only=["tokenizer"])  # the holder died: the lock is free
    assert task_states(expand(load_study_file("quick")), out)["tokenizer"].status == "done"


def test_a_students_base_learning_rate_trains_its_base_alone(tmp_path):
    """``base_learning_rate`` on one ``[[students]]`` entry changes that student's base task (and so its runs), and
    no other task; the base stage trains at it; a study without ``[base]`` or a rate <= 0 is refused."""
    plain = load_study_file(_with(tmp_path))
    text = (STUDIES / "quick.toml").read_text().replace('name = "s2"\n', 'name = "s2"\nbase_learning_rate = 1e-3\n', 1)
    own = tmp_path / "own.toml"
    own.write_text(text)
    cfg = load_study_file(own)
    assert cfg.base_train_config(cfg.student("s2")).learning_rate == 1e-3
    assert cfg.base_train_config(cfg.student("s1")).learning_rate == cfg.base.learning_rate == 3e-3
    before, after = ({t.id: t.key for t in expand(c)} for c in (plain, cfg))
    changed = {i for i in before if before[i] != after[i]}
    assert "base/s2" in changed and not any(i.startswith(("base/s1", "base/s3", "train/s1", "train/s3"))
                                            for i in changed)
    assert all("s2" in i or i == "analysis" for i in changed)
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("base_learning_rate = 1e-3", "base_learning_rate = 0"))
    with pytest.raises(ValueError, match=r"\[\[students\]\] #2.base_learning_rate: must be positive"):
        load_study_file(bad)
    bad.write_text(_drop_table(text, "[base]"))
    with pytest.raises(ValueError, match=r"base_learning_rate: needs a \[base\] table"):
        load_study_file(bad)


def test_a_generate_stage_finishes_with_the_failed_prompts_it_may_leave_out(tmp_path, capsys):
    """A teacher that fails a prompt for good blocks the generate stage (a rerun retries it), unless
    ``[teacher].max_failed_prompts`` allows that many: then the stage is done, its pairs are the answered prompts,
    and the failure stays recorded. The setting is not part of the stage's key."""
    import dataclasses as dc

    from scale_or_reason.study.config import PromptSource
    from scale_or_reason.teacher.store import read_failures, read_pairs

    from tests.teacher.test_openai_backend import FaultServer, _write_prompts

    src = _write_prompts(tmp_path / "p.jsonl", ["plain one", "plain two", "server error [500]"])
    base = load_study_file("quick")
    with FaultServer() as srv:
        teacher = dc.replace(base.teacher, backend="openai", model="toy/Qwen3-toy", base_url=srv.url,
                             profile="qwen3", max_retries=0, timeout_s=2.0, probe_pairs=0,
                             sampling_ift="temperature=0,top_k=none,min_p=none,max_tokens=64",
                             sampling_reasoning="temperature=0,top_k=none,min_p=none,max_tokens=64")
        cfg = base.with_changes(teacher=teacher, prompts=[PromptSource(name="P", source=str(src))])
        out = tmp_path / "study"
        with pytest.raises(RuntimeError, match=r"1 prompt\(s\) of P failed.*max_failed_prompts = 0"):
            run_study(cfg, out, only=["generate/P"])
        assert "[teacher].max_failed_prompts" in capsys.readouterr().err.replace("\n", "")  # as written, not markup
        allowed = cfg.with_changes(teacher=dc.replace(teacher, max_failed_prompts=1))

        def key(c):
            return next(t.key for t in expand(c) if t.id == "generate/P")

        assert key(allowed) == key(cfg)
        summary = run_study(allowed, out, only=["generate/P"])
    assert summary["failed"] == {} and task_states(expand(allowed), out)["generate/P"].status == "done"
    assert sorted(p.prompt for p in read_pairs(out / "pairs" / "P")) == ["plain one", "plain two"]
    assert {f["mode"] for f in read_failures(out / "pairs" / "P")} == {"ift", "reasoning"}  # still recorded
